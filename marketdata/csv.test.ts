import { test } from 'node:test';
import assert from 'node:assert/strict';
import { candlesOf } from './candles.js';
import { exportCandlesCsv, exportTradesCsv, importCandlesCsv, importTradesCsv, parseTimeUs } from './csv.js';

const INST = { symbol: 'BTC-USD', tickSize: '0.01', lotSize: '0.001', quoteDecimals: 6, notionalUnitsPerTickLot: 10 };

test('times: epoch s / ms / us by digit count, ISO 8601 with a zone', () => {
  assert.equal(parseTimeUs('1700000000'), 1_700_000_000_000_000);
  assert.equal(parseTimeUs('1700000000123'), 1_700_000_000_123_000);
  assert.equal(parseTimeUs('1700000000123456'), 1_700_000_000_123_456);
  assert.equal(parseTimeUs('2023-11-14T22:13:20.5Z'), 1_700_000_000_500_000);
  assert.equal(parseTimeUs('2023-11-14T23:13:20+01:00'), 1_700_000_000_000_000);
});

test('a first data row with a malformed time is rejected with its line, not taken for a header', () => {
  const r = importCandlesCsv(['bad-time,100.00,101.00,99.00,100.50,3', '1700000040000,100.00,101.00,99.00,100.50,3'].join('\n'), INST, '1m');
  assert.equal(r.lines, 2);
  assert.equal(r.rows.length, 1);
  assert.deepEqual(r.rejected.map((x) => x.line), [1]);
  const h = importCandlesCsv(['open_time;open;high;low;close;volume', '1700000040000;100.00;101.00;99.00;100.50;3'].join('\n'), INST, '1m');
  assert.equal(h.lines, 1, 'a header of names only is still a header');
  assert.equal(h.rows.length, 1);
});

test('candle import: Binance kline layout, header optional, rejected rows reported by line and reason', () => {
  const csv = [
    'open_time,open,high,low,close,volume,close_time,quote_asset_volume,number_of_trades,taker_buy_base,taker_buy_quote,ignore',
    '1700000040000,100.00,101.50,99.99,100.10,1.234,1700000099999,123.456789,42,0.5,50.1,0',
    '1700000100000,100.10,100.20,100.00,100.05,0,1700000159999,0,0,0,0,0',
    '1700000160000,100.005,100.20,100.00,100.05,1,1700000219999,1,1,0,0,0',
    '1700000220000,100.10,100.00,99.00,100.05,1,,,,',
    '1700000230000,100.10,100.20,100.00,100.05,1',
    '1700000040000,100.00,101.50,99.99,100.10,1.234',
    '',
    '1700000280000,1,2,1,x,1',
    '1700000340000,1,2,1',
    '1700000400000,1,2,1,1,1.0001',
  ].join('\n');
  const r = importCandlesCsv(csv, INST, '1m');
  assert.equal(r.lines, 9);
  assert.deepEqual(r.rows.map((c) => [c.openTimeUs, c.openTicks, c.highTicks, c.lowTicks, c.closeTicks, c.volumeLots, c.quoteVolumeUnits, c.tradeCount]), [
    [1_700_000_040_000_000, 10000, 10150, 9999, 10010, 1234, 123_456_789, 42],
    [1_700_000_100_000_000, 10010, 10020, 10000, 10005, 0, 0, 0],
  ]);
  assert.deepEqual(r.rejected.map((x) => x.line), [4, 5, 6, 7, 9, 10, 11]);
  assert.match(r.rejected[0]!.reason, /open .*not a multiple of 0.01/);
  assert.match(r.rejected[1]!.reason, /high is below/);
  assert.match(r.rejected[2]!.reason, /not aligned to 1m/);
  assert.match(r.rejected[3]!.reason, /duplicate open_time/);
  assert.match(r.rejected[5]!.reason, /at least 6 columns/);
  assert.match(r.rejected[6]!.reason, /volume .*not a multiple of 0.001/);
});

test('trade import (with and without quote_qty) and export round trip; candles from imported trades', () => {
  const csv = [
    '1,100.00,0.010,1.0,1700000000000,true,true',
    '2,100.01,0.002,0.20002,1700000000500,false,true',
    '3,100.011,0.002,0.2,1700000001000,false,true',
    '4,100.02,0,0,1700000001000,false,true',
    '2,100.02,0.001,0.1,1700000002000,false,true',
  ].join('\n');
  const r = importTradesCsv(csv, INST);
  assert.deepEqual(r.rows.map((t) => [t.tradeId, t.priceTicks, t.qtyLots, t.notionalUnits, t.takerSide]), [[1, 10000, 10, 1_000_000, 1], [2, 10001, 2, 200_020, 0]]);
  assert.deepEqual(r.rejected.map((x) => x.line), [3, 4, 5]);
  const back = importTradesCsv(exportTradesCsv(r.rows, INST), INST);
  assert.deepEqual(back.rejected, []);
  assert.deepEqual(back.rows, r.rows);
  const five = importTradesCsv('7,100.00,0.010,1700000000000,false\n', INST);
  assert.deepEqual(five.rows.map((t) => [t.tradeId, t.tsUs, t.takerSide]), [[7, 1_700_000_000_000_000, 0]]);
  const candles = candlesOf(r.rows, ['1m']);
  const again = importCandlesCsv(exportCandlesCsv(candles, INST), INST, '1m');
  assert.deepEqual(again.rejected, []);
  assert.deepEqual(again.rows, candles);
});
