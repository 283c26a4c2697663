// JSON streams over uWS pub/sub (the `/ws/stream` socket): market data per symbol (trades, ticker =
// top of book + last trade, order book = snapshot on subscribe then sequenced deltas) and, for an
// authenticated principal, per account order updates, fills and balances. Message shapes:
// docs/gateway.md.
//
// Everything here is fed from engine Acks (durable), one command at a time: a command's Depth
// events become ONE delta, so a client never sees half a command (a book crossed mid-match).
// The gateway keeps an L2 mirror per instrument from the Depth events (seeded from the books'
// snapshot at start, so a restart is seamless); `seq` of the book channel counts the deltas of that
// instrument, and a snapshot carries the seq it is current at: a client applies deltas seq+1, seq+2,
// ... and resubscribes (or sends {"op":"snapshot"}) on a gap.
//
// Slow consumers never slow the engine: publishing is a copy into each socket's buffer. After each
// turn that published, sockets whose buffered amount is over the limit lose their market-data
// subscriptions (messages dropped) and get a "resync" notice and fresh snapshots once drained; a
// socket that falls behind on an account topic (orders, fills, balances) is closed with a reason,
// as losing those silently would mislead.

import { EVR_TYPE_DONE } from '../core/command-codec.js';
import { formatDecimal, lotsToQty, ticksToPrice } from '../core/fixed.js';
import type { InstrumentSpec } from '../core/instrument.js';
import { EventType } from '../core/types.js';
import type { Ack } from './engine.js';
import type { Ledger } from './ledger.js';
import type { AccountUpdates, FillUpdate, OrderUpdate } from './reports.js';
import { CloseCode, type Session } from './sessions.js';

/** uWS app's publishing side. */
export interface Publisher {
  publish(topic: string, message: string, isBinary?: boolean): boolean;
  numSubscribers(topic: string): number;
}

export const MARKET_CHANNELS = ['book', 'trades', 'ticker'] as const;
export const ACCOUNT_CHANNELS = ['orders', 'fills', 'balances'] as const;
/** Channels that exist but have no data source yet (strategies arrive in a later issue). */
export const UNAVAILABLE_CHANNELS = ['signals', 'strategy_status'] as const;

/**
 * Cross-instance fan-out (persistence/redis.ts's RedisBus fits): every market-data and account
 * message is also handed here, whether or not a local socket subscribes. Must not block or throw
 * (RedisBus publishes fire-and-forget and drops while Redis is away).
 */
export interface RemoteFanout {
  publishMarketData(symbol: string, message: string): boolean;
  publishAccountUpdate(account: number, message: string): boolean;
}

export interface StreamLimits {
  /** Buffered bytes above which a stream socket is a slow consumer. Default 1 MiB. */
  maxBufferedBytes: number;
}

interface BookState {
  spec: InstrumentSpec;
  bids: Map<number, number>;
  bidCount: Map<number, number>;
  asks: Map<number, number>;
  askCount: Map<number, number>;
  /** Deltas published so far (the book channel's seq). */
  seq: number;
  /** Engine seq of the last command applied. */
  engineSeq: number;
  bidPx: number; bidQty: number; askPx: number; askQty: number;
  lastPx: number; lastQty: number;
  topicBook: string; topicTrades: string; topicTicker: string;
  /** Depth changes of the current ack: side, price, qty, count. */
  pending: number[];
  tickerDirty: boolean;
}

export interface StreamSocket {
  subscribe(topic: string): boolean;
  unsubscribe(topic: string): boolean;
  send(message: string, isBinary?: boolean): number;
  getBufferedAmount(): number;
  end(code?: number, message?: string): void;
}

export class Streams implements AccountUpdates {
  private readonly books = new Map<number, BookState>();
  private readonly bySymbol = new Map<string, BookState>();
  /** account -> number of subscriptions to its account channels. */
  private readonly accountSubs = new Map<number, number>();
  private readonly assetDecimals = new Map<string, number>();
  readonly sessions = new Set<Session>();
  private published = false;
  private sweepScheduled = false;
  private readonly touchedAccounts: number[] = [];
  /** Counters. */
  resyncs = 0;
  slowClosed = 0;
  remoteErrors = 0;
  private remote: RemoteFanout | null = null;

  /** Also publish everything to `r` (null: stop). */
  setRemote(r: RemoteFanout | null): void {
    this.remote = r;
  }

