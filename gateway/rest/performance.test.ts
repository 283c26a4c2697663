// The returns arithmetic of /portfolio/performance (performance.ts): examples worked by hand and
// properties (fast-check) of the time-weighted return: cash flows are never returns, a constant price
// gives 0, no flows telescope to E_end / E_start - 1, size does not matter, and a deposit in
// proportion to the holdings at a bucket's close changes no return.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { testSpec } from '../../testing/fixtures.js';
import { Ledger } from '../ledger.js';
import { balancesOfLedgerDump, bigDecimal, computeSeries, periodsPerYear, summarize, UNIT_PRICE, type BalanceChange, type Price, type SeriesInput } from './performance.js';

const HOUR = 3_600_000_000;
const times = (n: number): number[] => Array.from({ length: n + 1 }, (_, k) => 1_700_000_000_000_000 + k * HOUR);
/** Asset 0 is the valuation asset, asset 1 is priced at `ticks[k]` (ticks * 10 / 100000 per unit, like testSpec). */
const pricesOf = (ticks: readonly (number | null)[]): Price[][] => ticks.map((t) => [UNIT_PRICE, t === null ? null : { num: t * 10, den: 100_000 }] as Price[]);
const close = (a: number, b: number, tol = 1e-9): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b));

describe('performance: worked examples', () => {
  it('Modified Dietz: a deposit half-way through weighs half', () => {
    // 100 units of cash, 50 deposited at mid-bucket, 10 gained by trading at a fixed price: r = 10 / (100 + 25).
    const t = times(1);
    const changes: BalanceChange[] = [
      { tsUs: t[0]! + HOUR / 2, asset: 0, units: 50, flow: true },
      { tsUs: t[0]! + HOUR / 2 + 1, asset: 0, units: 10, flow: false },
    ];
    const r = computeSeries({ times: t, opening: [100, 0], changes, prices: pricesOf([null, null]) });
    assert.equal(r.startEquity, 100);
    assert.equal(r.buckets[0]!.equity, 160);
    assert.equal(r.buckets[0]!.netFlow, 50);
    assert.ok(close(r.buckets[0]!.periodReturn!, 0.08));
  });

  it('buckets chain; a withdrawal is not a drawdown; a holding entering the valuation is a flow', () => {
    // Asset 1 (100,000 units) has no price at first: left out; it enters at 10,000 ticks (1 per unit).
    const t = times(3);
    const changes: BalanceChange[] = [{ tsUs: t[2]! + 1, asset: 0, units: -50_000, flow: true }];
    const r = computeSeries({ times: t, opening: [100_000, 100_000], changes, prices: pricesOf([null, 10_000, 11_000, 11_000]) });
    assert.deepEqual(r.unpricedAssets, [1]);
    assert.equal(r.buckets[0]!.periodReturn, 0, 'the first price is not a gain');
    assert.equal(r.buckets[0]!.netFlow, 100_000);
    // Bucket 1: 100,000 cash + 100,000 of asset 1 -> 110,000: +5 %.
    assert.ok(close(r.buckets[1]!.periodReturn!, 0.05));
    // Bucket 2: withdrawal of 50,000 right at the start (weight ~1), price flat: 0.
    assert.ok(close(r.buckets[2]!.periodReturn!, 0));
    assert.ok(close(r.buckets[2]!.cumulativeReturn!, 0.05));
    const s = summarize(r.buckets.map((b) => b.periodReturn), [true, true, true], periodsPerYear(HOUR));
    assert.equal(s.maxDrawdown, 0);
    assert.ok(close(s.totalReturn!, 0.05));
    assert.equal(s.periods, 3);
  });

  it('summary: drawdown from the peak, volatility and Sharpe from full buckets only, none with a missing return', () => {
    const s = summarize([0.1, -0.5, 0.2, 0.3], [true, true, true, false], 4);
    assert.ok(close(s.maxDrawdown!, 0.5));
    assert.ok(close(s.totalReturn!, 1.1 * 0.5 * 1.2 * 1.3 - 1));
    const xs = [0.1, -0.5, 0.2], mean = -0.2 / 3;
    const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / 2);
    assert.ok(close(s.volatility!, sd * 2));
    assert.ok(close(s.sharpeRatio!, (mean / sd) * 2));
    assert.equal(s.periods, 3);
    const broken = summarize([0.1, null, 0.2], [true, true, true], 4);
    assert.deepEqual(broken, { totalReturn: null, maxDrawdown: null, volatility: null, sharpeRatio: null, periods: 0 });
    assert.equal(summarize([0.1], [true], 4).volatility, null, 'one return has no spread');
    assert.equal(summarize([0.1, 0.1, 0.1], [true, true, true], 4).sharpeRatio, null, 'no spread: no Sharpe');
  });

  it('no capital and a gain: no return (null), and the chain stops there', () => {
    const t = times(2);
    const r = computeSeries({ times: t, opening: [0, 0], changes: [{ tsUs: t[1]! - 1, asset: 0, units: 5, flow: false }], prices: pricesOf([null, null, null]) });
    assert.equal(r.buckets[0]!.periodReturn, null);
    assert.equal(r.buckets[1]!.cumulativeReturn, null);
  });

  it('formats equities beyond 2^53 units exactly like formatDecimal does below it', () => {
    assert.equal(bigDecimal(123_456_789, 6), '123.456789');
    assert.equal(bigDecimal(-5, 3), '-0.005');
    assert.equal(bigDecimal(0, 6), '0');
    assert.equal(bigDecimal(2 ** 60, 6), '1152921504606.846976');
    assert.equal(bigDecimal(-(2 ** 60), 0), '-1152921504606846976');
    assert.equal(bigDecimal(1e22, 6), '10000000000000000');
  });

  it('reads the balances out of a real ledger snapshot', () => {
    const spec = testSpec();
    const l = new Ledger([spec], { feeAccount: 99, maxOrders: 64 });
    assert.equal(l.deposit(7, 0, 1234), 0);
    assert.equal(l.deposit(7, 1, 55), 0);
    assert.equal(l.deposit(3, 1, 9), 0);
    const d = balancesOfLedgerDump(l.snapshot());
    assert.equal(d.assetCount, l.assetCount);
    for (const a of [3, 7]) for (let x = 0; x < l.assetCount; x++) assert.equal(d.totals.get(a)![x], l.available(a, x) + l.locked(a, x));
    assert.equal(d.totals.has(99), false);
  });
});

