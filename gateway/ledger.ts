// The account ledger of the engine runtime: the single writer of every balance. Before an order
// command is routed to its book the ledger places a HOLD (moves funds from `available` to `locked`);
// after the book has emitted the command's events the ledger settles them (`apply`): trades move
// assets between accounts and fees to the fee account, and whatever an ended order still holds goes
// back to `available`. Spot only: no order can spend what the account does not have.
//
// Everything is an integer in the asset's smallest unit. No allocation per message on the hot path
// (hold, holdReplace, apply, deposit, withdraw, adjust): orders live in a pool of fixed-size records
// in one Float64Array indexed by slot, balances in typed arrays indexed by (account index *
// assetCount + asset); lookups are open-addressing maps keyed by integers. No clock, no randomness,
// no iteration over hash order (stateDump sorts). The hold rules and why they are sound: docs/ledger.md.

import { feeUnits } from '../core/book.js';
import { EventBuffer } from '../core/events.js';
import { hashNumbers } from '../core/hash.js';
import type { InstrumentSpec } from '../core/instrument.js';
import { IntMap, PairMap, SeqMap } from '../core/tables.js';
import {
  Command, CommandType, EVENT_WORDS, EndReason, EventType, OrderFlags, OrderType, RejectReason, Side,
} from '../core/types.js';

const NIL = -1;
const MAX_PPM = 1_000_000;
const DUMP_VERSION = 4;
/** The previous dump version, still restored when it means the same under the current rules (restore). */
const DUMP_VERSION_V3 = 3;
/** Words per live order in a version 4 stateDump. */
const ORDER_DUMP_WORDS = 19;

// Live orders: one record of STRIDE float64 words per pool slot (slot s at word s * STRIDE), so that
// an order touched at fill or cancel time costs ~3 cache lines and one page instead of a line (and a
// page) per field, as the former one-array-per-field layout did. Every field is an integer that a
// float64 holds exactly (small ints, slots, ids, units). Words 0-7: what a fill and its retarget read
// and write; 8-15: the rest of a fill (price, fee rate, bracket links); 16-23: what endOrder adds;
// 24-25: written by hold, read off the hot path; 26-31 unused. docs/ledger.md "Order pool layout".
const STRIDE = 32;
/** Instrument index. */
const F_INSTR = 0;
const F_SIDE = 1;
/** HoldKind. */
const F_KIND = 2;
/** Account index (balances at acct * assetCount + asset). */
const F_ACCT = 3;
/** Units locked for the order (not counting the extra holds of replaces in flight). */
const F_HOLD = 4;
const F_REM = 5;
const F_FILLED = 6;
/** OCO partner slot (plain OCO pair or the two children of a bracket) sharing one hold, or NIL. */
const F_LINK = 7;
/** Hold price (ticks). */
const F_PX = 8;
const F_PPM = 9;
/**
 * Child: lots it grew by in this ledger (with its entry's fills) that the book has not confirmed yet
 * with Activated. The book applies growth after the matching step, so the remaining quantities in
 * the Trade and Decremented events in between do not count them yet.
 */
const F_GROW = 10;
/** Child: its entry's slot (NIL once the entry ended). */
const F_PARENT = 11;
/** Entry: its first live child's slot (NIL if none). */
const F_KID = 12;
/** Bracket child: 1. */
const F_CHILD = 13;
/** QuoteQty market order: quote units it may still spend. */
const F_QLEFT = 14;
/** Extra holds of replaces in flight. */
const F_PEND = 15;
const F_ID = 16;
/** Child: the other live child of its entry (the book links a new child to the first one left), or NIL. */
const F_SIB = 17;
/** Client order id (0: none). */
const F_CID = 18;
/**
 * Non-child sell Limit order: the largest quantity named by its replaces in flight (0 when none), so
 * that its buy children stay reserved for it until the book answers (kidOpenLots). Kept (not lowered)
 * while any of them is in flight; 0 once none is.
 */
const F_CEIL = 19;
/** Number of the order's replaces in flight that carry a quantity (pQty > 0). */
const F_CEILN = 20;
/** 1 while the slot holds a live order. */
const F_USED = 21;
/** Free slot: the next free slot, or NIL. */
const F_NEXT = 22;
const F_QTY = 23;
/** Account id. */
const F_ACCOUNT = 24;
/** Next live slot with the same (account, clientOrderId), or NIL. */
const F_CIDNEXT = 25;

/** How an order's hold is computed (see docs/ledger.md). */
export const enum HoldKind {
  /** Limit order: buy holds required(remaining, limit price), sell holds remaining * baseUnitsPerLot. */
  Limit = 0,
  /** Market order by quantity: a buy holds required(remaining, market protection upper bound). */
  MarketQty = 1,
  /** Market order by quote amount: a fixed hold, spent by trades, released when the order ends. */
  MarketQuote = 2,
}

export interface LedgerOptions {
  /** Account that receives all fees and pays maker rebates. */
  feeAccount: number;
  /** Asset names whose ids are fixed first, in this order; the instruments' other assets follow. */
  assets?: readonly string[];
  /** Live orders the ledger can track at once (preallocated). Default 65536. */
  maxOrders?: number;
  /** Replaces with an extra hold that can be in flight at once (preallocated). Default 1024. */
  maxPendingReplaces?: number;
  /** Initial account capacity; grows by doubling when a new account appears. Default 1024. */
  expectedAccounts?: number;
}

/** A broken contract between the ledger and its caller (e.g. a trade for an order it never held). */
export class LedgerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerError';
  }
}

export interface LedgerOrderView {
  orderId: number;
  account: number;
  instrumentIndex: number;
  side: number;
  kind: number;
  /** Asset of the hold (quote for buys, base for sells). */
  asset: number;
  /** Units still held for the order, including the extra holds of replaces in flight. */
  holdUnits: number;
  remainingLots: number;
}

function isId(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 1;
}

/** Max over k trades of the summed per-trade fees ceil(n_i*ppm/1e6) for `remLots` lots at <= pxTicks. */
export function feeBoundUnits(remLots: number, pxTicks: number, npt: number, ppm: number): number {
  if (remLots <= 0 || ppm <= 0) return 0;
  // sum ceil(x_i) <= ceil(sum x_i) + (k - 1) with k <= remLots trades, and ceil is subadditive per lot.
  const a = feeUnits(remLots * pxTicks * npt, ppm) + remLots - 1;
  const b = remLots * feeUnits(pxTicks * npt, ppm);
  return a < b ? a : b;
}

/** Quote units a buy of `remLots` lots at prices <= pxTicks can cost at most, fees included. */
export function buyRequiredUnits(remLots: number, pxTicks: number, npt: number, ppm: number): number {
  if (remLots <= 0) return 0;
  return remLots * pxTicks * npt + feeBoundUnits(remLots, pxTicks, npt, ppm);
}

export class Ledger {
  readonly instruments: readonly InstrumentSpec[];
  readonly feeAccount: number;
  readonly maxOrders: number;
  readonly maxPendingReplaces: number;
  private readonly assetNames: string[] = [];
  private readonly assetIds = new Map<string, number>();
  readonly assetCount: number;

  // Per instrument (index in `instruments`).
  private readonly iBase: Int32Array;
  private readonly iQuote: Int32Array;
  private readonly iNpt: Float64Array;
  private readonly iBpl: Float64Array;
  private readonly iMinPx: Float64Array;
  private readonly iMaxPx: Float64Array;
  private readonly iBand: Float64Array;
  private readonly iLimitPpm: Float64Array;
  private readonly iMarketPpm: Float64Array;

  // Accounts and balances (grow by doubling, only when a new account appears).
  private readonly acctMap: IntMap;
  private aN = 0;
  private aCap: number;
  private aId: Float64Array;
  private avail: Float64Array;
  private lockd: Float64Array;
  /** Per asset: deposits - withdrawals + adjustments (what totals() must equal). */
  private readonly external: Float64Array;

  // Orders: one record of STRIDE float64 words per slot in `ord` (field offsets F_*, module top).
  private readonly ids: SeqMap;
  private readonly cids: PairMap;
  private readonly ord: Float64Array;
  private freeOrder = 0;
  private liveOrders = 0;
  /**
   * The highest order id ever put in `ids`: a NewOrder above it (the runtime's ids are its seqs,
   * always fresh) needs no lookup to know that its id is unused (a lookup that misses touches a
   * random line of a multi-megabyte table: 10% of the main thread in bench:pipeline).
   */
  private maxIdSet = 0;
  /** Account index of the fee account (the first account; accounts are never removed). */
  private readonly feeIdx: number;

  // Replaces in flight with an extra hold: seq -> record.
  private readonly pendMap: SeqMap;
  private readonly pSeq: Float64Array;
  private readonly pOrderId: Float64Array;
  private readonly pExtra: Float64Array;
  /** The quantity a replace of a non-child sell Limit order names (its children's ceiling), else 0. */
  private readonly pQty: Float64Array;
  private readonly pNext: Int32Array;
  private readonly pUsed: Uint8Array;
  private freePend = 0;

  /**
   * Per instrument: price of the last self-trade-prevented maker, which prices a QuoteQty taker's
   * Decremented lots. Per instrument so that the state does not depend on how the runtime
   * interleaves the settlement of different books' events.
   */
  private readonly stpPxTicks: Float64Array;
  /** Units of the extra hold of the last successful holdReplace (0 when none was needed). */
  lastReplaceExtraUnits = 0;
  /** Times a hold was found short and topped up from `available` (0 unless the contract was broken). */
  shortfallCount = 0;