  constructor(
    instruments: readonly InstrumentSpec[],
    private readonly ledger: Ledger,
    private readonly pub: Publisher,
    private readonly socketOf: (s: Session) => StreamSocket | null,
    readonly limits: StreamLimits = { maxBufferedBytes: 1 << 20 },
  ) {
    for (const spec of instruments) {
      const b: BookState = {
        spec, bids: new Map(), bidCount: new Map(), asks: new Map(), askCount: new Map(), seq: 0, engineSeq: 0,
        bidPx: 0, bidQty: 0, askPx: 0, askQty: 0, lastPx: 0, lastQty: 0,
        topicBook: `book.${spec.symbol}`, topicTrades: `trades.${spec.symbol}`, topicTicker: `ticker.${spec.symbol}`,
        pending: [], tickerDirty: false,
      };
      this.books.set(spec.id, b);
      this.bySymbol.set(spec.symbol, b);
      this.assetDecimals.set(spec.baseAsset, spec.baseDecimals);
      this.assetDecimals.set(spec.quoteAsset, spec.quoteDecimals);
    }
  }

  // ---------------------------------------------------------------------------------- seeding

  /** Sets an instrument's L2 from (price, qty, count) triples per side, best first (OrderBook.depthInto). */
  seedBook(instrumentId: number, bids: ArrayLike<number>, bidLevels: number, asks: ArrayLike<number>, askLevels: number,
    lastPx: number, engineSeq: number): void {
    const b = this.books.get(instrumentId);
    if (b === undefined) return;
    b.bids.clear(); b.bidCount.clear(); b.asks.clear(); b.askCount.clear();
    for (let k = 0; k < bidLevels; k++) { b.bids.set(bids[3 * k]!, bids[3 * k + 1]!); b.bidCount.set(bids[3 * k]!, bids[3 * k + 2]!); }
    for (let k = 0; k < askLevels; k++) { b.asks.set(asks[3 * k]!, asks[3 * k + 1]!); b.askCount.set(asks[3 * k]!, asks[3 * k + 2]!); }
    b.bidPx = bidLevels > 0 ? bids[0]! : 0; b.bidQty = bidLevels > 0 ? bids[1]! : 0;
    b.askPx = askLevels > 0 ? asks[0]! : 0; b.askQty = askLevels > 0 ? asks[1]! : 0;
    b.lastPx = lastPx;
    b.engineSeq = engineSeq;
  }

  // ---------------------------------------------------------------------------------- engine side

  onAck(ack: Ack): void {
    if (ack.recordCount === 0) return;
    const b = this.books.get(ack.instrumentId);
    if (b === undefined) return;
    const w = ack.words;
    const remote = this.remote;
    const acctWatch = this.accountSubs.size > 0 || remote !== null;
    for (let r = 0; r < ack.recordCount; r++) {
      const o = ack.recordOffset(r);
      const type = w[o]!;
      switch (type) {
        case EVR_TYPE_DONE: break;
        case EventType.Depth: {
          const side = w[o + 3]!, px = w[o + 4]!, qty = w[o + 5]!, count = w[o + 6]!;
          const lv = side === 0 ? b.bids : b.asks, cn = side === 0 ? b.bidCount : b.askCount;
          if (qty === 0 && count === 0) { lv.delete(px); cn.delete(px); } else { lv.set(px, qty); cn.set(px, count); }
          b.pending.push(side, px, qty, count);
          break;
        }
        case EventType.TopOfBook:
          b.bidPx = w[o + 3]!; b.bidQty = w[o + 4]!; b.askPx = w[o + 5]!; b.askQty = w[o + 6]!;
          b.tickerDirty = true;
          break;
        case EventType.Trade:
          b.lastPx = w[o + 4]!; b.lastQty = w[o + 5]!;
          b.tickerDirty = true;
          if (remote !== null || this.pub.numSubscribers(b.topicTrades) > 0) this.market(b, b.topicTrades, this.tradeJson(b, w, o));
          if (acctWatch) { this.touch(w[o + 7]!); this.touch(w[o + 9]!); }
          break;
        case EventType.Accepted: case EventType.Rejected: case EventType.Canceled: case EventType.Expired:
        case EventType.Replaced: case EventType.Decremented:
          if (acctWatch) this.touch(w[o + 4]!);
          break;
        default: break;
      }
    }
    b.engineSeq = ack.seq;
    if (b.pending.length > 0) {
      b.seq++;
      if (remote !== null || this.pub.numSubscribers(b.topicBook) > 0) this.market(b, b.topicBook, this.deltaJson(b, ack.seq, w[ack.recordOffset(0) + 2]!));
      b.pending.length = 0;
    }
    if (b.tickerDirty) {
      b.tickerDirty = false;
      if (remote !== null || this.pub.numSubscribers(b.topicTicker) > 0) this.market(b, b.topicTicker, this.tickerJson(b));
    }
    if (this.touchedAccounts.length > 0) this.publishBalances(b.spec);
  }

