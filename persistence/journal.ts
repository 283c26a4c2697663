// Journal, main-thread side. The journal thread (journal-worker.ts) drains fixed-size command
// records from a Ring and appends them to SQLite (WAL) with group commit; after every commit it
// publishes the durable sequence watermark in shared memory and notifies. This module offers:
//   - Journal: open the thread, append records without blocking (full ring -> false = "busy"),
//     read the watermark (`durableSeq`, no syscall), wait for it without blocking the event loop
//     (`waitDurable`, `setDurableListener`, both on Atomics.waitAsync), close.
//   - Recovery readers: readJournal (streaming generator), lastSeq, writeSnapshot, latestSnapshot.
// Format, durability semantics and measurements: docs/runtime.md ("Journal").

import Database from 'better-sqlite3';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Ring, waitAsync } from '../gateway/ring.js';
import type { CheckpointerData } from './journal-checkpointer.js';
import { JournalDecodeError, decodeRecords } from './journal-codec.js';
import { SNAPSHOT_CHUNKS_SCHEMA, dropOrphanChunks, resolveStoredPart, writePartsSliced, type SlicedWriteOptions, type SlicedWriteResult } from './snapshot-chunks.js';

export type Durability = 'none' | 'normal' | 'full';

/**
 * Format of a new journal file.
 * 2: records are stored in chunks, one row per up to JOURNAL_CHUNK_RECORDS consecutive records
 * (`seq` = the chunk's last record seq), so SQLite's per-row cost is paid once per chunk; a chunk
 * holds the records' bytes as they are.
 * 3: the same rows, each chunk encoded by persistence/journal-codec.ts (every word against the
 * record before it: a 256-byte command record takes 15-30 bytes), so the WAL and its checkpoints
 * write about a tenth of the bytes. Both are read; an existing file keeps its format when appended to.
 */
export const JOURNAL_FORMAT_VERSION = 3;
/** Formats the readers and the writer accept. */
export const JOURNAL_FORMATS: readonly number[] = [2, 3];
/** Records per journal row at most. */
export const JOURNAL_CHUNK_RECORDS = 256;

export type JournalErrorCode = 'closed' | 'failed' | 'bad-options' | 'bad-format' | 'not-found';

