// Property tests of the account ledger against a REAL OrderBook (core/book.ts): random deposits,
// withdrawals and orders of every kind from a few accounts. After every command:
//   (1) every asset is conserved: totals(asset) == deposits - withdrawals (fees included),
//   (2) no available or locked balance is negative, and no hold was ever found short,
//   (3) an order that ended holds nothing: the ledger's live orders are exactly the book's open ones
//       (resting, or conditionals waiting for their trigger), each holding exactly what its remaining
//       quantity can still cost (a waiting conditional: at its worst price, see docs/ledger.md),
//   (4) locked == the sum of the holds of the account's live orders, per asset;
// with OCO pairs and bracket children: two live linked legs hold together exactly the larger of their
// needs; a sell child holds its size's base; a buy child of a live entry holds for its size plus all
// its entry can still fill (the entry's qty - filled), so it never needs more funds when it grows.
// (2) has no exception: after every step every account's available and locked are >= 0 and
// shortfallCount is 0; and snapshot/restore gives the same hash and continues identically.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { ORDER_FIELDS, OrderBook } from '../core/book.js';
import { EventBuffer } from '../core/events.js';
import type { InstrumentSpec } from '../core/instrument.js';
import {
  Command, CommandType, EventType, OrderFlags, OrderType, RejectReason, Side, TimeInForce,
} from '../core/types.js';
import { testSpec } from '../testing/fixtures.js';
import { Ledger, type LedgerOptions, buyRequiredUnits } from './ledger.js';

const FEE = 9;
const ACCOUNTS = [1, 2, 3];
const OPTIONS: LedgerOptions = { feeAccount: FEE, maxOrders: 256, maxPendingReplaces: 16 };
// Canonical dump v2 (docs/matching-semantics.md): a 5-number header, then orders of ORDER_FIELDS.
const BOOK_ORDER_FIELDS = ORDER_FIELDS;

type Step =
  | { k: 'deposit'; account: number; asset: number; amount: number }
  | { k: 'withdraw'; account: number; asset: number; amount: number }
  | { k: 'new'; account: number; side: number; market: boolean; quote: boolean; tif: number; px: number; qty: number;
      quoteQty: number; stp: number; postOnly: boolean; cid: number; ttl: number }
  | { k: 'cancel'; pick: number; byCid: boolean; wrongAccount: boolean }
  | { k: 'replace'; pick: number; byCid: boolean; px: number; qty: number }
  | { k: 'tick'; dt: number }
  | { k: 'mass'; account: number }
  | { k: 'kill'; account: number; on: boolean }
  | { k: 'ref'; px: number }
  | { k: 'cond'; account: number; side: number; type: number; off: number; limVsStop: number; trail: number; bps: boolean;
      limOff: number; prot: 'runtime' | 'client' | 'none'; protPx: number; tifPick: number; qty: number; mark: boolean;
      immediate: boolean; ttl: number }
  | { k: 'oco'; account: number; side: number; pick: number; stop: boolean; px: number; off: number; qty: number }
  | { k: 'child'; pick: number; type: number; off: number; limVsStop: number; px: number };

