// The snapshot thread: snapshots written from a replayed copy of the state while matching goes on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { EVR_TYPE_DONE, RuntimeCommandType, decodeCommand } from '../core/command-codec.js';
import { Command, CommandType, OrderFlags, OrderType, Side, TimeInForce } from '../core/types.js';
import { EngineError, JOURNAL_FILE, SubmitStatus, type Ack, type EngineOptions } from '../gateway/engine.js';
import { KIT_ACCOUNTS, driveFlow, fundAccounts, kitInstruments, tempDataDir, closingStartEngine } from '../gateway/engine-test-kit.js';
import { OrderFlow } from '../gateway/order-flow.js';
import { SnapshotStore, readJournal } from './journal.js';
import { cleanReplay } from './recovery.js';
import { LEDGER_SNAPSHOT_ID, decodeSnapshot, encodeSnapshot } from './snapshot-blob.js';
import { SnapshotWriterError } from './snapshot-writer.js';

const options = (dataDir: string, over: Partial<EngineOptions> = {}): EngineOptions =>
  ({ instruments: kitInstruments(), shards: 2, durability: 'normal', dataDir, snapshotOnClose: false, ...over });
const now = (): number => Date.now() * 1000;

// Engines a failed assertion left open are closed at the end, so that the file's process can exit.
const startEngine = closingStartEngine();

test('a thread snapshot taken while orders flow: nothing answers Busy for it, its ack comes in seq order, the set equals a clean replay at its seq', { timeout: 120_000 }, async () => {
  const dir = tempDataDir('snapw-flow');
  const snapshotAcks: number[] = [];
  let lastAck = 0, outOfOrder = 0;
  const onAck = (a: Ack): void => {
    if (a.seq !== lastAck + 1) outOfOrder++;
    lastAck = a.seq;
    if (a.commandType === RuntimeCommandType.Snapshot) snapshotAcks.push(a.seq);
  };
  const { engine } = await startEngine(options(dir, { onAck }));
  await fundAccounts(engine);
  const flow = new OrderFlow(11, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true, replaces: true });
  await driveFlow(engine, flow, 2_000, now);
  // The snapshot is requested in the middle of the flow; the flow goes on while the thread writes it.
  const taking = engine.snapshot();
  const during = await driveFlow(engine, flow, 3_000, now);
  const seq = await taking;
  const st = engine.stats();
  assert.equal(st.busySnapshot, 0, 'no submit was turned away for the snapshot');
  assert.equal(during.busy, 0);
  assert.equal(st.snapshotsThread, 1);
  assert.equal(st.snapshotsInline, 0);
  assert.equal(st.lastSnapshotLedgerMs, 0, 'the ledger did not dump on the main thread');
  assert.ok(st.lastSnapshotThreadDumpMs > 0 && st.lastSnapshotThreadTotalMs >= st.lastSnapshotThreadDumpMs);
  assert.deepEqual(snapshotAcks, [seq], 'the Snapshot command was acked once, at its seq');
  assert.equal(outOfOrder, 0);
  assert.ok(seq > 2_000 && seq < engine.nextSequence - 1000, `the snapshot's seq ${seq} lies inside the flow`);
  const replay = cleanReplay(dir, kitInstruments(), {}, seq);
  assert.equal(replay.hashes.seq, seq);
  const recorded = engine.recordedHashes(seq);
  assert.deepEqual(recorded, replay.hashes, 'the stored set is the state at its seq');
  // Each stored state decodes to the hash recorded with it.
  const store = new SnapshotStore(join(dir, JOURNAL_FILE));
  assert.equal(decodeSnapshot(store.at(LEDGER_SNAPSHOT_ID, seq)!).seq, seq);
  store.close();

  // A restart (on another shard count) starts from that set and replays only what follows it.
  const live = await engine.close();
  const again = await startEngine(options(dir, { shards: 1 }));
  assert.equal(again.recovery.snapshotSeq, seq);
  assert.equal(again.recovery.replayedCommands, live.seq - seq);
  const recovered = await again.engine.stateHashes('inline');
  assert.deepEqual({ ledger: recovered.ledger, books: recovered.books }, { ledger: live.ledger, books: live.books });
  await again.engine.close();
  rmSync(dir, { recursive: true, force: true });
});

