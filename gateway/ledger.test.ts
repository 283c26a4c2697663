// Unit tests of the account ledger: each hold rule, each settlement path, rejects that change nothing.
// A real OrderBook (core/book.ts) produces the events; the ledger holds before and settles after.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { OrderBook } from '../core/book.js';
import { EventBuffer } from '../core/events.js';
import type { InstrumentSpec } from '../core/instrument.js';
import {
  Command, CommandType, EventType, OrderFlags, OrderType, RejectReason, Side, StpMode, TimeInForce,
} from '../core/types.js';
import { testSpec } from '../testing/fixtures.js';
import { Ledger, LedgerError, buyRequiredUnits, feeBoundUnits } from './ledger.js';
import { SeqMap } from '../core/tables.js';

const FEE = 99;
const A = 1, B = 2;

/** One instrument, a real book, a ledger; `send` = hold, route, settle, as the runtime does. */
class Rig {
  readonly spec: InstrumentSpec;
  readonly ev = new EventBuffer(1024);
  readonly book: OrderBook;
  ledger: Ledger;
  readonly cmd = new Command();
  seq = 0;
  tsUs = 1_000_000;
  readonly base: number;
  readonly quote: number;
  lastEvents: number[][] = [];
  /** Off: a test that provokes a shortfall on purpose checks balances itself. */
  strict = true;

  constructor(over: Partial<InstrumentSpec> = {}) {
    this.spec = testSpec({ priceBandBps: 0, ...over });
    this.book = new OrderBook(this.spec, this.ev);
    this.ledger = new Ledger([this.spec], { feeAccount: FEE, maxOrders: 256, maxPendingReplaces: 16 });
    this.base = this.ledger.assetId(this.spec.baseAsset);
    this.quote = this.ledger.assetId(this.spec.quoteAsset);
  }

  fund(account: number, baseUnits: number, quoteUnits: number): void {
    if (baseUnits > 0) assert.equal(this.ledger.deposit(account, this.base, baseUnits), RejectReason.None);
    if (quoteUnits > 0) assert.equal(this.ledger.deposit(account, this.quote, quoteUnits), RejectReason.None);
  }

  /** Returns the ledger's reject code (None when routed); the book's events are in lastEvents. */
  send(fields: Partial<Command>): number {
    const c = this.cmd.reset();
    Object.assign(c, { seq: ++this.seq, tsUs: this.tsUs }, fields);
    if (c.type === CommandType.NewOrder && c.orderId === 0) c.orderId = c.seq;
    const code = this.ledger.hold(c, 0, this.book.referencePriceTicks);
    this.lastEvents = [];
    if (code !== RejectReason.None) return code;
    this.ev.clear();
    this.book.execute(c);
    for (let i = 0; i < this.ev.count; i++) this.lastEvents.push(this.ev.record(i));
    this.ledger.apply(this.ev, 0);
    this.checkConservation();
    return code;
  }

  limit(account: number, side: number, priceTicks: number, qtyLots: number, more: Partial<Command> = {}): number {
    return this.send({ type: CommandType.NewOrder, account, side, orderType: OrderType.Limit, tif: TimeInForce.GTC, priceTicks, qtyLots, ...more });
  }

  market(account: number, side: number, qtyLots: number, more: Partial<Command> = {}): number {
    return this.send({ type: CommandType.NewOrder, account, side, orderType: OrderType.Market, tif: TimeInForce.IOC, qtyLots, ...more });
  }

  marketQuote(account: number, side: number, quoteQtyUnits: number, more: Partial<Command> = {}): number {
    return this.send({ type: CommandType.NewOrder, account, side, orderType: OrderType.Market, tif: TimeInForce.IOC,
      flags: OrderFlags.QuoteQty, quoteQtyUnits, ...more });
  }

  av(account: number, asset: number): number { return this.ledger.available(account, asset); }
  lk(account: number, asset: number): number { return this.ledger.locked(account, asset); }

  eventTypes(): number[] { return this.lastEvents.map((r) => r[0]!); }

  checkConservation(): void {
    for (const asset of [this.base, this.quote]) {
      assert.equal(this.ledger.totals(asset), this.ledger.externalUnits(asset), `asset ${asset} conserved`);
      if (!this.strict) continue;
      for (const acc of [A, B, 3, FEE]) {
        assert.ok(this.av(acc, asset) >= 0 && this.lk(acc, asset) >= 0, `non-negative balance of ${acc}/${asset}`);
      }
    }
    if (this.strict) assert.equal(this.ledger.shortfallCount, 0);
  }
}

// testSpec: N = 10 quote units per tick-lot, 100_000 base units per lot, ref 10_000, market band 500 bps,
// maker 100 ppm, taker 200 ppm.

