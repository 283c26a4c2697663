// Puts the REST shim on the gateway's uWS app: builds the read model (seeded from the books'
// snapshot the gateway just took, then fed by every ack after the gateway's own handlers), the
// resources, metrics and the OpenAPI document, and registers the routes. Called from
// GatewayServer's route set-up (GatewayOptions.mount), before its 404 catch-all.

import { join } from 'node:path';
import type { RateLimiter, RateLimitPolicy } from '../auth/rate-limit.js';
import { RedisRateLimiter } from '../auth/redis-rate-limit.js';
import type { Ack } from '../engine.js';
import type { GatewayServer } from '../server.js';
import type { CandleStore } from '../../marketdata/candles.js';
import type { RedisBus } from '../../persistence/redis.js';
import { authRoutes, type SessionsLike } from './auth-routes.js';
import { CandleFeed } from './candle-feed.js';
import { RestContext } from './context.js';
import { PgHistory, type HistoryOptions } from './history.js';
import { MarketDataResource, type MarketDataCacheOptions } from './market-data.js';
import { RestMetrics } from './metrics.js';
import { openApiRoute } from './openapi.js';
import { OrderResource } from './orders.js';
import { PortfolioResource } from './portfolio.js';
import { ReadModel } from './read-model.js';
import { RiskResource } from './risk.js';
import { RestRouter, type RestAuth } from './router.js';
import { strategyRoutes } from './strategies.js';
import { TradeResource } from './trades.js';

/** The candle file in the engine's data dir (beside the journal and identity databases). */
export const CANDLE_FILE = 'candles.sqlite';

export interface RestDeps {
  /** gateway/auth's Identity fits: signatures, accessTokens, audit, sessions. */
  identity: RestAuth & { sessions?: SessionsLike };
  corsOrigins?: readonly string[];
  maxBodyBytes?: number;
  perIp?: RateLimitPolicy;
  perKey?: RateLimitPolicy;
  loginPolicy?: RateLimitPolicy;
  /**
   * Store of the per-IP and per-key buckets. Default: a RedisRateLimiter over `redis` when given
   * (one bucket across every gateway on that Redis), else in memory (checked synchronously).
   */
  rateLimiter?: RateLimiter;
  /**
   * Redis (REDIS_URL): shared rate limits (unless rateLimiter is given) and the ticker/top-of-book
   * cache for other instances (market-data.ts's MarketDataCache). Never required: it degrades.
   */
  redis?: RedisBus;
  marketDataCache?: MarketDataCacheOptions;
  /** Store of the OHLCV candles (not persisted by the REST shim, left open); wins over dataDir. */
  candleStore?: CandleStore;
  /**
   * The engine's data dir (config.dataDir): the candles are kept in `<dataDir>/candles.sqlite`,
   * caught up from the journal at start (candle-feed.ts). Undefined: in memory, since start only.
   */
  dataDir?: string;
  /** How often the candle file is written. Default 1000 ms. */
  candleFlushIntervalMs?: number;
  ackTimeoutMs?: number;
  /**
   * PostgreSQL history for the history endpoints (history.ts). Undefined: from DATABASE_URL (and
   * PGSCHEMA) when set, as `npm start` replicates there; null: none (history since start only).
   */
  history?: HistoryOptions | null;
  log?: (fields: Record<string, unknown>, msg: string) => void;
}

/** A condition of /ready (gateway/server.ts addReadinessCheck, where the server has it). */
export interface Readiness { ok: boolean; detail?: Record<string, unknown> }

export interface RestApi {
  router: RestRouter;
  /** Not ok once the audit trail cannot be written (state-changing requests are refused: 503 audit_unavailable). */
  readiness(): Readiness;
  model: ReadModel;
  context: RestContext;
  metrics: RestMetrics;
  candles: CandleFeed;
  close(): void;
}

