// /api/v1/orders: create (idempotent by client_order_id), list with filters and a cursor, read,
// replace (PUT), cancel (DELETE and POST .../cancel). Writes go through Engine.submit and are
// answered after the durable ack, from the read model the acks feed.

import { authorizeObject, type Permission } from '../auth/permissions.js';
import { DecimalError } from '../../core/fixed.js';
import { Command, CommandType, RejectReason } from '../../core/types.js';
import { ClientOrderIds, commandFingerprint, type IdemEntry } from './client-ids.js';
import { engineClientOrderId, ledgerOptionsOfEngine, type InstrumentInfo, type RestContext } from './context.js';
import { problem, rejectProblem, REJECT_SLUGS, validationProblem } from './problem.js';
import { TERMINATED_STATUSES } from './history.js';
import { LIVE_STATUSES, type OrderRecord, type OrderStatus } from './read-model.js';
import type { Route, RouteContext } from './router.js';
import {
  isoOfUs, Order, OrderCreate, HistoryPage, OrderIdParams, OrderListQuery, OrderReplace, ORDER_TYPES, SIDES, STP_MODES, TIFS, toUs,
} from './schemas.js';

const FLAG_MARK_TRIGGER = 4, FLAG_TRAIL_BPS = 16, FLAG_CHILD = 32;
/** Order types with a trigger (stop and if-touched types, trailing ones). */
const TYPE_FIRST_CONDITIONAL = 2;
const TYPE_TRAILING_STOP = 4, TYPE_TRAILING_STOP_LIMIT = 5;

const END_REASONS: Record<number, string> = {
  0: 'user_cancel', 1: 'mass_cancel', 2: 'immediate_remainder', 3: 'fill_or_kill', 4: 'expired', 5: 'self_trade', 6: 'market_protection',
  7: 'kill_switch', 8: 'replace_done', 9: 'quote_exhausted', 11: 'trigger_limit', 12: 'linked_order',
};
const MARKET_TYPES = new Set(['market', 'stop', 'trailing_stop', 'market_if_touched']);

export function orderJson(c: RestContext, r: OrderRecord): Record<string, unknown> {
  const i = c.byId.get(r.instrumentId)!;
  const q = i.spec.quoteAsset;
  const trailing = r.orderType === TYPE_TRAILING_STOP || r.orderType === TYPE_TRAILING_STOP_LIMIT;
  const avgTicks = r.filledLots > 0 ? Math.floor(r.filledNotionalUnits / (r.filledLots * i.spec.notionalUnitsPerTickLot)) : 0;
  return {
    id: String(r.id), account_id: r.account, symbol: i.spec.symbol, side: SIDES[r.side] ?? 'buy', order_type: ORDER_TYPES[r.orderType] ?? 'limit',
    status: r.status, quantity: r.qtyLots > 0 || r.quoteQtyUnits === 0 ? c.fmtQty(i, r.qtyLots) : null,
    quote_quantity: r.quoteQtyUnits > 0 ? c.fmtAsset(q, r.quoteQtyUnits) : null,
    price: r.priceTicks > 0 ? c.fmtPrice(i, r.priceTicks) : null, stop_price: r.stopPriceTicks > 0 ? c.fmtPrice(i, r.stopPriceTicks) : null,
    time_in_force: TIFS[r.tif] ?? 'GTC', filled_quantity: c.fmtQty(i, r.filledLots), remaining_quantity: c.fmtQty(i, r.remainingLots),
    average_price: avgTicks > 0 ? c.fmtPrice(i, avgTicks) : null, fee: c.fmtAsset(q, r.feeUnits), fee_asset: q,
    client_order_id: r.clientOrderId, post_only: (r.flags & 1) !== 0,
    reject_reason: r.rejectReason !== 0 ? REJECT_SLUGS[r.rejectReason] ?? String(r.rejectReason) : null, reject_code: r.rejectReason !== 0 ? r.rejectReason : null,
    end_reason: r.status === 'canceled' || r.status === 'expired' ? END_REASONS[r.endReason] ?? String(r.endReason) : null,
    created_at: isoOfUs(r.createdUs), updated_at: isoOfUs(r.updatedUs), expires_at: isoOfUs(r.expireTsUs), engine_seq: r.lastSeq,
    display_quantity: r.displayQtyLots > 0 ? c.fmtQty(i, r.displayQtyLots) : null,
    trail_offset: trailing && r.trailOffset > 0 && (r.flags & FLAG_TRAIL_BPS) === 0 ? c.fmtPrice(i, r.trailOffset) : null,
    trail_offset_bps: trailing && r.trailOffset > 0 && (r.flags & FLAG_TRAIL_BPS) !== 0 ? r.trailOffset : null,
    limit_offset: r.limitOffsetTicks > 0 ? c.fmtPrice(i, r.limitOffsetTicks) : null,
    trigger_price_type: r.orderType >= TYPE_FIRST_CONDITIONAL ? ((r.flags & FLAG_MARK_TRIGGER) !== 0 ? 'mark' : 'last') : null,
    oco_order_id: r.linkId > 0 && (r.flags & FLAG_CHILD) === 0 ? String(r.linkId) : null,
    parent_order_id: r.linkId > 0 && (r.flags & FLAG_CHILD) !== 0 ? String(r.linkId) : null,
    stp_mode: r.stpMode > 0 ? STP_MODES[r.stpMode] ?? null : null,
    stp_group: r.stpGroup > 0 ? r.stpGroup : null,
  };
}

