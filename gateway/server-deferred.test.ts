// The binary gateway's deferred requests end to end (gateway/server.ts "Deferred requests"): while a
// request of a session is parked in the engine (a linked NewOrder meeting an unsettled book), the
// session's later requests are held in the gateway, answered Busy past 4096, and the session is
// closed 4008 past 65,536; cancel-on-disconnect takes its place in a parked FIFO; a session that
// leaves while it waits loses its held requests, never the deferred one's answer. A real engine and
// gateway (rest/test-kit.ts), real WebSocket clients on 127.0.0.1; the engine's settlement is held
// (engine-test-kit.ts holdSettlement) so that a book stays unsettled, and a linked order parked, for
// as long as each test needs, with a wait bound (maxParkMs) far beyond the test.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { CommandType, EndReason, RejectReason, Side, TimeInForce } from '../core/types.js';
import { TradingClient, type Report } from './client.js';
import { holdSettlement } from './engine-test-kit.js';
import { MsgType, encodeFrame, type Fields } from './protocol.js';
import { startRestKit, type RestKit } from './rest/test-kit.js';
import { CloseCode } from './sessions.js';
import { RawWebSocket } from './ws-test-client.js';

/** docs/protocol.md: requests waiting behind a deferred one answered Busy past this many ... */
const MAX_HELD = 4096;
/** ... and the connection closed 4008 past this many. */
const MAX_PENDING = 65_536;

const AAA = 1, BBB = 2;
/** Instrument indexes in the ledger's views. */
const AAA_I = 0, BBB_I = 1;

let k: RestKit;
let release: (() => void) | null = null;
const sockets: RawWebSocket[] = [];

before(async () => { k = await startRestKit({}, { engine: { maxParkMs: 120_000 } }); });
afterEach(async () => {
  // A failed test must not leave the engine held or connections open (engine.close drains), nor
  // orders that the next test would meet.
  release?.();
  release = null;
  for (const ws of sockets.splice(0)) ws.destroy();
  await cleanBooks();
});
after(async () => { release?.(); await k?.close(); });

interface Conn { ws: RawWebSocket; client: TradingClient; reports: Report[] }

async function session(user: string, firstClientOrderId: number, query = ''): Promise<Conn> {
  const ws = await RawWebSocket.connect(`ws://127.0.0.1:${k.gateway.port}/ws/orders${query}`, { authorization: `Bearer ${k.users[user]!.token}` });
  sockets.push(ws);
  const client = new TradingClient(ws, { ackTimeoutMs: 20_000, firstClientOrderId });
  const reports: Report[] = [];
  client.on('report', (r: Report) => reports.push(r));
  return { ws, client, reports };
}

function hold(): void {
  release = holdSettlement(k.engine);
}

function letGo(): void {
  release?.();
  release = null;
}