const account = fc.constantFrom(...ACCOUNTS);
const px = fc.integer({ min: 95, max: 105 });

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('deposit' as const), account, asset: fc.integer({ min: 0, max: 1 }), amount: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('withdraw' as const), account, asset: fc.integer({ min: 0, max: 1 }), amount: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 10, arbitrary: fc.record({
    k: fc.constant('new' as const), account, side: fc.integer({ min: 0, max: 1 }), market: fc.integer({ min: 0, max: 3 }).map((v) => v === 0),
    quote: fc.boolean(), tif: fc.constantFrom(0, 0, 0, 1, 2, 3), px, qty: fc.integer({ min: 1, max: 6 }), quoteQty: fc.integer({ min: 1, max: 800 }),
    stp: fc.integer({ min: 0, max: 4 }), postOnly: fc.integer({ min: 0, max: 5 }).map((v) => v === 0),
    cid: fc.constantFrom(0, 0, 0, 0, 1, 2, 3, 4, 5, 6), ttl: fc.integer({ min: 1, max: 8 }),
  }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('cancel' as const), pick: fc.nat(), byCid: fc.boolean(), wrongAccount: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('replace' as const), pick: fc.nat(), byCid: fc.boolean(),
    px: fc.oneof(fc.constant(0), px), qty: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 8 })) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tick' as const), dt: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('mass' as const), account }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('kill' as const), account, on: fc.integer({ min: 0, max: 3 }).map((v) => v === 0) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('ref' as const), px }) },
  { weight: 4, arbitrary: fc.record({
    k: fc.constant('cond' as const), account, side: fc.integer({ min: 0, max: 1 }), type: fc.constantFrom(2, 3, 4, 5, 6, 7, 4, 5),
    off: fc.integer({ min: -1, max: 5 }), limVsStop: fc.integer({ min: -2, max: 4 }), trail: fc.integer({ min: 1, max: 4 }), bps: fc.boolean(),
    limOff: fc.integer({ min: 0, max: 3 }), prot: fc.constantFrom('runtime' as const, 'runtime' as const, 'client' as const, 'none' as const),
    protPx: px, tifPick: fc.integer({ min: 0, max: 3 }), qty: fc.integer({ min: 1, max: 6 }), mark: fc.integer({ min: 0, max: 3 }).map((v) => v === 0),
    immediate: fc.integer({ min: 0, max: 3 }).map((v) => v === 0), ttl: fc.integer({ min: 1, max: 8 }),
  }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('oco' as const), account, side: fc.integer({ min: 0, max: 1 }), pick: fc.nat(),
    stop: fc.boolean(), px, off: fc.integer({ min: -1, max: 5 }), qty: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('child' as const), pick: fc.nat(), type: fc.constantFrom(OrderType.Limit, OrderType.Stop, OrderType.StopLimit),
    off: fc.integer({ min: -1, max: 5 }), limVsStop: fc.integer({ min: -2, max: 4 }), px }) },
);

/** Opening deposits: every account gets some of both assets. */
const funding: fc.Arbitrary<Step[]> = fc.tuple(...ACCOUNTS.flatMap((acc) => [0, 1].map((asset) =>
  fc.integer({ min: 2, max: 30 }).map((amount): Step => ({ k: 'deposit', account: acc, asset, amount })))));

/** Instruments that stress different parts: ordinary fees, a maker rebate, no fees, coarse rounding. */
const SPECS: InstrumentSpec[] = [
  testSpec({ priceBandBps: 0, referencePriceTicks: 100, minNotionalUnits: 1, maxQtyLots: 20, orderCapacity: 64, clientIdRetention: 8 }),
  testSpec({ priceBandBps: 0, referencePriceTicks: 100, minNotionalUnits: 1, maxQtyLots: 20, orderCapacity: 64, clientIdRetention: 8,
    makerFeePpm: -2_500, takerFeePpm: 7_000, marketBandBps: 300 }),
  testSpec({ priceBandBps: 0, referencePriceTicks: 100, minNotionalUnits: 1, maxQtyLots: 20, orderCapacity: 64, clientIdRetention: 0,
    makerFeePpm: 0, takerFeePpm: 0 }),
  testSpec({ priceBandBps: 0, referencePriceTicks: 100, minNotionalUnits: 1, maxQtyLots: 20, orderCapacity: 64, clientIdRetention: 8,
    notionalUnitsPerTickLot: 1, baseUnitsPerLot: 3, makerFeePpm: 4_321, takerFeePpm: 12_345, marketBandBps: 1_000 }),
];

interface BookOrder {
  orderId: number; account: number; cid: number; side: number; px: number; qty: number; rem: number; filled: number;
  pending: boolean; link: number; parent: number;
}

class World {
  readonly ev = new EventBuffer(4096);
  readonly book: OrderBook;
  ledger: Ledger;
  readonly cmd = new Command();
  seq = 0;
  tsUs = 1_000;
  holdRejects = 0;
  trades = 0;
  restores = 0;
  triggered = 0;
  activated = 0;
  linkedPairs = 0;
  /** Buy children of a live entry checked to hold for their entry's open quantity too. */
  reservedKids = 0;
  /** The runtime's late view of the reference price: the book's as of two commands ago. */
  private views: number[] = [];
  /** Waiting conditionals: the price and fee rate their hold was computed for, by this test's own rules. */
  readonly condHold = new Map<number, { px: number; ppm: number }>();

