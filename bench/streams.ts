// Deterministic, seeded operation streams for the core benchmark.
//
// A stream is a set of preallocated typed-array columns (one row per command), generated once before
// any timing, so replaying it into a book allocates nothing: `loadCommand` copies row i into the one
// reused Command object. The generator keeps a small price-time simulation of its own (`SimBook`)
// so that cancels and replaces target orders that are still live, crossing orders are sized from
// what actually rests, and it can count the trades it expects (a cross-check of the book under test).
//
// Adding a stream: write a `StreamConfig` (or a new generator returning a `GeneratedStream`) and
// register it in STREAMS at the bottom of this file; the core bench picks up every entry.

import { Command, CommandType, OrderFlags, OrderType, Side, StpMode, TimeInForce } from '../core/types.js';
import { mulberry32 } from '../testing/prng.js';

/** Engine time of seq 0; every command gets tsUs = BASE_TS_US + seq (1 us apart). */
export const BASE_TS_US = 1_700_000_000_000_000;
/** Mid price of every generated stream, in ticks. */
export const MID_PRICE_TICKS = 100_000;
/** Half-width of the price window the simulation tracks (prices are clamped to it). */
const SIM_HALF_RANGE_TICKS = 40_000;

// ------------------------------------------------------------------------------------------------
// PRNG: mulberry32 (32-bit state), floats in [0, 1).
// ------------------------------------------------------------------------------------------------

export class Prng {
  private readonly r: () => number;
  constructor(seed: number) {
    this.r = mulberry32(seed);
  }
  nextU32(): number {
    return this.r() * 4294967296; // exact: the float is a 32-bit integer / 2^32
  }
  next(): number {
    return this.r();
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Geometric-like integer >= 0 with the given mean, capped at max. */
  offset(meanTicks: number, maxTicks: number): number {
    const v = Math.floor(-Math.log(1 - this.next()) * meanTicks);
    return v > maxTicks ? maxTicks : v;
  }
}

// ------------------------------------------------------------------------------------------------
// Columns
// ------------------------------------------------------------------------------------------------

/** One stream of commands, column-wise. Row i has seq = firstSeq + i. */
export interface OpStream {
  count: number;
  firstSeq: number;
  /** CommandType */
  kind: Uint8Array;
  side: Uint8Array;
  orderType: Uint8Array;
  tif: Uint8Array;
  flags: Uint8Array;
  stpMode: Uint8Array;
  account: Int32Array;
  /** NewOrder: its own id (= seq). Cancel/Replace: the target order id. */
  orderId: Int32Array;
  clientOrderId: Int32Array;
  /** Replace: 0 = keep. Market: 0. */
  priceTicks: Int32Array;
  /** Replace: new total, 0 = keep. */
  qtyLots: Int32Array;
  /** Advanced types (the 'advanced' stream): 0 for plain orders. */
  stopPriceTicks: Int32Array;
  displayQtyLots: Int32Array;
  trailOffset: Int32Array;
  linkId: Int32Array;
}

export function allocStream(count: number, firstSeq: number): OpStream {
  return {
    count, firstSeq,
    kind: new Uint8Array(count), side: new Uint8Array(count), orderType: new Uint8Array(count),
    tif: new Uint8Array(count), flags: new Uint8Array(count), stpMode: new Uint8Array(count),
    account: new Int32Array(count), orderId: new Int32Array(count), clientOrderId: new Int32Array(count),
    priceTicks: new Int32Array(count), qtyLots: new Int32Array(count),
    stopPriceTicks: new Int32Array(count), displayQtyLots: new Int32Array(count), trailOffset: new Int32Array(count),
    linkId: new Int32Array(count),
  };
}

/** Copy row i into the reused command. Every field a core command of these kinds reads is written. */
export function loadCommand(s: OpStream, i: number, cmd: Command): void {
  const seq = s.firstSeq + i;
  cmd.type = s.kind[i]!;
  cmd.seq = seq;
  cmd.tsUs = BASE_TS_US + seq;
  cmd.account = s.account[i]!;
  cmd.orderId = s.orderId[i]!;
  cmd.clientOrderId = s.clientOrderId[i]!;
  cmd.side = s.side[i]!;
  cmd.orderType = s.orderType[i]!;
  cmd.tif = s.tif[i]!;
  cmd.flags = s.flags[i]!;
  cmd.stpMode = s.stpMode[i]!;
  cmd.stpGroup = 0;
  cmd.stopPriceTicks = s.stopPriceTicks[i]!;
  cmd.displayQtyLots = s.displayQtyLots[i]!;
  cmd.trailOffset = s.trailOffset[i]!;
  cmd.linkId = s.linkId[i]!;
  cmd.priceTicks = s.priceTicks[i]!;
  cmd.qtyLots = s.qtyLots[i]!;
  cmd.quoteQtyUnits = 0;
  cmd.expireTsUs = 0;
}

// ------------------------------------------------------------------------------------------------
// The generator's own book simulation (price-time FIFO, STP by account, market protection band).
// Queues are JS arrays of "entries" with a head index and lazy deletion: an entry is valid while
// the order is live and its current entry is this one (a replace makes a new entry).
// ------------------------------------------------------------------------------------------------

class SimBook {
  readonly lo = MID_PRICE_TICKS - SIM_HALF_RANGE_TICKS;
  readonly width = 2 * SIM_HALF_RANGE_TICKS + 1;
  // per order id
  readonly oSide: Uint8Array;
  readonly oStp: Uint8Array;
  readonly oFlags: Uint8Array;
  readonly oPrice: Int32Array;
  readonly oRem: Int32Array;
  readonly oFilled: Int32Array;
  readonly oTotal: Int32Array;
  readonly oAcct: Int32Array;
  readonly oEntry: Int32Array;
  readonly oLivePos: Int32Array;
  // live set
  readonly liveIds: Int32Array;
  liveCount = 0;
  // entries
  entryOrder: Int32Array;
  entryCount = 0;
  // levels per side: [0] bids, [1] asks
  readonly cnt: [Int32Array, Int32Array];
  readonly queues: [(number[] | undefined)[], (number[] | undefined)[]];
  readonly heads: [Int32Array, Int32Array];
  bestBid = -1;
  bestAsk: number;
  refPriceTicks = MID_PRICE_TICKS;
  // expectations
  trades = 0;
  stpEvents = 0;
  levelsInUse = 0;

