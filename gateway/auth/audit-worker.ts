// The audit trail's writer (gateway/auth/audit.ts has the format): every audit row of the process
// goes through one AuditWriter, written either on the calling thread at the end of each event-loop
// turn (the default) or, with `thread` (ENGINE_AUDIT_THREAD=1, gateway/auth/identity.ts), by a worker
// thread with its own connection to the identity database, so that the main thread only checks an
// entry, builds its detail's canonical JSON and queues it:
//
//   main thread                                     audit writer thread
//   append(e) -> packEntryText (checked, detail's
//     canonical JSON) -> UTF-8 into a shared ring    (blocked in Atomics.wait while the ring is empty)
//   (published per row; end of the turn: notify) ->  every row in the ring -> ONE immediate transaction:
//                                                    head read inside it, canonical row, SHA-256 chain,
//                                                    INSERT, COMMIT
//   resolve each row's promise with its seq <------  postMessage { rows, firstSeq } | { rows, error }
//
// The ring (a SharedArrayBuffer, one producer, one consumer): records of [int32 byte length][UTF-8
// of packEntryText's text], 4-byte aligned, a length of -1 marking a wrap to the start. Measured
// (CPU profiles of the bench's main thread at ~14-16k POST/s): one postMessage of the turn's rows
// (structured clone) cost ~7% of the main thread; the ring with an Atomics.notify per turn ~2% for
// the notify alone, which the polling below removes; what is left is packEntryText and a
// Buffer.write per row (~5% of the main thread in all, against ~17% for writing the rows inline).
// A row that does not fit (the writer 4 MiB behind) waits in a queue on the main thread, in order.
//
// One writer per process, so rows get one gap-free seq order and one hash chain; the operator CLI
// (another process) writes the same chain safely because every writer reads the head inside its
// IMMEDIATE transaction (SQLite's write lock serializes them; busy_timeout waits for it).
//
// Fail closed: when a transaction fails or the thread dies, the rows it held are rejected (none of
// them was written), `failure` is set and every later append is rejected at once. Nothing restarts
// the writer: a process restart does (the REST router refuses state-changing requests meanwhile).
//
// Without a file (':memory:') or with `{ thread: false }` the rows of a turn are written on the calling
// thread at the end of the turn (the former group commit), with the same promises and failure rule.
// The thread is off by default: on the 2-core host its round trip cost more POST throughput than the
// main-thread CPU it saved (docs/rest.md, "The audit writer").

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { AuditLog, packEntry, packEntryText, unpackEntryText, PACKED_FIELDS, type AuditEntry, type AuditHead, type AuditRecord, type AuditVerifyResult, type PackedRows } from './audit.js';
import type { IdentityDb } from './db.js';

const WORKER_KIND = 'te-audit-writer';

/** Writer -> main: the outcome of one transaction covering the next `rows` rows of the ring. */
type FromWriter = { rows: number; firstSeq: number } | { rows: number; error: string };

/**
 * Control words of the ring (Int32Array indices). SLEEPING is 1 while the writer waits without a
 * time limit (idle): only then does the main thread call Atomics.notify (a futex wake, a system call
 * per event-loop turn otherwise: ~2% of the main thread at ~14k POST/s). While rows keep coming the
 * writer polls every POLL_MS instead, and goes to sleep after IDLE_POLLS empty polls.
 */
const WRITE = 0, READ = 1, CLOSE = 2, SLEEPING = 3, CONTROL_WORDS = 4;
const POLL_MS = 0.25, IDLE_POLLS = 200;
const WRAP = -1;
/** Ring bytes (a multiple of 4). */
export const AUDIT_RING_BYTES = 4 << 20;

export interface AuditWriterOptions {
  /** The identity database's file; the writer thread opens its own connection to it. */
  readonly file?: string;
  /** false: write on the calling thread (end of each event-loop turn). Default: a thread when `file` is a file (openIdentity passes its own default). */
  readonly thread?: boolean;
  /** Ring size in bytes (tests: a small one, to exercise wrapping and the overflow queue). */
  readonly ringBytes?: number;
}

