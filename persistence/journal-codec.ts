// Journal format 3: a chunk of fixed-size float64 records, stored compactly. Every record is
// compared word by word with a prediction, the record before it in the chunk (zeros for the first);
// the predicted seq is the previous seq + 1. Per record:
//   for each group of up to 32 words: a varint bit mask of the words that differ from the prediction
//   for each differing word, in word order: a varint u
//     u = 0         : the word's 8 bytes follow as they are (little-endian float64)
//     u = z + 1     : the word is prediction + d, z = zigzag(d) (d an integer, |d| <= 2^50)
// A command record of 256 bytes (32 words, most of them 0 or equal to the previous record's) takes
// about 15-30 bytes. Decoding rebuilds every record bit for bit (NaN payloads and -0 included: a word
// that is not prediction + a small integer goes raw). No allocation per call.

/** Bytes `encodeRecords` may write for n records of `recordWords` words at most. */
export function maxEncodedBytes(n: number, recordWords: number): number {
  return n * (Math.ceil(recordWords / 32) * 5 + recordWords * 9);
}

const MAX_DELTA = 2 ** 50;

/** The same float64 bits as far as a journal word can tell: -0 is not 0 (=== says it is); NaN never matches. */
function same(v: number, pred: number): boolean {
  return v === pred && (v !== 0 || 1 / v === 1 / pred);
}

function putVarint(out: Uint8Array, p: number, u: number): number {
  if (u < 0x80000000) {
    while (u >= 0x80) { out[p++] = (u & 0x7f) | 0x80; u >>>= 7; }
    out[p++] = u;
    return p;
  }
  while (u >= 0x80) { out[p++] = (u % 0x80) | 0x80; u = Math.floor(u / 0x80); }
  out[p++] = u;
  return p;
}

/**
 * Encodes `n` records of `recordWords` words, starting at word `offset` of `src`, into `out` from
 * byte 0; returns the byte length. `srcBytes` views the same memory as `src` byte by byte (raw words
 * are copied from it, so that a NaN keeps its payload). `out` must hold maxEncodedBytes(n, recordWords) bytes.
 *
 * Records of up to 32 words (one mask group: the journal's 32-word command records) take a faster
 * path that writes exactly the same bytes as the general one (encodeGroups): the mask of a record's
 * words in one pass (unrolled for 32 words), `Object.is` for "same bits" (it tells -0 from 0; a NaN is
 * never the same, as in encodeGroups), and one test for a small integer delta instead of two
 * (docs/runtime.md "Throughput pass, session 9": 222 -> 140-150 ns per bench record, one thread).
 */
