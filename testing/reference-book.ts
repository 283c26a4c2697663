// The test oracle: a naive order book written from docs/matching-semantics.md alone, to be obviously
// correct rather than fast. Plain arrays of plain objects, sorting and filtering on every step,
// BigInt wherever a product could leave the safe integer range. It emits events through the same
// EventBuffer writer methods as core/book.ts, so the two streams can be compared record by record.

import { EventBuffer } from '../core/events.js';
import { hashNumbers } from '../core/hash.js';
import type { InstrumentSpec } from '../core/instrument.js';
import {
  Command, CommandType, EndReason, OrderFlags, OrderType, RejectReason, Side, StpMode, SymbolStatus, TimeInForce,
} from '../core/types.js';

const MAX_ID = Number.MAX_SAFE_INTEGER; // 2^53 - 1

export interface RefOrder {
  orderId: number;
  account: number;
  clientOrderId: number;
  side: number;
  priceTicks: number;
  qtyLots: number;
  remainingLots: number;
  filledLots: number;
  tif: number;
  flags: number;
  stpMode: number;
  stpGroup: number;
  expireTsUs: number;
  /** Time priority: a counter taken each time the order (re)enters a level. */
  entry: number;
}

interface RefAccount {
  positionLots: number;
  killed: boolean;
  /** Overrides; 0 = instrument default. */
  maxPositionLots: number;
  maxOpenOrders: number;
}

/** The incoming side of a match: a new order, or a resting order re-entering after a replace. */
interface Taker {
  orderId: number;
  account: number;
  clientOrderId: number;
  side: number;
  isMarket: boolean;
  byQuote: boolean;
  limitPriceTicks: number;
  /** Market protection bound (buy: highest price, sell: lowest price). */
  boundPriceTicks: number;
  remainingLots: number;
  quoteLeftUnits: number;
  filledLots: number;
  stpMode: number;
  stpGroup: number;
}

type StopKind = 'none' | 'empty' | 'limit' | 'bound' | 'quote' | 'selfTrade';

/** "An integer" in the doc is read as a safe integer: the engine has no other kind. */
function isIntIn(v: number, lo: number, hi: number): boolean {
  return Number.isSafeInteger(v) && v >= lo && v <= hi;
}

/** ceil(a / b) for BigInt, b > 0. */
function ceilDiv(a: bigint, b: bigint): bigint {
  if (a >= 0n) return (a + b - 1n) / b;
  return a / b; // truncation toward zero is the ceiling for a negative quotient
}

/** floor(a / b) for BigInt, b > 0. */
function floorDiv(a: bigint, b: bigint): bigint {
  if (a >= 0n) return a / b;
  return -ceilDiv(-a, b);
}

/** a * b * c, which the instrument's scales must keep in the safe integer range. */
function safeProduct(a: number, b: number, c: number): number {
  const v = BigInt(a) * BigInt(b) * BigInt(c);
  if (v > BigInt(MAX_ID)) throw new RangeError(`ReferenceBook: product ${v} beyond 2^53-1`);
  return Number(v);
}

/** fee(n, r) = ceil(n * r / 1e6), exact. */
export function exactFee(notionalUnits: number, feePpm: number): number {
  return Number(ceilDiv(BigInt(notionalUnits) * BigInt(feePpm), 1_000_000n));
}

export class ReferenceBook {
  readonly spec: InstrumentSpec;
  readonly events: EventBuffer;
  nowUs = 0;
  referencePriceTicks: number;
  lastTradePriceTicks = 0;
  nextTradeId = 1;
  status: number = SymbolStatus.Open;
  orders: RefOrder[] = [];
  accounts = new Map<number, RefAccount>();
  /** Terminated (account, clientOrderId) pairs, oldest first. */
  retained: Array<[number, number]> = [];
  private entryCounter = 0;

  constructor(spec: InstrumentSpec, events: EventBuffer) {
    this.spec = spec;
    this.events = events;
    this.referencePriceTicks = spec.referencePriceTicks;
  }

  // ----------------------------------------------------------------------------------------------
  // Queries
  // ----------------------------------------------------------------------------------------------

  /** Resting orders of one side, best price first, time priority within a price. */
  sideOrders(side: number): RefOrder[] {
    const list = this.orders.filter((o) => o.side === side);
    list.sort((a, b) => {
      if (a.priceTicks !== b.priceTicks) return side === Side.Buy ? b.priceTicks - a.priceTicks : a.priceTicks - b.priceTicks;
      return a.entry - b.entry;
    });
    return list;
  }

  levelOrders(side: number, priceTicks: number): RefOrder[] {
    return this.sideOrders(side).filter((o) => o.priceTicks === priceTicks);
  }

  levelQty(side: number, priceTicks: number): number {
    return this.levelOrders(side, priceTicks).reduce((s, o) => s + o.remainingLots, 0);
  }

