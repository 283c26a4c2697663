// A seeded synthetic order flow for the runtime's tests, crash test and pipeline bench: limit orders
// around each instrument's reference price (they cross often), IOC, market orders by quantity and by
// quote amount, GTD orders, cancels and replaces of recent orders, time ticks. With `advanced` also
// FOK, post-only, iceberg, stop / stop-limit / trailing / if-touched orders (last and mark triggers),
// OCO legs, bracket children, mass cancels and reference-price moves. Deterministic for a seed. Not
// part of the engine.

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
  /**
   * Also the advanced order types and commands (about 40% of the flow): FOK, post-only and iceberg
   * limits, stop, stop-limit, trailing (ticks and bps) and if-touched orders on the last or the mark
   * price, OCO legs linked to a recent resting order of the same account and side, bracket children
   * of a recent entry of the same account (opposite side), mass cancels of an account, reference-price
   * moves (SetReferencePrice). Off by default (the default flow is unchanged). With marketOrders
   * false, trailing buys carry their own protection price: the runtime's default for it comes from
   * its view of the reference price, which depends on timing like a market order's protection.
   */
  advanced?: boolean;
}

/** What the last generated NewOrder can be for later links (see accepted). */
const enum LinkRole { None = 0, Entry = 1, EntryOrPartner = 2 }

const RECENT = 256;
const LINKS = 64;

export class OrderFlow {
  private readonly rng: Prng;
  private readonly recent: Float64Array[];
  private readonly recentAcc: Float64Array[];
  private readonly recentN: number[];
  // Advanced: recent accepted orders that may still rest, for OCO legs and bracket children.
  private readonly links: Float64Array[];
  private readonly linksAcc: Float64Array[];
  private readonly linksSide: Uint8Array[];
  private readonly linksRole: Uint8Array[];
  private readonly linksN: number[];
  /** The last generated NewOrder's side and link role (accepted() is called right after next()). */
  private lastSide = 0;
  private lastRole: number = LinkRole.None;

  constructor(seed: number, readonly instruments: readonly InstrumentSpec[], readonly options: OrderFlowOptions) {
    this.rng = new Prng(seed);
    this.recent = instruments.map(() => new Float64Array(RECENT));
    this.recentAcc = instruments.map(() => new Float64Array(RECENT));
    this.recentN = instruments.map(() => 0);
    this.links = instruments.map(() => new Float64Array(LINKS));
    this.linksAcc = instruments.map(() => new Float64Array(LINKS));
    this.linksSide = instruments.map(() => new Uint8Array(LINKS));
    this.linksRole = instruments.map(() => new Uint8Array(LINKS));
    this.linksN = instruments.map(() => 0);
  }

  /**
   * Remember an accepted NewOrder's id (= its seq) as a target for cancels and replaces (advanced:
   * also for links; call it before the next next(), whose command it describes).
   */
  accepted(instrumentIndex: number, orderId: number, account: number): void {
    const n = this.recentN[instrumentIndex]!;
    this.recent[instrumentIndex]![n % RECENT] = orderId;
    this.recentAcc[instrumentIndex]![n % RECENT] = account;
    this.recentN[instrumentIndex] = n + 1;
    if (this.options.advanced === true && this.lastRole !== LinkRole.None) {
      const m = this.linksN[instrumentIndex]!;
      this.links[instrumentIndex]![m % LINKS] = orderId;
      this.linksAcc[instrumentIndex]![m % LINKS] = account;
      this.linksSide[instrumentIndex]![m % LINKS] = this.lastSide;
      this.linksRole[instrumentIndex]![m % LINKS] = this.lastRole;
      this.linksN[instrumentIndex] = m + 1;
    }
  }

  /**
   * A recent order of instrument i that may be linked to (role >= minRole): sets cmd.linkId,
   * cmd.account and returns the order's side, or -1 when there is none.
   */
  private linkTarget(i: number, cmd: Command, minRole: number): number {
    const n = this.linksN[i]!;
    if (n === 0) return -1;
    const avail = Math.min(n, LINKS);
    // Up to 4 draws among the 32 most recent (an entry-only order is no OCO partner).
    for (let t = 0; t < 4; t++) {
      const back = this.rng.int(0, Math.min(avail, 32) - 1);
      const k = (n - 1 - back) % LINKS;
      if (this.linksRole[i]![k]! < minRole) continue;
      cmd.linkId = this.links[i]![k]!;
      cmd.account = this.linksAcc[i]![k]!;
      return this.linksSide[i]![k]!;
    }
    return -1;
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
    const i = this.nextCommand(cmd, nowUs);
    if (this.options.advanced === true) this.noteRole(cmd);
    return i;
  }

