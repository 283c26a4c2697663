// Latency histograms for the SLO harness (HdrHistogram, microseconds, 3 significant digits) and the
// pure math the reports need: summaries, the percentile spectrum in "nines", merging and the
// compressed wire form the load generator sends to the harness.

import hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';

export type { Histogram };

/** Largest latency recorded without clamping: 60 s. */
export const MAX_LATENCY_US = 60_000_000;

export function newLatencyHistogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1, highestTrackableValue: MAX_LATENCY_US, numberOfSignificantValueDigits: 3,
    bitBucketSize: 32, autoResize: false, useWebAssembly: false,
  });
}

/** Records one latency in microseconds (rounded; clamped to [1, MAX_LATENCY_US]). */
export function recordUs(h: Histogram, latencyUs: number): void {
  const v = latencyUs < 1 ? 1 : latencyUs > MAX_LATENCY_US ? MAX_LATENCY_US : Math.round(latencyUs);
  h.recordValue(v);
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(s: string): Histogram {
  const d = hdr.decodeFromCompressedBase64(s);
  const h = newLatencyHistogram();
  h.add(d);
  return h;
}

export function mergeHistograms(list: readonly Histogram[]): Histogram {
  const h = newLatencyHistogram();
  for (const x of list) h.add(x);
  return h;
}

export interface LatencySummary {
  count: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  p9999Us: number;
  maxUs: number;
  meanUs: number;
}

export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, p50Us: 0, p90Us: 0, p99Us: 0, p999Us: 0, p9999Us: 0, maxUs: 0, meanUs: 0 };
  return {
    count: h.totalCount,
    p50Us: h.getValueAtPercentile(50),
    p90Us: h.getValueAtPercentile(90),
    p99Us: h.getValueAtPercentile(99),
    p999Us: h.getValueAtPercentile(99.9),
    p9999Us: h.getValueAtPercentile(99.99),
    maxUs: h.maxValue,
    meanUs: Math.round(h.mean * 10) / 10,
  };
}

/** Percentile (0..100) -> "nines": 50% -> 0.301, 90% -> 1, 99% -> 2, 99.9% -> 3. */
export function ninesOf(percentile: number): number {
  if (percentile >= 100) return Infinity;
  if (percentile <= 0) return 0;
  return -Math.log10(1 - percentile / 100);
}

/** "nines" -> percentile (0..100). */
export function percentileOfNines(nines: number): number {
  return 100 * (1 - 10 ** -nines);
}

export interface SpectrumPoint {
  /** -log10(1 - p) */
  nines: number;
  percentile: number;
  valueUs: number;
}

/**
 * The percentile spectrum of a histogram, as HdrHistogram's percentile distribution plots show it:
 * points every `step` nines from 0 up to where the data ends (log10 of the count: beyond that the
 * percentile is the maximum), plus the maximum itself at that end.
 */
export function spectrum(h: Histogram, step = 0.05): SpectrumPoint[] {
  const n = h.totalCount;
  if (n === 0) return [];
  const end = Math.max(step, Math.log10(n));
  const out: SpectrumPoint[] = [];
  for (let x = 0; x < end - 1e-9; x += step) {
    const p = percentileOfNines(x);
    out.push({ nines: round3(x), percentile: p, valueUs: h.getValueAtPercentile(p) });
  }
  out.push({ nines: round3(end), percentile: percentileOfNines(end), valueUs: h.maxValue });
  return out;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** value / floor, rounded to 0.1 (0 when the floor is 0). */
export function multipleOf(valueUs: number, floorUs: number): number {
  if (floorUs <= 0) return 0;
  return Math.round((valueUs / floorUs) * 10) / 10;
}