  constructor(instruments: readonly InstrumentSpec[], options: LedgerOptions) {
    if (!isId(options.feeAccount)) throw new RangeError(`feeAccount must be an integer >= 1: ${options.feeAccount}`);
    this.instruments = instruments;
    this.feeAccount = options.feeAccount;
    const maxOrders = options.maxOrders ?? 1 << 16;
    const maxPend = options.maxPendingReplaces ?? 1024;
    if (!Number.isSafeInteger(maxOrders) || maxOrders < 1 || maxOrders > 1 << 26) throw new RangeError(`maxOrders out of range: ${maxOrders}`);
    if (!Number.isSafeInteger(maxPend) || maxPend < 1 || maxPend > 1 << 24) throw new RangeError(`maxPendingReplaces out of range: ${maxPend}`);
    this.maxOrders = maxOrders;
    this.maxPendingReplaces = maxPend;

    for (const name of options.assets ?? []) this.addAsset(name);
    for (const spec of instruments) { this.addAsset(spec.baseAsset); this.addAsset(spec.quoteAsset); }
    this.assetCount = this.assetNames.length;

    const n = instruments.length;
    this.iBase = new Int32Array(n); this.iQuote = new Int32Array(n);
    this.iNpt = new Float64Array(n); this.iBpl = new Float64Array(n);
    this.iMinPx = new Float64Array(n); this.iMaxPx = new Float64Array(n); this.iBand = new Float64Array(n);
    this.iLimitPpm = new Float64Array(n); this.iMarketPpm = new Float64Array(n);
    this.stpPxTicks = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const s = instruments[i]!;
      checkSpec(s);
      if (s.baseAsset === s.quoteAsset) throw new RangeError(`${s.symbol}: base and quote asset are the same`);
      this.iBase[i] = this.assetIds.get(s.baseAsset)!;
      this.iQuote[i] = this.assetIds.get(s.quoteAsset)!;
      this.iNpt[i] = s.notionalUnitsPerTickLot;
      this.iBpl[i] = s.baseUnitsPerLot;
      this.iMinPx[i] = s.minPriceTicks;
      this.iMaxPx[i] = s.maxPriceTicks;
      this.iBand[i] = s.marketBandBps;
      // A limit order can trade as taker (on entry, after a replace) and as maker.
      this.iLimitPpm[i] = Math.max(0, s.makerFeePpm, s.takerFeePpm);
      this.iMarketPpm[i] = Math.max(0, s.takerFeePpm);
    }

    const aCap = Math.max(16, options.expectedAccounts ?? 1024);
    this.aCap = aCap;
    this.acctMap = new IntMap(aCap, true);
    this.aId = new Float64Array(aCap);
    this.avail = new Float64Array(aCap * this.assetCount);
    this.lockd = new Float64Array(aCap * this.assetCount);
    this.external = new Float64Array(this.assetCount);

    this.ids = new SeqMap(maxOrders);
    this.cids = new PairMap(maxOrders);
    this.ord = new Float64Array(maxOrders * STRIDE);
    for (let i = 0; i < maxOrders; i++) {
      const b = i * STRIDE;
      this.ord[b + F_LINK] = NIL; this.ord[b + F_PARENT] = NIL; this.ord[b + F_KID] = NIL; this.ord[b + F_SIB] = NIL;
      this.ord[b + F_NEXT] = i + 1 < maxOrders ? i + 1 : NIL;
    }

    this.pendMap = new SeqMap(maxPend);
    this.pSeq = new Float64Array(maxPend);
    this.pOrderId = new Float64Array(maxPend);
    this.pExtra = new Float64Array(maxPend);
    this.pQty = new Float64Array(maxPend);
    this.pNext = new Int32Array(maxPend);
    this.pUsed = new Uint8Array(maxPend);
    for (let i = 0; i < maxPend; i++) this.pNext[i] = i + 1 < maxPend ? i + 1 : NIL;