describe('ledger: hold rules', () => {
  it('buy limit holds price*qty*N plus the fee bound; sell limit holds qty*baseUnitsPerLot', () => {
    const r = new Rig();
    r.fund(A, 1_000_000, 10_000_000);
    assert.equal(r.limit(A, Side.Buy, 10_000, 3), RejectReason.None);
    // 300_000 notional, fee 200 ppm: per lot exactly 20 -> 60 (= ceil(300_000 * 200e-6)).
    assert.equal(r.lk(A, r.quote), 300_060);
    assert.equal(r.av(A, r.quote), 10_000_000 - 300_060);
    assert.equal(r.limit(A, Side.Sell, 11_000, 4), RejectReason.None);
    assert.equal(r.lk(A, r.base), 400_000);
    assert.equal(r.ledger.orderHold(1), 300_060);
  });

  it('the fee bound covers per-trade rounding where ceil(total fee) would not', () => {
    // N = 1, price 3, fee 20%: one lot costs 3 + ceil(0.6) = 4; three lots in three trades cost 12,
    // while 9 + ceil(1.8) = 11 would be short by one unit.
    assert.equal(feeBoundUnits(3, 3, 1, 200_000), 3);
    assert.equal(buyRequiredUnits(3, 3, 1, 200_000), 12);
    const r = new Rig({ notionalUnitsPerTickLot: 1, minNotionalUnits: 1, makerFeePpm: 200_000, takerFeePpm: 200_000, referencePriceTicks: 3 });
    r.fund(A, 0, 12);
    r.fund(B, 300_000, 0);
    assert.equal(r.limit(A, Side.Buy, 3, 3), RejectReason.None);
    assert.equal(r.lk(A, r.quote), 12);
    for (let i = 0; i < 3; i++) assert.equal(r.limit(B, Side.Sell, 3, 1, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.equal(r.av(A, r.quote), 0);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(A, r.base), 300_000);
    assert.equal(r.av(FEE, r.quote), 6);
    assert.equal(r.ledger.openOrderCount, 0);
  });

  it('market buy by quantity holds at the protection upper bound plus fee', () => {
    const r = new Rig();
    r.fund(A, 0, 1_000_000);
    // U = floor(10_000 * 10_500 / 10_000) = 10_500; 2 lots: 210_000 + min(42 + 1, 2 * 21).
    const held = buyRequiredUnits(2, 10_500, 10, 200);
    assert.equal(held, 210_042);
    // Route it to an empty book: it expires, so look at the hold before settling.
    const c = Object.assign(new Command(), { type: CommandType.NewOrder, seq: 1, orderId: 1, account: A, side: Side.Buy,
      orderType: OrderType.Market, tif: TimeInForce.IOC, qtyLots: 2 });
    assert.equal(r.ledger.hold(c, 0, 10_000), RejectReason.None);
    assert.equal(r.lk(A, r.quote), 210_042);
  });

  it('market buy by quote amount holds quoteQty + fee (+ one unit per possible extra trade)', () => {
    const r = new Rig({ minPriceTicks: 9_000 });
    r.fund(A, 0, 1_000_000);
    const c = Object.assign(new Command(), { type: CommandType.NewOrder, seq: 1, orderId: 1, account: A, side: Side.Buy,
      orderType: OrderType.Market, tif: TimeInForce.IOC, flags: OrderFlags.QuoteQty, quoteQtyUnits: 100_000 });
    // Lots cost >= 9_000 * 10, so at most one trade: no rounding slack.
    assert.equal(r.ledger.hold(c, 0, 10_000), RejectReason.None);
    assert.equal(r.lk(A, r.quote), 100_020);
    const r2 = new Rig({ minPriceTicks: 40_000, maxPriceTicks: 1_000_000, referencePriceTicks: 50_000 });
    r2.fund(A, 0, 2_000_000);
    c.quoteQtyUnits = 1_000_000; // up to 2 trades at >= 400_000 per lot: + 1 unit
    assert.equal(r2.ledger.hold(c, 0, 50_000), RejectReason.None);
    assert.equal(r2.lk(A, r2.quote), 1_000_000 + 200 + 1);
  });

  it('market sells hold base: by quantity qty*B, by quote the most lots the quote can buy at the lower bound', () => {
    const r = new Rig();
    r.fund(A, 10_000_000, 0);
    const c = Object.assign(new Command(), { type: CommandType.NewOrder, seq: 1, orderId: 1, account: A, side: Side.Sell,
      orderType: OrderType.Market, tif: TimeInForce.IOC, qtyLots: 3 });
    assert.equal(r.ledger.hold(c, 0, 10_000), RejectReason.None);
    assert.equal(r.lk(A, r.base), 300_000);
    Object.assign(c, { seq: 2, orderId: 2, qtyLots: 0, flags: OrderFlags.QuoteQty, quoteQtyUnits: 200_000 });
    // L = ceil(10_000 * 9_500 / 10_000) = 9_500; floor(200_000 / 95_000) = 2 lots.
    assert.equal(r.ledger.hold(c, 0, 10_000), RejectReason.None);
    assert.equal(r.lk(A, r.base), 500_000);
  });

  it('insufficient balance rejects with code 65 and changes nothing', () => {
    const r = new Rig();
    r.fund(A, 100_000, 300_059);
    const before = r.ledger.stateHash();
    assert.equal(r.limit(A, Side.Buy, 10_000, 3), RejectReason.InsufficientBalance);
    assert.equal(r.limit(A, Side.Sell, 10_000, 2), RejectReason.InsufficientBalance);
    assert.equal(r.marketQuote(A, Side.Buy, 300_000), RejectReason.InsufficientBalance);
    assert.equal(r.limit(B, Side.Buy, 10_000, 1), RejectReason.InsufficientBalance);
    assert.equal(r.ledger.withdraw(A, r.quote, 300_060), RejectReason.InsufficientBalance);
    assert.equal(r.ledger.adjust(A, r.base, -100_001), RejectReason.InsufficientBalance);
    assert.equal(r.ledger.stateHash(), before);
    assert.equal(r.book.restingOrders, 0);
    assert.equal(r.limit(A, Side.Buy, 10_000, 3, { orderId: 0 }), RejectReason.InsufficientBalance);
  });

  it('bad input gets the book\'s reject code before any hold', () => {
    const r = new Rig();
    r.fund(A, 1_000_000, 1_000_000);
    const before = r.ledger.stateHash();
    assert.equal(r.limit(A, 7, 10_000, 1), RejectReason.InvalidSide);
    assert.equal(r.limit(A, Side.Buy, 0, 1), RejectReason.InvalidPrice);
    assert.equal(r.limit(A, Side.Buy, 10_000, 0), RejectReason.InvalidQuantity);
    assert.equal(r.limit(A, Side.Buy, 10_000, 1.5), RejectReason.InvalidQuantity);
    assert.equal(r.limit(0, Side.Buy, 10_000, 1), RejectReason.InvalidAccount);
    assert.equal(r.ledger.stateHash(), before);
    const noRef = new Rig({ referencePriceTicks: 0 });
    noRef.fund(A, 0, 1_000_000);
    assert.equal(noRef.market(A, Side.Buy, 1), RejectReason.NoReferencePrice);
  });
});

describe('ledger: settlement', () => {
  it('maker buy, taker sell: assets move, fees to the fee account', () => {
    const r = new Rig();
    r.fund(A, 0, 1_000_000);
    r.fund(B, 500_000, 0);
    r.limit(A, Side.Buy, 10_000, 2);
    r.limit(B, Side.Sell, 10_000, 2);
    // notional 200_000; maker fee 20, taker fee 40.
    assert.equal(r.av(A, r.quote), 1_000_000 - 200_020);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(A, r.base), 200_000);
    assert.equal(r.av(B, r.base), 300_000);
    assert.equal(r.lk(B, r.base), 0);
    assert.equal(r.av(B, r.quote), 200_000 - 40);
    assert.equal(r.av(FEE, r.quote), 60);
    assert.equal(r.ledger.openOrderCount, 0);
  });

  it('maker sell, taker buy filled below its limit: the leftover hold is released', () => {
    const r = new Rig();
    r.fund(A, 0, 1_000_000);
    r.fund(B, 100_000, 0);
    r.limit(B, Side.Sell, 9_900, 1);
    r.limit(A, Side.Buy, 10_100, 1);
    // 99_000 notional, taker fee ceil(19.8) = 20.
    assert.equal(r.av(A, r.quote), 1_000_000 - 99_020);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(B, r.quote), 99_000 - 10);
    assert.equal(r.av(FEE, r.quote), 30);
  });

  it('a taker partly filled below its limit rests with exactly the hold of its remainder', () => {
    const r = new Rig();
    r.fund(A, 0, 1_000_000);
    r.fund(B, 100_000, 0);
    r.limit(B, Side.Sell, 9_900, 1);
    r.limit(A, Side.Buy, 10_000, 3);
    assert.equal(r.lk(A, r.quote), buyRequiredUnits(2, 10_000, 10, 200));
    assert.equal(r.av(A, r.quote), 1_000_000 - 99_020 - r.lk(A, r.quote));
  });

  it('market buy by quote: quote exhausted -> Expired, rest released', () => {
    const r = new Rig();
    r.fund(A, 0, 1_000_000);
    r.fund(B, 500_000, 0);
    r.limit(B, Side.Sell, 10_000, 5);
    r.marketQuote(A, Side.Buy, 250_000);
    assert.ok(r.eventTypes().includes(EventType.Expired));
    assert.equal(r.av(A, r.base), 200_000);
    assert.equal(r.av(A, r.quote), 1_000_000 - 200_040);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.ledger.openOrderCount, 1); // B's rest
  });

  it('market buy by quote spent exactly ends without an event and releases its fee slack', () => {
    const r = new Rig();
    r.fund(A, 0, 1_000_000);
    r.fund(B, 500_000, 0);
    r.limit(B, Side.Sell, 10_000, 5);
    r.marketQuote(A, Side.Buy, 200_000);
    assert.ok(!r.eventTypes().includes(EventType.Expired));
    assert.equal(r.ledger.orderHold(2), -1);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(A, r.quote), 1_000_000 - 200_040);
  });

  it('market buy by quote: the per-trade fee slack is needed when many small makers fill it', () => {
    // N = 1, fee 20%: three 1-lot trades at 3 cost 9 + 3 * ceil(0.6) = 12 > 9 + ceil(1.8) = 11.
    const r = new Rig({ notionalUnitsPerTickLot: 1, minNotionalUnits: 1, makerFeePpm: 200_000, takerFeePpm: 200_000, referencePriceTicks: 3 });
    r.fund(A, 0, 100);
    r.fund(B, 300_000, 0);
    for (let i = 0; i < 3; i++) r.limit(B, Side.Sell, 3, 1);
    assert.equal(r.marketQuote(A, Side.Buy, 9), RejectReason.None);
    assert.equal(r.av(A, r.base), 300_000);
    assert.equal(r.av(A, r.quote), 100 - 12);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.ledger.openOrderCount, 0);
  });

  it('market sell by quote: base not sold is released', () => {
    const r = new Rig();
    r.fund(A, 0, 1_000_000);
    r.fund(B, 1_000_000, 0);
    r.limit(A, Side.Buy, 10_000, 1);
    r.marketQuote(B, Side.Sell, 250_000); // holds floor(250_000 / 95_000) = 2 lots, sells 1
    assert.equal(r.lk(B, r.base), 0);
    assert.equal(r.av(B, r.base), 900_000);
    assert.equal(r.av(B, r.quote), 100_000 - 20);
  });

  it('partial fills then cancel release the rest', () => {
    const r = new Rig();
    r.fund(A, 0, 1_000_000);
    r.fund(B, 500_000, 0);
    r.limit(A, Side.Buy, 10_000, 5);
    r.limit(B, Side.Sell, 10_000, 1);
    r.limit(B, Side.Sell, 10_000, 1);
    assert.equal(r.lk(A, r.quote), buyRequiredUnits(3, 10_000, 10, 200));
    r.send({ type: CommandType.Cancel, account: A, orderId: 1 });
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(A, r.quote), 1_000_000 - 2 * 100_010);
    assert.equal(r.ledger.openOrderCount, 0);
  });

  it('IOC remainder and FOK expiry release their holds', () => {
    const r = new Rig();
    r.fund(A, 0, 1_000_000);
    r.fund(B, 500_000, 0);
    r.limit(B, Side.Sell, 10_000, 1);
    r.limit(A, Side.Buy, 10_000, 3, { tif: TimeInForce.IOC });
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(A, r.quote), 1_000_000 - 100_020);
    r.limit(B, Side.Sell, 10_000, 1);
    r.limit(A, Side.Buy, 10_000, 2, { tif: TimeInForce.FOK });
    assert.ok(r.eventTypes().includes(EventType.Expired));
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(A, r.quote), 1_000_000 - 100_020);
    assert.equal(r.lk(B, r.base), 100_000);
  });

  it('self-trade prevention: expire taker, expire maker, decrement', () => {
    const r = new Rig();
    r.fund(A, 1_000_000, 10_000_000);
    r.limit(A, Side.Sell, 10_000, 2); // id 1
    r.limit(A, Side.Buy, 10_000, 1, { stpMode: StpMode.ExpireTaker });
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.lk(A, r.base), 200_000);
    r.limit(A, Side.Buy, 10_000, 1, { stpMode: StpMode.ExpireMaker });
    // The maker (id 1) expired, the taker rests.
    assert.equal(r.lk(A, r.base), 0);
    assert.equal(r.lk(A, r.quote), buyRequiredUnits(1, 10_000, 10, 200));
    r.limit(A, Side.Sell, 10_000, 3, { stpMode: StpMode.Decrement }); // decrements id 3 by 1 and itself by 1
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.lk(A, r.base), 200_000);
    assert.equal(r.av(A, r.quote), 10_000_000);
    assert.equal(r.av(A, r.base), 800_000);
    // Decrement of a resting order that stays: proportional release.
    r.limit(A, Side.Buy, 10_000, 1, { stpMode: StpMode.Decrement });
    assert.ok(r.eventTypes().includes(EventType.Decremented));
    assert.equal(r.lk(A, r.base), 100_000);
    assert.equal(r.lk(A, r.quote), 0);
  });

  it('decrement of a QuoteQty taker, then its quote spent exactly, ends it', () => {
    const r = new Rig();
    r.fund(A, 1_000_000, 10_000_000);
    r.fund(B, 1_000_000, 0);
    r.limit(A, Side.Sell, 10_000, 1); // own, oldest
    r.limit(B, Side.Sell, 10_000, 1);
    r.marketQuote(A, Side.Buy, 200_000, { stpMode: StpMode.Decrement });
    assert.ok(r.eventTypes().includes(EventType.Decremented));
    assert.ok(!r.eventTypes().includes(EventType.Expired) || r.lastEvents.every((e) => e[0] !== EventType.Expired || e[3] !== 3));
    assert.equal(r.ledger.orderHold(3), -1);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.lk(A, r.base), 0);
    assert.equal(r.av(A, r.quote), 10_000_000 - 100_020);
  });

  it('GTD expiry releases the hold', () => {
    const r = new Rig();
    r.fund(A, 0, 1_000_000);
    r.limit(A, Side.Buy, 10_000, 1, { tif: TimeInForce.GTD, expireTsUs: r.tsUs + 10 });
    assert.equal(r.lk(A, r.quote), 100_020);
    r.tsUs += 10;
    r.send({ type: CommandType.TimeTick });
    assert.ok(r.eventTypes().includes(EventType.Expired));
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(A, r.quote), 1_000_000);
  });

  it('replace up needs an extra hold; down releases; a short extra hold rejects before the book', () => {
    const r = new Rig();
    r.fund(A, 0, 1_000_000);
    r.limit(A, Side.Buy, 10_000, 2); // id 1
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 1, qtyLots: 4 }), RejectReason.None);
    assert.equal(r.lk(A, r.quote), 400_080);
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 1, priceTicks: 10_500 }), RejectReason.None);
    assert.equal(r.lk(A, r.quote), buyRequiredUnits(4, 10_500, 10, 200));
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 1, qtyLots: 1, priceTicks: 9_000 }), RejectReason.None);
    assert.equal(r.lk(A, r.quote), 90_018);
    const before = r.ledger.stateHash();
    const bookBefore = r.book.stateHash();
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 1, qtyLots: 12 }), RejectReason.InsufficientBalance);
    assert.equal(r.ledger.stateHash(), before);
    assert.equal(r.book.stateHash(), bookBefore);
    assert.equal(r.lk(A, r.quote) + r.av(A, r.quote), 1_000_000);
  });

  it('replace of a sell up and down; by client order id', () => {
    const r = new Rig();
    r.fund(A, 500_000, 0);
    r.limit(A, Side.Sell, 10_000, 2, { clientOrderId: 77 });
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 0, clientOrderId: 77, qtyLots: 5 }), RejectReason.None);
    assert.equal(r.lk(A, r.base), 500_000);
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 0, clientOrderId: 77, qtyLots: 6 }), RejectReason.InsufficientBalance);
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 0, clientOrderId: 77, qtyLots: 1 }), RejectReason.None);
    assert.equal(r.lk(A, r.base), 100_000);
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 0, clientOrderId: 78, qtyLots: 1 }), RejectReason.UnknownOrder);
    assert.equal(r.send({ type: CommandType.Replace, account: B, orderId: 1, qtyLots: 2 }), RejectReason.UnknownOrder);
  });

  it('replace that crosses trades as taker; a replace the book rejects gives the extra hold back', () => {
    const r = new Rig();
    r.fund(A, 0, 1_000_000);
    r.fund(B, 500_000, 0);
    r.limit(B, Side.Sell, 10_100, 1); // id 1
    r.limit(A, Side.Buy, 10_000, 2, { flags: OrderFlags.PostOnly }); // id 2
    // PostOnly would take at 10_100: the book rejects, the ledger releases the extra hold.
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 2, priceTicks: 10_100 }), RejectReason.None);
    assert.ok(r.eventTypes().includes(EventType.Rejected));
    assert.equal(r.lk(A, r.quote), buyRequiredUnits(2, 10_000, 10, 200));
    r.limit(A, Side.Buy, 10_000, 2, { orderId: 50 }); // id 50
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 50, priceTicks: 10_100, qtyLots: 3 }), RejectReason.None);
    // Trades 1 lot at 10_100 as taker (taker fee ceil(20.2) = 21), rests 2 at 10_100.
    assert.equal(r.av(A, r.base), 100_000);
    assert.equal(r.lk(A, r.quote), buyRequiredUnits(2, 10_000, 10, 200) + buyRequiredUnits(2, 10_100, 10, 200));
    assert.equal(r.av(A, r.quote) + r.lk(A, r.quote), 1_000_000 - 101_021);
    // Replace to a quantity at or below the filled one: Canceled(ReplaceDone) ends it.
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 50, qtyLots: 1 }), RejectReason.None);
    assert.ok(r.eventTypes().includes(EventType.Canceled));
    assert.equal(r.ledger.orderHold(50), -1);
  });

  it('mass cancel and kill switch release every hold', () => {
    const r = new Rig();
    r.fund(A, 500_000, 1_000_000);
    r.limit(A, Side.Buy, 9_000, 2);
    r.limit(A, Side.Sell, 11_000, 2);
    r.send({ type: CommandType.MassCancel, account: A });
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.lk(A, r.base), 0);
    r.limit(A, Side.Buy, 9_000, 2);
    r.send({ type: CommandType.SetKillSwitch, account: A, value: 1 });
    assert.equal(r.lk(A, r.quote), 0);
    // Book rejects the killed account's order: the hold is released.
    r.limit(A, Side.Buy, 9_000, 2);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(A, r.quote), 1_000_000);
  });

  it('negative maker fee: the rebate is paid by the fee account out of the taker fee', () => {
    const r = new Rig({ makerFeePpm: -100, takerFeePpm: 300 });
    r.fund(A, 0, 1_000_000);
    r.fund(B, 500_000, 0);
    r.limit(B, Side.Sell, 10_000, 1);
    r.limit(A, Side.Buy, 10_000, 1);
    assert.equal(r.av(B, r.quote), 100_000 + 10);
    assert.equal(r.av(A, r.quote), 1_000_000 - 100_030);
    assert.equal(r.av(FEE, r.quote), 20);
  });
});

