// The fast price-time order book of one instrument: single writer, fixed point, no allocation per
// command on the hot path. Its contract is docs/matching-semantics.md; testing/reference-book.ts is
// the simple oracle the property tests compare it with, event by event.
//
// Layout
//   orders  struct of arrays indexed by slot (Float64Array for integers up to 2^53, Int32Array for
//           links); a free list threads through `oNext`. One slot more than orderCapacity, for the
//           order in flight.
//   levels  pool of price levels, each a FIFO of order slots (intrusive doubly linked list); a
//           level's quantity is the sum of its orders' visible lots (icebergs show a slice).
//   ladder  per side, a sorted array of level keys with the best level at the end (key = price for
//           bids, -price for asks, so "best" is always the largest key): best price in O(1); a new
//           level near the touch costs a short copyWithin.
//   index   order id -> slot: direct-mapped on the id's low bits, hashed overflow on collision;
//           (account, client order id) -> slot | RETAINED; account id -> account index.
//   heaps   GTD expiry by (expireTsUs, orderId); four trigger queues for conditional orders
//           (up/down x last-trade/mark) by (trigger price, orderId).
//
// Order states: FREE, BOOK (resting), TRIGGER (conditional waiting), CHILD0 (bracket child of size
// 0), FLIGHT (being matched as a taker).

import { EventBuffer } from './events.js';
import { hashNumbers } from './hash.js';
import { SlotHeap } from './heap.js';
import type { InstrumentSpec } from './instrument.js';
import { IntMap, PairMap } from './tables.js';
import {
  ALL_ORDER_FLAGS, Command, CommandType, EndReason, OrderFlags, OrderType, RejectReason, Side, StpMode, SymbolStatus,
  TimeInForce,
} from './types.js';

const NIL = -1;
const RETAINED = 0x7ffffff0;
export const ORDER_FIELDS = 22;
const DEFAULT_MAX_TRIGGERS = 100;
const ACCT_DIRECT = 1 << 16;

const FREE = 0;
const BOOK = 1;
const TRIGGER = 2;
const CHILD0 = 3;
const FLIGHT = 4;

// Why the matching loop stopped.
const END_FILLED = 0;
const END_PRICE = 1;
const END_EMPTY = 2;
const END_QUOTE = 3;
const END_STP_TAKER = 4;
/** The taker's terminal event was already emitted inside the loop. */
const END_DONE = 5;

function isId(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 1;
}

function isUint(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 0;
}

function isConditional(type: number): boolean {
  return type >= OrderType.Stop && type <= OrderType.LimitIfTouched;
}

/** Conditional types that become market orders. */
function isMarketLike(type: number): boolean {
  return type === OrderType.Stop || type === OrderType.TrailingStop || type === OrderType.MarketIfTouched;
}

function isTrailing(type: number): boolean {
  return type === OrderType.TrailingStop || type === OrderType.TrailingStopLimit;
}

/** Up orders fire on P >= X: buy stops and buy trailing, sell if-touched. */
function isUp(type: number, side: number): boolean {
  const touched = type === OrderType.MarketIfTouched || type === OrderType.LimitIfTouched;
  return (side === Side.Buy) !== touched;
}

/** ceil(n * ppm / 1e6), exact for safe n >= 0 and |ppm| <= 1e6. */
export function feeUnits(notionalUnits: number, ppm: number): number {
  if (ppm === 0) return 0;
  const q = Math.floor(notionalUnits / 1e6);
  const r = notionalUnits - q * 1e6;
  // `+ 0` folds the -0 that Math.ceil gives for a small rebate (-0.5 -> -0) into 0.
  return q * ppm + Math.ceil((r * ppm) / 1e6) + 0;
}

export class OrderBook {
  readonly spec: InstrumentSpec;
  readonly ev: EventBuffer;
  private readonly cap: number;
  private readonly npt: number;
  private readonly maxTriggers: number;

  // Book-wide state.
  private now = 0;
  private refPx = 0;
  private lastPx = 0;
  private nextTradeId = 1;
  private status: number = SymbolStatus.Open;
  /** Open orders holding a slot (BOOK, TRIGGER, CHILD0). */
  private resting = 0;
  /** Largest order id that was ever indexed: a new id above it cannot be live (skips a lookup). */
  private maxIndexedId = 0;

  // Orders (struct of arrays).
  private readonly oId: Float64Array;
  private readonly oAccount: Float64Array;
  private readonly oCid: Float64Array;
  private readonly oPrice: Float64Array;
  private readonly oQty: Float64Array;
  private readonly oRem: Float64Array;
  private readonly oVis: Float64Array;
  private readonly oDisplay: Float64Array;
  private readonly oFilled: Float64Array;
  private readonly oExpire: Float64Array;
  private readonly oStpGroup: Float64Array;
  private readonly oStop: Float64Array;
  private readonly oTrail: Float64Array;
  private readonly oLimOff: Float64Array;
  private readonly oAnchor: Float64Array;
  private readonly oTrigKey: Float64Array;
  private readonly oGrow: Float64Array;
  private readonly oSide: Uint8Array;
  private readonly oType: Uint8Array;
  private readonly oTif: Uint8Array;
  private readonly oFlags: Uint8Array;
  private readonly oStp: Uint8Array;
  private readonly oState: Uint8Array;
  private readonly oQueue: Uint8Array;
  private readonly oLevel: Int32Array;
  private readonly oPrev: Int32Array;
  private readonly oNext: Int32Array;
  private readonly oAPrev: Int32Array;
  private readonly oANext: Int32Array;
  private readonly oAcct: Int32Array;
  private readonly oHeap: Int32Array;
  private readonly oTrigPos: Int32Array;
  private readonly oTPrev: Int32Array;
  private readonly oTNext: Int32Array;
  private readonly oLink: Int32Array;
  private readonly oParent: Int32Array;
  private readonly oChildA: Int32Array;
  private readonly oChildB: Int32Array;
  private freeOrder = NIL;

  // Levels.
  private readonly lPrice: Float64Array;
  private readonly lQty: Float64Array;
  private readonly lCount: Int32Array;
  private readonly lHead: Int32Array;
  private readonly lTail: Int32Array;
  private freeLevel = NIL;
  /** The level the matching loop is visiting (a linked cancel there must not free it). */
  private visitLvl = NIL;

  // Ladder: side s occupies [s*cap, s*cap + ladN[s]).
  private readonly ladKey: Float64Array;
  private readonly ladLvl: Int32Array;
  private readonly ladN = new Int32Array(2);

  // Lookups.
  private readonly idx: Int32Array;
  private readonly idxMask: number;
  private readonly idOverflow = new IntMap(64, true);
  private readonly cids = new PairMap(1024);
  private readonly retain: Float64Array;
  private retainHead = 0;
  private retainCount = 0;

  // Accounts (grow by doubling; never per message).
  private readonly acctMap = new IntMap(1024, true);
  private readonly acctDirect = new Int32Array(ACCT_DIRECT).fill(NIL);
  private aN = 0;
  private aId = new Float64Array(1024);
  private aPos = new Float64Array(1024);
  private aOpenBuy = new Float64Array(1024);
  private aOpenSell = new Float64Array(1024);
  private aMaxPos = new Float64Array(1024);
  private aMaxOpen = new Float64Array(1024);
  private aOpenCount = new Int32Array(1024);
  private aKilled = new Uint8Array(1024);
  private aHead = new Int32Array(1024);
  private aTail = new Int32Array(1024);

  // Heaps and trigger state.
  private readonly gtd: SlotHeap;
  /** 0 up/last, 1 down/last, 2 up/mark, 3 down/mark. */
  private readonly trig: SlotHeap[];
  private trigTotal = 0;
  /**
   * Trailing orders per trigger queue, newest first. Within a queue the anchors are monotone in entry
   * order (a sell's anchor is the maximum since its entry, so older ones are at least as high), so a
   * price move touches only the newest orders whose anchor it passes.
   */
  private readonly trailHead = new Int32Array([NIL, NIL, NIL, NIL]);
  private trailTotal = 0;
  private hiLast = 0;
  private loLast = 0;
  private hiMark = 0;
  private loMark = 0;
  private triggersThisCmd = 0;

  // Bracket children waiting to grow after the current matching step.
  private readonly growList: Int32Array;
  private readonly growId: Float64Array;
  private growN = 0;

  // The taker being matched (fields, not an object: no allocation).
  private tkSlot = NIL;
  private tkId = 0;
  private tkAccount = 0;
  private tkAcct = 0;
  private tkSide = 0;
  private tkRem = 0;
  private tkQuote = false;
  private tkQuoteLeft = 0;
  private tkFilled = 0;
  private tkLimit = 0;
  private tkStp = 0;
  private tkStpGroup = 0;
  private tkLink = NIL;

  // Scratch for mass cancels.
  private readonly scratch: Int32Array;
  private readonly scratchId: Float64Array;

  constructor(spec: InstrumentSpec, events: EventBuffer) {
    this.spec = spec;
    this.ev = events;
    const cap = spec.orderCapacity;
    if (!Number.isSafeInteger(cap) || cap < 1 || cap > 1 << 26) throw new RangeError(`orderCapacity out of range: ${cap}`);
    this.cap = cap;
    this.npt = spec.notionalUnitsPerTickLot;
    this.refPx = spec.referencePriceTicks;
    this.maxTriggers = spec.maxTriggersPerCommand ?? DEFAULT_MAX_TRIGGERS;
    const n = cap + 1; // one more slot for the order in flight

    this.oId = new Float64Array(n);
    this.oAccount = new Float64Array(n);
    this.oCid = new Float64Array(n);
    this.oPrice = new Float64Array(n);
    this.oQty = new Float64Array(n);
    this.oRem = new Float64Array(n);
    this.oVis = new Float64Array(n);
    this.oDisplay = new Float64Array(n);
    this.oFilled = new Float64Array(n);
    this.oExpire = new Float64Array(n);
    this.oStpGroup = new Float64Array(n);
    this.oStop = new Float64Array(n);
    this.oTrail = new Float64Array(n);
    this.oLimOff = new Float64Array(n);
    this.oAnchor = new Float64Array(n);
    this.oTrigKey = new Float64Array(n);
    this.oGrow = new Float64Array(n);
    this.oSide = new Uint8Array(n);
    this.oType = new Uint8Array(n);
    this.oTif = new Uint8Array(n);
    this.oFlags = new Uint8Array(n);
    this.oStp = new Uint8Array(n);
    this.oState = new Uint8Array(n);
    this.oQueue = new Uint8Array(n);
    this.oLevel = new Int32Array(n);
    this.oPrev = new Int32Array(n);
    this.oNext = new Int32Array(n);
    this.oAPrev = new Int32Array(n);
    this.oANext = new Int32Array(n);
    this.oAcct = new Int32Array(n);
    this.oHeap = new Int32Array(n).fill(NIL);
    this.oTrigPos = new Int32Array(n).fill(NIL);
    this.oTPrev = new Int32Array(n);
    this.oTNext = new Int32Array(n);
    this.oLink = new Int32Array(n).fill(NIL);
    this.oParent = new Int32Array(n).fill(NIL);
    this.oChildA = new Int32Array(n).fill(NIL);
    this.oChildB = new Int32Array(n).fill(NIL);
    for (let i = 0; i < n; i++) this.oNext[i] = i + 1 < n ? i + 1 : NIL;
    this.freeOrder = 0;

    const lcap = cap + 2;
    this.lPrice = new Float64Array(lcap);
    this.lQty = new Float64Array(lcap);
    this.lCount = new Int32Array(lcap);
    this.lHead = new Int32Array(lcap);
    this.lTail = new Int32Array(lcap);
    for (let i = 0; i < lcap; i++) this.lHead[i] = i + 1 < lcap ? i + 1 : NIL; // free list through lHead
    this.freeLevel = 0;

    this.ladKey = new Float64Array(2 * (cap + 1));
    this.ladLvl = new Int32Array(2 * (cap + 1));

    let icap = 1024;
    while (icap < n * 2) icap *= 2;
    this.idx = new Int32Array(icap).fill(NIL);
    this.idxMask = icap - 1;
    this.retain = new Float64Array(2 * Math.max(1, spec.clientIdRetention));
    this.gtd = new SlotHeap(n, this.oExpire, this.oId, this.oHeap);
    this.trig = [0, 1, 2, 3].map(() => new SlotHeap(n, this.oTrigKey, this.oId, this.oTrigPos));
    this.growList = new Int32Array(n);
    this.growId = new Float64Array(n);
    this.scratch = new Int32Array(n);
    this.scratchId = new Float64Array(n);
  }

