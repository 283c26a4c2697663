// Rate limits: token buckets, one per key and one per client IP.
//
// A bucket holds up to `burst` tokens and gains `ratePerSecond` tokens per second. A request of cost
// c passes when the bucket holds at least c tokens, which it then spends; otherwise it is refused
// with retryAfterSeconds = ceil((c - tokens) / ratePerSecond), the value for a 429's Retry-After.
// A refused request spends nothing. Time is passed in (no clock reads), in milliseconds; a clock
// that goes back adds no tokens.
//
// `tokenBucketStep` is the whole rule as a pure function: the Redis implementation (a Lua script in
// persistence/redis.ts) must compute the same thing, and rate-limit-conformance.ts checks any
// `RateLimiter` against it.

export interface RateLimitPolicy {
  /** Bucket capacity: the largest burst, in tokens (requests of cost 1). */
  readonly burst: number;
  /** Refill rate, tokens per second (may be fractional, e.g. 0.2 = one per 5 s). */
  readonly ratePerSecond: number;
}

export interface BucketState {
  tokens: number;
  updatedAtMs: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** Whole tokens left after this request. */
  readonly remaining: number;
  /** 0 when allowed; otherwise seconds until the request would pass (>= 1). */
  readonly retryAfterSeconds: number;
  readonly limit: number;
}

/** Pluggable store: in memory here, Redis for several gateways. */
export interface RateLimiter {
  consume(bucketKey: string, policy: RateLimitPolicy, nowMs: number, cost?: number): Promise<RateDecision>;
}

export function checkPolicy(p: RateLimitPolicy): void {
  if (!(Number.isFinite(p.burst) && p.burst >= 1)) throw new RangeError(`rate limit burst must be >= 1, got ${p.burst}`);
  if (!(Number.isFinite(p.ratePerSecond) && p.ratePerSecond > 0)) throw new RangeError(`rate limit rate must be > 0, got ${p.ratePerSecond}`);
}

/** Applies one request to `state` (mutated) and returns the decision. */
export function tokenBucketStep(state: BucketState, policy: RateLimitPolicy, nowMs: number, cost = 1): RateDecision {
  if (!(cost > 0 && cost <= policy.burst)) throw new RangeError(`cost ${cost} must be in (0, burst ${policy.burst}]`);
  const elapsedMs = Math.max(0, nowMs - state.updatedAtMs);
  state.tokens = Math.min(policy.burst, state.tokens + (elapsedMs * policy.ratePerSecond) / 1000);
  state.updatedAtMs = Math.max(state.updatedAtMs, nowMs);
  if (state.tokens >= cost) {
    state.tokens -= cost;
    return { allowed: true, remaining: Math.floor(state.tokens), retryAfterSeconds: 0, limit: policy.burst };
  }
  const retryAfterSeconds = Math.max(1, Math.ceil((cost - state.tokens) / policy.ratePerSecond));
  return { allowed: false, remaining: Math.floor(state.tokens), retryAfterSeconds, limit: policy.burst };
}

/** A bucket in the limiter's recency list (most recent at `head`). */
interface LruBucket extends BucketState {
  key: string;
  /** Towards the least recently used; null at the tail. */
  older: LruBucket | null;
  /** Towards the most recently used; null at the head. */
  newer: LruBucket | null;
}

/**
 * Buckets in a Map, at most `maxBuckets` of them; the least recently used is dropped when full (a
 * dropped bucket comes back full, which only ever favours the client).
 *
 * Recency is a doubly linked list through the buckets themselves: a use moves the bucket to the head
 * by relinking (nothing at all when it is already there, as for a busy keep-alive client), where
 * deleting and re-inserting the Map entry on every request left holes in the Map's table and
 * rebuilt the table every few requests (the largest source of memory promoted per REST order).
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, LruBucket>();
  /** Most and least recently used. */
  private head: LruBucket | null = null;
  private tail: LruBucket | null = null;

  constructor(readonly maxBuckets = 100_000) {}

  get size(): number {
    return this.buckets.size;
  }

  consume(bucketKey: string, policy: RateLimitPolicy, nowMs: number, cost = 1): Promise<RateDecision> {
    return Promise.resolve(this.consumeSync(bucketKey, policy, nowMs, cost));
  }

  consumeSync(bucketKey: string, policy: RateLimitPolicy, nowMs: number, cost = 1): RateDecision {
    let b = this.buckets.get(bucketKey);
    if (b !== undefined) {
      if (b !== this.head) {
        this.unlink(b);
        this.pushHead(b);
      }
    } else {
      if (this.buckets.size >= this.maxBuckets && this.tail !== null) {
        const lru = this.tail;
        this.unlink(lru);
        this.buckets.delete(lru.key);
      }
      b = { tokens: policy.burst, updatedAtMs: nowMs, key: bucketKey, older: null, newer: null };
      this.buckets.set(bucketKey, b);
      this.pushHead(b);
    }
    return tokenBucketStep(b, policy, nowMs, cost);
  }

  private unlink(b: LruBucket): void {
    if (b.newer !== null) b.newer.older = b.older; else this.head = b.older;
    if (b.older !== null) b.older.newer = b.newer; else this.tail = b.newer;
    b.older = null;
    b.newer = null;
  }

  private pushHead(b: LruBucket): void {
    b.older = this.head;
    b.newer = null;
    if (this.head !== null) this.head.newer = b; else this.tail = b;
    this.head = b;
  }
}

export interface RequestLimitsConfig {
  /** Per client IP, for every request (signed or not, including logins). */
  readonly perIp: RateLimitPolicy;
  /** Per API key or per user session, after authentication. */
  readonly perKey: RateLimitPolicy;
}

export const DEFAULT_REQUEST_LIMITS: RequestLimitsConfig = {
  perIp: { burst: 200, ratePerSecond: 100 },
  perKey: { burst: 100, ratePerSecond: 50 },
};

/** The two buckets a gateway checks: the IP's before parsing, then the key's after authentication. */
export class RequestRateLimits {
  constructor(private readonly limiter: RateLimiter, private readonly config: RequestLimitsConfig = DEFAULT_REQUEST_LIMITS) {
    checkPolicy(config.perIp);
    checkPolicy(config.perKey);
  }

  checkIp(ip: string, nowMs: number, cost = 1): Promise<RateDecision> {
    return this.limiter.consume(`ip:${ip}`, this.config.perIp, nowMs, cost);
  }

  /** `credential` is an API key id or "user:<id>" for a session. */
  checkKey(credential: string, nowMs: number, cost = 1): Promise<RateDecision> {
    return this.limiter.consume(`key:${credential}`, this.config.perKey, nowMs, cost);
  }
}