test('thread snapshots taken while the advanced flow runs (pipelined): each stored set equals a clean replay at its seq', { timeout: 120_000 }, async () => {
  const dir = tempDataDir('snapw-adv');
  const { engine } = await startEngine(options(dir, { shards: 3 }));
  await fundAccounts(engine);
  const flow = new OrderFlow(21, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true, gtdUs: 20_000, advanced: true });
  await driveFlow(engine, flow, 1_500, now);
  const seqs: number[] = [];
  for (let k = 0; k < 3; k++) {
    // Requested between two submits; the flow goes on (its OCO legs and children retrying on Busy)
    // while the thread catches up and writes.
    const taking = engine.snapshot('thread');
    const during = await driveFlow(engine, flow, 1_500, now);
    assert.ok(during.accepted > 1_400, `the flow ran (${JSON.stringify(during)})`);
    const seq = await taking;
    assert.ok(seq > (seqs[seqs.length - 1] ?? 0) && seq < engine.nextSequence - 1_000, `snapshot ${k} at seq ${seq} lies inside the flow`);
    seqs.push(seq);
  }
  assert.equal(engine.stats().busySnapshot, 0, 'no submit was turned away for the snapshots');
  const end = engine.nextSequence - 1;
  for (const seq of seqs) {
    const replay = cleanReplay(dir, kitInstruments(), {}, seq);
    assert.equal(replay.hashes.seq, seq);
    assert.deepEqual(engine.recordedHashes(seq), replay.hashes, `the stored set at seq ${seq} is the state at its seq`);
  }
  // The journal up to the last one holds the advanced commands (so the sets cover them).
  const c = new Command();
  const seen = { conditional: 0, oco: 0, child: 0, iceberg: 0, massCancel: 0, mark: 0 };
  for (const r of readJournal(join(dir, JOURNAL_FILE), 0)) {
    if (r.seq > seqs[seqs.length - 1]!) break;
    decodeCommand(r.words, 0, c);
    if (c.type === CommandType.NewOrder) {
      if (c.orderType >= OrderType.Stop) seen.conditional++;
      if ((c.flags & OrderFlags.Child) !== 0) seen.child++;
      else if (c.linkId !== 0) seen.oco++;
      if (c.displayQtyLots !== 0) seen.iceberg++;
    } else if (c.type === CommandType.MassCancel) seen.massCancel++;
    else if (c.type === CommandType.SetReferencePrice) seen.mark++;
  }
  for (const [k, v] of Object.entries(seen)) assert.ok(v > 0, `${k} commands before the last snapshot (${JSON.stringify(seen)})`);
  assert.ok(end > seqs[seqs.length - 1]!);
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the snapshot thread checks a snapshot already stored at a seq it passes: a different one fails the snapshot, not the engine', { timeout: 120_000 }, async () => {
  const dir = tempDataDir('snapw-check');
  const logs: string[] = [];
  const { engine } = await startEngine(options(dir, { log: (f, m) => logs.push(`${m} ${JSON.stringify(f)}`) }));
  await fundAccounts(engine);
  const flow = new OrderFlow(12, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true });
  await driveFlow(engine, flow, 3_000, now);
  const s1 = await engine.snapshot('inline');
  // Book 2's stored state at s1 is replaced by one with the same content but another hash. (No
  // snapshot thread runs yet: it starts with the first thread snapshot, below, so it cannot have
  // passed s1 before the change.)
  const store = new SnapshotStore(join(dir, JOURNAL_FILE));
  const blob = decodeSnapshot(store.at(2, s1)!);
  store.writeAll([{ shard: 2, seq: s1, blob: encodeSnapshot(2, s1, '0123456789abcdef', Float64Array.from(blob.state)) }]);
  store.close();
  await driveFlow(engine, flow, 500, now);
  // The thread does not restore from the damaged set (its blob's state no longer hashes to its
  // header), replays from the start instead, and at s1 finds the stored part differs from its own.
  await assert.rejects(engine.snapshot('thread'), (e: unknown) => e instanceof SnapshotWriterError
    && /instrument 2: replayed state hash \w+ at seq \d+ differs from the recorded 0123456789abcdef/.test((e as Error).message));
  assert.ok(logs.some((l) => l.includes('snapshot thread failed') && l.includes('0123456789abcdef')), 'the failure is logged');
  assert.equal(engine.error, null, 'the engine goes on');
  const cmd = new Command();
  cmd.type = CommandType.NewOrder; cmd.account = KIT_ACCOUNTS[0]; cmd.side = Side.Buy; cmd.orderType = OrderType.Limit;
  cmd.tif = TimeInForce.GTC; cmd.priceTicks = 9_000; cmd.qtyLots = 1;
  assert.equal(engine.submit(cmd, 1).status, SubmitStatus.Accepted);
  await engine.drain();
  // An inline snapshot still works; the next thread one starts a new thread, which restores from it.
  const s3 = await engine.snapshot('inline');
  const s4 = await engine.snapshot('thread');
  assert.ok(s4 > s3);
  assert.deepEqual(engine.recordedHashes(s4), cleanReplay(dir, kitInstruments(), {}, s4).hashes);
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

