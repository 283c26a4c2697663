// What the replicator consumes: the replication stream interface the runtime implements on the
// journal, and the pure reduction of a batch of records into table rows (no I/O here).
//
// Stream contract (ReplicationSource):
// - Records are ordered by seq (non-decreasing). Several records may share a seq (the events of one
//   command and the balance changes it caused); they are then adjacent.
// - read(fromSeqExclusive, max) returns the records with seq > fromSeqExclusive, in order, about
//   `max` of them, and NEVER splits a seq: all records of the last seq it returns are included
//   (it may return more than max to finish one). The replicator's checkpoint is a seq, so a seq must
//   be replicated whole or not at all.
// - The stream is replayable: reading again from an older seq returns the same records.
// - headSeq(): the highest seq readable now (for lag).

import { EVENT_WORDS, EventType } from '../../core/types.js';

/** The events of one command on one instrument: k records of EVENT_WORDS words (core/events.ts). */
export interface EventsRecord {
  kind: 'events';
  seq: number;
  instrumentId: number;
  words: Float64Array;
  /**
   * The client's client_order_id string of the NewOrder command of this seq (words 27..31 of its
   * journal record, core/command-codec.ts CW_CLIENT_TEXT), when it had one; absent or null = none.
   * It names the order the command created (order id = seq), never another order in its events.
   */
  clientText?: string | null;
}

/** A balance as the ledger holds it after a command (absolute values, asset smallest units). */
export interface BalanceRecord {
  kind: 'balance';
  seq: number;
  /** Engine time of the command, microseconds since the epoch. */
  tsUs: number;
  account: number;
  asset: string;
  availableUnits: number;
  lockedUnits: number;
}

export type ReplicationRecord = EventsRecord | BalanceRecord;

export interface ReplicationSource {
  read(fromSeqExclusive: number, max: number): readonly ReplicationRecord[] | Promise<readonly ReplicationRecord[]>;
  headSeq(): number;
}

export function recordTsUs(r: ReplicationRecord): number {
  return r.kind === 'balance' ? r.tsUs : (r.words.length >= EVENT_WORDS ? r.words[2]! : 0);
}

export function eventCount(r: ReplicationRecord): number {
  return r.kind === 'balance' ? 1 : (r.words.length / EVENT_WORDS) | 0;
}

// ------------------------------------------------------------------------------------------------
// Rows
// ------------------------------------------------------------------------------------------------

export type OrderStatus = 'new' | 'partially_filled' | 'filled' | 'canceled' | 'expired';

export const ORDER_TYPE_NAMES = ['limit', 'market', 'stop', 'stop_limit', 'trailing_stop', 'trailing_stop_limit',
  'market_if_touched', 'limit_if_touched'] as const;
export const TIF_NAMES = ['GTC', 'IOC', 'FOK', 'GTD'] as const;
export const SIDE_NAMES = ['buy', 'sell'] as const;

/**
 * One order touched by a batch. For an order accepted in the batch (`isNew`), every field is its
 * state after the batch. For an older order, the numeric fields marked "delta" are increments and
 * the "absolute" ones are -1 when the batch did not set them; SQL combines them with the stored row.
 */
export interface OrderChange {
  orderId: number;
  isNew: boolean;
  instrumentId: number;
  accountId: number;
  clientOrderId: number;
  /** The client's string (new orders only; null = none). */
  clientText: string | null;
  side: number;
  orderType: number;
  tif: number;
  flags: number;
  quoteQtyUnits: number;
  expireTsUs: number;
  createdTsUs: number;
  createdSeq: number;
  /** absolute, -1 = unchanged */
  priceTicks: number;
  stopPriceTicks: number;
  qtyLots: number;
  remainingLots: number;
  /** delta (absolute for new orders) */
  filledLots: number;
  filledNotionalUnits: number;
  feeUnits: number;
  /** '' = not ended in this batch */
  terminal: '' | OrderStatus;
  endReason: number;
  triggered: boolean;
  updatedTsUs: number;
  updatedSeq: number;
}

export interface TradeRow {
  tsUs: number;
  instrumentId: number;
  tradeId: number;
  seq: number;
  priceTicks: number;
  qtyLots: number;
  notionalUnits: number;
  takerSide: number;
  makerOrderId: number;
  makerAccountId: number;
  takerOrderId: number;
  takerAccountId: number;
  makerFeeUnits: number;
  takerFeeUnits: number;
}

