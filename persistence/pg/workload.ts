// Seeded workloads for the replication tests and bench: commands through real OrderBooks
// (core/book.ts) on several instruments with one engine-wide seq, turned into replication records
// (the events of each command, plus synthetic balance records for the accounts that traded), and an
// in-memory ReplicationSource over them.

import { OrderBook } from '../../core/book.js';
import { EventBuffer } from '../../core/events.js';
import type { InstrumentSpec } from '../../core/instrument.js';
import { Command, CommandType, EVENT_WORDS, EventType, OrderType, TimeInForce } from '../../core/types.js';
import { mulberry32 } from '../../testing/prng.js';
import type { ReplicationRecord, ReplicationSource } from './replication.js';

/** mulberry32 (testing/prng.ts): a small seeded PRNG (tests and benches only). */
export const prng = mulberry32;

export function workloadSpec(id: number, symbol: string): InstrumentSpec {
  return {
    id, symbol, baseAsset: symbol.split('-')[0]!, quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.001',
    notionalUnitsPerTickLot: 10, baseUnitsPerLot: 100_000, baseDecimals: 8, quoteDecimals: 6,
    minPriceTicks: 1, maxPriceTicks: 10_000_000, minQtyLots: 1, maxQtyLots: 100_000, minNotionalUnits: 1,
    maxNotionalUnits: 0, priceBandBps: 0, marketBandBps: 1_000, referencePriceTicks: 10_000,
    makerFeePpm: -50, takerFeePpm: 200, maxOpenOrdersPerAccount: 0, maxPositionLots: 0,
    orderCapacity: 200_000, clientIdRetention: 1000, minDisplayQtyLots: 1, maxTriggersPerCommand: 20,
  };
}

export const WORKLOAD_SPECS: readonly InstrumentSpec[] = [workloadSpec(1, 'BTC-USD'), workloadSpec(2, 'ETH-USD'), workloadSpec(3, 'SOL-USD')];

export interface WorkloadOptions {
  seed: number;
  commands: number;
  specs?: readonly InstrumentSpec[];
  accounts?: number;
  /** Engine time of the first command, microseconds. */
  startTsUs?: number;
  /** Mean microseconds between commands. Default 1000. */
  meanGapUs?: number;
  /** Emit balance records after trades. Default true. */
  balances?: boolean;
}

/**
 * Drives seeded commands through real books. step() produces the records of one more command, so
 * a workload can also be generated live (bench, connection-cut test).
 */
export class WorkloadGenerator {
  readonly specs: readonly InstrumentSpec[];
  readonly books: OrderBook[];
  seq = 0;
  tsUs: number;
  eventTotal = 0;
  private readonly rnd: () => number;
  private readonly ev = new EventBuffer(1 << 14);
  private readonly cmd = new Command();
  private readonly accounts: number;
  private readonly meanGapUs: number;
  private readonly withBalances: boolean;
  /** Order ids recently accepted per book, with owner (cancel/replace targets). */
  private readonly live: Array<Array<[number, number]>>;
  private readonly balance = new Map<string, number>();

