// Scenario tests for the advanced order types (docs/matching-semantics.md, "Advanced order types"):
// stop, stop-limit, trailing, if-touched, iceberg, OCO, bracket, trigger order and the cascade limit.
// Each scenario states the exact events it expects; the numbers are worked out by hand from the doc.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OrderBook } from './book.js';
import type { InstrumentSpec } from './instrument.js';
import { CommandType, EndReason, OrderFlags, OrderType, RejectReason, Side, TimeInForce } from './types.js';
import { Driver, parseDump, testSpec } from '../testing/fixtures.js';

type Ev = Record<string, number | string>;
const fast = (spec: InstrumentSpec, ev: ConstructorParameters<typeof OrderBook>[1]) => new OrderBook(spec, ev);

function driver(over: Partial<InstrumentSpec> = {}): Driver {
  // No fees and no band checks in the way unless a test asks for them.
  return new Driver(fast, testSpec({ makerFeePpm: 0, takerFeePpm: 0, priceBandBps: 0, ...over }));
}
const NEW = CommandType.NewOrder;
const limit = (account: number, side: number, priceTicks: number, qtyLots: number, extra: Record<string, number> = {}) =>
  ({ type: NEW, account, side, orderType: OrderType.Limit, tif: TimeInForce.GTC, priceTicks, qtyLots, ...extra });
const ioc = (account: number, side: number, priceTicks: number, qtyLots: number) =>
  ({ type: NEW, account, side, orderType: OrderType.Limit, tif: TimeInForce.IOC, priceTicks, qtyLots });
const types = (evs: Ev[]) => evs.map((e) => e['type']);
const only = (evs: Ev[], type: string) => evs.filter((e) => e['type'] === type);

/** A book whose last trade happened at `px` (accounts 90 and 91 trade 1 lot). */
function withLastTrade(d: Driver, px: number): void {
  d.send(limit(90, Side.Sell, px, 1));
  d.send(ioc(91, Side.Buy, px, 1));
}

