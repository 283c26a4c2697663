// components.x-problem-types of /openapi.json is complete: every code the sources give to problem(),
// new ProblemError(), authFailure(), a session failure or an authorization denial is listed (a scan
// of the sources, so a new code added anywhere without registering it fails here as well as in tsc),
// and the answers of a running server use listed codes. Also: a cancel of an order that is already
// done is 409 order_already_done (not 404), a missing one 404 order_not_found; integer query
// parameters take plain decimal digits only.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { AUTH_FAILURE_CODES } from '../auth/errors.js';
import { openApiDocument } from './openapi.js';
import { PROBLEM_BASE, REJECT_SLUGS, REST_PROBLEMS, problemTypes } from './problem.js';
import { AUDIT_UNAVAILABLE } from './router.js';
import { call, startRestKit, type CallResult, type RestKit } from './test-kit.js';

// dist/gateway/rest -> the repository's gateway/ (the TypeScript sources).
const GATEWAY_SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'gateway');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Codes given as literals where problems and auth failures are made. */
function codesInSources(): Map<string, string> {
  const found = new Map<string, string>();
  const patterns = [
    /\bproblem\(\s*\d{3}\s*,\s*'([a-z_]+)'/g,
    /\bnew ProblemError\(\s*\d{3}\s*,\s*'([a-z_]+)'/g,
    /\bauthFailure\(\s*'([a-z_]+)'/g,
    /\bthis\.fail\(\s*'[a-z_.]+'\s*,\s*'([a-z_]+)'/g, // auth/sessions.ts
    /\bdeny\(\s*'([a-z_]+)'/g, // auth/permissions.ts
  ];
  for (const file of [...sources(join(GATEWAY_SRC, 'rest')), ...sources(join(GATEWAY_SRC, 'auth'))]) {
    const text = readFileSync(file, 'utf8');
    for (const re of patterns) for (const m of text.matchAll(re)) found.set(m[1]!, file);
  }
  return found;
}

let k: RestKit;
const tok = (name: string): string => k.users[name]!.token;
const req = (method: string, path: string, o: Parameters<typeof call>[3] = {}): Promise<CallResult> => call(k.base, method, path, o);

function isProblem(r: CallResult, status: number, code: string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(r.body.type, PROBLEM_BASE + code);
  assert.equal(r.body.code, code);
}

before(async () => { k = await startRestKit(); });
after(async () => { await k?.close(); });

describe('problem types', () => {
  let listed: Map<string, { type: string; code: string; status?: number; reason_code?: number }>;

  before(async () => {
    const doc = await req('GET', '/openapi.json');
    assert.equal(doc.status, 200);
    const types = doc.body.components['x-problem-types'] as { type: string; code: string; status?: number; reason_code?: number }[];
    listed = new Map(types.map((t) => [t.code, t]));
    assert.equal(listed.size, types.length, 'each code once');
    for (const t of types) assert.equal(t.type, PROBLEM_BASE + t.code);
  });

  it('lists every code the sources make a problem or an auth failure with', () => {
    const found = codesInSources();
    assert.ok(found.size >= 30, `the scan finds the codes (${found.size})`);
    const missing = [...found].filter(([c]) => !listed.has(c)).map(([c, f]) => `${c} (${f})`);
    assert.deepEqual(missing, [], 'codes missing from components.x-problem-types');
  });

  it('lists the codes named in the requirement audit, the auth failures and the engine rejects', () => {
    for (const c of ['order_not_found', 'trade_not_found', 'stale_timestamp', 'replayed_nonce', 'bad_signature', 'unknown_key', 'token_invalid',
      'token_revoked', 'refresh_reused', 'refresh_revoked', 'invalid_credentials', 'malformed_credentials', 'audit_unavailable',
      'history_unavailable', 'candles_unavailable', 'invalid_cursor', 'order_already_done', 'replay_unavailable', AUDIT_UNAVAILABLE]) {
      assert.ok(listed.has(c), c);
    }
    for (const c of AUTH_FAILURE_CODES) assert.ok(listed.has(c), c);
    for (const c of Object.keys(REST_PROBLEMS)) assert.equal(listed.get(c)?.status, REST_PROBLEMS[c as keyof typeof REST_PROBLEMS][0], c);
    for (const [n, slug] of Object.entries(REJECT_SLUGS)) {
      if (n === '23') continue;
      assert.equal(listed.get(slug)?.reason_code, Number(n), slug);
    }
    assert.equal(listed.has('unknown_order'), false, 'RejectReason 23 is answered as order_already_done');
    assert.equal(listed.get('order_already_done')?.status, 409);
    assert.equal(listed.get('replay_unavailable')?.status, 503);
    assert.equal(listed.get('refresh_revoked')?.status, 401);
  });

  it('the document built from the routes and from problemTypes agree', () => {
    const doc = openApiDocument(k.rest.router.routes) as { components: { 'x-problem-types': unknown[] } };
    assert.deepEqual(doc.components['x-problem-types'], problemTypes());
  });

  it('answers use listed codes: missing order and trade, malformed credentials, refresh after logout', async () => {
    const seen: CallResult[] = [];
    const keep = (r: CallResult): CallResult => { seen.push(r); return r; };
    isProblem(keep(await req('GET', '/api/v1/orders/999999', { token: tok('trader') })), 404, 'order_not_found');
    isProblem(keep(await req('DELETE', '/api/v1/orders/999999', { token: tok('trader') })), 404, 'order_not_found');
    isProblem(keep(await req('PUT', '/api/v1/orders/999999', { token: tok('trader'), body: { price: '98.00' } })), 404, 'order_not_found');
    isProblem(keep(await req('GET', '/api/v1/trades/1-999999', { token: tok('trader') })), 404, 'trade_not_found');
    isProblem(keep(await req('GET', '/api/v1/orders', { headers: { authorization: 'Basic abc' } })), 401, 'malformed_credentials');
    isProblem(keep(await req('GET', '/api/v1/orders', { token: 'not.a.jwt' })), 401, 'token_invalid');
    const login = await req('POST', '/api/v1/auth/login', { body: { email: k.users['viewer']!.email, password: 'correct horse battery staple' } });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    assert.equal((await req('POST', '/api/v1/auth/logout', { body: { refresh_token: login.body.refresh_token } })).status, 204);
    isProblem(keep(await req('POST', '/api/v1/auth/refresh', { body: { refresh_token: login.body.refresh_token } })), 401, 'refresh_revoked');
    for (const r of seen) assert.ok(listed.has(r.body.code), r.body.code);
  });

  it('a cancel or replace of an order that is already done is 409 order_already_done; a missing one 404 order_not_found', async () => {
    const c = await req('POST', '/api/v1/orders', { token: tok('trader'), body: { symbol: 'AAA-USD', side: 'buy', order_type: 'limit', quantity: '0.005', price: '95.00' } });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const id = c.body.id as string;
    assert.equal((await req('DELETE', `/api/v1/orders/${id}`, { token: tok('trader') })).body.status, 'canceled');
    for (const [method, path, body] of [['DELETE', `/api/v1/orders/${id}`, undefined], ['POST', `/api/v1/orders/${id}/cancel`, undefined], ['PUT', `/api/v1/orders/${id}`, { price: '94.00' }]] as const) {
      const r = await req(method, path, { token: tok('trader'), ...(body ? { body } : {}) });
      isProblem(r, 409, 'order_already_done');
      assert.equal(r.body.reason_code, 23);
      assert.equal(r.body.order_id, id);
    }
    assert.equal((await req('GET', `/api/v1/orders/${id}`, { token: tok('trader') })).body.status, 'canceled', 'nothing changed');
    // Another account's order is "not found", not "already done" (no existence leak).
    isProblem(await req('DELETE', `/api/v1/orders/${id}`, { token: tok('trader2') }), 404, 'order_not_found');
  });
});

describe('integer query parameters: plain decimal digits only', () => {
  it('refuses hex, exponents, signs, fractions, spaces and leading zeros; takes digits within the range', async () => {
    const t = tok('trader');
    for (const bad of ['0x10', '1e2', '+5', '-5', '5.0', '%205', '05', '', 'Infinity', '1_000', '0b11', '99999999999999999999']) {
      const r = await req('GET', `/api/v1/orders?limit=${bad}`, { token: t });
      isProblem(r, 400, 'validation_error');
      assert.deepEqual(r.body.errors.map((e: { path: string }) => e.path), ['query.limit'], bad);
    }
    isProblem(await req('GET', '/api/v1/orders?limit=0', { token: t }), 400, 'validation_error');
    isProblem(await req('GET', '/api/v1/orders?limit=501', { token: t }), 400, 'validation_error');
    for (const good of ['1', '16', '500']) assert.equal((await req('GET', `/api/v1/orders?limit=${good}`, { token: t })).status, 200, good);
    assert.equal((await req('GET', '/api/v1/orders', { token: t })).status, 200, 'absent: the default');
    isProblem(await req('GET', '/api/v1/market-data/orderbook?symbol=AAA-USD&depth=1e1', { token: t }), 400, 'validation_error');
    isProblem(await req('GET', '/api/v1/market-data/trades?symbol=AAA-USD&limit=0x1', { token: t }), 400, 'validation_error');
    const ob = await req('GET', '/api/v1/market-data/orderbook?symbol=AAA-USD&depth=10', { token: t });
    assert.equal(ob.status, 200, JSON.stringify(ob.body));
  });

  it('the OpenAPI document says so: a string of digits with its default', async () => {
    const doc = await req('GET', '/openapi.json');
    const limit = doc.body.paths['/api/v1/orders'].get.parameters.find((p: { name: string }) => p.name === 'limit');
    assert.equal(limit.schema.type, 'string');
    assert.equal(limit.schema.default, '100');
    assert.ok(new RegExp(limit.schema.pattern).test('16') && !new RegExp(limit.schema.pattern).test('0x10'));
  });
});
