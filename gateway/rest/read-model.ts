// The REST read model: per-order state, own trades, positions, account limits and a market-data
// mirror (L2 book, top of book, last trades), all fed by the engine's acks (durable, in seq order),
// like gateway/reports.ts feeds the binary reports. Seeded at start from the books' latest snapshot
// (open orders, levels, positions, account limits), so orders from before a restart are known.
// What it cannot know: the history before the gateway started (terminated orders, past trades and
// the cost basis of positions opened before then). PostgreSQL history comes later.

import { EVR_TYPE_DONE } from '../../core/command-codec.js';
import { EventBuffer } from '../../core/events.js';
import { OrderBook, ORDER_FIELDS } from '../../core/book.js';
import type { InstrumentSpec } from '../../core/instrument.js';
import { CommandType, EventType } from '../../core/types.js';
import { latestSnapshot } from '../../persistence/journal.js';
import { decodeSnapshot } from '../../persistence/snapshot-blob.js';
import type { Ack } from '../engine.js';

export const ORDER_STATUSES = ['new', 'pending_trigger', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];
export const LIVE_STATUSES: ReadonlySet<OrderStatus> = new Set(['new', 'pending_trigger', 'partially_filled']);

const FLAG_QUOTE_QTY = 2;
const FLAG_CHILD = 32;
const TYPE_MARKET = 1;
const TYPE_STOP = 2;
const TIF_IOC = 1;
const TIF_FOK = 2;

export interface OrderRecord {
  id: number;
  account: number;
  instrumentId: number;
  /** The REST client order id (string) when it came through REST, else the engine's integer as a string, or null. */
  clientOrderId: string | null;
  side: number;
  /** The type it was entered with. */
  orderType: number;
  /** Limit or Market once a conditional fired; else = orderType. */
  effectiveType: number;
  tif: number;
  flags: number;
  priceTicks: number;
  stopPriceTicks: number;
  qtyLots: number;
  quoteQtyUnits: number;
  expireTsUs: number;
  filledLots: number;
  remainingLots: number;
  filledNotionalUnits: number;
  feeUnits: number;
  status: OrderStatus;
  triggered: boolean;
  /** RejectReason for a rejected order. */
  rejectReason: number;
  /** EndReason for canceled/expired. */
  endReason: number;
  createdUs: number;
  updatedUs: number;
  lastSeq: number;
}

export interface TradeRecord {
  /** `${instrumentId}-${tradeId}` (trade ids count per book). */
  id: string;
  /** Increasing per fill in this process: the trades cursor. */
  fillNo: number;
  instrumentId: number;
  tradeId: number;
  account: number;
  orderId: number;
  side: number;
  liquidity: 'maker' | 'taker';
  priceTicks: number;
  qtyLots: number;
  notionalUnits: number;
  feeUnits: number;
  tsUs: number;
  seq: number;
}

export interface MarketTrade { tradeId: number; priceTicks: number; qtyLots: number; takerSide: number; tsUs: number; seq: number }

export interface BookMirror {
  spec: InstrumentSpec;
  bids: Map<number, [number, number]>;
  asks: Map<number, [number, number]>;
  bidPx: number; bidQty: number; askPx: number; askQty: number;
  lastPx: number; lastQty: number;
  /** Volume and trade count since the gateway started. */
  volumeLots: number; quoteVolumeUnits: number; tradeCount: number;
  engineSeq: number;
  trades: MarketTrade[];
}

export interface Position {
  account: number;
  instrumentId: number;
  /** Signed lots (bought - sold in this book). */
  qtyLots: number;
  /** Cost of the open position in quote units (average-cost; negative for a short's proceeds); null when unknown (opened before the gateway started). */
  costUnits: number | null;
  realizedUnits: number;
  feeUnits: number;
  /** True when the realized figure misses trades from before the gateway started. */
  partialHistory: boolean;
}

export interface AccountLimits { maxPositionLots: number; maxOpenOrders: number; killSwitch: boolean }

