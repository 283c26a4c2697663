import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_REQUEST_LIMITS, MemoryRateLimiter, RequestRateLimits, checkPolicy, tokenBucketStep, type BucketState, type RateLimitPolicy } from './rate-limit.js';
import { rateLimiterConformance } from './rate-limit-conformance.js';

const POLICY: RateLimitPolicy = { burst: 5, ratePerSecond: 2 };

describe('token bucket', () => {
  it('conformance of the memory implementation', async () => {
    await rateLimiterConformance(() => new MemoryRateLimiter());
  });

  it('exhaustion then refill, step by step (time passed in, no sleeping)', () => {
    const l = new MemoryRateLimiter();
    const p = { burst: 3, ratePerSecond: 1 };
    assert.deepEqual([0, 0, 0, 0].map((t) => l.consumeSync('a', p, t).allowed), [true, true, true, false]);
    assert.equal(l.consumeSync('a', p, 999).allowed, false);
    assert.equal(l.consumeSync('a', p, 1000).allowed, true);
    assert.equal(l.consumeSync('a', p, 1000).allowed, false);
    assert.equal(l.consumeSync('a', p, 3999).remaining, 1, '2.999 tokens -> spend one -> 1 whole left');
  });

  it('Retry-After is the whole seconds until the request would pass', () => {
    const slow = { burst: 2, ratePerSecond: 0.2 }; // one token per 5 s
    const l = new MemoryRateLimiter();
    l.consumeSync('s', slow, 0);
    l.consumeSync('s', slow, 0);
    assert.equal(l.consumeSync('s', slow, 0).retryAfterSeconds, 5);
    assert.equal(l.consumeSync('s', slow, 2500).retryAfterSeconds, 3, '2.5 s left -> 3');
    assert.equal(l.consumeSync('s', slow, 5000).allowed, true);
    const fast = { burst: 10, ratePerSecond: 1000 };
    for (let i = 0; i < 10; i++) l.consumeSync('f', fast, 0);
    assert.equal(l.consumeSync('f', fast, 0).retryAfterSeconds, 1, 'never 0 when refused');
  });

  it('a refused request costs nothing; costs above 1 work', () => {
    const l = new MemoryRateLimiter();
    const p = { burst: 10, ratePerSecond: 1 };
    assert.equal(l.consumeSync('c', p, 0, 8).allowed, true);
    const d = l.consumeSync('c', p, 0, 3);
    assert.equal(d.allowed, false);
    assert.equal(d.retryAfterSeconds, 1);
    assert.equal(l.consumeSync('c', p, 0, 2).allowed, true, 'the refused 3 did not spend');
    assert.throws(() => l.consumeSync('c', p, 0, 11), RangeError);
    assert.throws(() => l.consumeSync('c', p, 0, 0), RangeError);
  });

  it('a clock that goes back adds nothing', () => {
    const s = { tokens: 0, updatedAtMs: 10_000 };
    assert.equal(tokenBucketStep(s, POLICY, 5_000).allowed, false);
    assert.equal(s.updatedAtMs, 10_000);
    assert.equal(tokenBucketStep(s, POLICY, 10_499).allowed, false);
    assert.equal(tokenBucketStep(s, POLICY, 10_500).allowed, true);
  });

  it('keeps at most maxBuckets, dropping the least recently used', () => {
    const l = new MemoryRateLimiter(3);
    const p = { burst: 1, ratePerSecond: 0.001 };
    for (const k of ['a', 'b', 'c']) l.consumeSync(k, p, 0);
    l.consumeSync('a', p, 1); // a is now the most recent
    l.consumeSync('d', p, 2); // evicts b
    assert.equal(l.size, 3);
    assert.equal(l.consumeSync('a', p, 3).allowed, false, 'a kept its empty bucket');
    assert.equal(l.consumeSync('b', p, 3).allowed, true, 'b was dropped and comes back full');
  });

  it('evicts exactly as a Map kept in recency order would (randomized against that model)', () => {
    // The model: the former implementation, Map order = recency (delete and re-insert on every use).
    for (let seed = 1; seed <= 20; seed++) {
      let x = seed;
      const rnd = (n: number): number => { x = (x * 1103515245 + 12345) % 2147483648; return x % n; };
      const max = 1 + rnd(6);
      const l = new MemoryRateLimiter(max);
      const model = new Map<string, BucketState>();
      const p = { burst: 3, ratePerSecond: 0.5 };
      for (let t = 0; t < 2000; t++) {
        const key = `k${rnd(max + 4)}`, now = t * 100;
        let b = model.get(key);
        if (b) model.delete(key);
        else {
          b = { tokens: p.burst, updatedAtMs: now };
          if (model.size >= max) model.delete(model.keys().next().value!);
        }
        model.set(key, b);
        assert.deepEqual(l.consumeSync(key, p, now), tokenBucketStep(b, p, now), `seed ${seed} step ${t}`);
        assert.equal(l.size, model.size);
      }
    }
  });

  it('policies are validated', () => {
    assert.throws(() => checkPolicy({ burst: 0, ratePerSecond: 1 }), RangeError);
    assert.throws(() => checkPolicy({ burst: 1, ratePerSecond: 0 }), RangeError);
    assert.throws(() => checkPolicy({ burst: Number.NaN, ratePerSecond: 1 }), RangeError);
    assert.throws(() => new RequestRateLimits(new MemoryRateLimiter(), { perIp: { burst: 1, ratePerSecond: -1 }, perKey: POLICY }), RangeError);
  });

  it('per IP and per key buckets are separate and configurable', async () => {
    const limits = new RequestRateLimits(new MemoryRateLimiter(), { perIp: { burst: 2, ratePerSecond: 1 }, perKey: { burst: 1, ratePerSecond: 1 } });
    assert.equal((await limits.checkIp('198.51.100.1', 0)).allowed, true);
    assert.equal((await limits.checkIp('198.51.100.1', 0)).allowed, true);
    const ip = await limits.checkIp('198.51.100.1', 0);
    assert.equal(ip.allowed, false);
    assert.equal(ip.retryAfterSeconds, 1);
    assert.equal((await limits.checkIp('198.51.100.2', 0)).allowed, true);
    assert.equal((await limits.checkKey('ak_1', 0)).allowed, true);
    assert.equal((await limits.checkKey('ak_1', 0)).allowed, false);
    assert.equal((await limits.checkKey('ak_2', 0)).allowed, true);
    assert.ok(DEFAULT_REQUEST_LIMITS.perIp.burst > 0);
  });
});
