// Redis adapter (ioredis): market data and account updates published to channels (cross-gateway
// fan-out), top-of-book and ticker caches, and a token-bucket rate limiter shared by every instance
// (a Lua script, atomic in Redis, using Redis's clock).
//
// Degrades, never blocks, never crashes: the offline queue is off, so a command while Redis is down
// fails at once instead of queueing; every command has a timeout (commandTimeoutMs); publishes are
// fire-and-forget and counted as dropped when Redis is not ready; reads answer null; the rate
// limiter falls back to an in-process token bucket with the same parameters (at most 100,000 of
// them, least recently used dropped first). Errors are logged at most once per logIntervalMs.
// ioredis reconnects by itself (backoff up to 2 s) and resubscribes.

import { Redis } from 'ioredis';

export interface RedisBusOptions {
  url: string;
  /** Key and channel prefix. Default 'te:'. */
  prefix?: string;
  /** Default 250 ms. */
  commandTimeoutMs?: number;
  /** Default 5000 ms. */
  logIntervalMs?: number;
  log?: (fields: Record<string, unknown>, msg: string) => void;
  /** Cache entries expire after this (0 = never). Default 0. */
  cacheTtlMs?: number;
}

export interface TopOfBook {
  bidPriceTicks: number;
  bidQtyLots: number;
  askPriceTicks: number;
  askQtyLots: number;
  tsUs: number;
}

export interface RateLimitResult {
  allowed: boolean;
  /** Tokens left after this call (may be fractional). */
  remaining: number;
  /** When denied: milliseconds until `cost` tokens are there. */
  retryAfterMs: number;
  /** 'redis' = the shared bucket; 'local' = this process's fallback (Redis unavailable). */
  source: 'redis' | 'local';
}

/** One call on the shared bucket (see RedisBus.sharedBucket). */
export interface SharedBucketResult {
  allowed: boolean;
  /** Tokens left after this call, exactly as stored in Redis (fractional). */
  tokens: number;
  retryAfterMs: number;
}

/** A ticker as cached: the REST ticker's JSON (decimal strings, null for an empty side). */
export type CachedTicker = Record<string, string | number | null>;

/** Most fallback buckets kept in memory; the least recently used goes first (it comes back full). */
const MAX_LOCAL_BUCKETS = 100_000;

export interface RedisBusStats {
  ready: boolean;
  published: number;
  dropped: number;
  errors: number;
  localRateLimits: number;
}

// KEYS[1] bucket; ARGV capacity, refill tokens per second, cost, and the time in ms ('' = Redis's
// own clock, TIME). Returns {allowed, tokens, retryMs}. The same rule as gateway/auth/rate-limit.ts's
// tokenBucketStep: a new bucket starts full; a clock that goes back adds no tokens; a refused call
// spends nothing. Tokens are stored and returned with '%.17g' (Lua's tostring keeps only 14 digits,
// which would round a bucket a hair below `cost` up to `cost` and let a request through that the
// reference refuses). The key expires once the bucket would be full again (then it is as new).
const TOKEN_BUCKET_LUA = `
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then tokens = cap; ts = now end
if now > ts then tokens = math.min(cap, tokens + (now - ts) * rate / 1000) end
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.ceil((cost - tokens) * 1000 / rate)
end
local exact = string.format('%.17g', tokens)
redis.call('HSET', KEYS[1], 'tokens', exact, 'ts', string.format('%.17g', math.max(now, ts)))
redis.call('PEXPIRE', KEYS[1], math.ceil(cap * 1000 / rate) + 1000)
return {allowed, exact, retry}
`;

type BucketRedis = Redis & { tokenBucket(key: string, cap: number, rate: number, cost: number, nowMs: number | ''): Promise<[number, string, number]> };

interface LocalBucket { tokens: number; tsMs: number }

export class RedisBus {
  readonly prefix: string;
  private readonly o: RedisBusOptions;
  private readonly client: BucketRedis;
  private subscriber: Redis | null = null;
  private readonly handlers = new Map<string, Set<(message: string, channel: string) => void>>();
  private readonly local = new Map<string, LocalBucket>();
  private lastLogMs = 0;
  private closed = false;
  private readonly stats = { published: 0, dropped: 0, errors: 0, localRateLimits: 0 };

  constructor(o: RedisBusOptions) {
    this.o = o;
    this.prefix = o.prefix ?? 'te:';
    this.client = this.newClient() as BucketRedis;
    this.client.defineCommand('tokenBucket', { numberOfKeys: 1, lua: TOKEN_BUCKET_LUA });
  }

