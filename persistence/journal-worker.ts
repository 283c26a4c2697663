// Journal thread. Drains command records from the journal Ring, appends them to SQLite (WAL) with
// group commit (one transaction per batch; a batch ends when the ring runs dry, at maxBatchRecords,
// or maxBatchUs after it started), then publishes the durable watermark under a seqlock in the
// control block and Atomics.notify's the main thread. See docs/runtime.md ("Journal").

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { Ring } from '../gateway/ring.js';
import { niceThisThread, setTimerSlackNs, threadId } from './thread-priority.js';
import {
  BATCH_RECORDS_BUCKETS, COMMIT_SECONDS_BUCKETS, observeInto, STATS_BATCH_BASE, STATS_COMMIT_BASE, STATS_LOCK_RETRIES,
  CTRL_COMMITS_F64, CTRL_DURABLE_F64, CTRL_RECORDS_F64, CTRL_STATE, CTRL_STOP, CTRL_TRIM_REQUEST_I64, CTRL_TRIMMED_I64,
  COMMIT_GAP_SKIP_RECORDS, CTRL_VERSION, JOURNAL_CHUNK_RECORDS, JOURNAL_LOCK_POLL_MS, TRIM_ROWS_PER_STEP,
  JournalError, STATE_CLOSED, STATE_FAILED, STATE_RUNNING, journalLayout, openJournalDb,
  type JournalErrorCode, type JournalStats, type JournalWorkerData,
} from './journal.js';
import { encodeRecords, maxEncodedBytes } from './journal-codec.js';

const SAMPLE_CAPACITY = 1 << 16;
/** How often (records) a long batch checks its time bound. */
const CHECK_EVERY = 64;

class Watermark {
  private readonly ctrl: Int32Array;
  private readonly f64: Float64Array;
  commits = 0;
  records = 0;
  seq = 0;

  constructor(sab: SharedArrayBuffer) {
    this.ctrl = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
  }

  publish(seq: number): void {
    this.seq = seq;
    const c = this.ctrl;
    Atomics.add(c, CTRL_VERSION, 1); // odd: update in progress
    this.f64[CTRL_DURABLE_F64] = seq;
    this.f64[CTRL_COMMITS_F64] = this.commits;
    this.f64[CTRL_RECORDS_F64] = this.records;
    Atomics.add(c, CTRL_VERSION, 1); // even: stable
    Atomics.notify(c, CTRL_VERSION);
  }

  setState(state: number): void {
    Atomics.store(this.ctrl, CTRL_STATE, state);
  }

  stopRequested(): boolean {
    return Atomics.load(this.ctrl, CTRL_STOP) !== 0;
  }
}

class Samples {
  readonly commitUs = new Float64Array(SAMPLE_CAPACITY);
  readonly batchUs = new Float64Array(SAMPLE_CAPACITY);
  readonly batchRecords = new Float64Array(SAMPLE_CAPACITY);
  count = 0;

  add(commitUs: number, batchUs: number, records: number): void {
    const i = this.count++ & (SAMPLE_CAPACITY - 1);
    this.commitUs[i] = commitUs;
    this.batchUs[i] = batchUs;
    this.batchRecords[i] = records;
  }

  ordered(a: Float64Array): number[] {
    const n = Math.min(this.count, SAMPLE_CAPACITY);
    const start = this.count > SAMPLE_CAPACITY ? this.count & (SAMPLE_CAPACITY - 1) : 0;
    const out = new Array<number>(n);
    for (let k = 0; k < n; k++) out[k] = a[(start + k) & (SAMPLE_CAPACITY - 1)]!;
    return out;
  }
}

function post(m: unknown): void {
  parentPort!.postMessage(m);
}

function failWith(mark: Watermark, code: JournalErrorCode, message: string): void {
  mark.setState(STATE_FAILED);
  post({ type: 'failed', code, message });
}

