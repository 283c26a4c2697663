// OHLCV candles built incrementally from trades, in fixed point: prices in ticks, volume in lots,
// quote volume in quote units, times in microseconds since the epoch (a candle's openTimeUs is the
// start of its bucket, aligned to the epoch: buckets of 1d start at 00:00 UTC).
//
// CandleAggregator folds trades (in time order) into the open candles and hands out the candles
// changed since the last drain as *deltas* over the trades it saw: mergeCandle(older, newer) combines
// two deltas of the same bucket (open of the older, close of the newer, extremes, sums). A store
// applies the same merge (SQLite here, PostgreSQL in persistence/pg/replicator.ts), so feeding it
// every delta in order gives the candles of all the trades, whatever the drain points were.

import Database from 'better-sqlite3';

export const INTERVAL_US = {
  '1m': 60_000_000,
  '5m': 300_000_000,
  '15m': 900_000_000,
  '1h': 3_600_000_000,
  '4h': 14_400_000_000,
  '1d': 86_400_000_000,
} as const;

export type Interval = keyof typeof INTERVAL_US;
export const INTERVALS: readonly Interval[] = ['1m', '5m', '15m', '1h', '4h', '1d'];

export function isInterval(s: string): s is Interval {
  return Object.prototype.hasOwnProperty.call(INTERVAL_US, s);
}

export interface Candle {
  symbol: string;
  interval: Interval;
  openTimeUs: number;
  openTicks: number;
  highTicks: number;
  lowTicks: number;
  closeTicks: number;
  volumeLots: number;
  quoteVolumeUnits: number;
  tradeCount: number;
}

export class CandleError extends Error {
  override readonly name = 'CandleError';
}

/** Start of the bucket holding tsUs (floor, also for times before the epoch). */
export function bucketStartUs(tsUs: number, interval: Interval): number {
  const len = INTERVAL_US[interval];
  const r = tsUs % len;
  return r < 0 ? tsUs - r - len : tsUs - r;
}

function safeAdd(a: number, b: number, what: string): number {
  const s = a + b;
  if (!Number.isSafeInteger(s)) throw new CandleError(`${what} leaves the safe integer range`);
  return s;
}

/** The candle of `older` followed by `newer` (same symbol, interval and bucket). */
export function mergeCandle(older: Candle, newer: Candle): Candle {
  return {
    symbol: older.symbol, interval: older.interval, openTimeUs: older.openTimeUs,
    openTicks: older.openTicks,
    highTicks: Math.max(older.highTicks, newer.highTicks),
    lowTicks: Math.min(older.lowTicks, newer.lowTicks),
    closeTicks: newer.closeTicks,
    volumeLots: safeAdd(older.volumeLots, newer.volumeLots, 'volume'),
    quoteVolumeUnits: safeAdd(older.quoteVolumeUnits, newer.quoteVolumeUnits, 'quote volume'),
    tradeCount: older.tradeCount + newer.tradeCount,
  };
}

export function candleKey(symbol: string, interval: Interval, openTimeUs: number): string {
  return `${symbol}\u0000${interval}\u0000${openTimeUs}`;
}

/** One trade, as the aggregator reads it. */
export interface TradeTick {
  symbol: string;
  tsUs: number;
  priceTicks: number;
  qtyLots: number;
  /** price * qty * notionalUnitsPerTickLot. */
  notionalUnits: number;
}

export class CandleAggregator {
  readonly intervals: readonly Interval[];
  /** Deltas since the last drain, in first-touched order. */
  private pending = new Map<string, Candle>();
  /** Last trade time per symbol: trades must come in non-decreasing time. */
  private lastTs = new Map<string, number>();
  /**
   * Per symbol, per interval (same index as `intervals`): the bucket last touched and its delta in
   * `pending`, so that a trade in the same buckets as the symbol's previous one updates them without
   * building a key string per interval. Valid while `gen` equals `drains` (a drain hands the deltas out).
   */
  private readonly open = new Map<string, { gen: number; starts: number[]; candles: Candle[] }>();
  private drains = 0;
  private readonly lens: number[];
  private readonly clampTime: boolean;