describe('ledger: funding and state', () => {
  it('deposit, withdraw, adjust validate and journal cleanly', () => {
    const r = new Rig();
    const L = r.ledger;
    assert.equal(L.deposit(A, r.quote, 0), RejectReason.InvalidValue);
    assert.equal(L.deposit(A, 9, 10), RejectReason.InvalidValue);
    assert.equal(L.deposit(0, r.quote, 10), RejectReason.InvalidAccount);
    assert.equal(L.deposit(A, r.quote, 100), RejectReason.None);
    assert.equal(L.deposit(A, r.quote, Number.MAX_SAFE_INTEGER), RejectReason.ArithmeticOverflow);
    assert.equal(L.withdraw(A, r.quote, 101), RejectReason.InsufficientBalance);
    assert.equal(L.withdraw(A, r.quote, 40), RejectReason.None);
    assert.equal(L.adjust(A, r.quote, -10), RejectReason.None);
    assert.equal(L.adjust(A, r.quote, 5), RejectReason.None);
    assert.equal(L.adjust(A, r.quote, 0), RejectReason.InvalidValue);
    assert.deepEqual(L.balance(A, r.quote), { available: 55, locked: 0 });
    assert.equal(L.totals(r.quote), 55);
    assert.equal(L.externalUnits(r.quote), 55);
  });

  it('snapshot/restore reproduces the state and continues identically', () => {
    const r = new Rig();
    r.fund(A, 500_000, 1_000_000);
    r.fund(B, 500_000, 1_000_000);
    r.limit(A, Side.Buy, 10_000, 3, { clientOrderId: 5 });
    r.limit(B, Side.Sell, 10_000, 1);
    r.limit(B, Side.Sell, 10_200, 2);
    const snap = r.ledger.snapshot();
    const restored = Ledger.restore([r.spec], { feeAccount: FEE, maxOrders: 256, maxPendingReplaces: 16 }, snap);
    assert.equal(restored.stateHash(), r.ledger.stateHash());
    r.ledger = restored;
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 0, clientOrderId: 5, qtyLots: 4 }), RejectReason.None);
    r.limit(A, Side.Buy, 10_200, 2);
    assert.equal(r.lk(B, r.base), 0);
    assert.equal(r.ledger.openOrderCount, 1);
    assert.throws(() => Ledger.restore([r.spec], { feeAccount: 98 }, snap), /fee account/);
  });

  it('rejects a spec whose fees it cannot settle', () => {
    assert.throws(() => new Ledger([testSpec({ makerFeePpm: -300, takerFeePpm: 200 })], { feeAccount: FEE }), /makerFeePpm/);
    assert.throws(() => new Ledger([testSpec()], { feeAccount: 0 }), /feeAccount/);
  });
});

