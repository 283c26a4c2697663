// /api/v1/risk: per-account limits of each book (SetAccountLimits through the engine, risk_manager
// only), metrics computed from what exists (positions, open orders against the limits), and alerts:
// the engine's risk rejections and kill-switch changes seen since the gateway started. No other
// risk engine exists yet: nothing here is invented.

import { Command, CommandType } from '../../core/types.js';
import type { RestContext } from './context.js';
import { rejectProblem } from './problem.js';
import type { Route, RouteContext } from './router.js';
import { isoOfUs, RiskAlert, RiskLimit, RiskLimitsPut, RiskLimitsQuery, RiskMetric } from './schemas.js';
import { z } from 'zod';

export class RiskResource {
  constructor(private readonly c: RestContext) {}

  routes(): Route[] {
    return [
      { method: 'get', path: '/api/v1/risk/limits', permission: 'risk.limits.read', tag: 'risk', summary: 'Risk limits per account and symbol', query: RiskLimitsQuery, response: z.object({ data: z.array(RiskLimit) }), handler: (ctx) => this.getLimits(ctx) },
      { method: 'put', path: '/api/v1/risk/limits', permission: 'risk.limits.write', tag: 'risk', summary: 'Set an account\'s limits in one book (SetAccountLimits)', body: RiskLimitsPut, response: RiskLimit, audit: 'risk.limits.write', handler: (ctx) => this.putLimits(ctx) },
      { method: 'get', path: '/api/v1/risk/metrics', permission: 'risk.limits.read', tag: 'risk', summary: 'Positions and open orders against the limits', query: RiskLimitsQuery, response: z.object({ data: z.array(RiskMetric) }), handler: (ctx) => this.metrics(ctx) },
      { method: 'get', path: '/api/v1/risk/alerts', permission: 'risk.limits.read', tag: 'risk', summary: 'Risk rejections and kill-switch changes (since the gateway started)', query: RiskLimitsQuery, response: z.object({ data: z.array(RiskAlert), since: z.string() }), handler: (ctx) => this.alerts(ctx) },
    ];
  }

  private scope(ctx: RouteContext): { accounts: number[]; ids: number[] } {
    const q = ctx.query as { account_id?: number; symbol?: string };
    const accounts = this.c.accounts(ctx, 'risk.limits.read', q.account_id);
    const ids = q.symbol !== undefined ? [this.c.instrument(q.symbol).spec.id] : [...this.c.byId.keys()];
    return { accounts, ids };
  }

  limitJson(account: number, instrumentId: number): Record<string, unknown> {
    const c = this.c, i = c.byId.get(instrumentId)!;
    const l = c.model.limits.get(`${account}:${instrumentId}`);
    const pos = l !== undefined && l.maxPositionLots > 0 ? l.maxPositionLots : i.spec.maxPositionLots;
    const open = l !== undefined && l.maxOpenOrders > 0 ? l.maxOpenOrders : i.spec.maxOpenOrdersPerAccount;
    return {
      account_id: account, symbol: i.spec.symbol, max_position: pos > 0 ? c.fmtQty(i, pos) : null, max_open_orders: open > 0 ? open : null,
      max_position_source: l !== undefined && l.maxPositionLots > 0 ? 'account' : pos > 0 ? 'instrument' : 'none',
      max_open_orders_source: l !== undefined && l.maxOpenOrders > 0 ? 'account' : open > 0 ? 'instrument' : 'none',
      kill_switch: l?.killSwitch ?? false,
    };
  }

  private getLimits(ctx: RouteContext): { body: unknown } {
    const { accounts, ids } = this.scope(ctx);
    return { body: { data: accounts.flatMap((a) => ids.map((id) => this.limitJson(a, id))) } };
  }

  private async putLimits(ctx: RouteContext): Promise<{ body: unknown }> {
    const c = this.c;
    const b = ctx.body as z.infer<typeof RiskLimitsPut>;
    const account = c.account(ctx, 'risk.limits.write', b.account_id);
    const i = c.instrument(b.symbol);
    ctx.audit.target = `account:${account}`;
    ctx.audit.detail = { symbol: i.spec.symbol, max_position: b.max_position, max_open_orders: b.max_open_orders };
    const cmd = new Command();
    cmd.type = CommandType.SetAccountLimits;
    cmd.account = account;
    cmd.value = c.lots(i, b.max_position, 'max_position');
    cmd.value2 = b.max_open_orders;
    const out = await c.submit(cmd, i.spec.id);
    if (out.rejectReason !== 0) throw rejectProblem(out.rejectReason, undefined, { engine_seq: out.seq });
    return { body: this.limitJson(account, i.spec.id) };
  }

  private metrics(ctx: RouteContext): { body: unknown } {
    const c = this.c;
    const { accounts, ids } = this.scope(ctx);
    const want = new Set(ids);
    const out: Record<string, unknown>[] = [];
    for (const a of accounts) {
      const open = c.model.openOrders(a);
      for (const id of want) {
        const i = c.byId.get(id)!;
        const mine = open.filter((o) => o.instrumentId === id);
        const pos = c.model.positions.get(`${a}:${id}`)?.qtyLots ?? 0;
        if (mine.length === 0 && pos === 0) continue;
        let ob = 0, os = 0;
        for (const o of mine) if (o.side === 0) ob += o.remainingLots; else os += o.remainingLots;
        const lim = this.limitJson(a, id);
        const l = c.model.limits.get(`${a}:${id}`);
        const maxPos = l !== undefined && l.maxPositionLots > 0 ? l.maxPositionLots : i.spec.maxPositionLots;
        const maxOpen = l !== undefined && l.maxOpenOrders > 0 ? l.maxOpenOrders : i.spec.maxOpenOrdersPerAccount;
        out.push({
          account_id: a, symbol: i.spec.symbol, position: pos < 0 ? `-${c.fmtQty(i, -pos)}` : c.fmtQty(i, pos), open_orders: mine.length,
          open_buy_quantity: c.fmtQty(i, ob), open_sell_quantity: c.fmtQty(i, os),
          position_limit_used: maxPos > 0 ? Math.max(pos + ob, -(pos - os)) / maxPos : null,
          open_orders_limit_used: maxOpen > 0 ? mine.length / maxOpen : null,
        });
        void lim;
      }
    }
    return { body: { data: out } };
  }

  private alerts(ctx: RouteContext): { body: unknown } {
    const c = this.c;
    const { accounts, ids } = this.scope(ctx);
    const acc = new Set(accounts), ins = new Set(ids);
    const data = c.model.riskEvents.filter((e) => acc.has(e.account) && ins.has(e.instrumentId)).slice(-500).reverse().map((e) => ({
      account_id: e.account, symbol: c.byId.get(e.instrumentId)!.spec.symbol, kind: e.kind, detail: e.detail, timestamp: isoOfUs(e.tsUs), engine_seq: e.seq,
    }));
    return { body: { data, since: c.sinceIso } };
  }
}