// ------------------------------------------------------------------------------ properties

const N = 6;
const arbTicks = fc.integer({ min: 1, max: 1_000_000 });
/** A change inside the series: bucket, fraction of it, asset, units. */
const arbFlow = fc.record({ bucket: fc.integer({ min: 0, max: N - 1 }), at: fc.integer({ min: 1, max: HOUR }), asset: fc.integer({ min: 0, max: 1 }), units: fc.integer({ min: -1e9, max: 1e9 }) });
const arbTrade = fc.record({ bucket: fc.integer({ min: 0, max: N - 1 }), at: fc.integer({ min: 1, max: HOUR }), lots: fc.integer({ min: -1000, max: 1000 }) });
const arbOpening = fc.tuple(fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 0, max: 1e12 }));

function input(opening: [number, number], flows: { bucket: number; at: number; asset: number; units: number }[], trades: { bucket: number; at: number; lots: number }[], ticks: (number | null)[]): SeriesInput {
  const t = times(N);
  const changes: BalanceChange[] = [];
  for (const f of flows) changes.push({ tsUs: t[f.bucket]! + f.at, asset: f.asset, units: f.units, flow: true });
  for (const x of trades) {
    // A trade at the bucket's closing price: base +lots * 100000 units, cash -lots * ticks * 10.
    const px = ticks[x.bucket + 1] ?? 1;
    changes.push({ tsUs: t[x.bucket]! + x.at, asset: 1, units: x.lots * 100_000, flow: false });
    changes.push({ tsUs: t[x.bucket]! + x.at, asset: 0, units: -x.lots * px * 10, flow: false });
  }
  changes.sort((a, b) => a.tsUs - b.tsUs);
  return { times: t, opening, changes, prices: pricesOf(ticks) };
}