/** SQLITE_BUSY and its extended codes (better-sqlite3 reports the extended one: SQLITE_BUSY_RECOVERY, ...). */
function isBusy(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

function run(d: JournalWorkerData): void {
  const ring = Ring.attach(d.ringSab, { spinIterations: d.spinIterations, adaptiveSpinUs: d.adaptiveSpinUs });
  const mark = new Watermark(d.ctrlSab);
  let db: Database.Database;
  let format = 0;
  try {
    db = openJournalDb(d.path, d.durability, ring.recordBytes, d.checkpoint === 'inline', d.seqWord, d.kindWord, d.pageSize, d.format);
    format = journalLayout(db, d.path).format;
  } catch (e) {
    failWith(mark, e instanceof JournalError ? e.code : 'failed', `cannot open journal ${d.path}: ${(e as Error).message}`);
    return;
  }
  // One row per chunk of up to JOURNAL_CHUNK_RECORDS records (format 2): SQLite's per-row cost is paid
  // once per chunk instead of once per command.
  const insert = db.prepare('INSERT INTO journal (seq, first_seq, n, recs) VALUES (?, ?, ?, ?)');
  // Every write of this thread (a batch, a trim step) starts with BEGIN IMMEDIATE, tried by
  // beginWrite below with busy_timeout 0.
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  let last = (db.prepare('SELECT max(seq) AS s FROM journal').get() as { s: number | null }).s ?? 0;
  // The write lock is taken only by beginWrite's BEGIN IMMEDIATE, polled every JOURNAL_LOCK_POLL_MS:
  // with SQLite's busy handler (1, 2, 5, 10 ... ms apart) a commit that met the snapshot thread's
  // 5 ms transaction waited about twice that. busy_timeout stays 0 for good, not set and reset per
  // commit (two pragma calls per commit at ~8k commits/s): SQLite's result-code documentation
  // (rescode.html, SQLITE_BUSY) says BEGIN IMMEDIATE is the one statement of such a transaction that
  // may return SQLITE_BUSY; once it succeeds, nothing up to and including the COMMIT does. So the
  // INSERTs, the trim's DELETE and the COMMITs never meet the busy handler. (An inline auto-
  // checkpoint after a COMMIT is PASSIVE, which never waits, and its outcome is not the COMMIT's.)
  // The only statement outside such a transaction, the SELECT above, ran with the 5 s timeout
  // (a WAL reader seldom waits at all).
  db.pragma('busy_timeout = 0');
  mark.publish(last);
  mark.setState(STATE_RUNNING);
  post({ type: 'ready', lastSeq: last, tid: threadId(), nice: niceThisThread(d.nice) });

  // A chunk is a run of consecutive ring slots, cut at JOURNAL_CHUNK_RECORDS and where the ring
  // wraps. Format 3 encodes it into `packed` (journal-codec.ts: about a tenth of the bytes, so the
  // WAL write and the checkpoint's copy shrink with it); format 2 inserts it straight from the
  // ring's memory (SQLite copies the bound blob). Its slots go back to the producer once inserted
  // (ring.release), before the COMMIT.
  const f = ring.f64;
  const recordBytes = ring.recordBytes;
  const recordWords = recordBytes >>> 3;
  const ringBytes = Buffer.from(ring.sab);
  const packed = Buffer.allocUnsafe(maxEncodedBytes(JOURNAL_CHUNK_RECORDS, recordWords));
  let chunkN = 0;
  let chunkFirst = 0;
  let chunkByte = 0;
  let chunkLast = 0;
  const flush = (): void => {
    if (chunkN === 0) return;
    if (format === 2) insert.run(chunkLast, chunkFirst, chunkN, ringBytes.subarray(chunkByte, chunkByte + chunkN * recordBytes));
    else {
      const len = encodeRecords(f, ringBytes, chunkByte >>> 3, chunkN, recordWords, d.seqWord, packed);
      insert.run(chunkLast, chunkFirst, chunkN, packed.subarray(0, len));
    }
    ring.release(chunkN);
    chunkN = 0;
  };
  // Trimming archived rows (Journal.requestTrim): a bounded DELETE between batches, never the last row.
  const ctrlI64 = new BigInt64Array(d.ctrlSab);
  const trim = db.prepare('DELETE FROM journal WHERE seq IN (SELECT seq FROM journal WHERE seq <= ? AND seq < ? ORDER BY seq LIMIT ?)');
  let trimmed = 0;
  const maybeTrim = (): void => {
    const want = Number(Atomics.load(ctrlI64, CTRL_TRIM_REQUEST_I64));
    if (want <= trimmed) return;
    // Its own write transaction: with busy_timeout 0 an autocommit DELETE would fail at once while
    // the snapshot thread holds the lock.
    beginWrite();
    const r = trim.run(want, last, TRIM_ROWS_PER_STEP);
    commit.run();
    if (r.changes < TRIM_ROWS_PER_STEP) {
      trimmed = want;
      Atomics.store(ctrlI64, CTRL_TRIMMED_I64, BigInt(want));
    }
  };
  const samples = new Samples();
  const live = new Float64Array(d.statsSab);
  const maxBatchMs = d.maxBatchUs / 1000;
  const lingerMs = d.lingerUs / 1000;
  const gapMs = lingerMs > 0 ? 0 : d.commitGapUs / 1000;
  // A paced thread naps for tens of microseconds: the default 50 us timer slack would stretch every
  // nap by about that much (thread-priority.ts setTimerSlackNs).
  if (gapMs > 0) setTimerSlackNs(1000);
  let lastCommitEnd = -Infinity;
  const { seqWord, kindWord, maxBatchRecords } = d;

  // Linger (periodic group commit): between batches the thread naps lingerMs on a private word,
  // WITHOUT announcing that it sleeps, so producers never pay an Atomics.notify for it and it
  // wakes at most once per period instead of once per record (announced waits woke it per publish).
  const nap = new Int32Array(new SharedArrayBuffer(4));

  // The write lock: BEGIN IMMEDIATE, and while another connection holds the lock (SQLITE_BUSY), a
  // nap of JOURNAL_LOCK_POLL_MS on the private word and another try, until lockWaitMs from the
  // first refusal; then the last SQLITE_BUSY ("database is locked") is thrown to the caller's
  // failWith, as the busy handler's timeout did. The common case (lock free) is one statement, as
  // the deferred BEGIN was (that one took the lock at the first INSERT instead). The timer slack is
  // lowered (as for the commit-gap nap) at the first refusal, unless pacing did it already.
  let lockRetries = 0;
  let slackLow = gapMs > 0;
  const beginWrite = (): void => {
    try {
      begin.run();
      return;
    } catch (e) {
      if (!isBusy(e)) throw e;
    }
    const until = performance.now() + d.lockWaitMs;
    if (!slackLow) { setTimerSlackNs(1000); slackLow = true; }
    for (;;) {
      live[STATS_LOCK_RETRIES] = ++lockRetries;
      Atomics.wait(nap, 0, 0, JOURNAL_LOCK_POLL_MS);
      try {
        begin.run();
        return;
      } catch (e) {
        if (!isBusy(e) || performance.now() >= until) {
          live[STATS_LOCK_RETRIES] = ++lockRetries;
          throw e;
        }
      }
    }
  };

  for (;;) {
    try {
      maybeTrim();
    } catch (e) {
      if (db.inTransaction) rollback.run();
      db.close();
      failWith(mark, 'failed', `journal trim failed after seq ${mark.seq}: ${(e as Error).message}`);
      return;
    }
    if (lingerMs > 0) {
      if (ring.available() < maxBatchRecords) {
        Atomics.wait(nap, 0, 0, lingerMs);
        if (ring.available() === 0) {
          if (mark.stopRequested()) break;
          continue;
        }
      }
    } else {
      // Commit pacing: nap out the rest of the gap since the last COMMIT (unannounced), unless a
      // chunk's worth is already queued; then wait for data as usual.
      if (gapMs > 0) {
        const rest = lastCommitEnd + gapMs - performance.now();
        if (rest > 0 && ring.available() < COMMIT_GAP_SKIP_RECORDS) Atomics.wait(nap, 0, 0, rest);
      }
      if (ring.waitForData(50) === 0) {
        if (mark.stopRequested() && ring.available() === 0) break;
        continue;
      }
    }
    const t0 = performance.now();
    let n = 0;
    let bad: string | null = null;
    try {
      beginWrite();
      while (n < maxBatchRecords) {
        const o = ring.poll();
        if (o < 0) break;
        const seq = f[o + seqWord]!;
        const kind = f[o + kindWord]!;
        if (!Number.isSafeInteger(seq) || seq <= last) {
          bad = `record seq ${seq} is not an integer above the last journaled seq ${last}`;
          break;
        }
        if (!Number.isSafeInteger(kind)) {
          bad = `record ${seq} has a non-integer kind ${kind}`;
          break;
        }
        const byte = o * 8;
        if (chunkN > 0 && byte !== chunkByte + chunkN * recordBytes) flush(); // the ring wrapped
        if (chunkN === 0) { chunkFirst = seq; chunkByte = byte; }
        chunkN++;
        chunkLast = seq;
        last = seq;
        if (chunkN === JOURNAL_CHUNK_RECORDS) flush();
        n++;
        if (n % CHECK_EVERY === 0 && performance.now() - t0 >= maxBatchMs) break;
      }
      flush();
      const tc = performance.now();
      commit.run();
      const t1 = performance.now();
      lastCommitEnd = t1;
      mark.commits++;
      mark.records += n;
      samples.add((t1 - tc) * 1000, (t1 - t0) * 1000, n);
      observeInto(live, STATS_COMMIT_BASE, COMMIT_SECONDS_BUCKETS, (t1 - tc) / 1000);
      observeInto(live, STATS_BATCH_BASE, BATCH_RECORDS_BUCKETS, n);
    } catch (e) {
      chunkN = 0;
      if (db.inTransaction) rollback.run();
      db.close();
      failWith(mark, 'failed', `journal write failed after seq ${mark.seq}: ${(e as Error).message}`);
      return;
    }
    mark.publish(last);
    if (bad !== null) {
      db.close();
      failWith(mark, 'failed', bad);
      return;
    }
  }

  db.close();
  const stats: JournalStats = {
    commits: mark.commits,
    records: mark.records,
    durableSeq: mark.seq,
    commitUs: samples.ordered(samples.commitUs),
    batchUs: samples.ordered(samples.batchUs),
    batchRecords: samples.ordered(samples.batchRecords),
    checkpoints: 0,
    lockRetries,
  };
  mark.setState(STATE_CLOSED);
  post({ type: 'closed', stats });
}

if (!isMainThread) run(workerData as JournalWorkerData);
