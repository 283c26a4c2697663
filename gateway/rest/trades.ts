// /api/v1/trades: the principal's own fills (maker and taker sides are separate fills), newest
// first with a cursor; one trade by id; a summary per account and symbol. From the acks since the
// gateway started, and with DATABASE_URL also from PostgreSQL (history.ts): the two are merged,
// the read model winning for the fills it holds, so neither the replication lag nor a restart
// loses a fill.

import { compareFillsDesc, fillKey, formatFillCursor, parseFillCursor, type FillKey } from './history.js';
import { problem } from './problem.js';
import type { RestContext } from './context.js';
import type { TradeRecord } from './read-model.js';
import type { Route, RouteContext } from './router.js';
import { HistoryPage, isoOfUs, SIDES, toUs, Trade, TradeIdParams, TradeListQuery, TradeSummary, TradeSummaryQuery } from './schemas.js';

export function tradeJson(c: RestContext, t: TradeRecord): Record<string, unknown> {
  const i = c.byId.get(t.instrumentId)!;
  const q = i.spec.quoteAsset;
  return {
    id: t.id, order_id: String(t.orderId), account_id: t.account, symbol: i.spec.symbol, side: SIDES[t.side] ?? 'buy',
    quantity: c.fmtQty(i, t.qtyLots), price: c.fmtPrice(i, t.priceTicks), notional: c.fmtAsset(q, t.notionalUnits),
    fee: c.fmtAsset(q, t.feeUnits), fee_asset: q, trade_type: t.liquidity, timestamp: isoOfUs(t.tsUs), engine_seq: t.seq,
  };
}

export class TradeResource {
  constructor(private readonly c: RestContext) {}

  routes(): Route[] {
    return [
      { method: 'get', path: '/api/v1/trades', permission: 'account.read', tag: 'trades', summary: 'Own trades (fills), newest first', query: TradeListQuery, response: HistoryPage(Trade), handler: (ctx) => this.list(ctx) },
      { method: 'get', path: '/api/v1/trades/summary', permission: 'account.read', tag: 'trades', summary: 'Trade summary per account and symbol', query: TradeSummaryQuery, response: TradeSummary, handler: (ctx) => this.summary(ctx) },
      { method: 'get', path: '/api/v1/trades/{trade_id}', permission: 'account.read', tag: 'trades', summary: 'One own trade', params: TradeIdParams, response: Trade, handler: (ctx) => this.one(ctx) },
    ];
  }

  private list(ctx: RouteContext): { body: unknown } | Promise<{ body: unknown }> {
    const c = this.c;
    const q = ctx.query as ReturnType<typeof TradeListQuery.parse>;
    if (c.history !== null) return this.listWithHistory(ctx);
    if (q.cursor !== undefined && !/^[0-9]+$/.test(q.cursor)) throw problem(400, 'invalid_cursor', 'cursor is not one this server issued');
    const accounts = c.accounts(ctx, 'account.read', q.account_id);
    const instrumentId = q.symbol !== undefined ? c.instrument(q.symbol).spec.id : 0;
    const side = q.side === undefined ? -1 : SIDES.indexOf(q.side);
    const orderId = q.order_id !== undefined ? Number(q.order_id) : 0;
    const from = toUs(q.start_time) ?? -Infinity, to = toUs(q.end_time) ?? Infinity;
    const before = q.cursor !== undefined ? Number(q.cursor) : Infinity;
    const hits: TradeRecord[] = [];
    for (const a of accounts) {
      const list = c.model.tradesByAccount.get(a);
      if (list === undefined) continue;
      let n = 0;
      for (let k = list.length - 1; k >= 0 && n < q.limit; k--) {
        if (list.fillNo(k) >= before) continue;
        if (instrumentId !== 0 && list.instrumentId(k) !== instrumentId) continue;
        if (side >= 0 && list.side(k) !== side) continue;
        if (orderId !== 0 && list.orderId(k) !== orderId) continue;
        const ts = list.tsUs(k);
        if (ts < from || ts > to) continue;
        hits.push(list.at(k)); n++;
      }
    }
    hits.sort((x, y) => y.fillNo - x.fillNo);
    const page = hits.slice(0, q.limit);
    return { body: { data: page.map((t) => tradeJson(c, t)), next_cursor: page.length === q.limit ? String(page[page.length - 1]!.fillNo) : null, history_source: 'memory' } };
  }

