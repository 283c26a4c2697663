// Imported historical market data in PostgreSQL (contract in marketdata/history-store.ts):
// candles in market_data with exchange = the source name, trades in historical_trades (003). The
// engine's own series (exchange 'engine' and the `trades` table) are only read here, for exports:
// the replicator owns them and merges deltas into them, so an import must never write there.
//
// A write is one transaction over batches of multi-row upserts (INSERT ... SELECT FROM unnest(...)
// ON CONFLICT DO UPDATE ... WHERE the values differ): rows already stored exactly so are left alone,
// and RETURNING (xmax = 0) tells inserted rows from updated ones. Reads use a cursor over one
// statement: one snapshot, a page in memory at a time.

import type { Candle } from '../../marketdata/candles.js';
import type { HistoricalTrade } from '../../marketdata/csv.js';
import {
  ENGINE_SOURCE, HistoryStoreError, type CandleRange, type HistoryInstrument, type HistoryStore, type TradeRange, type WriteCounts,
} from '../../marketdata/history-store.js';
import { connect, sqlTimestampOfUs as TS, sqlUsOfTimestamp as US, type Sql } from './db.js';
import { migrate } from './migrate.js';

/** Rows per statement: large enough to amortise the round trip, small enough for modest parameter arrays. */
export const PG_WRITE_BATCH_ROWS = 5000;


export interface PgHistoryOptions {
  url: string;
  /** search_path schema (PGSCHEMA); default the server's. */
  schema?: string;
  /** Run the migrations first (default true): an import may come before the engine ever ran. */
  migrate?: boolean;
}

export class PgHistoryStore implements HistoryStore {
  readonly description: string;

  private constructor(private readonly sql: Sql, description: string) {
    this.description = description;
  }

  static async open(o: PgHistoryOptions): Promise<PgHistoryStore> {
    const sql = connect(o.url, { applicationName: 'trading-engine-marketdata', ...(o.schema !== undefined ? { schema: o.schema } : {}) });
    try {
      if (o.migrate !== false) await migrate(sql);
    } catch (e) {
      await sql.end({ timeout: 1 }).catch(() => {});
      throw e;
    }
    const where = `${o.url.replace(/\/\/[^@]*@/, '//***@')}${o.schema !== undefined ? ` schema ${o.schema}` : ''}`;
    return new PgHistoryStore(sql, `postgres ${where}`);
  }

  async writeCandles(source: string, inst: HistoryInstrument, candles: readonly Candle[]): Promise<WriteCounts> {
    notEngine(source);
    return this.sql.begin(async (txn) => {
      const tx = txn as unknown as Sql;
      const counts: WriteCounts = { inserted: 0, updated: 0, unchanged: 0 };
      for (let i = 0; i < candles.length; i += PG_WRITE_BATCH_ROWS) {
        const rows = candles.slice(i, i + PG_WRITE_BATCH_ROWS);
        const col = <K extends keyof Candle>(k: K): Array<Candle[K]> => rows.map((r) => r[k]);
        const r = await tx`WITH up AS (
            INSERT INTO market_data AS m (time, symbol, exchange, timeframe, instrument_id, open_ticks, high_ticks, low_ticks,
              close_ticks, volume_lots, quote_volume_units, trades_count)
            SELECT ${tx.unsafe(TS('t'))}, ${inst.symbol}, ${source}, tf, ${inst.id}, o, h, l, c, v, qv, n
            FROM unnest(${col('openTimeUs')}::int8[], ${col('interval')}::text[], ${col('openTicks')}::int8[], ${col('highTicks')}::int8[],
              ${col('lowTicks')}::int8[], ${col('closeTicks')}::int8[], ${col('volumeLots')}::int8[], ${col('quoteVolumeUnits')}::int8[],
              ${col('tradeCount')}::int8[]) AS d(t, tf, o, h, l, c, v, qv, n)
            ON CONFLICT (time, symbol, exchange, timeframe) DO UPDATE SET instrument_id = EXCLUDED.instrument_id,
              open_ticks = EXCLUDED.open_ticks, high_ticks = EXCLUDED.high_ticks, low_ticks = EXCLUDED.low_ticks,
              close_ticks = EXCLUDED.close_ticks, volume_lots = EXCLUDED.volume_lots,
              quote_volume_units = EXCLUDED.quote_volume_units, trades_count = EXCLUDED.trades_count
            WHERE (m.instrument_id, m.open_ticks, m.high_ticks, m.low_ticks, m.close_ticks, m.volume_lots, m.quote_volume_units, m.trades_count)
              IS DISTINCT FROM (EXCLUDED.instrument_id, EXCLUDED.open_ticks, EXCLUDED.high_ticks, EXCLUDED.low_ticks, EXCLUDED.close_ticks,
                EXCLUDED.volume_lots, EXCLUDED.quote_volume_units, EXCLUDED.trades_count)
            RETURNING (xmax = 0) AS inserted)
          SELECT count(*) FILTER (WHERE inserted)::int8 AS ins, count(*) FILTER (WHERE NOT inserted)::int8 AS upd FROM up`;
        addCounts(counts, rows.length, Number(r[0]!.ins), Number(r[0]!.upd), 0);
      }
      return counts;
    });
  }

