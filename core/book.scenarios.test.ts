// Hand-written scenarios with exact expected events, one per rule of docs/matching-semantics.md.
// Every scenario runs against both the reference book and the fast OrderBook (when it loads), so
// the oracle is checked against hand-computed expectations too.
//
// testSpec(): N = 10 units per tick-lot, reference 10000, limit band 10% -> [9000, 11000],
// market band 5% -> buy <= 10500, sell >= 9500, maker 100 ppm, taker 200 ppm.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { InstrumentSpec } from './instrument.js';
import {
  Command, CommandType, EndReason, OrderFlags, OrderType, RejectReason, Side, StpMode, TimeInForce,
} from './types.js';
import { Driver, describeEvent, parseDump, testSpec, type BookFactory } from '../testing/fixtures.js';
import { loadFastBook } from '../testing/load-book.js';
import { ReferenceBook } from '../testing/reference-book.js';

type Ev = Record<string, number | string>;
type Cmd = Partial<Command>;

const B = Side.Buy, S = Side.Sell;
const N = 10;
const T0 = 1_000_000;

// ---- command shorthands ------------------------------------------------------------------------

function lim(account: number, side: number, priceTicks: number, qtyLots: number, extra: Cmd = {}): Cmd {
  return { type: CommandType.NewOrder, account, side, orderType: OrderType.Limit, tif: TimeInForce.GTC, priceTicks, qtyLots, ...extra };
}
function mkt(account: number, side: number, qtyLots: number, extra: Cmd = {}): Cmd {
  return { type: CommandType.NewOrder, account, side, orderType: OrderType.Market, tif: TimeInForce.IOC, qtyLots, ...extra };
}
function quote(account: number, side: number, quoteQtyUnits: number, extra: Cmd = {}): Cmd {
  return { type: CommandType.NewOrder, account, side, orderType: OrderType.Market, tif: TimeInForce.IOC, flags: OrderFlags.QuoteQty, quoteQtyUnits, ...extra };
}
const cancel = (account: number, orderId: number, clientOrderId = 0): Cmd => ({ type: CommandType.Cancel, account, orderId, clientOrderId });
const replace = (account: number, orderId: number, priceTicks: number, qtyLots: number, extra: Cmd = {}): Cmd =>
  ({ type: CommandType.Replace, account, orderId, priceTicks, qtyLots, ...extra });
const mass = (account: number): Cmd => ({ type: CommandType.MassCancel, account });
const kill = (account: number, value: number): Cmd => ({ type: CommandType.SetKillSwitch, account, value });
const status = (value: number): Cmd => ({ type: CommandType.SetSymbolStatus, value });
const limits = (account: number, value: number, value2: number): Cmd => ({ type: CommandType.SetAccountLimits, account, value, value2 });
const refPrice = (value: number): Cmd => ({ type: CommandType.SetReferencePrice, value });
const tick = (tsUs: number): Cmd => ({ type: CommandType.TimeTick, tsUs });

// ---- expected events ---------------------------------------------------------------------------

/** Accepted for a NewOrder command `c` that got id `orderId`. */
function accepted(orderId: number, c: Cmd): Ev {
  return {
    type: 'Accepted', orderId, account: c.account ?? 0, clientOrderId: c.clientOrderId ?? 0, side: c.side ?? 0,
    orderType: c.orderType ?? 0, tif: c.tif ?? 0, priceTicks: c.priceTicks ?? 0, qtyLots: c.qtyLots ?? 0,
    quoteQtyUnits: c.quoteQtyUnits ?? 0, flags: c.flags ?? 0, expireTsUs: c.expireTsUs ?? 0,
  };
}
const rejected = (orderId: number, account: number, reason: number, commandType: number = CommandType.NewOrder, clientOrderId = 0): Ev =>
  ({ type: 'Rejected', orderId, account, clientOrderId, reason, commandType });
/** Fee at the default rates (ppm), small positive notionals only. */
const feeOf = (notional: number, ppm: number): number => Math.ceil((notional * ppm) / 1e6);
function trade(tradeId: number, priceTicks: number, qtyLots: number, maker: [number, number], taker: [number, number],
  takerSide: number, makerRemainingLots: number, takerRemainingLots: number, fees?: [number, number]): Ev {
  const notionalUnits = priceTicks * qtyLots * N;
  return {
    type: 'Trade', tradeId, priceTicks, qtyLots, makerOrderId: maker[0], makerAccount: maker[1], takerOrderId: taker[0],
    takerAccount: taker[1], takerSide, makerFeeUnits: fees ? fees[0] : feeOf(notionalUnits, 100),
    takerFeeUnits: fees ? fees[1] : feeOf(notionalUnits, 200), makerRemainingLots, takerRemainingLots, notionalUnits,
  };
}
const canceled = (orderId: number, account: number, remainingLots: number, reason: number, filledLots: number): Ev =>
  ({ type: 'Canceled', orderId, account, remainingLots, reason, filledLots });
const expired = (orderId: number, account: number, remainingLots: number, reason: number, filledLots: number): Ev =>
  ({ type: 'Expired', orderId, account, remainingLots, reason, filledLots });
const replaced = (orderId: number, account: number, priceTicks: number, qtyLots: number, remainingLots: number, keptPriority: number): Ev =>
  ({ type: 'Replaced', orderId, account, priceTicks, qtyLots, remainingLots, keptPriority });
const decremented = (orderId: number, account: number, decrementLots: number, remainingLots: number): Ev =>
  ({ type: 'Decremented', orderId, account, decrementLots, remainingLots });
const depth = (side: number, priceTicks: number, qtyLots: number, orderCount: number): Ev =>
  ({ type: 'Depth', side, priceTicks, qtyLots, orderCount });
const tob = (bidPriceTicks: number, bidQtyLots: number, askPriceTicks: number, askQtyLots: number): Ev =>
  ({ type: 'TopOfBook', bidPriceTicks, bidQtyLots, askPriceTicks, askQtyLots });
const adminDone = (commandType: number, account: number, value: number, value2: number, affected: number): Ev =>
  ({ type: 'AdminDone', commandType, account, value, value2, affected });

// ---- harness -----------------------------------------------------------------------------------

function expectEvents(actual: Ev[], expected: Ev[], what: string): void {
  try {
    assert.deepStrictEqual(actual, expected);
  } catch {
    const fmt = (l: Ev[]): string => l.map((e) => '  ' + describeEvent(e)).join('\n');
    assert.fail(`${what}\nactual:\n${fmt(actual)}\nexpected:\n${fmt(expected)}`);
  }
}

/** Sends each setup command and expects no Rejected among their events. */
function setup(d: Driver, cmds: Cmd[]): void {
  for (const c of cmds) {
    const evs = d.send(c);
    const rej = evs.find((e) => e['type'] === 'Rejected');
    if (rej) assert.fail(`setup command #${d.seq} rejected: ${describeEvent(rej)}`);
  }
}

const { mod: fastMod, why: fastWhy } = await loadFastBook();
const BOOKS: Array<[string, BookFactory | null]> = [
  ['reference', (spec, ev) => new ReferenceBook(spec, ev)],
  ['fast', fastMod ? fastMod.create : null],
];

