// A RateLimiter whose buckets live in Redis (persistence/redis.ts's Lua token bucket), so that every
// gateway sharing one Redis enforces one bucket per IP and per key instead of one per instance.
//
// Same rule and same RateDecision as tokenBucketStep (rate-limit.ts); the Lua script returns the
// bucket's exact token count and the decision is derived from it here, as tokenBucketStep does.
// What differs:
// - Time: by default the bucket's clock is Redis's (TIME), not the caller's nowMs, so instances with
//   skewed clocks still agree; nowMs is then used only by the fallback. clock: 'caller' passes nowMs
//   to the script instead (the conformance check injects time that way).
// - Expiry: an untouched bucket's key expires once it would be full again (burst / rate + 1 s of
//   Redis time), which changes nothing for a real clock (it comes back full either way).
// - When Redis is not usable (not connected, an error, or no answer within the bus's command
//   timeout) the decision comes from this instance's own MemoryRateLimiter with the same policy: the
//   limits then hold per instance only. That is logged when it starts, then at most once per
//   logIntervalMs while it lasts, and once when Redis answers again; never once per request.

import { checkPolicy, MemoryRateLimiter, type RateDecision, type RateLimiter, type RateLimitPolicy } from './rate-limit.js';

/** The part of persistence/redis.ts's RedisBus this needs. */
export interface SharedBucketStore {
  sharedBucket(key: string, capacity: number, refillPerSec: number, cost?: number, nowMs?: number): Promise<{ allowed: boolean; tokens: number } | null>;
}

export interface RedisRateLimiterOptions {
  /** 'redis' (default): Redis's clock; 'caller': the nowMs given to consume. */
  clock?: 'redis' | 'caller';
  /** Buckets used while Redis is not usable. Default: a new MemoryRateLimiter. */
  fallback?: MemoryRateLimiter;
  /** Default 5000 ms. */
  logIntervalMs?: number;
  log?: (fields: Record<string, unknown>, msg: string) => void;
}

export class RedisRateLimiter implements RateLimiter {
  private readonly fallback: MemoryRateLimiter;
  private readonly callerClock: boolean;
  private degraded = false;
  private lastLogMs = 0;
  private localSinceLog = 0;
  /** Decisions taken by the shared bucket and by the local fallback (tests, metrics). */
  readonly counts = { shared: 0, local: 0 };

  constructor(private readonly store: SharedBucketStore, private readonly o: RedisRateLimiterOptions = {}) {
    this.fallback = o.fallback ?? new MemoryRateLimiter();
    this.callerClock = o.clock === 'caller';
  }

  /** Rejects with a RangeError (and touches no bucket) for a bad policy or cost. */
  async consume(bucketKey: string, policy: RateLimitPolicy, nowMs: number, cost = 1): Promise<RateDecision> {
    checkPolicy(policy);
    if (!(cost > 0 && cost <= policy.burst)) throw new RangeError(`cost ${cost} must be in (0, burst ${policy.burst}]`);
    const r = await this.store.sharedBucket(bucketKey, policy.burst, policy.ratePerSecond, cost, this.callerClock ? nowMs : undefined);
    if (r === null) {
      this.counts.local++;
      this.noteDegraded();
      return this.fallback.consumeSync(bucketKey, policy, nowMs, cost);
    }
    this.counts.shared++;
    if (this.degraded) {
      this.degraded = false;
      this.o.log?.({ localDecisionsSinceLastLog: this.localSinceLog, localDecisionsTotal: this.counts.local }, 'rate limits: shared through Redis again');
      this.localSinceLog = 0;
    }
    return decisionOf(r.allowed, r.tokens, policy, cost);
  }

  private noteDegraded(): void {
    this.localSinceLog++;
    const now = Date.now();
    if (this.degraded && now - this.lastLogMs < (this.o.logIntervalMs ?? 5000)) return;
    this.degraded = true;
    this.lastLogMs = now;
    this.o.log?.({ localDecisionsSinceLastLog: this.localSinceLog, localDecisionsTotal: this.counts.local }, 'rate limits: Redis not usable; this instance\'s own buckets decide (limits hold per instance only)');
    this.localSinceLog = 0;
  }
}

/** tokenBucketStep's decision, from the tokens left after the call. */
function decisionOf(allowed: boolean, tokens: number, policy: RateLimitPolicy, cost: number): RateDecision {
  const remaining = Math.floor(tokens);
  if (allowed) return { allowed: true, remaining, retryAfterSeconds: 0, limit: policy.burst };
  return { allowed: false, remaining, retryAfterSeconds: Math.max(1, Math.ceil((cost - tokens) / policy.ratePerSecond)), limit: policy.burst };
}
