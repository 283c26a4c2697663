// The snapshot thread (persistence/snapshot-writer.ts starts it). It keeps its own copy of the
// engine's state (persistence/replayer.ts) by following the journal's committed rows, and at every
// Snapshot command it meets it writes the ledger's and every book's snapshot at that seq, or checks
// the ones already there (written by an inline snapshot or an earlier run) against its own state.
// The matching threads and the ledger never stop for it. Messages: docs/runtime.md "Snapshots".

import { parentPort, workerData } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashNumbers } from '../core/hash.js';
import type { InstrumentSpec } from '../core/instrument.js';
import { RuntimeCommandType } from '../core/command-codec.js';
import type { LedgerOptions } from '../gateway/ledger.js';
import { SnapshotStore, readJournalChunks } from './journal.js';
import { openStateReplayer } from './replayer.js';
import { decodeSnapshot, encodeSnapshot } from './snapshot-blob.js';
import { niceThisThread } from './thread-priority.js';

export interface SnapshotWriterData {
  journalPath: string;
  instruments: InstrumentSpec[];
  ledgerOptions: LedgerOptions;
  /** How often the thread follows the journal when no snapshot waits (ms). */
  tailMs: number;
  /** Nice value of the thread (0 = the process's). */
  nice: number;
}

/** Messages to the worker. */
export type SnapshotWriterRequest = { t: 'snap'; seq: number } | { t: 'stop' };

/** Messages from the worker. */
export type SnapshotWriterReport =
  | { t: 'ready'; fromSeq: number; restoreMs: number }
  | { t: 'written'; seq: number; ledger: string; books: Record<number, string>; written: number; checked: number; dumpMs: number; writeMs: number; appliedSeq: number }
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

  const atSnapshot = (seq: number): void => {
    const t1 = performance.now();
    const dumps = rp.dumps();
    const fresh: { shard: number; seq: number; blob: Uint8Array }[] = [];
    const hashes = new Map<number, string>();
    let checked = 0;
    for (const [id, dump] of dumps) {
      const h = hashNumbers(dump);
      hashes.set(id, h);
      const prev = store.at(id, seq);
      if (prev !== null) {
        const rec = decodeSnapshot(prev).stateHash;
        if (rec !== h) throw new Error(`${id === 0 ? 'ledger' : `instrument ${id}`}: replayed state hash ${h} at seq ${seq} differs from the recorded ${rec}`);
        checked++;
      } else {
        fresh.push({ shard: id, seq, blob: encodeSnapshot(id, seq, h, Float64Array.from(dump)) });
      }
    }
    const t2 = performance.now();
    if (fresh.length > 0) store.writeAll(fresh);
    const t3 = performance.now();
    wanted.delete(seq);
    const books: Record<number, string> = {};
    for (const id of ids) books[id] = hashes.get(id)!;
    report({ t: 'written', seq, ledger: hashes.get(0)!, books, written: fresh.length, checked, dumpMs: t2 - t1, writeMs: t3 - t2, appliedSeq: rp.lastSeq });
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