  async writeTrades(source: string, inst: HistoryInstrument, trades: readonly HistoricalTrade[]): Promise<WriteCounts> {
    notEngine(source);
    return this.sql.begin(async (txn) => {
      const tx = txn as unknown as Sql;
      const counts: WriteCounts = { inserted: 0, updated: 0, unchanged: 0 };
      for (let i = 0; i < trades.length; i += PG_WRITE_BATCH_ROWS) {
        const rows = trades.slice(i, i + PG_WRITE_BATCH_ROWS);
        const ids = rows.map((t) => t.tradeId), ts = rows.map((t) => t.tsUs);
        // The key holds ts (hypertables need it): a trade id stored under another time is removed
        // first, so an id is stored once and a corrected time counts as an update.
        const moved = await tx`DELETE FROM historical_trades h USING unnest(${ids}::int8[], ${ts}::int8[]) AS d(id, t)
          WHERE h.source = ${source} AND h.symbol = ${inst.symbol} AND h.trade_id = d.id AND h.ts <> ${tx.unsafe(TS('d.t'))}
          RETURNING h.trade_id`;
        const r = await tx`WITH up AS (
            INSERT INTO historical_trades AS h (ts, source, symbol, trade_id, instrument_id, price_ticks, qty_lots, notional_units, taker_side)
            SELECT ${tx.unsafe(TS('t'))}, ${source}, ${inst.symbol}, id, ${inst.id}, p, q, n, side
            FROM unnest(${ids}::int8[], ${ts}::int8[], ${rows.map((t) => t.priceTicks)}::int8[], ${rows.map((t) => t.qtyLots)}::int8[],
              ${rows.map((t) => t.notionalUnits)}::int8[], ${rows.map((t) => (t.takerSide === 1 ? 'sell' : 'buy'))}::text[])
              AS d(id, t, p, q, n, side)
            ON CONFLICT (source, symbol, trade_id, ts) DO UPDATE SET instrument_id = EXCLUDED.instrument_id,
              price_ticks = EXCLUDED.price_ticks, qty_lots = EXCLUDED.qty_lots, notional_units = EXCLUDED.notional_units,
              taker_side = EXCLUDED.taker_side
            WHERE (h.instrument_id, h.price_ticks, h.qty_lots, h.notional_units, h.taker_side)
              IS DISTINCT FROM (EXCLUDED.instrument_id, EXCLUDED.price_ticks, EXCLUDED.qty_lots, EXCLUDED.notional_units, EXCLUDED.taker_side)
            RETURNING (xmax = 0) AS inserted)
          SELECT count(*) FILTER (WHERE inserted)::int8 AS ins, count(*) FILTER (WHERE NOT inserted)::int8 AS upd FROM up`;
        addCounts(counts, rows.length, Number(r[0]!.ins), Number(r[0]!.upd), moved.length);
      }
      return counts;
    });
  }