export class JournalError extends Error {
  override readonly name = 'JournalError';
  readonly code: JournalErrorCode;
  constructor(code: JournalErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface JournalOptions {
  /** SQLite file; created with its schema if missing. */
  path: string;
  /** 'normal' -> synchronous=NORMAL (survives a process crash); 'full' -> FULL (survives power loss);
   *  'none' -> written with NORMAL, but callers do not wait for the watermark. Default 'normal'. */
  durability?: Durability;
  /** Record size in bytes (multiple of 8). Default 128 (16 float64 words). */
  recordBytes?: number;
  /** Ring slots (power of two). Default 65536. */
  ringCapacity?: number;
  /** Group commit: at most this many records per transaction. Default 4096. */
  maxBatchRecords?: number;
  /** Group commit: a transaction stops taking records this long after its first one. Default 2000 us. */
  maxBatchUs?: number;
  /**
   * Periodic group commit: > 0 makes the journal thread nap this long between batches, without
   * announcing it (producers never notify it), and then take everything queued in one transaction.
   * For durability 'none' (no ack waits for the journal). Default 0: sleep announced, woken by the
   * next publish, commit at once.
   */
  lingerUs?: number;
  /**
   * Commit pacing (lingerUs 0): a transaction starts no sooner than this many microseconds after the
   * previous COMMIT ended, unless COMMIT_GAP_SKIP_RECORDS records are already queued; the thread naps
   * the rest of the gap unannounced (no producer pays a notify). Caps the commit rate under steady
   * load, where each COMMIT's fixed cost (whole WAL pages written) would otherwise keep the thread
   * runnable; a record arriving after a quiet spell is committed at once. 0..10000; default 0 (off).
   */
  commitGapUs?: number;
  /** Journal thread: spins before it sleeps on an empty ring. Default 2000 (a few microseconds). */
  spinIterations?: number;
  /** Journal thread: adaptive spin while traffic is dense (gateway/ring.ts adaptiveSpinUs). Default 0 (off). */
  adaptiveSpinUs?: number;
  /** Word of a record holding its sequence number (strictly increasing). Default 1. */
  seqWord?: number;
  /** Word of a record holding its kind (an integer). Default 0. */
  kindWord?: number;
  /**
   * 'thread' (default): the journal thread never checkpoints (wal_autocheckpoint = 0); a small
   * checkpoint thread runs PASSIVE checkpoints every checkpointIntervalMs with its own connection,
   * keeping WAL-to-database copies (and their fsync) out of every COMMIT. 'inline': SQLite's
   * default auto-checkpoint inside the COMMIT that crosses 1000 WAL pages.
   */
  checkpoint?: 'thread' | 'inline';
  /** Default 100 ms. */
  checkpointIntervalMs?: number;
  /**
   * Nice value (Linux, per thread; persistence/thread-priority.ts) of the journal thread. Default 0.
   * (Measured with bench:pipeline, durability none, four A/B pairs: nice 10 lost 8% of the closed-loop
   * maximum and did not lower the open-loop p99: the starved journal fills its ring.)
   */
  threadNice?: number;
  /** Nice value of the WAL checkpoint thread (background work). Default 10. */
  checkpointerNice?: number;
  /**
   * SQLite page size in bytes of a NEW journal file (a power of two, 512 .. 65536); an existing file
   * keeps the page size it was created with. Default JOURNAL_PAGE_SIZE.
   */
  pageSize?: number;
  /**
   * Format of a NEW journal file: 3 (default, compact chunks) or 2 (chunks of raw records); an
   * existing file keeps its format. For comparisons (bench:pipeline BENCH_JOURNAL_FORMAT).
   */
  format?: number;
  /**
   * How long the journal thread keeps trying for the file's write lock (ms) when another connection
   * (the snapshot thread) holds it, before the journal fails with "database is locked". It tries
   * every JOURNAL_LOCK_POLL_MS (journal-worker.ts). Default 5000 (the busy_timeout it replaced).
   */
  lockWaitMs?: number;
}

/**
 * Default page size of a new journal file. SQLite writes the WAL one page per frame (one write
 * call each) and the checkpointer copies it page by page, so the 64 KiB chunk rows cost per page:
 * writing and checkpointing 2.56M 256-byte records took 1.7-1.8 CPU-s with 4 KiB pages, 1.0 with
 * 16 KiB and 0.8-0.86 with 64 KiB (two runs each, 2026-11-25; docs/runtime.md "Journal").
 */
export const JOURNAL_PAGE_SIZE = 16384;

/** Commit pacing (commitGapUs): this many queued records end the gap at once (one full chunk row). */
export const COMMIT_GAP_SKIP_RECORDS = 256;

export interface JournalStats {
  commits: number;
  records: number;
  durableSeq: number;
  /** Most recent (up to 65536) per-commit samples, oldest first. */
  commitUs: number[];
  /** Time from BEGIN to the end of COMMIT, same samples. */
  batchUs: number[];
  batchRecords: number[];
  /** PASSIVE checkpoints run by the checkpoint thread (0 with checkpoint: 'inline'). */
  checkpoints: number;
  /**
   * Tries for the write lock (BEGIN IMMEDIATE) that found it held by another connection (the
   * snapshot thread, an archiver), each followed by a nap of JOURNAL_LOCK_POLL_MS.
   */
  lockRetries: number;
}

/** Everything the journal thread needs, passed as workerData. */
export interface JournalWorkerData {
  path: string;
  durability: Durability;
  ringSab: SharedArrayBuffer;
  ctrlSab: SharedArrayBuffer;
  maxBatchRecords: number;
  maxBatchUs: number;
  lingerUs: number;
  commitGapUs: number;
  spinIterations: number;
  adaptiveSpinUs: number;
  seqWord: number;
  kindWord: number;
  checkpoint: 'thread' | 'inline';
  /** Nice value the journal thread applies to itself at start (0 = unchanged). */
  nice: number;
  /** Page size of a new journal file. */
  pageSize: number;
  /** Format of a new journal file (JOURNAL_FORMATS). */
  format: number;
  /** Live histograms (JOURNAL_STATS_* layout), written by the journal thread after each commit. */
  statsSab: SharedArrayBuffer;
  /** Longest wait for the write lock before the journal fails (ms). */
  lockWaitMs: number;
}

/**
 * Live histograms of the journal thread, for /metrics: upper bounds of the commit-latency buckets
 * (seconds, COMMIT alone) and of the batch-size buckets (records per transaction). The last bucket
 * of each is +Inf.
 */
export const COMMIT_SECONDS_BUCKETS: readonly number[] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];
export const BATCH_RECORDS_BUCKETS: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
/** Float64 layout of statsSab: per histogram, one count per bucket (+Inf last), then sum, then count. */
export const STATS_COMMIT_BASE = 0;
export const STATS_BATCH_BASE = COMMIT_SECONDS_BUCKETS.length + 3;
/** Float64 index of statsSab: the journal thread's lock retries so far (JournalStats.lockRetries). */
export const STATS_LOCK_RETRIES = STATS_BATCH_BASE + BATCH_RECORDS_BUCKETS.length + 3;
export const STATS_WORDS = STATS_LOCK_RETRIES + 1;

/** Cumulative histogram as Prometheus wants it: counts[i] = observations <= bounds[i]; +Inf = count. */
export interface LiveHistogram { bounds: readonly number[]; cumulative: number[]; sum: number; count: number }

/** Journal thread side: records one observation into the histogram at `base`. */
export function observeInto(f: Float64Array, base: number, bounds: readonly number[], v: number): void {
  let i = 0;
  while (i < bounds.length && v > bounds[i]!) i++;
  f[base + i] = f[base + i]! + 1;
  f[base + bounds.length + 1] = f[base + bounds.length + 1]! + v;
  f[base + bounds.length + 2] = f[base + bounds.length + 2]! + 1;
}

function readHistogram(f: Float64Array, base: number, bounds: readonly number[]): LiveHistogram {
  const cumulative: number[] = [];
  let acc = 0;
  for (let i = 0; i <= bounds.length; i++) { acc += f[base + i]!; cumulative.push(acc); }
  // The thread may be mid-update: count is taken as the +Inf bucket so the exposition stays consistent.
  return { bounds, cumulative, sum: f[base + bounds.length + 1]!, count: acc };
}

// Control block shared by both threads (Int32 indices / Float64 indices into one 128-byte SAB).
export const CTRL_BYTES = 128;
/** Seqlock and futex word: odd while the thread updates the watermark, bumped twice per commit. */
export const CTRL_VERSION = 0;
/** Set to 1 by the main thread to ask the journal thread to drain, commit and exit. */
export const CTRL_STOP = 1;
/** 0 starting, 1 running, 2 closed, 3 failed. */
export const CTRL_STATE = 2;
/** Set to 1 to stop the checkpoint thread (it sleeps in Atomics.wait on this word). */
export const CTRL_CKPT_STOP = 3;
/** Float64 index of the durable watermark (highest committed seq). */
export const CTRL_DURABLE_F64 = 8;
export const CTRL_COMMITS_F64 = 9;
export const CTRL_RECORDS_F64 = 10;
/**
 * BigInt64 index: the main thread asks the journal thread to delete the live file's chunk rows up to
 * this seq (rows already copied to an archive; `Journal.requestTrim`). The last row always stays.
 */
export const CTRL_TRIM_REQUEST_I64 = 11;
/** BigInt64 index: the journal thread has deleted the rows up to this seq (`Journal.trimmedSeq`). */
export const CTRL_TRIMMED_I64 = 12;
/** Rows the journal thread deletes per step between batches (one step holds its write lock briefly). */
export const TRIM_ROWS_PER_STEP = 64;
/**
 * The journal thread's write lock: while another connection holds it, BEGIN IMMEDIATE is tried
 * again every this many ms (journal-worker.ts), until lockWaitMs. SQLite's own busy handler sleeps
 * 1, 2, 5, 10 ... ms between tries, so a commit behind a 5 ms snapshot transaction waited up to
 * twice the hold; the snapshot thread polls the other way every 0.2 ms (snapshot-chunks.ts).
 */
export const JOURNAL_LOCK_POLL_MS = 0.1;
export const STATE_RUNNING = 1;
export const STATE_CLOSED = 2;
export const STATE_FAILED = 3;

interface Waiter { seq: number; resolve: () => void; reject: (e: Error) => void }

type WorkerMessage =
  | { type: 'ready'; lastSeq: number; tid: number; nice: number }
  | { type: 'closed'; stats: JournalStats }
  | { type: 'failed'; code: JournalErrorCode; message: string };

export class Journal {
  /** Producer view of the journal ring (for zero-copy appends: reserve, fill `ring.f64`, publish). */
  readonly ring: Ring;
  readonly durability: Durability;
  readonly path: string;
  /** Highest seq in the journal when it was opened; the next record's seq must be greater. */
  recoveredSeq = 0;
  /** Kernel thread ids and applied nice values of the journal and checkpoint threads (-1 / 0 when unknown or not applied). */
  readonly threads = { journalTid: -1, journalNice: 0, checkpointerTid: -1, checkpointerNice: 0 };

