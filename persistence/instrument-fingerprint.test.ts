// The instrument configuration recorded in the journal file (engine_meta) and checked at start, and
// the fallback to an older snapshot set when the newest one is damaged. Real engines on temp data dirs.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { InstrumentSpec } from '../core/instrument.js';
import type { EngineOptions } from '../gateway/engine.js';
import { KIT_ACCOUNTS, driveFlow, fundAccounts, kitInstruments, tempDataDir, engineMeta as meta, withJournalDb as withDb } from '../gateway/engine-test-kit.js';
import { OrderFlow } from '../gateway/order-flow.js';
import { testSpec } from '../testing/fixtures.js';
import {
  InstrumentConfigError, META_INSTRUMENTS, META_INSTRUMENTS_HASH, fingerprintHash, fingerprintJson, instrumentFingerprint,
} from './instrument-fingerprint.js';
import { cleanReplay, startEngine } from './recovery.js';
import { LEDGER_SNAPSHOT_ID, SnapshotError, decodeSnapshot, encodeSnapshot } from './snapshot-blob.js';
import { hashNumbers } from '../core/hash.js';
import { SnapshotRecoveryError } from './snapshot-recovery.js';

type LogLine = { fields: Record<string, unknown>; msg: string };

function options(dataDir: string, over: Partial<EngineOptions> = {}, lines: LogLine[] = []): EngineOptions {
  return { instruments: kitInstruments(), shards: 2, durability: 'normal', dataDir, snapshotOnClose: false,
    log: (fields, msg) => { lines.push({ fields, msg }); }, ...over };
}

/** Engine on a new dir: funded, `before` flow commands, snapshot, `between`, snapshot, `after`; closed without a final snapshot. */
async function history(dir: string): Promise<{ snaps: number[]; lastSeq: number }> {
  const { engine } = await startEngine(options(dir));
  await fundAccounts(engine);
  const flow = new OrderFlow(5, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true });
  await driveFlow(engine, flow, 1500);
  const a = await engine.snapshot();
  await driveFlow(engine, flow, 1500);
  const b = await engine.snapshot();
  await driveFlow(engine, flow, 1500);
  const live = await engine.close();
  return { snaps: [a, b], lastSeq: live.seq };
}

function corruptPart(dir: string, ownerId: number, seq: number, how: 'magic' | 'state'): void {
  withDb(dir, (db) => {
    const row = db.prepare('SELECT blob FROM snapshots WHERE shard = ? AND seq = ?').get(ownerId, seq) as { blob: Buffer };
    const blob = Buffer.from(row.blob);
    const w = new Float64Array(blob.buffer, blob.byteOffset, blob.byteLength / 8);
    if (how === 'magic') w[0] = 0;
    else w[w.length - 1] = w[w.length - 1]! + 1; // the header's hash stays; the state no longer hashes to it
    db.prepare('UPDATE snapshots SET blob = ? WHERE shard = ? AND seq = ?').run(blob, ownerId, seq);
  });
}

async function recoveredEqualsCleanReplay(dir: string, lines: LogLine[], expectSnapshotSeq: number): Promise<void> {
  const { engine, recovery } = await startEngine(options(dir, {}, lines));
  try {
    assert.equal(recovery.snapshotSeq, expectSnapshotSeq);
    const recovered = await engine.stateHashes('inline');
    const clean = cleanReplay(dir, kitInstruments(), {}, recovered.seq);
    assert.deepEqual(recovered, clean.hashes, 'recovered state equals a clean replay');
  } finally {
    await engine.close();
  }
}

