// The load generator's pacer: a worker thread that sleeps until the next intended send time and
// then wakes the generator's event loop (Atomics.notify on a word the loop awaits with
// Atomics.waitAsync). The event loop itself never blocks: between sends it sits in epoll, so acks
// are read the moment they arrive, and no thread spins (the engine shares this machine's cores).
//
// Why a thread: libuv timers have millisecond resolution, far coarser than the 5-100 us between
// requests. Atomics.wait with a timeout is a futex sleep whose overshoot is the thread's timer slack
// (50 us by default on Linux); the pacer sets its own slack to 1 ns (/proc/<tid>/timerslack_ns, no
// privilege needed for one's own threads), which brings the overshoot to ~20 us here.
//
// Shared words (Int32Array over `ctl`):
//   [ARM]   bumped by the loop each time it arms the pacer (and on stop); the pacer waits on it
//   [FIRE]  set to 1 and notified by the pacer when the armed time has come; the loop resets it
//   [STOP]  1 = exit
// and the armed absolute time (ms since the epoch, performance.timeOrigin + performance.now()) in a
// Float64Array over `due`.

import { parentPort, workerData } from 'node:worker_threads';
import { setTimerSlackNs } from '../../persistence/thread-priority.js';

export const ARM = 0;
export const FIRE = 1;
export const STOP = 2;

export interface PacerData {
  ctl: SharedArrayBuffer;
  due: SharedArrayBuffer;
}

function run(d: PacerData): void {
  const ctl = new Int32Array(d.ctl);
  const due = new Float64Array(d.due);
  setTimerSlackNs(1);
  let seen = 0; // the initial value: an arm made before this thread started is seen at once
  for (;;) {
    // Wait to be armed (or re-armed).
    Atomics.wait(ctl, ARM, seen);
    if (Atomics.load(ctl, STOP) === 1) return;
    seen = Atomics.load(ctl, ARM);
    // Sleep until the armed time; a re-arm (earlier or later time) interrupts the sleep.
    for (;;) {
      const leftMs = due[0]! - (performance.timeOrigin + performance.now());
      if (leftMs <= 0) break;
      if (Atomics.wait(ctl, ARM, seen, leftMs) !== 'timed-out') {
        if (Atomics.load(ctl, STOP) === 1) return;
        seen = Atomics.load(ctl, ARM);
      }
    }
    Atomics.store(ctl, FIRE, 1);
    Atomics.notify(ctl, FIRE);
  }
}

if (parentPort !== null) run(workerData as PacerData);
