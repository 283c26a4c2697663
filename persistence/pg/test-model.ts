// Test support: an event-by-event model of the replicated tables (independent of the batch code in
// replication.ts), and a dump of the same tables from PostgreSQL in the same shape, for deepEqual.

import { candlesOf, type Candle, type TradeTick } from '../../marketdata/candles.js';
import type { InstrumentSpec } from '../../core/instrument.js';
import { EVENT_WORDS, EventType } from '../../core/types.js';
import type { Sql } from './db.js';
import { ORDER_TYPE_NAMES, SIDE_NAMES, TIF_NAMES, type ReplicationRecord } from './replication.js';

export type Row = Record<string, number | string | boolean | null>;
export interface TableDump { orders: Row[]; trades: Row[]; positions: Row[]; balances: Row[]; candles: Row[] }

interface ModelOrder {
  order_id: number; instrument_id: number; account_id: number; client_order_id: number; side: string; order_type: string;
  time_in_force: string; flags: number; price_ticks: number; stop_price_ticks: number; qty_lots: number; quote_qty_units: number;
  remaining_lots: number; filled_lots: number; filled_notional_units: number; fee_units: number; status: string;
  end_reason: number | null; triggered: boolean; expires_us: number | null; created_us: number; updated_us: number;
  created_seq: number; updated_seq: number;
}