  /**
   * `clampTime`: a trade older than the symbol's last one counts at the last one's time instead of
   * throwing (the replicator must never get stuck on a clock step back).
   */
  constructor(intervals: readonly Interval[] = INTERVALS, o: { clampTime?: boolean } = {}) {
    for (const i of intervals) if (!isInterval(i)) throw new CandleError(`unknown interval ${String(i)}`);
    this.intervals = [...intervals];
    this.lens = this.intervals.map((i) => INTERVAL_US[i]);
    this.clampTime = o.clampTime === true;
  }

  addTrade(symbol: string, tsUs: number, priceTicks: number, qtyLots: number, notionalUnits: number): void {
    if (!Number.isSafeInteger(tsUs) || !Number.isSafeInteger(priceTicks) || priceTicks <= 0 || !Number.isSafeInteger(qtyLots)
      || qtyLots <= 0 || !Number.isSafeInteger(notionalUnits) || notionalUnits < 0) {
      throw new CandleError(`invalid trade for ${symbol}: ts ${tsUs} price ${priceTicks} qty ${qtyLots} notional ${notionalUnits}`);
    }
    const last = this.lastTs.get(symbol);
    if (last !== undefined && tsUs < last) {
      if (!this.clampTime) throw new CandleError(`trades of ${symbol} out of time order (${tsUs} < ${last})`);
      tsUs = last;
    }
    this.lastTs.set(symbol, tsUs);
    let cur = this.open.get(symbol);
    if (cur === undefined) {
      cur = { gen: this.drains, starts: new Array<number>(this.intervals.length).fill(Number.NaN), candles: new Array<Candle>(this.intervals.length) };
      this.open.set(symbol, cur);
    } else if (cur.gen !== this.drains) {
      cur.gen = this.drains;
      cur.starts.fill(Number.NaN);
    }
    for (let i = 0; i < this.intervals.length; i++) {
      const len = this.lens[i]!, r = tsUs % len;
      const open = r < 0 ? tsUs - r - len : tsUs - r; // bucketStartUs
      let c: Candle | undefined;
      if (cur.starts[i] === open) c = cur.candles[i]!;
      else {
        const interval = this.intervals[i]!;
        const key = candleKey(symbol, interval, open);
        c = this.pending.get(key);
        if (c === undefined) {
          c = {
            symbol, interval, openTimeUs: open, openTicks: priceTicks, highTicks: priceTicks, lowTicks: priceTicks,
            closeTicks: priceTicks, volumeLots: qtyLots, quoteVolumeUnits: notionalUnits, tradeCount: 1,
          };
          this.pending.set(key, c);
          cur.starts[i] = open;
          cur.candles[i] = c;
          continue;
        }
        cur.starts[i] = open;
        cur.candles[i] = c;
      }
      if (priceTicks > c.highTicks) c.highTicks = priceTicks;
      if (priceTicks < c.lowTicks) c.lowTicks = priceTicks;
      c.closeTicks = priceTicks;
      c.volumeLots = safeAdd(c.volumeLots, qtyLots, 'volume');
      c.quoteVolumeUnits = safeAdd(c.quoteVolumeUnits, notionalUnits, 'quote volume');
      c.tradeCount++;
    }
  }

  add(t: TradeTick): void {
    this.addTrade(t.symbol, t.tsUs, t.priceTicks, t.qtyLots, t.notionalUnits);
  }

  /** Number of candle deltas waiting. */
  get size(): number {
    return this.pending.size;
  }

  /** The deltas since the last drain (to be merged into a store), and forget them. */
  drain(): Candle[] {
    const out = [...this.pending.values()];
    this.pending = new Map();
    this.drains++;
    return out;
  }
}

/** Brute force: the candles of a list of trades (time-ordered per symbol), for tests and imports. */
export function candlesOf(trades: readonly TradeTick[], intervals: readonly Interval[] = INTERVALS): Candle[] {
  const agg = new CandleAggregator(intervals);
  for (const t of trades) agg.add(t);
  return agg.drain();
}

export interface CandleQuery {
  symbol: string;
  interval: Interval;
  /** Inclusive bounds on openTimeUs. */
  fromUs?: number;
  toUs?: number;
  limit?: number;
}

