// Signed requests' nonces shared through Redis (replay-cache.ts RedisReplayGuard): two independent
// verifiers (each with its own identity connection, Redis connection and guard, as two gateway
// processes have) on one real Redis refuse a request the other accepted; Redis not answering fails
// closed (503 replay_unavailable), through the WebSocket upgrade's authenticator too. Skipped with
// a message when Redis is unreachable, unless CI=true or REDIS_TESTS_REQUIRED=1.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisBus, deleteRedisKeys, redisSkipReason, redisTestUrl } from '../../persistence/redis.js';
import { CredentialAuthenticator } from '../sessions.js';
import { addUser, openTestIdentity, type TestIdentity } from './fixtures.js';
import { openIdentity, type Identity } from './identity.js';
import { RedisReplayGuard, ReplayCache } from './replay-cache.js';
import { SignatureVerifier, signRequest, signUpgrade, type SignatureResult } from './signing.js';

const URL_ = redisTestUrl();
const skip = await redisSkipReason(URL_);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const code = (r: SignatureResult): string => (r.ok ? 'ok' : r.code);

async function connected(bus: RedisBus): Promise<RedisBus> {
  for (let i = 0; i < 300 && !bus.ready; i++) await sleep(10);
  assert.ok(bus.ready, 'bus connected');
  return bus;
}