export function mountRest(server: GatewayServer, deps: RestDeps): RestApi {
  const engine = server.engine;
  const log = deps.log ?? (() => {});
  const model = new ReadModel(engine.instruments);
  const seq = server.router.lastAckedSeq;
  model.seedFromSnapshots(engine.journalPath, seq);
  // Created before the ack hook goes in, so that its catch-up ends exactly where the acks begin.
  const candles = new CandleFeed(engine, {
    startSeq: seq, log,
    ...(deps.candleStore !== undefined ? { store: deps.candleStore } : {}),
    ...(deps.dataDir !== undefined ? { file: join(deps.dataDir, CANDLE_FILE) } : {}),
    ...(deps.candleFlushIntervalMs !== undefined ? { flushIntervalMs: deps.candleFlushIntervalMs } : {}),
  });
  const prev = engine.onAck;
  engine.onAck = (ack: Ack): void => {
    prev?.(ack);
    try {
      model.onAck(ack);
    } catch (e) {
      // A read-model bug must not fail the engine; REST answers may be stale until restart.
      log({ err: (e as Error).stack ?? String(e), seq: ack.seq }, 'rest: read model update failed');
    }
    candles.onAck(ack);
  };
  const metrics = new RestMetrics(engine, () => server.stats());
  const sessions = deps.identity.sessions;
  if (sessions?.liveSessionCount !== undefined) metrics.restSessions = () => sessions.liveSessionCount!(Date.now());
  const context = new RestContext(engine, model, { orderSubmitted: (s, ms) => metrics.orderSubmitted(s, ms) }, deps.ackTimeoutMs);
  context.log = log;
  const historyOptions = deps.history !== undefined ? deps.history : historyFromEnv();
  if (historyOptions !== null) {
    context.history = new PgHistory(historyOptions);
    log({ schema: historyOptions.schema ?? null }, 'rest: history endpoints read PostgreSQL');
  }
  const market = new MarketDataResource(context, candles, deps.redis, deps.marketDataCache);
  const limiter = deps.rateLimiter ?? (deps.redis !== undefined ? new RedisRateLimiter(deps.redis, { log }) : undefined);
  if (deps.redis !== undefined) log({ prefix: deps.redis.prefix, sharedRateLimits: deps.rateLimiter === undefined }, 'rest: rate limits and ticker/top-of-book cache through Redis');
  const router = new RestRouter(deps.identity, {
    ...(deps.corsOrigins ? { corsOrigins: deps.corsOrigins } : {}),
    ...(deps.maxBodyBytes ? { maxBodyBytes: deps.maxBodyBytes } : {}),
    ...(deps.perIp ? { perIp: deps.perIp } : {}),
    ...(deps.perKey ? { perKey: deps.perKey } : {}),
    ...(limiter !== undefined ? { limiter } : {}),
    log, observe: (r, status) => metrics.observe(r, status),
  });
  router.add(
    ...new OrderResource(context).routes(),
    ...new TradeResource(context).routes(),
    ...new PortfolioResource(context, candles).routes(),
    ...market.routes(),
    ...new RiskResource(context).routes(),
    ...strategyRoutes(),
    ...authRoutes(deps.identity.sessions, deps.loginPolicy, ...(limiter !== undefined ? [limiter] : [])),
    metrics.route(),
    openApiRoute(() => router.routes),
  );
  router.mount(server.app);
  // Fail closed on the audit trail: logged once, counted, refused (router.ts), and /ready turns 503.
  const audit = deps.identity.audit;
  audit?.onFailure?.((err) => log({ err: err.message }, 'rest: the audit writer failed; state-changing requests are refused until restart'));
  metrics.audit(() => ({
    up: router.auditFailure === null,
    failedRows: (audit?.failedRows ?? router.auditFailures) + router.auditSkipped,
    refused: router.auditRefused,
  }));
  const readiness = (): Readiness => {
    const f = router.auditFailure;
    return f === null ? { ok: true } : { ok: false, detail: { audit: 'unavailable', error: f.message } };
  };
  (server as GatewayServer & { addReadinessCheck?: (name: string, check: () => Readiness) => void }).addReadinessCheck?.('audit', readiness);
  log({ routes: router.routes.length, seededOrders: model.orders.size, seq }, 'rest: mounted');
  return { router, model, context, metrics, candles, readiness, close: () => { market.close(); void context.history?.close(); } };
}

function historyFromEnv(): HistoryOptions | null {
  const url = process.env['DATABASE_URL'];
  if (url === undefined || url === '') return null;
  const schema = process.env['PGSCHEMA'];
  return { url, ...(schema ? { schema } : {}) };
}
