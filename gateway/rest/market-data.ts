// /api/v1/market-data: symbols, ticker, recent trades, order book (L2 from the read model's mirror,
// fed by Depth events and seeded from the books' snapshot) and OHLCV candles (candle-feed.ts: with
// the engine's data dir, a SQLite file kept exact across restarts and crashes by a watermark and a
// journal catch-up; without it, an in-memory store of the trades since the gateway started).
//
// With a MarketDataSink (persistence/redis.ts's RedisBus), each symbol's ticker and top of book are
// also written to Redis for other instances and services (MarketDataCache below). This instance's
// own answers always come from its local state: it owns the engine.

import type { Candle as CandleRow, Interval } from '../../marketdata/candles.js';
import type { CandleFeed } from './candle-feed.js';
import type { InstrumentInfo, RestContext } from './context.js';
import { problem } from './problem.js';
import type { Route, RouteContext } from './router.js';
import {
  Candle, HistorySource, isoOfUs, MarketTrade, MarketTradesQuery, OhlcvQuery, OrderBookOut, OrderBookQuery, ORDER_TYPES, SIDES, SymbolInfo, SymbolQuery, Ticker, toUs,
} from './schemas.js';
import { z } from 'zod';

/** How long /ohlcv waits for the start-up catch-up from the journal before answering 503. */
const CATCH_UP_WAIT_MS = 5000;

export class MarketDataResource {
  /** Null without a sink. */
  readonly cache: MarketDataCache | null;

  constructor(private readonly c: RestContext, readonly feed: CandleFeed, sink?: MarketDataSink, cacheOptions?: MarketDataCacheOptions) {
    this.cache = sink !== undefined ? new MarketDataCache(c, sink, cacheOptions) : null;
    this.cache?.start();
  }

  close(): void {
    this.cache?.stop();
    this.feed.close();
  }