  private readonly worker: Worker;
  private checkpointer: Worker | null = null;
  private checkpointerDone: Promise<number> | null = null;
  /** Why the checkpoint thread stopped early, if it did (not fatal: the WAL then only grows). */
  checkpointError: Error | null = null;
  private readonly ctrl: Int32Array;
  private readonly ctrlF64: Float64Array;
  private readonly ctrlI64: BigInt64Array;
  private readonly statsF64: Float64Array;
  private waiters: Waiter[] = [];
  private listener: ((durableSeq: number) => void) | null = null;
  private lastNotifiedSeq = 0;
  private pumping = false;
  private failure: JournalError | null = null;
  private closing: Promise<JournalStats> | null = null;
  private settleReady: { resolve: (lastSeq: number) => void; reject: (e: Error) => void } | null = null;
  private settleClosed: { resolve: (s: JournalStats) => void; reject: (e: Error) => void } | null = null;

  private constructor(data: JournalWorkerData, ring: Ring, durability: Durability) {
    this.ring = ring;
    this.statsF64 = new Float64Array(data.statsSab);
    this.ctrl = new Int32Array(data.ctrlSab);
    this.ctrlF64 = new Float64Array(data.ctrlSab);
    this.ctrlI64 = new BigInt64Array(data.ctrlSab);
    this.durability = durability;
    this.path = data.path;
    this.worker = new Worker(new URL('./journal-worker.js', import.meta.url), { workerData: data });
    this.worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    this.worker.on('error', (e: Error) => this.fail(`journal thread crashed: ${e.message}`));
    this.worker.on('exit', (code) => {
      if (Atomics.load(this.ctrl, CTRL_STATE) !== STATE_CLOSED) this.fail(`journal thread exited (code ${code})`);
    });
  }