describe('replayed nonces are refused across gateways sharing Redis', { skip }, () => {
  const prefix = `test:replay:${randomBytes(4).toString('hex')}:`;
  let idA: TestIdentity;
  let idB: Identity;
  let busA: RedisBus, busB: RedisBus;
  let a: SignatureVerifier, b: SignatureVerifier;
  let key: { keyId: string; secret: string };
  let n = 0;
  const nonce = (): string => `replay-${process.pid}-${String(++n).padStart(8, '0')}`;
  const signed = (nowMs: number, nonceValue = nonce()) => {
    const req = { method: 'POST', pathWithQuery: '/api/v1/orders', body: Buffer.from('{"symbol":"AAA-USD"}') };
    return { ...req, headers: signRequest(key.keyId, key.secret, req, { timestampMs: nowMs, nonce: nonceValue }) };
  };

  before(async () => {
    busA = await connected(new RedisBus({ url: URL_, prefix }));
    busB = await connected(new RedisBus({ url: URL_, prefix }));
    // Two identities on one data dir, each with its own guard over its own Redis connection.
    idA = openTestIdentity({ nonceStore: busA });
    idB = openTestIdentity({ dataDir: idA.dataDir, nonceStore: busB });
    const user = await addUser(idA, 'replay@example.com', ['trader'], [1]);
    key = idA.apiKeys.create({ userId: user, accountIds: [1], scopes: ['read', 'trade'] }, Date.now());
    a = idA.signatures;
    b = idB.signatures;
  });
  after(async () => {
    idB?.close();
    idA?.dispose();
    await busA?.close();
    await busB?.close();
    await deleteRedisKeys(URL_, prefix);
  });

  it('a request accepted by one gateway is a replay at the other (and at itself)', async () => {
    const now = Date.now();
    const req = signed(now);
    const first = a.verifyRequest(req, now);
    assert.ok(first instanceof Promise, 'the shared check answers with a promise');
    assert.equal(code(await first), 'ok');
    const atB = await b.verifyRequest(req, now + 5);
    assert.equal(code(atB), 'replayed_nonce');
    assert.equal(!atB.ok && atB.httpStatus, 401);
    assert.equal(code(await a.verifyRequest(req, now + 10)), 'replayed_nonce');
    assert.equal(code(await b.verifyRequest(signed(now), now)), 'ok', 'a new nonce is fine at either');
  });

  it('the same request sent to both at once is accepted exactly once', async () => {
    for (let i = 0; i < 25; i++) {
      const now = Date.now();
      const req = signed(now);
      const rs = await Promise.all([a.verifyRequest(req, now), b.verifyRequest(req, now), a.verifyRequest(req, now), b.verifyRequest(req, now)]);
      assert.deepEqual(rs.map(code).sort(), ['ok', 'replayed_nonce', 'replayed_nonce', 'replayed_nonce'], `round ${i}`);
    }
  });

  it('a WebSocket upgrade signed with a nonce used at the other gateway is refused', async () => {
    const now = Date.now();
    const nv = nonce();
    const headers = new Map(Object.entries(signUpgrade(key.keyId, key.secret, '/ws', { timestampMs: now, nonce: nv })));
    const authA = new CredentialAuthenticator({ signatures: a });
    const authB = new CredentialAuthenticator({ signatures: b });
    const up = { path: '/ws', query: '', headers };
    const first = await authA.authenticate(up, now);
    assert.equal(first.ok, true, JSON.stringify(first));
    const second = await authB.authenticate(up, now);
    assert.equal(second.ok, false);
    assert.equal(!second.ok && second.code, 'replayed_nonce');
  });

  it('the nonce is kept in Redis for the receive window plus the clock slack, under the bus prefix', async () => {
    const raw = new Redis(URL_);
    try {
      const now = Date.now();
      const nv = nonce();
      assert.equal(code(await a.verifyRequest(signed(now, nv), now)), 'ok');
      const ttl = await raw.pttl(`${prefix}nonce:${key.keyId}:${nv}`);
      // timestamp + 5000 ms window - now + 5000 ms slack = 10,000 ms.
      assert.ok(ttl > 9_000 && ttl <= 10_000, `pttl ${ttl}`);
    } finally {
      raw.disconnect();
    }
  });

  it('without Redis each process only knows its own nonces (why the shared check exists)', async () => {
    const localA = new SignatureVerifier({ keys: idA.apiKeys, store: idA.store, replay: new ReplayCache(100) });
    const localB = new SignatureVerifier({ keys: idB.apiKeys, store: idB.store, replay: new ReplayCache(100) });
    const now = Date.now();
    const req = signed(now);
    const r = localA.verifyRequest(req, now);
    assert.ok(!(r instanceof Promise), 'the in-memory check answers at once');
    assert.equal(code(r), 'ok');
    assert.equal(code(localA.verifyRequest(req, now)), 'replayed_nonce');
    assert.equal(code(localB.verifyRequest(req, now)), 'ok', 'a second process does not see the first one\'s nonces');
  });

  it('fails closed: 503 replay_unavailable when the configured Redis does not answer, and the request is not recorded', async () => {
    const dead = new RedisBus({ url: 'redis://127.0.0.1:1', prefix });
    const logs: string[] = [];
    const v = new SignatureVerifier({ keys: idA.apiKeys, store: idA.store, replay: new RedisReplayGuard(dead, { log: (_f, m) => logs.push(m) }) });
    try {
      const now = Date.now();
      const req = signed(now);
      for (let i = 0; i < 3; i++) {
        const r = await v.verifyRequest(req, now);
        assert.equal(code(r), 'replay_unavailable');
        assert.equal(!r.ok && r.httpStatus, 503);
      }
      assert.equal(logs.length, 1, 'logged once, not per request');
      const up = await new CredentialAuthenticator({ signatures: v }).authenticate(
        { path: '/ws', query: '', headers: new Map(Object.entries(signUpgrade(key.keyId, key.secret, '/ws', { timestampMs: now, nonce: nonce() }))) }, now);
      assert.equal(!up.ok && up.status, 503);
      assert.equal(!up.ok && up.code, 'replay_unavailable');
      // Nothing was recorded: the same request is accepted once a working Redis checks it.
      assert.equal(code(await a.verifyRequest(req, now)), 'ok');
      // A bad signature is still refused as such before the nonce store is asked.
      const forged = { ...req, headers: { ...req.headers, 'x-te-signature': '0'.repeat(64) } };
      assert.equal(code(await v.verifyRequest(forged, now)), 'bad_signature');
    } finally {
      await dead.close();
    }
  });

  it('fails closed on a bus that was closed, too', async () => {
    const bus = await connected(new RedisBus({ url: URL_, prefix }));
    const guard = new RedisReplayGuard(bus);
    assert.equal(await guard.checkAndRemember(`k:${nonce()}`, Date.now() + 5000, Date.now()), 'fresh');
    await bus.close();
    assert.equal(await guard.checkAndRemember(`k:${nonce()}`, Date.now() + 5000, Date.now()), 'unavailable');
    assert.deepEqual(guard.counts, { fresh: 1, replayed: 0, unavailable: 1 });
  });
});