  private newClient(): Redis {
    const c = new Redis(this.o.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.o.commandTimeoutMs ?? 250,
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      reconnectOnError: () => false,
      lazyConnect: false,
    });
    c.on('error', (e: Error) => this.failed(e, 'connection'));
    c.on('close', () => { if (!this.closed) this.failed(new Error('connection closed'), 'connection'); });
    return c;
  }

  private failed(e: unknown, what: string): void {
    this.stats.errors++;
    const now = Date.now();
    if (now - this.lastLogMs >= (this.o.logIntervalMs ?? 5000)) {
      this.lastLogMs = now;
      this.o.log?.({ err: (e as Error)?.message ?? String(e), what, errors: this.stats.errors }, 'redis unavailable: degraded');
    }
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  status(): RedisBusStats {
    return { ready: this.ready, ...this.stats };
  }

  marketDataChannel(symbol: string): string {
    return `${this.prefix}md:${symbol}`;
  }

  accountChannel(account: number): string {
    return `${this.prefix}acct:${account}`;
  }

  /** Fire-and-forget publish; false (and counted as dropped) when Redis is not ready. */
  publish(channel: string, message: string | Buffer): boolean {
    if (this.closed || !this.ready) { this.stats.dropped++; return false; }
    this.stats.published++;
    this.client.publish(channel, message).catch((e: unknown) => { this.stats.dropped++; this.failed(e, 'publish'); });
    return true;
  }

  publishMarketData(symbol: string, message: string | Buffer | object): boolean {
    return this.publish(this.marketDataChannel(symbol), encode(message));
  }

  publishAccountUpdate(account: number, message: string | Buffer | object): boolean {
    return this.publish(this.accountChannel(account), encode(message));
  }

  /** Messages of a channel (from every instance). Subscriptions survive reconnects. */
  async subscribe(channel: string, handler: (message: string, channel: string) => void): Promise<void> {
    if (this.subscriber === null) {
      const s = new Redis(this.o.url, {
        connectTimeout: 2000, retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000), autoResubscribe: true,
        maxRetriesPerRequest: null,
      });
      s.on('error', (e: Error) => this.failed(e, 'subscriber'));
      s.on('message', (ch: string, msg: string) => {
        for (const h of this.handlers.get(ch) ?? []) {
          try { h(msg, ch); } catch (e) { this.failed(e, 'subscriber handler'); }
        }
      });
      this.subscriber = s;
    }
    let set = this.handlers.get(channel);
    if (set === undefined) {
      set = new Set();
      this.handlers.set(channel, set);
      await this.subscriber.subscribe(channel);
    }
    set.add(handler);
  }

  private setJson(key: string, value: object, ttlMs?: number): boolean {
    if (this.closed || !this.ready) { this.stats.dropped++; return false; }
    const ttl = ttlMs ?? this.o.cacheTtlMs ?? 0;
    const p = ttl > 0 ? this.client.set(key, JSON.stringify(value), 'PX', ttl) : this.client.set(key, JSON.stringify(value));
    p.catch((e: unknown) => { this.stats.dropped++; this.failed(e, 'set'); });
    return true;
  }

  private async getJson<T>(key: string): Promise<T | null> {
    if (this.closed || !this.ready) return null;
    try {
      const v = await this.client.get(key);
      return v === null ? null : (JSON.parse(v) as T);
    } catch (e) {
      this.failed(e, 'get');
      return null;
    }
  }

  /** `ttlMs` overrides the bus's cacheTtlMs for this write. */
  setTopOfBook(symbol: string, tob: TopOfBook, ttlMs?: number): boolean {
    return this.setJson(`${this.prefix}tob:${symbol}`, tob, ttlMs);
  }

  getTopOfBook(symbol: string): Promise<TopOfBook | null> {
    return this.getJson<TopOfBook>(`${this.prefix}tob:${symbol}`);
  }

  setTicker(symbol: string, ticker: CachedTicker, ttlMs?: number): boolean {
    return this.setJson(`${this.prefix}ticker:${symbol}`, ticker, ttlMs);
  }

  getTicker(symbol: string): Promise<CachedTicker | null> {
    return this.getJson(`${this.prefix}ticker:${symbol}`);
  }

  /**
   * Token bucket `key`: `capacity` tokens, refilled at `refillPerSec`; takes `cost` when there are
   * enough. Shared by every instance through Redis; this process's own bucket when Redis is not usable.
   */
  async rateLimit(key: string, capacity: number, refillPerSec: number, cost = 1): Promise<RateLimitResult> {
    const shared = await this.sharedBucket(key, capacity, refillPerSec, cost);
    if (shared !== null) return { allowed: shared.allowed, remaining: shared.tokens, retryAfterMs: shared.retryAfterMs, source: 'redis' };
    return this.localBucket(key, capacity, refillPerSec, cost);
  }

  /**
   * The shared token bucket `${prefix}rl:${key}` only: null when Redis is not usable (not connected,
   * closed, or the call failed or timed out after commandTimeoutMs; failures are logged at most once
   * per logIntervalMs), so the caller picks its own fallback. `nowMs` replaces Redis's clock (tests
   * that inject time); leave it out in production, where instances' clocks may disagree.
   */
  async sharedBucket(key: string, capacity: number, refillPerSec: number, cost = 1, nowMs?: number): Promise<SharedBucketResult | null> {
    if (!(capacity > 0) || !(refillPerSec > 0) || !(cost >= 0)) throw new RangeError('rateLimit: capacity and refillPerSec must be > 0, cost >= 0');
    if (nowMs !== undefined && !Number.isFinite(nowMs)) throw new RangeError(`rateLimit: nowMs must be finite, got ${nowMs}`);
    if (this.closed || !this.ready) return null;
    try {
      const [allowed, tokens, retry] = await this.client.tokenBucket(`${this.prefix}rl:${key}`, capacity, refillPerSec, cost, nowMs ?? '');
      return { allowed: allowed === 1, tokens: Number(tokens), retryAfterMs: retry };
    } catch (e) {
      this.failed(e, 'rateLimit');
      return null;
    }
  }

  /**
   * SET `${prefix}${key}` NX PX ttlMs (gateway/auth/replay-cache.ts's shared nonces): true when this
   * call set it, false when it was already there, null when Redis is not usable (not connected,
   * closed, or the call failed or timed out after commandTimeoutMs). No local fallback: the caller
   * decides (the nonce check fails closed).
   */
  async claimOnce(key: string, ttlMs: number): Promise<boolean | null> {
    if (!(ttlMs >= 1) || !Number.isFinite(ttlMs)) throw new RangeError(`claimOnce: ttlMs must be >= 1, got ${ttlMs}`);
    if (this.closed || !this.ready) return null;
    try {
      return (await this.client.set(`${this.prefix}${key}`, '1', 'PX', Math.ceil(ttlMs), 'NX')) === 'OK';
    } catch (e) {
      this.failed(e, 'claimOnce');
      return null;
    }
  }

  private localBucket(key: string, capacity: number, rate: number, cost: number): RateLimitResult {
    this.stats.localRateLimits++;
    const now = Date.now();
    let b = this.local.get(key);
    if (b !== undefined) {
      this.local.delete(key); // re-inserted below: Map order = recency
    } else {
      b = { tokens: capacity, tsMs: now };
      if (this.local.size >= MAX_LOCAL_BUCKETS) this.local.delete(this.local.keys().next().value!);
    }
    this.local.set(key, b);
    if (now > b.tsMs) { b.tokens = Math.min(capacity, b.tokens + ((now - b.tsMs) * rate) / 1000); b.tsMs = now; }
    if (b.tokens >= cost) { b.tokens -= cost; return { allowed: true, remaining: b.tokens, retryAfterMs: 0, source: 'local' }; }
    return { allowed: false, remaining: b.tokens, retryAfterMs: Math.ceil(((cost - b.tokens) * 1000) / rate), source: 'local' };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of [this.client, this.subscriber]) {
      if (c === null) continue;
      try { await Promise.race([c.quit(), new Promise((r) => setTimeout(r, 500))]); } catch { /* already gone */ }
      c.disconnect();
    }
  }
}

