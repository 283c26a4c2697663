// Snapshots within a budget (snapshotBudgetMs): the snapshot thread stores big parts in chunks over
// short transactions on the journal file, the set visible only once its last transaction commits;
// a stop in the middle leaves nothing recovery takes; inline stops are measured and counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { hashNumbers } from '../core/hash.js';
import { RuntimeCommandType } from '../core/command-codec.js';
import { Command } from '../core/types.js';
import { EngineError, JOURNAL_FILE, SubmitStatus, ledgerOptionsOf, type EngineOptions } from '../gateway/engine.js';
import { KIT_ACCOUNTS, driveFlow, fundAccounts, kitInstruments, tempDataDir, closingStartEngine } from '../gateway/engine-test-kit.js';
import { OrderFlow } from '../gateway/order-flow.js';
import { SnapshotStore, latestSnapshot } from './journal.js';
import { cleanReplay, startEngine as startEngineRaw } from './recovery.js';
import { LEDGER_SNAPSHOT_ID, deleteSnapshotParts, encodeSnapshot, findSnapshotSet } from './snapshot-blob.js';
import { SnapshotWriter, SnapshotWriterError } from './snapshot-writer.js';

const options = (dataDir: string, over: Partial<EngineOptions> = {}): EngineOptions =>
  ({ instruments: kitInstruments(), shards: 2, durability: 'normal', dataDir, snapshotOnClose: false, ...over });
const now = (): number => Date.now() * 1000;
const ids = kitInstruments().map((s) => s.id);

// Engines a failed assertion left open are closed at the end, so that the file's process can exit.
const startEngine = closingStartEngine();

function chunkRows(path: string, seq?: number): number {
  const db = new Database(path, { readonly: true });
  try {
    const row = (seq === undefined ? db.prepare('SELECT count(*) AS n FROM snapshot_chunks').get()
      : db.prepare('SELECT count(*) AS n FROM snapshot_chunks WHERE seq = ?').get(seq)) as { n: number };
    return row.n;
  } finally {
    db.close();
  }
}

function snapshotRows(path: string, seq: number): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM snapshots WHERE seq = ?').get(seq) as { n: number }).n;
  } finally {
    db.close();
  }
}

/**
 * A journal with an inline snapshot set at s0 and, later, a Snapshot command at s1 whose parts are
 * not stored (taken by the thread, then deleted with the engine stopped): a snapshot thread started
 * on it restores s0, follows the journal and writes s1.
 */
async function journalWithUnwrittenSnapshot(tag: string): Promise<{ dir: string; path: string; s0: number; s1: number }> {
  const dir = tempDataDir(tag);
  const { engine } = await startEngine(options(dir));
  await fundAccounts(engine);
  const flow = new OrderFlow(31, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true, replaces: true });
  await driveFlow(engine, flow, 2_000, now);
  const s0 = await engine.snapshot('inline');
  await driveFlow(engine, flow, 3_000, now);
  const s1 = await engine.snapshot('thread');
  await driveFlow(engine, flow, 300, now);
  await engine.close();
  const path = join(dir, JOURNAL_FILE);
  assert.equal(deleteSnapshotParts(path, [LEDGER_SNAPSHOT_ID, ...ids].map((ownerId) => ({ seq: s1, ownerId }))), ids.length + 1);
  return { dir, path, s0, s1 };
}

const writerFor = (path: string, dir: string, over: { chunkBytes?: number; testFailAfterTxns?: number } = {}): SnapshotWriter =>
  new SnapshotWriter({ journalPath: path, instruments: kitInstruments(), ledgerOptions: ledgerOptionsOf(options(dir)), budgetMs: 1, tailMs: 5, ...over });

