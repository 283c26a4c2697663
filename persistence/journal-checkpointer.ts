// WAL checkpoint thread for the journal (checkpoint: 'thread'). The journal thread runs with
// wal_autocheckpoint = 0, so no COMMIT ever pays for copying the WAL into the database file; this
// thread does it with its own connection: a PASSIVE checkpoint every intervalMs, which never blocks
// the writer. It sleeps in Atomics.wait on the control block's checkpoint-stop word in between.

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { CTRL_CKPT_STOP } from './journal.js';
import { niceThisThread, threadId } from './thread-priority.js';

export interface CheckpointerData {
  path: string;
  ctrlSab: SharedArrayBuffer;
  intervalMs: number;
  /** Nice value applied to this thread at start (background work; persistence/thread-priority.ts). */
  nice: number;
}

function run(d: CheckpointerData): void {
  const ctrl = new Int32Array(d.ctrlSab);
  parentPort!.postMessage({ type: 'started', tid: threadId(), nice: niceThisThread(d.nice) });
  const db = new Database(d.path, { fileMustExist: true });
  db.pragma('busy_timeout = 1000');
  const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
  let runs = 0;
  while (Atomics.load(ctrl, CTRL_CKPT_STOP) === 0) {
    Atomics.wait(ctrl, CTRL_CKPT_STOP, 0, d.intervalMs);
    checkpoint.get();
    runs++;
  }
  db.close();
  parentPort!.postMessage({ type: 'closed', runs });
}

if (!isMainThread) run(workerData as CheckpointerData);
