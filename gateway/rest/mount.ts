// Puts the REST shim on the gateway's uWS app: builds the read model (seeded from the books'
// snapshot the gateway just took, then fed by every ack after the gateway's own handlers), the
// resources, metrics and the OpenAPI document, and registers the routes. Called from
// GatewayServer's route set-up (GatewayOptions.mount), before its 404 catch-all.

import type { RateLimitPolicy } from '../auth/rate-limit.js';
import type { Ack } from '../engine.js';
import type { GatewayServer } from '../server.js';
import type { CandleStore } from '../../marketdata/candles.js';
import { authRoutes, type SessionsLike } from './auth-routes.js';
import { RestContext } from './context.js';
import { MarketDataResource } from './market-data.js';
import { RestMetrics } from './metrics.js';
import { openApiRoute } from './openapi.js';
import { OrderResource } from './orders.js';
import { PortfolioResource } from './portfolio.js';
import { ReadModel } from './read-model.js';
import { RiskResource } from './risk.js';
import { RestRouter, type RestAuth } from './router.js';
import { strategyRoutes } from './strategies.js';
import { TradeResource } from './trades.js';

export interface RestDeps {
  /** gateway/auth's Identity fits: signatures, accessTokens, audit, sessions. */
  identity: RestAuth & { sessions?: SessionsLike };
  corsOrigins?: readonly string[];
  maxBodyBytes?: number;
  perIp?: RateLimitPolicy;
  perKey?: RateLimitPolicy;
  loginPolicy?: RateLimitPolicy;
  candleStore?: CandleStore;
  ackTimeoutMs?: number;
  log?: (fields: Record<string, unknown>, msg: string) => void;
}

export interface RestApi {
  router: RestRouter;
  model: ReadModel;
  context: RestContext;
  metrics: RestMetrics;
  close(): void;
}

export function mountRest(server: GatewayServer, deps: RestDeps): RestApi {
  const engine = server.engine;
  const log = deps.log ?? (() => {});
  let market: MarketDataResource | null = null;
  const model = new ReadModel(engine.instruments, {
    onTrade: (spec, ts, px, qty, notional) => market?.candles.addTrade(spec.symbol, ts, px, qty, notional),
  });
  const seq = server.router.lastAckedSeq;
  model.seedFromSnapshots(engine.journalPath, seq);
  const prev = engine.onAck;
  engine.onAck = (ack: Ack): void => {
    prev?.(ack);
    try {
      model.onAck(ack);
    } catch (e) {
      // A read-model bug must not fail the engine; REST answers may be stale until restart.
      log({ err: (e as Error).stack ?? String(e), seq: ack.seq }, 'rest: read model update failed');
    }
  };
  const metrics = new RestMetrics(engine, () => server.stats());
  const context = new RestContext(engine, model, { orderSubmitted: (s, ms) => metrics.orderSubmitted(s, ms) }, deps.ackTimeoutMs);
  market = new MarketDataResource(context, deps.candleStore);
  const router = new RestRouter(deps.identity, {
    ...(deps.corsOrigins ? { corsOrigins: deps.corsOrigins } : {}),
    ...(deps.maxBodyBytes ? { maxBodyBytes: deps.maxBodyBytes } : {}),
    ...(deps.perIp ? { perIp: deps.perIp } : {}),
    ...(deps.perKey ? { perKey: deps.perKey } : {}),
    log, observe: (r, status) => metrics.observe(r, status),
  });
  router.add(
    ...new OrderResource(context).routes(),
    ...new TradeResource(context).routes(),
    ...new PortfolioResource(context).routes(),
    ...market.routes(),
    ...new RiskResource(context).routes(),
    ...strategyRoutes(),
    ...authRoutes(deps.identity.sessions, deps.loginPolicy),
    metrics.route(),
    openApiRoute(() => router.routes),
  );
  router.mount(server.app);
  log({ routes: router.routes.length, seededOrders: model.orders.size, seq }, 'rest: mounted');
  return { router, model, context, metrics, close: () => market?.close() };
}
