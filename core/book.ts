// The fast price-time order book of one instrument: single writer, fixed point, no allocation per
// command on the hot path. Its contract is docs/matching-semantics.md; testing/reference-book.ts is
// the simple oracle the property tests compare it with, event by event.
//
// Layout
//   orders  struct of arrays indexed by slot (Float64Array for integers up to 2^53, Int32Array for
//           links); a free list threads through `oNext`.
//   levels  pool of price levels, each a FIFO of order slots (intrusive doubly linked list).
//   ladder  per side, a sorted array of level keys with the best level at the end (key = price for
//           bids, -price for asks, so "best" is always the largest key): best price in O(1); a new
//           level near the touch costs a short copyWithin.
//   tables  order id -> slot, (account, client order id) -> slot | RETAINED, account id -> index.
//   heap    binary min-heap of GTD orders by (expireTsUs, orderId), positions tracked per slot.

import { EventBuffer } from './events.js';
import { hashNumbers } from './hash.js';
import type { InstrumentSpec } from './instrument.js';
import { IntMap, PairMap } from './tables.js';
import {
  Command, CommandType, EndReason, OrderFlags, OrderType, RejectReason, Side, StpMode, SymbolStatus, TimeInForce,
} from './types.js';

const NIL = -1;
const RETAINED = 0x7ffffff0;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const ORDER_FIELDS = 13;

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

  // Book-wide state.
  private now = 0;
  private refPx = 0;
  private nextTradeId = 1;
  private status: number = SymbolStatus.Open;
  private resting = 0;
  /** Largest order id that ever rested: a new id above it cannot be live (skips a lookup). */
  private maxRestedId = 0;

  // Orders (struct of arrays).
  private readonly oId: Float64Array;
  private readonly oAccount: Float64Array;
  private readonly oCid: Float64Array;
  private readonly oPrice: Float64Array;
  private readonly oQty: Float64Array;
  private readonly oRem: Float64Array;
  private readonly oFilled: Float64Array;
  private readonly oExpire: Float64Array;
  private readonly oStpGroup: Float64Array;
  private readonly oSide: Uint8Array;
  private readonly oTif: Uint8Array;
  private readonly oFlags: Uint8Array;
  private readonly oStp: Uint8Array;
  private readonly oLevel: Int32Array;
  private readonly oPrev: Int32Array;
  private readonly oNext: Int32Array;
  private readonly oAPrev: Int32Array;
  private readonly oANext: Int32Array;
  private readonly oAcct: Int32Array;
  private readonly oHeap: Int32Array;
  private freeOrder = NIL;

  // Levels.
  private readonly lPrice: Float64Array;
  private readonly lQty: Float64Array;
  private readonly lCount: Int32Array;
  private readonly lHead: Int32Array;
  private readonly lTail: Int32Array;
  private freeLevel = NIL;

  // Ladder: side s occupies [s*cap, s*cap + ladN[s]).
  private readonly ladKey: Float64Array;
  private readonly ladLvl: Int32Array;
  private readonly ladN = new Int32Array(2);

  // Lookups. Order id -> slot: a direct-mapped index on the id's low bits (ids are engine-assigned and
  // increasing, so live ids rarely collide and recent ones share cache lines), verified against the
  // slot's stored id; the rare collision goes to a hashed overflow map.
  private readonly idx: Int32Array;
  private readonly idxMask: number;
  private readonly idOverflow = new IntMap(64, true);
  private readonly cids: PairMap;
  private readonly retain: Float64Array;
  private retainHead = 0;
  private retainCount = 0;

  // Accounts (grow by doubling; never per message).
  private readonly acctMap = new IntMap(1024, true);
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

  // GTD heap of slots.
  private readonly heap: Int32Array;
  private heapN = 0;

  // The taker being matched (fields, not an object: no allocation).
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

  // Scratch for mass cancels.
  private readonly scratch: Int32Array;

  constructor(spec: InstrumentSpec, events: EventBuffer) {
    this.spec = spec;
    this.ev = events;
    const cap = spec.orderCapacity;
    if (!Number.isSafeInteger(cap) || cap < 1 || cap > 1 << 26) throw new RangeError(`orderCapacity out of range: ${cap}`);
    this.cap = cap;
    this.npt = spec.notionalUnitsPerTickLot;
    this.refPx = spec.referencePriceTicks;

    this.oId = new Float64Array(cap);
    this.oAccount = new Float64Array(cap);
    this.oCid = new Float64Array(cap);
    this.oPrice = new Float64Array(cap);
    this.oQty = new Float64Array(cap);
    this.oRem = new Float64Array(cap);
    this.oFilled = new Float64Array(cap);
    this.oExpire = new Float64Array(cap);
    this.oStpGroup = new Float64Array(cap);
    this.oSide = new Uint8Array(cap);
    this.oTif = new Uint8Array(cap);
    this.oFlags = new Uint8Array(cap);
    this.oStp = new Uint8Array(cap);
    this.oLevel = new Int32Array(cap);
    this.oPrev = new Int32Array(cap);
    this.oNext = new Int32Array(cap);
    this.oAPrev = new Int32Array(cap);
    this.oANext = new Int32Array(cap);
    this.oAcct = new Int32Array(cap);
    this.oHeap = new Int32Array(cap).fill(NIL);
    for (let i = 0; i < cap; i++) this.oNext[i] = i + 1 < cap ? i + 1 : NIL;
    this.freeOrder = 0;

    const lcap = cap + 1;
    this.lPrice = new Float64Array(lcap);
    this.lQty = new Float64Array(lcap);
    this.lCount = new Int32Array(lcap);
    this.lHead = new Int32Array(lcap);
    this.lTail = new Int32Array(lcap);
    for (let i = 0; i < lcap; i++) this.lHead[i] = i + 1 < lcap ? i + 1 : NIL; // free list through lHead
    this.freeLevel = 0;

    this.ladKey = new Float64Array(2 * cap);
    this.ladLvl = new Int32Array(2 * cap);

    let icap = 1024;
    while (icap < cap * 2) icap *= 2;
    this.idx = new Int32Array(icap).fill(NIL);
    this.idxMask = icap - 1;
    this.cids = new PairMap(1024);
    this.retain = new Float64Array(2 * Math.max(1, spec.clientIdRetention));
    this.heap = new Int32Array(cap);
    this.scratch = new Int32Array(cap);
  }

  // ------------------------------------------------------------------------------------------
  // Read-only views
  // ------------------------------------------------------------------------------------------

  get engineTimeUs(): number { return this.now; }
  get referencePriceTicks(): number { return this.refPx; }
  get symbolStatus(): number { return this.status; }
  get restingOrders(): number { return this.resting; }

  bestBidTicks(): number { const l = this.bestLevel(Side.Buy); return l === NIL ? 0 : this.lPrice[l]!; }
  bestAskTicks(): number { const l = this.bestLevel(Side.Sell); return l === NIL ? 0 : this.lPrice[l]!; }

  /** Number of price levels on a side. */
  levelCount(side: number): number { return this.ladN[side]!; }

  /**
   * Writes up to `maxLevels` levels of a side, best first, as (price, qty, count) triples into `out`;
   * returns the number of levels written.
   */
  depthInto(side: number, maxLevels: number, out: Float64Array): number {
    const n = this.ladN[side]!, base = side * this.cap;
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

    if (this.heapN > 0) this.expireDue();

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

  private validateNew(cmd: Command): number {
    const spec = this.spec;
    if (this.status === SymbolStatus.Halted) return RejectReason.SymbolHalted;
    if (this.status === SymbolStatus.CancelOnly) return RejectReason.SymbolCancelOnly;
    const account = cmd.account;
    if (!isId(account)) return RejectReason.InvalidAccount;
    const ai = this.acctMap.get(account);
    if (ai !== NIL && this.aKilled[ai] === 1) return RejectReason.AccountKilled;
    const oid = cmd.orderId;
    if (!isId(oid) || (oid <= this.maxRestedId && this.slotOf(oid) !== NIL)) return RejectReason.InvalidValue;

    const side = cmd.side, type = cmd.orderType, tif = cmd.tif, flags = cmd.flags;
    if (side !== Side.Buy && side !== Side.Sell) return RejectReason.InvalidSide;
    if (type !== OrderType.Limit && type !== OrderType.Market) return RejectReason.InvalidOrderType;
    if (tif !== TimeInForce.GTC && tif !== TimeInForce.IOC && tif !== TimeInForce.FOK && tif !== TimeInForce.GTD) return RejectReason.InvalidTimeInForce;
    if (!(cmd.stpMode === 0 || cmd.stpMode === 1 || cmd.stpMode === 2 || cmd.stpMode === 3 || cmd.stpMode === 4)) return RejectReason.InvalidStpMode;
    if (!Number.isInteger(flags) || flags < 0 || (flags & ~(OrderFlags.PostOnly | OrderFlags.QuoteQty)) !== 0) return RejectReason.InvalidFlags;
    if (!isUint(cmd.clientOrderId)) return RejectReason.InvalidClientOrderId;
    if (!isUint(cmd.stpGroup)) return RejectReason.InvalidAccount;

    const isMarket = type === OrderType.Market;
    const quote = (flags & OrderFlags.QuoteQty) !== 0;
    if (isMarket) {
      if (tif !== TimeInForce.IOC && tif !== TimeInForce.FOK) return RejectReason.InvalidTimeInForce;
      if (quote && tif === TimeInForce.FOK) return RejectReason.InvalidTimeInForce;
    }
    if ((flags & OrderFlags.PostOnly) !== 0 && (isMarket || (tif !== TimeInForce.GTC && tif !== TimeInForce.GTD))) return RejectReason.InvalidFlags;
    if (quote && !isMarket) return RejectReason.InvalidFlags;
    const px = cmd.priceTicks;
    if (isMarket) {
      if (px !== 0) return RejectReason.InvalidPrice;
    } else if (!Number.isSafeInteger(px) || px < spec.minPriceTicks || px > spec.maxPriceTicks) return RejectReason.InvalidPrice;
    if (quote) {
      if (!isId(cmd.quoteQtyUnits) || cmd.qtyLots !== 0) return RejectReason.InvalidQuantity;
    } else if (!isId(cmd.qtyLots) || cmd.quoteQtyUnits !== 0) return RejectReason.InvalidQuantity;
    if (tif === TimeInForce.GTD) {
      if (!isId(cmd.expireTsUs)) return RejectReason.InvalidExpireTime;
      if (cmd.expireTsUs <= this.now) return RejectReason.GtdAlreadyExpired;
    } else if (cmd.expireTsUs !== 0) return RejectReason.InvalidExpireTime;

    const qty = cmd.qtyLots;
    if (!quote) {
      if (qty < spec.minQtyLots) return RejectReason.QuantityBelowMin;
      if (qty > spec.maxQtyLots) return RejectReason.QuantityAboveMax;
    }
    if (cmd.clientOrderId !== 0 && this.cids.get(account, cmd.clientOrderId) !== NIL) return RejectReason.DuplicateClientOrderId;
    const ref = this.refPx;
    if (isMarket && ref === 0) return RejectReason.NoReferencePrice;
    if (!isMarket && spec.priceBandBps > 0 && ref !== 0 && !this.inBand(px, ref)) return RejectReason.PriceOutsideBand;

    const notional = quote ? cmd.quoteQtyUnits : (isMarket ? ref : px) * qty * this.npt;
    if (notional < spec.minNotionalUnits) return RejectReason.NotionalBelowMin;
    if (spec.maxNotionalUnits > 0 && notional > spec.maxNotionalUnits) return RejectReason.NotionalAboveMax;

    const mayRest = !isMarket && (tif === TimeInForce.GTC || tif === TimeInForce.GTD);
    if (mayRest) {
      const lim = ai !== NIL && this.aMaxOpen[ai]! > 0 ? this.aMaxOpen[ai]! : spec.maxOpenOrdersPerAccount;
      if (lim > 0 && ai !== NIL && this.aOpenCount[ai]! >= lim) return RejectReason.TooManyOpenOrders;
    }
    const plim = ai !== NIL && this.aMaxPos[ai]! > 0 ? this.aMaxPos[ai]! : spec.maxPositionLots;
    if (plim > 0) {
      const q = quote ? Math.floor(cmd.quoteQtyUnits / (this.marketLower(ref) * this.npt)) : qty;
      const pos = ai === NIL ? 0 : this.aPos[ai]!;
      if (side === Side.Buy) {
        if (pos + (ai === NIL ? 0 : this.aOpenBuy[ai]!) + q > plim) return RejectReason.PositionLimitExceeded;
      } else if (pos - (ai === NIL ? 0 : this.aOpenSell[ai]!) - q < -plim) return RejectReason.PositionLimitExceeded;
    }
    if (mayRest && this.resting >= this.cap) return RejectReason.BookFull;
    if ((flags & OrderFlags.PostOnly) !== 0 && this.wouldTake(side, px)) return RejectReason.PostOnlyWouldTake;
    return RejectReason.None;
  }

  private newOrder(cmd: Command): void {
    const reason = this.validateNew(cmd);
    if (reason !== RejectReason.None) { this.reject(cmd, reason); return; }
    const ev = this.ev;
    ev.accepted(cmd.orderId, cmd.account, cmd.clientOrderId, cmd.side, cmd.orderType, cmd.tif, cmd.priceTicks,
      cmd.qtyLots, cmd.quoteQtyUnits, cmd.flags, cmd.expireTsUs);

    const isMarket = cmd.orderType === OrderType.Market;
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
    this.tkLimit = isMarket ? (cmd.side === Side.Buy ? this.marketUpper(this.refPx) : this.marketLower(this.refPx)) : cmd.priceTicks;

    if (cmd.tif === TimeInForce.FOK && !this.fokFeasible()) {
      ev.expired(cmd.orderId, cmd.account, cmd.qtyLots, EndReason.FillOrKill, 0);
      this.retainCid(cmd.account, cmd.clientOrderId);
      return;
    }
    const end = this.matchTaker();
    if (end === END_DONE) { this.retainCid(cmd.account, cmd.clientOrderId); return; }
    if (end === END_FILLED) { this.retainCid(cmd.account, cmd.clientOrderId); return; }
    if (end === END_STP_TAKER) {
      ev.expired(cmd.orderId, cmd.account, this.tkQuote ? 0 : this.tkRem, EndReason.SelfTrade, this.tkFilled);
      this.retainCid(cmd.account, cmd.clientOrderId);
      return;
    }
    if (end === END_QUOTE) {
      ev.expired(cmd.orderId, cmd.account, 0, EndReason.QuoteExhausted, this.tkFilled);
      this.retainCid(cmd.account, cmd.clientOrderId);
      return;
    }
    // END_PRICE or END_EMPTY with quantity left.
    if (isMarket || cmd.tif === TimeInForce.IOC || cmd.tif === TimeInForce.FOK) {
      const why = isMarket && end === END_PRICE ? EndReason.MarketProtection : EndReason.ImmediateRemainder;
      ev.expired(cmd.orderId, cmd.account, this.tkQuote ? 0 : this.tkRem, why, this.tkFilled);
      this.retainCid(cmd.account, cmd.clientOrderId);
      return;
    }
    // Rest the remainder.
    const s = this.allocOrder();
    this.oId[s] = cmd.orderId;
    this.oAccount[s] = cmd.account;
    this.oCid[s] = cmd.clientOrderId;
    this.oPrice[s] = cmd.priceTicks;
    this.oQty[s] = cmd.qtyLots;
    this.oRem[s] = this.tkRem;
    this.oFilled[s] = this.tkFilled;
    this.oExpire[s] = cmd.expireTsUs;
    this.oStpGroup[s] = cmd.stpGroup;
    this.oSide[s] = cmd.side;
    this.oTif[s] = cmd.tif;
    this.oFlags[s] = cmd.flags;
    this.oStp[s] = cmd.stpMode;
    this.oAcct[s] = this.tkAcct;
    this.indexId(cmd.orderId, s);
    if (cmd.orderId > this.maxRestedId) this.maxRestedId = cmd.orderId;
    if (cmd.clientOrderId !== 0) this.cids.set(cmd.account, cmd.clientOrderId, s);
    this.acctAppend(this.tkAcct, s);
    if (cmd.tif === TimeInForce.GTD) this.heapPush(s);
    this.restSlot(s);
  }

  // ------------------------------------------------------------------------------------------
  // Matching
  // ------------------------------------------------------------------------------------------

  private isSelf(m: number): boolean {
    return this.oAccount[m] === this.tkAccount || (this.tkStpGroup !== 0 && this.oStpGroup[m] === this.tkStpGroup);
  }

  private fokFeasible(): boolean {
    const opp = this.tkSide ^ 1, base = opp * this.cap, buy = this.tkSide === Side.Buy;
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
      let changed = false;
      let m = this.lHead[lvl]!;
      while (m !== NIL) {
        let avail: number;
        if (this.tkQuote) {
          avail = Math.floor(this.tkQuoteLeft / lotCost);
          if (avail === 0) { if (changed) this.leaveLevel(opp, lvl); return this.tkQuoteLeft === 0 ? END_FILLED : END_QUOTE; }
        } else {
          avail = this.tkRem;
          if (avail === 0) break;
        }
        const next = this.oNext[m]!;
        if (this.tkStp !== StpMode.None && this.isSelf(m)) {
          const mode = this.tkStp;
          if (mode === StpMode.ExpireTaker) { if (changed) this.leaveLevel(opp, lvl); return END_STP_TAKER; }
          if (mode === StpMode.ExpireMaker || mode === StpMode.ExpireBoth) {
            this.unlinkResting(m);
            ev.expired(this.oId[m]!, this.oAccount[m]!, this.oRem[m]!, EndReason.SelfTrade, this.oFilled[m]!);
            this.releaseSlot(m);
            changed = true;
            if (mode === StpMode.ExpireBoth) { this.leaveLevel(opp, lvl); return END_STP_TAKER; }
            m = next;
            continue;
          }
          // Decrement.
          const mRem = this.oRem[m]!;
          const d = avail < mRem ? avail : mRem;
          if (d === mRem) {
            this.unlinkResting(m);
            ev.expired(this.oId[m]!, this.oAccount[m]!, d, EndReason.SelfTrade, this.oFilled[m]!);
            this.releaseSlot(m);
          } else {
            this.oRem[m] = mRem - d;
            this.lQty[lvl] = this.lQty[lvl]! - d;
            this.openAdjust(this.oAcct[m]!, this.oSide[m]!, -d);
            ev.decremented(this.oId[m]!, this.oAccount[m]!, d, mRem - d);
          }
          changed = true;
          if (this.tkQuote) {
            this.tkQuoteLeft -= d * lotCost;
            if (this.tkQuoteLeft === 0) { this.leaveLevel(opp, lvl); ev.expired(this.tkId, this.tkAccount, 0, EndReason.SelfTrade, this.tkFilled); return END_DONE; }
            ev.decremented(this.tkId, this.tkAccount, d, 0);
          } else {
            this.tkRem -= d;
            if (this.tkRem === 0) { this.leaveLevel(opp, lvl); ev.expired(this.tkId, this.tkAccount, d, EndReason.SelfTrade, this.tkFilled); return END_DONE; }
            ev.decremented(this.tkId, this.tkAccount, d, this.tkRem);
          }
          m = next;
          continue;
        }
        // Trade at the maker's price.
        const mRem = this.oRem[m]!;
        const q = avail < mRem ? avail : mRem;
        const notional = q * lotCost;
        const makerFee = feeUnits(notional, this.spec.makerFeePpm);
        const takerFee = feeUnits(notional, this.spec.takerFeePpm);
        const mLeft = mRem - q;
        this.oRem[m] = mLeft;
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
        this.refPx = px;
        ev.trade(this.nextTradeId++, px, q, this.oId[m]!, this.oAccount[m]!, this.tkId, this.tkAccount, this.tkSide,
          makerFee, takerFee, mLeft, this.tkQuote ? 0 : this.tkRem, notional);
        changed = true;
        if (mLeft === 0) {
          this.unlinkResting(m);
          this.releaseSlot(m);
        }
        m = next;
      }
      // Level exhausted, or taker filled.
      this.leaveLevel(opp, lvl);
    }
  }

  /** Emits the level's Depth and frees it if empty. */
  private leaveLevel(side: number, lvl: number): void {
    const count = this.lCount[lvl]!;
    this.ev.depth(side, this.lPrice[lvl]!, this.lQty[lvl]!, count);
    if (count === 0) this.removeLevel(side, lvl);
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
  // Cancel, replace, mass cancel
  // ------------------------------------------------------------------------------------------

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
    this.removeWithEvent(s, EndReason.UserCancel, false);
  }

  /** Removes a resting order: Canceled/Expired event, then Depth of its level. */
  private removeWithEvent(s: number, reason: number, expired: boolean): void {
    const side = this.oSide[s]!, lvl = this.oLevel[s]!;
    this.unlinkResting(s);
    if (expired) this.ev.expired(this.oId[s]!, this.oAccount[s]!, this.oRem[s]!, reason, this.oFilled[s]!);
    else this.ev.canceled(this.oId[s]!, this.oAccount[s]!, this.oRem[s]!, reason, this.oFilled[s]!);
    this.releaseSlot(s);
    this.leaveLevel(side, lvl);
  }

  private replace(cmd: Command): void {
    const spec = this.spec;
    if (this.status === SymbolStatus.Halted) { this.reject(cmd, RejectReason.SymbolHalted); return; }
    if (this.status === SymbolStatus.CancelOnly) { this.reject(cmd, RejectReason.SymbolCancelOnly); return; }
    if (isId(cmd.account)) {
      const ai = this.acctMap.get(cmd.account);
      if (ai !== NIL && this.aKilled[ai] === 1) { this.reject(cmd, RejectReason.AccountKilled); return; }
    }
    const s = this.findOwn(cmd);
    if (s === NIL) { this.reject(cmd, RejectReason.UnknownOrder); return; }
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
    if (newRem <= 0) { this.removeWithEvent(s, EndReason.ReplaceDone, false); return; }
    const lvl = this.oLevel[s]!;
    if (px === oldPx && newRem <= oldRem) {
      const delta = oldRem - newRem;
      this.oQty[s] = qty;
      this.oRem[s] = newRem;
      this.lQty[lvl] = this.lQty[lvl]! - delta;
      this.openAdjust(ai, side, -delta);
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
    this.tkId = this.oId[s]!;
    this.tkAccount = this.oAccount[s]!;
    this.tkAcct = ai;
    this.tkSide = side;
    this.tkQuote = false;
    this.tkQuoteLeft = 0;
    this.tkRem = newRem;
    this.tkFilled = filled;
    this.tkStp = this.oStp[s]!;
    this.tkStpGroup = this.oStpGroup[s]!;
    this.tkLimit = px;
    const end = this.matchTaker();
    this.oFilled[s] = this.tkFilled;
    this.oRem[s] = this.tkRem;
    if (end === END_DONE || end === END_FILLED) { this.releaseSlot(s); return; }
    if (end === END_STP_TAKER) {
      ev.expired(this.tkId, this.tkAccount, this.tkRem, EndReason.SelfTrade, this.tkFilled);
      this.releaseSlot(s);
      return;
    }
    this.restSlot(s);
  }

  /** Collects the open orders of an account (or all when account is 0) into scratch, ascending id. */
  private collect(account: number): number {
    let n = 0;
    if (account === 0) {
      for (let side = 0; side < 2; side++) {
        const base = side * this.cap;
        for (let i = this.ladN[side]! - 1; i >= 0; i--) {
          for (let m = this.lHead[this.ladLvl[base + i]!]!; m !== NIL; m = this.oNext[m]!) this.scratch[n++] = m;
        }
      }
    } else {
      const ai = this.acctMap.get(account);
      if (ai === NIL) return 0;
      for (let m = this.aHead[ai]!; m !== NIL; m = this.oANext[m]!) this.scratch[n++] = m;
    }
    const ids = this.oId;
    this.scratch.subarray(0, n).sort((a, b) => ids[a]! - ids[b]!);
    return n;
  }

  private massCancel(cmd: Command): void {
    if (this.status === SymbolStatus.Halted) { this.reject(cmd, RejectReason.SymbolHalted); return; }
    if (cmd.account !== 0 && !isId(cmd.account)) { this.reject(cmd, RejectReason.InvalidAccount); return; }
    const n = this.collect(cmd.account);
    for (let i = 0; i < n; i++) this.removeWithEvent(this.scratch[i]!, EndReason.MassCancel, false);
    this.ev.adminDone(CommandType.MassCancel, cmd.account, 0, 0, n);
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
    let n = 0;
    if (v === 1) {
      n = this.collect(cmd.account);
      for (let i = 0; i < n; i++) this.removeWithEvent(this.scratch[i]!, EndReason.KillSwitch, false);
    }
    this.ev.adminDone(cmd.type, cmd.account, v, 0, n);
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
    this.ev.adminDone(cmd.type, 0, v, 0, 0);
  }

  // ------------------------------------------------------------------------------------------
  // GTD expiry
  // ------------------------------------------------------------------------------------------

  private expireDue(): void {
    const now = this.now;
    while (this.heapN > 0) {
      const s = this.heap[0]!;
      if (this.oExpire[s]! > now) return;
      this.removeWithEvent(s, EndReason.Expired, true); // releaseSlot pops it from the heap
    }
  }

  private heapLess(a: number, b: number): boolean {
    const ea = this.oExpire[a]!, eb = this.oExpire[b]!;
    return ea < eb || (ea === eb && this.oId[a]! < this.oId[b]!);
  }

  private heapPush(s: number): void {
    let i = this.heapN++;
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const ps = h[p]!;
      if (!this.heapLess(s, ps)) break;
      h[i] = ps; this.oHeap[ps] = i; i = p;
    }
    h[i] = s; this.oHeap[s] = i;
  }

  private heapRemove(s: number): void {
    const h = this.heap;
    const i = this.oHeap[s]!;
    this.oHeap[s] = NIL;
    const last = h[--this.heapN]!;
    if (last === s) return;
    // Put `last` at i and restore the heap both ways.
    let k = i;
    while (k > 0) {
      const p = (k - 1) >> 1;
      const ps = h[p]!;
      if (!this.heapLess(last, ps)) break;
      h[k] = ps; this.oHeap[ps] = k; k = p;
    }
    if (k === i) {
      for (;;) {
        const l = 2 * k + 1;
        if (l >= this.heapN) break;
        const r = l + 1;
        let c = l;
        if (r < this.heapN && this.heapLess(h[r]!, h[l]!)) c = r;
        const cs = h[c]!;
        if (!this.heapLess(cs, last)) break;
        h[k] = cs; this.oHeap[cs] = k; k = c;
      }
    }
    h[k] = last; this.oHeap[last] = k;
  }

  // ------------------------------------------------------------------------------------------
  // Orders, levels, accounts: the plumbing
  // ------------------------------------------------------------------------------------------

  private slotOf(id: number): number {
    const s = this.idx[(id >>> 0) & this.idxMask]!;
    if (s !== NIL && this.oId[s] === id) return s;
    return this.idOverflow.size === 0 ? NIL : this.idOverflow.get(id);
  }

  private indexId(id: number, s: number): void {
    const h = (id >>> 0) & this.idxMask;
    if (this.idx[h] === NIL) this.idx[h] = s; else this.idOverflow.set(id, s);
  }

  private unindexId(id: number, s: number): void {
    const h = (id >>> 0) & this.idxMask;
    if (this.idx[h] === s) this.idx[h] = NIL; else this.idOverflow.delete(id);
  }

  private allocOrder(): number {
    const s = this.freeOrder;
    if (s === NIL) throw new Error('order pool exhausted (BookFull check missed)');
    this.freeOrder = this.oNext[s]!;
    this.resting++;
    return s;
  }

  /** Puts slot s (fields set) at the back of its price level, counts it open, emits Depth. */
  private restSlot(s: number, quiet = false): void {
    const side = this.oSide[s]!, px = this.oPrice[s]!;
    const lvl = this.levelFor(side, px);
    const tail = this.lTail[lvl]!;
    this.oPrev[s] = tail;
    this.oNext[s] = NIL;
    if (tail === NIL) this.lHead[lvl] = s; else this.oNext[tail] = s;
    this.lTail[lvl] = s;
    this.oLevel[s] = lvl;
    const rem = this.oRem[s]!;
    this.lQty[lvl] = this.lQty[lvl]! + rem;
    this.lCount[lvl] = this.lCount[lvl]! + 1;
    const ai = this.oAcct[s]!;
    this.aOpenCount[ai] = this.aOpenCount[ai]! + 1;
    this.openAdjust(ai, side, rem);
    if (!quiet) this.ev.depth(side, px, this.lQty[lvl]!, this.lCount[lvl]!);
  }

  /** Takes s out of its level's FIFO and out of the open counts; the level itself stays. */
  private unlinkResting(s: number): void {
    const lvl = this.oLevel[s]!, p = this.oPrev[s]!, n = this.oNext[s]!;
    if (p === NIL) this.lHead[lvl] = n; else this.oNext[p] = n;
    if (n === NIL) this.lTail[lvl] = p; else this.oPrev[n] = p;
    const rem = this.oRem[s]!;
    this.lQty[lvl] = this.lQty[lvl]! - rem;
    this.lCount[lvl] = this.lCount[lvl]! - 1;
    const ai = this.oAcct[s]!;
    this.aOpenCount[ai] = this.aOpenCount[ai]! - 1;
    this.openAdjust(ai, this.oSide[s]!, -rem);
  }

  /** Forgets a terminated order: id, client id (into retention), account list, heap, pool. */
  private releaseSlot(s: number): void {
    this.unindexId(this.oId[s]!, s);
    const cid = this.oCid[s]!;
    if (cid !== 0) {
      this.cids.delete(this.oAccount[s]!, cid);
      this.retainCid(this.oAccount[s]!, cid);
    }
    const ai = this.oAcct[s]!, p = this.oAPrev[s]!, n = this.oANext[s]!;
    if (p === NIL) this.aHead[ai] = n; else this.oANext[p] = n;
    if (n === NIL) this.aTail[ai] = p; else this.oAPrev[n] = p;
    if (this.oHeap[s] !== NIL) this.heapRemove(s);
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

  private acctIndex(account: number): number {
    const i = this.acctMap.get(account);
    if (i !== NIL) return i;
    if (this.aN === this.aId.length) this.growAccounts();
    const k = this.aN++;
    this.aId[k] = account;
    this.aPos[k] = 0; this.aOpenBuy[k] = 0; this.aOpenSell[k] = 0; this.aMaxPos[k] = 0; this.aMaxOpen[k] = 0;
    this.aOpenCount[k] = 0; this.aKilled[k] = 0; this.aHead[k] = NIL; this.aTail[k] = NIL;
    this.acctMap.set(account, k);
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
    return n === 0 ? NIL : this.ladLvl[side * this.cap + n - 1]!;
  }

  /**
   * Index in the side's ladder of the key, or -(insertion index) - 1 when absent. Scans a few
   * entries down from the best end (where nearly all activity is), then binary search.
   */
  private ladderFind(side: number, key: number): number {
    const keys = this.ladKey, base = side * this.cap, n = this.ladN[side]!;
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
    const base = side * this.cap;
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
    const base = side * this.cap, n = this.ladN[side]!;
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

  stateDump(): number[] {
    const out: number[] = [this.now, this.refPx, this.nextTradeId, this.status];
    for (let side = 0; side < 2; side++) {
      const countAt = out.length;
      out.push(0);
      let c = 0;
      const base = side * this.cap;
      for (let i = this.ladN[side]! - 1; i >= 0; i--) {
        for (let m = this.lHead[this.ladLvl[base + i]!]!; m !== NIL; m = this.oNext[m]!) {
          out.push(this.oId[m]!, this.oAccount[m]!, this.oCid[m]!, this.oSide[m]!, this.oPrice[m]!, this.oQty[m]!,
            this.oRem[m]!, this.oFilled[m]!, this.oTif[m]!, this.oFlags[m]!, this.oStp[m]!, this.oStpGroup[m]!, this.oExpire[m]!);
          c++;
        }
      }
      out[countAt] = c;
    }
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
    b.now = next(); b.refPx = next(); b.nextTradeId = next(); b.status = next();
    const slots: number[] = [];
    for (let side = 0; side < 2; side++) {
      const c = next();
      for (let j = 0; j < c; j++) {
        const s = b.allocOrder();
        b.oId[s] = next(); b.oAccount[s] = next(); b.oCid[s] = next(); b.oSide[s] = next(); b.oPrice[s] = next();
        b.oQty[s] = next(); b.oRem[s] = next(); b.oFilled[s] = next(); b.oTif[s] = next(); b.oFlags[s] = next();
        b.oStp[s] = next(); b.oStpGroup[s] = next(); b.oExpire[s] = next();
        if (b.oSide[s] !== side) throw new Error('snapshot order on the wrong side');
        b.oAcct[s] = b.acctIndex(b.oAccount[s]!);
        b.indexId(b.oId[s]!, s);
        if (b.oId[s]! > b.maxRestedId) b.maxRestedId = b.oId[s]!;
        if (b.oCid[s] !== 0) b.cids.set(b.oAccount[s]!, b.oCid[s]!, s);
        if (b.oTif[s] === TimeInForce.GTD) b.heapPush(s);
        slots.push(s);
      }
    }
    for (const s of slots) b.restSlot(s, true); // priority order, no events
    slots.sort((x, y) => b.oId[x]! - b.oId[y]!);
    for (const s of slots) b.acctAppend(b.oAcct[s]!, s);
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

  /** Fields per order in the dump (for tools). */
  static readonly ORDER_FIELDS = ORDER_FIELDS;
}

export { MAX_SAFE };