  constructor(readonly spec: InstrumentSpec) {
    this.book = new OrderBook(spec, this.ev);
    this.ledger = new Ledger([spec], OPTIONS);
  }

  /** Amount unit per asset: one lot of base, or the notional of one lot at the reference price. */
  unit(asset: number): number {
    return asset === this.ledger.baseAssetOf(0) ? this.spec.baseUnitsPerLot : 100 * this.spec.notionalUnitsPerTickLot;
  }

  run(step: Step): void {
    const L = this.ledger;
    switch (step.k) {
      case 'deposit': L.deposit(step.account, step.asset, step.amount * this.unit(step.asset)); return;
      case 'withdraw': {
        const before = L.stateHash();
        const code = L.withdraw(step.account, step.asset, step.amount * this.unit(step.asset));
        if (code !== RejectReason.None) assert.equal(L.stateHash(), before);
        return;
      }
      default: break;
    }
    const c = this.cmd.reset();
    c.seq = ++this.seq;
    c.tsUs = this.tsUs;
    switch (step.k) {
      case 'new': {
        c.type = CommandType.NewOrder; c.orderId = c.seq; c.account = step.account; c.side = step.side;
        c.stpMode = step.stp; c.clientOrderId = step.cid;
        if (step.market) {
          c.orderType = OrderType.Market;
          c.tif = step.quote ? TimeInForce.IOC : (step.tif % 2 === 0 ? TimeInForce.IOC : TimeInForce.FOK);
          if (step.quote) { c.flags = OrderFlags.QuoteQty; c.quoteQtyUnits = step.quoteQty * this.spec.notionalUnitsPerTickLot; } else c.qtyLots = step.qty;
        } else {
          c.orderType = OrderType.Limit; c.tif = step.tif; c.priceTicks = step.px; c.qtyLots = step.qty;
          if (step.tif === TimeInForce.GTD) c.expireTsUs = this.tsUs + step.ttl;
          if (step.postOnly && (step.tif === TimeInForce.GTC || step.tif === TimeInForce.GTD)) c.flags = OrderFlags.PostOnly;
        }
        break;
      }
      case 'cancel':
      case 'replace': {
        const live = L.openOrders();
        if (live.length === 0) { c.type = CommandType.TimeTick; break; }
        const o = live[step.pick % live.length]!;
        c.type = step.k === 'cancel' ? CommandType.Cancel : CommandType.Replace;
        c.account = step.k === 'cancel' && step.wrongAccount ? (o.account % 3) + 1 : o.account;
        const cid = this.cidOf(o.orderId);
        if (step.byCid && cid !== 0) { c.orderId = 0; c.clientOrderId = cid; } else c.orderId = o.orderId;
        if (step.k === 'replace') { c.priceTicks = step.px; c.qtyLots = step.qty; }
        break;
      }
      case 'tick': this.tsUs += step.dt; c.tsUs = this.tsUs; c.type = CommandType.TimeTick; break;
      case 'mass': c.type = CommandType.MassCancel; c.account = step.account; break;
      case 'kill': c.type = CommandType.SetKillSwitch; c.account = step.account; c.value = step.on ? 1 : 0; break;
      case 'ref': c.type = CommandType.SetReferencePrice; c.value = step.px; break;
      case 'cond': this.buildConditional(step, c); break;
      case 'oco': {
        // A leg linked to a live order of the same account and side (when there is one).
        const same = L.openOrders().filter((o) => o.account === step.account && o.side === step.side);
        const all = L.openOrders();
        const t = same.length > 0 ? same[step.pick % same.length]! : all.length > 0 ? all[step.pick % all.length]! : undefined;
        c.type = CommandType.NewOrder; c.orderId = c.seq; c.account = step.account; c.side = step.side; c.qtyLots = step.qty;
        c.linkId = t === undefined ? 1 : t.orderId;
        if (step.stop) {
          const src = this.book.lastTradePriceTicks > 0 ? this.book.lastTradePriceTicks : 100;
          c.orderType = OrderType.Stop; c.tif = TimeInForce.IOC;
          c.stopPriceTicks = Math.max(1, step.side === Side.Buy ? src + step.off : src - step.off);
        } else { c.orderType = OrderType.Limit; c.tif = TimeInForce.GTC; c.priceTicks = step.px; }
        break;
      }
      case 'child': {
        // A bracket child of a live order (the entry): opposite side, size 0.
        const all = L.openOrders();
        if (all.length === 0) { c.type = CommandType.TimeTick; break; }
        const e = all[step.pick % all.length]!;
        const side = e.side === Side.Buy ? Side.Sell : Side.Buy;
        c.type = CommandType.NewOrder; c.orderId = c.seq; c.account = e.account; c.side = side; c.orderType = step.type;
        c.flags = OrderFlags.Child; c.linkId = e.orderId; c.qtyLots = 0;
        if (step.type === OrderType.Limit) { c.tif = TimeInForce.GTC; c.priceTicks = step.px; break; }
        const src = this.book.lastTradePriceTicks > 0 ? this.book.lastTradePriceTicks : 100;
        // A stop loss: above the price for a buy child, below for a sell child.
        c.stopPriceTicks = Math.max(1, side === Side.Buy ? src + step.off : src - step.off);
        if (step.type === OrderType.Stop) c.tif = TimeInForce.IOC;
        else { c.tif = TimeInForce.GTC; c.priceTicks = Math.max(1, side === Side.Buy ? c.stopPriceTicks + step.limVsStop : c.stopPriceTicks - step.limVsStop); }
        break;
      }
    }
    const view = this.views.length >= 2 ? this.views[this.views.length - 2]! : this.book.referencePriceTicks;
    this.views.push(this.book.referencePriceTicks);
    if (this.views.length > 2) this.views.shift();
    if (step.k === 'cond' && step.prot === 'runtime') c.protectionPriceTicks = L.trailingProtectionTicks(0, c, view);
    if (c.type === CommandType.NewOrder && c.orderType >= OrderType.Stop) this.condHold.set(c.orderId, this.expectedCondHold(c));
    const before = L.stateHash();
    const code = L.hold(c, 0, this.book.referencePriceTicks);
    if (code !== RejectReason.None) {
      this.holdRejects++;
      assert.equal(L.stateHash(), before, 'a rejected hold changes nothing');
      return;
    }
    this.ev.clear();
    this.book.execute(c);
    for (let i = 0; i < this.ev.count; i++) {
      if (this.ev.words[i * 16] === EventType.Trade) this.trades++;
      if (this.ev.words[i * 16] === EventType.Triggered) this.triggered++;
      if (this.ev.words[i * 16] === EventType.Activated) this.activated++;
    }
    L.apply(this.ev, 0);
  }

