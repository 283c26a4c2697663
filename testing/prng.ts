// mulberry32: a small, fast, seeded PRNG (32-bit state) for tests, benches and synthetic flows. The
// same seed gives the same sequence everywhere it is used. Not for anything that needs to be
// unpredictable.

/** The generator as an object (no closure call per draw; the hot loops of benches use it). */
export class Mulberry32 {
  // The state is kept as a signed 32-bit integer (the same bits as the usual unsigned form): an
  // unsigned state above 2^31 is a heap number in V8, one allocation per draw.
  private a: number;
  constructor(seed: number) { this.a = seed | 0; }
  /** A float in [0, 1) (a 32-bit integer divided by 2^32, exactly). */
  next(): number {
    this.a = (this.a + 0x6d2b79f5) | 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** Returns a generator of floats in [0, 1) (each is a 32-bit integer divided by 2^32, exactly). */
export function mulberry32(seed: number): () => number {
  const g = new Mulberry32(seed);
  return () => g.next();
}