describe('stop and stop-limit', () => {
  it('a sell stop waits off the book, fires on a trade at or below X, and trades as a market order', () => {
    const d = driver();
    withLastTrade(d, 10_000);
    d.send(limit(2, Side.Buy, 9_940, 1));
    d.send(limit(2, Side.Buy, 9_900, 5));
    const acc = d.send({ type: NEW, account: 1, side: Side.Sell, orderType: OrderType.Stop, tif: TimeInForce.IOC,
      stopPriceTicks: 9_950, qtyLots: 2 });
    assert.deepEqual(types(acc), ['Accepted'], 'a pending stop is not on the book: no Depth, no TopOfBook');
    const stopId = d.seq;
    const evs = d.send(ioc(3, Side.Sell, 9_940, 1));
    assert.deepEqual(types(evs), ['Accepted', 'Trade', 'Depth', 'Triggered', 'Trade', 'Depth', 'TopOfBook']);
    assert.deepEqual(only(evs, 'Triggered')[0], { type: 'Triggered', orderId: stopId, account: 1, stopPriceTicks: 9_950,
      sourcePriceTicks: 9_940, newOrderType: OrderType.Market, limitPriceTicks: 0, remainingLots: 2 });
    const t2 = only(evs, 'Trade')[1]!;
    assert.equal(t2['takerOrderId'], stopId);
    assert.equal(t2['priceTicks'], 9_900);
    assert.equal(t2['qtyLots'], 2);
    assert.equal(t2['takerRemainingLots'], 0);
  });

  it('rejects a stop whose condition already holds, unless TriggerImmediately', () => {
    const d = driver();
    withLastTrade(d, 10_000);
    const r = d.send({ type: NEW, account: 1, side: Side.Buy, orderType: OrderType.Stop, tif: TimeInForce.IOC,
      stopPriceTicks: 9_990, qtyLots: 1 });
    assert.equal(r[0]!['type'], 'Rejected');
    assert.equal(r[0]!['reason'], RejectReason.StopWouldTrigger);
    d.send(limit(5, Side.Sell, 10_010, 3));
    const ok = d.send({ type: NEW, account: 1, side: Side.Buy, orderType: OrderType.Stop, tif: TimeInForce.IOC,
      stopPriceTicks: 9_990, qtyLots: 1, flags: OrderFlags.TriggerImmediately });
    assert.deepEqual(types(ok), ['Accepted', 'Triggered', 'Trade', 'Depth', 'TopOfBook']);
    assert.equal(only(ok, 'Trade')[0]!['priceTicks'], 10_010);
  });

  it('a buy stop-limit becomes a limit order at its price and rests what it cannot fill', () => {
    const d = driver();
    withLastTrade(d, 10_000);
    d.send(limit(5, Side.Sell, 10_050, 1));
    d.send(limit(5, Side.Sell, 10_080, 4));
    d.send({ type: NEW, account: 1, side: Side.Buy, orderType: OrderType.StopLimit, tif: TimeInForce.GTC,
      stopPriceTicks: 10_040, priceTicks: 10_060, qtyLots: 3 });
    const stopId = d.seq;
    const evs = d.send(ioc(6, Side.Buy, 10_050, 1)); // trades at 10050 >= 10040
    assert.deepEqual(types(evs), ['Accepted', 'Trade', 'Depth', 'Triggered', 'Depth', 'TopOfBook']);
    assert.equal(only(evs, 'Triggered')[0]!['limitPriceTicks'], 10_060);
    const depth = only(evs, 'Depth')[1]!;
    assert.deepEqual(depth, { type: 'Depth', side: Side.Buy, priceTicks: 10_060, qtyLots: 3, orderCount: 1 });
    const dump = parseDump(d.book.stateDump());
    assert.equal(dump.bids[0]!.orderId, stopId);
    assert.equal(dump.bids[0]!.orderType, OrderType.StopLimit, 'an activated conditional keeps its original type');
    assert.equal(dump.pending.length, 0);
  });

  it('a market-type conditional never trades beyond the band from its stop price', () => {
    const d = driver({ marketBandBps: 100 }); // 1 %
    withLastTrade(d, 10_000);
    d.send(limit(5, Side.Sell, 10_000, 1));
    d.send(limit(5, Side.Sell, 10_200, 5)); // beyond X*1.01 = 10100
    d.send({ type: NEW, account: 1, side: Side.Buy, orderType: OrderType.Stop, tif: TimeInForce.IOC,
      stopPriceTicks: 10_000, qtyLots: 3, flags: OrderFlags.TriggerImmediately });
    const evs = d.send({ type: NEW, account: 1, side: Side.Buy, orderType: OrderType.Stop, tif: TimeInForce.IOC,
      stopPriceTicks: 9_000, qtyLots: 3, flags: OrderFlags.TriggerImmediately });
    // The first stop took the 1 lot at 10000; the second finds only 10200 > min(10000*1.01, 9000*1.01).
    const exp = only(evs, 'Expired')[0]!;
    assert.equal(exp['reason'], EndReason.MarketProtection);
    assert.equal(exp['remainingLots'], 3);
  });
});

describe('trailing stops', () => {
  it('a sell trailing stop ratchets up with the price and fires on the pullback', () => {
    const d = driver();
    withLastTrade(d, 10_000);
    d.send({ type: NEW, account: 1, side: Side.Sell, orderType: OrderType.TrailingStop, tif: TimeInForce.IOC,
      trailOffset: 100, qtyLots: 1 });
    const id = d.seq;
    let p = parseDump(d.book.stateDump()).pending[0]!;
    assert.equal(p.anchorTicks, 10_000);
    assert.equal(p.stopPriceTicks, 9_900);
    withLastTrade(d, 10_300); // the anchor rises to 10300
    p = parseDump(d.book.stateDump()).pending[0]!;
    assert.equal(p.anchorTicks, 10_300);
    assert.equal(p.stopPriceTicks, 10_200);
    withLastTrade(d, 10_250); // a fall that stays above X: nothing moves
    p = parseDump(d.book.stateDump()).pending[0]!;
    assert.equal(p.stopPriceTicks, 10_200, 'the stop never moves against the order');
    d.send(limit(2, Side.Buy, 10_150, 1));
    const evs = d.send(limit(90, Side.Sell, 10_200, 1, { tif: TimeInForce.IOC }));
    // No bid at 10200 yet: nothing trades, nothing fires.
    assert.equal(only(evs, 'Triggered').length, 0);
    d.send(limit(3, Side.Buy, 10_200, 1));
    const fire = d.send(ioc(90, Side.Sell, 10_200, 1)); // last trade 10200 <= X 10200
    const trig = only(fire, 'Triggered')[0]!;
    assert.equal(trig['orderId'], id);
    assert.equal(trig['stopPriceTicks'], 10_200);
    assert.equal(only(fire, 'Trade')[1]!['priceTicks'], 10_150);
  });

  it('a buy trailing stop in basis points follows the low', () => {
    const d = driver();
    withLastTrade(d, 10_000);
    d.send({ type: NEW, account: 1, side: Side.Buy, orderType: OrderType.TrailingStopLimit, tif: TimeInForce.GTC,
      trailOffset: 50, limitOffsetTicks: 10, qtyLots: 1, flags: OrderFlags.TrailBps });
    let p = parseDump(d.book.stateDump()).pending[0]!;
    assert.equal(p.stopPriceTicks, 10_050); // 10000 + 0.5 %
    withLastTrade(d, 9_800);
    p = parseDump(d.book.stateDump()).pending[0]!;
    assert.equal(p.anchorTicks, 9_800);
    assert.equal(p.stopPriceTicks, 9_849); // floor(9800 * 50 / 10000) = 49
  });

  it('needs a source price to anchor to', () => {
    const d = driver();
    const r = d.send({ type: NEW, account: 1, side: Side.Sell, orderType: OrderType.TrailingStop, tif: TimeInForce.IOC,
      trailOffset: 100, qtyLots: 1 });
    assert.equal(r[0]!['reason'], RejectReason.NoReferencePrice);
  });
});

