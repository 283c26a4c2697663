// History from PostgreSQL for the REST read endpoints (when the engine replicates: DATABASE_URL;
// persistence/pg/replicator.ts writes orders, trades and market_data). Read-only, parameterized
// queries only, always restricted to the accounts the caller passes (the resources pass only the
// principal's own). Rows come back as the read model's records, so the resources format them the
// same way whatever the source. PostgreSQL trails the engine by the replication lag (usually a few
// hundred ms): the resources merge these rows with the in-memory read model, which wins for any
// order or fill it still holds.

import { connect, isoMicros, sqlUsOfTimestamp as US, type Sql } from '../../persistence/pg/db.js';
import type { Candle, Interval } from '../../marketdata/candles.js';
import type { OrderRecord, OrderStatus, TradeRecord } from './read-model.js';
import { ORDER_TYPES, TIFS } from './schemas.js';

/** Statuses of terminated orders as the replicator writes them. */
export const TERMINATED_STATUSES: readonly OrderStatus[] = ['filled', 'canceled', 'expired'];

export interface HistoryOptions {
  url: string;
  /** search_path schema (PGSCHEMA; tests). */
  schema?: string;
  /** Replicator checkpoint row. Default 'engine'. */
  checkpointName?: string;
  /** Pool size. Default 4. */
  max?: number;
}

export interface OrderFilter {
  accounts: readonly number[];
  statuses: readonly OrderStatus[];
  instrumentId: number;
  side: number;
  fromUs: number | undefined;
  toUs: number | undefined;
  /** Only ids below this (0 = none). */
  beforeId: number;
  limit: number;
}

/** Fill order key: (seq, tradeId, taker after maker). Unique per account and fill. */
export interface FillKey { seq: number; tradeId: number; liq: number }

export interface TradeFilter {
  accounts: readonly number[];
  instrumentId: number;
  side: number;
  orderId: number;
  fromUs: number | undefined;
  toUs: number | undefined;
  before: FillKey | null;
  limit: number;
}

export interface SummaryRow { account: number; instrumentId: number; n: number; bq: number; sq: number; bn: number; sn: number; fee: number; mk: number; tk: number }

const SIDE_NAMES = ['buy', 'sell'];

export class PgHistory {
  readonly sql: Sql;
  private readonly cp: string;