  /** Start the journal thread on `options.path`; resolves once the file is open and recovered. */
  static async open(options: JournalOptions): Promise<Journal> {
    const durability = options.durability ?? 'normal';
    if (durability !== 'none' && durability !== 'normal' && durability !== 'full') throw new JournalError('bad-options', `unknown durability '${String(durability)}'`);
    const recordBytes = options.recordBytes ?? 128;
    const ring = Ring.create(options.ringCapacity ?? 65536, recordBytes);
    const data: JournalWorkerData = {
      path: options.path,
      durability,
      ringSab: ring.sab,
      ctrlSab: new SharedArrayBuffer(CTRL_BYTES),
      maxBatchRecords: positiveInt(options.maxBatchRecords ?? 4096, 'maxBatchRecords'),
      maxBatchUs: nonNegative(options.maxBatchUs ?? 2000, 'maxBatchUs'),
      lingerUs: nonNegative(options.lingerUs ?? 0, 'lingerUs'),
      commitGapUs: commitGapOption(options.commitGapUs ?? 0),
      spinIterations: nonNegative(options.spinIterations ?? 2000, 'spinIterations'),
      adaptiveSpinUs: Math.min(nonNegative(options.adaptiveSpinUs ?? 0, 'adaptiveSpinUs'), 10_000),
      seqWord: wordIndex(options.seqWord ?? 1, ring.recordWords, 'seqWord'),
      kindWord: wordIndex(options.kindWord ?? 0, ring.recordWords, 'kindWord'),
      checkpoint: options.checkpoint ?? 'thread',
      statsSab: new SharedArrayBuffer(STATS_WORDS * 8),
      nice: niceOption(options.threadNice ?? 0, 'threadNice'),
      pageSize: pageSizeOption(options.pageSize ?? JOURNAL_PAGE_SIZE),
      format: formatOption(options.format ?? JOURNAL_FORMAT_VERSION),
      lockWaitMs: nonNegative(options.lockWaitMs ?? 5000, 'lockWaitMs'),
    };
    if (data.checkpoint !== 'thread' && data.checkpoint !== 'inline') throw new JournalError('bad-options', `unknown checkpoint mode '${String(data.checkpoint)}'`);
    const j = new Journal(data, ring, durability);
    const ready = new Promise<number>((resolve, reject) => { j.settleReady = { resolve, reject }; });
    j.recoveredSeq = await ready;
    j.lastNotifiedSeq = j.recoveredSeq;
    if (data.checkpoint === 'thread') j.startCheckpointer(nonNegative(options.checkpointIntervalMs ?? 100, 'checkpointIntervalMs'), niceOption(options.checkpointerNice ?? 10, 'checkpointerNice'));
    return j;
  }

  private startCheckpointer(intervalMs: number, nice: number): void {
    const data: CheckpointerData = { path: this.path, ctrlSab: this.ctrl.buffer as SharedArrayBuffer, intervalMs, nice };
    const w = new Worker(new URL('./journal-checkpointer.js', import.meta.url), { workerData: data });
    this.checkpointer = w;
    this.checkpointerDone = new Promise<number>((resolve) => {
      w.on('message', (m: { type: 'started'; tid: number; nice: number } | { type: 'closed'; runs: number }) => {
        if (m.type === 'started') { this.threads.checkpointerTid = m.tid; this.threads.checkpointerNice = m.nice; } else resolve(m.runs);
      });
      w.on('error', (e: Error) => { this.checkpointError = e; resolve(0); });
      w.on('exit', () => resolve(0));
    });
  }

  private async stopCheckpointer(): Promise<number> {
    if (this.checkpointer === null) return 0;
    Atomics.store(this.ctrl, CTRL_CKPT_STOP, 1);
    Atomics.notify(this.ctrl, CTRL_CKPT_STOP);
    const runs = await this.checkpointerDone!;
    await this.checkpointer.terminate();
    this.checkpointer = null;
    return runs;
  }

  /** True when acks must wait for the watermark (durability 'normal' or 'full'). */
  get ackWaitsForDurability(): boolean {
    return this.durability !== 'none';
  }

  /**
   * Copy one record (recordWords words of `src` from `srcWord`) into the ring and publish it.
   * Returns false when the ring is full: the caller rejects with "busy". Never blocks.
   */
  tryAppend(src: Float64Array, srcWord = 0): boolean {
    if (this.failure !== null || this.closing !== null) throw this.failure ?? new JournalError('closed', 'journal is closing');
    if (!this.ring.tryPush(src, srcWord)) return false;
    this.ring.publish();
    return true;
  }

  /** Highest seq known to be committed at the configured level. Lock-free read, no syscall. */
  durableSeq(): number {
    const c = this.ctrl;
    for (;;) {
      const v = Atomics.load(c, CTRL_VERSION);
      if ((v & 1) !== 0) continue;
      const s = this.ctrlF64[CTRL_DURABLE_F64]!;
      if (Atomics.load(c, CTRL_VERSION) === v) return s;
    }
  }

  /** Live commit-latency and batch-size histograms (since open), for /metrics. */
  liveHistograms(): { commitSeconds: LiveHistogram; batchRecords: LiveHistogram } {
    return {
      commitSeconds: readHistogram(this.statsF64, STATS_COMMIT_BASE, COMMIT_SECONDS_BUCKETS),
      batchRecords: readHistogram(this.statsF64, STATS_BATCH_BASE, BATCH_RECORDS_BUCKETS),
    };
  }

  /** The journal thread's tries for the write lock that found it held, so far (JournalStats.lockRetries, live). */
  lockRetries(): number {
    return this.statsF64[STATS_LOCK_RETRIES]!;
  }

