// A seeded synthetic order flow for the runtime's tests, crash test and pipeline bench: limit orders
// around each instrument's reference price (they cross often), IOC, market orders by quantity and by
// quote amount, GTD orders, cancels and replaces of recent orders, time ticks. Deterministic for a
// seed. Not part of the engine.

import type { InstrumentSpec } from '../core/instrument.js';
import { Mulberry32 } from '../testing/prng.js';
import { Command, CommandType, OrderFlags, OrderType, Side, TimeInForce } from '../core/types.js';

/**
 * mulberry32 (testing/prng.ts, whose state is kept signed so that a draw allocates nothing), with an
 * integer range helper.
 */
export class Prng extends Mulberry32 {
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }
}

export interface OrderFlowOptions {
  accounts: readonly number[];
  /** Market orders (their protection price depends on the gateway's view of the reference price). */
  marketOrders?: boolean;
  replaces?: boolean;
  /** GTD expiry offsets in microseconds of engine time (0 = no GTD orders). */
  gtdUs?: number;
  /** Every resting limit order is GTD (expiring within gtdUs): keeps the books at a steady size. */
  allGtd?: boolean;
}

const RECENT = 256;

export class OrderFlow {
  private readonly rng: Prng;
  private readonly recent: Float64Array[];
  private readonly recentAcc: Float64Array[];
  private readonly recentN: number[];

  constructor(seed: number, readonly instruments: readonly InstrumentSpec[], readonly options: OrderFlowOptions) {
    this.rng = new Prng(seed);
    this.recent = instruments.map(() => new Float64Array(RECENT));
    this.recentAcc = instruments.map(() => new Float64Array(RECENT));
    this.recentN = instruments.map(() => 0);
  }

  /** Remember an accepted NewOrder's id (= its seq) as a target for cancels and replaces. */
  accepted(instrumentIndex: number, orderId: number, account: number): void {
    const n = this.recentN[instrumentIndex]!;
    this.recent[instrumentIndex]![n % RECENT] = orderId;
    this.recentAcc[instrumentIndex]![n % RECENT] = account;
    this.recentN[instrumentIndex] = n + 1;
  }

  /** A recent order of instrument i: sets cmd.orderId and cmd.account (0 when there is none). */
  private target(i: number, cmd: Command): number {
    const n = this.recentN[i]!;
    if (n === 0) return 0;
    const back = this.rng.int(0, Math.min(n, RECENT) - 1);
    const k = (n - 1 - back) % RECENT;
    cmd.orderId = this.recent[i]![k]!;
    cmd.account = this.recentAcc[i]![k]!;
    return cmd.orderId;
  }

  /** Fills `cmd` (reset first) with the next command; returns its instrument index. */
  next(cmd: Command, nowUs = 0): number {
    const r = this.rng;
    cmd.reset();
    const i = r.int(0, this.instruments.length - 1);
    const spec = this.instruments[i]!;
    const mid = spec.referencePriceTicks > 0 ? spec.referencePriceTicks : spec.minPriceTicks + 1000;
    const acc = this.options.accounts[r.int(0, this.options.accounts.length - 1)]!;
    cmd.account = acc;
    const u = r.next();
    const side = r.next() < 0.5 ? Side.Buy : Side.Sell;
    const qty = Math.max(spec.minQtyLots, r.int(1, 20));
    if (u < 0.6 || (!this.options.marketOrders && u < 0.72)) {
      cmd.type = CommandType.NewOrder; cmd.side = side; cmd.orderType = OrderType.Limit; cmd.qtyLots = qty;
      // (no closure for the price: this runs per command in the benchmarks' drivers)
      cmd.priceTicks = side === Side.Buy ? mid - r.int(-3, 40) : mid + r.int(-3, 40);
      const t = r.next();
      if (t < 0.12) cmd.tif = TimeInForce.IOC;
      else if ((t < 0.2 || this.options.allGtd === true) && (this.options.gtdUs ?? 0) > 0 && nowUs > 0) { cmd.tif = TimeInForce.GTD; cmd.expireTsUs = nowUs + r.int(1, this.options.gtdUs!); }
      if (r.next() < 0.05) cmd.clientOrderId = r.int(1, 1_000_000);
    } else if (u < 0.72) {
      cmd.type = CommandType.NewOrder; cmd.side = side; cmd.orderType = OrderType.Market; cmd.tif = TimeInForce.IOC;
      if (r.next() < 0.2) { cmd.flags = OrderFlags.QuoteQty; cmd.quoteQtyUnits = qty * mid * spec.notionalUnitsPerTickLot; }
      else cmd.qtyLots = qty;
    } else if (u < 0.88) {
      cmd.type = CommandType.Cancel;
      if (this.target(i, cmd) === 0) { cmd.type = CommandType.TimeTick; cmd.account = 0; }
    } else if (u < 0.97 && this.options.replaces !== false) {
      cmd.type = CommandType.Replace;
      if (this.target(i, cmd) === 0) { cmd.type = CommandType.TimeTick; cmd.account = 0; return i; }
      if (r.next() < 0.5) cmd.priceTicks = mid + r.int(-40, 40);
      cmd.qtyLots = qty + r.int(0, 10);
    } else {
      cmd.type = CommandType.TimeTick; cmd.account = 0;
    }
    return i;
  }
}
