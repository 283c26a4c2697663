// Execution reports: turns the engine's acknowledged events into binary reports (gateway/protocol.ts)
// for the sessions of each event's account, and keeps what the core events leave out.
//
// - Per live order (an order tracker, struct of arrays, no object per order): the client order id
//   (core Canceled/Expired/Trade/... carry only the order id), side, cumulative filled quantity
//   (each Trade becomes two ExecFills, maker and taker, each with its own fee, leaves and cum),
//   the effective type and time in force (to know when an order is over), bracket links.
// - Mass cancels: the core's AdminDone carries no request id, and a MassCancel for "every
//   instrument" is one command per book: parts are matched by seq and answered with one
//   MassCancelDone (sum of the counts, seq of the last part) or one ExecRejected.
// - Gateway rejects (ledger refusals, Busy, permissions) have no seq; to keep a session's answers
//   in request order they wait until every command the session had sequenced before is acked.
//
// Reports are only produced from Acks, which the engine releases once the command is durable, so a
// client never sees a report for something a crash could undo.

import { EVR_INSTRUMENT, EVR_TYPE_DONE } from '../core/command-codec.js';
import { CommandType, EventType, OrderFlags, OrderType, TimeInForce } from '../core/types.js';
import { ORDER_FIELDS } from '../core/book.js';
import type { Ack } from './engine.js';
import { Liquidity, MsgType, ReportEncoder } from './protocol.js';
import type { Session } from './sessions.js';

const NIL = -1;

/** Where reports go. */
export interface ReportSink {
  /** Order sessions of an account (empty when none). */
  sessionsOf(account: number): readonly Session[];
  /** A session's outbox got bytes: flush it this turn. */
  touched(session: Session): void;
}

/** Order and fill updates for the account streams (JSON); `wants` is asked first so that nothing is built for nobody. */
export interface AccountUpdates {
  wants(account: number): boolean;
  order(account: number, u: OrderUpdate): void;
  fill(account: number, f: FillUpdate): void;
}

export type OrderStatus = 'accepted' | 'rejected' | 'canceled' | 'expired' | 'replaced' | 'triggered' | 'activated' | 'decremented' | 'filled' | 'partially_filled';

export interface OrderUpdate {
  status: OrderStatus;
  seq: number;
  tsUs: number;
  orderId: number;
  clientOrderId: number;
  instrumentId: number;
  side: number;
  /** Lots still open (where the event says), filled so far. */
  leavesQtyLots: number;
  cumQtyLots: number;
  /** RejectReason or EndReason, else 0. */
  reason: number;
  priceTicks: number;
  qtyLots: number;
}

export interface FillUpdate {
  seq: number;
  tsUs: number;
  tradeId: number;
  orderId: number;
  clientOrderId: number;
  instrumentId: number;
  side: number;
  liquidity: number;
  priceTicks: number;
  qtyLots: number;
  feeUnits: number;
  notionalUnits: number;
  leavesQtyLots: number;
  cumQtyLots: number;
}

interface MassCancelJob {
  session: Session | null;
  requestId: number;
  instrumentId: number;
  /** Parts sequenced and not yet answered. */
  open: number;
  /** False while the gateway is still submitting parts. */
  submitted: boolean;
  canceled: number;
  lastSeq: number;
  lastTsUs: number;
  /** First RejectReason of a part (engine Rejected or a part that could not be submitted), 0 = none. */
  failReason: number;
}

interface DeferredReject {
  session: Session;
  afterSeq: number;
  orderId: number;
  clientOrderId: number;
  instrumentId: number;
  reason: number;
  commandType: number;
}

/** Live orders as struct of arrays; id -> slot map. */
class OrderTracker {
  private readonly slotOf = new Map<number, number>();
  private cap = 0;
  private free = NIL;
  id = new Float64Array(0);
  account = new Float64Array(0);
  cid = new Float64Array(0);
  cum = new Float64Array(0);
  leaves = new Float64Array(0);
  parent = new Float64Array(0);
  child1 = new Float64Array(0);
  child2 = new Float64Array(0);
  side = new Uint8Array(0);
  type = new Uint8Array(0);
  tif = new Uint8Array(0);
  flags = new Uint8Array(0);
  /** 1 = conditional waiting for its trigger. */
  pending = new Uint8Array(0);
  private next = new Int32Array(0);