for (const [name, factory] of BOOKS) {
  const opts = factory === null ? { skip: fastWhy } : {};
  const mk = (spec: InstrumentSpec = testSpec()): Driver => new Driver(factory!, spec);

  describe(`order book scenarios (${name})`, opts, () => {
    // ------------------------------------------------------------------------------------------
    describe('limit orders', () => {
      test('GTC rests: Accepted, Depth, TopOfBook', () => {
        const d = mk();
        const c = lim(1, B, 9990, 5);
        expectEvents(d.send(c), [accepted(1, c), depth(B, 9990, 5, 1), tob(9990, 5, 0, 0)], 'rest');
        const c2 = lim(1, B, 9980, 1);
        expectEvents(d.send(c2), [accepted(2, c2), depth(B, 9980, 1, 1)], 'no TopOfBook when the top is unchanged');
      });

      test('crossing limit walks two levels at the makers\' prices', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 2), lim(1, S, 10002, 3)]);
        const c = lim(2, B, 10002, 4);
        expectEvents(d.send(c), [
          accepted(3, c),
          trade(1, 10001, 2, [1, 1], [3, 2], B, 0, 2, [21, 41]),
          depth(S, 10001, 0, 0),
          trade(2, 10002, 2, [2, 1], [3, 2], B, 1, 0, [21, 41]),
          depth(S, 10002, 1, 1),
          tob(0, 0, 10002, 1),
        ], 'sweep');
        // Canonical dump v2: now, R, last trade, next trade id, status; bids; asks; pending; accounts; retained.
        assert.deepStrictEqual(d.book.stateDump(), [
          T0, 10002, 10002, 3, 0,
          0,
          1, 2, 1, 0, S, OrderType.Limit, 10002, 3, 1, 2, TimeInForce.GTC, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0,
          0,
          2, 1, -4, 0, 0, 0, 2, 4, 0, 0, 0,
          0,
        ]);
      });

      test('partial fill, then the rest rests', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 2)]);
        const c = lim(2, B, 10001, 5);
        expectEvents(d.send(c), [
          accepted(2, c), trade(1, 10001, 2, [1, 1], [2, 2], B, 0, 3), depth(S, 10001, 0, 0), depth(B, 10001, 3, 1), tob(10001, 3, 0, 0),
        ], 'partial');
      });

      test('time priority within a level', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 1), lim(2, S, 10001, 1), lim(3, S, 10000, 1)]);
        const c = lim(4, B, 10001, 2);
        expectEvents(d.send(c), [
          accepted(4, c), trade(1, 10000, 1, [3, 3], [4, 4], B, 0, 1), depth(S, 10000, 0, 0),
          trade(2, 10001, 1, [1, 1], [4, 4], B, 0, 0), depth(S, 10001, 1, 1), tob(0, 0, 10001, 1),
        ], 'best price first, then oldest');
      });

      test('IOC: the remainder expires (ImmediateRemainder)', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 2)]);
        const c = lim(2, B, 10002, 5, { tif: TimeInForce.IOC });
        expectEvents(d.send(c), [
          accepted(2, c), trade(1, 10001, 2, [1, 1], [2, 2], B, 0, 3), depth(S, 10001, 0, 0),
          expired(2, 2, 3, EndReason.ImmediateRemainder, 2), tob(0, 0, 0, 0),
        ], 'ioc');
        const c2 = lim(2, B, 9500, 1, { tif: TimeInForce.IOC });
        expectEvents(d.send(c2), [accepted(3, c2), expired(3, 2, 1, EndReason.ImmediateRemainder, 0)], 'ioc without a cross');
      });

      test('FOK: all or nothing, bounded by the limit price', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 2), lim(3, S, 10002, 2)]);
        const c3 = lim(2, B, 10002, 5, { tif: TimeInForce.FOK });
        expectEvents(d.send(c3), [accepted(3, c3), expired(3, 2, 5, EndReason.FillOrKill, 0)], 'not enough');
        const c4 = lim(2, B, 10001, 3, { tif: TimeInForce.FOK });
        expectEvents(d.send(c4), [accepted(4, c4), expired(4, 2, 3, EndReason.FillOrKill, 0)], 'limit price stops the count');
        const c5 = lim(2, B, 10002, 4, { tif: TimeInForce.FOK });
        expectEvents(d.send(c5), [
          accepted(5, c5), trade(1, 10001, 2, [1, 1], [5, 2], B, 0, 2), depth(S, 10001, 0, 0),
          trade(2, 10002, 2, [2, 3], [5, 2], B, 0, 0), depth(S, 10002, 0, 0), tob(0, 0, 0, 0),
        ], 'exact fill');
      });

      test('FOK counts self-trades by STP mode', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 3), lim(2, S, 10001, 2)]);
        const c3 = lim(1, B, 10001, 3, { tif: TimeInForce.FOK, stpMode: StpMode.ExpireMaker });
        expectEvents(d.send(c3), [accepted(3, c3), expired(3, 1, 3, EndReason.FillOrKill, 0)], 'ExpireMaker skips own');
        const c4 = lim(1, B, 10001, 1, { tif: TimeInForce.FOK, stpMode: StpMode.ExpireTaker });
        expectEvents(d.send(c4), [accepted(4, c4), expired(4, 1, 1, EndReason.FillOrKill, 0)], 'ExpireTaker ends the walk');
        const c5 = lim(1, B, 10001, 1, { tif: TimeInForce.FOK, stpMode: StpMode.Decrement });
        expectEvents(d.send(c5), [accepted(5, c5), expired(5, 1, 1, EndReason.FillOrKill, 0)], 'Decrement ends the walk');
        const c6 = lim(1, B, 10001, 2, { tif: TimeInForce.FOK, stpMode: StpMode.ExpireMaker });
        expectEvents(d.send(c6), [
          accepted(6, c6), expired(1, 1, 3, EndReason.SelfTrade, 0), trade(1, 10001, 2, [2, 2], [6, 1], B, 0, 0),
          depth(S, 10001, 0, 0), tob(0, 0, 0, 0),
        ], 'ExpireMaker passes with the others');
      });

      test('FOK with StpMode None counts and trades with own orders', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 3), lim(2, S, 10001, 5)]);
        const c = lim(1, B, 10001, 2, { tif: TimeInForce.FOK });
        expectEvents(d.send(c), [
          accepted(3, c), trade(1, 10001, 2, [1, 1], [3, 1], B, 1, 0), depth(S, 10001, 6, 2), tob(0, 0, 10001, 6),
        ], 'self-trade');
        assert.equal(parseDump(d.book.stateDump()).accounts.length, 0, 'net position 0: no account record');
      });

      test('GTD rests and expires by engine time in (expiry, id) order', () => {
        const d = mk();
        setup(d, [
          lim(1, B, 9990, 1, { tif: TimeInForce.GTD, expireTsUs: T0 + 500 }),
          lim(2, B, 9990, 2, { tif: TimeInForce.GTD, expireTsUs: T0 + 300 }),
          lim(3, B, 9980, 1, { tif: TimeInForce.GTD, expireTsUs: T0 + 300 }),
        ]);
        expectEvents(d.send(tick(T0 + 299)), [], 'not yet');
        expectEvents(d.send(tick(T0 + 300)), [
          expired(2, 2, 2, EndReason.Expired, 0), depth(B, 9990, 1, 1), expired(3, 3, 1, EndReason.Expired, 0), depth(B, 9980, 0, 0),
          tob(9990, 1, 0, 0),
        ], 'expiry at <= now');
        expectEvents(d.send({ ...lim(1, B, 0, 1), tsUs: T0 + 600 }), [
          expired(1, 1, 1, EndReason.Expired, 0), depth(B, 9990, 0, 0), rejected(6, 1, RejectReason.InvalidPrice), tob(0, 0, 0, 0),
        ], 'expiry is not undone by a rejected command');
        assert.equal(parseDump(d.book.stateDump()).nowUs, T0 + 600);
      });

      test('GTD expiry happens while halted; time never goes back', () => {
        const d = mk();
        setup(d, [lim(1, S, 10010, 4, { tif: TimeInForce.GTD, expireTsUs: T0 + 10 }), status(1)]);
        expectEvents(d.send(tick(T0 + 50)), [expired(1, 1, 4, EndReason.Expired, 0), depth(S, 10010, 0, 0), tob(0, 0, 0, 0)], 'halted');
        d.send(tick(T0 + 20));
        assert.equal(parseDump(d.book.stateDump()).nowUs, T0 + 50, 'now = max(previous now, tsUs)');
      });
    });

    // ------------------------------------------------------------------------------------------
    describe('market orders', () => {
      test('sweep, then protection band stops it (MarketProtection)', () => {
        const d = mk();
        setup(d, [lim(1, S, 10000, 1), lim(1, S, 10400, 1), lim(1, S, 10600, 1)]);
        const c = mkt(2, B, 3);
        expectEvents(d.send(c), [
          accepted(4, c), trade(1, 10000, 1, [1, 1], [4, 2], B, 0, 2, [10, 20]), depth(S, 10000, 0, 0),
          trade(2, 10400, 1, [2, 1], [4, 2], B, 0, 1, [11, 21]), depth(S, 10400, 0, 0),
          expired(4, 2, 1, EndReason.MarketProtection, 2), tob(0, 0, 10600, 1),
        ], 'market buy');
      });

      test('bounds are fixed at entry, not moved by its own trades', () => {
        const d = mk();
        setup(d, [lim(1, S, 9600, 1), lim(1, S, 10400, 1)]);
        const c = mkt(2, B, 2);
        expectEvents(d.send(c), [
          accepted(3, c), trade(1, 9600, 1, [1, 1], [3, 2], B, 0, 1), depth(S, 9600, 0, 0),
          trade(2, 10400, 1, [2, 1], [3, 2], B, 0, 0), depth(S, 10400, 0, 0), tob(0, 0, 0, 0),
        ], 'bound 10500 from R = 10000');
      });

      test('market sell protection and empty side', () => {
        const d = mk();
        setup(d, [lim(1, B, 9400, 1)]);
        const c = mkt(2, S, 1);
        expectEvents(d.send(c), [accepted(2, c), expired(2, 2, 1, EndReason.MarketProtection, 0)], 'below 9500');
        const c2 = mkt(2, B, 1);
        expectEvents(d.send(c2), [accepted(3, c2), expired(3, 2, 1, EndReason.ImmediateRemainder, 0)], 'empty side');
      });

      test('market FOK', () => {
        const d = mk();
        setup(d, [lim(1, S, 10000, 1), lim(1, S, 10600, 5)]);
        const c = mkt(2, B, 2, { tif: TimeInForce.FOK });
        expectEvents(d.send(c), [accepted(3, c), expired(3, 2, 2, EndReason.FillOrKill, 0)], 'band limits the FOK count');
        const c2 = mkt(2, B, 1, { tif: TimeInForce.FOK });
        expectEvents(d.send(c2), [accepted(4, c2), trade(1, 10000, 1, [1, 1], [4, 2], B, 0, 0), depth(S, 10000, 0, 0), tob(0, 0, 10600, 5)], 'fills');
      });

      test('no reference price: NoReferencePrice', () => {
        const d = mk(testSpec({ referencePriceTicks: 0, minNotionalUnits: 1 }));
        expectEvents(d.send(mkt(2, B, 1)), [rejected(1, 2, RejectReason.NoReferencePrice)], 'market');
        setup(d, [lim(1, S, 5, 1)]);
        const c = lim(2, B, 5, 1);
        d.send(c);
        const c2 = mkt(2, B, 1);
        expectEvents(d.send(c2), [accepted(4, c2), expired(4, 2, 1, EndReason.ImmediateRemainder, 0)], 'the first trade sets R');
        assert.equal(parseDump(d.book.stateDump()).referencePriceTicks, 5);
      });

      test('by quote amount: levels, then QuoteExhausted', () => {
        const d = mk();
        setup(d, [lim(1, S, 10000, 2), lim(1, S, 10001, 5)]);
        const c = quote(2, B, 350_010);
        expectEvents(d.send(c), [
          accepted(3, c),
          trade(1, 10000, 2, [1, 1], [3, 2], B, 0, 0, [20, 40]), depth(S, 10000, 0, 0),
          trade(2, 10001, 1, [2, 1], [3, 2], B, 4, 0, [11, 21]), depth(S, 10001, 4, 1),
          expired(3, 2, 0, EndReason.QuoteExhausted, 3), tob(0, 0, 10001, 4),
        ], 'quote buy');
        const c2 = quote(2, B, 100_010);
        expectEvents(d.send(c2), [accepted(4, c2), trade(3, 10001, 1, [2, 1], [4, 2], B, 3, 0), depth(S, 10001, 3, 1), tob(0, 0, 10001, 3)],
          'quote spent exactly: no further event');
        const c3 = quote(2, B, 1_000_000);
        expectEvents(d.send(c3), [
          accepted(5, c3), trade(4, 10001, 3, [2, 1], [5, 2], B, 0, 0), depth(S, 10001, 0, 0),
          expired(5, 2, 0, EndReason.ImmediateRemainder, 3), tob(0, 0, 0, 0),
        ], 'side empties');
      });

      test('by quote amount: sell side and protection band', () => {
        const d = mk();
        setup(d, [lim(1, B, 10000, 5), lim(3, S, 10600, 1)]);
        const c = quote(2, S, 250_000);
        expectEvents(d.send(c), [
          accepted(3, c), trade(1, 10000, 2, [1, 1], [3, 2], S, 3, 0), depth(B, 10000, 3, 1),
          expired(3, 2, 0, EndReason.QuoteExhausted, 2), tob(10000, 3, 10600, 1),
        ], 'quote sell');
        const c2 = quote(2, B, 200_000);
        expectEvents(d.send(c2), [accepted(4, c2), expired(4, 2, 0, EndReason.MarketProtection, 0)], 'first level beyond the bound');
      });
    });

    // ------------------------------------------------------------------------------------------
    describe('post-only', () => {
      test('rests when passive, rejected when it would take (own order too)', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 2)]);
        const c = lim(2, B, 10000, 1, { flags: OrderFlags.PostOnly });
        expectEvents(d.send(c), [accepted(2, c), depth(B, 10000, 1, 1), tob(10000, 1, 10001, 2)], 'passive');
        expectEvents(d.send(lim(2, B, 10001, 1, { flags: OrderFlags.PostOnly })), [rejected(3, 2, RejectReason.PostOnlyWouldTake)], 'takes');
        expectEvents(d.send(lim(1, B, 10002, 1, { flags: OrderFlags.PostOnly })), [rejected(4, 1, RejectReason.PostOnlyWouldTake)], 'own best');
        expectEvents(d.send(lim(2, S, 10000, 1, { flags: OrderFlags.PostOnly })), [rejected(5, 2, RejectReason.PostOnlyWouldTake)], 'sell <= bid');
        const c6 = lim(2, B, 10000, 1, { flags: OrderFlags.PostOnly, tif: TimeInForce.GTD, expireTsUs: T0 + 9 });
        expectEvents(d.send(c6), [accepted(6, c6), depth(B, 10000, 2, 2), tob(10000, 2, 10001, 2)], 'GTD post-only');
      });
    });

    // ------------------------------------------------------------------------------------------
    describe('self-trade prevention', () => {
      const base = (d: Driver): void => setup(d, [lim(2, S, 10001, 1), lim(1, S, 10001, 2), lim(3, S, 10001, 4)]);

      test('None: trades with itself', () => {
        const d = mk(); base(d);
        const c = lim(1, B, 10001, 5);
        expectEvents(d.send(c), [
          accepted(4, c), trade(1, 10001, 1, [1, 2], [4, 1], B, 0, 4), trade(2, 10001, 2, [2, 1], [4, 1], B, 0, 2),
          trade(3, 10001, 2, [3, 3], [4, 1], B, 2, 0), depth(S, 10001, 2, 1), tob(0, 0, 10001, 2),
        ], 'none');
        const p = parseDump(d.book.stateDump()).accounts.map((a) => [a.account, a.positionLots]);
        assert.deepStrictEqual(p, [[1, 3], [2, -1], [3, -2]]);
      });

      test('ExpireTaker: stops, Depth, then the taker expires', () => {
        const d = mk(); base(d);
        const c = lim(1, B, 10001, 5, { stpMode: StpMode.ExpireTaker });
        expectEvents(d.send(c), [
          accepted(4, c), trade(1, 10001, 1, [1, 2], [4, 1], B, 0, 4), depth(S, 10001, 6, 2),
          expired(4, 1, 4, EndReason.SelfTrade, 1), tob(0, 0, 10001, 6),
        ], 'expire taker');
      });

      test('ExpireMaker: own maker expires, matching continues', () => {
        const d = mk(); base(d);
        const c = lim(1, B, 10001, 5, { stpMode: StpMode.ExpireMaker });
        expectEvents(d.send(c), [
          accepted(4, c), trade(1, 10001, 1, [1, 2], [4, 1], B, 0, 4), expired(2, 1, 2, EndReason.SelfTrade, 0),
          trade(2, 10001, 4, [3, 3], [4, 1], B, 0, 0), depth(S, 10001, 0, 0), tob(0, 0, 0, 0),
        ], 'expire maker');
      });

      test('ExpireBoth: maker and taker expire', () => {
        const d = mk(); base(d);
        const c = lim(1, B, 10001, 5, { stpMode: StpMode.ExpireBoth });
        expectEvents(d.send(c), [
          accepted(4, c), trade(1, 10001, 1, [1, 2], [4, 1], B, 0, 4), expired(2, 1, 2, EndReason.SelfTrade, 0),
          depth(S, 10001, 4, 1), expired(4, 1, 4, EndReason.SelfTrade, 1), tob(0, 0, 10001, 4),
        ], 'expire both');
      });

      test('Decrement, equal sizes: both leave by Expired', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 3)]);
        const c = lim(1, B, 10001, 3, { stpMode: StpMode.Decrement });
        expectEvents(d.send(c), [
          accepted(2, c), expired(1, 1, 3, EndReason.SelfTrade, 0), depth(S, 10001, 0, 0),
          expired(2, 1, 3, EndReason.SelfTrade, 0), tob(0, 0, 0, 0),
        ], 'equal');
      });

      test('Decrement, taker larger: maker expires, taker decremented, then trades on', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 2), lim(2, S, 10001, 4)]);
        const c = lim(1, B, 10001, 5, { stpMode: StpMode.Decrement });
        expectEvents(d.send(c), [
          accepted(3, c), expired(1, 1, 2, EndReason.SelfTrade, 0), decremented(3, 1, 2, 3),
          trade(1, 10001, 3, [2, 2], [3, 1], B, 1, 0), depth(S, 10001, 1, 1), tob(0, 0, 10001, 1),
        ], 'taker larger');
      });

      test('Decrement, taker larger: the rest rests with its total kept', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 2)]);
        const c = lim(1, B, 10001, 5, { stpMode: StpMode.Decrement });
        expectEvents(d.send(c), [
          accepted(2, c), expired(1, 1, 2, EndReason.SelfTrade, 0), decremented(2, 1, 2, 3), depth(S, 10001, 0, 0),
          depth(B, 10001, 3, 1), tob(10001, 3, 0, 0),
        ], 'rests');
        const o = parseDump(d.book.stateDump()).bids[0]!;
        assert.deepStrictEqual([o.qtyLots, o.remainingLots, o.filledLots], [5, 3, 0]);
      });

      test('Decrement, maker larger: maker decremented, taker expires', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 5)]);
        const c = lim(1, B, 10001, 2, { stpMode: StpMode.Decrement });
        expectEvents(d.send(c), [
          accepted(2, c), decremented(1, 1, 2, 3), depth(S, 10001, 3, 1), expired(2, 1, 2, EndReason.SelfTrade, 0), tob(0, 0, 10001, 3),
        ], 'maker larger');
      });

      test('Decrement with a quote-amount taker', () => {
        const d = mk();
        setup(d, [lim(1, S, 10000, 5)]);
        const c = quote(1, B, 250_000, { stpMode: StpMode.Decrement });
        expectEvents(d.send(c), [
          accepted(2, c), decremented(1, 1, 2, 3), decremented(2, 1, 2, 0), depth(S, 10000, 3, 1),
          expired(2, 1, 0, EndReason.QuoteExhausted, 0), tob(0, 0, 10000, 3),
        ], 'quote decrement');
      });

      test('stp group across two accounts', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 2, { stpGroup: 7 })]);
        const c = lim(2, B, 10001, 2, { stpGroup: 7, stpMode: StpMode.ExpireTaker });
        expectEvents(d.send(c), [accepted(2, c), expired(2, 2, 2, EndReason.SelfTrade, 0)], 'same group');
        const c3 = lim(3, B, 10001, 1, { stpGroup: 8, stpMode: StpMode.ExpireTaker });
        expectEvents(d.send(c3), [accepted(3, c3), trade(1, 10001, 1, [1, 1], [3, 3], B, 1, 0), depth(S, 10001, 1, 1), tob(0, 0, 10001, 1)], 'other group');
        const c4 = lim(4, B, 10001, 1, { stpMode: StpMode.ExpireTaker });
        expectEvents(d.send(c4), [accepted(4, c4), trade(2, 10001, 1, [1, 1], [4, 4], B, 0, 0), depth(S, 10001, 0, 0), tob(0, 0, 0, 0)],
          'taker group 0 never matches a group');
      });

      test('stp group with Decrement across accounts', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 4, { stpGroup: 7 })]);
        const c = lim(2, B, 10001, 3, { stpGroup: 7, stpMode: StpMode.Decrement });
        expectEvents(d.send(c), [
          accepted(2, c), decremented(1, 1, 3, 1), depth(S, 10001, 1, 1), expired(2, 2, 3, EndReason.SelfTrade, 0), tob(0, 0, 10001, 1),
        ], 'group decrement');
      });
    });

    // ------------------------------------------------------------------------------------------
    describe('fees', () => {
      test('ceil rounding at the default rates', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 3)]);
        const c = lim(2, B, 10001, 3);
        expectEvents(d.send(c), [accepted(2, c), trade(1, 10001, 3, [1, 1], [2, 2], B, 0, 0, [31, 61]), depth(S, 10001, 0, 0), tob(0, 0, 0, 0)],
          '300030 units: 30.003 -> 31, 60.006 -> 61');
      });

      test('negative maker fee (rebate) rounds toward +inf, and a zero fee is +0', () => {
        const d = mk(testSpec({ makerFeePpm: -50, priceBandBps: 0 }));
        setup(d, [lim(1, S, 10001, 3)]);
        const c = lim(2, B, 10001, 3);
        expectEvents(d.send(c), [accepted(2, c), trade(1, 10001, 3, [1, 1], [2, 2], B, 0, 0, [-15, 61]), depth(S, 10001, 0, 0), tob(0, 0, 0, 0)],
          '-15.0015 -> -15');
        setup(d, [lim(1, S, 100, 1)]);
        const c4 = lim(2, B, 100, 1);
        expectEvents(d.send(c4), [accepted(4, c4), trade(2, 100, 1, [3, 1], [4, 2], B, 0, 0, [0, 1]), depth(S, 100, 0, 0), tob(0, 0, 0, 0)],
          '-0.05 -> 0 (not -0)');
      });

      test('exact when notional * rate exceeds 2^53', () => {
        const spec = testSpec({
          notionalUnitsPerTickLot: 7, maxPriceTicks: 200_000_000, maxQtyLots: 2_000_000, maxNotionalUnits: 0, priceBandBps: 0,
          referencePriceTicks: 0, makerFeePpm: 333, takerFeePpm: 999_999,
        });
        const d = mk(spec);
        const price = 123_456_789, qty = 1_000_003;
        const n = BigInt(price) * BigInt(qty) * 7n;
        const ceil = (x: bigint): number => Number((x + 999_999n) / 1_000_000n);
        setup(d, [lim(1, S, price, qty)]);
        const evs = d.send(lim(2, B, price, qty));
        const t = evs.find((e) => e['type'] === 'Trade')!;
        assert.equal(t['notionalUnits'], Number(n));
        assert.equal(t['makerFeeUnits'], ceil(n * 333n));
        assert.equal(t['takerFeeUnits'], ceil(n * 999_999n));
      });
    });

    // ------------------------------------------------------------------------------------------
    describe('cancel', () => {
      test('by id and by client order id; CancelOnly allows it', () => {
        const d = mk();
        setup(d, [lim(1, B, 9990, 2), lim(1, B, 9990, 3, { clientOrderId: 77 }), status(2)]);
        expectEvents(d.send(cancel(1, 1)), [canceled(1, 1, 2, EndReason.UserCancel, 0), depth(B, 9990, 3, 1), tob(9990, 3, 0, 0)], 'by id');
        expectEvents(d.send(cancel(1, 0, 77)), [canceled(2, 1, 3, EndReason.UserCancel, 0), depth(B, 9990, 0, 0), tob(0, 0, 0, 0)], 'by client id');
      });

      test('unknown, other account\'s, or halted', () => {
        const d = mk();
        setup(d, [lim(1, B, 9990, 2, { clientOrderId: 5 })]);
        expectEvents(d.send(cancel(2, 1)), [rejected(1, 2, RejectReason.UnknownOrder, CommandType.Cancel)], 'other account');
        expectEvents(d.send(cancel(2, 0, 5)), [rejected(0, 2, RejectReason.UnknownOrder, CommandType.Cancel, 5)], 'other account by client id');
        expectEvents(d.send(cancel(1, 99)), [rejected(99, 1, RejectReason.UnknownOrder, CommandType.Cancel)], 'no such id');
        expectEvents(d.send(cancel(1, 0, 0)), [rejected(0, 1, RejectReason.UnknownOrder, CommandType.Cancel)], 'no id at all');
        d.send(status(1));
        expectEvents(d.send(cancel(1, 1)), [rejected(1, 1, RejectReason.SymbolHalted, CommandType.Cancel)], 'halted');
      });
    });

    // ------------------------------------------------------------------------------------------
    describe('replace', () => {
      const two = (d: Driver): void => setup(d, [lim(1, S, 10001, 5), lim(2, S, 10001, 3)]);

      test('smaller quantity at the same price keeps priority', () => {
        const d = mk(); two(d);
        expectEvents(d.send(replace(1, 1, 0, 4)), [replaced(1, 1, 10001, 4, 4, 1), depth(S, 10001, 7, 2), tob(0, 0, 10001, 7)], 'keep');
        const c = lim(3, B, 10001, 1);
        expectEvents(d.send(c), [accepted(4, c), trade(1, 10001, 1, [1, 1], [4, 3], B, 3, 0), depth(S, 10001, 6, 2), tob(0, 0, 10001, 6)], 'still first');
      });

      test('larger quantity loses priority: leaves and re-enters at the back', () => {
        const d = mk(); two(d);
        expectEvents(d.send(replace(1, 1, 10001, 6)), [
          replaced(1, 1, 10001, 6, 6, 0), depth(S, 10001, 3, 1), depth(S, 10001, 9, 2), tob(0, 0, 10001, 9),
        ], 'lose');
        const c = lim(3, B, 10001, 1);
        expectEvents(d.send(c), [accepted(4, c), trade(1, 10001, 1, [2, 2], [4, 3], B, 2, 0), depth(S, 10001, 8, 2), tob(0, 0, 10001, 8)], 'now second');
      });

      test('price change without a cross', () => {
        const d = mk(); two(d);
        expectEvents(d.send(replace(1, 1, 10003, 0)), [
          replaced(1, 1, 10003, 5, 5, 0), depth(S, 10001, 3, 1), depth(S, 10003, 5, 1), tob(0, 0, 10001, 3),
        ], 'move');
      });

      test('crosses on replace: it is the taker, the rest rests', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 5), lim(2, B, 9999, 3, { clientOrderId: 9 })]);
        expectEvents(d.send(replace(2, 0, 10001, 8, { clientOrderId: 9 })), [
          replaced(2, 2, 10001, 8, 8, 0), depth(B, 9999, 0, 0), trade(1, 10001, 5, [1, 1], [2, 2], B, 0, 3, [51, 101]),
          depth(S, 10001, 0, 0), depth(B, 10001, 3, 1), tob(10001, 3, 0, 0),
        ], 'cross');
        const o = parseDump(d.book.stateDump()).bids[0]!;
        assert.deepStrictEqual([o.orderId, o.clientOrderId, o.qtyLots, o.remainingLots, o.filledLots], [2, 9, 8, 3, 5]);
      });

      test('new total at or below filled: done (ReplaceDone); above: remaining = total - filled', () => {
        const d = mk();
        setup(d, [lim(1, S, 10001, 5), lim(2, B, 10001, 2)]);
        expectEvents(d.send(replace(1, 1, 0, 4)), [replaced(1, 1, 10001, 4, 2, 1), depth(S, 10001, 2, 1), tob(0, 0, 10001, 2)], 'shrink after fill');
        expectEvents(d.send(replace(1, 1, 0, 2)), [canceled(1, 1, 2, EndReason.ReplaceDone, 2), depth(S, 10001, 0, 0), tob(0, 0, 0, 0)], 'done');
      });

      test('after an STP decrement: priority kept while the remaining does not grow', () => {
        const d = mk();
        setup(d, [lim(1, B, 10001, 2)]);
        const c2 = lim(1, S, 10001, 5, { stpMode: StpMode.Decrement });
        expectEvents(d.send(c2), [
          accepted(2, c2), expired(1, 1, 2, EndReason.SelfTrade, 0), decremented(2, 1, 2, 3), depth(B, 10001, 0, 0),
          depth(S, 10001, 3, 1), tob(0, 0, 10001, 3),
        ], 'decrement, rests 3 of 5');
        setup(d, [lim(2, S, 10001, 1)]);
        expectEvents(d.send(replace(1, 2, 0, 3)), [replaced(2, 1, 10001, 3, 3, 1), depth(S, 10001, 4, 2)], 'total 3 - filled 0 = remaining 3: kept');
        expectEvents(d.send(replace(1, 2, 0, 2)), [replaced(2, 1, 10001, 2, 2, 1), depth(S, 10001, 3, 2), tob(0, 0, 10001, 3)], 'shrinks: kept');
        expectEvents(d.send(replace(1, 2, 0, 4)), [
          replaced(2, 1, 10001, 4, 4, 0), depth(S, 10001, 1, 1), depth(S, 10001, 5, 2), tob(0, 0, 10001, 5),
        ], 'grows: loses priority');
      });

      test('keeps GTD expiry, flags and client id across a price change', () => {
        const d = mk();
        setup(d, [lim(1, B, 9990, 2, { tif: TimeInForce.GTD, expireTsUs: T0 + 100, clientOrderId: 3, stpMode: StpMode.ExpireBoth, stpGroup: 4 })]);
        d.send(replace(1, 1, 9995, 0));
        const o = parseDump(d.book.stateDump()).bids[0]!;
        const { orderId, account, clientOrderId, side, priceTicks, qtyLots, remainingLots, filledLots, tif, flags, stpMode, stpGroup, expireTsUs } = o;
        assert.deepStrictEqual({ orderId, account, clientOrderId, side, priceTicks, qtyLots, remainingLots, filledLots, tif, flags, stpMode, stpGroup, expireTsUs },
          { orderId: 1, account: 1, clientOrderId: 3, side: B, priceTicks: 9995, qtyLots: 2, remainingLots: 2,
            filledLots: 0, tif: TimeInForce.GTD, flags: 0, stpMode: StpMode.ExpireBoth, stpGroup: 4, expireTsUs: T0 + 100 });
        expectEvents(d.send(tick(T0 + 100)), [expired(1, 1, 2, EndReason.Expired, 0), depth(B, 9995, 0, 0), tob(0, 0, 0, 0)], 'expires');
      });

      test('rejects', () => {
        const d = mk(testSpec({ maxPositionLots: 6 }));
        setup(d, [lim(1, B, 9990, 5, { flags: OrderFlags.PostOnly }), lim(2, S, 10001, 1)]);
        const R = CommandType.Replace;
        expectEvents(d.send(replace(2, 1, 9991, 0)), [rejected(1, 2, RejectReason.UnknownOrder, R)], 'other account');
        expectEvents(d.send(replace(1, 1, 0, 0)), [rejected(1, 1, RejectReason.ReplaceNoChange, R)], 'keep both');
        expectEvents(d.send(replace(1, 1, 9990, 5)), [rejected(1, 1, RejectReason.ReplaceNoChange, R)], 'same values');
        expectEvents(d.send(replace(1, 1, -5, 0)), [rejected(1, 1, RejectReason.InvalidPrice, R)], 'price');
        expectEvents(d.send(replace(1, 1, 1_000_001, 0)), [rejected(1, 1, RejectReason.InvalidPrice, R)], 'price range');
        expectEvents(d.send(replace(1, 1, 0, 1.5)), [rejected(1, 1, RejectReason.InvalidQuantity, R)], 'qty');
        expectEvents(d.send(replace(1, 1, 0, 1001)), [rejected(1, 1, RejectReason.QuantityAboveMax, R)], 'qty max');
        expectEvents(d.send(replace(1, 1, 8000, 0)), [rejected(1, 1, RejectReason.PriceOutsideBand, R)], 'band');
        expectEvents(d.send(replace(1, 1, 0, 7)), [rejected(1, 1, RejectReason.PositionLimitExceeded, R)], 'position');
        expectEvents(d.send(replace(1, 1, 10001, 0)), [rejected(1, 1, RejectReason.PostOnlyWouldTake, R)], 'post-only');
        d.send(status(2));
        expectEvents(d.send(replace(1, 1, 9991, 0)), [rejected(1, 1, RejectReason.SymbolCancelOnly, R)], 'cancel-only');
        d.send(status(0));
        d.send(kill(1, 1));
        expectEvents(d.send(replace(1, 1, 9991, 0)), [rejected(1, 1, RejectReason.AccountKilled, R)], 'killed (before the lookup)');
      });

      test('notional rejects use the new price and quantity', () => {
        const d = mk(testSpec({ minNotionalUnits: 100_000, maxNotionalUnits: 1_000_000 }));
        setup(d, [lim(1, B, 10000, 2)]);
        expectEvents(d.send(replace(1, 1, 9990, 1)), [rejected(1, 1, RejectReason.NotionalBelowMin, CommandType.Replace)], 'below');
        expectEvents(d.send(replace(1, 1, 0, 11)), [rejected(1, 1, RejectReason.NotionalAboveMax, CommandType.Replace)], 'above');
      });
    });

    // ------------------------------------------------------------------------------------------
    describe('mass cancel and kill switch', () => {
      const book = (d: Driver): void => setup(d, [lim(1, B, 9990, 1), lim(2, B, 9991, 1), lim(1, S, 10010, 2), lim(1, B, 9990, 3)]);

      test('mass cancel of one account, ascending id', () => {
        const d = mk(); book(d);
        expectEvents(d.send(mass(1)), [
          canceled(1, 1, 1, EndReason.MassCancel, 0), depth(B, 9990, 3, 1), canceled(3, 1, 2, EndReason.MassCancel, 0), depth(S, 10010, 0, 0),
          canceled(4, 1, 3, EndReason.MassCancel, 0), depth(B, 9990, 0, 0), adminDone(CommandType.MassCancel, 1, 0, 0, 3), tob(9991, 1, 0, 0),
        ], 'mass 1');
      });

      test('mass cancel of everything (account 0), allowed in CancelOnly', () => {
        const d = mk(); book(d);
        d.send(status(2));
        const evs = d.send(mass(0));
        assert.deepStrictEqual(evs.filter((e) => e['type'] === 'Canceled').map((e) => e['orderId']), [1, 2, 3, 4]);
        assert.deepStrictEqual(evs.at(-2), adminDone(CommandType.MassCancel, 0, 0, 0, 4));
        assert.deepStrictEqual(evs.at(-1), tob(0, 0, 0, 0));
        d.send(status(1));
        expectEvents(d.send(mass(0)), [rejected(0, 0, RejectReason.SymbolHalted, CommandType.MassCancel)], 'halted');
      });

      test('kill switch cancels, blocks new orders and replaces, allows cancels; off again', () => {
        const d = mk(); book(d);
        expectEvents(d.send(kill(1, 1)), [
          canceled(1, 1, 1, EndReason.KillSwitch, 0), depth(B, 9990, 3, 1), canceled(3, 1, 2, EndReason.KillSwitch, 0), depth(S, 10010, 0, 0),
          canceled(4, 1, 3, EndReason.KillSwitch, 0), depth(B, 9990, 0, 0), adminDone(CommandType.SetKillSwitch, 1, 1, 0, 3), tob(9991, 1, 0, 0),
        ], 'kill on');
        expectEvents(d.send(lim(1, B, 9990, 1)), [rejected(6, 1, RejectReason.AccountKilled)], 'new order');
        expectEvents(d.send(cancel(1, 1)), [rejected(1, 1, RejectReason.UnknownOrder, CommandType.Cancel)], 'cancel is not AccountKilled');
        assert.deepStrictEqual(parseDump(d.book.stateDump()).accounts, [{ account: 1, positionLots: 0, killed: 1, maxPositionLots: 0, maxOpenOrders: 0 }]);
        expectEvents(d.send(kill(1, 0)), [adminDone(CommandType.SetKillSwitch, 1, 0, 0, 0)], 'kill off');
        assert.deepStrictEqual(parseDump(d.book.stateDump()).accounts, []);
        const c = lim(1, B, 9980, 1);
        expectEvents(d.send(c), [accepted(9, c), depth(B, 9980, 1, 1)], 'accepted again');
      });
    });

    // ------------------------------------------------------------------------------------------
    describe('client order ids', () => {
      test('duplicates while open and while retained; eviction; rejected orders do not take an id', () => {
        const d = mk(testSpec({ clientIdRetention: 2 }));
        setup(d, [lim(1, B, 9990, 1, { clientOrderId: 1 })]);
        expectEvents(d.send(lim(1, B, 9980, 1, { clientOrderId: 1 })), [rejected(2, 1, RejectReason.DuplicateClientOrderId, 1, 1)], 'open');
        setup(d, [cancel(1, 1)]);
        expectEvents(d.send(lim(1, B, 9980, 1, { clientOrderId: 1 })), [rejected(4, 1, RejectReason.DuplicateClientOrderId, 1, 1)], 'retained');
        const c5 = lim(2, B, 9980, 1, { clientOrderId: 1 });
        expectEvents(d.send(c5), [accepted(5, c5), depth(B, 9980, 1, 1), tob(9980, 1, 0, 0)], 'other account');
        setup(d, [lim(1, B, 9000, 1, { clientOrderId: 2, tif: TimeInForce.IOC })]);
        assert.deepStrictEqual(parseDump(d.book.stateDump()).retained, [[1, 1], [1, 2]]);
        setup(d, [lim(1, B, 9000, 1, { clientOrderId: 3, tif: TimeInForce.IOC })]);
        assert.deepStrictEqual(parseDump(d.book.stateDump()).retained, [[1, 2], [1, 3]], 'oldest evicted');
        const c8 = lim(1, B, 9970, 1, { clientOrderId: 1 });
        expectEvents(d.send(c8), [accepted(8, c8), depth(B, 9970, 1, 1)], 'reusable after eviction');
        expectEvents(d.send(lim(1, B, 0, 1, { clientOrderId: 4 })), [rejected(9, 1, RejectReason.InvalidPrice, 1, 4)], 'rejected');
        const c10 = lim(1, B, 9970, 1, { clientOrderId: 4 });
        expectEvents(d.send(c10), [accepted(10, c10), depth(B, 9970, 2, 2)], 'id still free');
      });

      test('fills and expiries retain the id too', () => {
        const d = mk(testSpec({ clientIdRetention: 10 }));
        setup(d, [lim(1, S, 10001, 1, { clientOrderId: 5 }), lim(2, B, 10001, 1, { clientOrderId: 6 })]);
        assert.deepStrictEqual(parseDump(d.book.stateDump()).retained, [[1, 5], [2, 6]], 'maker first, then taker');
      });
    });

    // ------------------------------------------------------------------------------------------
    describe('admin commands', () => {
      test('account limits: override, back to default, only for new orders', () => {
        const d = mk(testSpec({ maxOpenOrdersPerAccount: 3 }));
        expectEvents(d.send(limits(1, 0, 1)), [adminDone(CommandType.SetAccountLimits, 1, 0, 1, 0)], 'set');
        assert.deepStrictEqual(parseDump(d.book.stateDump()).accounts, [{ account: 1, positionLots: 0, killed: 0, maxPositionLots: 0, maxOpenOrders: 1 }]);
        setup(d, [lim(1, B, 9990, 1)]);
        expectEvents(d.send(lim(1, B, 9980, 1)), [rejected(3, 1, RejectReason.TooManyOpenOrders)], 'limit 1');
        const c4 = lim(1, B, 9000, 1, { tif: TimeInForce.IOC });
        expectEvents(d.send(c4), [accepted(4, c4), expired(4, 1, 1, EndReason.ImmediateRemainder, 0)], 'IOC cannot rest: not counted');
        setup(d, [limits(1, 0, 0), lim(1, B, 9980, 1), lim(1, B, 9970, 1)]);
        expectEvents(d.send(lim(1, B, 9960, 1)), [rejected(8, 1, RejectReason.TooManyOpenOrders)], 'default 3');
        assert.deepStrictEqual(parseDump(d.book.stateDump()).accounts, []);
        expectEvents(d.send(limits(1, 2, 0)), [adminDone(CommandType.SetAccountLimits, 1, 2, 0, 0)], 'position limit below open lots');
        expectEvents(d.send(lim(1, B, 9000, 1, { tif: TimeInForce.IOC })), [rejected(10, 1, RejectReason.PositionLimitExceeded)],
          'buy: 0 + 3 open + 1 > 2');
      });

      test('status values, reference price, unknown command', () => {
        const d = mk();
        expectEvents(d.send(status(3)), [rejected(0, 0, RejectReason.InvalidValue, CommandType.SetSymbolStatus)], 'bad status');
        expectEvents(d.send(status(2)), [adminDone(CommandType.SetSymbolStatus, 0, 2, 0, 0)], 'cancel-only');
        expectEvents(d.send(lim(1, B, 9990, 1)), [rejected(3, 1, RejectReason.SymbolCancelOnly)], 'new in cancel-only');
        expectEvents(d.send(status(0)), [adminDone(CommandType.SetSymbolStatus, 0, 0, 0, 0)], 'open');
        expectEvents(d.send(refPrice(10500)), [adminDone(CommandType.SetReferencePrice, 0, 10500, 0, 0)], 'ref');
        expectEvents(d.send(lim(1, B, 9449, 1)), [rejected(6, 1, RejectReason.PriceOutsideBand)], 'band moved: low 9450');
        const c7 = lim(1, B, 9450, 1);
        expectEvents(d.send(c7), [accepted(7, c7), depth(B, 9450, 1, 1), tob(9450, 1, 0, 0)], 'edge inside');
        expectEvents(d.send(refPrice(0)), [rejected(0, 0, RejectReason.InvalidPrice, CommandType.SetReferencePrice)], 'ref 0');
        expectEvents(d.send(refPrice(1.5)), [rejected(0, 0, RejectReason.InvalidPrice, CommandType.SetReferencePrice)], 'ref frac');
        expectEvents(d.send({ type: 42, account: 3, orderId: 5, clientOrderId: 6 }), [rejected(5, 3, RejectReason.UnknownCommand, 42, 6)], 'unknown');
        expectEvents(d.send(kill(0, 1)), [rejected(0, 0, RejectReason.InvalidAccount, CommandType.SetKillSwitch)], 'kill account 0');
        expectEvents(d.send(kill(1, 2)), [rejected(0, 1, RejectReason.InvalidValue, CommandType.SetKillSwitch)], 'kill value 2');
        expectEvents(d.send(limits(1, -1, 0)), [rejected(0, 1, RejectReason.InvalidValue, CommandType.SetAccountLimits)], 'limits -1');
        expectEvents(d.send(limits(1, 0, 0.5)), [rejected(0, 1, RejectReason.InvalidValue, CommandType.SetAccountLimits)], 'limits 0.5');
        expectEvents(d.send(limits(-1, 0, 0)), [rejected(0, -1, RejectReason.InvalidAccount, CommandType.SetAccountLimits)], 'limits account');
      });

      test('BookFull at orderCapacity (IOC still allowed)', () => {
        const d = mk(testSpec({ orderCapacity: 2 }));
        setup(d, [lim(1, B, 9990, 1), lim(2, S, 10010, 1)]);
        expectEvents(d.send(lim(3, B, 9980, 1)), [rejected(3, 3, RejectReason.BookFull)], 'full');
        const c = lim(3, B, 10010, 1, { tif: TimeInForce.IOC });
        expectEvents(d.send(c), [accepted(4, c), trade(1, 10010, 1, [2, 2], [4, 3], B, 0, 0), depth(S, 10010, 0, 0), tob(9990, 1, 0, 0)], 'IOC');
      });
    });

    // ------------------------------------------------------------------------------------------
    describe('NewOrder reject reasons and their order', () => {
      interface Row { name: string; reason: number; cmd: Cmd; spec?: Partial<InstrumentSpec>; pre?: Cmd[] }
      const rows: Row[] = [
        { name: 'halted', reason: RejectReason.SymbolHalted, pre: [status(1)], cmd: lim(0, 9, 0, 0) },
        { name: 'cancel-only', reason: RejectReason.SymbolCancelOnly, pre: [status(2)], cmd: lim(0, 9, 0, 0) },
        { name: 'account 0', reason: RejectReason.InvalidAccount, cmd: lim(0, 9, 0, 0) },
        { name: 'account fraction', reason: RejectReason.InvalidAccount, cmd: lim(1.5, B, 9990, 1) },
        { name: 'account 2^53', reason: RejectReason.InvalidAccount, cmd: lim(2 ** 53, B, 9990, 1) },
        { name: 'killed', reason: RejectReason.AccountKilled, pre: [kill(1, 1)], cmd: lim(1, 9, 0, 0) },
        { name: 'order id 0', reason: RejectReason.InvalidValue, cmd: lim(1, 9, 0, 0, { orderId: 0 }) },
        { name: 'order id of an open order', reason: RejectReason.InvalidValue, pre: [lim(2, B, 9990, 1)], cmd: lim(1, B, 9990, 1, { orderId: 1 }) },
        { name: 'side', reason: RejectReason.InvalidSide, cmd: lim(1, 2, 9990, 1, { orderType: 9 }) },
        { name: 'order type 8', reason: RejectReason.InvalidOrderType, cmd: lim(1, B, 9990, 1, { orderType: 8, tif: 9 }) },
        { name: 'tif', reason: RejectReason.InvalidTimeInForce, cmd: lim(1, B, 9990, 1, { tif: 4, stpMode: 9 }) },
        { name: 'stp mode', reason: RejectReason.InvalidStpMode, cmd: lim(1, B, 9990, 1, { stpMode: 5, flags: 64 }) },
        { name: 'flags', reason: RejectReason.InvalidFlags, cmd: lim(1, B, 9990, 1, { flags: 64, clientOrderId: -1 }) },
        { name: 'client order id', reason: RejectReason.InvalidClientOrderId, cmd: lim(1, B, 9990, 1, { clientOrderId: 0.5, stpGroup: -1 }) },
        { name: 'stp group', reason: RejectReason.InvalidAccount, cmd: lim(1, B, 9990, 1, { stpGroup: -1, priceTicks: 0 }) },
        { name: 'market GTC', reason: RejectReason.InvalidTimeInForce, cmd: mkt(1, B, 1, { tif: TimeInForce.GTC, priceTicks: 5 }) },
        { name: 'market GTD', reason: RejectReason.InvalidTimeInForce, cmd: mkt(1, B, 1, { tif: TimeInForce.GTD, expireTsUs: T0 + 5 }) },
        { name: 'quote FOK', reason: RejectReason.InvalidTimeInForce, cmd: quote(1, B, 100_000, { tif: TimeInForce.FOK }) },
        { name: 'post-only market', reason: RejectReason.InvalidFlags, cmd: mkt(1, B, 1, { flags: OrderFlags.PostOnly }) },
        { name: 'post-only IOC', reason: RejectReason.InvalidFlags, cmd: lim(1, B, 9990, 1, { flags: OrderFlags.PostOnly, tif: TimeInForce.IOC }) },
        { name: 'quote on limit', reason: RejectReason.InvalidFlags, cmd: lim(1, B, 9990, 1, { flags: OrderFlags.QuoteQty, quoteQtyUnits: 5 }) },
        { name: 'limit price 0', reason: RejectReason.InvalidPrice, cmd: lim(1, B, 0, 0) },
        { name: 'limit price above range', reason: RejectReason.InvalidPrice, cmd: lim(1, B, 1_000_001, 1) },
        { name: 'limit price fraction', reason: RejectReason.InvalidPrice, cmd: lim(1, B, 9990.5, 1) },
        { name: 'market with a price', reason: RejectReason.InvalidPrice, cmd: mkt(1, B, 1, { priceTicks: 10000 }) },
        { name: 'qty 0', reason: RejectReason.InvalidQuantity, cmd: lim(1, B, 9990, 0, { expireTsUs: 5 }) },
        { name: 'qty fraction', reason: RejectReason.InvalidQuantity, cmd: lim(1, B, 9990, 1.5) },
        { name: 'qty NaN', reason: RejectReason.InvalidQuantity, cmd: lim(1, B, 9990, NaN) },
        { name: 'qty with quote units', reason: RejectReason.InvalidQuantity, cmd: lim(1, B, 9990, 1, { quoteQtyUnits: 5 }) },
        { name: 'quote with qty', reason: RejectReason.InvalidQuantity, cmd: quote(1, B, 100_000, { qtyLots: 1 }) },
        { name: 'quote 0', reason: RejectReason.InvalidQuantity, cmd: quote(1, B, 0) },
        { name: 'GTD without expiry', reason: RejectReason.InvalidExpireTime, cmd: lim(1, B, 9990, 1, { tif: TimeInForce.GTD }) },
        { name: 'GTC with expiry', reason: RejectReason.InvalidExpireTime, cmd: lim(1, B, 9990, 2000, { expireTsUs: T0 + 5 }) },
        { name: 'GTD at now', reason: RejectReason.GtdAlreadyExpired, cmd: lim(1, B, 9990, 2000, { tif: TimeInForce.GTD, expireTsUs: T0 }) },
        { name: 'qty below min', reason: RejectReason.QuantityBelowMin, spec: { minQtyLots: 2 }, cmd: lim(1, B, 9990, 1) },
        { name: 'qty above max', reason: RejectReason.QuantityAboveMax, pre: [lim(1, B, 9990, 1, { clientOrderId: 3 })], cmd: lim(1, B, 9990, 1001, { clientOrderId: 3 }) },
        { name: 'duplicate client id', reason: RejectReason.DuplicateClientOrderId, pre: [lim(1, B, 9990, 1, { clientOrderId: 3 })], cmd: lim(1, B, 1, 1, { clientOrderId: 3 }) },
        { name: 'no reference price', reason: RejectReason.NoReferencePrice, spec: { referencePriceTicks: 0 }, cmd: mkt(1, B, 1000) },
        { name: 'below band', reason: RejectReason.PriceOutsideBand, cmd: lim(1, B, 8999, 1000) },
        { name: 'above band', reason: RejectReason.PriceOutsideBand, cmd: lim(1, S, 11001, 1) },
        { name: 'notional below min', reason: RejectReason.NotionalBelowMin, spec: { minNotionalUnits: 200_000 }, cmd: lim(1, B, 10000, 1) },
        { name: 'notional above max', reason: RejectReason.NotionalAboveMax, spec: { maxOpenOrdersPerAccount: 1 }, pre: [lim(1, B, 9000, 1)], cmd: lim(1, B, 10001, 1000) },
        { name: 'market notional uses R', reason: RejectReason.NotionalAboveMax, spec: { maxNotionalUnits: 99_999 }, cmd: mkt(1, B, 1) },
        { name: 'quote notional is the quote', reason: RejectReason.NotionalBelowMin, spec: { minNotionalUnits: 50 }, cmd: quote(1, B, 49) },
        { name: 'too many open orders', reason: RejectReason.TooManyOpenOrders, spec: { maxOpenOrdersPerAccount: 1, maxPositionLots: 1 }, pre: [lim(1, S, 10010, 1)], cmd: lim(1, B, 9990, 5) },
        { name: 'position buy', reason: RejectReason.PositionLimitExceeded, spec: { maxPositionLots: 5, orderCapacity: 1 }, pre: [lim(1, B, 9990, 3)], cmd: lim(1, B, 9980, 3) },
        { name: 'position sell', reason: RejectReason.PositionLimitExceeded, spec: { maxPositionLots: 5 }, cmd: lim(1, S, 10010, 6) },
        // A quote-sized buy can get at most floor(quote / (bestAsk * N)) lots: 285000 / (9500 * 10) = 3 > 2.
        { name: 'position quote (q from the best ask)', reason: RejectReason.PositionLimitExceeded, spec: { maxPositionLots: 2 }, pre: [lim(2, S, 9500, 2)], cmd: quote(1, B, 285_000) },
        { name: 'book full', reason: RejectReason.BookFull, spec: { orderCapacity: 1 }, pre: [lim(2, S, 10001, 1)], cmd: lim(1, B, 10001, 1, { flags: OrderFlags.PostOnly }) },
        { name: 'post-only would take', reason: RejectReason.PostOnlyWouldTake, pre: [lim(2, S, 10001, 1)], cmd: lim(1, B, 10005, 1, { flags: OrderFlags.PostOnly }) },
      ];
      for (const r of rows) {
        test(`${RejectReasonName(r.reason)}: ${r.name}`, () => {
          const d = mk(testSpec(r.spec ?? {}));
          setup(d, r.pre ?? []);
          const seq = d.seq + 1;
          const c = r.cmd;
          const orderId = c.orderId ?? seq;
          expectEvents(d.send(c), [rejected(orderId, c.account ?? 0, r.reason, CommandType.NewOrder, c.clientOrderId ?? 0)], r.name);
        });
      }

      test('quote position check: the lower bound is at least 1 tick', () => {
        const d = mk(testSpec({ marketBandBps: 10_000, maxPositionLots: 1_000 }));
        const c = quote(1, S, 5_000);
        expectEvents(d.send(c), [accepted(1, c), expired(1, 1, 0, EndReason.ImmediateRemainder, 0)], 'q = floor(5000 / (1 * 10)) = 500');
        expectEvents(d.send(quote(1, S, 10_010)), [rejected(2, 1, RejectReason.PositionLimitExceeded)], 'q = 1001');
      });

      test('quote position check passes just below the limit', () => {
        const d = mk(testSpec({ maxPositionLots: 2 }));
        const c = quote(1, B, 284_999);
        expectEvents(d.send(c), [accepted(1, c), expired(1, 1, 0, EndReason.ImmediateRemainder, 0)], 'no ask: a buy can get 0 lots');
      });
    });
  });
}

