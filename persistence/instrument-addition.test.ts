// Instruments (and assets) appended to the configuration of a data dir that already has a journal and
// snapshots: configuration epochs (persistence/instrument-fingerprint.ts). The state is kept, the new
// instruments trade, and every start after that crosses the change: from a snapshot of the older
// configuration, from the journal alone, on the snapshot thread, after SIGKILL. The references: a
// clean single-threaded replay (cleanReplay), and, independent of the epoch code, a replay of the
// whole journal under the larger configuration from seq 1 (the new instruments and assets unused
// before the change, so it must reach the same state). Real engines on temp data dirs.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CW_ASSET, CW_INSTRUMENT, CW_TYPE, RuntimeCommandType, isFundingType } from '../core/command-codec.js';
import type { InstrumentSpec } from '../core/instrument.js';
import { Command, CommandType, EventType, OrderType, RejectReason, Side, TimeInForce } from '../core/types.js';
import { Engine, JOURNAL_FILE, SubmitStatus, ledgerOptionsOf, type EngineOptions, type StateHashes } from '../gateway/engine.js';
import { KIT_ACCOUNTS, driveFlow, fundAccounts, kitInstruments, tempDataDir, engineMeta as meta, withJournalDb as withDb } from '../gateway/engine-test-kit.js';
import type { LedgerOrderView } from '../gateway/ledger.js';
import { OrderFlow } from '../gateway/order-flow.js';
import { JournalReplayer } from './pg/engine-source.js';
import { InstrumentConfigError, META_EPOCHS, META_INSTRUMENTS, readInstrumentEpochs } from './instrument-fingerprint.js';
import { lastSeq, latestSnapshot, readJournal, readJournalChunks } from './journal.js';
import { cleanReplay, recoverEngine, startEngine } from './recovery.js';
import { StateReplayer, openStateReplayer } from './replayer.js';
import { SnapshotRecoveryError } from './snapshot-recovery.js';
import { LEDGER_SNAPSHOT_ID, decodeSnapshot } from './snapshot-blob.js';
import { ADDED_DDD_USD, ADDED_DDD_BBB } from './instrument-addition-child.js';

type LogLine = { fields: Record<string, unknown>; msg: string };

const A = (): InstrumentSpec[] => kitInstruments();
/** A + DDD-USD (id 9): a new asset, DDD. */
const AX = (): InstrumentSpec[] => [...A(), ADDED_DDD_USD];
/** AX + DDD-BBB (id 4): existing assets only. */
const AXY = (): InstrumentSpec[] => [...AX(), ADDED_DDD_BBB];

function options(dataDir: string, instruments: InstrumentSpec[], lines: LogLine[] = [], over: Partial<EngineOptions> = {}): EngineOptions {
  return { instruments, shards: 2, durability: 'normal', dataDir, snapshotOnClose: false, log: (fields, msg) => { lines.push({ fields, msg }); }, ...over };
}

/** Every kit account's and the fee account's balances (available, locked) of the first `assets` assets, and the open orders. */
function view(engine: Engine, assets: number): { balances: number[][]; orders: LedgerOrderView[] } {
  const balances: number[][] = [];
  for (const acc of [...KIT_ACCOUNTS, engine.ledger.feeAccount]) {
    for (let a = 0; a < assets; a++) balances.push([acc, a, engine.ledger.available(acc, a), engine.ledger.locked(acc, a)]);
  }
  return { balances, orders: engine.ledger.openOrders() };
}

/** The whole journal replayed under `instruments` from seq 1 (no epochs: the larger configuration from the start). */
function replayUnderLargest(dir: string, instruments: InstrumentSpec[]): StateHashes {
  const rp = new StateReplayer(instruments, ledgerOptionsOf({} as EngineOptions));
  for (const chunk of readJournalChunks(join(dir, JOURNAL_FILE), 0)) {
    for (let r = 0, o = 0; r < chunk.n; r++, o += chunk.recordWords) if (chunk.words[o + chunk.seqWord]! > rp.lastSeq) rp.apply(chunk.words, o);
  }
  const books: Record<number, string> = {};
  for (const [id, b] of rp.books) books[id] = b.stateHash();
  return { seq: rp.lastSeq, ledger: rp.ledger.stateHash(), books };
}