  constructor(initial = 1024) { this.grow(initial); }

  get size(): number { return this.slotOf.size; }

  private grow(cap: number): void {
    const f64 = (a: Float64Array): Float64Array<ArrayBuffer> => { const b = new Float64Array(cap); b.set(a); return b; };
    const u8 = (a: Uint8Array): Uint8Array<ArrayBuffer> => { const b = new Uint8Array(cap); b.set(a); return b; };
    this.id = f64(this.id); this.account = f64(this.account); this.cid = f64(this.cid); this.cum = f64(this.cum);
    this.leaves = f64(this.leaves); this.parent = f64(this.parent); this.child1 = f64(this.child1); this.child2 = f64(this.child2);
    this.side = u8(this.side); this.type = u8(this.type); this.tif = u8(this.tif); this.flags = u8(this.flags); this.pending = u8(this.pending);
    const next = new Int32Array(cap); next.set(this.next);
    for (let i = this.cap; i < cap; i++) next[i] = i + 1 < cap ? i + 1 : this.free;
    this.next = next;
    this.free = this.cap;
    this.cap = cap;
  }

  find(orderId: number): number {
    return this.slotOf.get(orderId) ?? NIL;
  }

  add(orderId: number, account: number, cid: number, side: number, type: number, tif: number, flags: number, leaves: number, cum: number, parent: number): number {
    const existing = this.find(orderId);
    if (existing !== NIL) return existing;
    if (this.free === NIL) this.grow(this.cap * 2);
    const s = this.free;
    this.free = this.next[s]!;
    this.id[s] = orderId; this.account[s] = account; this.cid[s] = cid; this.side[s] = side; this.type[s] = type;
    this.tif[s] = tif; this.flags[s] = flags; this.leaves[s] = leaves; this.cum[s] = cum; this.parent[s] = parent;
    this.child1[s] = 0; this.child2[s] = 0;
    this.pending[s] = type >= OrderType.Stop ? 1 : 0;
    this.slotOf.set(orderId, s);
    return s;
  }

  /** Links a child to its parent (both tracked). */
  link(parentId: number, childId: number): void {
    const p = this.find(parentId);
    if (p === NIL) return;
    if (this.child1[p] === 0) this.child1[p] = childId; else if (this.child2[p] === 0) this.child2[p] = childId;
  }

  remove(orderId: number): void {
    const s = this.find(orderId);
    if (s === NIL) return;
    this.slotOf.delete(orderId);
    this.next[s] = this.free;
    this.free = s;
    // Children outlive their entry only while they can still trade.
    const c1 = this.child1[s]!, c2 = this.child2[s]!;
    if (c1 !== 0) this.orphan(c1);
    if (c2 !== 0) this.orphan(c2);
  }

  private orphan(childId: number): void {
    const cs = this.find(childId);
    if (cs === NIL) return;
    this.parent[cs] = 0;
    if (this.leaves[cs] === 0) this.remove(childId);
  }
}

export class ReportRouter {
  readonly orders = new OrderTracker();
  private readonly enc = new ReportEncoder(512);
  private readonly massBySeq = new Map<number, MassCancelJob>();
  /** NewOrder seq -> linkId for bracket children (the Accepted event does not carry the link). */
  private readonly childLinks = new Map<number, number>();
  private readonly deferred: DeferredReject[] = [];
  private deferredHead = 0;
  /** Orders that took liquidity or started in the current ack (checked for being over at its end). */
  private touchedIds: number[] = [];
  lastAckedSeq: number;

  constructor(private readonly sink: ReportSink, lastAckedSeq: number, private readonly accounts: AccountUpdates | null = null) {
    this.lastAckedSeq = lastAckedSeq;
  }

  // ---------------------------------------------------------------------------------- requests

  /** A NewOrder with the Child flag was sequenced at `seq`. */
  noteChild(seq: number, linkId: number): void {
    this.childLinks.set(seq, linkId);
  }

  /** Starts a mass cancel answered to `session` (null: cancel-on-disconnect, nobody to answer). */
  beginMassCancel(session: Session | null, requestId: number, instrumentId: number): MassCancelJob {
    return { session, requestId, instrumentId, open: 0, submitted: false, canceled: 0, lastSeq: 0, lastTsUs: 0, failReason: 0 };
  }