export interface RiskEvent { tsUs: number; seq: number; account: number; instrumentId: number; kind: string; detail: string }

/** What a submitter learns when its command is acked. */
export interface AckOutcome { seq: number; rejectReason: number; affected: number }

export interface ReadModelOptions {
  /** Terminated orders kept (oldest dropped first). Default 200,000. */
  maxTerminatedOrders?: number;
  /** Fills kept per account. Default 100,000. */
  maxTradesPerAccount?: number;
  /** Recent public trades per symbol. Default 1,000. */
  maxMarketTrades?: number;
  /** Called with every trade (candles). */
  onTrade?: (spec: InstrumentSpec, tsUs: number, priceTicks: number, qtyLots: number, notionalUnits: number) => void;
}

export class ReadModel {
  readonly orders = new Map<number, OrderRecord>();
  /** account -> order ids in ascending order (may hold evicted ids: skip them). */
  private readonly ordersByAccount = new Map<number, number[]>();
  private readonly terminated: number[] = [];
  private terminatedHead = 0;
  readonly tradesByAccount = new Map<number, TradeRecord[]>();
  private fillNo = 0;
  readonly books = new Map<number, BookMirror>();
  readonly bySymbol = new Map<string, BookMirror>();
  readonly positions = new Map<string, Position>();
  readonly limits = new Map<string, AccountLimits>();
  readonly riskEvents: RiskEvent[] = [];
  /** REST clients' string ids and details the events do not carry, by the NewOrder's seq. */
  private readonly submitted = new Map<number, { clientOrderId: string | null; stopPriceTicks: number }>();
  private readonly waiters = new Map<number, { resolve: (o: AckOutcome | null) => void; deadline: number }>();
  private readonly touched: OrderRecord[] = [];
  lastSeq = 0;
  private readonly o: Required<Omit<ReadModelOptions, 'onTrade'>> & Pick<ReadModelOptions, 'onTrade'>;

  constructor(readonly instruments: readonly InstrumentSpec[], options: ReadModelOptions = {}) {
    this.o = { maxTerminatedOrders: 200_000, maxTradesPerAccount: 100_000, maxMarketTrades: 1000, ...options };
    for (const spec of instruments) {
      const b: BookMirror = {
        spec, bids: new Map(), asks: new Map(), bidPx: 0, bidQty: 0, askPx: 0, askQty: 0, lastPx: 0, lastQty: 0,
        volumeLots: 0, quoteVolumeUnits: 0, tradeCount: 0, engineSeq: 0, trades: [],
      };
      this.books.set(spec.id, b);
      this.bySymbol.set(spec.symbol, b);
    }
  }

  // ------------------------------------------------------------------------------ seeding

  /** Seeds books, open orders, positions and limits from the books' snapshot at `seq`. */
  seedFromSnapshots(journalPath: string, seq: number): void {
    const ev = new EventBuffer(16);
    for (const spec of this.instruments) {
      const snap = latestSnapshot(journalPath, spec.id, seq);
      if (snap === null) continue;
      const state = decodeSnapshot(snap.blob).state;
      const book = OrderBook.restore(spec, ev, state);
      const b = this.books.get(spec.id)!;
      for (let side = 0; side < 2; side++) {
        const n = book.levelCount(side);
        const a = new Float64Array(3 * n);
        book.depthInto(side, n, a);
        const m = side === 0 ? b.bids : b.asks;
        for (let k = 0; k < n; k++) m.set(a[3 * k]!, [a[3 * k + 1]!, a[3 * k + 2]!]);
      }
      this.refreshTop(b);
      b.lastPx = state[2]!;
      b.engineSeq = snap.seq;
      this.seedDump(spec.id, state);
    }
    this.lastSeq = Math.max(this.lastSeq, seq);
  }

