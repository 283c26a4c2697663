// Invariants of docs/matching-semantics.md, checked on a book's canonical dump after every command,
// with per-order bookkeeping rebuilt from the event stream (the dump alone cannot show what was
// canceled or when an order entered its level).

import type { InstrumentSpec } from '../core/instrument.js';
import { parseDump, type DecodedEvent, type ParsedDump } from './fixtures.js';

interface Track {
  totalLots: number;
  filledLots: number;
  /** Canceled, expired and decremented lots since the order's total was last set. */
  canceledLots: number;
  byQuote: boolean;
  /** Command index at which the order last (re)entered a level. */
  entry: number;
  done: boolean;
}

export class InvariantTracker {
  private readonly orders = new Map<number, Track>();
  private step = 0;
  private readonly spec: InstrumentSpec;

  constructor(spec: InstrumentSpec) {
    this.spec = spec;
  }

  /** Checks one command's events and the dump after it; returns the list of violations. */
  check(events: DecodedEvent[], dump: number[]): string[] {
    this.step++;
    const errs: string[] = [];
    let parsed: ParsedDump;
    try {
      parsed = parseDump(dump);
    } catch (e) {
      return [`malformed dump: ${(e as Error).message}`];
    }
    this.checkNumbers(events, dump, parsed, errs);
    const touched = new Set<number>();
    const reentered = new Set<number>();
    for (const e of events) this.apply(e, touched, reentered, errs);
    const resting = [...parsed.bids, ...parsed.asks];
    const restingIds = new Set(resting.map((o) => o.orderId));
    for (const o of resting) {
      const t = this.orders.get(o.orderId);
      if (t === undefined) { errs.push(`order ${o.orderId} rests but was never accepted`); continue; }
      if (t.done) errs.push(`order ${o.orderId} rests after it terminated`);
      if (t.entry === 0 || reentered.has(o.orderId)) t.entry = this.step;
      if (o.qtyLots !== t.totalLots) errs.push(`order ${o.orderId}: qty ${o.qtyLots} in dump, ${t.totalLots} from events`);
      if (o.filledLots !== t.filledLots) errs.push(`order ${o.orderId}: filled ${o.filledLots} in dump, ${t.filledLots} from events`);
      if (o.qtyLots !== o.filledLots + o.remainingLots + t.canceledLots) {
        errs.push(`order ${o.orderId}: total ${o.qtyLots} != filled ${o.filledLots} + remaining ${o.remainingLots} + canceled ${t.canceledLots}`);
      }
      if (o.remainingLots <= 0) errs.push(`order ${o.orderId} rests with remaining ${o.remainingLots}`);
    }
    for (const id of touched) {
      const t = this.orders.get(id)!;
      if (restingIds.has(id) || t.byQuote) continue;
      t.done = true;
      if (t.totalLots !== t.filledLots + t.canceledLots) {
        errs.push(`order ${id} left the book with total ${t.totalLots} != filled ${t.filledLots} + canceled ${t.canceledLots}`);
      }
    }
    this.checkBookShape(parsed, errs);
    return errs;
  }

  private apply(e: DecodedEvent, touched: Set<number>, reentered: Set<number>, errs: string[]): void {
    const get = (id: number): Track | undefined => {
      const t = this.orders.get(id);
      if (t === undefined) errs.push(`${e.type} for unknown order ${id}`);
      else touched.add(id);
      return t;
    };
    switch (e.type) {
      case 'Accepted': {
        const id = e['orderId'] as number;
        if (this.orders.has(id) && !this.orders.get(id)!.done) errs.push(`Accepted reuses open order id ${id}`);
        this.orders.set(id, { totalLots: e['qtyLots'] as number, filledLots: 0, canceledLots: 0,
          byQuote: ((e['flags'] as number) & 2) !== 0, entry: 0, done: false });
        touched.add(id);
        break;
      }
      case 'Trade': {
        const q = e['qtyLots'] as number;
        const m = get(e['makerOrderId'] as number);
        const t = get(e['takerOrderId'] as number);
        if (m) m.filledLots += q;
        if (t) t.filledLots += q;
        if (e['notionalUnits'] !== (e['priceTicks'] as number) * q * this.spec.notionalUnitsPerTickLot) errs.push(`trade ${e['tradeId']}: notional mismatch`);
        break;
      }
      case 'Canceled':
      case 'Expired': {
        const t = get(e['orderId'] as number);
        if (t) { t.canceledLots += e['remainingLots'] as number; t.done = true; }
        break;
      }
      case 'Decremented': {
        const t = get(e['orderId'] as number);
        if (t) t.canceledLots += e['decrementLots'] as number;
        break;
      }
      case 'Replaced': {
        const id = e['orderId'] as number;
        const t = get(id);
        if (t) {
          // The new total includes what is filled; the remaining restarts from total - filled.
          t.totalLots = e['qtyLots'] as number;
          t.canceledLots = t.totalLots - t.filledLots - (e['remainingLots'] as number);
          if (t.canceledLots !== 0) errs.push(`Replaced ${id}: remaining ${e['remainingLots']} != qty ${t.totalLots} - filled ${t.filledLots}`);
          t.canceledLots = 0;
          if (e['keptPriority'] === 0) reentered.add(id);
        }
        break;
      }
      default:
    }
  }