describe('instrument fingerprint', () => {
  it('records the configuration on a new dir; the same configuration starts; a changed fee is refused naming the field, and nothing is changed', async () => {
    const dir = tempDataDir('fp-fee');
    const lines: LogLine[] = [];
    try {
      const { engine } = await startEngine(options(dir, {}, lines));
      await fundAccounts(engine);
      await engine.close();
      const m = meta(dir);
      const json = fingerprintJson(instrumentFingerprint(kitInstruments()));
      assert.equal(m[META_INSTRUMENTS], json);
      assert.equal(m[META_INSTRUMENTS_HASH], fingerprintHash(json));
      assert.ok(lines.some((l) => l.msg.startsWith('new journal: recorded')));

      // Same configuration (maxTriggersPerCommand spelled out as its default counts as the same).
      const same = kitInstruments().map((s) => ({ ...s, maxTriggersPerCommand: 100 }));
      const again = await startEngine(options(dir, { instruments: same }));
      await again.engine.close();

      const changed = kitInstruments();
      changed[1] = { ...changed[1]!, takerFeePpm: changed[1]!.takerFeePpm + 5 };
      const err = await startEngine(options(dir, { instruments: changed })).then(() => null, (e: unknown) => e);
      assert.ok(err instanceof InstrumentConfigError, `got ${String(err)}`);
      assert.equal(err.code, 'instrument-config-changed');
      assert.deepEqual(err.changes.map((c) => [c.kind, c.symbol, c.field, c.old, c.new]),
        [['changed', 'BBB-USD', 'takerFeePpm', kitInstruments()[1]!.takerFeePpm, kitInstruments()[1]!.takerFeePpm + 5]]);
      assert.match(err.message, /BBB-USD \(id 2\) takerFeePpm: \d+ -> \d+/);
      assert.deepEqual(meta(dir), m, 'the record is unchanged by a refused start');

      const cap = kitInstruments();
      cap[0] = { ...cap[0]!, orderCapacity: 50_000, lotSize: '0.01' };
      const err2 = await startEngine(options(dir, { instruments: cap })).then(() => null, (e: unknown) => e);
      assert.ok(err2 instanceof InstrumentConfigError);
      assert.deepEqual(err2.changes.map((c) => c.field).sort(), ['lotSize', 'orderCapacity']);

      // The recorded configuration still starts.
      const back = await startEngine(options(dir));
      await back.engine.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an instrument added before existing ones, a removed and a reordered instrument (only appends are accepted: instrument-addition.test.ts)', async () => {
    const dir = tempDataDir('fp-add');
    try {
      const { engine } = await startEngine(options(dir));
      await fundAccounts(engine);
      await engine.snapshot();
      await engine.close();
      const before = meta(dir);
      // Ahead of an existing instrument, even with existing assets: it would move CCC-USD's position.
      const inserted: InstrumentSpec[] = [...kitInstruments()];
      inserted.splice(2, 0, testSpec({ id: 9, symbol: 'AAA-BBB', baseAsset: 'AAA', quoteAsset: 'BBB' }));
      const err = await startEngine(options(dir, { instruments: inserted })).then(async (s) => { await s.engine.close(); return null; }, (e: unknown) => e);
      assert.ok(err instanceof InstrumentConfigError, `got ${String(err)}`);
      assert.deepEqual(err.changes.map((c) => [c.kind, c.id, c.symbol]), [['added', 9, 'AAA-BBB']]);
      assert.match(err.message, /instrument AAA-BBB \(id 9\) added before existing instruments/);
      assert.doesNotMatch(err.message, /ledger state hash/);
      assert.deepEqual(meta(dir), before, 'the record is unchanged by a refused start');

      const removed = kitInstruments().slice(0, 2);
      const err2 = await startEngine(options(dir, { instruments: removed })).then(async (s) => { await s.engine.close(); return null; }, (e: unknown) => e);
      assert.ok(err2 instanceof InstrumentConfigError);
      assert.deepEqual(err2.changes.map((c) => c.kind), ['removed', 'assets']);
      assert.match(err2.message, /instrument CCC-USD \(id 7\) removed/);

      const reordered = kitInstruments().reverse();
      const err3 = await startEngine(options(dir, { instruments: reordered })).then(async (s) => { await s.engine.close(); return null; }, (e: unknown) => e);
      assert.ok(err3 instanceof InstrumentConfigError);
      assert.deepEqual(err3.changes.map((c) => c.kind), ['reordered', 'assets']);
      assert.deepEqual(meta(dir), before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a data dir from before fingerprints (no record) starts, says so in the log and gets the record; a change is refused after that', async () => {
    const dir = tempDataDir('fp-legacy');
    const lines: LogLine[] = [];
    try {
      const { snaps } = await history(dir);
      withDb(dir, (db) => db.exec('DROP TABLE engine_meta'));
      await recoveredEqualsCleanReplay(dir, lines, snaps[1]!);
      const rec = lines.find((l) => l.msg.startsWith('journal written before instrument fingerprints'));
      assert.ok(rec !== undefined, 'the log says the record was written for an old dir');
      assert.equal(rec.fields.legacy, true);
      assert.equal(meta(dir)[META_INSTRUMENTS], fingerprintJson(instrumentFingerprint(kitInstruments())));
      const changed = kitInstruments();
      changed[2] = { ...changed[2]!, makerFeePpm: 0 };
      await assert.rejects(startEngine(options(dir, { instruments: changed })), (e: unknown) => e instanceof InstrumentConfigError && /CCC-USD \(id 7\) makerFeePpm: -50 -> 0/.test(e.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('damaged snapshot sets at start', () => {
  it('a newest ledger blob that does not decode: starts from the older set, logs the skip, rewrites the part, equals a clean replay', async () => {
    const dir = tempDataDir('fp-snap');
    const lines: LogLine[] = [];
    try {
      const { snaps } = await history(dir);
      corruptPart(dir, LEDGER_SNAPSHOT_ID, snaps[1]!, 'magic');
      const blob = withDb(dir, (db) => (db.prepare('SELECT blob FROM snapshots WHERE shard = 0 AND seq = ?').get(snaps[1]!) as { blob: Buffer }).blob);
      assert.throws(() => decodeSnapshot(new Uint8Array(blob)), SnapshotError);
      await recoveredEqualsCleanReplay(dir, lines, snaps[0]!);
      const skip = lines.find((l) => l.msg === 'snapshot set skipped at start');
      assert.ok(skip !== undefined);
      assert.equal(skip.fields.seq, snaps[1]);
      assert.match(String(skip.fields.reason), /ledger: not a snapshot blob/);
      // The replay passed the damaged set's Snapshot command and wrote the part again: whole now.
      const fixed = withDb(dir, (db) => (db.prepare('SELECT blob FROM snapshots WHERE shard = 0 AND seq = ?').get(snaps[1]!) as { blob: Buffer }).blob);
      assert.equal(decodeSnapshot(new Uint8Array(fixed)).seq, snaps[1]);
      // And a start uses it (once the set the check above took at the end is gone).
      withDb(dir, (db) => db.exec('DELETE FROM snapshots WHERE seq > ' + String(snaps[1]!)));
      await recoveredEqualsCleanReplay(dir, [], snaps[1]!);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a book blob whose state no longer hashes to its header: skipped too; every set damaged -> full replay from seq 1; trimmed journal -> clear error', async () => {
    const dir = tempDataDir('fp-snap2');
    const lines: LogLine[] = [];
    try {
      const { snaps } = await history(dir);
      corruptPart(dir, 7, snaps[1]!, 'state');
      corruptPart(dir, LEDGER_SNAPSHOT_ID, snaps[0]!, 'state');
      await recoveredEqualsCleanReplay(dir, lines, 0);
      assert.deepEqual(lines.filter((l) => l.msg === 'snapshot set skipped at start').map((l) => l.fields.seq), [snaps[1], snaps[0]]);
      assert.ok(lines.some((l) => l.msg === 'no usable snapshot set: full replay from seq 1'));

      // Damage every set again, and drop the journal's first chunk: nothing to rebuild from.
      for (const s of snaps) corruptPart(dir, LEDGER_SNAPSHOT_ID, s, 'magic');
      withDb(dir, (db) => {
        db.exec('DELETE FROM snapshots WHERE seq > ' + String(snaps[1]!));
        db.exec('DELETE FROM journal WHERE seq = (SELECT min(seq) FROM journal)');
      });
      await assert.rejects(startEngine(options(dir)), (e: unknown) => e instanceof SnapshotRecoveryError && /journal starts at seq \d+, not 1/.test(e.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a whole ledger snapshot of another dump version is not skipped: the start fails saying so', async () => {
    const dir = tempDataDir('fp-snapver');
    try {
      const { snaps } = await history(dir);
      withDb(dir, (db) => {
        const row = db.prepare('SELECT blob FROM snapshots WHERE shard = 0 AND seq = ?').get(snaps[1]!) as { blob: Buffer };
        const d = decodeSnapshot(new Uint8Array(row.blob));
        const state = Float64Array.from(d.state);
        state[0] = 99;
        db.prepare('UPDATE snapshots SET blob = ? WHERE shard = 0 AND seq = ?').run(encodeSnapshot(0, snaps[1]!, hashNumbers(state), state), snaps[1]!);
      });
      await assert.rejects(startEngine(options(dir)), (e: unknown) => e instanceof SnapshotRecoveryError && /dump version 99, this version writes 4/.test(e.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