  constructor(o: HistoryOptions) {
    this.sql = connect(o.url, { max: o.max ?? 4, applicationName: 'trading-engine-rest', ...(o.schema !== undefined ? { schema: o.schema } : {}) });
    this.cp = o.checkpointName ?? 'engine';
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 1 }).catch(() => {});
  }

  /** The last seq PostgreSQL holds (0 before the first batch). */
  async replicatedSeq(): Promise<number> {
    const r = await this.sql`SELECT seq FROM replication_checkpoint WHERE name = ${this.cp}`;
    return r.length === 0 ? 0 : Number(r[0]!.seq);
  }

  async orders(f: OrderFilter): Promise<OrderRecord[]> {
    const sql = this.sql;
    if (f.accounts.length === 0 || f.statuses.length === 0) return [];
    const rows = await sql`SELECT order_id, instrument_id, account_id, client_order_id, client_order_text, side, order_type, time_in_force, flags, price_ticks,
        stop_price_ticks, qty_lots, quote_qty_units, remaining_lots, filled_lots, filled_notional_units, fee_units, status, end_reason,
        triggered, ${sql.unsafe(US('expires_at'))} AS expires_us, ${sql.unsafe(US('created_at'))} AS created_us,
        ${sql.unsafe(US('updated_at'))} AS updated_us, updated_seq
      FROM orders
      WHERE account_id IN ${sql(f.accounts as number[])} AND status IN ${sql(f.statuses as string[])}
        ${f.instrumentId !== 0 ? sql`AND instrument_id = ${f.instrumentId}` : sql``}
        ${f.side >= 0 ? sql`AND side = ${SIDE_NAMES[f.side]!}` : sql``}
        ${f.fromUs !== undefined ? sql`AND created_at >= ${isoMicros(f.fromUs)}::timestamptz` : sql``}
        ${f.toUs !== undefined ? sql`AND created_at <= ${isoMicros(f.toUs)}::timestamptz` : sql``}
        ${f.beforeId > 0 ? sql`AND order_id < ${f.beforeId}` : sql``}
      ORDER BY order_id DESC LIMIT ${f.limit}`;
    return rows.map(orderOfRow);
  }

  /** One order by id, whoever owns it (the caller authorizes on `account`). */
  async order(id: number): Promise<OrderRecord | null> {
    const sql = this.sql;
    const rows = await sql`SELECT order_id, instrument_id, account_id, client_order_id, client_order_text, side, order_type, time_in_force, flags, price_ticks,
        stop_price_ticks, qty_lots, quote_qty_units, remaining_lots, filled_lots, filled_notional_units, fee_units, status, end_reason,
        triggered, ${sql.unsafe(US('expires_at'))} AS expires_us, ${sql.unsafe(US('created_at'))} AS created_us,
        ${sql.unsafe(US('updated_at'))} AS updated_us, updated_seq
      FROM orders WHERE order_id = ${id}`;
    return rows.length === 0 ? null : orderOfRow(rows[0]!);
  }

  /** The accounts' fills (a trade row gives a maker fill and a taker fill), newest first by FillKey. */
  async fills(f: TradeFilter): Promise<TradeRecord[]> {
    const sql = this.sql;
    if (f.accounts.length === 0) return [];
    const accts = f.accounts as number[];
    const b = f.before;
    const rows = await sql`SELECT * FROM (
        SELECT instrument_id, trade_id, seq, price_ticks, qty_lots, notional_units, taker_side AS side, taker_order_id AS order_id,
          taker_account_id AS account_id, taker_fee_units AS fee_units, 1 AS liq, ${sql.unsafe(US('ts'))} AS ts_us
        FROM trades WHERE taker_account_id IN ${sql(accts)}
        UNION ALL
        SELECT instrument_id, trade_id, seq, price_ticks, qty_lots, notional_units, CASE taker_side WHEN 'buy' THEN 'sell' ELSE 'buy' END,
          maker_order_id, maker_account_id, maker_fee_units, 0, ${sql.unsafe(US('ts'))}
        FROM trades WHERE maker_account_id IN ${sql(accts)}
      ) f WHERE true
        ${f.instrumentId !== 0 ? sql`AND instrument_id = ${f.instrumentId}` : sql``}
        ${f.side >= 0 ? sql`AND side = ${SIDE_NAMES[f.side]!}` : sql``}
        ${f.orderId !== 0 ? sql`AND order_id = ${f.orderId}` : sql``}
        ${f.fromUs !== undefined ? sql`AND ts_us >= ${f.fromUs}` : sql``}
        ${f.toUs !== undefined ? sql`AND ts_us <= ${f.toUs}` : sql``}
        ${b !== null ? sql`AND (seq, trade_id, liq) < (${b.seq}::int8, ${b.tradeId}::int8, ${b.liq}::int4)` : sql``}
      ORDER BY seq DESC, trade_id DESC, liq DESC LIMIT ${f.limit}`;
    return rows.map(fillOfRow);
  }

  /** One trade's fill of one of `accounts` (the taker's if the account was on both sides). */
  async fill(instrumentId: number, tradeId: number, accounts: readonly number[]): Promise<TradeRecord | null> {
    const sql = this.sql;
    if (accounts.length === 0) return null;
    const accts = accounts as number[];
    const r = await sql`SELECT instrument_id, trade_id, seq, price_ticks, qty_lots, notional_units, ${sql.unsafe(US('ts'))} AS ts_us, taker_side,
        maker_order_id, maker_account_id, taker_order_id, taker_account_id, maker_fee_units, taker_fee_units
      FROM trades WHERE instrument_id = ${instrumentId} AND trade_id = ${tradeId}
        AND (taker_account_id IN ${sql(accts)} OR maker_account_id IN ${sql(accts)}) LIMIT 1`;
    if (r.length === 0) return null;
    const t = r[0]!;
    const taker = accts.includes(Number(t.taker_account_id));
    return fillOfRow({
      instrument_id: t.instrument_id, trade_id: t.trade_id, seq: t.seq, price_ticks: t.price_ticks, qty_lots: t.qty_lots, notional_units: t.notional_units,
      side: taker ? t.taker_side : t.taker_side === 'buy' ? 'sell' : 'buy', order_id: taker ? t.taker_order_id : t.maker_order_id,
      account_id: taker ? t.taker_account_id : t.maker_account_id, fee_units: taker ? t.taker_fee_units : t.maker_fee_units, liq: taker ? 1 : 0, ts_us: t.ts_us,
    });
  }

  /**
   * Per account and instrument totals of the accounts' fills, in one statement (one snapshot), with
   * the checkpoint seq they are complete up to: the caller adds its in-memory fills above that seq.
   */
  async summary(accounts: readonly number[], instrumentId: number, fromUs: number | undefined, toUs: number | undefined): Promise<{ rows: SummaryRow[]; seq: number }> {
    const sql = this.sql;
    if (accounts.length === 0) return { rows: [], seq: await this.replicatedSeq() };
    const accts = accounts as number[];
    const r = await sql`WITH cp AS (SELECT coalesce((SELECT seq FROM replication_checkpoint WHERE name = ${this.cp}), 0) AS seq),
      f AS (
        SELECT instrument_id, taker_account_id AS account_id, taker_side AS side, qty_lots, notional_units, taker_fee_units AS fee_units, 1 AS liq, ts
        FROM trades WHERE taker_account_id IN ${sql(accts)}
        UNION ALL
        SELECT instrument_id, maker_account_id, CASE taker_side WHEN 'buy' THEN 'sell' ELSE 'buy' END, qty_lots, notional_units, maker_fee_units, 0, ts
        FROM trades WHERE maker_account_id IN ${sql(accts)}
      )
      SELECT (SELECT seq FROM cp) AS cp_seq, s.* FROM (SELECT 1) one LEFT JOIN (
        SELECT account_id, instrument_id, count(*)::int8 AS n,
          coalesce(sum(qty_lots) FILTER (WHERE side = 'buy'), 0)::int8 AS bq, coalesce(sum(qty_lots) FILTER (WHERE side = 'sell'), 0)::int8 AS sq,
          coalesce(sum(notional_units) FILTER (WHERE side = 'buy'), 0)::int8 AS bn, coalesce(sum(notional_units) FILTER (WHERE side = 'sell'), 0)::int8 AS sn,
          sum(fee_units)::int8 AS fee, count(*) FILTER (WHERE liq = 0)::int8 AS mk, count(*) FILTER (WHERE liq = 1)::int8 AS tk
        FROM f WHERE true
          ${instrumentId !== 0 ? sql`AND instrument_id = ${instrumentId}` : sql``}
          ${fromUs !== undefined ? sql`AND ts >= ${isoMicros(fromUs)}::timestamptz` : sql``}
          ${toUs !== undefined ? sql`AND ts <= ${isoMicros(toUs)}::timestamptz` : sql``}
        GROUP BY account_id, instrument_id
      ) s ON true`;
    const seq = r.length === 0 ? 0 : Number(r[0]!.cp_seq);
    const rows: SummaryRow[] = [];
    for (const x of r) {
      if (x.account_id === null) continue;
      rows.push({ account: Number(x.account_id), instrumentId: Number(x.instrument_id), n: Number(x.n), bq: Number(x.bq), sq: Number(x.sq), bn: Number(x.bn), sn: Number(x.sn), fee: Number(x.fee), mk: Number(x.mk), tk: Number(x.tk) });
    }
    return { rows, seq };
  }

  /** The engine's own candles (exchange 'engine'), oldest first, like CandleStore.query. */
  async candles(symbol: string, interval: Interval, fromUs: number | undefined, toUs: number | undefined, limit: number): Promise<Candle[]> {
    const sql = this.sql;
    const rows = await sql`SELECT ${sql.unsafe(US('time'))} AS open_us, open_ticks, high_ticks, low_ticks, close_ticks, volume_lots, quote_volume_units, trades_count
      FROM market_data WHERE symbol = ${symbol} AND exchange = 'engine' AND timeframe = ${interval}
        ${fromUs !== undefined ? sql`AND time >= ${isoMicros(fromUs)}::timestamptz` : sql``}
        ${toUs !== undefined ? sql`AND time <= ${isoMicros(toUs)}::timestamptz` : sql``}
      ORDER BY time LIMIT ${limit}`;
    return rows.map((k) => ({
      symbol, interval, openTimeUs: Number(k.open_us), openTicks: Number(k.open_ticks), highTicks: Number(k.high_ticks), lowTicks: Number(k.low_ticks),
      closeTicks: Number(k.close_ticks), volumeLots: Number(k.volume_lots), quoteVolumeUnits: Number(k.quote_volume_units), tradeCount: Number(k.trades_count),
    }));
  }
}

