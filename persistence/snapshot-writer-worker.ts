// The snapshot thread (persistence/snapshot-writer.ts starts it). It keeps its own copy of the
// engine's state (persistence/replayer.ts) by following the journal's committed rows, and at every
// Snapshot command it meets it writes the ledger's and every book's snapshot at that seq, or checks
// the ones already there (written by an inline snapshot or an earlier run) against its own state.
// The matching threads and the ledger never stop for it, and it keeps within the snapshot budget:
// it stores big parts in chunks over short transactions on the journal file, pausing between them
// (persistence/snapshot-chunks.ts). Its dump runs in one stretch at its nice value: pausing it every
// budget's worth made the other threads' ack tail worse, not better. docs/runtime.md "Snapshots".

import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InstrumentSpec } from '../core/instrument.js';
import { RuntimeCommandType } from '../core/command-codec.js';
import type { LedgerOptions } from '../gateway/ledger.js';
import { SnapshotStore, readJournalChunks } from './journal.js';
import { openStateReplayer } from './replayer.js';
import { hashNumbers } from '../core/hash.js';
import { LEDGER_SNAPSHOT_ID, SNAPSHOT_HEADER_WORDS, decodeSnapshot, setSnapshotHeader } from './snapshot-blob.js';
import { niceThisThread, threadId } from './thread-priority.js';

export interface SnapshotWriterData {
  journalPath: string;
  instruments: InstrumentSpec[];
  ledgerOptions: LedgerOptions;
  /** How often the thread follows the journal when no snapshot waits (ms). */
  tailMs: number;
  /** Nice value of the thread (0 = the process's). */
  nice: number;
  /** The longest write transaction on the journal file and the longest CPU slice between yields (ms). */
  budgetMs: number;
  /** Bytes per stored chunk of a big part. */
  chunkBytes: number;
  /** Tests: fail after this many committed write transactions of a snapshot (0 = never). */
  testFailAfterTxns: number;
}

/** Messages to the worker. */
export type SnapshotWriterRequest = { t: 'snap'; seq: number } | { t: 'stop' };

/** Messages from the worker. */
export type SnapshotWriterReport =
  | { t: 'ready'; fromSeq: number; restoreMs: number }
  | { t: 'written'; seq: number; ledger: string; books: Record<number, string>; written: number; checked: number; dumpMs: number; writeMs: number; appliedSeq: number;
      dumpAt: number; writeAt: number; writeEndAt: number; txns: number; maxLockMs: number; maxSliceMs: number; slices: number }
  | { t: 'progress'; appliedSeq: number }
  | { t: 'error'; message: string };

/** Journal chunks read per step before the thread looks at its messages again. */
const CHUNKS_PER_STEP = 64;