  /** A conditional order around the current source price (trailing ones without a stop price). */
  private buildConditional(step: Extract<Step, { k: 'cond' }>, c: Command): void {
    const type = step.type;
    const trailing = type === OrderType.TrailingStop || type === OrderType.TrailingStopLimit;
    const marketType = type === OrderType.Stop || type === OrderType.TrailingStop || type === OrderType.MarketIfTouched;
    c.type = CommandType.NewOrder; c.orderId = c.seq; c.account = step.account; c.side = step.side; c.orderType = type;
    c.qtyLots = step.qty;
    c.flags = (step.mark ? OrderFlags.TriggerMark : 0) | (step.immediate ? OrderFlags.TriggerImmediately : 0);
    const src = step.mark ? this.book.referencePriceTicks : this.book.lastTradePriceTicks;
    const base = src > 0 ? src : 100;
    if (trailing) {
      if (step.bps) { c.flags |= OrderFlags.TrailBps; c.trailOffset = step.trail * 100; } else c.trailOffset = step.trail;
      if (type === OrderType.TrailingStopLimit) c.limitOffsetTicks = step.limOff;
    } else {
      const up = (type === OrderType.MarketIfTouched || type === OrderType.LimitIfTouched) ? step.side === Side.Sell : step.side === Side.Buy;
      c.stopPriceTicks = Math.max(1, up ? base + step.off : base - step.off);
      if (!marketType) c.priceTicks = Math.max(1, step.side === Side.Buy ? c.stopPriceTicks + step.limVsStop : c.stopPriceTicks - step.limVsStop);
    }
    c.tif = marketType ? (step.tifPick === 2 ? TimeInForce.FOK : TimeInForce.IOC) : step.tifPick;
    if (c.tif === TimeInForce.GTD) c.expireTsUs = this.tsUs + step.ttl;
    if (step.prot === 'client') c.protectionPriceTicks = step.protPx;
  }