test('periodic snapshots: one at a time (a tick while the last is being written is skipped and counted)', { timeout: 120_000 }, async () => {
  const dir = tempDataDir('snapw-periodic');
  const { engine } = await startEngine(options(dir, { snapshotIntervalMs: 5 }));
  await fundAccounts(engine);
  const flow = new OrderFlow(13, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true });
  await driveFlow(engine, flow, 3_000, now);
  // The thread runs at nice 10: on a busy machine it may take a while to write its first ones.
  for (let k = 0; k < 600 && engine.stats().snapshotsThread < 2; k++) await new Promise((r) => setTimeout(r, 100));
  const st = engine.stats();
  await engine.close();
  let journaled = 0;
  for (const rec of readJournal(join(dir, JOURNAL_FILE), 0)) if (rec.kind === RuntimeCommandType.Snapshot) journaled++;
  assert.ok(st.snapshotsThread >= 2, `several periodic snapshots were written (${st.snapshotsThread})`);
  assert.ok(st.snapshotsSkipped >= 1, `ticks were skipped while one was being written (${st.snapshotsSkipped})`);
  // Every journaled Snapshot command but at most the one in flight at close was written.
  assert.ok(journaled <= st.snapshotsThread + 1, `${journaled} Snapshot commands for ${st.snapshotsThread} written: no pile-up`);
  rmSync(dir, { recursive: true, force: true });
});

test('a thread snapshot requested while the in-flight window is full waits for room: every ack keeps its own events', { timeout: 60_000 }, async () => {
  const dir = tempDataDir('snapw-window');
  const acks: string[] = [];
  let recording = false;
  const onAck = (a: Ack): void => {
    if (!recording) return;
    const seqs = new Set<number>();
    for (let r = 0; r < a.recordCount; r++) { const o = a.recordOffset(r); if (a.words[o] !== EVR_TYPE_DONE) seqs.add(a.words[o + 1]!); }
    acks.push(`${a.seq}:${a.commandType}:${[...seqs].join(',')}`);
  };
  const { engine } = await startEngine(options(dir, { shards: 1, durability: 'full', maxInFlight: 4, onAck }));
  await fundAccounts(engine);
  await engine.drain();
  recording = true;
  const c = new Command();
  const seqs: number[] = [];
  for (let n = 0; n < 8; n++) {
    c.reset(); c.type = CommandType.NewOrder; c.account = KIT_ACCOUNTS[0]; c.side = Side.Buy; c.orderType = OrderType.Limit;
    c.tif = TimeInForce.GTC; c.priceTicks = 9_000 + n; c.qtyLots = 1;
    const r = engine.submit(c, 1);
    if (r.status !== SubmitStatus.Accepted) break;
    seqs.push(r.seq);
  }
  assert.ok(seqs.length >= 4, 'the window is full');
  const snap = await engine.snapshot('thread');
  await engine.drain();
  assert.equal(snap, seqs[seqs.length - 1]! + 1, 'sequenced after the orders, once there was room');
  // Each order's ack carries its own Accepted event (word 1 of an event record is its command's seq), the snapshot's none.
  assert.deepEqual(acks, [...seqs.map((q) => `${q}:${CommandType.NewOrder}:${q}`), `${snap}:${RuntimeCommandType.Snapshot}:`]);
  assert.deepEqual(engine.recordedHashes(snap), cleanReplay(dir, kitInstruments(), {}, snap).hashes);
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

test('snapshotWriter must be thread or inline', async () => {
  const dir = tempDataDir('snapw-opt');
  await assert.rejects(startEngine(options(dir, { snapshotWriter: 'fork' as never })), (e: unknown) => e instanceof EngineError && /snapshotWriter/.test((e as Error).message));
  rmSync(dir, { recursive: true, force: true });
});
