// The REST shim end to end: a real engine and identity behind the uWS gateway on 127.0.0.1, Node's
// fetch as the client (gateway/rest/test-kit.ts).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { permissionsOf, type Principal } from '../auth/permissions.js';
import { call, signedCall, startRestKit, type CallResult, type RestKit } from './test-kit.js';
import { openApiDocument } from './openapi.js';
import { PROBLEM_BASE } from './problem.js';

let k: RestKit;
const tok = (name: string): string => k.users[name]!.token;
const req = (method: string, path: string, o: Parameters<typeof call>[3] = {}): Promise<CallResult> => call(k.base, method, path, o);
const limitBuy = (extra: Record<string, unknown> = {}) => ({ symbol: 'AAA-USD', side: 'buy', order_type: 'limit', quantity: '0.005', price: '99.00', ...extra });

function isProblem(r: CallResult, status: number, code: string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(r.body.type, PROBLEM_BASE + code);
  assert.equal(r.body.code, code);
  assert.equal(r.body.status, status);
  assert.equal(typeof r.body.detail, 'string');
  assert.ok(!JSON.stringify(r.body).includes('    at '), 'no stack trace');
}

before(async () => { k = await startRestKit(); });
after(async () => { await k?.close(); });

describe('rest: health, metrics, OpenAPI', () => {
  it('serves /health, /ready and Prometheus /metrics', async () => {
    assert.equal((await req('GET', '/health')).status, 200);
    assert.equal((await req('GET', '/ready')).status, 200);
    const m = await req('GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-type') ?? '', /text\/plain/);
    for (const name of ['orders_total', 'order_latency_seconds', 'engine_in_flight_commands', 'engine_durable_seq', 'active_sessions']) assert.ok(String(m.body).includes(name), name);
  });

  it('/metrics has the journal thread\'s commit latency and batch size histograms, counting live commits', async () => {
    const scrape = async (): Promise<Map<string, number>> => {
      const out = new Map<string, number>();
      for (const line of String((await req('GET', '/metrics')).body).split('\n')) {
        const m = /^(journal_(?:commit_seconds|batch_records)_(?:bucket|sum|count))(\{le="([^"]+)"\})? (\S+)$/.exec(line);
        if (m) out.set(m[3] !== undefined ? `${m[1]}:${m[3]}` : m[1]!, Number(m[4]));
      }
      return out;
    };
    const before = await scrape();
    assert.equal((await req('POST', '/api/v1/orders', { token: tok('trader'), body: limitBuy({ price: '97.00' }) })).status, 201);
    const after = await scrape();
    for (const h of ['journal_commit_seconds', 'journal_batch_records']) {
      const count = after.get(`${h}_count`)!;
      assert.ok(count > (before.get(`${h}_count`) ?? 0), `${h}: the order's commit was counted`);
      assert.equal(after.get(`${h}_bucket:+Inf`), count, `${h}: +Inf bucket = count`);
      const buckets = [...after].filter(([key]) => key.startsWith(`${h}_bucket:`)).map(([, v]) => v);
      assert.ok(buckets.length >= 10 && buckets.every((v, i) => i === 0 || v >= buckets[i - 1]!), `${h}: cumulative buckets`);
      assert.ok(after.get(`${h}_sum`)! > 0);
    }
  });

  it('the OpenAPI document lists every route of the router and nothing else', async () => {
    const r = await req('GET', '/openapi.json');
    assert.equal(r.status, 200);
    assert.equal(r.body.openapi, '3.1.0');
    const inDoc = new Set<string>();
    for (const [p, ops] of Object.entries(r.body.paths as Record<string, Record<string, unknown>>)) for (const m of Object.keys(ops)) inDoc.add(`${m} ${p}`);
    const inRouter = new Set(k.rest.router.routes.map((x) => `${x.method} ${x.path}`));
    assert.deepEqual([...inDoc].sort(), [...inRouter].sort());
    const post = r.body.paths['/api/v1/orders'].post;
    assert.equal(post.requestBody.content['application/json'].schema.additionalProperties, false);
    assert.ok(post.requestBody.content['application/json'].schema.properties.client_order_id);
    assert.deepEqual(openApiDocument(k.rest.router.routes), r.body);
  });
});