  /**
   * The list with PostgreSQL history: both sources give their newest `limit` fills under the same
   * filters, ordered by (seq, trade id, taker after maker); the union's newest `limit` is the page.
   * The cursor is that key (`seq-tradeId-m|t`), valid across restarts.
   */
  private async listWithHistory(ctx: RouteContext): Promise<{ body: unknown }> {
    const c = this.c;
    const q = ctx.query as ReturnType<typeof TradeListQuery.parse>;
    const accounts = c.accounts(ctx, 'account.read', q.account_id);
    const instrumentId = q.symbol !== undefined ? c.instrument(q.symbol).spec.id : 0;
    const side = q.side === undefined ? -1 : SIDES.indexOf(q.side);
    const orderId = q.order_id !== undefined ? Number(q.order_id) : 0;
    const fromUs = toUs(q.start_time), toUsV = toUs(q.end_time);
    const from = fromUs ?? -Infinity, to = toUsV ?? Infinity;
    const before: FillKey | null = q.cursor !== undefined ? parseFillCursor(q.cursor) : null;
    if (q.cursor !== undefined && before === null) throw problem(400, 'invalid_cursor', 'cursor is not one this server issued (history cursors look like "123-4-t")');
    const hits: TradeRecord[] = [];
    const seen = new Set<string>();
    for (const a of accounts) {
      const list = c.model.tradesByAccount.get(a);
      if (list === undefined) continue;
      let n = 0;
      for (let k = list.length - 1; k >= 0 && n < q.limit; k--) {
        const t = list.at(k);
        if (before !== null && compareFillsDesc(fillKey(t), before) <= 0) continue;
        if (instrumentId !== 0 && t.instrumentId !== instrumentId) continue;
        if (side >= 0 && t.side !== side) continue;
        if (orderId !== 0 && t.orderId !== orderId) continue;
        if (t.tsUs < from || t.tsUs > to) continue;
        hits.push(t); n++;
        seen.add(`${t.account}:${t.seq}:${t.tradeId}:${t.liquidity}`);
      }
    }
    let source: 'memory' | 'postgresql' = 'memory';
    try {
      const rows = await c.history!.fills({ accounts, instrumentId, side, orderId, fromUs, toUs: toUsV, before, limit: q.limit });
      for (const t of rows) if (c.byId.has(t.instrumentId) && !seen.has(`${t.account}:${t.seq}:${t.tradeId}:${t.liquidity}`)) hits.push(t);
      source = 'postgresql';
    } catch (e) {
      c.log({ err: (e as Error).message }, 'rest: trade history query failed; answering from memory');
    }
    hits.sort((x, y) => compareFillsDesc(fillKey(x), fillKey(y)));
    const page = hits.slice(0, q.limit);
    const next = page.length === q.limit ? formatFillCursor(fillKey(page[page.length - 1]!)) : null;
    return { body: { data: page.map((t) => tradeJson(c, t)), next_cursor: next, history_source: source } };
  }

