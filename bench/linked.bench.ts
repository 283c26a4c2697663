// `npm run bench:linked`: how fast one book takes linked orders (OCO legs) through deferred
// sequencing (gateway/engine.ts park / drainParked), against the same flow unlinked in the same run.
//
// Each pair is a resting buy A (plain) and a resting buy B of the same account; in `linked` B names A
// as its OCO partner (linkId = A's seq), so B meets A still in flight and is parked until the book
// settles; in `plain` B is an ordinary order. A closed loop keeps up to `window` pairs unanswered and
// counts pairs whose B was answered per second (durability normal, one shard, the kit's instruments,
// all pairs on one book). Prints one JSON object as its last stdout line: per variant pairsPerSec,
// and linkedToPlain (the ratio, same run). BENCH_PAIRS (default 20,000 per variant), BENCH_WINDOW
// (default 64), BENCH_ROUNDS (alternating rounds, default 3; medians reported).

import { rmSync } from 'node:fs';
import { Command, CommandType, OrderType, Side, TimeInForce } from '../core/types.js';
import { SubmitStatus, type SubmitResult } from '../gateway/engine.js';
import { fundAccounts, kitInstruments, tempDataDir } from '../gateway/engine-test-kit.js';
import { startEngine } from '../persistence/recovery.js';

const PAIRS = Number(process.env['BENCH_PAIRS'] ?? 20_000);
const WINDOW = Number(process.env['BENCH_WINDOW'] ?? 64);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);

function buy(c: Command, account: number, priceTicks: number, linkId: number): Command {
  c.reset(); c.type = CommandType.NewOrder; c.account = account; c.side = Side.Buy; c.orderType = OrderType.Limit;
  c.tif = TimeInForce.GTC; c.priceTicks = priceTicks; c.qtyLots = 1; c.linkId = linkId;
  return c;
}

async function run(linked: boolean): Promise<{ pairsPerSec: number; parked: number; busy: number }> {
  const dir = tempDataDir(`bench-linked-${linked ? 'l' : 'p'}`);
  const { engine } = await startEngine({ instruments: kitInstruments(), shards: 1, durability: 'normal', dataDir: dir, snapshotOnClose: false });
  try {
    await fundAccounts(engine);
    await engine.drain();
    const instrument = engine.instruments[0]!.id;
    const c = new Command();
    let answered = 0, outstanding = 0, busy = 0, sent = 0;
    const handler = (_tag: number, r: SubmitResult): void => {
      outstanding--;
      if (r.status === SubmitStatus.Accepted) answered++; else busy++;
    };
    const parked0 = engine.deferredParked;
    const t0 = performance.now();
    while (answered + busy < PAIRS) {
      while (sent < PAIRS && outstanding < WINDOW) {
        // Account 1..6 in turn, prices spread so nothing trades.
        const account = 1 + (sent % 6);
        const px = 100 + (sent % 50);
        const a = engine.submit(buy(c, account, px, 0), instrument);
        if (a.status !== SubmitStatus.Accepted) break;
        const b = engine.submit(buy(c, account, px, linked ? a.seq : 0), instrument, 0, handler, sent);
        sent++;
        if (b.status === SubmitStatus.Deferred) { outstanding++; continue; }
        if (b.status === SubmitStatus.Accepted) answered++; else busy++;
      }
      engine.poll();
      await new Promise<void>((r) => setImmediate(r));
    }
    await engine.drain();
    const s = (performance.now() - t0) / 1000;
    return { pairsPerSec: Math.round(answered / s), parked: engine.deferredParked - parked0, busy };
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const linked: number[] = [], plain: number[] = [];
  let parked = 0, busy = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const p = await run(false);
    const l = await run(true);
    plain.push(p.pairsPerSec); linked.push(l.pairsPerSec);
    parked += l.parked; busy += l.busy + p.busy;
    process.stderr.write(`round ${r + 1}: plain ${p.pairsPerSec} pairs/s, linked ${l.pairsPerSec} pairs/s (${l.parked} parked)\n`);
  }
  const median = (v: number[]): number => [...v].sort((x, y) => x - y)[v.length >> 1]!;
  process.stdout.write(`${JSON.stringify({
    pairs: PAIRS, window: WINDOW, rounds: ROUNDS, plain: { pairsPerSec: median(plain), runs: plain },
    linked: { pairsPerSec: median(linked), runs: linked, parked }, busy,
    linkedToPlain: Math.round((median(linked) / median(plain)) * 1000) / 1000,
  })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${String((e as Error).stack ?? e)}\n`);
  process.exit(1);
});
