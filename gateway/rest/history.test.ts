// REST history from PostgreSQL (history.ts) against a real database: orders and trades placed
// through the REST API with replication on, the replicator caught up, then the read model forgets
// its terminated orders and fills (as after a gateway restart) and the history endpoints still
// answer them from PostgreSQL, for the owner only.
// Skipped (with a message) when PostgreSQL is unreachable, unless CI=true or PG_TESTS_REQUIRED=1.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestSchema, pgSkipReason, testDatabaseUrl, type TestSchema } from '../../persistence/pg/db.js';
import { startReadSide, type ReadSide } from '../../persistence/pg/read-side.js';
import type { Ack } from '../engine.js';
import { LIVE_STATUSES } from './read-model.js';
import { call, startRestKit, type CallResult, type RestKit } from './test-kit.js';

const skip = await pgSkipReason(testDatabaseUrl());

let k: RestKit;
let db: TestSchema;
let rs: ReadSide;
const tok = (name: string): string => k.users[name]!.token;
const req = (user: string, method: string, path: string, body?: unknown): Promise<CallResult> =>
  call(k.base, method, path, { token: tok(user), ...(body !== undefined ? { body } : {}) });
const order = (side: string, price: string, extra: Record<string, unknown> = {}) => ({ symbol: 'AAA-USD', side, order_type: 'limit', quantity: '0.005', price, ...extra });

const ids: Record<string, string> = {};

