// Deterministic journal records for tests and benches: word 0 = kind, word 1 = seq, the rest a
// function of (seq, word), all exact integers.

export function testKind(seq: number): number {
  return 1 + (seq % 9);
}

export function testWord(seq: number, i: number): number {
  if (i === 0) return testKind(seq);
  if (i === 1) return seq;
  return seq * 1000 + i * 37;
}

export function fillTestRecord(dst: Float64Array, seq: number, dstWord = 0, words = dst.length - dstWord): void {
  for (let i = 0; i < words; i++) dst[dstWord + i] = testWord(seq, i);
}

/** Index of the first word of `words` that differs from test record `seq`, or -1. */
export function diffTestRecord(words: Float64Array, seq: number): number {
  for (let i = 0; i < words.length; i++) if (words[i] !== testWord(seq, i)) return i;
  return -1;
}