  /** The hold price of a conditional by docs/ledger.md (computed here independently of the ledger). */
  private expectedCondHold(c: Command): { px: number; ppm: number } {
    const spec = this.spec, prot = c.protectionPriceTicks;
    const limitPpm = Math.max(0, spec.makerFeePpm, spec.takerFeePpm), takerPpm = Math.max(0, spec.takerFeePpm);
    const cap = (p: number): number => (prot !== 0 && prot < p ? prot : p);
    switch (c.orderType) {
      case OrderType.Stop:
      case OrderType.MarketIfTouched:
        return { px: cap(Math.floor((c.stopPriceTicks * (10_000 + spec.marketBandBps)) / 10_000)), ppm: takerPpm };
      case OrderType.StopLimit:
      case OrderType.LimitIfTouched:
        return { px: cap(c.priceTicks), ppm: limitPpm };
      case OrderType.TrailingStop: return { px: prot, ppm: takerPpm };
      default: return { px: prot, ppm: limitPpm };
    }
  }

  private cidOf(orderId: number): number {
    for (const o of this.restingOrders()) if (o.orderId === orderId) return o.cid;
    return 0;
  }

  /** The book's open orders (resting, then pending), from its canonical dump. */
  restingOrders(): BookOrder[] {
    const d = this.book.stateDump();
    const out: BookOrder[] = [];
    let p = 5;
    for (let part = 0; part < 3; part++) {
      const n = d[p++]!;
      for (let j = 0; j < n; j++, p += BOOK_ORDER_FIELDS) {
        out.push({ orderId: d[p]!, account: d[p + 1]!, cid: d[p + 2]!, side: d[p + 3]!, px: d[p + 5]!, qty: d[p + 6]!, rem: d[p + 7]!,
          filled: d[p + 8]!, pending: part === 2, link: d[p + 20]!, parent: d[p + 21]! });
      }
    }
    return out;
  }