export function encodeRecords(src: Float64Array, srcBytes: Uint8Array, offset: number, n: number, recordWords: number, seqWord: number, out: Uint8Array): number {
  if (recordWords > 32) return encodeGroups(src, srcBytes, offset, n, recordWords, seqWord, out);
  let p = 0;
  const byteBase = src.byteOffset - srcBytes.byteOffset;
  const seqBit = seqWord < recordWords ? 1 << seqWord : 0;
  for (let r = 0; r < n; r++) {
    const o = offset + r * recordWords;
    const q = o - recordWords; // read only when r > 0
    // The words that differ from their prediction (the seq word's prediction is fixed below).
    let mask = 0;
    if (r === 0) {
      for (let i = 0; i < recordWords; i++) if (!Object.is(src[o + i]!, 0)) mask |= 1 << i;
    } else if (recordWords === 32) {
      { const v = src[o + 0]!; if (!Object.is(v, src[q + 0]!) || v !== v) mask |= 0x1; }
      { const v = src[o + 1]!; if (!Object.is(v, src[q + 1]!) || v !== v) mask |= 0x2; }
      { const v = src[o + 2]!; if (!Object.is(v, src[q + 2]!) || v !== v) mask |= 0x4; }
      { const v = src[o + 3]!; if (!Object.is(v, src[q + 3]!) || v !== v) mask |= 0x8; }
      { const v = src[o + 4]!; if (!Object.is(v, src[q + 4]!) || v !== v) mask |= 0x10; }
      { const v = src[o + 5]!; if (!Object.is(v, src[q + 5]!) || v !== v) mask |= 0x20; }
      { const v = src[o + 6]!; if (!Object.is(v, src[q + 6]!) || v !== v) mask |= 0x40; }
      { const v = src[o + 7]!; if (!Object.is(v, src[q + 7]!) || v !== v) mask |= 0x80; }
      { const v = src[o + 8]!; if (!Object.is(v, src[q + 8]!) || v !== v) mask |= 0x100; }
      { const v = src[o + 9]!; if (!Object.is(v, src[q + 9]!) || v !== v) mask |= 0x200; }
      { const v = src[o + 10]!; if (!Object.is(v, src[q + 10]!) || v !== v) mask |= 0x400; }
      { const v = src[o + 11]!; if (!Object.is(v, src[q + 11]!) || v !== v) mask |= 0x800; }
      { const v = src[o + 12]!; if (!Object.is(v, src[q + 12]!) || v !== v) mask |= 0x1000; }
      { const v = src[o + 13]!; if (!Object.is(v, src[q + 13]!) || v !== v) mask |= 0x2000; }
      { const v = src[o + 14]!; if (!Object.is(v, src[q + 14]!) || v !== v) mask |= 0x4000; }
      { const v = src[o + 15]!; if (!Object.is(v, src[q + 15]!) || v !== v) mask |= 0x8000; }
      { const v = src[o + 16]!; if (!Object.is(v, src[q + 16]!) || v !== v) mask |= 0x10000; }
      { const v = src[o + 17]!; if (!Object.is(v, src[q + 17]!) || v !== v) mask |= 0x20000; }
      { const v = src[o + 18]!; if (!Object.is(v, src[q + 18]!) || v !== v) mask |= 0x40000; }
      { const v = src[o + 19]!; if (!Object.is(v, src[q + 19]!) || v !== v) mask |= 0x80000; }
      { const v = src[o + 20]!; if (!Object.is(v, src[q + 20]!) || v !== v) mask |= 0x100000; }
      { const v = src[o + 21]!; if (!Object.is(v, src[q + 21]!) || v !== v) mask |= 0x200000; }
      { const v = src[o + 22]!; if (!Object.is(v, src[q + 22]!) || v !== v) mask |= 0x400000; }
      { const v = src[o + 23]!; if (!Object.is(v, src[q + 23]!) || v !== v) mask |= 0x800000; }
      { const v = src[o + 24]!; if (!Object.is(v, src[q + 24]!) || v !== v) mask |= 0x1000000; }
      { const v = src[o + 25]!; if (!Object.is(v, src[q + 25]!) || v !== v) mask |= 0x2000000; }
      { const v = src[o + 26]!; if (!Object.is(v, src[q + 26]!) || v !== v) mask |= 0x4000000; }
      { const v = src[o + 27]!; if (!Object.is(v, src[q + 27]!) || v !== v) mask |= 0x8000000; }
      { const v = src[o + 28]!; if (!Object.is(v, src[q + 28]!) || v !== v) mask |= 0x10000000; }
      { const v = src[o + 29]!; if (!Object.is(v, src[q + 29]!) || v !== v) mask |= 0x20000000; }
      { const v = src[o + 30]!; if (!Object.is(v, src[q + 30]!) || v !== v) mask |= 0x40000000; }
      { const v = src[o + 31]!; if (!Object.is(v, src[q + 31]!) || v !== v) mask |= -0x80000000; }
    } else {
      for (let i = 0; i < recordWords; i++) {
        const v = src[o + i]!;
        if (!Object.is(v, src[q + i]!) || v !== v) mask |= 1 << i;
      }
    }
    if (seqBit !== 0) {
      const v = src[o + seqWord]!, pred = (r > 0 ? src[q + seqWord]! : 0) + 1;
      if (v !== pred || (v === 0 && 1 / v !== 1 / pred)) mask |= seqBit; else mask &= ~seqBit;
    }
    if (mask >= 0 && mask < 0x80) out[p++] = mask; else p = putVarint(out, p, mask >>> 0);
    // The differing words, lowest first.
    if (r > 0) {
      while (mask !== 0) {
        const low = mask & -mask;
        mask ^= low;
        const i = 31 - Math.clz32(low);
        const pv = src[q + i]!;
        p = putWord(out, p, srcBytes, byteBase + (o + i) * 8, src[o + i]!, low === seqBit ? pv + 1 : pv);
      }
    } else {
      while (mask !== 0) {
        const low = mask & -mask;
        mask ^= low;
        const i = 31 - Math.clz32(low);
        p = putWord(out, p, srcBytes, byteBase + (o + i) * 8, src[o + i]!, low === seqBit ? 1 : 0);
      }
    }
  }
  return p;
}

