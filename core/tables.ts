// Open-addressing hash tables over typed arrays, keyed by safe integers (one key or a pair).
// Linear probing with backward-shift deletion (no tombstones), power-of-two capacity, no allocation
// per operation. Growth (doubling) only when the load passes 1/2, and only where the owner allows it.
// Iteration order is never used by the core, so hashing cannot leak into behaviour.

const TWO32 = 4294967296;
const EMPTY = -1;

/** The 32-bit hash of a pair of safe integers used by the tables (also by the book's client-id index). */
export function mix(a: number, b: number): number {
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

/**
 * Map from a safe integer key to a non-negative int32 value. Keys and values are interleaved in one
 * Float64Array (one cache line per probe). Keys are always mixed before probing: with the low bits
 * of consecutive keys (order ids) used directly, the live ids fill one long run of slots and a
 * backward-shift delete of the oldest scans to its end, O(live keys) per delete (bench/intmap.bench.ts
 * when it was added: 4.1 us per step with 1,000 live ids, 114 us with 25,000; mixed 55-105 ns).
 */
export class IntMap {
  private t: Float64Array;
  private mask: number;
  size = 0;
  private readonly growable: boolean;

  constructor(expected: number, growable = false) {
    const cap = pow2AtLeast(Math.max(16, expected * 2));
    this.t = new Float64Array(2 * cap).fill(EMPTY);
    this.mask = cap - 1;
    this.growable = growable;
  }

  private home(key: number): number {
    return mix(key, 0) & this.mask;
  }

  get(key: number): number {
    const t = this.t, mask = this.mask;
    let i = this.home(key);
    for (;;) {
      const v = t[2 * i + 1]!;
      if (v === EMPTY) return EMPTY;
      if (t[2 * i] === key) return v;
      i = (i + 1) & mask;
    }
  }

  /** Insert or overwrite. Throws when a fixed-size table is full (a sizing bug, never silent). */
  set(key: number, value: number): void {
    if ((this.size + 1) * 2 > this.mask + 1) {
      if (this.growable) this.grow();
      else if (this.size + 1 > this.mask) throw new Error('IntMap full');
    }
    const t = this.t, mask = this.mask;
    let i = this.home(key);
    for (;;) {
      const v = t[2 * i + 1]!;
      if (v === EMPTY) { t[2 * i] = key; t[2 * i + 1] = value; this.size++; return; }
      if (t[2 * i] === key) { t[2 * i + 1] = value; return; }
      i = (i + 1) & mask;
    }
  }

  delete(key: number): boolean {
    const t = this.t, mask = this.mask;
    let i = this.home(key);
    for (;;) {
      const v = t[2 * i + 1]!;
      if (v === EMPTY) return false;
      if (t[2 * i] === key) break;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion: pull later entries of the probe run into the hole.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (t[2 * j + 1] === EMPTY) break;
      const h = this.home(t[2 * j]!);
      // Move j into the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? (h <= i || h > j) : (h <= i && h > j)) {
        t[2 * i] = t[2 * j]!; t[2 * i + 1] = t[2 * j + 1]!; i = j;
      }
    }
    t[2 * i + 1] = EMPTY;
    this.size--;
    return true;
  }

  clear(): void {
    this.t.fill(EMPTY);
    this.size = 0;
  }

  private grow(): void {
    const old = this.t;
    const cap = (this.mask + 1) * 2;
    this.t = new Float64Array(2 * cap).fill(EMPTY);
    this.mask = cap - 1;
    this.size = 0;
    for (let i = 0; i < old.length; i += 2) if (old[i + 1] !== EMPTY) this.set(old[i]!, old[i + 1]!);
  }
}

/**
 * Map from an order id or a seq (a positive safe integer) to a slot (a non-negative int32), for keys
 * that mostly arrive in increasing order, as the runtime's order ids (its seqs) do. Linear probing from
 * home = key & mask, without mixing: consecutive ids sit in consecutive entries, so the live ones
 * (recent ids) share a few hot cache lines, where a mixed key (IntMap above) costs a random
 * line of a multi-megabyte table per lookup (bench:pipeline: about 12% of the main thread's time was
 * those misses). IntMap mixes because a long run of live consecutive ids, every entry at its home,
 * made each backward-shift delete scan the whole run; here a delete scans at most `maxShift` entries
 * past the hole (the largest distance an entry was ever placed from its home: no entry further on can
 * belong before the hole), so it stays O(1) while ids do not collide. Fixed size: at most half full
 * (its users size it so), entries interleaved (key, value) in one Float64Array.
 */
export class SeqMap {
  private readonly t: Float64Array;
  private readonly mask: number;
  /** The largest distance from its home at which an entry was ever placed (reset when empty). */
  private maxShift = 0;
  size = 0;