// ------------------------------------------------------------------------------------------------
// Protection price of conditional orders (docs/matching-semantics.md, "Protection price of
// conditional orders"): a buy's cap and a sell's floor, applied at activation only.
// ------------------------------------------------------------------------------------------------

function triggeredEv(orderId: number, account: number, stopPriceTicks: number, sourcePriceTicks: number, newOrderType: number,
  limitPriceTicks: number, remainingLots: number): Ev {
  return { type: 'Triggered', orderId, account, stopPriceTicks, sourcePriceTicks, newOrderType, limitPriceTicks, remainingLots };
}
function cond(account: number, side: number, orderType: number, qtyLots: number, extra: Cmd = {}): Cmd {
  return { type: CommandType.NewOrder, account, side, orderType, tif: TimeInForce.IOC, qtyLots, ...extra };
}
/** Dump field 15 (displayQtyLots; the protection price for conditional types) of the first pending order. */
function pendingProtection(d: Driver): number {
  return parseDump(d.book.stateDump()).pending[0]!.displayQtyLots;
}

for (const [name, factory] of BOOKS) {
  const opts = factory === null ? { skip: fastWhy } : {};
  const mk = (spec: InstrumentSpec = testSpec()): Driver => new Driver(factory!, spec);

  describe(`protection price of conditional orders (${name})`, opts, () => {
    test('trailing stop buy: the protection caps the activated market order (MarketProtection)', () => {
      const d = mk();
      // Last trade 10000; asks 10003 x2, 10006 x2.
      setup(d, [lim(1, S, 10000, 1), lim(2, B, 10000, 1, { tif: TimeInForce.IOC }), lim(1, S, 10003, 2), lim(1, S, 10006, 2)]);
      const c = cond(3, B, OrderType.TrailingStop, 4, { trailOffset: 2, protectionPriceTicks: 10004 });
      expectEvents(d.send(c), [accepted(5, c)], 'anchor 10000, X 10002: waits');
      assert.equal(pendingProtection(d), 10004, 'dump field 15 holds the protection of a pending conditional');
      const t = lim(2, B, 10003, 1, { tif: TimeInForce.IOC });
      expectEvents(d.send(t), [
        accepted(6, t), trade(2, 10003, 1, [3, 1], [6, 2], B, 1, 0), depth(S, 10003, 1, 1),
        triggeredEv(5, 3, 10002, 10003, OrderType.Market, 0, 4),
        trade(3, 10003, 1, [3, 1], [5, 3], B, 0, 3), depth(S, 10003, 0, 0),
        expired(5, 3, 3, EndReason.MarketProtection, 1), tob(0, 0, 10006, 2),
      ], 'bound min(10503, 10502, 10004) = 10004: the 10006 ask is not taken');
    });

    test('trailing stop-limit buy: the limit is capped and the remainder rests at the cap', () => {
      const d = mk();
      setup(d, [lim(1, S, 10000, 1), lim(2, B, 10000, 1, { tif: TimeInForce.IOC }), lim(1, S, 10003, 1), lim(1, S, 10005, 2)]);
      const c = cond(3, B, OrderType.TrailingStopLimit, 3, { tif: TimeInForce.GTC, trailOffset: 2, limitOffsetTicks: 5, protectionPriceTicks: 10004 });
      expectEvents(d.send(c), [accepted(5, c)], 'X 10002, uncapped limit would be 10007');
      const t = lim(2, B, 10003, 1, { tif: TimeInForce.IOC });
      expectEvents(d.send(t), [
        accepted(6, t), trade(2, 10003, 1, [3, 1], [6, 2], B, 0, 0), depth(S, 10003, 0, 0),
        triggeredEv(5, 3, 10002, 10003, OrderType.Limit, 10004, 3),
        depth(B, 10004, 3, 1), tob(10004, 3, 10005, 2),
      ], 'Triggered carries the capped limit 10004; the 10005 ask is above it');
      const bid = parseDump(d.book.stateDump()).bids[0]!;
      assert.deepStrictEqual([bid.orderId, bid.priceTicks, bid.displayQtyLots, bid.visibleLots], [5, 10004, 0, 3], 'rests at the cap; the protection is used up');
    });

    test('trailing stop sell: the protection is a floor', () => {
      const d = mk();
      setup(d, [lim(1, S, 10000, 1), lim(2, B, 10000, 1, { tif: TimeInForce.IOC }), lim(1, B, 9997, 1), lim(1, B, 9994, 2)]);
      const c = cond(3, S, OrderType.TrailingStop, 3, { trailOffset: 2, protectionPriceTicks: 9996 });
      expectEvents(d.send(c), [accepted(5, c)], 'anchor 10000, X 9998');
      const t = lim(2, S, 9997, 1, { tif: TimeInForce.IOC });
      expectEvents(d.send(t), [
        accepted(6, t), trade(2, 9997, 1, [3, 1], [6, 2], S, 0, 0), depth(B, 9997, 0, 0),
        triggeredEv(5, 3, 9998, 9997, OrderType.Market, 0, 3),
        expired(5, 3, 3, EndReason.MarketProtection, 0), tob(9994, 2, 0, 0),
      ], 'bound max(9498, 9499, 9996) = 9996: the 9994 bid is not hit');
    });

    test('stop-limit sell: the limit is raised to the floor; a looser protection changes nothing', () => {
      const d = mk();
      setup(d, [lim(1, S, 10000, 1), lim(2, B, 10000, 1, { tif: TimeInForce.IOC }), lim(1, B, 9995, 5)]);
      const c = cond(3, S, OrderType.StopLimit, 2, { tif: TimeInForce.GTC, stopPriceTicks: 9999, priceTicks: 9990, protectionPriceTicks: 9996 });
      const c2 = cond(4, S, OrderType.StopLimit, 2, { tif: TimeInForce.GTC, stopPriceTicks: 9999, priceTicks: 9990, protectionPriceTicks: 9000 });
      setup(d, [c, c2]);
      const t = lim(2, S, 9999, 1, { tif: TimeInForce.IOC });
      // The IOC sell at 9999 does not trade (best bid 9995): bring the last trade down with a trade at 9995.
      const t2 = lim(2, S, 9995, 1, { tif: TimeInForce.IOC });
      expectEvents(d.send(t), [accepted(6, t), expired(6, 2, 1, EndReason.ImmediateRemainder, 0)], 'no trade');
      expectEvents(d.send(t2), [
        accepted(7, t2), trade(2, 9995, 1, [3, 1], [7, 2], S, 4, 0), depth(B, 9995, 4, 1),
        triggeredEv(4, 3, 9999, 9995, OrderType.Limit, 9996, 2), depth(S, 9996, 2, 1),
        triggeredEv(5, 4, 9999, 9995, OrderType.Limit, 9990, 2),
        trade(3, 9995, 2, [3, 1], [5, 4], S, 2, 0), depth(B, 9995, 2, 1),
        tob(9995, 2, 9996, 2),
      ], 'order 4 rests at its floor 9996 (above the bid); order 5 keeps its limit 9990 and trades');
    });

    test('TriggerImmediately: capped at entry; a later replace sets the price it names', () => {
      const d = mk();
      setup(d, [lim(1, S, 10000, 1), lim(2, B, 10000, 1, { tif: TimeInForce.IOC }), lim(1, S, 10002, 1)]);
      const c = cond(3, B, OrderType.StopLimit, 2, {
        tif: TimeInForce.GTC, flags: OrderFlags.TriggerImmediately, stopPriceTicks: 9999, priceTicks: 10010, protectionPriceTicks: 10001,
      });
      expectEvents(d.send(c), [
        accepted(4, c), triggeredEv(4, 3, 9999, 10000, OrderType.Limit, 10001, 2), depth(B, 10001, 2, 1), tob(10001, 2, 10002, 1),
      ], 'fires at once, rests at the cap');
      expectEvents(d.send(replace(3, 4, 10002, 0)), [
        replaced(4, 3, 10002, 2, 2, 0), depth(B, 10001, 0, 0),
        trade(2, 10002, 1, [3, 1], [4, 3], B, 0, 1), depth(S, 10002, 0, 0), depth(B, 10002, 1, 1), tob(10002, 1, 0, 0),
      ], 'the protection no longer applies');
    });

    test('validation: where a protection price is allowed, and its range', () => {
      const d = mk(testSpec({ minPriceTicks: 100 }));
      setup(d, [lim(1, S, 10000, 1), lim(2, B, 10000, 1, { tif: TimeInForce.IOC })]);
      const stop = (extra: Cmd): Cmd => cond(3, B, OrderType.Stop, 1, { stopPriceTicks: 10100, ...extra });
      expectEvents(d.send(lim(3, B, 9000, 1, { protectionPriceTicks: 9500 })), [rejected(3, 3, RejectReason.InvalidPrice)], 'not on Limit');
      expectEvents(d.send(stop({ protectionPriceTicks: 99 })), [rejected(4, 3, RejectReason.InvalidPrice)], 'below minPriceTicks');
      expectEvents(d.send(stop({ protectionPriceTicks: 1_000_001 })), [rejected(5, 3, RejectReason.InvalidPrice)], 'above maxPriceTicks');
      expectEvents(d.send(stop({ protectionPriceTicks: 10_000.5 })), [rejected(6, 3, RejectReason.InvalidPrice)], 'not an integer');
      expectEvents(d.send(stop({ protectionPriceTicks: -1 })), [rejected(7, 3, RejectReason.InvalidPrice)], 'negative');
      expectEvents(d.send(stop({ protectionPriceTicks: -1, qtyLots: 0 })), [rejected(8, 3, RejectReason.InvalidQuantity)], 'after the quantity check');
      expectEvents(d.send(stop({ protectionPriceTicks: -1, tif: TimeInForce.GTD, expireTsUs: 0 })), [rejected(9, 3, RejectReason.InvalidTimeInForce)],
        'after the conditional field checks (market-type tif)');
      const sl = cond(3, B, OrderType.StopLimit, 1, { tif: TimeInForce.GTD, expireTsUs: 0, stopPriceTicks: 10100, priceTicks: 10100, protectionPriceTicks: -1 });
      expectEvents(d.send(sl), [rejected(10, 3, RejectReason.InvalidPrice)], 'before the GTD checks');
      const okBelowBand = stop({ protectionPriceTicks: 100 });
      expectEvents(d.send(okBelowBand), [accepted(11, okBelowBand)], 'minPriceTicks is allowed; no band check');
      const okMarket = mkt(3, B, 1, { protectionPriceTicks: 2_000_000 });
      expectEvents(d.send(okMarket), [accepted(12, okMarket), expired(12, 3, 1, EndReason.ImmediateRemainder, 0)], 'Market: any integer >= 0 (unchanged)');
    });
  });

  describe(`account ids (${name})`, opts, () => {
    test('ids of 2^16 and above (hashed, not direct-indexed) trade, cancel and are checked like small ones', () => {
      const d = mk();
      const big = 70_000, huge = 2 ** 40;
      const c = lim(big, S, 10001, 2);
      expectEvents(d.send(c), [accepted(1, c), depth(S, 10001, 2, 1), tob(0, 0, 10001, 2)], 'rests');
      const t = lim(huge, B, 10001, 1);
      expectEvents(d.send(t), [accepted(2, t), trade(1, 10001, 1, [1, big], [2, huge], B, 1, 0), depth(S, 10001, 1, 1), tob(0, 0, 10001, 1)], 'trades');
      expectEvents(d.send(kill(big, 1)), [canceled(1, big, 1, EndReason.KillSwitch, 1), depth(S, 10001, 0, 0), adminDone(CommandType.SetKillSwitch, big, 1, 0, 1), tob(0, 0, 0, 0)], 'kill switch');
      expectEvents(d.send(lim(big, S, 10001, 1)), [rejected(4, big, RejectReason.AccountKilled)], 'killed');
    });
  });
}