function orderOfRow(x: Record<string, unknown>): OrderRecord {
  const type = ORDER_TYPES.indexOf(String(x.order_type) as (typeof ORDER_TYPES)[number]);
  // The client's string when the order had one (REST; replicated since migration 004), else the
  // engine's integer client id (binary orders; rows replicated before 004), else none.
  const cid = Number(x.client_order_id);
  const text = typeof x.client_order_text === 'string' && x.client_order_text !== '' ? x.client_order_text : null;
  return {
    id: Number(x.order_id), account: Number(x.account_id), instrumentId: Number(x.instrument_id), clientOrderId: text ?? (cid !== 0 ? String(cid) : null),
    side: SIDE_NAMES.indexOf(String(x.side)), orderType: Math.max(0, type), effectiveType: Math.max(0, type),
    tif: Math.max(0, TIFS.indexOf(String(x.time_in_force) as (typeof TIFS)[number])), flags: Number(x.flags), priceTicks: Number(x.price_ticks),
    stopPriceTicks: Number(x.stop_price_ticks), qtyLots: Number(x.qty_lots), quoteQtyUnits: Number(x.quote_qty_units), expireTsUs: Number(x.expires_us ?? 0),
    filledLots: Number(x.filled_lots), remainingLots: Number(x.remaining_lots), filledNotionalUnits: Number(x.filled_notional_units), feeUnits: Number(x.fee_units),
    status: String(x.status) as OrderStatus, triggered: x.triggered === true, rejectReason: 0, endReason: Number(x.end_reason ?? 0),
    createdUs: Number(x.created_us), updatedUs: Number(x.updated_us), lastSeq: Number(x.updated_seq),
    // Not replicated (the orders table has no columns for them): answered as null.
    displayQtyLots: 0, trailOffset: 0, limitOffsetTicks: 0, linkId: 0, stpMode: 0, stpGroup: 0,
  };
}