  private touch(account: number): void {
    if (this.remote === null && !this.accountSubs.has(account)) return;
    if (!this.touchedAccounts.includes(account)) this.touchedAccounts.push(account);
  }

  private publishBalances(spec: InstrumentSpec): void {
    for (const a of this.touchedAccounts) {
      const topic = `balances.${a}`;
      if (this.remote === null && this.pub.numSubscribers(topic) === 0) continue;
      this.account(a, topic, this.balanceJson(a, spec.baseAsset));
      this.account(a, topic, this.balanceJson(a, spec.quoteAsset));
    }
    this.touchedAccounts.length = 0;
  }

  // AccountUpdates (from reports.ts)
  wants(account: number): boolean {
    return this.remote !== null || this.accountSubs.has(account);
  }

  order(account: number, u: OrderUpdate): void {
    const topic = `orders.${account}`;
    if (this.remote === null && this.pub.numSubscribers(topic) === 0) return;
    const spec = this.books.get(u.instrumentId)?.spec;
    this.account(account, topic, JSON.stringify({
      type: 'order', account, status: u.status, orderId: u.orderId, clientOrderId: u.clientOrderId,
      symbol: spec?.symbol ?? null, instrumentId: u.instrumentId, side: u.side === 0 ? 'buy' : 'sell',
      price: spec !== undefined && u.priceTicks > 0 ? ticksToPrice(u.priceTicks, spec.tickSize) : null,
      qty: spec !== undefined && u.qtyLots > 0 ? lotsToQty(u.qtyLots, spec.lotSize) : null,
      leavesQty: spec !== undefined ? lotsToQty(u.leavesQtyLots, spec.lotSize) : null,
      cumQty: spec !== undefined ? lotsToQty(u.cumQtyLots, spec.lotSize) : null,
      reason: u.reason, engineSeq: u.seq, tsUs: u.tsUs,
    }));
  }

  fill(account: number, f: FillUpdate): void {
    const topic = `fills.${account}`;
    if (this.remote === null && this.pub.numSubscribers(topic) === 0) return;
    const spec = this.books.get(f.instrumentId)!.spec;
    this.account(account, topic, JSON.stringify({
      type: 'fill', account, tradeId: f.tradeId, orderId: f.orderId, clientOrderId: f.clientOrderId, symbol: spec.symbol,
      instrumentId: f.instrumentId, side: f.side === 0 ? 'buy' : 'sell', liquidity: f.liquidity === 1 ? 'maker' : 'taker',
      price: ticksToPrice(f.priceTicks, spec.tickSize), qty: lotsToQty(f.qtyLots, spec.lotSize),
      fee: formatDecimal(f.feeUnits, spec.quoteDecimals), feeAsset: spec.quoteAsset,
      notional: formatDecimal(f.notionalUnits, spec.quoteDecimals),
      leavesQty: lotsToQty(f.leavesQtyLots, spec.lotSize), cumQty: lotsToQty(f.cumQtyLots, spec.lotSize),
      engineSeq: f.seq, tsUs: f.tsUs,
    }));
  }

  /** A market-data message: local subscribers (if any) and the remote fan-out. */
  private market(b: BookState, topic: string, json: string): void {
    if (this.pub.numSubscribers(topic) > 0) this.publish(topic, json);
    const r = this.remote;
    if (r !== null) { try { r.publishMarketData(b.spec.symbol, json); } catch { this.remoteErrors++; } }
  }

  /** An account message: local subscribers (if any) and the remote fan-out. */
  private account(account: number, topic: string, json: string): void {
    if (this.pub.numSubscribers(topic) > 0) this.publish(topic, json);
    const r = this.remote;
    if (r !== null) { try { r.publishAccountUpdate(account, json); } catch { this.remoteErrors++; } }
  }

  private publish(topic: string, json: string): void {
    this.pub.publish(topic, json, false);
    this.published = true;
    if (!this.sweepScheduled) {
      this.sweepScheduled = true;
      setImmediate(this.sweepTask);
    }
  }

  private readonly sweepTask = (): void => {
    this.sweepScheduled = false;
    if (!this.published) return;
    this.published = false;
    this.sweep();
  };

  /** Finds slow consumers (after a turn that published). */
  sweep(): void {
    const limit = this.limits.maxBufferedBytes;
    for (const s of this.sessions) {
      if (s.closed || s.topics.size === 0) continue;
      const ws = this.socketOf(s);
      if (ws === null || ws.getBufferedAmount() <= limit) continue;
      this.slowConsumer(s, ws);
    }
  }

