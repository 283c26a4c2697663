// /api/v1/market-data: symbols, ticker, recent trades, order book (L2 from the read model's mirror,
// fed by Depth events and seeded from the books' snapshot) and OHLCV candles (marketdata/candles.ts:
// an aggregator fed by the acked trades into a candle store; only trades since the gateway started,
// unless the store given already holds history).

import { CandleAggregator, INTERVALS, SqliteCandleStore, type CandleStore, type Interval } from '../../marketdata/candles.js';
import type { RestContext } from './context.js';
import type { Route, RouteContext } from './router.js';
import {
  Candle, isoOfUs, MarketTrade, MarketTradesQuery, OhlcvQuery, OrderBookOut, OrderBookQuery, ORDER_TYPES, SIDES, SymbolInfo, SymbolQuery, Ticker, toUs,
} from './schemas.js';
import { z } from 'zod';

export class MarketDataResource {
  readonly candles = new CandleAggregator(INTERVALS, { clampTime: true });
  readonly store: CandleStore;
  private readonly ownsStore: boolean;

  constructor(private readonly c: RestContext, store?: CandleStore) {
    this.ownsStore = store === undefined;
    this.store = store ?? new SqliteCandleStore(':memory:');
  }

  close(): void {
    if (this.ownsStore) (this.store as SqliteCandleStore).close();
  }

  routes(): Route[] {
    return [
      { method: 'get', path: '/api/v1/market-data/symbols', permission: 'market.read', tag: 'market-data', summary: 'Instruments', response: z.object({ data: z.array(SymbolInfo) }), handler: () => this.symbols() },
      { method: 'get', path: '/api/v1/market-data/ticker', permission: 'market.read', tag: 'market-data', summary: 'Top of book and last trade (one symbol or all)', query: SymbolQuery, response: z.object({ data: z.array(Ticker) }), handler: (ctx) => this.ticker(ctx) },
      { method: 'get', path: '/api/v1/market-data/trades', permission: 'market.read', tag: 'market-data', summary: 'Recent public trades, newest first', query: MarketTradesQuery, response: z.object({ data: z.array(MarketTrade) }), handler: (ctx) => this.trades(ctx) },
      { method: 'get', path: '/api/v1/market-data/orderbook', permission: 'market.read', tag: 'market-data', summary: 'L2 order book', query: OrderBookQuery, response: OrderBookOut, handler: (ctx) => this.orderbook(ctx) },
      { method: 'get', path: '/api/v1/market-data/ohlcv', permission: 'market.read', tag: 'market-data', summary: 'OHLCV candles', query: OhlcvQuery, response: z.object({ data: z.array(Candle), since: z.string() }), handler: (ctx) => this.ohlcv(ctx) },
    ];
  }

  private symbols(): { body: unknown } {
    const c = this.c;
    return {
      body: {
        data: [...c.byId.values()].map((i) => ({
          symbol: i.spec.symbol, instrument_id: i.spec.id, base_asset: i.spec.baseAsset, quote_asset: i.spec.quoteAsset,
          tick_size: i.spec.tickSize, lot_size: i.spec.lotSize, min_quantity: c.fmtQty(i, i.spec.minQtyLots), max_quantity: c.fmtQty(i, i.spec.maxQtyLots),
          min_price: c.fmtPrice(i, i.spec.minPriceTicks), max_price: c.fmtPrice(i, i.spec.maxPriceTicks),
          min_notional: c.fmtAsset(i.spec.quoteAsset, i.spec.minNotionalUnits), maker_fee_ppm: i.spec.makerFeePpm, taker_fee_ppm: i.spec.takerFeePpm,
          order_types: [...ORDER_TYPES],
        })),
      },
    };
  }

  private ticker(ctx: RouteContext): { body: unknown } {
    const c = this.c;
    const q = ctx.query as { symbol?: string };
    const infos = q.symbol !== undefined ? [c.instrument(q.symbol)] : [...c.byId.values()];
    return {
      body: {
        data: infos.map((i) => {
          const b = c.model.books.get(i.spec.id)!;
          return {
            symbol: i.spec.symbol, bid_price: b.bidQty > 0 ? c.fmtPrice(i, b.bidPx) : null, bid_quantity: b.bidQty > 0 ? c.fmtQty(i, b.bidQty) : null,
            ask_price: b.askQty > 0 ? c.fmtPrice(i, b.askPx) : null, ask_quantity: b.askQty > 0 ? c.fmtQty(i, b.askQty) : null,
            last_price: b.lastPx > 0 ? c.fmtPrice(i, b.lastPx) : null, last_quantity: b.lastQty > 0 ? c.fmtQty(i, b.lastQty) : null,
            volume: c.fmtQty(i, b.volumeLots), quote_volume: c.fmtAsset(i.spec.quoteAsset, b.quoteVolumeUnits), trade_count: b.tradeCount, engine_seq: b.engineSeq,
          };
        }),
      },
    };
  }

  private trades(ctx: RouteContext): { body: unknown } {
    const c = this.c;
    const q = ctx.query as { symbol: string; limit: number };
    const i = c.instrument(q.symbol);
    const list = c.model.books.get(i.spec.id)!.trades;
    const out = [];
    for (let k = list.length - 1; k >= 0 && out.length < q.limit; k--) {
      const t = list[k]!;
      out.push({ id: `${i.spec.id}-${t.tradeId}`, price: c.fmtPrice(i, t.priceTicks), quantity: c.fmtQty(i, t.qtyLots), taker_side: SIDES[t.takerSide] ?? 'buy', timestamp: isoOfUs(t.tsUs), engine_seq: t.seq });
    }
    return { body: { data: out } };
  }

  private orderbook(ctx: RouteContext): { body: unknown } {
    const c = this.c;
    const q = ctx.query as { symbol: string; depth: number };
    const i = c.instrument(q.symbol);
    const b = c.model.books.get(i.spec.id)!;
    const fmt = (l: [number, number, number]): [string, string, number] => [c.fmtPrice(i, l[0]), c.fmtQty(i, l[1]), l[2]];
    return { body: { symbol: i.spec.symbol, engine_seq: b.engineSeq, bids: c.model.levels(b, 0, q.depth).map(fmt), asks: c.model.levels(b, 1, q.depth).map(fmt) } };
  }

  private async ohlcv(ctx: RouteContext): Promise<{ body: unknown }> {
    const c = this.c;
    const q = ctx.query as { symbol: string; interval: Interval; start_time?: string; end_time?: string; limit: number };
    const i = c.instrument(q.symbol);
    if (this.candles.size > 0) await this.store.mergeDeltas(this.candles.drain());
    const from = toUs(q.start_time), to = toUs(q.end_time);
    const rows = await this.store.query({ symbol: i.spec.symbol, interval: q.interval, ...(from !== undefined ? { fromUs: from } : {}), ...(to !== undefined ? { toUs: to } : {}), limit: q.limit });
    const a = i.spec.quoteAsset;
    return {
      body: {
        data: rows.map((k) => ({
          open_time: new Date(Math.floor(k.openTimeUs / 1000)).toISOString(), open: c.fmtPrice(i, k.openTicks), high: c.fmtPrice(i, k.highTicks), low: c.fmtPrice(i, k.lowTicks),
          close: c.fmtPrice(i, k.closeTicks), volume: c.fmtQty(i, k.volumeLots), quote_volume: c.fmtAsset(a, k.quoteVolumeUnits), trade_count: k.tradeCount,
        })),
        since: c.sinceIso,
      },
    };
  }
}