  /** One part of the job was sequenced. */
  massCancelPart(job: MassCancelJob, seq: number): void {
    job.open++;
    this.massBySeq.set(seq, job);
  }

  /** Every part is submitted (or `failReason`: a part could not be). */
  endMassCancel(job: MassCancelJob, failReason: number): void {
    if (failReason !== 0 && job.failReason === 0) job.failReason = failReason;
    job.submitted = true;
    if (job.open === 0) this.finishMassCancel(job);
  }

  /**
   * An ExecRejected from the gateway itself (seq 0): sent once the session's earlier commands are
   * acked, so the session sees its answers in request order.
   */
  gatewayReject(session: Session, orderId: number, clientOrderId: number, instrumentId: number, reason: number, commandType: number): void {
    if (session.lastSubmittedSeq <= this.lastAckedSeq) {
      this.writeReject(session, orderId, clientOrderId, instrumentId, reason, commandType);
      return;
    }
    this.deferred.push({ session, afterSeq: session.lastSubmittedSeq, orderId, clientOrderId, instrumentId, reason, commandType });
  }

  private writeReject(session: Session, orderId: number, clientOrderId: number, instrumentId: number, reason: number, commandType: number): void {
    if (session.closed) return;
    const e = this.enc;
    e.reset();
    e.rejected(0, 0, orderId, clientOrderId, instrumentId, reason, commandType);
    session.append(e.u8, 0, e.length);
    this.sink.touched(session);
  }

  private flushDeferred(ackedSeq: number): void {
    const q = this.deferred;
    while (this.deferredHead < q.length && q[this.deferredHead]!.afterSeq <= ackedSeq) {
      const d = q[this.deferredHead]!;
      q[this.deferredHead] = undefined as unknown as DeferredReject;
      this.deferredHead++;
      this.writeReject(d.session, d.orderId, d.clientOrderId, d.instrumentId, d.reason, d.commandType);
    }
    if (this.deferredHead === q.length) { q.length = 0; this.deferredHead = 0; }
  }

  // ---------------------------------------------------------------------------------- acks

  onAck(ack: Ack): void {
    const w = ack.words;
    for (let r = 0; r < ack.recordCount; r++) {
      const o = ack.recordOffset(r);
      const type = w[o]!;
      if (type === EVR_TYPE_DONE) continue;
      switch (type) {
        case EventType.Accepted: this.accepted(w, o); break;
        case EventType.Rejected: this.rejected(w, o); break;
        case EventType.Trade: this.trade(w, o); break;
        case EventType.Canceled: this.ended(w, o, false); break;
        case EventType.Expired: this.ended(w, o, true); break;
        case EventType.Replaced: this.replaced(w, o); break;
        case EventType.Decremented: this.twoQty(w, o, MsgType.ExecDecremented); break;
        case EventType.Triggered: this.triggered(w, o); break;
        case EventType.Activated: this.twoQty(w, o, MsgType.ExecActivated); break;
        case EventType.SliceRefreshed: this.twoQty(w, o, MsgType.ExecSliceRefreshed); break;
        case EventType.AdminDone: this.adminDone(w, o); break;
        default: break; // Depth, TopOfBook: market data (streams.ts)
      }
    }
    this.sweepTouched();
    this.lastAckedSeq = ack.seq;
    if (this.deferredHead < this.deferred.length) this.flushDeferred(ack.seq);
  }