  private seedDump(instrumentId: number, d: ArrayLike<number>): void {
    let p = 5;
    for (let part = 0; part < 3; part++) {
      const count = d[p++]!;
      for (let k = 0; k < count; k++, p += ORDER_FIELDS) {
        const id = d[p]!, type = d[p + 4]!;
        const rec: OrderRecord = {
          id, account: d[p + 1]!, instrumentId, clientOrderId: d[p + 2]! !== 0 ? String(d[p + 2]!) : null, side: d[p + 3]!,
          orderType: type, effectiveType: part < 2 && type >= TYPE_STOP ? 0 : type, tif: d[p + 9]!, flags: d[p + 10]!,
          priceTicks: d[p + 5]!, stopPriceTicks: d[p + 14]!, qtyLots: d[p + 6]!, quoteQtyUnits: 0, expireTsUs: d[p + 13]!,
          filledLots: d[p + 8]!, remainingLots: d[p + 7]!, filledNotionalUnits: 0, feeUnits: 0, status: 'new',
          triggered: part < 2 && type >= TYPE_STOP, rejectReason: 0, endReason: 0, createdUs: 0, updatedUs: 0, lastSeq: 0,
        };
        rec.status = this.liveStatus(rec);
        this.addOrder(rec);
      }
    }
    const accts = d[p++]!;
    for (let k = 0; k < accts; k++, p += 5) {
      const account = d[p]!, pos = d[p + 1]!;
      this.limits.set(key(account, instrumentId), { killSwitch: d[p + 2]! !== 0, maxPositionLots: d[p + 3]!, maxOpenOrders: d[p + 4]! });
      if (pos !== 0) {
        const ps = this.position(account, instrumentId);
        ps.qtyLots = pos; ps.costUnits = null; ps.partialHistory = true;
      }
    }
  }

  // ------------------------------------------------------------------------------ submitters

  /** A REST NewOrder was sequenced at `seq`: remembers what the events will not carry. */
  noteSubmitted(seq: number, clientOrderId: string | null, stopPriceTicks: number): void {
    this.submitted.set(seq, { clientOrderId, stopPriceTicks });
  }

  /** Resolves once the command at `seq` is acked (durable). */
  waitFor(seq: number, timeoutMs: number): Promise<AckOutcome | null> {
    if (seq <= this.lastSeq) return Promise.resolve(null);
    return new Promise((resolve) => {
      const deadline = performance.now() + timeoutMs;
      this.waiters.set(seq, { resolve, deadline });
      if (this.sweepAt > deadline) this.scheduleSweep(deadline);
    });
  }

  // One timer for all the waiters' timeouts (a timer per request cost more than the rest of waitFor):
  // it fires at the earliest deadline, answers null to every waiter past its own, and re-arms for the
  // next; it is cleared once no waiter is left.
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweepAt = Infinity;

  private scheduleSweep(at: number): void {
    if (this.sweepTimer !== null) clearTimeout(this.sweepTimer);
    this.sweepAt = at;
    this.sweepTimer = setTimeout(this.sweep, Math.max(0, at - performance.now()));
  }