/** Where candles are kept and read back. */
export interface CandleStore {
  /** Merges deltas (mergeCandle semantics) in the given order. */
  mergeDeltas(candles: readonly Candle[]): void | Promise<void>;
  /** Replaces candles (imports). */
  put(candles: readonly Candle[]): void | Promise<void>;
  query(q: CandleQuery): Candle[] | Promise<Candle[]>;
}

/**
 * The embedded default: candles in a SQLite table (better-sqlite3), merged with an upsert.
 * Synchronous (better-sqlite3 is), so call it from a worker or with small batches.
 */
export class SqliteCandleStore implements CandleStore {
  readonly db: Database.Database;
  private readonly ownsDb: boolean;
  private readonly mergeStmt: Database.Statement;
  private readonly putStmt: Database.Statement;
  private readonly queryStmt: Database.Statement;
  private readonly mergeMany: (c: readonly Candle[]) => void;
  private readonly putMany: (c: readonly Candle[]) => void;

  constructor(pathOrDb: string | Database.Database = ':memory:') {
    this.ownsDb = typeof pathOrDb === 'string';
    this.db = typeof pathOrDb === 'string' ? new Database(pathOrDb) : pathOrDb;
    if (this.ownsDb) this.db.pragma('journal_mode = WAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS candles (
      symbol TEXT NOT NULL, interval TEXT NOT NULL, open_time_us INTEGER NOT NULL,
      open_ticks INTEGER NOT NULL, high_ticks INTEGER NOT NULL, low_ticks INTEGER NOT NULL, close_ticks INTEGER NOT NULL,
      volume_lots INTEGER NOT NULL, quote_volume_units INTEGER NOT NULL, trade_count INTEGER NOT NULL,
      PRIMARY KEY (symbol, interval, open_time_us)) WITHOUT ROWID`);
    const cols = '(symbol, interval, open_time_us, open_ticks, high_ticks, low_ticks, close_ticks, volume_lots, quote_volume_units, trade_count)';
    const vals = 'VALUES (@symbol, @interval, @openTimeUs, @openTicks, @highTicks, @lowTicks, @closeTicks, @volumeLots, @quoteVolumeUnits, @tradeCount)';
    this.mergeStmt = this.db.prepare(`INSERT INTO candles ${cols} ${vals}
      ON CONFLICT (symbol, interval, open_time_us) DO UPDATE SET
        high_ticks = max(high_ticks, excluded.high_ticks), low_ticks = min(low_ticks, excluded.low_ticks),
        close_ticks = excluded.close_ticks, volume_lots = volume_lots + excluded.volume_lots,
        quote_volume_units = quote_volume_units + excluded.quote_volume_units, trade_count = trade_count + excluded.trade_count`);
    this.putStmt = this.db.prepare(`INSERT OR REPLACE INTO candles ${cols} ${vals}`);
    this.queryStmt = this.db.prepare(`SELECT symbol, interval, open_time_us AS openTimeUs, open_ticks AS openTicks,
      high_ticks AS highTicks, low_ticks AS lowTicks, close_ticks AS closeTicks, volume_lots AS volumeLots,
      quote_volume_units AS quoteVolumeUnits, trade_count AS tradeCount
      FROM candles WHERE symbol = ? AND interval = ? AND open_time_us BETWEEN ? AND ? ORDER BY open_time_us LIMIT ?`);
    this.mergeMany = this.db.transaction((cs: readonly Candle[]) => { for (const c of cs) this.mergeStmt.run(c); });
    this.putMany = this.db.transaction((cs: readonly Candle[]) => { for (const c of cs) this.putStmt.run(c); });
  }

  mergeDeltas(candles: readonly Candle[]): void {
    this.mergeMany(candles);
  }

  put(candles: readonly Candle[]): void {
    this.putMany(candles);
  }

  query(q: CandleQuery): Candle[] {
    if (!isInterval(q.interval)) throw new CandleError(`unknown interval ${String(q.interval)}`);
    return this.queryStmt.all(q.symbol, q.interval, q.fromUs ?? Number.MIN_SAFE_INTEGER, q.toUs ?? Number.MAX_SAFE_INTEGER,
      q.limit ?? 1_000_000) as Candle[];
  }

  close(): void {
    if (this.ownsDb) this.db.close();
  }
}
