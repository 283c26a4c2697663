// CSV import and export of historical candles and trades, in the column layout of common exchange
// exports (Binance's kline and trade files). Every value is converted to fixed point exactly (prices
// on the instrument's tick, quantities on its lot, quote amounts in quote units); a row that cannot
// be is rejected with its line number and the reason, and the other rows still import.
//
// Candles: open_time, open, high, low, close, volume[, close_time, quote_volume, count, ...ignored]
// Trades:  id, price, qty[, quote_qty], time, is_buyer_maker[, ...ignored]
// (the trade layout without quote_qty has 5 columns). A header line is optional (the first line
// is one when none of its fields is a number). Times: integer seconds (<= 11 digits), milliseconds (<= 14 digits)
// or microseconds since the epoch, or an ISO 8601 date-time with a zone ("2024-01-02T03:04:05Z").
// Separators: ',' (or ';' / tab, detected from the first line). Blank lines are skipped.

import { DecimalError, DecimalStep, formatDecimal, parseDecimal } from '../core/fixed.js';
import type { InstrumentSpec } from '../core/instrument.js';
import { INTERVAL_US, type Candle, type Interval } from './candles.js';

export type CsvInstrument = Pick<InstrumentSpec, 'symbol' | 'tickSize' | 'lotSize' | 'quoteDecimals' | 'notionalUnitsPerTickLot'>;

export interface RejectedRow {
  line: number;
  reason: string;
}

export interface ImportReport<T> {
  rows: T[];
  rejected: RejectedRow[];
  /** Data lines read (header and blank lines excluded). */
  lines: number;
}

export interface HistoricalTrade {
  symbol: string;
  tradeId: number;
  tsUs: number;
  priceTicks: number;
  qtyLots: number;
  notionalUnits: number;
  /** 0 buy, 1 sell: the taker's side (is_buyer_maker = true means the taker sold). */
  takerSide: number;
}

class RowError extends Error {}

function splitter(firstLine: string): string {
  if (firstLine.includes('\t')) return '\t';
  if (!firstLine.includes(',') && firstLine.includes(';')) return ';';
  return ',';
}

const INT = /^\d+$/;