  /** Resolves once `seq` is durable; rejects if the journal fails or closes first. */
  waitDurable(seq: number): Promise<void> {
    if (this.durableSeq() >= seq) return Promise.resolve();
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ seq, resolve, reject });
      this.pump();
    });
  }

  /**
   * Call `cb(durableSeq)` on the event loop each time the watermark advances (e.g. to release
   * acks in seq order); null removes it. Callbacks coalesce: one call may cover many commits.
   */
  setDurableListener(cb: ((durableSeq: number) => void) | null): void {
    this.listener = cb;
    if (cb !== null) this.pump();
  }

  /**
   * Call `cb(error)` once, on the event loop, when the journal thread fails (a write error, a bad
   * record, the thread crashing or exiting): the owner stops at once instead of waiting for a
   * watermark that will not move. Called at once if it has failed already; null removes it.
   */
  setFailureListener(cb: ((e: JournalError) => void) | null): void {
    this.failureListener = cb;
    if (cb !== null && this.failure !== null) queueMicrotask(() => this.failureListener?.(this.failure!));
  }

  private failureListener: ((e: JournalError) => void) | null = null;

  /** Resolve due waiters and call the listener now (for a caller that polls in its own loop). */
  checkDurable(): number {
    const d = this.durableSeq();
    if (d > this.lastNotifiedSeq) {
      this.lastNotifiedSeq = d;
      if (this.waiters.length > 0) {
        const still: Waiter[] = [];
        for (const w of this.waiters) {
          if (w.seq <= d) w.resolve();
          else still.push(w);
        }
        this.waiters = still;
      }
      if (this.listener !== null) this.listener(d);
    }
    return d;
  }

  /**
   * Asks the journal thread to delete the live file's chunk rows whose seqs are all <= `upToSeq`,
   * a few dozen rows per step between its batches (so a long trim never holds up a commit for
   * long). Only for rows already archived (persistence/journal-archive.ts): readers find them there.
   * The last row always stays. Requests only move forward.
   */
  requestTrim(upToSeq: number): void {
    if (!Number.isSafeInteger(upToSeq) || upToSeq < 0) throw new JournalError('bad-options', `trim bound must be a seq, got ${upToSeq}`);
    if (upToSeq > Number(Atomics.load(this.ctrlI64, CTRL_TRIM_REQUEST_I64))) Atomics.store(this.ctrlI64, CTRL_TRIM_REQUEST_I64, BigInt(upToSeq));
  }

  /** The seq up to which the journal thread has trimmed the live file (0 = nothing yet). */
  trimmedSeq(): number {
    return Number(Atomics.load(this.ctrlI64, CTRL_TRIMMED_I64));
  }

  /** Commit what was appended, stop the thread, and return its statistics. */
  close(): Promise<JournalStats> {
    if (this.closing !== null) return this.closing;
    if (this.failure !== null) return Promise.reject(this.failure);
    this.closing = new Promise<JournalStats>((resolve, reject) => {
      this.settleClosed = { resolve, reject };
    }).then(async (stats) => {
      this.checkDurable();
      this.rejectAll(new JournalError('closed', 'journal closed before this seq was durable'));
      await this.worker.terminate();
      stats.checkpoints = await this.stopCheckpointer();
      return stats;
    });
    Atomics.store(this.ctrl, CTRL_STOP, 1);
    this.ring.wakeConsumer();
    return this.closing;
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    const step = (): void => {
      const v = Atomics.load(this.ctrl, CTRL_VERSION);
      this.checkDurable();
      if ((this.waiters.length === 0 && this.listener === null) || this.failure !== null || Atomics.load(this.ctrl, CTRL_STATE) === STATE_CLOSED) {
        this.pumping = false;
        return;
      }
      const r = waitAsync(this.ctrl, CTRL_VERSION, v, 1000);
      if (r.async) (r.value as Promise<string>).then(step, step);
      else setImmediate(step);
    };
    step();
  }

  private onMessage(m: WorkerMessage): void {
    if (m.type === 'ready') {
      this.threads.journalTid = m.tid;
      this.threads.journalNice = m.nice;
      this.settleReady?.resolve(m.lastSeq);
      this.settleReady = null;
    } else if (m.type === 'closed') {
      this.settleClosed?.resolve(m.stats);
      this.settleClosed = null;
    } else {
      this.fail(m.message, m.code);
    }
  }

  private fail(message: string, code: JournalErrorCode = 'failed'): void {
    if (this.failure !== null) return;
    this.failure = new JournalError(code, message);
    this.settleReady?.reject(this.failure);
    this.settleReady = null;
    this.settleClosed?.reject(this.failure);
    this.settleClosed = null;
    this.checkDurable();
    this.rejectAll(this.failure);
    void this.worker.terminate();
    void this.stopCheckpointer();
    const cb = this.failureListener, e = this.failure;
    if (cb !== null) queueMicrotask(() => cb(e));
  }

  private rejectAll(e: JournalError): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.reject(e);
  }

  /** The failure that stopped the journal thread, if any. */
  get error(): JournalError | null {
    return this.failure;
  }
}

// ------------------------------------------------------------------ schema (shared with the thread)

// engine_meta: text facts about the engine that wrote the file (the instrument configuration and its
// hash, persistence/instrument-fingerprint.ts); archives get the table empty.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS journal_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL, n INTEGER NOT NULL, recs BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (shard INTEGER NOT NULL, seq INTEGER NOT NULL, blob BLOB NOT NULL, PRIMARY KEY (shard, seq));
CREATE TABLE IF NOT EXISTS engine_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/**
 * Open (creating if needed) a journal file for writing: WAL, synchronous by durability, schema,
 * and a check that an existing file was written with the same record size. A new file gets format
 * `format`; `journalLayout(db, path)` tells the format of the file opened.
 */