describe('if-touched and trigger sources', () => {
  it('a buy limit-if-touched fires when the price falls to X', () => {
    const d = driver();
    withLastTrade(d, 10_000);
    d.send({ type: NEW, account: 1, side: Side.Buy, orderType: OrderType.LimitIfTouched, tif: TimeInForce.GTC,
      stopPriceTicks: 9_950, priceTicks: 9_940, qtyLots: 2 });
    withLastTrade(d, 9_960);
    assert.equal(parseDump(d.book.stateDump()).pending.length, 1);
    d.send(limit(90, Side.Sell, 9_950, 1));
    const evs = d.send(ioc(91, Side.Buy, 9_950, 1));
    assert.deepEqual(types(evs).slice(0, 4), ['Accepted', 'Trade', 'Depth', 'Triggered']);
    const dump = parseDump(d.book.stateDump());
    assert.equal(dump.bids[0]!.priceTicks, 9_940);
    assert.equal(dump.bids[0]!.remainingLots, 2);
  });

  it('a mark-price stop fires on SetReferencePrice, a last-trade stop does not', () => {
    const d = driver();
    withLastTrade(d, 10_000);
    d.send(limit(5, Side.Buy, 9_000, 10));
    d.send({ type: NEW, account: 1, side: Side.Sell, orderType: OrderType.Stop, tif: TimeInForce.IOC,
      stopPriceTicks: 9_500, qtyLots: 1, flags: OrderFlags.TriggerMark });
    d.send({ type: NEW, account: 2, side: Side.Sell, orderType: OrderType.Stop, tif: TimeInForce.IOC,
      stopPriceTicks: 9_500, qtyLots: 1 });
    const evs = d.send({ type: CommandType.SetReferencePrice, value: 9_400 });
    const trig = only(evs, 'Triggered');
    assert.equal(trig.length, 1);
    assert.equal(trig[0]!['account'], 1);
    assert.equal(parseDump(d.book.stateDump()).pending.length, 1);
  });
});