  async *candlePages(range: CandleRange, pageRows: number): AsyncIterable<Candle[]> {
    const sql = this.sql;
    const q = sql`SELECT ${sql.unsafe(US('time'))} AS open_us, open_ticks, high_ticks, low_ticks, close_ticks, volume_lots,
        quote_volume_units, trades_count
      FROM market_data WHERE symbol = ${range.symbol} AND exchange = ${range.source} AND timeframe = ${range.interval}
        ${range.fromUs !== undefined ? sql`AND time >= 'epoch'::timestamptz + ${range.fromUs}::int8 * interval '1 microsecond'` : sql``}
        ${range.toUs !== undefined ? sql`AND time <= 'epoch'::timestamptz + ${range.toUs}::int8 * interval '1 microsecond'` : sql``}
      ORDER BY time`;
    for await (const rows of q.cursor(pageRows)) {
      yield rows.map((k) => ({
        symbol: range.symbol, interval: range.interval, openTimeUs: Number(k.open_us), openTicks: Number(k.open_ticks),
        highTicks: Number(k.high_ticks), lowTicks: Number(k.low_ticks), closeTicks: Number(k.close_ticks), volumeLots: Number(k.volume_lots),
        quoteVolumeUnits: Number(k.quote_volume_units), tradeCount: Number(k.trades_count),
      }));
    }
  }

  async *tradePages(range: TradeRange, inst: HistoryInstrument, pageRows: number): AsyncIterable<HistoricalTrade[]> {
    const sql = this.sql;
    const bounds = sql`${range.fromUs !== undefined ? sql`AND ts >= 'epoch'::timestamptz + ${range.fromUs}::int8 * interval '1 microsecond'` : sql``}
      ${range.toUs !== undefined ? sql`AND ts <= 'epoch'::timestamptz + ${range.toUs}::int8 * interval '1 microsecond'` : sql``}`;
    // The engine's own trades (one row per fill pair, keyed by instrument id) export in the same layout.
    const q = range.source === ENGINE_SOURCE
      ? sql`SELECT trade_id, ${sql.unsafe(US('ts'))} AS ts_us, price_ticks, qty_lots, notional_units, taker_side
          FROM trades WHERE instrument_id = ${inst.id} ${bounds} ORDER BY ts, trade_id`
      : sql`SELECT trade_id, ${sql.unsafe(US('ts'))} AS ts_us, price_ticks, qty_lots, notional_units, taker_side
          FROM historical_trades WHERE source = ${range.source} AND symbol = ${range.symbol} ${bounds} ORDER BY ts, trade_id`;
    for await (const rows of q.cursor(pageRows)) {
      yield rows.map((t) => ({
        symbol: range.symbol, tradeId: Number(t.trade_id), tsUs: Number(t.ts_us), priceTicks: Number(t.price_ticks),
        qtyLots: Number(t.qty_lots), notionalUnits: Number(t.notional_units), takerSide: t.taker_side === 'sell' ? 1 : 0,
      }));
    }
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 2 });
  }
}

function notEngine(source: string): void {
  if (source === ENGINE_SOURCE) throw new HistoryStoreError(`source '${ENGINE_SOURCE}' is the engine's own series, written by the replicator only`);
}

/** `moved`: rows deleted because their id was stored under another time, then inserted again. */
function addCounts(c: WriteCounts, rows: number, inserted: number, updated: number, moved: number): void {
  c.inserted += inserted - moved;
  c.updated += updated + moved;
  c.unchanged += rows - inserted - updated;
}
