// Engine time for the sequencer's stamps: microseconds since the Unix epoch, from the wall clock at
// start plus a monotonic clock since, never going back (also not below a floor, e.g. the last
// journaled stamp after a restart). performance.now() is monotonic, sub-microsecond and allocates
// nothing (process.hrtime.bigint() allocated a BigInt per stamp on the sequencer's hot path).

import { performance } from 'node:perf_hooks';

export class EngineClock {
  /** Wall-clock microseconds at performance.now() = 0. */
  private readonly originUs = Math.round(performance.timeOrigin * 1000);
  /** The last stamp handed out (or the floor). */
  lastUs = 0;

  nowUs(): number {
    const us = this.originUs + Math.floor(performance.now() * 1000);
    if (us > this.lastUs) this.lastUs = us;
    return this.lastUs;
  }

  /** Time never goes below `us` from now on. */
  floor(us: number): void {
    if (us > this.lastUs) this.lastUs = us;
  }
}