/** Starts on `dir`, checks the starting point and that the recovered state equals a clean replay; closes. */
async function restartEquals(dir: string, instruments: InstrumentSpec[], expectSnapshotSeq: number, shards = 2, lines: LogLine[] = []): Promise<StateHashes> {
  const { engine, recovery } = await startEngine(options(dir, instruments, lines, { shards }));
  try {
    assert.equal(recovery.snapshotSeq, expectSnapshotSeq, 'starting point');
    const recovered = await engine.stateHashes('inline');
    assert.deepEqual(recovered, cleanReplay(dir, instruments, {}, recovered.seq).hashes, 'recovered state equals a clean replay');
    return recovered;
  } finally {
    await engine.close();
  }
}

async function submitOnce(engine: Engine, cmd: Command, instrumentId: number, asset = 0): Promise<{ status: number; reason: number; seq: number }> {
  for (;;) {
    const r = engine.submit(cmd, instrumentId, asset);
    if (r.status !== SubmitStatus.Busy) return { status: r.status, reason: r.reason, seq: r.seq };
    engine.poll();
    await new Promise<void>((res) => setImmediate(res));
  }
}

/** Old-form snapshot parts: the ledger dump's asset count at `seq`, and no part of a later instrument before its epoch. */
function ledgerAssetCountAt(dir: string, seq: number): number {
  const s = latestSnapshot(join(dir, JOURNAL_FILE), LEDGER_SNAPSHOT_ID, seq);
  assert.ok(s !== null && s.seq === seq, `a ledger snapshot at seq ${seq}`);
  return decodeSnapshot(s.blob).state[1]!;
}

