import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CandleAggregator, INTERVALS, INTERVAL_US, SqliteCandleStore, bucketStartUs, candleKey, mergeCandle, type Candle, type TradeTick,
} from './candles.js';

/** Brute force: group every trade by (symbol, interval, bucket) and recompute each field from scratch. */
function bruteForce(trades: readonly TradeTick[]): Map<string, Candle> {
  const groups = new Map<string, TradeTick[]>();
  for (const t of trades) {
    for (const iv of INTERVALS) {
      const len = INTERVAL_US[iv];
      const start = Math.floor(t.tsUs / len) * len;
      const k = candleKey(t.symbol, iv, start);
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k)!.push(t);
    }
  }
  const out = new Map<string, Candle>();
  for (const [k, ts] of groups) {
    const [symbol, interval, start] = k.split('\u0000') as [string, Candle['interval'], string];
    out.set(k, {
      symbol, interval, openTimeUs: Number(start), openTicks: ts[0]!.priceTicks,
      highTicks: Math.max(...ts.map((t) => t.priceTicks)), lowTicks: Math.min(...ts.map((t) => t.priceTicks)),
      closeTicks: ts[ts.length - 1]!.priceTicks, volumeLots: ts.reduce((a, t) => a + t.qtyLots, 0),
      quoteVolumeUnits: ts.reduce((a, t) => a + t.notionalUnits, 0), tradeCount: ts.length,
    });
  }
  return out;
}

const tradesArb = fc.array(fc.record({
  symbol: fc.constantFrom('A-USD', 'B-USD'),
  dtUs: fc.oneof(fc.integer({ min: 0, max: 2_000_000 }), fc.integer({ min: 0, max: 4 * 3_600_000_000 })),
  priceTicks: fc.integer({ min: 1, max: 1_000_000 }),
  qtyLots: fc.integer({ min: 1, max: 10_000 }),
}), { minLength: 1, maxLength: 300 }).map((steps) => {
  let ts = 1_700_000_000_000_000 - 7 * 60_000_000;
  return steps.map((s) => {
    ts += s.dtUs;
    return { symbol: s.symbol, tsUs: ts, priceTicks: s.priceTicks, qtyLots: s.qtyLots, notionalUnits: s.priceTicks * s.qtyLots * 10 };
  });
});

test('bucketStartUs floors to the interval, also before the epoch', () => {
  assert.equal(bucketStartUs(90_000_000, '1m'), 60_000_000);
  assert.equal(bucketStartUs(-1, '1m'), -60_000_000);
  assert.equal(bucketStartUs(86_400_000_000 * 3 + 5, '1d'), 86_400_000_000 * 3);
});

test('property: incremental candles (drained at random points, merged in order) equal a brute-force recomputation', () => {
  fc.assert(fc.property(tradesArb, fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 10 }), (trades, cuts) => {
    const agg = new CandleAggregator();
    const merged = new Map<string, Candle>();
    const drainInto = (): void => {
      for (const d of agg.drain()) {
        const k = candleKey(d.symbol, d.interval, d.openTimeUs);
        const prev = merged.get(k);
        merged.set(k, prev === undefined ? d : mergeCandle(prev, d));
      }
    };
    const cutSet = new Set(cuts);
    trades.forEach((t, i) => {
      agg.add(t);
      if (cutSet.has(i)) drainInto();
    });
    drainInto();
    assert.deepEqual(new Map([...merged].sort()), new Map([...bruteForce(trades)].sort()));
  }), { numRuns: 200 });
});

test('property: the SQLite store merges deltas to the same candles, and queries by symbol, interval and time range', () => {
  fc.assert(fc.property(tradesArb, fc.integer({ min: 1, max: 50 }), (trades, every) => {
    const store = new SqliteCandleStore();
    try {
      const agg = new CandleAggregator();
      trades.forEach((t, i) => {
        agg.add(t);
        if (i % every === 0) store.mergeDeltas(agg.drain());
      });
      store.mergeDeltas(agg.drain());
      const want = [...bruteForce(trades).values()];
      for (const symbol of ['A-USD', 'B-USD']) {
        for (const interval of INTERVALS) {
          const exp = want.filter((c) => c.symbol === symbol && c.interval === interval).sort((a, b) => a.openTimeUs - b.openTimeUs);
          assert.deepEqual(store.query({ symbol, interval }), exp);
          if (exp.length > 2) {
            const from = exp[1]!.openTimeUs, to = exp[exp.length - 2]!.openTimeUs;
            assert.deepEqual(store.query({ symbol, interval, fromUs: from, toUs: to }), exp.slice(1, -1));
          }
        }
      }
    } finally {
      store.close();
    }
  }), { numRuns: 40 });
});

test('out-of-order trades throw unless clampTime is set', () => {
  const agg = new CandleAggregator(['1m']);
  agg.addTrade('X', 120_000_000, 10, 1, 10);
  assert.throws(() => agg.addTrade('X', 60_000_000, 10, 1, 10), /out of time order/);
  const c = new CandleAggregator(['1m'], { clampTime: true });
  c.addTrade('X', 120_000_000, 10, 1, 10);
  c.addTrade('X', 60_000_000, 12, 1, 12);
  assert.deepEqual(c.drain().map((x) => [x.openTimeUs, x.closeTicks, x.tradeCount]), [[120_000_000, 12, 2]]);
});

test('property: each drain holds exactly the deltas of the trades since the previous one, in first-touched order', () => {
  fc.assert(fc.property(tradesArb, fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 10 }), (trades, cuts) => {
    const agg = new CandleAggregator();
    const cutSet = new Set(cuts);
    let since: TradeTick[] = [];
    const check = (): void => assert.deepEqual(agg.drain(), [...bruteForce(since).values()]);
    trades.forEach((t, i) => {
      if (cutSet.has(i)) { check(); since = []; }
      agg.add(t);
      since.push(t);
    });
    check();
    assert.equal(agg.size, 0);
  }), { numRuns: 100 });
});

test('an aggregator over some intervals, in any order, keeps its candles apart per symbol', () => {
  const c = new CandleAggregator(['1h', '1m']);
  c.addTrade('X', 60_000_000, 10, 1, 10);
  c.addTrade('Y', 60_000_001, 20, 2, 40);
  c.addTrade('X', 119_999_999, 11, 1, 11);
  c.addTrade('X', 120_000_000, 9, 3, 27);
  assert.deepEqual(c.drain().map((x) => [x.symbol, x.interval, x.openTimeUs, x.openTicks, x.highTicks, x.lowTicks, x.closeTicks, x.volumeLots, x.tradeCount]), [
    ['X', '1h', 0, 10, 11, 9, 9, 5, 3], ['X', '1m', 60_000_000, 10, 11, 10, 11, 2, 2],
    ['Y', '1h', 0, 20, 20, 20, 20, 2, 1], ['Y', '1m', 60_000_000, 20, 20, 20, 20, 2, 1],
    ['X', '1m', 120_000_000, 9, 9, 9, 9, 3, 1],
  ]);
  c.addTrade('X', 120_000_001, 8, 1, 8);
  assert.deepEqual(c.drain().map((x) => [x.interval, x.openTimeUs, x.openTicks, x.tradeCount]), [['1h', 0, 8, 1], ['1m', 120_000_000, 8, 1]]);
});