  /** Sends the encoder's current message to every order session of `account`. */
  private toAccount(account: number): void {
    const list = this.sink.sessionsOf(account);
    const e = this.enc;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (s.closed) continue;
      s.append(e.u8, 0, e.length);
      this.sink.touched(s);
    }
  }

  private accepted(w: Float64Array, o: number): void {
    const orderId = w[o + 3]!, account = w[o + 4]!, cid = w[o + 5]!, side = w[o + 6]!, otype = w[o + 7]!, tif = w[o + 8]!;
    const qty = w[o + 10]!, flags = w[o + 12]!;
    const seq = w[o + 1]!;
    let parent = 0;
    if ((flags & OrderFlags.Child) !== 0) {
      parent = this.childLinks.get(seq) ?? 0;
      this.childLinks.delete(seq);
    }
    this.orders.add(orderId, account, cid, side, otype, tif, flags, (flags & OrderFlags.Child) !== 0 ? 0 : qty, 0, parent);
    if (parent !== 0) this.orders.link(parent, orderId);
    this.touchedIds.push(orderId);
    const e = this.enc;
    e.reset();
    e.accepted(seq, w[o + 2]!, orderId, cid, w[o + EVR_INSTRUMENT]!, side, otype, tif, w[o + 9]!, qty, w[o + 11]!, w[o + 13]!, flags);
    this.toAccount(account);
    if (this.accounts !== null && this.accounts.wants(account)) {
      this.accounts.order(account, this.update('accepted', w, o, orderId, cid, side, qty, 0, 0, w[o + 9]!, qty));
    }
  }

  private rejected(w: Float64Array, o: number): void {
    const seq = w[o + 1]!, commandType = w[o + 7]!;
    if (commandType === CommandType.MassCancel) {
      const job = this.massBySeq.get(seq);
      if (job !== undefined) {
        this.massBySeq.delete(seq);
        if (job.failReason === 0) job.failReason = w[o + 6]!;
        this.partDone(job, seq, w[o + 2]!);
        return;
      }
    }
    if (commandType === CommandType.NewOrder) this.childLinks.delete(seq);
    if (commandType < CommandType.NewOrder || commandType > CommandType.MassCancel) return; // admin commands: not a client's
    const account = w[o + 4]!;
    const e = this.enc;
    e.reset();
    e.rejected(seq, w[o + 2]!, w[o + 3]!, w[o + 5]!, w[o + EVR_INSTRUMENT]!, w[o + 6]!, commandType);
    this.toAccount(account);
    if (this.accounts !== null && this.accounts.wants(account)) {
      this.accounts.order(account, this.update('rejected', w, o, w[o + 3]!, w[o + 5]!, 0, 0, 0, w[o + 6]!, 0, 0));
    }
  }

  private trade(w: Float64Array, o: number): void {
    const seq = w[o + 1]!, ts = w[o + 2]!, tradeId = w[o + 3]!, px = w[o + 4]!, qty = w[o + 5]!;
    const takerSide = w[o + 10]!, notional = w[o + 15]!, instrumentId = w[o + EVR_INSTRUMENT]!;
    this.fillOne(seq, ts, instrumentId, tradeId, px, qty, notional, w[o + 6]!, w[o + 7]!, 1 - takerSide, Liquidity.Maker, w[o + 11]!, w[o + 13]!);
    this.fillOne(seq, ts, instrumentId, tradeId, px, qty, notional, w[o + 8]!, w[o + 9]!, takerSide, Liquidity.Taker, w[o + 12]!, w[o + 14]!);
    this.touchedIds.push(w[o + 8]!);
  }

  private fillOne(seq: number, ts: number, instrumentId: number, tradeId: number, px: number, qty: number, notional: number,
    orderId: number, account: number, side: number, liquidity: number, fee: number, leaves: number): void {
    const t = this.orders;
    const s = t.find(orderId);
    let cid = 0, cum = qty;
    if (s !== NIL) {
      cid = t.cid[s]!;
      cum = t.cum[s]! + qty;
      t.cum[s] = cum;
      t.leaves[s] = leaves;
    }
    const e = this.enc;
    e.reset();
    e.fill(seq, ts, orderId, cid, instrumentId, liquidity, side, tradeId, px, qty, fee, leaves, cum, notional);
    this.toAccount(account);
    if (this.accounts !== null && this.accounts.wants(account)) {
      this.accounts.fill(account, {
        seq, tsUs: ts, tradeId, orderId, clientOrderId: cid, instrumentId, side, liquidity, priceTicks: px, qtyLots: qty,
        feeUnits: fee, notionalUnits: notional, leavesQtyLots: leaves, cumQtyLots: cum,
      });
      this.accounts.order(account, {
        status: leaves === 0 && (s === NIL || (t.flags[s]! & OrderFlags.QuoteQty) === 0) ? 'filled' : 'partially_filled',
        seq, tsUs: ts, orderId, clientOrderId: cid, instrumentId, side, leavesQtyLots: leaves, cumQtyLots: cum, reason: 0, priceTicks: px, qtyLots: qty,
      });
    }
    if (s !== NIL && leaves === 0) {
      const flags = t.flags[s]!;
      if ((flags & OrderFlags.QuoteQty) !== 0) return; // a QuoteQty taker's leaves are always 0: over at the end of the ack
      if ((flags & OrderFlags.Child) !== 0 && t.parent[s] !== 0 && t.find(t.parent[s]!) !== NIL) return; // may grow again
      t.remove(orderId);
    }
  }

  private ended(w: Float64Array, o: number, expired: boolean): void {
    const orderId = w[o + 3]!, account = w[o + 4]!;
    const t = this.orders;
    const s = t.find(orderId);
    const cid = s === NIL ? 0 : t.cid[s]!;
    const side = s === NIL ? 0 : t.side[s]!;
    const e = this.enc;
    e.reset();
    e.ended(expired, w[o + 1]!, w[o + 2]!, orderId, cid, w[o + EVR_INSTRUMENT]!, w[o + 6]!, w[o + 5]!, w[o + 7]!);
    this.toAccount(account);
    if (this.accounts !== null && this.accounts.wants(account)) {
      this.accounts.order(account, this.update(expired ? 'expired' : 'canceled', w, o, orderId, cid, side, 0, w[o + 7]!, w[o + 6]!, 0, 0));
    }
    t.remove(orderId);
  }

  private replaced(w: Float64Array, o: number): void {
    const orderId = w[o + 3]!, account = w[o + 4]!;
    const t = this.orders;
    const s = t.find(orderId);
    const cid = s === NIL ? 0 : t.cid[s]!;
    if (s !== NIL) t.leaves[s] = w[o + 7]!;
    this.touchedIds.push(orderId);
    const e = this.enc;
    e.reset();
    e.replaced(w[o + 1]!, w[o + 2]!, orderId, cid, w[o + EVR_INSTRUMENT]!, w[o + 8]!, w[o + 5]!, w[o + 6]!, w[o + 7]!);
    this.toAccount(account);
    if (this.accounts !== null && this.accounts.wants(account)) {
      this.accounts.order(account, this.update('replaced', w, o, orderId, cid, s === NIL ? 0 : t.side[s]!, w[o + 7]!,
        s === NIL ? 0 : t.cum[s]!, 0, w[o + 5]!, w[o + 6]!));
    }
  }

  private triggered(w: Float64Array, o: number): void {
    const orderId = w[o + 3]!, account = w[o + 4]!;
    const t = this.orders;
    const s = t.find(orderId);
    const cid = s === NIL ? 0 : t.cid[s]!;
    if (s !== NIL) { t.type[s] = w[o + 7]!; t.pending[s] = 0; t.leaves[s] = w[o + 9]!; }
    this.touchedIds.push(orderId);
    const e = this.enc;
    e.reset();
    e.triggered(w[o + 1]!, w[o + 2]!, orderId, cid, w[o + EVR_INSTRUMENT]!, w[o + 7]!, w[o + 5]!, w[o + 6]!, w[o + 8]!, w[o + 9]!);
    this.toAccount(account);
    if (this.accounts !== null && this.accounts.wants(account)) {
      this.accounts.order(account, this.update('triggered', w, o, orderId, cid, s === NIL ? 0 : t.side[s]!, w[o + 9]!,
        s === NIL ? 0 : t.cum[s]!, 0, w[o + 8]!, 0));
    }
  }

  /** Decremented, Activated, SliceRefreshed: the prefix and the two quantities at words 5 and 6. */
  private twoQty(w: Float64Array, o: number, msg: MsgType.ExecDecremented | MsgType.ExecActivated | MsgType.ExecSliceRefreshed): void {
    const orderId = w[o + 3]!, account = w[o + 4]!;
    const t = this.orders;
    const s = t.find(orderId);
    const cid = s === NIL ? 0 : t.cid[s]!;
    if (s !== NIL && msg !== MsgType.ExecSliceRefreshed) t.leaves[s] = w[o + 6]!;
    const e = this.enc;
    e.reset();
    e.twoQty(msg, w[o + 1]!, w[o + 2]!, orderId, cid, w[o + EVR_INSTRUMENT]!, w[o + 5]!, w[o + 6]!);
    this.toAccount(account);
    if (msg !== MsgType.ExecSliceRefreshed && this.accounts !== null && this.accounts.wants(account)) {
      const status: OrderStatus = msg === MsgType.ExecActivated ? 'activated' : 'decremented';
      this.accounts.order(account, this.update(status, w, o, orderId, cid, s === NIL ? 0 : t.side[s]!, w[o + 6]!,
        s === NIL ? 0 : t.cum[s]!, 0, 0, msg === MsgType.ExecActivated ? w[o + 5]! : 0));
    }
  }

  private adminDone(w: Float64Array, o: number): void {
    if (w[o + 3] !== CommandType.MassCancel) return;
    const seq = w[o + 1]!;
    const job = this.massBySeq.get(seq);
    if (job === undefined) return;
    this.massBySeq.delete(seq);
    job.canceled += w[o + 7]!;
    this.partDone(job, seq, w[o + 2]!);
  }

  private partDone(job: MassCancelJob, seq: number, tsUs: number): void {
    job.open--;
    if (seq > job.lastSeq) { job.lastSeq = seq; job.lastTsUs = tsUs; }
    if (job.open === 0 && job.submitted) this.finishMassCancel(job);
  }

  private finishMassCancel(job: MassCancelJob): void {
    const s = job.session;
    if (s === null || s.closed) return;
    const e = this.enc;
    e.reset();
    if (job.failReason !== 0) e.rejected(job.lastSeq, job.lastTsUs, 0, job.requestId, job.instrumentId, job.failReason, CommandType.MassCancel);
    else e.massCancelDone(job.lastSeq, job.lastTsUs, job.requestId, job.instrumentId, job.canceled);
    if (job.lastSeq === 0 && job.failReason !== 0) {
      // Nothing was sequenced: an ordinary gateway reject (ordered behind the session's commands).
      this.gatewayReject(s, 0, job.requestId, job.instrumentId, job.failReason, CommandType.MassCancel);
      return;
    }
    s.append(e.u8, 0, e.length);
    this.sink.touched(s);
  }

  /** Orders that cannot outlive the command (market, IOC, FOK once active) are forgotten at the end of the ack. */
  private sweepTouched(): void {
    const ids = this.touchedIds;
    if (ids.length === 0) return;
    const t = this.orders;
    for (let i = 0; i < ids.length; i++) {
      const s = t.find(ids[i]!);
      if (s === NIL || t.pending[s] === 1) continue;
      const tif = t.tif[s]!;
      if (t.type[s] === OrderType.Market || tif === TimeInForce.IOC || tif === TimeInForce.FOK) t.remove(ids[i]!);
    }
    ids.length = 0;
  }

  private update(status: OrderStatus, w: Float64Array, o: number, orderId: number, cid: number, side: number, leaves: number, cum: number,
    reason: number, priceTicks: number, qtyLots: number): OrderUpdate {
    return {
      status, seq: w[o + 1]!, tsUs: w[o + 2]!, orderId, clientOrderId: cid, instrumentId: w[o + EVR_INSTRUMENT]!, side,
      leavesQtyLots: leaves, cumQtyLots: cum, reason, priceTicks, qtyLots,
    };
  }

  // ---------------------------------------------------------------------------------- restart

  /**
   * Seeds the tracker from a book's canonical state dump (v2, docs/matching-semantics.md): the
   * orders that were open when the gateway started (after a restart), with their client ids and
   * filled quantities.
   */
  seedFromDump(dump: ArrayLike<number>): number {
    const F = ORDER_FIELDS;
    let p = 5;
    let n = 0;
    const readOrders = (onBook: boolean): void => {
      const count = dump[p++]!;
      for (let k = 0; k < count; k++, p += F) {
        const id = dump[p]!, account = dump[p + 1]!, cid = dump[p + 2]!, side = dump[p + 3]!, otype = dump[p + 4]!;
        const rem = dump[p + 7]!, filled = dump[p + 8]!, tif = dump[p + 9]!, flags = dump[p + 10]!, parent = dump[p + 21]!;
        const s = this.orders.add(id, account, cid, side, onBook ? OrderType.Limit : otype, tif, flags, rem, filled, parent);
        if (onBook) this.orders.pending[s] = 0;
        n++;
      }
    };
    readOrders(true);
    readOrders(true);
    readOrders(false);
    // Children after every order is known.
    p = 5;
    const links = (): void => {
      const count = dump[p++]!;
      for (let k = 0; k < count; k++, p += F) if (dump[p + 21] !== 0) this.orders.link(dump[p + 21]!, dump[p]!);
    };
    links(); links(); links();
    return n;
  }
}

export type { MassCancelJob };