async function until(what: string, pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Every sequenced command acked and nothing parked. */
async function settled(): Promise<void> {
  await until('the engine to settle', () => { const st = k.engine.stats(); return st.parkedNow === 0 && st.ackedSeq === st.nextSeq - 1; });
}

/** NewOrders pipelined as raw frames of 64 (the protocol's default frame limit), not tracked by the client. */
function sendOrders(ws: RawWebSocket, orders: Partial<Fields>[]): void {
  for (let i = 0; i < orders.length; i += 64) {
    ws.send(encodeFrame(orders.slice(i, i + 64).map((fields) => ({ type: MsgType.NewOrder, fields }))));
  }
}

/**
 * Answers to NewOrders (ExecAccepted, or ExecRejected of a NewOrder) with client order ids from
 * `cid0` on, in arrival order (a session also gets its account's other sessions' reports).
 */
const newOrderAnswers = (c: Conn, cid0: number): Report[] =>
  c.reports.filter((r) => (r.name === 'ExecAccepted' || (r.name === 'ExecRejected' && r.fields.commandType === CommandType.NewOrder)) &&
    r.fields.clientOrderId! >= cid0 && r.fields.clientOrderId! < cid0 + 100_000);

const openOf = (account: number, instrumentIndex: number): number =>
  k.engine.ledger.openOrders().filter((o) => o.account === account && o.instrumentIndex === instrumentIndex).length;

/** Cancels every order of both trading accounts (tests share the engine). */
async function cleanBooks(): Promise<void> {
  for (const [user, cid] of [['trader', 90_000_000], ['trader2', 91_000_000]] as const) {
    const c = await session(user, cid + Math.floor(Math.random() * 900_000));
    try {
      assert.ok((await c.client.massCancel({ instrumentId: 0 })).ok);
    } finally {
      await c.ws.close();
    }
  }
  await settled();
}

/** A resting buy on AAA of `c` (the partner its OCO leg will name); its orderId. */
async function restingBuy(c: Conn, priceTicks = 9_500): Promise<number> {
  const a = await c.client.newOrder({ instrumentId: AAA, side: Side.Buy, priceTicks, qtyLots: 1 });
  assert.ok(a.ok, `resting buy: reason ${a.reason}`);
  return a.report.fields.orderId!;
}

/** A plain order on AAA (in flight, unsettled while the engine is held), then an OCO leg of `partner` (parked behind it). */
function plainThenLeg(cid: number, partner: number): Partial<Fields>[] {
  return [
    { clientOrderId: cid, instrumentId: AAA, side: Side.Buy, priceTicks: 9_300, qtyLots: 1 },
    { clientOrderId: cid + 1, instrumentId: AAA, side: Side.Buy, priceTicks: 9_400, qtyLots: 1, linkId: partner },
  ];
}

describe('binary gateway: requests held behind a deferred one', () => {
  it(`past ${MAX_HELD} held requests: every request is answered once, in request order; the first ${MAX_HELD} held normally, the rest ExecRejected Busy`, { timeout: 30_000 }, async () => {
    const t = await session('trader', 10_000_000);
    try {
      const partner = await restingBuy(t);
      await settled();
      const seq0 = k.engine.stats().nextSeq, msgs0 = k.gateway.messagesIn, busy0 = k.gateway.busyRejects;
      hold();
      const cid0 = 10_100_000;
      const reqs = plainThenLeg(cid0, partner);
      const extra = 64;
      // IOC sells far above every bid (accepted, then expired), on the leg's book and another one.
      for (let j = 0; j < MAX_HELD + extra; j++) {
        reqs.push({ clientOrderId: cid0 + 2 + j, instrumentId: j % 2 === 0 ? AAA : BBB, side: Side.Sell, tif: TimeInForce.IOC, priceTicks: 10_900, qtyLots: 1 });
      }
      sendOrders(t.ws, reqs);
      await until('every request to reach the gateway', () => k.gateway.messagesIn === msgs0 + reqs.length);
      // The leg waits in the engine; everything after it waits in the gateway (none reached the engine).
      assert.equal(k.engine.stats().parkedNow, 1, 'the OCO leg is parked');
      assert.equal(k.engine.stats().nextSeq, seq0 + 1, 'only the plain order ahead of the leg is sequenced');
      assert.equal(k.gateway.busyRejects, busy0, 'nothing is answered Busy before the deferred request is answered');
      letGo();
      await until('an answer to every request', () => newOrderAnswers(t, cid0).length >= reqs.length, 20_000);
      await settled();
      await new Promise((r) => setTimeout(r, 50));
      const answers = newOrderAnswers(t, cid0);
      assert.equal(answers.length, reqs.length, 'one answer per request');
      assert.deepEqual(answers.map((r) => r.fields.clientOrderId), reqs.map((r) => r.clientOrderId), 'answered in request order, each once');
      const bad = answers.slice(0, 2 + MAX_HELD).findIndex((r) => r.name !== 'ExecAccepted');
      assert.equal(bad, -1, bad < 0 ? '' : `request ${bad} (up to the bound) answered ${answers[bad]!.name} reason ${answers[bad]!.fields.reason}`);
      for (const r of answers.slice(2 + MAX_HELD)) {
        assert.equal(r.name, 'ExecRejected');
        assert.equal(r.fields.reason, RejectReason.Busy);
        assert.equal(r.fields.instrumentId, (r.fields.clientOrderId! - cid0 - 2) % 2 === 0 ? AAA : BBB);
        assert.equal(r.fields.seq, 0);
      }
      assert.equal(k.gateway.busyRejects, busy0 + extra);
      // Sequenced: the plain order, the leg, the first MAX_HELD held requests; never the Busy ones.
      assert.equal(k.engine.stats().nextSeq, seq0 + 2 + MAX_HELD);
      const seqs = answers.slice(0, 2 + MAX_HELD).map((r) => r.fields.seq!);
      assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), 'sequenced in request order');
    } finally {
      letGo();
      await t.ws.close();
    }
  });

  it(`past ${MAX_PENDING} waiting: the connection is closed 4008 (slow consumer), its held requests are dropped; the engine and the gateway go on`, { timeout: 40_000 }, async () => {
    const t = await session('trader2', 20_000_000);
    try {
      const partner = await restingBuy(t);
      await settled();
      const seq0 = k.engine.stats().nextSeq, msgs0 = k.gateway.messagesIn, slow0 = k.gateway.stats().closedSlow;
      hold();
      const cid0 = 20_100_000;
      const reqs = plainThenLeg(cid0, partner);
      // The one that finds MAX_PENDING waiting closes the session, mid-frame; more frames follow it.
      for (let j = 0; j < MAX_PENDING + 300; j++) {
        reqs.push({ clientOrderId: cid0 + 2 + j, instrumentId: BBB, side: Side.Sell, tif: TimeInForce.IOC, priceTicks: 10_900, qtyLots: 1 });
      }
      const t0 = Date.now();
      sendOrders(t.ws, reqs);
      const closed = await Promise.race([t.ws.closed, new Promise<null>((r) => setTimeout(() => r(null), 20_000).unref())]);
      assert.ok(closed !== null, `not closed ${Date.now() - t0} ms after the requests were sent`);
      assert.equal(closed.code, CloseCode.SlowConsumer, `close ${closed.code} ${closed.reason}`);
      assert.equal(k.gateway.stats().closedSlow, slow0 + 1, 'counted as a slow-consumer close');
      // Closed at the request that found MAX_PENDING waiting: the rest of its frame and the frames after it are not taken.
      assert.equal(k.gateway.messagesIn - msgs0, 2 + MAX_PENDING + 1, 'closed at the first request past the bound');
      assert.equal(k.engine.stats().nextSeq, seq0 + 1, 'nothing held reached the engine');
      letGo();
      await settled();
      // The leg was still sequenced (its answer went nowhere); none of the held requests was.
      assert.equal(k.engine.stats().nextSeq, seq0 + 2);
      assert.equal(openOf(2, AAA_I), 3, 'partner, plain order and leg rest');
      assert.equal(newOrderAnswers(t, cid0).length, 0, 'nothing after the close');
      assert.equal(k.gateway.stats().orderSessions, 0);
    } finally {
      letGo();
      t.ws.destroy();
    }
    // Two other sessions trade.
    const s = await session('trader2', 21_000_000), b = await session('trader', 11_000_000);
    try {
      assert.ok((await s.client.newOrder({ instrumentId: BBB, side: Side.Sell, priceTicks: 10_000, qtyLots: 2 })).ok);
      const buy = await b.client.newOrder({ instrumentId: BBB, side: Side.Buy, priceTicks: 10_000, qtyLots: 2 });
      assert.ok(buy.ok, `reason ${buy.reason}`);
      await until('both fills', () => s.reports.some((r) => r.name === 'ExecFill') && b.reports.some((r) => r.name === 'ExecFill'));
    } finally {
      await s.ws.close();
      await b.ws.close();
    }
  });

  it('a session that leaves while a request is deferred: the engine still answers that one (sequenced), the held ones are dropped, others are served', { timeout: 30_000 }, async () => {
    const d = await session('trader2', 30_000_000);
    try {
      const partner = await restingBuy(d);
      await settled();
      const seq0 = k.engine.stats().nextSeq, msgs0 = k.gateway.messagesIn, busyParked0 = k.engine.stats().deferredBusy;
      hold();
      const cid0 = 30_100_000;
      const reqs = plainThenLeg(cid0, partner);
      // Held: resting buys on BBB (each would be an open order had it been sequenced) and on AAA.
      for (let j = 0; j < 200; j++) reqs.push({ clientOrderId: cid0 + 2 + j, instrumentId: j % 4 === 0 ? AAA : BBB, side: Side.Buy, priceTicks: 9_000 + j, qtyLots: 1 });
      sendOrders(d.ws, reqs);
      await until('every request to reach the gateway', () => k.gateway.messagesIn === msgs0 + reqs.length);
      assert.equal(k.engine.stats().parkedNow, 1);
      const sessions0 = k.gateway.stats().orderSessions;
      d.ws.destroy();
      await until('the gateway to see the disconnect', () => k.gateway.stats().orderSessions === sessions0 - 1);
      assert.equal(k.engine.stats().nextSeq, seq0 + 1, 'only the plain order ahead of the leg is sequenced');
      letGo();
      await settled();
      assert.equal(k.engine.stats().nextSeq, seq0 + 2, 'the deferred leg sequenced; no held request was');
      assert.equal(k.engine.stats().deferredBusy, busyParked0, 'the leg was sequenced, not answered Busy');
      assert.equal(openOf(2, AAA_I), 3, 'partner, plain order and leg rest; no held AAA order');
      assert.equal(openOf(2, BBB_I), 0, 'no held BBB order');
      // Nothing of the session is left in the gateway.
      const g = k.gateway as unknown as { waits: Map<unknown, unknown>; deferredReqs: Map<unknown, unknown> };
      assert.equal(g.waits.size, 0, 'no wait left for the closed session');
      assert.equal(g.deferredReqs.size, 0, 'no deferred request left');
    } finally {
      letGo();
      d.ws.destroy();
    }
    const s = await session('trader2', 31_000_000), b = await session('trader', 12_000_000);
    try {
      assert.ok((await s.client.newOrder({ instrumentId: AAA, side: Side.Sell, priceTicks: 9_500, qtyLots: 1 })).ok);
      await until('the partner fills', () => s.reports.some((r) => r.name === 'ExecFill'));
      assert.ok((await b.client.newOrder({ instrumentId: BBB, side: Side.Buy, priceTicks: 9_800, qtyLots: 1 })).ok);
    } finally {
      await s.ws.close();
      await b.ws.close();
    }
  });
});

