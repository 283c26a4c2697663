// Canonical 64-bit state hash over a list of integers (two 32-bit lanes, FNV-1a style with a
// murmur finalizer). Stable across runs, machines and implementations: it only sees the numbers.

const TWO32 = 4294967296;

export function hashNumbers(values: ArrayLike<number>): string {
  let h1 = 0x811c9dc5 | 0;
  let h2 = 0x9747b28c | 0;
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isSafeInteger(v)) throw new RangeError(`hashNumbers: not a safe integer at ${i}: ${v}`);
    const neg = v < 0 ? 1 : 0;
    const a = neg ? -v : v;
    // a % 2^32 and the quotient, without the float remainder (an fmod call per value: state hashes
    // of large ledgers took tens of ms); exact for safe integers, the same lanes as before.
    const hi = Math.floor(a / TWO32);
    const lo = a - hi * TWO32;
    h1 = Math.imul(h1 ^ (lo | 0), 0x01000193);
    h1 = Math.imul(h1 ^ (hi | 0) ^ (neg << 31), 0x01000193);
    h2 = Math.imul(h2 ^ (lo | 0), 0x5bd1e995);
    h2 ^= h2 >>> 15;
    h2 = Math.imul(h2 ^ (hi | 0) ^ (neg << 31), 0x5bd1e995);
    h2 ^= h2 >>> 13;
  }
  h1 = fmix(h1 ^ n);
  h2 = fmix(h2 ^ h1);
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}
