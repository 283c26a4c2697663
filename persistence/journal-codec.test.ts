import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JournalDecodeError, decodeRecords, encodeRecords, maxEncodedBytes } from './journal-codec.js';
import { CMD_WORDS, CW_SEQ, encodeCommand } from '../core/command-codec.js';
import { Command } from '../core/types.js';

/** Raw float64 bits of every kind a record could hold, as 8 little-endian bytes. */
function bitsOf(v: number): Uint8Array {
  return new Uint8Array(new Float64Array([v]).buffer);
}

const specialBits: Uint8Array[] = [
  bitsOf(0), bitsOf(-0), bitsOf(Infinity), bitsOf(-Infinity), bitsOf(2 ** 53), bitsOf(-(2 ** 53)), bitsOf(2 ** 51 + 1),
  bitsOf(0.5), bitsOf(-1e300), bitsOf(Number.MIN_VALUE),
  // NaNs with different payloads and signs (the codec must keep them bit for bit).
  new Uint8Array([1, 0, 0, 0, 0, 0, 0xf8, 0x7f]), new Uint8Array([0, 0, 0, 0, 0, 0, 0xf8, 0xff]), new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf7, 0x7f]),
];

/** A word: small or large integers, specials, arbitrary bits, or "same as the word before" (null). */
const word = fc.oneof(
  { weight: 4, arbitrary: fc.constant(null) },
  { weight: 3, arbitrary: fc.integer({ min: -300, max: 300 }).map(bitsOf) },
  { weight: 2, arbitrary: fc.maxSafeInteger().map(bitsOf) },
  { weight: 1, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 }).map(bitsOf) },
  { weight: 1, arbitrary: fc.constantFrom(...specialBits) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 8, maxLength: 8 }) },
);

/** n records of `words` words as bytes (a word drawn as null repeats the previous record's). */
const chunk = fc.record({ words: fc.constantFrom(1, 2, 3, 16, 31, 32, 33, 40, 64), n: fc.integer({ min: 1, max: 20 }), seed: fc.array(word, { minLength: 64 * 20, maxLength: 64 * 20 }), seqWord: fc.nat(63), seqRun: fc.boolean() })
  .map(({ words, n, seed, seqWord, seqRun }) => {
    const bytes = new Uint8Array(n * words * 8);
    for (let r = 0; r < n; r++) {
      for (let i = 0; i < words; i++) {
        const w = seed[r * words + i]!;
        const at = (r * words + i) * 8;
        if (w === null) { if (r > 0) bytes.copyWithin(at, at - words * 8, at - words * 8 + 8); } else bytes.set(w, at);
      }
    }
    const sw = seqWord % words;
    if (seqRun) { // the usual case: consecutive seqs
      const f = new Float64Array(bytes.buffer);
      for (let r = 0; r < n; r++) f[r * words + sw] = 1000 + r;
    }
    return { words, n, bytes, seqWord: sw };
  });

function roundTrip(words: number, n: number, bytes: Uint8Array, seqWord: number): { encoded: Uint8Array; decoded: Uint8Array } {
  // The source sits at a word offset inside a larger shared buffer, as a chunk does in the ring.
  const pad = 3;
  const sab = new SharedArrayBuffer((pad + n * words + 2) * 8);
  const src = new Float64Array(sab);
  const srcBytes = new Uint8Array(sab);
  srcBytes.set(bytes, pad * 8);
  const out = new Uint8Array(maxEncodedBytes(n, words) + 16);
  const len = encodeRecords(src, srcBytes, pad, n, words, seqWord, out);
  assert.ok(len <= maxEncodedBytes(n, words), 'within the bound');
  const dst = new Float64Array(n * words);
  const dstBytes = new Uint8Array(dst.buffer);
  decodeRecords(out, len, n, words, seqWord, dst, dstBytes);
  return { encoded: out.slice(0, len), decoded: dstBytes };
}

test('journal codec: every chunk decodes to its exact bytes (NaN payloads, -0, infinities, huge and fractional words)', () => {
  fc.assert(fc.property(chunk, ({ words, n, bytes, seqWord }) => {
    const { decoded } = roundTrip(words, n, bytes, seqWord);
    assert.deepEqual(decoded, bytes);
  }), { numRuns: 2000 });
});