/**
 * A quantity in lots, refused before sequencing when above the instrument's maximum (the engine's
 * QuantityAboveMax): 400 with the field path. Beyond the safe integer range is above it too (the
 * engine's ledger would have answered arithmetic_overflow).
 */
function boundedLots(c: RestContext, i: InstrumentInfo, value: string, field: string): number {
  let lots: number;
  try {
    lots = i.lot.toSteps(value, 'quantity');
  } catch (e) {
    if (!(e instanceof DecimalError && e.code === 'OutOfRange')) return c.lots(i, value, field); // its own problem
    lots = Infinity;
  }
  if (lots > i.spec.maxQtyLots) {
    const max = c.fmtQty(i, i.spec.maxQtyLots);
    throw validationProblem([{ path: `body.${field}`, message: `${field} ${value} is above the maximum ${max} of ${i.spec.symbol}`, code: REJECT_SLUGS[RejectReason.QuantityAboveMax]!, reason_code: RejectReason.QuantityAboveMax }],
      `${field} is above the instrument's maximum ${max}`);
  }
  return lots;
}

export interface OrderResourceOptions {
  /** client_order_ids kept (oldest dropped first). Default 500,000. */
  maxClientOrderIds?: number;
  /** At start, the journal's last this many seqs are scanned for client_order_ids (client-ids.ts). Default 1,000,000. */
  clientIdScanSeqs?: number;
}

export class OrderResource {
  /** `${account}:${client_order_id}` -> the order it created, and order id -> client_order_id (client-ids.ts). */
  readonly ids: ClientOrderIds;
  /** The seq the read model was seeded at, and the first seq of the journal window scanned at start. */
  private readonly seedSeq: number;
  private readonly windowFrom: number;
  /** The orders that ended before the restart, put back into the read model on first need (ReadModel.restoreEnded). */
  private restoring: Promise<void> | null = null;

  constructor(private readonly c: RestContext, o: OrderResourceOptions = {}) {
    this.ids = new ClientOrderIds(o.maxClientOrderIds ?? 500_000);
    // Rebuilt from the journal up to the seq the read model was seeded at (every later order comes
    // through this resource); the seeded open orders get their client's string back.
    const to = c.model.lastSeq;
    this.seedSeq = to;
    this.windowFrom = Math.max(0, to - (o.clientIdScanSeqs ?? 1_000_000));
    if (to > 0) {
      const scan = this.ids.scanJournal(c.engine.journalPath, this.windowFrom, to);
      for (const [id, text] of this.ids.texts()) c.model.setClientText(id, text);
      c.log({ ...scan, kept: this.ids.size }, 'rest: client_order_ids restored from the journal');
    }
  }

