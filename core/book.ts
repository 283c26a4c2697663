// The fast price-time order book of one instrument: single writer, fixed point, no allocation per
// command on the hot path. Its contract is docs/matching-semantics.md; testing/reference-book.ts is
// the simple oracle the property tests compare it with, event by event.
//
// Layout
//   orders  one 256-byte record per slot in one preallocated buffer, read through three views:
//           numbers (float64: ids, prices, quantities, times), links (int32: level FIFO, account
//           list, heap positions, OCO/bracket links) and small enums (bytes); the fields a lookup,
//           cancel or fill needs are in the record's first two cache lines (layout below). Measured
//           against one typed array per field: the same on a small book, about 1.3x faster on a book
//           of 1M orders; against three arrays (numbers, links, enums, one record each), 7-8% faster
//           on that book, where a record then spanned three pages (docs/benchmarks.md).
//           A free list threads through the NEXT link. One slot more than orderCapacity, for the
//           order in flight.
//   levels  pool of price levels, each a FIFO of order slots (intrusive doubly linked list); a
//           level's quantity is the sum of its orders' visible lots (icebergs show a slice).
//   ladder  per side, a sorted array of level keys with the best level at the end (key = price for
//           bids, -price for asks, so "best" is always the largest key): best price in O(1); a new
//           level near the touch costs a short copyWithin.
//   index   order id -> slot: direct-mapped on the id's low bits, hashed overflow on collision;
//           (account, client order id) -> slot or retention-window position (the cid index below);
//           account id -> account index.
//   heaps   GTD expiry by (expireTsUs, orderId); four trigger queues for conditional orders
//           (up/down x last-trade/mark) by (trigger price, orderId).
//
// Order states: FREE, BOOK (resting), TRIGGER (conditional waiting), CHILD0 (bracket child of size
// 0), FLIGHT (being matched as a taker).

import { EventBuffer } from './events.js';
import { hashNumbers } from './hash.js';
import { SlotHeap } from './heap.js';
import type { InstrumentSpec } from './instrument.js';
import { IntMap, mix } from './tables.js';
import {
  ALL_ORDER_FLAGS, Command, CommandType, EndReason, OrderFlags, OrderType, RejectReason, Side, StpMode, SymbolStatus,
  TimeInForce,
} from './types.js';

const NIL = -1;
/** Record buffers from this size on are offset to a 256-byte boundary (see the constructor). */
const REC_ALIGN_MIN_BYTES = 32 * 1024 * 1024;
/** `prefetch` does nothing while open orders + retained client ids are fewer (their tables fit in cache). */
const PREFETCH_MIN_ENTRIES = 1 << 16;
/** Client-id index values from CID_RING on are retention-window positions (slots are below 2^26 + 1). */
const CID_RING = 1 << 27;
export const ORDER_FIELDS = 22;
const DEFAULT_MAX_TRIGGERS = 100;
const ACCT_DIRECT = 1 << 16;

// Order record layout: one RB-byte record per slot in one buffer, read through three views (float64
// words F_*, int32 words I_*, bytes B_*), so an order's fields share a page and the fields of a lookup,
// cancel or fill share the first two cache lines.
//   line 0  F_ID F_ACCOUNT F_REM F_VIS F_FILLED | I_LEVEL I_PREV I_NEXT I_ACCT | B_* (7 bytes)
//   line 1  F_CID F_PRICE F_QTY F_STP_GROUP | I_A_PREV I_A_NEXT I_HEAP I_CIDX I_LINK I_PARENT I_CHILD_A I_CHILD_B
//   line 2  F_DISPLAY F_EXPIRE F_GROW F_STOP F_TRAIL F_LIM_OFF F_ANCHOR F_TRIG_KEY
//   line 3  I_TRIG_POS I_T_PREV I_T_NEXT
const RB = 256;
const FW = RB / 8;
const IW = RB / 4;
const BW = RB;
const F_ID = 0;
const F_ACCOUNT = 1;
const F_REM = 2;
const F_VIS = 3;
const F_FILLED = 4;
const I_LEVEL = 10;
const I_PREV = 11;
const I_NEXT = 12;
const I_ACCT = 13;
const B_SIDE = 56;
const B_TYPE = 57;
const B_TIF = 58;
const B_FLAGS = 59;
const B_STP = 60;
const B_STATE = 61;
const B_QUEUE = 62;
const F_CID = 8;
const F_PRICE = 9;
const F_QTY = 10;
const F_STP_GROUP = 11;
const I_A_PREV = 24;
const I_A_NEXT = 25;
const I_HEAP = 26;
/**
 * Where the order's client id sits in the client-id index (kept exact when entries move; -1 when the
 * order owns no entry, which only a malformed snapshot with a repeated client id can cause).
 */
const I_CIDX = 27;
const I_LINK = 28;
const I_PARENT = 29;
const I_CHILD_A = 30;
const I_CHILD_B = 31;
/**
 * Limit orders: the iceberg display size. Conditional types (whose display size is always 0): the
 * protection price while pending, cleared to 0 when the order activates (the cap is applied then).
 */