  bestPrice(side: number): number {
    const list = this.sideOrders(side);
    return list.length === 0 ? 0 : list[0]!.priceTicks;
  }

  bestBidTicks(): number { return this.bestPrice(Side.Buy); }
  bestAskTicks(): number { return this.bestPrice(Side.Sell); }

  topOfBook(): [number, number, number, number] {
    const bid = this.bestPrice(Side.Buy);
    const ask = this.bestPrice(Side.Sell);
    return [bid, bid === 0 ? 0 : this.levelQty(Side.Buy, bid), ask, ask === 0 ? 0 : this.levelQty(Side.Sell, ask)];
  }

  findOpen(orderId: number): RefOrder | undefined {
    return this.orders.find((o) => o.orderId === orderId);
  }

  account(id: number): RefAccount {
    let a = this.accounts.get(id);
    if (a === undefined) {
      a = { positionLots: 0, killed: false, maxPositionLots: 0, maxOpenOrders: 0 };
      this.accounts.set(id, a);
    }
    return a;
  }

  private peekAccount(id: number): RefAccount | undefined {
    return this.accounts.get(id);
  }

  private isKilled(id: number): boolean {
    return this.peekAccount(id)?.killed === true;
  }

  private positionOf(id: number): number {
    return this.peekAccount(id)?.positionLots ?? 0;
  }

  private positionLimit(id: number): number {
    const o = this.peekAccount(id)?.maxPositionLots ?? 0;
    return o !== 0 ? o : this.spec.maxPositionLots;
  }

  private openOrderLimit(id: number): number {
    const o = this.peekAccount(id)?.maxOpenOrders ?? 0;
    return o !== 0 ? o : this.spec.maxOpenOrdersPerAccount;
  }

  private openLots(id: number, side: number): number {
    return this.orders.filter((o) => o.account === id && o.side === side).reduce((s, o) => s + o.remainingLots, 0);
  }

  private clientIdTaken(account: number, clientOrderId: number): boolean {
    if (this.orders.some((o) => o.account === account && o.clientOrderId === clientOrderId)) return true;
    return this.retained.some(([a, c]) => a === account && c === clientOrderId);
  }

  /** Limit price band, or null when there is no band check. */
  private priceBand(): [number, number] | null {
    const r = this.referencePriceTicks;
    const b = this.spec.priceBandBps;
    if (b <= 0 || r === 0) return null;
    const lo = ceilDiv(BigInt(r) * BigInt(10000 - b), 10000n);
    const hi = floorDiv(BigInt(r) * BigInt(10000 + b), 10000n);
    return [Number(lo), Number(hi)];
  }

  private marketUpperBound(): number {
    const r = this.referencePriceTicks;
    return Number(floorDiv(BigInt(r) * BigInt(10000 + this.spec.marketBandBps), 10000n));
  }

  private marketLowerBound(): number {
    const r = this.referencePriceTicks;
    const lo = Number(ceilDiv(BigInt(r) * BigInt(10000 - this.spec.marketBandBps), 10000n));
    return Math.max(1, lo);
  }

  private notionalCheck(notional: bigint): number {
    if (notional < BigInt(this.spec.minNotionalUnits)) return RejectReason.NotionalBelowMin;
    if (this.spec.maxNotionalUnits > 0 && notional > BigInt(this.spec.maxNotionalUnits)) return RejectReason.NotionalAboveMax;
    return RejectReason.None;
  }

  private positionCheck(account: number, side: number, q: number): number {
    const limit = this.positionLimit(account);
    if (limit === 0) return RejectReason.None;
    const p = this.positionOf(account);
    if (side === Side.Buy) {
      if (p + this.openLots(account, Side.Buy) + q > limit) return RejectReason.PositionLimitExceeded;
    } else if (p - this.openLots(account, Side.Sell) - q < -limit) {
      return RejectReason.PositionLimitExceeded;
    }
    return RejectReason.None;
  }

  // ----------------------------------------------------------------------------------------------
  // Mutations shared by several commands
  // ----------------------------------------------------------------------------------------------

  private retire(account: number, clientOrderId: number): void {
    if (clientOrderId === 0) return;
    this.retained.push([account, clientOrderId]);
    while (this.retained.length > this.spec.clientIdRetention) this.retained.shift();
  }

  private removeOrder(o: RefOrder): void {
    this.orders = this.orders.filter((x) => x !== o);
  }

  private emitDepth(side: number, priceTicks: number): void {
    const level = this.levelOrders(side, priceTicks);
    const qty = level.reduce((s, o) => s + o.remainingLots, 0);
    this.events.depth(side, priceTicks, qty, level.length);
  }

  /** Removes an order for a cancel-like reason: Canceled, then Depth. */
  private cancelOrder(o: RefOrder, reason: number): void {
    this.removeOrder(o);
    this.events.canceled(o.orderId, o.account, o.remainingLots, reason, o.filledLots);
    this.emitDepth(o.side, o.priceTicks);
    this.retire(o.account, o.clientOrderId);
  }