describe('trigger order and cascades', () => {
  it('fires several stops in price order, then time, and lets a cascade run until quiet', () => {
    const d = driver();
    withLastTrade(d, 10_000);
    d.send(limit(5, Side.Buy, 9_990, 1));
    d.send(limit(5, Side.Buy, 9_900, 10));
    const ids: number[] = [];
    for (const x of [9_950, 9_980, 9_980]) {
      d.send({ type: NEW, account: 1, side: Side.Sell, orderType: OrderType.Stop, tif: TimeInForce.IOC, stopPriceTicks: x, qtyLots: 1 });
      ids.push(d.seq);
    }
    const evs = d.send(ioc(3, Side.Sell, 9_990, 1)); // 9990 fires nothing yet? 9990 > 9980: no
    assert.equal(only(evs, 'Triggered').length, 0);
    d.send(limit(5, Side.Buy, 9_970, 1));
    const fire = d.send(ioc(3, Side.Sell, 9_970, 1)); // 9970 <= 9980 (two stops), their trades at 9900 fire 9950
    assert.deepEqual(only(fire, 'Triggered').map((e) => e['orderId']), [ids[1], ids[2], ids[0]]);
  });

  it('expires what would fire beyond maxTriggersPerCommand', () => {
    const d = driver({ maxTriggersPerCommand: 1 });
    withLastTrade(d, 10_000);
    d.send(limit(5, Side.Buy, 9_900, 10));
    for (let i = 0; i < 3; i++) {
      d.send({ type: NEW, account: 1, side: Side.Sell, orderType: OrderType.Stop, tif: TimeInForce.IOC, stopPriceTicks: 9_950, qtyLots: 1 });
    }
    d.send(limit(5, Side.Buy, 9_950, 1));
    const evs = d.send(ioc(3, Side.Sell, 9_950, 1));
    assert.equal(only(evs, 'Triggered').length, 1);
    const exp = only(evs, 'Expired').filter((e) => e['reason'] === EndReason.TriggerLimit);
    assert.equal(exp.length, 2);
    assert.equal(parseDump(d.book.stateDump()).pending.length, 0);
  });
});

describe('iceberg', () => {
  it('shows only its slice, refreshes at the back of its level, and depth never shows the hidden part', () => {
    const d = driver();
    const show = d.send(limit(1, Side.Sell, 10_000, 10, { displayQtyLots: 3 }));
    const ice = d.seq;
    assert.deepEqual(only(show, 'Depth')[0], { type: 'Depth', side: Side.Sell, priceTicks: 10_000, qtyLots: 3, orderCount: 1 });
    d.send(limit(2, Side.Sell, 10_000, 2));
    const evs = d.send(ioc(3, Side.Buy, 10_000, 4));
    assert.deepEqual(types(evs), ['Accepted', 'Trade', 'SliceRefreshed', 'Trade', 'Depth', 'TopOfBook']);
    const [t1, t2] = only(evs, 'Trade');
    assert.equal(t1!['makerOrderId'], ice);
    assert.equal(t1!['qtyLots'], 3);
    assert.equal(t1!['makerRemainingLots'], 7, 'a trade reports the whole remaining quantity');
    assert.deepEqual(only(evs, 'SliceRefreshed')[0], { type: 'SliceRefreshed', orderId: ice, account: 1, visibleLots: 3, hiddenLots: 4 });
    assert.equal(t2!['makerAccount'], 2, 'the refreshed slice lost priority to the order behind it');
    assert.deepEqual(only(evs, 'Depth')[0], { type: 'Depth', side: Side.Sell, priceTicks: 10_000, qtyLots: 4, orderCount: 2 });
  });

  it('a taker reaches the refreshed slice again within the same level', () => {
    const d = driver();
    d.send(limit(1, Side.Sell, 10_000, 10, { displayQtyLots: 3 }));
    const evs = d.send(ioc(3, Side.Buy, 10_000, 8));
    assert.deepEqual(only(evs, 'Trade').map((e) => e['qtyLots']), [3, 3, 2]);
    assert.deepEqual(only(evs, 'Depth')[0], { type: 'Depth', side: Side.Sell, priceTicks: 10_000, qtyLots: 1, orderCount: 1 });
  });

  it('rejects a display size below the minimum or above the quantity', () => {
    const d = driver({ minDisplayQtyLots: 2 });
    assert.equal(d.send(limit(1, Side.Sell, 10_000, 10, { displayQtyLots: 1 }))[0]!['reason'], RejectReason.InvalidDisplayQty);
    assert.equal(d.send(limit(1, Side.Sell, 10_000, 10, { displayQtyLots: 11 }))[0]!['reason'], RejectReason.InvalidDisplayQty);
    assert.equal(d.send(ioc(1, Side.Sell, 10_000, 10) && { ...ioc(1, Side.Sell, 10_000, 10), displayQtyLots: 3 })[0]!['reason'],
      RejectReason.InvalidDisplayQty);
  });
});

