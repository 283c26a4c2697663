// Engine time for the sequencer's stamps: microseconds since the Unix epoch, from the wall clock at
// start plus a monotonic clock since, never going back (also not below a floor, e.g. the last
// journaled stamp after a restart).

export class EngineClock {
  private readonly baseUs = Date.now() * 1000;
  private readonly baseNs = process.hrtime.bigint();
  /** The last stamp handed out (or the floor). */
  lastUs = 0;

  nowUs(): number {
    const us = this.baseUs + Number((process.hrtime.bigint() - this.baseNs) / 1000n);
    if (us > this.lastUs) this.lastUs = us;
    return this.lastUs;
  }

  /** Time never goes below `us` from now on. */
  floor(us: number): void {
    if (us > this.lastUs) this.lastUs = us;
  }
}