  constructor(expected: number) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.t = new Float64Array(2 * cap).fill(EMPTY);
    this.mask = cap - 1;
  }

  get(key: number): number {
    const t = this.t, mask = this.mask;
    let i = key & mask;
    for (let d = this.maxShift; d >= 0; d--) {
      const v = t[2 * i + 1]!;
      if (v === EMPTY) return EMPTY;
      if (t[2 * i] === key) return v;
      i = (i + 1) & mask;
    }
    return EMPTY;
  }

  /** Insert or overwrite. Throws past half full (a sizing bug, never silent). */
  set(key: number, value: number): void {
    const t = this.t, mask = this.mask;
    let i = key & mask;
    for (let d = 0; ; d++) {
      const v = t[2 * i + 1]!;
      if (v === EMPTY) {
        if ((this.size + 1) * 2 > mask + 1) throw new Error('SeqMap full');
        t[2 * i] = key; t[2 * i + 1] = value;
        this.size++;
        if (d > this.maxShift) this.maxShift = d;
        return;
      }
      if (t[2 * i] === key) { t[2 * i + 1] = value; return; }
      i = (i + 1) & mask;
    }
  }

  delete(key: number): boolean {
    const t = this.t, mask = this.mask;
    let i = key & mask;
    for (let d = this.maxShift; ; d--) {
      if (d < 0) return false;
      const v = t[2 * i + 1]!;
      if (v === EMPTY) return false;
      if (t[2 * i] === key) break;
      i = (i + 1) & mask;
    }
    // Backward shift: an entry at j moves into the hole at i when its home lies cyclically at or before
    // i, i.e. its distance from home is at least (j - i). Past maxShift entries from the hole none can.
    const maxShift = this.maxShift;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const dj = (j - i) & mask;
      if (dj > maxShift || t[2 * j + 1] === EMPTY) break;
      if (((j - (t[2 * j]! & mask)) & mask) >= dj) {
        t[2 * i] = t[2 * j]!; t[2 * i + 1] = t[2 * j + 1]!; i = j;
      }
    }
    t[2 * i + 1] = EMPTY;
    if (--this.size === 0) this.maxShift = 0;
    return true;
  }
}

/**
 * Map from a pair of safe integers to a non-negative int32 value; entries interleaved. Grows by
 * doubling when a quarter full (amortized, never per message), so the table stays as small as the live
 * set and its probes stay in cache.
 */
export class PairMap {
  private t: Float64Array;
  private mask: number;
  size = 0;

  constructor(expected = 1024) {
    const cap = pow2AtLeast(Math.max(16, expected * 4));
    this.t = PairMap.alloc(cap);
    this.mask = cap - 1;
  }

  private static alloc(cap: number): Float64Array {
    const t = new Float64Array(3 * cap);
    for (let i = 2; i < t.length; i += 3) t[i] = EMPTY;
    return t;
  }

  get(a: number, b: number): number {
    const t = this.t, mask = this.mask;
    let i = mix(a, b) & mask;
    for (;;) {
      const o = 3 * i;
      const v = t[o + 2]!;
      if (v === EMPTY) return EMPTY;
      if (t[o] === a && t[o + 1] === b) return v;
      i = (i + 1) & mask;
    }
  }

  set(a: number, b: number, value: number): void {
    if ((this.size + 1) * 4 > this.mask + 1) this.grow();
    const t = this.t, mask = this.mask;
    let i = mix(a, b) & mask;
    for (;;) {
      const o = 3 * i;
      const v = t[o + 2]!;
      if (v === EMPTY) { t[o] = a; t[o + 1] = b; t[o + 2] = value; this.size++; return; }
      if (t[o] === a && t[o + 1] === b) { t[o + 2] = value; return; }
      i = (i + 1) & mask;
    }
  }

  delete(a: number, b: number): boolean {
    const t = this.t, mask = this.mask;
    let i = mix(a, b) & mask;
    for (;;) {
      const o = 3 * i;
      if (t[o + 2] === EMPTY) return false;
      if (t[o] === a && t[o + 1] === b) break;
      i = (i + 1) & mask;
    }
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const oj = 3 * j;
      if (t[oj + 2] === EMPTY) break;
      const h = mix(t[oj]!, t[oj + 1]!) & mask;
      if (i <= j ? (h <= i || h > j) : (h <= i && h > j)) {
        const oi = 3 * i;
        t[oi] = t[oj]!; t[oi + 1] = t[oj + 1]!; t[oi + 2] = t[oj + 2]!; i = j;
      }
    }
    t[3 * i + 2] = EMPTY;
    this.size--;
    return true;
  }

  private grow(): void {
    const old = this.t;
    const cap = (this.mask + 1) * 2;
    this.t = PairMap.alloc(cap);
    this.mask = cap - 1;
    this.size = 0;
    for (let o = 0; o < old.length; o += 3) if (old[o + 2] !== EMPTY) this.set(old[o]!, old[o + 1]!, old[o + 2]!);
  }
}