/** The process's audit trail: appends through the writer, reads (head, list, verify) on `db`. */
export class AuditWriter {
  /** Set once the writer failed (fail closed); every later append is rejected with it. */
  failure: Error | null = null;
  /** Transactions committed, rows committed, rows not written (failed or refused after a failure). */
  commits = 0;
  rows = 0;
  failedRows = 0;

  private readonly reader: AuditLog;
  private readonly worker: Worker | null;
  // Ring (thread mode).
  private readonly ctl: Int32Array;
  private readonly i32: Int32Array;
  private readonly bytes: Buffer;
  private readonly cap: number;
  /** Largest row text (UTF-16 units): a row fits an eighth of the ring (so it always fits an empty one). */
  private readonly maxRowChars: number;
  private writePos = 0;
  private closeSignaled = false;
  /** Rows that did not fit the ring yet, in order (written before any newer row). */
  private overflow: string[] = [];
  // Inline mode: this turn's packed rows.
  private current: PackedRows = [];
  /** Resolvers of the rows queued and not yet settled, oldest first from `head`. */
  private resolves: ((seq: number) => void)[] = [];
  private rejects: ((err: Error) => void)[] = [];
  private head0 = 0;
  /** Rows queued on this thread and not yet in the ring or written (inline mode: all of this turn's). */
  private scheduled = false;
  private closed = false;
  private referenced = false;
  private readonly listeners: ((err: Error) => void)[] = [];
  private readonly exited: Promise<void>;

  constructor(db: IdentityDb, o: AuditWriterOptions = {}) {
    this.reader = new AuditLog(db);
    const file = o.file;
    const cap = (o.ringBytes ?? AUDIT_RING_BYTES) & ~3;
    if (file !== undefined && file !== ':memory:' && file !== '' && o.thread !== false) {
      const sab = new SharedArrayBuffer(CONTROL_WORDS * 4 + cap);
      this.ctl = new Int32Array(sab, 0, CONTROL_WORDS);
      this.i32 = new Int32Array(sab, CONTROL_WORDS * 4, cap >> 2);
      this.bytes = Buffer.from(sab, CONTROL_WORDS * 4, cap);
      this.cap = cap;
      this.maxRowChars = Math.floor(cap / 24);
      const w = new Worker(new URL(import.meta.url), { workerData: { kind: WORKER_KIND, file, sab } });
      this.worker = w;
      w.unref();
      w.on('message', (m: FromWriter) => this.settled(m));
      let error: Error | null = null;
      w.on('error', (e) => { error = e; });
      this.exited = new Promise((resolve) => {
        w.on('exit', (code) => {
          if (!this.closed || this.pendingRows() > 0) this.fail(error ?? new Error(`the audit writer thread exited (code ${code})`));
          resolve();
        });
      });
    } else {
      this.worker = null;
      this.ctl = this.i32 = new Int32Array(0);
      this.bytes = Buffer.alloc(0);
      this.cap = 0;
      this.maxRowChars = Infinity;
      this.exited = Promise.resolve();
    }
  }

  /** true when the rows are written by a thread of their own. */
  get threaded(): boolean {
    return this.worker !== null;
  }

  private pendingRows(): number {
    return this.resolves.length - this.head0;
  }

