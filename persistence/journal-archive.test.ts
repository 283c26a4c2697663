import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Journal, JournalError, journalArchiveDir, journalArchiveName, lastSeq, listJournalArchives, readJournal } from './journal.js';
import { archiveJournalSync, newestSnapshotSetSeq, trimArchivedRows } from './journal-archive.js';
import { fillTestRecord } from './journal-test-records.js';
import { cleanReplay, startEngine } from './recovery.js';
import { JOURNAL_FILE, type EngineOptions } from '../gateway/engine.js';
import { KIT_ACCOUNTS, driveFlow, fundAccounts, kitInstruments, tempDataDir } from '../gateway/engine-test-kit.js';
import { OrderFlow } from '../gateway/order-flow.js';

async function appendRange(j: Journal, from: number, to: number): Promise<void> {
  const rec = new Float64Array(j.ring.recordWords);
  for (let seq = from; seq <= to; seq++) {
    fillTestRecord(rec, seq);
    while (!j.tryAppend(rec)) await new Promise((r) => setImmediate(r));
  }
  await j.waitDurable(to);
}

const allBytes = (path: string): string[] => [...readJournal(path, 0)].map((r) => Buffer.from(r.bytes).toString('hex'));
const liveSeqs = (path: string): { min: number; max: number; rows: number } => {
  const db = new Database(path, { readonly: true });
  try {
    const r = db.prepare('SELECT min(first_seq) AS min, max(seq) AS max, count(*) AS rows FROM journal').get() as { min: number; max: number; rows: number };
    return r;
  } finally {
    db.close();
  }
};