/** The rows the events say, applying one event at a time. */
export function modelTables(records: readonly ReplicationRecord[], specs: readonly InstrumentSpec[], uptoSeq = Infinity): TableDump {
  const orders = new Map<number, ModelOrder>();
  const trades: Row[] = [];
  const positions = new Map<string, Row & Record<string, number>>();
  const balances = new Map<string, Row>();
  const ticks: TradeTick[] = [];
  const symbol = new Map(specs.map((s) => [s.id, s.symbol]));
  const statusOf = (o: ModelOrder): string => (o.filled_lots === 0 ? 'new' : o.remaining_lots === 0 ? 'filled' : 'partially_filled');
  const pos = (acc: number, inst: number): Row & Record<string, number> => {
    const k = `${acc}:${inst}`;
    let p = positions.get(k);
    if (!p) {
      p = { account_id: acc, instrument_id: inst, net_lots: 0, bought_lots: 0, sold_lots: 0, buy_notional_units: 0,
        sell_notional_units: 0, fee_units: 0, trade_count: 0, updated_us: 0, updated_seq: 0 };
      positions.set(k, p);
    }
    return p;
  };
  for (const r of records) {
    if (r.seq > uptoSeq) break;
    if (r.kind === 'balance') {
      balances.set(`${r.account}:${r.asset}`, { account_id: r.account, asset: r.asset, available_units: r.availableUnits,
        locked_units: r.lockedUnits, total_units: r.availableUnits + r.lockedUnits, updated_us: r.tsUs, updated_seq: r.seq });
      continue;
    }
    const w = r.words;
    for (let o = 0; o < w.length; o += EVENT_WORDS) {
      const type = w[o]!, seq = w[o + 1]!, ts = w[o + 2]!;
      const touch = (id: number): ModelOrder | undefined => {
        const m = orders.get(id);
        if (m) { m.updated_seq = seq; m.updated_us = ts; }
        return m;
      };
      if (type === EventType.Accepted) {
        orders.set(w[o + 3]!, {
          order_id: w[o + 3]!, instrument_id: r.instrumentId, account_id: w[o + 4]!, client_order_id: w[o + 5]!,
          side: SIDE_NAMES[w[o + 6]!]!, order_type: ORDER_TYPE_NAMES[w[o + 7]!]!, time_in_force: TIF_NAMES[w[o + 8]!]!,
          flags: w[o + 12]!, price_ticks: w[o + 9]!, stop_price_ticks: 0, qty_lots: w[o + 10]!, quote_qty_units: w[o + 11]!,
          remaining_lots: w[o + 10]!, filled_lots: 0, filled_notional_units: 0, fee_units: 0, status: 'new', end_reason: null,
          triggered: false, expires_us: w[o + 13]! === 0 ? null : w[o + 13]!, created_us: ts, updated_us: ts, created_seq: seq, updated_seq: seq,
        });
      } else if (type === EventType.Trade) {
        const px = w[o + 4]!, q = w[o + 5]!, n = w[o + 15]!;
        trades.push({ ts_us: ts, instrument_id: r.instrumentId, trade_id: w[o + 3]!, seq, price_ticks: px, qty_lots: q, notional_units: n,
          taker_side: SIDE_NAMES[w[o + 10]!]!, maker_order_id: w[o + 6]!, maker_account_id: w[o + 7]!, taker_order_id: w[o + 8]!,
          taker_account_id: w[o + 9]!, maker_fee_units: w[o + 11]!, taker_fee_units: w[o + 12]! });
        ticks.push({ symbol: symbol.get(r.instrumentId)!, tsUs: ts, priceTicks: px, qtyLots: q, notionalUnits: n });
        for (const [id, fee, rem] of [[w[o + 6]!, w[o + 11]!, w[o + 13]!], [w[o + 8]!, w[o + 12]!, w[o + 14]!]] as const) {
          const m = touch(id);
          if (!m) continue;
          m.filled_lots += q; m.filled_notional_units += n; m.fee_units += fee; m.remaining_lots = rem; m.status = statusOf(m);
        }
        const takerBuys = w[o + 10]! === 0;
        const buyer = pos(takerBuys ? w[o + 9]! : w[o + 7]!, r.instrumentId);
        const seller = pos(takerBuys ? w[o + 7]! : w[o + 9]!, r.instrumentId);
        buyer.net_lots += q; buyer.bought_lots += q; buyer.buy_notional_units += n; buyer.fee_units += takerBuys ? w[o + 12]! : w[o + 11]!;
        seller.net_lots -= q; seller.sold_lots += q; seller.sell_notional_units += n; seller.fee_units += takerBuys ? w[o + 11]! : w[o + 12]!;
        for (const p of [buyer, seller]) { p.trade_count++; p.updated_us = ts; p.updated_seq = seq; }
      } else if (type === EventType.Canceled || type === EventType.Expired) {
        const m = touch(w[o + 3]!);
        if (!m) continue;
        m.remaining_lots = 0; m.end_reason = w[o + 6]!;
        m.status = type === EventType.Canceled ? 'canceled' : (w[o + 6]! === 9 && w[o + 7]! > 0 ? 'filled' : 'expired');
      } else if (type === EventType.Replaced) {
        const m = touch(w[o + 3]!);
        if (!m) continue;
        m.price_ticks = w[o + 5]!; m.qty_lots = w[o + 6]!; m.remaining_lots = w[o + 7]!; m.status = statusOf(m);
      } else if (type === EventType.Decremented) {
        const m = touch(w[o + 3]!);
        if (!m) continue;
        m.remaining_lots = w[o + 6]!; m.status = statusOf(m);
      } else if (type === EventType.Triggered) {
        const m = touch(w[o + 3]!);
        if (!m) continue;
        m.triggered = true; m.stop_price_ticks = w[o + 5]!; m.remaining_lots = w[o + 9]!;
        if (w[o + 8]! > 0) m.price_ticks = w[o + 8]!;
        m.status = statusOf(m);
      } else if (type === EventType.Activated) {
        const m = touch(w[o + 3]!);
        if (!m) continue;
        m.qty_lots = w[o + 5]!; m.remaining_lots = w[o + 6]!; m.status = statusOf(m);
      }
    }
  }
  const candles: Row[] = candlesOf(ticks).map((c: Candle) => ({
    time_us: c.openTimeUs, symbol: c.symbol, timeframe: c.interval, open_ticks: c.openTicks, high_ticks: c.highTicks,
    low_ticks: c.lowTicks, close_ticks: c.closeTicks, volume_lots: c.volumeLots, quote_volume_units: c.quoteVolumeUnits,
    trades_count: c.tradeCount,
  }));
  const byKeys = (...ks: string[]) => (a: Row, b: Row): number => {
    for (const k of ks) {
      const x = a[k]!, y = b[k]!;
      if (x < y) return -1;
      if (x > y) return 1;
    }
    return 0;
  };
  return {
    orders: [...orders.values()].sort((a, b) => a.order_id - b.order_id) as unknown as Row[],
    trades: trades.sort(byKeys('instrument_id', 'trade_id')),
    positions: [...positions.values()].sort(byKeys('account_id', 'instrument_id')),
    balances: [...balances.values()].sort(byKeys('account_id', 'asset')),
    candles: candles.sort(byKeys('symbol', 'timeframe', 'time_us')),
  };
}