async function main(): Promise<void> {
  const d = workerData as SnapshotWriterData;
  const port = parentPort!;
  niceThisThread(d.nice);
  const ids = d.instruments.map((s) => s.id);
  const t0 = performance.now();
  // The newest set that restores (hashes checked); an older one, or empty state, when it does not
  // (across instrument configuration epochs: replayer.ts).
  const rp = openStateReplayer(d.journalPath, d.instruments, d.ledgerOptions);
  const store = new SnapshotStore(d.journalPath);
  const report = (m: SnapshotWriterReport): void => port.postMessage(m);
  report({ t: 'ready', fromSeq: rp.lastSeq, restoreMs: performance.now() - t0 });

  const wanted = new Set<number>();
  let stop = false;
  let wake: (() => void) | null = null;
  port.on('message', (m: SnapshotWriterRequest) => {
    if (m.t === 'snap') wanted.add(m.seq);
    else stop = true;
    wake?.();
  });

  // CPU slices (stats only): the stretches of work between the pauses that the chunked write makes.
  // The dump is not cut into slices with naps: at nice 10 the kernel already gives the matching
  // threads the core when they wake, and a thread that naps every few ms earns a sleeper's credit
  // and preempts them on every wake-up instead (bench:snapshot, 6 alternating pairs, 2026-11-25:
  // worst ack while the thread dumped 11.6 ms with 0.5 ms naps per 5 ms of work, 8.5 ms without;
  // docs/runtime.md "The snapshot budget").
  const napWord = new Int32Array(new SharedArrayBuffer(4));
  let sliceAt = 0, maxSliceMs = 0, slices = 0;
  const pause = (ms: number): void => {
    const t = performance.now();
    maxSliceMs = Math.max(maxSliceMs, t - sliceAt);
    slices++;
    Atomics.wait(napWord, 0, 0, ms);
    sliceAt = performance.now();
  };
  // While it holds the journal file's write lock the thread runs at nice 0 where it may (a nice 10
  // thread preempted with the lock held kept the journal thread waiting 100 ms on a loaded host).
  const tid = threadId();
  let boost = d.nice > 0 && tid > 0;
  const holding = (held: boolean): void => {
    if (!boost) return;
    try {
      setPriority(tid, held ? 0 : d.nice);
    } catch {
      boost = false; // not permitted (no CAP_SYS_NICE): stays at its nice
    }
  };
  /** A wait that uses no CPU (the journal's write lock, an fsync): left out of the slices. */
  const idle = <T>(wait: () => T): T => {
    maxSliceMs = Math.max(maxSliceMs, performance.now() - sliceAt);
    slices++;
    try {
      return wait();
    } finally {
      sliceAt = performance.now();
    }
  };

  /** Copies `dump` into a blob after the header and hashes it. */
  const encodeDump = (id: number, seq: number, dump: number[]): { blob: Float64Array; hash: string } => {
    const w = new Float64Array(SNAPSHOT_HEADER_WORDS + dump.length);
    w.set(dump, SNAPSHOT_HEADER_WORDS);
    const hash = hashNumbers(dump);
    setSnapshotHeader(w, id, seq, hash);
    return { blob: w, hash };
  };

  const atSnapshot = (seq: number): void => {
    const t1 = performance.now();
    const epoch = (t: number): number => performance.timeOrigin + t;
    sliceAt = t1; maxSliceMs = 0; slices = 0;
    const fresh: { shard: number; seq: number; blob: Uint8Array }[] = [];
    const hashes = new Map<number, string>();
    let checked = 0;
    // One state at a time (a state's stateDump is one step: its time is one slice at least).
    const owners: [number, { stateDump(): number[] }][] = [[LEDGER_SNAPSHOT_ID, rp.ledger], ...rp.books];
    for (const [id, owner] of owners) {
      const dump = owner.stateDump();
      const { blob, hash } = encodeDump(id, seq, dump);
      hashes.set(id, hash);
      const prev = store.at(id, seq);
      if (prev !== null) {
        const rec = decodeSnapshot(prev).stateHash;
        if (rec !== hash) throw new Error(`${id === 0 ? 'ledger' : `instrument ${id}`}: replayed state hash ${hash} at seq ${seq} differs from the recorded ${rec}`);
        checked++;
      } else {
        fresh.push({ shard: id, seq, blob: new Uint8Array(blob.buffer) });
      }
    }
    const t2 = performance.now();
    const wr = fresh.length > 0
      ? store.writeSliced(fresh, { budgetMs: d.budgetMs, chunkBytes: d.chunkBytes, pause, idle, holding, failAfterTxns: d.testFailAfterTxns })
      : { txns: 0, maxLockMs: 0 };
    const t3 = performance.now();
    maxSliceMs = Math.max(maxSliceMs, t3 - sliceAt);
    slices++;
    wanted.delete(seq);
    const books: Record<number, string> = {};
    for (const id of ids) books[id] = hashes.get(id)!;
    report({
      t: 'written', seq, ledger: hashes.get(0)!, books, written: fresh.length, checked, dumpMs: t2 - t1, writeMs: t3 - t2, appliedSeq: rp.lastSeq,
      dumpAt: epoch(t1), writeAt: epoch(t2), writeEndAt: epoch(t3), txns: wr.txns, maxLockMs: wr.maxLockMs, maxSliceMs, slices,
    });
  };

  /** Applies committed rows past rp.lastSeq, up to CHUNKS_PER_STEP chunks; returns records applied. */
  const step = (): number => {
    let n = 0, chunks = 0;
    for (const chunk of readJournalChunks(d.journalPath, rp.lastSeq)) {
      const w = chunk.words, rw = chunk.recordWords, sw = chunk.seqWord;
      for (let r = 0, o = 0; r < chunk.n; r++, o += rw) {
        if (w[o + sw]! <= rp.lastSeq) continue;
        if (rp.apply(w, o) === RuntimeCommandType.Snapshot) atSnapshot(rp.lastSeq);
        n++;
      }
      if (++chunks >= CHUNKS_PER_STEP) break; // closes the read transaction; the next step goes on
    }
    return n;
  };

  try {
    while (!stop) {
      const n = step();
      if (n > 0) report({ t: 'progress', appliedSeq: rp.lastSeq });
      // (A request that arrives after its row was read was answered by the 'written' report already.)
      for (const s of wanted) if (s <= rp.lastSeq) wanted.delete(s);
      if (n > 0 || stop) { await sleep(0); continue; }
      // Nothing new: poll soon while a snapshot waits for its row, else at the tail interval or on a message.
      await new Promise<void>((res) => {
        const timer = setTimeout(res, wanted.size > 0 ? 1 : d.tailMs);
        wake = () => { clearTimeout(timer); res(); };
      });
      wake = null;
    }
  } catch (e) {
    report({ t: 'error', message: (e as Error).message });
  } finally {
    store.close();
    port.removeAllListeners('message');
    port.close(); // lets the thread end
  }
}

main().catch((e: unknown) => parentPort!.postMessage({ t: 'error', message: (e as Error).message } satisfies SnapshotWriterReport));
