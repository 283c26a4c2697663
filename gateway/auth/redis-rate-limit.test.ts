// RedisRateLimiter: the conformance check and a step-by-step comparison with tokenBucketStep against
// the real Redis (caller's clock, so time can be injected), Redis's own clock, bad input, and the
// fallback with no Redis at all. Skipped with a message when Redis is unreachable, unless CI=true or
// REDIS_TESTS_REQUIRED=1.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisBus, deleteRedisKeys, redisSkipReason, redisTestUrl } from '../../persistence/redis.js';
import { rateLimiterConformance } from './rate-limit-conformance.js';
import { tokenBucketStep, type BucketState, type RateLimitPolicy } from './rate-limit.js';
import { RedisRateLimiter, type SharedBucketStore } from './redis-rate-limit.js';
import { mulberry32 } from '../../testing/prng.js';

const URL_ = redisTestUrl();
const skip = await redisSkipReason(URL_);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A bus on a fresh key prefix, connected; its keys are deleted afterwards. */
async function withBus(fn: (bus: RedisBus, raw: Redis) => Promise<void>): Promise<void> {
  const prefix = `test:rl:${randomBytes(4).toString('hex')}:`;
  const bus = new RedisBus({ url: URL_, prefix });
  const raw = new Redis(URL_);
  try {
    for (let i = 0; i < 300 && !bus.ready; i++) await sleep(10);
    assert.ok(bus.ready, 'bus connected');
    await fn(bus, raw);
  } finally {
    await bus.close();
    raw.disconnect();
    await deleteRedisKeys(URL_, prefix);
  }
}

const rng = mulberry32;

describe('RedisRateLimiter against Redis', { skip }, () => {
  it('passes the RateLimiter conformance check (caller\'s clock)', async () => {
    await withBus(async (bus) => {
      await rateLimiterConformance(() => new RedisRateLimiter(bus, { clock: 'caller' }));
    });
  });

  it('decides exactly as tokenBucketStep, step by step (random times, costs, clock going back)', async () => {
    await withBus(async (bus) => {
      const l = new RedisRateLimiter(bus, { clock: 'caller' });
      const policy: RateLimitPolicy = { burst: 4, ratePerSecond: 3.7 };
      let ref: BucketState | null = null;
      const next = rng(7);
      let t = 1_000;
      for (let step = 0; step < 300; step++) {
        t += Math.floor(next() * 700) - 100; // now and then the clock goes back
        const cost = [1, 1, 1, 0.5, 2, 3.3][Math.floor(next() * 6)]!;
        ref ??= { tokens: policy.burst, updatedAtMs: t }; // a new bucket starts full at its first call
        const want = tokenBucketStep(ref, policy, t, cost);
        assert.deepEqual(await l.consume('k', policy, t, cost), want, `step ${step} at ${t} ms, cost ${cost}`);
      }
      assert.equal(l.counts.local, 0, 'every decision came from Redis');
    });
  });

  it('keeps the exact token count: 0.7 + 0.1 tokens is below a cost of 0.8, as in tokenBucketStep', async () => {
    // Lua's tostring keeps 14 digits: 0.7999999999999999 stored as "0.8" would let the last call pass.
    await withBus(async (bus) => {
      const l = new RedisRateLimiter(bus, { clock: 'caller' });
      const p: RateLimitPolicy = { burst: 1, ratePerSecond: 1 };
      assert.equal((await l.consume('k', p, 0)).allowed, true);
      assert.equal((await l.consume('k', p, 700, 0.8)).allowed, false);
      assert.equal((await l.consume('k', p, 800, 0.8)).allowed, false, '0.7999999999999999 tokens');
      assert.equal((await l.consume('k', p, 800, 0.8)).allowed, false, 'still below 0.8 once stored');
    });
  });

  it('by default uses Redis\'s clock (the nowMs given is ignored) and expires an idle bucket once full again', async () => {
    await withBus(async (bus, raw) => {
      const l = new RedisRateLimiter(bus);
      const p: RateLimitPolicy = { burst: 3, ratePerSecond: 20 };
      for (let i = 0; i < 3; i++) assert.deepEqual(await l.consume('ip:1.2.3.4', p, 0), { allowed: true, remaining: 2 - i, retryAfterSeconds: 0, limit: 3 });
      assert.deepEqual(await l.consume('ip:1.2.3.4', p, 0), { allowed: false, remaining: 0, retryAfterSeconds: 1, limit: 3 });
      await sleep(120); // >= 2.4 tokens by Redis's clock; the caller's time did not move
      assert.equal((await l.consume('ip:1.2.3.4', p, 0)).allowed, true);
      const ttl = await raw.pttl(`${bus.prefix}rl:ip:1.2.3.4`);
      assert.ok(ttl > 0 && ttl <= 3 * 1000 / 20 + 1000, `PTTL ${ttl}`);
    });
  });

  it('bad policy or cost: rejected with a RangeError, no bucket touched', async () => {
    await withBus(async (bus, raw) => {
      const l = new RedisRateLimiter(bus);
      const p: RateLimitPolicy = { burst: 2, ratePerSecond: 1 };
      await assert.rejects(l.consume('k', p, 0, 0), RangeError);
      await assert.rejects(l.consume('k', p, 0, 3), RangeError);
      await assert.rejects(l.consume('k', { burst: 0, ratePerSecond: 1 }, 0), RangeError);
      await assert.rejects(l.consume('k', { burst: 2, ratePerSecond: 0 }, 0), RangeError);
      assert.equal(await raw.exists(`${bus.prefix}rl:k`), 0);
    });
  });
});