describe('conditional orders', () => {
  it('a buy stop holds for the worst price it can trade at (band from X), and settles when it fires', () => {
    const r = new Rig({ marketBandBps: 500, referencePriceTicks: 10_000 });
    r.fund(A, 0, 10_000_000_000); r.fund(B, 1_000_000_000, 0);
    const x = 10_100;
    assert.equal(r.send({ type: CommandType.NewOrder, account: A, side: Side.Buy, orderType: OrderType.Stop, tif: TimeInForce.IOC,
      stopPriceTicks: x, qtyLots: 3 }), RejectReason.None);
    const worst = Math.floor((x * 10_500) / 10_000);
    assert.equal(r.lk(A, r.quote), buyRequiredUnits(3, worst, r.spec.notionalUnitsPerTickLot, Math.max(r.spec.makerFeePpm, r.spec.takerFeePpm)),
      'held at floor(X * (1 + band)) for 3 lots with fees');
    // A trade at X fires it: it buys 3 lots from B's asks at 10150 and 10200.
    assert.equal(r.limit(B, Side.Sell, 10_150, 1), RejectReason.None);
    assert.equal(r.limit(B, Side.Sell, 10_200, 5), RejectReason.None);
    assert.equal(r.limit(B, Side.Sell, x, 1), RejectReason.None);
    assert.equal(r.limit(99_1, Side.Buy, x, 1), RejectReason.InsufficientBalance, 'an unfunded account cannot trade it');
    r.fund(7, 0, 1_000_000_000);
    assert.equal(r.limit(7, Side.Buy, x, 1), RejectReason.None);
    assert.ok(r.eventTypes().includes(EventType.Triggered), 'the trade at X fired the stop');
    assert.equal(r.lk(A, r.quote), 0, 'a filled stop keeps no hold');
    assert.equal(r.av(A, r.base), 3 * r.spec.baseUnitsPerLot);
  });

  it('a trailing stop sell holds base and sells it when the price falls back', () => {
    const r = new Rig({ referencePriceTicks: 10_000 });
    r.fund(A, 5 * r.spec.baseUnitsPerLot, 0); r.fund(B, 0, 10_000_000_000); r.fund(7, 5 * r.spec.baseUnitsPerLot, 10_000_000_000);
    assert.equal(r.limit(7, Side.Sell, 10_000, 1), RejectReason.None);
    assert.equal(r.limit(B, Side.Buy, 10_000, 1), RejectReason.None); // last trade 10000
    assert.equal(r.send({ type: CommandType.NewOrder, account: A, side: Side.Sell, orderType: OrderType.TrailingStop, tif: TimeInForce.IOC,
      trailOffset: 100, qtyLots: 2 }), RejectReason.None);
    assert.equal(r.lk(A, r.base), 2 * r.spec.baseUnitsPerLot);
    assert.equal(r.limit(B, Side.Buy, 9_850, 5), RejectReason.None);
    assert.equal(r.limit(7, Side.Sell, 9_900, 1), RejectReason.None);
    assert.equal(r.limit(B, Side.Buy, 9_900, 1), RejectReason.None); // 9900 <= X = 9900: fires, sells 2 at 9850
    assert.ok(r.eventTypes().includes(EventType.Triggered));
    assert.equal(r.lk(A, r.base), 0);
    assert.equal(r.av(A, r.base), 3 * r.spec.baseUnitsPerLot);
  });

  it('a sell stop-limit holds base; cancel releases it', () => {
    const r = new Rig();
    r.fund(A, 10 * r.spec.baseUnitsPerLot, 0);
    assert.equal(r.send({ type: CommandType.NewOrder, account: A, side: Side.Sell, orderType: OrderType.StopLimit, tif: TimeInForce.GTC,
      stopPriceTicks: 9_900, priceTicks: 9_890, qtyLots: 4 }), RejectReason.None);
    assert.equal(r.lk(A, r.base), 4 * r.spec.baseUnitsPerLot);
    const id = r.seq;
    assert.equal(r.send({ type: CommandType.Cancel, account: A, orderId: id }), RejectReason.None);
    assert.equal(r.lk(A, r.base), 0);
    assert.equal(r.av(A, r.base), 10 * r.spec.baseUnitsPerLot);
  });

  it('rejects what it cannot hold: a trailing buy without a protection price, bracket children, short balances', () => {
    const r = new Rig();
    r.fund(A, 0, 1_000);
    assert.equal(r.send({ type: CommandType.NewOrder, account: A, side: Side.Buy, orderType: OrderType.TrailingStop, tif: TimeInForce.IOC,
      trailOffset: 10, qtyLots: 1 }), RejectReason.NoReferencePrice, 'no worst price to hold for');
    assert.equal(r.send({ type: CommandType.NewOrder, account: A, side: Side.Buy, orderType: OrderType.TrailingStopLimit, tif: TimeInForce.GTC,
      trailOffset: 10, limitOffsetTicks: 1, qtyLots: 1 }), RejectReason.NoReferencePrice);
    assert.equal(r.send({ type: CommandType.NewOrder, account: A, side: Side.Sell, orderType: OrderType.Limit, tif: TimeInForce.GTC,
      priceTicks: 10_000, qtyLots: 1, flags: OrderFlags.Child, linkId: 1 }), RejectReason.InvalidQuantity, 'a child starts at size 0');
    assert.equal(r.send({ type: CommandType.NewOrder, account: A, side: Side.Buy, orderType: OrderType.Stop, tif: TimeInForce.IOC,
      stopPriceTicks: 10_100, qtyLots: 5 }), RejectReason.InsufficientBalance);
    assert.equal(r.send({ type: CommandType.NewOrder, account: A, side: Side.Buy, orderType: OrderType.TrailingStop, tif: TimeInForce.IOC,
      trailOffset: 10, qtyLots: 5, protectionPriceTicks: 10_010 }), RejectReason.InsufficientBalance);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.ledger.openOrderCount, 0);
  });

  it('validates a protection price as the book does: conditional types only, a price in range', () => {
    const r = new Rig({ minPriceTicks: 100 });
    r.fund(A, 10 * r.spec.baseUnitsPerLot, 10_000_000_000);
    const before = r.ledger.stateHash();
    const stop = (protectionPriceTicks: number): Partial<Command> => ({ type: CommandType.NewOrder, account: A, side: Side.Buy,
      orderType: OrderType.Stop, tif: TimeInForce.IOC, stopPriceTicks: 10_100, qtyLots: 1, protectionPriceTicks });
    for (const bad of [99, 1_000_001, 10_000.5, -1, NaN]) assert.equal(r.send(stop(bad)), RejectReason.InvalidPrice, `protection ${bad}`);
    assert.equal(r.limit(A, Side.Buy, 10_000, 1, { protectionPriceTicks: 10_000 }), RejectReason.InvalidPrice, 'not on Limit');
    assert.equal(r.ledger.stateHash(), before, 'rejects change nothing');
    assert.equal(r.send(stop(100)), RejectReason.None, 'minPriceTicks is a valid cap');
  });
});

/** The ledger's price of a live order, from its canonical dump (14 fields per order, price at 5). */
function ledgerPx(L: Ledger, orderId: number): number {
  const d = L.stateDump();
  const k = d[1]!;
  let p = 3 + k;
  const na = d[p++]!;
  p += na * (1 + 2 * k);
  const no = d[p++]!;
  for (let j = 0; j < no; j++, p += 14) if (d[p] === orderId) return d[p + 5]!;
  return -1;
}

