// The test oracle: a naive order book written from docs/matching-semantics.md alone, to be obviously
// correct rather than fast. Plain arrays of plain objects, sorting and filtering on every step,
// BigInt wherever a product could leave the safe integer range. It emits events through the same
// EventBuffer writer methods as core/book.ts, so the two streams can be compared record by record.
//
// Issue 3 (advanced types): every open order is one record in `orders`, on the book (`onBook`) or
// pending (conditionals waiting for their trigger, bracket children of size 0). Trigger queues are not
// kept: each check filters and sorts the pending orders by the documented order. Trailing anchors
// are moved at each check by the source prices logged since the previous check. Links and children
// are plain ids (linkId, parentId) looked up in `orders`.

import { EventBuffer } from '../core/events.js';
import { hashNumbers } from '../core/hash.js';
import type { InstrumentSpec } from '../core/instrument.js';
import {
  ALL_ORDER_FLAGS, Command, CommandType, EndReason, OrderFlags, OrderType, RejectReason, Side, StpMode, SymbolStatus,
  TimeInForce,
} from '../core/types.js';

const MAX_ID = Number.MAX_SAFE_INTEGER; // 2^53 - 1
const DEFAULT_MAX_TRIGGERS = 100;

export interface RefOrder {
  orderId: number;
  account: number;
  clientOrderId: number;
  side: number;
  /** The original type (kept after activation). */
  orderType: number;
  /** Current limit price; 0 for market-type. */
  priceTicks: number;
  qtyLots: number;
  remainingLots: number;
  filledLots: number;
  tif: number;
  flags: number;
  stpMode: number;
  stpGroup: number;
  expireTsUs: number;
  /** X (current for trailing; frozen after activation). */
  stopPriceTicks: number;
  displayQtyLots: number;
  /** Lots shown on the book (icebergs: the slice); 0 while pending. */
  visibleLots: number;
  trailOffset: number;
  limitOffsetTicks: number;
  anchorTicks: number;
  /** OCO partner id, 0 if none. */
  linkId: number;
  /** Bracket entry id for children, 0 once the entry is gone. */
  parentId: number;
  /** Conditional types: the protection price (buy: cap, sell: floor), 0 = none; set to 0 by the activation. */
  protectionPriceTicks: number;
  /** On the book (resting) or pending (waiting for a trigger, or a child of size 0). */
  onBook: boolean;
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

/** The incoming side of a match: an order record in flight (not in `orders`) and how it may trade. */
interface Taker {
  o: RefOrder;
  isMarket: boolean;
  byQuote: boolean;
  limitPriceTicks: number;
  /** Market protection bound (buy: highest price, sell: lowest price). */
  boundPriceTicks: number;
  quoteLeftUnits: number;
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

export function isConditionalType(t: number): boolean {
  return t >= OrderType.Stop && t <= OrderType.LimitIfTouched;
}

/** Conditional types that become market orders. */
function isMarketType(t: number): boolean {
  return t === OrderType.Stop || t === OrderType.TrailingStop || t === OrderType.MarketIfTouched;
}

function isTrailingType(t: number): boolean {
  return t === OrderType.TrailingStop || t === OrderType.TrailingStopLimit;
}

/** Types with a limit price of their own (band check, notional from priceTicks). */
function hasLimitPrice(t: number): boolean {
  return t === OrderType.Limit || t === OrderType.StopLimit || t === OrderType.LimitIfTouched;
}

/** "Up" orders fire on P >= X: buy stops and buy trailing, sell if-touched. */
function isUpOrder(t: number, side: number): boolean {
  const touched = t === OrderType.MarketIfTouched || t === OrderType.LimitIfTouched;
  return touched ? side === Side.Sell : side === Side.Buy;
}

function conditionHolds(t: number, side: number, p: number, x: number): boolean {
  if (p === 0) return false;
  return isUpOrder(t, side) ? p >= x : p <= x;
}

/** Trailing distance in ticks for an anchor. */
function trailDistance(trailOffset: number, flags: number, anchor: number): number {
  if ((flags & OrderFlags.TrailBps) === 0) return trailOffset;
  return Math.max(1, Number(floorDiv(BigInt(anchor) * BigInt(trailOffset), 10000n)));
}

/** X for a trailing order with the given anchor. */
function trailStop(side: number, trailOffset: number, flags: number, anchor: number): number {
  const d = trailDistance(trailOffset, flags, anchor);
  return side === Side.Sell ? Math.max(1, anchor - d) : anchor + d;
}

/**
 * Known deviations of the fast book that the reference can imitate, so a property run can look past
 * a reported bug until it is fixed (see KNOWN_FAST_BOOK_QUIRKS in lockstep.ts). Off by default: the
 * reference follows the doc.
 */
export interface RefQuirks {
  /**
   * Client id retention order: the fast book retains an order's client id when it frees the order,
   * after its OCO partner / children were canceled (the doc: when it terminates, i.e. first). A new
   * order ending as a taker is retained first in both.
   */
  retainAfterLinked?: boolean;
  /**
   * The fast book forgets the source prices seen only at a trigger check that finds pending
   * conditionals; prices seen while none were pending still move a trailing order entered later
   * (the doc: its anchor starts at the source price at entry).
   */
  staleTrailingPrices?: boolean;
  /**
   * A maker filled in full leaves its level only after its OCO partner's (and the taker's partner's)
   * linked cancel, so that cancel's Depth still counts it (qty 0, count + 1).
   */
  depthCountsFilledMaker?: boolean;
}

export class ReferenceBook {
  readonly spec: InstrumentSpec;
  readonly events: EventBuffer;
  readonly quirks: RefQuirks;
  nowUs = 0;
  referencePriceTicks: number;
  lastTradePriceTicks = 0;
  nextTradeId = 1;
  status: number = SymbolStatus.Open;
  /** Every open order: on the book and pending. */
  orders: RefOrder[] = [];
  accounts = new Map<number, RefAccount>();
  /** Terminated (account, clientOrderId) pairs, oldest first. */
  retained: Array<[number, number]> = [];
  private entryCounter = 0;
  /** Source prices seen since the last trigger check (this command only). */
  private seenLast: number[] = [];
  private seenMark: number[] = [];
  private triggersThisCommand = 0;
  /** Bracket children's growth waiting for the end of the current matching step: child id -> lots. */
  private pendingGrowth = new Map<number, number>();
  /** Orders being matched as takers (not in `orders`): a stack, as matching can nest (child growth). */
  private inFlight: RefOrder[] = [];