describe('rest history from PostgreSQL', { skip: skip ?? false }, () => {
  before(async () => {
    db = await createTestSchema('rest_hist');
    k = await startRestKit({ history: { url: db.url, schema: db.schema } });
    rs = await startReadSide({ engine: k.engine, databaseUrl: db.url, redisUrl: null, schema: db.schema, retryMaxMs: 200 });
    const prev = k.engine.onAck;
    k.engine.onAck = (a: Ack): void => { rs.onAck(a); prev?.(a); };
    await rs.started;

    // trader (account 1) sells, trader2 (account 2) buys: one trade, both orders filled.
    const sell = await req('trader', 'POST', '/api/v1/orders', order('sell', '100.00', { client_order_id: '7001' }));
    assert.equal(sell.status, 201, JSON.stringify(sell.body));
    const buy = await req('trader2', 'POST', '/api/v1/orders', order('buy', '100.00'));
    assert.equal(buy.status, 201, JSON.stringify(buy.body));
    assert.equal(buy.body.status, 'filled');
    // trader: one order canceled, one left open.
    const c1 = await req('trader', 'POST', '/api/v1/orders', order('buy', '90.00'));
    assert.equal((await req('trader', 'DELETE', `/api/v1/orders/${c1.body.id}`)).status, 200);
    const open = await req('trader', 'POST', '/api/v1/orders', order('buy', '91.00'));
    assert.equal(open.body.status, 'new');
    Object.assign(ids, { sell: sell.body.id, buy: buy.body.id, canceled: c1.body.id, open: open.body.id });

    await rs.caughtUp(20_000);
    // A fresh read model's view: open orders only (as seeded from the books' snapshot), no fills.
    for (const [id, r] of k.rest.model.orders) if (!LIVE_STATUSES.has(r.status)) k.rest.model.orders.delete(id);
    k.rest.model.tradesByAccount.clear();
  });

  after(async () => {
    await k?.close();
    await rs?.stop(0);
    await db?.drop();
  });

  it('GET /orders lists terminated orders from PostgreSQL and open ones from memory', async () => {
    assert.equal(k.rest.model.orders.has(Number(ids.sell)), false, 'the read model forgot it');
    const r = await req('trader', 'GET', '/api/v1/orders');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.history_source, 'postgresql');
    const byId = new Map<string, any>(r.body.data.map((o: any) => [o.id, o]));
    assert.equal(byId.get(ids.sell!)?.status, 'filled');
    assert.equal(byId.get(ids.sell!)?.filled_quantity, '0.005');
    assert.equal(byId.get(ids.sell!)?.average_price, '100');
    assert.equal(byId.get(ids.sell!)?.client_order_id, '7001');
    assert.equal(byId.get(ids.canceled!)?.status, 'canceled');
    assert.equal(byId.get(ids.canceled!)?.end_reason, 'user_cancel');
    assert.equal(byId.get(ids.open!)?.status, 'new');
    assert.equal(byId.has(ids.buy!), false, "another account's order is not listed");
    const ordered = r.body.data.map((o: any) => Number(o.id));
    assert.deepEqual(ordered, [...ordered].sort((a: number, b: number) => b - a), 'newest first');

    const f = await req('trader', 'GET', '/api/v1/orders?status=filled');
    assert.deepEqual(f.body.data.map((o: any) => o.id), [ids.sell]);
    const s = await req('trader', 'GET', '/api/v1/orders?side=sell&symbol=AAA-USD');
    assert.deepEqual(s.body.data.map((o: any) => o.id), [ids.sell]);
    const none = await req('trader', 'GET', `/api/v1/orders?status=canceled&end_time=${encodeURIComponent('2000-01-01T00:00:00Z')}`);
    assert.deepEqual(none.body.data, []);
  });

  it('cursor pagination crosses both sources', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const r: CallResult = await req('trader', 'GET', `/api/v1/orders?limit=1${cursor !== null ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      seen.push(...r.body.data.map((o: any) => o.id));
      cursor = r.body.next_cursor;
      if (cursor === null) break;
    }
    assert.deepEqual(seen, [ids.open, ids.canceled, ids.sell]);
  });

  it('GET /orders/{id}: a terminated order from PostgreSQL for its owner, 404 for anyone else', async () => {
    const own = await req('trader', 'GET', `/api/v1/orders/${ids.canceled}`);
    assert.equal(own.status, 200, JSON.stringify(own.body));
    assert.equal(own.body.status, 'canceled');
    assert.equal(own.body.account_id, 1);
    const other = await req('trader2', 'GET', `/api/v1/orders/${ids.canceled}`);
    assert.equal(other.status, 404);
    assert.equal(other.body.code, 'order_not_found');
    assert.equal((await req('viewer', 'GET', `/api/v1/orders/${ids.sell}`)).status, 404);
    assert.equal((await req('trader', 'GET', '/api/v1/orders/999999999')).status, 404);
    // trader2's own filled buy, from PostgreSQL.
    assert.equal((await req('trader2', 'GET', `/api/v1/orders/${ids.buy}`)).body.status, 'filled');
  });

  it('GET /trades, /trades/{id} and /trades/summary from PostgreSQL, own fills only', async () => {
    const t1 = await req('trader', 'GET', '/api/v1/trades');
    assert.equal(t1.status, 200, JSON.stringify(t1.body));
    assert.equal(t1.body.history_source, 'postgresql');
    assert.equal(t1.body.data.length, 1);
    const f = t1.body.data[0];
    assert.equal(f.order_id, ids.sell);
    assert.equal(f.side, 'sell');
    assert.equal(f.trade_type, 'maker');
    assert.equal(f.price, '100');
    assert.equal(f.quantity, '0.005');
    const t2 = await req('trader2', 'GET', '/api/v1/trades');
    assert.deepEqual(t2.body.data.map((x: any) => [x.order_id, x.side, x.trade_type]), [[ids.buy, 'buy', 'taker']]);
    assert.equal((await req('trader', 'GET', `/api/v1/trades?order_id=${ids.buy}`)).body.data.length, 0);

    const one = await req('trader2', 'GET', `/api/v1/trades/${f.id}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.account_id, 2);
    assert.equal(one.body.side, 'buy');
    assert.equal((await req('viewer', 'GET', `/api/v1/trades/${f.id}`)).status, 404);

    const s = await req('trader', 'GET', '/api/v1/trades/summary');
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.equal(s.body.history_source, 'postgresql');
    assert.equal(s.body.since, null);
    assert.deepEqual(s.body.data.map((x: any) => [x.account_id, x.symbol, x.trade_count, x.sell_quantity, x.maker_count]), [[1, 'AAA-USD', 1, '0.005', 1]]);
  });

  it('a fill newer than the checkpoint is answered from memory, once', async () => {
    const sell = await req('trader', 'POST', '/api/v1/orders', order('sell', '101.00'));
    const buy = await req('trader2', 'POST', '/api/v1/orders', order('buy', '101.00'));
    assert.equal(buy.body.status, 'filled');
    // Whether or not the replicator has it yet, the answer has it exactly once.
    const t = await req('trader', 'GET', '/api/v1/trades');
    assert.deepEqual(t.body.data.map((x: any) => x.order_id), [sell.body.id, ids.sell]);
    const s = await req('trader', 'GET', '/api/v1/trades/summary');
    assert.equal(s.body.data[0].trade_count, 2);
    await rs.caughtUp(20_000);
    const s2 = await req('trader', 'GET', '/api/v1/trades/summary');
    assert.equal(s2.body.data[0].trade_count, 2);
    const p = await req('trader', 'GET', '/api/v1/trades?limit=1');
    assert.match(p.body.next_cursor, /^[0-9]+-[0-9]+-[mt]$/);
    const p2 = await req('trader', 'GET', `/api/v1/trades?limit=1&cursor=${p.body.next_cursor}`);
    assert.deepEqual(p2.body.data.map((x: any) => x.order_id), [ids.sell]);
  });

  it('GET /market-data/ohlcv reads the replicated candles', async () => {
    const pg = await k.rest.context.history!.candles('AAA-USD', '1m', undefined, undefined, 10);
    assert.ok(pg.length >= 1 && pg.reduce((n, c) => n + c.tradeCount, 0) >= 1, 'candles replicated');
    const r = await call(k.base, 'GET', '/api/v1/market-data/ohlcv?symbol=AAA-USD&interval=1m', { token: tok('viewer') });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.history_source, 'postgresql');
    assert.ok(r.body.data.reduce((n: number, c: any) => n + c.trade_count, 0) >= 2);
  });
});