  /** What an accepted order of this command can be for later OCO legs and bracket children. */
  private noteRole(cmd: Command): void {
    this.lastSide = cmd.side;
    this.lastRole = LinkRole.None;
    if (cmd.type !== CommandType.NewOrder || (cmd.flags & OrderFlags.Child) !== 0) return;
    const rests = cmd.orderType === OrderType.Limit ? cmd.tif === TimeInForce.GTC || cmd.tif === TimeInForce.GTD
      : cmd.orderType >= OrderType.Stop; // conditionals wait for their trigger
    if (!rests) return;
    // An OCO leg is already linked: it can still be a bracket entry, not another leg's partner.
    this.lastRole = cmd.linkId !== 0 ? LinkRole.Entry : LinkRole.EntryOrPartner;
  }

  private nextCommand(cmd: Command, nowUs: number): number {
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
    if (this.options.advanced === true && r.next() < 0.4) { this.nextAdvanced(cmd, i, mid, side, qty, nowUs); return i; }
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

  /**
   * An advanced command (options.advanced). Prices are placed relative to the instrument's initial
   * reference price `mid`, around which the flow trades: stops and if-touched orders a little away
   * from it on the side where they do not fire at once (some still do, or find the market moved:
   * StopWouldTrigger), trailing orders from the book's own source price.
   */
  private nextAdvanced(cmd: Command, i: number, mid: number, side: number, qty: number, nowUs: number): void {
    const r = this.rng, o = this.options;
    const gtd = (o.gtdUs ?? 0) > 0 && nowUs > 0;
    // +1: away from the market for this side (a buy's passive prices are below mid).
    const away = side === Side.Buy ? -1 : 1;
    const b = r.next();
    cmd.type = CommandType.NewOrder; cmd.side = side; cmd.qtyLots = qty;
    if (b < 0.12) {
      // FOK: a limit that often crosses (or, with market orders, a market FOK by quantity).
      cmd.tif = TimeInForce.FOK;
      if (o.marketOrders === true && r.next() < 0.3) cmd.orderType = OrderType.Market;
      else { cmd.orderType = OrderType.Limit; cmd.priceTicks = mid - away * r.int(-10, 40); }
    } else if (b < 0.22) {
      // Post-only: priced passive (PostOnlyWouldTake when the market has moved through it).
      cmd.orderType = OrderType.Limit; cmd.flags = OrderFlags.PostOnly;
      cmd.priceTicks = mid + away * r.int(0, 40);
      this.maybeGtd(cmd, gtd, nowUs);
    } else if (b < 0.30) {
      // Iceberg: a larger order showing a slice.
      cmd.orderType = OrderType.Limit; cmd.qtyLots = r.int(5, 60);
      cmd.displayQtyLots = r.int(1, Math.min(cmd.qtyLots - 1, 10));
      cmd.priceTicks = mid + away * r.int(-3, 40);
      this.maybeGtd(cmd, gtd, nowUs);
    } else if (b < 0.46) {
      // Stop (fires on P >= X for a buy) or stop-limit (limit beyond X).
      this.stop(cmd, mid, away, gtd, nowUs, r.next() < 0.5 ? OrderType.Stop : OrderType.StopLimit);
      this.triggerFlags(cmd);
    } else if (b < 0.56) {
      // Trailing stop (market) or trailing stop-limit, offset in ticks or in basis points.
      const limit = r.next() < 0.5;
      cmd.orderType = limit ? OrderType.TrailingStopLimit : OrderType.TrailingStop;
      if (r.next() < 0.5) { cmd.flags = OrderFlags.TrailBps; cmd.trailOffset = r.int(5, 100); }
      else cmd.trailOffset = r.int(3, 80);
      if (limit) { cmd.limitOffsetTicks = r.int(0, 10); this.maybeGtd(cmd, gtd, nowUs); }
      else cmd.tif = r.next() < 0.8 ? TimeInForce.IOC : TimeInForce.FOK;
      this.triggerFlags(cmd);
      // The runtime's own protection for a trailing buy depends on timing (see advanced): carry one.
      if (side === Side.Buy && (o.marketOrders !== true || r.next() < 0.5)) cmd.protectionPriceTicks = mid + r.int(100, 400);
    } else if (b < 0.64) {
      // If-touched: a buy fires on P <= X (below the market), at market or at a limit.
      const limit = r.next() < 0.5;
      cmd.orderType = limit ? OrderType.LimitIfTouched : OrderType.MarketIfTouched;
      cmd.stopPriceTicks = mid + away * r.int(2, 60);
      if (limit) { cmd.priceTicks = cmd.stopPriceTicks + away * r.int(0, 5); this.maybeGtd(cmd, gtd, nowUs); }
      else cmd.tif = r.next() < 0.8 ? TimeInForce.IOC : TimeInForce.FOK;
      this.triggerFlags(cmd);
    } else if (b < 0.80) {
      // OCO leg: linked to a recent resting order of the same account and side: a breakout stop,
      // a stop-limit, or a second passive limit.
      const s = this.linkTarget(i, cmd, LinkRole.EntryOrPartner);
      if (s < 0) { this.plainLimit(cmd, mid, away); return; }
      cmd.side = s;
      const aw = s === Side.Buy ? -1 : 1;
      const k = r.next();
      if (k < 0.4) { this.stop(cmd, mid, aw, gtd, nowUs, OrderType.Stop); this.triggerFlags(cmd); }
      else if (k < 0.7) { this.stop(cmd, mid, aw, gtd, nowUs, OrderType.StopLimit); this.triggerFlags(cmd); }
      else { cmd.orderType = OrderType.Limit; cmd.priceTicks = mid + aw * r.int(0, 40); this.maybeGtd(cmd, gtd, nowUs); }
    } else if (b < 0.95) {
      // Bracket child of a recent entry of the same account, on the other side: a take-profit
      // limit, a stop-loss stop or stop-limit. Its size follows the entry's fills (qty 0).
      const s = this.linkTarget(i, cmd, LinkRole.Entry);
      if (s < 0) { this.plainLimit(cmd, mid, away); return; }
      const cs = s === Side.Buy ? Side.Sell : Side.Buy;
      const aw = cs === Side.Buy ? -1 : 1;
      cmd.side = cs; cmd.qtyLots = 0;
      const k = r.next();
      if (k < 0.5) { cmd.orderType = OrderType.Limit; cmd.priceTicks = mid + aw * r.int(5, 60); this.maybeGtd(cmd, gtd, nowUs); }
      else {
        // A stop-loss on the child's side fires through the market: a sell below mid.
        cmd.orderType = k < 0.8 ? OrderType.Stop : OrderType.StopLimit;
        cmd.stopPriceTicks = mid + aw * r.int(5, 60);
        if (cmd.orderType === OrderType.StopLimit) { cmd.priceTicks = cmd.stopPriceTicks + aw * r.int(0, 10); cmd.tif = TimeInForce.GTC; }
        else cmd.tif = TimeInForce.IOC;
        if (r.next() < 0.3) cmd.flags = OrderFlags.TriggerMark;
      }
      cmd.flags |= OrderFlags.Child;
    } else if (b < 0.96) {
      // Mass cancel of one account's orders in this book.
      cmd.reset(); cmd.type = CommandType.MassCancel;
      cmd.account = o.accounts[r.int(0, o.accounts.length - 1)]!;
    } else {
      // A reference-price (mark) move (the runtime's admin command).
      cmd.reset(); cmd.type = CommandType.SetReferencePrice;
      cmd.value = mid + r.int(-40, 40);
    }
  }

  /** Stop (IOC or FOK) or stop-limit (GTC or GTD) that does not fire at mid: a buy's X above it. */
  private stop(cmd: Command, mid: number, away: number, gtd: boolean, nowUs: number, type: number): void {
    const r = this.rng;
    cmd.orderType = type;
    cmd.stopPriceTicks = mid - away * r.int(2, 60);
    if (type === OrderType.StopLimit) { cmd.priceTicks = cmd.stopPriceTicks - away * r.int(0, 10); this.maybeGtd(cmd, gtd, nowUs); }
    else cmd.tif = r.next() < 0.8 ? TimeInForce.IOC : TimeInForce.FOK;
  }

  /** Mark trigger on 40% of conditionals; a few may fire at entry (TriggerImmediately). */
  private triggerFlags(cmd: Command): void {
    const r = this.rng;
    if (r.next() < 0.4) cmd.flags |= OrderFlags.TriggerMark;
    if (r.next() < 0.03) cmd.flags |= OrderFlags.TriggerImmediately;
  }

  private maybeGtd(cmd: Command, gtd: boolean, nowUs: number): void {
    if (gtd && (this.options.allGtd === true || this.rng.next() < 0.2)) { cmd.tif = TimeInForce.GTD; cmd.expireTsUs = nowUs + this.rng.int(1, this.options.gtdUs!); }
    else cmd.tif = TimeInForce.GTC;
  }

  /** A plain passive-ish limit (when a link has no target yet). */
  private plainLimit(cmd: Command, mid: number, away: number): void {
    cmd.linkId = 0; cmd.orderType = OrderType.Limit; cmd.tif = TimeInForce.GTC;
    cmd.priceTicks = mid + away * this.rng.int(-3, 40);
  }
}
