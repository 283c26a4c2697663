// /api/v1/strategies: the routes of the plan, validated (path and body), answered 501 "not yet
// available" until the strategy engine exists.

import { problem } from './problem.js';
import type { Route } from './router.js';
import { StrategyBody, StrategyIdParams, StrategyUpdate } from './schemas.js';

const notYet = (): never => { throw problem(501, 'not_yet_available', 'strategies are not available yet'); };

export function strategyRoutes(): Route[] {
  const base = { tag: 'strategies', handler: notYet } as const;
  return [
    { ...base, method: 'post', path: '/api/v1/strategies', permission: 'order.place', summary: 'Create a strategy (not yet available)', body: StrategyBody, audit: 'strategy.create' },
    { ...base, method: 'get', path: '/api/v1/strategies', permission: 'account.read', summary: 'List strategies (not yet available)' },
    { ...base, method: 'get', path: '/api/v1/strategies/{strategy_id}', permission: 'account.read', summary: 'Get a strategy (not yet available)', params: StrategyIdParams },
    { ...base, method: 'put', path: '/api/v1/strategies/{strategy_id}', permission: 'order.place', summary: 'Update a strategy (not yet available)', params: StrategyIdParams, body: StrategyUpdate, audit: 'strategy.update' },
    { ...base, method: 'delete', path: '/api/v1/strategies/{strategy_id}', permission: 'order.place', summary: 'Delete a strategy (not yet available)', params: StrategyIdParams, audit: 'strategy.delete' },
    { ...base, method: 'post', path: '/api/v1/strategies/{strategy_id}/start', permission: 'order.place', summary: 'Start a strategy (not yet available)', params: StrategyIdParams, audit: 'strategy.start' },
    { ...base, method: 'post', path: '/api/v1/strategies/{strategy_id}/stop', permission: 'order.place', summary: 'Stop a strategy (not yet available)', params: StrategyIdParams, audit: 'strategy.stop' },
    { ...base, method: 'get', path: '/api/v1/strategies/{strategy_id}/signals', permission: 'account.read', summary: 'Strategy signals (not yet available)', params: StrategyIdParams },
  ];
}