  constructor(maxOrderId: number, readonly marketBandBps: number) {
    const n = maxOrderId + 1;
    this.oSide = new Uint8Array(n); this.oStp = new Uint8Array(n); this.oFlags = new Uint8Array(n);
    this.oPrice = new Int32Array(n); this.oRem = new Int32Array(n); this.oFilled = new Int32Array(n);
    this.oTotal = new Int32Array(n); this.oAcct = new Int32Array(n);
    this.oEntry = new Int32Array(n).fill(-1); this.oLivePos = new Int32Array(n).fill(-1);
    this.liveIds = new Int32Array(n);
    this.entryOrder = new Int32Array(n * 2 + 16);
    this.cnt = [new Int32Array(this.width), new Int32Array(this.width)];
    this.queues = [new Array(this.width), new Array(this.width)];
    this.heads = [new Int32Array(this.width), new Int32Array(this.width)];
    this.bestAsk = this.width;
  }

  clampPrice(p: number): number {
    const min = this.lo + 1, max = this.lo + this.width - 2;
    return p < min ? min : p > max ? max : p;
  }
  hasBid(): boolean { return this.bestBid >= 0; }
  hasAsk(): boolean { return this.bestAsk < this.width; }
  bestBidPrice(): number { return this.bestBid + this.lo; }
  bestAskPrice(): number { return this.bestAsk + this.lo; }

  private entryValid(e: number): boolean {
    const id = this.entryOrder[e]!;
    return this.oLivePos[id]! >= 0 && this.oEntry[id] === e;
  }

  /** Put a live order (fields already set) at the back of its level. */
  rest(id: number): void {
    const side = this.oSide[id]!;
    const li = this.oPrice[id]! - this.lo;
    if (this.entryCount === this.entryOrder.length) {
      const grown = new Int32Array(this.entryOrder.length * 2);
      grown.set(this.entryOrder);
      this.entryOrder = grown;
    }
    const e = this.entryCount++;
    this.entryOrder[e] = id;
    this.oEntry[id] = e;
    let q = this.queues[side][li];
    if (q === undefined) { q = []; this.queues[side][li] = q; }
    q.push(e);
    if (this.cnt[side][li]++ === 0) this.levelsInUse++;
    if (this.oLivePos[id]! < 0) {
      this.oLivePos[id] = this.liveCount;
      this.liveIds[this.liveCount++] = id;
    }
    if (side === Side.Buy) { if (li > this.bestBid) this.bestBid = li; }
    else if (li < this.bestAsk) this.bestAsk = li;
  }