  check(): void {
    const L = this.ledger;
    const assets = [L.baseAssetOf(0), L.quoteAssetOf(0)];
    // (1) conservation, (2) non-negative, no exception.
    for (const a of assets) assert.equal(L.totals(a), L.externalUnits(a), `asset ${a} conserved`);
    for (const acc of [...ACCOUNTS, FEE]) {
      for (const a of assets) {
        assert.ok(L.available(acc, a) >= 0, `available ${acc}/${a} = ${L.available(acc, a)}`);
        assert.ok(L.locked(acc, a) >= 0, `locked ${acc}/${a} = ${L.locked(acc, a)}`);
      }
    }
    assert.equal(L.shortfallCount, 0, 'no hold was ever short');
    assert.equal(L.locked(FEE, assets[1]!), 0);
    // (3) live ledger orders == resting book orders, each holding exactly its remainder's worth.
    const resting = this.restingOrders().sort((x, y) => x.orderId - y.orderId);
    const byId = new Map(resting.map((b) => [b.orderId, b]));
    const live = L.openOrders();
    assert.deepEqual(live.map((o) => o.orderId), resting.map((o) => o.orderId), 'ended orders hold nothing');
    const spec = this.spec;
    const ppm = Math.max(0, spec.makerFeePpm, spec.takerFeePpm);
    const want = new Map<number, number>(), held = new Map<number, number>();
    for (let j = 0; j < live.length; j++) {
      const o = live[j]!, b = resting[j]!;
      assert.equal(o.remainingLots, b.rem);
      // A waiting conditional is held at its worst price; once it rests, at its (capped) limit price.
      // A buy child of a live entry also for all its entry can still fill (the entry's qty - filled);
      // a sell child (or one whose entry ended) for its own remainder (a waiting one of size 0: 0).
      const h = b.pending && this.condHold.has(b.orderId) ? this.condHold.get(b.orderId)! : { px: b.px, ppm };
      const entry = b.parent !== 0 ? byId.get(b.parent) : undefined;
      const open = entry !== undefined && b.side === Side.Buy ? entry.qty - entry.filled : 0;
      if (open > 0) this.reservedKids++;
      want.set(o.orderId, b.side === Side.Buy ? buyRequiredUnits(b.rem + open, h.px, spec.notionalUnitsPerTickLot, h.ppm) : b.rem * spec.baseUnitsPerLot);
      held.set(o.orderId, o.holdUnits);
    }
    for (const b of resting) {
      // OCO partners (plain pairs and bracket children) hold together the larger of their needs.
      if (b.link !== 0 && want.has(b.link)) {
        if (b.orderId < b.link) {
          this.linkedPairs++;
          assert.equal(held.get(b.orderId)! + held.get(b.link)!, Math.max(want.get(b.orderId)!, want.get(b.link)!), `shared hold of ${b.orderId}+${b.link}`);
        }
      } else assert.equal(held.get(b.orderId), want.get(b.orderId), `hold of order ${b.orderId}${b.pending ? ' (waiting)' : ''}`);
    }
    // (4) locked == sum of holds.
    for (const acc of [...ACCOUNTS, FEE]) {
      for (const a of assets) {
        const sum = live.filter((o) => o.account === acc && o.asset === a).reduce((t, o) => t + o.holdUnits, 0);
        assert.equal(L.locked(acc, a), sum, `locked of ${acc}/${a}`);
      }
    }
  }

  restoreRoundTrip(): void {
    const snap = this.ledger.snapshot();
    const restored = Ledger.restore([this.spec], OPTIONS, snap);
    assert.equal(restored.stateHash(), this.ledger.stateHash());
    this.ledger = restored; // continue on the restored ledger
    this.restores++;
  }
}

describe('ledger properties with a real OrderBook', () => {
  for (let si = 0; si < SPECS.length; si++) {
    it(`conserves assets, never goes negative, releases ended holds (spec ${si})`, () => {
      let trades = 0, holdRejects = 0, commands = 0, triggered = 0, activated = 0, pairs = 0, reserved = 0;
      fc.assert(
        fc.property(funding, fc.array(stepArb, { minLength: 20, maxLength: 120, size: 'max' }), (fund, steps) => {
          const w = new World(SPECS[si]!);
          for (let j = 0; j < fund.length; j++) w.run(fund[j]!);
          for (let i = 0; i < steps.length; i++) {
            w.run(steps[i]!);
            w.check();
            if (i % 17 === 16) { w.restoreRoundTrip(); w.check(); }
          }
          w.restoreRoundTrip();
          trades += w.trades; holdRejects += w.holdRejects; commands += steps.length; triggered += w.triggered;
          activated += w.activated; pairs += w.linkedPairs; reserved += w.reservedKids;
        }),
        { numRuns: 300, seed: 20_240_601 + si },
      );
      // The generator must actually exercise trading and rejects.
      assert.ok(trades > 500, `trades ${trades}`);
      assert.ok(holdRejects > 50, `hold rejects ${holdRejects}`);
      assert.ok(triggered > 100, `conditional activations ${triggered}`);
      assert.ok(activated > 100, `bracket activations ${activated}`);
      assert.ok(pairs > 100, `linked pairs checked ${pairs}`);
      assert.ok(reserved > 100, `buy children reserved for their entry checked ${reserved}`);
      assert.ok(commands > 0);
      console.log(`spec ${si}: trades ${trades}, activations ${activated}, linked pairs checked ${pairs}, reserved buy children checked ${reserved}`);
    });
  }
});