  routes(): Route[] {
    const c = this.c;
    return [
      {
        method: 'post', path: '/api/v1/orders', permission: 'order.place', tag: 'orders', summary: 'Create an order', status: 201,
        body: OrderCreate, response: Order, audit: 'order.place', handler: (ctx) => this.create(ctx),
      },
      {
        method: 'get', path: '/api/v1/orders', permission: 'account.read', tag: 'orders', summary: 'List orders (newest first)',
        query: OrderListQuery, response: HistoryPage(Order), handler: (ctx) => this.list(ctx),
      },
      {
        method: 'get', path: '/api/v1/orders/{order_id}', permission: 'account.read', tag: 'orders', summary: 'Get an order',
        params: OrderIdParams, response: Order, handler: (ctx) => this.one(ctx),
      },
      {
        method: 'put', path: '/api/v1/orders/{order_id}', permission: 'order.place', tag: 'orders', summary: 'Replace an order (price and/or total quantity)',
        params: OrderIdParams, body: OrderReplace, response: Order, audit: 'order.replace', handler: (ctx) => this.replace(ctx),
      },
      {
        method: 'delete', path: '/api/v1/orders/{order_id}', permission: 'order.cancel', tag: 'orders', summary: 'Cancel an order',
        params: OrderIdParams, response: Order, audit: 'order.cancel', handler: (ctx) => this.cancel(ctx),
      },
      {
        method: 'post', path: '/api/v1/orders/{order_id}/cancel', permission: 'order.cancel', tag: 'orders', summary: 'Cancel an order (alternative)',
        params: OrderIdParams, response: Order, audit: 'order.cancel', handler: (ctx) => this.cancel(ctx),
      },
    ];
  }

  /**
   * An order from before the restart that the read model does not hold (it ended before the
   * snapshot the model was seeded from): the ended orders of the scanned journal window are
   * replayed back into the read model once, on the first such lookup (concurrent lookups share it).
   */
  private async restored(id: number): Promise<OrderRecord | null> {
    const c = this.c;
    if (id > this.seedSeq || id <= this.windowFrom) return null;
    if (this.restoring === null) {
      const t0 = performance.now();
      this.restoring = c.model.restoreEnded(c.engine.journalPath, this.windowFrom, this.seedSeq, ledgerOptionsOfEngine(c.engine)).then((n) => {
        c.log({ orders: n, from: this.windowFrom, to: this.seedSeq, ms: Math.round(performance.now() - t0) }, 'rest: orders ended before the restart restored from the journal');
        for (const [oid, text] of this.ids.texts()) c.model.setClientText(oid, text);
      }, (e: unknown) => {
        c.log({ err: (e as Error).message }, 'rest: restoring ended orders from the journal failed');
      });
    }
    await this.restoring;
    return c.model.orders.get(id) ?? null;
  }

  /** The order named in the path, if the principal may `permission` on its account; else 404. */
  private owned(ctx: RouteContext, permission: Permission): OrderRecord {
    const id = Number((ctx.params as { order_id: string }).order_id);
    const rec = this.c.model.orders.get(id);
    const d = authorizeObject(ctx.principal!, permission, rec?.account);
    if (!d.ok) throw d.httpStatus === 404 ? problem(404, 'order_not_found', 'order not found') : problem(d.httpStatus, d.code, d.message);
    ctx.audit.target = `order:${id}`;
    return rec!;
  }