const F_DISPLAY = 16;
const F_EXPIRE = 17;
/** Bracket child: lots its entry filled in the current command, applied after the matching step. */
const F_GROW = 18;
const F_STOP = 19;
const F_TRAIL = 20;
const F_LIM_OFF = 21;
const F_ANCHOR = 22;
const F_TRIG_KEY = 23;
const I_TRIG_POS = 48;
const I_T_PREV = 49;
const I_T_NEXT = 50;

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
  // One division when the product is exact (|n*ppm| < 2^53): the quotient is then within half an ulp
  // (< 1e-6 below 2^53/1e6) of x/1e6, whose fractional part is 0 or at least 1e-6, so its ceil is exact.
  const p = notionalUnits * ppm;
  if (p < 9007199254740992 && p > -9007199254740992) return Math.ceil(p / 1e6) + 0;
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
  /** Top of book (best bid price and qty, best ask price and qty; 0 = empty side) after the last command. */
  private tobBPx = 0;
  private tobBQty = 0;
  private tobAPx = 0;
  private tobAQty = 0;
  /** Limit price band [bandLo, bandHi] last computed for (bandRef, bandBps); bandRef -1 = none yet. */
  private bandRef = -1;
  private bandBps = 0;
  private bandLo = 0;
  private bandHi = 0;

  // Orders.
  /** Order records (RB bytes per slot) through three views of one buffer: float64 words, int32 words, bytes. */
  private readonly of: Float64Array;
  private readonly oi: Int32Array;
  private readonly ob: Uint8Array;
  private freeOrder = NIL;
  /** `prefetch` works from this many open orders + retained client ids on (tests set 0 to exercise it on small books). */
  prefetchMinEntries = PREFETCH_MIN_ENTRIES;
  /** Sum of the values of loads made only to bring a line into cache (kept so they are not removed). */
  private pfSink = 0;

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
  /**
   * Client-id index: open addressing (linear probing, backward-shift deletes) over int32 pairs
   * (tag = hash | 1, 0 = empty; value). The keys are not stored here but where they already are: a
   * live order's (account, cid) in its slot (value = slot), a terminated one's in the retention window
   * (value = CID_RING + position). So the table is 8 bytes a slot and stays in cache; a generic pair
   * map (24-byte entries holding the keys) cost about a fifth of the shallow stream in cache misses.
   */
  private cidT: Int32Array;
  private cidMask: number;
  private cidN = 0;
  /**
   * Every entry's table index is also kept by its owner (I_CIDX of a live order, retainIx of a window
   * position) and updated when a delete or growth moves it: terminating and evicting an id then need
   * no hash and no probe (each owner's index is exact, or -1 when it owns no entry).
   */
  private readonly retainIx: Int32Array;
  /** Bumped by every insert, delete and growth: a find's insertion point is reused by the next put while unchanged. */
  private cidVer = 0;
  private hintVer = -1;
  private hintAcct = 0;
  private hintCid = 0;
  private hintH = 0;
  private hintI = 0;
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

    // Records start on a 256-byte boundary where that can be arranged, so that the two lines a cancel
    // or fill reads (0 and 1) are one aligned 128-byte pair and no field straddles two lines. JS cannot
    // see addresses; glibc serves allocations of 32 MiB and more (large books) with mmap, at 16 bytes
    // past a page boundary, so those get a 240-byte offset. Elsewhere the guess may be off, which
    // costs only speed: every access goes through the views, whatever the offset.
    const bytes = n * RB;
    const ro = bytes >= REC_ALIGN_MIN_BYTES ? RB - 16 : 0;
    const rec = new ArrayBuffer(bytes + ro);
    this.of = new Float64Array(rec, ro, n * FW);
    this.oi = new Int32Array(rec, ro, n * IW);
    this.ob = new Uint8Array(rec, ro, n * BW);
    for (let i = 0; i < n; i++) {
      const o = i * IW;
      this.oi[o + I_HEAP] = NIL; this.oi[o + I_TRIG_POS] = NIL; this.oi[o + I_LINK] = NIL;
      this.oi[o + I_PARENT] = NIL; this.oi[o + I_CHILD_A] = NIL; this.oi[o + I_CHILD_B] = NIL;
    }
    for (let i = 0; i < n; i++) this.oi[i * IW + I_NEXT] = i + 1 < n ? i + 1 : NIL;
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
    this.retainIx = new Int32Array(Math.max(1, spec.clientIdRetention));
    this.cidT = new Int32Array(2 * 2048);
    this.cidMask = 2048 - 1;
    this.gtd = new SlotHeap(n, this.of, FW, F_EXPIRE, F_ID, this.oi, IW, I_HEAP);
    this.trig = [0, 1, 2, 3].map(() => new SlotHeap(n, this.of, FW, F_TRIG_KEY, F_ID, this.oi, IW, I_TRIG_POS));
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

  /**
   * Starts the cache misses the command (type, orderId, account, clientOrderId) will take first, so
   * that they overlap with the work of the command executed before it: a new order's client-id index
   * line, a cancel's or replace's id index entry and order record. Changes no state (the loaded
   * values go to a sink field that nothing reads). A caller that sees the next command of a batch
   * (the shard worker draining its ring, a replay) calls this before executing the current one.
   */
  prefetch(type: number, orderId: number, account: number, clientOrderId: number): void {
    // In a small book these lines are in cache already, and the hash and loads would only cost time.
    if (this.resting + this.retainCount < this.prefetchMinEntries) return;
    if (type === CommandType.NewOrder) {
      if (clientOrderId !== 0) {
        const h = mix(account, clientOrderId) | 1;
        this.pfSink = (this.pfSink + this.cidT[2 * ((h >>> 1) & this.cidMask)]!) | 0;
      }
    } else if (orderId > 0 && (type === CommandType.Cancel || type === CommandType.Replace)) {
      const s = this.idx[(orderId >>> 0) & this.idxMask]!;
      if (s !== NIL) this.pfSink = (this.pfSink + this.oi[s * IW + I_LEVEL]!) | 0;
    }
  }

  execute(cmd: Command): void {
    const ev = this.ev;
    ev.seq = cmd.seq;
    ev.tsUs = cmd.tsUs;
    if (Number.isSafeInteger(cmd.tsUs) && cmd.tsUs > this.now) this.now = cmd.tsUs;

    // Top of book before the command: as the previous command (or restore) left it.
    const bPx = this.tobBPx, bQty = this.tobBQty, aPx = this.tobAPx, aQty = this.tobAQty;
    this.triggersThisCmd = 0;
    this.resetTrackers(); // trailing anchors move only by prices seen since the last check (this command)

    if (this.gtd.n > 0) this.expireDue();
    if (this.retainCount === this.spec.clientIdRetention && this.retainCount > 0) {
      // The client-id index entry the next eviction from the retention window removes: loaded now,
      // so that on a large index its cache miss overlaps with this command's own (id or client-id
      // lookup) instead of coming after them. The value is kept so that the load is not dropped.
      const i = this.retainIx[this.retainHead]!;
      if (i >= 0) this.pfSink = (this.pfSink + this.cidT[2 * i]!) | 0;
    }

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
    if (bPx !== bPx2 || bQty !== bQty2 || aPx !== aPx2 || aQty !== aQty2) {
      ev.topOfBook(bPx2, bQty2, aPx2, aQty2);
      this.tobBPx = bPx2; this.tobBQty = bQty2; this.tobAPx = aPx2; this.tobAQty = aQty2;
    }
  }

  /** Recomputes the remembered top of book from the ladder (after a restore). */
  private noteTop(): void {
    const bl = this.bestLevel(Side.Buy), al = this.bestLevel(Side.Sell);
    this.tobBPx = bl === NIL ? 0 : this.lPrice[bl]!; this.tobBQty = bl === NIL ? 0 : this.lQty[bl]!;
    this.tobAPx = al === NIL ? 0 : this.lPrice[al]!; this.tobAQty = al === NIL ? 0 : this.lQty[al]!;
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
    const prot = cmd.protectionPriceTicks;
    if (prot !== 0) {
      // Market: any integer >= 0 (its bound is the tighter one). Conditional types: 0 or a price in range
      // (a capped limit price rests at it). Limit orders: none.
      if (isMarket) { if (!isUint(prot)) return RejectReason.InvalidPrice; }
      else if (!cond || !Number.isSafeInteger(prot) || prot < spec.minPriceTicks || prot > spec.maxPriceTicks) return RejectReason.InvalidPrice;
    }
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
    if (cmd.clientOrderId !== 0 && this.cidFind(account, cmd.clientOrderId) >= 0) return RejectReason.DuplicateClientOrderId;
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
    if (cond && !child && (flags & OrderFlags.TriggerImmediately) === 0 && src !== 0) {
      const x = this.initialStop(cmd, src);
      if (isUp(type, side) ? src >= x : src <= x) return RejectReason.StopWouldTrigger;
    }
    return RejectReason.None;
  }

  /** The open order a NewOrder's linkId names, if the link is allowed (OCO or bracket child). */
  private linkTarget(cmd: Command): number {
    if (!isId(cmd.linkId)) return NIL;
    const t = this.slotOf(cmd.linkId);
    if (t === NIL || this.of[t * FW + F_ACCOUNT] !== cmd.account || this.oi[t * IW + I_PARENT] !== NIL) return NIL;
    if ((cmd.flags & OrderFlags.Child) !== 0) {
      if (this.ob[t * BW + B_SIDE] === cmd.side || (this.ob[t * BW + B_FLAGS]! & OrderFlags.Child) !== 0) return NIL;
      if (this.oi[t * IW + I_CHILD_A] !== NIL && this.oi[t * IW + I_CHILD_B] !== NIL) return NIL;
      return t;
    }
    if (this.ob[t * BW + B_SIDE] !== cmd.side || this.oi[t * IW + I_LINK] !== NIL || (this.ob[t * BW + B_FLAGS]! & OrderFlags.Child) !== 0 || this.of[t * FW + F_FILLED]! !== 0) return NIL;
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
    this.of[s * FW + F_REM] = this.tkRem;
    this.of[s * FW + F_FILLED] = this.tkFilled;
    this.of[s * FW + F_VIS] = cmd.displayQtyLots > 0 && cmd.displayQtyLots < this.tkRem ? cmd.displayQtyLots : this.tkRem;
    if (this.tkLink !== NIL) { this.oi[s * IW + I_LINK] = this.tkLink; this.oi[(this.tkLink) * IW + I_LINK] = s; }
    this.restSlot(s);
  }

  /** A new order that never rested is gone: its client id is retained, its OCO partner canceled. */
  private takerGone(account: number, cid: number): void {
    this.retainCid(account, cid);
    const p = this.tkLink;
    if (p !== NIL) { this.tkLink = NIL; this.oi[p * IW + I_LINK] = NIL; this.cancelLinked(p); }
  }

  /** Allocates and fills a slot from a NewOrder command (indexing, client id, account list, GTD). */
  private newSlot(cmd: Command): number {
    const s = this.allocOrder();
    this.of[s * FW + F_ID] = cmd.orderId;
    this.of[s * FW + F_ACCOUNT] = cmd.account;
    this.of[s * FW + F_CID] = cmd.clientOrderId;
    this.ob[s * BW + B_TYPE] = cmd.orderType;
    this.of[s * FW + F_PRICE] = cmd.priceTicks;
    this.of[s * FW + F_QTY] = cmd.qtyLots;
    this.of[s * FW + F_REM] = cmd.qtyLots;
    this.of[s * FW + F_VIS] = 0;
    // Conditional types share the display word with their protection price (their display size is 0).
    this.of[s * FW + F_DISPLAY] = cmd.orderType >= OrderType.Stop ? cmd.protectionPriceTicks : cmd.displayQtyLots;
    this.of[s * FW + F_FILLED] = 0;
    this.of[s * FW + F_EXPIRE] = cmd.expireTsUs;
    this.of[s * FW + F_STP_GROUP] = cmd.stpGroup;
    if (cmd.orderType >= OrderType.Stop) {
      this.of[s * FW + F_STOP] = cmd.stopPriceTicks;
      this.of[s * FW + F_TRAIL] = cmd.trailOffset;
      this.of[s * FW + F_LIM_OFF] = cmd.limitOffsetTicks;
    }
    this.ob[s * BW + B_SIDE] = cmd.side;
    this.ob[s * BW + B_TIF] = cmd.tif;
    this.ob[s * BW + B_FLAGS] = cmd.flags;
    this.ob[s * BW + B_STP] = cmd.stpMode;
    this.oi[s * IW + I_ACCT] = this.acctIndex(cmd.account);
    // oLink, oParent, oChildA/B are NIL and F_GROW is 0 on every free slot (afterEnd and growth reset them).
    this.indexId(cmd.orderId, s);
    if (cmd.clientOrderId !== 0) this.cidPut(cmd.account, cmd.clientOrderId, s);
    this.acctAppend(this.oi[s * IW + I_ACCT]!, s);
    if (cmd.tif === TimeInForce.GTD) this.gtd.push(s);
    return s;
  }

  private newConditional(cmd: Command): void {
    const s = this.newSlot(cmd);
    const src = (cmd.flags & OrderFlags.TriggerMark) !== 0 ? this.refPx : this.lastPx;
    if (isTrailing(cmd.orderType)) {
      this.of[s * FW + F_ANCHOR] = src;
      this.of[s * FW + F_STOP] = this.initialStop(cmd, src);
    }
    if (cmd.linkId !== 0) { const t = this.slotOf(cmd.linkId); this.oi[s * IW + I_LINK] = t; this.oi[t * IW + I_LINK] = s; }
    this.waitTrigger(s);
    const x = this.of[s * FW + F_STOP]!;
    if (src !== 0 && (isUp(cmd.orderType, cmd.side) ? src >= x : src <= x)) {
      // Only reachable with TriggerImmediately (validation rejected it otherwise).
      this.triggersThisCmd++;
      this.activate(s, src);
    }
  }

  private newChild(cmd: Command): void {
    const parent = this.slotOf(cmd.linkId);
    const s = this.newSlot(cmd);
    this.oi[s * IW + I_PARENT] = parent;
    const sib = this.oi[parent * IW + I_CHILD_A]!;
    if (sib === NIL) this.oi[parent * IW + I_CHILD_A] = s;
    else {
      this.oi[parent * IW + I_CHILD_B] = s;
      this.oi[s * IW + I_LINK] = sib; this.oi[sib * IW + I_LINK] = s;
    }
    this.ob[s * BW + B_STATE] = CHILD0;
    this.openCountAdd(s, 1);
    const filled = this.of[parent * FW + F_FILLED]!;
    if (filled > 0) this.growChild(s, filled);
  }

  // ------------------------------------------------------------------------------------------
  // Conditional orders
  // ------------------------------------------------------------------------------------------

  /** Puts a sized conditional into its trigger queue (state TRIGGER, open). */
  private waitTrigger(s: number): void {
    const type = this.ob[s * BW + B_TYPE]!, side = this.ob[s * BW + B_SIDE]!;
    const up = isUp(type, side);
    const q = ((this.ob[s * BW + B_FLAGS]! & OrderFlags.TriggerMark) !== 0 ? 2 : 0) + (up ? 0 : 1);
    this.ob[s * BW + B_QUEUE] = q;
    this.of[s * FW + F_TRIG_KEY] = up ? this.of[s * FW + F_STOP]! : -this.of[s * FW + F_STOP]!;
    this.trig[q]!.push(s);
    this.trigTotal++;
    if (isTrailing(type)) {
      const h = this.trailHead[q]!;
      this.oi[s * IW + I_T_PREV] = NIL; this.oi[s * IW + I_T_NEXT] = h;
      if (h !== NIL) this.oi[h * IW + I_T_PREV] = s;
      this.trailHead[q] = s;
      this.trailTotal++;
    }
    if (this.ob[s * BW + B_STATE] !== TRIGGER) {
      if (this.ob[s * BW + B_STATE] !== CHILD0) this.openCountAdd(s, 1);
      this.ob[s * BW + B_STATE] = TRIGGER;
    }
    this.openAdjust(this.oi[s * IW + I_ACCT]!, side, this.of[s * FW + F_REM]!);
  }

  /** Takes a TRIGGER order out of its queue and out of the open counts. */
  private leaveTrigger(s: number): void {
    this.trig[this.ob[s * BW + B_QUEUE]!]!.remove(s);
    this.trigTotal--;
    if (isTrailing(this.ob[s * BW + B_TYPE]!)) {
      const p = this.oi[s * IW + I_T_PREV]!, n = this.oi[s * IW + I_T_NEXT]!;
      if (p === NIL) this.trailHead[this.ob[s * BW + B_QUEUE]!] = n; else this.oi[p * IW + I_T_NEXT] = n;
      if (n !== NIL) this.oi[n * IW + I_T_PREV] = p;
      this.trailTotal--;
    }
    this.openCountAdd(s, -1);
    this.openAdjust(this.oi[s * IW + I_ACCT]!, this.ob[s * BW + B_SIDE]!, -this.of[s * FW + F_REM]!);
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
    return this.ob[s * BW + B_QUEUE]! >= 2 ? this.refPx : this.lastPx;
  }

  private firstFireable(): number {
    for (let q = 0; q < 4; q++) {
      const h = this.trig[q]!;
      if (h.n === 0) continue;
      const p = q >= 2 ? this.refPx : this.lastPx;
      if (p === 0) continue;
      const s = h.top();
      const x = this.of[s * FW + F_STOP]!;
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
      for (let s = this.trailHead[q]!; s !== NIL; s = this.oi[s * IW + I_T_NEXT]!) {
        const a = this.of[s * FW + F_ANCHOR]!;
        const na = up ? (lo < a ? lo : a) : (hi > a ? hi : a);
        if (na === a) break; // older orders' anchors are further out still: nothing more moves
        this.of[s * FW + F_ANCHOR] = na;
        const d = this.trailDistance(this.of[s * FW + F_TRAIL]!, this.ob[s * BW + B_FLAGS]!, na);
        const x = up ? na + d : Math.max(1, na - d);
        this.of[s * FW + F_STOP] = x;
        this.of[s * FW + F_TRIG_KEY] = up ? x : -x;
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
    this.ob[s * BW + B_STATE] = FLIGHT;
    const type = this.ob[s * BW + B_TYPE]!, side = this.ob[s * BW + B_SIDE]!, x = this.of[s * FW + F_STOP]!;
    const market = isMarketLike(type);
    // The protection price (0 = none) caps a buy and floors a sell; it is used up by the activation.
    const prot = this.of[s * FW + F_DISPLAY]!;
    this.of[s * FW + F_DISPLAY] = 0;
    let limit = 0;
    if (!market) {
      if (type === OrderType.TrailingStopLimit) {
        limit = side === Side.Buy ? x + this.of[s * FW + F_LIM_OFF]! : x - this.of[s * FW + F_LIM_OFF]!;
        if (limit < this.spec.minPriceTicks) limit = this.spec.minPriceTicks;
        if (limit > this.spec.maxPriceTicks) limit = this.spec.maxPriceTicks;
      } else limit = this.of[s * FW + F_PRICE]!;
      if (prot > 0 && (side === Side.Buy ? limit > prot : limit < prot)) limit = prot;
    }
    this.ev.triggered(this.of[s * FW + F_ID]!, this.of[s * FW + F_ACCOUNT]!, x, sourcePx, market ? OrderType.Market : OrderType.Limit, limit, this.of[s * FW + F_REM]!);
    const p = this.oi[s * IW + I_LINK]!;
    if (p !== NIL) { this.oi[s * IW + I_LINK] = NIL; this.oi[p * IW + I_LINK] = NIL; this.cancelLinked(p); }
    this.of[s * FW + F_PRICE] = limit;
    this.of[s * FW + F_VIS] = this.of[s * FW + F_REM]!;
    // Market-type: the bound from the reference price now, and never further than the band from X
    // (so the worst price of a non-trailing stop is known when it is entered) nor than the protection.
    let tl = limit;
    if (market) {
      if (side === Side.Buy) {
        const a = this.marketUpper(this.refPx), b = this.marketUpper(x);
        tl = a < b ? a : b;
        if (prot > 0 && prot < tl) tl = prot;
      } else {
        const a = this.marketLower(this.refPx), b = this.marketLower(x);
        tl = a > b ? a : b;
        if (prot > tl) tl = prot;
      }
    }
    this.takerStep(s, tl, market);
  }

  /**
   * Matches slot s (state FLIGHT, out of the open counts) as a taker up to `limit`, then ends it or
   * rests it: the shared tail of replace re-entry, activation and bracket child growth.
   */
  private takerStep(s: number, limit: number, market: boolean): void {
    this.ob[s * BW + B_STATE] = FLIGHT;
    this.tkSlot = s;
    this.tkId = this.of[s * FW + F_ID]!;
    this.tkAccount = this.of[s * FW + F_ACCOUNT]!;
    this.tkAcct = this.oi[s * IW + I_ACCT]!;
    this.tkSide = this.ob[s * BW + B_SIDE]!;
    this.tkQuote = false;
    this.tkQuoteLeft = 0;
    this.tkRem = this.of[s * FW + F_REM]!;
    this.tkFilled = this.of[s * FW + F_FILLED]!;
    this.tkStp = this.ob[s * BW + B_STP]!;
    this.tkStpGroup = this.of[s * FW + F_STP_GROUP]!;
    this.tkLimit = limit;
    this.tkLink = this.oi[s * IW + I_LINK]!;
    const tif = this.ob[s * BW + B_TIF]!;
    const ev = this.ev;
    if (tif === TimeInForce.FOK && !this.fokFeasible()) {
      ev.expired(this.tkId, this.tkAccount, this.tkRem, EndReason.FillOrKill, this.tkFilled);
      this.finishSlot(s);
      return;
    }
    const end = this.matchTaker();
    this.of[s * FW + F_FILLED] = this.tkFilled;
    this.of[s * FW + F_REM] = this.tkRem;
    this.oi[s * IW + I_LINK] = this.tkLink;
    this.tkSlot = NIL;
    if (end === END_DONE || end === END_FILLED) { this.finishSlot(s); return; }
    if (end === END_STP_TAKER || market || tif === TimeInForce.IOC || tif === TimeInForce.FOK) {
      const why = end === END_STP_TAKER ? EndReason.SelfTrade : market && end === END_PRICE ? EndReason.MarketProtection
        : EndReason.ImmediateRemainder;
      ev.expired(this.tkId, this.tkAccount, this.tkRem, why, this.tkFilled);
      this.finishSlot(s);
      return;
    }
    const d = this.of[s * FW + F_DISPLAY]!;
    this.of[s * FW + F_VIS] = d > 0 && d < this.tkRem ? d : this.tkRem;
    this.restSlot(s);
  }

  /** A slotted order not on the book ended (its terminal event is out): client id, links, children, slot. */
  private finishSlot(s: number): void {
    this.retire(s);
    this.afterEnd(s);
    this.releaseSlot(s);
  }

  /**
   * An order terminated: its client id enters the retention window now, before anything its end
   * causes (a linked cancel retains the partner's id after this one).
   */
  private retire(s: number): void {
    const cid = this.of[s * FW + F_CID]!;
    if (cid === 0) return;
    const account = this.of[s * FW + F_ACCOUNT]!;
    // The index entry (value = this slot) moves to the window position, or goes without retention.
    if (this.spec.clientIdRetention > 0) {
      const t = this.retainPush(account, cid); // may move this order's entry: read its index after
      const i = this.oi[s * IW + I_CIDX]!;
      // Only written, never read: on a large book this line is a cache miss, which a store does not wait for.
      if (i >= 0) { this.cidT[2 * i + 1] = CID_RING + t; this.retainIx[t] = i; } else this.retainIx[t] = -1;
    } else {
      const i = this.oi[s * IW + I_CIDX]!;
      if (i >= 0) this.cidRemoveAt(i);
    }
    this.of[s * FW + F_CID] = 0;
  }

  // ------------------------------------------------------------------------------------------
  // Brackets
  // ------------------------------------------------------------------------------------------

  private noteEntryFill(entry: number, q: number): void {
    const a = this.oi[entry * IW + I_CHILD_A]!, b = this.oi[entry * IW + I_CHILD_B]!;
    if (a !== NIL) this.noteGrow(a, q);
    if (b !== NIL) this.noteGrow(b, q);
  }

  private noteGrow(c: number, q: number): void {
    if (this.of[c * FW + F_GROW] === 0) { this.growId[this.growN] = this.of[c * FW + F_ID]!; this.growList[this.growN++] = c; }
    this.of[c * FW + F_GROW] = this.of[c * FW + F_GROW]! + q;
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
        if (this.ob[c * BW + B_STATE] === FREE || this.of[c * FW + F_ID] !== bufId[i]) continue;
        const q = this.of[c * FW + F_GROW]!;
        this.of[c * FW + F_GROW] = 0;
        if (q > 0) this.growChild(c, q);
      }
    }
  }

  private growChild(c: number, q: number): void {
    const st = this.ob[c * BW + B_STATE]!;
    const ev = this.ev;
    if (st === BOOK) {
      ev.activated(this.of[c * FW + F_ID]!, this.of[c * FW + F_ACCOUNT]!, this.of[c * FW + F_QTY]! + q, this.of[c * FW + F_REM]! + q);
      const lvl = this.oi[c * IW + I_LEVEL]!;
      this.unlinkResting(c);
      this.leaveLevel(this.ob[c * BW + B_SIDE]!, lvl);
      this.of[c * FW + F_QTY] = this.of[c * FW + F_QTY]! + q;
      this.of[c * FW + F_REM] = this.of[c * FW + F_REM]! + q;
      this.of[c * FW + F_VIS] = this.of[c * FW + F_REM]!;
      this.takerStep(c, this.of[c * FW + F_PRICE]!, false);
      return;
    }
    if (st === TRIGGER) {
      this.of[c * FW + F_QTY] = this.of[c * FW + F_QTY]! + q;
      this.of[c * FW + F_REM] = this.of[c * FW + F_REM]! + q;
      this.openAdjust(this.oi[c * IW + I_ACCT]!, this.ob[c * BW + B_SIDE]!, q);
      ev.activated(this.of[c * FW + F_ID]!, this.of[c * FW + F_ACCOUNT]!, this.of[c * FW + F_QTY]!, this.of[c * FW + F_REM]!);
      return;
    }
    // CHILD0: first size.
    this.of[c * FW + F_QTY] = q;
    this.of[c * FW + F_REM] = q;
    ev.activated(this.of[c * FW + F_ID]!, this.of[c * FW + F_ACCOUNT]!, q, q);
    if (this.ob[c * BW + B_TYPE] === OrderType.Limit) {
      this.openCountAdd(c, -1);
      this.of[c * FW + F_VIS] = q;
      this.takerStep(c, this.of[c * FW + F_PRICE]!, false);
    } else {
      this.waitTrigger(c);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Matching
  // ------------------------------------------------------------------------------------------

  private isSelf(m: number): boolean {
    return this.of[m * FW + F_ACCOUNT] === this.tkAccount || (this.tkStpGroup !== 0 && this.of[m * FW + F_STP_GROUP] === this.tkStpGroup);
  }

  private fokFeasible(): boolean {
    const opp = this.tkSide ^ 1, base = opp * (this.cap + 1), buy = this.tkSide === Side.Buy;
    const need = this.tkRem;
    let got = 0;
    for (let i = this.ladN[opp]! - 1; i >= 0; i--) {
      const l = this.ladLvl[base + i]!;
      const px = this.lPrice[l]!;
      if (buy ? px > this.tkLimit : px < this.tkLimit) return false;
      for (let m = this.lHead[l]!; m !== NIL; m = this.oi[m * IW + I_NEXT]!) {
        if (this.isSelf(m)) {
          const mode = this.tkStp;
          if (mode === StpMode.ExpireMaker) continue;
          if (mode !== StpMode.None) return false;
        }
        got += this.of[m * FW + F_REM]!;
        if (got >= need) return true;
      }
    }
    return false;
  }

  /** Cancels the taker's OCO partner after its first trade. */
  private takerTraded(): void {
    const p = this.tkLink;
    this.tkLink = NIL;
    this.oi[p * IW + I_LINK] = NIL;
    if (this.tkSlot !== NIL) this.oi[(this.tkSlot) * IW + I_LINK] = NIL;
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
        let next = this.oi[m * IW + I_NEXT]!;
        if (this.tkStp !== StpMode.None && this.isSelf(m)) {
          const mode = this.tkStp;
          if (mode === StpMode.ExpireTaker) { this.visitLvl = NIL; if (changed) this.leaveLevel(opp, lvl); return END_STP_TAKER; }
          if (mode === StpMode.ExpireMaker || mode === StpMode.ExpireBoth) {
            this.unlinkResting(m);
            ev.expired(this.of[m * FW + F_ID]!, this.of[m * FW + F_ACCOUNT]!, this.of[m * FW + F_REM]!, EndReason.SelfTrade, this.of[m * FW + F_FILLED]!);
            next = this.makerGone(m, next);
            changed = true;
            if (mode === StpMode.ExpireBoth) { this.visitLvl = NIL; this.leaveLevel(opp, lvl); return END_STP_TAKER; }
            m = next;
            continue;
          }
          // Decrement, against the maker's visible lots.
          const mVis = this.of[m * FW + F_VIS]!;
          const d = avail < mVis ? avail : mVis;
          const mRem = this.of[m * FW + F_REM]!;
          if (d === mRem) {
            this.unlinkResting(m);
            ev.expired(this.of[m * FW + F_ID]!, this.of[m * FW + F_ACCOUNT]!, d, EndReason.SelfTrade, this.of[m * FW + F_FILLED]!);
            next = this.makerGone(m, next);
          } else {
            this.of[m * FW + F_REM] = mRem - d;
            this.of[m * FW + F_VIS] = mVis - d;
            this.lQty[lvl] = this.lQty[lvl]! - d;
            this.openAdjust(this.oi[m * IW + I_ACCT]!, this.ob[m * BW + B_SIDE]!, -d);
            ev.decremented(this.of[m * FW + F_ID]!, this.of[m * FW + F_ACCOUNT]!, d, mRem - d);
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
        const mVis = this.of[m * FW + F_VIS]!;
        const q = avail < mVis ? avail : mVis;
        const notional = q * lotCost;
        const makerFee = feeUnits(notional, this.spec.makerFeePpm);
        const takerFee = feeUnits(notional, this.spec.takerFeePpm);
        const mLeft = this.of[m * FW + F_REM]! - q;
        this.of[m * FW + F_REM] = mLeft;
        this.of[m * FW + F_VIS] = mVis - q;
        this.of[m * FW + F_FILLED] = this.of[m * FW + F_FILLED]! + q;
        this.lQty[lvl] = this.lQty[lvl]! - q;
        const ma = this.oi[m * IW + I_ACCT]!;
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
        ev.trade(this.nextTradeId++, px, q, this.of[m * FW + F_ID]!, this.of[m * FW + F_ACCOUNT]!, this.tkId, this.tkAccount, this.tkSide,
          makerFee, takerFee, mLeft, this.tkQuote ? 0 : this.tkRem, notional);
        changed = true;
        if (this.oi[m * IW + I_CHILD_A] !== NIL) this.noteEntryFill(m, q);
        if (this.tkSlot !== NIL && this.oi[(this.tkSlot) * IW + I_CHILD_A] !== NIL) this.noteEntryFill(this.tkSlot, q);
        // A filled maker leaves its level and retires its client id before anything its trade causes
        // (its OCO partner's cancel and Depth must not count it).
        if (mLeft === 0) { this.unlinkResting(m); this.retire(m); }
        const link = this.oi[m * IW + I_LINK]!;
        if (link !== NIL) {
          this.oi[m * IW + I_LINK] = NIL; this.oi[link * IW + I_LINK] = NIL;
          if (next === link) next = this.oi[link * IW + I_NEXT]!;
          this.cancelLinked(link);
        }
        if (this.tkLink !== NIL) this.takerTraded();
        if (mLeft === 0) {
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
    const link = this.oi[m * IW + I_LINK]!;
    if (link !== NIL && next === link) next = this.oi[link * IW + I_NEXT]!;
    // (Its bracket children are on the other side: they cannot be the iteration's next order.)
    this.retire(m);
    this.afterEnd(m);
    this.releaseSlot(m);
    return next;
  }

  /** An iceberg's slice is used up: show the next one at the back of its level. */
  private refreshSlice(m: number, lvl: number, next: number): number {
    const rem = this.of[m * FW + F_REM]!, d = this.of[m * FW + F_DISPLAY]!;
    const vis = d < rem ? d : rem;
    // Move to the back of the level.
    const p = this.oi[m * IW + I_PREV]!, n = this.oi[m * IW + I_NEXT]!;
    if (n !== NIL) {
      if (p === NIL) this.lHead[lvl] = n; else this.oi[p * IW + I_NEXT] = n;
      this.oi[n * IW + I_PREV] = p;
      const tail = this.lTail[lvl]!;
      this.oi[tail * IW + I_NEXT] = m; this.oi[m * IW + I_PREV] = tail; this.oi[m * IW + I_NEXT] = NIL; this.lTail[lvl] = m;
    }
    this.of[m * FW + F_VIS] = vis;
    this.lQty[lvl] = this.lQty[lvl]! + vis;
    this.ev.sliceRefreshed(this.of[m * FW + F_ID]!, this.of[m * FW + F_ACCOUNT]!, vis, rem - vis);
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
    if (ref !== this.bandRef || b !== this.bandBps) {
      // The bounds change only with the reference price (trades, SetReferencePrice): computed once per change.
      this.bandLo = Math.ceil((ref * (10000 - b)) / 10000);
      this.bandHi = Math.floor((ref * (10000 + b)) / 10000);
      this.bandRef = ref;
      this.bandBps = b;
    }
    return px >= this.bandLo && px <= this.bandHi;
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
    const st = this.ob[s * BW + B_STATE]!;
    const ev = this.ev;
    let lvl = NIL;
    if (st === BOOK) { lvl = this.oi[s * IW + I_LEVEL]!; this.unlinkResting(s); }
    else if (st === TRIGGER) this.leaveTrigger(s);
    else this.openCountAdd(s, -1); // CHILD0
    if (expired) ev.expired(this.of[s * FW + F_ID]!, this.of[s * FW + F_ACCOUNT]!, this.of[s * FW + F_REM]!, reason, this.of[s * FW + F_FILLED]!);
    else ev.canceled(this.of[s * FW + F_ID]!, this.of[s * FW + F_ACCOUNT]!, this.of[s * FW + F_REM]!, reason, this.of[s * FW + F_FILLED]!);
    this.retire(s);
    if (lvl !== NIL) this.leaveLevel(this.ob[s * BW + B_SIDE]!, lvl);
    this.afterEnd(s);
    this.releaseSlot(s);
  }

  private cancelLinked(p: number): void {
    this.endOrder(p, EndReason.LinkedOrder, false);
  }

  /** After an order's terminal event: cancel its OCO partner; cancel or detach its bracket children. */
  private afterEnd(s: number): void {
    const p = this.oi[s * IW + I_LINK]!;
    if (p !== NIL) { this.oi[s * IW + I_LINK] = NIL; this.oi[p * IW + I_LINK] = NIL; this.cancelLinked(p); }
    const par = this.oi[s * IW + I_PARENT]!;
    if (par !== NIL) {
      if (this.oi[par * IW + I_CHILD_A] === s) { this.oi[par * IW + I_CHILD_A] = this.oi[par * IW + I_CHILD_B]!; this.oi[par * IW + I_CHILD_B] = NIL; }
      else if (this.oi[par * IW + I_CHILD_B] === s) this.oi[par * IW + I_CHILD_B] = NIL;
      this.oi[s * IW + I_PARENT] = NIL;
    }
    let a = this.oi[s * IW + I_CHILD_A]!;
    if (a !== NIL) {
      let b = this.oi[s * IW + I_CHILD_B]!;
      this.oi[s * IW + I_CHILD_A] = NIL; this.oi[s * IW + I_CHILD_B] = NIL;
      if (b !== NIL && this.of[b * FW + F_ID]! < this.of[a * FW + F_ID]!) { const t = a; a = b; b = t; }
      const aId = this.of[a * FW + F_ID]!, bId = b === NIL ? 0 : this.of[b * FW + F_ID]!;
      this.oi[a * IW + I_PARENT] = NIL;
      if (b !== NIL) this.oi[b * IW + I_PARENT] = NIL;
      if (this.of[s * FW + F_FILLED] === 0) {
        if (this.ob[a * BW + B_STATE] !== FREE && this.of[a * FW + F_ID] === aId) this.cancelLinked(a);
        if (b !== NIL && this.ob[b * BW + B_STATE] !== FREE && this.of[b * FW + F_ID] === bId) this.cancelLinked(b);
      }
    }
  }

  /** Finds an open order of the command's account by orderId, or by clientOrderId when orderId is 0. */
  private findOwn(cmd: Command): number {
    let s: number;
    if (cmd.orderId === 0) {
      if (!isId(cmd.clientOrderId) || !isId(cmd.account)) return NIL;
      const i = this.cidFind(cmd.account, cmd.clientOrderId);
      if (i < 0) return NIL;
      s = this.cidT[2 * i + 1]!;
      if (s >= CID_RING) return NIL; // retained: not open
    } else {
      if (!isId(cmd.orderId)) return NIL;
      s = this.slotOf(cmd.orderId);
    }
    if (s === NIL || this.of[s * FW + F_ACCOUNT] !== cmd.account) return NIL;
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
    if (this.ob[s * BW + B_STATE] !== BOOK) { this.reject(cmd, RejectReason.InvalidOrderType); return; }
    const oldPx = this.of[s * FW + F_PRICE]!, oldQty = this.of[s * FW + F_QTY]!, filled = this.of[s * FW + F_FILLED]!, oldRem = this.of[s * FW + F_REM]!;
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
    const ai = this.oi[s * IW + I_ACCT]!, side = this.ob[s * BW + B_SIDE]!;
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
    if ((this.ob[s * BW + B_FLAGS]! & OrderFlags.PostOnly) !== 0 && this.wouldTake(side, px)) { this.reject(cmd, RejectReason.PostOnlyWouldTake); return; }

    const ev = this.ev;
    if (newRem <= 0) { this.endOrder(s, EndReason.ReplaceDone, false); return; }
    const lvl = this.oi[s * IW + I_LEVEL]!;
    if (px === oldPx && newRem <= oldRem) {
      const oldVis = this.of[s * FW + F_VIS]!;
      const newVis = oldVis < newRem ? oldVis : newRem;
      this.of[s * FW + F_QTY] = qty;
      this.of[s * FW + F_REM] = newRem;
      this.of[s * FW + F_VIS] = newVis;
      this.lQty[lvl] = this.lQty[lvl]! - (oldVis - newVis);
      this.openAdjust(ai, side, newRem - oldRem);
      ev.replaced(this.of[s * FW + F_ID]!, this.of[s * FW + F_ACCOUNT]!, px, qty, newRem, 1);
      this.leaveLevel(side, lvl);
      return;
    }
    // Loses priority: leave the level, then enter again as a taker with the same id.
    ev.replaced(this.of[s * FW + F_ID]!, this.of[s * FW + F_ACCOUNT]!, px, qty, newRem, 0);
    this.unlinkResting(s);
    this.leaveLevel(side, lvl);
    this.of[s * FW + F_PRICE] = px;
    this.of[s * FW + F_QTY] = qty;
    this.of[s * FW + F_REM] = newRem;
    this.takerStep(s, px, false);
  }

  /** Collects open orders of an account (or all when account is 0) into scratch, ascending id. */
  private collect(account: number): number {
    let n = 0;
    if (account === 0) {
      for (let s = 0; s <= this.cap; s++) {
        const st = this.ob[s * BW + B_STATE]!;
        if (st === BOOK || st === TRIGGER || st === CHILD0) this.scratch[n++] = s;
      }
    } else {
      const ai = this.acctLookup(account);
      if (ai === NIL) return 0;
      for (let m = this.aHead[ai]!; m !== NIL; m = this.oi[m * IW + I_A_NEXT]!) this.scratch[n++] = m;
    }
    const of = this.of;
    this.scratch.subarray(0, n).sort((a, b) => of[a * FW + F_ID]! - of[b * FW + F_ID]!);
    for (let i = 0; i < n; i++) this.scratchId[i] = of[this.scratch[i]! * FW + F_ID]!;
    return n;
  }

  /** Cancels the collected orders still open (a linked cancel may have taken some); returns the count. */
  private cancelCollected(n: number, reason: number): number {
    let k = 0;
    const list = new Int32Array(this.scratch.subarray(0, n));
    const ids = new Float64Array(this.scratchId.subarray(0, n));
    for (let i = 0; i < n; i++) {
      const s = list[i]!;
      if (this.ob[s * BW + B_STATE] === FREE || this.ob[s * BW + B_STATE] === FLIGHT || this.of[s * FW + F_ID] !== ids[i]) continue;
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
      if (this.of[s * FW + F_EXPIRE]! > now) return;
      this.endOrder(s, EndReason.Expired, true); // releaseSlot takes it out of the heap
    }
  }

  // ------------------------------------------------------------------------------------------
  // Orders, levels, accounts: the plumbing
  // ------------------------------------------------------------------------------------------

  private slotOf(id: number): number {
    const s = this.idx[(id >>> 0) & this.idxMask]!;
    // The second line of the record (client id, account links, OCO/bracket links) is needed by every
    // cancel and replace: its load is issued now, beside the first line's, rather than after it.
    if (s !== NIL) this.pfSink = (this.pfSink + this.oi[s * IW + I_CIDX]!) | 0;
    if (s !== NIL && this.of[s * FW + F_ID] === id && this.ob[s * BW + B_STATE] !== FREE) return s;
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
    this.freeOrder = this.oi[s * IW + I_NEXT]!;
    this.ob[s * BW + B_STATE] = FLIGHT;
    this.resting++;
    return s;
  }

  private openCountAdd(s: number, d: number): void {
    const ai = this.oi[s * IW + I_ACCT]!;
    this.aOpenCount[ai] = this.aOpenCount[ai]! + d;
  }

  /** Puts slot s (fields set, oVis set) at the back of its price level, counts it open, emits Depth. */
  private restSlot(s: number, quiet = false): void {
    const side = this.ob[s * BW + B_SIDE]!, px = this.of[s * FW + F_PRICE]!;
    const lvl = this.levelFor(side, px);
    const tail = this.lTail[lvl]!;
    this.oi[s * IW + I_PREV] = tail;
    this.oi[s * IW + I_NEXT] = NIL;
    if (tail === NIL) this.lHead[lvl] = s; else this.oi[tail * IW + I_NEXT] = s;
    this.lTail[lvl] = s;
    this.oi[s * IW + I_LEVEL] = lvl;
    this.ob[s * BW + B_STATE] = BOOK;
    this.lQty[lvl] = this.lQty[lvl]! + this.of[s * FW + F_VIS]!;
    this.lCount[lvl] = this.lCount[lvl]! + 1;
    const ai = this.oi[s * IW + I_ACCT]!;
    this.aOpenCount[ai] = this.aOpenCount[ai]! + 1;
    this.openAdjust(ai, side, this.of[s * FW + F_REM]!);
    if (!quiet) this.ev.depth(side, px, this.lQty[lvl]!, this.lCount[lvl]!);
  }

  /** Takes s out of its level's FIFO and out of the open counts; the level itself stays. */
  private unlinkResting(s: number): void {
    const lvl = this.oi[s * IW + I_LEVEL]!, p = this.oi[s * IW + I_PREV]!, n = this.oi[s * IW + I_NEXT]!;
    if (p === NIL) this.lHead[lvl] = n; else this.oi[p * IW + I_NEXT] = n;
    if (n === NIL) this.lTail[lvl] = p; else this.oi[n * IW + I_PREV] = p;
    this.lQty[lvl] = this.lQty[lvl]! - this.of[s * FW + F_VIS]!;
    this.lCount[lvl] = this.lCount[lvl]! - 1;
    const ai = this.oi[s * IW + I_ACCT]!;
    this.aOpenCount[ai] = this.aOpenCount[ai]! - 1;
    this.openAdjust(ai, this.ob[s * BW + B_SIDE]!, -this.of[s * FW + F_REM]!);
    this.ob[s * BW + B_STATE] = FLIGHT;
  }

  /** Forgets a terminated order: id, client id (into retention), account list, heap, pool. */
  private releaseSlot(s: number): void {
    this.unindexId(this.of[s * FW + F_ID]!, s);
    this.retire(s); // a no-op when the terminal path already retired it
    if (this.ob[s * BW + B_TYPE]! >= OrderType.Stop) {
      // Free slots keep the advanced fields at 0, so plain orders need not write them.
      this.of[s * FW + F_STOP] = 0; this.of[s * FW + F_TRAIL] = 0; this.of[s * FW + F_LIM_OFF] = 0; this.of[s * FW + F_ANCHOR] = 0;
    }
    const ai = this.oi[s * IW + I_ACCT]!, p = this.oi[s * IW + I_A_PREV]!, n = this.oi[s * IW + I_A_NEXT]!;
    if (p === NIL) this.aHead[ai] = n; else this.oi[p * IW + I_A_NEXT] = n;
    if (n === NIL) this.aTail[ai] = p; else this.oi[n * IW + I_A_PREV] = p;
    if (this.oi[s * IW + I_HEAP] !== NIL) this.gtd.remove(s);
    this.of[s * FW + F_GROW] = 0;
    this.ob[s * BW + B_STATE] = FREE;
    this.oi[s * IW + I_NEXT] = this.freeOrder;
    this.freeOrder = s;
    this.resting--;
  }

  /** A client id with no live entry (an order that never rested, a restored window) enters the window. */
  private retainCid(account: number, cid: number): void {
    if (cid === 0) return;
    if (this.spec.clientIdRetention <= 0) return;
    this.cidPut(account, cid, CID_RING + this.retainPush(account, cid)); // records retainIx
  }

  /** Appends (account, cid) to the retention window, evicting (and unmapping) the oldest when full; returns its position. */
  private retainPush(account: number, cid: number): number {
    const R = this.spec.clientIdRetention;
    const r = this.retain;
    if (this.retainCount === R) {
      const h = this.retainHead;
      const i = this.retainIx[h]!;
      if (i >= 0) this.cidRemoveAt(i);
      this.retainHead = h + 1 === R ? 0 : h + 1;
      this.retainCount--;
    }
    let t = this.retainHead + this.retainCount;
    if (t >= R) t -= R;
    r[2 * t] = account;
    r[2 * t + 1] = cid;
    this.retainCount++;
    return t;
  }

  // Client-id index (see cidT).

  /** True when the index value v stands for the key (account, cid). */
  private cidKeyIs(v: number, account: number, cid: number): boolean {
    if (v >= CID_RING) { const p = v - CID_RING; return this.retain[2 * p] === account && this.retain[2 * p + 1] === cid; }
    return this.of[v * FW + F_CID] === cid && this.of[v * FW + F_ACCOUNT] === account;
  }

  /** Records in v's owner that its entry is at table index i. */
  private cidSetRef(v: number, i: number): void {
    if (v >= CID_RING) this.retainIx[v - CID_RING] = i; else this.oi[v * IW + I_CIDX] = i;
  }

  /**
   * Table index of (account, cid), or -1. A miss leaves its insertion point for the next cidPut of
   * the same key (validation, then the new order's slot).
   */
  private cidFind(account: number, cid: number): number {
    const T = this.cidT, mask = this.cidMask;
    const h = mix(account, cid) | 1;
    let i = (h >>> 1) & mask;
    for (;;) {
      const g = T[2 * i]!;
      if (g === 0) break;
      if (g === h && this.cidKeyIs(T[2 * i + 1]!, account, cid)) { this.hintVer = -1; return i; }
      i = (i + 1) & mask;
    }
    this.hintVer = this.cidVer; this.hintAcct = account; this.hintCid = cid; this.hintH = h; this.hintI = i;
    return -1;
  }

  /** Maps (account, cid) to v (inserts, or overwrites an entry with the same key); records the index in v's owner. */
  private cidPut(account: number, cid: number, v: number): void {
    if ((this.cidN + 1) * 2 > this.cidMask + 1) this.cidGrow();
    const T = this.cidT, mask = this.cidMask;
    let h: number, i: number;
    if (this.hintVer === this.cidVer && this.hintCid === cid && this.hintAcct === account) {
      h = this.hintH; i = this.hintI; // the table has not changed since the find that missed
    } else {
      h = mix(account, cid) | 1;
      i = (h >>> 1) & mask;
      for (;;) {
        const g = T[2 * i]!;
        if (g === 0) break;
        if (g === h && this.cidKeyIs(T[2 * i + 1]!, account, cid)) {
          // Same key again (only from a malformed snapshot): the entry changes owner, the old one owns none.
          this.cidSetRef(T[2 * i + 1]!, -1);
          T[2 * i + 1] = v; this.cidSetRef(v, i);
          return;
        }
        i = (i + 1) & mask;
      }
    }
    T[2 * i] = h; T[2 * i + 1] = v;
    this.cidN++;
    this.cidVer = (this.cidVer + 1) | 0;
    this.cidSetRef(v, i);
  }

  /** Removes the entry at index i (backward shift: later entries of the run fill the hole, their owners told). */
  private cidRemoveAt(i: number): void {
    const T = this.cidT, mask = this.cidMask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const gj = T[2 * j]!;
      if (gj === 0) break;
      const k = (gj >>> 1) & mask;
      // Move j into the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
        const vj = T[2 * j + 1]!;
        T[2 * i] = gj; T[2 * i + 1] = vj; this.cidSetRef(vj, i); i = j;
      }
    }
    T[2 * i] = 0;
    this.cidN--;
    this.cidVer = (this.cidVer + 1) | 0;
  }

  /** Doubles the index (amortized; never per message in steady state). Tags are kept, homes recomputed. */
  private cidGrow(): void {
    const old = this.cidT;
    const cap = (this.cidMask + 1) * 2, mask = cap - 1;
    const T = new Int32Array(2 * cap);
    for (let o = 0; o < old.length; o += 2) {
      const g = old[o]!;
      if (g === 0) continue;
      let i = (g >>> 1) & mask;
      while (T[2 * i] !== 0) i = (i + 1) & mask;
      const v = old[o + 1]!;
      T[2 * i] = g; T[2 * i + 1] = v;
      this.cidSetRef(v, i);
    }
    this.cidT = T;
    this.cidMask = mask;
    this.cidVer = (this.cidVer + 1) | 0;
  }


  private openAdjust(ai: number, side: number, lots: number): void {
    if (side === Side.Buy) this.aOpenBuy[ai] = this.aOpenBuy[ai]! + lots;
    else this.aOpenSell[ai] = this.aOpenSell[ai]! + lots;
  }

  private acctAppend(ai: number, s: number): void {
    const t = this.aTail[ai]!;
    this.oi[s * IW + I_A_PREV] = t;
    this.oi[s * IW + I_A_NEXT] = NIL;
    if (t === NIL) this.aHead[ai] = s; else this.oi[t * IW + I_A_NEXT] = s;
    this.aTail[ai] = s;
  }

  /** Account index or NIL: a direct table for ids below 2^16 (engine ids are small and dense), else the hash map. */
  private acctLookup(account: number): number {
    if (account < ACCT_DIRECT) return this.acctDirect[account]!;
    return this.acctMap.get(account);
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
    const link = this.oi[m * IW + I_LINK]!, par = this.oi[m * IW + I_PARENT]!;
    out.push(this.of[m * FW + F_ID]!, this.of[m * FW + F_ACCOUNT]!, this.of[m * FW + F_CID]!, this.ob[m * BW + B_SIDE]!, this.ob[m * BW + B_TYPE]!, this.of[m * FW + F_PRICE]!, this.of[m * FW + F_QTY]!,
      this.of[m * FW + F_REM]!, this.of[m * FW + F_FILLED]!, this.ob[m * BW + B_TIF]!, this.ob[m * BW + B_FLAGS]!, this.ob[m * BW + B_STP]!, this.of[m * FW + F_STP_GROUP]!, this.of[m * FW + F_EXPIRE]!,
      this.of[m * FW + F_STOP]!, this.of[m * FW + F_DISPLAY]!, this.of[m * FW + F_VIS]!, this.of[m * FW + F_TRAIL]!, this.of[m * FW + F_LIM_OFF]!, this.of[m * FW + F_ANCHOR]!,
      link === NIL ? 0 : this.of[link * FW + F_ID]!, par === NIL ? 0 : this.of[par * FW + F_ID]!);
  }

  stateDump(): number[] {
    const out: number[] = [this.now, this.refPx, this.lastPx, this.nextTradeId, this.status];
    for (let side = 0; side < 2; side++) {
      const countAt = out.length;
      out.push(0);
      let c = 0;
      const base = side * (this.cap + 1);
      for (let i = this.ladN[side]! - 1; i >= 0; i--) {
        for (let m = this.lHead[this.ladLvl[base + i]!]!; m !== NIL; m = this.oi[m * IW + I_NEXT]!) { this.dumpOrder(out, m); c++; }
      }
      out[countAt] = c;
    }
    const pending: number[] = [];
    for (let s = 0; s <= this.cap; s++) if (this.ob[s * BW + B_STATE] === TRIGGER || this.ob[s * BW + B_STATE] === CHILD0) pending.push(s);
    pending.sort((a, b) => this.of[a * FW + F_ID]! - this.of[b * FW + F_ID]!);
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
      b.of[s * FW + F_ID] = next(); b.of[s * FW + F_ACCOUNT] = next(); b.of[s * FW + F_CID] = next(); b.ob[s * BW + B_SIDE] = next(); b.ob[s * BW + B_TYPE] = next();
      b.of[s * FW + F_PRICE] = next(); b.of[s * FW + F_QTY] = next(); b.of[s * FW + F_REM] = next(); b.of[s * FW + F_FILLED] = next(); b.ob[s * BW + B_TIF] = next();
      b.ob[s * BW + B_FLAGS] = next(); b.ob[s * BW + B_STP] = next(); b.of[s * FW + F_STP_GROUP] = next(); b.of[s * FW + F_EXPIRE] = next(); b.of[s * FW + F_STOP] = next();
      b.of[s * FW + F_DISPLAY] = next(); b.of[s * FW + F_VIS] = next(); b.of[s * FW + F_TRAIL] = next(); b.of[s * FW + F_LIM_OFF] = next(); b.of[s * FW + F_ANCHOR] = next();
      links.push(next()); parents.push(next());
      b.of[s * FW + F_GROW] = 0; b.oi[s * IW + I_LINK] = NIL; b.oi[s * IW + I_PARENT] = NIL; b.oi[s * IW + I_CHILD_A] = NIL; b.oi[s * IW + I_CHILD_B] = NIL;
      b.oi[s * IW + I_ACCT] = b.acctIndex(b.of[s * FW + F_ACCOUNT]!);
      b.indexId(b.of[s * FW + F_ID]!, s);
      if (b.of[s * FW + F_CID] !== 0) b.cidPut(b.of[s * FW + F_ACCOUNT]!, b.of[s * FW + F_CID]!, s);
      if (b.ob[s * BW + B_TIF] === TimeInForce.GTD) b.gtd.push(s);
      slots.push(s);
      return s;
    };
    for (let side = 0; side < 2; side++) {
      const c = next();
      for (let j = 0; j < c; j++) {
        const s = readOrder();
        if (b.ob[s * BW + B_SIDE] !== side) throw new Error('snapshot order on the wrong side');
        b.restSlot(s, true); // priority order, no events
      }
    }
    const np = next();
    for (let j = 0; j < np; j++) {
      const s = readOrder();
      if (b.of[s * FW + F_QTY] === 0) { b.ob[s * BW + B_STATE] = CHILD0; b.openCountAdd(s, 1); } else b.waitTrigger(s);
    }
    // Links and parents by id, children in ascending id.
    const byId = [...slots].sort((x, y) => b.of[x * FW + F_ID]! - b.of[y * FW + F_ID]!);
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (links[i] !== 0) b.oi[s * IW + I_LINK] = b.slotOf(links[i]!);
    }
    const parentOf = new Map<number, number>();
    slots.forEach((s, i) => { if (parents[i] !== 0) parentOf.set(s, b.slotOf(parents[i]!)); });
    for (const s of byId) {
      b.acctAppend(b.oi[s * IW + I_ACCT]!, s);
      const par = parentOf.get(s);
      if (par !== undefined && par !== NIL) {
        b.oi[s * IW + I_PARENT] = par;
        if (b.oi[par * IW + I_CHILD_A] === NIL) b.oi[par * IW + I_CHILD_A] = s; else b.oi[par * IW + I_CHILD_B] = s;
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
    b.noteTop();
    return b;
  }
}
