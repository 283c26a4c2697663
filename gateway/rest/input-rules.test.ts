// Input rules of the REST shim found by an audit against a running server: enums in any letter case
// (answered in the canonical spelling), the dashless symbol, strict account ids, cross-field order
// checks refused before sequencing, time ranges, repeated query parameters.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testSpec } from '../../testing/fixtures.js';
import type { Engine } from '../engine.js';
import { RestContext } from './context.js';
import { ProblemError } from './problem.js';
import type { ReadModel } from './read-model.js';
import { call, startRestKit, type CallResult, type RestKit } from './test-kit.js';

let k: RestKit;
const tok = (name: string): string => k.users[name]!.token;
const req = (method: string, path: string, o: Parameters<typeof call>[3] = {}): Promise<CallResult> => call(k.base, method, path, o);
const limitBuy = (extra: Record<string, unknown> = {}) => ({ symbol: 'AAA-USD', side: 'buy', order_type: 'limit', quantity: '0.005', price: '99.00', ...extra });

/** A 400 validation_error whose errors are exactly these paths (sorted). */
function invalid(r: CallResult, paths: string[]): void {
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(r.body.code, 'validation_error');
  assert.deepEqual([...new Set(r.body.errors.map((e: { path: string }) => e.path))].sort(), [...paths].sort(), JSON.stringify(r.body));
}

before(async () => { k = await startRestKit(); });
after(async () => { await k?.close(); });