/** Increments of a position (all additive). */
export interface PositionDelta {
  accountId: number;
  instrumentId: number;
  netLots: number;
  boughtLots: number;
  soldLots: number;
  buyNotionalUnits: number;
  sellNotionalUnits: number;
  feeUnits: number;
  tradeCount: number;
  updatedTsUs: number;
  updatedSeq: number;
}

export interface BalanceRow {
  accountId: number;
  asset: string;
  availableUnits: number;
  lockedUnits: number;
  updatedTsUs: number;
  updatedSeq: number;
}

/** A trade as the candle builder needs it (instrument id; the writer maps it to a symbol). */
export interface TradeForCandles {
  instrumentId: number;
  tsUs: number;
  priceTicks: number;
  qtyLots: number;
  notionalUnits: number;
}

export interface Batch {
  firstSeq: number;
  lastSeq: number;
  records: number;
  events: number;
  orders: Map<number, OrderChange>;
  trades: TradeRow[];
  positions: Map<string, PositionDelta>;
  balances: Map<string, BalanceRow>;
}

/** Status of an order from its (absolute) state. */
export function orderStatus(terminal: '' | OrderStatus, filledLots: number, remainingLots: number): OrderStatus {
  if (terminal !== '') return terminal;
  if (filledLots === 0) return 'new';
  return remainingLots === 0 ? 'filled' : 'partially_filled';
}

const END_QUOTE_EXHAUSTED = 9;

function blankChange(orderId: number, w: Float64Array, o: number): OrderChange {
  return {
    orderId, isNew: false, instrumentId: 0, accountId: w[o + 4]!, clientOrderId: 0, clientText: null, side: 0, orderType: 0, tif: 0, flags: 0,
    quoteQtyUnits: 0, expireTsUs: 0, createdTsUs: 0, createdSeq: 0,
    priceTicks: -1, stopPriceTicks: -1, qtyLots: -1, remainingLots: -1,
    filledLots: 0, filledNotionalUnits: 0, feeUnits: 0, terminal: '', endReason: -1, triggered: false,
    updatedTsUs: 0, updatedSeq: 0,
  };
}

/**
 * Folds records into the rows of one transaction. `onTrade` receives every trade in order (the
 * candle builder). Events that do not change these tables (Rejected, Depth, TopOfBook, AdminDone,
 * SliceRefreshed) are skipped; a Rejected NewOrder never becomes an order row.
 */
