// Archiving the journal: the chunk rows that the newest complete snapshot set makes unnecessary for
// recovery are copied into a segment file of their own (journal-archive/journal-<first>-<last>.sqlite,
// the same schema and format as the journal, written with synchronous=FULL and renamed into place
// only once complete), then trimmed from the live file, by the journal thread while it runs
// (Journal.requestTrim: a few dozen rows per step between batches) or here when it does not.
// Readers (readJournal, readJournalChunks, lastSeq) read the archives first, so replication
// catch-up, candle rebuilds and clean replays see one gap-free journal; an operator may move old
// segments elsewhere once nothing needs to read from before them. Recovery only needs the newest
// complete snapshot set and the rows after it, which are never archived.
// docs/runtime.md "Archiving the journal".

import Database from 'better-sqlite3';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { JournalError, journalArchiveDir, journalArchiveName, journalLayout, listJournalArchives, openJournalDb } from './journal.js';

export interface ArchiveResult {
  /** The new segment file. */
  path: string;
  firstSeq: number;
  lastSeq: number;
  rows: number;
  records: number;
  /** Bytes of the chunks copied (as stored). */
  bytes: number;
  ms: number;
}

/**
 * The newest seq at which every one of `shardIds` (the ledger's id and every instrument's) has a
 * snapshot in the journal file, or 0. Reads only the keys, not the blobs.
 */
