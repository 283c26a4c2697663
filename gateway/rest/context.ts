// What the REST resources share: the engine, the read model, instrument lookups, account choice
// (object-level authorization), exact decimal conversion and "submit, then wait for the durable ack".

import { hash } from 'node:crypto';
import { DecimalError, DecimalStep, formatDecimal, parseDecimal } from '../../core/fixed.js';
import type { InstrumentSpec } from '../../core/instrument.js';
import type { Command } from '../../core/types.js';
import { authorize, type Permission } from '../auth/permissions.js';
import { SubmitStatus, type Engine, type SubmitResult } from '../engine.js';
import type { Ledger, LedgerOptions } from '../ledger.js';
import { problem, rejectProblem, type ProblemError } from './problem.js';
import type { PgHistory } from './history.js';
import type { AckOutcome, ReadModel } from './read-model.js';
import type { RouteContext } from './router.js';

export interface InstrumentInfo {
  spec: InstrumentSpec;
  tick: DecimalStep;
  lot: DecimalStep;
}

export interface RestMetricsHooks {
  orderSubmitted?(status: string, latencyMs: number): void;
}

export class RestContext {
  readonly byId = new Map<number, InstrumentInfo>();
  readonly bySymbol = new Map<string, InstrumentInfo>();
  /** "BTCUSDT" -> BTC-USDT: a symbol without its dashes, kept only where exactly one instrument has it (null: ambiguous). */
  private readonly byDashless = new Map<string, InstrumentInfo | null>();
  readonly assetDecimals = new Map<string, number>();
  /** Time the read model starts from (ISO), for answers that say what they do not include. */
  readonly sinceIso: string;
  /** Start of the read model in microseconds (candles from then on are complete in memory). */
  readonly sinceUs: number;
  /** PostgreSQL history (DATABASE_URL), or null: then history is what the read model saw since start. */
  history: PgHistory | null = null;
  /** Where history failures are logged. */
  log: (fields: Record<string, unknown>, msg: string) => void = () => {};

  constructor(
    readonly engine: Engine,
    readonly model: ReadModel,
    readonly hooks: RestMetricsHooks = {},
    readonly ackTimeoutMs = 10_000,
    nowMs = Date.now(),
  ) {
    for (const spec of engine.instruments) {
      const info = { spec, tick: new DecimalStep(spec.tickSize), lot: new DecimalStep(spec.lotSize) };
      this.byId.set(spec.id, info);
      this.bySymbol.set(spec.symbol, info);
      const dashless = spec.symbol.replace(/-/g, '');
      if (dashless !== spec.symbol) this.byDashless.set(dashless, this.byDashless.has(dashless) ? null : info);
      this.assetDecimals.set(spec.baseAsset, spec.baseDecimals);
      this.assetDecimals.set(spec.quoteAsset, spec.quoteDecimals);
    }
    this.sinceIso = new Date(nowMs).toISOString();
    this.sinceUs = nowMs * 1000;
  }

  /**
   * The instrument of a symbol as listed ("BTC-USDT"), or written without its dash ("BTCUSDT") when
   * exactly one instrument reads so and no instrument is listed under that exact name. Case-sensitive.
   */
  instrument(symbol: string): InstrumentInfo {
    const i = this.bySymbol.get(symbol) ?? this.byDashless.get(symbol) ?? undefined;
    if (i === undefined) throw rejectProblem(29, `unknown symbol ${symbol}`, { errors: [{ path: 'symbol', message: 'unknown symbol', code: 'unknown_symbol' }] });
    return i;
  }

  /** The one account a request acts on: the given one (if the principal may), or the principal's only one. */
  account(ctx: RouteContext, permission: Permission, accountId: number | undefined): number {
    const p = ctx.principal!;
    if (accountId === undefined) {
      if (p.accountIds.size !== 1) throw problem(400, 'account_required', 'this credential has several accounts (or none): give account_id');
      accountId = p.accountIds.values().next().value as number;
    }
    const d = authorize(p, permission, accountId);
    if (!d.ok) throw problem(d.httpStatus, d.code, d.message);
    return accountId;
  }

  /** Accounts a read covers: the given one, or all of the principal's. */
  accounts(ctx: RouteContext, permission: Permission, accountId: number | undefined): number[] {
    if (accountId !== undefined) return [this.account(ctx, permission, accountId)];
    return [...ctx.principal!.accountIds].sort((a, b) => a - b);
  }

  fmtPrice(i: InstrumentInfo, ticks: number): string { return i.tick.fromSteps(ticks); }
  fmtQty(i: InstrumentInfo, lots: number): string { return i.lot.fromSteps(lots); }
  fmtAsset(asset: string, units: number): string { return formatDecimal(units, this.assetDecimals.get(asset) ?? 0); }