  // ------------------------------------------------------------------------------------------
  // Read-only views
  // ------------------------------------------------------------------------------------------

  get engineTimeUs(): number { return this.now; }
  get referencePriceTicks(): number { return this.refPx; }
  get lastTradePriceTicks(): number { return this.lastPx; }
  get symbolStatus(): number { return this.status; }
  /** Open orders (resting, waiting for a trigger, or bracket children of size 0). */
  get restingOrders(): number { return this.resting; }

  bestBidTicks(): number { const l = this.bestLevel(Side.Buy); return l === NIL ? 0 : this.lPrice[l]!; }
  bestAskTicks(): number { const l = this.bestLevel(Side.Sell); return l === NIL ? 0 : this.lPrice[l]!; }

  /** Number of price levels on a side. */
  levelCount(side: number): number { return this.ladN[side]!; }

  /**
   * Writes up to `maxLevels` levels of a side, best first, as (price, visible qty, count) triples into
   * `out`; returns the number of levels written.
   */
  depthInto(side: number, maxLevels: number, out: Float64Array): number {
    const n = this.ladN[side]!, base = side * (this.cap + 1);
    let k = 0;
    for (let i = n - 1; i >= 0 && k < maxLevels && (k + 1) * 3 <= out.length; i--, k++) {
      const l = this.ladLvl[base + i]!;
      out[k * 3] = this.lPrice[l]!; out[k * 3 + 1] = this.lQty[l]!; out[k * 3 + 2] = this.lCount[l]!;
    }
    return k;
  }

  // ------------------------------------------------------------------------------------------
  // Command entry
  // ------------------------------------------------------------------------------------------

  execute(cmd: Command): void {
    const ev = this.ev;
    ev.seq = cmd.seq;
    ev.tsUs = cmd.tsUs;
    if (Number.isSafeInteger(cmd.tsUs) && cmd.tsUs > this.now) this.now = cmd.tsUs;

    const bl = this.bestLevel(Side.Buy), al = this.bestLevel(Side.Sell);
    const bPx = bl === NIL ? 0 : this.lPrice[bl]!, bQty = bl === NIL ? 0 : this.lQty[bl]!;
    const aPx = al === NIL ? 0 : this.lPrice[al]!, aQty = al === NIL ? 0 : this.lQty[al]!;
    this.triggersThisCmd = 0;

    if (this.gtd.n > 0) this.expireDue();

    switch (cmd.type) {
      case CommandType.NewOrder: this.newOrder(cmd); break;
      case CommandType.Cancel: this.cancel(cmd); break;
      case CommandType.Replace: this.replace(cmd); break;
      case CommandType.MassCancel: this.massCancel(cmd); break;
      case CommandType.TimeTick: break;
      case CommandType.SetSymbolStatus: this.setStatus(cmd); break;
      case CommandType.SetKillSwitch: this.setKill(cmd); break;
      case CommandType.SetAccountLimits: this.setLimits(cmd); break;
      case CommandType.SetReferencePrice: this.setRef(cmd); break;
      default: this.reject(cmd, RejectReason.UnknownCommand);
    }
    if (this.growN > 0) this.processGrowth();
    if (this.trigTotal > 0) this.runTriggers();

    const bl2 = this.bestLevel(Side.Buy), al2 = this.bestLevel(Side.Sell);
    const bPx2 = bl2 === NIL ? 0 : this.lPrice[bl2]!, bQty2 = bl2 === NIL ? 0 : this.lQty[bl2]!;
    const aPx2 = al2 === NIL ? 0 : this.lPrice[al2]!, aQty2 = al2 === NIL ? 0 : this.lQty[al2]!;
    if (bPx !== bPx2 || bQty !== bQty2 || aPx !== aPx2 || aQty !== aQty2) ev.topOfBook(bPx2, bQty2, aPx2, aQty2);
  }

  private reject(cmd: Command, reason: number): void {
    this.ev.rejected(cmd.orderId, cmd.account, cmd.clientOrderId, reason, cmd.type);
  }

  // ------------------------------------------------------------------------------------------
  // NewOrder
  // ------------------------------------------------------------------------------------------

  /** Conditional-type field checks (doc: Advanced order types, Validation). */
  private validateConditional(cmd: Command): number {
    const type = cmd.orderType, tif = cmd.tif, flags = cmd.flags, spec = this.spec;
    if (isMarketLike(type) && tif !== TimeInForce.IOC && tif !== TimeInForce.FOK) return RejectReason.InvalidTimeInForce;
    if ((flags & (OrderFlags.PostOnly | OrderFlags.QuoteQty)) !== 0) return RejectReason.InvalidFlags;
    if ((flags & OrderFlags.TrailBps) !== 0 && !isTrailing(type)) return RejectReason.InvalidFlags;
    if ((flags & OrderFlags.Child) !== 0 && type !== OrderType.Stop && type !== OrderType.StopLimit) return RejectReason.InvalidLink;
    const stop = cmd.stopPriceTicks;
    if (isTrailing(type)) {
      if (stop !== 0) return RejectReason.InvalidStopPrice;
    } else if (!Number.isSafeInteger(stop) || stop < spec.minPriceTicks || stop > spec.maxPriceTicks) return RejectReason.InvalidStopPrice;
    const px = cmd.priceTicks;
    if (type === OrderType.StopLimit || type === OrderType.LimitIfTouched) {
      if (!Number.isSafeInteger(px) || px < spec.minPriceTicks || px > spec.maxPriceTicks) return RejectReason.InvalidPrice;
    } else if (px !== 0) return RejectReason.InvalidPrice;
    const tr = cmd.trailOffset;
    if (isTrailing(type)) {
      if (!isId(tr) || ((flags & OrderFlags.TrailBps) !== 0 && tr > 9999)) return RejectReason.InvalidTrailOffset;
    } else if (tr !== 0) return RejectReason.InvalidTrailOffset;
    if (type === OrderType.TrailingStopLimit) {
      if (!isUint(cmd.limitOffsetTicks)) return RejectReason.InvalidTrailOffset;
    } else if (cmd.limitOffsetTicks !== 0) return RejectReason.InvalidTrailOffset;
    if (cmd.displayQtyLots !== 0) return RejectReason.InvalidDisplayQty;
    return RejectReason.None;
  }