describe('rest: authentication', () => {
  it('refuses missing and bad credentials with 401 problems', async () => {
    isProblem(await req('GET', '/api/v1/orders'), 401, 'missing_credentials');
    const bad = await req('GET', '/api/v1/orders', { token: 'x.y.z' });
    assert.equal(bad.status, 401);
    const wrongPw = await req('POST', '/api/v1/auth/login', { body: { email: 'trader@example.com', password: 'not the password' } });
    isProblem(wrongPw, 401, 'invalid_credentials');
  });

  it('login, refresh rotation with reuse detection, logout', async () => {
    const l = await req('POST', '/api/v1/auth/login', { body: { email: 'viewer@example.com', password: 'correct horse battery staple' } });
    assert.equal(l.status, 200);
    assert.equal(l.body.token_type, 'Bearer');
    const r1 = await req('POST', '/api/v1/auth/refresh', { body: { refresh_token: l.body.refresh_token } });
    assert.equal(r1.status, 200);
    assert.notEqual(r1.body.refresh_token, l.body.refresh_token);
    isProblem(await req('POST', '/api/v1/auth/refresh', { body: { refresh_token: l.body.refresh_token } }), 401, 'refresh_reused');
    // The reuse revoked the family: the rotated token is dead too.
    assert.equal((await req('POST', '/api/v1/auth/refresh', { body: { refresh_token: r1.body.refresh_token } })).status, 401);
    const l2 = await req('POST', '/api/v1/auth/login', { body: { email: 'viewer@example.com', password: 'correct horse battery staple' } });
    const out = await req('POST', '/api/v1/auth/logout', { token: l2.body.access_token, body: { refresh_token: l2.body.refresh_token } });
    assert.equal(out.status, 204);
    assert.equal((await req('GET', '/api/v1/portfolio', { token: l2.body.access_token })).status, 401, 'access token revoked at logout');
    assert.equal((await req('POST', '/api/v1/auth/refresh', { body: { refresh_token: l2.body.refresh_token } })).status, 401);
  });

  it('API-key signed requests: read and trade; a bad signature is refused', async () => {
    const key = k.identity.apiKeys.create({ userId: k.users['trader']!.userId, accountIds: [1], scopes: ['read', 'trade'] }, Date.now());
    const ro = k.identity.apiKeys.create({ userId: k.users['trader']!.userId, accountIds: [1], scopes: ['read'] }, Date.now());
    const g = await signedCall(k.base, key, 'GET', '/api/v1/orders?limit=5');
    assert.equal(g.status, 200, JSON.stringify(g.body));
    const p = await signedCall(k.base, key, 'POST', '/api/v1/orders', limitBuy({ price: '98.00' }));
    assert.equal(p.status, 201, JSON.stringify(p.body));
    isProblem(await signedCall(k.base, ro, 'POST', '/api/v1/orders', limitBuy()), 403, 'scope_missing');
    isProblem(await signedCall(k.base, { keyId: key.keyId, secret: 'wrong' }, 'GET', '/api/v1/orders'), 401, 'bad_signature');
  });
});