/** Epoch seconds / ms / us by digit count, or ISO 8601 with a zone -> microseconds. */
export function parseTimeUs(s: string): number {
  const t = s.trim();
  if (INT.test(t)) {
    const n = Number(t);
    if (!Number.isSafeInteger(n)) throw new RowError(`time ${t} out of range`);
    if (t.length <= 11) return n * 1_000_000;
    if (t.length <= 14) return n * 1000;
    return n;
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})$/.exec(t);
  if (m === null) throw new RowError(`time ${JSON.stringify(t)} is neither epoch seconds/ms/us nor ISO 8601 with a zone`);
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8]!.length === 5 ? `${m[8]!.slice(0, 3)}:${m[8]!.slice(3)}` : m[8]}`);
  if (Number.isNaN(ms)) throw new RowError(`time ${JSON.stringify(t)} is not a valid date`);
  return ms * 1000 + Number((m[7] ?? '').padEnd(6, '0'));
}

function steps(step: DecimalStep, s: string, what: string, allowZero: boolean): number {
  try {
    const v = step.toSteps(s.trim(), what);
    if (v === 0 && !allowZero) throw new RowError(`${what} must be greater than 0`);
    return v;
  } catch (e) {
    if (e instanceof DecimalError) throw new RowError(e.message);
    throw e;
  }
}

function units(s: string, decimals: number, what: string): number {
  try {
    return parseDecimal(s.trim(), decimals);
  } catch (e) {
    if (e instanceof DecimalError) throw new RowError(`${what}: ${e.message}`);
    throw e;
  }
}

function nonNegInt(s: string, what: string): number {
  const t = s.trim();
  if (!INT.test(t) || !Number.isSafeInteger(Number(t))) throw new RowError(`${what} ${JSON.stringify(t)} is not a non-negative integer`);
  return Number(t);
}

function* dataLines(text: string): Generator<{ line: number; fields: string[] }> {
  const lines = text.split(/\r?\n/);
  const sep = splitter(lines.find((l) => l.trim() !== '') ?? '');
  let first = true;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === '') continue;
    const fields = raw.split(sep).map((f) => f.trim().replace(/^"(.*)"$/, '$1'));
    if (first) {
      first = false;
      // A header has no numeric field at all; a first data row with a bad time still has its prices,
      // so it is reported as rejected rather than dropped as a header.
      if (fields.every((f) => !/^[-+]?\.?\d/.test(f))) continue;
    }
    yield { line: i + 1, fields };
  }
}

/** Imports candles of one symbol and interval. Rejected: malformed, off-tick, inconsistent OHLC, misaligned or duplicate times. */
export function importCandlesCsv(text: string, inst: CsvInstrument, interval: Interval): ImportReport<Candle> {
  const tick = new DecimalStep(inst.tickSize);
  const lot = new DecimalStep(inst.lotSize);
  const len = INTERVAL_US[interval];
  const out: Candle[] = [];
  const rejected: RejectedRow[] = [];
  const seen = new Set<number>();
  let n = 0;
  for (const { line, fields } of dataLines(text)) {
    n++;
    try {
      if (fields.length < 6) throw new RowError(`expected at least 6 columns (open_time, open, high, low, close, volume), got ${fields.length}`);
      const openTimeUs = parseTimeUs(fields[0]!);
      if (((openTimeUs % len) + len) % len !== 0) throw new RowError(`open_time ${fields[0]} is not aligned to ${interval}`);
      const o = steps(tick, fields[1]!, 'open', false);
      const h = steps(tick, fields[2]!, 'high', false);
      const l = steps(tick, fields[3]!, 'low', false);
      const c = steps(tick, fields[4]!, 'close', false);
      const v = steps(lot, fields[5]!, 'volume', true);
      if (h < Math.max(o, c, l)) throw new RowError('high is below open, close or low');
      if (l > Math.min(o, c)) throw new RowError('low is above open or close');
      if (fields.length > 6 && fields[6] !== '') {
        const closeUs = parseTimeUs(fields[6]!);
        if (closeUs < openTimeUs || closeUs >= openTimeUs + len) throw new RowError(`close_time ${fields[6]} is outside the ${interval} candle`);
      }
      const qv = fields.length > 7 && fields[7] !== '' ? units(fields[7]!, inst.quoteDecimals, 'quote_volume') : 0;
      const count = fields.length > 8 && fields[8] !== '' ? nonNegInt(fields[8]!, 'count') : 0;
      if (seen.has(openTimeUs)) throw new RowError(`duplicate open_time ${fields[0]}`);
      seen.add(openTimeUs);
      out.push({ symbol: inst.symbol, interval, openTimeUs, openTicks: o, highTicks: h, lowTicks: l, closeTicks: c, volumeLots: v,
        quoteVolumeUnits: qv, tradeCount: count });
    } catch (e) {
      if (!(e instanceof RowError)) throw e;
      rejected.push({ line, reason: e.message });
    }
  }
  out.sort((a, b) => a.openTimeUs - b.openTimeUs);
  return { rows: out, rejected, lines: n };
}

/** Imports trades of one symbol, sorted by (time, id). Rejected: malformed, off-tick/lot, zero quantity, duplicate ids. */
export function importTradesCsv(text: string, inst: CsvInstrument): ImportReport<HistoricalTrade> {
  const tick = new DecimalStep(inst.tickSize);
  const lot = new DecimalStep(inst.lotSize);
  const out: HistoricalTrade[] = [];
  const rejected: RejectedRow[] = [];
  const ids = new Set<number>();
  let n = 0;
  for (const { line, fields } of dataLines(text)) {
    n++;
    try {
      if (fields.length < 5) throw new RowError(`expected at least 5 columns (id, price, qty, [quote_qty,] time, is_buyer_maker), got ${fields.length}`);
      // 5 columns: no quote_qty; 6 or more: Binance layout with quote_qty.
      const withQuote = fields.length >= 6;
      const tradeId = nonNegInt(fields[0]!, 'id');
      const priceTicks = steps(tick, fields[1]!, 'price', false);
      const qtyLots = steps(lot, fields[2]!, 'qty', false);
      // quote_qty is checked for form only: the exact notional is computed from price and qty.
      if (withQuote && fields[3] !== '' && !/^\d+(\.\d+)?$/.test(fields[3]!)) throw new RowError(`quote_qty ${JSON.stringify(fields[3])} is not a decimal number`);
      const tsUs = parseTimeUs(fields[withQuote ? 4 : 3]!);
      const maker = fields[withQuote ? 5 : 4]!.toLowerCase();
      if (maker !== 'true' && maker !== 'false' && maker !== '1' && maker !== '0') throw new RowError(`is_buyer_maker ${JSON.stringify(maker)} is not true/false`);
      const notionalUnits = priceTicks * qtyLots * inst.notionalUnitsPerTickLot;
      if (!Number.isSafeInteger(notionalUnits)) throw new RowError('price x qty leaves the safe integer range');
      if (ids.has(tradeId)) throw new RowError(`duplicate id ${tradeId}`);
      ids.add(tradeId);
      out.push({ symbol: inst.symbol, tradeId, tsUs, priceTicks, qtyLots, notionalUnits, takerSide: maker === 'true' || maker === '1' ? 1 : 0 });
    } catch (e) {
      if (!(e instanceof RowError)) throw e;
      rejected.push({ line, reason: e.message });
    }
  }
  out.sort((a, b) => a.tsUs - b.tsUs || a.tradeId - b.tradeId);
  return { rows: out, rejected, lines: n };
}

export const CANDLE_CSV_HEADER = 'open_time,open,high,low,close,volume,close_time,quote_volume,count';
export const TRADE_CSV_HEADER = 'id,price,qty,quote_qty,time,is_buyer_maker';

/** Candles -> CSV (times in milliseconds, as Binance's kline files). */
export function exportCandlesCsv(candles: readonly Candle[], inst: CsvInstrument): string {
  const tick = new DecimalStep(inst.tickSize);
  const lot = new DecimalStep(inst.lotSize);
  const lines = [CANDLE_CSV_HEADER];
  for (const c of candles) {
    const len = INTERVAL_US[c.interval];
    lines.push([Math.floor(c.openTimeUs / 1000), tick.fromSteps(c.openTicks), tick.fromSteps(c.highTicks), tick.fromSteps(c.lowTicks),
      tick.fromSteps(c.closeTicks), lot.fromSteps(c.volumeLots), Math.floor((c.openTimeUs + len) / 1000) - 1,
      formatDecimal(c.quoteVolumeUnits, inst.quoteDecimals), c.tradeCount].join(','));
  }
  return lines.join('\n') + '\n';
}

/** Trades -> CSV (times in microseconds). */
export function exportTradesCsv(trades: readonly HistoricalTrade[], inst: CsvInstrument): string {
  const tick = new DecimalStep(inst.tickSize);
  const lot = new DecimalStep(inst.lotSize);
  const lines = [TRADE_CSV_HEADER];
  for (const t of trades) {
    lines.push([t.tradeId, tick.fromSteps(t.priceTicks), lot.fromSteps(t.qtyLots), formatDecimal(t.notionalUnits, inst.quoteDecimals),
      t.tsUs, t.takerSide === 1 ? 'true' : 'false'].join(','));
  }
  return lines.join('\n') + '\n';
}
