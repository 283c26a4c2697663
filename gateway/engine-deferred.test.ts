// Deferred sequencing (gateway/engine.ts park / drainParked): a linked order (OCO leg, bracket
// child) that meets an unsettled book is parked in that book's FIFO instead of answering Busy, and
// sequenced at the first poll that finds the book settled, before every later command of that book.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { RuntimeCommandType } from '../core/command-codec.js';
import { Command, CommandType, OrderFlags, OrderType, RejectReason, Side, TimeInForce } from '../core/types.js';
import { cleanReplay, startEngine } from '../persistence/recovery.js';
import { SubmitStatus, type Engine, type EngineOptions, type SubmitResult } from './engine.js';
import { AckCollector, KIT_ACCOUNTS, fundAccounts, kitInstruments, tempDataDir } from './engine-test-kit.js';
import { OrderFlow } from './order-flow.js';

function options(dataDir: string, over: Partial<EngineOptions> = {}): EngineOptions {
  return { instruments: kitInstruments(), shards: 1, durability: 'normal', dataDir, snapshotOnClose: false, ...over };
}

/** The final answers of deferred submits, by tag. */
class Answers {
  readonly byTag = new Map<number, { status: SubmitStatus; seq: number; reason: number }>();
  readonly order: number[] = [];
  readonly handler = (tag: number, r: SubmitResult): void => {
    assert.ok(!this.byTag.has(tag), `tag ${tag} answered once`);
    this.byTag.set(tag, { status: r.status, seq: r.seq, reason: r.reason });
    this.order.push(tag);
  };
}

function order(c: Command, account: number, side: number, priceTicks: number, qtyLots: number, linkId = 0, flags = 0, type: number = OrderType.Limit): Command {
  c.reset(); c.type = CommandType.NewOrder; c.account = account; c.side = side; c.orderType = type;
  c.tif = TimeInForce.GTC; c.priceTicks = priceTicks; c.qtyLots = qtyLots; c.linkId = linkId; c.flags = flags;
  return c;
}

function deposit(engine: Engine, c: Command, account: number, asset: number, v: number, type = RuntimeCommandType.Deposit): void {
  c.reset(); c.type = type; c.account = account; c.value = v;
  assert.equal(engine.submit(c, 0, asset).status, SubmitStatus.Accepted);
}

async function sameAsReplay(engine: Engine, dir: string): Promise<void> {
  const live = await engine.stateHashes('inline');
  const replay = cleanReplay(dir, kitInstruments(), {}, live.seq);
  assert.deepEqual(replay.hashes, live, 'a clean replay reaches the live state');
}