  /** Take an order off its level and out of the live set. */
  remove(id: number): void {
    const side = this.oSide[id]!;
    const li = this.oPrice[id]! - this.lo;
    const pos = this.oLivePos[id]!;
    const last = this.liveIds[--this.liveCount]!;
    this.liveIds[pos] = last;
    this.oLivePos[last] = pos;
    this.oLivePos[id] = -1;
    this.oEntry[id] = -1;
    if (--this.cnt[side][li] === 0) {
      this.levelsInUse--;
      const q = this.queues[side][li];
      if (q !== undefined) q.length = 0;
      this.heads[side][li] = 0;
      if (side === Side.Buy) { if (li === this.bestBid) this.fixBestBid(); }
      else if (li === this.bestAsk) this.fixBestAsk();
    }
  }

  private fixBestBid(): void {
    let i = this.bestBid;
    const c = this.cnt[0];
    while (i >= 0 && c[i] === 0) i--;
    this.bestBid = i;
  }
  private fixBestAsk(): void {
    let i = this.bestAsk;
    const c = this.cnt[1];
    while (i < this.width && c[i] === 0) i++;
    this.bestAsk = i;
  }

  /** First valid entry of a level (advancing the head past dead ones), or -1. */
  private headOf(side: number, li: number): number {
    const q = this.queues[side][li];
    if (q === undefined) return -1;
    let h = this.heads[side][li]!;
    while (h < q.length && !this.entryValid(q[h]!)) h++;
    this.heads[side][li] = h;
    return h < q.length ? q[h]! : -1;
  }

  /** Sum of the remaining quantity of the first n makers an incoming order on `side` would meet. */
  quantityOfFirstMakers(side: number, n: number, limitPriceTicks: number): number {
    const opp = side === Side.Buy ? 1 : 0;
    let sum = 0;
    let seen = 0;
    let li = opp === 1 ? this.bestAsk : this.bestBid;
    while (seen < n && li >= 0 && li < this.width) {
      const price = li + this.lo;
      if (opp === 1 ? price > limitPriceTicks : price < limitPriceTicks) break;
      const q = this.queues[opp][li];
      if (q !== undefined && this.cnt[opp][li]! > 0) {
        for (let h = this.heads[opp][li]!; h < q.length && seen < n; h++) {
          const e = q[h]!;
          if (!this.entryValid(e)) continue;
          sum += this.oRem[this.entryOrder[e]!]!;
          seen++;
        }
      }
      li += opp === 1 ? 1 : -1;
    }
    return sum;
  }