  /**
   * Queues the row; the promise resolves with its seq once its transaction committed, or rejects:
   * a TypeError for a bad entry (nothing queued), the writer's failure otherwise (the row was not
   * written). Rows are written in the order appended; the writer commits every row waiting for it
   * in one transaction (inline mode: every row of the turn).
   */
  append(e: AuditEntry): Promise<number> {
    if (this.failure !== null) { this.failedRows++; return Promise.reject(this.failure); }
    if (this.closed) return Promise.reject(new Error('the audit writer is closed'));
    try {
      if (this.worker === null) packEntry(e, this.current);
      else {
        const text = packEntryText(e);
        if (text.length > this.maxRowChars) throw new TypeError(`audit row too large (${text.length} characters)`);
        if (this.overflow.length > 0 || !this.put(text)) this.overflow.push(text);
      }
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const p = new Promise<number>((resolve, reject) => { this.resolves.push(resolve); this.rejects.push(reject); });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
    return p;
  }

  /** The router's name for a group-committed append (gateway/rest/router.ts RestAuth). */
  appendGrouped(e: AuditEntry): Promise<number> {
    return this.append(e);
  }

  /** Called with the error when the writer fails (once). */
  onFailure(fn: (err: Error) => void): void {
    this.listeners.push(fn);
  }

  /**
   * Writes one row's text into the ring and publishes it at once (a polling writer may start its
   * transaction while this turn goes on: measured, 3 runs each, ~15k -> ~17.5k POST/s against
   * publishing a turn's rows together at its end); false when it does not fit now.
   */
  private put(text: string): boolean {
    const need = 4 + ((3 * text.length + 3) & ~3);
    const read = Atomics.load(this.ctl, READ);
    let pos = this.writePos;
    if (pos >= read) {
      // Free: [pos, cap) and [0, read). Never end exactly on `read` (that reads as empty).
      if (pos + need >= this.cap) {
        if (need >= read) return false;
        this.i32[pos >> 2] = WRAP;
        pos = 0;
      }
    } else if (pos + need >= read) {
      return false;
    }
    const n = this.bytes.write(text, pos + 4, 'utf8');
    this.i32[pos >> 2] = n;
    this.writePos = pos + 4 + ((n + 3) & ~3);
    Atomics.store(this.ctl, WRITE, this.writePos);
    return true;
  }

  private readonly flushNow = (): void => { this.flush(); };

  /** Hands the queued rows to the writer now (normally done at the end of the event-loop turn). */
  flush(): void {
    this.scheduled = false;
    if (this.failure !== null) return;
    if (this.worker === null) {
      const rows = this.current;
      if (rows.length === 0) return;
      this.current = [];
      const n = rows.length / PACKED_FIELDS;
      let firstSeq: number;
      try {
        firstSeq = this.reader.writePacked(rows);
      } catch (err) {
        this.settled({ rows: n, error: (err as Error).message });
        return;
      }
      this.settled({ rows: n, firstSeq });
      return;
    }
    this.drainOverflow();
    if (this.pendingRows() === 0) return;
    // Keeps the process alive while rows are on their way (an idle writer does not).
    if (!this.referenced) { this.referenced = true; this.worker.ref(); }
    this.wake();
  }

  /** Wakes the writer if it sleeps (WRITE was stored before: it sees the rows either way). */
  private wake(): void {
    if (Atomics.load(this.ctl, SLEEPING) === 1) Atomics.notify(this.ctl, WRITE);
  }

  private drainOverflow(): void {
    const q = this.overflow;
    if (q.length === 0) return;
    let i = 0;
    while (i < q.length && this.put(q[i]!)) i++;
    this.overflow = i === q.length ? [] : q.slice(i);
  }

  private settled(m: FromWriter): void {
    if (this.failure !== null) return; // every pending row was rejected already
    const err = 'error' in m ? new Error(`audit write failed: ${m.error}`) : null;
    const end = Math.min(this.resolves.length, this.head0 + m.rows);
    if (err === null) {
      let seq = (m as { firstSeq: number }).firstSeq;
      for (let i = this.head0; i < end; i++) this.resolves[i]!(seq++);
      this.rows += end - this.head0;
      this.commits++;
      this.head0 = end;
      if (this.head0 === this.resolves.length) { this.resolves = []; this.rejects = []; this.head0 = 0; }
      else if (this.head0 > 4096) { this.resolves = this.resolves.slice(this.head0); this.rejects = this.rejects.slice(this.head0); this.head0 = 0; }
    } else {
      this.fail(err);
      return;
    }
    if (this.worker !== null) {
      // The writer has read what it committed: queued rows may fit the ring now.
      if (this.overflow.length > 0) { this.drainOverflow(); this.wake(); }
      if (this.closed && this.overflow.length === 0) this.signalClose();
      // (After close the thread stays referenced until it exits: whenClosed resolves.)
      if (this.pendingRows() === 0 && this.referenced && !this.closed) { this.referenced = false; this.worker.unref(); }
    }
  }

  /** Fail closed: rejects every row not yet committed and every later append. */
  private fail(err: Error): void {
    const first = this.failure === null;
    if (first) this.failure = err;
    const rejects = this.rejects, from = this.head0;
    this.resolves = []; this.rejects = []; this.head0 = 0;
    this.current = []; this.overflow = [];
    this.failedRows += rejects.length - from;
    for (let i = from; i < rejects.length; i++) rejects[i]!(this.failure!);
    if (this.referenced && this.worker !== null) { this.referenced = false; this.worker.unref(); }
    if (first) for (const fn of this.listeners) { try { fn(err); } catch { /* a listener's bug changes nothing here */ } }
  }

  head(): AuditHead | null {
    return this.reader.head();
  }

  list(afterSeq = 0, limit = 100): AuditRecord[] {
    return this.reader.list(afterSeq, limit);
  }

  verify(expectedHead?: AuditHead): AuditVerifyResult {
    return this.reader.verify(expectedHead);
  }

  /**
   * Stops taking rows; what was queued is still written (the thread writes the ring's rows, then
   * closes its connection and exits). `whenClosed` resolves once it has.
   */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.worker !== null) {
      if (this.failure !== null) { void this.worker.terminate(); return; }
      // Rows still in the overflow queue are written as the ring frees up, before the close is seen.
      if (this.overflow.length === 0) this.signalClose();
      this.worker.ref();
    }
  }

  private signalClose(): void {
    if (this.closeSignaled) return;
    this.closeSignaled = true;
    Atomics.store(this.ctl, CLOSE, 1);
    Atomics.notify(this.ctl, WRITE); // whether it sleeps or polls
  }

  /** Resolves once the writer thread has exited (at once without one). */
  whenClosed(): Promise<void> {
    return this.exited;
  }

  /** Tests: ends the writer thread as a crash would (its rows in flight are rejected, fail closed). */
  async killThreadForTest(): Promise<void> {
    await this.worker?.terminate();
  }
}