export function openJournalDb(path: string, durability: Durability, recordBytes: number, autoCheckpoint = true,
  seqWord = 1, kindWord = 0, pageSize = JOURNAL_PAGE_SIZE, format = JOURNAL_FORMAT_VERSION): Database.Database {
  const db = new Database(path);
  try {
    // Only a new (empty) file takes it; it must precede WAL mode and the first table.
    db.pragma(`page_size = ${pageSizeOption(pageSize)}`);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma(`wal_autocheckpoint = ${autoCheckpoint ? 1000 : 0}`);
    db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
    // (The journal thread sets it to 0 once open and takes the lock with its own polling: journal-worker.ts.)
    db.pragma('busy_timeout = 5000');
    db.exec(SCHEMA);
    const meta = db.prepare('SELECT key, value FROM journal_meta').all() as { key: string; value: number }[];
    const get = (k: string): number | undefined => meta.find((r) => r.key === k)?.value;
    if (meta.length === 0) {
      const put = db.prepare('INSERT INTO journal_meta (key, value) VALUES (?, ?)');
      db.transaction(() => {
        put.run('format_version', formatOption(format));
        put.run('record_bytes', recordBytes);
        put.run('seq_word', seqWord);
        put.run('kind_word', kindWord);
      })();
    } else {
      if (!JOURNAL_FORMATS.includes(get('format_version') ?? -1)) throw new JournalError('bad-format', `${path}: journal format ${get('format_version')} is not one of ${JOURNAL_FORMATS.join(', ')}`);
      if (get('record_bytes') !== recordBytes) throw new JournalError('bad-format', `${path}: records are ${get('record_bytes')} bytes, not ${recordBytes}`);
      if (get('seq_word') !== seqWord || get('kind_word') !== kindWord) throw new JournalError('bad-format', `${path}: seq/kind words differ from the file's`);
    }
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

function openForRead(path: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new JournalError('not-found', `${path}: ${(e as Error).message}`);
  }
  db.pragma('busy_timeout = 5000');
  return db;
}

function openForSnapshots(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  db.exec(SNAPSHOT_CHUNKS_SCHEMA);
  return db;
}

// ------------------------------------------------------------------ recovery readers

export interface JournalRecord {
  seq: number;
  kind: number;
  /** The record as stored (recordBytes bytes). */
  bytes: Uint8Array;
  /** The same record as float64 words (a fresh copy). */
  words: Float64Array;
}

/**
 * Records with seq > fromSeqExclusive, in seq order, streamed from SQLite (one row at a time).
 * Break out of the loop at any point: the connection is closed either way.
 */
export function* readJournal(path: string, fromSeqExclusive = 0): Generator<JournalRecord, void, undefined> {
  // Record by record over readJournalChunks, each record a fresh copy (breaking out of this loop
  // returns the inner generator, which closes the connection).
  for (const c of readJournalChunks(path, fromSeqExclusive)) {
    for (let r = 0; r < c.n; r++) {
      const o = r * c.recordWords;
      const seq = c.words[o + c.seqWord]!;
      if (seq <= fromSeqExclusive) continue;
      const words = c.words.slice(o, o + c.recordWords);
      yield { seq, kind: words[c.kindWord]!, bytes: new Uint8Array(words.buffer), words };
    }
  }
}

/** One chunk of journal records, as `readJournalChunks` yields it (the object and its buffer are reused). */
export interface JournalChunk {
  /** The chunk's records back to back, `recordWords` float64 words each (an aligned copy). */
  words: Float64Array;
  /** Records in `words`; those with seq <= the caller's fromSeqExclusive are NOT removed: compare `seqWord`. */
  n: number;
  recordWords: number;
  seqWord: number;
  kindWord: number;
}

/**
 * Streams the journal chunk by chunk (recovery's fast path): one copy per chunk into a reused,
 * 8-byte-aligned buffer, no per-record allocation (readJournal allocates two typed arrays and an
 * object per record). Chunks ending at or before `fromSeqExclusive` are skipped by the query; the
 * first chunk returned may still start before it (the caller skips those records by seq). The
 * yielded object is only valid until the next iteration.
 */
export function* readJournalChunks(path: string, fromSeqExclusive = 0): Generator<JournalChunk, void, undefined> {
  // Archived segments first (journal-archive/, oldest first), then the live file from past the last
  // archived seq (rows already archived but not yet trimmed from it are skipped).
  let past = fromSeqExclusive;
  const state: ChunkReadState = { buf: new Float64Array(0), bytes: new Uint8Array(0), chunk: null };
  for (const a of listJournalArchives(path)) {
    if (a.lastSeq <= past) continue;
    yield* chunksOfFile(a.path, past, state);
    past = a.lastSeq;
  }
  yield* chunksOfFile(path, past, state);
}

interface ChunkReadState { buf: Float64Array; bytes: Uint8Array; chunk: JournalChunk | null }

function* chunksOfFile(path: string, fromSeqExclusive: number, st: ChunkReadState): Generator<JournalChunk, void, undefined> {
  const db = openForRead(path);
  try {
    const { recordBytes, seqWord, kindWord, format } = journalLayout(db, path);
    const recordWords = recordBytes >>> 3;
    if (st.chunk === null || st.chunk.recordWords !== recordWords || st.chunk.seqWord !== seqWord || st.chunk.kindWord !== kindWord) {
      if (st.chunk !== null) throw new JournalError('bad-format', `${path}: record layout differs from the journal's other segments`);
      st.buf = new Float64Array(JOURNAL_CHUNK_RECORDS * recordWords);
      st.bytes = new Uint8Array(st.buf.buffer);
      st.chunk = { words: st.buf, n: 0, recordWords, seqWord, kindWord };
    }
    const chunk = st.chunk;
    const rows = db.prepare('SELECT seq, first_seq, n, recs FROM journal WHERE seq > ? ORDER BY seq').iterate(fromSeqExclusive) as IterableIterator<{ seq: number; first_seq: number; n: number; recs: Buffer }>;
    for (const row of rows) {
      const bad = (why: string): never => { throw new JournalError('bad-format', `${path}: chunk ending at ${row.seq}: ${why}`); };
      if (!Number.isSafeInteger(row.n) || row.n < 1) bad(`bad record count ${row.n}`);
      if (format === 2 && row.recs.byteLength !== row.n * recordBytes) bad(`${row.recs.byteLength} bytes for ${row.n} records`);
      if (row.n * recordWords > st.buf.length) {
        st.buf = new Float64Array(row.n * recordWords);
        st.bytes = new Uint8Array(st.buf.buffer);
        chunk.words = st.buf;
      }
      const buf = st.buf;
      if (format === 2) st.bytes.set(row.recs);
      else {
        try {
          decodeRecords(row.recs, row.recs.byteLength, row.n, recordWords, seqWord, buf, st.bytes);
        } catch (e) {
          if (e instanceof JournalDecodeError) bad(e.message);
          throw e;
        }
      }
      if (buf[seqWord] !== row.first_seq || buf[(row.n - 1) * recordWords + seqWord] !== row.seq) bad(`records run from seq ${buf[seqWord]} to ${buf[(row.n - 1) * recordWords + seqWord]}, the row says ${row.first_seq} to ${row.seq}`);
      chunk.n = row.n;
      yield chunk;
    }
  } finally {
    db.close();
  }
}

/** An archived journal segment: a journal file holding the chunk rows of seqs firstSeq..lastSeq. */
export interface JournalArchive { path: string; firstSeq: number; lastSeq: number }

/** Where the archived segments of a journal live: `journal-archive/` beside it. */
export function journalArchiveDir(journalPath: string): string {
  return join(dirname(journalPath), 'journal-archive');
}

const ARCHIVE_NAME = /^journal-(\d{16})-(\d{16})\.sqlite$/;

/** The name of the archive of seqs first..last (fixed-width, so that names sort by seq). */
export function journalArchiveName(firstSeq: number, lastSeq: number): string {
  return `journal-${String(firstSeq).padStart(16, '0')}-${String(lastSeq).padStart(16, '0')}.sqlite`;
}

/**
 * The archived segments of a journal, oldest first (none when the directory does not exist).
 * Overlapping or out-of-order names (a damaged directory) are refused.
 */
export function listJournalArchives(journalPath: string): JournalArchive[] {
  const dir = journalArchiveDir(journalPath);
  if (!existsSync(dir)) return [];
  const out: JournalArchive[] = [];
  for (const name of readdirSync(dir)) {
    const m = ARCHIVE_NAME.exec(name);
    if (m === null) continue; // temporary files of an archive in progress, anything else
    out.push({ path: join(dir, name), firstSeq: Number(m[1]), lastSeq: Number(m[2]) });
  }
  out.sort((a, b) => a.firstSeq - b.firstSeq);
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.firstSeq <= out[i - 1]!.lastSeq) throw new JournalError('bad-format', `${dir}: archives ${out[i - 1]!.path} and ${out[i]!.path} overlap`);
  }
  return out;
}

