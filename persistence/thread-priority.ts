// Per-thread CPU priority for background threads (Linux). On a machine with fewer cores than busy
// threads, a background thread (the WAL checkpointer; the journal when no ack waits for it) that
// wakes up preempts the matching or sequencing thread for as long as its work takes. A positive nice
// value makes the kernel's scheduler give that thread a small share while the others are runnable,
// and no privilege is needed to lower one's own priority.
//
// Linux keeps a nice value per thread (setpriority(2), "BUGS": threads do not share it), and
// setpriority(PRIO_PROCESS, tid) applies to that thread only; node:os setPriority is that call.

import { readFileSync, readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** Kernel id of the calling thread (Linux), or -1. */
export function threadId(): number {
  if (process.platform !== 'linux') return -1;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isSafeInteger(tid) && tid > 0 ? tid : -1;
  } catch {
    return -1;
  }
}

/**
 * Set the calling thread's nice value (0..19; only lowering priority needs no privilege). Returns
 * the value applied, or 0 when it was not applied (not Linux, nice 0, or refused).
 */
export function niceThisThread(nice: number): number {
  if (!Number.isInteger(nice) || nice <= 0) return 0;
  const tid = threadId();
  if (tid < 0) return 0;
  try {
    setPriority(tid, Math.min(19, nice));
    return Math.min(19, nice);
  } catch {
    return 0;
  }
}

/** Nice value of thread `tid` of this process from /proc (tests, diagnostics); null if unknown. */
export function threadNice(tid: number): number | null {
  try {
    const st = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[16]);
  } catch {
    return null;
  }
}