  private validateNew(cmd: Command): number {
    const spec = this.spec;
    if (this.status === SymbolStatus.Halted) return RejectReason.SymbolHalted;
    if (this.status === SymbolStatus.CancelOnly) return RejectReason.SymbolCancelOnly;
    const account = cmd.account;
    if (!isId(account)) return RejectReason.InvalidAccount;
    const ai = this.acctLookup(account);
    if (ai !== NIL && this.aKilled[ai] === 1) return RejectReason.AccountKilled;
    const oid = cmd.orderId;
    if (!isId(oid) || (oid <= this.maxIndexedId && this.slotOf(oid) !== NIL)) return RejectReason.InvalidValue;

    const side = cmd.side, type = cmd.orderType, tif = cmd.tif, flags = cmd.flags;
    if (side !== Side.Buy && side !== Side.Sell) return RejectReason.InvalidSide;
    if (!Number.isInteger(type) || type < OrderType.Limit || type > OrderType.LimitIfTouched) return RejectReason.InvalidOrderType;
    if (tif !== TimeInForce.GTC && tif !== TimeInForce.IOC && tif !== TimeInForce.FOK && tif !== TimeInForce.GTD) return RejectReason.InvalidTimeInForce;
    if (!(cmd.stpMode === 0 || cmd.stpMode === 1 || cmd.stpMode === 2 || cmd.stpMode === 3 || cmd.stpMode === 4)) return RejectReason.InvalidStpMode;
    if (!Number.isInteger(flags) || flags < 0 || (flags & ~ALL_ORDER_FLAGS) !== 0) return RejectReason.InvalidFlags;
    if (!isUint(cmd.clientOrderId)) return RejectReason.InvalidClientOrderId;
    if (!isUint(cmd.stpGroup)) return RejectReason.InvalidAccount;

    const cond = isConditional(type);
    const child = (flags & OrderFlags.Child) !== 0;
    const isMarket = type === OrderType.Market;
    const quote = (flags & OrderFlags.QuoteQty) !== 0;
    const px = cmd.priceTicks;
    if (cond) {
      const r = this.validateConditional(cmd);
      if (r !== RejectReason.None) return r;
    } else {
      if ((flags & (OrderFlags.TriggerMark | OrderFlags.TriggerImmediately | OrderFlags.TrailBps)) !== 0) return RejectReason.InvalidFlags;
      if (child && (isMarket || (tif !== TimeInForce.GTC && tif !== TimeInForce.GTD))) return RejectReason.InvalidLink;
      if (isMarket) {
        if (tif !== TimeInForce.IOC && tif !== TimeInForce.FOK) return RejectReason.InvalidTimeInForce;
        if (quote && tif === TimeInForce.FOK) return RejectReason.InvalidTimeInForce;
      }
      if ((flags & OrderFlags.PostOnly) !== 0 && (isMarket || (tif !== TimeInForce.GTC && tif !== TimeInForce.GTD))) return RejectReason.InvalidFlags;
      if (quote && !isMarket) return RejectReason.InvalidFlags;
      if (cmd.stopPriceTicks !== 0) return RejectReason.InvalidStopPrice;
      if (cmd.trailOffset !== 0 || cmd.limitOffsetTicks !== 0) return RejectReason.InvalidTrailOffset;
      if (isMarket) {
        if (px !== 0) return RejectReason.InvalidPrice;
      } else if (!Number.isSafeInteger(px) || px < spec.minPriceTicks || px > spec.maxPriceTicks) return RejectReason.InvalidPrice;
    }
    if (child) {
      if (cmd.qtyLots !== 0 || cmd.quoteQtyUnits !== 0) return RejectReason.InvalidQuantity;
    } else if (quote) {
      if (!isId(cmd.quoteQtyUnits) || cmd.qtyLots !== 0) return RejectReason.InvalidQuantity;
    } else if (!isId(cmd.qtyLots) || cmd.quoteQtyUnits !== 0) return RejectReason.InvalidQuantity;
    if (!isUint(cmd.protectionPriceTicks) || (cmd.protectionPriceTicks !== 0 && !isMarket)) return RejectReason.InvalidPrice;
    if (tif === TimeInForce.GTD) {
      if (!isId(cmd.expireTsUs)) return RejectReason.InvalidExpireTime;
      if (cmd.expireTsUs <= this.now) return RejectReason.GtdAlreadyExpired;
    } else if (cmd.expireTsUs !== 0) return RejectReason.InvalidExpireTime;

    const qty = cmd.qtyLots;
    if (!quote && !child) {
      if (qty < spec.minQtyLots) return RejectReason.QuantityBelowMin;
      if (qty > spec.maxQtyLots) return RejectReason.QuantityAboveMax;
    }
    const disp = cmd.displayQtyLots;
    if (!cond && disp !== 0) {
      if (type !== OrderType.Limit || (tif !== TimeInForce.GTC && tif !== TimeInForce.GTD) || child) return RejectReason.InvalidDisplayQty;
      if (!Number.isSafeInteger(disp) || disp < spec.minDisplayQtyLots || disp < 1 || disp > qty) return RejectReason.InvalidDisplayQty;
    }
    if (cmd.clientOrderId !== 0 && this.cids.get(account, cmd.clientOrderId) !== NIL) return RejectReason.DuplicateClientOrderId;
    if (cmd.linkId !== 0 && this.linkTarget(cmd) === NIL) return RejectReason.InvalidLink;
    if (cmd.linkId === 0 && child) return RejectReason.InvalidLink;

    const ref = this.refPx;
    if (isMarket && ref === 0) return RejectReason.NoReferencePrice;
    const src = (flags & OrderFlags.TriggerMark) !== 0 ? ref : this.lastPx;
    if (isTrailing(type) && src === 0) return RejectReason.NoReferencePrice;
    const limitPx = type === OrderType.Limit || type === OrderType.StopLimit || type === OrderType.LimitIfTouched;
    if (limitPx && spec.priceBandBps > 0 && ref !== 0 && !this.inBand(px, ref)) return RejectReason.PriceOutsideBand;

    if (!child) {
      let notional: number;
      if (quote) notional = cmd.quoteQtyUnits;
      else if (isMarket) notional = ref * qty * this.npt;
      else if (limitPx) notional = px * qty * this.npt;
      else notional = this.initialStop(cmd, src) * qty * this.npt;
      if (notional < spec.minNotionalUnits) return RejectReason.NotionalBelowMin;
      if (spec.maxNotionalUnits > 0 && notional > spec.maxNotionalUnits) return RejectReason.NotionalAboveMax;
    }

    const mayRest = cond || child || (!isMarket && (tif === TimeInForce.GTC || tif === TimeInForce.GTD));
    if (mayRest) {
      const lim = ai !== NIL && this.aMaxOpen[ai]! > 0 ? this.aMaxOpen[ai]! : spec.maxOpenOrdersPerAccount;
      if (lim > 0 && ai !== NIL && this.aOpenCount[ai]! >= lim) return RejectReason.TooManyOpenOrders;
    }
    const plim = ai !== NIL && this.aMaxPos[ai]! > 0 ? this.aMaxPos[ai]! : spec.maxPositionLots;
    if (plim > 0 && !child) {
      // QuoteQty: the most lots it can get. A buy walks up from the best ask; a sell down to the lower bound.
      let q = qty;
      if (quote) {
        const lowest = side === Side.Buy ? this.bestAskTicks() : this.marketLower(ref);
        q = lowest === 0 ? 0 : Math.floor(cmd.quoteQtyUnits / (lowest * this.npt));
      }
      const pos = ai === NIL ? 0 : this.aPos[ai]!;
      if (side === Side.Buy) {
        if (pos + (ai === NIL ? 0 : this.aOpenBuy[ai]!) + q > plim) return RejectReason.PositionLimitExceeded;
      } else if (pos - (ai === NIL ? 0 : this.aOpenSell[ai]!) - q < -plim) return RejectReason.PositionLimitExceeded;
    }
    if (mayRest && this.resting >= this.cap) return RejectReason.BookFull;
    if ((flags & OrderFlags.PostOnly) !== 0 && this.wouldTake(side, px)) return RejectReason.PostOnlyWouldTake;
    if (cond && !child && !isTrailing(type) && (flags & OrderFlags.TriggerImmediately) === 0 && src !== 0) {
      const x = cmd.stopPriceTicks;
      if (isUp(type, side) ? src >= x : src <= x) return RejectReason.StopWouldTrigger;
    }
    return RejectReason.None;
  }

  /** The open order a NewOrder's linkId names, if the link is allowed (OCO or bracket child). */
  private linkTarget(cmd: Command): number {
    if (!isId(cmd.linkId)) return NIL;
    const t = this.slotOf(cmd.linkId);
    if (t === NIL || this.oAccount[t] !== cmd.account || this.oParent[t] !== NIL) return NIL;
    if ((cmd.flags & OrderFlags.Child) !== 0) {
      if (this.oSide[t] === cmd.side || (this.oFlags[t]! & OrderFlags.Child) !== 0) return NIL;
      if (this.oChildA[t] !== NIL && this.oChildB[t] !== NIL) return NIL;
      return t;
    }
    if (this.oSide[t] !== cmd.side || this.oLink[t] !== NIL || (this.oFlags[t]! & OrderFlags.Child) !== 0 || this.oFilled[t]! !== 0) return NIL;
    return t;
  }

  /** A trailing order's first stop price, or the given stop price. */
  private initialStop(cmd: Command, src: number): number {
    if (!isTrailing(cmd.orderType)) return cmd.stopPriceTicks;
    const d = this.trailDistance(cmd.trailOffset, cmd.flags, src);
    return cmd.side === Side.Sell ? Math.max(1, src - d) : src + d;
  }

  private trailDistance(offset: number, flags: number, anchor: number): number {
    if ((flags & OrderFlags.TrailBps) === 0) return offset;
    const d = Math.floor((anchor * offset) / 10000);
    return d < 1 ? 1 : d;
  }

  private newOrder(cmd: Command): void {
    const reason = this.validateNew(cmd);
    if (reason !== RejectReason.None) { this.reject(cmd, reason); return; }
    const ev = this.ev;
    ev.accepted(cmd.orderId, cmd.account, cmd.clientOrderId, cmd.side, cmd.orderType, cmd.tif, cmd.priceTicks,
      cmd.qtyLots, cmd.quoteQtyUnits, cmd.flags, cmd.expireTsUs);
    const type = cmd.orderType;
    if ((cmd.flags & OrderFlags.Child) !== 0) { this.newChild(cmd); return; }
    if (isConditional(type)) { this.newConditional(cmd); return; }

    const isMarket = type === OrderType.Market;
    this.tkSlot = NIL;
    this.tkId = cmd.orderId;
    this.tkAccount = cmd.account;
    this.tkAcct = this.acctIndex(cmd.account);
    this.tkSide = cmd.side;
    this.tkQuote = (cmd.flags & OrderFlags.QuoteQty) !== 0;
    this.tkQuoteLeft = cmd.quoteQtyUnits;
    this.tkRem = cmd.qtyLots;
    this.tkFilled = 0;
    this.tkStp = cmd.stpMode;
    this.tkStpGroup = cmd.stpGroup;
    this.tkLink = cmd.linkId !== 0 ? this.slotOf(cmd.linkId) : NIL;
    if (isMarket) {
      const prot = cmd.protectionPriceTicks;
      if (cmd.side === Side.Buy) {
        const b = this.marketUpper(this.refPx);
        this.tkLimit = prot > 0 && prot < b ? prot : b;
      } else {
        const b = this.marketLower(this.refPx);
        this.tkLimit = prot > b ? prot : b;
      }
    } else this.tkLimit = cmd.priceTicks;

    if (cmd.tif === TimeInForce.FOK && !this.fokFeasible()) {
      ev.expired(cmd.orderId, cmd.account, cmd.qtyLots, EndReason.FillOrKill, 0);
      this.takerGone(cmd.account, cmd.clientOrderId);
      return;
    }
    const end = this.matchTaker();
    if (end === END_DONE || end === END_FILLED) { this.takerGone(cmd.account, cmd.clientOrderId); return; }
    if (end === END_STP_TAKER || end === END_QUOTE || isMarket || cmd.tif === TimeInForce.IOC || cmd.tif === TimeInForce.FOK) {
      const why = end === END_STP_TAKER ? EndReason.SelfTrade : end === END_QUOTE ? EndReason.QuoteExhausted
        : isMarket && end === END_PRICE ? EndReason.MarketProtection : EndReason.ImmediateRemainder;
      ev.expired(cmd.orderId, cmd.account, this.tkQuote ? 0 : this.tkRem, why, this.tkFilled);
      this.takerGone(cmd.account, cmd.clientOrderId);
      return;
    }
    // Rest the remainder.
    const s = this.newSlot(cmd);
    this.oRem[s] = this.tkRem;
    this.oFilled[s] = this.tkFilled;
    this.oVis[s] = cmd.displayQtyLots > 0 && cmd.displayQtyLots < this.tkRem ? cmd.displayQtyLots : this.tkRem;
    if (this.tkLink !== NIL) { this.oLink[s] = this.tkLink; this.oLink[this.tkLink] = s; }
    this.restSlot(s);
  }

  /** A new order that never rested is gone: its client id is retained, its OCO partner canceled. */
  private takerGone(account: number, cid: number): void {
    this.retainCid(account, cid);
    const p = this.tkLink;
    if (p !== NIL) { this.tkLink = NIL; this.oLink[p] = NIL; this.cancelLinked(p); }
  }