export function newestSnapshotSetSeq(journalPath: string, shardIds: readonly number[]): number {
  if (shardIds.length === 0) return 0;
  const db = new Database(journalPath, { readonly: true, fileMustExist: true });
  try {
    const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshots'").get();
    if (hasTable === undefined) return 0;
    const ids = [...new Set(shardIds)];
    const row = db.prepare(`SELECT seq FROM snapshots WHERE shard IN (${ids.map(() => '?').join(',')}) GROUP BY seq HAVING count(*) = ? ORDER BY seq DESC LIMIT 1`)
      .get(...ids, ids.length) as { seq: number } | undefined;
    return row?.seq ?? 0;
  } finally {
    db.close();
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Copies the live journal's chunk rows that lie wholly at or before `upToSeq` and after the last
 * archived seq into a new archive segment; null when there are none. Safe while the journal thread
 * writes (its own read connection). Does not trim: see Journal.requestTrim and trimArchivedRows.
 */
export function archiveJournalSync(journalPath: string, upToSeq: number, minRecords = 0): ArchiveResult | null {
  if (!Number.isSafeInteger(upToSeq) || upToSeq < 0) throw new JournalError('bad-options', `archive bound must be a seq, got ${upToSeq}`);
  if (!Number.isSafeInteger(minRecords) || minRecords < 0) throw new JournalError('bad-options', `minRecords must be a count, got ${minRecords}`);
  const t0 = performance.now();
  const archives = listJournalArchives(journalPath);
  const after = archives.length > 0 ? archives[archives.length - 1]!.lastSeq : 0;
  if (upToSeq <= after) return null;
  const live = new Database(journalPath, { readonly: true, fileMustExist: true });
  live.pragma('busy_timeout = 5000');
  let tmp = '';
  let out: Database.Database | null = null;
  try {
    const layout = journalLayout(live, journalPath);
    const pending = live.prepare('SELECT sum(n) AS n FROM journal WHERE seq > ? AND seq <= ?').get(after, upToSeq) as { n: number | null };
    if ((pending.n ?? 0) === 0 || (pending.n ?? 0) < minRecords) return null;
    const rows = live.prepare('SELECT seq, first_seq, n, recs FROM journal WHERE seq > ? AND seq <= ? ORDER BY seq').iterate(after, upToSeq) as IterableIterator<{ seq: number; first_seq: number; n: number; recs: Buffer }>;
    const dir = journalArchiveDir(journalPath);
    mkdirSync(dir, { recursive: true });
    tmp = join(dir, `.tmp-${process.pid}-${Date.now()}.sqlite`);
    let first = 0, last = 0, nRows = 0, records = 0, bytes = 0;
    let insert: Database.Statement | null = null;
    for (const row of rows) {
      if (nRows === 0) {
        if (after > 0 && row.first_seq !== after + 1) throw new JournalError('bad-format', `${journalPath}: the live journal continues at seq ${row.first_seq}, the archives end at ${after}`);
        // 4 KiB pages: a segment is written once and read sequentially; small segments stay small.
        out = openJournalDb(tmp, 'full', layout.recordBytes, true, layout.seqWord, layout.kindWord, 4096, layout.format);
        out.exec('BEGIN');
        insert = out.prepare('INSERT INTO journal (seq, first_seq, n, recs) VALUES (?, ?, ?, ?)');
        first = row.first_seq;
      } else if (row.first_seq !== last + 1) {
        throw new JournalError('bad-format', `${journalPath}: chunk ${row.first_seq}..${row.seq} does not follow seq ${last}`);
      }
      insert!.run(row.seq, row.first_seq, row.n, row.recs);
      last = row.seq;
      nRows++;
      records += row.n;
      bytes += row.recs.byteLength;
    }
    if (nRows === 0 || out === null) return null;
    out.exec('COMMIT');
    // One self-contained file: back to a rollback journal (checkpoints and removes the WAL).
    out.pragma('journal_mode = DELETE');
    out.close();
    out = null;
    const path = join(dir, journalArchiveName(first, last));
    renameSync(tmp, path);
    tmp = '';
    fsyncDir(dir);
    return { path, firstSeq: first, lastSeq: last, rows: nRows, records, bytes, ms: performance.now() - t0 };
  } finally {
    live.close();
    if (out !== null) out.close();
    if (tmp !== '') rmSync(tmp, { force: true });
    if (tmp !== '') { rmSync(`${tmp}-wal`, { force: true }); rmSync(`${tmp}-shm`, { force: true }); }
  }
}

/**
 * Deletes from the live journal the rows already in an archive (never its last row). Only while no
 * journal thread writes the file (offline maintenance; a running engine trims through
 * Journal.requestTrim). Returns the rows deleted.
 */
export function trimArchivedRows(journalPath: string): number {
  const archives = listJournalArchives(journalPath);
  if (archives.length === 0) return 0;
  const upTo = archives[archives.length - 1]!.lastSeq;
  const db = new Database(journalPath, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const r = db.prepare('DELETE FROM journal WHERE seq <= ? AND seq < (SELECT max(seq) FROM journal)').run(upTo);
    return r.changes;
  } finally {
    db.close();
  }
}

interface ArchiveJob { kind: 'journal-archive'; journalPath: string; upToSeq: number; minRecords: number }

/** archiveJournalSync on a short-lived worker thread, so that the caller's event loop keeps running. */
export function archiveJournal(journalPath: string, upToSeq: number, minRecords = 0): Promise<ArchiveResult | null> {
  return new Promise((resolve, reject) => {
    const job: ArchiveJob = { kind: 'journal-archive', journalPath, upToSeq, minRecords };
    const w = new Worker(new URL(import.meta.url), { workerData: job });
    let settled = false;
    w.once('message', (m: { ok: true; result: ArchiveResult | null } | { ok: false; code: string; message: string }) => {
      settled = true;
      if (m.ok) resolve(m.result);
      else reject(m.code === 'Error' ? new Error(m.message) : new JournalError(m.code as never, m.message));
    });
    w.once('error', (e) => { if (!settled) { settled = true; reject(e); } });
    w.once('exit', (code) => { if (!settled) { settled = true; reject(new JournalError('failed', `archive thread exited (code ${code})`)); } });
  });
}

if (!isMainThread && parentPort !== null && (workerData as ArchiveJob | undefined)?.kind === 'journal-archive') {
  const job = workerData as ArchiveJob;
  try {
    parentPort.postMessage({ ok: true, result: archiveJournalSync(job.journalPath, job.upToSeq, job.minRecords) });
  } catch (e) {
    parentPort.postMessage({ ok: false, code: e instanceof JournalError ? e.code : 'Error', message: (e as Error).message });
  }
}
