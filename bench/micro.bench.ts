// Component microbenchmarks (tinybench): single book operations, the state hash, fixed-point
// conversions. Run with `npm run bench:micro`. A table goes to stderr, one JSON line to stdout last.
//
// Book tasks run a batch of BATCH operations per task call (a single operation is too short for
// the timer: one performance.now() pair costs about 40-50 ns here); set-up and clean-up of the
// batch (placing the orders to cancel, removing the orders just added) run in tinybench's
// beforeEach/afterEach hooks, outside the timed call. Figures are per operation: nsPerOp is the
// mean batch time / BATCH, p50/p99 are batch percentiles / BATCH.
//
// The book: the bench instrument (all risk checks and fees on) with a base depth of 2,000 resting
// orders over 40 levels a side from 100 accounts; the bench's own orders come from other accounts.
// Environment: BENCH_MICRO_TIME_MS (time per task, default 400).

import { Bench, type Task } from 'tinybench';
import { OrderBook } from '../core/book.js';
import { EventBuffer } from '../core/events.js';
import { DecimalStep, formatDecimal, parseDecimal, priceToTicks, ticksToPrice } from '../core/fixed.js';
import { hashNumbers } from '../core/hash.js';
import { Command, CommandType, OrderType, Side, StpMode, TimeInForce } from '../core/types.js';
import { benchSpec, envInt, log, machineInfo, round } from './common.js';
import { BASE_TS_US, MID_PRICE_TICKS, Prng } from './streams.js';

const BATCH = 1000;
const TIME_MS = envInt('BENCH_MICRO_TIME_MS', 400);
const BASE_LEVELS = 40;
const BASE_ORDERS = 2000;
const ACCT_ADD = 901;
const ACCT_MAKER = 902;
const ACCT_TAKER = 903;

const ev = new EventBuffer(1 << 16);
const book = new OrderBook(benchSpec(BASE_ORDERS + 4 * BATCH + 1024), ev);
const cmd = new Command();
let seq = 0;
let failures = 0;
let lastFailure = '';

function run(): void {
  book.execute(cmd);
  // A reject in a micro task means the bench is measuring the wrong thing: count it.
  if (ev.count > 0 && ev.words[0] === 2 /* EventType.Rejected */) {
    failures++;
    lastFailure = `command type ${cmd.type} rejected, reason ${ev.words[6]}`;
  }
  ev.clear();
}

function newLimit(account: number, side: number, priceTicks: number, qtyLots: number, tif: number): number {
  seq++;
  cmd.type = CommandType.NewOrder; cmd.seq = seq; cmd.tsUs = BASE_TS_US + seq; cmd.orderId = seq;
  cmd.account = account; cmd.clientOrderId = 0; cmd.side = side; cmd.orderType = OrderType.Limit; cmd.tif = tif;
  cmd.flags = 0; cmd.stpMode = StpMode.None; cmd.stpGroup = 0; cmd.priceTicks = priceTicks; cmd.qtyLots = qtyLots;
  cmd.quoteQtyUnits = 0; cmd.expireTsUs = 0;
  run();
  return seq;
}

function cancel(account: number, orderId: number): void {
  seq++;
  cmd.type = CommandType.Cancel; cmd.seq = seq; cmd.tsUs = BASE_TS_US + seq; cmd.orderId = orderId;
  cmd.account = account; cmd.clientOrderId = 0;
  run();
}

function replace(account: number, orderId: number, priceTicks: number): void {
  seq++;
  cmd.type = CommandType.Replace; cmd.seq = seq; cmd.tsUs = BASE_TS_US + seq; cmd.orderId = orderId;
  cmd.account = account; cmd.clientOrderId = 0; cmd.priceTicks = priceTicks; cmd.qtyLots = 0;
  run();
}

function massCancel(account: number): void {
  seq++;
  cmd.type = CommandType.MassCancel; cmd.seq = seq; cmd.tsUs = BASE_TS_US + seq; cmd.account = account;
  run();
}

/** Price of the k-th bid level behind the touch (bids MID-2 and below, asks MID+2 and above). */
function bidLevel(k: number): number { return MID_PRICE_TICKS - 2 - (k % BASE_LEVELS); }

// Base depth.
{
  const r = new Prng(42);
  for (let i = 0; i < BASE_ORDERS; i++) {
    const side = (i & 1) === 0 ? Side.Buy : Side.Sell;
    const k = r.int(BASE_LEVELS);
    const price = side === Side.Buy ? MID_PRICE_TICKS - 2 - k : MID_PRICE_TICKS + 2 + k;
    newLimit(1 + r.int(100), side, price, 1 + r.int(50), TimeInForce.GTC);
  }
}

const pending = new Float64Array(BATCH);
const syncTask = { async: false } as const;

const bench = new Bench({ name: 'core micro', time: TIME_MS, warmupTime: 100 });

bench.add('book: add resting order', () => {
  for (let i = 0; i < BATCH; i++) newLimit(ACCT_ADD, Side.Buy, bidLevel(i), 5, TimeInForce.GTC);
}, { ...syncTask, afterEach: () => massCancel(ACCT_ADD) });

bench.add('book: cancel resting order', () => {
  for (let i = 0; i < BATCH; i++) cancel(ACCT_ADD, pending[i]!);
}, {
  ...syncTask,
  beforeEach: () => { for (let i = 0; i < BATCH; i++) pending[i] = newLimit(ACCT_ADD, Side.Buy, bidLevel(i), 5, TimeInForce.GTC); },
});