/** The record layout and format an existing journal file declares (bad-format when incomplete or unknown). */
export function journalLayout(db: Database.Database, path: string): { recordBytes: number; seqWord: number; kindWord: number; format: number } {
  const meta = db.prepare('SELECT key, value FROM journal_meta').all() as { key: string; value: number }[];
  const get = (k: string): number => {
    const v = meta.find((r) => r.key === k)?.value;
    if (v === undefined) throw new JournalError('bad-format', `${path}: journal_meta has no ${k}`);
    return v;
  };
  const format = get('format_version');
  if (!JOURNAL_FORMATS.includes(format)) throw new JournalError('bad-format', `${path}: journal format ${format} is not one of ${JOURNAL_FORMATS.join(', ')}`);
  return { recordBytes: get('record_bytes'), seqWord: get('seq_word'), kindWord: get('kind_word'), format };
}

/** Highest seq in the journal, archives included (0 when empty). */
export function lastSeq(path: string): number {
  const db = openForRead(path);
  try {
    const row = db.prepare('SELECT max(seq) AS s FROM journal').get() as { s: number | null };
    const archives = listJournalArchives(path);
    return Math.max(row.s ?? 0, archives.length > 0 ? archives[archives.length - 1]!.lastSeq : 0);
  } finally {
    db.close();
  }
}

export interface Snapshot {
  shard: number;
  seq: number;
  blob: Uint8Array;
}

/** Store the state of `shard` (a shard or ledger id) as of `seq` (durable with synchronous=FULL). */
export function writeSnapshot(path: string, shard: number, seq: number, blob: Uint8Array): void {
  const store = new SnapshotStore(path);
  try {
    store.writeAll([{ shard, seq, blob }]);
  } finally {
    store.close();
  }
}

