// Deferred sequencing end to end: while another connection streams orders on the same symbol (a
// market maker: its commands keep the book unsettled), OCO legs and bracket children placed over
// the binary protocol and over REST are accepted (the engine parks them until the book settles,
// gateway/engine.ts) instead of being refused Busy. A real engine and gateway (test-kit.ts), real
// WebSocket clients on 127.0.0.1; bounded counts.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CommandType, OrderFlags, RejectReason, Side, TimeInForce } from '../../core/types.js';
import { TradingClient, type OrderAck, type Report } from '../client.js';
import { RawWebSocket } from '../ws-test-client.js';
import { call, startRestKit, type RestKit } from './test-kit.js';

let k: RestKit;
const tok = (name: string): string => k.users[name]!.token;
const AAA = 1, BBB = 2;

before(async () => { k = await startRestKit(); });
after(async () => { await k?.close(); });

async function session(user: string, firstClientOrderId: number): Promise<{ ws: RawWebSocket; client: TradingClient; reports: Report[] }> {
  const ws = await RawWebSocket.connect(`ws://127.0.0.1:${k.gateway.port}/ws/orders`, { authorization: `Bearer ${tok(user)}` });
  const client = new TradingClient(ws, { ackTimeoutMs: 20_000, firstClientOrderId });
  const reports: Report[] = [];
  client.on('report', (r: Report) => reports.push(r));
  return { ws, client, reports };
}

/**
 * trader2 streams IOC sells on AAA-USD far above every bid (each is accepted and expires: the book
 * always has commands in flight), `frames` frames of 32, a few frames per event-loop turn.
 */
function stream(client: TradingClient, frames: number): { done: Promise<OrderAck[]> } {
  const acks: Promise<OrderAck>[] = [];
  const done = (async () => {
    for (let f = 0; f < frames; f++) {
      client.batch(() => {
        for (let j = 0; j < 32; j++) {
          const p = client.newOrder({ instrumentId: AAA, side: Side.Sell, tif: TimeInForce.IOC, priceTicks: 10_900, qtyLots: 1 });
          acks.push(p);
        }
      });
      if ((f & 3) === 3) await new Promise((r) => setImmediate(r));
    }
    return Promise.all(acks);
  })();
  return { done };
}

describe('deferred sequencing: linked orders under continuous flow on their book', () => {
  it('binary: OCO pairs and bracket children are accepted while another connection streams; each session gets one answer per request, in request order', { timeout: 60_000 }, async () => {
    const mm = await session('trader2', 1_000_000);
    const tr = await session('trader', 2_000_000);
    const parked0 = k.engine.deferredParked;
    try {
      const flow = stream(mm.client, 300);
      let pairs = 0, children = 0;
      for (let n = 0; n < 12; n++) {
        // A, then its OCO leg B and an order of another book C without waiting: answered A, B, C.
        const a = await tr.client.newOrder({ instrumentId: AAA, side: Side.Buy, priceTicks: 9_500, qtyLots: 1 });
        assert.ok(a.ok, `A: reason ${a.reason}`);
        const aId = a.report.fields.orderId!;
        const order: number[] = [];
        const bP = tr.client.newOrder({ instrumentId: AAA, side: Side.Buy, priceTicks: 9_400, qtyLots: 1, linkId: aId }).then((x) => { order.push(1); return x; });
        const cP = tr.client.newOrder({ instrumentId: BBB, side: Side.Buy, priceTicks: 9_000, qtyLots: 1 }).then((x) => { order.push(2); return x; });
        // A bracket child of A (a sell take-profit), sent behind them.
        const chP = tr.client.newOrder({ instrumentId: AAA, side: Side.Sell, priceTicks: 10_500, qtyLots: 0, flags: OrderFlags.Child, linkId: aId }).then((x) => { order.push(3); return x; });
        const [b, c, ch] = await Promise.all([bP, cP, chP]);
        assert.ok(b.ok, `OCO leg: reason ${b.reason}${b.reason === RejectReason.Busy ? ' (Busy)' : ''}`);
        assert.ok(c.ok, `C: reason ${c.reason}`);
        assert.ok(ch.ok, `bracket child: reason ${ch.reason}`);
        assert.deepEqual(order, [1, 2, 3], 'answered in request order');
        assert.ok(b.report.fields.seq! < c.report.fields.seq! && c.report.fields.seq! < ch.report.fields.seq!, 'sequenced in request order');
        pairs++; children++;
        assert.ok((await tr.client.massCancel({ instrumentId: 0 })).ok);
      }
      const mmAcks = await flow.done;
      assert.equal(pairs, 12);
      assert.equal(children, 12);
      // The market maker's own orders: each answered once (accepted; expired as IOC), in the order sent.
      assert.ok(mmAcks.every((x) => x.ok), `every streamed order accepted (${mmAcks.filter((x) => !x.ok).map((x) => x.reason).slice(0, 5).join(',')})`);
      const answers = mm.reports.filter((r) => r.name === 'ExecAccepted' || (r.name === 'ExecRejected' && r.fields.commandType === CommandType.NewOrder));
      assert.equal(answers.length, 300 * 32, 'one answer per streamed order');
      const cids = answers.map((r) => r.fields.clientOrderId!);
      assert.ok(cids.every((c, i) => i === 0 || c > cids[i - 1]!), 'the streamed orders are answered in the order sent');
      assert.ok(k.engine.deferredParked > parked0, 'linked orders met the unsettled book and were parked');
      assert.equal(k.engine.parkedCommands, 0);
    } finally {
      await mm.ws.close();
      await tr.ws.close();
    }
  });

  it('REST: an OCO leg and a bracket child posted while a binary connection streams on the same symbol answer 201', { timeout: 60_000 }, async () => {
    const mm = await session('trader2', 3_000_000);
    const parked0 = k.engine.deferredParked;
    try {
      const flow = stream(mm.client, 300);
      const post = (body: Record<string, unknown>): ReturnType<typeof call> =>
        call(k.base, 'POST', '/api/v1/orders', { token: tok('trader'), body: { symbol: 'AAA-USD', order_type: 'limit', ...body } });
      for (let n = 0; n < 12; n++) {
        const a = await post({ side: 'buy', quantity: '0.001', price: '95.00' });
        assert.equal(a.status, 201, JSON.stringify(a.body));
        const [b, ch] = await Promise.all([
          post({ side: 'buy', quantity: '0.001', price: '94.00', oco_order_id: String(a.body.id) }),
          post({ side: 'sell', price: '105.00', parent_order_id: String(a.body.id) }),
        ]);
        assert.equal(b.status, 201, `OCO leg: ${JSON.stringify(b.body)}`);
        assert.equal(b.body.oco_order_id, String(a.body.id));
        assert.equal(ch.status, 201, `bracket child: ${JSON.stringify(ch.body)}`);
        for (const id of [a.body.id, b.body.id, ch.body.id]) await call(k.base, 'DELETE', `/api/v1/orders/${id}`, { token: tok('trader') });
      }
      await flow.done;
      assert.ok(k.engine.deferredParked > parked0, 'linked orders met the unsettled book and were parked');
      assert.equal(k.engine.parkedCommands, 0);
    } finally {
      await mm.ws.close();
    }
  });
});