  private async one(ctx: RouteContext): Promise<{ body: unknown }> {
    const c = this.c;
    const id = (ctx.params as { trade_id: string }).trade_id;
    // Ids are `${instrumentId}-${tradeId}`: the first fill (oldest first) with that id, as before.
    const m = /^([0-9]+)-([0-9]+)$/.exec(id);
    for (const a of m === null ? [] : ctx.principal!.accountIds) {
      const list = c.model.tradesByAccount.get(a);
      if (list === undefined) continue;
      const inst = Number(m![1]), tid = Number(m![2]);
      for (let k = 0; k < list.length; k++) {
        if (list.tradeId(k) !== tid || list.instrumentId(k) !== inst) continue;
        const t = list.at(k);
        if (t.id === id) return { body: tradeJson(c, t) };
      }
    }
    if (c.history !== null) {
      const [inst, tid] = id.split('-').map(Number) as [number, number];
      let t: TradeRecord | null;
      try {
        t = await c.history.fill(inst, tid, [...ctx.principal!.accountIds]);
      } catch (e) {
        c.log({ err: (e as Error).message }, 'rest: trade history query failed');
        throw problem(503, 'history_unavailable', 'trade history (PostgreSQL) is unavailable; retry shortly', {}, { 'retry-after': '1' });
      }
      if (t !== null && c.byId.has(t.instrumentId)) return { body: tradeJson(c, t) };
    }
    // Not yours and not there look the same.
    throw problem(404, 'trade_not_found', 'trade not found');
  }

  private async summary(ctx: RouteContext): Promise<{ body: unknown }> {
    const c = this.c;
    const q = ctx.query as ReturnType<typeof TradeSummaryQuery.parse>;
    const accounts = c.accounts(ctx, 'account.read', q.account_id);
    const instrumentId = q.symbol !== undefined ? c.instrument(q.symbol).spec.id : 0;
    const from = toUs(q.start_time) ?? -Infinity, to = toUs(q.end_time) ?? Infinity;
    const rows = new Map<string, { a: number; i: number; n: number; bq: number; sq: number; bn: number; sn: number; fee: number; mk: number; tk: number }>();
    // With history: PostgreSQL's totals up to its checkpoint (one snapshot), plus the read model's
    // fills after it (acked, not yet replicated).
    let aboveSeq = 0, source: 'memory' | 'postgresql' = 'memory';
    if (c.history !== null) {
      try {
        const h = await c.history.summary(accounts, instrumentId, toUs(q.start_time), toUs(q.end_time));
        for (const r of h.rows) if (c.byId.has(r.instrumentId)) rows.set(`${r.account}:${r.instrumentId}`, { a: r.account, i: r.instrumentId, n: r.n, bq: r.bq, sq: r.sq, bn: r.bn, sn: r.sn, fee: r.fee, mk: r.mk, tk: r.tk });
        aboveSeq = h.seq;
        source = 'postgresql';
      } catch (e) {
        c.log({ err: (e as Error).message }, 'rest: trade summary history query failed; answering from memory');
      }
    }
    for (const a of accounts) {
      for (const t of c.model.tradesByAccount.get(a) ?? []) {
        if (t.seq <= aboveSeq) continue;
        if ((instrumentId !== 0 && t.instrumentId !== instrumentId) || t.tsUs < from || t.tsUs > to) continue;
        const k = `${a}:${t.instrumentId}`;
        let r = rows.get(k);
        if (r === undefined) { r = { a, i: t.instrumentId, n: 0, bq: 0, sq: 0, bn: 0, sn: 0, fee: 0, mk: 0, tk: 0 }; rows.set(k, r); }
        r.n++; r.fee += t.feeUnits;
        if (t.side === 0) { r.bq += t.qtyLots; r.bn += t.notionalUnits; } else { r.sq += t.qtyLots; r.sn += t.notionalUnits; }
        if (t.liquidity === 'maker') r.mk++; else r.tk++;
      }
    }
    return {
      body: {
        data: [...rows.values()].map((r) => {
          const i = c.byId.get(r.i)!;
          const qa = i.spec.quoteAsset;
          return {
            account_id: r.a, symbol: i.spec.symbol, trade_count: r.n, buy_quantity: c.fmtQty(i, r.bq), sell_quantity: c.fmtQty(i, r.sq),
            buy_notional: c.fmtAsset(qa, r.bn), sell_notional: c.fmtAsset(qa, r.sn), fees: c.fmtAsset(qa, r.fee), quote_asset: qa, maker_count: r.mk, taker_count: r.tk,
          };
        }),
        since: source === 'postgresql' ? null : c.sinceIso,
        history_source: source,
      },
    };
  }
}
