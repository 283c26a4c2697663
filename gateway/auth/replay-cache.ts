// A bounded memory of nonces seen inside the receive window. A nonce is kept until its request's
// timestamp leaves the window (after which the timestamp check rejects a replay anyway), so the
// cache holds at most (signed requests per 2 x window) entries. When it is full of live entries it
// refuses new ones (fail closed: 503) instead of forgetting a live nonce, which would allow a replay;
// per-key rate limits keep an honest deployment far from that.
//
// One process: with several gateways behind a balancer, the same check belongs in Redis
// (SET key NX PX) so a request cannot be replayed to a sibling gateway.

export type ReplayVerdict = 'fresh' | 'replayed' | 'full';

export interface ReplayGuard {
  /** Records `id` until `expiresAtMs`; 'replayed' if it is already recorded. */
  checkAndRemember(id: string, expiresAtMs: number, nowMs: number): ReplayVerdict;
}

export class ReplayCache implements ReplayGuard {
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