  constructor(spec: InstrumentSpec, events: EventBuffer, quirks: RefQuirks = {}) {
    this.spec = spec;
    this.events = events;
    this.quirks = quirks;
    this.referencePriceTicks = spec.referencePriceTicks;
  }

  /**
   * True when an imitated quirk left state that the canonical dump does not hold (so a restored book
   * may rightly behave differently from the original): stale trailing prices.
   */
  hasHiddenQuirkState(): boolean {
    return this.quirks.staleTrailingPrices === true && (this.seenLast.length > 0 || this.seenMark.length > 0);
  }

  /** An order terminated (its terminal event is out): its client id is retained, then links and children. */
  private terminated(o: RefOrder, newTaker = false): void {
    if (this.quirks.retainAfterLinked === true && !newTaker) {
      this.afterEnd(o);
      this.retire(o.account, o.clientOrderId);
      return;
    }
    this.retire(o.account, o.clientOrderId);
    this.afterEnd(o);
  }

  private get maxTriggers(): number {
    return this.spec.maxTriggersPerCommand ?? DEFAULT_MAX_TRIGGERS;
  }

  // ----------------------------------------------------------------------------------------------
  // Queries
  // ----------------------------------------------------------------------------------------------

  /** Resting orders of one side, best price first, time priority within a price. */
  sideOrders(side: number): RefOrder[] {
    const list = this.orders.filter((o) => o.onBook && o.side === side);
    list.sort((a, b) => {
      if (a.priceTicks !== b.priceTicks) return side === Side.Buy ? b.priceTicks - a.priceTicks : a.priceTicks - b.priceTicks;
      return a.entry - b.entry;
    });
    return list;
  }

  pendingOrders(): RefOrder[] {
    return this.orders.filter((o) => !o.onBook).sort((a, b) => a.orderId - b.orderId);
  }

  levelOrders(side: number, priceTicks: number): RefOrder[] {
    return this.sideOrders(side).filter((o) => o.priceTicks === priceTicks);
  }