  private rest(o: RefOrder): void {
    o.entry = ++this.entryCounter;
    this.orders.push(o);
    this.emitDepth(o.side, o.priceTicks);
  }

  private expireGtd(): void {
    const due = this.orders.filter((o) => o.tif === TimeInForce.GTD && o.expireTsUs <= this.nowUs);
    due.sort((a, b) => (a.expireTsUs !== b.expireTsUs ? a.expireTsUs - b.expireTsUs : a.orderId - b.orderId));
    for (const o of due) {
      this.removeOrder(o);
      this.events.expired(o.orderId, o.account, o.remainingLots, EndReason.Expired, o.filledLots);
      this.emitDepth(o.side, o.priceTicks);
      this.retire(o.account, o.clientOrderId);
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Entry point
  // ----------------------------------------------------------------------------------------------

  execute(cmd: Command): void {
    this.events.seq = cmd.seq;
    this.events.tsUs = cmd.tsUs;
    this.nowUs = Math.max(this.nowUs, cmd.tsUs);
    const before = this.topOfBook();
    this.expireGtd();
    switch (cmd.type) {
      case CommandType.NewOrder: this.newOrder(cmd); break;
      case CommandType.Cancel: this.cancel(cmd); break;
      case CommandType.Replace: this.replace(cmd); break;
      case CommandType.MassCancel: this.massCancel(cmd); break;
      case CommandType.TimeTick: break;
      case CommandType.SetSymbolStatus: this.setSymbolStatus(cmd); break;
      case CommandType.SetKillSwitch: this.setKillSwitch(cmd); break;
      case CommandType.SetAccountLimits: this.setAccountLimits(cmd); break;
      case CommandType.SetReferencePrice: this.setReferencePrice(cmd); break;
      default: this.reject(cmd, RejectReason.UnknownCommand);
    }
    const after = this.topOfBook();
    if (after.some((v, i) => v !== before[i])) this.events.topOfBook(after[0], after[1], after[2], after[3]);
  }

  private reject(cmd: Command, reason: number): void {
    this.events.rejected(cmd.orderId, cmd.account, cmd.clientOrderId, reason, cmd.type);
  }

  // ----------------------------------------------------------------------------------------------
  // NewOrder
  // ----------------------------------------------------------------------------------------------

  private validateNewOrder(cmd: Command): number {
    const s = this.spec;
    // 1. status
    if (this.status === SymbolStatus.Halted) return RejectReason.SymbolHalted;
    if (this.status === SymbolStatus.CancelOnly) return RejectReason.SymbolCancelOnly;
    // 2. account, kill switch, order id
    if (!isIntIn(cmd.account, 1, MAX_ID)) return RejectReason.InvalidAccount;
    if (this.isKilled(cmd.account)) return RejectReason.AccountKilled;
    if (!isIntIn(cmd.orderId, 1, MAX_ID) || this.findOpen(cmd.orderId) !== undefined) return RejectReason.InvalidValue;
    // 3. enums and ids
    if (cmd.side !== Side.Buy && cmd.side !== Side.Sell) return RejectReason.InvalidSide;
    if (cmd.orderType !== OrderType.Limit && cmd.orderType !== OrderType.Market) return RejectReason.InvalidOrderType;
    if (!isIntIn(cmd.tif, TimeInForce.GTC, TimeInForce.GTD)) return RejectReason.InvalidTimeInForce;
    if (!isIntIn(cmd.stpMode, StpMode.None, StpMode.Decrement)) return RejectReason.InvalidStpMode;
    if (!isIntIn(cmd.flags, 0, OrderFlags.PostOnly | OrderFlags.QuoteQty)) return RejectReason.InvalidFlags;
    if (!isIntIn(cmd.clientOrderId, 0, MAX_ID)) return RejectReason.InvalidClientOrderId;
    if (!isIntIn(cmd.stpGroup, 0, MAX_ID)) return RejectReason.InvalidAccount;
    // 4. combinations
    const isMarket = cmd.orderType === OrderType.Market;
    const postOnly = (cmd.flags & OrderFlags.PostOnly) !== 0;
    const byQuote = (cmd.flags & OrderFlags.QuoteQty) !== 0;
    if (isMarket && cmd.tif !== TimeInForce.IOC && cmd.tif !== TimeInForce.FOK) return RejectReason.InvalidTimeInForce;
    if (isMarket && byQuote && cmd.tif === TimeInForce.FOK) return RejectReason.InvalidTimeInForce;
    if (postOnly && (isMarket || (cmd.tif !== TimeInForce.GTC && cmd.tif !== TimeInForce.GTD))) return RejectReason.InvalidFlags;
    if (byQuote && !isMarket) return RejectReason.InvalidFlags;
    if (!isMarket && !isIntIn(cmd.priceTicks, s.minPriceTicks, s.maxPriceTicks)) return RejectReason.InvalidPrice;
    if (isMarket && cmd.priceTicks !== 0) return RejectReason.InvalidPrice;
    if (byQuote) {
      if (!isIntIn(cmd.quoteQtyUnits, 1, MAX_ID) || cmd.qtyLots !== 0) return RejectReason.InvalidQuantity;
    } else if (!isIntIn(cmd.qtyLots, 1, MAX_ID) || cmd.quoteQtyUnits !== 0) {
      return RejectReason.InvalidQuantity;
    }
    if (cmd.tif === TimeInForce.GTD) {
      if (!isIntIn(cmd.expireTsUs, 1, MAX_ID)) return RejectReason.InvalidExpireTime;
      if (cmd.expireTsUs <= this.nowUs) return RejectReason.GtdAlreadyExpired;
    } else if (cmd.expireTsUs !== 0) {
      return RejectReason.InvalidExpireTime;
    }
    // 5. quantity
    if (!byQuote) {
      if (cmd.qtyLots < s.minQtyLots) return RejectReason.QuantityBelowMin;
      if (cmd.qtyLots > s.maxQtyLots) return RejectReason.QuantityAboveMax;
    }
    // 6. client order id
    if (cmd.clientOrderId !== 0 && this.clientIdTaken(cmd.account, cmd.clientOrderId)) return RejectReason.DuplicateClientOrderId;
    // 7. reference price for market orders
    const r = this.referencePriceTicks;
    if (isMarket && r === 0) return RejectReason.NoReferencePrice;
    // 8. price band
    if (!isMarket) {
      const band = this.priceBand();
      if (band !== null && (cmd.priceTicks < band[0] || cmd.priceTicks > band[1])) return RejectReason.PriceOutsideBand;
    }
    // 9. notional
    const n = BigInt(s.notionalUnitsPerTickLot);
    const notional = byQuote ? BigInt(cmd.quoteQtyUnits)
      : BigInt(isMarket ? r : cmd.priceTicks) * BigInt(cmd.qtyLots) * n;
    const nr = this.notionalCheck(notional);
    if (nr !== RejectReason.None) return nr;
    // 10. open orders
    const mayRest = !isMarket && (cmd.tif === TimeInForce.GTC || cmd.tif === TimeInForce.GTD);
    if (mayRest) {
      const limit = this.openOrderLimit(cmd.account);
      if (limit !== 0 && this.orders.filter((o) => o.account === cmd.account).length >= limit) return RejectReason.TooManyOpenOrders;
    }
    // 11. position
    // QuoteQty: the most lots it can get. A buy walks up from the best ask; a sell down to the lower bound.
    const lowest = cmd.side === Side.Buy ? this.bestAskTicks() : this.marketLowerBound();
    const q = !byQuote ? cmd.qtyLots : lowest === 0 ? 0 : Number(BigInt(cmd.quoteQtyUnits) / (BigInt(lowest) * n));
    const pr = this.positionCheck(cmd.account, cmd.side, q);
    if (pr !== RejectReason.None) return pr;
    // 12. capacity
    if (mayRest && this.orders.length >= s.orderCapacity) return RejectReason.BookFull;
    // 13. post-only
    if (postOnly && this.wouldTake(cmd.side, cmd.priceTicks)) return RejectReason.PostOnlyWouldTake;
    return RejectReason.None;
  }

  private wouldTake(side: number, priceTicks: number): boolean {
    if (side === Side.Buy) {
      const ask = this.bestPrice(Side.Sell);
      return ask !== 0 && priceTicks >= ask;
    }
    const bid = this.bestPrice(Side.Buy);
    return bid !== 0 && priceTicks <= bid;
  }

  private newOrder(cmd: Command): void {
    const reason = this.validateNewOrder(cmd);
    if (reason !== RejectReason.None) {
      this.reject(cmd, reason);
      return;
    }
    this.events.accepted(cmd.orderId, cmd.account, cmd.clientOrderId, cmd.side, cmd.orderType, cmd.tif,
      cmd.priceTicks, cmd.qtyLots, cmd.quoteQtyUnits, cmd.flags, cmd.expireTsUs);
    const isMarket = cmd.orderType === OrderType.Market;
    const byQuote = (cmd.flags & OrderFlags.QuoteQty) !== 0;
    const taker: Taker = {
      orderId: cmd.orderId, account: cmd.account, clientOrderId: cmd.clientOrderId, side: cmd.side,
      isMarket, byQuote,
      limitPriceTicks: isMarket ? 0 : cmd.priceTicks,
      boundPriceTicks: isMarket ? (cmd.side === Side.Buy ? this.marketUpperBound() : this.marketLowerBound()) : 0,
      remainingLots: byQuote ? 0 : cmd.qtyLots,
      quoteLeftUnits: byQuote ? cmd.quoteQtyUnits : 0,
      filledLots: 0,
      stpMode: cmd.stpMode, stpGroup: cmd.stpGroup,
    };
    if (cmd.tif === TimeInForce.FOK && !this.fokCanFill(taker)) {
      this.events.expired(cmd.orderId, cmd.account, cmd.qtyLots, EndReason.FillOrKill, 0);
      this.retire(cmd.account, cmd.clientOrderId);
      return;
    }
    const stop = this.match(taker);
    const mayRest = !isMarket && (cmd.tif === TimeInForce.GTC || cmd.tif === TimeInForce.GTD);
    this.finishTaker(taker, stop, mayRest, (t) => ({
      orderId: t.orderId, account: t.account, clientOrderId: t.clientOrderId, side: t.side,
      priceTicks: cmd.priceTicks, qtyLots: cmd.qtyLots, remainingLots: t.remainingLots, filledLots: t.filledLots,
      tif: cmd.tif, flags: cmd.flags, stpMode: cmd.stpMode, stpGroup: cmd.stpGroup, expireTsUs: cmd.expireTsUs, entry: 0,
    }));
  }

  /** After matching: rest, expire, or nothing (filled). */
  private finishTaker(t: Taker, stop: { kind: StopKind; decrementLots: number }, mayRest: boolean,
    makeResting: (t: Taker) => RefOrder): void {
    if (stop.kind === 'selfTrade') {
      const remaining = t.byQuote ? 0 : (stop.decrementLots > 0 ? stop.decrementLots : t.remainingLots);
      this.events.expired(t.orderId, t.account, remaining, EndReason.SelfTrade, t.filledLots);
      this.retire(t.account, t.clientOrderId);
      return;
    }
    const done = t.byQuote ? t.quoteLeftUnits === 0 : t.remainingLots === 0;
    if (done) {
      this.retire(t.account, t.clientOrderId);
      return;
    }
    if (mayRest) {
      this.rest(makeResting(t));
      return;
    }
    let reason: number = EndReason.ImmediateRemainder;
    if (stop.kind === 'bound') reason = EndReason.MarketProtection;
    else if (stop.kind === 'quote') reason = EndReason.QuoteExhausted;
    this.events.expired(t.orderId, t.account, t.byQuote ? 0 : t.remainingLots, reason, t.filledLots);
    this.retire(t.account, t.clientOrderId);
  }

  private priceAcceptable(t: Taker, p: number): 'ok' | 'limit' | 'bound' {
    if (t.isMarket) {
      if (t.side === Side.Buy ? p > t.boundPriceTicks : p < t.boundPriceTicks) return 'bound';
      return 'ok';
    }
    if (t.side === Side.Buy ? p > t.limitPriceTicks : p < t.limitPriceTicks) return 'limit';
    return 'ok';
  }

  private isSelfTrade(t: Taker, m: RefOrder): boolean {
    return m.account === t.account || (t.stpGroup !== 0 && m.stpGroup === t.stpGroup);
  }

  private fokCanFill(t: Taker): boolean {
    let counted = 0;
    for (const m of this.sideOrders(1 - t.side)) {
      if (this.priceAcceptable(t, m.priceTicks) !== 'ok') break;
      if (this.isSelfTrade(t, m)) {
        if (t.stpMode === StpMode.None) { /* counts normally */ } else if (t.stpMode === StpMode.ExpireMaker) continue;
        else break;
      }
      counted += m.remainingLots;
      if (counted >= t.remainingLots) return true;
    }
    return counted >= t.remainingLots;
  }

  /** The matching loop of the doc. Returns why it stopped. */
  private match(t: Taker): { kind: StopKind; decrementLots: number } {
    const n = this.spec.notionalUnitsPerTickLot;
    const oppSide = 1 - t.side;
    const hasQty = (): boolean => (t.byQuote ? t.quoteLeftUnits > 0 : t.remainingLots > 0);
    while (hasQty()) {
      const opp = this.sideOrders(oppSide);
      if (opp.length === 0) return { kind: 'empty', decrementLots: 0 };
      const p = opp[0]!.priceTicks;
      const acc = this.priceAcceptable(t, p);
      if (acc !== 'ok') return { kind: acc, decrementLots: 0 };
      // Visit level p.
      let changed = false;
      let stop: { kind: StopKind; decrementLots: number } | null = null;
      for (;;) {
        if (!hasQty()) break;
        const level = this.levelOrders(oppSide, p);
        if (level.length === 0) break;
        let takerQty = t.remainingLots;
        if (t.byQuote) {
          const affordable = Number(BigInt(t.quoteLeftUnits) / (BigInt(p) * BigInt(n)));
          if (affordable === 0) { stop = { kind: 'quote', decrementLots: 0 }; break; }
          takerQty = affordable;
        }
        const m = level[0]!;
        if (this.isSelfTrade(t, m) && t.stpMode !== StpMode.None) {
          if (t.stpMode === StpMode.ExpireTaker) { stop = { kind: 'selfTrade', decrementLots: 0 }; break; }
          if (t.stpMode === StpMode.ExpireMaker || t.stpMode === StpMode.ExpireBoth) {
            this.removeOrder(m);
            this.events.expired(m.orderId, m.account, m.remainingLots, EndReason.SelfTrade, m.filledLots);
            this.retire(m.account, m.clientOrderId);
            changed = true;
            if (t.stpMode === StpMode.ExpireBoth) { stop = { kind: 'selfTrade', decrementLots: 0 }; break; }
            continue;
          }
          // Decrement
          const d = Math.min(takerQty, m.remainingLots);
          if (d === m.remainingLots) {
            this.removeOrder(m);
            this.events.expired(m.orderId, m.account, d, EndReason.SelfTrade, m.filledLots);
            this.retire(m.account, m.clientOrderId);
          } else {
            m.remainingLots -= d;
            this.events.decremented(m.orderId, m.account, d, m.remainingLots);
          }
          changed = true;
          if (t.byQuote) t.quoteLeftUnits -= safeProduct(d, p, n);
          else t.remainingLots -= d;
          if (!hasQty()) { stop = { kind: 'selfTrade', decrementLots: d }; break; }
          this.events.decremented(t.orderId, t.account, d, t.byQuote ? 0 : t.remainingLots);
          continue;
        }
        // Trade
        const q = Math.min(takerQty, m.remainingLots);
        const notional = safeProduct(p, q, n);
        const makerFee = exactFee(notional, this.spec.makerFeePpm);
        const takerFee = exactFee(notional, this.spec.takerFeePpm);
        m.remainingLots -= q;
        m.filledLots += q;
        t.filledLots += q;
        if (t.byQuote) t.quoteLeftUnits -= notional;
        else t.remainingLots -= q;
        const tradeId = this.nextTradeId++;
        this.events.trade(tradeId, p, q, m.orderId, m.account, t.orderId, t.account, t.side, makerFee, takerFee,
          m.remainingLots, t.byQuote ? 0 : t.remainingLots, notional);
        if (m.remainingLots === 0) {
          this.removeOrder(m);
          this.retire(m.account, m.clientOrderId);
        }
        this.referencePriceTicks = p;
        this.lastTradePriceTicks = p;
        const buyer = t.side === Side.Buy ? t.account : m.account;
        const seller = t.side === Side.Buy ? m.account : t.account;
        this.account(buyer).positionLots += q;
        this.account(seller).positionLots -= q;
        this.pruneAccount(buyer);
        this.pruneAccount(seller);
        changed = true;
      }
      if (changed) this.emitDepth(oppSide, p);
      if (stop !== null) return stop;
    }
    return { kind: 'none', decrementLots: 0 };
  }

  /** Accounts without state worth keeping are dropped (the dump lists only the others anyway). */
  private pruneAccount(id: number): void {
    const a = this.accounts.get(id);
    if (a !== undefined && a.positionLots === 0 && !a.killed && a.maxPositionLots === 0 && a.maxOpenOrders === 0) {
      this.accounts.delete(id);
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Cancel, Replace, MassCancel
  // ----------------------------------------------------------------------------------------------

  /** Lookup for Cancel and Replace: by id, or by (account, clientOrderId) when the id is 0. */
  private lookupOwn(cmd: Command): RefOrder | undefined {
    if (cmd.orderId === 0) {
      if (cmd.clientOrderId === 0) return undefined;
      return this.orders.find((o) => o.account === cmd.account && o.clientOrderId === cmd.clientOrderId);
    }
    const o = this.findOpen(cmd.orderId);
    return o !== undefined && o.account === cmd.account ? o : undefined;
  }

  private cancel(cmd: Command): void {
    if (this.status === SymbolStatus.Halted) return this.reject(cmd, RejectReason.SymbolHalted);
    const o = this.lookupOwn(cmd);
    if (o === undefined) return this.reject(cmd, RejectReason.UnknownOrder);
    this.cancelOrder(o, EndReason.UserCancel);
  }

  private validateReplace(cmd: Command, o: RefOrder | undefined): number {
    const s = this.spec;
    if (this.status === SymbolStatus.Halted) return RejectReason.SymbolHalted;
    if (this.status === SymbolStatus.CancelOnly) return RejectReason.SymbolCancelOnly;
    if (this.isKilled(cmd.account)) return RejectReason.AccountKilled;
    if (o === undefined) return RejectReason.UnknownOrder;
    if (cmd.priceTicks !== 0 && !isIntIn(cmd.priceTicks, s.minPriceTicks, s.maxPriceTicks)) return RejectReason.InvalidPrice;
    if (cmd.qtyLots !== 0 && !isIntIn(cmd.qtyLots, 1, MAX_ID)) return RejectReason.InvalidQuantity;
    const newPrice = cmd.priceTicks === 0 ? o.priceTicks : cmd.priceTicks;
    const newQty = cmd.qtyLots === 0 ? o.qtyLots : cmd.qtyLots;
    if (newPrice === o.priceTicks && newQty === o.qtyLots) return RejectReason.ReplaceNoChange;
    if (newQty < s.minQtyLots) return RejectReason.QuantityBelowMin;
    if (newQty > s.maxQtyLots) return RejectReason.QuantityAboveMax;
    if (newPrice !== o.priceTicks) {
      const band = this.priceBand();
      if (band !== null && (newPrice < band[0] || newPrice > band[1])) return RejectReason.PriceOutsideBand;
    }
    const nr = this.notionalCheck(BigInt(newPrice) * BigInt(newQty) * BigInt(s.notionalUnitsPerTickLot));
    if (nr !== RejectReason.None) return nr;
    const newRemaining = newQty - o.filledLots;
    if (newRemaining > o.remainingLots) {
      const pr = this.positionCheck(o.account, o.side, newRemaining - o.remainingLots);
      if (pr !== RejectReason.None) return pr;
    }
    if ((o.flags & OrderFlags.PostOnly) !== 0 && this.wouldTake(o.side, newPrice)) return RejectReason.PostOnlyWouldTake;
    return RejectReason.None;
  }

  private replace(cmd: Command): void {
    const o = this.lookupOwn(cmd);
    const reason = this.validateReplace(cmd, o);
    if (reason !== RejectReason.None || o === undefined) {
      this.reject(cmd, reason);
      return;
    }
    const newPrice = cmd.priceTicks === 0 ? o.priceTicks : cmd.priceTicks;
    const newQty = cmd.qtyLots === 0 ? o.qtyLots : cmd.qtyLots;
    if (newQty <= o.filledLots) {
      this.cancelOrder(o, EndReason.ReplaceDone);
      return;
    }
    const newRemaining = newQty - o.filledLots;
    if (newPrice === o.priceTicks && newRemaining <= o.remainingLots) {
      o.qtyLots = newQty;
      o.remainingLots = newRemaining;
      this.events.replaced(o.orderId, o.account, newPrice, newQty, newRemaining, 1);
      this.emitDepth(o.side, o.priceTicks);
      return;
    }
    this.events.replaced(o.orderId, o.account, newPrice, newQty, newRemaining, 0);
    this.removeOrder(o);
    this.emitDepth(o.side, o.priceTicks);
    const taker: Taker = {
      orderId: o.orderId, account: o.account, clientOrderId: o.clientOrderId, side: o.side,
      isMarket: false, byQuote: false, limitPriceTicks: newPrice, boundPriceTicks: 0,
      remainingLots: newRemaining, quoteLeftUnits: 0, filledLots: o.filledLots,
      stpMode: o.stpMode, stpGroup: o.stpGroup,
    };
    const stop = this.match(taker);
    this.finishTaker(taker, stop, true, (t) => ({
      ...o, priceTicks: newPrice, qtyLots: newQty, remainingLots: t.remainingLots, filledLots: t.filledLots, entry: 0,
    }));
  }

  /** Cancels the given orders in ascending id (Canceled + Depth each); returns the count. */
  private cancelMany(list: RefOrder[], reason: number): number {
    const sorted = [...list].sort((a, b) => a.orderId - b.orderId);
    for (const o of sorted) this.cancelOrder(o, reason);
    return sorted.length;
  }

  private massCancel(cmd: Command): void {
    if (this.status === SymbolStatus.Halted) return this.reject(cmd, RejectReason.SymbolHalted);
    if (cmd.account !== 0 && !isIntIn(cmd.account, 1, MAX_ID)) return this.reject(cmd, RejectReason.InvalidAccount);
    const list = cmd.account === 0 ? this.orders : this.orders.filter((o) => o.account === cmd.account);
    const count = this.cancelMany(list, EndReason.MassCancel);
    this.events.adminDone(cmd.type, cmd.account, cmd.value, cmd.value2, count);
  }

  // ----------------------------------------------------------------------------------------------
  // Admin
  // ----------------------------------------------------------------------------------------------

  private setSymbolStatus(cmd: Command): void {
    if (!isIntIn(cmd.value, 0, 2)) return this.reject(cmd, RejectReason.InvalidValue);
    this.status = cmd.value;
    this.events.adminDone(cmd.type, cmd.account, cmd.value, cmd.value2, 0);
  }

  private setKillSwitch(cmd: Command): void {
    if (!isIntIn(cmd.account, 1, MAX_ID)) return this.reject(cmd, RejectReason.InvalidAccount);
    if (cmd.value !== 0 && cmd.value !== 1) return this.reject(cmd, RejectReason.InvalidValue);
    let count = 0;
    if (cmd.value === 1) {
      this.account(cmd.account).killed = true;
      count = this.cancelMany(this.orders.filter((o) => o.account === cmd.account), EndReason.KillSwitch);
    } else {
      const a = this.peekAccount(cmd.account);
      if (a !== undefined) { a.killed = false; this.pruneAccount(cmd.account); }
    }
    this.events.adminDone(cmd.type, cmd.account, cmd.value, cmd.value2, count);
  }

  private setAccountLimits(cmd: Command): void {
    if (!isIntIn(cmd.account, 1, MAX_ID)) return this.reject(cmd, RejectReason.InvalidAccount);
    if (!isIntIn(cmd.value, 0, MAX_ID) || !isIntIn(cmd.value2, 0, MAX_ID)) return this.reject(cmd, RejectReason.InvalidValue);
    const a = this.account(cmd.account);
    a.maxPositionLots = cmd.value;
    a.maxOpenOrders = cmd.value2;
    this.pruneAccount(cmd.account);
    this.events.adminDone(cmd.type, cmd.account, cmd.value, cmd.value2, 0);
  }

  private setReferencePrice(cmd: Command): void {
    if (!isIntIn(cmd.value, this.spec.minPriceTicks, this.spec.maxPriceTicks)) return this.reject(cmd, RejectReason.InvalidPrice);
    this.referencePriceTicks = cmd.value;
    this.events.adminDone(cmd.type, cmd.account, cmd.value, cmd.value2, 0);
  }

  // ----------------------------------------------------------------------------------------------
  // Canonical state
  // ----------------------------------------------------------------------------------------------

  stateDump(): number[] {
    // Canonical dump v2 (22 fields per order). Issue-2 orders only: resting limits, no pending section.
    const out: number[] = [this.nowUs, this.referencePriceTicks, this.lastTradePriceTicks, this.nextTradeId, this.status];
    for (const side of [Side.Buy, Side.Sell]) {
      const list = this.sideOrders(side);
      out.push(list.length);
      for (const o of list) {
        out.push(o.orderId, o.account, o.clientOrderId, o.side, 0, o.priceTicks, o.qtyLots, o.remainingLots, o.filledLots,
          o.tif, o.flags, o.stpMode, o.stpGroup, o.expireTsUs, 0, 0, o.remainingLots, 0, 0, 0, 0, 0);
      }
    }
    out.push(0); // pending orders
    const ids = [...this.accounts.keys()].sort((a, b) => a - b).filter((id) => {
      const a = this.accounts.get(id)!;
      return a.positionLots !== 0 || a.killed || a.maxPositionLots !== 0 || a.maxOpenOrders !== 0;
    });
    out.push(ids.length);
    for (const id of ids) {
      const a = this.accounts.get(id)!;
      out.push(id, a.positionLots, a.killed ? 1 : 0, a.maxPositionLots, a.maxOpenOrders);
    }
    out.push(this.retained.length);
    for (const [acc, cid] of this.retained) out.push(acc, cid);
    return out;
  }

  stateHash(): string {
    return hashNumbers(this.stateDump());
  }

  snapshot(): Float64Array {
    return Float64Array.from(this.stateDump());
  }

  static restore(spec: InstrumentSpec, events: EventBuffer, snap: ArrayLike<number>): ReferenceBook {
    const b = new ReferenceBook(spec, events);
    let i = 0;
    const next = (): number => {
      if (i >= snap.length) throw new RangeError('ReferenceBook.restore: snapshot too short');
      return snap[i++]!;
    };
    b.nowUs = next(); b.referencePriceTicks = next(); b.lastTradePriceTicks = next(); b.nextTradeId = next(); b.status = next();
    for (let side = 0; side < 2; side++) {
      const count = next();
      for (let k = 0; k < count; k++) {
        const orderId = next(), account = next(), clientOrderId = next(), oside = next();
        next(); // orderType: Limit
        const o: RefOrder = {
          orderId, account, clientOrderId, side: oside, priceTicks: next(), qtyLots: next(),
          remainingLots: next(), filledLots: next(), tif: next(), flags: next(), stpMode: next(), stpGroup: next(),
          expireTsUs: next(), entry: ++b.entryCounter,
        };
        for (let f = 0; f < 8; f++) next(); // stop, display, visible, trail, limit offset, anchor, link, parent
        b.orders.push(o);
      }
    }
    if (next() !== 0) throw new RangeError('ReferenceBook.restore: pending orders are not supported yet');
    const accounts = next();
    for (let k = 0; k < accounts; k++) {
      const id = next();
      b.accounts.set(id, { positionLots: next(), killed: next() === 1, maxPositionLots: next(), maxOpenOrders: next() });
    }
    const retained = next();
    for (let k = 0; k < retained; k++) b.retained.push([next(), next()]);
    if (i !== snap.length) throw new RangeError('ReferenceBook.restore: trailing data in snapshot');
    return b;
  }
}