describe('OCO', () => {
  it('a fill of the limit leg cancels the stop leg at once', () => {
    const d = driver();
    withLastTrade(d, 10_000);
    d.send(limit(1, Side.Sell, 10_100, 5));
    const lim = d.seq;
    const r = d.send({ type: NEW, account: 1, side: Side.Sell, orderType: OrderType.Stop, tif: TimeInForce.IOC,
      stopPriceTicks: 9_900, qtyLots: 5, linkId: lim });
    assert.deepEqual(types(r), ['Accepted']);
    const stop = d.seq;
    assert.equal(parseDump(d.book.stateDump()).asks[0]!.linkId, stop);
    const evs = d.send(ioc(2, Side.Buy, 10_100, 2));
    assert.deepEqual(types(evs), ['Accepted', 'Trade', 'Canceled', 'Depth', 'TopOfBook']);
    assert.deepEqual(only(evs, 'Canceled')[0], { type: 'Canceled', orderId: stop, account: 1, remainingLots: 5,
      reason: EndReason.LinkedOrder, filledLots: 0 });
    assert.equal(parseDump(d.book.stateDump()).asks[0]!.linkId, 0);
  });

  it('a trigger of the stop leg cancels the limit leg, and a cancel of one cancels both', () => {
    const d = driver();
    withLastTrade(d, 10_000);
    d.send(limit(5, Side.Buy, 9_800, 10));
    d.send(limit(1, Side.Sell, 10_100, 5));
    const lim = d.seq;
    d.send({ type: NEW, account: 1, side: Side.Sell, orderType: OrderType.Stop, tif: TimeInForce.IOC,
      stopPriceTicks: 9_900, qtyLots: 5, linkId: lim });
    d.send(limit(5, Side.Buy, 9_900, 1));
    const evs = d.send(ioc(3, Side.Sell, 9_900, 1));
    assert.deepEqual(types(evs).slice(0, 6), ['Accepted', 'Trade', 'Depth', 'Triggered', 'Canceled', 'Depth']);
    assert.equal(only(evs, 'Canceled')[0]!['orderId'], lim);

    const d2 = driver();
    d2.send(limit(1, Side.Sell, 10_100, 5));
    const a = d2.seq;
    d2.send(limit(1, Side.Sell, 10_200, 5, { linkId: a }));
    const b = d2.seq;
    const c = d2.send({ type: CommandType.Cancel, account: 1, orderId: a });
    assert.deepEqual(only(c, 'Canceled').map((e) => [e['orderId'], e['reason']]), [[a, EndReason.UserCancel], [b, EndReason.LinkedOrder]]);
  });

  it('rejects links to another account, the other side, a filled or an already linked order', () => {
    const d = driver();
    d.send(limit(1, Side.Sell, 10_100, 5));
    const a = d.seq;
    assert.equal(d.send(limit(2, Side.Sell, 10_200, 1, { linkId: a }))[0]!['reason'], RejectReason.InvalidLink);
    assert.equal(d.send(limit(1, Side.Buy, 9_000, 1, { linkId: a }))[0]!['reason'], RejectReason.InvalidLink);
    d.send(limit(1, Side.Sell, 10_200, 1, { linkId: a }));
    assert.equal(d.send(limit(1, Side.Sell, 10_300, 1, { linkId: a }))[0]!['reason'], RejectReason.InvalidLink);
  });
});