  /** Allocates and fills a slot from a NewOrder command (indexing, client id, account list, GTD). */
  private newSlot(cmd: Command): number {
    const s = this.allocOrder();
    this.oId[s] = cmd.orderId;
    this.oAccount[s] = cmd.account;
    this.oCid[s] = cmd.clientOrderId;
    this.oType[s] = cmd.orderType;
    this.oPrice[s] = cmd.priceTicks;
    this.oQty[s] = cmd.qtyLots;
    this.oRem[s] = cmd.qtyLots;
    this.oVis[s] = 0;
    this.oDisplay[s] = cmd.displayQtyLots;
    this.oFilled[s] = 0;
    this.oExpire[s] = cmd.expireTsUs;
    this.oStpGroup[s] = cmd.stpGroup;
    if (cmd.orderType >= OrderType.Stop) {
      this.oStop[s] = cmd.stopPriceTicks;
      this.oTrail[s] = cmd.trailOffset;
      this.oLimOff[s] = cmd.limitOffsetTicks;
    }
    this.oSide[s] = cmd.side;
    this.oTif[s] = cmd.tif;
    this.oFlags[s] = cmd.flags;
    this.oStp[s] = cmd.stpMode;
    this.oAcct[s] = this.acctIndex(cmd.account);
    // oLink, oParent, oChildA/B are NIL and oGrow is 0 on every free slot (afterEnd and growth reset them).
    this.indexId(cmd.orderId, s);
    if (cmd.clientOrderId !== 0) this.cids.set(cmd.account, cmd.clientOrderId, s);
    this.acctAppend(this.oAcct[s]!, s);
    if (cmd.tif === TimeInForce.GTD) this.gtd.push(s);
    return s;
  }

  private newConditional(cmd: Command): void {
    const s = this.newSlot(cmd);
    const src = (cmd.flags & OrderFlags.TriggerMark) !== 0 ? this.refPx : this.lastPx;
    if (isTrailing(cmd.orderType)) {
      this.oAnchor[s] = src;
      this.oStop[s] = this.initialStop(cmd, src);
    }
    if (cmd.linkId !== 0) { const t = this.slotOf(cmd.linkId); this.oLink[s] = t; this.oLink[t] = s; }
    this.waitTrigger(s);
    const x = this.oStop[s]!;
    if (src !== 0 && (isUp(cmd.orderType, cmd.side) ? src >= x : src <= x)) {
      // Only reachable with TriggerImmediately (validation rejected it otherwise).
      this.triggersThisCmd++;
      this.activate(s, src);
    }
  }

  private newChild(cmd: Command): void {
    const parent = this.slotOf(cmd.linkId);
    const s = this.newSlot(cmd);
    this.oParent[s] = parent;
    const sib = this.oChildA[parent]!;
    if (sib === NIL) this.oChildA[parent] = s;
    else {
      this.oChildB[parent] = s;
      this.oLink[s] = sib; this.oLink[sib] = s;
    }
    this.oState[s] = CHILD0;
    this.openCountAdd(s, 1);
    const filled = this.oFilled[parent]!;
    if (filled > 0) this.growChild(s, filled);
  }

  // ------------------------------------------------------------------------------------------
  // Conditional orders
  // ------------------------------------------------------------------------------------------

  /** Puts a sized conditional into its trigger queue (state TRIGGER, open). */
  private waitTrigger(s: number): void {
    const type = this.oType[s]!, side = this.oSide[s]!;
    const up = isUp(type, side);
    const q = ((this.oFlags[s]! & OrderFlags.TriggerMark) !== 0 ? 2 : 0) + (up ? 0 : 1);
    this.oQueue[s] = q;
    this.oTrigKey[s] = up ? this.oStop[s]! : -this.oStop[s]!;
    this.trig[q]!.push(s);
    this.trigTotal++;
    if (isTrailing(type)) {
      const h = this.trailHead[q]!;
      this.oTPrev[s] = NIL; this.oTNext[s] = h;
      if (h !== NIL) this.oTPrev[h] = s;
      this.trailHead[q] = s;
      this.trailTotal++;
    }
    if (this.oState[s] !== TRIGGER) {
      if (this.oState[s] !== CHILD0) this.openCountAdd(s, 1);
      this.oState[s] = TRIGGER;
    }
    this.openAdjust(this.oAcct[s]!, side, this.oRem[s]!);
  }

  /** Takes a TRIGGER order out of its queue and out of the open counts. */
  private leaveTrigger(s: number): void {
    this.trig[this.oQueue[s]!]!.remove(s);
    this.trigTotal--;
    if (isTrailing(this.oType[s]!)) {
      const p = this.oTPrev[s]!, n = this.oTNext[s]!;
      if (p === NIL) this.trailHead[this.oQueue[s]!] = n; else this.oTNext[p] = n;
      if (n !== NIL) this.oTPrev[n] = p;
      this.trailTotal--;
    }
    this.openCountAdd(s, -1);
    this.openAdjust(this.oAcct[s]!, this.oSide[s]!, -this.oRem[s]!);
  }

  private runTriggers(): void {
    for (;;) {
      if (this.status !== SymbolStatus.Open || this.trigTotal === 0) { this.resetTrackers(); return; }
      if (this.trailTotal > 0) this.moveTrailing();
      this.resetTrackers();
      let s = this.firstFireable();
      if (s === NIL) return;
      if (this.triggersThisCmd >= this.maxTriggers) {
        while (s !== NIL) {
          this.endOrder(s, EndReason.TriggerLimit, true);
          s = this.firstFireable();
        }
        return;
      }
      this.triggersThisCmd++;
      this.activate(s, this.sourceOf(s));
      if (this.growN > 0) this.processGrowth();
    }
  }

  private sourceOf(s: number): number {
    return this.oQueue[s]! >= 2 ? this.refPx : this.lastPx;
  }

  private firstFireable(): number {
    for (let q = 0; q < 4; q++) {
      const h = this.trig[q]!;
      if (h.n === 0) continue;
      const p = q >= 2 ? this.refPx : this.lastPx;
      if (p === 0) continue;
      const s = h.top();
      const x = this.oStop[s]!;
      if ((q & 1) === 0 ? p >= x : p <= x) return s;
    }
    return NIL;
  }

  private resetTrackers(): void {
    this.hiLast = 0; this.loLast = 0; this.hiMark = 0; this.loMark = 0;
  }

  private moveTrailing(): void {
    for (let q = 0; q < 4; q++) {
      if (this.trailHead[q] === NIL) continue;
      const mark = q >= 2;
      const up = (q & 1) === 0; // up queues hold buy trailing orders: their anchor follows the low
      const hi = mark ? this.hiMark : this.hiLast;
      if (hi === 0) continue;
      const lo = mark ? this.loMark : this.loLast;
      const heap = this.trig[q]!;
      for (let s = this.trailHead[q]!; s !== NIL; s = this.oTNext[s]!) {
        const a = this.oAnchor[s]!;
        const na = up ? (lo < a ? lo : a) : (hi > a ? hi : a);
        if (na === a) break; // older orders' anchors are further out still: nothing more moves
        this.oAnchor[s] = na;
        const d = this.trailDistance(this.oTrail[s]!, this.oFlags[s]!, na);
        const x = up ? na + d : Math.max(1, na - d);
        this.oStop[s] = x;
        this.oTrigKey[s] = up ? x : -x;
        heap.fix(s);
      }
    }
  }

  private noteTrade(px: number): void {
    this.lastPx = px;
    this.refPx = px;
    if (this.hiLast === 0 || px > this.hiLast) this.hiLast = px;
    if (this.loLast === 0 || px < this.loLast) this.loLast = px;
    if (this.hiMark === 0 || px > this.hiMark) this.hiMark = px;
    if (this.loMark === 0 || px < this.loMark) this.loMark = px;
  }

  /** Fires a TRIGGER order: Triggered, linked cancel, then processing as the activated order. */
  private activate(s: number, sourcePx: number): void {
    this.leaveTrigger(s);
    this.oState[s] = FLIGHT;
    const type = this.oType[s]!, side = this.oSide[s]!, x = this.oStop[s]!;
    const market = isMarketLike(type);
    let limit = 0;
    if (!market) {
      if (type === OrderType.TrailingStopLimit) {
        limit = side === Side.Buy ? x + this.oLimOff[s]! : x - this.oLimOff[s]!;
        if (limit < this.spec.minPriceTicks) limit = this.spec.minPriceTicks;
        if (limit > this.spec.maxPriceTicks) limit = this.spec.maxPriceTicks;
      } else limit = this.oPrice[s]!;
    }
    this.ev.triggered(this.oId[s]!, this.oAccount[s]!, x, sourcePx, market ? OrderType.Market : OrderType.Limit, limit, this.oRem[s]!);
    const p = this.oLink[s]!;
    if (p !== NIL) { this.oLink[s] = NIL; this.oLink[p] = NIL; this.cancelLinked(p); }
    this.oPrice[s] = limit;
    this.oVis[s] = this.oRem[s]!;
    // Market-type: the bound from the reference price now, and never further than the band from X,
    // so the worst price is known when the order is entered.
    let tl = limit;
    if (market) {
      if (side === Side.Buy) { const a = this.marketUpper(this.refPx), b = this.marketUpper(x); tl = a < b ? a : b; }
      else { const a = this.marketLower(this.refPx), b = this.marketLower(x); tl = a > b ? a : b; }
    }
    this.takerStep(s, tl, market);
  }

  /**
   * Matches slot s (state FLIGHT, out of the open counts) as a taker up to `limit`, then ends it or
   * rests it: the shared tail of replace re-entry, activation and bracket child growth.
   */
  private takerStep(s: number, limit: number, market: boolean): void {
    this.oState[s] = FLIGHT;
    this.tkSlot = s;
    this.tkId = this.oId[s]!;
    this.tkAccount = this.oAccount[s]!;
    this.tkAcct = this.oAcct[s]!;
    this.tkSide = this.oSide[s]!;
    this.tkQuote = false;
    this.tkQuoteLeft = 0;
    this.tkRem = this.oRem[s]!;
    this.tkFilled = this.oFilled[s]!;
    this.tkStp = this.oStp[s]!;
    this.tkStpGroup = this.oStpGroup[s]!;
    this.tkLimit = limit;
    this.tkLink = this.oLink[s]!;
    const tif = this.oTif[s]!;
    const ev = this.ev;
    if (tif === TimeInForce.FOK && !this.fokFeasible()) {
      ev.expired(this.tkId, this.tkAccount, this.tkRem, EndReason.FillOrKill, this.tkFilled);
      this.finishSlot(s);
      return;
    }
    const end = this.matchTaker();
    this.oFilled[s] = this.tkFilled;
    this.oRem[s] = this.tkRem;
    this.oLink[s] = this.tkLink;
    this.tkSlot = NIL;
    if (end === END_DONE || end === END_FILLED) { this.finishSlot(s); return; }
    if (end === END_STP_TAKER || market || tif === TimeInForce.IOC || tif === TimeInForce.FOK) {
      const why = end === END_STP_TAKER ? EndReason.SelfTrade : market && end === END_PRICE ? EndReason.MarketProtection
        : EndReason.ImmediateRemainder;
      ev.expired(this.tkId, this.tkAccount, this.tkRem, why, this.tkFilled);
      this.finishSlot(s);
      return;
    }
    const d = this.oDisplay[s]!;
    this.oVis[s] = d > 0 && d < this.tkRem ? d : this.tkRem;
    this.restSlot(s);
  }