  /**
   * Incoming order (new or replaced) as taker; rests the remainder if GTC. The order's fields
   * (side, price for limits, stp, account, total, filled) are set by the caller; `qty` is what it
   * brings. Mirrors docs/matching-semantics.md for None/ExpireTaker/ExpireMaker/ExpireBoth/Decrement.
   */
  take(id: number, isMarket: boolean, tif: number, qty: number): void {
    const side = this.oSide[id]!;
    const acct = this.oAcct[id]!;
    const stp = this.oStp[id]!;
    const opp = side === Side.Buy ? 1 : 0;
    let bound: number;
    if (isMarket) {
      const r = this.refPriceTicks, m = this.marketBandBps;
      bound = side === Side.Buy ? Math.floor(r * (10000 + m) / 10000) : Math.max(1, Math.ceil(r * (10000 - m) / 10000));
    } else {
      bound = this.oPrice[id]!;
    }
    let stpEnded = false;
    while (qty > 0) {
      const li = opp === 1 ? this.bestAsk : this.bestBid;
      if (li < 0 || li >= this.width) break;
      const price = li + this.lo;
      if (opp === 1 ? price > bound : price < bound) break;
      const e = this.headOf(opp, li);
      if (e < 0) throw new Error('sim: level count > 0 but no valid entry');
      const m = this.entryOrder[e]!;
      if (this.oAcct[m] === acct && stp !== StpMode.None) {
        this.stpEvents++;
        if (stp === StpMode.ExpireTaker) { stpEnded = true; break; }
        if (stp === StpMode.ExpireMaker) { this.remove(m); continue; }
        if (stp === StpMode.ExpireBoth) { this.remove(m); stpEnded = true; break; }
        // Decrement
        const d = qty < this.oRem[m]! ? qty : this.oRem[m]!;
        this.oRem[m] -= d;
        if (this.oRem[m] === 0) this.remove(m);
        qty -= d;
        if (qty === 0) stpEnded = true;
        continue;
      }
      const q = qty < this.oRem[m]! ? qty : this.oRem[m]!;
      this.trades++;
      this.oRem[m] -= q;
      this.oFilled[m] += q;
      this.oFilled[id] += q;
      qty -= q;
      this.refPriceTicks = price;
      if (this.oRem[m] === 0) this.remove(m);
    }
    this.oRem[id] = qty;
    if (qty > 0 && !stpEnded && !isMarket && (tif === TimeInForce.GTC || tif === TimeInForce.GTD)) this.rest(id);
  }
}

// ------------------------------------------------------------------------------------------------
// Stream configuration and generation
// ------------------------------------------------------------------------------------------------

export interface StreamConfig {
  name: string;
  seed: number;
  /** Timed operations. */
  ops: number;
  /** Resting orders placed before timing (untimed). */
  preloadOrders: number;
  /** Preload prices: uniform over this many levels per side next to the mid. */
  preloadLevelsPerSide: number;
  /** The generator steers crossing sizes to keep the live order count near this. */
  targetLiveOrders: number;
  accounts: number;
  /** A few busy accounts send this share of orders (makes self-trades common). */
  hotAccounts: number;
  hotShare: number;
  /** Limit orders rest this far (mean, max) behind the touch. */
  meanOffsetTicks: number;
  maxOffsetTicks: number;
  /** Operation mix; the rest (1 - limit - cancel - cross) are replaces. */
  limitShare: number;
  cancelShare: number;
  crossShare: number;
  postOnlyShare: number;
  clientIdShare: number;
  marketBandBps: number;
  maxQtyLots: number;
  /**
   * Share of operations that are advanced types (issue 3): icebergs, stops, stop-limits, trailing
   * stops, if-touched, OCO legs and bracket children. The generator's simulation does not model
   * triggers, so with this on its trade prediction is not checked and some cancels miss.
   */
  advancedShare?: number;
}

export interface GeneratedStream {
  config: StreamConfig;
  /** Untimed setup commands (resting orders). */
  preload: OpStream;
  /** The timed commands. */
  ops: OpStream;
  /** Largest seq (= order id) used; size orderCapacity from it. */
  maxSeq: number;
  /** What the generator's simulation saw; a correct book should be close (exact if no risk reject). */
  expected: {
    preloadTrades: number; trades: number; stpEvents: number; liveOrdersAfterPreload: number;
    liveOrdersAtEnd: number; levelsAtEnd: number;
    mix: { limit: number; cancel: number; cross: number; replace: number; market: number; ioc: number };
  };
}

function pickAccount(r: Prng, c: StreamConfig): number {
  if (r.next() < c.hotShare) return 1 + r.int(c.hotAccounts);
  return 1 + r.int(c.accounts);
}

function pickStp(r: Prng): number {
  const u = r.next();
  if (u < 0.70) return StpMode.None;
  if (u < 0.85) return StpMode.ExpireMaker;
  if (u < 0.90) return StpMode.ExpireTaker;
  if (u < 0.95) return StpMode.ExpireBoth;
  return StpMode.Decrement;
}

function pickQty(r: Prng): number {
  const u = r.next();
  return 1 + Math.floor(u * u * 100);
}

/** Price for a passive (non-crossing) order of `side`, `offset` ticks behind the touch. */
function passivePrice(sim: SimBook, side: number, offset: number): number {
  if (side === Side.Buy) {
    const base = sim.hasAsk() ? sim.bestAskPrice() : sim.hasBid() ? sim.bestBidPrice() + 1 : MID_PRICE_TICKS + 1;
    return sim.clampPrice(base - 1 - offset);
  }
  const base = sim.hasBid() ? sim.bestBidPrice() : sim.hasAsk() ? sim.bestAskPrice() - 1 : MID_PRICE_TICKS - 1;
  return sim.clampPrice(base + 1 + offset);
}

export function generateStream(c: StreamConfig): GeneratedStream {
  const r = new Prng(c.seed);
  const preload = allocStream(c.preloadOrders, 1);
  const ops = allocStream(c.ops, 1 + c.preloadOrders);
  const maxSeq = c.preloadOrders + c.ops;
  const sim = new SimBook(maxSeq, c.marketBandBps);
  const mix = { limit: 0, cancel: 0, cross: 0, replace: 0, market: 0, ioc: 0, iceberg: 0, stop: 0, stopLimit: 0,
    trailing: 0, ifTouched: 0, oco: 0, child: 0 };

  // Preload: passive GTC orders, uniform over the levels next to the mid, no self-trade settings.
  for (let i = 0; i < c.preloadOrders; i++) {
    const id = preload.firstSeq + i;
    const side = (i & 1) === 0 ? Side.Buy : Side.Sell;
    const k = r.int(c.preloadLevelsPerSide);
    const price = side === Side.Buy ? MID_PRICE_TICKS - 1 - k : MID_PRICE_TICKS + 1 + k;
    const account = 1 + r.int(c.accounts);
    const qty = pickQty(r);
    writeNew(preload, i, id, side, OrderType.Limit, TimeInForce.GTC, 0, StpMode.None, account, r.next() < c.clientIdShare ? id : 0, price, qty);
    setOrder(sim, id, side, price, qty, account, StpMode.None, 0);
    sim.take(id, false, TimeInForce.GTC, qty);
  }
  const preloadTrades = sim.trades;
  const liveOrdersAfterPreload = sim.liveCount;

  for (let i = 0; i < c.ops; i++) {
    const id = ops.firstSeq + i;
    if (c.advancedShare !== undefined && r.next() < c.advancedShare) {
      writeAdvanced(ops, i, id, r, sim, c, mix);
      continue;
    }
    // Pick the operation; fall back to a passive order when the target does not exist.
    const u = r.next();
    const crossSide = r.next() < 0.5 ? Side.Buy : Side.Sell;
    let op = u < c.limitShare ? 0 : u < c.limitShare + c.cancelShare ? 1 : u < c.limitShare + c.cancelShare + c.crossShare ? 2 : 3;
    if ((op === 1 || op === 3) && sim.liveCount === 0) op = 0;
    if (op === 2 && (crossSide === Side.Buy ? !sim.hasAsk() : !sim.hasBid())) op = 0;

    if (op === 0) {
      // Passive limit order near the touch.
      mix.limit++;
      const side = r.next() < 0.5 ? Side.Buy : Side.Sell;
      const price = passivePrice(sim, side, r.offset(c.meanOffsetTicks, c.maxOffsetTicks));
      const qty = pickQty(r);
      const account = pickAccount(r, c);
      const stp = pickStp(r);
      const flags = r.next() < c.postOnlyShare ? OrderFlags.PostOnly : OrderFlags.None;
      writeNew(ops, i, id, side, OrderType.Limit, TimeInForce.GTC, flags, stp, account, r.next() < c.clientIdShare ? id : 0, price, qty);
      setOrder(sim, id, side, price, qty, account, stp, flags);
      sim.take(id, false, TimeInForce.GTC, qty);
    } else if (op === 1) {
      mix.cancel++;
      const target = sim.liveIds[r.int(sim.liveCount)]!;
      const row = i;
      ops.kind[row] = CommandType.Cancel;
      ops.orderId[row] = target;
      ops.account[row] = sim.oAcct[target]!;
      sim.remove(target);
    } else if (op === 2) {
      // Crossing order: sized to take the first n makers; n steers the live count to its target.
      mix.cross++;
      const side = crossSide;
      const live = sim.liveCount;
      const spread = live > c.targetLiveOrders * 1.1 ? 8 : live < c.targetLiveOrders * 0.9 ? 2 : 4;
      const n = 1 + r.int(spread);
      const account = pickAccount(r, c);
      const stp = pickStp(r);
      const kindU = r.next();
      const best = side === Side.Buy ? sim.bestAskPrice() : sim.bestBidPrice();
      if (kindU < 0.2) {
        mix.market++;
        const qty = clampQty(sim.quantityOfFirstMakers(side, n, side === Side.Buy ? Number.MAX_SAFE_INTEGER : 0), c);
        writeNew(ops, i, id, side, OrderType.Market, TimeInForce.IOC, 0, stp, account, 0, 0, qty);
        setOrder(sim, id, side, 0, qty, account, stp, 0);
        sim.take(id, true, TimeInForce.IOC, qty);
      } else {
        const ioc = kindU < 0.6;
        if (ioc) mix.ioc++;
        const extra = r.int(3);
        const price = sim.clampPrice(side === Side.Buy ? best + extra : best - extra);
        let qty = sim.quantityOfFirstMakers(side, n, price);
        if (!ioc) qty += r.int(20);
        qty = clampQty(qty, c);
        const tif = ioc ? TimeInForce.IOC : TimeInForce.GTC;
        writeNew(ops, i, id, side, OrderType.Limit, tif, 0, stp, account, r.next() < c.clientIdShare ? id : 0, price, qty);
        setOrder(sim, id, side, price, qty, account, stp, 0);
        sim.take(id, false, tif, qty);
      }
    } else {
      // Replace a live order: move it (keep qty), shrink it in place, or move and grow it.
      mix.replace++;
      const target = sim.liveIds[r.int(sim.liveCount)]!;
      const side = sim.oSide[target]!;
      const oldPrice = sim.oPrice[target]!;
      const total = sim.oTotal[target]!, filled = sim.oFilled[target]!, rem = sim.oRem[target]!;
      const v = r.next();
      let newPrice = 0, newTotal = 0;
      if (v < 0.25 && rem > 1) {
        newTotal = filled + (rem >> 1);
      } else {
        newPrice = passivePrice(sim, side, r.offset(c.meanOffsetTicks, c.maxOffsetTicks));
        if (newPrice === oldPrice) newPrice = sim.clampPrice(side === Side.Buy ? newPrice - 1 : newPrice + 1);
        if (v >= 0.75) newTotal = clampQty(total + 1 + r.int(20), c);
      }
      ops.kind[i] = CommandType.Replace;
      ops.orderId[i] = target;
      ops.account[i] = sim.oAcct[target]!;
      ops.priceTicks[i] = newPrice;
      ops.qtyLots[i] = newTotal;
      const price = newPrice === 0 ? oldPrice : newPrice;
      const tot = newTotal === 0 ? total : newTotal;
      if (price === oldPrice && tot < total) {
        sim.oRem[target] = tot - filled;
        sim.oTotal[target] = tot;
      } else {
        sim.remove(target);
        sim.oPrice[target] = price;
        sim.oTotal[target] = tot;
        sim.take(target, false, TimeInForce.GTC, tot - filled);
      }
    }
  }
  return {
    config: c, preload, ops, maxSeq,
    expected: {
      preloadTrades, trades: sim.trades - preloadTrades, stpEvents: sim.stpEvents,
      liveOrdersAfterPreload, liveOrdersAtEnd: sim.liveCount, levelsAtEnd: sim.levelsInUse, mix,
    },
  };
}

/** One advanced-type order (see StreamConfig.advancedShare). Stops sit 5 to 54 ticks beyond the touch. */
function writeAdvanced(ops: OpStream, i: number, id: number, r: Prng, sim: SimBook, c: StreamConfig,
  mix: Record<string, number>): void {
  const u = r.next();
  let side = r.next() < 0.5 ? Side.Buy : Side.Sell;
  let account = pickAccount(r, c);
  const qty = pickQty(r);
  const bid = sim.hasBid() ? sim.bestBidPrice() : MID_PRICE_TICKS - 1;
  const ask = sim.hasAsk() ? sim.bestAskPrice() : MID_PRICE_TICKS + 1;
  const away = 5 + r.int(50);
  const stopFor = (sd: number) => sim.clampPrice(sd === Side.Sell ? bid - away : ask + away);
  if (u < 0.3) {
    mix['iceberg']!++;
    const q = qty < 4 ? 4 : qty;
    const price = passivePrice(sim, side, r.offset(c.meanOffsetTicks, c.maxOffsetTicks));
    writeNew(ops, i, id, side, OrderType.Limit, TimeInForce.GTC, 0, StpMode.None, account, 0, price, q);
    ops.displayQtyLots[i] = Math.max(1, q >> 2);
    setOrder(sim, id, side, price, q, account, StpMode.None, 0);
    sim.take(id, false, TimeInForce.GTC, q);
  } else if (u < 0.55) {
    mix['stop']!++;
    writeNew(ops, i, id, side, OrderType.Stop, TimeInForce.IOC, 0, StpMode.None, account, 0, 0, qty);
    ops.stopPriceTicks[i] = stopFor(side);
  } else if (u < 0.7) {
    mix['stopLimit']!++;
    const x = stopFor(side);
    writeNew(ops, i, id, side, OrderType.StopLimit, TimeInForce.GTC, 0, StpMode.None, account, 0,
      sim.clampPrice(side === Side.Sell ? x - 2 : x + 2), qty);
    ops.stopPriceTicks[i] = x;
  } else if (u < 0.8) {
    mix['trailing']!++;
    writeNew(ops, i, id, side, OrderType.TrailingStop, TimeInForce.IOC, 0, StpMode.None, account, 0, 0, qty);
    ops.trailOffset[i] = 20 + r.int(80);
  } else if (u < 0.88) {
    mix['ifTouched']!++;
    writeNew(ops, i, id, side, OrderType.MarketIfTouched, TimeInForce.IOC, 0, StpMode.None, account, 0, 0, qty);
    ops.stopPriceTicks[i] = sim.clampPrice(side === Side.Buy ? bid - away : ask + away);
  } else if (sim.liveCount > 0) {
    const target = sim.liveIds[r.int(sim.liveCount)]!;
    account = sim.oAcct[target]!;
    if (u < 0.95) {
      mix['oco']!++; // a stop-loss leg linked to a resting limit of the same account and side
      side = sim.oSide[target]!;
      writeNew(ops, i, id, side, OrderType.Stop, TimeInForce.IOC, 0, StpMode.None, account, 0, 0, qty);
      ops.stopPriceTicks[i] = stopFor(side);
    } else {
      mix['child']!++; // a take-profit child of a resting entry, sized by its fills
      side = sim.oSide[target] === Side.Buy ? Side.Sell : Side.Buy;
      const price = passivePrice(sim, side, 10 + r.int(40));
      writeNew(ops, i, id, side, OrderType.Limit, TimeInForce.GTC, OrderFlags.Child, StpMode.None, account, 0, price, 0);
    }
    ops.linkId[i] = target;
  } else {
    mix['stop']!++;
    writeNew(ops, i, id, side, OrderType.Stop, TimeInForce.IOC, 0, StpMode.None, account, 0, 0, qty);
    ops.stopPriceTicks[i] = stopFor(side);
  }
}

function clampQty(q: number, c: StreamConfig): number {
  return q < 1 ? 1 : q > c.maxQtyLots ? c.maxQtyLots : q;
}

function setOrder(sim: SimBook, id: number, side: number, price: number, qty: number, account: number, stp: number, flags: number): void {
  sim.oSide[id] = side; sim.oPrice[id] = price; sim.oTotal[id] = qty; sim.oRem[id] = qty; sim.oFilled[id] = 0;
  sim.oAcct[id] = account; sim.oStp[id] = stp; sim.oFlags[id] = flags;
}

function writeNew(s: OpStream, i: number, id: number, side: number, orderType: number, tif: number, flags: number,
  stp: number, account: number, clientOrderId: number, price: number, qty: number): void {
  s.kind[i] = CommandType.NewOrder; s.orderId[i] = id; s.side[i] = side; s.orderType[i] = orderType; s.tif[i] = tif;
  s.flags[i] = flags; s.stpMode[i] = stp; s.account[i] = account; s.clientOrderId[i] = clientOrderId;
  s.priceTicks[i] = price; s.qtyLots[i] = qty;
}

// ------------------------------------------------------------------------------------------------
// Registered streams. `ops` may be overridden (BENCH_OPS) by the bench.
// ------------------------------------------------------------------------------------------------

export const SHALLOW: StreamConfig = {
  name: 'shallow', seed: 0x5eed0001, ops: 1_000_000, preloadOrders: 3_000, preloadLevelsPerSide: 40,
  targetLiveOrders: 3_000, accounts: 300, hotAccounts: 8, hotShare: 0.5, meanOffsetTicks: 6, maxOffsetTicks: 60,
  limitShare: 0.55, cancelShare: 0.30, crossShare: 0.10, postOnlyShare: 0.1, clientIdShare: 0.5,
  marketBandBps: 500, maxQtyLots: 10_000,
};

export const DEEP: StreamConfig = {
  ...SHALLOW,
  name: 'deep', seed: 0x5eed0002, preloadOrders: 1_000_000, preloadLevelsPerSide: 5_200, targetLiveOrders: 1_000_000,
};

/** The shallow stream with 20 % of its operations replaced by advanced order types (issue 3). */
export const ADVANCED: StreamConfig = { ...SHALLOW, name: 'advanced', seed: 0x5eed0003, advancedShare: 0.2 };

/** Every stream the core bench runs, in order. */
export const STREAMS: StreamConfig[] = [SHALLOW, DEEP, ADVANCED];