/** A fresh engine on a temp data dir for `body`, closed and deleted after it. */
async function withEngine(tag: string, over: Partial<EngineOptions>, body: (engine: Engine, dir: string) => Promise<void>): Promise<void> {
  const dir = tempDataDir(tag);
  const { engine } = await startEngine(options(dir, over));
  try {
    await body(engine, dir);
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('Engine deferred sequencing', () => {
  it('an OCO leg meeting an unsettled book is parked, sequenced once the book settles, ahead of that book\'s later commands; other books go on', () => withEngine('defer-oco', {}, async (engine, dir) => {
    const usd = engine.ledger.assetId('USD'), aaa = engine.ledger.assetId('AAA');
    const c = new Command();
    const ans = new Answers();
    deposit(engine, c, 10, usd, 10_000_000); deposit(engine, c, 2, aaa, 100_000_000); deposit(engine, c, 2, usd, 10_000_000);
    await engine.drain();
    const aId = engine.submit(order(c, 10, Side.Buy, 9000, 10), 1).seq;
    await engine.drain();
    // Account 10 has nothing free besides A's hold: leg B can only share it.
    deposit(engine, c, 10, usd, engine.ledger.available(10, usd), RuntimeCommandType.Withdraw);
    await engine.drain();
    // A resting sell of another account is in flight (not settled: no poll in between) when B comes.
    const p = engine.submit(order(c, 2, Side.Sell, 9500, 3), 1);
    assert.equal(p.status, SubmitStatus.Accepted);
    const pSeq = p.seq;
    const busy0 = engine.stats().busyLedger;
    const b = engine.submit(order(c, 10, Side.Buy, 9000, 8, aId), 1, 0, ans.handler, 1);
    assert.equal(b.status, SubmitStatus.Deferred, `reason ${b.reason}`);
    // A later command of the same book waits behind B (even a plain one) ...
    assert.equal(engine.submit(order(c, 2, Side.Sell, 9600, 1), 1, 0, ans.handler, 2).status, SubmitStatus.Deferred);
    // ... and without a handler it answers Busy (it may not overtake B).
    assert.equal(engine.submit(order(c, 2, Side.Sell, 9700, 1), 1).status, SubmitStatus.Busy);
    assert.equal(engine.stats().busyLedger, busy0 + 1);
    // Another book is not held up.
    const other = engine.submit(order(c, 2, Side.Buy, 19_000, 1), 2, 0, ans.handler, 3);
    assert.equal(other.status, SubmitStatus.Accepted);
    const otherSeq = other.seq;
    assert.equal(engine.parkedCommands, 2);
    assert.equal(ans.byTag.size, 0, 'nothing is answered inside submit');
    await engine.drain();
    assert.deepEqual(ans.order, [1, 2], 'FIFO');
    const bAns = ans.byTag.get(1)!, cAns = ans.byTag.get(2)!;
    assert.equal(bAns.status, SubmitStatus.Accepted);
    assert.ok(bAns.seq > otherSeq && otherSeq > pSeq);
    assert.equal(cAns.status, SubmitStatus.Accepted);
    assert.equal(cAns.seq, bAns.seq + 1, 'the later command of the book is not overtaken');
    // B is live and shares A's hold (the settled ledger's decision): it took nothing of its own.
    assert.ok(engine.ledger.orderHold(bAns.seq) >= 0, 'B is live');
    assert.equal(engine.ledger.orderHold(bAns.seq) + engine.ledger.orderHold(aId), engine.ledger.locked(10, usd));
    assert.equal(engine.ledger.available(10, usd), 0);
    assert.equal(engine.parkedCommands, 0);
    assert.equal(engine.deferredParked, 2);
    assert.equal(engine.stats().ledgerShortfalls, 0);
    await sameAsReplay(engine, dir);
  }));

  it('a bracket child sent while its entry fills is parked and sized at the settled fill, as a replay sizes it', () => withEngine('defer-child', {}, async (engine, dir) => {
    const usd = engine.ledger.assetId('USD'), aaa = engine.ledger.assetId('AAA');
    const c = new Command();
    const ans = new Answers();
    deposit(engine, c, 10, usd, 10_000_000); deposit(engine, c, 2, aaa, 100_000_000);
    await engine.drain();
    const eId = engine.submit(order(c, 10, Side.Buy, 9000, 10), 1).seq;
    await engine.drain();
    engine.beginBatch();
    assert.equal(engine.submit(order(c, 2, Side.Sell, 9000, 4), 1).status, SubmitStatus.Accepted); // fills 4 of E
    const child = engine.submit(order(c, 10, Side.Sell, 9500, 0, eId, OrderFlags.Child), 1, 0, ans.handler, 7);
    engine.endBatch();
    assert.equal(child.status, SubmitStatus.Deferred);
    await engine.drain();
    const a = ans.byTag.get(7)!;
    assert.equal(a.status, SubmitStatus.Accepted, `reason ${a.reason}`);
    // Sized at the entry's settled fill: 4 lots of AAA held.
    assert.equal(engine.ledger.orderHold(a.seq), 4 * kitInstruments()[0]!.baseUnitsPerLot);
    assert.equal(engine.stats().ledgerShortfalls, 0);
    await sameAsReplay(engine, dir);
  }));

  it('the FIFO bound answers Busy at once; the wait bound answers Busy later; plain commands behind an expired leg are then sequenced', () => withEngine('defer-bounds', { maxParkedPerBook: 3, maxParkMs: 40 }, async (engine, dir) => {
    await fundAccounts(engine);
    await engine.drain();
    const c = new Command();
    const ans = new Answers();
    const aId = engine.submit(order(c, 1, Side.Buy, 9000, 10), 1).seq;
    await engine.drain();
    // An open batch keeps the book unsettled: its commands reach no shard until endBatch.
    engine.beginBatch();
    let ended = false;
    try {
      assert.equal(engine.submit(order(c, 2, Side.Sell, 9900, 1), 1).status, SubmitStatus.Accepted);
      assert.equal(engine.submit(order(c, 1, Side.Buy, 9000, 8, aId), 1, 0, ans.handler, 1).status, SubmitStatus.Deferred);
      assert.equal(engine.submit(order(c, 2, Side.Sell, 9901, 1), 1, 0, ans.handler, 2).status, SubmitStatus.Deferred);
      assert.equal(engine.submit(order(c, 2, Side.Sell, 9902, 1), 1, 0, ans.handler, 3).status, SubmitStatus.Deferred);
      const full = engine.submit(order(c, 2, Side.Sell, 9903, 1), 1, 0, ans.handler, 4);
      assert.equal(full.status, SubmitStatus.Busy, 'the FIFO is full');
      assert.equal(full.reason, RejectReason.Busy);
      for (let k = 0; k < 100 && !ans.byTag.has(1); k++) await new Promise((res) => setTimeout(res, 5));
      const leg = ans.byTag.get(1);
      assert.ok(leg !== undefined, 'the leg was answered within the wait bound');
      assert.equal(leg.status, SubmitStatus.Busy);
      assert.equal(leg.reason, RejectReason.Busy);
      // The plain commands behind it did not need a settled book: sequenced right after.
      assert.equal(ans.byTag.get(2)?.status, SubmitStatus.Accepted);
      assert.equal(ans.byTag.get(3)?.status, SubmitStatus.Accepted);
      assert.equal(ans.byTag.get(3)!.seq, ans.byTag.get(2)!.seq + 1);
      assert.equal(engine.deferredBusy, 1);
      assert.equal(engine.parkedCommands, 0);
    } finally {
      engine.endBatch();
      ended = true;
    }
    assert.ok(ended);
    await engine.drain();
    await sameAsReplay(engine, dir);
  }));

  it('close() answers every parked command Busy, once', async () => {
    const dir = tempDataDir('defer-close');
    const { engine } = await startEngine(options(dir));
    let closed = false;
    try {
      await fundAccounts(engine);
      await engine.drain();
      const c = new Command();
      const ans = new Answers();
      const aId = engine.submit(order(c, 1, Side.Buy, 9000, 10), 1).seq;
      await engine.drain();
      engine.beginBatch();
      assert.equal(engine.submit(order(c, 2, Side.Sell, 9900, 1), 1).status, SubmitStatus.Accepted);
      assert.equal(engine.submit(order(c, 1, Side.Buy, 9000, 8, aId), 1, 0, ans.handler, 1).status, SubmitStatus.Deferred);
      assert.equal(engine.submit(order(c, 2, Side.Sell, 9901, 1), 1, 0, ans.handler, 2).status, SubmitStatus.Deferred);
      engine.endBatch();
      const closing = engine.close();
      closed = true;
      assert.deepEqual(ans.order, [1, 2], 'answered at once, in order');
      for (const t of [1, 2]) assert.equal(ans.byTag.get(t)!.status, SubmitStatus.Busy);
      await closing;
      assert.equal(engine.parkedCommands, 0);
    } finally {
      if (!closed) await engine.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the advanced flow submitted with deferral: linked orders are parked, not refused; the live state is a clean replay\'s and recovery replays it', { timeout: 120_000 }, async () => {
    const dir = tempDataDir('defer-flow');
    let t = 1_700_000_000_000_000;
    const col = new AckCollector();
    const first = await startEngine(options(dir, { clockUs: () => t, durability: 'none', onAck: col.onAck }));
    const engine = first.engine;
    let live: Awaited<ReturnType<Engine['close']>>;
    let parked = 0, deferredAccepted = 0;
    try {
      await fundAccounts(engine);
      await engine.drain();
      const flow = new OrderFlow(7, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: false, gtdUs: 300, advanced: true });
      const ids = flow.instruments.map((s) => s.id);
      const cmd = new Command();
      // tag -> [instrument index, account, NewOrder?]
      const pending = new Map<number, [number, number, boolean]>();
      let tags = 0, busy = 0;
      const handler = (tag: number, r: SubmitResult): void => {
        const p = pending.get(tag)!;
        pending.delete(tag);
        if (r.status === SubmitStatus.Accepted) { deferredAccepted++; if (p[2]) flow.accepted(p[0], r.seq, p[1]); }
        else assert.notEqual(r.status, SubmitStatus.Busy, 'no parked command waits out the bound here');
      };
      for (let k = 0; k < 4000; k++) {
        const i = flow.next(cmd, (t += 1));
        for (;;) {
          const tag = ++tags;
          const r = engine.submit(cmd, ids[i]!, 0, handler, tag);
          if (r.status === SubmitStatus.Accepted) { if (cmd.type === CommandType.NewOrder) flow.accepted(i, r.seq, cmd.account); break; }
          if (r.status === SubmitStatus.Deferred) { parked++; pending.set(tag, [i, cmd.account, cmd.type === CommandType.NewOrder]); break; }
          if (r.status === SubmitStatus.Rejected) break;
          busy++;
          engine.poll();
          await new Promise<void>((res) => setImmediate(res));
        }
        if ((k & 63) === 63) await new Promise<void>((res) => setImmediate(res));
      }
      await engine.drain();
      assert.equal(pending.size, 0, 'every parked command was answered');
      assert.ok(parked > 50, `linked orders met unsettled books and were parked (${parked}, busy ${busy})`);
      assert.ok(deferredAccepted > 20, `parked commands were sequenced (${deferredAccepted})`);
      assert.equal(engine.deferredBusy, 0);
      assert.equal(engine.stats().ledgerShortfalls, 0);
      assert.equal(col.outOfOrder, 0);
    } finally {
      live = await engine.close();
    }
    const replay = cleanReplay(dir, kitInstruments(), {}, Number.MAX_SAFE_INTEGER, true);
    assert.deepEqual(replay.hashes, live, 'the live state is the clean replay\'s');
    for (const s of kitInstruments()) assert.deepEqual(col.events.get(s.id), replay.events.get(s.id), `events of ${s.symbol}`);
    // Recovery (pipelined replay of the journal, holding linked orders where they were sequenced).
    const again = await startEngine(options(dir));
    try {
      assert.equal(again.recovery.replayedCommands, live.seq);
      await again.engine.drain();
      assert.equal(again.engine.stats().ledgerShortfalls, 0);
      assert.equal(again.engine.ledger.stateHash(), live.ledger);
    } finally {
      await again.engine.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('a FIFO that never empties (steady flow, a linked order now and then) does not keep a slot per command it ever parked', { timeout: 120_000 }, () => withEngine('defer-standing', {}, async (engine, dir) => {
    const usd = engine.ledger.assetId('USD'), aaa = engine.ledger.assetId('AAA');
    const c = new Command();
    deposit(engine, c, 10, usd, 1e12); deposit(engine, c, 2, aaa, 1e12);
    await engine.drain();
    let tag = 0, answered = 0, parked = 0, peak = 0;
    const handler = (): void => { answered++; };
    const queue = (): unknown[] => (engine as unknown as { parkedQ: unknown[][] }).parkedQ[engine.instruments.findIndex((s) => s.id === 1)]!;
    // Turns of 200 commands of one book, one in 10 an OCO leg pointing at nothing (refused by the
    // ledger when its turn comes, but parked first). A linked head waits for its book to settle, so
    // the book drains about one leg (and the plain commands behind it) per poll: the FIFO stands at
    // its bound (4096; the rest answered Busy) and refills as it drains, never empty, until
    // 20,000 commands have passed through it.
    let emptied = 0, turns = 0;
    const until = performance.now() + 30_000;
    while (parked < 20_000 && performance.now() < until) {
      for (let k = 0; k < 200; k++) {
        const link = k % 10 === 9 ? 999_999_999 : 0;
        const r = engine.submit(order(c, k % 2 === 0 ? 10 : 2, k % 2 === 0 ? Side.Buy : Side.Sell, 9000 + (k % 7), 1, link), 1, 0, handler, ++tag);
        if (r.status === SubmitStatus.Deferred) parked++; else answered++;
      }
      peak = Math.max(peak, queue().length);
      await new Promise<void>((r) => setImmediate(r));
      turns++;
      if (engine.parkedCommands === 0) emptied++;
    }
    await engine.drain();
    assert.equal(answered, tag, 'every command answered once');
    assert.ok(parked >= 20_000 && emptied < turns / 2, `the FIFO stood (${parked} parked in ${turns} turns, empty after ${emptied})`);
    // Without compaction the array kept a slot per command parked while it stood (> 15,000).
    assert.ok(peak <= 2 * (4096 + 200) + 1024, `the FIFO's array stays bounded (peak ${peak})`);
    await sameAsReplay(engine, dir);
  }));
});