  private async create(ctx: RouteContext): Promise<{ status: number; body: unknown; headers?: Record<string, string> }> {
    const c = this.c;
    const b = ctx.body as OrderCreate;
    const account = c.account(ctx, 'order.place', b.account_id);
    ctx.audit.target = `account:${account}`;
    const i = c.instrument(b.symbol);
    const cmd = this.command(i, account, b);
    // The same order whatever spelling of the symbol it was sent with (idempotency key, audit).
    if (b.symbol !== i.spec.symbol) b.symbol = i.spec.symbol;
    ctx.audit.detail = { symbol: b.symbol, side: b.side, order_type: b.order_type, client_order_id: b.client_order_id ?? null };
    const t0 = performance.now();
    if (b.client_order_id === undefined) {
      const out = await c.submit(cmd, i.spec.id, (seq) => c.model.noteSubmitted(seq, cmd));
      return this.answerNew(ctx, out.seq, t0);
    }
    const text = b.client_order_id;
    // "The same body" = the same command (client-ids.ts): decided alike before and after a restart.
    const fp = commandFingerprint(cmd, i.spec.id);
    const seen = this.ids.get(account, text);
    if (seen !== undefined) {
      // An order from before the restart: its fields are read from its journal record.
      if (this.ids.fingerprintOf(seen, c.engine.journalPath) !== fp) {
        throw problem(409, 'idempotency_conflict', `client_order_id ${text} was used for a different order`, seen.orderId !== 0 ? { order_id: String(seen.orderId) } : {});
      }
      if (seen.pending !== null) await seen.pending;
      if (seen.orderId === 0) return this.create(ctx); // the first request was refused before sequencing: the id is free again
      const r = await this.answerReplay(ctx, seen.orderId);
      return { ...r, status: 200, headers: { 'idempotent-replayed': 'true' } };
    }
    const entry: IdemEntry = { fp, orderId: 0, pending: null };
    let release: () => void = () => {};
    entry.pending = new Promise<void>((res) => { release = res; });
    this.ids.add(account, text, entry);
    try {
      const out = await c.submit(cmd, i.spec.id, (seq) => { this.ids.sequenced(entry, account, seq, text); c.model.noteSubmitted(seq, cmd); });
      return this.answerNew(ctx, out.seq, t0);
    } catch (e) {
      // Nothing was sequenced (refused, busy): the id stays free for a retry.
      if (entry.orderId === 0) this.ids.delete(account, text);
      throw e;
    } finally {
      entry.pending = null;
      release();
    }
  }

  private answerNew(ctx: RouteContext, orderId: number, t0: number): { status: number; body: unknown } {
    const rec = this.c.model.orders.get(orderId);
    this.c.hooks.orderSubmitted?.(rec?.status ?? 'unknown', performance.now() - t0);
    if (rec === undefined) throw problem(404, 'order_not_found', 'the order is no longer held in memory');
    return this.answerOrder(ctx, rec);
  }

  /**
   * A retry's answer: the order as it is now, from the read model, else (an order that ended before
   * a restart, or was dropped from memory) PostgreSQL's history; a rejected order answers its reject
   * again, like the first answer.
   */
  private async answerReplay(ctx: RouteContext, orderId: number): Promise<{ status: number; body: unknown }> {
    const c = this.c;
    let rec: OrderRecord | null = c.model.orders.get(orderId) ?? (await this.restored(orderId));
    if (rec === null && c.history !== null) {
      try {
        rec = this.withText(await c.history.order(orderId));
      } catch (e) {
        c.log({ err: (e as Error).message }, 'rest: order history query failed');
        throw problem(503, 'history_unavailable', 'order history (PostgreSQL) is unavailable; retry shortly', { order_id: String(orderId) }, { 'retry-after': '1' });
      }
    }
    if (rec === null || !c.byId.has(rec.instrumentId)) {
      throw problem(404, 'order_not_found', `client_order_id was used for order ${orderId}, which is no longer held in memory (nor in the history)`, { order_id: String(orderId) });
    }
    return this.answerOrder(ctx, rec);
  }

  /** A history order with its client's string from the index when it holds one (PostgreSQL has it too for orders replicated since migration 004; older rows have only the engine's integer). */
  private withText(rec: OrderRecord | null): OrderRecord | null {
    if (rec !== null) {
      const text = this.ids.textOf(rec.id);
      if (text !== undefined) rec.clientOrderId = text;
    }
    return rec;
  }

  private answerOrder(ctx: RouteContext, rec: OrderRecord): { status: number; body: unknown } {
    const orderId = rec.id;
    ctx.audit.target = `order:${orderId}`;
    if (rec.status === 'rejected') {
      throw rejectProblem(rec.rejectReason, undefined, { order_id: String(orderId), engine_seq: rec.lastSeq });
    }
    return { status: 201, body: orderJson(this.c, rec) };
  }

