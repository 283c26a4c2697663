// Compact tables of the REST read model (read-model.ts): orders, each account's fills and each
// book's recent public trades are kept as rows of numbers in Float64Arrays instead of one object per
// order and per fill. The rows live outside the JavaScript heap (typed-array backing stores), so the
// young-generation collector neither copies nor promotes them: with one object per order and per
// fill, ~900 bytes per REST order stayed alive, were copied by a scavenge and promoted to the old
// generation, which made every scavenge longer (docs/rest.md). Records (OrderRecord, TradeRecord,
// MarketTrade) are built on demand when an answer needs them; they die young.

import { IntMap } from '../../core/tables.js';
import type { MarketTrade, OrderRecord, OrderStatus, TradeRecord } from './read-model.js';

export const ORDER_STATUS_LIST: readonly OrderStatus[] = ['new', 'pending_trigger', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected'];
const STATUS_INDEX = new Map<OrderStatus, number>(ORDER_STATUS_LIST.map((s, i) => [s, i]));
/** Status index of a live order: new, pending_trigger, partially_filled. */
export const ST_NEW = 0, ST_PENDING = 1, ST_PARTIAL = 2, ST_FILLED = 3, ST_CANCELED = 4, ST_EXPIRED = 5, ST_REJECTED = 6;
/** Status column of a free slot. */
const ST_FREE = -1;

export function statusIndex(s: OrderStatus): number {
  return STATUS_INDEX.get(s)!;
}

export function isLiveStatus(st: number): boolean {
  return st >= ST_NEW && st <= ST_PARTIAL;
}

// Columns of an order row.
export const O_ID = 0, O_ACCOUNT = 1, O_INSTRUMENT = 2, O_SIDE = 3, O_TYPE = 4, O_EFF_TYPE = 5, O_TIF = 6, O_FLAGS = 7, O_PRICE = 8,
  O_STOP = 9, O_QTY = 10, O_QUOTE_QTY = 11, O_EXPIRE = 12, O_FILLED = 13, O_REMAINING = 14, O_FILLED_NOTIONAL = 15, O_FEE = 16,
  O_STATUS = 17, O_TRIGGERED = 18, O_REJECT = 19, O_END = 20, O_CREATED = 21, O_UPDATED = 22, O_LAST_SEQ = 23,
  /** The engine's integer client order id (0 = none), used when no REST string id is held. */
  O_CID = 24,
  /** What the order was entered with beyond the Accepted event (0 = not set or not known): iceberg display quantity, trailing
   *  offset (ticks, or basis points with flag 16), trailing limit offset, OCO link / bracket parent id (flag 32), STP mode and group. */
  O_DISPLAY = 25, O_TRAIL = 26, O_LIMIT_OFFSET = 27, O_LINK = 28, O_STP_MODE = 29, O_STP_GROUP = 30;
export const ORDER_STRIDE = 31;

/**
 * Orders by id: one row of ORDER_STRIDE numbers per order in a growable Float64Array, an IntMap from
 * id to row, free rows reused. Reads like a Map<number, OrderRecord> (get builds a fresh record).
 */
export class OrderTable {
  /** Rows; `w[slot * ORDER_STRIDE + O_*]`. Replaced when the table grows: never keep a reference. */
  w: Float64Array;
  /** REST client order ids (strings) by slot; null when the row has none (then O_CID). */
  private cids: (string | null)[];
  private readonly index = new IntMap(1024, true);
  private free: Int32Array;
  private freeCount = 0;
  /** Rows ever used (slots below this are used or on the free list). */
  private high = 0;
  private capacity: number;

  constructor(initialCapacity = 1024) {
    this.capacity = initialCapacity;
    this.w = new Float64Array(initialCapacity * ORDER_STRIDE);
    this.cids = new Array<string | null>(initialCapacity).fill(null);
    this.free = new Int32Array(initialCapacity);
  }

  get size(): number {
    return this.index.size;
  }

  /** Row of an order, or -1. */
  slot(id: number): number {
    return this.index.get(id);
  }

  has(id: number): boolean {
    return this.index.get(id) >= 0;
  }

  /** A new row for `id` (all columns 0, status `new`); the caller fills it in. -1 when the id is already held. */
  add(id: number): number {
    if (this.index.get(id) >= 0) return -1;
    let s: number;
    if (this.freeCount > 0) s = this.free[--this.freeCount]!;
    else {
      if (this.high === this.capacity) this.grow();
      s = this.high++;
    }
    const w = this.w, o = s * ORDER_STRIDE;
    w.fill(0, o, o + ORDER_STRIDE);
    w[o + O_ID] = id;
    this.cids[s] = null;
    this.index.set(id, s);
    return s;
  }

  setClientOrderId(slot: number, cid: string | null): void {
    this.cids[slot] = cid;
  }

  clientOrderId(slot: number): string | null {
    const s = this.cids[slot];
    if (s !== null && s !== undefined) return s;
    const n = this.w[slot * ORDER_STRIDE + O_CID]!;
    return n !== 0 ? String(n) : null;
  }

  /** Forgets an order now (its row is reused). */
  delete(id: number): boolean {
    const s = this.index.get(id);
    if (s < 0) return false;
    this.index.delete(id);
    this.release(s);
    return true;
  }

  /** Forgets an order but keeps its row unused until `releaseDeferred` (rows touched in the current ack stay readable). */
  deleteDeferred(id: number, pending: number[]): void {
    const s = this.index.get(id);
    if (s < 0) return;
    this.index.delete(id);
    this.w[s * ORDER_STRIDE + O_STATUS] = ST_FREE;
    pending.push(s);
  }

  releaseDeferred(pending: number[]): void {
    for (let k = 0; k < pending.length; k++) this.release(pending[k]!);
    pending.length = 0;
  }

  private release(s: number): void {
    this.w[s * ORDER_STRIDE + O_STATUS] = ST_FREE;
    this.cids[s] = null;
    this.free[this.freeCount++] = s;
  }

  private grow(): void {
    const cap = this.capacity * 2;
    const w = new Float64Array(cap * ORDER_STRIDE);
    w.set(this.w);
    this.w = w;
    const free = new Int32Array(cap);
    free.set(this.free.subarray(0, this.freeCount));
    this.free = free;
    for (let s = this.capacity; s < cap; s++) this.cids.push(null);
    this.capacity = cap;
  }

  /** The order's record (a new object), or undefined. */
  get(id: number): OrderRecord | undefined {
    const s = this.index.get(id);
    return s < 0 ? undefined : this.record(s);
  }

  record(s: number): OrderRecord {
    const w = this.w, o = s * ORDER_STRIDE;
    return {
      id: w[o + O_ID]!, account: w[o + O_ACCOUNT]!, instrumentId: w[o + O_INSTRUMENT]!, clientOrderId: this.clientOrderId(s), side: w[o + O_SIDE]!,
      orderType: w[o + O_TYPE]!, effectiveType: w[o + O_EFF_TYPE]!, tif: w[o + O_TIF]!, flags: w[o + O_FLAGS]!, priceTicks: w[o + O_PRICE]!,
      stopPriceTicks: w[o + O_STOP]!, qtyLots: w[o + O_QTY]!, quoteQtyUnits: w[o + O_QUOTE_QTY]!, expireTsUs: w[o + O_EXPIRE]!,
      filledLots: w[o + O_FILLED]!, remainingLots: w[o + O_REMAINING]!, filledNotionalUnits: w[o + O_FILLED_NOTIONAL]!, feeUnits: w[o + O_FEE]!,
      status: ORDER_STATUS_LIST[w[o + O_STATUS]!]!, triggered: w[o + O_TRIGGERED] === 1, rejectReason: w[o + O_REJECT]!, endReason: w[o + O_END]!,
      createdUs: w[o + O_CREATED]!, updatedUs: w[o + O_UPDATED]!, lastSeq: w[o + O_LAST_SEQ]!,
      displayQtyLots: w[o + O_DISPLAY]!, trailOffset: w[o + O_TRAIL]!, limitOffsetTicks: w[o + O_LIMIT_OFFSET]!, linkId: w[o + O_LINK]!,
      stpMode: w[o + O_STP_MODE]!, stpGroup: w[o + O_STP_GROUP]!,
    };
  }

  /** Writes a whole record into a row (seeding, tests). */
  write(s: number, r: OrderRecord): void {
    const w = this.w, o = s * ORDER_STRIDE;
    w[o + O_ID] = r.id; w[o + O_ACCOUNT] = r.account; w[o + O_INSTRUMENT] = r.instrumentId; w[o + O_SIDE] = r.side; w[o + O_TYPE] = r.orderType;
    w[o + O_EFF_TYPE] = r.effectiveType; w[o + O_TIF] = r.tif; w[o + O_FLAGS] = r.flags; w[o + O_PRICE] = r.priceTicks; w[o + O_STOP] = r.stopPriceTicks;
    w[o + O_QTY] = r.qtyLots; w[o + O_QUOTE_QTY] = r.quoteQtyUnits; w[o + O_EXPIRE] = r.expireTsUs; w[o + O_FILLED] = r.filledLots;
    w[o + O_REMAINING] = r.remainingLots; w[o + O_FILLED_NOTIONAL] = r.filledNotionalUnits; w[o + O_FEE] = r.feeUnits;
    w[o + O_STATUS] = statusIndex(r.status); w[o + O_TRIGGERED] = r.triggered ? 1 : 0; w[o + O_REJECT] = r.rejectReason; w[o + O_END] = r.endReason;
    w[o + O_CREATED] = r.createdUs; w[o + O_UPDATED] = r.updatedUs; w[o + O_LAST_SEQ] = r.lastSeq;
    w[o + O_DISPLAY] = r.displayQtyLots; w[o + O_TRAIL] = r.trailOffset; w[o + O_LIMIT_OFFSET] = r.limitOffsetTicks; w[o + O_LINK] = r.linkId;
    w[o + O_STP_MODE] = r.stpMode; w[o + O_STP_GROUP] = r.stpGroup;
    w[o + O_CID] = 0;
    this.cids[s] = r.clientOrderId;
  }

  /** [id, record] of every order held (rows in slot order; deleting during the walk is safe). */
  *entries(): Generator<[number, OrderRecord]> {
    for (let s = 0; s < this.high; s++) {
      if (this.w[s * ORDER_STRIDE + O_STATUS] === ST_FREE) continue;
      const id = this.w[s * ORDER_STRIDE + O_ID]!;
      if (this.index.get(id) !== s) continue;
      yield [id, this.record(s)];
    }
  }

  [Symbol.iterator](): Generator<[number, OrderRecord]> {
    return this.entries();
  }

  *values(): Generator<OrderRecord> {
    for (const [, r] of this.entries()) yield r;
  }

  *keys(): Generator<number> {
    for (const [id] of this.entries()) yield id;
  }
}

// Columns of a fill row.
const F_FILL_NO = 0, F_INSTRUMENT = 1, F_TRADE_ID = 2, F_ACCOUNT = 3, F_ORDER = 4, F_SIDE = 5, F_LIQ = 6, F_PRICE = 7, F_QTY = 8,
  F_NOTIONAL = 9, F_FEE = 10, F_TS = 11, F_SEQ = 12;
const FILL_STRIDE = 13;

/**
 * One account's fills, oldest first, as rows of numbers. Past `trimAt` rows, the oldest are dropped
 * down to `keep` (as the array of records it replaces did).
 */
export class FillList {
  private w = new Float64Array(64 * FILL_STRIDE);
  private n = 0;

  constructor(private readonly keep: number, private readonly trimAt: number) {}

  get length(): number {
    return this.n;
  }

  push(fillNo: number, instrumentId: number, tradeId: number, account: number, orderId: number, side: number, taker: boolean,
    priceTicks: number, qtyLots: number, notionalUnits: number, feeUnits: number, tsUs: number, seq: number): void {
    if ((this.n + 1) * FILL_STRIDE > this.w.length) {
      const w = new Float64Array(this.w.length * 2);
      w.set(this.w);
      this.w = w;
    }
    const w = this.w, o = this.n * FILL_STRIDE;
    w[o + F_FILL_NO] = fillNo; w[o + F_INSTRUMENT] = instrumentId; w[o + F_TRADE_ID] = tradeId; w[o + F_ACCOUNT] = account;
    w[o + F_ORDER] = orderId; w[o + F_SIDE] = side; w[o + F_LIQ] = taker ? 1 : 0; w[o + F_PRICE] = priceTicks; w[o + F_QTY] = qtyLots;
    w[o + F_NOTIONAL] = notionalUnits; w[o + F_FEE] = feeUnits; w[o + F_TS] = tsUs; w[o + F_SEQ] = seq;
    this.n++;
    if (this.n > this.trimAt) {
      const drop = this.n - this.keep;
      this.w.copyWithin(0, drop * FILL_STRIDE, this.n * FILL_STRIDE);
      this.n = this.keep;
    }
  }

  fillNo(k: number): number { return this.w[k * FILL_STRIDE + F_FILL_NO]!; }
  instrumentId(k: number): number { return this.w[k * FILL_STRIDE + F_INSTRUMENT]!; }
  tradeId(k: number): number { return this.w[k * FILL_STRIDE + F_TRADE_ID]!; }
  orderId(k: number): number { return this.w[k * FILL_STRIDE + F_ORDER]!; }
  side(k: number): number { return this.w[k * FILL_STRIDE + F_SIDE]!; }
  isTaker(k: number): boolean { return this.w[k * FILL_STRIDE + F_LIQ] === 1; }
  qtyLots(k: number): number { return this.w[k * FILL_STRIDE + F_QTY]!; }
  notionalUnits(k: number): number { return this.w[k * FILL_STRIDE + F_NOTIONAL]!; }
  feeUnits(k: number): number { return this.w[k * FILL_STRIDE + F_FEE]!; }
  tsUs(k: number): number { return this.w[k * FILL_STRIDE + F_TS]!; }
  seq(k: number): number { return this.w[k * FILL_STRIDE + F_SEQ]!; }

  /** Fill k (0 = oldest) as a record (a new object). */
  at(k: number): TradeRecord {
    const w = this.w, o = k * FILL_STRIDE;
    const instrumentId = w[o + F_INSTRUMENT]!, tradeId = w[o + F_TRADE_ID]!;
    return {
      id: `${instrumentId}-${tradeId}`, fillNo: w[o + F_FILL_NO]!, instrumentId, tradeId, account: w[o + F_ACCOUNT]!, orderId: w[o + F_ORDER]!,
      side: w[o + F_SIDE]!, liquidity: w[o + F_LIQ] === 1 ? 'taker' : 'maker', priceTicks: w[o + F_PRICE]!, qtyLots: w[o + F_QTY]!,
      notionalUnits: w[o + F_NOTIONAL]!, feeUnits: w[o + F_FEE]!, tsUs: w[o + F_TS]!, seq: w[o + F_SEQ]!,
    };
  }

  *[Symbol.iterator](): Generator<TradeRecord> {
    for (let k = 0; k < this.n; k++) yield this.at(k);
  }
}

/** Fill lists by account (reads like a Map<number, FillList>). */
export class FillStore {
  private readonly lists = new Map<number, FillList>();

  constructor(private readonly keep: number) {}

  get(account: number): FillList | undefined {
    return this.lists.get(account);
  }

  /** The account's list, created on first use. */
  of(account: number): FillList {
    let l = this.lists.get(account);
    if (l === undefined) { l = new FillList(this.keep, Math.floor(this.keep * 1.25)); this.lists.set(account, l); }
    return l;
  }

  get size(): number {
    return this.lists.size;
  }

  clear(): void {
    this.lists.clear();
  }
}

// Columns of a public trade row.
const M_TRADE_ID = 0, M_PRICE = 1, M_QTY = 2, M_TAKER_SIDE = 3, M_TS = 4, M_SEQ = 5;
const MARKET_STRIDE = 6;

/**
 * A book's most recent public trades, oldest first, in a ring: past 2 x `keep` trades the oldest are
 * dropped down to `keep` (as the array of records it replaces did).
 */
export class MarketTradeList {
  private readonly w: Float64Array;
  private readonly cap: number;
  private head = 0;
  private n = 0;

  constructor(private readonly keep: number) {
    this.cap = 2 * keep + 1;
    this.w = new Float64Array(this.cap * MARKET_STRIDE);
  }

  get length(): number {
    return this.n;
  }

  push(tradeId: number, priceTicks: number, qtyLots: number, takerSide: number, tsUs: number, seq: number): void {
    const k = (this.head + this.n++) % this.cap;
    const w = this.w, o = k * MARKET_STRIDE;
    w[o + M_TRADE_ID] = tradeId; w[o + M_PRICE] = priceTicks; w[o + M_QTY] = qtyLots; w[o + M_TAKER_SIDE] = takerSide; w[o + M_TS] = tsUs; w[o + M_SEQ] = seq;
    if (this.n > 2 * this.keep) { this.head = (this.head + this.n - this.keep) % this.cap; this.n = this.keep; }
  }

  /** Trade k (0 = oldest held) as a record (a new object). */
  at(k: number): MarketTrade {
    const o = ((this.head + k) % this.cap) * MARKET_STRIDE, w = this.w;
    return { tradeId: w[o + M_TRADE_ID]!, priceTicks: w[o + M_PRICE]!, qtyLots: w[o + M_QTY]!, takerSide: w[o + M_TAKER_SIDE]!, tsUs: w[o + M_TS]!, seq: w[o + M_SEQ]! };
  }
}

/**
 * Values by a safe-integer key (a command's seq) in reused slots: an IntMap from key to slot, a value
 * and a number per slot. For the short-lived per-command entries of the read model (what a REST order
 * carried, who waits for an ack): a Map with a set and a delete per command kept reallocating its
 * table, and those tables were promoted to the old generation.
 */
export class KeyedSlots<V> {
  private readonly index = new IntMap(64, true);
  private values: V[] = [];
  private nums = new Float64Array(64);
  /** Key of each slot; NaN when free. */
  private keys = new Float64Array(64).fill(NaN);
  private readonly free: number[] = [];
  private high = 0;

  get size(): number {
    return this.index.size;
  }

  /** Sets (or replaces) the entry of `key`. */
  set(key: number, value: V, num: number): void {
    let s = this.index.get(key);
    if (s < 0) {
      if (this.free.length > 0) s = this.free.pop()!;
      else {
        if (this.high === this.keys.length) this.grow();
        s = this.high++;
      }
      this.index.set(key, s);
      this.keys[s] = key;
    }
    this.values[s] = value;
    this.nums[s] = num;
  }

  /** Slot of `key`, or -1. */
  slot(key: number): number {
    return this.index.get(key);
  }

  value(slot: number): V {
    return this.values[slot]!;
  }

  num(slot: number): number {
    return this.nums[slot]!;
  }

  delete(key: number): boolean {
    const s = this.index.get(key);
    if (s < 0) return false;
    this.index.delete(key);
    this.keys[s] = NaN;
    (this.values as unknown[])[s] = undefined;
    this.free.push(s);
    return true;
  }

  /** Key of a used slot, NaN for a free one (slots run from 0 to `slotCount` - 1). */
  keyAt(slot: number): number {
    return this.keys[slot]!;
  }

  get slotCount(): number {
    return this.high;
  }

  private grow(): void {
    const n = this.keys.length * 2;
    const keys = new Float64Array(n).fill(NaN);
    keys.set(this.keys);
    this.keys = keys;
    const nums = new Float64Array(n);
    nums.set(this.nums);
    this.nums = nums;
  }
}

/**
 * Ascending order ids (one account's) in a growable Float64Array with a start offset: no
 * old-generation array that only grows, and the oldest id leaves from the front in O(1).
 */
export class IdList {
  private a = new Float64Array(16);
  private start = 0;
  private end = 0;

  get length(): number {
    return this.end - this.start;
  }

  at(i: number): number {
    return this.a[this.start + i]!;
  }

  /** Inserts `id` in order (appends in the usual case of a new, larger id). */
  insert(id: number): void {
    if (this.end === this.a.length) this.makeRoom();
    const n = this.end;
    if (n === this.start || this.a[n - 1]! < id) { this.a[n] = id; this.end++; return; }
    const i = this.start + this.lowerBound(id);
    this.a.copyWithin(i + 1, i, n);
    this.a[i] = id;
    this.end++;
  }

  /** Removes `id` if it is the first (oldest) one; true if it was. */
  dropFirst(id: number): boolean {
    if (this.end === this.start || this.a[this.start] !== id) return false;
    this.start++;
    return true;
  }

  /** First index whose id is >= v. */
  lowerBound(v: number): number {
    let lo = this.start, hi = this.end;
    const a = this.a;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (a[mid]! < v) lo = mid + 1; else hi = mid; }
    return lo - this.start;
  }

  /** Keeps the ids for which `keep` is true (order unchanged). */
  retain(keep: (id: number) => boolean): void {
    const a = this.a;
    let w = 0;
    for (let r = this.start; r < this.end; r++) if (keep(a[r]!)) a[w++] = a[r]!;
    this.start = 0;
    this.end = w;
  }

  private makeRoom(): void {
    const n = this.end - this.start;
    if (this.start >= n) { this.a.copyWithin(0, this.start, this.end); }
    else {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a.subarray(this.start, this.end));
      this.a = b;
    }
    this.start = 0;
    this.end = n;
  }
}

/** A first-in first-out queue of numbers in a growable ring. */
export class NumberQueue {
  private a = new Float64Array(1024);
  private head = 0;
  size = 0;

  push(v: number): void {
    if (this.size === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      for (let i = 0; i < this.size; i++) b[i] = this.a[(this.head + i) % this.a.length]!;
      this.a = b;
      this.head = 0;
    }
    this.a[(this.head + this.size++) % this.a.length] = v;
  }

  /** Removes and returns the oldest (the queue must not be empty). */
  shift(): number {
    const v = this.a[this.head]!;
    this.head = (this.head + 1) % this.a.length;
    this.size--;
    return v;
  }
}
