// The REST read model: per-order state, own trades, positions, account limits and a market-data
// mirror (L2 book, top of book, last trades), all fed by the engine's acks (durable, in seq order),
// like gateway/reports.ts feeds the binary reports. Seeded at start from the books' latest snapshot
// (open orders, levels, positions, account limits), so orders from before a restart are known.
// Orders that ended before the restart can be replayed back from the journal on demand
// (restoreEnded, used by the idempotent retries of orders.ts). What it does not know: past trades and
// the cost basis of positions opened before the gateway started (PostgreSQL history: history.ts).

import { CMD_WORDS, CW_CLIENT_TEXT, CW_INSTRUMENT, CW_SEQ, CW_TYPE, EVR_TYPE_DONE, decodeCommand, unpackClientText } from '../../core/command-codec.js';
import { EventBuffer } from '../../core/events.js';
import { OrderBook, ORDER_FIELDS } from '../../core/book.js';
import type { InstrumentSpec } from '../../core/instrument.js';
import { Command, CommandType, EVENT_WORDS, EventType } from '../../core/types.js';
import { latestSnapshot, readJournalChunks } from '../../persistence/journal.js';
import { JournalReplayer } from '../../persistence/pg/engine-source.js';
import { decodeSnapshot, findSnapshotSet } from '../../persistence/snapshot-blob.js';
import type { Ack } from '../engine.js';
import type { LedgerOptions } from '../ledger.js';
import {
  FillStore, IdList, isLiveStatus, KeyedSlots, NumberQueue, MarketTradeList, OrderTable, ORDER_STRIDE, O_ACCOUNT, O_CID, O_CREATED, O_EFF_TYPE, O_END, O_EXPIRE, O_FEE, O_FILLED,
  O_FILLED_NOTIONAL, O_FLAGS, O_ID, O_INSTRUMENT, O_LAST_SEQ, O_PRICE, O_QTY, O_QUOTE_QTY, O_REJECT, O_REMAINING, O_SIDE, O_STATUS, O_STOP, O_TIF,
  O_TRIGGERED, O_TYPE, O_UPDATED, O_DISPLAY, O_TRAIL, O_LIMIT_OFFSET, O_LINK, O_STP_MODE, O_STP_GROUP, ST_CANCELED, ST_EXPIRED, ST_FILLED, ST_NEW, ST_PARTIAL, ST_PENDING, ST_REJECTED,
} from './read-tables.js';

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
  /** Iceberg display quantity (0 = none or not known: binary orders carry it only after a restart, PostgreSQL never). */
  displayQtyLots: number;
  /** Trailing offset in ticks, or in basis points with flag 16 (0 = none or not known). */
  trailOffset: number;
  /** trailing_stop_limit: limit offset in ticks (0 = none or not known). */
  limitOffsetTicks: number;
  /** The other OCO leg, or with flag 32 the bracket's parent order (0 = none or not known). */
  linkId: number;
  /** STP mode and group it was entered with (0 = none or not known). */
  stpMode: number;
  stpGroup: number;
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
  /**
   * Price -> [qty, count] per side. A level that empties stays as [0, 0] (skipped by every reader)
   * until `emptyLevels` passes EMPTY_LEVELS_KEPT: a level that comes and goes with each order then
   * costs no Map delete and set each time (the Map's tables were reallocated and promoted).
   */
  bids: Map<number, [number, number]>;
  asks: Map<number, [number, number]>;
  emptyLevels: number;
  bidPx: number; bidQty: number; askPx: number; askQty: number;
  lastPx: number; lastQty: number;
  /** Volume and trade count since the gateway started. */
  volumeLots: number; quoteVolumeUnits: number; tradeCount: number;
  engineSeq: number;
  /** Recent public trades (read-tables.ts), oldest first. */
  trades: MarketTradeList;
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
  /** Orders by id (read-tables.ts: rows of numbers; `get` builds a record). */
  readonly orders = new OrderTable();
  /** account -> order ids in ascending order (may hold evicted ids: skip them). */
  private readonly ordersByAccount = new Map<number, IdList>();
  /** Ids dropped from `orders` since the account lists were last cleaned of them. */
  private staleIds = 0;
  /** Terminated order ids, oldest first (the oldest are dropped past maxTerminatedOrders). */
  private terminated = new NumberQueue();
  /** Each account's fills, oldest first (read-tables.ts). */
  readonly tradesByAccount: FillStore;
  private fillNo = 0;
  readonly books = new Map<number, BookMirror>();
  readonly bySymbol = new Map<string, BookMirror>();
  readonly positions = new Map<string, Position>();
  /** The same Position objects by account, then instrument (no key string per fill). */
  private readonly positionsByAccount = new Map<number, Map<number, Position>>();
  readonly limits = new Map<string, AccountLimits>();
  readonly riskEvents: RiskEvent[] = [];
  /** By the NewOrder's seq: the REST command (its client text and the fields the events do not carry). */
  private readonly submitted = new KeyedSlots<Command>();
  /** By seq: who waits for the ack (value) and until when (number, performance.now() ms). */
  private readonly waiters = new KeyedSlots<(o: AckOutcome | null) => void>();
  /** Rows of the orders the current ack touched. */
  private readonly touched: number[] = [];
  /** Rows of orders dropped during the current ack, reused only once it is done. */
  private readonly dropped: number[] = [];
  lastSeq = 0;
  private readonly o: Required<Omit<ReadModelOptions, 'onTrade'>> & Pick<ReadModelOptions, 'onTrade'>;

  constructor(readonly instruments: readonly InstrumentSpec[], options: ReadModelOptions = {}) {
    this.o = { maxTerminatedOrders: 200_000, maxTradesPerAccount: 100_000, maxMarketTrades: 1000, ...options };
    this.tradesByAccount = new FillStore(this.o.maxTradesPerAccount);
    for (const spec of instruments) {
      const b: BookMirror = {
        spec, bids: new Map(), asks: new Map(), emptyLevels: 0, bidPx: 0, bidQty: 0, askPx: 0, askQty: 0, lastPx: 0, lastQty: 0,
        volumeLots: 0, quoteVolumeUnits: 0, tradeCount: 0, engineSeq: 0, trades: new MarketTradeList(this.o.maxMarketTrades),
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
        const s = this.addOrder(id, d[p + 1]!);
        if (s < 0) continue;
        const w = this.orders.w, o = s * ORDER_STRIDE;
        w[o + O_INSTRUMENT] = instrumentId; w[o + O_CID] = d[p + 2]!; w[o + O_SIDE] = d[p + 3]!;
        w[o + O_TYPE] = type; w[o + O_EFF_TYPE] = part < 2 && type >= TYPE_STOP ? 0 : type; w[o + O_TIF] = d[p + 9]!; w[o + O_FLAGS] = d[p + 10]!;
        w[o + O_PRICE] = d[p + 5]!; w[o + O_STOP] = d[p + 14]!; w[o + O_QTY] = d[p + 6]!; w[o + O_EXPIRE] = d[p + 13]!;
        w[o + O_FILLED] = d[p + 8]!; w[o + O_REMAINING] = d[p + 7]!; w[o + O_TRIGGERED] = part < 2 && type >= TYPE_STOP ? 1 : 0;
        w[o + O_STP_MODE] = d[p + 11]!; w[o + O_STP_GROUP] = d[p + 12]!; w[o + O_DISPLAY] = d[p + 15]!; w[o + O_TRAIL] = d[p + 17]!;
        w[o + O_LIMIT_OFFSET] = d[p + 18]!; w[o + O_LINK] = d[p + 21]! !== 0 ? d[p + 21]! : d[p + 20]!;
        w[o + O_STATUS] = this.liveStatus(o);
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

  /**
   * A REST NewOrder was sequenced at `seq`: remembers what the events will not carry (its client
   * text, stop price, offsets, links, STP; and for a rejected order everything that was asked).
   * The command object is kept until the ack (the request holds it until then anyway).
   */
  noteSubmitted(seq: number, cmd: Command): void {
    this.submitted.set(seq, cmd, 0);
  }

  /** Sets the client text of an order held (a seeded order whose text the journal had). False when not held. */
  setClientText(id: number, text: string): boolean {
    const s = this.orders.slot(id);
    if (s < 0) return false;
    this.orders.setClientOrderId(s, text);
    return true;
  }

  /** Resolves once the command at `seq` is acked (durable). */
  waitFor(seq: number, timeoutMs: number): Promise<AckOutcome | null> {
    if (seq <= this.lastSeq) return Promise.resolve(null);
    return new Promise((resolve) => {
      const deadline = performance.now() + timeoutMs;
      this.waiters.set(seq, resolve, deadline);
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
    const w = this.waiters;
    for (let s = 0; s < w.slotCount; s++) {
      const seq = w.keyAt(s);
      if (Number.isNaN(seq)) continue;
      const deadline = w.num(s);
      if (deadline <= now) { const resolve = w.value(s); w.delete(seq); resolve(null); } else if (deadline < next) next = deadline;
    }
    if (next !== Infinity) this.scheduleSweep(next);
  };

  // ------------------------------------------------------------------------------ acks

  onAck(ack: AckView): void {
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
          const s = this.orders.slot(w[o + 3]!);
          if (s >= 0) {
            const t = this.orders.w, q = s * ORDER_STRIDE;
            t[q + O_REMAINING] = 0; t[q + O_END] = w[o + 6]!; t[q + O_FILLED] = Math.max(t[q + O_FILLED]!, w[o + 7]!);
            this.end(s, type === EventType.Canceled ? ST_CANCELED : ST_EXPIRED, seq, ts);
          }
          break;
        }
        case EventType.Replaced: {
          const s = this.orders.slot(w[o + 3]!);
          if (s >= 0) {
            const t = this.orders.w, q = s * ORDER_STRIDE;
            t[q + O_PRICE] = w[o + 5]!; t[q + O_QTY] = w[o + 6]!; t[q + O_REMAINING] = w[o + 7]!; this.touch(s, seq, ts);
          }
          break;
        }
        case EventType.Decremented: {
          const s = this.orders.slot(w[o + 3]!);
          if (s >= 0) { this.orders.w[s * ORDER_STRIDE + O_REMAINING] = w[o + 6]!; this.touch(s, seq, ts); }
          break;
        }
        case EventType.Triggered: {
          const s = this.orders.slot(w[o + 3]!);
          if (s >= 0) {
            const t = this.orders.w, q = s * ORDER_STRIDE;
            t[q + O_TRIGGERED] = 1; t[q + O_STOP] = w[o + 5]!; t[q + O_EFF_TYPE] = w[o + 7]!;
            if (w[o + 8]! > 0) t[q + O_PRICE] = w[o + 8]!;
            t[q + O_REMAINING] = w[o + 9]!;
            t[q + O_STATUS] = this.liveStatus(q);
            this.touch(s, seq, ts);
          }
          break;
        }
        case EventType.Activated: {
          const s = this.orders.slot(w[o + 3]!);
          if (s >= 0) {
            const t = this.orders.w, q = s * ORDER_STRIDE;
            t[q + O_QTY] = w[o + 5]!; t[q + O_REMAINING] = w[o + 6]!; this.touch(s, seq, ts);
          }
          break;
        }
        case EventType.Depth: {
          const m = w[o + 3] === 0 ? b.bids : b.asks;
          const px = w[o + 4]!, qty = w[o + 5]!, count = w[o + 6]!;
          // The level's pair is updated in place (levels() copies what it answers); an emptied one is kept a while.
          const l = m.get(px);
          const empty = qty === 0 && count === 0;
          if (l !== undefined) {
            const wasEmpty = l[0] === 0 && l[1] === 0;
            l[0] = qty; l[1] = count;
            if (empty && !wasEmpty && ++b.emptyLevels > EMPTY_LEVELS_KEPT) this.dropEmptyLevels(b);
            else if (!empty && wasEmpty) b.emptyLevels--;
          } else if (!empty) m.set(px, [qty, count]);
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
    this.orders.releaseDeferred(this.dropped);
    this.lastSeq = ack.seq;
    this.submitted.delete(ack.seq);
    const ws = this.waiters.slot(ack.seq);
    if (ws >= 0) {
      const resolve = this.waiters.value(ws);
      this.waiters.delete(ack.seq);
      if (this.waiters.size === 0 && this.sweepTimer !== null) { clearTimeout(this.sweepTimer); this.sweepTimer = null; this.sweepAt = Infinity; }
      resolve({ seq: ack.seq, rejectReason, affected });
    }
  }

  private accepted(instrumentId: number, w: Float64Array, o: number, seq: number, ts: number): void {
    const id = w[o + 3]!;
    const extra = this.submitted.slot(id);
    const type = w[o + 7]!;
    const s = this.addOrder(id, w[o + 4]!);
    if (s < 0) return;
    const t = this.orders.w, q = s * ORDER_STRIDE;
    // The REST client's string id when it came through REST, else the engine's integer.
    const cmd = extra >= 0 ? this.submitted.value(extra) : null;
    if (cmd !== null && cmd.clientText !== null) this.orders.setClientOrderId(s, cmd.clientText); else t[q + O_CID] = w[o + 5]!;
    t[q + O_INSTRUMENT] = instrumentId; t[q + O_SIDE] = w[o + 6]!; t[q + O_TYPE] = type; t[q + O_EFF_TYPE] = type; t[q + O_TIF] = w[o + 8]!;
    t[q + O_FLAGS] = w[o + 12]!; t[q + O_PRICE] = w[o + 9]!; t[q + O_QTY] = w[o + 10]!;
    if (cmd !== null) {
      this.extrasOf(t, q, cmd);
      // An OCO leg names the other; the other then names it too (as the books' snapshot has it).
      const other = cmd.linkId > 0 && (cmd.flags & FLAG_CHILD) === 0 ? this.orders.slot(cmd.linkId) : -1;
      if (other >= 0 && t[other * ORDER_STRIDE + O_LINK] === 0) t[other * ORDER_STRIDE + O_LINK] = id;
    }
    t[q + O_QUOTE_QTY] = w[o + 11]!; t[q + O_EXPIRE] = w[o + 13]!; t[q + O_REMAINING] = w[o + 10]!;
    t[q + O_STATUS] = type >= TYPE_STOP ? ST_PENDING : ST_NEW;
    t[q + O_CREATED] = ts; t[q + O_UPDATED] = ts; t[q + O_LAST_SEQ] = seq;
    this.touched.push(s);
  }

  private rejectedNew(instrumentId: number, w: Float64Array, o: number, seq: number, ts: number): void {
    const id = w[o + 3]!;
    const extra = this.submitted.slot(id);
    if (extra < 0) return; // only REST orders are kept as rejected orders (we know their fields)
    const s = this.addOrder(id, w[o + 4]!);
    if (s >= 0) {
      const t = this.orders.w, q = s * ORDER_STRIDE;
      const cmd = this.submitted.value(extra);
      this.orders.setClientOrderId(s, cmd.clientText);
      // What was asked (the answer lists it as it was sent; nothing of it rests or was filled).
      t[q + O_SIDE] = cmd.side; t[q + O_TYPE] = cmd.orderType; t[q + O_EFF_TYPE] = cmd.orderType; t[q + O_TIF] = cmd.tif;
      t[q + O_FLAGS] = cmd.flags; t[q + O_PRICE] = cmd.priceTicks; t[q + O_QTY] = cmd.qtyLots; t[q + O_QUOTE_QTY] = cmd.quoteQtyUnits;
      t[q + O_EXPIRE] = cmd.expireTsUs;
      this.extrasOf(t, q, cmd);
      t[q + O_INSTRUMENT] = instrumentId; t[q + O_STATUS] = ST_REJECTED; t[q + O_REJECT] = w[o + 6]!;
      t[q + O_CREATED] = ts; t[q + O_UPDATED] = ts; t[q + O_LAST_SEQ] = seq;
    }
    this.retire(id);
  }

  /** The fields of a REST command that the Accepted event does not carry, into row offset `q`. */
  private extrasOf(t: Float64Array, q: number, cmd: Command): void {
    t[q + O_STOP] = cmd.stopPriceTicks; t[q + O_DISPLAY] = cmd.displayQtyLots; t[q + O_TRAIL] = cmd.trailOffset;
    t[q + O_LIMIT_OFFSET] = cmd.limitOffsetTicks; t[q + O_LINK] = cmd.linkId; t[q + O_STP_MODE] = cmd.stpMode; t[q + O_STP_GROUP] = cmd.stpGroup;
  }

  private trade(b: BookMirror, w: Float64Array, o: number, seq: number, ts: number): void {
    const tradeId = w[o + 3]!, px = w[o + 4]!, qty = w[o + 5]!, notional = w[o + 15]!;
    b.lastPx = px; b.lastQty = qty; b.volumeLots += qty; b.quoteVolumeUnits += notional; b.tradeCount++;
    b.trades.push(tradeId, px, qty, w[o + 10]!, ts, seq);
    this.o.onTrade?.(b.spec, ts, px, qty, notional);
    const takerSide = w[o + 10]!;
    this.fill(b, w[o + 6]!, w[o + 7]!, 1 - takerSide, 'maker', tradeId, px, qty, notional, w[o + 11]!, w[o + 13]!, seq, ts);
    this.fill(b, w[o + 8]!, w[o + 9]!, takerSide, 'taker', tradeId, px, qty, notional, w[o + 12]!, w[o + 14]!, seq, ts);
  }

  private fill(b: BookMirror, orderId: number, account: number, side: number, liquidity: 'maker' | 'taker', tradeId: number,
    px: number, qty: number, notional: number, fee: number, remaining: number, seq: number, ts: number): void {
    const s = this.orders.slot(orderId);
    if (s >= 0) {
      const t = this.orders.w, q = s * ORDER_STRIDE;
      t[q + O_FILLED] += qty; t[q + O_FILLED_NOTIONAL] += notional; t[q + O_FEE] += fee;
      const flags = t[q + O_FLAGS]!;
      if ((flags & FLAG_QUOTE_QTY) === 0) t[q + O_REMAINING] = remaining;
      if (t[q + O_REMAINING] === 0 && (flags & FLAG_QUOTE_QTY) === 0 && (flags & FLAG_CHILD) === 0) this.end(s, ST_FILLED, seq, ts);
      else { t[q + O_STATUS] = this.liveStatus(q); this.touch(s, seq, ts); }
    }
    this.tradesByAccount.of(account).push(++this.fillNo, b.spec.id, tradeId, account, orderId, side, liquidity === 'taker', px, qty, notional, fee, ts, seq);
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
    let byInstrument = this.positionsByAccount.get(account);
    if (byInstrument === undefined) { byInstrument = new Map(); this.positionsByAccount.set(account, byInstrument); }
    let p = byInstrument.get(instrumentId);
    if (p === undefined) {
      p = { account, instrumentId, qtyLots: 0, costUnits: 0, realizedUnits: 0, feeUnits: 0, partialHistory: false };
      this.positions.set(key(account, instrumentId), p);
      byInstrument.set(instrumentId, p);
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

  /** A new row for order `id` of `account` (listed under the account), or -1 when the id is already held. */
  private addOrder(id: number, account: number): number {
    const s = this.orders.add(id);
    if (s < 0) return -1;
    this.orders.w[s * ORDER_STRIDE + O_ACCOUNT] = account;
    let ids = this.ordersByAccount.get(account);
    if (ids === undefined) { ids = new IdList(); this.ordersByAccount.set(account, ids); }
    ids.insert(id);
    return s;
  }

  /** Status of a live order at row offset `q`. */
  private liveStatus(q: number): number {
    const t = this.orders.w;
    if (t[q + O_FILLED]! > 0) return ST_PARTIAL;
    return t[q + O_TYPE]! >= TYPE_STOP && t[q + O_TRIGGERED] !== 1 ? ST_PENDING : ST_NEW;
  }

  private touch(s: number, seq: number, ts: number): void {
    const t = this.orders.w, q = s * ORDER_STRIDE;
    t[q + O_UPDATED] = ts; t[q + O_LAST_SEQ] = seq;
    this.touched.push(s);
  }

  private end(s: number, status: number, seq: number, ts: number): void {
    const t = this.orders.w, q = s * ORDER_STRIDE;
    if (!isLiveStatus(t[q + O_STATUS]!)) return;
    t[q + O_STATUS] = status;
    t[q + O_UPDATED] = ts; t[q + O_LAST_SEQ] = seq;
    this.retire(t[q + O_ID]!);
  }

  /** Orders that cannot rest are over at the end of their command (market remainders end without an event when filled). */
  private finishTouched(): void {
    const touched = this.touched;
    for (let k = 0; k < touched.length; k++) {
      const s = touched[k]!;
      const t = this.orders.w, q = s * ORDER_STRIDE;
      const st = t[q + O_STATUS]!;
      if (!isLiveStatus(st)) continue;
      const type = t[q + O_TYPE]!, tif = t[q + O_TIF]!;
      const cannotRest = t[q + O_EFF_TYPE] === TYPE_MARKET || (type < TYPE_STOP || t[q + O_TRIGGERED] === 1) && (tif === TIF_IOC || tif === TIF_FOK);
      if (!cannotRest || st === ST_PENDING) continue;
      t[q + O_REMAINING] = 0;
      this.end(s, t[q + O_FILLED]! > 0 ? ST_FILLED : ST_EXPIRED, t[q + O_LAST_SEQ]!, t[q + O_UPDATED]!);
    }
    touched.length = 0;
  }

  private retire(id: number): void {
    this.terminated.push(id);
    if (this.terminated.size > this.o.maxTerminatedOrders) {
      const drop = this.terminated.shift();
      const s = this.orders.slot(drop);
      // The oldest terminated order is usually its account's oldest id: it leaves the list at once.
      // Others stay (readers skip ids no longer held) until there are many.
      const ids = s >= 0 ? this.ordersByAccount.get(this.orders.w[s * ORDER_STRIDE + O_ACCOUNT]!) : undefined;
      this.orders.deleteDeferred(drop, this.dropped);
      if (ids?.dropFirst(drop) === true) {
        // Ids left behind an order that lived long go with it.
        while (this.staleIds > 0 && ids.length > 0 && !this.orders.has(ids.at(0)) && ids.dropFirst(ids.at(0))) this.staleIds--;
      } else if (++this.staleIds > Math.max(65_536, this.orders.size)) {
        for (const l of this.ordersByAccount.values()) l.retain((x) => this.orders.has(x));
        this.staleIds = 0;
      }
    }
  }

  /**
   * Orders that ended in the journal's seqs up to `toSeq` (the seq this model was seeded at), from
   * the newest snapshot set at or before `fromSeq` on: the journal is replayed offline (the
   * replicator's JournalReplayer: books and a ledger restored from that snapshot set) into a scratch
   * model, with each NewOrder's command record standing in for what a REST submitter notes (client
   * text, stop price, offsets, links; what a rejected order asked); the orders it ended with that this
   * model does not hold (ended before the restart) are added to it as the oldest terminated orders.
   * Orders held, fills and positions are left as they are. Resolves with the number added.
   */
  async restoreEnded(journalPath: string, fromSeq: number, toSeq: number, ledger: Partial<LedgerOptions>): Promise<number> {
    const set = findSnapshotSet(journalPath, this.instruments.map((s) => s.id), Math.max(0, fromSeq));
    const start = set === null ? 0 : set.seq;
    const tmp = new ReadModel(this.instruments, { maxTerminatedOrders: this.o.maxTerminatedOrders, maxTradesPerAccount: 1, maxMarketTrades: 1 });
    if (start > 0) tmp.seedFromSnapshots(journalPath, start);
    const replayer = new JournalReplayer(journalPath, this.instruments, ledger);
    const ack: AckView = { seq: 0, instrumentId: 0, recordCount: 0, words: new Float64Array(0), recordOffset: (r) => r * EVENT_WORDS };
    let pos = start;
    while (pos < toSeq) {
      const recs = await replayer.read(pos, toSeq, 20_000);
      if (recs.length === 0) throw new Error(`the journal ends before seq ${toSeq} (replayed up to ${pos})`);
      const last = recs[recs.length - 1]!.seq;
      const cmds = newOrdersOf(journalPath, pos, last);
      for (const r of recs) {
        if (r.kind !== 'events' || r.instrumentId === 0) continue;
        const cmd = cmds.get(r.seq);
        if (cmd !== undefined) tmp.noteSubmitted(r.seq, cmd);
        ack.seq = r.seq; ack.instrumentId = r.instrumentId; ack.words = r.words; ack.recordCount = r.words.length / EVENT_WORDS;
        tmp.onAck(ack);
      }
      pos = last;
    }
    const restored = new NumberQueue();
    const byAccount = new Map<number, number[]>();
    for (const rec of tmp.orders.values()) {
      if (LIVE_STATUSES.has(rec.status) || this.orders.has(rec.id)) continue;
      const s = this.orders.add(rec.id);
      if (s < 0) continue;
      this.orders.write(s, rec);
      restored.push(rec.id);
      let l = byAccount.get(rec.account);
      if (l === undefined) { l = []; byAccount.set(rec.account, l); }
      l.push(rec.id);
    }
    // Each account's id list rebuilt in order (inserting old ids one by one would move the newer ones each time).
    for (const [account, add] of byAccount) {
      const old = this.ordersByAccount.get(account);
      const all = add;
      if (old !== undefined) for (let k = 0; k < old.length; k++) all.push(old.at(k));
      all.sort((x, y) => x - y);
      const ids = new IdList();
      for (const id of all) ids.insert(id);
      this.ordersByAccount.set(account, ids);
    }
    const n = restored.size;
    // Oldest first: the restored orders are dropped before any that ended since the restart.
    while (this.terminated.size > 0) restored.push(this.terminated.shift());
    this.terminated = restored;
    while (this.terminated.size > this.o.maxTerminatedOrders) {
      const drop = this.terminated.shift();
      this.orders.delete(drop);
      this.staleIds++;
    }
    return n;
  }

  /** Order ids of `account`, newest first, below `beforeId` (0 = from the newest). */
  *orderIdsDesc(account: number, beforeId: number): Generator<number> {
    const ids = this.ordersByAccount.get(account);
    if (ids === undefined) return;
    let i = beforeId > 0 ? ids.lowerBound(beforeId) - 1 : ids.length - 1;
    for (; i >= 0; i--) yield ids.at(i);
  }

  /** Open orders of an account (any book). */
  openOrders(account: number): OrderRecord[] {
    const out: OrderRecord[] = [];
    for (const id of this.orderIdsDesc(account, 0)) {
      const s = this.orders.slot(id);
      if (s >= 0 && isLiveStatus(this.orders.w[s * ORDER_STRIDE + O_STATUS]!)) out.push(this.orders.record(s));
    }
    return out;
  }

  private refreshTop(b: BookMirror): void {
    let bp = 0, bq = 0, ap = 0, aq = 0;
    for (const [px, [q, n]] of b.bids) if ((q !== 0 || n !== 0) && px > bp) { bp = px; bq = q; }
    for (const [px, [q, n]] of b.asks) if ((q !== 0 || n !== 0) && (ap === 0 || px < ap)) { ap = px; aq = q; }
    b.bidPx = bp; b.bidQty = bq; b.askPx = ap; b.askQty = aq;
  }

  private dropEmptyLevels(b: BookMirror): void {
    for (const m of [b.bids, b.asks]) for (const [px, l] of m) if (l[0] === 0 && l[1] === 0) m.delete(px);
    b.emptyLevels = 0;
  }

  /** Best `depth` levels of a side as [price, qty, count], best first. */
  levels(b: BookMirror, side: number, depth: number): [number, number, number][] {
    const m = side === 0 ? b.bids : b.asks;
    const px = [...m.keys()].filter((p) => { const l = m.get(p)!; return l[0] !== 0 || l[1] !== 0; })
      .sort((x, y) => (side === 0 ? y - x : x - y)).slice(0, depth);
    return px.map((p) => [p, m.get(p)![0], m.get(p)![1]]);
  }
}

/** What onAck reads of an ack (the engine's Ack, or a replayed command's events). */
export type AckView = Pick<Ack, 'seq' | 'instrumentId' | 'recordCount' | 'words' | 'recordOffset'>;

/** The NewOrder commands of journal seqs (from, to], with their client text, by seq. */
function newOrdersOf(journalPath: string, from: number, to: number): Map<number, Command> {
  const out = new Map<number, Command>();
  for (const ch of readJournalChunks(journalPath, from)) {
    if (ch.recordWords !== CMD_WORDS) break;
    const w = ch.words;
    for (let r = 0; r < ch.n; r++) {
      const o = r * CMD_WORDS, seq = w[o + CW_SEQ]!;
      if (seq <= from) continue;
      if (seq > to) return out;
      if (w[o + CW_TYPE] !== CommandType.NewOrder || w[o + CW_INSTRUMENT] === 0) continue;
      const cmd = decodeCommand(w, o, new Command());
      cmd.clientText = unpackClientText(w, o + CW_CLIENT_TEXT);
      out.set(seq, cmd);
    }
  }
  return out;
}

/** Emptied price levels kept per book before they are all dropped (BookMirror). */
const EMPTY_LEVELS_KEPT = 256;

function key(account: number, instrumentId: number): string {
  return `${account}:${instrumentId}`;
}
