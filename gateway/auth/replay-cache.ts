// A bounded memory of nonces seen inside the receive window. A nonce is kept until its request's
// timestamp leaves the window (after which the timestamp check rejects a replay anyway), so the
// cache holds at most (signed requests per 2 x window) entries. When it is full of live entries it
// refuses new ones (fail closed: 503) instead of forgetting a live nonce, which would allow a replay;
// per-key rate limits keep an honest deployment far from that.
//
// ReplayCache is one process's memory. With REDIS_URL the gateway uses RedisReplayGuard instead: one
// SET key NX PX per signed request in the Redis every gateway shares, so a request accepted by one
// gateway is refused as a replay by every other. When that Redis does not answer (not connected, an
// error, or no answer within the bus's command timeout) signed requests are refused with 503
// `replay_unavailable` (fail closed): falling back to this process's memory would let a request be
// replayed to a sibling gateway.

export type ReplayVerdict = 'fresh' | 'replayed' | 'full' | 'unavailable';

export interface ReplayGuard {
  /** Records `id` until `expiresAtMs`; 'replayed' if it is already recorded. */
  checkAndRemember(id: string, expiresAtMs: number, nowMs: number): ReplayVerdict | Promise<ReplayVerdict>;
}

/** A guard that answers at once (ReplayCache): the verifier's answers are then synchronous too. */
export interface SyncReplayGuard extends ReplayGuard {
  checkAndRemember(id: string, expiresAtMs: number, nowMs: number): ReplayVerdict;
}

/** The part of persistence/redis.ts's RedisBus this needs. */
export interface SharedNonceStore {
  /** SET NX PX under the store's prefix: true when this call set it, false when it was there, null when the store is not usable. */
  claimOnce(key: string, ttlMs: number): Promise<boolean | null>;
}

export interface RedisReplayGuardOptions {
  /**
   * Kept this much longer than the request's timestamp + window (default 5000 ms): the gateways'
   * clocks may differ, and a gateway whose clock is behind still accepts the timestamp a little later.
   */
  clockSlackMs?: number;
  log?: (fields: Record<string, unknown>, msg: string) => void;
  /** Default 5000 ms: how often "Redis not usable" is logged while it lasts. */
  logIntervalMs?: number;
}

/** Nonces in the Redis every gateway shares (SET NX PX): a replay to any of them is refused. */
export class RedisReplayGuard implements ReplayGuard {
  /** Verdicts by outcome (tests, logs). */
  readonly counts = { fresh: 0, replayed: 0, unavailable: 0 };
  private readonly slackMs: number;
  private degraded = false;
  private lastLogMs = 0;

  constructor(private readonly store: SharedNonceStore, private readonly o: RedisReplayGuardOptions = {}) {
    this.slackMs = o.clockSlackMs ?? 5000;
    if (!(this.slackMs >= 0)) throw new RangeError('clockSlackMs must be >= 0');
  }

  async checkAndRemember(id: string, expiresAtMs: number, nowMs: number): Promise<ReplayVerdict> {
    const ttlMs = Math.max(1, Math.ceil(expiresAtMs - nowMs + this.slackMs));
    let claimed: boolean | null;
    try {
      claimed = await this.store.claimOnce(`nonce:${id}`, ttlMs);
    } catch {
      claimed = null;
    }
    if (claimed === null) {
      this.counts.unavailable++;
      const now = Date.now();
      if (!this.degraded || now - this.lastLogMs >= (this.o.logIntervalMs ?? 5000)) {
        this.lastLogMs = now;
        this.o.log?.({ refused: this.counts.unavailable }, 'signed requests: the shared nonce store (Redis) is not usable; refused (503 replay_unavailable) until it answers');
      }
      this.degraded = true;
      return 'unavailable';
    }
    if (this.degraded) {
      this.degraded = false;
      this.o.log?.({ refused: this.counts.unavailable }, 'signed requests: the shared nonce store (Redis) answers again');
    }
    if (claimed) { this.counts.fresh++; return 'fresh'; }
    this.counts.replayed++;
    return 'replayed';
  }
}

export class ReplayCache implements SyncReplayGuard {
  // Insertion order is close to expiry order (timestamps differ by at most the window), so sweeping
  // from the front removes what has expired in amortized O(1) per insert.
  private readonly expiry = new Map<string, number>();
  private lastFullSweepMs = Number.NEGATIVE_INFINITY;

  constructor(readonly capacity: number = 100_000) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('replay cache capacity must be a positive integer');
  }

  get size(): number {
    return this.expiry.size;
  }

  checkAndRemember(id: string, expiresAtMs: number, nowMs: number): ReplayVerdict {
    const seen = this.expiry.get(id);
    if (seen !== undefined && seen >= nowMs) return 'replayed';
    if (seen !== undefined) this.expiry.delete(id);
    this.sweep(nowMs);
    if (this.expiry.size >= this.capacity) this.sweepAll(nowMs);
    if (this.expiry.size >= this.capacity) return 'full';
    this.expiry.set(id, expiresAtMs);
    return 'fresh';
  }

  private sweep(nowMs: number): void {
    for (const [id, exp] of this.expiry) {
      if (exp >= nowMs) return;
      this.expiry.delete(id);
    }
  }

  /** At most once a second: a full cache must not turn every request into a scan. */
  private sweepAll(nowMs: number): void {
    if (nowMs - this.lastFullSweepMs < 1000) return;
    this.lastFullSweepMs = nowMs;
    for (const [id, exp] of this.expiry) if (exp < nowMs) this.expiry.delete(id);
  }
}