function encode(m: string | Buffer | object): string | Buffer {
  return typeof m === 'string' || Buffer.isBuffer(m) ? m : JSON.stringify(m);
}

/** True when Redis answers PING within timeoutMs. Never throws. */
/** For tests: the Redis to use (TEST_REDIS_URL, REDIS_URL, else the local one). */
export function redisTestUrl(): string {
  return process.env['TEST_REDIS_URL'] ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
}

/**
 * For tests: undefined when Redis answers, else the reason to skip (printed). CI=true or
 * REDIS_TESTS_REQUIRED=1 turn "unreachable" into a failure instead of a skip.
 */
export async function redisSkipReason(url = redisTestUrl()): Promise<string | undefined> {
  if (await redisReachable(url)) return undefined;
  const msg = `Redis not reachable at ${url} (1.5 s timeout): test skipped`;
  if (process.env['REDIS_TESTS_REQUIRED'] === '1' || process.env['CI'] === 'true') throw new Error(msg.replace('test skipped', 'required (CI=true or REDIS_TESTS_REQUIRED=1)'));
  process.stderr.write(`# ${msg}\n`);
  return msg;
}

/** Tests: deletes every key under `prefix` (a test's own random prefix) with a short-lived connection. */
export async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const c = new Redis(url);
  try {
    const keys = await c.keys(`${prefix}*`);
    if (keys.length > 0) await c.del(...keys);
  } finally {
    c.disconnect();
  }
}

export async function redisReachable(url: string, timeoutMs = 1500): Promise<boolean> {
  const c = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}