describe('rest: orders', () => {
  it('creates, reads, lists, replaces and cancels; answers after the durable ack', async () => {
    const c = await req('POST', '/api/v1/orders', { token: tok('trader'), body: limitBuy() });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    assert.equal(c.body.status, 'new');
    assert.equal(c.body.price, '99');
    assert.equal(c.body.quantity, '0.005');
    assert.ok(k.engine.stats().durableSeq >= c.body.engine_seq, 'answered only once durable');
    const id = c.body.id as string;
    assert.equal((await req('GET', `/api/v1/orders/${id}`, { token: tok('trader') })).body.status, 'new');
    const list = await req('GET', '/api/v1/orders?symbol=AAA-USD&status=open&side=buy&limit=1', { token: tok('trader') });
    assert.equal(list.status, 200);
    assert.equal(list.body.data.length, 1);
    assert.ok(list.body.next_cursor !== null);
    const page2 = await req('GET', `/api/v1/orders?symbol=AAA-USD&status=open&limit=1&cursor=${list.body.next_cursor}`, { token: tok('trader') });
    assert.ok(Number(page2.body.data[0].id) < Number(list.body.data[0].id));
    const rp = await req('PUT', `/api/v1/orders/${id}`, { token: tok('trader'), body: { price: '98.50', quantity: '0.004' } });
    assert.equal(rp.status, 200, JSON.stringify(rp.body));
    assert.equal(rp.body.price, '98.5');
    assert.equal(rp.body.quantity, '0.004');
    isProblem(await req('PUT', `/api/v1/orders/${id}`, { token: tok('trader'), body: { price: '98.50' } }), 422, 'replace_no_change');
    const del = await req('DELETE', `/api/v1/orders/${id}`, { token: tok('trader') });
    assert.equal(del.body.status, 'canceled');
    assert.equal(del.body.end_reason, 'user_cancel');
    isProblem(await req('POST', `/api/v1/orders/${id}/cancel`, { token: tok('trader') }), 409, 'order_already_done');
    const closed = await req('GET', `/api/v1/orders?status=canceled`, { token: tok('trader') });
    assert.ok(closed.body.data.some((o: { id: string }) => o.id === id));
  });

  it('a cross fills both sides: own trades, summary, positions, balances, market data', async () => {
    const maker = await req('POST', '/api/v1/orders', { token: tok('trader2'), body: { symbol: 'BBB-USD', side: 'sell', order_type: 'limit', quantity: '0.010', price: '101.00' } });
    assert.equal(maker.status, 201);
    const taker = await req('POST', '/api/v1/orders', { token: tok('trader'), body: { symbol: 'BBB-USD', side: 'buy', order_type: 'market', quantity: '0.004' } });
    assert.equal(taker.status, 201, JSON.stringify(taker.body));
    assert.equal(taker.body.status, 'filled');
    assert.equal(taker.body.average_price, '101');
    const m = await req('GET', `/api/v1/orders/${maker.body.id}`, { token: tok('trader2') });
    assert.equal(m.body.status, 'partially_filled');
    assert.equal(m.body.remaining_quantity, '0.006');
    const tr = await req('GET', '/api/v1/trades?symbol=BBB-USD', { token: tok('trader') });
    assert.equal(tr.body.data.length, 1);
    assert.equal(tr.body.data[0].trade_type, 'taker');
    assert.equal(tr.body.data[0].quantity, '0.004');
    const one = await req('GET', `/api/v1/trades/${tr.body.data[0].id}`, { token: tok('trader') });
    assert.equal(one.status, 200);
    isProblem(await req('GET', `/api/v1/trades/${tr.body.data[0].id}`, { token: tok('viewer') }), 404, 'trade_not_found');
    const sum = await req('GET', '/api/v1/trades/summary?symbol=BBB-USD', { token: tok('trader2') });
    assert.equal(sum.body.data[0].sell_quantity, '0.004');
    const pos = await req('GET', '/api/v1/portfolio/positions', { token: tok('trader2') });
    const p = pos.body.data.find((x: { symbol: string }) => x.symbol === 'BBB-USD');
    assert.equal(p.quantity, '-0.004');
    assert.equal(p.mark_price, '101');
    const bal = await req('GET', '/api/v1/portfolio/balances', { token: tok('trader') });
    assert.ok(bal.body.data.some((b: { asset: string }) => b.asset === 'BBB'));
    assert.equal((await req('GET', '/api/v1/portfolio/performance', { token: tok('trader') })).status, 200);
    assert.equal((await req('GET', '/api/v1/portfolio', { token: tok('trader') })).status, 200);
    const tick = await req('GET', '/api/v1/market-data/ticker?symbol=BBB-USD', { token: tok('viewer') });
    assert.equal(tick.body.data[0].last_price, '101');
    assert.equal(tick.body.data[0].ask_price, '101');
    const ob = await req('GET', '/api/v1/market-data/orderbook?symbol=BBB-USD&depth=5', { token: tok('viewer') });
    assert.deepEqual(ob.body.asks[0], ['101', '0.006', 1]);
    const mt = await req('GET', '/api/v1/market-data/trades?symbol=BBB-USD', { token: tok('viewer') });
    assert.equal(mt.body.data[0].taker_side, 'buy');
    const c = await req('GET', '/api/v1/market-data/ohlcv?symbol=BBB-USD&interval=1m', { token: tok('viewer') });
    assert.equal(c.body.data[0].close, '101');
    assert.equal((await req('GET', '/api/v1/market-data/symbols', { token: tok('viewer') })).body.data.length, 2);
  });

  it('client_order_id makes POST idempotent; a different body is a conflict', async () => {
    const body = limitBuy({ client_order_id: 'ui-42', price: '97.00' });
    const [a, b] = await Promise.all([
      req('POST', '/api/v1/orders', { token: tok('trader'), body }),
      req('POST', '/api/v1/orders', { token: tok('trader'), body }),
    ]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [200, 201]);
    assert.equal(a.body.id, b.body.id);
    assert.equal(a.body.client_order_id, 'ui-42');
    const again = await req('POST', '/api/v1/orders', { token: tok('trader'), body });
    assert.equal(again.status, 200);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    isProblem(await req('POST', '/api/v1/orders', { token: tok('trader'), body: { ...body, price: '96.00' } }), 409, 'idempotency_conflict');
    const open = await req('GET', '/api/v1/orders?status=open&limit=500', { token: tok('trader') });
    assert.equal(open.body.data.filter((o: { client_order_id: string }) => o.client_order_id === 'ui-42').length, 1);
  });

  it('object-level authorization: another account\'s order answers like a missing one', async () => {
    const mine = await req('POST', '/api/v1/orders', { token: tok('trader'), body: limitBuy({ price: '95.00' }) });
    const missing = await req('GET', '/api/v1/orders/999999999', { token: tok('trader2') });
    const foreign = await req('GET', `/api/v1/orders/${mine.body.id}`, { token: tok('trader2') });
    isProblem(missing, 404, 'order_not_found');
    isProblem(foreign, 404, 'order_not_found');
    assert.equal(foreign.body.detail, missing.body.detail);
    isProblem(await req('DELETE', `/api/v1/orders/${mine.body.id}`, { token: tok('trader2') }), 404, 'order_not_found');
    isProblem(await req('PUT', `/api/v1/orders/${mine.body.id}`, { token: tok('trader2'), body: { price: '94.00' } }), 404, 'order_not_found');
    isProblem(await req('POST', '/api/v1/orders', { token: tok('trader2'), body: limitBuy({ account_id: 1 }) }), 404, 'account_not_found');
    isProblem(await req('GET', '/api/v1/orders?account_id=1', { token: tok('trader2') }), 404, 'account_not_found');
    const list = await req('GET', '/api/v1/orders?limit=500', { token: tok('trader2') });
    assert.ok(list.body.data.every((o: { account_id: number }) => o.account_id === 2));
    assert.equal((await req('GET', `/api/v1/orders/${mine.body.id}`, { token: tok('trader') })).status, 200);
  });

  it('every order type reaches the engine; rejects carry the engine reason code', async () => {
    const t = tok('trader');
    const cases: Record<string, unknown>[] = [
      { order_type: 'limit', quantity: '0.002', price: '90.00', time_in_force: 'IOC' },
      { order_type: 'limit', quantity: '0.002', price: '90.00', expires_at: new Date(Date.now() + 3600_000).toISOString() },
      { order_type: 'limit', quantity: '0.004', price: '90.00', display_quantity: '0.002' },
      { order_type: 'stop', quantity: '0.002', stop_price: '110.00' },
      { order_type: 'stop_limit', quantity: '0.002', stop_price: '110.00', price: '110.50' },
      { order_type: 'trailing_stop', quantity: '0.002', trail_offset: '1.00' },
      { order_type: 'trailing_stop_limit', quantity: '0.002', trail_offset_bps: 50, limit_offset: '0.50' },
      { order_type: 'market_if_touched', quantity: '0.002', stop_price: '90.00' },
      { order_type: 'limit_if_touched', quantity: '0.002', stop_price: '90.00', price: '90.50' },
      { order_type: 'market', quote_quantity: '0.5' },
    ];
    for (const extra of cases) {
      const r = await req('POST', '/api/v1/orders', { token: t, body: { symbol: 'BBB-USD', side: 'buy', ...extra } });
      assert.ok(r.status === 201 || (r.body.reason_code !== undefined && r.status >= 400), `${JSON.stringify(extra)} -> ${r.status} ${JSON.stringify(r.body)}`);
      if (r.status === 201) assert.equal(r.body.order_type, extra['order_type']);
    }
    const noPrice = await req('POST', '/api/v1/orders', { token: t, body: { symbol: 'AAA-USD', side: 'buy', order_type: 'limit', quantity: '0.002' } });
    isProblem(noPrice, 422, 'invalid_price');
    assert.equal(noPrice.body.reason_code, 5);
    // Above the instrument's max: refused before the engine, with the engine's reason on the field.
    const rich = await req('POST', '/api/v1/orders', { token: t, body: limitBuy({ quantity: '999' }) });
    isProblem(rich, 400, 'validation_error');
    assert.deepEqual(rich.body.errors, [{ path: 'body.quantity', message: rich.body.errors[0].message, code: 'quantity_above_max', reason_code: 12 }]);
  });
});