describe('binary gateway: cancel-on-disconnect on a book with parked commands', () => {
  it('the mass cancel takes its place in the parked FIFO at the disconnect: the orders are cancelled before any later command of the book can trade them; nothing else is lost', { timeout: 30_000 }, async () => {
    const c = await session('trader', 40_000_000, '?cancelOnDisconnect=1');
    const obs = await session('trader', 41_000_000);
    const m = await session('trader2', 42_000_000);
    const m2 = await session('trader2', 43_000_000);
    try {
      const partner = await restingBuy(m);
      const mine: number[] = [];
      for (const [instrumentId, side, priceTicks] of [[AAA, Side.Sell, 9_900], [AAA, Side.Sell, 9_950], [AAA, Side.Sell, 10_000], [BBB, Side.Buy, 9_500], [BBB, Side.Buy, 9_600]] as const) {
        const a = await c.client.newOrder({ instrumentId, side, priceTicks, qtyLots: 1 });
        assert.ok(a.ok, `reason ${a.reason}`);
        mine.push(a.report.fields.orderId!);
      }
      await settled();
      const seq0 = k.engine.stats().nextSeq, msgs0 = k.gateway.messagesIn;
      hold();
      // m: a plain order and an OCO leg on AAA: the leg is parked, AAA's FIFO stands.
      sendOrders(m.ws, plainThenLeg(42_100_000, partner));
      await until('the leg to be parked', () => k.gateway.messagesIn === msgs0 + 2 && k.engine.stats().parkedNow === 1);
      const sessions0 = k.gateway.stats().orderSessions;
      await c.ws.close();
      await until('the gateway to see the disconnect', () => k.gateway.stats().orderSessions === sessions0 - 1);
      // The AAA part of the mass cancel waits in the FIFO behind the leg.
      await until('the cancel-on-disconnect part to be parked', () => k.engine.stats().parkedNow === 2, 5_000);
      // m2: a buy that would take c's best ask, behind the mass cancel in the FIFO.
      const take = m2.client.newOrder({ instrumentId: AAA, side: Side.Buy, tif: TimeInForce.IOC, priceTicks: 9_900, qtyLots: 1 });
      await until('the taker to be parked', () => k.engine.stats().parkedNow === 3);
      assert.equal(k.engine.stats().nextSeq, seq0 + 1, 'only m\'s plain order is sequenced');
      letGo();
      // Bounded: answered from the FIFO as soon as the book settles, not retried.
      await until('c\'s orders cancelled', () => mine.every((id) => obs.reports.some((r) => r.name === 'ExecCanceled' && r.fields.orderId === id)), 5_000);
      for (const id of mine) {
        const r = obs.reports.find((x) => x.name === 'ExecCanceled' && x.fields.orderId === id)!;
        assert.equal(r.fields.reason, EndReason.MassCancel, `order ${id}`);
      }
      const tk = await take;
      assert.ok(tk.ok, `taker: reason ${tk.reason}`);
      await settled();
      assert.equal(openOf(1, AAA_I) + openOf(1, BBB_I), 0, 'no order of c\'s account left');
      assert.ok(!obs.reports.some((r) => r.name === 'ExecFill'), 'none of c\'s orders traded after the disconnect');
      assert.ok(!m2.reports.some((r) => r.name === 'ExecFill'), 'the taker found nothing to take');
      assert.ok(m2.reports.some((r) => r.name === 'ExecExpired' && r.fields.orderId === tk.report.fields.orderId), 'the IOC taker expired');
      // m's requests were answered (the leg too) and its orders rest.
      const mAnswers = newOrderAnswers(m, 42_100_000);
      assert.deepEqual(mAnswers.map((r) => [r.name, r.fields.clientOrderId]), [['ExecAccepted', 42_100_000], ['ExecAccepted', 42_100_001]]);
      assert.equal(openOf(2, AAA_I), 3, 'm\'s partner, plain order and leg rest');
    } finally {
      letGo();
      await m.ws.close();
      await m2.ws.close();
      await obs.ws.close();
    }
  });

  it('under a live flow of plain and linked orders on the book: the orders of a cancel-on-disconnect session are cancelled within a bounded time; every streamed request is answered once, in order', { timeout: 30_000 }, async () => {
    const c = await session('trader', 50_000_000, '?cancelOnDisconnect=1');
    const obs = await session('trader', 51_000_000);
    const m = await session('trader2', 52_000_000);
    const ml = await session('trader2', 53_000_000);
    try {
      const partner = await restingBuy(m, 9_500);
      const mine: number[] = [];
      for (const priceTicks of [9_000, 9_010, 9_020]) {
        const a = await c.client.newOrder({ instrumentId: AAA, side: Side.Buy, priceTicks, qtyLots: 1 });
        assert.ok(a.ok, `reason ${a.reason}`);
        mine.push(a.report.fields.orderId!);
      }
      const parked0 = k.engine.stats().deferredParked;
      const cid0 = 52_100_000, lcid0 = 53_100_000, frames = 150;
      let cid = cid0, lcid = lcid0;
      let closedAt = 0;
      // m: IOC sells above every bid (accepted, expired) keep AAA unsettled; ml: OCO legs of m's
      // partner now and then (parked: AAA's FIFO forms again and again, m's orders wait in it).
      for (let f = 0; f < frames; f++) {
        const reqs: Partial<Fields>[] = [];
        for (let j = 0; j < 32; j++) reqs.push({ clientOrderId: cid++, instrumentId: AAA, side: Side.Sell, tif: TimeInForce.IOC, priceTicks: 10_400, qtyLots: 1 });
        sendOrders(m.ws, reqs);
        if ((f & 3) === 1) sendOrders(ml.ws, [{ clientOrderId: lcid++, instrumentId: AAA, side: Side.Buy, priceTicks: 9_400 - (f >> 2), qtyLots: 1, linkId: partner }]);
        if (f === 50) { c.ws.destroy(); closedAt = Date.now(); }
        if ((f & 3) === 3) await new Promise((r) => setImmediate(r));
      }
      await until('c\'s orders cancelled', () => mine.every((id) => obs.reports.some((r) => r.name === 'ExecCanceled' && r.fields.orderId === id)), 5_000);
      assert.ok(Date.now() - closedAt < 5_000);
      await until('every streamed request answered', () => newOrderAnswers(m, cid0).length >= frames * 32 && newOrderAnswers(ml, lcid0).length >= lcid - lcid0, 15_000);
      await settled();
      const answers = newOrderAnswers(m, cid0);
      assert.equal(answers.length, frames * 32, 'one answer per request');
      assert.deepEqual(answers.map((r) => r.fields.clientOrderId), Array.from({ length: frames * 32 }, (_, i) => cid0 + i), 'in request order');
      // Refused only Busy: a burst past 4096 waiting behind a parked command of this connection.
      assert.deepEqual([...new Set(answers.filter((r) => r.name !== 'ExecAccepted').map((r) => r.fields.reason))].filter((x) => x !== RejectReason.Busy), []);
      assert.deepEqual(newOrderAnswers(ml, lcid0).map((r) => r.fields.clientOrderId), Array.from({ length: lcid - lcid0 }, (_, i) => lcid0 + i), 'each leg answered once, in order');
      assert.ok(k.engine.stats().deferredParked > parked0, 'the flow parked linked orders');
      assert.equal(openOf(1, AAA_I), 0, 'no order of c\'s account left');
      assert.ok(!obs.reports.some((r) => r.name === 'ExecFill'));
    } finally {
      await m.ws.close();
      await ml.ws.close();
      await obs.ws.close();
    }
  });
});
