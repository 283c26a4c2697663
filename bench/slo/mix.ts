// The SLO load's order mix: seeded, priced from the last trade seen on each instrument (the load
// generator sees every trade: all accounts are its own). Passive GTC limits rest 1..maxOffset ticks
// behind the last trade (skewed to the touch), crossing IOC limits and market orders take liquidity,
// stop and stop-limit orders wait a few ticks beyond the last trade, and cancels are steered so that
// each session keeps about `targetOpen` open orders.

import { Prng } from '../../gateway/order-flow.js';
import type { OrderMix } from './slo.js';

export const REQUEST_KINDS = ['passiveLimit', 'cancel', 'crossingLimit', 'market', 'stop', 'stopLimit'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

// Wire codes (core/types.ts; const enums are not visible across the dist boundary at run time here).
export const SIDE_BUY = 0, SIDE_SELL = 1;
export const OT_LIMIT = 0, OT_MARKET = 1, OT_STOP = 2, OT_STOP_LIMIT = 3;
export const TIF_GTC = 0, TIF_IOC = 1;

/** One request, filled in place by OrderMixer.next. */
export class MixRequest {
  kind: RequestKind = 'passiveLimit';
  instrumentIndex = 0;
  side = SIDE_BUY;
  orderType = OT_LIMIT;
  tif = TIF_GTC;
  priceTicks = 0;
  qtyLots = 0;
  stopPriceTicks = 0;
}

export class OrderMixer {
  private readonly rng: Prng;
  private readonly cumulative: number[];
  private readonly total: number;

  constructor(seed: number, mix: OrderMix, private readonly maxOffsetTicks: number, private readonly instrumentCount: number) {
    this.rng = new Prng(seed);
    let acc = 0;
    this.cumulative = REQUEST_KINDS.map((k) => (acc += mix[k]));
    this.total = acc;
  }

  /** Picks a kind by weight, then steers: cancels only when there is something to cancel. */
  pickKind(openCount: number, targetOpen: number): RequestKind {
    const u = this.rng.next() * this.total;
    let kind: RequestKind = REQUEST_KINDS[REQUEST_KINDS.length - 1]!;
    for (let i = 0; i < this.cumulative.length; i++) if (u < this.cumulative[i]!) { kind = REQUEST_KINDS[i]!; break; }
    if (kind === 'cancel' && openCount < targetOpen / 2) kind = 'passiveLimit';
    else if (kind === 'passiveLimit' && openCount > targetOpen * 1.5) kind = 'cancel';
    if (kind === 'cancel' && openCount === 0) kind = 'passiveLimit';
    return kind;
  }

  /** Fills `r` (a new order's fields; for a cancel only kind and instrumentIndex matter). */
  next(r: MixRequest, lastPxTicks: ArrayLike<number>, openCount: number, targetOpen: number): void {
    const g = this.rng;
    r.kind = this.pickKind(openCount, targetOpen);
    r.instrumentIndex = g.int(0, this.instrumentCount - 1);
    r.side = g.next() < 0.5 ? SIDE_BUY : SIDE_SELL;
    const sign = r.side === SIDE_BUY ? 1 : -1;
    const last = lastPxTicks[r.instrumentIndex]!;
    // 1..20 lots, skewed small.
    r.qtyLots = 1 + Math.floor(g.next() * g.next() * 20);
    r.stopPriceTicks = 0;
    r.priceTicks = 0;
    r.tif = TIF_GTC;
    switch (r.kind) {
      case 'passiveLimit': {
        const off = 1 + Math.floor(g.next() * g.next() * this.maxOffsetTicks);
        r.orderType = OT_LIMIT; r.priceTicks = Math.max(1, last - sign * off);
        break;
      }
      case 'crossingLimit':
        r.orderType = OT_LIMIT; r.tif = TIF_IOC; r.priceTicks = Math.max(1, last + sign * g.int(1, 5));
        break;
      case 'market':
        r.orderType = OT_MARKET; r.tif = TIF_IOC;
        break;
      case 'stop':
        r.orderType = OT_STOP; r.tif = TIF_IOC; r.stopPriceTicks = Math.max(1, last + sign * g.int(2, 12));
        break;
      case 'stopLimit':
        r.orderType = OT_STOP_LIMIT; r.stopPriceTicks = Math.max(1, last + sign * g.int(2, 12));
        r.priceTicks = Math.max(1, r.stopPriceTicks + sign * g.int(0, 3));
        break;
      case 'cancel':
        r.orderType = OT_LIMIT;
        break;
    }
  }

  /** A uniform index in [0, n). */
  index(n: number): number {
    return Math.floor(this.rng.next() * n);
  }
}