  constructor(o: WorkloadOptions) {
    this.specs = o.specs ?? WORKLOAD_SPECS;
    this.rnd = prng(o.seed);
    this.books = this.specs.map((s) => new OrderBook(s, this.ev));
    this.tsUs = o.startTsUs ?? 1_700_000_000_000_000;
    this.accounts = o.accounts ?? 8;
    this.meanGapUs = o.meanGapUs ?? 1000;
    this.withBalances = o.balances ?? true;
    this.live = this.specs.map(() => []);
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.rnd() * (hi - lo + 1));
  }

  /** Runs one command; returns its records (the events record, then balance records). */
  step(tsUs?: number): ReplicationRecord[] {
    const r = this.rnd;
    const bi = Math.floor(r() * this.books.length);
    const book = this.books[bi]!;
    const spec = this.specs[bi]!;
    this.seq++;
    this.tsUs = tsUs ?? this.tsUs + Math.floor(r() * 2 * this.meanGapUs);
    const c = this.cmd.reset();
    c.seq = this.seq; c.tsUs = this.tsUs;
    const mid = 10_000 + Math.round(Math.sin(this.seq / 5000) * 300);
    const live = this.live[bi]!;
    const x = r();
    if (x < 0.12 && live.length > 0) {
      const k = Math.floor(r() * live.length);
      const [id, acc] = live[k]!;
      live[k] = live[live.length - 1]!; live.pop();
      c.type = CommandType.Cancel; c.orderId = id; c.account = acc;
    } else if (x < 0.2 && live.length > 0) {
      const [id, acc] = live[Math.floor(r() * live.length)]!;
      c.type = CommandType.Replace; c.orderId = id; c.account = acc;
      if (r() < 0.5) c.priceTicks = mid + this.int(-8, 8);
      c.qtyLots = this.int(1, 30);
    } else if (x < 0.21) {
      c.type = CommandType.TimeTick;
    } else if (x < 0.215) {
      c.type = CommandType.MassCancel; c.account = this.int(1, this.accounts);
    } else {
      c.type = CommandType.NewOrder; c.orderId = this.seq; c.account = this.int(1, this.accounts);
      c.side = r() < 0.5 ? 0 : 1;
      const away = c.side === 0 ? -1 : 1;
      const y = r();
      if (y < 0.7) {
        c.orderType = OrderType.Limit;
        c.priceTicks = mid + away * this.int(-3, 10);
        c.qtyLots = this.int(1, 25);
        const t = r();
        c.tif = t < 0.8 ? TimeInForce.GTC : t < 0.88 ? TimeInForce.IOC : t < 0.93 ? TimeInForce.FOK : TimeInForce.GTD;
        if (c.tif === TimeInForce.GTD) c.expireTsUs = this.tsUs + this.int(1, 20_000);
        if (c.tif === TimeInForce.GTC && r() < 0.05) { c.displayQtyLots = Math.max(1, Math.floor(c.qtyLots / 3)); }
        if (r() < 0.1) c.clientOrderId = this.int(1, 1_000_000);
      } else if (y < 0.85) {
        c.orderType = OrderType.Market; c.tif = TimeInForce.IOC;
        if (r() < 0.3) { c.flags = 2; c.quoteQtyUnits = this.int(1_000, 2_000_000); } else c.qtyLots = this.int(1, 20);
      } else {
        c.orderType = r() < 0.5 ? OrderType.Stop : OrderType.StopLimit;
        c.tif = c.orderType === OrderType.Stop ? TimeInForce.IOC : TimeInForce.GTC;
        c.stopPriceTicks = mid - away * this.int(2, 30);
        if (c.orderType === OrderType.StopLimit) c.priceTicks = c.stopPriceTicks + (c.side === 0 ? 3 : -3);
        c.qtyLots = this.int(1, 10);
        c.flags = 4; // trigger on the reference (mark) price: set by every trade
      }
    }
    this.ev.clear();
    book.execute(c);
    const n = this.ev.count;
    this.eventTotal += n;
    const words = this.ev.words.slice(0, n * EVENT_WORDS);
    const out: ReplicationRecord[] = [{ kind: 'events', seq: this.seq, instrumentId: spec.id, words }];
    const touched = new Set<number>();
    for (let k = 0; k < n; k++) {
      const o = k * EVENT_WORDS;
      const type = words[o]!;
      if (type === EventType.Accepted) live.push([words[o + 3]!, words[o + 4]!]);
      else if (type === EventType.Trade && this.withBalances) {
        const price = words[o + 4]!, qty = words[o + 5]!, notional = words[o + 15]!;
        const buyerTaker = words[o + 10]! === 0;
        const buyer = buyerTaker ? words[o + 9]! : words[o + 7]!;
        const seller = buyerTaker ? words[o + 7]! : words[o + 9]!;
        this.adjust(buyer, 'USD', -notional); this.adjust(buyer, spec.baseAsset, qty * spec.baseUnitsPerLot);
        this.adjust(seller, 'USD', notional); this.adjust(seller, spec.baseAsset, -qty * spec.baseUnitsPerLot);
        touched.add(buyer); touched.add(seller);
        void price;
      }
    }
    if (live.length > 4000) live.splice(0, live.length - 4000);
    for (const acc of [...touched].sort((a, b) => a - b)) {
      for (const asset of ['USD', spec.baseAsset]) {
        const v = this.balance.get(`${acc}:${asset}`)!;
        out.push({ kind: 'balance', seq: this.seq, tsUs: this.tsUs, account: acc, asset, availableUnits: v, lockedUnits: (this.seq * 7 + acc) % 1000 });
      }
    }
    this.eventTotal += out.length - 1;
    return out;
  }

  private adjust(account: number, asset: string, delta: number): void {
    const k = `${account}:${asset}`;
    this.balance.set(k, (this.balance.get(k) ?? 1_000_000_000_000) + delta);
  }
}

export function generateWorkload(o: WorkloadOptions): { records: ReplicationRecord[]; gen: WorkloadGenerator } {
  const gen = new WorkloadGenerator(o);
  const records: ReplicationRecord[] = [];
  for (let i = 0; i < o.commands; i++) for (const r of gen.step()) records.push(r);
  return { records, gen };
}

/** A replayable in-memory stream (tests, bench). `visible` limits what read() returns (live feeds). */
export class MemorySource implements ReplicationSource {
  readonly records: ReplicationRecord[];
  /** Number of records readable (default: all). */
  visible: number;
  reads = 0;

  constructor(records: ReplicationRecord[] = [], visible = records.length) {
    this.records = records;
    this.visible = visible;
  }

  append(recs: readonly ReplicationRecord[]): void {
    for (const r of recs) this.records.push(r);
    this.visible = this.records.length;
  }

  headSeq(): number {
    return this.visible === 0 ? 0 : this.records[this.visible - 1]!.seq;
  }

  read(fromSeqExclusive: number, max: number): ReplicationRecord[] {
    this.reads++;
    let lo = 0, hi = this.visible;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.records[mid]!.seq <= fromSeqExclusive) lo = mid + 1; else hi = mid;
    }
    let end = Math.min(this.visible, lo + max);
    while (end < this.visible && end > lo && this.records[end]!.seq === this.records[end - 1]!.seq) end++;
    return this.records.slice(lo, end);
  }
}