  /** Exact conversions with a problem naming the field on failure. */
  ticks(i: InstrumentInfo, value: string, field: string): number {
    return this.steps(i.tick, value, field, 10, 5, 'price');
  }

  lots(i: InstrumentInfo, value: string, field: string): number {
    return this.steps(i.lot, value, field, 6, 6, 'quantity');
  }

  quoteUnits(i: InstrumentInfo, value: string, field: string): number {
    try {
      return parseDecimal(value, i.spec.quoteDecimals);
    } catch (e) {
      throw fieldProblem(6, field, (e as Error).message, 'invalid_quantity');
    }
  }

  private steps(step: DecimalStep, value: string, field: string, notOnStepReason: number, otherReason: number, what: string): number {
    try {
      return step.toSteps(value, what);
    } catch (e) {
      const notOnStep = e instanceof DecimalError && e.code === 'NotOnStep';
      throw fieldProblem(notOnStep ? notOnStepReason : otherReason, field, (e as Error).message, notOnStep ? 'not_on_step' : 'invalid_decimal');
    }
  }

  /** Requests whose submit the engine answered Deferred, by tag: resolved with its final answer. */
  private readonly deferred = new Map<number, (r: { status: SubmitStatus; seq: number; reason: number }) => void>();
  private nextTag = 0;
  private readonly onDeferred = (tag: number, r: SubmitResult): void => {
    const resolve = this.deferred.get(tag);
    if (resolve === undefined) return;
    this.deferred.delete(tag);
    resolve({ status: r.status, seq: r.seq, reason: r.reason });
  };

  /**
   * Submits through the engine (the same sequencer and journal as binary orders) and waits for the
   * durable ack. Refusals before sequencing and Busy become problems. A command the engine defers
   * (a linked order waiting for its book to settle, or one behind it: Engine.submit) is waited for.
   */
  async submit(cmd: Command, instrumentId: number, onSequenced?: (seq: number) => void): Promise<AckOutcome> {
    let status: SubmitStatus, seq: number, reason: number;
    const tag = ++this.nextTag;
    try {
      // Requests finishing in the same event-loop turn reach the rings with one publish (and one
      // wake-up of the shard and the journal thread) instead of one each.
      this.engine.batchUntilTurnEnds();
      const r = this.engine.submit(cmd, instrumentId, 0, this.onDeferred, tag);
      status = r.status; seq = r.seq; reason = r.reason;
    } catch {
      throw unavailable();
    }
    if (status === SubmitStatus.Deferred) {
      // Answered within the engine's wait bound (maxParkMs), at close or on failure.
      ({ status, seq, reason } = await new Promise<{ status: SubmitStatus; seq: number; reason: number }>((res) => { this.deferred.set(tag, res); }));
      if (status === SubmitStatus.Busy && this.engine.error !== null) throw unavailable();
    }
    if (status === SubmitStatus.Busy) throw rejectProblem(64, 'the engine is busy; retry shortly');
    if (status === SubmitStatus.Rejected) throw rejectProblem(reason);
    onSequenced?.(seq);
    const out = await this.model.waitFor(seq, this.ackTimeoutMs);
    if (out === null) throw problem(504, 'timeout', `command ${seq} was sequenced but not acknowledged within ${this.ackTimeoutMs} ms; query it again`, { engine_seq: seq });
    return out;
  }
}

function unavailable(): ProblemError {
  return problem(503, 'unavailable', 'the engine is not accepting commands (recovering, closing or failed)', {}, { 'retry-after': '1' });
}

export function fieldProblem(reason: number, field: string, message: string, code: string): ProblemError {
  return rejectProblem(reason, message, { errors: [{ path: `body.${field}`, message, code }] });
}

/** A REST client order id -> the engine's integer one: digits are used as they are, others hashed to 48 bits. */
export function engineClientOrderId(s: string): number {
  if (/^[1-9][0-9]{0,14}$/.test(s)) return Number(s);
  // One-shot hash: a createHash object per request left a weak handle for the scavenger (audit.ts).
  return hash('sha256', s, 'buffer').readUIntBE(0, 6) + 1;
}

/**
 * The engine ledger's options (assets in the ledger's order, pool sizes, fee account), so that a
 * journal replay's ledger (candle catch-up, the order read model's restore) behaves exactly like it.
 */
export function ledgerOptionsOfEngine(engine: { ledger: Pick<Ledger, 'assetCount' | 'assetName' | 'feeAccount' | 'maxOrders' | 'maxPendingReplaces'> }): Partial<LedgerOptions> {
  const l = engine.ledger;
  const assets: string[] = [];
  for (let a = 0; a < l.assetCount; a++) assets.push(l.assetName(a));
  return { feeAccount: l.feeAccount, maxOrders: l.maxOrders, maxPendingReplaces: l.maxPendingReplaces, assets };
}