function RejectReasonName(code: number): string {
  const names: Record<number, string> = {
    2: 'InvalidSide', 3: 'InvalidOrderType', 4: 'InvalidTimeInForce', 5: 'InvalidPrice', 6: 'InvalidQuantity', 7: 'InvalidStpMode',
    8: 'InvalidFlags', 9: 'InvalidExpireTime', 11: 'QuantityBelowMin', 12: 'QuantityAboveMax', 13: 'NotionalBelowMin',
    14: 'NotionalAboveMax', 15: 'PriceOutsideBand', 16: 'TooManyOpenOrders', 17: 'PositionLimitExceeded', 18: 'SymbolHalted',
    19: 'SymbolCancelOnly', 20: 'AccountKilled', 21: 'DuplicateClientOrderId', 22: 'PostOnlyWouldTake', 25: 'BookFull',
    26: 'NoReferencePrice', 27: 'GtdAlreadyExpired', 30: 'InvalidAccount', 31: 'InvalidClientOrderId', 33: 'InvalidValue',
  };
  return names[code] ?? String(code);
}

// ------------------------------------------------------------------------------------------------
// Fast-book deviations from the doc that the model-based property test found (issue 3), now fixed:
// each runs on both books as a regression test. A new deviation can be parked as a `todo` test plus a
// flag in KNOWN_FAST_BOOK_QUIRKS (testing/lockstep.ts) until it is fixed.
// ------------------------------------------------------------------------------------------------

