import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hashNumbers } from './hash.js';

// The hash is recorded in every snapshot and compared at recovery: its value must never change.
// Reference: the first formulation (remainder and quotient through %), kept here verbatim in spirit.
function referenceHash(values: readonly number[]): string {
  const TWO32 = 4294967296;
  const fmix = (h: number): number => {
    h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
    return h;
  };
  let h1 = 0x811c9dc5 | 0;
  let h2 = 0x9747b28c | 0;
  for (const v of values) {
    const neg = v < 0 ? 1 : 0;
    const a = neg ? -v : v;
    const lo = a % TWO32;
    const hi = (a - lo) / TWO32;
    h1 = Math.imul(h1 ^ (lo | 0), 0x01000193);
    h1 = Math.imul(h1 ^ (hi | 0) ^ (neg << 31), 0x01000193);
    h2 = Math.imul(h2 ^ (lo | 0), 0x5bd1e995);
    h2 ^= h2 >>> 15;
    h2 = Math.imul(h2 ^ (hi | 0) ^ (neg << 31), 0x5bd1e995);
    h2 ^= h2 >>> 13;
  }
  h1 = fmix(h1 ^ values.length);
  h2 = fmix(h2 ^ h1);
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

test('hashNumbers gives the recorded hashes of every safe integer list (reference formulation; pinned values)', () => {
  const edge = fc.constantFrom(0, -0, 1, -1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, -(2 ** 32), 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 31, -(2 ** 31));
  fc.assert(fc.property(fc.array(fc.oneof(fc.maxSafeInteger(), fc.integer(), edge), { maxLength: 50 }), (vs) => {
    assert.equal(hashNumbers(vs), referenceHash(vs));
  }), { numRuns: 5000 });
  assert.equal(hashNumbers([]), referenceHash([]));
  assert.equal(hashNumbers([1, 2, 3]), '2f72d0c242684871');
  assert.equal(hashNumbers([2 ** 53 - 1, -(2 ** 40), 0]), referenceHash([2 ** 53 - 1, -(2 ** 40), 0]));
});

test('hashNumbers refuses what is not a safe integer', () => {
  for (const v of [0.5, NaN, Infinity, 2 ** 53, -(2 ** 53)]) assert.throws(() => hashNumbers([v]), RangeError);
});