const US = (col: string): string => `(extract(epoch from ${col}) * 1000000)::int8`;

/** The same tables from PostgreSQL (search_path = the test's schema), in the model's shape. */
export async function dumpTables(sql: Sql): Promise<TableDump> {
  const orders = await sql.unsafe(`SELECT order_id, instrument_id, account_id, client_order_id, side, order_type, time_in_force, flags,
      price_ticks, stop_price_ticks, qty_lots, quote_qty_units, remaining_lots, filled_lots, filled_notional_units, fee_units, status,
      end_reason, triggered, ${US('expires_at')} AS expires_us, ${US('created_at')} AS created_us, ${US('updated_at')} AS updated_us,
      created_seq, updated_seq FROM orders ORDER BY order_id`);
  const trades = await sql.unsafe(`SELECT ${US('ts')} AS ts_us, instrument_id, trade_id, seq, price_ticks, qty_lots, notional_units,
      taker_side, maker_order_id, maker_account_id, taker_order_id, taker_account_id, maker_fee_units, taker_fee_units
      FROM trades ORDER BY instrument_id, trade_id`);
  const positions = await sql.unsafe(`SELECT account_id, instrument_id, net_lots, bought_lots, sold_lots, buy_notional_units,
      sell_notional_units, fee_units, trade_count, ${US('updated_at')} AS updated_us, updated_seq FROM positions ORDER BY account_id, instrument_id`);
  const balances = await sql.unsafe(`SELECT account_id, asset, available_units, locked_units, total_units, ${US('updated_at')} AS updated_us,
      updated_seq FROM account_balances ORDER BY account_id, asset`);
  const candles = await sql.unsafe(`SELECT ${US('time')} AS time_us, symbol, timeframe, open_ticks, high_ticks, low_ticks, close_ticks,
      volume_lots, quote_volume_units, trades_count FROM market_data ORDER BY symbol, timeframe, time`);
  const plain = (rows: readonly Record<string, unknown>[]): Row[] => rows.map((r) => {
    const o: Row = {};
    for (const [k, v] of Object.entries(r)) o[k] = v as Row[string];
    return o;
  });
  return { orders: plain(orders), trades: plain(trades), positions: plain(positions), balances: plain(balances), candles: plain(candles) };
}

/** First difference between two dumps, as text (null when equal): field-by-field messages. */
export function diffDumps(got: TableDump, want: TableDump): string | null {
  for (const t of ['orders', 'trades', 'positions', 'balances', 'candles'] as const) {
    const a = got[t], b = want[t];
    if (a.length !== b.length) return `${t}: ${a.length} rows, expected ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const keys = new Set([...Object.keys(a[i]!), ...Object.keys(b[i]!)]);
      for (const k of keys) {
        if (a[i]![k] !== b[i]![k]) return `${t} row ${i} (${JSON.stringify(b[i])}): ${k} = ${String(a[i]![k])}, expected ${String(b[i]![k])}`;
      }
    }
  }
  return null;
}