  /** A slotted order not on the book ended (its terminal event is out): links, children, slot. */
  private finishSlot(s: number): void {
    this.afterEnd(s);
    this.releaseSlot(s);
  }

  // ------------------------------------------------------------------------------------------
  // Brackets
  // ------------------------------------------------------------------------------------------

  private noteEntryFill(entry: number, q: number): void {
    const a = this.oChildA[entry]!, b = this.oChildB[entry]!;
    if (a !== NIL) this.noteGrow(a, q);
    if (b !== NIL) this.noteGrow(b, q);
  }

  private noteGrow(c: number, q: number): void {
    if (this.oGrow[c] === 0) { this.growId[this.growN] = this.oId[c]!; this.growList[this.growN++] = c; }
    this.oGrow[c] = this.oGrow[c]! + q;
  }

  /** Applies the growth recorded during the last matching step(s), children in ascending id. */
  private processGrowth(): void {
    while (this.growN > 0) {
      const n = this.growN;
      const list = this.scratch, ids = this.scratchId;
      for (let i = 0; i < n; i++) { list[i] = this.growList[i]!; ids[i] = this.growId[i]!; }
      this.growN = 0;
      // Insertion sort by id: at most a few children per step.
      for (let i = 1; i < n; i++) {
        const s = list[i]!, id = ids[i]!;
        let j = i - 1;
        while (j >= 0 && ids[j]! > id) { list[j + 1] = list[j]!; ids[j + 1] = ids[j]!; j--; }
        list[j + 1] = s; ids[j + 1] = id;
      }
      const buf = new Int32Array(list.subarray(0, n));
      const bufId = new Float64Array(ids.subarray(0, n));
      for (let i = 0; i < n; i++) {
        const c = buf[i]!;
        if (this.oState[c] === FREE || this.oId[c] !== bufId[i]) continue;
        const q = this.oGrow[c]!;
        this.oGrow[c] = 0;
        if (q > 0) this.growChild(c, q);
      }
    }
  }