  private slowConsumer(s: Session, ws: StreamSocket): void {
    for (const sub of s.topics.values()) {
      if ((ACCOUNT_CHANNELS as readonly string[]).includes(sub.channel)) {
        this.slowClosed++;
        ws.end(CloseCode.SlowConsumer, 'slow consumer: account stream backlog over the limit; reconnect and resync');
        return;
      }
    }
    for (const topic of s.topics.keys()) {
      if (s.resync.has(topic)) continue;
      ws.unsubscribe(topic);
      s.resync.add(topic);
      this.resyncs++;
    }
  }

  /** The socket drained: resubscribe what was dropped, with a resync notice and fresh snapshots. */
  drained(s: Session): void {
    if (s.resync.size === 0 || s.closed) return;
    const ws = this.socketOf(s);
    if (ws === null || ws.getBufferedAmount() > this.limits.maxBufferedBytes / 2) return;
    for (const topic of [...s.resync]) {
      s.resync.delete(topic);
      const sub = s.topics.get(topic);
      if (sub === undefined) continue;
      ws.send(JSON.stringify({ type: 'resync', channel: sub.channel, symbol: this.books.get(sub.instrumentId)?.spec.symbol ?? null,
        reason: 'messages were dropped while the connection was slow' }), false);
      this.sendInitial(s, ws, sub.channel, sub.instrumentId);
      ws.subscribe(topic);
    }
  }

  // ---------------------------------------------------------------------------------- client requests

  /** Handles one text message of a stream session; returns false for a malformed request. */
  request(s: Session, ws: StreamSocket, text: string): boolean {
    let req: unknown;
    try { req = JSON.parse(text); } catch { this.error(ws, 'bad_request', 'not JSON', null); return false; }
    if (typeof req !== 'object' || req === null || Array.isArray(req)) { this.error(ws, 'bad_request', 'expected a JSON object', null); return false; }
    const r = req as Record<string, unknown>;
    const op = r['op'], channel = r['channel'];
    if (op !== 'subscribe' && op !== 'unsubscribe' && op !== 'snapshot') { this.error(ws, 'bad_request', 'op must be subscribe, unsubscribe or snapshot', r); return false; }
    if (typeof channel !== 'string') { this.error(ws, 'bad_request', 'channel must be a string', r); return false; }
    if ((UNAVAILABLE_CHANNELS as readonly string[]).includes(channel)) {
      this.error(ws, 'not_available', `${channel} is not available yet (strategies arrive in a later version)`, r);
      return true;
    }
    let topic: string; let instrumentId = 0; let account = 0;
    if ((MARKET_CHANNELS as readonly string[]).includes(channel)) {
      const b = typeof r['symbol'] === 'string' ? this.bySymbol.get(r['symbol']) : undefined;
      if (b === undefined) { this.error(ws, 'unknown_symbol', 'symbol is missing or unknown', r); return true; }
      instrumentId = b.spec.id;
      topic = channel === 'book' ? b.topicBook : channel === 'trades' ? b.topicTrades : b.topicTicker;
    } else if ((ACCOUNT_CHANNELS as readonly string[]).includes(channel)) {
      const a = r['account'];
      // Not yours and does not exist answer the same.
      if (typeof a !== 'number' || !Number.isSafeInteger(a) || !s.principal.accounts.has(a) || !s.can('account.read')) {
        this.error(ws, 'account_not_found', 'account not found', r);
        return true;
      }
      account = a;
      topic = `${channel}.${a}`;
    } else {
      this.error(ws, 'unknown_channel', `channels: ${[...MARKET_CHANNELS, ...ACCOUNT_CHANNELS, ...UNAVAILABLE_CHANNELS].join(', ')}`, r);
      return true;
    }
    if (op === 'subscribe') {
      if (s.topics.has(topic)) { this.error(ws, 'already_subscribed', `already subscribed to ${topic}`, r); return true; }
      s.topics.set(topic, { channel, instrumentId, account });
      if (account !== 0) this.accountSubs.set(account, (this.accountSubs.get(account) ?? 0) + 1);
      ws.send(JSON.stringify({ type: 'subscribed', channel, topic }), false);
      // Snapshot and subscribe in one synchronous step: no delta can fall between them.
      this.sendInitial(s, ws, channel, instrumentId, account);
      ws.subscribe(topic);
    } else if (op === 'unsubscribe') {
      if (!s.topics.has(topic)) { this.error(ws, 'not_subscribed', `not subscribed to ${topic}`, r); return true; }
      this.dropTopic(s, topic);
      ws.unsubscribe(topic);
      ws.send(JSON.stringify({ type: 'unsubscribed', channel, topic }), false);
    } else {
      if (channel !== 'book') { this.error(ws, 'bad_request', 'snapshot is for the book channel', r); return true; }
      this.sendInitial(s, ws, channel, instrumentId);
    }
    return true;
  }