  private readonly sweep = (): void => {
    this.sweepTimer = null;
    this.sweepAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const [seq, w] of this.waiters) {
      if (w.deadline <= now) { this.waiters.delete(seq); w.resolve(null); } else if (w.deadline < next) next = w.deadline;
    }
    if (next !== Infinity) this.scheduleSweep(next);
  };

  // ------------------------------------------------------------------------------ acks

  onAck(ack: Ack): void {
    let rejectReason = 0, affected = 0;
    const b = ack.recordCount > 0 ? this.books.get(ack.instrumentId) : undefined;
    let topDirty = false;
    const w = ack.words;
    for (let r = 0; r < ack.recordCount && b !== undefined; r++) {
      const o = ack.recordOffset(r);
      const type = w[o]!;
      if (type === EVR_TYPE_DONE) continue;
      const seq = w[o + 1]!, ts = w[o + 2]!;
      switch (type) {
        case EventType.Accepted: this.accepted(b.spec.id, w, o, seq, ts); break;
        case EventType.Rejected:
          if (w[o + 1] === ack.seq) rejectReason = w[o + 6]!;
          if (w[o + 7] === CommandType.NewOrder) this.rejectedNew(b.spec.id, w, o, seq, ts);
          this.riskReject(b.spec.id, w[o + 4]!, w[o + 6]!, seq, ts);
          break;
        case EventType.Trade: this.trade(b, w, o, seq, ts); break;
        case EventType.Canceled: case EventType.Expired: {
          const rec = this.orders.get(w[o + 3]!);
          if (rec !== undefined) {
            rec.remainingLots = 0; rec.endReason = w[o + 6]!; rec.filledLots = Math.max(rec.filledLots, w[o + 7]!);
            this.end(rec, type === EventType.Canceled ? 'canceled' : 'expired', seq, ts);
          }
          break;
        }
        case EventType.Replaced: {
          const rec = this.orders.get(w[o + 3]!);
          if (rec !== undefined) { rec.priceTicks = w[o + 5]!; rec.qtyLots = w[o + 6]!; rec.remainingLots = w[o + 7]!; this.touch(rec, seq, ts); }
          break;
        }
        case EventType.Decremented: {
          const rec = this.orders.get(w[o + 3]!);
          if (rec !== undefined) { rec.remainingLots = w[o + 6]!; this.touch(rec, seq, ts); }
          break;
        }
        case EventType.Triggered: {
          const rec = this.orders.get(w[o + 3]!);
          if (rec !== undefined) {
            rec.triggered = true; rec.stopPriceTicks = w[o + 5]!; rec.effectiveType = w[o + 7]!;
            if (w[o + 8]! > 0) rec.priceTicks = w[o + 8]!;
            rec.remainingLots = w[o + 9]!;
            rec.status = this.liveStatus(rec);
            this.touch(rec, seq, ts);
          }
          break;
        }
        case EventType.Activated: {
          const rec = this.orders.get(w[o + 3]!);
          if (rec !== undefined) { rec.qtyLots = w[o + 5]!; rec.remainingLots = w[o + 6]!; this.touch(rec, seq, ts); }
          break;
        }
        case EventType.Depth: {
          const m = w[o + 3] === 0 ? b.bids : b.asks;
          const px = w[o + 4]!, qty = w[o + 5]!, count = w[o + 6]!;
          if (qty === 0 && count === 0) m.delete(px); else m.set(px, [qty, count]);
          break;
        }
        case EventType.TopOfBook:
          b.bidPx = w[o + 3]!; b.bidQty = w[o + 4]!; b.askPx = w[o + 5]!; b.askQty = w[o + 6]!;
          topDirty = false;
          break;
        case EventType.AdminDone: {
          affected = w[o + 7]!;
          const cmdType = w[o + 3]!, account = w[o + 4]!;
          if (cmdType === CommandType.SetAccountLimits) {
            const l = this.limitsOf(account, b.spec.id);
            l.maxPositionLots = w[o + 5]!; l.maxOpenOrders = w[o + 6]!;
          } else if (cmdType === CommandType.SetKillSwitch) {
            this.limitsOf(account, b.spec.id).killSwitch = w[o + 5] === 1;
            this.pushRisk({ tsUs: ts, seq, account, instrumentId: b.spec.id, kind: w[o + 5] === 1 ? 'kill_switch_on' : 'kill_switch_off', detail: `${w[o + 7]} orders canceled` });
          }
          break;
        }
        default: break;
      }
    }
    if (b !== undefined) {
      if (topDirty) this.refreshTop(b);
      b.engineSeq = ack.seq;
    }
    this.finishTouched();
    this.lastSeq = ack.seq;
    this.submitted.delete(ack.seq);
    const waiter = this.waiters.get(ack.seq);
    if (waiter !== undefined) {
      this.waiters.delete(ack.seq);
      if (this.waiters.size === 0 && this.sweepTimer !== null) { clearTimeout(this.sweepTimer); this.sweepTimer = null; this.sweepAt = Infinity; }
      waiter.resolve({ seq: ack.seq, rejectReason, affected });
    }
  }

  private accepted(instrumentId: number, w: Float64Array, o: number, seq: number, ts: number): void {
    const id = w[o + 3]!;
    const extra = this.submitted.get(id);
    const cid = w[o + 5]!;
    const type = w[o + 7]!;
    const rec: OrderRecord = {
      id, account: w[o + 4]!, instrumentId, clientOrderId: extra !== undefined ? extra.clientOrderId : cid !== 0 ? String(cid) : null,
      side: w[o + 6]!, orderType: type, effectiveType: type, tif: w[o + 8]!, flags: w[o + 12]!, priceTicks: w[o + 9]!,
      stopPriceTicks: extra?.stopPriceTicks ?? 0, qtyLots: w[o + 10]!, quoteQtyUnits: w[o + 11]!, expireTsUs: w[o + 13]!,
      filledLots: 0, remainingLots: w[o + 10]!, filledNotionalUnits: 0, feeUnits: 0, status: type >= TYPE_STOP ? 'pending_trigger' : 'new',
      triggered: false, rejectReason: 0, endReason: 0, createdUs: ts, updatedUs: ts, lastSeq: seq,
    };
    this.addOrder(rec);
    this.touched.push(rec);
  }

  private rejectedNew(instrumentId: number, w: Float64Array, o: number, seq: number, ts: number): void {
    const id = w[o + 3]!;
    const extra = this.submitted.get(id);
    if (extra === undefined) return; // only REST orders are kept as rejected orders (we know their fields)
    const rec: OrderRecord = {
      id, account: w[o + 4]!, instrumentId, clientOrderId: extra.clientOrderId, side: 0, orderType: 0, effectiveType: 0, tif: 0, flags: 0,
      priceTicks: 0, stopPriceTicks: extra.stopPriceTicks, qtyLots: 0, quoteQtyUnits: 0, expireTsUs: 0, filledLots: 0, remainingLots: 0,
      filledNotionalUnits: 0, feeUnits: 0, status: 'rejected', triggered: false, rejectReason: w[o + 6]!, endReason: 0,
      createdUs: ts, updatedUs: ts, lastSeq: seq,
    };
    this.addOrder(rec);
    this.retire(rec.id);
  }

  private trade(b: BookMirror, w: Float64Array, o: number, seq: number, ts: number): void {
    const tradeId = w[o + 3]!, px = w[o + 4]!, qty = w[o + 5]!, notional = w[o + 15]!;
    b.lastPx = px; b.lastQty = qty; b.volumeLots += qty; b.quoteVolumeUnits += notional; b.tradeCount++;
    b.trades.push({ tradeId, priceTicks: px, qtyLots: qty, takerSide: w[o + 10]!, tsUs: ts, seq });
    if (b.trades.length > this.o.maxMarketTrades * 2) b.trades.splice(0, b.trades.length - this.o.maxMarketTrades);
    this.o.onTrade?.(b.spec, ts, px, qty, notional);
    const takerSide = w[o + 10]!;
    this.fill(b, w[o + 6]!, w[o + 7]!, 1 - takerSide, 'maker', tradeId, px, qty, notional, w[o + 11]!, w[o + 13]!, seq, ts);
    this.fill(b, w[o + 8]!, w[o + 9]!, takerSide, 'taker', tradeId, px, qty, notional, w[o + 12]!, w[o + 14]!, seq, ts);
  }

  private fill(b: BookMirror, orderId: number, account: number, side: number, liquidity: 'maker' | 'taker', tradeId: number,
    px: number, qty: number, notional: number, fee: number, remaining: number, seq: number, ts: number): void {
    const rec = this.orders.get(orderId);
    if (rec !== undefined) {
      rec.filledLots += qty; rec.filledNotionalUnits += notional; rec.feeUnits += fee;
      if ((rec.flags & FLAG_QUOTE_QTY) === 0) rec.remainingLots = remaining;
      if (rec.remainingLots === 0 && (rec.flags & FLAG_QUOTE_QTY) === 0 && (rec.flags & FLAG_CHILD) === 0) this.end(rec, 'filled', seq, ts);
      else { rec.status = this.liveStatus(rec); this.touch(rec, seq, ts); }
    }
    let list = this.tradesByAccount.get(account);
    if (list === undefined) { list = []; this.tradesByAccount.set(account, list); }
    list.push({
      id: `${b.spec.id}-${tradeId}`, fillNo: ++this.fillNo, instrumentId: b.spec.id, tradeId, account, orderId, side, liquidity,
      priceTicks: px, qtyLots: qty, notionalUnits: notional, feeUnits: fee, tsUs: ts, seq,
    });
    if (list.length > this.o.maxTradesPerAccount * 1.25) list.splice(0, list.length - this.o.maxTradesPerAccount);
    this.applyPosition(account, b.spec.id, side, qty, notional, fee);
  }

  /** Average-cost position keeping; realized PnL in quote units (rounded to whole units). */
  private applyPosition(account: number, instrumentId: number, side: number, qty: number, notional: number, fee: number): void {
    const p = this.position(account, instrumentId);
    p.feeUnits += fee;
    const signed = side === 0 ? qty : -qty;
    const pos = p.qtyLots;
    if (pos === 0 || Math.sign(pos) === Math.sign(signed)) {
      if (p.costUnits !== null) p.costUnits += side === 0 ? notional : -notional;
      p.qtyLots = pos + signed;
      return;
    }
    const closing = Math.min(qty, Math.abs(pos));
    const closeNotional = Math.round((notional * closing) / qty);
    if (p.costUnits !== null) {
      const basis = Math.round((p.costUnits * closing) / Math.abs(pos));
      // long closed by a sell: proceeds - basis; short closed by a buy: basis (negative) + ... = -(cost) - paid
      p.realizedUnits += pos > 0 ? closeNotional - basis : -basis - closeNotional;
      p.costUnits -= basis;
    } else {
      p.partialHistory = true;
    }
    p.qtyLots = pos + signed;
    if (p.qtyLots === 0) p.costUnits = 0;
    const opening = qty - closing;
    if (opening > 0) {
      p.costUnits = (p.costUnits ?? 0) + (side === 0 ? 1 : -1) * (notional - closeNotional);
    }
  }

  position(account: number, instrumentId: number): Position {
    const k = key(account, instrumentId);
    let p = this.positions.get(k);
    if (p === undefined) {
      p = { account, instrumentId, qtyLots: 0, costUnits: 0, realizedUnits: 0, feeUnits: 0, partialHistory: false };
      this.positions.set(k, p);
    }
    return p;
  }

  limitsOf(account: number, instrumentId: number): AccountLimits {
    const k = key(account, instrumentId);
    let l = this.limits.get(k);
    if (l === undefined) { l = { maxPositionLots: 0, maxOpenOrders: 0, killSwitch: false }; this.limits.set(k, l); }
    return l;
  }

  private riskReject(instrumentId: number, account: number, reason: number, seq: number, ts: number): void {
    // Rejections that are risk decisions: position limit, open-order limit, kill switch, band.
    if (reason !== 17 && reason !== 16 && reason !== 20 && reason !== 15) return;
    const names: Record<number, string> = { 15: 'price_outside_band', 16: 'too_many_open_orders', 17: 'position_limit_exceeded', 20: 'account_killed' };
    this.pushRisk({ tsUs: ts, seq, account, instrumentId, kind: names[reason]!, detail: 'order rejected by the engine\'s risk check' });
  }

  private pushRisk(e: RiskEvent): void {
    this.riskEvents.push(e);
    if (this.riskEvents.length > 20_000) this.riskEvents.splice(0, 10_000);
  }

  // ------------------------------------------------------------------------------ order bookkeeping

  private addOrder(rec: OrderRecord): void {
    if (this.orders.has(rec.id)) return;
    this.orders.set(rec.id, rec);
    let ids = this.ordersByAccount.get(rec.account);
    if (ids === undefined) { ids = []; this.ordersByAccount.set(rec.account, ids); }
    if (ids.length === 0 || ids[ids.length - 1]! < rec.id) ids.push(rec.id);
    else { ids.splice(lowerBound(ids, rec.id), 0, rec.id); }
  }

  private liveStatus(rec: OrderRecord): OrderStatus {
    if (rec.filledLots > 0) return 'partially_filled';
    return rec.orderType >= TYPE_STOP && !rec.triggered ? 'pending_trigger' : 'new';
  }

  private touch(rec: OrderRecord, seq: number, ts: number): void {
    rec.updatedUs = ts; rec.lastSeq = seq;
    this.touched.push(rec);
  }

  private end(rec: OrderRecord, status: OrderStatus, seq: number, ts: number): void {
    if (!LIVE_STATUSES.has(rec.status)) return;
    rec.status = status;
    rec.updatedUs = ts; rec.lastSeq = seq;
    this.retire(rec.id);
  }

  /** Orders that cannot rest are over at the end of their command (market remainders end without an event when filled). */
  private finishTouched(): void {
    for (const rec of this.touched) {
      if (!LIVE_STATUSES.has(rec.status)) continue;
      const cannotRest = rec.effectiveType === TYPE_MARKET || (rec.orderType < TYPE_STOP || rec.triggered) && (rec.tif === TIF_IOC || rec.tif === TIF_FOK);
      if (!cannotRest || rec.status === 'pending_trigger') continue;
      rec.remainingLots = 0;
      this.end(rec, rec.filledLots > 0 ? 'filled' : 'expired', rec.lastSeq, rec.updatedUs);
    }
    this.touched.length = 0;
  }

  private retire(id: number): void {
    this.terminated.push(id);
    const live = this.terminated.length - this.terminatedHead;
    if (live > this.o.maxTerminatedOrders) {
      const drop = this.terminated[this.terminatedHead++]!;
      this.orders.delete(drop);
      if (this.terminatedHead > 65536) { this.terminated.splice(0, this.terminatedHead); this.terminatedHead = 0; }
    }
  }

  /** Order ids of `account`, newest first, below `beforeId` (0 = from the newest). */
  *orderIdsDesc(account: number, beforeId: number): Generator<number> {
    const ids = this.ordersByAccount.get(account);
    if (ids === undefined) return;
    let i = beforeId > 0 ? lowerBound(ids, beforeId) - 1 : ids.length - 1;
    for (; i >= 0; i--) yield ids[i]!;
  }

  /** Open orders of an account (any book). */
  openOrders(account: number): OrderRecord[] {
    const out: OrderRecord[] = [];
    for (const id of this.orderIdsDesc(account, 0)) {
      const r = this.orders.get(id);
      if (r !== undefined && LIVE_STATUSES.has(r.status)) out.push(r);
    }
    return out;
  }

  private refreshTop(b: BookMirror): void {
    let bp = 0, bq = 0, ap = 0, aq = 0;
    for (const [px, [q]] of b.bids) if (px > bp) { bp = px; bq = q; }
    for (const [px, [q]] of b.asks) if (ap === 0 || px < ap) { ap = px; aq = q; }
    b.bidPx = bp; b.bidQty = bq; b.askPx = ap; b.askQty = aq;
  }

  /** Best `depth` levels of a side as [price, qty, count], best first. */
  levels(b: BookMirror, side: number, depth: number): [number, number, number][] {
    const m = side === 0 ? b.bids : b.asks;
    const px = [...m.keys()].sort((x, y) => (side === 0 ? y - x : x - y)).slice(0, depth);
    return px.map((p) => [p, m.get(p)![0], m.get(p)![1]]);
  }
}

function key(account: number, instrumentId: number): string {
  return `${account}:${instrumentId}`;
}

function lowerBound(a: number[], v: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) { const mid = (lo + hi) >>> 1; if (a[mid]! < v) lo = mid + 1; else hi = mid; }
  return lo;
}