  routes(): Route[] {
    return [
      { method: 'get', path: '/api/v1/market-data/symbols', permission: 'market.read', tag: 'market-data', summary: 'Instruments', response: z.object({ data: z.array(SymbolInfo) }), handler: () => this.symbols() },
      { method: 'get', path: '/api/v1/market-data/ticker', permission: 'market.read', tag: 'market-data', summary: 'Top of book and last trade (one symbol or all)', query: SymbolQuery, response: z.object({ data: z.array(Ticker) }), handler: (ctx) => this.ticker(ctx) },
      { method: 'get', path: '/api/v1/market-data/trades', permission: 'market.read', tag: 'market-data', summary: 'Recent public trades, newest first', query: MarketTradesQuery, response: z.object({ data: z.array(MarketTrade) }), handler: (ctx) => this.trades(ctx) },
      { method: 'get', path: '/api/v1/market-data/orderbook', permission: 'market.read', tag: 'market-data', summary: 'L2 order book', query: OrderBookQuery, response: OrderBookOut, handler: (ctx) => this.orderbook(ctx) },
      { method: 'get', path: '/api/v1/market-data/ohlcv', permission: 'market.read', tag: 'market-data', summary: 'OHLCV candles', query: OhlcvQuery, response: z.object({ data: z.array(Candle), since: z.string().nullable().meta({ description: 'null: the candles include every trade the engine made (persistent candle store, or PostgreSQL history); else candles before this time (when this gateway started, in-memory store) are missing' }), history_source: HistorySource }), handler: (ctx) => this.ohlcv(ctx) },
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
    return { body: { data: infos.map((i) => tickerOf(c, i)) } };
  }

  private trades(ctx: RouteContext): { body: unknown } {
    const c = this.c;
    const q = ctx.query as { symbol: string; limit: number };
    const i = c.instrument(q.symbol);
    const list = c.model.books.get(i.spec.id)!.trades;
    const out = [];
    for (let k = list.length - 1; k >= 0 && out.length < q.limit; k--) {
      const t = list.at(k);
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
    await this.current();
    const from = toUs(q.start_time), to = toUs(q.end_time);
    let rows = await this.feed.store.query({ symbol: i.spec.symbol, interval: q.interval, ...(from !== undefined ? { fromUs: from } : {}), ...(to !== undefined ? { toUs: to } : {}), limit: q.limit });
    let source: 'memory' | 'postgresql' = 'memory';
    if (c.history !== null) {
      // PostgreSQL's candles, except those that opened after the read model started: the read model
      // has all of their trades, PostgreSQL maybe not yet (replication lag).
      try {
        const pg = await c.history.candles(i.spec.symbol, q.interval, from, to, q.limit);
        const byOpen = new Map<number, CandleRow>();
        for (const k of pg) byOpen.set(k.openTimeUs, k);
        // A persistent store holds every trade of the journal: its candles win wherever it has one.
        const localFromUs = this.feed.persistent ? Number.MIN_SAFE_INTEGER : c.sinceUs;
        for (const k of rows) if (k.openTimeUs >= localFromUs || !byOpen.has(k.openTimeUs)) byOpen.set(k.openTimeUs, k);
        rows = [...byOpen.values()].sort((x, y) => x.openTimeUs - y.openTimeUs).slice(0, q.limit);
        source = 'postgresql';
      } catch (e) {
        c.log({ err: (e as Error).message }, 'rest: candle history query failed; answering from memory');
      }
    }
    const a = i.spec.quoteAsset;
    return {
      body: {
        data: rows.map((k) => ({
          open_time: new Date(Math.floor(k.openTimeUs / 1000)).toISOString(), open: c.fmtPrice(i, k.openTicks), high: c.fmtPrice(i, k.highTicks), low: c.fmtPrice(i, k.lowTicks),
          close: c.fmtPrice(i, k.closeTicks), volume: c.fmtQty(i, k.volumeLots), quote_volume: c.fmtAsset(a, k.quoteVolumeUnits), trade_count: k.tradeCount,
        })),
        since: source === 'postgresql' || this.feed.persistent ? null : c.sinceIso,
        history_source: source,
      },
    };
  }

  /** Waits for the start-up catch-up (bounded), then brings the store up to the last acked trade. */
  private current(): Promise<void> {
    return candlesCurrent(this.feed, this.c.log);
  }

}

/** One symbol's ticker as the REST API answers it (the Ticker schema). */
export function tickerOf(c: RestContext, i: InstrumentInfo): Record<string, string | number | null> {
  const b = c.model.books.get(i.spec.id)!;
  return {
    symbol: i.spec.symbol, bid_price: b.bidQty > 0 ? c.fmtPrice(i, b.bidPx) : null, bid_quantity: b.bidQty > 0 ? c.fmtQty(i, b.bidQty) : null,
    ask_price: b.askQty > 0 ? c.fmtPrice(i, b.askPx) : null, ask_quantity: b.askQty > 0 ? c.fmtQty(i, b.askQty) : null,
    last_price: b.lastPx > 0 ? c.fmtPrice(i, b.lastPx) : null, last_quantity: b.lastQty > 0 ? c.fmtQty(i, b.lastQty) : null,
    volume: c.fmtQty(i, b.volumeLots), quote_volume: c.fmtAsset(i.spec.quoteAsset, b.quoteVolumeUnits), trade_count: b.tradeCount, engine_seq: b.engineSeq,
  };
}

/** Where the cache goes (persistence/redis.ts's RedisBus fits: keys <prefix>ticker:<symbol>, <prefix>tob:<symbol>). */
export interface MarketDataSink {
  readonly ready: boolean;
  /** Fire-and-forget; false when not written. */
  setTicker(symbol: string, ticker: Record<string, string | number | null>, ttlMs?: number): boolean;
  setTopOfBook(symbol: string, tob: { bidPriceTicks: number; bidQtyLots: number; askPriceTicks: number; askQtyLots: number; tsUs: number }, ttlMs?: number): boolean;
}

export interface MarketDataCacheOptions {
  /** How often changed books are looked for, i.e. at most one write per symbol per interval. Default 100 ms. */
  intervalMs?: number;
  /** Entries expire after this, so a stopped instance's symbols disappear. Default 10,000 ms. */
  ttlMs?: number;
}

/**
 * Writes each symbol's ticker and top of book to the sink from a timer, not from the ack handler:
 * the ack path is untouched, and a busy book costs at most one pair of writes per interval. A book is
 * written when its engine seq moved since the last write, and re-written unchanged every ttlMs / 3
 * so that its entries live as long as this instance does. While the sink is not ready nothing is
 * written (the next tick after it is back writes what changed).
 */
export class MarketDataCache {
  private readonly intervalMs: number;
  private readonly ttlMs: number;
  private readonly written = new Map<number, { seq: number; atMs: number }>();
  private timer: NodeJS.Timeout | null = null;
  /** Symbols written (tests, metrics). */
  writes = 0;

  constructor(private readonly c: RestContext, private readonly sink: MarketDataSink, o: MarketDataCacheOptions = {}) {
    this.intervalMs = o.intervalMs ?? 100;
    this.ttlMs = o.ttlMs ?? 10_000;
    if (!(Number.isFinite(this.intervalMs) && this.intervalMs >= 1)) throw new RangeError(`market-data cache interval must be >= 1 ms, got ${this.intervalMs}`);
    if (!(Number.isFinite(this.ttlMs) && this.ttlMs >= 3 * this.intervalMs)) throw new RangeError(`market-data cache TTL must be >= 3 intervals, got ${this.ttlMs}`);
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.flush(Date.now()), this.intervalMs);
    this.timer.unref(); // the cache never keeps the process alive
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Writes the books that changed (or are due a refresh); returns how many. */
  flush(nowMs: number): number {
    if (!this.sink.ready) return 0;
    let n = 0;
    for (const i of this.c.byId.values()) {
      const b = this.c.model.books.get(i.spec.id)!;
      const last = this.written.get(i.spec.id);
      if (last !== undefined && last.seq === b.engineSeq && nowMs - last.atMs < this.ttlMs / 3) continue;
      const tob = { bidPriceTicks: b.bidPx, bidQtyLots: b.bidQty, askPriceTicks: b.askPx, askQtyLots: b.askQty, tsUs: nowMs * 1000 };
      const ok = this.sink.setTicker(i.spec.symbol, tickerOf(this.c, i), this.ttlMs) && this.sink.setTopOfBook(i.spec.symbol, tob, this.ttlMs);
      if (!ok) break; // the sink went away mid-way: the rest waits for the next tick
      this.written.set(i.spec.id, { seq: b.engineSeq, atMs: nowMs });
      n++;
    }
    this.writes += n;
    return n;
  }
}

/**
 * Waits (bounded) for the candle store's start-up catch-up from the journal, then brings it up to
 * the last acked trade; 503 `candles_unavailable` when it cannot (market data, portfolio performance).
 */
export async function candlesCurrent(f: CandleFeed, log: (fields: Record<string, unknown>, msg: string) => void): Promise<void> {
  if (!f.settled) {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      f.ready.then(() => false),
      new Promise<boolean>((res) => { timer = setTimeout(() => res(true), CATCH_UP_WAIT_MS); }),
    ]);
    clearTimeout(timer);
    if (timedOut) throw problem(503, 'candles_unavailable', 'candles are being caught up from the journal; retry shortly', {}, { 'retry-after': '1' });
  }
  if (f.failure !== null) throw problem(503, 'candles_unavailable', 'the candle store could not be caught up from the journal (see the log)');
  try {
    await f.sync();
  } catch (e) {
    log({ err: (e as Error).message }, 'rest: candle store not current');
    throw problem(503, 'candles_unavailable', 'the candle store cannot be written (see the log)', {}, { 'retry-after': '1' });
  }
}
