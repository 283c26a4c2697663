// The behaviour every RateLimiter must show, as a reusable check: the memory implementation runs
// it in rate-limit.test.ts; RedisRateLimiter (redis-rate-limit.ts) in redis-rate-limit.test.ts, with
// clock: 'caller' so that the injected times below reach the Lua script.
// Bucket keys are 'k' and 'other'; time starts at 0 ms.

import assert from 'node:assert/strict';
import type { RateLimiter, RateLimitPolicy } from './rate-limit.js';

const POLICY: RateLimitPolicy = { burst: 5, ratePerSecond: 2 };

/** The behaviour any RateLimiter must show (run against Redis too, by passing another factory). */
export async function rateLimiterConformance(make: () => RateLimiter): Promise<void> {
  const l = make();
  for (let i = 0; i < 5; i++) {
    const d = await l.consume('k', POLICY, 0);
    assert.equal(d.allowed, true, `request ${i}`);
    assert.equal(d.remaining, 4 - i);
  }
  const denied = await l.consume('k', POLICY, 0);
  assert.deepEqual(denied, { allowed: false, remaining: 0, retryAfterSeconds: 1, limit: 5 });
  assert.equal((await l.consume('k', POLICY, 499)).allowed, false, '0.998 tokens after 499 ms');
  assert.equal((await l.consume('k', POLICY, 500)).allowed, true, 'one token after 500 ms');
  assert.equal((await l.consume('other', POLICY, 500)).allowed, true, 'buckets are independent');
  const later = await l.consume('k', POLICY, 60_000);
  assert.equal(later.remaining, 4, 'refill stops at the burst');
}