describe('protection prices: trailing buys and trailing stop-limits', () => {
  const N = 10, TAKER = 200, LIMIT = 200; // testSpec: taker 200 ppm, limit orders max(maker 100, taker 200)
  /** Last trade at `px`: account 7 sells one lot to B. */
  function lastTrade(r: Rig, px: number): void {
    assert.equal(r.limit(7, Side.Sell, px, 1), RejectReason.None);
    assert.equal(r.limit(B, Side.Buy, px, 1, { tif: TimeInForce.IOC }), RejectReason.None);
  }
  function rig(): Rig {
    const r = new Rig();
    r.fund(A, 10 * r.spec.baseUnitsPerLot, 10_000_000_000);
    r.fund(B, 10 * r.spec.baseUnitsPerLot, 10_000_000_000);
    r.fund(7, 100 * r.spec.baseUnitsPerLot, 10_000_000_000);
    lastTrade(r, 10_000);
    return r;
  }
  const trailing = (side: number, orderType: number, more: Partial<Command>): Partial<Command> => ({
    type: CommandType.NewOrder, account: A, side, orderType, tif: orderType === OrderType.TrailingStop ? TimeInForce.IOC : TimeInForce.GTC,
    trailOffset: 20, qtyLots: 3, ...more,
  });

  it('trailingProtectionTicks: the book\'s bound relative to X = ref + d (+ limit offset), clamped; 0 where it does not apply', () => {
    const r = new Rig();
    const c = new Command();
    Object.assign(c, trailing(Side.Buy, OrderType.TrailingStop, {}));
    assert.equal(r.ledger.trailingProtectionTicks(0, c, 10_000), Math.floor((10_020 * 10_500) / 10_000));
    c.flags = OrderFlags.TrailBps; c.trailOffset = 25; // d = floor(10000 * 25 / 10000) = 25
    assert.equal(r.ledger.trailingProtectionTicks(0, c, 10_000), Math.floor((10_025 * 10_500) / 10_000));
    c.flags = 0; c.trailOffset = 20; c.orderType = OrderType.TrailingStopLimit; c.limitOffsetTicks = 7;
    assert.equal(r.ledger.trailingProtectionTicks(0, c, 10_000), Math.floor((10_027 * 10_500) / 10_000));
    assert.equal(r.ledger.trailingProtectionTicks(0, c, 999_990), r.spec.maxPriceTicks, 'clamped to maxPriceTicks');
    assert.equal(r.ledger.trailingProtectionTicks(0, c, 0), 0, 'no reference price');
    c.side = Side.Sell;
    assert.equal(r.ledger.trailingProtectionTicks(0, c, 10_000), 0, 'sells hold base: no protection needed');
    c.side = Side.Buy; c.orderType = OrderType.Stop;
    assert.equal(r.ledger.trailingProtectionTicks(0, c, 10_000), 0, 'not trailing');
  });

  it('trailing stop buy: held at its protection; fires, trades up to it, the rest expires and releases', () => {
    const r = rig();
    const quote0 = r.av(A, r.quote);
    assert.equal(r.send(trailing(Side.Buy, OrderType.TrailingStop, { protectionPriceTicks: 10_030 })), RejectReason.None);
    const id = r.seq;
    assert.equal(r.lk(A, r.quote), buyRequiredUnits(3, 10_030, N, TAKER), 'held for 3 lots at the protection price, taker fee');
    assert.equal(r.limit(7, Side.Sell, 10_025, 1), RejectReason.None);
    assert.equal(r.limit(7, Side.Sell, 10_040, 5), RejectReason.None);
    lastTrade(r, 10_020); // X = 10020: fires; bound min(10521, 10521, 10030) = 10030
    const types = r.eventTypes();
    assert.ok(types.includes(EventType.Triggered) && types.includes(EventType.Expired), `events ${types}`);
    assert.equal(r.ledger.orderHold(id), -1, 'ended');
    assert.equal(r.lk(A, r.quote), 0, 'nothing left locked');
    assert.equal(r.av(A, r.quote), quote0 - 100_250 - Math.ceil((100_250 * TAKER) / 1e6), 'paid one lot at 10025 plus its taker fee');
    assert.equal(r.av(A, r.base), 11 * r.spec.baseUnitsPerLot);
  });

  it('trailing stop buy: a cancel while pending releases the whole hold', () => {
    const r = rig();
    const quote0 = r.av(A, r.quote);
    assert.equal(r.send(trailing(Side.Buy, OrderType.TrailingStop, { protectionPriceTicks: 10_500 })), RejectReason.None);
    assert.equal(r.lk(A, r.quote), buyRequiredUnits(3, 10_500, N, TAKER));
    assert.equal(r.send({ type: CommandType.Cancel, account: A, orderId: r.seq }), RejectReason.None);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(A, r.quote), quote0);
  });

  it('trailing stop-limit buy: held at the cap; Triggered brings the hold to the resting price; fills and cancel settle', () => {
    const r = rig();
    const quote0 = r.av(A, r.quote);
    assert.equal(r.send(trailing(Side.Buy, OrderType.TrailingStopLimit, { limitOffsetTicks: 5, protectionPriceTicks: 10_030 })), RejectReason.None);
    const id = r.seq;
    assert.equal(r.lk(A, r.quote), buyRequiredUnits(3, 10_030, N, LIMIT), 'held at the cap with the limit-order fee rate');
    assert.equal(ledgerPx(r.ledger, id), 10_030);
    assert.equal(r.limit(7, Side.Sell, 10_023, 1), RejectReason.None);
    lastTrade(r, 10_020); // X 10020, limit min(10025, 10030) = 10025: buys 1 at 10023, rests 2 at 10025
    const trig = r.lastEvents.find((e) => e[0] === EventType.Triggered)!;
    assert.equal(trig[8], 10_025, 'Triggered carries the limit');
    assert.equal(ledgerPx(r.ledger, id), 10_025, 'the ledger learned the resting price');
    assert.equal(r.lk(A, r.quote), buyRequiredUnits(2, 10_025, N, LIMIT), 'hold of the 2 resting lots at 10025');
    assert.equal(r.book.bestBidTicks(), 10_025);
    // A seller takes one more lot at the resting price (A is the maker now).
    assert.equal(r.limit(B, Side.Sell, 10_025, 1, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.equal(r.lk(A, r.quote), buyRequiredUnits(1, 10_025, N, LIMIT));
    assert.equal(r.send({ type: CommandType.Cancel, account: A, orderId: id }), RejectReason.None);
    assert.equal(r.lk(A, r.quote), 0);
    const paid = 100_230 + Math.ceil((100_230 * 200) / 1e6) + 100_250 + Math.ceil((100_250 * 100) / 1e6);
    assert.equal(r.av(A, r.quote), quote0 - paid, 'one lot at 10023 as taker, one at 10025 as maker');
    assert.equal(r.av(A, r.base), 12 * r.spec.baseUnitsPerLot);
  });

  it('trailing stop-limit buy: when the cap binds it rests at the cap, hold unchanged', () => {
    const r = rig();
    assert.equal(r.send(trailing(Side.Buy, OrderType.TrailingStopLimit, { limitOffsetTicks: 5, protectionPriceTicks: 10_022 })), RejectReason.None);
    const id = r.seq;
    const held = r.lk(A, r.quote);
    assert.equal(held, buyRequiredUnits(3, 10_022, N, LIMIT));
    assert.equal(r.limit(7, Side.Sell, 10_023, 1), RejectReason.None);
    lastTrade(r, 10_020);
    assert.equal(r.book.bestBidTicks(), 10_022, 'rests at the cap, below the 10023 ask');
    assert.equal(ledgerPx(r.ledger, id), 10_022);
    assert.equal(r.lk(A, r.quote), held);
  });

  it('trailing stop-limit sell: holds base; its resting price is learned from Triggered', () => {
    const r = rig();
    assert.equal(r.send(trailing(Side.Sell, OrderType.TrailingStopLimit, { limitOffsetTicks: 5 })), RejectReason.None);
    const id = r.seq;
    assert.equal(r.lk(A, r.base), 3 * r.spec.baseUnitsPerLot);
    assert.equal(ledgerPx(r.ledger, id), r.spec.minPriceTicks, 'a placeholder until it fires (a sell hold does not depend on it)');
    // Last trade 9980 <= X = 9980: fires with limit 9975; no bid left: it rests at 9975.
    assert.equal(r.limit(7, Side.Buy, 9_980, 1), RejectReason.None);
    assert.equal(r.limit(B, Side.Sell, 9_980, 1, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.ok(r.eventTypes().includes(EventType.Triggered));
    assert.equal(r.book.bestAskTicks(), 9_975);
    assert.equal(ledgerPx(r.ledger, id), 9_975);
    assert.equal(r.lk(A, r.base), 3 * r.spec.baseUnitsPerLot);
    assert.equal(r.send({ type: CommandType.Cancel, account: A, orderId: id }), RejectReason.None);
    assert.equal(r.lk(A, r.base), 0);
    assert.equal(r.av(A, r.base), 10 * r.spec.baseUnitsPerLot);
  });

  it('trailing stop-limit sell: the STP decrement of a quote-sized buy is priced at the learned resting price', () => {
    const r = rig();
    assert.equal(r.send(trailing(Side.Sell, OrderType.TrailingStopLimit, { limitOffsetTicks: 5, qtyLots: 1 })), RejectReason.None);
    assert.equal(r.limit(7, Side.Buy, 9_980, 1), RejectReason.None);
    assert.equal(r.limit(B, Side.Sell, 9_980, 1, { tif: TimeInForce.IOC }), RejectReason.None); // fires: A's 1 lot rests at 9975
    assert.equal(r.limit(7, Side.Sell, 9_976, 1), RejectReason.None);
    // A buys by quote for exactly two lots: 1 decremented against its own 9975 ask, then 1 bought at 9976.
    const quote0 = r.av(A, r.quote);
    assert.equal(r.marketQuote(A, Side.Buy, (9_975 + 9_976) * N, { stpMode: StpMode.Decrement }), RejectReason.None);
    assert.equal(r.ledger.openOrderCount, 0, 'the taker spent its quote exactly and the ledger knows it (no order left)');
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(A, r.quote), quote0 - 99_760 - Math.ceil((99_760 * TAKER) / 1e6));
  });

  it('stop and stop-limit buys with a protection price are held at the tighter price', () => {
    const r = rig();
    assert.equal(r.send({ type: CommandType.NewOrder, account: A, side: Side.Buy, orderType: OrderType.Stop, tif: TimeInForce.IOC,
      stopPriceTicks: 10_100, qtyLots: 3, protectionPriceTicks: 10_150 }), RejectReason.None);
    assert.equal(r.ledger.orderHold(r.seq), buyRequiredUnits(3, 10_150, N, TAKER), 'min(floor(10100 * 1.05), 10150)');
    assert.equal(r.send({ type: CommandType.NewOrder, account: A, side: Side.Buy, orderType: OrderType.StopLimit, tif: TimeInForce.GTC,
      stopPriceTicks: 10_100, priceTicks: 10_200, qtyLots: 3, protectionPriceTicks: 10_150 }), RejectReason.None);
    const sl = r.seq;
    assert.equal(r.ledger.orderHold(sl), buyRequiredUnits(3, 10_150, N, LIMIT), 'min(limit 10200, 10150)');
    lastTrade(r, 10_100); // both fire; the stop-limit rests at 10150
    assert.equal(ledgerPx(r.ledger, sl), 10_150);
    assert.equal(r.ledger.orderHold(sl), buyRequiredUnits(3, 10_150, N, LIMIT));
  });
});

describe('OCO and brackets: linked legs share one hold', () => {
  const child = (account: number, side: number, linkId: number, more: Partial<Command>): Partial<Command> => ({
    type: CommandType.NewOrder, account, side, flags: OrderFlags.Child, linkId, qtyLots: 0, ...more,
  });
  const tp = (account: number, side: number, linkId: number, priceTicks: number): Partial<Command> =>
    child(account, side, linkId, { orderType: OrderType.Limit, tif: TimeInForce.GTC, priceTicks });
  const sl = (account: number, side: number, linkId: number, stopPriceTicks: number): Partial<Command> =>
    child(account, side, linkId, { orderType: OrderType.Stop, tif: TimeInForce.IOC, stopPriceTicks });
  const pairHold = (r: Rig, a: number, b: number): number => Math.max(0, r.ledger.orderHold(a)) + Math.max(0, r.ledger.orderHold(b));

  it('bracket on a buy entry: children hold 0, grow with the fills to one shared base hold, TP trades -> SL canceled', () => {
    const r = new Rig();
    const BPL = r.spec.baseUnitsPerLot;
    r.fund(A, 0, 400_000);
    r.fund(B, 3 * BPL, 1_000_000);
    assert.equal(r.limit(A, Side.Buy, 10_000, 3), RejectReason.None); // id 1
    assert.equal(r.lk(A, r.quote), 300_060);
    assert.equal(r.send(tp(A, Side.Sell, 1, 10_500)), RejectReason.None); // id 2
    assert.equal(r.send(sl(A, Side.Sell, 1, 9_500)), RejectReason.None); // id 3, OCO with 2
    assert.equal(r.ledger.orderHold(2), 0);
    assert.equal(r.ledger.orderHold(3), 0);
    assert.equal(r.lk(A, r.base), 0);
    // Entry partially filled: 1 lot delivered, both children grow to 1 lot: ONE lot of base held.
    assert.equal(r.limit(B, Side.Sell, 10_000, 1, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.equal(r.eventTypes().filter((t) => t === EventType.Activated).length, 2);
    assert.equal(r.lk(A, r.base), BPL);
    assert.equal(r.av(A, r.base), 0);
    assert.equal(pairHold(r, 2, 3), BPL);
    assert.equal(r.lk(A, r.quote), 200_040);
    // The state (links included) survives snapshot/restore.
    const restored = Ledger.restore([r.spec], { feeAccount: FEE, maxOrders: 256, maxPendingReplaces: 16 }, r.ledger.snapshot());
    assert.equal(restored.stateHash(), r.ledger.stateHash());
    // Entry filled: 3 lots delivered and held once for the pair; the entry's quote hold is gone.
    assert.equal(r.limit(B, Side.Sell, 10_000, 2, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.equal(r.lk(A, r.base), 3 * BPL);
    assert.equal(r.av(A, r.base), 0);
    assert.equal(pairHold(r, 2, 3), 3 * BPL);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(A, r.quote), 400_000 - 300_000 - 30); // maker fee 100 ppm
    // TP trades 2 of 3 lots: SL is canceled (LinkedOrder); the TP keeps what its last lot needs.
    assert.equal(r.limit(B, Side.Buy, 10_500, 2, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.ok(r.eventTypes().includes(EventType.Canceled));
    assert.equal(r.ledger.orderHold(3), -1);
    assert.equal(r.ledger.orderHold(2), BPL);
    assert.equal(r.lk(A, r.base), BPL);
    assert.equal(r.av(A, r.base), 0);
    assert.equal(r.av(A, r.quote), 400_000 - 300_030 + 210_000 - 21);
    assert.equal(r.limit(B, Side.Buy, 10_500, 1, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.equal(r.ledger.openOrderCount, 0);
    assert.equal(r.lk(A, r.base), 0);
    assert.equal(r.av(A, r.base), 0);
  });

  // A sell entry's children are buys: they are held up front for the most they can ever reach, the
  // entry's whole quantity, at their worst price (the SL's band bound), shared by the OCO pair.
  const SL_PX = Math.floor((10_500 * 10_500) / 10_000); // 11_025: the book's bound relative to X = 10_500
  const tpNeed = (lots: number): number => buyRequiredUnits(lots, 9_500, 10, 200);
  const slNeed = (lots: number): number => buyRequiredUnits(lots, SL_PX, 10, 200);
  const pairNeed = (lots: number): number => Math.max(tpNeed(lots), slNeed(lots));
  /** The ledger's hold only (the runtime's submit), without routing: the book has not seen it yet. */
  const holdOnly = (r: Rig, fields: Partial<Command>): { code: number; cmd: Command } => {
    const c = new Command();
    Object.assign(c, { seq: ++r.seq, tsUs: r.tsUs }, fields);
    if (c.type === CommandType.NewOrder && c.orderId === 0) c.orderId = c.seq;
    return { code: r.ledger.hold(c, 0, r.book.referencePriceTicks), cmd: c };
  };
  /** The book executes a held command; its events are returned unsettled (settle them with settle). */
  const execOnly = (r: Rig, c: Command): Float64Array[] => {
    r.ev.clear();
    r.book.execute(c);
    const out: Float64Array[] = [];
    for (let i = 0; i < r.ev.count; i++) out.push(Float64Array.from(r.ev.record(i)));
    return out;
  };
  const settle = (r: Rig, recs: Float64Array[]): void => {
    for (const rec of recs) r.ledger.applyRecord(rec, 0);
    r.checkConservation();
  };

  it('sell entry with TP/SL buy children: the pair holds the SL\'s worst case for the entry\'s whole quantity up front', () => {
    const r = new Rig();
    const BPL = r.spec.baseUnitsPerLot;
    assert.equal(pairNeed(3), slNeed(3));
    assert.equal(slNeed(3), 330_819);
    r.fund(A, 3 * BPL, slNeed(3));
    r.fund(B, 3 * BPL, 2_000_000);
    assert.equal(r.limit(A, Side.Sell, 10_000, 3), RejectReason.None); // id 1
    assert.equal(r.send(tp(A, Side.Buy, 1, 9_500)), RejectReason.None); // id 2
    assert.equal(r.ledger.orderHold(2), tpNeed(3), 'size 0, held for the 3 lots its entry can give it');
    assert.equal(r.send(sl(A, Side.Buy, 1, 10_500)), RejectReason.None); // id 3, OCO with 2
    assert.equal(r.lk(A, r.quote), slNeed(3));
    assert.equal(pairHold(r, 2, 3), slNeed(3));
    assert.equal(r.av(A, r.quote), 0);
    // The entry fills: the children grow, the hold does not; the proceeds stay available.
    assert.equal(r.limit(B, Side.Buy, 10_000, 1, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.equal(r.eventTypes().filter((t) => t === EventType.Activated).length, 2);
    assert.deepEqual(r.ledger.openOrders().filter((o) => o.orderId !== 1).map((o) => o.remainingLots), [1, 1]);
    assert.equal(r.lk(A, r.quote), slNeed(3));
    assert.equal(r.av(A, r.quote), 99_990);
    assert.equal(r.limit(B, Side.Buy, 10_000, 2, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.equal(r.lk(A, r.quote), slNeed(3));
    assert.equal(r.av(A, r.quote), 3 * 99_990);
    assert.equal(r.lk(A, r.base), 0);
    // TP (buy limit 9_500) trades 2 lots as maker: SL canceled, hold = the TP's last lot.
    assert.equal(r.limit(B, Side.Sell, 9_500, 2, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.equal(r.ledger.orderHold(3), -1);
    assert.equal(r.lk(A, r.quote), tpNeed(1));
    assert.equal(r.av(A, r.quote), 3 * 99_990 + slNeed(3) - 190_000 - 19 - tpNeed(1));
    assert.equal(r.av(A, r.base), 2 * BPL);
    assert.equal(r.send({ type: CommandType.Cancel, account: A, orderId: 2 }), RejectReason.None);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.ledger.openOrderCount, 0);
    assert.equal(r.ledger.shortfallCount, 0);
  });

  it('sell entry: a child the account cannot cover at its worst case is refused and changes nothing; the SL then fires fully covered', () => {
    const r = new Rig();
    const BPL = r.spec.baseUnitsPerLot;
    r.fund(A, BPL, 0); // no quote: the entry's proceeds would not cover the SL
    r.fund(B, 3 * BPL, 1_000_000);
    r.fund(3, 0, 1_000_000);
    assert.equal(r.limit(A, Side.Sell, 10_000, 1), RejectReason.None); // id 1
    let before = r.ledger.stateHash();
    assert.equal(r.send(tp(A, Side.Buy, 1, 9_500)), RejectReason.InsufficientBalance);
    assert.equal(r.ledger.stateHash(), before, 'a refused child changes nothing');
    assert.equal(r.ledger.deposit(A, r.quote, slNeed(1) - 1), RejectReason.None);
    assert.equal(r.send(tp(A, Side.Buy, 1, 9_500)), RejectReason.None); // id 3 (the refused one used seq 2)
    assert.equal(r.lk(A, r.quote), tpNeed(1));
    before = r.ledger.stateHash();
    assert.equal(r.send(sl(A, Side.Buy, 1, 10_500)), RejectReason.InsufficientBalance, 'one unit short of the SL\'s worst case');
    assert.equal(r.ledger.stateHash(), before);
    assert.equal(r.ledger.deposit(A, r.quote, 1), RejectReason.None);
    assert.equal(r.send(sl(A, Side.Buy, 1, 10_500)), RejectReason.None); // id 5
    assert.equal(r.lk(A, r.quote), slNeed(1));
    assert.equal(r.av(A, r.quote), 0);
    // The entry fills: nothing more is taken, the proceeds are free.
    assert.equal(r.limit(B, Side.Buy, 10_000, 1, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.equal(r.lk(A, r.quote), slNeed(1));
    assert.equal(r.av(A, r.quote), 99_990);
    assert.equal(r.ledger.shortfallCount, 0);
    // The price rises through X = 10_500: the SL fires and buys at 10_500 out of its own hold; TP canceled.
    assert.equal(r.limit(B, Side.Sell, 10_500, 2), RejectReason.None);
    assert.equal(r.limit(3, Side.Buy, 10_500, 1, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.ok(r.eventTypes().includes(EventType.Triggered));
    assert.equal(r.ledger.orderHold(3), -1);
    assert.equal(r.ledger.orderHold(5), -1);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(A, r.quote), 99_990 + slNeed(1) - 105_000 - 21);
    assert.equal(r.av(A, r.base), BPL);
    assert.equal(r.ledger.shortfallCount, 0);
  });

  it('sell entry partly filled, then canceled: the children keep their size\'s hold, the rest is released', () => {
    const r = new Rig();
    const BPL = r.spec.baseUnitsPerLot;
    r.fund(A, 3 * BPL, slNeed(3));
    r.fund(B, 0, 1_000_000);
    assert.equal(r.limit(A, Side.Sell, 10_000, 3), RejectReason.None); // id 1
    assert.equal(r.send(tp(A, Side.Buy, 1, 9_500)), RejectReason.None); // id 2
    assert.equal(r.send(sl(A, Side.Buy, 1, 10_500)), RejectReason.None); // id 3
    assert.equal(r.limit(B, Side.Buy, 10_000, 1, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.equal(r.lk(A, r.quote), slNeed(3));
    assert.equal(r.send({ type: CommandType.Cancel, account: A, orderId: 1 }), RejectReason.None);
    // The children stay (size 1, linked): they hold what 1 lot can cost; 2 lots' worth goes back.
    assert.equal(r.ledger.openOrderCount, 2);
    assert.equal(pairHold(r, 2, 3), slNeed(1));
    assert.equal(r.lk(A, r.quote), slNeed(1));
    assert.equal(r.av(A, r.quote), 99_990 + slNeed(3) - slNeed(1));
    assert.equal(r.lk(A, r.base), 0);
    assert.equal(r.av(A, r.base), 2 * BPL);
  });

  it('sell entry that expires unfilled: its children are canceled and release everything', () => {
    const r = new Rig();
    const BPL = r.spec.baseUnitsPerLot;
    r.fund(A, 2 * BPL, slNeed(2));
    assert.equal(r.limit(A, Side.Sell, 10_000, 2, { tif: TimeInForce.GTD, expireTsUs: r.tsUs + 10 }), RejectReason.None);
    assert.equal(r.send(tp(A, Side.Buy, 1, 9_500)), RejectReason.None);
    assert.equal(r.send(sl(A, Side.Buy, 1, 10_500)), RejectReason.None);
    assert.equal(r.lk(A, r.quote), slNeed(2));
    r.tsUs += 20;
    assert.equal(r.send({ type: CommandType.TimeTick }), RejectReason.None);
    assert.equal(r.ledger.openOrderCount, 0);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(A, r.quote), slNeed(2));
    assert.equal(r.av(A, r.base), 2 * BPL);
  });

  it('late buy child of a partly filled sell entry: held at acceptance for its size plus the entry\'s open quantity', () => {
    const r = new Rig();
    const BPL = r.spec.baseUnitsPerLot;
    r.fund(A, 3 * BPL, 0);
    r.fund(B, 0, 1_000_000);
    assert.equal(r.limit(A, Side.Sell, 10_000, 3), RejectReason.None); // id 1
    assert.equal(r.limit(B, Side.Buy, 10_000, 1, { tif: TimeInForce.IOC }), RejectReason.None); // 1 of 3 filled
    assert.equal(r.av(A, r.quote), 99_990);
    let before = r.ledger.stateHash();
    assert.equal(r.send(tp(A, Side.Buy, 1, 9_500)), RejectReason.InsufficientBalance, 'the proceeds of 1 lot do not cover 3');
    assert.equal(r.ledger.stateHash(), before);
    r.fund(A, 0, tpNeed(3) - 99_990);
    const { code, cmd } = holdOnly(r, tp(A, Side.Buy, 1, 9_500));
    assert.equal(code, RejectReason.None);
    // Before the book has seen it: sized 1, held for 1 + the 2 lots still open.
    assert.equal(r.ledger.orderHold(cmd.orderId), tpNeed(3));
    assert.equal(r.ledger.openOrders().find((o) => o.orderId === cmd.orderId)!.remainingLots, 1);
    assert.equal(r.av(A, r.quote), 0);
    before = r.ledger.stateHash();
    settle(r, execOnly(r, cmd)); // Accepted, Activated(1, 1): confirms, takes nothing
    assert.equal(r.ledger.orderHold(cmd.orderId), tpNeed(3));
    assert.equal(r.ledger.stateHash(), before);
    assert.equal(r.ledger.shortfallCount, 0);
  });

  it('late sell child of a buy entry: its base is held at acceptance, so a command in flight cannot spend it', () => {
    const r = new Rig();
    const BPL = r.spec.baseUnitsPerLot;
    r.fund(A, 0, 400_000);
    r.fund(B, 3 * BPL, 0);
    assert.equal(r.limit(A, Side.Buy, 10_000, 3), RejectReason.None); // id 1
    assert.equal(r.limit(B, Side.Sell, 10_000, 2, { tif: TimeInForce.IOC }), RejectReason.None); // entry fills 2 of 3
    assert.equal(r.av(A, r.base), 2 * BPL);
    assert.equal(r.ledger.withdraw(A, r.base, BPL), RejectReason.None); // spends one of the two lots
    const before = r.ledger.stateHash();
    assert.equal(r.send(tp(A, Side.Sell, 1, 10_500)), RejectReason.InsufficientBalance);
    assert.equal(r.ledger.stateHash(), before, 'a refused child changes nothing');
    assert.equal(r.ledger.deposit(A, r.base, BPL), RejectReason.None);
    const { code, cmd } = holdOnly(r, tp(A, Side.Sell, 1, 10_500));
    assert.equal(code, RejectReason.None);
    // Held before the book has seen it (and sized it with Activated).
    assert.equal(r.ledger.orderHold(cmd.orderId), 2 * BPL);
    assert.equal(r.lk(A, r.base), 2 * BPL);
    // A command sequenced in between cannot spend that base any more.
    assert.equal(r.ledger.withdraw(A, r.base, BPL), RejectReason.InsufficientBalance);
    assert.equal(r.send({ type: CommandType.NewOrder, account: A, side: Side.Sell, orderType: OrderType.Limit, tif: TimeInForce.GTC,
      priceTicks: 11_000, qtyLots: 1 }), RejectReason.InsufficientBalance);
    settle(r, execOnly(r, cmd));
    assert.equal(r.ledger.orderHold(cmd.orderId), 2 * BPL);
    assert.equal(r.lk(A, r.base), 2 * BPL);
    assert.equal(r.av(A, r.base), 0);
    // Its entry's last lot: the child grows in the trade record by the base that trade delivered.
    assert.equal(r.limit(B, Side.Sell, 10_000, 1, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.equal(r.ledger.orderHold(cmd.orderId), 3 * BPL);
    assert.equal(r.av(A, r.base), 0);
    assert.equal(r.ledger.shortfallCount, 0);
  });

  it('buy child held while fills of its sell entry are in flight: settled in any order, nothing more is taken', () => {
    const r = new Rig();
    const BPL = r.spec.baseUnitsPerLot;
    r.fund(A, 3 * BPL, tpNeed(3));
    r.fund(B, 0, 1_000_000);
    assert.equal(r.limit(A, Side.Sell, 10_000, 3), RejectReason.None); // id 1
    // B's buy is held and executed by the book, but its events are not settled yet.
    const fill = holdOnly(r, { type: CommandType.NewOrder, account: B, side: Side.Buy, orderType: OrderType.Limit, tif: TimeInForce.IOC,
      priceTicks: 10_000, qtyLots: 2 });
    assert.equal(fill.code, RejectReason.None);
    const fillEvents = execOnly(r, fill.cmd);
    // The child: the ledger still sees the entry unfilled: size 0, held for 3 lots.
    const child = holdOnly(r, tp(A, Side.Buy, 1, 9_500));
    assert.equal(child.code, RejectReason.None);
    assert.equal(r.lk(A, r.quote), tpNeed(3));
    const childEvents = execOnly(r, child.cmd); // the book sizes it at 2 at once
    assert.ok(childEvents.some((e) => e[0] === EventType.Activated && e[5] === 2));
    settle(r, fillEvents); // grows it by 2 in the trade records
    assert.equal(r.ledger.openOrders().find((o) => o.orderId === child.cmd.orderId)!.remainingLots, 2);
    assert.equal(r.lk(A, r.quote), tpNeed(3));
    settle(r, childEvents); // Activated(2, 2) confirms
    assert.equal(r.lk(A, r.quote), tpNeed(3));
    assert.equal(r.av(A, r.quote), 2 * 99_990);
    assert.equal(r.ledger.shortfallCount, 0);
  });

  it('a third child (the entry has two as far as the ledger knows) is refused with InvalidLink', () => {
    const r = new Rig();
    const BPL = r.spec.baseUnitsPerLot;
    r.fund(A, 3 * BPL, 1_000_000);
    assert.equal(r.limit(A, Side.Sell, 10_000, 3), RejectReason.None);
    assert.equal(r.send(tp(A, Side.Buy, 1, 9_500)), RejectReason.None);
    assert.equal(r.send(sl(A, Side.Buy, 1, 10_500)), RejectReason.None);
    const before = r.ledger.stateHash();
    assert.equal(r.send(tp(A, Side.Buy, 1, 9_400)), RejectReason.InvalidLink);
    assert.equal(r.ledger.stateHash(), before);
  });

  it('in flight, a leg that would share its partner\'s hold answers Busy; settled, it shares', () => {
    const r = new Rig();
    const BPL = r.spec.baseUnitsPerLot;
    r.fund(A, 3 * BPL, slNeed(3) + 1_000_000);
    assert.equal(r.limit(A, Side.Sell, 10_000, 3), RejectReason.None); // id 1
    assert.equal(r.send(tp(A, Side.Buy, 1, 9_500)), RejectReason.None); // id 2
    // A second child: its sibling could trade or fire before the book links them.
    let before = r.ledger.stateHash();
    const c = new Command();
    Object.assign(c, { seq: ++r.seq, tsUs: r.tsUs, orderId: r.seq }, sl(A, Side.Buy, 1, 10_500));
    assert.equal(r.ledger.hold(c, 0, r.book.referencePriceTicks, true), RejectReason.Busy);
    assert.equal(r.ledger.stateHash(), before);
    assert.equal(r.ledger.hold(c, 0, r.book.referencePriceTicks, false), RejectReason.None);
    assert.equal(pairHold(r, 2, c.orderId), slNeed(3));
    settle(r, execOnly(r, c));
    // A third child in flight: Busy (one of the two may have ended in flight); settled: InvalidLink.
    before = r.ledger.stateHash();
    const third = new Command();
    Object.assign(third, { seq: ++r.seq, tsUs: r.tsUs, orderId: r.seq }, tp(A, Side.Buy, 1, 9_400));
    assert.equal(r.ledger.hold(third, 0, r.book.referencePriceTicks, true), RejectReason.Busy);
    assert.equal(r.ledger.hold(third, 0, r.book.referencePriceTicks, false), RejectReason.InvalidLink);
    assert.equal(r.ledger.stateHash(), before);
    // A plain OCO leg likewise; an order without a partner is not affected.
    assert.equal(r.limit(A, Side.Buy, 9_000, 1), RejectReason.None);
    const plainId = r.seq;
    const leg = new Command();
    Object.assign(leg, { seq: ++r.seq, tsUs: r.tsUs, orderId: r.seq, type: CommandType.NewOrder, account: A, side: Side.Buy,
      orderType: OrderType.Stop, tif: TimeInForce.IOC, stopPriceTicks: 10_200, qtyLots: 1, linkId: plainId });
    assert.equal(r.ledger.hold(leg, 0, r.book.referencePriceTicks, true), RejectReason.Busy);
    const lone = new Command();
    Object.assign(lone, { seq: ++r.seq, tsUs: r.tsUs, orderId: r.seq, type: CommandType.NewOrder, account: A, side: Side.Buy,
      orderType: OrderType.Limit, tif: TimeInForce.GTC, priceTicks: 9_000, qtyLots: 1 });
    assert.equal(r.ledger.hold(lone, 0, r.book.referencePriceTicks, true), RejectReason.None);
  });

  it('replace of a sell entry with buy children: up reserves their extra need or is refused; down and a rejected replace release it', () => {
    const r = new Rig();
    const BPL = r.spec.baseUnitsPerLot;
    r.fund(A, 3 * BPL, slNeed(2));
    assert.equal(r.limit(A, Side.Sell, 10_000, 2), RejectReason.None); // id 1
    assert.equal(r.send(tp(A, Side.Buy, 1, 9_500)), RejectReason.None); // id 2
    assert.equal(r.send(sl(A, Side.Buy, 1, 10_500)), RejectReason.None); // id 3
    assert.equal(r.lk(A, r.quote), slNeed(2));
    // Up to 3 lots: the base for the entry is there, the quote for the children is not: refused.
    let before = r.ledger.stateHash();
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 1, qtyLots: 3 }), RejectReason.InsufficientBalance);
    assert.equal(r.ledger.stateHash(), before);
    r.fund(A, 0, slNeed(3) - slNeed(2));
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 1, qtyLots: 3 }), RejectReason.None);
    assert.equal(r.lk(A, r.base), 3 * BPL);
    assert.equal(r.lk(A, r.quote), slNeed(3));
    assert.equal(r.av(A, r.quote), 0);
    // Down to 1 lot: base and the children's reserve go back.
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 1, qtyLots: 1 }), RejectReason.None);
    assert.equal(r.lk(A, r.base), BPL);
    assert.equal(r.lk(A, r.quote), slNeed(1));
    assert.equal(r.av(A, r.quote), slNeed(3) - slNeed(1));
    // Up to more than the book allows (maxQtyLots 1_000): held before the book, released by its Rejected.
    r.fund(A, 1_000 * BPL, slNeed(1_001));
    const avQuote = r.av(A, r.quote), avBase = r.av(A, r.base);
    const { code, cmd } = holdOnly(r, { type: CommandType.Replace, account: A, orderId: 1, qtyLots: 1_001 });
    assert.equal(code, RejectReason.None);
    assert.equal(r.lk(A, r.quote), slNeed(1_001));
    assert.equal(r.lk(A, r.base), 1_001 * BPL);
    const ev = execOnly(r, cmd);
    assert.ok(ev.some((e) => e[0] === EventType.Rejected && e[6] === RejectReason.QuantityAboveMax));
    settle(r, ev);
    assert.equal(r.lk(A, r.quote), slNeed(1));
    assert.equal(r.lk(A, r.base), BPL);
    assert.equal(r.av(A, r.quote), avQuote);
    assert.equal(r.av(A, r.base), avBase);
    assert.equal(r.ledger.shortfallCount, 0);
  });

  it('a child sent while a replace raising its sell entry is in flight is held for the raised quantity', () => {
    const r = new Rig();
    const BPL = r.spec.baseUnitsPerLot;
    r.fund(A, 3 * BPL, slNeed(3));
    assert.equal(r.limit(A, Side.Sell, 10_000, 2), RejectReason.None); // id 1, no children yet
    const rep = holdOnly(r, { type: CommandType.Replace, account: A, orderId: 1, qtyLots: 3 });
    assert.equal(rep.code, RejectReason.None);
    const repEvents = execOnly(r, rep.cmd); // Replaced(qty 3), not settled yet
    const child = holdOnly(r, sl(A, Side.Buy, 1, 10_500));
    assert.equal(child.code, RejectReason.None);
    assert.equal(r.ledger.orderHold(child.cmd.orderId), slNeed(3), 'held for the quantity in flight, not the 2 lots settled');
    const childEvents = execOnly(r, child.cmd);
    settle(r, repEvents);
    settle(r, childEvents);
    assert.equal(r.ledger.orderHold(child.cmd.orderId), slNeed(3));
    assert.equal(r.lk(A, r.quote), slNeed(3));
    assert.equal(r.ledger.shortfallCount, 0);
    // The snapshot of such a state (a ceiling in flight) continues identically.
    const rep2 = holdOnly(r, { type: CommandType.Replace, account: A, orderId: 1, qtyLots: 2 });
    assert.equal(rep2.code, RejectReason.None);
    const snap = Ledger.restore([r.spec], { feeAccount: FEE, maxOrders: 256, maxPendingReplaces: 16 }, r.ledger.snapshot());
    assert.equal(snap.stateHash(), r.ledger.stateHash());
    const ev2 = execOnly(r, rep2.cmd);
    for (const e of ev2) snap.applyRecord(e, 0);
    settle(r, ev2);
    assert.equal(snap.stateHash(), r.ledger.stateHash());
    assert.equal(r.lk(A, r.quote), slNeed(2));
  });

  it('restores a version 3 snapshot that means the same today; refuses one holding a buy child of a live entry', () => {
    const opts = { feeAccount: FEE, maxOrders: 256, maxPendingReplaces: 16 };
    /** A version 4 dump (19 fields per order, 4 per replace in flight) written as version 3 (17 and 3). */
    const toV3 = (d: number[]): number[] => {
      const out = [3, d[1]!, d[2]!];
      const k = d[1]!;
      let p = 3;
      for (let a = 0; a < k; a++) out.push(d[p++]!);
      const na = d[p++]!; out.push(na);
      for (let j = 0; j < na; j++) { for (let x = 0; x < 1 + 2 * k; x++) out.push(d[p++]!); }
      const no = d[p++]!; out.push(no);
      for (let j = 0; j < no; j++) { for (let x = 0; x < 17; x++) out.push(d[p++]!); p += 2; }
      const np = d[p++]!; out.push(np);
      for (let j = 0; j < np; j++) { out.push(d[p]!, d[p + 1]!, d[p + 2]!); p += 4; }
      while (p < d.length) out.push(d[p++]!);
      return out;
    };
    const r = new Rig();
    const BPL = r.spec.baseUnitsPerLot;
    r.fund(A, 3 * BPL, 1_000_000);
    r.fund(B, 3 * BPL, 1_000_000);
    assert.equal(r.limit(A, Side.Buy, 10_000, 2), RejectReason.None); // id 1: a buy entry with a sell child
    assert.equal(r.send(tp(A, Side.Sell, 1, 10_500)), RejectReason.None);
    assert.equal(r.limit(B, Side.Sell, 10_000, 1, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.equal(r.limit(A, Side.Sell, 11_000, 1), RejectReason.None);
    const v3 = toV3(r.ledger.stateDump());
    assert.equal(v3[0], 3);
    const restored = Ledger.restore([r.spec], opts, v3);
    assert.equal(restored.stateHash(), r.ledger.stateHash(), 'same state, dumped as version 4');
    // A sell entry with a buy child: under version 3 that child was held only for its size.
    assert.equal(r.limit(A, Side.Sell, 10_200, 2), RejectReason.None);
    assert.equal(r.send(tp(A, Side.Buy, r.seq, 9_500)), RejectReason.None);
    assert.throws(() => Ledger.restore([r.spec], opts, toV3(r.ledger.stateDump())), (e: unknown) => e instanceof LedgerError && /version 3/.test(e.message));
    // Unknown versions are refused.
    const bad = r.ledger.stateDump(); bad[0] = 99;
    assert.throws(() => Ledger.restore([r.spec], opts, bad), /unknown version 99/);
  });

  it('plain OCO: two buys share max(their holds); the first that trades cancels the other and the pair releases', () => {
    const r = new Rig();
    const N = r.spec.notionalUnitsPerTickLot;
    const limitNeed = buyRequiredUnits(2, 9_900, N, 200);
    const stopNeed = buyRequiredUnits(2, Math.floor((10_200 * 10_500) / 10_000), N, 200);
    assert.equal(stopNeed, 214_244);
    r.fund(A, 0, stopNeed); // enough for the larger leg only
    r.fund(B, 1_000_000, 0);
    assert.equal(r.limit(A, Side.Buy, 9_900, 2), RejectReason.None); // id 1
    assert.equal(r.lk(A, r.quote), limitNeed);
    assert.equal(r.send({ type: CommandType.NewOrder, account: A, side: Side.Buy, orderType: OrderType.Stop, tif: TimeInForce.IOC,
      stopPriceTicks: 10_200, qtyLots: 2, linkId: 1 }), RejectReason.None); // id 2
    assert.equal(r.lk(A, r.quote), stopNeed);
    assert.equal(r.av(A, r.quote), 0);
    assert.equal(pairHold(r, 1, 2), stopNeed);
    // A replace of the limit leg above the stop's need locks only the difference to the larger need.
    const upNeed = buyRequiredUnits(2, 10_800, N, 200);
    r.fund(A, 0, upNeed - stopNeed);
    assert.equal(r.send({ type: CommandType.Replace, account: A, orderId: 1, priceTicks: 10_800, qtyLots: 2 }), RejectReason.None);
    assert.equal(r.lk(A, r.quote), upNeed);
    assert.equal(r.av(A, r.quote), 0);
    // The limit leg trades 1 lot as maker: the stop is canceled; the rest holds what one lot needs.
    assert.equal(r.limit(B, Side.Sell, 10_800, 1, { tif: TimeInForce.IOC }), RejectReason.None);
    assert.equal(r.ledger.orderHold(2), -1);
    assert.equal(r.lk(A, r.quote), buyRequiredUnits(1, 10_800, N, 200));
    assert.equal(r.av(A, r.quote), upNeed - 108_000 - 11 - buyRequiredUnits(1, 10_800, N, 200));
    assert.equal(r.send({ type: CommandType.Cancel, account: A, orderId: 1 }), RejectReason.None);
    assert.equal(r.lk(A, r.quote), 0);
    assert.equal(r.av(A, r.quote), upNeed - 108_011);
  });

  it('plain OCO of two sells shares the base; a cancel of one leg takes both and releases all', () => {
    const r = new Rig();
    const BPL = r.spec.baseUnitsPerLot;
    r.fund(A, 3 * BPL, 0);
    assert.equal(r.limit(A, Side.Sell, 10_500, 3), RejectReason.None);
    assert.equal(r.send({ type: CommandType.NewOrder, account: A, side: Side.Sell, orderType: OrderType.Stop, tif: TimeInForce.IOC,
      stopPriceTicks: 9_500, qtyLots: 2, linkId: 1 }), RejectReason.None);
    assert.equal(r.lk(A, r.base), 3 * BPL);
    assert.equal(pairHold(r, 1, 2), 3 * BPL);
    assert.equal(r.send({ type: CommandType.Cancel, account: A, orderId: 2 }), RejectReason.None);
    assert.equal(r.ledger.openOrderCount, 0);
    assert.equal(r.lk(A, r.base), 0);
    assert.equal(r.av(A, r.base), 3 * BPL);
  });
});

describe('SeqMap (order id and seq index)', () => {
  // Against a Map, under the patterns the ledger sees: ids mostly increasing, most ending soon, some
  // living long (their entries collide with ids a multiple of the capacity later), random deletes.
  function check(keyOf: (n: number, r: () => number) => number, steps: number, expected: number): void {
    let x = 12345;
    const r = (): number => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x / 4294967296; };
    const m = new SeqMap(expected);
    const ref = new Map<number, number>();
    const live: number[] = [];
    for (let n = 1; n <= steps; n++) {
      const k = keyOf(n, r);
      if (!ref.has(k) && ref.size < expected) {
        m.set(k, n & 0x7fffffff); ref.set(k, n & 0x7fffffff); live.push(k);
      }
      if (live.length > 0 && r() < 0.5) {
        // Mostly the oldest or the newest (IOC, short GTD), sometimes any.
        const u = r();
        const at = u < 0.4 ? 0 : u < 0.8 ? live.length - 1 : Math.floor(r() * live.length);
        const d = live[at]!;
        live[at] = live[live.length - 1]!; live.pop();
        assert.equal(m.delete(d), true);
        ref.delete(d);
        assert.equal(m.delete(d), false);
      }
      if (n % 97 === 0) {
        for (const [key, v] of ref) assert.equal(m.get(key), v, `key ${key} at step ${n}`);
        assert.equal(m.size, ref.size);
        assert.equal(m.get(k + 1_000_003), ref.get(k + 1_000_003) ?? -1);
      }
    }
    for (const [key, v] of ref) assert.equal(m.get(key), v);
    for (const key of [...ref.keys()]) { assert.equal(m.delete(key), true); assert.equal(m.get(key), -1); }
    assert.equal(m.size, 0);
  }

  it('consecutive ids', () => check((n) => n, 20_000, 1000));
  it('consecutive ids with long-lived ones colliding at multiples of the capacity', () => {
    // capacity 2048 for 1000 entries: every id collides with the ids 2048k away.
    check((n, r) => (r() < 0.3 ? n : n + 2048 * Math.floor(r() * 8)), 20_000, 1000);
  });
  it('random and large keys (beyond 2^32)', () => check((n, r) => 1 + Math.floor(r() * 2 ** 52), 10_000, 500));
  it('a long run of live consecutive ids: an overwrite keeps one entry; full past half', () => {
    const m = new SeqMap(1000);
    for (let k = 1; k <= 1000; k++) m.set(k, k);
    m.set(500, 7);
    assert.equal(m.get(500), 7);
    assert.equal(m.size, 1000);
    for (let k = 1001; k <= 1024; k++) m.set(k, k);
    assert.throws(() => m.set(5000, 1), /SeqMap full/);
  });
});
