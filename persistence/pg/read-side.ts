// The read side of `npm start`: PostgreSQL replication of the running engine (migrations, the
// engine's replication source, the replicator) and the Redis fan-out bus. Both are optional
// (DATABASE_URL, REDIS_URL) and neither can stop or slow the engine: the replicator runs its own
// async loop over a bounded buffer that overflows into journal catch-up, and Redis publishes are
// fire-and-forget (persistence/redis.ts). Registered per engine for /metrics and /ready
// (read-status.ts).

import type { Ack, Engine } from '../../gateway/engine.js';
import type { LedgerOptions } from '../../gateway/ledger.js';
import { RedisBus } from '../redis.js';
import { connect } from './db.js';
import { EngineReplicationSource } from './engine-source.js';
import { migrate } from './migrate.js';
import { attachReadSide } from './read-status.js';
import { Replicator, type ReplicationLag } from './replicator.js';

export interface ReadSideOptions {
  engine: Engine;
  databaseUrl: string | null;
  redisUrl: string | null;
  /** search_path schema (tests). */
  schema?: string;
  /** /ready fails while the replication lag is above this. Default 30 s. */
  maxLagSeconds?: number;
  /** Live buffer bound in event records (engine-source.ts). */
  maxBufferedEvents?: number;
  ledger?: Partial<LedgerOptions>;
  /** Replicator name (checkpoint row). Default 'engine'. */
  name?: string;
  applicationName?: string;
  retryMaxMs?: number;
  log?: (fields: Record<string, unknown>, msg: string) => void;
}

export class ReadSide {
  constructor(
    readonly engine: Engine,
    readonly source: EngineReplicationSource | null,
    readonly replicator: Replicator | null,
    readonly redis: RedisBus | null,
    readonly maxLagSeconds: number,
    private readonly cancelStart: () => void = () => {},
    /** Resolves once the migrations ran and the replicator started (or start was cancelled). */
    readonly started: Promise<void> = Promise.resolve(),
  ) {}

  /** Put this in the engine's ack chain (it only copies into a bounded buffer). */
  readonly onAck = (ack: Ack): void => { this.source?.onAck(ack); };

  lag(): ReplicationLag | null {
    return this.replicator?.lag() ?? null;
  }

  /** Waits until PostgreSQL holds every acked seq (tests, shutdown). */
  async caughtUp(timeoutMs = 30_000): Promise<void> {
    if (this.replicator === null || this.source === null) return;
    await this.replicator.waitFor(this.source.headSeq(), timeoutMs);
  }

  /**
   * Stops after the engine: lets the replicator catch up for at most `drainMs` (what it does not
   * write is caught up from the journal at the next start), then stops it and closes Redis.
   */
  async stop(drainMs = 5000): Promise<void> {
    this.cancelStart();
    if (this.replicator !== null) {
      if (drainMs > 0 && this.replicator.lag().connected) await this.caughtUp(drainMs).catch(() => {});
      await this.replicator.stop();
    }
    this.source?.onData(null);
    await this.redis?.close().catch(() => {});
    attachReadSide(this.engine, null);
  }
}

/**
 * Creates the replication source at once, runs the migrations (in the background, retried while
 * PostgreSQL is unreachable) and then starts the replicator; opens the Redis bus. Call it after
 * recovery and before anything is submitted, and put `readSide.onAck` into the engine's ack chain.
 */
export async function startReadSide(o: ReadSideOptions): Promise<ReadSide> {
  const log = o.log ?? (() => {});
  const maxLag = o.maxLagSeconds ?? 30;
  let source: EngineReplicationSource | null = null;
  let replicator: Replicator | null = null;
  let migratedAtMs = 0;
  const sinceMs = Date.now();
  let stopped = false;
  let started: Promise<void> = Promise.resolve();
  if (o.databaseUrl !== null) {
    const url = o.databaseUrl;
    // The source exists from now on, so no ack is missed while PostgreSQL is being reached.
    source = new EngineReplicationSource(o.engine, {
      log, ...(o.ledger ? { ledger: o.ledger } : {}), ...(o.maxBufferedEvents !== undefined ? { maxBufferedEvents: o.maxBufferedEvents } : {}),
    });
    const rep = new Replicator({
      url, source, instruments: o.engine.instruments, name: o.name ?? 'engine', log,
      applicationName: o.applicationName ?? 'trading-engine-replicator',
      ...(o.schema !== undefined ? { schema: o.schema } : {}), ...(o.retryMaxMs !== undefined ? { retryMaxMs: o.retryMaxMs } : {}),
    });
    replicator = rep;
    source.onData(() => rep.notify());
    // Migrations first; while PostgreSQL cannot be reached they are retried in the background (the
    // engine runs meanwhile, and the lag grows from the start).
    started = (async () => {
      for (let attempt = 1; !stopped; attempt++) {
        const sql = connect(url, { applicationName: 'trading-engine-migrate', max: 1, ...(o.schema !== undefined ? { schema: o.schema } : {}) });
        try {
          const r = await migrate(sql, { log: (m) => log({}, `migrate: ${m}`) });
          log({ applied: r.applied, alreadyApplied: r.alreadyApplied, timescale: r.timescale }, 'PostgreSQL migrations done; replication starting');
          migratedAtMs = Date.now();
          if (!stopped) rep.start();
          return;
        } catch (e) {
          if (attempt === 1 || attempt % 30 === 0) log({ err: (e as Error).message, attempt }, 'PostgreSQL migrations failed; retrying every 2 s (replication waits)');
        } finally {
          await sql.end({ timeout: 1 }).catch(() => {});
        }
        await new Promise((r) => setTimeout(r, 2000).unref());
      }
    })();
  }
  const redis = o.redisUrl !== null ? new RedisBus({ url: o.redisUrl, log }) : null;
  const side = new ReadSide(o.engine, source, replicator, redis, maxLag, () => { stopped = true; }, started);
  attachReadSide(o.engine, {
    replication: () => {
      if (replicator === null || source === null) return null;
      const s = source.stats();
      const lag = replicator.lag();
      // Not migrated yet: PostgreSQL was never reached; the lag is the time since start.
      if (migratedAtMs === 0) { lag.connected = false; lag.lagSeconds = (Date.now() - sinceMs) / 1000; }
      return { ...lag, maxLagSeconds: maxLag, bufferedCommands: s.bufferedCommands, overflowing: s.overflowing, droppedCommands: s.droppedCommands, catchUpCommands: s.catchUpCommands };
    },
    redis: () => (redis === null ? null : redis.status()),
  });
  return side;
}