describe('instruments appended to an existing data dir', () => {
  it('keeps the state, trades the new instrument (new asset), and recovers across the change from a snapshot, the journal alone and the snapshot thread', async () => {
    const dir = tempDataDir('add-one');
    const path = join(dir, JOURNAL_FILE);
    try {
      // Configuration A: funded, trading, a snapshot in the middle, closed without a final one.
      const { engine: e1 } = await startEngine(options(dir, A()));
      await fundAccounts(e1);
      const cmd = new Command();
      // Naming the instrument or the asset still to come is refused before sequencing (never journaled).
      cmd.reset(); cmd.type = CommandType.NewOrder; cmd.account = 1; cmd.side = Side.Buy; cmd.orderType = OrderType.Limit;
      cmd.tif = TimeInForce.GTC; cmd.priceTicks = 8_000; cmd.qtyLots = 1;
      const unknown = await submitOnce(e1, cmd, 9);
      assert.deepEqual([unknown.status, unknown.reason], [SubmitStatus.Rejected, RejectReason.UnknownSymbol]);
      cmd.reset(); cmd.type = RuntimeCommandType.Deposit; cmd.account = 1; cmd.value = 1000;
      const unknownAsset = await submitOnce(e1, cmd, 0, e1.ledger.assetCount);
      assert.deepEqual([unknownAsset.status, unknownAsset.reason], [SubmitStatus.Rejected, RejectReason.InvalidValue]);
      const flow = new OrderFlow(3, e1.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true });
      await driveFlow(e1, flow, 1500);
      const snapA = await e1.snapshot();
      await driveFlow(e1, flow, 1500);
      const before = view(e1, e1.ledger.assetCount);
      assert.ok(before.orders.length > 0, 'resting orders');
      const closed = await e1.close();
      const B = closed.seq + 1;
      for (const rec of readJournal(path)) {
        const t = rec.words[CW_TYPE]!;
        if (isFundingType(t)) assert.ok(rec.words[CW_ASSET]! < 4, `seq ${rec.seq}: asset of the old configuration`);
        else if (t !== RuntimeCommandType.Snapshot) assert.ok([1, 2, 7].includes(rec.words[CW_INSTRUMENT]!), `seq ${rec.seq}: instrument of the old configuration`);
      }

      // A + DDD-USD on 3 shards, the new symbol on shard 2 by the configured map.
      const lines: LogLine[] = [];
      const { engine: e2, recovery } = await startEngine(options(dir, AX(), lines, { shards: 3, shardOf: { 'DDD-USD': 2 } }));
      let live: StateHashes;
      let snapC: number;
      try {
        const ext = lines.find((l) => l.msg.startsWith('instrument configuration extended'));
        assert.ok(ext !== undefined, 'the addition is logged');
        assert.equal(ext.fields.fromSeq, B);
        assert.deepEqual(ext.fields.added, { instruments: [{ id: 9, symbol: 'DDD-USD' }], assets: ['DDD'] });
        assert.match(ext.msg, /DDD-USD \(id 9\), assets DDD added from seq \d+/);
        const crossed = lines.find((l) => l.msg.startsWith('replayed up to the last instrument configuration change'));
        assert.ok(crossed !== undefined);
        assert.deepEqual([crossed.fields.fromSeq, crossed.fields.toSeq], [snapA, B - 1]);
        assert.equal(recovery.snapshotSeq, B - 1);
        const epochs = JSON.parse(meta(dir)[META_EPOCHS]!) as { fromSeq: number; instruments: number; assets: number }[];
        assert.deepEqual(epochs.map((e) => [e.fromSeq, e.instruments, e.assets]), [[1, 3, 4], [B, 4, 5]]);
        // A snapshot was taken right after the start (the first seq of the new configuration).
        assert.ok(lines.some((l) => l.msg.startsWith('snapshot taken after starting across') && l.fields.seq === B));

        // The state is what it was: balances (the new asset at zero), open orders, books.
        const after = view(e2, 5);
        assert.deepEqual(after.orders, before.orders);
        assert.deepEqual(after.balances.filter((b) => b[1]! < 4), before.balances);
        assert.ok(after.balances.filter((b) => b[1] === 4).every((b) => b[2] === 0 && b[3] === 0));
        const atB = e2.recordedHashes(B);
        for (const id of [1, 2, 7]) assert.equal(atB.books[id], closed.books[id], `book ${id}`);
        // The grown ledger is the one the larger configuration reaches from seq 1.
        assert.equal(atB.ledger, replayUnderLargest(dir, AX()).ledger);
        // Up to the change a clean replay keeps the old configuration's shape (the hashes recorded then).
        assert.deepEqual(cleanReplay(dir, AX(), {}, B - 1).hashes, closed);
        assert.equal(ledgerAssetCountAt(dir, snapA), 4);

        // The new instrument trades.
        await fundAccounts(e2);
        const flow2 = new OrderFlow(4, e2.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true });
        await driveFlow(e2, flow2, 3000);
        snapC = await e2.snapshot('thread');
        await driveFlow(e2, flow2, 1500);
      } finally {
        live = await e2.close();
      }
      const clean = cleanReplay(dir, AX(), {}, Number.MAX_SAFE_INTEGER, true);
      assert.deepEqual(clean.hashes, live, 'a clean replay of the whole journal equals the live state');
      assert.ok(clean.events.get(9)!.some((ev) => ev[0] === EventType.Trade), 'DDD-USD traded');
      assert.deepEqual(replayUnderLargest(dir, AX()), live);
      // The replication catch-up reader reads across the change: from empty state (the larger
      // configuration from seq 1) and from the snapshot set at B, the same records.
      const all = await new JournalReplayer(path, AX()).read(0, live.seq, 1e9);
      assert.equal(all[all.length - 1]!.seq, live.seq);
      const tail = await new JournalReplayer(path, AX()).read(B + 10, live.seq, 1e9);
      assert.deepEqual(tail, all.filter((r) => r.seq > B + 10));

      // From the new configuration's snapshot (1 shard).
      await restartEquals(dir, AX(), snapC, 1);
      // Every snapshot from the change on gone: the start crosses it from snapA's set.
      withDb(dir, (db) => db.exec(`DELETE FROM snapshots WHERE seq >= ${B}`));
      const lines2: LogLine[] = [];
      await restartEquals(dir, AX(), B - 1, 2, lines2);
      assert.ok(lines2.some((l) => l.msg.startsWith('replayed up to the last instrument configuration change') && l.fields.fromSeq === snapA));

      // The snapshot thread starting from the old configuration's set crosses the change on its own
      // (the sets the recovery wrote again past the change deleted before it starts).
      const engine = await Engine.start(options(dir, AX()));
      try {
        await recoverEngine(engine);
        withDb(dir, (db) => db.exec(`DELETE FROM snapshots WHERE seq >= ${B}`));
        const rp = openStateReplayer(path, AX(), ledgerOptionsOf({} as EngineOptions));
        assert.equal(rp.lastSeq, snapA);
        const h = await engine.stateHashes('thread');
        assert.deepEqual(h, cleanReplay(dir, AX(), {}, h.seq).hashes, 'the snapshot thread\'s state equals a clean replay');
      } finally {
        await engine.close();
      }

      // The journal alone: a full replay from seq 1 across the change; the old snapshot parts are
      // written again in the old shape, and no part of DDD-USD exists before the change.
      withDb(dir, (db) => db.exec('DELETE FROM snapshots'));
      await restartEquals(dir, AX(), B - 1);
      assert.equal(ledgerAssetCountAt(dir, snapA), 4);
      assert.equal(withDb(dir, (db) => (db.prepare('SELECT count(*) AS n FROM snapshots WHERE shard = 9 AND seq < ?').get(B) as { n: number }).n), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two successive additions (the second with existing assets only); other changes stay refused with the same error, before and after', async () => {
    const dir = tempDataDir('add-two');
    try {
      const run = async (instruments: InstrumentSpec[], seed: number): Promise<{ snap: number; closed: StateHashes }> => {
        const { engine } = await startEngine(options(dir, instruments));
        await fundAccounts(engine);
        const flow = new OrderFlow(seed, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true });
        await driveFlow(engine, flow, 1000);
        const snap = await engine.snapshot();
        await driveFlow(engine, flow, 500);
        return { snap, closed: await engine.close() };
      };
      const r0 = await run(A(), 5);
      const r1 = await run(AX(), 6);
      const B1 = r0.closed.seq + 1;

      const refused = async (instruments: InstrumentSpec[]): Promise<InstrumentConfigError> => {
        const m = meta(dir);
        const err = await startEngine(options(dir, instruments)).then(async (s) => { await s.engine.close(); return null; }, (e: unknown) => e);
        assert.ok(err instanceof InstrumentConfigError, `got ${String(err)}`);
        assert.deepEqual(meta(dir), m, 'a refused start changes no record');
        return err;
      };
      assert.deepEqual((await refused(A())).changes.map((c) => [c.kind, c.id]), [['removed', 9], ['assets', undefined]]);
      const fee = AX();
      fee[3] = { ...fee[3]!, takerFeePpm: 300 };
      assert.deepEqual((await refused(fee)).changes.map((c) => [c.kind, c.field]), [['changed', 'takerFeePpm']]);
      const inserted = [...A(), ADDED_DDD_BBB, ADDED_DDD_USD];
      const e3 = await refused(inserted);
      assert.deepEqual(e3.changes.map((c) => [c.kind, c.id]), [['added', 4]]);
      assert.match(e3.message, /DDD-BBB \(id 4\) added before existing instruments/);
      const moved = [...AX()];
      [moved[0], moved[1]] = [moved[1]!, moved[0]!];
      assert.deepEqual((await refused([...moved, ADDED_DDD_BBB])).changes.map((c) => c.kind), ['added', 'reordered', 'assets']);

      const r2 = await run(AXY(), 7);
      const B2 = r1.closed.seq + 1;
      assert.deepEqual(readInstrumentEpochs(join(dir, JOURNAL_FILE)).map((e) => [e.fromSeq, e.instruments, e.assets]), [[1, 3, 4], [B1, 4, 5], [B2, 5, 5]]);
      assert.equal(meta(dir)[META_INSTRUMENTS]!.includes('DDD-BBB'), true);
      assert.deepEqual(cleanReplay(dir, AXY(), {}).hashes, r2.closed);
      assert.deepEqual(replayUnderLargest(dir, AXY()), r2.closed);
      assert.deepEqual(cleanReplay(dir, AXY(), {}, B2 - 1).hashes, r1.closed);
      assert.deepEqual(cleanReplay(dir, AXY(), {}, B1 - 1).hashes, r0.closed);

      await restartEquals(dir, AXY(), r2.snap);
      // From the first configuration's snapshot: both changes crossed on the main thread.
      withDb(dir, (db) => db.exec(`DELETE FROM snapshots WHERE seq >= ${B1}`));
      const lines: LogLine[] = [];
      await restartEquals(dir, AXY(), B2 - 1, 3, lines);
      assert.ok(lines.some((l) => l.msg.startsWith('replayed up to the last instrument configuration change') && l.fields.fromSeq === r0.snap && l.fields.epochs === 3));
      withDb(dir, (db) => db.exec('DELETE FROM snapshots'));
      await restartEquals(dir, AXY(), B2 - 1);
      assert.equal(ledgerAssetCountAt(dir, r0.snap), 4);
      assert.equal(ledgerAssetCountAt(dir, r1.snap), 5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a start with appended instruments that fails before it runs records nothing: the old configuration starts again, then the addition does', async () => {
    const dir = tempDataDir('add-failed');
    const path = join(dir, JOURNAL_FILE);
    try {
      const { engine } = await startEngine(options(dir, A()));
      await fundAccounts(engine);
      const flow = new OrderFlow(8, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true });
      await driveFlow(engine, flow, 1000);
      const snaps = [await engine.snapshot()];
      await driveFlow(engine, flow, 500);
      snaps.push(await engine.snapshot());
      await driveFlow(engine, flow, 500);
      const closed = await engine.close();
      const before = meta(dir);

      // Every snapshot set damaged and the journal's first chunk gone: the start cannot be
      // rebuilt (SnapshotRecoveryError), after the addition was accepted.
      const first = withDb(dir, (db) => {
        for (const seq of snaps) {
          const row = db.prepare('SELECT blob FROM snapshots WHERE shard = ? AND seq = ?').get(LEDGER_SNAPSHOT_ID, seq) as { blob: Buffer };
          const blob = Buffer.from(row.blob);
          new Float64Array(blob.buffer, blob.byteOffset, blob.byteLength / 8)[0] = 0;
          db.prepare('UPDATE snapshots SET blob = ? WHERE shard = ? AND seq = ?').run(blob, LEDGER_SNAPSHOT_ID, seq);
        }
        const row = db.prepare('SELECT * FROM journal ORDER BY seq LIMIT 1').get() as { seq: number; first_seq: number; n: number; recs: Buffer };
        db.prepare('DELETE FROM journal WHERE seq = ?').run(row.seq);
        return row;
      });
      const failedLines: LogLine[] = [];
      await assert.rejects(startEngine(options(dir, AX(), failedLines)), (e: unknown) => e instanceof SnapshotRecoveryError && /journal starts at seq \d+, not 1/.test(e.message));
      assert.deepEqual(meta(dir), before, 'the failed start recorded neither the configuration nor its epoch');
      assert.equal(failedLines.some((l) => l.msg.startsWith('instrument configuration extended')), false, 'the failed start did not log an extension it never recorded');

      // The journal whole again: the old configuration starts (a full replay, the damaged sets were
      // deleted) and reaches the state it was closed with.
      withDb(dir, (db) => db.prepare('INSERT INTO journal (seq, first_seq, n, recs) VALUES (?, ?, ?, ?)').run(first.seq, first.first_seq, first.n, first.recs));
      const again = await restartEquals(dir, A(), 0);
      assert.deepEqual([again.ledger, again.books], [closed.ledger, closed.books]);
      assert.deepEqual(meta(dir), before);

      // Then the addition, recorded from the next seq once that start succeeded.
      const B = lastSeq(path) + 1;
      const okLines: LogLine[] = [];
      await restartEquals(dir, AX(), B - 1, 2, okLines);
      assert.equal(okLines.filter((l) => l.msg.startsWith('instrument configuration extended')).length, 1, 'the successful start logs the extension once');
      assert.deepEqual(readInstrumentEpochs(path).map((e) => [e.fromSeq, e.instruments, e.assets]), [[1, 3, 4], [B, 4, 5]]);
      assert.equal(meta(dir)[META_INSTRUMENTS]!.includes('DDD-USD'), true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SIGKILLed lives before, at and after the change: each start recovers the state a clean replay reaches', async () => {
    const dir = tempDataDir('add-kill');
    const child = join(dirname(fileURLToPath(import.meta.url)), 'instrument-addition-child.js');
    const life = (added: number, seed: number, runMs: number): Promise<StateHashes> => new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [child, dir, String(added), String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '', err = '';
      let recovered: StateHashes | null = null;
      const guard = setTimeout(() => p.kill('SIGKILL'), 30_000);
      p.stdout.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        const m = /^recovered (.*)$/m.exec(out);
        if (m !== null && recovered === null) {
          recovered = JSON.parse(m[1]!) as StateHashes;
          setTimeout(() => p.kill('SIGKILL'), runMs);
        }
      });
      p.stderr.setEncoding('utf8').on('data', (c: string) => { err += c; });
      p.on('error', reject);
      p.on('close', () => {
        clearTimeout(guard);
        if (recovered === null) reject(new Error(`child never recovered; stderr: ${err}`));
        else resolve(recovered);
      });
    });
    try {
      const plan: [number, number][] = [[0, 400], [0, 250], [1, 0], [1, 300], [2, 150], [2, 350], [2, 200]];
      for (const [k, [added, ms]] of plan.entries()) {
        const instruments = added === 0 ? A() : added === 1 ? AX() : AXY();
        const h = await life(added, k + 1, ms);
        assert.deepEqual(h, cleanReplay(dir, instruments, {}, h.seq).hashes, `life ${k} (${added} added)`);
      }
      assert.equal(readInstrumentEpochs(join(dir, JOURNAL_FILE)).length, 3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