  private command(i: InstrumentInfo, account: number, b: OrderCreate): Command {
    const c = this.c;
    const cmd = new Command();
    cmd.type = CommandType.NewOrder;
    cmd.account = account;
    cmd.side = SIDES.indexOf(b.side);
    cmd.orderType = ORDER_TYPES.indexOf(b.order_type);
    const tif = b.time_in_force ?? (b.expires_at !== undefined ? 'GTD' : MARKET_TYPES.has(b.order_type) ? 'IOC' : 'GTC');
    cmd.tif = TIFS.indexOf(tif);
    let flags = 0;
    if (b.price !== undefined) cmd.priceTicks = c.ticks(i, b.price, 'price');
    if (b.stop_price !== undefined) cmd.stopPriceTicks = c.ticks(i, b.stop_price, 'stop_price');
    if (b.quantity !== undefined) cmd.qtyLots = boundedLots(c, i, b.quantity, 'quantity');
    if (b.quote_quantity !== undefined) { cmd.quoteQtyUnits = c.quoteUnits(i, b.quote_quantity, 'quote_quantity'); flags |= 2; }
    if (b.expires_at !== undefined) cmd.expireTsUs = toUs(b.expires_at)!;
    if (b.client_order_id !== undefined) {
      cmd.clientOrderId = engineClientOrderId(b.client_order_id);
      cmd.clientText = b.client_order_id; // journaled with the order (words 27..31)
    }
    if (b.post_only === true) flags |= 1;
    if (b.trigger_price_type === 'mark') flags |= 4;
    if (b.trigger_immediately === true) flags |= 8;
    if (b.trail_offset !== undefined && b.trail_offset_bps !== undefined) {
      throw rejectProblem(38, 'give trail_offset or trail_offset_bps, not both', { errors: [{ path: 'body.trail_offset_bps', message: 'not with trail_offset', code: 'conflict' }] });
    }
    if (b.trail_offset !== undefined) cmd.trailOffset = c.ticks(i, b.trail_offset, 'trail_offset');
    if (b.trail_offset_bps !== undefined) { cmd.trailOffset = b.trail_offset_bps; flags |= 16; }
    if (b.limit_offset !== undefined) cmd.limitOffsetTicks = c.ticks(i, b.limit_offset, 'limit_offset');
    if (b.display_quantity !== undefined) cmd.displayQtyLots = c.lots(i, b.display_quantity, 'display_quantity');
    if (b.stp_mode !== undefined) cmd.stpMode = STP_MODES.indexOf(b.stp_mode);
    if (b.stp_group !== undefined) cmd.stpGroup = b.stp_group;
    if (b.oco_order_id !== undefined && b.parent_order_id !== undefined) {
      throw rejectProblem(37, 'an order is either an OCO leg or a bracket child', { errors: [{ path: 'body.parent_order_id', message: 'not with oco_order_id', code: 'conflict' }] });
    }
    if (b.oco_order_id !== undefined) cmd.linkId = Number(b.oco_order_id);
    if (b.parent_order_id !== undefined) { cmd.linkId = Number(b.parent_order_id); flags |= 32; }
    cmd.flags = flags;
    return cmd;
  }

  /** GET one order: the read model, else (terminated orders it no longer has) PostgreSQL. */
  private async one(ctx: RouteContext): Promise<{ body: unknown }> {
    const c = this.c;
    const id = Number((ctx.params as { order_id: string }).order_id);
    if (c.history === null || c.model.orders.has(id)) {
      if (!c.model.orders.has(id)) await this.restored(id);
      return { body: orderJson(c, this.owned(ctx, 'account.read')) };
    }
    let rec: OrderRecord | null;
    try {
      rec = this.withText(await c.history.order(id));
    } catch (e) {
      c.log({ err: (e as Error).message }, 'rest: order history query failed');
      throw problem(503, 'history_unavailable', 'order history (PostgreSQL) is unavailable; retry shortly', {}, { 'retry-after': '1' });
    }
    const d = authorizeObject(ctx.principal!, 'account.read', rec?.account);
    if (!d.ok || rec === null || !c.byId.has(rec.instrumentId)) throw d.ok || d.httpStatus === 404 ? problem(404, 'order_not_found', 'order not found') : problem(d.httpStatus, d.code, d.message);
    return { body: orderJson(c, rec) };
  }