/**
 * One differing word `v` (its bytes at `at` of `srcBytes`) against its prediction, as encodeGroups
 * writes it: a zigzag delta when v is pred + an integer within MAX_DELTA (and not -0), else raw.
 */
function putWord(out: Uint8Array, p: number, srcBytes: Uint8Array, at: number, v: number, pred: number): number {
  const d = v - pred;
  if (d >= -0x3fffffff && d <= 0x3fffffff && (d | 0) === d && pred + d === v && (v !== 0 || 1 / v > 0)) {
    const u = ((d << 1) ^ (d >> 31)) + 1; // zigzag(d) + 1 < 2^31
    if (u < 0x80) { out[p] = u; return p + 1; }
    return putVarint(out, p, u);
  }
  if (Number.isInteger(d) && d <= MAX_DELTA && d >= -MAX_DELTA && pred + d === v && (v !== 0 || 1 / v > 0)) {
    return putVarint(out, p, (d >= 0 ? d * 2 : -d * 2 - 1) + 1);
  }
  out[p++] = 0;
  for (let b = 0; b < 8; b++) out[p++] = srcBytes[at + b]!;
  return p;
}

/** encodeRecords for any record width (groups of 32 words). */
function encodeGroups(src: Float64Array, srcBytes: Uint8Array, offset: number, n: number, recordWords: number, seqWord: number, out: Uint8Array): number {
  let p = 0;
  const byteBase = src.byteOffset - srcBytes.byteOffset;
  for (let r = 0; r < n; r++) {
    const o = offset + r * recordWords;
    const prev = o - recordWords; // read only when r > 0
    for (let g = 0; g < recordWords; g += 32) {
      const end = recordWords < g + 32 ? recordWords : g + 32;
      // Pass 1: the mask of words that differ from their prediction.
      let mask = 0;
      if (r > 0) {
        for (let i = g; i < end; i++) {
          const v = src[o + i]!;
          // Equal zeros may still differ in sign (-0): their sign bytes tell (little-endian: byte 7).
          if (v !== src[prev + i]! || (v === 0 && srcBytes[byteBase + (o + i) * 8 + 7] !== srcBytes[byteBase + (prev + i) * 8 + 7])) mask |= 1 << (i - g);
        }
      } else {
        for (let i = g; i < end; i++) {
          if (src[o + i]! !== 0 || srcBytes[byteBase + (o + i) * 8 + 7] !== 0) mask |= 1 << (i - g);
        }
      }
      if (seqWord >= g && seqWord < end) {
        const bit = 1 << (seqWord - g);
        const v = src[o + seqWord]!, pred = (r > 0 ? src[prev + seqWord]! : 0) + 1;
        if (v !== pred || (v === 0 && 1 / v !== 1 / pred)) mask |= bit; else mask &= ~bit;
      }
      p = putVarint(out, p, mask >>> 0);
      // Pass 2: the differing words, lowest first.
      while (mask !== 0) {
        const low = mask & -mask;
        mask ^= low;
        const i = g + 31 - Math.clz32(low);
        const v = src[o + i]!;
        let pred = r > 0 ? src[prev + i]! : 0;
        if (i === seqWord) pred += 1;
        const d = v - pred;
        if ((v | 0) === v && (pred | 0) === pred && (v !== 0 || 1 / v > 0)) {
          // Both int32 (the usual case): d is exact and small.
          const u = (d >= 0 ? d * 2 : -d * 2 - 1) + 1;
          if (u < 0x80000000) {
            let x = u;
            while (x >= 0x80) { out[p++] = (x & 0x7f) | 0x80; x >>>= 7; }
            out[p++] = x;
          } else p = putVarint(out, p, u);
        } else if (Number.isInteger(d) && d <= MAX_DELTA && d >= -MAX_DELTA && pred + d === v && (v !== 0 || 1 / v > 0)) {
          p = putVarint(out, p, (d >= 0 ? d * 2 : -d * 2 - 1) + 1);
        } else {
          out[p++] = 0;
          const at = byteBase + (o + i) * 8;
          for (let b = 0; b < 8; b++) out[p++] = srcBytes[at + b]!;
        }
      }
    }
  }
  return p;
}

