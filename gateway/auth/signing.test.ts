import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { authorize } from './permissions.js';
import { ReplayCache } from './replay-cache.js';
import {
  HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, SignatureVerifier, hasSignatureHeaders, requestTarget, restCanonical,
  signRequest, signUpgrade, wsCanonical, type SignatureResult,
} from './signing.js';
import { T0_MS, addUser, openTestIdentity, type TestIdentity } from './fixtures.js';

const BODY = Buffer.from('{"symbol":"BTC-USD","side":"buy","qty":"1.5"}');
let nonceCounter = 0;
const nonce = () => `nonce-${String(++nonceCounter).padStart(12, '0')}`;

function code(r: SignatureResult): string {
  return r.ok ? 'ok' : r.code;
}

describe('request signing (HMAC-SHA256)', () => {
  let id: TestIdentity;
  let verifier: SignatureVerifier<ReplayCache>;
  let alice: number;
  let key: { keyId: string; secret: string };
  let readKey: { keyId: string; secret: string };

  before(async () => {
    id = openTestIdentity();
    alice = await addUser(id, 'alice@example.com', ['trader', 'viewer'], [3, 5]);
    await addUser(id, 'bob@example.com', ['trader'], [9]);
    key = id.apiKeys.create({ userId: alice, accountIds: [3], scopes: ['read', 'trade'] }, T0_MS);
    readKey = id.apiKeys.create({ userId: alice, accountIds: [3, 5], scopes: ['read'] }, T0_MS);
    verifier = new SignatureVerifier({ keys: id.apiKeys, store: id.store, replay: new ReplayCache(1000), cacheTtlMs: 0 });
  });
  after(() => id.dispose());

  function signed(over: { method?: string; path?: string; body?: Buffer; ts?: number; k?: { keyId: string; secret: string } } = {}) {
    const req = { method: over.method ?? 'POST', pathWithQuery: over.path ?? '/api/v1/orders?account=3', body: over.body ?? BODY };
    const headers = signRequest((over.k ?? key).keyId, (over.k ?? key).secret, req, { timestampMs: over.ts ?? T0_MS, nonce: nonce() });
    return { ...req, headers };
  }

  it('the canonical string is exactly as documented', () => {
    const c = restCanonical(1700000000000, 'abcdefghijklmnop', 'post', '/api/v1/orders?b=2&a=1', Buffer.from('{}'));
    assert.equal(c.toString(), 'TE1-HMAC-SHA256\n1700000000000\nabcdefghijklmnop\nPOST\n/api/v1/orders?b=2&a=1\n{}');
    assert.equal(wsCanonical(1700000000000, 'abcdefghijklmnop', '/ws?stream=orders').toString(),
      'TE1-WS-HMAC-SHA256\n1700000000000\nabcdefghijklmnop\n/ws?stream=orders');
    // A known-answer vector, recomputed independently of signRequest (also printed in docs/security.md).
    const expected = createHmac('sha256', 'test-secret').update(c).digest('hex');
    const h = signRequest('ak_0123456789abcdef01234567', 'test-secret',
      { method: 'post', pathWithQuery: '/api/v1/orders?b=2&a=1', body: Buffer.from('{}') },
      { timestampMs: 1700000000000, nonce: 'abcdefghijklmnop' });
    assert.equal(h[HEADER_SIGNATURE], expected);
    assert.equal(expected, '269a13b17cb4e239ec2e226bb865fea6acc5beb3ae94e7351d0dacf5d1fe16c7');
    const ws = signUpgrade('ak_0123456789abcdef01234567', 'test-secret', '/ws?stream=orders', { timestampMs: 1700000000000, nonce: 'abcdefghijklmnop' });
    assert.equal(ws[HEADER_SIGNATURE], 'dbb4112e3f3499cce85dbdf861716cd8ce2483fb37ec9cf5ec19e785da5b8b07');
  });

  it('takes the body as an ArrayBuffer too, and joins a uWS path and query', () => {
    const s = signed();
    const ab = new Uint8Array(s.body).buffer;
    assert.equal(code(verifier.verifyRequest({ ...s, body: ab }, T0_MS)), 'ok');
    assert.equal(requestTarget('/api/v1/orders', 'account=3'), '/api/v1/orders?account=3');
    assert.equal(requestTarget('/api/v1/orders', ''), '/api/v1/orders');
  });

  it('accepts a correctly signed request and yields an API-key principal', () => {
    const r = verifier.verifyRequest(signed(), T0_MS + 100);
    assert.ok(r.ok);
    assert.equal(r.principal.kind, 'api_key');
    assert.equal(r.principal.userId, alice);
    assert.equal(r.principal.credentialId, key.keyId);
    assert.deepEqual([...r.principal.accountIds], [3]);
    assert.deepEqual([...r.principal.keyScopes!], ['read', 'trade']);
  });

  it('takes headers as a Map or a record, any case; lower-case method from uWS is fine', () => {
    const s = signed({ method: 'delete', body: Buffer.alloc(0) });
    const upper = Object.fromEntries(Object.entries(s.headers).map(([k, v]) => [k.toUpperCase(), v]));
    assert.equal(code(verifier.verifyRequest({ ...s, headers: upper }, T0_MS)), 'ok');
    const s2 = signed({ method: 'GET', body: Buffer.alloc(0) });
    assert.equal(code(verifier.verifyRequest({ ...s2, method: 'get', headers: new Map(Object.entries(s2.headers)) }, T0_MS)), 'ok');
  });

  it('any change to method, path, query, body, timestamp or nonce breaks the signature', () => {
    const tamper: [string, (s: ReturnType<typeof signed>) => ReturnType<typeof signed>][] = [
      ['method', (s) => ({ ...s, method: 'PUT' })],
      ['path', (s) => ({ ...s, pathWithQuery: '/api/v1/orders?account=9' })],
      ['query order', (s) => ({ ...s, pathWithQuery: '/api/v1/orders?account=3&x=1' })],
      ['body', (s) => ({ ...s, body: Buffer.from(BODY.toString().replace('1.5', '15')) })],
      ['empty body', (s) => ({ ...s, body: Buffer.alloc(0) })],
      ['timestamp', (s) => ({ ...s, headers: { ...s.headers, [HEADER_TIMESTAMP]: String(T0_MS + 1) } })],
      ['nonce', (s) => ({ ...s, headers: { ...s.headers, [HEADER_NONCE]: 'another-nonce-000001' } })],
      ['one signature bit', (s) => {
        const sig = s.headers[HEADER_SIGNATURE]!;
        const flipped = (parseInt(sig[0]!, 16) ^ 1).toString(16) + sig.slice(1);
        return { ...s, headers: { ...s.headers, [HEADER_SIGNATURE]: flipped } };
      }],
    ];
    for (const [name, f] of tamper) assert.equal(code(verifier.verifyRequest(f(signed()), T0_MS)), 'bad_signature', name);
  });

  it('a signature made with another secret is refused', () => {
    const forged = signed({ k: { keyId: key.keyId, secret: readKey.secret } });
    assert.equal(code(verifier.verifyRequest(forged, T0_MS)), 'bad_signature');
  });

  it('rejects timestamps outside the receive window, either side, and reports server time', () => {
    assert.equal(code(verifier.verifyRequest(signed({ ts: T0_MS - 5000 }), T0_MS)), 'ok', 'edge of the window');
    assert.equal(code(verifier.verifyRequest(signed({ ts: T0_MS + 5000 }), T0_MS)), 'ok', 'edge, client ahead');
    const old = verifier.verifyRequest(signed({ ts: T0_MS - 5001 }), T0_MS);
    assert.equal(code(old), 'stale_timestamp');
    assert.equal(!old.ok && old.serverTimeMs, T0_MS);
    assert.equal(code(verifier.verifyRequest(signed({ ts: T0_MS + 5001 }), T0_MS)), 'stale_timestamp');
  });

  it('the window is configurable', () => {
    const tight = new SignatureVerifier({ keys: id.apiKeys, store: id.store, replay: new ReplayCache(), receiveWindowMs: 1000 });
    assert.equal(code(tight.verifyRequest(signed({ ts: T0_MS - 1001 }), T0_MS)), 'stale_timestamp');
    assert.equal(code(tight.verifyRequest(signed({ ts: T0_MS - 1000 }), T0_MS)), 'ok');
  });

  it('refuses a replayed request, even inside the window', () => {
    const s = signed();
    assert.equal(code(verifier.verifyRequest(s, T0_MS)), 'ok');
    assert.equal(code(verifier.verifyRequest(s, T0_MS + 10)), 'replayed_nonce');
    assert.equal(code(verifier.verifyRequest(s, T0_MS + 6000)), 'stale_timestamp', 'and after the window, the timestamp stops it');
  });

  it('a bad signature does not burn the nonce (no cache poisoning)', () => {
    const s = signed();
    const bad = { ...s, headers: { ...s.headers, [HEADER_SIGNATURE]: '0'.repeat(64) } };
    assert.equal(code(verifier.verifyRequest(bad, T0_MS)), 'bad_signature');
    assert.equal(code(verifier.verifyRequest(s, T0_MS)), 'ok');
  });

  it('the same nonce under two different keys is fine', () => {
    const n = 'shared-nonce-0000001';
    const req = { method: 'GET', pathWithQuery: '/api/v1/balances', body: Buffer.alloc(0) };
    const a = signRequest(key.keyId, key.secret, req, { timestampMs: T0_MS, nonce: n });
    const b = signRequest(readKey.keyId, readKey.secret, req, { timestampMs: T0_MS, nonce: n });
    assert.equal(code(verifier.verifyRequest({ ...req, headers: a }, T0_MS)), 'ok');
    assert.equal(code(verifier.verifyRequest({ ...req, headers: b }, T0_MS)), 'ok');
  });

  it('unknown key, revoked key, expired key, disabled user', async () => {
    const unknown = signed({ k: { keyId: 'ak_ffffffffffffffffffffffff', secret: key.secret } });
    assert.equal(code(verifier.verifyRequest(unknown, T0_MS)), 'unknown_key');
    assert.equal(code(verifier.verifyRequest(signed({ k: { keyId: 'not-a-key-id', secret: 'x' } }), T0_MS)), 'unknown_key');

    const k = id.apiKeys.create({ userId: alice, accountIds: [3], scopes: ['read'] }, T0_MS);
    assert.equal(code(verifier.verifyRequest(signed({ k }), T0_MS)), 'ok');
    id.apiKeys.revoke(k.keyId, T0_MS + 1);
    assert.equal(code(verifier.verifyRequest(signed({ k, ts: T0_MS + 2 }), T0_MS + 2)), 'key_revoked');

    const e = id.apiKeys.create({ userId: alice, accountIds: [3], scopes: ['read'], expiresAtMs: T0_MS + 1000 }, T0_MS);
    assert.equal(code(verifier.verifyRequest(signed({ k: e, ts: T0_MS + 999 }), T0_MS + 999)), 'ok');
    assert.equal(code(verifier.verifyRequest(signed({ k: e, ts: T0_MS + 1000 }), T0_MS + 1000)), 'key_expired');

    const dave = await addUser(id, 'dave@example.com', ['trader'], [21]);
    const d = id.apiKeys.create({ userId: dave, accountIds: [21], scopes: ['trade'] }, T0_MS);
    id.store.setUserActive(dave, false, T0_MS);
    const r = verifier.verifyRequest(signed({ k: d }), T0_MS);
    assert.equal(code(r), 'user_disabled');
    assert.equal(!r.ok && r.httpStatus, 403);
  });

  it('a cached key is dropped on invalidate, and reloaded after the cache time', () => {
    const cached = new SignatureVerifier({ keys: id.apiKeys, store: id.store, replay: new ReplayCache(), cacheTtlMs: 5000 });
    const k = id.apiKeys.create({ userId: alice, accountIds: [3], scopes: ['read'] }, T0_MS);
    assert.equal(code(cached.verifyRequest(signed({ k }), T0_MS)), 'ok');
    id.apiKeys.revoke(k.keyId, T0_MS); // as if by the CLI in another process
    assert.equal(code(cached.verifyRequest(signed({ k, ts: T0_MS + 4000 }), T0_MS + 4000)), 'ok', 'stale for at most the cache time');
    assert.equal(code(cached.verifyRequest(signed({ k, ts: T0_MS + 5000 }), T0_MS + 5000)), 'key_revoked');
    const k2 = id.apiKeys.create({ userId: alice, accountIds: [3], scopes: ['read'] }, T0_MS);
    assert.equal(code(cached.verifyRequest(signed({ k: k2 }), T0_MS)), 'ok');
    id.apiKeys.revoke(k2.keyId, T0_MS);
    cached.invalidate(k2.keyId);
    assert.equal(code(cached.verifyRequest(signed({ k: k2, ts: T0_MS + 1 }), T0_MS + 1)), 'key_revoked');
  });

  it('missing and malformed headers', () => {
    const s = signed();
    assert.equal(code(verifier.verifyRequest({ ...s, headers: {} }, T0_MS)), 'missing_credentials');
    const drop = (h: string) => Object.fromEntries(Object.entries(s.headers).filter(([k]) => k !== h));
    assert.equal(code(verifier.verifyRequest({ ...s, headers: drop(HEADER_NONCE) }, T0_MS)), 'malformed_credentials');
    const bad: Record<string, string>[] = [
      { [HEADER_TIMESTAMP]: '1.75e12' }, { [HEADER_TIMESTAMP]: '-1' }, { [HEADER_TIMESTAMP]: '0175' },
      { [HEADER_TIMESTAMP]: '99999999999999999999' }, { [HEADER_NONCE]: 'short' }, { [HEADER_NONCE]: 'has space in it 123' },
      { [HEADER_SIGNATURE]: 'ABCDEF'.padEnd(64, '0') }, { [HEADER_SIGNATURE]: 'ab' },
    ];
    for (const b of bad) {
      assert.equal(code(verifier.verifyRequest({ ...s, headers: { ...s.headers, ...b } }, T0_MS)), 'malformed_credentials', JSON.stringify(b));
    }
    assert.equal(code(verifier.verifyRequest({ ...s, headers: { ...s.headers, [HEADER_NONCE]: ['a'.repeat(16), 'b'.repeat(16)] } }, T0_MS)), 'malformed_credentials', 'repeated header');
    assert.equal(code(verifier.verifyRequest({ ...s, pathWithQuery: 'api/v1/orders' }, T0_MS)), 'malformed_credentials');
    assert.equal(code(verifier.verifyRequest({ ...s, pathWithQuery: '/a\nb' }, T0_MS)), 'malformed_credentials');
    assert.equal(code(verifier.verifyRequest({ ...s, method: 'PO ST' }, T0_MS)), 'malformed_credentials');
    assert.equal(hasSignatureHeaders(s.headers), true);
    assert.equal(hasSignatureHeaders({ authorization: 'Bearer x' }), false);
  });

  it('a full replay cache fails closed', () => {
    const tiny = new SignatureVerifier({ keys: id.apiKeys, store: id.store, replay: new ReplayCache(2) });
    assert.equal(code(tiny.verifyRequest(signed(), T0_MS)), 'ok');
    assert.equal(code(tiny.verifyRequest(signed(), T0_MS)), 'ok');
    const r = tiny.verifyRequest(signed(), T0_MS);
    assert.equal(code(r), 'replay_cache_full');
    assert.equal(!r.ok && r.httpStatus, 503);
    assert.equal(code(tiny.verifyRequest(signed({ ts: T0_MS + 5001 }), T0_MS + 5001)), 'ok', 'room again once entries expire');
  });

  describe('WebSocket upgrade', () => {
    it('accepts a signed upgrade', () => {
      const headers = signUpgrade(key.keyId, key.secret, '/ws/v1', { timestampMs: T0_MS, nonce: nonce() });
      const r = verifier.verifyUpgrade({ pathWithQuery: '/ws/v1', headers }, T0_MS);
      assert.ok(r.ok);
      assert.equal(r.principal.credentialId, key.keyId);
    });

    it('rejects another path, a replay, a stale timestamp', () => {
      const headers = signUpgrade(key.keyId, key.secret, '/ws/v1', { timestampMs: T0_MS, nonce: nonce() });
      assert.equal(code(verifier.verifyUpgrade({ pathWithQuery: '/ws/v2', headers }, T0_MS)), 'bad_signature');
      assert.equal(code(verifier.verifyUpgrade({ pathWithQuery: '/ws/v1', headers }, T0_MS)), 'ok');
      assert.equal(code(verifier.verifyUpgrade({ pathWithQuery: '/ws/v1', headers }, T0_MS)), 'replayed_nonce');
      const old = signUpgrade(key.keyId, key.secret, '/ws/v1', { timestampMs: T0_MS - 6000, nonce: nonce() });
      assert.equal(code(verifier.verifyUpgrade({ pathWithQuery: '/ws/v1', headers: old }, T0_MS)), 'stale_timestamp');
    });

    it('a REST signature of a GET with empty body does not open a WebSocket (domain separation)', () => {
      const req = { method: 'GET', pathWithQuery: '/ws/v1', body: Buffer.alloc(0) };
      const headers = signRequest(key.keyId, key.secret, req, { timestampMs: T0_MS, nonce: nonce() });
      assert.equal(code(verifier.verifyUpgrade({ pathWithQuery: '/ws/v1', headers }, T0_MS)), 'bad_signature');
      const ws = signUpgrade(key.keyId, key.secret, '/ws/v1', { timestampMs: T0_MS, nonce: nonce() });
      assert.equal(code(verifier.verifyRequest({ ...req, headers: ws }, T0_MS)), 'bad_signature');
    });
  });

  describe('key scope enforcement (signature then authorize)', () => {
    it('a read key may read its accounts but not trade', () => {
      const r = verifier.verifyRequest(signed({ k: readKey, method: 'GET', body: Buffer.alloc(0) }), T0_MS);
      assert.ok(r.ok);
      assert.deepEqual(authorize(r.principal, 'account.read', 5), { ok: true });
      const trade = authorize(r.principal, 'order.place', 3);
      assert.equal(!trade.ok && trade.code, 'scope_missing');
    });

    it('a trade key reaches only the accounts listed on it, never the user\'s others or anyone else\'s', () => {
      const r = verifier.verifyRequest(signed(), T0_MS);
      assert.ok(r.ok);
      assert.deepEqual(authorize(r.principal, 'order.place', 3), { ok: true });
      assert.equal(authorize(r.principal, 'order.place', 5).ok, false, 'the user owns 5, the key does not list it');
      assert.equal(authorize(r.principal, 'account.read', 9).ok, false, 'bob\'s account');
    });

    it('a key cannot exceed its user\'s roles (a viewer\'s trade key cannot trade)', async () => {
      const eve = await addUser(id, 'eve@example.com', ['viewer'], [31]);
      const k = id.apiKeys.create({ userId: eve, accountIds: [31], scopes: ['trade', 'read'] }, T0_MS);
      const r = verifier.verifyRequest(signed({ k }), T0_MS);
      assert.ok(r.ok);
      const d = authorize(r.principal, 'order.place', 31);
      assert.equal(!d.ok && d.code, 'role_missing');
    });

    it('an account taken from the user is dropped from the key at once (no cache)', async () => {
      const frank = await addUser(id, 'frank@example.com', ['trader'], [41, 42]);
      const k = id.apiKeys.create({ userId: frank, accountIds: [41, 42], scopes: ['trade'] }, T0_MS);
      id.store.setAccountActive(42, false);
      const r = verifier.verifyRequest(signed({ k }), T0_MS);
      assert.ok(r.ok);
      assert.deepEqual([...r.principal.accountIds], [41]);
    });
  });
});