/**
 * Snapshots written and checked on one long-lived connection, for a thread that snapshots again and
 * again (the engine's main thread for the ledger, each shard worker for its books): prepared
 * statements, and all of one snapshot command's blobs in one transaction, so one fsync
 * (synchronous=FULL) instead of a connection, a schema check and an fsync per blob.
 */
export class SnapshotStore {
  private db: Database.Database | null = null;
  private get_: Database.Statement | null = null;
  private put: Database.Statement | null = null;
  constructor(readonly path: string) {}

  private open(): Database.Database {
    if (this.db === null) {
      this.db = openForSnapshots(this.path);
      this.get_ = this.db.prepare('SELECT blob FROM snapshots WHERE shard = ? AND seq = ?');
      this.put = this.db.prepare('INSERT OR REPLACE INTO snapshots (shard, seq, blob) VALUES (?, ?, ?)');
    }
    return this.db;
  }

  /** The snapshot of `shard` taken at exactly `seq`, or null (a chunked one put together). */
  at(shard: number, seq: number): Uint8Array | null {
    const db = this.open();
    const row = this.get_!.get(shard, seq) as { blob: Buffer } | undefined;
    return row === undefined ? null : resolveStoredPart(db, shard, seq, new Uint8Array(row.blob));
  }

  /**
   * Stores one snapshot set within a budget per transaction (persistence/snapshot-chunks.ts): big
   * parts in chunks over several short transactions, the set visible only once the last commits.
   */
  writeSliced(items: readonly { shard: number; seq: number; blob: Uint8Array }[], o: SlicedWriteOptions): SlicedWriteResult {
    for (const it of items) {
      if (!Number.isSafeInteger(it.shard) || !Number.isSafeInteger(it.seq) || it.seq < 0) throw new JournalError('bad-options', `bad snapshot key (shard ${it.shard}, seq ${it.seq})`);
    }
    return writePartsSliced(this.open(), this.path, items, o);
  }

  /** Stores every snapshot in one transaction (durable when it returns). */
  writeAll(items: readonly { shard: number; seq: number; blob: Uint8Array }[]): void {
    for (const it of items) {
      if (!Number.isSafeInteger(it.shard) || !Number.isSafeInteger(it.seq) || it.seq < 0) throw new JournalError('bad-options', `bad snapshot key (shard ${it.shard}, seq ${it.seq})`);
    }
    const db = this.open();
    db.transaction(() => { for (const it of items) this.put!.run(it.shard, it.seq, it.blob); })();
  }

  /**
   * Deletes every snapshot taken at a seq past `seq` (the journal's end at start: an inline snapshot
   * stores the ledger's part before its command is durable, and a crash in between leaves a part
   * for a seq the journal does not have, which a later command would reuse). Returns the rows deleted.
   */
  dropAfter(seq: number): number {
    const db = this.open();
    const n = db.prepare('DELETE FROM snapshots WHERE seq > ?').run(seq).changes;
    // (and chunks of a set the snapshot thread did not finish)
    dropOrphanChunks(db, seq);
    return n;
  }

  close(): void {
    if (this.db !== null) this.db.close();
    this.db = null;
  }
}

/** The newest snapshot of `shard` taken at or before `atOrBeforeSeq`, or null. */
export function latestSnapshot(path: string, shard: number, atOrBeforeSeq = Number.MAX_SAFE_INTEGER): Snapshot | null {
  const db = openForRead(path);
  try {
    const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshots'").get();
    if (hasTable === undefined) return null;
    const row = db.prepare('SELECT shard, seq, blob FROM snapshots WHERE shard = ? AND seq <= ? ORDER BY seq DESC LIMIT 1').get(shard, atOrBeforeSeq) as { shard: number; seq: number; blob: Buffer } | undefined;
    if (row === undefined) return null;
    return { shard: row.shard, seq: row.seq, blob: resolveStoredPart(db, row.shard, row.seq, new Uint8Array(row.blob)) };
  } finally {
    db.close();
  }
}

// ------------------------------------------------------------------ option checks

function formatOption(v: number): number {
  if (!JOURNAL_FORMATS.includes(v)) throw new JournalError('bad-options', `format must be one of ${JOURNAL_FORMATS.join(', ')}, got ${v}`);
  return v;
}

function pageSizeOption(v: number): number {
  if (!Number.isInteger(v) || v < 512 || v > 65536 || (v & (v - 1)) !== 0) throw new JournalError('bad-options', `pageSize must be a power of two in [512, 65536], got ${v}`);
  return v;
}

function positiveInt(v: number, name: string): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new JournalError('bad-options', `${name} must be a positive integer, got ${v}`);
  return v;
}

function niceOption(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 19) throw new JournalError('bad-options', `${name} must be an integer 0..19, got ${v}`);
  return v;
}

function commitGapOption(v: number): number {
  if (!(v >= 0 && v <= 10_000)) throw new JournalError('bad-options', `commitGapUs must be within 0..10000, got ${v}`);
  return v;
}

function nonNegative(v: number, name: string): number {
  if (!(v >= 0) || !Number.isFinite(v)) throw new JournalError('bad-options', `${name} must be a non-negative number, got ${v}`);
  return v;
}

function wordIndex(v: number, words: number, name: string): number {
  if (!Number.isInteger(v) || v < 0 || v >= words) throw new JournalError('bad-options', `${name} must be a word index in [0, ${words}), got ${v}`);
  return v;
}