  private growChild(c: number, q: number): void {
    const st = this.oState[c]!;
    const ev = this.ev;
    if (st === BOOK) {
      ev.activated(this.oId[c]!, this.oAccount[c]!, this.oQty[c]! + q, this.oRem[c]! + q);
      const lvl = this.oLevel[c]!;
      this.unlinkResting(c);
      this.leaveLevel(this.oSide[c]!, lvl);
      this.oQty[c] = this.oQty[c]! + q;
      this.oRem[c] = this.oRem[c]! + q;
      this.oVis[c] = this.oRem[c]!;
      this.takerStep(c, this.oPrice[c]!, false);
      return;
    }
    if (st === TRIGGER) {
      this.oQty[c] = this.oQty[c]! + q;
      this.oRem[c] = this.oRem[c]! + q;
      this.openAdjust(this.oAcct[c]!, this.oSide[c]!, q);
      ev.activated(this.oId[c]!, this.oAccount[c]!, this.oQty[c]!, this.oRem[c]!);
      return;
    }
    // CHILD0: first size.
    this.oQty[c] = q;
    this.oRem[c] = q;
    ev.activated(this.oId[c]!, this.oAccount[c]!, q, q);
    if (this.oType[c] === OrderType.Limit) {
      this.openCountAdd(c, -1);
      this.oVis[c] = q;
      this.takerStep(c, this.oPrice[c]!, false);
    } else {
      this.waitTrigger(c);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Matching
  // ------------------------------------------------------------------------------------------

  private isSelf(m: number): boolean {
    return this.oAccount[m] === this.tkAccount || (this.tkStpGroup !== 0 && this.oStpGroup[m] === this.tkStpGroup);
  }

  private fokFeasible(): boolean {
    const opp = this.tkSide ^ 1, base = opp * (this.cap + 1), buy = this.tkSide === Side.Buy;
    const need = this.tkRem;
    let got = 0;
    for (let i = this.ladN[opp]! - 1; i >= 0; i--) {
      const l = this.ladLvl[base + i]!;
      const px = this.lPrice[l]!;
      if (buy ? px > this.tkLimit : px < this.tkLimit) return false;
      for (let m = this.lHead[l]!; m !== NIL; m = this.oNext[m]!) {
        if (this.isSelf(m)) {
          const mode = this.tkStp;
          if (mode === StpMode.ExpireMaker) continue;
          if (mode !== StpMode.None) return false;
        }
        got += this.oRem[m]!;
        if (got >= need) return true;
      }
    }
    return false;
  }

  /** Cancels the taker's OCO partner after its first trade. */
  private takerTraded(): void {
    const p = this.tkLink;
    this.tkLink = NIL;
    this.oLink[p] = NIL;
    if (this.tkSlot !== NIL) this.oLink[this.tkSlot] = NIL;
    this.cancelLinked(p);
  }

  /** Matches the taker held in the tk* fields against the opposite side; returns an END_* code. */
  private matchTaker(): number {
    const opp = this.tkSide ^ 1;
    const buy = this.tkSide === Side.Buy;
    const npt = this.npt;
    const ev = this.ev;
    for (;;) {
      if (this.tkQuote ? this.tkQuoteLeft === 0 : this.tkRem === 0) return END_FILLED;
      const lvl = this.bestLevel(opp);
      if (lvl === NIL) return END_EMPTY;
      const px = this.lPrice[lvl]!;
      if (buy ? px > this.tkLimit : px < this.tkLimit) return END_PRICE;
      const lotCost = px * npt;
      this.visitLvl = lvl;
      let changed = false;
      let m = this.lHead[lvl]!;
      while (m !== NIL) {
        let avail: number;
        if (this.tkQuote) {
          avail = Math.floor(this.tkQuoteLeft / lotCost);
          if (avail === 0) { this.visitLvl = NIL; if (changed) this.leaveLevel(opp, lvl); return this.tkQuoteLeft === 0 ? END_FILLED : END_QUOTE; }
        } else {
          avail = this.tkRem;
          if (avail === 0) break;
        }
        let next = this.oNext[m]!;
        if (this.tkStp !== StpMode.None && this.isSelf(m)) {
          const mode = this.tkStp;
          if (mode === StpMode.ExpireTaker) { this.visitLvl = NIL; if (changed) this.leaveLevel(opp, lvl); return END_STP_TAKER; }
          if (mode === StpMode.ExpireMaker || mode === StpMode.ExpireBoth) {
            this.unlinkResting(m);
            ev.expired(this.oId[m]!, this.oAccount[m]!, this.oRem[m]!, EndReason.SelfTrade, this.oFilled[m]!);
            next = this.makerGone(m, next);
            changed = true;
            if (mode === StpMode.ExpireBoth) { this.visitLvl = NIL; this.leaveLevel(opp, lvl); return END_STP_TAKER; }
            m = next;
            continue;
          }
          // Decrement, against the maker's visible lots.
          const mVis = this.oVis[m]!;
          const d = avail < mVis ? avail : mVis;
          const mRem = this.oRem[m]!;
          if (d === mRem) {
            this.unlinkResting(m);
            ev.expired(this.oId[m]!, this.oAccount[m]!, d, EndReason.SelfTrade, this.oFilled[m]!);
            next = this.makerGone(m, next);
          } else {
            this.oRem[m] = mRem - d;
            this.oVis[m] = mVis - d;
            this.lQty[lvl] = this.lQty[lvl]! - d;
            this.openAdjust(this.oAcct[m]!, this.oSide[m]!, -d);
            ev.decremented(this.oId[m]!, this.oAccount[m]!, d, mRem - d);
            if (mVis === d) next = this.refreshSlice(m, lvl, next);
          }
          changed = true;
          if (this.tkQuote) {
            this.tkQuoteLeft -= d * lotCost;
            if (this.tkQuoteLeft === 0) { this.visitLvl = NIL; this.leaveLevel(opp, lvl); ev.expired(this.tkId, this.tkAccount, 0, EndReason.SelfTrade, this.tkFilled); return END_DONE; }
            ev.decremented(this.tkId, this.tkAccount, d, 0);
          } else {
            this.tkRem -= d;
            if (this.tkRem === 0) { this.visitLvl = NIL; this.leaveLevel(opp, lvl); ev.expired(this.tkId, this.tkAccount, d, EndReason.SelfTrade, this.tkFilled); return END_DONE; }
            ev.decremented(this.tkId, this.tkAccount, d, this.tkRem);
          }
          m = next;
          continue;
        }
        // Trade at the maker's price, against its visible lots.
        const mVis = this.oVis[m]!;
        const q = avail < mVis ? avail : mVis;
        const notional = q * lotCost;
        const makerFee = feeUnits(notional, this.spec.makerFeePpm);
        const takerFee = feeUnits(notional, this.spec.takerFeePpm);
        const mLeft = this.oRem[m]! - q;
        this.oRem[m] = mLeft;
        this.oVis[m] = mVis - q;
        this.oFilled[m] = this.oFilled[m]! + q;
        this.lQty[lvl] = this.lQty[lvl]! - q;
        const ma = this.oAcct[m]!;
        if (buy) {
          this.aOpenSell[ma] = this.aOpenSell[ma]! - q;
          this.aPos[ma] = this.aPos[ma]! - q;
          this.aPos[this.tkAcct] = this.aPos[this.tkAcct]! + q;
        } else {
          this.aOpenBuy[ma] = this.aOpenBuy[ma]! - q;
          this.aPos[ma] = this.aPos[ma]! + q;
          this.aPos[this.tkAcct] = this.aPos[this.tkAcct]! - q;
        }
        if (this.tkQuote) this.tkQuoteLeft -= notional; else this.tkRem -= q;
        this.tkFilled += q;
        this.noteTrade(px);
        ev.trade(this.nextTradeId++, px, q, this.oId[m]!, this.oAccount[m]!, this.tkId, this.tkAccount, this.tkSide,
          makerFee, takerFee, mLeft, this.tkQuote ? 0 : this.tkRem, notional);
        changed = true;
        if (this.oChildA[m] !== NIL) this.noteEntryFill(m, q);
        if (this.tkSlot !== NIL && this.oChildA[this.tkSlot] !== NIL) this.noteEntryFill(this.tkSlot, q);
        const link = this.oLink[m]!;
        if (link !== NIL) {
          this.oLink[m] = NIL; this.oLink[link] = NIL;
          if (next === link) next = this.oNext[link]!;
          this.cancelLinked(link);
        }
        if (this.tkLink !== NIL) this.takerTraded();
        if (mLeft === 0) {
          this.unlinkResting(m);
          next = this.makerGone(m, next);
        } else if (mVis === q) {
          next = this.refreshSlice(m, lvl, next);
        }
        m = next;
      }
      // Level exhausted, or taker filled.
      this.visitLvl = NIL;
      this.leaveLevel(opp, lvl);
    }
  }

  /**
   * A maker left the book during matching (its event is out): links and children, then its slot.
   * Returns the iteration's next order, moved on if a linked cancel took it.
   */
  private makerGone(m: number, next: number): number {
    const link = this.oLink[m]!;
    if (link !== NIL && next === link) next = this.oNext[link]!;
    if (this.oChildA[m] !== NIL && this.oFilled[m] === 0) {
      // Its children are on the other side: they cannot be the iteration's next order.
    }
    this.afterEnd(m);
    this.releaseSlot(m);
    return next;
  }

  /** An iceberg's slice is used up: show the next one at the back of its level. */
  private refreshSlice(m: number, lvl: number, next: number): number {
    const rem = this.oRem[m]!, d = this.oDisplay[m]!;
    const vis = d < rem ? d : rem;
    // Move to the back of the level.
    const p = this.oPrev[m]!, n = this.oNext[m]!;
    if (n !== NIL) {
      if (p === NIL) this.lHead[lvl] = n; else this.oNext[p] = n;
      this.oPrev[n] = p;
      const tail = this.lTail[lvl]!;
      this.oNext[tail] = m; this.oPrev[m] = tail; this.oNext[m] = NIL; this.lTail[lvl] = m;
    }
    this.oVis[m] = vis;
    this.lQty[lvl] = this.lQty[lvl]! + vis;
    this.ev.sliceRefreshed(this.oId[m]!, this.oAccount[m]!, vis, rem - vis);
    return next === NIL ? m : next;
  }

  /** Emits the level's Depth and frees it if empty (unless the matching loop is visiting it). */
  private leaveLevel(side: number, lvl: number): void {
    const count = this.lCount[lvl]!;
    this.ev.depth(side, this.lPrice[lvl]!, this.lQty[lvl]!, count);
    if (count === 0 && lvl !== this.visitLvl) this.removeLevel(side, lvl);
  }

  private wouldTake(side: number, px: number): boolean {
    if (side === Side.Buy) { const l = this.bestLevel(Side.Sell); return l !== NIL && px >= this.lPrice[l]!; }
    const l = this.bestLevel(Side.Buy);
    return l !== NIL && px <= this.lPrice[l]!;
  }

  private inBand(px: number, ref: number): boolean {
    const b = this.spec.priceBandBps;
    const lo = Math.ceil((ref * (10000 - b)) / 10000);
    const hi = Math.floor((ref * (10000 + b)) / 10000);
    return px >= lo && px <= hi;
  }

  private marketUpper(ref: number): number {
    return Math.floor((ref * (10000 + this.spec.marketBandBps)) / 10000);
  }

  private marketLower(ref: number): number {
    const v = Math.ceil((ref * (10000 - this.spec.marketBandBps)) / 10000);
    return v < 1 ? 1 : v;
  }

  // ------------------------------------------------------------------------------------------
  // Ending orders: cancel, expiry, linked cancel
  // ------------------------------------------------------------------------------------------

  /**
   * Ends an open order (BOOK, TRIGGER or CHILD0) with a Canceled/Expired event (and Depth when it
   * was on the book), then its OCO partner and children.
   */
  private endOrder(s: number, reason: number, expired: boolean): void {
    const st = this.oState[s]!;
    const ev = this.ev;
    let lvl = NIL;
    if (st === BOOK) { lvl = this.oLevel[s]!; this.unlinkResting(s); }
    else if (st === TRIGGER) this.leaveTrigger(s);
    else this.openCountAdd(s, -1); // CHILD0
    if (expired) ev.expired(this.oId[s]!, this.oAccount[s]!, this.oRem[s]!, reason, this.oFilled[s]!);
    else ev.canceled(this.oId[s]!, this.oAccount[s]!, this.oRem[s]!, reason, this.oFilled[s]!);
    if (lvl !== NIL) this.leaveLevel(this.oSide[s]!, lvl);
    this.afterEnd(s);
    this.releaseSlot(s);
  }

  private cancelLinked(p: number): void {
    this.endOrder(p, EndReason.LinkedOrder, false);
  }

  /** After an order's terminal event: cancel its OCO partner; cancel or detach its bracket children. */
  private afterEnd(s: number): void {
    const p = this.oLink[s]!;
    if (p !== NIL) { this.oLink[s] = NIL; this.oLink[p] = NIL; this.cancelLinked(p); }
    const par = this.oParent[s]!;
    if (par !== NIL) {
      if (this.oChildA[par] === s) { this.oChildA[par] = this.oChildB[par]!; this.oChildB[par] = NIL; }
      else if (this.oChildB[par] === s) this.oChildB[par] = NIL;
      this.oParent[s] = NIL;
    }
    let a = this.oChildA[s]!;
    if (a !== NIL) {
      let b = this.oChildB[s]!;
      this.oChildA[s] = NIL; this.oChildB[s] = NIL;
      if (b !== NIL && this.oId[b]! < this.oId[a]!) { const t = a; a = b; b = t; }
      const aId = this.oId[a]!, bId = b === NIL ? 0 : this.oId[b]!;
      this.oParent[a] = NIL;
      if (b !== NIL) this.oParent[b] = NIL;
      if (this.oFilled[s] === 0) {
        if (this.oState[a] !== FREE && this.oId[a] === aId) this.cancelLinked(a);
        if (b !== NIL && this.oState[b] !== FREE && this.oId[b] === bId) this.cancelLinked(b);
      }
    }
  }

  /** Finds an open order of the command's account by orderId, or by clientOrderId when orderId is 0. */
  private findOwn(cmd: Command): number {
    let s: number;
    if (cmd.orderId === 0) {
      if (!isId(cmd.clientOrderId) || !isId(cmd.account)) return NIL;
      s = this.cids.get(cmd.account, cmd.clientOrderId);
      if (s === RETAINED) return NIL;
    } else {
      if (!isId(cmd.orderId)) return NIL;
      s = this.slotOf(cmd.orderId);
    }
    if (s === NIL || this.oAccount[s] !== cmd.account) return NIL;
    return s;
  }

  private cancel(cmd: Command): void {
    if (this.status === SymbolStatus.Halted) { this.reject(cmd, RejectReason.SymbolHalted); return; }
    const s = this.findOwn(cmd);
    if (s === NIL) { this.reject(cmd, RejectReason.UnknownOrder); return; }
    this.endOrder(s, EndReason.UserCancel, false);
  }

  private replace(cmd: Command): void {
    const spec = this.spec;
    if (this.status === SymbolStatus.Halted) { this.reject(cmd, RejectReason.SymbolHalted); return; }
    if (this.status === SymbolStatus.CancelOnly) { this.reject(cmd, RejectReason.SymbolCancelOnly); return; }
    if (isId(cmd.account)) {
      const ai = this.acctLookup(cmd.account);
      if (ai !== NIL && this.aKilled[ai] === 1) { this.reject(cmd, RejectReason.AccountKilled); return; }
    }
    const s = this.findOwn(cmd);
    if (s === NIL) { this.reject(cmd, RejectReason.UnknownOrder); return; }
    if (this.oState[s] !== BOOK) { this.reject(cmd, RejectReason.InvalidOrderType); return; }
    const oldPx = this.oPrice[s]!, oldQty = this.oQty[s]!, filled = this.oFilled[s]!, oldRem = this.oRem[s]!;
    let px = cmd.priceTicks, qty = cmd.qtyLots;
    if (px !== 0 && (!Number.isSafeInteger(px) || px < spec.minPriceTicks || px > spec.maxPriceTicks)) { this.reject(cmd, RejectReason.InvalidPrice); return; }
    if (qty !== 0 && !isId(qty)) { this.reject(cmd, RejectReason.InvalidQuantity); return; }
    if (px === 0) px = oldPx;
    if (qty === 0) qty = oldQty;
    if (px === oldPx && qty === oldQty) { this.reject(cmd, RejectReason.ReplaceNoChange); return; }
    if (qty < spec.minQtyLots) { this.reject(cmd, RejectReason.QuantityBelowMin); return; }
    if (qty > spec.maxQtyLots) { this.reject(cmd, RejectReason.QuantityAboveMax); return; }
    if (px !== oldPx && spec.priceBandBps > 0 && this.refPx !== 0 && !this.inBand(px, this.refPx)) { this.reject(cmd, RejectReason.PriceOutsideBand); return; }
    const notional = px * qty * this.npt;
    if (notional < spec.minNotionalUnits) { this.reject(cmd, RejectReason.NotionalBelowMin); return; }
    if (spec.maxNotionalUnits > 0 && notional > spec.maxNotionalUnits) { this.reject(cmd, RejectReason.NotionalAboveMax); return; }
    const ai = this.oAcct[s]!, side = this.oSide[s]!;
    const newRem = qty - filled;
    if (newRem > oldRem) {
      const plim = this.aMaxPos[ai]! > 0 ? this.aMaxPos[ai]! : spec.maxPositionLots;
      if (plim > 0) {
        const q = newRem - oldRem, pos = this.aPos[ai]!;
        if (side === Side.Buy ? pos + this.aOpenBuy[ai]! + q > plim : pos - this.aOpenSell[ai]! - q < -plim) {
          this.reject(cmd, RejectReason.PositionLimitExceeded); return;
        }
      }
    }
    if ((this.oFlags[s]! & OrderFlags.PostOnly) !== 0 && this.wouldTake(side, px)) { this.reject(cmd, RejectReason.PostOnlyWouldTake); return; }

    const ev = this.ev;
    if (newRem <= 0) { this.endOrder(s, EndReason.ReplaceDone, false); return; }
    const lvl = this.oLevel[s]!;
    if (px === oldPx && newRem <= oldRem) {
      const oldVis = this.oVis[s]!;
      const newVis = oldVis < newRem ? oldVis : newRem;
      this.oQty[s] = qty;
      this.oRem[s] = newRem;
      this.oVis[s] = newVis;
      this.lQty[lvl] = this.lQty[lvl]! - (oldVis - newVis);
      this.openAdjust(ai, side, newRem - oldRem);
      ev.replaced(this.oId[s]!, this.oAccount[s]!, px, qty, newRem, 1);
      this.leaveLevel(side, lvl);
      return;
    }
    // Loses priority: leave the level, then enter again as a taker with the same id.
    ev.replaced(this.oId[s]!, this.oAccount[s]!, px, qty, newRem, 0);
    this.unlinkResting(s);
    this.leaveLevel(side, lvl);
    this.oPrice[s] = px;
    this.oQty[s] = qty;
    this.oRem[s] = newRem;
    this.takerStep(s, px, false);
  }

  /** Collects open orders of an account (or all when account is 0) into scratch, ascending id. */
  private collect(account: number): number {
    let n = 0;
    if (account === 0) {
      for (let s = 0; s <= this.cap; s++) {
        const st = this.oState[s]!;
        if (st === BOOK || st === TRIGGER || st === CHILD0) this.scratch[n++] = s;
      }
    } else {
      const ai = this.acctLookup(account);
      if (ai === NIL) return 0;
      for (let m = this.aHead[ai]!; m !== NIL; m = this.oANext[m]!) this.scratch[n++] = m;
    }
    const ids = this.oId;
    this.scratch.subarray(0, n).sort((a, b) => ids[a]! - ids[b]!);
    for (let i = 0; i < n; i++) this.scratchId[i] = ids[this.scratch[i]!]!;
    return n;
  }

  /** Cancels the collected orders still open (a linked cancel may have taken some); returns the count. */
  private cancelCollected(n: number, reason: number): number {
    let k = 0;
    const list = new Int32Array(this.scratch.subarray(0, n));
    const ids = new Float64Array(this.scratchId.subarray(0, n));
    for (let i = 0; i < n; i++) {
      const s = list[i]!;
      if (this.oState[s] === FREE || this.oState[s] === FLIGHT || this.oId[s] !== ids[i]) continue;
      this.endOrder(s, reason, false);
      k++;
    }
    return k;
  }

  private massCancel(cmd: Command): void {
    if (this.status === SymbolStatus.Halted) { this.reject(cmd, RejectReason.SymbolHalted); return; }
    if (cmd.account !== 0 && !isId(cmd.account)) { this.reject(cmd, RejectReason.InvalidAccount); return; }
    const k = this.cancelCollected(this.collect(cmd.account), EndReason.MassCancel);
    this.ev.adminDone(CommandType.MassCancel, cmd.account, 0, 0, k);
  }

  // ------------------------------------------------------------------------------------------
  // Admin
  // ------------------------------------------------------------------------------------------

  private setStatus(cmd: Command): void {
    const v = cmd.value;
    if (v !== SymbolStatus.Open && v !== SymbolStatus.Halted && v !== SymbolStatus.CancelOnly) { this.reject(cmd, RejectReason.InvalidValue); return; }
    this.status = v;
    this.ev.adminDone(cmd.type, 0, v, 0, 0);
  }

  private setKill(cmd: Command): void {
    if (!isId(cmd.account)) { this.reject(cmd, RejectReason.InvalidAccount); return; }
    const v = cmd.value;
    if (v !== 0 && v !== 1) { this.reject(cmd, RejectReason.InvalidValue); return; }
    const ai = this.acctIndex(cmd.account);
    this.aKilled[ai] = v;
    const k = v === 1 ? this.cancelCollected(this.collect(cmd.account), EndReason.KillSwitch) : 0;
    this.ev.adminDone(cmd.type, cmd.account, v, 0, k);
  }

  private setLimits(cmd: Command): void {
    if (!isId(cmd.account)) { this.reject(cmd, RejectReason.InvalidAccount); return; }
    if (!isUint(cmd.value) || !isUint(cmd.value2)) { this.reject(cmd, RejectReason.InvalidValue); return; }
    const ai = this.acctIndex(cmd.account);
    this.aMaxPos[ai] = cmd.value;
    this.aMaxOpen[ai] = cmd.value2;
    this.ev.adminDone(cmd.type, cmd.account, cmd.value, cmd.value2, 0);
  }

  private setRef(cmd: Command): void {
    const v = cmd.value;
    if (!Number.isSafeInteger(v) || v < this.spec.minPriceTicks || v > this.spec.maxPriceTicks) { this.reject(cmd, RejectReason.InvalidPrice); return; }
    this.refPx = v;
    if (this.hiMark === 0 || v > this.hiMark) this.hiMark = v;
    if (this.loMark === 0 || v < this.loMark) this.loMark = v;
    this.ev.adminDone(cmd.type, 0, v, 0, 0);
  }

  // ------------------------------------------------------------------------------------------
  // GTD expiry
  // ------------------------------------------------------------------------------------------

  private expireDue(): void {
    const now = this.now;
    while (this.gtd.n > 0) {
      const s = this.gtd.top();
      if (this.oExpire[s]! > now) return;
      this.endOrder(s, EndReason.Expired, true); // releaseSlot takes it out of the heap
    }
  }

  // ------------------------------------------------------------------------------------------
  // Orders, levels, accounts: the plumbing
  // ------------------------------------------------------------------------------------------

  private slotOf(id: number): number {
    const s = this.idx[(id >>> 0) & this.idxMask]!;
    if (s !== NIL && this.oId[s] === id && this.oState[s] !== FREE) return s;
    return this.idOverflow.size === 0 ? NIL : this.idOverflow.get(id);
  }

  private indexId(id: number, s: number): void {
    const h = (id >>> 0) & this.idxMask;
    if (this.idx[h] === NIL) this.idx[h] = s; else this.idOverflow.set(id, s);
    if (id > this.maxIndexedId) this.maxIndexedId = id;
  }

  private unindexId(id: number, s: number): void {
    const h = (id >>> 0) & this.idxMask;
    if (this.idx[h] === s) this.idx[h] = NIL; else this.idOverflow.delete(id);
  }

  private allocOrder(): number {
    const s = this.freeOrder;
    if (s === NIL) throw new Error('order pool exhausted (BookFull check missed)');
    this.freeOrder = this.oNext[s]!;
    this.oState[s] = FLIGHT;
    this.resting++;
    return s;
  }

  private openCountAdd(s: number, d: number): void {
    const ai = this.oAcct[s]!;
    this.aOpenCount[ai] = this.aOpenCount[ai]! + d;
  }

  /** Puts slot s (fields set, oVis set) at the back of its price level, counts it open, emits Depth. */
  private restSlot(s: number, quiet = false): void {
    const side = this.oSide[s]!, px = this.oPrice[s]!;
    const lvl = this.levelFor(side, px);
    const tail = this.lTail[lvl]!;
    this.oPrev[s] = tail;
    this.oNext[s] = NIL;
    if (tail === NIL) this.lHead[lvl] = s; else this.oNext[tail] = s;
    this.lTail[lvl] = s;
    this.oLevel[s] = lvl;
    this.oState[s] = BOOK;
    this.lQty[lvl] = this.lQty[lvl]! + this.oVis[s]!;
    this.lCount[lvl] = this.lCount[lvl]! + 1;
    const ai = this.oAcct[s]!;
    this.aOpenCount[ai] = this.aOpenCount[ai]! + 1;
    this.openAdjust(ai, side, this.oRem[s]!);
    if (!quiet) this.ev.depth(side, px, this.lQty[lvl]!, this.lCount[lvl]!);
  }

  /** Takes s out of its level's FIFO and out of the open counts; the level itself stays. */
  private unlinkResting(s: number): void {
    const lvl = this.oLevel[s]!, p = this.oPrev[s]!, n = this.oNext[s]!;
    if (p === NIL) this.lHead[lvl] = n; else this.oNext[p] = n;
    if (n === NIL) this.lTail[lvl] = p; else this.oPrev[n] = p;
    this.lQty[lvl] = this.lQty[lvl]! - this.oVis[s]!;
    this.lCount[lvl] = this.lCount[lvl]! - 1;
    const ai = this.oAcct[s]!;
    this.aOpenCount[ai] = this.aOpenCount[ai]! - 1;
    this.openAdjust(ai, this.oSide[s]!, -this.oRem[s]!);
    this.oState[s] = FLIGHT;
  }

  /** Forgets a terminated order: id, client id (into retention), account list, heap, pool. */
  private releaseSlot(s: number): void {
    this.unindexId(this.oId[s]!, s);
    const cid = this.oCid[s]!;
    if (cid !== 0) {
      if (this.spec.clientIdRetention > 0) this.retainCid(this.oAccount[s]!, cid); // overwrites the live entry
      else this.cids.delete(this.oAccount[s]!, cid);
    }
    if (this.oType[s]! >= OrderType.Stop) {
      // Free slots keep the advanced fields at 0, so plain orders need not write them.
      this.oStop[s] = 0; this.oTrail[s] = 0; this.oLimOff[s] = 0; this.oAnchor[s] = 0;
    }
    const ai = this.oAcct[s]!, p = this.oAPrev[s]!, n = this.oANext[s]!;
    if (p === NIL) this.aHead[ai] = n; else this.oANext[p] = n;
    if (n === NIL) this.aTail[ai] = p; else this.oAPrev[n] = p;
    if (this.oHeap[s] !== NIL) this.gtd.remove(s);
    this.oGrow[s] = 0;
    this.oState[s] = FREE;
    this.oNext[s] = this.freeOrder;
    this.freeOrder = s;
    this.resting--;
  }

  private retainCid(account: number, cid: number): void {
    if (cid === 0) return;
    const R = this.spec.clientIdRetention;
    if (R <= 0) return;
    const r = this.retain;
    if (this.retainCount === R) {
      const h = this.retainHead;
      this.cids.delete(r[2 * h]!, r[2 * h + 1]!);
      this.retainHead = h + 1 === R ? 0 : h + 1;
      this.retainCount--;
    }
    let t = this.retainHead + this.retainCount;
    if (t >= R) t -= R;
    r[2 * t] = account;
    r[2 * t + 1] = cid;
    this.retainCount++;
    this.cids.set(account, cid, RETAINED);
  }

  private openAdjust(ai: number, side: number, lots: number): void {
    if (side === Side.Buy) this.aOpenBuy[ai] = this.aOpenBuy[ai]! + lots;
    else this.aOpenSell[ai] = this.aOpenSell[ai]! + lots;
  }

  private acctAppend(ai: number, s: number): void {
    const t = this.aTail[ai]!;
    this.oAPrev[s] = t;
    this.oANext[s] = NIL;
    if (t === NIL) this.aHead[ai] = s; else this.oANext[t] = s;
    this.aTail[ai] = s;
  }

  /** Account index or NIL: a direct table for ids below 2^16 (engine ids are small and dense), else the hash map. */
  private acctLookup(account: number): number {
    if (account < ACCT_DIRECT) return this.acctDirect[account]!;
    return this.acctLookup(account);
  }

  private acctIndex(account: number): number {
    const i = this.acctLookup(account);
    if (i !== NIL) return i;
    if (this.aN === this.aId.length) this.growAccounts();
    const k = this.aN++;
    this.aId[k] = account;
    this.aPos[k] = 0; this.aOpenBuy[k] = 0; this.aOpenSell[k] = 0; this.aMaxPos[k] = 0; this.aMaxOpen[k] = 0;
    this.aOpenCount[k] = 0; this.aKilled[k] = 0; this.aHead[k] = NIL; this.aTail[k] = NIL;
    if (account < ACCT_DIRECT) this.acctDirect[account] = k; else this.acctMap.set(account, k);
    return k;
  }

  private growAccounts(): void {
    const n = this.aId.length * 2;
    const f = (a: Float64Array) => { const b = new Float64Array(n); b.set(a); return b; };
    const g = (a: Int32Array) => { const b = new Int32Array(n); b.set(a); return b; };
    this.aId = f(this.aId); this.aPos = f(this.aPos); this.aOpenBuy = f(this.aOpenBuy); this.aOpenSell = f(this.aOpenSell);
    this.aMaxPos = f(this.aMaxPos); this.aMaxOpen = f(this.aMaxOpen);
    this.aOpenCount = g(this.aOpenCount); this.aHead = g(this.aHead); this.aTail = g(this.aTail);
    const k = new Uint8Array(n); k.set(this.aKilled); this.aKilled = k;
  }

  private bestLevel(side: number): number {
    const n = this.ladN[side]!;
    return n === 0 ? NIL : this.ladLvl[side * (this.cap + 1) + n - 1]!;
  }

  /**
   * Index in the side's ladder of the key, or -(insertion index) - 1 when absent. Scans a few
   * entries down from the best end (where nearly all activity is), then binary search.
   */
  private ladderFind(side: number, key: number): number {
    const keys = this.ladKey, base = side * (this.cap + 1), n = this.ladN[side]!;
    let i = n - 1;
    const stop = n - 8 > 0 ? n - 8 : 0;
    for (; i >= stop; i--) {
      const k = keys[base + i]!;
      if (k === key) return i;
      if (k < key) return -(i + 1) - 1;
    }
    if (i < 0) return -1; // insertion at 0
    let lo = 0, hi = i; // key < keys[i+1], search [0, i]
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const k = keys[base + mid]!;
      if (k === key) return mid;
      if (k < key) lo = mid + 1; else hi = mid - 1;
    }
    return -lo - 1;
  }

  private levelFor(side: number, px: number): number {
    const key = side === Side.Buy ? px : -px;
    const f = this.ladderFind(side, key);
    const base = side * (this.cap + 1);
    if (f >= 0) return this.ladLvl[base + f]!;
    const pos = -f - 1;
    const l = this.freeLevel;
    if (l === NIL) throw new Error('level pool exhausted');
    this.freeLevel = this.lHead[l]!;
    this.lPrice[l] = px; this.lQty[l] = 0; this.lCount[l] = 0; this.lHead[l] = NIL; this.lTail[l] = NIL;
    const n = this.ladN[side]!;
    if (pos < n) {
      this.ladKey.copyWithin(base + pos + 1, base + pos, base + n);
      this.ladLvl.copyWithin(base + pos + 1, base + pos, base + n);
    }
    this.ladKey[base + pos] = key;
    this.ladLvl[base + pos] = l;
    this.ladN[side] = n + 1;
    return l;
  }

  private removeLevel(side: number, lvl: number): void {
    const base = side * (this.cap + 1), n = this.ladN[side]!;
    if (this.ladLvl[base + n - 1] === lvl) {
      this.ladN[side] = n - 1;
    } else {
      const px = this.lPrice[lvl]!;
      const i = this.ladderFind(side, side === Side.Buy ? px : -px);
      if (i < 0) throw new Error('level not in ladder');
      this.ladKey.copyWithin(base + i, base + i + 1, base + n);
      this.ladLvl.copyWithin(base + i, base + i + 1, base + n);
      this.ladN[side] = n - 1;
    }
    this.lHead[lvl] = this.freeLevel;
    this.freeLevel = lvl;
  }

  // ------------------------------------------------------------------------------------------
  // State: canonical dump, hash, snapshot, restore
  // ------------------------------------------------------------------------------------------

  private dumpOrder(out: number[], m: number): void {
    const link = this.oLink[m]!, par = this.oParent[m]!;
    out.push(this.oId[m]!, this.oAccount[m]!, this.oCid[m]!, this.oSide[m]!, this.oType[m]!, this.oPrice[m]!, this.oQty[m]!,
      this.oRem[m]!, this.oFilled[m]!, this.oTif[m]!, this.oFlags[m]!, this.oStp[m]!, this.oStpGroup[m]!, this.oExpire[m]!,
      this.oStop[m]!, this.oDisplay[m]!, this.oVis[m]!, this.oTrail[m]!, this.oLimOff[m]!, this.oAnchor[m]!,
      link === NIL ? 0 : this.oId[link]!, par === NIL ? 0 : this.oId[par]!);
  }

  stateDump(): number[] {
    const out: number[] = [this.now, this.refPx, this.lastPx, this.nextTradeId, this.status];
    for (let side = 0; side < 2; side++) {
      const countAt = out.length;
      out.push(0);
      let c = 0;
      const base = side * (this.cap + 1);
      for (let i = this.ladN[side]! - 1; i >= 0; i--) {
        for (let m = this.lHead[this.ladLvl[base + i]!]!; m !== NIL; m = this.oNext[m]!) { this.dumpOrder(out, m); c++; }
      }
      out[countAt] = c;
    }
    const pending: number[] = [];
    for (let s = 0; s <= this.cap; s++) if (this.oState[s] === TRIGGER || this.oState[s] === CHILD0) pending.push(s);
    pending.sort((a, b) => this.oId[a]! - this.oId[b]!);
    out.push(pending.length);
    for (const s of pending) this.dumpOrder(out, s);
    const accts: number[] = [];
    for (let k = 0; k < this.aN; k++) {
      if (this.aPos[k] !== 0 || this.aKilled[k] !== 0 || this.aMaxPos[k] !== 0 || this.aMaxOpen[k] !== 0) accts.push(k);
    }
    accts.sort((a, b) => this.aId[a]! - this.aId[b]!);
    out.push(accts.length);
    for (const k of accts) out.push(this.aId[k]!, this.aPos[k]!, this.aKilled[k]!, this.aMaxPos[k]!, this.aMaxOpen[k]!);
    out.push(this.retainCount);
    const R = this.spec.clientIdRetention;
    for (let j = 0; j < this.retainCount; j++) {
      let t = this.retainHead + j;
      if (t >= R) t -= R;
      out.push(this.retain[2 * t]!, this.retain[2 * t + 1]!);
    }
    return out;
  }

  stateHash(): string {
    return hashNumbers(this.stateDump());
  }

  snapshot(): Float64Array {
    return Float64Array.from(this.stateDump());
  }

  static restore(spec: InstrumentSpec, events: EventBuffer, snap: ArrayLike<number>): OrderBook {
    const b = new OrderBook(spec, events);
    let p = 0;
    const next = (): number => {
      if (p >= snap.length) throw new Error('snapshot truncated');
      const v = snap[p++]!;
      if (!Number.isSafeInteger(v)) throw new Error(`snapshot value not an integer at ${p - 1}`);
      return v;
    };
    b.now = next(); b.refPx = next(); b.lastPx = next(); b.nextTradeId = next(); b.status = next();
    const slots: number[] = [];
    const links: number[] = [];
    const parents: number[] = [];
    const readOrder = (): number => {
      const s = b.allocOrder();
      b.oId[s] = next(); b.oAccount[s] = next(); b.oCid[s] = next(); b.oSide[s] = next(); b.oType[s] = next();
      b.oPrice[s] = next(); b.oQty[s] = next(); b.oRem[s] = next(); b.oFilled[s] = next(); b.oTif[s] = next();
      b.oFlags[s] = next(); b.oStp[s] = next(); b.oStpGroup[s] = next(); b.oExpire[s] = next(); b.oStop[s] = next();
      b.oDisplay[s] = next(); b.oVis[s] = next(); b.oTrail[s] = next(); b.oLimOff[s] = next(); b.oAnchor[s] = next();
      links.push(next()); parents.push(next());
      b.oGrow[s] = 0; b.oLink[s] = NIL; b.oParent[s] = NIL; b.oChildA[s] = NIL; b.oChildB[s] = NIL;
      b.oAcct[s] = b.acctIndex(b.oAccount[s]!);
      b.indexId(b.oId[s]!, s);
      if (b.oCid[s] !== 0) b.cids.set(b.oAccount[s]!, b.oCid[s]!, s);
      if (b.oTif[s] === TimeInForce.GTD) b.gtd.push(s);
      slots.push(s);
      return s;
    };
    for (let side = 0; side < 2; side++) {
      const c = next();
      for (let j = 0; j < c; j++) {
        const s = readOrder();
        if (b.oSide[s] !== side) throw new Error('snapshot order on the wrong side');
        b.restSlot(s, true); // priority order, no events
      }
    }
    const np = next();
    for (let j = 0; j < np; j++) {
      const s = readOrder();
      if (b.oQty[s] === 0) { b.oState[s] = CHILD0; b.openCountAdd(s, 1); } else b.waitTrigger(s);
    }
    // Links and parents by id, children in ascending id.
    const byId = [...slots].sort((x, y) => b.oId[x]! - b.oId[y]!);
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (links[i] !== 0) b.oLink[s] = b.slotOf(links[i]!);
    }
    const parentOf = new Map<number, number>();
    slots.forEach((s, i) => { if (parents[i] !== 0) parentOf.set(s, b.slotOf(parents[i]!)); });
    for (const s of byId) {
      b.acctAppend(b.oAcct[s]!, s);
      const par = parentOf.get(s);
      if (par !== undefined && par !== NIL) {
        b.oParent[s] = par;
        if (b.oChildA[par] === NIL) b.oChildA[par] = s; else b.oChildB[par] = s;
      }
    }
    const na = next();
    for (let j = 0; j < na; j++) {
      const k = b.acctIndex(next());
      b.aPos[k] = next(); b.aKilled[k] = next(); b.aMaxPos[k] = next(); b.aMaxOpen[k] = next();
    }
    const nr = next();
    for (let j = 0; j < nr; j++) b.retainCid(next(), next());
    if (p !== snap.length) throw new Error('snapshot has trailing data');
    return b;
  }
}
