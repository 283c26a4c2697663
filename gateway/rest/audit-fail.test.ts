// Fail closed on the audit trail: when the audit writer fails, the action that already happened is
// answered as it happened, the failure is counted, /ready turns 503 (where the gateway takes
// readiness checks) and every later state-changing request is refused with 503 audit_unavailable
// before it reaches the engine. A kit of its own: the failure lasts until the process restarts. Run
// with the audit rows written on the main thread (the default) and by the writer thread
// (ENGINE_AUDIT_THREAD=1).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PROBLEM_BASE } from './problem.js';
import { AUDIT_UNAVAILABLE } from './router.js';
import { call, startRestKit, type CallResult, type RestKit } from './test-kit.js';

let k: RestKit;
const tok = (name: string): string => k.users[name]!.token;
const req = (method: string, path: string, o: Parameters<typeof call>[3] = {}): Promise<CallResult> => call(k.base, method, path, o);
const order = (price: string) => ({ symbol: 'AAA-USD', side: 'buy', order_type: 'limit', quantity: '0.005', price });

async function metric(name: string): Promise<number> {
  const text = String((await req('GET', '/metrics')).body);
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

function isAuditUnavailable(r: CallResult): void {
  assert.equal(r.status, 503, JSON.stringify(r.body));
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(r.body.type, PROBLEM_BASE + AUDIT_UNAVAILABLE);
  assert.equal(r.body.code, AUDIT_UNAVAILABLE);
}

for (const thread of [false, true]) describe(`rest: the audit writer fails (${thread ? 'writer thread' : 'main thread'})`, () => {
  before(async () => {
    const saved = process.env['ENGINE_AUDIT_THREAD'];
    process.env['ENGINE_AUDIT_THREAD'] = thread ? '1' : '0';
    try {
      k = await startRestKit();
    } finally {
      if (saved === undefined) delete process.env['ENGINE_AUDIT_THREAD']; else process.env['ENGINE_AUDIT_THREAD'] = saved;
    }
  });
  after(async () => { await k?.close(); });

  let placedId = '';

  it('while it works, answers wait for committed rows and the writer is up', async () => {
    const r = await req('POST', '/api/v1/orders', { token: tok('trader'), body: order('90.00') });
    assert.equal(r.status, 201);
    placedId = String(r.body.id);
    const rows = k.identity.audit.list(0, 1000).filter((x) => x.requestId === r.headers.get('x-request-id'));
    assert.equal(rows.length, 1, 'the row was committed before the answer');
    assert.equal(k.identity.audit.threaded, thread);
    assert.equal(await metric('audit_writer_up'), 1);
    assert.deepEqual(k.rest.readiness(), { ok: true });
  });

  it('an action already done is answered as done; its missing row is counted; writes are then refused before the engine', async () => {
    // Every order row from now on fails to commit (what a full disk or a broken file would do).
    k.identity.db.exec("CREATE TRIGGER audit_broken BEFORE INSERT ON audit_log WHEN NEW.action = 'order.place' BEGIN SELECT RAISE(ABORT, 'audit storage failed'); END;");
    const r = await req('POST', '/api/v1/orders', { token: tok('trader'), body: order('91.00') });
    assert.equal(r.status, 201, 'the engine accepted it: answered truthfully');
    const got = await req('GET', `/api/v1/orders/${r.body.id}`, { token: tok('trader') });
    assert.equal(got.status, 200);
    assert.equal(k.identity.audit.list(0, 1000).filter((x) => x.requestId === r.headers.get('x-request-id')).length, 0, 'its row is missing');

    assert.equal(await metric('audit_writer_up'), 0);
    assert.ok(await metric('audit_rows_failed_total') >= 1);
    const ready = k.rest.readiness();
    assert.equal(ready.ok, false);
    assert.equal(ready.detail?.['audit'], 'unavailable');
    const hasHook = typeof (k.gateway as unknown as { addReadinessCheck?: unknown }).addReadinessCheck === 'function';
    if (hasHook) assert.equal((await req('GET', '/ready')).status, 503);

    const seqBefore = k.engine.stats().nextSeq;
    isAuditUnavailable(await req('POST', '/api/v1/orders', { token: tok('trader'), body: order('92.00') }));
    isAuditUnavailable(await req('DELETE', `/api/v1/orders/${placedId}`, { token: tok('trader') }));
    isAuditUnavailable(await req('PUT', '/api/v1/risk/limits', { token: tok('risk'), body: { account_id: 1, symbol: 'AAA-USD', max_position: '10', max_open_orders: 5 } }));
    isAuditUnavailable(await req('POST', '/api/v1/auth/login', { body: { email: k.users['trader']!.email, password: 'whatever it is' } }));
    assert.equal(k.engine.stats().nextSeq, seqBefore, 'nothing reached the engine');
    assert.equal((await req('GET', `/api/v1/orders/${placedId}`, { token: tok('trader') })).body.status, 'new', 'the order is still open');
    assert.ok(await metric('audit_refused_requests_total') >= 4);
  });

  it('bad input and missing credentials still get their own typed errors; reads go on', async () => {
    const bad = await req('POST', '/api/v1/orders', { token: tok('trader'), raw: '{"symbol":', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'malformed_json');
    const invalid = await req('POST', '/api/v1/orders', { token: tok('trader'), body: { ...order('93.00'), side: 'sideways' } });
    assert.equal(invalid.status, 400);
    assert.equal((await req('POST', '/api/v1/orders', { body: order('93.00') })).status, 401);
    assert.equal((await req('POST', '/api/v1/orders', { token: tok('viewer'), body: order('93.00') })).status, 403);
    assert.equal((await req('GET', '/api/v1/orders', { token: tok('trader') })).status, 200);
    assert.equal((await req('GET', '/api/v1/market-data/ticker?symbol=AAA-USD', { token: tok('trader') })).status, 200);
    // Dropping the cause does not reopen writes: the writer does not restart (a process restart does).
    k.identity.db.exec('DROP TRIGGER audit_broken');
    isAuditUnavailable(await req('POST', '/api/v1/orders', { token: tok('trader'), body: order('94.00') }));
    assert.ok(k.identity.audit.verify().ok, 'what was written still verifies');
  });
});
