// Open-addressing hash tables over typed arrays, keyed by safe integers (one key or a pair).
// Linear probing with backward-shift deletion (no tombstones), power-of-two capacity, no allocation
// per operation. Growth (doubling) only when the load passes 1/2, and only where the owner allows it.
// Iteration order is never used by the core, so hashing cannot leak into behaviour.

const TWO32 = 4294967296;
const EMPTY = -1;

function mix(a: number, b: number): number {
  // a, b: non-negative safe integers (or any safe integer: ToUint32 wraps).
  let h = Math.imul((a >>> 0) ^ Math.imul(((a / TWO32) | 0), 0x27d4eb2d), 0x9e3779b1);
  h ^= Math.imul((b >>> 0) ^ Math.imul(((b / TWO32) | 0), 0x165667b1), 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h;
}

function pow2AtLeast(n: number): number {
  let c = 16;
  while (c < n) c *= 2;
  return c;
}

/** Map from a safe integer key to a non-negative int32 value. */
export class IntMap {
  private keys: Float64Array;
  private vals: Int32Array;
  private mask: number;
  size = 0;
  private readonly growable: boolean;

  constructor(expected: number, growable = false) {
    const cap = pow2AtLeast(Math.max(16, expected * 2));
    this.keys = new Float64Array(cap);
    this.vals = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
    this.growable = growable;
  }

  get(key: number): number {
    const keys = this.keys, vals = this.vals, mask = this.mask;
    let i = mix(key, 0) & mask;
    for (;;) {
      const v = vals[i]!;
      if (v === EMPTY) return EMPTY;
      if (keys[i] === key) return v;
      i = (i + 1) & mask;
    }
  }

  /** Insert or overwrite. Throws when a fixed-size table is full (a sizing bug, never silent). */
  set(key: number, value: number): void {
    if ((this.size + 1) * 2 > this.vals.length) {
      if (this.growable) this.grow();
      else if (this.size + 1 >= this.vals.length) throw new Error('IntMap full');
    }
    const keys = this.keys, vals = this.vals, mask = this.mask;
    let i = mix(key, 0) & mask;
    for (;;) {
      const v = vals[i]!;
      if (v === EMPTY) { keys[i] = key; vals[i] = value; this.size++; return; }
      if (keys[i] === key) { vals[i] = value; return; }
      i = (i + 1) & mask;
    }
  }

  delete(key: number): boolean {
    const keys = this.keys, vals = this.vals, mask = this.mask;
    let i = mix(key, 0) & mask;
    for (;;) {
      const v = vals[i]!;
      if (v === EMPTY) return false;
      if (keys[i] === key) break;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (vals[j] === EMPTY) break;
      const home = mix(keys[j]!, 0) & mask;
      // Move j into the hole at i if home is not cyclically in (i, j].
      if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
        keys[i] = keys[j]!; vals[i] = vals[j]!; i = j;
      }
    }
    vals[i] = EMPTY;
    this.size--;
    return true;
  }

  clear(): void {
    this.vals.fill(EMPTY);
    this.size = 0;
  }

  private grow(): void {
    const oldK = this.keys, oldV = this.vals;
    const cap = oldV.length * 2;
    this.keys = new Float64Array(cap);
    this.vals = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
    this.size = 0;
    for (let i = 0; i < oldV.length; i++) if (oldV[i] !== EMPTY) this.set(oldK[i]!, oldV[i]!);
  }
}

/** Map from a pair of safe integers to a non-negative int32 value. Fixed size. */
export class PairMap {
  private readonly k1: Float64Array;
  private readonly k2: Float64Array;
  private readonly vals: Int32Array;
  private readonly mask: number;
  size = 0;

  constructor(expected: number) {
    const cap = pow2AtLeast(Math.max(16, expected * 2));
    this.k1 = new Float64Array(cap);
    this.k2 = new Float64Array(cap);
    this.vals = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
  }

  get(a: number, b: number): number {
    const k1 = this.k1, k2 = this.k2, vals = this.vals, mask = this.mask;
    let i = mix(a, b) & mask;
    for (;;) {
      const v = vals[i]!;
      if (v === EMPTY) return EMPTY;
      if (k1[i] === a && k2[i] === b) return v;
      i = (i + 1) & mask;
    }
  }

  set(a: number, b: number, value: number): void {
    if (this.size + 1 >= this.vals.length) throw new Error('PairMap full');
    const k1 = this.k1, k2 = this.k2, vals = this.vals, mask = this.mask;
    let i = mix(a, b) & mask;
    for (;;) {
      const v = vals[i]!;
      if (v === EMPTY) { k1[i] = a; k2[i] = b; vals[i] = value; this.size++; return; }
      if (k1[i] === a && k2[i] === b) { vals[i] = value; return; }
      i = (i + 1) & mask;
    }
  }

  delete(a: number, b: number): boolean {
    const k1 = this.k1, k2 = this.k2, vals = this.vals, mask = this.mask;
    let i = mix(a, b) & mask;
    for (;;) {
      const v = vals[i]!;
      if (v === EMPTY) return false;
      if (k1[i] === a && k2[i] === b) break;
      i = (i + 1) & mask;
    }
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (vals[j] === EMPTY) break;
      const home = mix(k1[j]!, k2[j]!) & mask;
      if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
        k1[i] = k1[j]!; k2[i] = k2[j]!; vals[i] = vals[j]!; i = j;
      }
    }
    vals[i] = EMPTY;
    this.size--;
    return true;
  }
}
