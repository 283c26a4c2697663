// Where imported historical market data is kept: candles and trades of other venues (or of earlier
// runs), one series per (source, symbol[, interval]). Backtests read them back; the operator CLI
// (scripts/marketdata.ts) fills and exports them.
//
// Two stores with one contract: SqliteHistoryStore (the embedded default, a file in the data dir) and
// PgHistoryStore (persistence/pg/history-store.ts: market_data and historical_trades). Contract:
// - writes replace by key (candle: source, symbol, interval, open time; trade: source, symbol, id),
//   so importing the same file twice changes nothing; each call is one transaction: after an error
//   nothing of it is stored;
// - reads come back as pages in key order (candles by open time; trades by time, then id), from one
//   snapshot of the store, so a large export never holds the whole series in memory.
//
// This is not the REST candle store: GET /api/v1/market-data/ohlcv shows the engine's own market
// (see docs/persistence.md, "CSV import and export").

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Candle, Interval } from './candles.js';
import type { HistoricalTrade } from './csv.js';

/** What a write did, row by row. */
export interface WriteCounts {
  inserted: number;
  /** Rows whose key existed with other values. */
  updated: number;
  /** Rows already stored exactly so. */
  unchanged: number;
}

export interface CandleRange {
  source: string;
  symbol: string;
  interval: Interval;
  /** Inclusive bounds on the open time, microseconds. */
  fromUs?: number;
  toUs?: number;
}

export interface TradeRange {
  source: string;
  symbol: string;
  /** Inclusive bounds on the trade time, microseconds. */
  fromUs?: number;
  toUs?: number;
}

/** The instrument a write belongs to (PostgreSQL keeps its id beside the symbol). */
export interface HistoryInstrument {
  id: number;
  symbol: string;
}

export interface HistoryStore {
  /** For reports: which store, where. */
  readonly description: string;
  writeCandles(source: string, inst: HistoryInstrument, candles: readonly Candle[]): Promise<WriteCounts>;
  writeTrades(source: string, inst: HistoryInstrument, trades: readonly HistoricalTrade[]): Promise<WriteCounts>;
  candlePages(range: CandleRange, pageRows: number): AsyncIterable<Candle[]>;
  tradePages(range: TradeRange, inst: HistoryInstrument, pageRows: number): AsyncIterable<HistoricalTrade[]>;
  close(): Promise<void>;
}

export class HistoryStoreError extends Error {
  override readonly name = 'HistoryStoreError';
}

/** The engine's own series (market_data exchange 'engine', the `trades` table): never imported into. */
export const ENGINE_SOURCE = 'engine';

/** File name of the embedded store inside the data dir. */
export const HISTORY_SQLITE_FILE = 'marketdata.sqlite';

const SOURCE = /^[a-z0-9][a-z0-9_.-]{0,49}$/;

/** A source name fits market_data.exchange (50 characters) and reads the same everywhere (lower case). */
export function checkSourceName(name: string): string {
  if (!SOURCE.test(name)) {
    throw new HistoryStoreError(`source ${JSON.stringify(name)} must be 1-50 characters of a-z 0-9 _ . - starting with a letter or digit`);
  }
  return name;
}

const CANDLE_COLS = 'open_ticks, high_ticks, low_ticks, close_ticks, volume_lots, quote_volume_units, trade_count';
const TRADE_COLS = 'ts_us, price_ticks, qty_lots, notional_units, taker_side';

/** The values a candle row holds besides its key, in CANDLE_COLS order. */
function candleValues(c: Candle): number[] {
  return [c.openTicks, c.highTicks, c.lowTicks, c.closeTicks, c.volumeLots, c.quoteVolumeUnits, c.tradeCount];
}

function tradeValues(t: HistoricalTrade): number[] {
  return [t.tsUs, t.priceTicks, t.qtyLots, t.notionalUnits, t.takerSide];
}

function sameValues(stored: Record<string, unknown>, cols: string, values: readonly number[]): boolean {
  return cols.split(', ').every((col, i) => stored[col] === values[i]);
}

/**
 * The embedded default: one SQLite file (WAL) beside the journal, apart from it so an import never
 * competes with the journal thread for its write lock. Synchronous underneath (better-sqlite3); the
 * async signatures only match the PostgreSQL store.
 */
export class SqliteHistoryStore implements HistoryStore {
  readonly db: Database.Database;
  readonly description: string;

  /** `mustExist`: for exports, so a mistyped data dir is an error rather than an empty new file. */
  constructor(path: string, o: { mustExist?: boolean } = {}) {
    if (o.mustExist !== true && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    try {
      this.db = new Database(path, { fileMustExist: o.mustExist === true });
    } catch (e) {
      throw new HistoryStoreError(`cannot open ${path}: ${(e as Error).message}`);
    }
    this.description = `sqlite ${path}`;
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`CREATE TABLE IF NOT EXISTS historical_candles (
        source TEXT NOT NULL, symbol TEXT NOT NULL, interval TEXT NOT NULL, open_time_us INTEGER NOT NULL,
        open_ticks INTEGER NOT NULL, high_ticks INTEGER NOT NULL, low_ticks INTEGER NOT NULL, close_ticks INTEGER NOT NULL,
        volume_lots INTEGER NOT NULL, quote_volume_units INTEGER NOT NULL, trade_count INTEGER NOT NULL,
        PRIMARY KEY (source, symbol, interval, open_time_us)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS historical_trades (
        source TEXT NOT NULL, symbol TEXT NOT NULL, trade_id INTEGER NOT NULL, ts_us INTEGER NOT NULL,
        price_ticks INTEGER NOT NULL, qty_lots INTEGER NOT NULL, notional_units INTEGER NOT NULL,
        taker_side INTEGER NOT NULL CHECK (taker_side IN (0, 1)),
        PRIMARY KEY (source, symbol, trade_id)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS historical_trades_time ON historical_trades (source, symbol, ts_us, trade_id);`);
  }