describe('bracket (OTOCO)', () => {
  it('children grow with the entry\'s fills, rest or wait, and are OCO with each other', () => {
    const d = driver();
    withLastTrade(d, 10_000);
    d.send(limit(1, Side.Buy, 10_000, 5));
    const entry = d.seq;
    const tpR = d.send(limit(1, Side.Sell, 10_200, 0, { flags: OrderFlags.Child, linkId: entry }));
    assert.deepEqual(types(tpR), ['Accepted'], 'a child of size 0 waits off the book');
    const tp = d.seq;
    d.send({ type: NEW, account: 1, side: Side.Sell, orderType: OrderType.Stop, tif: TimeInForce.IOC, stopPriceTicks: 9_800,
      qtyLots: 0, flags: OrderFlags.Child, linkId: entry });
    const sl = d.seq;
    assert.equal(parseDump(d.book.stateDump()).pending.length, 2);

    const f1 = d.send(ioc(2, Side.Sell, 10_000, 3));
    assert.deepEqual(types(f1), ['Accepted', 'Trade', 'Depth', 'Activated', 'Depth', 'Activated', 'TopOfBook']);
    assert.deepEqual(only(f1, 'Activated'), [
      { type: 'Activated', orderId: tp, account: 1, qtyLots: 3, remainingLots: 3 },
      { type: 'Activated', orderId: sl, account: 1, qtyLots: 3, remainingLots: 3 },
    ]);
    let dump = parseDump(d.book.stateDump());
    assert.equal(dump.asks[0]!.orderId, tp);
    assert.equal(dump.asks[0]!.parentId, entry);
    assert.equal(dump.pending[0]!.orderId, sl);
    assert.equal(dump.pending[0]!.qtyLots, 3);

    const f2 = d.send(ioc(2, Side.Sell, 10_000, 2)); // the entry fills: both children grow to 5
    assert.deepEqual(only(f2, 'Activated').map((e) => e['qtyLots']), [5, 5]);
    dump = parseDump(d.book.stateDump());
    assert.equal(dump.asks[0]!.remainingLots, 5);
    assert.equal(dump.asks[0]!.parentId, 0, 'the filled entry is gone');

    const tpFill = d.send(ioc(3, Side.Buy, 10_200, 1)); // the take-profit trades: the stop-loss goes
    assert.deepEqual(only(tpFill, 'Canceled').map((e) => [e['orderId'], e['reason']]), [[sl, EndReason.LinkedOrder]]);
    assert.equal(parseDump(d.book.stateDump()).pending.length, 0);
  });

  it('cancels the children when the entry ends unfilled', () => {
    const d = driver();
    d.send(limit(1, Side.Buy, 10_000, 5));
    const entry = d.seq;
    d.send(limit(1, Side.Sell, 10_200, 0, { flags: OrderFlags.Child, linkId: entry }));
    const evs = d.send({ type: CommandType.Cancel, account: 1, orderId: entry });
    assert.deepEqual(only(evs, 'Canceled').map((e) => e['reason']), [EndReason.UserCancel, EndReason.LinkedOrder]);
    assert.equal(parseDump(d.book.stateDump()).pending.length, 0);
  });

  it('rejects a child on the entry\'s side, with a quantity, or of a market type', () => {
    const d = driver();
    d.send(limit(1, Side.Buy, 10_000, 5));
    const entry = d.seq;
    assert.equal(d.send(limit(1, Side.Buy, 9_000, 0, { flags: OrderFlags.Child, linkId: entry }))[0]!['reason'], RejectReason.InvalidLink);
    assert.equal(d.send(limit(1, Side.Sell, 10_200, 2, { flags: OrderFlags.Child, linkId: entry }))[0]!['reason'], RejectReason.InvalidQuantity);
    assert.equal(d.send({ type: NEW, account: 1, side: Side.Sell, orderType: OrderType.Market, tif: TimeInForce.IOC, qtyLots: 0,
      flags: OrderFlags.Child, linkId: entry })[0]!['reason'], RejectReason.InvalidLink);
  });
});

describe('snapshot with advanced state', () => {
  it('restores pending triggers, icebergs, links and children to the same hash and behaviour', () => {
    const d = driver();
    withLastTrade(d, 10_000);
    d.send(limit(1, Side.Sell, 10_100, 10, { displayQtyLots: 2 }));
    const ice = d.seq;
    d.send({ type: NEW, account: 1, side: Side.Sell, orderType: OrderType.Stop, tif: TimeInForce.IOC, stopPriceTicks: 9_900,
      qtyLots: 5, linkId: ice });
    d.send({ type: NEW, account: 2, side: Side.Sell, orderType: OrderType.TrailingStop, tif: TimeInForce.IOC, trailOffset: 50, qtyLots: 1 });
    d.send(limit(3, Side.Buy, 9_950, 4));
    const entry = d.seq;
    d.send(limit(3, Side.Sell, 10_300, 0, { flags: OrderFlags.Child, linkId: entry }));
    const book = d.book as OrderBook;
    const snap = book.snapshot();
    const e2 = new Driver(fast, book.spec);
    const restored = OrderBook.restore(book.spec, e2.events, snap);
    assert.equal(restored.stateHash(), book.stateHash());
    // Same next command, same events, same hash.
    const cmd = ioc(4, Side.Sell, 9_950, 4);
    const a = d.send(cmd);
    (e2 as unknown as { book: OrderBook }).book = restored;
    e2.seq = d.seq - 1; e2.tsUs = d.tsUs;
    const b = e2.send(cmd);
    assert.deepEqual(b, a);
    assert.equal(restored.stateHash(), book.stateHash());
  });
});