/**
 * The writer thread: one connection, one AuditLog; sleeps in Atomics.wait while the ring is empty,
 * then writes every row in it in one transaction and reports the outcome.
 */
function runWriter(file: string, sab: SharedArrayBuffer): void {
  const ctl = new Int32Array(sab, 0, CONTROL_WORDS);
  const cap = sab.byteLength - CONTROL_WORDS * 4;
  const i32 = new Int32Array(sab, CONTROL_WORDS * 4, cap >> 2);
  const bytes = Buffer.from(sab, CONTROL_WORDS * 4, cap);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  const log = new AuditLog(db);
  const port = parentPort!;
  /** After a failed transaction nothing more is written (the main thread has rejected the rest). */
  let failed: string | null = null;
  let read = 0, idle = 0;
  const rows: PackedRows = [];
  for (;;) {
    const write = Atomics.load(ctl, WRITE);
    if (write === read) {
      if (Atomics.load(ctl, CLOSE) === 1 && Atomics.load(ctl, WRITE) === read) break;
      if (idle < IDLE_POLLS) {
        idle++;
        Atomics.wait(ctl, WRITE, read, POLL_MS);
      } else {
        // Sleep until notified. SLEEPING is set before WRITE is checked again (sequentially
        // consistent): either the main thread sees it and notifies, or this sees its rows.
        Atomics.store(ctl, SLEEPING, 1);
        if (Atomics.load(ctl, CLOSE) === 0) Atomics.wait(ctl, WRITE, read);
        Atomics.store(ctl, SLEEPING, 0);
        idle = 0;
      }
      continue;
    }
    idle = 0;
    rows.length = 0;
    let n = 0;
    while (read !== write) {
      const len = i32[read >> 2]!;
      if (len === WRAP) { read = 0; continue; }
      unpackEntryText(bytes.toString('utf8', read + 4, read + 4 + len), rows);
      n++;
      read += 4 + ((len + 3) & ~3);
    }
    // The rows are copied out: their bytes may be reused.
    Atomics.store(ctl, READ, read);
    let out: FromWriter;
    if (failed !== null) out = { rows: n, error: `not written: an earlier transaction failed (${failed})` };
    else {
      try {
        out = { rows: n, firstSeq: log.writePacked(rows) };
      } catch (e) {
        failed = (e as Error).message;
        out = { rows: n, error: failed };
      }
    }
    port.postMessage(out);
  }
  db.close();
}

if (!isMainThread && (workerData as { kind?: string } | null)?.kind === WORKER_KIND) {
  const d = workerData as { file: string; sab: SharedArrayBuffer };
  runWriter(d.file, d.sab);
}