describe('RedisRateLimiter without Redis', () => {
  it('with no server at all: the local buckets pass the conformance check, promptly, logged once', async () => {
    const logs: string[] = [];
    const bus = new RedisBus({ url: 'redis://127.0.0.1:1', prefix: 'test:none:', commandTimeoutMs: 100, log: () => {} });
    try {
      const t0 = performance.now();
      let made: RedisRateLimiter | null = null;
      await rateLimiterConformance(() => (made = new RedisRateLimiter(bus, { clock: 'caller', logIntervalMs: 60_000, log: (_f, m) => logs.push(m) })));
      assert.ok(performance.now() - t0 < 1000, 'no call waited on Redis');
      assert.ok(made!.counts.local >= 10 && made!.counts.shared === 0);
      assert.equal(logs.length, 1, `one log line for ${made!.counts.local} local decisions: ${JSON.stringify(logs)}`);
    } finally {
      await bus.close();
    }
  });

  it('logs the fallback at most once per interval while it lasts, and once when Redis answers again', async () => {
    let up = false;
    const store: SharedBucketStore = { sharedBucket: async () => (up ? { allowed: true, tokens: 4 } : null) };
    const logs: { f: Record<string, unknown>; m: string }[] = [];
    const l = new RedisRateLimiter(store, { logIntervalMs: 40, log: (f, m) => logs.push({ f, m }) });
    const p: RateLimitPolicy = { burst: 5, ratePerSecond: 1 };
    for (let i = 0; i < 20; i++) await l.consume('k', p, 0);
    assert.equal(logs.length, 1);
    assert.equal(logs[0]!.f['localDecisionsSinceLastLog'], 1);
    await sleep(60);
    for (let i = 0; i < 5; i++) await l.consume('k', p, 0);
    assert.equal(logs.length, 2, 'again after the interval');
    assert.equal(logs[1]!.f['localDecisionsSinceLastLog'], 20, '19 silent ones before it, and itself');
    assert.deepEqual((await l.consume('k', p, 0)), { allowed: false, remaining: 0, retryAfterSeconds: 1, limit: 5 }, 'the 26th local request: the local bucket is empty');
    up = true;
    assert.deepEqual(await l.consume('k', p, 0), { allowed: true, remaining: 4, retryAfterSeconds: 0, limit: 5 });
    await l.consume('k', p, 0);
    assert.equal(logs.length, 3);
    assert.match(logs[2]!.m, /shared through Redis again/);
    assert.deepEqual(l.counts, { shared: 2, local: 26 });
  });
});
