// /api/v1/portfolio: balances (from the ledger, exact), positions and PnL (from the fills the read
// model saw: average-cost method, marked to the last trade price). Approximations are listed in
// every answer that has them.

import type { RestContext } from './context.js';
import type { Position } from './read-model.js';
import type { Route, RouteContext } from './router.js';
import { AccountQuery, Balance, Performance, Portfolio, Position as PositionSchema } from './schemas.js';
import { z } from 'zod';

const APPROX = [
  'positions count lots bought minus sold per book (spot: the base balance is the exact holding)',
  'average price and realized PnL use the average-cost method over fills since the gateway started, rounded to whole quote units',
  'unrealized PnL is marked to the last trade price; null when the book has not traded or the cost basis predates the gateway start',
  'fees are summed in the quote asset; maker rebates are negative fees',
];

export class PortfolioResource {
  constructor(private readonly c: RestContext) {}

  routes(): Route[] {
    return [
      { method: 'get', path: '/api/v1/portfolio', permission: 'account.read', tag: 'portfolio', summary: 'Balances, positions and open order count', query: AccountQuery, response: Portfolio, handler: (ctx) => this.portfolio(ctx) },
      { method: 'get', path: '/api/v1/portfolio/positions', permission: 'account.read', tag: 'portfolio', summary: 'Positions', query: AccountQuery, response: z.object({ data: z.array(PositionSchema), approximations: z.array(z.string()) }), handler: (ctx) => ({ body: { data: this.positions(this.accts(ctx)), approximations: APPROX } }) },
      { method: 'get', path: '/api/v1/portfolio/balances', permission: 'account.read', tag: 'portfolio', summary: 'Balances from the ledger', query: AccountQuery, response: z.object({ data: z.array(Balance) }), handler: (ctx) => ({ body: { data: this.balances(this.accts(ctx)) } }) },
      { method: 'get', path: '/api/v1/portfolio/performance', permission: 'account.read', tag: 'portfolio', summary: 'Realized and unrealized PnL per quote asset', query: AccountQuery, response: Performance, handler: (ctx) => this.performance(ctx) },
    ];
  }

  private accts(ctx: RouteContext): number[] {
    return this.c.accounts(ctx, 'account.read', (ctx.query as { account_id?: number }).account_id);
  }

  balances(accounts: number[]): Record<string, unknown>[] {
    const c = this.c, led = c.engine.ledger;
    const out: Record<string, unknown>[] = [];
    for (const a of accounts) {
      for (let asset = 0; asset < led.assetCount; asset++) {
        const av = led.available(a, asset), lk = led.locked(a, asset);
        if (av === 0 && lk === 0) continue;
        const name = led.assetName(asset);
        out.push({ account_id: a, asset: name, available: c.fmtAsset(name, av), locked: c.fmtAsset(name, lk), total: c.fmtAsset(name, av + lk) });
      }
    }
    return out;
  }

  private mark(p: Position): { market: number | null; unrealized: number | null; markTicks: number } {
    const i = this.c.byId.get(p.instrumentId)!;
    const last = this.c.model.books.get(p.instrumentId)!.lastPx;
    if (last === 0) return { market: null, unrealized: null, markTicks: 0 };
    const market = p.qtyLots * last * i.spec.notionalUnitsPerTickLot;
    return { market, unrealized: p.costUnits === null ? null : market - p.costUnits, markTicks: last };
  }

  positions(accounts: number[]): Record<string, unknown>[] {
    const c = this.c;
    const out: Record<string, unknown>[] = [];
    for (const a of accounts) {
      for (const i of c.byId.values()) {
        const p = c.model.positions.get(`${a}:${i.spec.id}`);
        if (p === undefined) continue;
        const qa = i.spec.quoteAsset;
        const m = this.mark(p);
        const avgTicks = p.costUnits !== null && p.qtyLots !== 0 ? Math.abs(p.costUnits) / (Math.abs(p.qtyLots) * i.spec.notionalUnitsPerTickLot) : 0;
        out.push({
          account_id: a, symbol: i.spec.symbol, quantity: signedQty(c, i.spec.id, p.qtyLots),
          average_price: avgTicks > 0 ? c.fmtPrice(i, Math.round(avgTicks)) : null, mark_price: m.markTicks > 0 ? c.fmtPrice(i, m.markTicks) : null,
          market_value: m.market === null ? null : c.fmtAsset(qa, m.market), unrealized_pnl: m.unrealized === null ? null : c.fmtAsset(qa, m.unrealized),
          realized_pnl: c.fmtAsset(qa, p.realizedUnits), fees: c.fmtAsset(qa, p.feeUnits), quote_asset: qa,
          cost_basis_known: p.costUnits !== null, partial_history: p.partialHistory,
        });
      }
    }
    return out;
  }

  private portfolio(ctx: RouteContext): { body: unknown } {
    const accounts = this.accts(ctx);
    let open = 0;
    for (const a of accounts) open += this.c.model.openOrders(a).length;
    return { body: { balances: this.balances(accounts), positions: this.positions(accounts), open_orders: open, approximations: APPROX } };
  }

  private performance(ctx: RouteContext): { body: unknown } {
    const c = this.c;
    const rows = new Map<string, { a: number; q: string; realized: number; unrealized: number | null; fees: number }>();
    for (const a of this.accts(ctx)) {
      for (const i of c.byId.values()) {
        const p = c.model.positions.get(`${a}:${i.spec.id}`);
        if (p === undefined) continue;
        const k = `${a}:${i.spec.quoteAsset}`;
        let r = rows.get(k);
        if (r === undefined) { r = { a, q: i.spec.quoteAsset, realized: 0, unrealized: 0, fees: 0 }; rows.set(k, r); }
        r.realized += p.realizedUnits; r.fees += p.feeUnits;
        const m = this.mark(p);
        if (p.qtyLots !== 0) r.unrealized = r.unrealized === null || m.unrealized === null ? null : r.unrealized + m.unrealized;
      }
    }
    return {
      body: {
        data: [...rows.values()].map((r) => ({
          account_id: r.a, quote_asset: r.q, realized_pnl: c.fmtAsset(r.q, r.realized), unrealized_pnl: r.unrealized === null ? null : c.fmtAsset(r.q, r.unrealized),
          fees: c.fmtAsset(r.q, r.fees), net_pnl: r.unrealized === null ? null : c.fmtAsset(r.q, r.realized + r.unrealized - r.fees),
        })),
        method: 'average cost, marked to the last trade price',
        approximations: APPROX,
      },
    };
  }
}

function signedQty(c: RestContext, instrumentId: number, lots: number): string {
  const i = c.byId.get(instrumentId)!;
  return lots < 0 ? `-${c.fmtQty(i, -lots)}` : c.fmtQty(i, lots);
}