export function buildBatch(records: readonly ReplicationRecord[], onTrade?: (t: TradeForCandles) => void): Batch {
  const b: Batch = {
    firstSeq: records.length > 0 ? records[0]!.seq : 0, lastSeq: 0, records: records.length, events: 0,
    orders: new Map(), trades: [], positions: new Map(), balances: new Map(),
  };
  const orderFor = (orderId: number, w: Float64Array, o: number, instrumentId: number): OrderChange => {
    let c = b.orders.get(orderId);
    if (c === undefined) {
      c = blankChange(orderId, w, o);
      c.instrumentId = instrumentId;
      b.orders.set(orderId, c);
    }
    c.updatedSeq = w[o + 1]!;
    c.updatedTsUs = w[o + 2]!;
    return c;
  };
  const position = (account: number, instrumentId: number, seq: number, tsUs: number): PositionDelta => {
    const key = `${account}:${instrumentId}`;
    let p = b.positions.get(key);
    if (p === undefined) {
      p = { accountId: account, instrumentId, netLots: 0, boughtLots: 0, soldLots: 0, buyNotionalUnits: 0, sellNotionalUnits: 0,
        feeUnits: 0, tradeCount: 0, updatedTsUs: tsUs, updatedSeq: seq };
      b.positions.set(key, p);
    }
    p.updatedTsUs = tsUs; p.updatedSeq = seq;
    return p;
  };

  for (const r of records) {
    if (r.seq < b.lastSeq) throw new RangeError(`replication records out of order: seq ${r.seq} after ${b.lastSeq}`);
    b.lastSeq = r.seq;
    if (r.kind === 'balance') {
      b.events++;
      b.balances.set(`${r.account}\u0000${r.asset}`, {
        accountId: r.account, asset: r.asset, availableUnits: r.availableUnits, lockedUnits: r.lockedUnits,
        updatedTsUs: r.tsUs, updatedSeq: r.seq,
      });
      continue;
    }
    const w = r.words;
    const n = (w.length / EVENT_WORDS) | 0;
    b.events += n;
    for (let k = 0; k < n; k++) {
      const o = k * EVENT_WORDS;
      const type = w[o]!;
      const seq = w[o + 1]!;
      const ts = w[o + 2]!;
      switch (type) {
        case EventType.Accepted: {
          const id = w[o + 3]!;
          const c = orderFor(id, w, o, r.instrumentId);
          c.isNew = true;
          c.clientOrderId = w[o + 5]!; c.side = w[o + 6]!; c.orderType = w[o + 7]!; c.tif = w[o + 8]!;
          c.priceTicks = w[o + 9]!; c.qtyLots = w[o + 10]!; c.quoteQtyUnits = w[o + 11]!; c.flags = w[o + 12]!;
          c.expireTsUs = w[o + 13]!; c.remainingLots = w[o + 10]!; c.stopPriceTicks = 0;
          c.createdSeq = seq; c.createdTsUs = ts;
          // The command's string names the order it created (id = its seq), not any other order.
          if (id === r.seq && r.clientText !== undefined) c.clientText = r.clientText;
          break;
        }
        case EventType.Trade: {
          const price = w[o + 4]!, qty = w[o + 5]!, notional = w[o + 15]!;
          const makerId = w[o + 6]!, makerAcc = w[o + 7]!, takerId = w[o + 8]!, takerAcc = w[o + 9]!, takerSide = w[o + 10]!;
          const makerFee = w[o + 11]!, takerFee = w[o + 12]!;
          b.trades.push({
            tsUs: ts, instrumentId: r.instrumentId, tradeId: w[o + 3]!, seq, priceTicks: price, qtyLots: qty, notionalUnits: notional,
            takerSide, makerOrderId: makerId, makerAccountId: makerAcc, takerOrderId: takerId, takerAccountId: takerAcc,
            makerFeeUnits: makerFee, takerFeeUnits: takerFee,
          });
          const m = orderFor(makerId, w, o, r.instrumentId);
          m.accountId = makerAcc;
          m.filledLots += qty; m.filledNotionalUnits += notional; m.feeUnits += makerFee; m.remainingLots = w[o + 13]!;
          const t = orderFor(takerId, w, o, r.instrumentId);
          t.accountId = takerAcc;
          t.filledLots += qty; t.filledNotionalUnits += notional; t.feeUnits += takerFee; t.remainingLots = w[o + 14]!;
          const buyerIsTaker = takerSide === 0;
          const buyer = position(buyerIsTaker ? takerAcc : makerAcc, r.instrumentId, seq, ts);
          buyer.netLots += qty; buyer.boughtLots += qty; buyer.buyNotionalUnits += notional;
          buyer.feeUnits += buyerIsTaker ? takerFee : makerFee; buyer.tradeCount++;
          const seller = position(buyerIsTaker ? makerAcc : takerAcc, r.instrumentId, seq, ts);
          seller.netLots -= qty; seller.soldLots += qty; seller.sellNotionalUnits += notional;
          seller.feeUnits += buyerIsTaker ? makerFee : takerFee; seller.tradeCount++;
          onTrade?.({ instrumentId: r.instrumentId, tsUs: ts, priceTicks: price, qtyLots: qty, notionalUnits: notional });
          break;
        }
        case EventType.Canceled:
        case EventType.Expired: {
          const c = orderFor(w[o + 3]!, w, o, r.instrumentId);
          const reason = w[o + 6]!;
          c.remainingLots = 0;
          c.endReason = reason;
          c.terminal = type === EventType.Canceled ? 'canceled'
            : (reason === END_QUOTE_EXHAUSTED && w[o + 7]! > 0 ? 'filled' : 'expired');
          break;
        }
        case EventType.Replaced: {
          const c = orderFor(w[o + 3]!, w, o, r.instrumentId);
          c.priceTicks = w[o + 5]!; c.qtyLots = w[o + 6]!; c.remainingLots = w[o + 7]!;
          break;
        }
        case EventType.Decremented: {
          const c = orderFor(w[o + 3]!, w, o, r.instrumentId);
          c.remainingLots = w[o + 6]!;
          break;
        }
        case EventType.Triggered: {
          const c = orderFor(w[o + 3]!, w, o, r.instrumentId);
          c.triggered = true; c.stopPriceTicks = w[o + 5]!; c.remainingLots = w[o + 9]!;
          if (w[o + 8]! > 0) c.priceTicks = w[o + 8]!;
          break;
        }
        case EventType.Activated: {
          const c = orderFor(w[o + 3]!, w, o, r.instrumentId);
          c.qtyLots = w[o + 5]!; c.remainingLots = w[o + 6]!;
          break;
        }
        default:
          break; // Rejected, Depth, TopOfBook, AdminDone, SliceRefreshed: no row
      }
    }
  }
  return b;
}