describe('rest input: enums in any letter case', () => {
  it('the plan\'s example body (upper-case enums, dashless symbol) is accepted and answered in the canonical spelling', async () => {
    const r = await req('POST', '/api/v1/orders', {
      token: tok('trader'),
      body: { symbol: 'AAAUSD', side: 'BUY', order_type: 'LIMIT', quantity: '0.005', price: '99.0', time_in_force: 'gtc', stp_mode: 'Expire_Taker', trigger_price_type: 'LAST' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.symbol, 'AAA-USD');
    assert.equal(r.body.side, 'buy');
    assert.equal(r.body.order_type, 'limit');
    assert.equal(r.body.time_in_force, 'GTC');
    const sell = await req('POST', '/api/v1/orders', { token: tok('trader'), body: limitBuy({ side: 'Sell', order_type: 'Limit', price: '105.00', time_in_force: 'ioc' }) });
    assert.equal(sell.status, 201, JSON.stringify(sell.body));
    assert.equal(sell.body.side, 'sell');
    assert.equal(sell.body.time_in_force, 'IOC');
  });

  it('query filters take enums in any case; non-strings and unknown values are still refused', async () => {
    const t = tok('trader');
    const open = await req('POST', '/api/v1/orders', { token: t, body: limitBuy({ price: '98.00' }) });
    assert.equal(open.status, 201);
    const lower = await req('GET', '/api/v1/orders?side=buy&status=open,canceled&limit=500', { token: t });
    const upper = await req('GET', '/api/v1/orders?side=BUY&status=OPEN,Canceled&limit=500', { token: t });
    assert.equal(upper.status, 200, JSON.stringify(upper.body));
    assert.deepEqual(upper.body.data.map((o: { id: string }) => o.id), lower.body.data.map((o: { id: string }) => o.id));
    assert.ok(upper.body.data.some((o: { id: string }) => o.id === open.body.id));
    assert.equal((await req('GET', '/api/v1/trades?side=SELL', { token: t })).status, 200);
    invalid(await req('GET', '/api/v1/orders?side=BUYX', { token: t }), ['query.side']);
    invalid(await req('GET', '/api/v1/orders?status=OPENED', { token: t }), ['query.status']);
    invalid(await req('POST', '/api/v1/orders', { token: t, body: limitBuy({ side: 1, order_type: true, time_in_force: 'GTX' }) }), ['body.order_type', 'body.side', 'body.time_in_force']);
  });

  it('the OpenAPI document says the enums are case-insensitive on input and keeps them exact on output', async () => {
    const doc = await req('GET', '/openapi.json');
    assert.equal(doc.status, 200);
    const body = doc.body.paths['/api/v1/orders'].post.requestBody.content['application/json'].schema;
    for (const [field, accepted] of [['side', 'bUy'], ['order_type', 'STOP_LIMIT'], ['time_in_force', 'gtd'], ['stp_mode', 'EXPIRE_BOTH'], ['trigger_price_type', 'Mark']] as const) {
      const s = body.properties[field];
      assert.equal(s.enum, undefined, `${field}: no case-sensitive enum on input`);
      assert.match(s.description, /case-insensitive/);
      assert.ok(new RegExp(s.pattern).test(accepted), `${field} pattern accepts ${accepted}`);
      assert.ok(!new RegExp(s.pattern).test(`${accepted}x`), `${field} pattern refuses others`);
    }
    const side = doc.body.paths['/api/v1/orders'].get.parameters.find((p: { name: string }) => p.name === 'side');
    assert.equal(side.schema.enum, undefined);
    assert.ok(new RegExp(side.schema.pattern).test('SELL'));
    const out = doc.body.paths['/api/v1/orders'].post.responses['201'].content['application/json'].schema;
    assert.deepEqual(out.properties.side.enum, ['buy', 'sell']);
  });

  it('a dashless symbol is found only when exactly one instrument reads so', () => {
    const engine = { instruments: [testSpec({ id: 1, symbol: 'AB-C' }), testSpec({ id: 2, symbol: 'A-BC' }), testSpec({ id: 3, symbol: 'BTC-USDT' })] } as unknown as Engine;
    const c = new RestContext(engine, {} as ReadModel);
    assert.equal(c.instrument('BTCUSDT').spec.id, 3);
    assert.equal(c.instrument('BTC-USDT').spec.id, 3);
    assert.equal(c.instrument('AB-C').spec.id, 1);
    for (const s of ['ABC', 'btcusdt', 'BTC-US-DT']) {
      assert.throws(() => c.instrument(s), (e: unknown) => e instanceof ProblemError && e.code === 'unknown_symbol', s);
    }
  });
});

describe('rest input: account_id', () => {
  it('a body account_id is a JSON number only: arrays, booleans, strings, fractions and 0 are 400 at body.account_id', async () => {
    const t = tok('trader');
    const seq = k.engine.nextSequence;
    for (const bad of [[1], true, '1', 1.5, 0, -1, 2 ** 53, null]) {
      invalid(await req('POST', '/api/v1/orders', { token: t, body: limitBuy({ account_id: bad }) }), ['body.account_id']);
      invalid(await req('PUT', '/api/v1/risk/limits', { token: tok('risk'), body: { account_id: bad, symbol: 'AAA-USD', max_position: '0', max_open_orders: 0 } }), ['body.account_id']);
    }
    assert.equal(k.engine.nextSequence, seq, 'nothing was sequenced');
    assert.equal((await req('POST', '/api/v1/orders', { token: t, body: limitBuy({ account_id: 1, price: '97.00' }) })).status, 201);
  });

  it('a query account_id is decimal digits only', async () => {
    const t = tok('trader');
    for (const bad of ['1e0', '01', '%201', '1.0', '0x1', '', 'true', '-1', '99999999999999999']) {
      for (const path of ['/api/v1/orders', '/api/v1/trades', '/api/v1/trades/summary', '/api/v1/portfolio/balances', '/api/v1/risk/limits']) {
        invalid(await req('GET', `${path}?account_id=${bad}`, { token: t }), ['query.account_id']);
      }
    }
    const ok = await req('GET', '/api/v1/orders?account_id=1', { token: t });
    assert.equal(ok.status, 200);
    assert.ok(ok.body.data.every((o: { account_id: number }) => o.account_id === 1));
  });
});

describe('rest input: cross-field order checks before sequencing', () => {
  const cases: { name: string; body: Record<string, unknown>; path: string; code: string; reason: number }[] = [
    { name: 'GTD without expires_at', body: limitBuy({ time_in_force: 'GTD' }), path: 'body.expires_at', code: 'invalid_expire_time', reason: 9 },
    { name: 'expires_at with IOC', body: limitBuy({ time_in_force: 'IOC', expires_at: new Date(Date.now() + 3600_000).toISOString() }), path: 'body.expires_at', code: 'invalid_expire_time', reason: 9 },
    { name: 'expires_at with GTC', body: limitBuy({ time_in_force: 'gtc', expires_at: new Date(Date.now() + 3600_000).toISOString() }), path: 'body.expires_at', code: 'invalid_expire_time', reason: 9 },
    { name: 'quantity and quote_quantity', body: { symbol: 'AAA-USD', side: 'buy', order_type: 'market', quantity: '0.001', quote_quantity: '1' }, path: 'body.quote_quantity', code: 'invalid_quantity', reason: 6 },
    { name: 'quantity above the max', body: limitBuy({ quantity: '999' }), path: 'body.quantity', code: 'quantity_above_max', reason: 12 },
    { name: 'quantity beyond 2^53 units', body: limitBuy({ quantity: '99999999999999999999' }), path: 'body.quantity', code: 'quantity_above_max', reason: 12 },
  ];
  for (const c of cases) {
    it(`${c.name}: 400 at ${c.path} with ${c.code} (${c.reason}); the engine's sequence does not move`, async () => {
      const seq = k.engine.nextSequence;
      const r = await req('POST', '/api/v1/orders', { token: tok('trader'), body: c.body });
      invalid(r, [c.path]);
      assert.equal(r.body.errors[0].code, c.code);
      assert.equal(r.body.errors[0].reason_code, c.reason);
      assert.equal(k.engine.nextSequence, seq, 'nothing was sequenced');
    });
  }

  it('a replace above the max is refused the same way; at the max it reaches the engine', async () => {
    const o = await req('POST', '/api/v1/orders', { token: tok('trader'), body: limitBuy({ price: '90.00' }) });
    assert.equal(o.status, 201);
    const seq = k.engine.nextSequence;
    const r = await req('PUT', `/api/v1/orders/${o.body.id}`, { token: tok('trader'), body: { quantity: '1.001' } });
    invalid(r, ['body.quantity']);
    assert.equal(r.body.errors[0].reason_code, 12);
    assert.equal(k.engine.nextSequence, seq);
    const atMax = await req('POST', '/api/v1/orders', { token: tok('trader'), body: limitBuy({ quantity: '1', price: '1.00' }) });
    assert.notEqual(atMax.body.code, 'validation_error', JSON.stringify(atMax.body));
    assert.ok(k.engine.nextSequence > seq);
  });

  it('GTD with expires_at, and expires_at alone (GTD implied), still work', async () => {
    const exp = new Date(Date.now() + 3600_000).toISOString();
    const a = await req('POST', '/api/v1/orders', { token: tok('trader'), body: limitBuy({ time_in_force: 'gtd', expires_at: exp, price: '97.50' }) });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.equal(a.body.time_in_force, 'GTD');
    const b = await req('POST', '/api/v1/orders', { token: tok('trader'), body: limitBuy({ expires_at: exp, price: '97.50' }) });
    assert.equal(b.status, 201, JSON.stringify(b.body));
    assert.equal(b.body.time_in_force, 'GTD');
  });
});

describe('rest input: time ranges and repeated query parameters', () => {
  const ranged = ['/api/v1/orders?', '/api/v1/trades?', '/api/v1/trades/summary?', '/api/v1/market-data/ohlcv?symbol=AAA-USD&interval=1m&'];

  it('an end before the start is 400 at query.end_time; an equal end is a valid (empty or not) range', async () => {
    for (const p of ranged) {
      const t = p.includes('market-data') ? tok('viewer') : tok('trader');
      invalid(await req('GET', `${p}start_time=2025-06-01T12:00:00Z&end_time=2025-06-01T11:59:59Z`, { token: t }), ['query.end_time']);
      // Offsets count: 13:00+02:00 is 11:00Z, before 12:00Z.
      invalid(await req('GET', `${p}start_time=2025-06-01T12:00:00Z&end_time=2025-06-01T13:00:00%2B02:00`, { token: t }), ['query.end_time']);
      assert.equal((await req('GET', `${p}start_time=2025-06-01T12:00:00Z&end_time=2025-06-01T12:00:00Z`, { token: t })).status, 200, p);
      assert.equal((await req('GET', `${p}start_time=2025-06-01T12:00:00Z`, { token: t })).status, 200, p);
    }
  });

  it('a repeated query parameter is 400 at query.<name>', async () => {
    const t = tok('trader');
    const r = await req('GET', '/api/v1/orders?limit=1&limit=999', { token: t });
    invalid(r, ['query.limit']);
    assert.equal(r.body.errors[0].code, 'repeated_parameter');
    invalid(await req('GET', '/api/v1/orders?limit=1&limit=1', { token: t }), ['query.limit']);
    invalid(await req('GET', '/api/v1/orders?side=buy&status=open&side=sell&status=new&side=buy', { token: t }), ['query.side', 'query.status']);
    invalid(await req('GET', '/api/v1/market-data/ohlcv?symbol=AAA-USD&interval=1m&interval=1h', { token: tok('viewer') }), ['query.interval']);
    assert.equal((await req('GET', '/api/v1/orders?limit=1&side=buy', { token: t })).status, 200);
  });
});