bench.add('book: add + cancel', () => {
  for (let i = 0; i < BATCH; i++) cancel(ACCT_ADD, newLimit(ACCT_ADD, Side.Sell, MID_PRICE_TICKS + 2 + (i % BASE_LEVELS), 5, TimeInForce.GTC));
}, syncTask);

bench.add('book: crossing order, 1 fill (IOC)', () => {
  for (let i = 0; i < BATCH; i++) newLimit(ACCT_TAKER, Side.Buy, MID_PRICE_TICKS + 1, 1, TimeInForce.IOC);
}, {
  ...syncTask,
  // Makers alone at the best ask (MID+1), one lot each: every taker fills exactly one.
  beforeEach: () => { for (let i = 0; i < BATCH; i++) newLimit(ACCT_MAKER, Side.Sell, MID_PRICE_TICKS + 1, 1, TimeInForce.GTC); },
});

bench.add('book: replace to a new price', () => {
  for (let i = 0; i < BATCH; i++) replace(ACCT_ADD, pending[i]!, bidLevel(i + 7));
}, {
  ...syncTask,
  beforeEach: () => { for (let i = 0; i < BATCH; i++) pending[i] = newLimit(ACCT_ADD, Side.Buy, bidLevel(i), 5, TimeInForce.GTC); },
  afterEach: () => massCancel(ACCT_ADD),
});

// hashNumbers over a 1,000-number list and over the book's canonical state.
const hashInput = new Float64Array(BATCH);
for (let i = 0; i < BATCH; i++) hashInput[i] = (i * 2654435761) % 9_007_199_254;
const dump = book.stateDump();
let sink = '';
bench.add('hashNumbers: 1,000 numbers', () => { sink = hashNumbers(hashInput); }, syncTask);
bench.add('hashNumbers: book stateDump', () => { sink = hashNumbers(dump); }, syncTask);
bench.add('book: stateHash (dump + hash)', () => { sink = book.stateHash(); }, syncTask);

// Fixed point: BATCH conversions per call over varied inputs built beforehand.
const tick = new DecimalStep('0.01');
const r = new Prng(7);
const priceStrs: string[] = [];
const amountStrs: string[] = [];
const ticks = new Float64Array(BATCH);
const units = new Float64Array(BATCH);
for (let i = 0; i < BATCH; i++) {
  const t = 100_000 + r.int(10_000_000);
  ticks[i] = t;
  priceStrs.push(ticksToPrice(t, tick));
  const u = r.int(2_000_000_000) * 1000 + r.int(1000);
  units[i] = u;
  amountStrs.push(formatDecimal(u, 8));
}
let acc = 0;
bench.add('fixed: parseDecimal (8 dp)', () => { for (let i = 0; i < BATCH; i++) acc += parseDecimal(amountStrs[i]!, 8); }, syncTask);
bench.add('fixed: formatDecimal (8 dp)', () => { for (let i = 0; i < BATCH; i++) sink = formatDecimal(units[i]!, 8); }, syncTask);
bench.add('fixed: priceToTicks (DecimalStep)', () => { for (let i = 0; i < BATCH; i++) acc += priceToTicks(priceStrs[i]!, tick); }, syncTask);
bench.add('fixed: ticksToPrice (DecimalStep)', () => { for (let i = 0; i < BATCH; i++) sink = ticksToPrice(ticks[i]!, tick); }, syncTask);

/** Operations per task call, for per-op figures. */
function opsPerCall(name: string): number {
  return name.startsWith('book: stateHash') || name.startsWith('hashNumbers') ? 1 : BATCH;
}

async function main(): Promise<void> {
  log(`micro: ${BATCH} ops per call (book and fixed tasks), ${TIME_MS} ms per task`);
  await bench.run();
  const rows: Record<string, unknown>[] = [];
  const json: Record<string, unknown> = {};
  for (const t of bench.tasks as Task[]) {
    const res = t.result;
    if (res.state !== 'completed') {
      json[t.name] = { state: res.state, error: res.state === 'errored' ? String(res.error) : undefined };
      continue;
    }
    const k = opsPerCall(t.name);
    const nsPerOp = (res.latency.mean * 1e6) / k;
    const entry = {
      opsPerCall: k, nsPerOp: round(nsPerOp, 1), opsPerSec: Math.round(1e9 / nsPerOp),
      p50NsPerOp: round((res.latency.p50 * 1e6) / k, 1), p99NsPerOp: round((res.latency.p99 * 1e6) / k, 1),
      rmePct: round(res.latency.rme, 2), samples: res.latency.samplesCount,
    };
    json[t.name] = entry;
    rows.push({ task: t.name, 'ns/op': entry.nsPerOp, 'ops/s': entry.opsPerSec.toLocaleString('en-US'), 'p50 ns/op': entry.p50NsPerOp, 'p99 ns/op': entry.p99NsPerOp, 'rme %': entry.rmePct, samples: entry.samples });
  }
  const table = rows.map((row) => Object.values(row).map(String));
  const head = Object.keys(rows[0] ?? {});
  const widths = head.map((h, c) => Math.max(h.length, ...table.map((row) => row[c]!.length)));
  log(head.map((h, c) => h.padEnd(widths[c]!)).join('  '));
  for (const row of table) log(row.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  '));
  if (failures > 0) log(`WARNING: ${failures} commands were rejected during the micro bench (last: ${lastFailure})`);
  json['stateDumpNumbers'] = dump.length;
  json['rejectedCommands'] = failures;
  json['machine'] = machineInfo();
  void sink; void acc;
  process.stdout.write(JSON.stringify(json) + '\n');
}

await main();
