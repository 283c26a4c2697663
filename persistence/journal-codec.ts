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
 */
export function encodeRecords(src: Float64Array, srcBytes: Uint8Array, offset: number, n: number, recordWords: number, seqWord: number, out: Uint8Array): number {
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