    this.feeIdx = this.acctIndex(this.feeAccount, true);
  }

  private addAsset(name: string): void {
    if (typeof name !== 'string' || name.length === 0) throw new RangeError('asset name must be a non-empty string');
    if (this.assetIds.has(name)) return;
    this.assetIds.set(name, this.assetNames.length);
    this.assetNames.push(name);
  }

  // ------------------------------------------------------------------------------------------
  // Reads
  // ------------------------------------------------------------------------------------------

  /** Asset id of a name, or -1. */
  assetId(name: string): number { return this.assetIds.get(name) ?? NIL; }
  assetName(asset: number): string { return this.assetNames[asset] ?? ''; }
  baseAssetOf(instrumentIndex: number): number { return this.iBase[instrumentIndex]!; }
  quoteAssetOf(instrumentIndex: number): number { return this.iQuote[instrumentIndex]!; }
  get openOrderCount(): number { return this.liveOrders; }

  available(account: number, asset: number): number {
    const a = this.acctMap.get(account);
    return a === NIL || !this.validAsset(asset) ? 0 : this.avail[a * this.assetCount + asset]!;
  }

  locked(account: number, asset: number): number {
    const a = this.acctMap.get(account);
    return a === NIL || !this.validAsset(asset) ? 0 : this.lockd[a * this.assetCount + asset]!;
  }

  balance(account: number, asset: number): { available: number; locked: number } {
    return { available: this.available(account, asset), locked: this.locked(account, asset) };
  }

  /** Sum of available + locked over every account, the fee account included. */
  totals(asset: number): number {
    if (!this.validAsset(asset)) return 0;
    let t = 0;
    for (let a = 0, k = this.assetCount; a < this.aN; a++) t += this.avail[a * k + asset]! + this.lockd[a * k + asset]!;
    return t;
  }

  /** Deposits - withdrawals + adjustments of an asset: totals(asset) always equals it. */
  externalUnits(asset: number): number {
    return this.validAsset(asset) ? this.external[asset]! : 0;
  }

  /** Units held for a live order (with extra holds of replaces in flight), or -1 if not live. */
  orderHold(orderId: number): number {
    const O = this.ord;
    const s = this.ids.get(orderId);
    return s === NIL ? NIL : O[s * STRIDE + F_HOLD]! + O[s * STRIDE + F_PEND]!;
  }

  /** The live orders, ascending id (allocates: tools and tests). */
  openOrders(): LedgerOrderView[] {
    const O = this.ord;
    const out: LedgerOrderView[] = [];
    for (const s of this.sortedSlots()) {
      const b = s * STRIDE;
      out.push({
        orderId: O[b + F_ID]!, account: O[b + F_ACCOUNT]!, instrumentIndex: O[b + F_INSTR]!, side: O[b + F_SIDE]!,
        kind: O[b + F_KIND]!, asset: this.holdAsset(s), holdUnits: O[b + F_HOLD]! + O[b + F_PEND]!, remainingLots: O[b + F_REM]!,
      });
    }
    return out;
  }

  private validAsset(asset: number): boolean {
    return Number.isInteger(asset) && asset >= 0 && asset < this.assetCount;
  }

  // ------------------------------------------------------------------------------------------
  // Funding commands (journaled like orders)
  // ------------------------------------------------------------------------------------------

  deposit(account: number, asset: number, units: number): number {
    if (!isId(account)) return RejectReason.InvalidAccount;
    if (!this.validAsset(asset) || !isId(units)) return RejectReason.InvalidValue;
    const a = this.acctMap.get(account);
    const cur = a === NIL ? 0 : this.avail[a * this.assetCount + asset]!;
    if (!Number.isSafeInteger(cur + units) || !Number.isSafeInteger(this.external[asset]! + units)) return RejectReason.ArithmeticOverflow;
    const bi = this.acctIndex(account, true) * this.assetCount + asset;
    this.avail[bi] = this.avail[bi]! + units;
    this.external[asset] = this.external[asset]! + units;
    return RejectReason.None;
  }

  withdraw(account: number, asset: number, units: number): number {
    if (!isId(account)) return RejectReason.InvalidAccount;
    if (!this.validAsset(asset) || !isId(units)) return RejectReason.InvalidValue;
    const a = this.acctMap.get(account);
    if (a === NIL) return RejectReason.InsufficientBalance;
    const bi = a * this.assetCount + asset;
    if (this.avail[bi]! < units) return RejectReason.InsufficientBalance;
    this.avail[bi] = this.avail[bi]! - units;
    this.external[asset] = this.external[asset]! - units;
    return RejectReason.None;
  }

  /** Signed correction of `available` (operator). Never makes a balance negative. */
  adjust(account: number, asset: number, deltaUnits: number): number {
    if (!isId(account)) return RejectReason.InvalidAccount;
    if (!this.validAsset(asset) || !Number.isSafeInteger(deltaUnits) || deltaUnits === 0) return RejectReason.InvalidValue;
    if (deltaUnits > 0) return this.deposit(account, asset, deltaUnits);
    return this.withdraw(account, asset, -deltaUnits);
  }

  // ------------------------------------------------------------------------------------------
  // Holds (before routing)
  // ------------------------------------------------------------------------------------------

  /**
   * Places the hold a command needs before it is routed to its book. NewOrder: the full hold;
   * Replace: the extra hold (holdReplace); other commands hold nothing. Returns RejectReason.None, or
   * a reject code and changes nothing. `refPriceTicks` is the book's reference price (market orders).
   * `inFlight`: earlier commands of this instrument are not settled yet; then any linked order (OCO
   * leg, bracket child) answers Busy, because the partner may trade or fire in flight before the book
   * links the two, and the book would then let both execute (docs/ledger.md "OCO and brackets"). A
   * replay passes false. The runtime parks such an order until its book has settled (engine.ts park).
   */
  hold(cmd: Command, instrumentIndex: number, refPriceTicks: number, inFlight = false): number {
    const O = this.ord;
    if (cmd.type === CommandType.Replace) return this.holdReplace(cmd, instrumentIndex);
    // Conditional orders are held for their worst price: the limit price (capped by the protection
    // price, if any), or for market-type ones the book's bound relative to the stop price X (likewise).
    // A trailing buy's X follows the book's last trade price, which this thread sees late: it is held
    // at its protection price, which it must carry (the book never goes beyond it). Sells hold base.
    // Bracket children are held at once for all their entry can give them (a buy child) or has given
    // them (a sell child); OCO-linked legs on the same side share one hold, the larger of their needs
    // (docs/ledger.md "OCO and brackets").
    if (cmd.type !== CommandType.NewOrder) return RejectReason.None;
    if (!Number.isInteger(instrumentIndex) || instrumentIndex < 0 || instrumentIndex >= this.instruments.length) return RejectReason.UnknownSymbol;
    const i = instrumentIndex;
    if (!isId(cmd.account)) return RejectReason.InvalidAccount;
    if (!isId(cmd.orderId) || (cmd.orderId <= this.maxIdSet && this.ids.get(cmd.orderId) !== NIL)) return RejectReason.InvalidValue;
    const side = cmd.side, type = cmd.orderType;
    if (side !== Side.Buy && side !== Side.Sell) return RejectReason.InvalidSide;
    const trailing = type === OrderType.TrailingStop || type === OrderType.TrailingStopLimit;
    const stopMarket = type === OrderType.Stop || type === OrderType.MarketIfTouched || type === OrderType.TrailingStop;
    const stopLimit = type === OrderType.StopLimit || type === OrderType.LimitIfTouched || type === OrderType.TrailingStopLimit;
    if (type !== OrderType.Limit && type !== OrderType.Market && !stopMarket && !stopLimit) return RejectReason.InvalidOrderType;
    if (!Number.isInteger(cmd.flags) || cmd.flags < 0) return RejectReason.InvalidFlags;
    const child = (cmd.flags & OrderFlags.Child) !== 0;
    if (child && type !== OrderType.Limit && type !== OrderType.Stop && type !== OrderType.StopLimit) return RejectReason.InvalidLink;
    if ((stopMarket || stopLimit) && !trailing && !this.inRange(i, cmd.stopPriceTicks)) return RejectReason.InvalidStopPrice;
    const quote = (cmd.flags & OrderFlags.QuoteQty) !== 0;
    const market = type === OrderType.Market || stopMarket;
    if (quote && type !== OrderType.Market) return RejectReason.InvalidFlags;
    const limitPx = type === OrderType.Limit || type === OrderType.StopLimit || type === OrderType.LimitIfTouched;
    if (limitPx && !this.inRange(i, cmd.priceTicks)) return RejectReason.InvalidPrice;
    if (child ? (quote || cmd.qtyLots !== 0 || cmd.quoteQtyUnits !== 0)
      : quote ? (!isId(cmd.quoteQtyUnits) || cmd.qtyLots !== 0) : (!isId(cmd.qtyLots) || cmd.quoteQtyUnits !== 0)) return RejectReason.InvalidQuantity;
    if (cmd.linkId !== 0 && !isId(cmd.linkId)) return RejectReason.InvalidLink;
    const prot = cmd.protectionPriceTicks;
    if (type === OrderType.Market && !isId(refPriceTicks) && prot === 0) return RejectReason.NoReferencePrice;
    if (prot !== 0) {
      // As the book: Market any price >= 1 (the tighter bound wins); conditional types a price in range.
      if (type === OrderType.Market) { if (!isId(prot) || prot > this.iMaxPx[i]!) return RejectReason.InvalidPrice; }
      else if (type === OrderType.Limit || !this.inRange(i, prot)) return RejectReason.InvalidPrice;
    }
    const buy = side === Side.Buy;
    // As the book: a trailing order needs a trail offset (>= 1; in bps at most 9999). Checked before the
    // protection so a malformed order gets the book's reason, not NoReferencePrice.
    if (trailing && (!isId(cmd.trailOffset) || ((cmd.flags & OrderFlags.TrailBps) !== 0 && cmd.trailOffset > 9999))) return RejectReason.InvalidTrailOffset;
    // A trailing buy has no worst price but its protection (the runtime sets one: trailingProtectionTicks).
    if (trailing && buy && prot === 0) return RejectReason.NoReferencePrice;
    if (!Number.isSafeInteger(cmd.clientOrderId) || cmd.clientOrderId < 0) return RejectReason.InvalidClientOrderId;

    const npt = this.iNpt[i]!, bpl = this.iBpl[i]!;
    let kind: number, px: number, ppm: number, units: number;
    if (!market) {
      // Limit, StopLimit, LIT: the limit price, capped (buy) / floored (sell) by the protection as the book
      // does at activation. TrailingStopLimit: a buy's protection; a sell's limit is unknown until its
      // Triggered event (its hold is base and does not depend on it): the floor, or minPriceTicks meanwhile.
      kind = HoldKind.Limit; ppm = this.iLimitPpm[i]!;
      if (type === OrderType.TrailingStopLimit) px = prot !== 0 ? prot : this.iMinPx[i]!;
      else px = prot === 0 ? cmd.priceTicks : buy ? Math.min(cmd.priceTicks, prot) : Math.max(cmd.priceTicks, prot);
      units = buy ? buyRequiredUnits(cmd.qtyLots, px, npt, ppm) : cmd.qtyLots * bpl;
    } else if (stopMarket) {
      // Activated, it trades no further than marketBandBps from X, nor beyond its protection
      // (docs/matching-semantics.md). A trailing one's X is not known here: its protection is the bound.
      kind = HoldKind.MarketQty; ppm = this.iMarketPpm[i]!;
      if (trailing) px = prot;
      else {
        px = this.marketBoundTicks(i, side, cmd.stopPriceTicks);
        if (prot !== 0) px = buy ? Math.min(px, prot) : Math.max(px, prot);
      }
      units = buy ? buyRequiredUnits(cmd.qtyLots, px, npt, ppm) : cmd.qtyLots * bpl;
    } else if (!quote) {
      kind = HoldKind.MarketQty; ppm = this.iMarketPpm[i]!;
      px = cmd.protectionPriceTicks !== 0 ? cmd.protectionPriceTicks : this.marketBoundTicks(i, side, refPriceTicks);
      units = buy ? buyRequiredUnits(cmd.qtyLots, px, npt, ppm) : cmd.qtyLots * bpl;
    } else {
      kind = HoldKind.MarketQuote; ppm = this.iMarketPpm[i]!;
      const q = cmd.quoteQtyUnits;
      px = cmd.protectionPriceTicks !== 0 ? cmd.protectionPriceTicks : this.marketBoundTicks(i, side, refPriceTicks);
      if (buy) {
        units = q + this.quoteFeeBound(i, q, ppm);
      } else {
        // The book sells at prices >= L, each lot using >= L*N of the quote budget.
        units = Math.floor(q / (px * npt)) * bpl;
      }
    }
    // Any linked order waits until its book has settled: what this ledger knows of the partner or entry
    // (linked already, filled, ended, refused by the book) may still change with what is in flight,
    // and a replay, which settles every command first, must decide the same.
    if (inFlight && cmd.linkId !== 0) return RejectReason.Busy;
    // OCO partner sharing the hold (as the book links it; a link the book refuses ends in Rejected).
    let partner = NIL, entry = NIL, size = 0;
    if (child) {
      entry = this.ids.get(cmd.linkId);
      const eb = entry * STRIDE;
      if (entry !== NIL && (O[eb + F_ACCOUNT] !== cmd.account || O[eb + F_INSTR] !== i || O[eb + F_SIDE] === side || O[eb + F_CHILD] === 1)) entry = NIL;
      if (entry !== NIL && O[entry * STRIDE + F_KID] !== NIL) {
        partner = O[entry * STRIDE + F_KID]!;
        // Two live children as far as this ledger knows: the book rejects a third (in flight, one of the
        // two may have ended: try again; an untracked child could not be held for its entry's fills).
        if (O[partner * STRIDE + F_SIB] !== NIL) return inFlight ? RejectReason.Busy : RejectReason.InvalidLink;
      }
      if (entry !== NIL) {
        // The book sizes a child at its entry's filled quantity at once, and grows it by every later
        // fill: a sell child holds that size's base now; a buy child holds quote for the most it can
        // ever reach, that size plus what the entry can still fill (docs/ledger.md "OCO and brackets").
        size = O[entry * STRIDE + F_FILLED]!;
        units = buy ? buyRequiredUnits(size + this.kidOpenLots(entry), px, npt, ppm) : size * bpl;
      }
    } else if (cmd.linkId !== 0 && kind !== HoldKind.MarketQuote) {
      partner = this.ids.get(cmd.linkId);
      const pb = partner * STRIDE;
      if (partner !== NIL && (O[pb + F_ACCOUNT] !== cmd.account || O[pb + F_INSTR] !== i || O[pb + F_SIDE] !== side
        || O[pb + F_LINK] !== NIL || O[pb + F_CHILD] === 1 || O[pb + F_FILLED] !== 0 || O[pb + F_KIND] === HoldKind.MarketQuote)) partner = NIL;
    }
    if (!Number.isSafeInteger(units)) return RejectReason.ArithmeticOverflow;
    if (partner !== NIL && inFlight) return RejectReason.Busy;
    // Shared: the pair holds max(units, what the partner needs); the partner holds that already.
    if (partner !== NIL) units = Math.max(0, units - O[partner * STRIDE + F_HOLD]!);
    const asset = buy ? this.iQuote[i]! : this.iBase[i]!;
    const a = this.acctMap.get(cmd.account);
    const avail = a === NIL ? 0 : this.avail[a * this.assetCount + asset]!;
    if (avail < units) return RejectReason.InsufficientBalance;
    if (this.freeOrder === NIL) return RejectReason.Busy;

    const ai = a !== NIL ? a : this.acctIndex(cmd.account, true);
    const s = this.freeOrder, b = s * STRIDE;
    this.freeOrder = O[b + F_NEXT]!;
    O[b + F_USED] = 1;
    this.liveOrders++;
    O[b + F_ID] = cmd.orderId;
    O[b + F_ACCOUNT] = cmd.account;
    O[b + F_ACCT] = ai;
    O[b + F_INSTR] = i;
    O[b + F_SIDE] = side;
    O[b + F_KIND] = kind;
    O[b + F_PX] = px;
    O[b + F_PPM] = ppm;
    O[b + F_QTY] = child ? size : quote ? 0 : cmd.qtyLots;
    O[b + F_REM] = child ? size : quote ? 0 : cmd.qtyLots;
    O[b + F_FILLED] = 0;
    O[b + F_QLEFT] = quote ? cmd.quoteQtyUnits : 0;
    O[b + F_HOLD] = units;
    O[b + F_PEND] = 0;
    O[b + F_CID] = cmd.clientOrderId;
    O[b + F_CIDNEXT] = NIL;
    O[b + F_CHILD] = child ? 1 : 0;
    O[b + F_PARENT] = entry;
    O[b + F_KID] = NIL;
    O[b + F_SIB] = child ? partner : NIL;
    O[b + F_CEIL] = 0;
    O[b + F_CEILN] = 0;
    O[b + F_GROW] = 0;
    if (child && partner !== NIL) O[partner * STRIDE + F_SIB] = s;
    O[b + F_LINK] = partner;
    if (partner !== NIL) O[partner * STRIDE + F_LINK] = s;
    if (entry !== NIL && O[entry * STRIDE + F_KID] === NIL) O[entry * STRIDE + F_KID] = s;
    this.ids.set(cmd.orderId, s);
    if (cmd.orderId > this.maxIdSet) this.maxIdSet = cmd.orderId;
    if (cmd.clientOrderId !== 0) this.cidLink(s);
    const bi = ai * this.assetCount + asset;
    this.avail[bi] = this.avail[bi]! - units;
    this.lockd[bi] = this.lockd[bi]! + units;
    return RejectReason.None;
  }

  /**
   * Extra hold for a Replace that raises a buy's price or an order's quantity. Keyed by cmd.seq until
   * the book answers (Replaced, Canceled(ReplaceDone) or Rejected for that seq). A replace that names a
   * quantity for a non-child sell order is kept the same way even without an extra hold: until the book
   * answers, that quantity is a ceiling for what the order can still fill, for which its buy children
   * stay reserved; their extra need (quote) is taken at once. Returns a reject code (UnknownOrder,
   * InvalidPrice, InvalidQuantity, InsufficientBalance, ...) and changes nothing.
   */
  holdReplace(cmd: Command, instrumentIndex: number, inFlight = false, forcedExtraUnits = -1): number {
    const O = this.ord;
    this.lastReplaceExtraUnits = 0;
    if (!Number.isInteger(instrumentIndex) || instrumentIndex < 0 || instrumentIndex >= this.instruments.length) return RejectReason.UnknownSymbol;
    const s = this.findOwn(cmd, instrumentIndex);
    if (s === NIL) return RejectReason.UnknownOrder;
    if (O[s * STRIDE + F_KIND] !== HoldKind.Limit) return RejectReason.None; // not resting: the book rejects it
    const i = instrumentIndex;
    const newPx = cmd.priceTicks === 0 ? O[s * STRIDE + F_PX]! : cmd.priceTicks;
    const newQty = cmd.qtyLots === 0 ? O[s * STRIDE + F_QTY]! : cmd.qtyLots;
    if (!Number.isSafeInteger(newPx) || newPx < this.iMinPx[i]! || newPx > this.iMaxPx[i]!) return RejectReason.InvalidPrice;
    if (!isId(newQty)) return RejectReason.InvalidQuantity;
    const newRem = newQty - O[s * STRIDE + F_FILLED]!;
    if (newRem <= 0) return RejectReason.None;
    const need = O[s * STRIDE + F_SIDE] === Side.Buy
      ? buyRequiredUnits(newRem + this.growthLots(s), newPx, this.iNpt[i]!, O[s * STRIDE + F_PPM]!)
      : newRem * this.iBpl[i]!;
    if (!Number.isSafeInteger(need)) return RejectReason.ArithmeticOverflow;
    // inFlight: earlier commands of this book are not settled yet, so fills in flight may change the
    // order's filled quantity and hold before the book sees this replace. Then the extra covers the
    // whole new need as if the current hold were 0: whatever the order holds when the book gets the
    // replace, hold + extra >= what (newQty - filled at that time) can cost (filled only grows).
    // A replay passes the extra that was journaled (forcedExtraUnits >= 0): the same amount is held.
    const p = O[s * STRIDE + F_LINK]!;
    const extra = forcedExtraUnits >= 0 ? forcedExtraUnits : inFlight ? need
      : p === NIL ? need - O[s * STRIDE + F_HOLD]! : Math.max(need, this.needUnits(p)) - O[s * STRIDE + F_HOLD]! - O[p * STRIDE + F_HOLD]!;
    // A quantity named for a non-child sell order: a ceiling for its buy children, present (reserved for
    // it now) or sent before the book answers (kidOpenLots). In flight, as above, their whole new need.
    const ceil = cmd.qtyLots !== 0 && O[s * STRIDE + F_SIDE] === Side.Sell && O[s * STRIDE + F_CHILD] === 0;
    const k = ceil ? O[s * STRIDE + F_KID]! : NIL;
    let kidExtra = 0;
    if (k !== NIL) {
      const top = Math.max(O[s * STRIDE + F_QTY]!, O[s * STRIDE + F_CEIL]!, newQty);
      const kneed = this.kidsNeedUnits(s, top - O[s * STRIDE + F_FILLED]!);
      if (!Number.isSafeInteger(kneed)) return RejectReason.ArithmeticOverflow;
      kidExtra = inFlight ? kneed : kneed - this.kidsHoldUnits(s);
    }
    if (extra <= 0 && !ceil) return RejectReason.None;
    if (!isId(cmd.seq) || this.pendMap.get(cmd.seq) !== NIL) return RejectReason.InvalidValue;
    const bi = O[s * STRIDE + F_ACCT]! * this.assetCount + this.holdAsset(s);
    if (extra > 0 && this.avail[bi]! < extra) return RejectReason.InsufficientBalance;
    const kb = k === NIL ? NIL : O[k * STRIDE + F_ACCT]! * this.assetCount + this.holdAsset(k);
    if (kidExtra > 0 && this.avail[kb]! < kidExtra) return RejectReason.InsufficientBalance;
    if (this.freePend === NIL) return RejectReason.Busy;
    const q = this.freePend;
    this.freePend = this.pNext[q]!;
    this.pUsed[q] = 1;
    this.pSeq[q] = cmd.seq;
    this.pOrderId[q] = O[s * STRIDE + F_ID]!;
    this.pExtra[q] = extra > 0 ? extra : 0;
    this.pQty[q] = ceil ? newQty : 0;
    this.pendMap.set(cmd.seq, q);
    if (extra > 0) {
      O[s * STRIDE + F_PEND] = O[s * STRIDE + F_PEND]! + extra;
      this.avail[bi] = this.avail[bi]! - extra;
      this.lockd[bi] = this.lockd[bi]! + extra;
      this.lastReplaceExtraUnits = extra;
    }
    if (ceil) {
      if (newQty > O[s * STRIDE + F_CEIL]!) O[s * STRIDE + F_CEIL] = newQty;
      O[s * STRIDE + F_CEILN] = O[s * STRIDE + F_CEILN]! + 1;
    }
    if (kidExtra > 0) {
      // Onto the first child's hold (a linked pair's hold is shared): the next retarget trims it.
      O[k * STRIDE + F_HOLD] = O[k * STRIDE + F_HOLD]! + kidExtra;
      this.avail[kb] = this.avail[kb]! - kidExtra;
      this.lockd[kb] = this.lockd[kb]! + kidExtra;
    }
    return RejectReason.None;
  }

  /**
   * Undoes the hold of a command that was held but never reached its book (e.g. its ring answered
   * Busy). NewOrder: releases the whole order; Replace: releases its extra hold.
   */
  releaseUnrouted(cmd: Command): void {
    const O = this.ord;
    if (cmd.type === CommandType.NewOrder) {
      const s = this.ids.get(cmd.orderId);
      if (s !== NIL && O[s * STRIDE + F_FILLED] === 0 && O[s * STRIDE + F_ACCOUNT] === cmd.account) this.endOrder(s);
    } else if (cmd.type === CommandType.Replace) {
      this.resolvePending(cmd.seq, false, NIL);
    }
  }

  /**
   * The market protection bound of a market order entering at reference price `ref`: the highest
   * price a buy may trade at, the lowest a sell may. The runtime puts it in
   * Command.protectionPriceTicks, so the book never trades beyond the price the hold was computed for.
   * 0 when there is no reference price.
   */
  marketBoundTicks(instrumentIndex: number, side: number, ref: number): number {
    if (!isId(ref)) return 0;
    return side === Side.Buy ? this.marketUpper(instrumentIndex, ref) : this.marketLower(instrumentIndex, ref);
  }

  private marketUpper(i: number, ref: number): number {
    return Math.floor((ref * (10000 + this.iBand[i]!)) / 10000);
  }

  private marketLower(i: number, ref: number): number {
    const v = Math.ceil((ref * (10000 - this.iBand[i]!)) / 10000);
    return v < 1 ? 1 : v;
  }

  /**
   * The protection price the runtime puts on a trailing buy (TrailingStop, TrailingStopLimit) that
   * carries none, from its view of the source price `refPriceTicks`: with the trail distance d (ticks,
   * or TrailBps of the reference, at least 1) and the limit offset L (TrailingStopLimit, else 0),
   * `floor((ref + d + L) * (10000 + band) / 10000)`, clamped to [minPriceTicks, maxPriceTicks]: the
   * book's own market bound relative to X = ref + d, so the order behaves as without a protection unless
   * the price has moved up by more than the band since the view was taken. The ledger then holds for it
   * and the book never goes beyond it. 0 when it does not apply (not a trailing buy, no reference price,
   * or fields the book will reject anyway).
   */
  trailingProtectionTicks(instrumentIndex: number, cmd: Command, refPriceTicks: number): number {
    const type = cmd.orderType;
    if (type !== OrderType.TrailingStop && type !== OrderType.TrailingStopLimit) return 0;
    if (cmd.side !== Side.Buy || !isId(refPriceTicks) || !isId(cmd.trailOffset)) return 0;
    if (!Number.isInteger(instrumentIndex) || instrumentIndex < 0 || instrumentIndex >= this.instruments.length) return 0;
    const i = instrumentIndex;
    const d = Number.isInteger(cmd.flags) && (cmd.flags & OrderFlags.TrailBps) !== 0
      ? Math.max(1, Math.floor((refPriceTicks * cmd.trailOffset) / 10000)) : cmd.trailOffset;
    const lo = type === OrderType.TrailingStopLimit ? cmd.limitOffsetTicks : 0;
    if (!Number.isSafeInteger(lo) || lo < 0) return 0;
    const p = this.marketUpper(i, refPriceTicks + d + lo);
    if (!Number.isSafeInteger(p)) return 0;
    return p < this.iMinPx[i]! ? this.iMinPx[i]! : p > this.iMaxPx[i]! ? this.iMaxPx[i]! : p;
  }

  private inRange(i: number, px: number): boolean {
    return Number.isSafeInteger(px) && px >= this.iMinPx[i]! && px <= this.iMaxPx[i]!;
  }

  /** Fees of a buy spending up to q quote units: at most ceil(q*r) + (trades - 1), trades <= q/(minPx*N). */
  private quoteFeeBound(i: number, q: number, ppm: number): number {
    if (ppm <= 0) return 0;
    const minLot = Math.max(1, this.iMinPx[i]!) * this.iNpt[i]!;
    const trades = Math.floor(q / minLot);
    return feeUnits(q, ppm) + (trades > 1 ? trades - 1 : 0);
  }

  // ------------------------------------------------------------------------------------------
  // Settlement (after the book)
  // ------------------------------------------------------------------------------------------

  /**
   * Settles the event records [fromRecord, events.count) of the books. Returns events.count (the next
   * fromRecord). Throws LedgerError, before changing anything, on a trade for an order it does not hold.
   */
  apply(events: EventBuffer, fromRecord: number): number {
    const w = events.words, end = events.count;
    for (let r = fromRecord; r < end; r++) this.applyRecord(w, r * EVENT_WORDS);
    return end;
  }

  /**
   * Settles one event record at word offset `o` of `w` (the first EVENT_WORDS words of the record are
   * the book's event; the runtime's ring records carry more words after them). Same rules as apply.
   */
  applyRecord(w: Float64Array, o: number): void {
    switch (w[o]) {
      case EventType.Trade: this.onTrade(w, o); break;
      case EventType.Canceled:
      case EventType.Expired: this.onEnd(w, o); break;
      case EventType.Replaced: this.onReplaced(w, o); break;
      case EventType.Decremented: this.onDecremented(w, o); break;
      case EventType.Rejected: this.onRejected(w, o); break;
      case EventType.Triggered: this.onTriggered(w, o); break;
      case EventType.Activated: this.onActivated(w, o); break;
      default: break;
    }
  }

  private onTrade(w: Float64Array, o: number): void {
    const ms = this.ids.get(w[o + 6]!), ts = this.ids.get(w[o + 8]!);
    if (ms === NIL || ts === NIL) throw new LedgerError(`trade ${w[o + 3]} for an order the ledger does not hold (maker ${w[o + 6]}, taker ${w[o + 8]})`);
    const O = this.ord, mb = ms * STRIDE, tb = ts * STRIDE;
    if (O[mb + F_INSTR] !== O[tb + F_INSTR]) throw new LedgerError(`trade ${w[o + 3]} between orders of different instruments`);
    const q = w[o + 5]!, makerFee = w[o + 11]!, takerFee = w[o + 12]!, notional = w[o + 15]!;
    const takerBuy = w[o + 10] === Side.Buy;
    const bs = takerBuy ? ts : ms, ss = takerBuy ? ms : ts;
    const buyerFee = takerBuy ? takerFee : makerFee, sellerFee = takerBuy ? makerFee : takerFee;
    const i = O[mb + F_INSTR]!, k = this.assetCount;
    const qa = this.iQuote[i]!, ba = this.iBase[i]!;
    const baseUnits = q * this.iBpl[i]!;
    // A linked leg trades with the pair's whole hold; its partner is canceled right after (holding 0).
    this.detach(bs); this.detach(ss);
    // Buyer: pays notional + its fee out of its hold, receives the base.
    this.debitHold(bs, notional + buyerFee);
    const bAcct = O[bs * STRIDE + F_ACCT]!, sAcct = O[ss * STRIDE + F_ACCT]!;
    this.avail[bAcct * k + ba] = this.avail[bAcct * k + ba]! + baseUnits;
    // Seller: its held base goes to the buyer; it receives the notional minus its fee.
    this.debitHold(ss, baseUnits);
    this.avail[sAcct * k + qa] = this.avail[sAcct * k + qa]! + notional - sellerFee;
    // Fees (buyerFee + sellerFee >= 0 since makerFeePpm >= -takerFeePpm).
    const f = this.feeIdx * k + qa;
    this.avail[f] = this.avail[f]! + buyerFee + sellerFee;

    // Remainders: the maker's from the event (it leaves the book at 0); a QuoteQty taker ends when its
    // quote is spent exactly (no further event).
    // (A child's growth not yet applied by the book is not in the event's remaining: F_GROW.)
    O[mb + F_FILLED] = O[mb + F_FILLED]! + q;
    O[mb + F_REM] = w[o + 13]! + O[mb + F_GROW]!;
    const mEnds = w[o + 13] === 0;
    O[tb + F_FILLED] = O[tb + F_FILLED]! + q;
    let tEnds: boolean;
    if (O[tb + F_KIND] === HoldKind.MarketQuote) {
      O[tb + F_QLEFT] = O[tb + F_QLEFT]! - notional;
      tEnds = O[tb + F_QLEFT]! <= 0;
    } else {
      O[tb + F_REM] = w[o + 14]! + O[tb + F_GROW]!;
      tEnds = w[o + 14] === 0;
    }
    // A bracket entry's fill grows its live children by q (the book's Activated events follow and
    // confirm the sizes), in this record, before the entry itself may end: a sell child's hold grows by
    // the base this trade delivered, a buy child's was reserved for it at acceptance (docs/ledger.md).
    // A child that ends in this trade (it traded with its own entry) is ended first: the book does not
    // grow it.
    let mDone = false, tDone = false;
    if (mEnds && O[mb + F_PARENT] !== NIL) { this.endOrder(ms); mDone = true; }
    if (tEnds && O[tb + F_PARENT] !== NIL) { this.endOrder(ts); tDone = true; }
    if (!mDone) this.growChildren(ms, q);
    if (!tDone) this.growChildren(ts, q);
    if (!mDone) { if (mEnds) this.endOrder(ms); else this.retarget(ms); }
    if (!tDone) { if (tEnds) this.endOrder(ts); else this.retarget(ts); }
  }

  private onEnd(w: Float64Array, o: number): void {
    const s = this.ids.get(w[o + 3]!);
    if (s === NIL) return;
    const O = this.ord, b = s * STRIDE;
    if (w[o] === EventType.Expired && w[o + 6] === EndReason.SelfTrade && O[b + F_KIND] === HoldKind.Limit) this.stpPxTicks[O[b + F_INSTR]!] = O[b + F_PX]!;
    // A replace of this order in flight (same seq) is answered by this event: its extra is released below.
    this.resolvePending(w[o + 1]!, false, O[b + F_ID]!);
    this.endOrder(s);
  }

  private onReplaced(w: Float64Array, o: number): void {
    const O = this.ord;
    const s = this.ids.get(w[o + 3]!);
    if (s === NIL) return;
    this.resolvePending(w[o + 1]!, true, O[s * STRIDE + F_ID]!);
    O[s * STRIDE + F_PX] = w[o + 5]!;
    O[s * STRIDE + F_QTY] = w[o + 6]!;
    O[s * STRIDE + F_REM] = w[o + 7]!;
    O[s * STRIDE + F_FILLED] = w[o + 6]! - w[o + 7]!;
    this.retarget(s);
    this.retargetKids(s); // an entry's new quantity: its buy children keep only what it can still give them
  }

  private onDecremented(w: Float64Array, o: number): void {
    const O = this.ord;
    const s = this.ids.get(w[o + 3]!);
    if (s === NIL) return;
    const d = w[o + 5]!;
    if (O[s * STRIDE + F_KIND] === HoldKind.MarketQuote) {
      // The maker's self-trade event came just before: its price prices the decremented lots.
      O[s * STRIDE + F_QLEFT] = O[s * STRIDE + F_QLEFT]! - d * this.stpPxTicks[O[s * STRIDE + F_INSTR]!]! * this.iNpt[O[s * STRIDE + F_INSTR]!]!;
      return;
    }
    if (O[s * STRIDE + F_KIND] === HoldKind.Limit) this.stpPxTicks[O[s * STRIDE + F_INSTR]!] = O[s * STRIDE + F_PX]!;
    O[s * STRIDE + F_REM] = w[o + 6]! + O[s * STRIDE + F_GROW]!;
    this.retarget(s);
  }

  /**
   * A conditional fired. Limit-type: the event carries the price it rests at (the book's limit after
   * its protection cap): it becomes the order's price, and the hold is brought to it (a buy's cap or
   * limit is never above the price it was held for, so this only releases). Market-type: nothing.
   */
  private onTriggered(w: Float64Array, o: number): void {
    const O = this.ord;
    const s = this.ids.get(w[o + 3]!);
    // An OCO leg that fires cancels its partner right after: it keeps only what it needs itself.
    if (s !== NIL && O[s * STRIDE + F_LINK] !== NIL) { this.detach(s); this.retarget(s); }
    if (w[o + 7] !== OrderType.Limit) return;
    if (s === NIL || O[s * STRIDE + F_KIND] !== HoldKind.Limit) return;
    O[s * STRIDE + F_PX] = w[o + 8]!;
    this.retarget(s);
  }

  /**
   * Entry e filled q lots: each of its live children grows by q (docs/ledger.md). A sell child's hold
   * grows by the base the fill has just delivered to the same account (`grow`: covered); a buy
   * child's need does not change (its size grows by q, its entry's open quantity shrinks by q).
   */
  private growChildren(e: number, q: number): void {
    const O = this.ord;
    const k = O[e * STRIDE + F_KID]!;
    if (k === NIL) return;
    const sib = O[k * STRIDE + F_SIB]!;
    const kb = k * STRIDE;
    O[kb + F_QTY] = O[kb + F_QTY]! + q; O[kb + F_REM] = O[kb + F_REM]! + q; O[kb + F_GROW] = O[kb + F_GROW]! + q;
    if (sib !== NIL) {
      const sb = sib * STRIDE;
      O[sb + F_QTY] = O[sb + F_QTY]! + q; O[sb + F_REM] = O[sb + F_REM]! + q; O[sb + F_GROW] = O[sb + F_GROW]! + q;
    }
    const grow = O[k * STRIDE + F_SIDE] === Side.Sell;
    this.retarget(k, grow);
    if (sib !== NIL && O[k * STRIDE + F_LINK] !== sib) this.retarget(sib, grow);
  }

  /** Entry e's open quantity changed (replace, end): its buy children keep only what they can still need. */
  private retargetKids(e: number): void {
    const O = this.ord;
    const k = O[e * STRIDE + F_KID]!;
    if (k === NIL || O[k * STRIDE + F_SIDE] !== Side.Buy) return;
    const sib = O[k * STRIDE + F_SIB]!;
    this.retarget(k);
    if (sib !== NIL && O[k * STRIDE + F_LINK] !== sib) this.retarget(sib);
  }

  /**
   * The book sized or grew a bracket child. The ledger has already grown it in the trade records of
   * its entry's fills, or sized it at acceptance (a child sent after its entry filled): the event
   * confirms the size and needs no more funds (an increase here would be a shortfall). The child's own
   * filled quantity is the ledger's (the event's qty - remaining also counts self-trade decrements).
   */
  private onActivated(w: Float64Array, o: number): void {
    const O = this.ord;
    const s = this.ids.get(w[o + 3]!);
    if (s === NIL || O[s * STRIDE + F_ACCOUNT] !== w[o + 4]) return;
    O[s * STRIDE + F_QTY] = w[o + 5]!;
    O[s * STRIDE + F_REM] = w[o + 6]!;
    O[s * STRIDE + F_GROW] = 0; // the event counts every growth so far
    this.retarget(s);
  }

  private onRejected(w: Float64Array, o: number): void {
    const O = this.ord;
    const cmdType = w[o + 7];
    if (cmdType === CommandType.NewOrder) {
      const s = this.ids.get(w[o + 3]!);
      if (s !== NIL && O[s * STRIDE + F_FILLED] === 0 && O[s * STRIDE + F_ACCOUNT] === w[o + 4]) this.endOrder(s);
    } else if (cmdType === CommandType.Replace) {
      this.resolvePending(w[o + 1]!, false, NIL);
    }
  }

  /**
   * Settles the in-flight replace of `seq` (if any; when orderId != NIL only if it is that order's).
   * intoHold: its extra joins the order's hold (Replaced); else it is released (Rejected, unrouted)
   * or left to endOrder (the order ended).
   */
  private resolvePending(seq: number, intoHold: boolean, orderId: number): void {
    const O = this.ord;
    const p = this.pendMap.get(seq);
    if (p === NIL) return;
    if (orderId !== NIL && this.pOrderId[p] !== orderId) return;
    const s = this.ids.get(this.pOrderId[p]!);
    const extra = this.pExtra[p]!, qty = this.pQty[p]!;
    this.pendMap.delete(seq);
    this.pUsed[p] = 0;
    this.pNext[p] = this.freePend;
    this.freePend = p;
    // (s === NIL: the order already ended and released its pending extras.)
    if (s === NIL) return;
    O[s * STRIDE + F_PEND] = O[s * STRIDE + F_PEND]! - extra;
    if (intoHold) O[s * STRIDE + F_HOLD] = O[s * STRIDE + F_HOLD]! + extra;
    else this.release(s, extra);
    if (qty > 0) {
      // Its ceiling stays until none of its replaces naming a quantity is in flight.
      O[s * STRIDE + F_CEILN] = O[s * STRIDE + F_CEILN]! - 1;
      if (O[s * STRIDE + F_CEILN] === 0) O[s * STRIDE + F_CEIL] = 0;
      // Replaced: the caller brings the children to the new quantity once it is applied.
      if (!intoHold) this.retargetKids(s);
    }
  }

  /** Moves units of an order's asset from locked back to available (the order's hold shrinks first). */
  private release(s: number, units: number): void {
    const O = this.ord, b = s * STRIDE;
    const bi = O[b + F_ACCT]! * this.assetCount + this.holdAsset(s);
    this.lockd[bi] = this.lockd[bi]! - units;
    this.avail[bi] = this.avail[bi]! + units;
  }

  /** Spends units out of an order's hold. A short hold (broken contract) draws on available. */
  private debitHold(s: number, units: number): void {
    const O = this.ord, b = s * STRIDE;
    const bi = O[b + F_ACCT]! * this.assetCount + this.holdAsset(s);
    const h = O[b + F_HOLD]!;
    if (units <= h) {
      O[b + F_HOLD] = h - units;
      this.lockd[bi] = this.lockd[bi]! - units;
    } else {
      O[b + F_HOLD] = 0;
      this.lockd[bi] = this.lockd[bi]! - h;
      this.avail[bi] = this.avail[bi]! - (units - h);
      this.shortfallCount++;
    }
  }

  /**
   * What a live quantity-based order's remaining quantity can still cost (units of its hold asset); a
   * buy child of a live entry: with all its entry can still give it (growthLots).
   */
  private needUnits(s: number): number {
    const O = this.ord, b = s * STRIDE;
    const i = O[b + F_INSTR]!;
    return O[b + F_SIDE] === Side.Buy
      ? buyRequiredUnits(O[b + F_REM]! + this.growthLots(s), O[b + F_PX]!, this.iNpt[i]!, O[b + F_PPM]!)
      : O[b + F_REM]! * this.iBpl[i]!;
  }

  /** Lots a buy child of a live entry may still grow by (0 for any other order). */
  private growthLots(s: number): number {
    const O = this.ord, b = s * STRIDE;
    if (O[b + F_SIDE] !== Side.Buy || O[b + F_CHILD] !== 1) return 0;
    const e = O[b + F_PARENT]!;
    return e === NIL ? 0 : this.kidOpenLots(e);
  }

  /**
   * Lots entry e can still fill, as this ledger knows it: quantity (the largest named by a replace in
   * flight, if larger) less filled. Self-trade decrements are not subtracted: a replace naming no
   * quantity gives them back (the book's new remainder is qty - filled). A sell by quote amount: the
   * base it still holds bounds the lots it can sell.
   */
  private kidOpenLots(e: number): number {
    const O = this.ord;
    if (O[e * STRIDE + F_KIND] === HoldKind.MarketQuote) return Math.floor(O[e * STRIDE + F_HOLD]! / this.iBpl[O[e * STRIDE + F_INSTR]!]!);
    const q = O[e * STRIDE + F_CEIL]! > O[e * STRIDE + F_QTY]! ? O[e * STRIDE + F_CEIL]! : O[e * STRIDE + F_QTY]!;
    return q > O[e * STRIDE + F_FILLED]! ? q - O[e * STRIDE + F_FILLED]! : 0;
  }

  /** What entry e's children need together if it could still fill `open` lots (a linked pair: the larger need). */
  private kidsNeedUnits(e: number, open: number): number {
    const O = this.ord;
    const k = O[e * STRIDE + F_KID]!;
    if (k === NIL) return 0;
    const sib = O[k * STRIDE + F_SIB]!;
    const nk = this.kidNeedAt(k, open), ns = sib === NIL ? 0 : this.kidNeedAt(sib, open);
    return sib !== NIL && O[k * STRIDE + F_LINK] === sib ? Math.max(nk, ns) : nk + ns;
  }

  private kidNeedAt(k: number, open: number): number {
    const O = this.ord;
    const i = O[k * STRIDE + F_INSTR]!;
    return O[k * STRIDE + F_SIDE] === Side.Buy
      ? buyRequiredUnits(O[k * STRIDE + F_REM]! + open, O[k * STRIDE + F_PX]!, this.iNpt[i]!, O[k * STRIDE + F_PPM]!)
      : O[k * STRIDE + F_REM]! * this.iBpl[i]!;
  }

  /** Units entry e's children hold (not counting their own replaces in flight). */
  private kidsHoldUnits(e: number): number {
    const O = this.ord;
    const k = O[e * STRIDE + F_KID]!;
    if (k === NIL) return 0;
    const sib = O[k * STRIDE + F_SIB]!;
    return O[k * STRIDE + F_HOLD]! + (sib === NIL ? 0 : O[sib * STRIDE + F_HOLD]!);
  }

  /** Moves the OCO partner's part of a shared hold onto s (same account and asset: no balance moves). */
  private consolidate(s: number): void {
    const O = this.ord, b = s * STRIDE;
    const p = O[b + F_LINK]!;
    if (p === NIL) return;
    O[b + F_HOLD] = O[b + F_HOLD]! + O[p * STRIDE + F_HOLD]!;
    O[p * STRIDE + F_HOLD] = 0;
  }

  /**
   * An OCO leg that trades or fires: the pair's hold moves onto it and the link ends (the book cancels
   * the partner right after, with LinkedOrder; it then holds 0 and releases nothing). A bracket child's
   * partner also leaves its entry's children at once, so that nothing grows or re-holds it before its
   * cancel.
   */
  private detach(s: number): void {
    const O = this.ord, b = s * STRIDE;
    const p = O[b + F_LINK]!;
    if (p === NIL) return;
    this.consolidate(s);
    O[b + F_LINK] = NIL;
    O[p * STRIDE + F_LINK] = NIL;
    if (O[b + F_SIB] === p) {
      const e = O[p * STRIDE + F_PARENT]!;
      if (e !== NIL && O[e * STRIDE + F_KID] === p) O[e * STRIDE + F_KID] = s;
      O[b + F_SIB] = NIL;
      O[p * STRIDE + F_SIB] = NIL;
      O[p * STRIDE + F_PARENT] = NIL;
    }
  }

  /**
   * Brings a live quantity-based order's hold (an OCO pair's shared hold: the larger of the two needs,
   * kept on s) to exactly what it can still cost. `grow` (a sell child grown by the base its entry's
   * fill has just delivered): an increase is expected and counts as a shortfall only when `available`
   * cannot cover it; otherwise any increase is one (the contract was broken).
   */
  private retarget(s: number, grow = false): void {
    const O = this.ord, b = s * STRIDE;
    if (O[b + F_KIND] === HoldKind.MarketQuote) return;
    const p = O[b + F_LINK]!;
    let target = this.needUnits(s);
    if (p !== NIL) {
      const tp = this.needUnits(p);
      if (tp > target) target = tp;
      this.consolidate(s);
    }
    const h = O[b + F_HOLD]!;
    if (h === target) return;
    if (h > target) {
      O[b + F_HOLD] = target;
      this.release(s, h - target);
    } else {
      const bi = O[b + F_ACCT]! * this.assetCount + this.holdAsset(s);
      O[b + F_HOLD] = target;
      if (!grow || this.avail[bi]! < target - h) this.shortfallCount++;
      this.avail[bi] = this.avail[bi]! - (target - h);
      this.lockd[bi] = this.lockd[bi]! + (target - h);
    }
  }

  /** The order is over: release all it still holds (a shared hold passes to its partner) and free its slot. */
  private endOrder(s: number): void {
    const O = this.ord, b = s * STRIDE;
    const p = O[b + F_LINK]!;
    if (p !== NIL) {
      this.consolidate(p);
      O[p * STRIDE + F_LINK] = NIL;
      O[b + F_LINK] = NIL;
    }
    const e = O[b + F_PARENT]!, sib = O[b + F_SIB]!;
    if (e !== NIL && O[e * STRIDE + F_KID] === s) O[e * STRIDE + F_KID] = sib;
    if (sib !== NIL) O[sib * STRIDE + F_SIB] = NIL;
    // An entry's children stay (linked to each other) without it; buy children are trimmed below.
    const k = O[b + F_KID]!, k2 = k === NIL ? NIL : O[k * STRIDE + F_SIB]!;
    if (k !== NIL) {
      O[k * STRIDE + F_PARENT] = NIL;
      if (k2 !== NIL) { O[k2 * STRIDE + F_PARENT] = NIL; O[k2 * STRIDE + F_SIB] = NIL; }
      O[k * STRIDE + F_SIB] = NIL;
    }
    O[b + F_PARENT] = NIL;
    O[b + F_SIB] = NIL;
    O[b + F_KID] = NIL;
    O[b + F_CHILD] = 0;
    this.release(s, O[b + F_HOLD]! + O[b + F_PEND]!);
    O[b + F_HOLD] = 0;
    O[b + F_PEND] = 0;
    this.ids.delete(O[b + F_ID]!);
    if (O[b + F_CID] !== 0) this.cidUnlink(s);
    O[b + F_CEIL] = 0;
    O[b + F_CEILN] = 0;
    O[b + F_GROW] = 0;
    O[b + F_USED] = 0;
    O[b + F_NEXT] = this.freeOrder;
    this.freeOrder = s;
    this.liveOrders--;
    if (p !== NIL) this.retarget(p); // the survivor keeps only what it needs itself
    // Buy children of an ended entry: the reserve for what it never filled goes back.
    if (k !== NIL && O[k * STRIDE + F_SIDE] === Side.Buy) {
      this.retarget(k);
      if (k2 !== NIL && O[k * STRIDE + F_LINK] !== k2) this.retarget(k2);
    }
  }

  private holdAsset(s: number): number {
    const O = this.ord, b = s * STRIDE;
    const i = O[b + F_INSTR]!;
    return O[b + F_SIDE] === Side.Buy ? this.iQuote[i]! : this.iBase[i]!;
  }

  // ------------------------------------------------------------------------------------------
  // Lookups
  // ------------------------------------------------------------------------------------------

  /** The command's account's live order on this instrument, by orderId or (orderId 0) client id. */
  private findOwn(cmd: Command, i: number): number {
    const O = this.ord;
    let s: number;
    if (cmd.orderId === 0) {
      if (!isId(cmd.clientOrderId) || !isId(cmd.account)) return NIL;
      s = this.cids.get(cmd.account, cmd.clientOrderId);
      while (s !== NIL && O[s * STRIDE + F_INSTR] !== i) s = O[s * STRIDE + F_CIDNEXT]!;
    } else {
      if (!isId(cmd.orderId)) return NIL;
      s = this.ids.get(cmd.orderId);
    }
    if (s === NIL || O[s * STRIDE + F_ACCOUNT] !== cmd.account || O[s * STRIDE + F_INSTR] !== i) return NIL;
    return s;
  }

  /** (account, clientOrderId) -> chain of live slots (one per instrument, normally one in all). */
  private cidLink(s: number): void {
    const O = this.ord;
    const head = this.cids.get(O[s * STRIDE + F_ACCOUNT]!, O[s * STRIDE + F_CID]!);
    O[s * STRIDE + F_CIDNEXT] = head;
    this.cids.set(O[s * STRIDE + F_ACCOUNT]!, O[s * STRIDE + F_CID]!, s);
  }

  private cidUnlink(s: number): void {
    const O = this.ord;
    const acc = O[s * STRIDE + F_ACCOUNT]!, cid = O[s * STRIDE + F_CID]!;
    const head = this.cids.get(acc, cid);
    if (head === s) {
      const next = O[s * STRIDE + F_CIDNEXT]!;
      if (next === NIL) this.cids.delete(acc, cid); else this.cids.set(acc, cid, next);
      return;
    }
    for (let p = head; p !== NIL; p = O[p * STRIDE + F_CIDNEXT]!) {
      if (O[p * STRIDE + F_CIDNEXT] === s) { O[p * STRIDE + F_CIDNEXT] = O[s * STRIDE + F_CIDNEXT]!; return; }
    }
  }

  private acctIndex(account: number, create: boolean): number {
    const a = this.acctMap.get(account);
    if (a !== NIL || !create) return a;
    if (this.aN === this.aCap) this.growAccounts();
    const n = this.aN++;
    this.aId[n] = account;
    this.acctMap.set(account, n);
    return n;
  }

  private growAccounts(): void {
    const cap = this.aCap * 2, k = this.assetCount;
    const id = new Float64Array(cap); id.set(this.aId); this.aId = id;
    const av = new Float64Array(cap * k); av.set(this.avail); this.avail = av;
    const lk = new Float64Array(cap * k); lk.set(this.lockd); this.lockd = lk;
    this.aCap = cap;
  }

  // ------------------------------------------------------------------------------------------
  // State: canonical dump, hash, snapshot, restore
  // ------------------------------------------------------------------------------------------

  private sortedSlots(): number[] {
    const O = this.ord;
    const slots: number[] = [];
    for (let s = 0; s < this.maxOrders; s++) if (O[s * STRIDE + F_USED] === 1) slots.push(s);
    return slots.sort((a, b) => O[a * STRIDE + F_ID]! - O[b * STRIDE + F_ID]!);
  }

  /**
   * Canonical state (independent of slot, index and hash order):
   *   version, assetCount, feeAccount, then per asset its external units,
   *   accountCount, per account with a non-zero balance in ascending id: account, (available, locked) per asset,
   *   orderCount, per live order in ascending id: orderId, account, instrumentIndex, side, kind, priceTicks,
   *     feePpm, qtyLots, remainingLots, filledLots, quoteLeftUnits, holdUnits, pendingExtraUnits, clientOrderId,
   *     child (0/1), linkOrderId (OCO partner sharing the hold, 0 if none), parentOrderId (a child's live entry, 0 if none),
   *     ceilingQtyLots (largest quantity named by its replaces in flight, 0 if none), growthPendingLots
   *     (a child's growth not yet confirmed by the book's Activated),
   *   pendingCount, per replace in flight in ascending seq: seq, orderId, extraUnits, qtyLots (its ceiling, or 0),
   *   instrumentCount, stpPxTicks per instrument, shortfallCount.
   */
  stateDump(): number[] {
    const O = this.ord;
    const k = this.assetCount;
    const out: number[] = [DUMP_VERSION, k, this.feeAccount];
    for (let a = 0; a < k; a++) out.push(this.external[a]!);
    const accts: number[] = [];
    for (let a = 0; a < this.aN; a++) {
      let nz = false;
      for (let x = 0; x < k && !nz; x++) nz = this.avail[a * k + x] !== 0 || this.lockd[a * k + x] !== 0;
      if (nz) accts.push(a);
    }
    accts.sort((x, y) => this.aId[x]! - this.aId[y]!);
    out.push(accts.length);
    for (const a of accts) {
      out.push(this.aId[a]!);
      for (let x = 0; x < k; x++) out.push(this.avail[a * k + x]!, this.lockd[a * k + x]!);
    }
    const slots = this.sortedSlots();
    out.push(slots.length);
    for (const s of slots) {
      const b = s * STRIDE, link = O[b + F_LINK]!, parent = O[b + F_PARENT]!;
      out.push(O[b + F_ID]!, O[b + F_ACCOUNT]!, O[b + F_INSTR]!, O[b + F_SIDE]!, O[b + F_KIND]!, O[b + F_PX]!, O[b + F_PPM]!,
        O[b + F_QTY]!, O[b + F_REM]!, O[b + F_FILLED]!, O[b + F_QLEFT]!, O[b + F_HOLD]!, O[b + F_PEND]!, O[b + F_CID]!,
        O[b + F_CHILD]!, link === NIL ? 0 : O[link * STRIDE + F_ID]!, parent === NIL ? 0 : O[parent * STRIDE + F_ID]!,
        O[b + F_CEIL]!, O[b + F_GROW]!);
    }
    const pend: number[] = [];
    for (let p = 0; p < this.maxPendingReplaces; p++) if (this.pUsed[p] === 1) pend.push(p);
    pend.sort((x, y) => this.pSeq[x]! - this.pSeq[y]!);
    out.push(pend.length);
    for (const p of pend) out.push(this.pSeq[p]!, this.pOrderId[p]!, this.pExtra[p]!, this.pQty[p]!);
    out.push(this.instruments.length);
    for (let i = 0; i < this.instruments.length; i++) out.push(this.stpPxTicks[i]!);
    out.push(this.shortfallCount);
    return out;
  }

  stateHash(): string {
    return hashNumbers(this.stateDump());
  }

  snapshot(): Float64Array {
    return Float64Array.from(this.stateDump());
  }

  /**
   * A ledger over the same instruments and options whose stateDump equals the snapshot. A version 3
   * snapshot (before bracket buy children were reserved up front) is restored when it means the same
   * under the current rules: no replace in flight and no buy child of a live entry; otherwise it is
   * refused with a LedgerError that says so. (Its dump, and so its hash, is then version 4.)
   */
  static restore(instruments: readonly InstrumentSpec[], options: LedgerOptions, snap: ArrayLike<number>): Ledger {
    const L = new Ledger(instruments, options);
    let p = 0;
    const next = (): number => {
      if (p >= snap.length) throw new LedgerError('ledger snapshot truncated');
      const v = snap[p++]!;
      if (!Number.isSafeInteger(v)) throw new LedgerError(`ledger snapshot value not an integer at ${p - 1}`);
      return v;
    };
    const version = next();
    if (version !== DUMP_VERSION && version !== DUMP_VERSION_V3) throw new LedgerError(`ledger snapshot: unknown version ${version}`);
    const v3 = version === DUMP_VERSION_V3;
    const k = L.assetCount;
    if (next() !== k) throw new LedgerError('ledger snapshot: asset count differs from the instruments');
    if (next() !== L.feeAccount) throw new LedgerError('ledger snapshot: fee account differs');
    for (let a = 0; a < k; a++) L.external[a] = next();
    const na = next();
    for (let j = 0; j < na; j++) {
      const ai = L.acctIndex(next(), true);
      for (let x = 0; x < k; x++) { L.avail[ai * k + x] = next(); L.lockd[ai * k + x] = next(); }
    }
    const no = next();
    const linkIds: number[] = []; // (slot, partner id, parent id) triples, resolved once all orders exist
    if (no > L.maxOrders) throw new LedgerError('ledger snapshot: more orders than maxOrders');
    const O = L.ord;
    for (let j = 0; j < no; j++) {
      const s = L.freeOrder, b = s * STRIDE;
      L.freeOrder = O[b + F_NEXT]!;
      O[b + F_USED] = 1;
      L.liveOrders++;
      // (`| 0`, `& 0xff`: the conversions of the former Int32Array / Uint8Array fields.)
      O[b + F_ID] = next(); O[b + F_ACCOUNT] = next(); O[b + F_INSTR] = next() | 0; O[b + F_SIDE] = next() & 0xff; O[b + F_KIND] = next() & 0xff;
      O[b + F_PX] = next(); O[b + F_PPM] = next(); O[b + F_QTY] = next(); O[b + F_REM] = next(); O[b + F_FILLED] = next();
      O[b + F_QLEFT] = next(); O[b + F_HOLD] = next(); O[b + F_PEND] = next(); O[b + F_CID] = next();
      O[b + F_CHILD] = next() & 0xff; linkIds.push(s, next(), next());
      O[b + F_CEIL] = v3 ? 0 : next();
      O[b + F_GROW] = v3 ? 0 : next();
      O[b + F_CEILN] = 0;
      if (O[b + F_INSTR]! < 0 || O[b + F_INSTR]! >= instruments.length) throw new LedgerError('ledger snapshot: unknown instrument');
      O[b + F_ACCT] = L.acctIndex(O[b + F_ACCOUNT]!, true);
      O[b + F_CIDNEXT] = NIL;
      L.ids.set(O[b + F_ID]!, s);
      if (O[b + F_ID]! > L.maxIdSet) L.maxIdSet = O[b + F_ID]!;
      if (O[b + F_CID] !== 0) L.cidLink(s);
    }
    for (let j = 0; j < linkIds.length; j += 3) {
      const s = linkIds[j]!;
      const p = linkIds[j + 1]! === 0 ? NIL : L.ids.get(linkIds[j + 1]!);
      const e = linkIds[j + 2]! === 0 ? NIL : L.ids.get(linkIds[j + 2]!);
      if ((linkIds[j + 1]! !== 0 && p === NIL) || (linkIds[j + 2]! !== 0 && e === NIL)) throw new LedgerError('ledger snapshot: unknown linked order');
      O[s * STRIDE + F_LINK] = p;
      O[s * STRIDE + F_PARENT] = e;
      if (e === NIL) continue;
      if (O[e * STRIDE + F_KID] === NIL) O[e * STRIDE + F_KID] = s; // ascending id: the first child
      else { O[s * STRIDE + F_SIB] = O[e * STRIDE + F_KID]!; O[O[e * STRIDE + F_KID]! * STRIDE + F_SIB] = s; }
    }
    const np = next();
    if (np > L.maxPendingReplaces) throw new LedgerError('ledger snapshot: more pending replaces than maxPendingReplaces');
    if (v3 && np > 0) throw new LedgerError('ledger snapshot version 3 with replaces in flight cannot be restored (their quantities were not recorded)');
    for (let j = 0; j < np; j++) {
      const q = L.freePend;
      L.freePend = L.pNext[q]!;
      L.pUsed[q] = 1;
      L.pSeq[q] = next(); L.pOrderId[q] = next(); L.pExtra[q] = next(); L.pQty[q] = next();
      L.pendMap.set(L.pSeq[q]!, q);
      const s = L.ids.get(L.pOrderId[q]!);
      if (L.pQty[q]! > 0 && s !== NIL) O[s * STRIDE + F_CEILN] = O[s * STRIDE + F_CEILN]! + 1;
    }
    for (const s of L.sortedSlots()) {
      const b = s * STRIDE;
      if ((O[b + F_CEILN] === 0) !== (O[b + F_CEIL] === 0)) throw new LedgerError('ledger snapshot: ceiling quantity without a replace in flight');
      if (v3 && O[b + F_CHILD] === 1 && O[b + F_SIDE] === Side.Buy && O[b + F_PARENT] !== NIL) {
        throw new LedgerError(`ledger snapshot version 3: buy child ${O[b + F_ID]} of a live entry was held under the old rule (grown from its entry's fills); it cannot be restored by this version`);
      }
    }
    if (next() !== instruments.length) throw new LedgerError('ledger snapshot: instrument count differs');
    for (let i = 0; i < instruments.length; i++) L.stpPxTicks[i] = next();
    L.shortfallCount = next();
    if (p !== snap.length) throw new LedgerError('ledger snapshot has trailing data');
    return L;
  }

  /**
   * This ledger's state over a configuration that appends instruments (and assets) to its own (a new
   * configuration epoch, persistence/instrument-fingerprint.ts): the same balances, orders and
   * replaces in flight, the new assets at zero in every account and the new instruments without
   * orders. Orders name instruments and assets by position, and positions do not move, so only the
   * dump's per-asset and per-instrument entries grow. Throws LedgerError when `instruments` and the
   * assets do not start with this ledger's.
   */
  grow(instruments: readonly InstrumentSpec[], options: LedgerOptions): Ledger {
    const names: string[] = [];
    const add = (a: string): void => { if (!names.includes(a)) names.push(a); };
    for (const a of options.assets ?? []) add(a);
    for (const s of instruments) { add(s.baseAsset); add(s.quoteAsset); }
    const k = this.assetCount, k2 = names.length, n = this.instruments.length, n2 = instruments.length;
    if (n2 < n || k2 < k || this.assetNames.some((a, x) => names[x] !== a) || this.instruments.some((s, i) => instruments[i]!.id !== s.id)) {
      throw new LedgerError('ledger grow: the configuration does not start with this ledger\'s instruments and assets');
    }
    const d = this.stateDump();
    const out: number[] = [d[0]!, k2, d[2]!];
    let p = 3;
    for (let a = 0; a < k; a++) out.push(d[p++]!);
    for (let a = k; a < k2; a++) out.push(0);
    const na = d[p++]!;
    out.push(na);
    for (let j = 0; j < na; j++) {
      out.push(d[p++]!);
      for (let x = 0; x < 2 * k; x++) out.push(d[p++]!);
      for (let x = k; x < k2; x++) out.push(0, 0);
    }
    // Live orders (ORDER_DUMP_WORDS each), then replaces in flight (4 each): copied as they are.
    const ordersEnd = p + 1 + d[p]! * ORDER_DUMP_WORDS;
    const pendEnd = ordersEnd + 1 + d[ordersEnd]! * 4;
    for (; p < pendEnd; p++) out.push(d[p]!);
    if (d[p++] !== n) throw new LedgerError('ledger grow: dump layout not understood');
    out.push(n2);
    for (let i = 0; i < n; i++) out.push(d[p++]!);
    for (let i = n; i < n2; i++) out.push(0);
    out.push(d[p++]!);
    if (p !== d.length) throw new LedgerError('ledger grow: dump layout not understood');
    return Ledger.restore(instruments, options, out);
  }
}

function checkSpec(s: InstrumentSpec): void {
  const bad = (f: string): never => { throw new RangeError(`${s.symbol}: ${f} out of range for the ledger`); };
  if (!isId(s.notionalUnitsPerTickLot)) bad('notionalUnitsPerTickLot');
  if (!isId(s.baseUnitsPerLot)) bad('baseUnitsPerLot');
  if (!isId(s.minPriceTicks) || !isId(s.maxPriceTicks) || s.minPriceTicks > s.maxPriceTicks) bad('minPriceTicks/maxPriceTicks');
  if (!Number.isSafeInteger(s.takerFeePpm) || s.takerFeePpm < 0 || s.takerFeePpm > MAX_PPM) bad('takerFeePpm');
  if (!Number.isSafeInteger(s.makerFeePpm) || s.makerFeePpm < -s.takerFeePpm || s.makerFeePpm > MAX_PPM) bad('makerFeePpm');
  if (!Number.isSafeInteger(s.marketBandBps) || s.marketBandBps < 0 || s.marketBandBps > 10000) bad('marketBandBps');
}