  private async list(ctx: RouteContext): Promise<{ body: unknown }> {
    const c = this.c;
    const q = ctx.query as ReturnType<typeof OrderListQuery.parse>;
    const accounts = c.accounts(ctx, 'account.read', q.account_id);
    const instrumentId = q.symbol !== undefined ? c.instrument(q.symbol).spec.id : 0;
    const statuses = q.status === undefined ? null : new Set<string>(q.status.flatMap((s: string) => (s === 'open' ? [...LIVE_STATUSES] : [s])));
    const side = q.side === undefined ? -1 : SIDES.indexOf(q.side);
    const from = toUs(q.start_time) ?? -Infinity, to = toUs(q.end_time) ?? Infinity;
    const before = q.cursor !== undefined ? Number(q.cursor) : 0;
    const hits: OrderRecord[] = [];
    for (const a of accounts) {
      let n = 0;
      for (const id of c.model.orderIdsDesc(a, before)) {
        const r = c.model.orders.get(id);
        if (r === undefined) continue;
        if (instrumentId !== 0 && r.instrumentId !== instrumentId) continue;
        if (statuses !== null && !statuses.has(r.status as OrderStatus)) continue;
        if (side >= 0 && r.side !== side) continue;
        if (r.createdUs < from || r.createdUs > to) continue;
        hits.push(r);
        if (++n >= q.limit) break;
      }
    }
    let source: 'memory' | 'postgresql' = 'memory';
    if (c.history !== null) {
      // Terminated orders from PostgreSQL; any order the read model holds is answered from it (fresher).
      const pgStatuses = TERMINATED_STATUSES.filter((s) => statuses === null || statuses.has(s));
      try {
        const rows = await c.history.orders({
          accounts, statuses: pgStatuses, instrumentId, side, fromUs: toUs(q.start_time), toUs: toUs(q.end_time), beforeId: before, limit: q.limit,
        });
        for (const r of rows) if (!c.model.orders.has(r.id) && c.byId.has(r.instrumentId)) hits.push(this.withText(r)!);
        source = 'postgresql';
      } catch (e) {
        c.log({ err: (e as Error).message }, 'rest: order history query failed; answering from memory');
      }
    }
    hits.sort((x, y) => y.id - x.id);
    const page = hits.slice(0, q.limit);
    const next = page.length === q.limit ? String(page[page.length - 1]!.id) : null;
    return { body: { data: page.map((r) => orderJson(c, r)), next_cursor: next, history_source: source } };
  }

  private async replace(ctx: RouteContext): Promise<{ body: unknown }> {
    const c = this.c;
    const rec = this.owned(ctx, 'order.place');
    const b = ctx.body as { price?: string; quantity?: string };
    const i = c.byId.get(rec.instrumentId)!;
    const cmd = new Command();
    cmd.type = CommandType.Replace;
    cmd.account = rec.account;
    cmd.orderId = rec.id;
    if (b.price !== undefined) cmd.priceTicks = c.ticks(i, b.price, 'price');
    if (b.quantity !== undefined) cmd.qtyLots = boundedLots(c, i, b.quantity, 'quantity');
    ctx.audit.detail = { price: b.price ?? null, quantity: b.quantity ?? null };
    const out = await c.submit(cmd, i.spec.id);
    if (out.rejectReason !== 0) throw rejectProblem(out.rejectReason, undefined, { order_id: String(rec.id), engine_seq: out.seq });
    return { body: orderJson(c, c.model.orders.get(rec.id) ?? rec) };
  }

  private async cancel(ctx: RouteContext): Promise<{ body: unknown }> {
    const c = this.c;
    const rec = this.owned(ctx, 'order.cancel');
    if (!LIVE_STATUSES.has(rec.status)) throw rejectProblem(23, `order ${rec.id} is ${rec.status}`, { order_id: String(rec.id), order_status: rec.status });
    const cmd = new Command();
    cmd.type = CommandType.Cancel;
    cmd.account = rec.account;
    cmd.orderId = rec.id;
    const out = await c.submit(cmd, rec.instrumentId);
    if (out.rejectReason !== 0) throw rejectProblem(out.rejectReason, undefined, { order_id: String(rec.id), engine_seq: out.seq });
    return { body: orderJson(c, c.model.orders.get(rec.id) ?? rec) };
  }
}