  private sendInitial(s: Session, ws: StreamSocket, channel: string, instrumentId: number, account = 0): void {
    const b = this.books.get(instrumentId);
    if (channel === 'book' && b !== undefined) ws.send(this.snapshotJson(b), false);
    else if (channel === 'ticker' && b !== undefined) ws.send(this.tickerJson(b), false);
    else if (channel === 'balances') {
      for (const [asset] of this.assetDecimals) ws.send(this.balanceJson(account, asset), false);
    }
    void s;
  }

  private dropTopic(s: Session, topic: string): void {
    const sub = s.topics.get(topic);
    if (sub === undefined) return;
    s.topics.delete(topic);
    s.resync.delete(topic);
    if (sub.account !== 0) {
      const n = (this.accountSubs.get(sub.account) ?? 1) - 1;
      if (n <= 0) this.accountSubs.delete(sub.account); else this.accountSubs.set(sub.account, n);
    }
  }

  /** A stream session closed (uWS drops its subscriptions by itself). */
  closed(s: Session): void {
    for (const topic of [...s.topics.keys()]) this.dropTopic(s, topic);
    this.sessions.delete(s);
  }

  private error(ws: StreamSocket, code: string, message: string, request: unknown): void {
    ws.send(JSON.stringify({ type: 'error', code, message, request }), false);
  }

  // ---------------------------------------------------------------------------------- JSON

  /** Levels best first as [price, qty, orderCount]. */
  private levels(b: BookState, side: number): [string, string, number][] {
    const lv = side === 0 ? b.bids : b.asks, cn = side === 0 ? b.bidCount : b.askCount;
    const prices = [...lv.keys()].sort((x, y) => side === 0 ? y - x : x - y);
    return prices.map((p) => [ticksToPrice(p, b.spec.tickSize), lotsToQty(lv.get(p)!, b.spec.lotSize), cn.get(p)!]);
  }

  private snapshotJson(b: BookState): string {
    return JSON.stringify({
      type: 'book.snapshot', symbol: b.spec.symbol, instrumentId: b.spec.id, seq: b.seq, engineSeq: b.engineSeq,
      bids: this.levels(b, 0), asks: this.levels(b, 1),
    });
  }

  private deltaJson(b: BookState, engineSeq: number, tsUs: number): string {
    const bids: [string, string, number][] = [], asks: [string, string, number][] = [];
    const p = b.pending;
    for (let i = 0; i < p.length; i += 4) {
      (p[i] === 0 ? bids : asks).push([ticksToPrice(p[i + 1]!, b.spec.tickSize), lotsToQty(p[i + 2]!, b.spec.lotSize), p[i + 3]!]);
    }
    return JSON.stringify({ type: 'book.delta', symbol: b.spec.symbol, instrumentId: b.spec.id, seq: b.seq, engineSeq, tsUs, bids, asks });
  }

  private tickerJson(b: BookState): string {
    const s = b.spec;
    const px = (t: number): string | null => (t > 0 ? ticksToPrice(t, s.tickSize) : null);
    return JSON.stringify({
      type: 'ticker', symbol: s.symbol, instrumentId: s.id, engineSeq: b.engineSeq,
      bidPrice: px(b.bidPx), bidQty: lotsToQty(b.bidQty, s.lotSize), askPrice: px(b.askPx), askQty: lotsToQty(b.askQty, s.lotSize),
      lastPrice: px(b.lastPx), lastQty: lotsToQty(b.lastQty, s.lotSize),
    });
  }

  private tradeJson(b: BookState, w: Float64Array, o: number): string {
    const s = b.spec;
    return JSON.stringify({
      type: 'trade', symbol: s.symbol, instrumentId: s.id, tradeId: w[o + 3]!, price: ticksToPrice(w[o + 4]!, s.tickSize),
      qty: lotsToQty(w[o + 5]!, s.lotSize), takerSide: w[o + 10] === 0 ? 'buy' : 'sell', engineSeq: w[o + 1]!, tsUs: w[o + 2]!,
    });
  }

  private balanceJson(account: number, asset: string): string {
    const id = this.ledger.assetId(asset);
    const d = this.assetDecimals.get(asset) ?? 0;
    return JSON.stringify({
      type: 'balance', account, asset,
      available: formatDecimal(this.ledger.available(account, id), d), locked: formatDecimal(this.ledger.locked(account, id), d),
    });
  }
}