  private checkNumbers(events: DecodedEvent[], dump: number[], parsed: ParsedDump, errs: string[]): void {
    // Position fields of the account records may be negative; everything else in the dump may not.
    const posIdx = new Set<number>();
    // Dump v2: 5-number header, 22 fields per order, bids, asks and pending sections, then accounts.
    const accountsStart = 5 + 1 + 22 * parsed.bids.length + 1 + 22 * parsed.asks.length + 1 + 22 * parsed.pending.length + 1;
    for (let k = 0; k < parsed.accounts.length; k++) posIdx.add(accountsStart + 5 * k + 1);
    dump.forEach((v, i) => {
      if (!Number.isSafeInteger(v) || Object.is(v, -0)) errs.push(`dump[${i}] = ${v} is not a safe integer`);
      else if (v < 0 && !posIdx.has(i)) errs.push(`dump[${i}] = ${v} is negative`);
    });
    let sum = 0;
    for (const a of parsed.accounts) sum += a.positionLots;
    if (sum !== 0) errs.push(`positions sum to ${sum}, not 0`);
    for (const e of events) {
      if (e.type === 'Rejected') continue;
      for (const [k, v] of Object.entries(e)) {
        if (k === 'type') continue;
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || Object.is(v, -0)) errs.push(`${e.type}.${k} = ${String(v)} is not a safe integer`);
        else if (v < 0 && !(k === 'makerFeeUnits' && this.spec.makerFeePpm < 0)) errs.push(`${e.type}.${k} = ${v} is negative`);
      }
    }
  }

  private checkBookShape(p: ParsedDump, errs: string[]): void {
    const bestBid = p.bids.length > 0 ? p.bids[0]!.priceTicks : 0;
    const bestAsk = p.asks.length > 0 ? p.asks[0]!.priceTicks : 0;
    if (bestBid !== 0 && bestAsk !== 0 && bestBid >= bestAsk) errs.push(`book crossed at rest: bid ${bestBid} >= ask ${bestAsk}`);
    if (p.bids.length + p.asks.length > this.spec.orderCapacity) errs.push(`more resting orders than orderCapacity`);
    for (const [name, list, dir] of [['bids', p.bids, -1], ['asks', p.asks, 1]] as const) {
      for (let i = 1; i < list.length; i++) {
        const a = list[i - 1]!, b = list[i]!;
        if ((b.priceTicks - a.priceTicks) * dir < 0) errs.push(`${name} not sorted at ${i}: ${a.priceTicks} then ${b.priceTicks}`);
        if (a.priceTicks === b.priceTicks) {
          const ea = this.orders.get(a.orderId)?.entry ?? 0, eb = this.orders.get(b.orderId)?.entry ?? 0;
          if (ea >= eb) errs.push(`time priority broken at ${name} ${a.priceTicks}: order ${a.orderId} (entered step ${ea}) before ${b.orderId} (step ${eb})`);
        }
      }
    }
    for (const o of [...p.bids, ...p.asks]) {
      if (o.priceTicks < this.spec.minPriceTicks || o.priceTicks > this.spec.maxPriceTicks) errs.push(`order ${o.orderId} rests at ${o.priceTicks}, outside the price range`);
    }
    if (!p.bids.every((o) => o.side === 0) || !p.asks.every((o) => o.side === 1)) errs.push('order on the wrong side list');
  }
}