test('a thread snapshot written in chunks over several short transactions stores the same parts, byte for byte, and recovery starts from it', { timeout: 120_000 }, async () => {
  const { dir, path, s0, s1 } = await journalWithUnwrittenSnapshot('snapb-chunks');
  const writer = writerFor(path, dir, { chunkBytes: 4096 });
  const w = await writer.written(s1);
  await writer.close();
  assert.equal(w.written, ids.length + 1);
  assert.ok(w.txns > 10, `the set took many write transactions (${w.txns})`);
  assert.ok(chunkRows(path, s1) > w.txns, 'big parts are stored as chunks');
  assert.ok(w.slices > 1 && w.maxLockMs > 0 && w.maxSliceMs > 0);
  // Each stored part, put together, is the blob the single-transaction writer stored: the state at s1.
  const replay = cleanReplay(dir, kitInstruments(), {}, s1);
  const store = new SnapshotStore(path);
  for (const id of [LEDGER_SNAPSHOT_ID, ...ids]) {
    const dump = id === LEDGER_SNAPSHOT_ID ? replay.ledger.stateDump() : replay.books.get(id)!.stateDump();
    const expected = encodeSnapshot(id, s1, hashNumbers(dump), Float64Array.from(dump));
    assert.deepEqual(store.at(id, s1), expected, `part ${id}`);
    assert.deepEqual(latestSnapshot(path, id, s1)?.blob, expected, `part ${id} through latestSnapshot`);
  }
  store.close();
  assert.equal(findSnapshotSet(path, ids, Number.MAX_SAFE_INTEGER)?.seq, s1);
  assert.ok(s1 > s0);
  const again = await startEngine(options(dir, { shards: 1 }));
  assert.equal(again.recovery.snapshotSeq, s1, 'recovery starts from the chunked set');
  assert.deepEqual(again.engine.recordedHashes(s1), replay.hashes);
  await again.engine.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a snapshot thread stopped between two of its transactions leaves no set recovery would take; the next start deletes its chunks', { timeout: 120_000 }, async () => {
  const { dir, path, s0, s1 } = await journalWithUnwrittenSnapshot('snapb-crash');
  const writer = writerFor(path, dir, { chunkBytes: 4096, testFailAfterTxns: 3 });
  await assert.rejects(writer.written(s1), (e: unknown) => e instanceof SnapshotWriterError && /after 3 transactions/.test(e.message));
  await writer.close();
  assert.ok(chunkRows(path, s1) >= 3, 'chunks of s1 were committed');
  assert.equal(snapshotRows(path, s1), 0, 'no part of s1 is visible');
  assert.equal(findSnapshotSet(path, ids, Number.MAX_SAFE_INTEGER)?.seq, s0, 'the older set is the newest whole one');
  const again = await startEngine(options(dir));
  assert.equal(again.recovery.snapshotSeq, s0, 'recovery starts from the older set');
  assert.equal(chunkRows(path), 0, 'the unfinished chunks were deleted at start');
  const replay = cleanReplay(dir, kitInstruments(), {}, s1);
  // Replaying s1's Snapshot command, the engine wrote the set anew (whole rows: inline).
  assert.deepEqual(again.engine.recordedHashes(s1), replay.hashes);
  await again.engine.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a chunked part with a chunk missing is not taken: recovery skips its set for the older one', { timeout: 120_000 }, async () => {
  const { dir, path, s0, s1 } = await journalWithUnwrittenSnapshot('snapb-damaged');
  const writer = writerFor(path, dir, { chunkBytes: 4096 });
  await writer.written(s1);
  await writer.close();
  const db = new Database(path);
  db.prepare('DELETE FROM snapshot_chunks WHERE seq = ? AND idx = 1 AND shard = (SELECT min(shard) FROM snapshot_chunks WHERE seq = ?)').run(s1, s1);
  db.close();
  assert.equal(findSnapshotSet(path, ids, Number.MAX_SAFE_INTEGER)?.seq, s0);
  const again = await startEngine(options(dir));
  assert.equal(again.recovery.snapshotSeq, s0);
  assert.deepEqual(again.engine.recordedHashes(s1), cleanReplay(dir, kitInstruments(), {}, s1).hashes, 'the damaged part was written again');
  await again.engine.close();
  rmSync(dir, { recursive: true, force: true });
});

test('stats report the last snapshot\'s stop against the budget: thread (its longest write transaction) and inline (counted, logged)', { timeout: 120_000 }, async () => {
  const dir = tempDataDir('snapb-stats');
  const logs: { fields: Record<string, unknown>; msg: string }[] = [];
  const { engine } = await startEngine(options(dir, { snapshotBudgetMs: 0.5, log: (fields, msg) => logs.push({ fields, msg }) }));
  await fundAccounts(engine);
  const flow = new OrderFlow(41, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true });
  await driveFlow(engine, flow, 3_000, now);
  await engine.snapshot('thread');
  let st = engine.stats();
  const w = engine.lastThreadSnapshotWritten!;
  assert.ok(st.lastSnapshotThreadTxns >= 1 && st.lastSnapshotThreadTxns === w.txns);
  assert.equal(st.lastSnapshotStopMs, w.maxLockMs, 'a thread snapshot stops acks at most for its longest write transaction');
  assert.equal(st.lastSnapshotThreadMaxLockMs, w.maxLockMs);
  assert.equal(st.lastSnapshotThreadMaxSliceMs, w.maxSliceMs);
  const overrunsThread = st.snapshotBudgetOverruns;
  assert.equal(overrunsThread, w.maxLockMs > 0.5 ? 1 : 0);
  await driveFlow(engine, flow, 500, now);
  const inlineLogs = (): number => logs.filter((l) => /inline snapshot stopped matching longer than snapshotBudgetMs/.test(l.msg)).length;
  // An idle engine: the inline snapshot refuses nobody, so it stopped nothing, however long it took.
  await engine.snapshot('inline');
  st = engine.stats();
  assert.ok(st.lastSnapshotStopMs > 0 && st.lastSnapshotStopMs >= st.lastSnapshotShardsMs, 'the inline stop runs from the request to the last shard');
  assert.equal(st.snapshotBudgetOverruns, overrunsThread, 'an inline snapshot that refused no submit is no overrun');
  assert.equal(inlineLogs(), 0);
  // A submit during it is answered Busy: that one counts, if it took longer than the budget.
  const p = engine.snapshot('inline');
  const c = new Command();
  c.type = RuntimeCommandType.Deposit; c.account = KIT_ACCOUNTS[0]!; c.value = 1;
  assert.equal(engine.submit(c, 0, engine.ledger.assetId('USD')).status, SubmitStatus.Busy);
  await p;
  st = engine.stats();
  const over = st.lastSnapshotStopMs > 0.5;
  assert.equal(st.snapshotBudgetOverruns, overrunsThread + (over ? 1 : 0));
  assert.equal(inlineLogs(), over ? 1 : 0);
  if (over) assert.equal(logs.find((l) => /inline snapshot stopped/.test(l.msg))!.fields['refused'], 1);
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

test('snapshotBudgetMs is checked', async () => {
  for (const bad of [0, 0.1, -5, Number.NaN, Number.POSITIVE_INFINITY, 60_001, '5' as unknown as number]) {
    const dir = tempDataDir('snapb-opt');
    await assert.rejects(startEngineRaw(options(dir, { snapshotBudgetMs: bad })), (e: unknown) => e instanceof EngineError && /snapshotBudgetMs/.test(e.message), String(bad));
    rmSync(dir, { recursive: true, force: true });
  }
});