interface BugRepro { name: string; bug: string; run: (d: Driver) => void }

const bugRepros: BugRepro[] = [
  {
    name: 'client id retention follows termination order when an OCO partner goes with it',
    bug: 'fixed fast book bug: retains the canceled OCO partner\'s client id before the order that caused it (retainAfterLinked)',
    run: (d) => {
      setup(d, [lim(1, S, 10001, 1, { clientOrderId: 1 }), lim(2, B, 10000, 1, { clientOrderId: 2 })]);
      const c3 = lim(1, S, 10000, 1, { linkId: 1 });
      expectEvents(d.send(c3), [
        accepted(3, c3), trade(1, 10000, 1, [2, 2], [3, 1], S, 0, 0), canceled(1, 1, 1, EndReason.LinkedOrder, 0),
        depth(S, 10001, 0, 0), depth(B, 10000, 0, 0), tob(0, 0, 0, 0),
      ], 'the maker fills, then the taker\'s partner goes');
      setup(d, [lim(3, S, 10100, 1, { clientOrderId: 5 }), lim(3, S, 10200, 1, { clientOrderId: 6, linkId: 4 }), cancel(3, 4)]);
      // Order 2 terminated (Trade) before order 1 (Canceled); order 4 (Canceled) before order 5 (LinkedOrder).
      assert.deepStrictEqual(parseDump(d.book.stateDump()).retained, [[2, 2], [1, 1], [3, 5], [3, 6]]);
    },
  },
  {
    name: 'a trailing stop anchors at the source price at entry, not at prices seen before it existed',
    bug: 'fixed fast book bug: trailing high/low trackers are not reset while no conditional is pending (staleTrailingPrices)',
    run: (d) => {
      setup(d, [lim(1, S, 10000, 1), lim(2, B, 10000, 1, { tif: TimeInForce.IOC }), lim(1, S, 9999, 1), lim(2, B, 9999, 1, { tif: TimeInForce.IOC })]);
      const c = { type: CommandType.NewOrder, account: 3, side: S, orderType: OrderType.TrailingStop, tif: TimeInForce.IOC, trailOffset: 1, qtyLots: 1 };
      expectEvents(d.send(c), [accepted(5, c)], 'last trade 9999: anchor 9999, X 9998, nothing fires');
      const p = parseDump(d.book.stateDump()).pending[0]!;
      assert.deepStrictEqual([p.anchorTicks, p.stopPriceTicks], [9999, 9998]);
    },
  },
  {
    name: 'the Depth after a linked cancel on the level being matched no longer counts a filled maker',
    bug: 'fixed fast book bug: a fully filled maker is still counted in the Depth of its OCO partner\'s cancel (depthCountsFilledMaker)',
    run: (d) => {
      setup(d, [lim(4, S, 10000, 1), lim(4, S, 10000, 1, { linkId: 1 })]);
      const c = lim(1, B, 10000, 1, { tif: TimeInForce.IOC });
      expectEvents(d.send(c), [
        accepted(3, c), trade(1, 10000, 1, [1, 4], [3, 1], B, 0, 0), canceled(2, 4, 1, EndReason.LinkedOrder, 0),
        depth(S, 10000, 0, 0), depth(S, 10000, 0, 0), tob(0, 0, 0, 0),
      ], 'both orders are gone from the level');
    },
  },
  {
    name: 'a trailing stop whose condition holds at entry is rejected without TriggerImmediately',
    bug: 'fixed fast book bug: the StopWouldTrigger check skips trailing types (sell trailing at anchor 1: X = max(1, 1 - d) = 1 <= P)',
    run: (d) => {
      setup(d, [lim(1, S, 1, 1), lim(2, B, 1, 1, { tif: TimeInForce.IOC })]);
      const c = { type: CommandType.NewOrder, account: 3, side: S, orderType: OrderType.TrailingStop, tif: TimeInForce.IOC, trailOffset: 5, qtyLots: 1 };
      expectEvents(d.send(c), [rejected(3, 3, RejectReason.StopWouldTrigger)], 'last trade 1, X 1');
    },
  },
];

for (const [name, factory] of BOOKS) {
  describe(`fast-book bug repros from the property test (${name})`, factory === null ? { skip: fastWhy } : {}, () => {
    for (const r of bugRepros) {
      const spec = testSpec({ priceBandBps: 0, minNotionalUnits: 1 });
      test(r.name, () => r.run(new Driver(factory!, spec)));
    }
  });
}