  async writeCandles(source: string, inst: HistoryInstrument, candles: readonly Candle[]): Promise<WriteCounts> {
    const find = this.db.prepare(`SELECT ${CANDLE_COLS} FROM historical_candles WHERE source = ? AND symbol = ? AND interval = ? AND open_time_us = ?`);
    const put = this.db.prepare(`INSERT OR REPLACE INTO historical_candles (source, symbol, interval, open_time_us, ${CANDLE_COLS})
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    return this.upsertAll(candles, (c) => [source, inst.symbol, c.interval, c.openTimeUs], candleValues, find, put, CANDLE_COLS);
  }

  async writeTrades(source: string, inst: HistoryInstrument, trades: readonly HistoricalTrade[]): Promise<WriteCounts> {
    const find = this.db.prepare(`SELECT ${TRADE_COLS} FROM historical_trades WHERE source = ? AND symbol = ? AND trade_id = ?`);
    const put = this.db.prepare(`INSERT OR REPLACE INTO historical_trades (source, symbol, trade_id, ${TRADE_COLS})
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    return this.upsertAll(trades, (t) => [source, inst.symbol, t.tradeId], tradeValues, find, put, TRADE_COLS);
  }

  /** One transaction: rows are compared with what is stored so the report can say what changed. */
  private upsertAll<T>(rows: readonly T[], key: (r: T) => (string | number)[], values: (r: T) => number[],
    find: Database.Statement, put: Database.Statement, cols: string): WriteCounts {
    const counts: WriteCounts = { inserted: 0, updated: 0, unchanged: 0 };
    this.db.transaction(() => {
      for (const r of rows) {
        const k = key(r), v = values(r);
        const stored = find.get(...k) as Record<string, unknown> | undefined;
        if (stored !== undefined && sameValues(stored, cols, v)) {
          counts.unchanged++;
          continue;
        }
        put.run(...k, ...v);
        if (stored === undefined) counts.inserted++;
        else counts.updated++;
      }
    })();
    return counts;
  }

  async *candlePages(range: CandleRange, pageRows: number): AsyncIterable<Candle[]> {
    if (range.source === ENGINE_SOURCE) {
      throw new HistoryStoreError('the embedded default keeps the engine\'s candles in memory only (REST, since the gateway started); export them from PostgreSQL (DATABASE_URL)');
    }
    // One statement iterated to the end: one read snapshot, and only a page in memory at a time.
    const stmt = this.db.prepare(`SELECT open_time_us AS openTimeUs, open_ticks AS openTicks, high_ticks AS highTicks,
        low_ticks AS lowTicks, close_ticks AS closeTicks, volume_lots AS volumeLots, quote_volume_units AS quoteVolumeUnits,
        trade_count AS tradeCount
      FROM historical_candles WHERE source = ? AND symbol = ? AND interval = ? AND open_time_us BETWEEN ? AND ?
      ORDER BY open_time_us`);
    const rows = stmt.iterate(range.source, range.symbol, range.interval, range.fromUs ?? Number.MIN_SAFE_INTEGER,
      range.toUs ?? Number.MAX_SAFE_INTEGER) as IterableIterator<Omit<Candle, 'symbol' | 'interval'>>;
    yield* pages(rows, pageRows, (r) => ({ symbol: range.symbol, interval: range.interval, ...r }));
  }

  async *tradePages(range: TradeRange, _inst: HistoryInstrument, pageRows: number): AsyncIterable<HistoricalTrade[]> {
    if (range.source === ENGINE_SOURCE) {
      throw new HistoryStoreError('the embedded default keeps no engine trades in this store (they are in the journal); export them from PostgreSQL (DATABASE_URL)');
    }
    const stmt = this.db.prepare(`SELECT trade_id AS tradeId, ts_us AS tsUs, price_ticks AS priceTicks, qty_lots AS qtyLots,
        notional_units AS notionalUnits, taker_side AS takerSide
      FROM historical_trades WHERE source = ? AND symbol = ? AND ts_us BETWEEN ? AND ? ORDER BY ts_us, trade_id`);
    const rows = stmt.iterate(range.source, range.symbol, range.fromUs ?? Number.MIN_SAFE_INTEGER,
      range.toUs ?? Number.MAX_SAFE_INTEGER) as IterableIterator<Omit<HistoricalTrade, 'symbol'>>;
    yield* pages(rows, pageRows, (r) => ({ symbol: range.symbol, ...r }));
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

/** for...of, so a consumer that stops early closes the statement's iterator (and frees the connection). */
function* pages<R, T>(rows: Iterable<R>, pageRows: number, map: (r: R) => T): Generator<T[]> {
  let page: T[] = [];
  for (const r of rows) {
    page.push(map(r));
    if (page.length >= pageRows) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}