test('journal codec: a record of zeros after a record of -0 (and the reverse) keeps each sign', () => {
  const words = 4;
  const f = new Float64Array([-0, 0, -0, 5, 0, -0, 0, 5, -0, -0, -0, 6]);
  const { decoded } = roundTrip(words, 3, new Uint8Array(f.buffer), 3);
  assert.deepEqual(decoded, new Uint8Array(f.buffer));
});

test('journal codec: any truncation, extension or corruption of an encoding fails with JournalDecodeError or decodes within bounds', () => {
  fc.assert(fc.property(chunk, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 }), ({ words, n, bytes, seqWord }, cut, extra) => {
    const { encoded } = roundTrip(words, n, bytes, seqWord);
    const dst = new Float64Array(n * words);
    const dstBytes = new Uint8Array(dst.buffer);
    // Shorter: always an error (n records need every byte).
    const short = cut % encoded.length;
    assert.throws(() => decodeRecords(encoded, short, n, words, seqWord, dst, dstBytes), JournalDecodeError);
    // Longer: always an error (bytes after the last record).
    const long = new Uint8Array(encoded.length + extra.length);
    long.set(encoded);
    long.set(extra, encoded.length);
    assert.throws(() => decodeRecords(long, long.length, n, words, seqWord, dst, dstBytes), JournalDecodeError);
    // One byte changed: an error, or some n records (never an exception of another kind).
    const bad = encoded.slice();
    bad[cut % bad.length] ^= 1 + (cut % 255);
    try {
      decodeRecords(bad, bad.length, n, words, seqWord, dst, dstBytes);
    } catch (e) {
      assert.ok(e instanceof JournalDecodeError, String(e));
    }
  }), { numRuns: 1000 });
});

test('journal codec: random bytes never decode into more words than asked nor throw anything but JournalDecodeError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 8 }), fc.constantFrom(1, 5, 32, 40), (garbage, n, words) => {
    const dst = new Float64Array(n * words + 4);
    dst.fill(7, n * words);
    try {
      decodeRecords(garbage, garbage.length, n, words, 0, dst.subarray(0, n * words), new Uint8Array(dst.buffer, 0, n * words * 8));
    } catch (e) {
      assert.ok(e instanceof JournalDecodeError, String(e));
    }
    assert.deepEqual(Array.from(dst.subarray(n * words)), [7, 7, 7, 7], 'nothing written past the records');
  }), { numRuns: 3000 });
});

test('journal codec: a stream of command records takes a small fraction of their 256 bytes', () => {
  const n = 256;
  const sab = new SharedArrayBuffer(n * CMD_WORDS * 8);
  const f = new Float64Array(sab);
  const cmd = new Command();
  for (let r = 0; r < n; r++) {
    cmd.type = r % 5 === 0 ? 2 : 1; cmd.seq = 5_000_000 + r; cmd.tsUs = 1_764_000_000_000_000 + r * 3; cmd.account = 100 + ((r * 7) % 64);
    cmd.orderId = 900_000 + r; cmd.clientOrderId = r % 3 === 0 ? 0 : 1e9 + r; cmd.side = r & 1; cmd.orderType = 1; cmd.tif = 0;
    cmd.priceTicks = 1_000_000 + ((r * 13) % 200) - 100; cmd.qtyLots = 1 + (r % 10);
    encodeCommand(cmd, 1 + (r % 4), f, r * CMD_WORDS, 0, -1);
  }
  const out = new Uint8Array(maxEncodedBytes(n, CMD_WORDS));
  const len = encodeRecords(f, new Uint8Array(sab), 0, n, CMD_WORDS, CW_SEQ, out);
  assert.ok(len / n < 32, `${(len / n).toFixed(1)} bytes per 256-byte record`);
  const dst = new Float64Array(n * CMD_WORDS);
  decodeRecords(out, len, n, CMD_WORDS, CW_SEQ, dst, new Uint8Array(dst.buffer));
  assert.deepEqual(new Uint8Array(dst.buffer), new Uint8Array(sab));
});