  /** A level's visible quantity. */
  levelQty(side: number, priceTicks: number): number {
    return this.levelOrders(side, priceTicks).reduce((s, o) => s + o.visibleLots, 0);
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

  /** Live children of an entry: open ones, and one being matched as a taker right now. */
  private childrenOf(orderId: number): RefOrder[] {
    return [...this.orders, ...this.inFlight].filter((o) => o.parentId === orderId).sort((a, b) => a.orderId - b.orderId);
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

  /** Open lots of an account on a side: resting and pending orders alike. */
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

  private upperBoundFrom(r: number): number {
    return Number(floorDiv(BigInt(r) * BigInt(10000 + this.spec.marketBandBps), 10000n));
  }

  private lowerBoundFrom(r: number): number {
    return Math.max(1, Number(ceilDiv(BigInt(r) * BigInt(10000 - this.spec.marketBandBps), 10000n)));
  }

  private marketUpperBound(): number { return this.upperBoundFrom(this.referencePriceTicks); }
  private marketLowerBound(): number { return this.lowerBoundFrom(this.referencePriceTicks); }

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

  /** The trigger source price of a conditional: the mark (reference) price or the last trade price. */
  private sourceFor(flags: number): number {
    return (flags & OrderFlags.TriggerMark) !== 0 ? this.referencePriceTicks : this.lastTradePriceTicks;
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
    const qty = level.reduce((s, o) => s + o.visibleLots, 0);
    this.events.depth(side, priceTicks, qty, level.length);
  }

  /**
   * Ends an open order for a cancel-like reason or an expiry: Canceled/Expired, Depth if it was on
   * the book, then its OCO partner and its children.
   */
  private endOrder(o: RefOrder, reason: number, expired: boolean): void {
    this.removeOrder(o);
    if (expired) this.events.expired(o.orderId, o.account, o.remainingLots, reason, o.filledLots);
    else this.events.canceled(o.orderId, o.account, o.remainingLots, reason, o.filledLots);
    if (o.onBook) this.emitDepth(o.side, o.priceTicks);
    this.terminated(o);
  }

  /** Cancels the OCO partner of `o` (if any) with LinkedOrder; clears both links. */
  private cancelPartner(o: RefOrder): void {
    if (o.linkId === 0) return;
    const p = this.findOpen(o.linkId);
    o.linkId = 0;
    if (p === undefined) return;
    p.linkId = 0;
    this.endOrder(p, EndReason.LinkedOrder, false);
  }

  /** After an order's terminal event: its OCO partner goes; its children go (no fills) or stay detached. */
  private afterEnd(o: RefOrder): void {
    this.cancelPartner(o);
    const children = this.childrenOf(o.orderId);
    for (const c of children) c.parentId = 0;
    if (o.filledLots === 0) {
      for (const c of children) if (this.orders.includes(c)) this.endOrder(c, EndReason.LinkedOrder, false);
    }
  }

  /** Puts an order at the back of its level with a fresh slice; Depth. */
  private rest(o: RefOrder): void {
    o.onBook = true;
    o.visibleLots = o.displayQtyLots > 0 ? Math.min(o.displayQtyLots, o.remainingLots) : o.remainingLots;
    o.entry = ++this.entryCounter;
    this.orders.push(o);
    this.emitDepth(o.side, o.priceTicks);
  }

  private expireGtd(): void {
    for (;;) {
      const due = this.orders.filter((o) => o.tif === TimeInForce.GTD && o.expireTsUs <= this.nowUs);
      if (due.length === 0) return;
      due.sort((a, b) => (a.expireTsUs !== b.expireTsUs ? a.expireTsUs - b.expireTsUs : a.orderId - b.orderId));
      this.endOrder(due[0]!, EndReason.Expired, true);
    }
  }

  private noteTradePrice(p: number): void {
    this.referencePriceTicks = p;
    this.lastTradePriceTicks = p;
    this.seenLast.push(p);
    this.seenMark.push(p);
  }

  // ----------------------------------------------------------------------------------------------
  // Entry point
  // ----------------------------------------------------------------------------------------------

  execute(cmd: Command): void {
    this.events.seq = cmd.seq;
    this.events.tsUs = cmd.tsUs;
    this.nowUs = Math.max(this.nowUs, cmd.tsUs);
    if (this.quirks.staleTrailingPrices !== true) {
      this.seenLast = [];
      this.seenMark = [];
    }
    this.triggersThisCommand = 0;
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
    this.applyGrowth();
    this.runTriggers();
    const after = this.topOfBook();
    if (after.some((v, i) => v !== before[i])) this.events.topOfBook(after[0], after[1], after[2], after[3]);
  }

  private reject(cmd: Command, reason: number): void {
    this.events.rejected(cmd.orderId, cmd.account, cmd.clientOrderId, reason, cmd.type);
  }

  // ----------------------------------------------------------------------------------------------
  // NewOrder: validation
  // ----------------------------------------------------------------------------------------------

  /** The conditional-type checks, in the doc's order (after checks 1 to 3). */
  private validateConditionalFields(cmd: Command): number {
    const s = this.spec;
    const t = cmd.orderType;
    if (isMarketType(t) && cmd.tif !== TimeInForce.IOC && cmd.tif !== TimeInForce.FOK) return RejectReason.InvalidTimeInForce;
    if ((cmd.flags & (OrderFlags.PostOnly | OrderFlags.QuoteQty)) !== 0) return RejectReason.InvalidFlags;
    if ((cmd.flags & OrderFlags.TrailBps) !== 0 && !isTrailingType(t)) return RejectReason.InvalidFlags;
    // A child is Limit, Stop or StopLimit.
    if ((cmd.flags & OrderFlags.Child) !== 0 && t !== OrderType.Stop && t !== OrderType.StopLimit) return RejectReason.InvalidLink;
    if (isTrailingType(t)) {
      if (cmd.stopPriceTicks !== 0) return RejectReason.InvalidStopPrice;
    } else if (!isIntIn(cmd.stopPriceTicks, s.minPriceTicks, s.maxPriceTicks)) {
      return RejectReason.InvalidStopPrice;
    }
    if (t === OrderType.StopLimit || t === OrderType.LimitIfTouched) {
      if (!isIntIn(cmd.priceTicks, s.minPriceTicks, s.maxPriceTicks)) return RejectReason.InvalidPrice;
    } else if (cmd.priceTicks !== 0) {
      return RejectReason.InvalidPrice;
    }
    if (isTrailingType(t)) {
      const max = (cmd.flags & OrderFlags.TrailBps) !== 0 ? 9999 : MAX_ID;
      if (!isIntIn(cmd.trailOffset, 1, max)) return RejectReason.InvalidTrailOffset;
    } else if (cmd.trailOffset !== 0) {
      return RejectReason.InvalidTrailOffset;
    }
    if (t === OrderType.TrailingStopLimit) {
      if (!isIntIn(cmd.limitOffsetTicks, 0, MAX_ID)) return RejectReason.InvalidTrailOffset;
    } else if (cmd.limitOffsetTicks !== 0) {
      return RejectReason.InvalidTrailOffset;
    }
    if (cmd.displayQtyLots !== 0) return RejectReason.InvalidDisplayQty;
    return RejectReason.None;
  }

  /** Limit/Market combination checks of step 4 up to the price. */
  private validatePlainFields(cmd: Command): number {
    const s = this.spec;
    const isMarket = cmd.orderType === OrderType.Market;
    const postOnly = (cmd.flags & OrderFlags.PostOnly) !== 0;
    const byQuote = (cmd.flags & OrderFlags.QuoteQty) !== 0;
    const child = (cmd.flags & OrderFlags.Child) !== 0;
    if ((cmd.flags & (OrderFlags.TriggerMark | OrderFlags.TriggerImmediately | OrderFlags.TrailBps)) !== 0) return RejectReason.InvalidFlags;
    if (child && (isMarket || (cmd.tif !== TimeInForce.GTC && cmd.tif !== TimeInForce.GTD))) return RejectReason.InvalidLink;
    if (isMarket && cmd.tif !== TimeInForce.IOC && cmd.tif !== TimeInForce.FOK) return RejectReason.InvalidTimeInForce;
    if (isMarket && byQuote && cmd.tif === TimeInForce.FOK) return RejectReason.InvalidTimeInForce;
    if (postOnly && (isMarket || (cmd.tif !== TimeInForce.GTC && cmd.tif !== TimeInForce.GTD))) return RejectReason.InvalidFlags;
    if (byQuote && !isMarket) return RejectReason.InvalidFlags;
    if (cmd.stopPriceTicks !== 0) return RejectReason.InvalidStopPrice;
    if (cmd.trailOffset !== 0 || cmd.limitOffsetTicks !== 0) return RejectReason.InvalidTrailOffset;
    if (!isMarket && !isIntIn(cmd.priceTicks, s.minPriceTicks, s.maxPriceTicks)) return RejectReason.InvalidPrice;
    if (isMarket && cmd.priceTicks !== 0) return RejectReason.InvalidPrice;
    return RejectReason.None;
  }

  /** OCO / bracket link target check (the order named by linkId may take this link). */
  private linkAllowed(cmd: Command): boolean {
    if (!isIntIn(cmd.linkId, 1, MAX_ID)) return false;
    const t = this.findOpen(cmd.linkId);
    if (t === undefined || t.account !== cmd.account) return false;
    const targetIsChild = (t.flags & OrderFlags.Child) !== 0 || t.parentId !== 0;
    if ((cmd.flags & OrderFlags.Child) !== 0) {
      // Bracket child: the entry is on the other side, not a child itself, with fewer than two children.
      if (t.side === cmd.side || targetIsChild) return false;
      return this.childrenOf(t.orderId).length < 2;
    }
    // OCO: same side, not linked, not a bracket child, no fills.
    return t.side === cmd.side && t.linkId === 0 && !targetIsChild && t.filledLots === 0;
  }

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
    if (!isIntIn(cmd.orderType, OrderType.Limit, OrderType.LimitIfTouched)) return RejectReason.InvalidOrderType;
    if (!isIntIn(cmd.tif, TimeInForce.GTC, TimeInForce.GTD)) return RejectReason.InvalidTimeInForce;
    if (!isIntIn(cmd.stpMode, StpMode.None, StpMode.Decrement)) return RejectReason.InvalidStpMode;
    if (!isIntIn(cmd.flags, 0, ALL_ORDER_FLAGS)) return RejectReason.InvalidFlags;
    if (!isIntIn(cmd.clientOrderId, 0, MAX_ID)) return RejectReason.InvalidClientOrderId;
    if (!isIntIn(cmd.stpGroup, 0, MAX_ID)) return RejectReason.InvalidAccount;
    // 4. combinations (conditional fields first for conditional types)
    const t = cmd.orderType;
    const cond = isConditionalType(t);
    const isMarket = t === OrderType.Market;
    const byQuote = (cmd.flags & OrderFlags.QuoteQty) !== 0;
    const child = (cmd.flags & OrderFlags.Child) !== 0;
    const fields = cond ? this.validateConditionalFields(cmd) : this.validatePlainFields(cmd);
    if (fields !== RejectReason.None) return fields;
    if (child) {
      if (cmd.qtyLots !== 0 || cmd.quoteQtyUnits !== 0) return RejectReason.InvalidQuantity;
    } else if (byQuote) {
      if (!isIntIn(cmd.quoteQtyUnits, 1, MAX_ID) || cmd.qtyLots !== 0) return RejectReason.InvalidQuantity;
    } else if (!isIntIn(cmd.qtyLots, 1, MAX_ID) || cmd.quoteQtyUnits !== 0) {
      return RejectReason.InvalidQuantity;
    }
    // protectionPriceTicks: Market any integer >= 0; conditional types 0 or a price in range; others 0.
    if (isMarket) {
      if (!isIntIn(cmd.protectionPriceTicks, 0, MAX_ID)) return RejectReason.InvalidPrice;
    } else if (cond) {
      if (cmd.protectionPriceTicks !== 0 && !isIntIn(cmd.protectionPriceTicks, s.minPriceTicks, s.maxPriceTicks)) return RejectReason.InvalidPrice;
    } else if (cmd.protectionPriceTicks !== 0) {
      return RejectReason.InvalidPrice;
    }
    if (cmd.tif === TimeInForce.GTD) {
      if (!isIntIn(cmd.expireTsUs, 1, MAX_ID)) return RejectReason.InvalidExpireTime;
      if (cmd.expireTsUs <= this.nowUs) return RejectReason.GtdAlreadyExpired;
    } else if (cmd.expireTsUs !== 0) {
      return RejectReason.InvalidExpireTime;
    }
    // 5. quantity (not for quote-sized orders nor children); iceberg display
    if (!byQuote && !child) {
      if (cmd.qtyLots < s.minQtyLots) return RejectReason.QuantityBelowMin;
      if (cmd.qtyLots > s.maxQtyLots) return RejectReason.QuantityAboveMax;
    }
    if (!cond && cmd.displayQtyLots !== 0) {
      if (t !== OrderType.Limit || (cmd.tif !== TimeInForce.GTC && cmd.tif !== TimeInForce.GTD) || child) return RejectReason.InvalidDisplayQty;
      if (!isIntIn(cmd.displayQtyLots, Math.max(1, s.minDisplayQtyLots), cmd.qtyLots)) return RejectReason.InvalidDisplayQty;
    }
    // 6. client order id, then the link
    if (cmd.clientOrderId !== 0 && this.clientIdTaken(cmd.account, cmd.clientOrderId)) return RejectReason.DuplicateClientOrderId;
    if (cmd.linkId !== 0 && !this.linkAllowed(cmd)) return RejectReason.InvalidLink;
    if (cmd.linkId === 0 && child) return RejectReason.InvalidLink;
    // 7. reference price for market orders; a source price for trailing orders
    const r = this.referencePriceTicks;
    if (isMarket && r === 0) return RejectReason.NoReferencePrice;
    const src = this.sourceFor(cmd.flags);
    if (isTrailingType(t) && src === 0) return RejectReason.NoReferencePrice;
    // 8. price band (limit prices only)
    if (hasLimitPrice(t)) {
      const band = this.priceBand();
      if (band !== null && (cmd.priceTicks < band[0] || cmd.priceTicks > band[1])) return RejectReason.PriceOutsideBand;
    }
    // 9. notional (not for children)
    const x0 = isTrailingType(t) ? trailStop(cmd.side, cmd.trailOffset, cmd.flags, src) : cmd.stopPriceTicks;
    if (!child) {
      const n = BigInt(s.notionalUnitsPerTickLot);
      let notional: bigint;
      if (byQuote) notional = BigInt(cmd.quoteQtyUnits);
      else if (isMarket) notional = BigInt(r) * BigInt(cmd.qtyLots) * n;
      else if (hasLimitPrice(t)) notional = BigInt(cmd.priceTicks) * BigInt(cmd.qtyLots) * n;
      else notional = BigInt(x0) * BigInt(cmd.qtyLots) * n;
      const nr = this.notionalCheck(notional);
      if (nr !== RejectReason.None) return nr;
    }
    // 10. open orders (every order that takes a slot)
    const takesSlot = cond || child || (!isMarket && (cmd.tif === TimeInForce.GTC || cmd.tif === TimeInForce.GTD));
    if (takesSlot) {
      const limit = this.openOrderLimit(cmd.account);
      if (limit !== 0 && this.orders.filter((o) => o.account === cmd.account).length >= limit) return RejectReason.TooManyOpenOrders;
    }
    // 11. position (not for children)
    if (!child) {
      // QuoteQty: the most lots it can get. A buy walks up from the best ask; a sell down to the lower bound.
      const lowest = cmd.side === Side.Buy ? this.bestAskTicks() : this.marketLowerBound();
      const n = BigInt(s.notionalUnitsPerTickLot);
      const q = !byQuote ? cmd.qtyLots : lowest === 0 ? 0 : Number(BigInt(cmd.quoteQtyUnits) / (BigInt(lowest) * n));
      const pr = this.positionCheck(cmd.account, cmd.side, q);
      if (pr !== RejectReason.None) return pr;
    }
    // 12. capacity
    if (takesSlot && this.orders.length >= s.orderCapacity) return RejectReason.BookFull;
    // 13. post-only
    if ((cmd.flags & OrderFlags.PostOnly) !== 0 && this.wouldTake(cmd.side, cmd.priceTicks)) return RejectReason.PostOnlyWouldTake;
    // Conditionals whose condition already holds (children wait for a size first).
    if (cond && !child && (cmd.flags & OrderFlags.TriggerImmediately) === 0 && conditionHolds(t, cmd.side, src, x0)) {
      return RejectReason.StopWouldTrigger;
    }
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

  // ----------------------------------------------------------------------------------------------
  // NewOrder: processing
  // ----------------------------------------------------------------------------------------------

  private recordFrom(cmd: Command): RefOrder {
    return {
      orderId: cmd.orderId, account: cmd.account, clientOrderId: cmd.clientOrderId, side: cmd.side, orderType: cmd.orderType,
      priceTicks: cmd.priceTicks, qtyLots: cmd.qtyLots, remainingLots: cmd.qtyLots, filledLots: 0, tif: cmd.tif,
      flags: cmd.flags, stpMode: cmd.stpMode, stpGroup: cmd.stpGroup, expireTsUs: cmd.expireTsUs,
      stopPriceTicks: cmd.stopPriceTicks, displayQtyLots: cmd.displayQtyLots, visibleLots: 0, trailOffset: cmd.trailOffset,
      limitOffsetTicks: cmd.limitOffsetTicks, anchorTicks: 0, linkId: 0, parentId: 0, onBook: false, entry: 0,
      protectionPriceTicks: isConditionalType(cmd.orderType) ? cmd.protectionPriceTicks : 0,
    };
  }

  /** OCO: links the new order and its partner both ways. */
  private linkOco(o: RefOrder, partnerId: number): void {
    const p = this.findOpen(partnerId)!;
    o.linkId = p.orderId;
    p.linkId = o.orderId;
  }

  private newOrder(cmd: Command): void {
    const reason = this.validateNewOrder(cmd);
    if (reason !== RejectReason.None) {
      this.reject(cmd, reason);
      return;
    }
    this.events.accepted(cmd.orderId, cmd.account, cmd.clientOrderId, cmd.side, cmd.orderType, cmd.tif,
      cmd.priceTicks, cmd.qtyLots, cmd.quoteQtyUnits, cmd.flags, cmd.expireTsUs);
    if ((cmd.flags & OrderFlags.Child) !== 0) return this.newChild(cmd);
    if (isConditionalType(cmd.orderType)) return this.newConditional(cmd);
    const o = this.recordFrom(cmd);
    if (cmd.linkId !== 0) this.linkOco(o, cmd.linkId);
    const isMarket = cmd.orderType === OrderType.Market;
    const byQuote = (cmd.flags & OrderFlags.QuoteQty) !== 0;
    let bound = 0;
    if (isMarket) {
      const prot = cmd.protectionPriceTicks;
      if (cmd.side === Side.Buy) bound = prot > 0 ? Math.min(this.marketUpperBound(), prot) : this.marketUpperBound();
      else bound = Math.max(this.marketLowerBound(), prot);
    }
    const taker: Taker = {
      o, isMarket, byQuote, limitPriceTicks: isMarket ? 0 : cmd.priceTicks, boundPriceTicks: bound,
      quoteLeftUnits: byQuote ? cmd.quoteQtyUnits : 0,
    };
    this.runTaker(taker, !isMarket && (cmd.tif === TimeInForce.GTC || cmd.tif === TimeInForce.GTD), true);
  }

  private newConditional(cmd: Command): void {
    const o = this.recordFrom(cmd);
    const src = this.sourceFor(cmd.flags);
    if (isTrailingType(cmd.orderType)) {
      o.anchorTicks = src;
      o.stopPriceTicks = trailStop(o.side, o.trailOffset, o.flags, src);
    }
    if (cmd.linkId !== 0) this.linkOco(o, cmd.linkId);
    this.orders.push(o);
    if (conditionHolds(o.orderType, o.side, src, o.stopPriceTicks)) {
      // Only with TriggerImmediately (validation rejected it otherwise).
      this.triggersThisCommand++;
      this.activate(o);
    }
  }

  private newChild(cmd: Command): void {
    const o = this.recordFrom(cmd);
    o.parentId = cmd.linkId;
    const siblings = this.childrenOf(cmd.linkId);
    this.orders.push(o);
    if (siblings.length > 0) {
      o.linkId = siblings[0]!.orderId;
      siblings[0]!.linkId = o.orderId;
    }
    const entry = this.findOpen(cmd.linkId)!;
    if (entry.filledLots > 0) this.growChild(o, entry.filledLots);
  }

  // ----------------------------------------------------------------------------------------------
  // Taking liquidity: new orders, replace re-entry, activation, child growth
  // ----------------------------------------------------------------------------------------------

  /** FOK check, matching, then rest / expire / done. `t.o` is not in `orders` while in flight. */
  private runTaker(t: Taker, mayRest: boolean, isNew = false): void {
    const o = t.o;
    if (o.tif === TimeInForce.FOK && !this.fokCanFill(t)) {
      this.events.expired(o.orderId, o.account, o.remainingLots, EndReason.FillOrKill, o.filledLots);
      this.terminated(o, isNew);
      return;
    }
    this.inFlight.push(o);
    const stop = this.match(t);
    this.inFlight.pop();
    if (stop.kind === 'selfTrade') {
      const remaining = t.byQuote ? 0 : (stop.decrementLots > 0 ? stop.decrementLots : o.remainingLots);
      this.events.expired(o.orderId, o.account, remaining, EndReason.SelfTrade, o.filledLots);
      this.terminated(o, isNew);
      return;
    }
    const done = t.byQuote ? t.quoteLeftUnits === 0 : o.remainingLots === 0;
    if (done) {
      this.terminated(o, isNew);
      return;
    }
    if (mayRest) {
      this.rest(o);
      return;
    }
    let reason: number = EndReason.ImmediateRemainder;
    if (stop.kind === 'bound') reason = EndReason.MarketProtection;
    else if (stop.kind === 'quote') reason = EndReason.QuoteExhausted;
    this.events.expired(o.orderId, o.account, t.byQuote ? 0 : o.remainingLots, reason, o.filledLots);
    this.terminated(o, isNew);
  }

  private priceAcceptable(t: Taker, p: number): 'ok' | 'limit' | 'bound' {
    if (t.isMarket) {
      if (t.o.side === Side.Buy ? p > t.boundPriceTicks : p < t.boundPriceTicks) return 'bound';
      return 'ok';
    }
    if (t.o.side === Side.Buy ? p > t.limitPriceTicks : p < t.limitPriceTicks) return 'limit';
    return 'ok';
  }

  private isSelfTrade(t: Taker, m: RefOrder): boolean {
    return m.account === t.o.account || (t.o.stpGroup !== 0 && m.stpGroup === t.o.stpGroup);
  }

  /** FOK walk: whole remaining quantities (icebergs' hidden lots count). */
  private fokCanFill(t: Taker): boolean {
    let counted = 0;
    for (const m of this.sideOrders(1 - t.o.side)) {
      if (this.priceAcceptable(t, m.priceTicks) !== 'ok') break;
      if (this.isSelfTrade(t, m)) {
        if (t.o.stpMode === StpMode.None) { /* counts normally */ } else if (t.o.stpMode === StpMode.ExpireMaker) continue;
        else break;
      }
      counted += m.remainingLots;
      if (counted >= t.o.remainingLots) return true;
    }
    return counted >= t.o.remainingLots;
  }

  /** An iceberg's slice is used up: a new slice at the back of its level. */
  private refreshSlice(m: RefOrder): void {
    m.visibleLots = Math.min(m.displayQtyLots, m.remainingLots);
    m.entry = ++this.entryCounter;
    this.events.sliceRefreshed(m.orderId, m.account, m.visibleLots, m.remainingLots - m.visibleLots);
  }

  /** Records that an entry filled q lots: each live child grows after the matching step. */
  private noteEntryFill(entryId: number, q: number): void {
    for (const c of this.childrenOf(entryId)) this.pendingGrowth.set(c.orderId, (this.pendingGrowth.get(c.orderId) ?? 0) + q);
  }

  /** The matching loop of the doc. Returns why it stopped. */
  private match(t: Taker): { kind: StopKind; decrementLots: number } {
    const n = this.spec.notionalUnitsPerTickLot;
    const o = t.o;
    const oppSide = 1 - o.side;
    const hasQty = (): boolean => (t.byQuote ? t.quoteLeftUnits > 0 : o.remainingLots > 0);
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
        let takerQty = o.remainingLots;
        if (t.byQuote) {
          const affordable = Number(BigInt(t.quoteLeftUnits) / (BigInt(p) * BigInt(n)));
          if (affordable === 0) { stop = { kind: 'quote', decrementLots: 0 }; break; }
          takerQty = affordable;
        }
        const m = level[0]!;
        if (this.isSelfTrade(t, m) && o.stpMode !== StpMode.None) {
          if (o.stpMode === StpMode.ExpireTaker) { stop = { kind: 'selfTrade', decrementLots: 0 }; break; }
          if (o.stpMode === StpMode.ExpireMaker || o.stpMode === StpMode.ExpireBoth) {
            this.removeOrder(m);
            this.events.expired(m.orderId, m.account, m.remainingLots, EndReason.SelfTrade, m.filledLots);
            this.terminated(m);
            changed = true;
            if (o.stpMode === StpMode.ExpireBoth) { stop = { kind: 'selfTrade', decrementLots: 0 }; break; }
            continue;
          }
          // Decrement, against the maker's visible lots.
          const d = Math.min(takerQty, m.visibleLots);
          if (d === m.remainingLots) {
            this.removeOrder(m);
            this.events.expired(m.orderId, m.account, d, EndReason.SelfTrade, m.filledLots);
            this.terminated(m);
          } else {
            m.remainingLots -= d;
            m.visibleLots -= d;
            this.events.decremented(m.orderId, m.account, d, m.remainingLots);
            if (m.visibleLots === 0) this.refreshSlice(m);
          }
          changed = true;
          if (t.byQuote) t.quoteLeftUnits -= safeProduct(d, p, n);
          else o.remainingLots -= d;
          if (!hasQty()) { stop = { kind: 'selfTrade', decrementLots: d }; break; }
          this.events.decremented(o.orderId, o.account, d, t.byQuote ? 0 : o.remainingLots);
          continue;
        }
        // Trade, against the maker's visible lots.
        const q = Math.min(takerQty, m.visibleLots);
        const notional = safeProduct(p, q, n);
        const makerFee = exactFee(notional, this.spec.makerFeePpm);
        const takerFee = exactFee(notional, this.spec.takerFeePpm);
        m.remainingLots -= q;
        m.visibleLots -= q;
        m.filledLots += q;
        o.filledLots += q;
        if (t.byQuote) t.quoteLeftUnits -= notional;
        else o.remainingLots -= q;
        const tradeId = this.nextTradeId++;
        this.events.trade(tradeId, p, q, m.orderId, m.account, o.orderId, o.account, o.side, makerFee, takerFee,
          m.remainingLots, t.byQuote ? 0 : o.remainingLots, notional);
        this.noteTradePrice(p);
        const buyer = o.side === Side.Buy ? o.account : m.account;
        const seller = o.side === Side.Buy ? m.account : o.account;
        this.account(buyer).positionLots += q;
        this.account(seller).positionLots -= q;
        this.pruneAccount(buyer);
        this.pruneAccount(seller);
        this.noteEntryFill(m.orderId, q);
        this.noteEntryFill(o.orderId, q);
        changed = true;
        const quirk = this.quirks.retainAfterLinked === true;
        const lateRemove = this.quirks.depthCountsFilledMaker === true;
        if (m.remainingLots === 0) {
          if (!lateRemove) this.removeOrder(m);
          if (!quirk) this.retire(m.account, m.clientOrderId);
        }
        // OCO: a leg that trades takes its partner with it, right after the Trade (maker's, then taker's).
        this.cancelPartner(m);
        this.cancelPartner(o);
        if (m.remainingLots === 0) {
          if (lateRemove) this.removeOrder(m);
          this.afterEnd(m);
          if (quirk) this.retire(m.account, m.clientOrderId);
        } else if (m.visibleLots === 0) {
          this.refreshSlice(m);
        }
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
  // Conditional orders: activation and trigger checks
  // ----------------------------------------------------------------------------------------------

  /** Fires a pending conditional: Triggered, its OCO partner goes, then it is processed as its new type. */
  private activate(o: RefOrder): void {
    const s = this.spec;
    this.removeOrder(o);
    const x = o.stopPriceTicks;
    const p = this.sourceFor(o.flags);
    const market = isMarketType(o.orderType);
    let limit = 0;
    if (o.orderType === OrderType.TrailingStopLimit) {
      const raw = o.side === Side.Buy ? x + o.limitOffsetTicks : x - o.limitOffsetTicks;
      limit = Math.min(s.maxPriceTicks, Math.max(s.minPriceTicks, raw));
    } else if (!market) {
      limit = o.priceTicks;
    }
    // Protection: a buy's cap, a sell's floor (0 = none), used up here.
    const prot = o.protectionPriceTicks;
    o.protectionPriceTicks = 0;
    if (!market && prot !== 0) limit = o.side === Side.Buy ? Math.min(limit, prot) : Math.max(limit, prot);
    this.events.triggered(o.orderId, o.account, x, p, market ? OrderType.Market : OrderType.Limit, limit, o.remainingLots);
    this.cancelPartner(o);
    o.priceTicks = limit;
    let bound = 0;
    if (market) {
      const r = this.referencePriceTicks;
      bound = o.side === Side.Buy ? Math.min(this.upperBoundFrom(r), this.upperBoundFrom(x))
        : Math.max(this.lowerBoundFrom(r), this.lowerBoundFrom(x));
      if (prot !== 0) bound = o.side === Side.Buy ? Math.min(bound, prot) : Math.max(bound, prot);
    }
    o.onBook = false;
    const taker: Taker = { o, isMarket: market, byQuote: false, limitPriceTicks: limit, boundPriceTicks: bound, quoteLeftUnits: 0 };
    this.runTaker(taker, !market && (o.tif === TimeInForce.GTC || o.tif === TimeInForce.GTD));
  }

  /** Pending conditionals with a size (children of size 0 cannot fire). */
  private waitingConditionals(): RefOrder[] {
    return this.orders.filter((o) => !o.onBook && isConditionalType(o.orderType) && o.remainingLots > 0);
  }

  /** Every fireable order, in firing order: up/last, down/last, up/mark, down/mark; by X, then id. */
  private fireable(): RefOrder[] {
    const out: RefOrder[] = [];
    for (const mark of [false, true]) {
      for (const up of [true, false]) {
        const q = this.waitingConditionals().filter((o) => ((o.flags & OrderFlags.TriggerMark) !== 0) === mark
          && isUpOrder(o.orderType, o.side) === up
          && conditionHolds(o.orderType, o.side, this.sourceFor(o.flags), o.stopPriceTicks));
        q.sort((a, b) => {
          if (a.stopPriceTicks !== b.stopPriceTicks) return up ? a.stopPriceTicks - b.stopPriceTicks : b.stopPriceTicks - a.stopPriceTicks;
          return a.orderId - b.orderId;
        });
        out.push(...q);
      }
    }
    return out;
  }

  /** Moves every trailing order's anchor by the source prices seen since the last check. */
  private moveAnchors(): void {
    for (const o of this.waitingConditionals()) {
      if (!isTrailingType(o.orderType)) continue;
      const seen = (o.flags & OrderFlags.TriggerMark) !== 0 ? this.seenMark : this.seenLast;
      let a = o.anchorTicks;
      for (const p of seen) a = o.side === Side.Sell ? Math.max(a, p) : Math.min(a, p);
      if (a !== o.anchorTicks) {
        o.anchorTicks = a;
        o.stopPriceTicks = trailStop(o.side, o.trailOffset, o.flags, a);
      }
    }
    this.seenLast = [];
    this.seenMark = [];
  }

  private runTriggers(): void {
    const stale = this.quirks.staleTrailingPrices === true;
    if (stale && this.waitingConditionals().length === 0) return;
    for (;;) {
      if (stale && (this.status !== SymbolStatus.Open || this.waitingConditionals().length === 0)) {
        this.seenLast = [];
        this.seenMark = [];
        return;
      }
      if (this.status !== SymbolStatus.Open) return;
      this.moveAnchors();
      const first = this.fireable()[0];
      if (first === undefined) return;
      if (this.triggersThisCommand >= this.maxTriggers) {
        for (let f = first; f !== undefined; f = this.fireable()[0]) this.endOrder(f, EndReason.TriggerLimit, true);
        return;
      }
      this.triggersThisCommand++;
      this.activate(first);
      this.applyGrowth();
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Brackets: child growth
  // ----------------------------------------------------------------------------------------------

  /**
   * Applies the growth recorded during the last matching step, children in ascending id. Growth
   * recorded while applying (a child's own matching) for a child not yet grown in this round adds to
   * it; the rest waits for the next round.
   */
  private applyGrowth(): void {
    while (this.pendingGrowth.size > 0) {
      const round = [...this.pendingGrowth.keys()].sort((a, b) => a - b);
      for (const id of round) {
        const q = this.pendingGrowth.get(id);
        if (q === undefined) continue;
        this.pendingGrowth.delete(id);
        const c = this.findOpen(id);
        if (c !== undefined && q > 0) this.growChild(c, q);
        else if (c === undefined && this.inFlight.some((f) => f.orderId === id)) throw new Error('ReferenceBook: growth of an order in flight');
      }
    }
  }

  private growChild(c: RefOrder, q: number): void {
    if (c.onBook) {
      // A grown resting child leaves its level (priority lost) and enters again as a taker.
      this.events.activated(c.orderId, c.account, c.qtyLots + q, c.remainingLots + q);
      this.removeOrder(c);
      this.emitDepth(c.side, c.priceTicks);
      c.qtyLots += q;
      c.remainingLots += q;
      c.onBook = false;
      this.runTaker({ o: c, isMarket: false, byQuote: false, limitPriceTicks: c.priceTicks, boundPriceTicks: 0, quoteLeftUnits: 0 }, true);
      return;
    }
    c.qtyLots += q;
    c.remainingLots += q;
    this.events.activated(c.orderId, c.account, c.qtyLots, c.remainingLots);
    if (c.orderType === OrderType.Limit) {
      this.removeOrder(c);
      this.runTaker({ o: c, isMarket: false, byQuote: false, limitPriceTicks: c.priceTicks, boundPriceTicks: 0, quoteLeftUnits: 0 }, true);
    }
    // A stop child now waits for its trigger.
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
    this.endOrder(o, EndReason.UserCancel, false);
  }

  private validateReplace(cmd: Command, o: RefOrder | undefined): number {
    const s = this.spec;
    if (this.status === SymbolStatus.Halted) return RejectReason.SymbolHalted;
    if (this.status === SymbolStatus.CancelOnly) return RejectReason.SymbolCancelOnly;
    if (this.isKilled(cmd.account)) return RejectReason.AccountKilled;
    if (o === undefined) return RejectReason.UnknownOrder;
    if (!o.onBook) return RejectReason.InvalidOrderType; // pending conditional or child of size 0
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
      this.endOrder(o, EndReason.ReplaceDone, false);
      return;
    }
    const newRemaining = newQty - o.filledLots;
    if (newPrice === o.priceTicks && newRemaining <= o.remainingLots) {
      o.qtyLots = newQty;
      o.remainingLots = newRemaining;
      o.visibleLots = Math.min(o.visibleLots, newRemaining);
      this.events.replaced(o.orderId, o.account, newPrice, newQty, newRemaining, 1);
      this.emitDepth(o.side, o.priceTicks);
      return;
    }
    this.events.replaced(o.orderId, o.account, newPrice, newQty, newRemaining, 0);
    this.removeOrder(o);
    this.emitDepth(o.side, o.priceTicks);
    o.onBook = false;
    o.priceTicks = newPrice;
    o.qtyLots = newQty;
    o.remainingLots = newRemaining;
    this.runTaker({ o, isMarket: false, byQuote: false, limitPriceTicks: newPrice, boundPriceTicks: 0, quoteLeftUnits: 0 }, true);
  }

  /** Cancels the given orders in ascending id (those a linked cancel has not taken already); returns the count. */
  private cancelMany(list: RefOrder[], reason: number): number {
    const sorted = [...list].sort((a, b) => a.orderId - b.orderId);
    let count = 0;
    for (const o of sorted) {
      if (!this.orders.includes(o)) continue;
      this.endOrder(o, reason, false);
      count++;
    }
    return count;
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
    this.seenMark.push(cmd.value);
    this.events.adminDone(cmd.type, cmd.account, cmd.value, cmd.value2, 0);
  }

  // ----------------------------------------------------------------------------------------------
  // Canonical state (v2)
  // ----------------------------------------------------------------------------------------------

  private static dumpOrder(out: number[], o: RefOrder): void {
    out.push(o.orderId, o.account, o.clientOrderId, o.side, o.orderType, o.priceTicks, o.qtyLots, o.remainingLots, o.filledLots,
      o.tif, o.flags, o.stpMode, o.stpGroup, o.expireTsUs, o.stopPriceTicks,
      isConditionalType(o.orderType) ? o.protectionPriceTicks : o.displayQtyLots, o.onBook ? o.visibleLots : 0,
      o.trailOffset, o.limitOffsetTicks, o.anchorTicks, o.linkId, o.parentId);
  }

  stateDump(): number[] {
    const out: number[] = [this.nowUs, this.referencePriceTicks, this.lastTradePriceTicks, this.nextTradeId, this.status];
    for (const side of [Side.Buy, Side.Sell]) {
      const list = this.sideOrders(side);
      out.push(list.length);
      for (const o of list) ReferenceBook.dumpOrder(out, o);
    }
    const pending = this.pendingOrders();
    out.push(pending.length);
    for (const o of pending) ReferenceBook.dumpOrder(out, o);
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

  static restore(spec: InstrumentSpec, events: EventBuffer, snap: ArrayLike<number>, quirks: RefQuirks = {}): ReferenceBook {
    const b = new ReferenceBook(spec, events, quirks);
    let i = 0;
    const next = (): number => {
      if (i >= snap.length) throw new RangeError('ReferenceBook.restore: snapshot too short');
      return snap[i++]!;
    };
    b.nowUs = next(); b.referencePriceTicks = next(); b.lastTradePriceTicks = next(); b.nextTradeId = next(); b.status = next();
    const readOrder = (onBook: boolean): RefOrder => {
      const o: RefOrder = {
        orderId: next(), account: next(), clientOrderId: next(), side: next(), orderType: next(), priceTicks: next(),
        qtyLots: next(), remainingLots: next(), filledLots: next(), tif: next(), flags: next(), stpMode: next(), stpGroup: next(),
        expireTsUs: next(), stopPriceTicks: next(), displayQtyLots: next(), visibleLots: next(), trailOffset: next(),
        limitOffsetTicks: next(), anchorTicks: next(), linkId: next(), parentId: next(), onBook, entry: 0, protectionPriceTicks: 0,
      };
      // Dump field 15 of a conditional type is its protection price (its display size is 0).
      if (isConditionalType(o.orderType)) { o.protectionPriceTicks = o.displayQtyLots; o.displayQtyLots = 0; }
      return o;
    };
    for (let side = 0; side < 2; side++) {
      const count = next();
      for (let k = 0; k < count; k++) {
        const o = readOrder(true);
        o.entry = ++b.entryCounter;
        b.orders.push(o);
      }
    }
    const pending = next();
    for (let k = 0; k < pending; k++) b.orders.push(readOrder(false));
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
