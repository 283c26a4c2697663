// The engine's handle on the snapshot thread (persistence/snapshot-writer-worker.ts): started on
// the first snapshot the engine takes in 'thread' mode, it follows the journal and writes each
// snapshot set from its own replayed copy of the state. `written(seq)` resolves once the set at
// `seq` is stored (or checked); an error of the thread rejects every waiter and the handle is dead
// (the engine starts a new one for the next snapshot). docs/runtime.md "Snapshots".

import { Worker } from 'node:worker_threads';
import type { InstrumentSpec } from '../core/instrument.js';
import type { LedgerOptions } from '../gateway/ledger.js';
import { SNAPSHOT_CHUNK_BYTES } from './snapshot-chunks.js';
import type { SnapshotWriterData, SnapshotWriterReport, SnapshotWriterRequest } from './snapshot-writer-worker.js';

export class SnapshotWriterError extends Error {
  override readonly name = 'SnapshotWriterError';
}

export interface WrittenSnapshot {
  seq: number;
  ledger: string;
  books: Record<number, string>;
  /** Parts newly stored / found stored already and checked. */
  written: number;
  checked: number;
  /** The thread's time to dump and hash every state, then to store them (ms). */
  dumpMs: number;
  writeMs: number;
  /** When the dump and the write started and the write ended (epoch ms: performance.timeOrigin + now). */
  dumpAt: number;
  writeAt: number;
  writeEndAt: number;
  /** Write transactions on the journal file, and the longest one (ms: the longest hold of its write lock). */
  txns: number;
  maxLockMs: number;
  /** CPU slices of the dump and the write (the thread yields between them), and the longest one (ms). */
  slices: number;
  maxSliceMs: number;
}

export interface SnapshotWriterOptions {
  journalPath: string;
  instruments: readonly InstrumentSpec[];
  ledgerOptions: LedgerOptions;
  tailMs?: number;
  nice?: number;
  /** The longest write transaction / CPU slice of a snapshot (ms; default 5). */
  budgetMs?: number;
  /** Size of the chunks a big part is stored in (bytes; default SNAPSHOT_CHUNK_BYTES; tests make it small). */
  chunkBytes?: number;
  /** Tests: the thread fails after this many committed write transactions of a snapshot (a crash in the middle of one). */
  testFailAfterTxns?: number;
  /** Called once if the thread fails (also when no snapshot waits: the engine logs it). */
  onError?: (e: Error) => void;
}

export class SnapshotWriter {
  private readonly worker: Worker;
  private readonly waiters = new Map<number, { resolve: (w: WrittenSnapshot) => void; reject: (e: Error) => void }>();
  private failure: Error | null = null;
  private exited = false;
  /** The last seq the thread has applied (its lag behind the journal). */
  appliedSeq = 0;
  /** The seq of the snapshot set the thread started from (0 = none). */
  fromSeq = -1;
  last: WrittenSnapshot | null = null;

  private readonly onError: ((e: Error) => void) | null;

  constructor(o: SnapshotWriterOptions) {
    this.onError = o.onError ?? null;
    const data: SnapshotWriterData = {
      journalPath: o.journalPath, instruments: [...o.instruments], ledgerOptions: o.ledgerOptions,
      tailMs: o.tailMs ?? 100, nice: o.nice ?? 10, budgetMs: o.budgetMs ?? 5, chunkBytes: o.chunkBytes ?? SNAPSHOT_CHUNK_BYTES,
      testFailAfterTxns: o.testFailAfterTxns ?? 0,
    };
    this.worker = new Worker(new URL('./snapshot-writer-worker.js', import.meta.url), { workerData: data });
    this.worker.unref();
    this.worker.on('message', (m: SnapshotWriterReport) => this.onReport(m));
    this.worker.on('error', (e) => this.die(e));
    this.worker.on('exit', (code) => {
      this.exited = true;
      if (this.failure === null && this.waiters.size > 0) this.die(new SnapshotWriterError(`snapshot thread exited (${code}) with snapshots pending`));
    });
  }

  get error(): Error | null {
    return this.failure;
  }

  private onReport(m: SnapshotWriterReport): void {
    switch (m.t) {
      case 'ready': this.fromSeq = m.fromSeq; this.appliedSeq = m.fromSeq; break;
      case 'progress': this.appliedSeq = m.appliedSeq; break;
      case 'written': {
        this.appliedSeq = m.appliedSeq;
        const w: WrittenSnapshot = {
          seq: m.seq, ledger: m.ledger, books: m.books, written: m.written, checked: m.checked, dumpMs: m.dumpMs, writeMs: m.writeMs,
          dumpAt: m.dumpAt, writeAt: m.writeAt, writeEndAt: m.writeEndAt, txns: m.txns, maxLockMs: m.maxLockMs, slices: m.slices, maxSliceMs: m.maxSliceMs,
        };
        this.last = w;
        const waiter = this.waiters.get(m.seq);
        if (waiter !== undefined) { this.waiters.delete(m.seq); waiter.resolve(w); }
        break;
      }
      case 'error': this.die(new SnapshotWriterError(`snapshot thread: ${m.message}`)); break;
    }
  }

  private die(e: Error): void {
    if (this.failure !== null) return;
    this.failure = e;
    this.onError?.(e);
    for (const w of this.waiters.values()) w.reject(e);
    this.waiters.clear();
    void this.worker.terminate();
  }

  /**
   * Resolves once the snapshot set at `seq` (a Snapshot command the engine has sequenced and sent
   * to the journal) is stored. Call before the command can be durable, so that no report is missed.
   */
  written(seq: number): Promise<WrittenSnapshot> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise<WrittenSnapshot>((resolve, reject) => {
      this.waiters.set(seq, { resolve, reject });
      this.worker.postMessage({ t: 'snap', seq } satisfies SnapshotWriterRequest);
    });
  }

  /** Stops the thread; pending waiters are rejected. */
  async close(): Promise<void> {
    if (!this.exited) {
      this.worker.postMessage({ t: 'stop' } satisfies SnapshotWriterRequest);
      const t = setTimeout(() => void this.worker.terminate(), 5000);
      await new Promise<void>((res) => { if (this.exited) res(); else this.worker.once('exit', () => res()); });
      clearTimeout(t);
    }
    if (this.failure === null) {
      this.failure = new SnapshotWriterError('snapshot thread stopped');
      for (const w of this.waiters.values()) w.reject(this.failure);
      this.waiters.clear();
    }
  }
}