function fillOfRow(x: Record<string, unknown>): TradeRecord {
  const instrumentId = Number(x.instrument_id), tradeId = Number(x.trade_id);
  return {
    id: `${instrumentId}-${tradeId}`, fillNo: 0, instrumentId, tradeId, account: Number(x.account_id), orderId: Number(x.order_id),
    side: SIDE_NAMES.indexOf(String(x.side)), liquidity: Number(x.liq) === 1 ? 'taker' : 'maker', priceTicks: Number(x.price_ticks),
    qtyLots: Number(x.qty_lots), notionalUnits: Number(x.notional_units), feeUnits: Number(x.fee_units), tsUs: Number(x.ts_us), seq: Number(x.seq),
  };
}

/** A fill's key (see FillKey). */
export function fillKey(t: TradeRecord): FillKey {
  return { seq: t.seq, tradeId: t.tradeId, liq: t.liquidity === 'taker' ? 1 : 0 };
}

/** Descending order of fills by key. */
export function compareFillsDesc(a: FillKey, b: FillKey): number {
  return b.seq - a.seq || b.tradeId - a.tradeId || b.liq - a.liq;
}

/** History cursors of /trades: `seq-tradeId-m|t`. */
export function formatFillCursor(k: FillKey): string {
  return `${k.seq}-${k.tradeId}-${k.liq === 1 ? 't' : 'm'}`;
}

export function parseFillCursor(s: string): FillKey | null {
  const m = /^([1-9][0-9]{0,15})-([1-9][0-9]{0,15})-([mt])$/.exec(s);
  return m === null ? null : { seq: Number(m[1]), tradeId: Number(m[2]), liq: m[3] === 't' ? 1 : 0 };
}