test('archive + trim: readers see the same gap-free journal; the live file keeps only the rest and its last row', { timeout: 60_000 }, async () => {
  const dir = tempDataDir('archive-unit');
  const path = join(dir, 'journal.sqlite');
  let j = await Journal.open({ path, maxBatchRecords: 700 });
  await appendRange(j, 1, 5_000);
  const before = allBytes(path);
  assert.equal(archiveJournalSync(path, 0), null, 'nothing at or before seq 0');

  assert.equal(archiveJournalSync(path, 3_000, 3_001), null, 'fewer records than asked for: no segment');
  assert.equal(existsSync(journalArchiveDir(path)) ? readdirSync(journalArchiveDir(path)).length : 0, 0);
  assert.throws(() => archiveJournalSync(path, 3_000, -1), (e: unknown) => e instanceof JournalError && e.code === 'bad-options');
  const a = archiveJournalSync(path, 3_000, 2_000)!;
  assert.equal(a.firstSeq, 1);
  assert.ok(a.lastSeq <= 3_000 && a.lastSeq > 3_000 - 700, `whole chunks up to 3000 (got ${a.lastSeq})`);
  assert.equal(a.records, a.lastSeq);
  assert.ok(existsSync(a.path) && !existsSync(`${a.path}-wal`), 'one self-contained file');
  assert.deepEqual(readdirSync(journalArchiveDir(path)), [journalArchiveName(1, a.lastSeq)], 'no temporary file left');
  assert.deepEqual(allBytes(path), before, 'archived but not trimmed: read once, not twice');

  // Online trim by the journal thread, while it keeps appending.
  j.requestTrim(a.lastSeq);
  await appendRange(j, 5_001, 6_000);
  for (let k = 0; k < 200 && j.trimmedSeq() < a.lastSeq; k++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(j.trimmedSeq(), a.lastSeq);
  assert.equal(liveSeqs(path).min, a.lastSeq + 1, 'the live file starts after the archive');
  const all = allBytes(path);
  assert.equal(all.length, 6_000);
  assert.deepEqual(all.slice(0, 5_000), before, 'the same records, in order');
  assert.equal(lastSeq(path), 6_000);
  assert.deepEqual([...readJournal(path, 2_500)].map((r) => r.seq), Array.from({ length: 3_500 }, (_, k) => 2_501 + k), 'a read from inside the archive');
  await j.close();

  // A second segment continues the first; archiving everything leaves the live file its last row.
  const b = archiveJournalSync(path, 6_000)!;
  assert.equal(b.firstSeq, a.lastSeq + 1);
  assert.equal(b.lastSeq, 6_000);
  assert.equal(archiveJournalSync(path, 6_000), null, 'nothing new');
  assert.ok(trimArchivedRows(path) > 0);
  const live = liveSeqs(path);
  assert.equal(live.max, 6_000);
  assert.equal(live.rows, 1, 'only the last row stays');
  assert.equal(lastSeq(path), 6_000);
  assert.equal(allBytes(path).length, 6_000);
  j = await Journal.open({ path });
  assert.equal(j.recoveredSeq, 6_000, 'a reopened journal continues after the last seq');
  await appendRange(j, 6_001, 6_100);
  await j.close();
  assert.deepEqual([...readJournal(path, 0)].map((r) => r.seq), Array.from({ length: 6_100 }, (_, k) => k + 1));

  // Damage: a leftover temporary file is ignored; overlapping segments are refused.
  writeFileSync(join(journalArchiveDir(path), '.tmp-1-2.sqlite'), 'partial');
  assert.equal(allBytes(path).length, 6_100);
  copyFileSync(b.path, join(journalArchiveDir(path), journalArchiveName(b.firstSeq - 10, b.lastSeq + 5)));
  assert.throws(() => listJournalArchives(path), (e: unknown) => e instanceof JournalError && e.code === 'bad-format');
  assert.throws(() => archiveJournalSync(path, -1), (e: unknown) => e instanceof JournalError && e.code === 'bad-options');
  rmSync(dir, { recursive: true, force: true });
});

test('Engine.archiveJournal archives up to the newest complete snapshot set; recovery and a clean replay still match', { timeout: 120_000 }, async () => {
  const dir = tempDataDir('archive-engine');
  const options = (over: Partial<EngineOptions> = {}): EngineOptions => ({ instruments: kitInstruments(), shards: 2, durability: 'normal', dataDir: dir, snapshotOnClose: false, ...over });
  const { engine } = await startEngine(options());
  await fundAccounts(engine);
  const flow = new OrderFlow(5, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true });
  await driveFlow(engine, flow, 3_000, () => Date.now() * 1000);
  assert.equal(await engine.archiveJournal(), null, 'no snapshot yet: nothing to archive');
  const snap1 = await engine.snapshot();
  const st = engine.stats();
  assert.ok(st.snapshotsThread === 1 && st.lastSnapshotThreadDumpMs > 0 && st.lastSnapshotThreadTotalMs >= st.lastSnapshotThreadDumpMs,
    `the snapshot thread wrote it (${st.snapshotsThread}, ${st.lastSnapshotThreadDumpMs}, ${st.lastSnapshotThreadTotalMs} ms)`);
  const snapInline = await engine.snapshot('inline');
  const st2 = engine.stats();
  assert.ok(st2.snapshotsInline === 1 && st2.lastSnapshotLedgerMs > 0 && st2.lastSnapshotShardsMs >= st2.lastSnapshotLedgerMs, `inline snapshot times reported (${st2.lastSnapshotLedgerMs}, ${st2.lastSnapshotShardsMs} ms)`);
  assert.deepEqual(engine.recordedHashes(snapInline).books, cleanReplay(dir, kitInstruments(), {}, snapInline).hashes.books, 'the inline snapshot equals a clean replay');
  await driveFlow(engine, flow, 3_000, () => Date.now() * 1000);
  const path = join(dir, JOURNAL_FILE);
  assert.equal(newestSnapshotSetSeq(path, [0, ...engine.instruments.map((s) => s.id)]), snapInline);
  assert.equal(await engine.archiveJournal(1_000_000), null, 'the periodic minimum not reached');
  const a = (await engine.archiveJournal())!;
  assert.ok(a !== null && a.firstSeq === 1 && a.lastSeq <= snapInline && snap1 < snapInline, `archived 1..${a?.lastSeq}, snapshots at ${snap1}, ${snapInline}`);
  const snap2 = await engine.snapshot();
  await driveFlow(engine, flow, 2_000, () => Date.now() * 1000);
  const b = (await engine.archiveJournal())!;
  assert.equal(b.firstSeq, a.lastSeq + 1);
  assert.ok(b.lastSeq <= snap2);
  for (let k = 0; k < 200 && engine.journal.trimmedSeq() < b.lastSeq; k++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(engine.journal.trimmedSeq(), b.lastSeq, 'the journal thread trimmed the live file');
  const live = await engine.close();
  assert.ok(liveSeqs(path).min > b.lastSeq, 'the live file holds only rows after the archives');

  const seqs = [...readJournal(path, 0)].map((r) => r.seq);
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, k) => k + 1), 'seqs 1..n across archives and the live file');
  assert.deepEqual(cleanReplay(dir, kitInstruments()).hashes, live, 'a clean replay from seq 1 reads through the archives');
  const again = await startEngine(options({ shards: 1 }));
  assert.equal(again.recovery.snapshotSeq, snap2);
  const recovered = await again.engine.stateHashes();
  assert.deepEqual({ ledger: recovered.ledger, books: recovered.books }, { ledger: live.ledger, books: live.books });
  await again.engine.close();
  rmSync(dir, { recursive: true, force: true });
});
