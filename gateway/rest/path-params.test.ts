// Path parameters a client can send malformed: a bad percent-escape is the client's error (400 with
// the parameter's path), never a 500, on every method that takes an id in the path.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { call, startRestKit, type RestKit } from './test-kit.js';

let k: RestKit | undefined;
after(async () => { await k?.close(); });

test('a malformed percent-escape in a path parameter is a 400 validation problem on every method', async () => {
  k = await startRestKit();
  const token = k.users['trader']!.token;
  const seq0 = k.engine.stats().nextSeq;
  for (const [method, path] of [['GET', '/api/v1/orders/%E0%A4%A'], ['GET', '/api/v1/trades/%ZZ'], ['PUT', '/api/v1/orders/%ZZ'],
    ['DELETE', '/api/v1/orders/%'], ['POST', '/api/v1/orders/%C3%28/cancel']] as const) {
    const r = await call(k.base, method, path, { token, ...(method === 'PUT' ? { body: { quantity: '1' } } : {}) });
    assert.equal(r.status, 400, `${method} ${path}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.code, 'validation_error');
    assert.match(r.body.errors[0].path, /^path\./);
    assert.doesNotMatch(JSON.stringify(r.body), /URIError|at /);
  }
  assert.equal(k.engine.stats().nextSeq, seq0, 'nothing reached the engine');
});
