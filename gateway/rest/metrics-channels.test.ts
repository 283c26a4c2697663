// /metrics: orders of both channels (REST and the binary WebSocket protocol) in orders_total by
// status and in the latency histogram, ring depths read from the engine at scrape time, and REST
// login sessions in active_sessions. A real engine and gateway (test-kit.ts), a real WebSocket client.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CMD_RECORD_BYTES } from '../../core/command-codec.js';
import { TradingClient } from '../client.js';
import { Ring } from '../ring.js';
import { RawWebSocket } from '../ws-test-client.js';
import { call, startRestKit, type CallResult, type RestKit } from './test-kit.js';

let k: RestKit;
const tok = (name: string): string => k.users[name]!.token;
const req = (method: string, path: string, o: Parameters<typeof call>[3] = {}): Promise<CallResult> => call(k.base, method, path, o);

/** `name{labels}` -> value, for every sample of the scrape. */
async function scrape(): Promise<Map<string, number>> {
  const r = await req('GET', '/metrics');
  assert.equal(r.status, 200);
  const out = new Map<string, number>();
  for (const line of String(r.body).split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}
const delta = (a: Map<string, number>, b: Map<string, number>, key: string): number => (b.get(key) ?? 0) - (a.get(key) ?? 0);

before(async () => { k = await startRestKit(); });
after(async () => { await k?.close(); });

describe('metrics: both order channels, ring depths, REST sessions', () => {
  it('counts binary-protocol orders by status and latency beside REST orders, each under its channel', async () => {
    const before = await scrape();
    // REST: a resting buy at 99.00 (5 lots) by trader (account 1).
    const rest = await req('POST', '/api/v1/orders', { token: tok('trader'), body: { symbol: 'AAA-USD', side: 'buy', order_type: 'limit', quantity: '0.005', price: '99.00' } });
    assert.equal(rest.status, 201, JSON.stringify(rest.body));
    // Binary: trader2 (account 2) over /ws/orders.
    const ws = await RawWebSocket.connect(`ws://127.0.0.1:${k.gateway.port}/ws/orders`, { authorization: `Bearer ${tok('trader2')}` });
    const client = new TradingClient(ws, { ackTimeoutMs: 8000 });
    try {
      const resting = await client.newOrder({ instrumentId: 1, side: 1, priceTicks: 10_500, qtyLots: 3 });
      assert.equal(resting.ok, true, 'rests at 105.00');
      const outside = await client.newOrder({ instrumentId: 1, side: 1, priceTicks: 50_000, qtyLots: 1 });
      assert.equal(outside.ok, false, 'outside the price band: rejected by the engine');
      const taker = await client.newOrder({ instrumentId: 1, side: 1, priceTicks: 9_900, qtyLots: 5 });
      assert.equal(taker.ok, true, 'crosses the REST buy');
      // The observer runs when the ack goes out; the client may have its answer just before the scrape.
      let after = await scrape();
      for (let i = 0; i < 50 && delta(before, after, 'order_latency_seconds_count{channel="binary"}') < 3; i++) { await new Promise((r) => setTimeout(r, 20)); after = await scrape(); }
      assert.equal(delta(before, after, 'orders_total{channel="rest",status="new"}'), 1);
      assert.equal(delta(before, after, 'orders_total{channel="binary",status="new"}'), 1);
      assert.equal(delta(before, after, 'orders_total{channel="binary",status="rejected"}'), 1);
      assert.equal(delta(before, after, 'orders_total{channel="binary",status="filled"}'), 1);
      assert.equal(delta(before, after, 'order_latency_seconds_count{channel="binary"}'), 3);
      assert.equal(delta(before, after, 'order_latency_seconds_count{channel="rest"}'), 1);
      assert.ok(delta(before, after, 'order_latency_seconds_sum{channel="binary"}') > 0);
      assert.equal(after.get('order_latency_seconds_bucket{le="+Inf",channel="binary"}'), after.get('order_latency_seconds_count{channel="binary"}'));
      // The REST order was filled by the binary taker: the read model agrees with the binary count.
      assert.equal((await req('GET', `/api/v1/orders/${rest.body.id}`, { token: tok('trader') })).body.status, 'filled');
    } finally {
      await ws.close();
    }
  });

  it('exports each ring\'s depth and capacity, read from the engine at scrape time', async () => {
    const m = await scrape();
    const depths = k.engine.shardRingDepths();
    assert.equal(depths.length, 1, 'the kit runs one shard');
    for (const name of ['engine_command_ring_depth{shard="0"}', 'engine_event_ring_depth{shard="0"}', 'engine_journal_ring_depth']) {
      const v = m.get(name);
      assert.ok(v !== undefined && v >= 0, `${name} = ${v}`);
    }
    assert.equal(m.get('engine_ring_capacity{ring="command",shard="0"}'), depths[0]!.commandCapacity);
    assert.equal(m.get('engine_ring_capacity{ring="event",shard="0"}'), depths[0]!.eventCapacity);
    assert.equal(m.get('engine_ring_capacity{ring="journal",shard=""}'), k.engine.journal.ring.capacity);
    // Idle: every command was taken and every event released.
    assert.deepEqual(depths.map((d) => [d.commands, d.events]), [[0, 0]]);
    assert.equal(k.engine.journal.ring.depth(), 0);
  });

  it('exports deferred sequencing and the snapshot budget, read from the engine at scrape time', async () => {
    await k.engine.snapshot('thread');
    const m = await scrape();
    const st = k.engine.stats();
    assert.equal(m.get('engine_deferred_total{outcome="parked"}'), st.deferredParked);
    assert.equal(m.get('engine_deferred_total{outcome="busy"}'), st.deferredBusy);
    assert.equal(m.get('engine_parked_commands'), 0);
    assert.equal(m.get('engine_snapshot_budget_overruns_total'), st.snapshotBudgetOverruns);
    assert.ok(st.lastSnapshotStopMs > 0, 'the thread snapshot held the journal lock for some time');
    assert.equal(m.get('engine_snapshot_last_stop_seconds'), st.lastSnapshotStopMs / 1000);
    assert.equal(m.get('engine_journal_lock_retries_total'), k.engine.journal.lockRetries());
  });

  it('Ring.depth is what was published and not yet released, from either side', () => {
    const producer = Ring.create(8, CMD_RECORD_BYTES);
    const consumer = Ring.attach(producer.sab);
    assert.equal(producer.depth(), 0);
    for (let i = 0; i < 3; i++) assert.ok(producer.tryReserve() >= 0);
    assert.equal(producer.depth(), 0, 'reserved, not published');
    producer.publish();
    assert.equal(producer.depth(), 3);
    assert.equal(consumer.depth(), 3);
    consumer.poll(); consumer.poll();
    assert.equal(consumer.depth(), 3, 'polled, not released');
    consumer.release(1);
    assert.equal(producer.depth(), 2);
    consumer.releaseAll();
    assert.equal(consumer.depth(), 1);
  });

  it('active_sessions{kind="rest"} counts live login sessions: up at login, down at logout', async () => {
    const n0 = (await scrape()).get('active_sessions{kind="rest"}')!;
    assert.ok(n0 >= Object.keys(k.users).length, `the kit's logins are live (${n0})`);
    const l = await req('POST', '/api/v1/auth/login', { body: { email: k.users['viewer']!.email, password: 'correct horse battery staple' } });
    assert.equal(l.status, 200);
    assert.equal((await scrape()).get('active_sessions{kind="rest"}'), n0 + 1);
    const r = await req('POST', '/api/v1/auth/refresh', { body: { refresh_token: l.body.refresh_token } });
    assert.equal(r.status, 200);
    assert.equal((await scrape()).get('active_sessions{kind="rest"}'), n0 + 1, 'a refresh keeps the same session');
    assert.equal((await req('POST', '/api/v1/auth/logout', { body: { refresh_token: r.body.refresh_token } })).status, 204);
    const m = await scrape();
    assert.equal(m.get('active_sessions{kind="rest"}'), n0);
    assert.ok(m.has('active_sessions{kind="orders"}') && m.has('active_sessions{kind="stream"}'));
  });
});
