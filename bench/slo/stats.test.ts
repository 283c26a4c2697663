// Histogram and percentile math of the SLO harness (bench/slo/stats.ts). No timing.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_LATENCY_US, decodeHistogram, encodeHistogram, mergeHistograms, multipleOf, newLatencyHistogram, ninesOf,
  percentileOfNines, recordUs, spectrum, summarize,
} from './stats.js';

/** 1..n us, one each. */
function uniform(n: number): ReturnType<typeof newLatencyHistogram> {
  const h = newLatencyHistogram();
  for (let v = 1; v <= n; v++) recordUs(h, v);
  return h;
}

describe('slo stats', () => {
  it('summarizes percentiles within the histogram\'s 3 significant digits', () => {
    const s = summarize(uniform(10_000));
    assert.equal(s.count, 10_000);
    const near = (v: number, want: number): void => assert.ok(Math.abs(v - want) <= want * 0.001 + 1, `${v} vs ${want}`);
    near(s.p50Us, 5000); near(s.p90Us, 9000); near(s.p99Us, 9900); near(s.p999Us, 9990); near(s.maxUs, 10_000);
    assert.ok(Math.abs(s.meanUs - 5000.5) < 5);
  });

  it('an empty histogram summarizes to zeros and has no spectrum', () => {
    const h = newLatencyHistogram();
    assert.deepEqual(summarize(h), { count: 0, p50Us: 0, p90Us: 0, p99Us: 0, p999Us: 0, p9999Us: 0, maxUs: 0, meanUs: 0 });
    assert.deepEqual(spectrum(h), []);
  });

  it('rounds and clamps recorded values', () => {
    const h = newLatencyHistogram();
    recordUs(h, 0.2); recordUs(h, -5); recordUs(h, 7.6); recordUs(h, MAX_LATENCY_US * 3);
    assert.equal(h.totalCount, 4);
    assert.equal(h.getValueAtPercentile(50), 1);
    assert.equal(h.getValueAtPercentile(75), 8);
    assert.ok(h.maxValue >= MAX_LATENCY_US * 0.999 && h.maxValue <= MAX_LATENCY_US * 1.001);
  });

  it('nines and percentiles are inverse; 90% = 1, 99% = 2, 99.9% = 3', () => {
    assert.equal(ninesOf(0), 0);
    assert.ok(Math.abs(ninesOf(90) - 1) < 1e-12);
    assert.ok(Math.abs(ninesOf(99) - 2) < 1e-12);
    assert.ok(Math.abs(ninesOf(99.9) - 3) < 1e-9);
    assert.equal(ninesOf(100), Infinity);
    for (const p of [10, 50, 75, 99.99]) assert.ok(Math.abs(percentileOfNines(ninesOf(p)) - p) < 1e-9);
  });

  it('the spectrum rises monotonically, ends at log10(count) with the maximum', () => {
    const h = uniform(1000);
    const pts = spectrum(h, 0.1);
    assert.equal(pts[0]!.nines, 0);
    const last = pts[pts.length - 1]!;
    assert.equal(last.nines, 3);
    assert.equal(last.valueUs, h.maxValue);
    for (let i = 1; i < pts.length; i++) {
      assert.ok(pts[i]!.nines > pts[i - 1]!.nines);
      assert.ok(pts[i]!.valueUs >= pts[i - 1]!.valueUs);
    }
    const at1 = pts.find((p) => p.nines === 1)!;
    assert.ok(Math.abs(at1.valueUs - 900) <= 1, `90th percentile ${at1.valueUs}`);
  });

  it('survives the compressed wire form and merges', () => {
    const a = uniform(500);
    const b = newLatencyHistogram();
    for (let i = 0; i < 500; i++) recordUs(b, 2000);
    const back = decodeHistogram(encodeHistogram(a));
    assert.deepEqual(summarize(back), summarize(a));
    const m = mergeHistograms([a, b]);
    assert.equal(m.totalCount, 1000);
    assert.ok(Math.abs(m.getValueAtPercentile(50) - 500) <= 1);
    assert.ok(Math.abs(m.getValueAtPercentile(75) - 2000) <= 2);
  });

  it('multiples of the floor', () => {
    assert.equal(multipleOf(250, 50), 5);
    assert.equal(multipleOf(100, 30), 3.3);
    assert.equal(multipleOf(100, 0), 0);
  });
});