export class JournalDecodeError extends Error {
  override readonly name = 'JournalDecodeError';
}

function fail(why: string, p: number, length: number): never {
  throw new JournalDecodeError(`${why} (byte ${p} of ${length})`);
}

/**
 * Decodes `n` records of `recordWords` words from bytes [0, length) of `bytes` into `dst` from word
 * 0 (`dst` holds n * recordWords words; `dstBytes` views the same memory byte by byte). Throws
 * JournalDecodeError unless the bytes are exactly n well-formed records.
 */
export function decodeRecords(bytes: Uint8Array, length: number, n: number, recordWords: number, seqWord: number, dst: Float64Array, dstBytes: Uint8Array): void {
  let p = 0;
  const byteBase = dst.byteOffset - dstBytes.byteOffset;
  for (let r = 0; r < n; r++) {
    const o = r * recordWords;
    // Every word starts as its prediction; the mask's words are then overwritten.
    // (copyWithin moves bytes: every bit of the previous record, NaN payloads included.)
    if (r > 0) dst.copyWithin(o, o - recordWords, o);
    else dst.fill(0, 0, recordWords);
    dst[o + seqWord] = dst[o + seqWord]! + 1;
    for (let g = 0; g < recordWords; g += 32) {
      const width = recordWords - g < 32 ? recordWords - g : 32;
      // The mask: a varint of at most 5 bytes with no bits above the group's words.
      // (int32 arithmetic throughout: a power with a variable exponent tripled the decoder's time.)
      if (p >= length) fail('truncated mask', p, length);
      let b0 = bytes[p++]!;
      let mask = b0 & 0x7f;
      let shift = 7;
      while ((b0 & 0x80) !== 0) {
        if (p >= length) fail('truncated mask', p, length);
        b0 = bytes[p++]!;
        if (shift === 28 && b0 > 0x0f) fail('mask too large', p, length);
        mask |= (b0 & 0x7f) << shift;
        shift += 7;
      }
      if (width < 32 && (mask >>> width) !== 0) fail('mask names words past the record', p, length);
      while (mask !== 0) {
        const low = mask & -mask;
        mask ^= low;
        const w = o + g + 31 - Math.clz32(low);
        if (p >= length) fail('truncated word', p, length);
        let b = bytes[p++]!;
        if (b === 0) {
          if (p + 8 > length) fail('truncated raw word', p, length);
          const at = byteBase + w * 8;
          for (let k = 0; k < 8; k++) dstBytes[at + k] = bytes[p++]!;
          continue;
        }
        let u = b & 0x7f;
        let mul = 0x80;
        while ((b & 0x80) !== 0) {
          if (p >= length) fail('truncated varint', p, length);
          if (mul > 2 ** 49) fail('varint too long', p, length);
          b = bytes[p++]!;
          u += (b & 0x7f) * mul;
          mul *= 0x80;
        }
        const z = u - 1;
        if (z < 0x80000000) {
          const h = z >>> 1;
          dst[w] = dst[w]! + ((z & 1) === 0 ? h : -h - 1);
          continue;
        }
        if (z > 2 * MAX_DELTA) fail('delta out of range', p, length);
        dst[w] = dst[w]! + (z % 2 === 0 ? z / 2 : -(z + 1) / 2);
      }
    }
  }
  if (p !== length) fail(`${length - p} bytes after the last record`, p, length);
}
