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
  /** (command index, event index) of the order's last (re)entry, as step * 1e6 + event index. */
  entry: number;
  /** The same for the last event that makes an order (re)enter a level when it next rests. */
  mark: number;
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
    events.forEach((e, i) => this.apply(e, i, touched, reentered, errs));
    const resting = [...parsed.bids, ...parsed.asks];
    const open = [...resting, ...parsed.pending];
    const openIds = new Set(open.map((o) => o.orderId));
    for (const o of open) {
      const t = this.orders.get(o.orderId);
      if (t === undefined) { errs.push(`order ${o.orderId} is open but was never accepted`); continue; }
      if (t.done) errs.push(`order ${o.orderId} is open after it terminated`);
      if (o.qtyLots !== t.totalLots) errs.push(`order ${o.orderId}: qty ${o.qtyLots} in dump, ${t.totalLots} from events`);
      if (o.filledLots !== t.filledLots) errs.push(`order ${o.orderId}: filled ${o.filledLots} in dump, ${t.filledLots} from events`);
      if (o.qtyLots !== o.filledLots + o.remainingLots + t.canceledLots) {
        errs.push(`order ${o.orderId}: total ${o.qtyLots} != filled ${o.filledLots} + remaining ${o.remainingLots} + canceled ${t.canceledLots}`);
      }
    }
    for (const o of resting) {
      const t = this.orders.get(o.orderId);
      if (t === undefined) continue;
      if (t.entry === 0 || reentered.has(o.orderId)) t.entry = t.mark;
      if (o.remainingLots <= 0) errs.push(`order ${o.orderId} rests with remaining ${o.remainingLots}`);
    }
    this.checkAdvanced(parsed, errs);
    for (const id of touched) {
      const t = this.orders.get(id)!;
      if (openIds.has(id) || t.byQuote) continue;
      t.done = true;
      if (t.totalLots !== t.filledLots + t.canceledLots) {
        errs.push(`order ${id} left the book with total ${t.totalLots} != filled ${t.filledLots} + canceled ${t.canceledLots}`);
      }
    }
    this.checkBookShape(parsed, errs);
    return errs;
  }

  private apply(e: DecodedEvent, index: number, touched: Set<number>, reentered: Set<number>, errs: string[]): void {
    const mark = this.step * 1e6 + index;
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
          byQuote: ((e['flags'] as number) & 2) !== 0, entry: 0, mark, done: false });
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
          if (e['keptPriority'] === 0) { reentered.add(id); t.mark = mark; }
        }
        break;
      }
      case 'Triggered':
      case 'SliceRefreshed': {
        const id = e['orderId'] as number;
        const t = get(id);
        if (t) { reentered.add(id); t.mark = mark; }
        break;
      }
      case 'Activated': {
        // A bracket child grew: its new total; a resting child leaves its level and enters again.
        const id = e['orderId'] as number;
        const t = get(id);
        if (t) {
          t.totalLots = e['qtyLots'] as number;
          if (t.totalLots !== t.filledLots + t.canceledLots + (e['remainingLots'] as number)) {
            errs.push(`Activated ${id}: qty ${t.totalLots} != filled ${t.filledLots} + canceled ${t.canceledLots} + remaining ${e['remainingLots']}`);
          }
          reentered.add(id);
          t.mark = mark;
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

  /** Icebergs, links, children and pending conditionals. */
  private checkAdvanced(p: ParsedDump, errs: string[]): void {
    const open = new Map<number, (typeof p.pending)[number]>();
    for (const o of [...p.bids, ...p.asks, ...p.pending]) open.set(o.orderId, o);
    for (const o of [...p.bids, ...p.asks]) {
      if (o.visibleLots < 1 || o.visibleLots > o.remainingLots) errs.push(`order ${o.orderId}: visible ${o.visibleLots} not in [1, remaining ${o.remainingLots}]`);
      if (o.displayQtyLots === 0 && o.visibleLots !== o.remainingLots) errs.push(`order ${o.orderId}: not an iceberg but shows ${o.visibleLots} of ${o.remainingLots}`);
      if (o.displayQtyLots > 0 && o.visibleLots > o.displayQtyLots) errs.push(`iceberg ${o.orderId}: visible ${o.visibleLots} > display ${o.displayQtyLots}`);
    }
    for (const o of p.pending) {
      const conditional = o.orderType >= 2 && o.orderType <= 7;
      const child0 = (o.flags & 32) !== 0 && o.qtyLots === 0;
      if (!child0 && !(conditional && o.remainingLots > 0)) errs.push(`pending order ${o.orderId} is neither a waiting conditional nor a child of size 0`);
      if (conditional && o.remainingLots > 0 && p.status === 0) {
        const src = (o.flags & 4) !== 0 ? p.referencePriceTicks : p.lastTradePriceTicks;
        const up = (o.orderType === 6 || o.orderType === 7) ? o.side === 1 : o.side === 0;
        if (src !== 0 && (up ? src >= o.stopPriceTicks : src <= o.stopPriceTicks)) {
          errs.push(`pending order ${o.orderId} should have fired: source ${src}, X ${o.stopPriceTicks}`);
        }
      }
    }
    for (const o of open.values()) {
      if (o.linkId !== 0) {
        const q = open.get(o.linkId);
        if (q === undefined || q.linkId !== o.orderId) errs.push(`order ${o.orderId} links to ${o.linkId}, which does not link back`);
        else if (q.account !== o.account || q.side !== o.side) errs.push(`OCO ${o.orderId}/${q.orderId} across accounts or sides`);
      }
      if (o.parentId !== 0) {
        const e = open.get(o.parentId);
        if (e === undefined) errs.push(`child ${o.orderId} names entry ${o.parentId}, which is not open`);
        else if (e.side === o.side || e.account !== o.account) errs.push(`child ${o.orderId} on the entry's side or account`);
      }
    }
  }

  private checkBookShape(p: ParsedDump, errs: string[]): void {
    const bestBid = p.bids.length > 0 ? p.bids[0]!.priceTicks : 0;
    const bestAsk = p.asks.length > 0 ? p.asks[0]!.priceTicks : 0;
    if (bestBid !== 0 && bestAsk !== 0 && bestBid >= bestAsk) errs.push(`book crossed at rest: bid ${bestBid} >= ask ${bestAsk}`);
    if (p.bids.length + p.asks.length + p.pending.length > this.spec.orderCapacity) errs.push(`more open orders than orderCapacity`);
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