describe('performance: properties of the time-weighted return', () => {
  it('at a constant price, deposits and withdrawals alone give a return of exactly 0', () => {
    fc.assert(fc.property(arbOpening, fc.array(arbFlow, { maxLength: 20 }), arbTicks, (opening, flows, px) => {
      const r = computeSeries(input(opening, flows, [], new Array(N + 1).fill(px)));
      for (const b of r.buckets) { assert.equal(b.periodReturn, 0); assert.equal(b.cumulativeReturn, 0); }
    }));
  });

  it('at a constant price, trading at that price without fees gives 0, whatever the flows', () => {
    fc.assert(fc.property(arbOpening, fc.array(arbFlow, { maxLength: 10 }), fc.array(arbTrade, { maxLength: 10 }), arbTicks, (opening, flows, trades, px) => {
      const r = computeSeries(input(opening, flows, trades, new Array(N + 1).fill(px)));
      for (const b of r.buckets) assert.equal(b.periodReturn, 0);
    }));
  });

  it('without flows, the chained return is end equity / start equity - 1', () => {
    fc.assert(fc.property(arbOpening.filter(([c, u]) => c + u > 0), fc.array(arbTicks, { minLength: N + 1, maxLength: N + 1 }), (opening, ticks) => {
      const r = computeSeries(input(opening, [], [], ticks));
      const end = r.buckets[N - 1]!;
      assert.ok(close(end.cumulativeReturn!, end.equity / r.startEquity - 1, 1e-7), `${end.cumulativeReturn} vs ${end.equity / r.startEquity - 1}`);
    }));
  });

  it('the size of the account does not matter: scaling balances and flows leaves every return unchanged', () => {
    fc.assert(fc.property(arbOpening.filter(([c, u]) => c + u > 1000), fc.array(arbFlow.map((f) => ({ ...f, units: Math.abs(f.units) })), { maxLength: 8 }),
      fc.array(arbTicks, { minLength: N + 1, maxLength: N + 1 }), fc.integer({ min: 2, max: 1000 }), (opening, flows, ticks, m) => {
        const a = computeSeries(input(opening, flows, [], ticks));
        const b = computeSeries(input([opening[0] * m, opening[1] * m], flows.map((f) => ({ ...f, units: f.units * m })), [], ticks));
        for (let k = 0; k < N; k++) assert.ok(close(a.buckets[k]!.periodReturn!, b.buckets[k]!.periodReturn!, 1e-7));
      }));
  });

  it('a deposit at a bucket\'s close in proportion to the holdings changes no return', () => {
    fc.assert(fc.property(arbOpening.filter(([c, u]) => c > 0 && u > 0), fc.array(arbTicks, { minLength: N + 1, maxLength: N + 1 }),
      fc.integer({ min: 0, max: N - 1 }), fc.integer({ min: 1, max: 5 }), (opening, ticks, bucket, m) => {
        const base = computeSeries(input(opening, [], [], ticks));
        // At the close of `bucket` (weight 0), m times each holding is deposited.
        const atClose = HOUR;
        const flows = [{ bucket, at: atClose, asset: 0, units: opening[0] * m }, { bucket, at: atClose, asset: 1, units: opening[1] * m }];
        const withDeposit = computeSeries(input(opening, flows, [], ticks));
        for (let k = 0; k < N; k++) assert.ok(close(base.buckets[k]!.periodReturn!, withDeposit.buckets[k]!.periodReturn!, 1e-7), `bucket ${k}`);
        assert.ok(close(base.buckets[N - 1]!.cumulativeReturn!, withDeposit.buckets[N - 1]!.cumulativeReturn!, 1e-7));
      }));
  });

  it('max drawdown is within [0, 1) and 0 when no return is negative; volatility is never negative', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: -0.99, max: 5, noNaN: true }), { minLength: 1, maxLength: 50 }), (rs) => {
      const s = summarize(rs, rs.map(() => true), 8766);
      assert.ok(s.maxDrawdown! >= 0 && s.maxDrawdown! < 1);
      if (rs.every((r) => r >= 0)) assert.equal(s.maxDrawdown, 0);
      if (s.volatility !== null) assert.ok(s.volatility >= 0);
    }));
  });
});