describe('rest: validation and limits', () => {
  it('zod validation with field paths; unknown fields; decimals exact on tick and lot', async () => {
    const t = tok('trader');
    const unk = await req('POST', '/api/v1/orders', { token: t, body: limitBuy({ colour: 'red' }) });
    isProblem(unk, 400, 'validation_error');
    assert.deepEqual(unk.body.errors.map((e: { path: string }) => e.path), ['body.colour']);
    const bad = await req('POST', '/api/v1/orders', { token: t, body: { symbol: 'AAA-USD', side: 'up', order_type: 'limit', quantity: 5, price: '1e3' } });
    isProblem(bad, 400, 'validation_error');
    assert.deepEqual(bad.body.errors.map((e: { path: string }) => e.path).sort(), ['body.price', 'body.quantity', 'body.side']);
    const tick = await req('POST', '/api/v1/orders', { token: t, body: limitBuy({ price: '99.001' }) });
    isProblem(tick, 422, 'price_not_on_tick');
    assert.equal(tick.body.reason_code, 10);
    assert.equal(tick.body.errors[0].path, 'body.price');
    const lot = await req('POST', '/api/v1/orders', { token: t, body: limitBuy({ quantity: '0.0005' }) });
    isProblem(lot, 422, 'invalid_quantity');
    isProblem(await req('POST', '/api/v1/orders', { token: t, body: limitBuy({ symbol: 'ZZZ-USD' }) }), 422, 'unknown_symbol');
    const q = await req('GET', '/api/v1/orders?limit=0&bogus=1', { token: t });
    isProblem(q, 400, 'validation_error');
    assert.deepEqual(q.body.errors.map((e: { path: string }) => e.path).sort(), ['query.bogus', 'query.limit']);
    isProblem(await req('GET', '/api/v1/orders/abc', { token: t }), 400, 'validation_error');
    isProblem(await req('POST', '/api/v1/orders', { token: t, raw: '{"symbol":', headers: { 'content-type': 'application/json' } }), 400, 'malformed_json');
    isProblem(await req('POST', '/api/v1/orders', { token: t, raw: 'symbol=AAA', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    isProblem(await req('POST', '/api/v1/orders', { token: t, raw: JSON.stringify({ symbol: 'x'.repeat(70_000) }), headers: { 'content-type': 'application/json' } }), 413, 'payload_too_large');
    isProblem(await req('PATCH', '/api/v1/orders', { token: t }), 405, 'method_not_allowed');
  });

  it('CORS: allow-listed origins get the headers, preflight answers 204, others get none', async () => {
    const ok = await req('GET', '/api/v1/market-data/symbols', { token: tok('viewer'), headers: { origin: 'https://ui.example' } });
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://ui.example');
    const no = await req('GET', '/api/v1/market-data/symbols', { token: tok('viewer'), headers: { origin: 'https://evil.example' } });
    assert.equal(no.headers.get('access-control-allow-origin'), null);
    const pre = await req('OPTIONS', '/api/v1/orders', { headers: { origin: 'https://ui.example', 'access-control-request-method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
  });

  it('per-key rate limit answers 429 with Retry-After', async () => {
    const rs = await Promise.all(Array.from({ length: 320 }, () => req('GET', '/api/v1/market-data/symbols', { token: tok('limited') })));
    const limited = rs.filter((r) => r.status === 429);
    assert.ok(limited.length >= 15, `429s: ${limited.length}`);
    isProblem(limited[0]!, 429, 'rate_limited');
    assert.ok(Number(limited[0]!.headers.get('retry-after')) >= 1);
  });

  it('state-changing requests are audited (success and refusal)', async () => {
    const c = await req('POST', '/api/v1/orders', { token: tok('trader'), body: limitBuy({ price: '93.00' }) });
    await req('POST', '/api/v1/orders', { token: tok('viewer'), body: limitBuy() });
    const rows = k.identity.db.prepare(`SELECT actor, action, target, outcome, detail FROM audit_log WHERE action = 'order.place' ORDER BY seq`).all() as { actor: string; target: string; outcome: string }[];
    assert.ok(rows.some((r) => r.target === `order:${c.body.id}` && r.outcome === 'success' && r.actor === `user:${k.users['trader']!.userId}`));
    assert.ok(rows.some((r) => r.actor === `user:${k.users['viewer']!.userId}` && r.outcome === 'denied'));
  });
});

describe('rest: roles and risk', () => {
  it('every route with every role: 403 exactly when the role lacks the route\'s permission', async () => {
    for (const name of ['viewer', 'trader', 'risk', 'admin']) {
      const u = k.users[name]!;
      const principal: Principal = { kind: 'session', userId: u.userId, roles: new Set(u.roles), accountIds: new Set(u.accounts), keyScopes: null, credentialId: 'x' };
      const held = new Set<string>(permissionsOf(principal));
      for (const r of k.rest.router.routes) {
        const path = r.path.replace('{order_id}', '999999999').replace('{trade_id}', '1-999999').replace('{strategy_id}', '1');
        // Bodies that fail validation: nothing changes, but the permission is checked first.
        const res = await req(r.method.toUpperCase(), path, { token: u.token, ...(r.body ? { body: { definitely_unknown: 1 } } : {}) });
        const allowed = r.permission === 'public' || held.has(r.permission);
        if (allowed) assert.ok(res.status !== 403 && res.status !== 401, `${name} ${r.method} ${r.path}: ${res.status} ${JSON.stringify(res.body)}`);
        else isProblem(res, 403, res.body.code === 'scope_missing' ? 'scope_missing' : 'role_missing');
      }
    }
  });

  it('risk limits: risk_manager sets them through the engine, traders cannot; the engine enforces them', async () => {
    isProblem(await req('PUT', '/api/v1/risk/limits', { token: tok('trader'), body: { symbol: 'AAA-USD', max_position: '0.01', max_open_orders: 3 } }), 403, 'role_missing');
    const put = await req('PUT', '/api/v1/risk/limits', { token: tok('risk'), body: { account_id: 1, symbol: 'AAA-USD', max_position: '0.01', max_open_orders: 50 } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.max_position, '0.01');
    assert.equal(put.body.max_position_source, 'account');
    const get = await req('GET', '/api/v1/risk/limits?symbol=AAA-USD', { token: tok('trader') });
    assert.equal(get.body.data[0].max_position, '0.01');
    const big = await req('POST', '/api/v1/orders', { token: tok('trader'), body: limitBuy({ quantity: '0.5' }) });
    isProblem(big, 422, 'position_limit_exceeded');
    const alerts = await req('GET', '/api/v1/risk/alerts', { token: tok('trader') });
    assert.ok(alerts.body.data.some((a: { kind: string }) => a.kind === 'position_limit_exceeded'));
    const metrics = await req('GET', '/api/v1/risk/metrics?symbol=AAA-USD', { token: tok('risk') });
    assert.equal(metrics.status, 200);
    assert.equal(typeof metrics.body.data[0].position_limit_used, 'number');
    isProblem(await req('PUT', '/api/v1/risk/limits', { token: tok('risk'), body: { account_id: 2, symbol: 'AAA-USD', max_position: '1', max_open_orders: 1 } }), 404, 'account_not_found');
  });

  it('strategies: validated, then 501 not yet available', async () => {
    isProblem(await req('GET', '/api/v1/strategies/1', { token: tok('trader') }), 501, 'not_yet_available');
    isProblem(await req('GET', '/api/v1/strategies/x', { token: tok('trader') }), 400, 'validation_error');
    isProblem(await req('POST', '/api/v1/strategies', { token: tok('trader'), body: { name: '' } }), 400, 'validation_error');
    isProblem(await req('POST', '/api/v1/strategies', { token: tok('trader'), body: { name: 'mm', strategy_type: 'market_making' } }), 501, 'not_yet_available');
  });
});
