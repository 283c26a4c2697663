// /api/v1/portfolio: balances (from the ledger, exact), positions and PnL (from the fills the read
// model saw: average-cost method, marked to the last trade price), and returns over time
// (/performance: equity per bucket and time-weighted returns, performance.ts). Approximations are
// listed in every answer that has them.

import { CW_ACCOUNT, CW_ASSET, CW_TYPE, CW_TS, CW_VALUE, isFundingType, RuntimeCommandType } from '../../core/command-codec.js';
import { INTERVAL_US, bucketStartUs, type Candle as CandleRow, type Interval } from '../../marketdata/candles.js';
import { latestSnapshot, readJournalChunks } from '../../persistence/journal.js';
import { decodeSnapshot, LEDGER_SNAPSHOT_ID } from '../../persistence/snapshot-blob.js';
import type { Ack } from '../engine.js';
import type { CandleFeed } from './candle-feed.js';
import { candlesCurrent } from './market-data.js';
import type { InstrumentInfo, RestContext } from './context.js';
import {
  balancesOfLedgerDump, bigDecimal, computeSeries, periodsPerYear, summarize, UNIT_PRICE, type BalanceChange, type Price,
} from './performance.js';
import { problem, validationProblem } from './problem.js';
import type { Position } from './read-model.js';
import type { Route, RouteContext } from './router.js';
import { AccountIdQuery, AccountQuery, Balance, DateTime, Performance, Portfolio, Position as PositionSchema, SignedDecimal } from './schemas.js';
import { z } from 'zod';

/** Most buckets one series may have (a request for more is a validation error). */
export const MAX_POINTS = 1000;
/** Most points one answer may have over all its accounts' series. */
export const MAX_TOTAL_POINTS = 10_000;
/** The read model keeps this many fills per account (ReadModel's default maxTradesPerAccount); past it the oldest may be gone. */
const FILLS_KEPT = 100_000;
/** How long /performance waits for the candle store's start-up catch-up before answering 503. */
const PERF_INTERVALS = ['1m', '5m', '15m', '1h', '4h', '1d'] as const;

const RETURNS_METHOD = 'time-weighted return, linked Modified Dietz: per bucket, gain / (start equity + time-weighted cash flows), '
  + 'gain = end equity - start equity - cash flows; bucket returns are chained. Deposits, withdrawals and adjustments are cash flows, '
  + 'never returns; fees are losses. Equity = balances (available + locked) marked at the close of each bucket\'s candle '
  + '(the last trade price at or before the bucket\'s end); volatility and Sharpe (risk-free rate 0) are annualised over 365.25 days '
  + 'from the full-length buckets only; max drawdown is measured on the return index, so withdrawals are not drawdowns';

export const PerformanceQuery = z.strictObject({
  account_id: AccountIdQuery.optional(),
  interval: z.enum(PERF_INTERVALS).default('1h').meta({ description: 'bucket length of the returns series (candle intervals); default 1h' }),
  start_time: DateTime.optional().meta({ description: 'first bucket: the one containing this time; default the start of the covered range (the gateway start), at most 1000 buckets back' }),
  end_time: DateTime.optional().meta({ description: 'last bucket: the one containing this time; default now (a time in the future means now)' }),
  valuation_asset: z.string().regex(/^[A-Za-z0-9._-]{1,20}$/, 'an asset name such as "USD"').optional()
    .meta({ description: 'asset the equity is valued in; default the quote asset when every instrument has the same one' }),
}).superRefine((q, ctx) => {
  if (q.start_time === undefined || q.end_time === undefined) return;
  const s = Date.parse(q.start_time) * 1000, e = Date.parse(q.end_time) * 1000;
  if (e < s) { ctx.addIssue({ code: 'custom', path: ['end_time'], message: 'end_time is before start_time' }); return; }
  const n = bucketCount(s, e, INTERVAL_US[q.interval]);
  if (n > MAX_POINTS) ctx.addIssue({ code: 'too_big', origin: 'number', maximum: MAX_POINTS, inclusive: true, path: ['start_time'], message: `the range has ${n} buckets of ${q.interval}; at most ${MAX_POINTS}: narrow it or take a longer interval` });
});

function bucketCount(startUs: number, endUs: number, lenUs: number): number {
  const first = startUs - (((startUs % lenUs) + lenUs) % lenUs);
  const last = endUs - (((endUs % lenUs) + lenUs) % lenUs);
  return Math.floor((last - first) / lenUs) + 1;
}

const ReturnPoint = z.object({
  time: z.string().meta({ description: 'the bucket\'s open time; its values are at its close (or now, for the current bucket)' }),
  equity: z.string().meta({ description: 'balances marked to price, in the valuation asset, at the bucket\'s close' }),
  net_flow: SignedDecimal.meta({ description: 'deposits - withdrawals during the bucket, valued at its close (and holdings entering the valuation when their market first trades)' }),
  period_return: z.number().nullable().meta({ description: 'the bucket\'s time-weighted return as a fraction (0.01 = 1 %); null when no capital was invested and still something was gained or lost' }),
  cumulative_return: z.number().nullable().meta({ description: 'chained return from the first bucket\'s start to this bucket\'s close' }),
});

const ReturnSeries = z.object({
  account_id: z.number(),
  complete: z.boolean().meta({ description: 'false when this account\'s series could not be rebuilt (see notes), or the requested range starts before the covered range' }),
  start_equity: z.string().nullable(),
  end_equity: z.string().nullable(),
  net_flows: SignedDecimal.nullable(),
  pnl: SignedDecimal.nullable().meta({ description: 'end equity - start equity - net flows' }),
  total_return: z.number().nullable(),
  max_drawdown: z.number().nullable().meta({ description: 'largest fall of the return index from a previous peak, as a fraction' }),
  volatility: z.number().nullable().meta({ description: 'annualised standard deviation of the full buckets\' returns; null with fewer than 2' }),
  sharpe_ratio: z.number().nullable().meta({ description: 'annualised mean / standard deviation of the full buckets\' returns, risk-free rate 0' }),
  periods: z.number().meta({ description: 'full-length buckets behind volatility and Sharpe' }),
  unpriced_assets: z.array(z.string()).meta({ description: 'assets held but left out of equity for some or all buckets: no instrument quotes them in the valuation asset, or it had not traded yet' }),
  notes: z.array(z.string()),
  points: z.array(ReturnPoint),
});

export const Returns = z.object({
  interval: z.enum(PERF_INTERVALS),
  valuation_asset: z.string(),
  start_time: z.string().nullable().meta({ description: 'start of the first bucket\'s values (the bucket\'s open, or covered_from when later); null without buckets' }),
  end_time: z.string().nullable().meta({ description: 'close of the last bucket (or now)' }),
  covered_from: z.string().meta({ description: 'balances and cash flows are known from this time on (the gateway start): no bucket starts before it' }),
  complete: z.boolean().meta({ description: 'false when the requested start_time is before covered_from, or some account\'s series is incomplete' }),
  method: z.string(),
  series: z.array(ReturnSeries),
});

export const PerformanceOut = Performance.extend({ returns: Returns });

const APPROX = [
  'positions count lots bought minus sold per book (spot: the base balance is the exact holding)',
  'average price and realized PnL use the average-cost method over fills since the gateway started, rounded to whole quote units',
  'unrealized PnL is marked to the last trade price; null when the book has not traded or the cost basis predates the gateway start',
  'fees are summed in the quote asset; maker rebates are negative fees',
];

/** Funding acks noted before they are read from the journal without a request asking. */
const FUNDING_EAGER = 4096;

export class PortfolioResource {
  /** The read model's seq when this resource was made (= its seeding snapshot's: nothing was acked in between). */
  private readonly startSeq: number;
  /** Each book's last trade price at that seq (the read model's seed), per instrument id. */
  private readonly startPx = new Map<number, number>();
  /** Seqs of funding commands acked since, not yet read back from the journal (the ack carries no account or asset). */
  private pendingFunding: number[] = [];
  /** Funding since the start by account: signed units per asset, engine time. */
  private readonly funding = new Map<number, { tsUs: number; asset: number; units: number }[]>();
  /** Balances at startSeq from the ledger snapshot (loaded on first use), or why they are not known. */
  private anchor: Map<number, Float64Array> | string | null = null;

  constructor(private readonly c: RestContext, private readonly feed: CandleFeed | null = null) {
    this.startSeq = c.model.lastSeq;
    for (const [id, b] of c.model.books) this.startPx.set(id, b.lastPx);
    // Funding acks (deposit, withdraw, adjust) are noted by seq; nothing else is done on the ack path.
    const prev = c.engine.onAck;
    c.engine.onAck = (ack: Ack): void => {
      prev?.(ack);
      if (isFundingType(ack.commandType)) {
        this.pendingFunding.push(ack.seq);
        if (this.pendingFunding.length === FUNDING_EAGER) setImmediate(() => { try { this.readFunding(); } catch (e) { this.c.log({ err: (e as Error).message }, 'rest: funding read failed'); } });
      }
    };
  }

  routes(): Route[] {
    return [
      { method: 'get', path: '/api/v1/portfolio', permission: 'account.read', tag: 'portfolio', summary: 'Balances, positions and open order count', query: AccountQuery, response: Portfolio, handler: (ctx) => this.portfolio(ctx) },
      { method: 'get', path: '/api/v1/portfolio/positions', permission: 'account.read', tag: 'portfolio', summary: 'Positions', query: AccountQuery, response: z.object({ data: z.array(PositionSchema), approximations: z.array(z.string()) }), handler: (ctx) => ({ body: { data: this.positions(this.accts(ctx)), approximations: APPROX } }) },
      { method: 'get', path: '/api/v1/portfolio/balances', permission: 'account.read', tag: 'portfolio', summary: 'Balances from the ledger', query: AccountQuery, response: z.object({ data: z.array(Balance) }), handler: (ctx) => ({ body: { data: this.balances(this.accts(ctx)) } }) },
      { method: 'get', path: '/api/v1/portfolio/performance', permission: 'account.read', tag: 'portfolio', summary: 'Realized and unrealized PnL per quote asset, and returns over time', query: PerformanceQuery, response: PerformanceOut, handler: (ctx) => this.performance(ctx) },
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

  private async performance(ctx: RouteContext): Promise<{ body: unknown }> {
    const c = this.c;
    const q = ctx.query as { interval: Interval; start_time?: string; end_time?: string; valuation_asset?: string };
    const accounts = this.accts(ctx);
    const returns = await this.returns(accounts, q, Date.now() * 1000);
    const rows = new Map<string, { a: number; q: string; realized: number; unrealized: number | null; fees: number }>();
    for (const a of accounts) {
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
        returns,
      },
    };
  }

  // ------------------------------------------------------------------------------ returns over time

  private valuationAsset(given: string | undefined): { name: string; index: number } {
    const led = this.c.engine.ledger;
    if (given !== undefined) {
      const index = led.assetId(given);
      if (!(index >= 0 && index < led.assetCount)) throw validationProblem([{ path: 'query.valuation_asset', message: `unknown asset ${given}`, code: 'invalid_value' }]);
      return { name: given, index };
    }
    const quotes = new Set([...this.c.byId.values()].map((i) => i.spec.quoteAsset));
    if (quotes.size !== 1) {
      throw validationProblem([{ path: 'query.valuation_asset', message: `the instruments have several quote assets (${[...quotes].join(', ')}): give valuation_asset`, code: 'invalid_value' }]);
    }
    const name = [...quotes][0]!;
    return { name, index: led.assetId(name) };
  }

  private async returns(accounts: number[], q: { interval: Interval; start_time?: string; end_time?: string; valuation_asset?: string }, nowUs: number): Promise<z.infer<typeof Returns>> {
    const c = this.c;
    const val = this.valuationAsset(q.valuation_asset);
    const len = INTERVAL_US[q.interval];
    const covered = c.sinceUs;
    const requestedStart = q.start_time !== undefined ? Date.parse(q.start_time) * 1000 : undefined;
    const endUs = Math.min(q.end_time !== undefined ? Date.parse(q.end_time) * 1000 : nowUs, nowUs);
    if (requestedStart !== undefined && requestedStart > nowUs) {
      throw validationProblem([{ path: 'query.start_time', message: 'start_time is in the future', code: 'invalid_value' }]);
    }
    if (requestedStart !== undefined && q.end_time === undefined && bucketCount(requestedStart, endUs, len) > MAX_POINTS) {
      throw validationProblem([{ path: 'query.start_time', message: `the range up to now has more than ${MAX_POINTS} buckets of ${q.interval}: narrow it or take a longer interval`, code: 'too_big' }]);
    }
    const lastOpen = bucketStartUs(Math.max(endUs - 1, covered), q.interval);
    const firstOpen = Math.max(bucketStartUs(Math.max(requestedStart ?? covered, covered), q.interval), lastOpen - (MAX_POINTS - 1) * len);
    const base = {
      interval: q.interval, valuation_asset: val.name, covered_from: new Date(Math.floor(covered / 1000)).toISOString(), method: RETURNS_METHOD,
    };
    if (endUs <= covered) return { ...base, start_time: null, end_time: null, complete: requestedStart === undefined || requestedStart >= covered, series: [] };
    const n = (lastOpen - firstOpen) / len + 1;
    if (n * accounts.length > MAX_TOTAL_POINTS) {
      throw validationProblem([{ path: 'query.account_id', message: `${accounts.length} accounts x ${n} buckets is more than ${MAX_TOTAL_POINTS} points: give account_id or a shorter range`, code: 'too_big' }]);
    }
    // Valuation times: v_0 the first bucket's open (or the covered start), v_k+1 bucket k's close (or now).
    const times: number[] = [Math.max(firstOpen, covered)];
    const full: boolean[] = [];
    for (let k = 0; k < n; k++) {
      const open = firstOpen + k * len;
      const close = Math.min(open + len, nowUs);
      times.push(close);
      full.push(open >= covered && close === open + len);
    }
    const prices = await this.priceTable(val, q.interval, firstOpen, n, times[0]!);
    this.readFunding();
    const anchor = this.loadAnchor();
    const led = c.engine.ledger;
    const ppy = periodsPerYear(len);
    const decimals = c.assetDecimals.get(val.name) ?? 0;
    const fmt = (units: number): string => bigDecimal(Math.round(units), decimals);
    const series: z.infer<typeof ReturnSeries>[] = [];
    for (const account of accounts) {
      const notes: string[] = [];
      const empty = (why: string): z.infer<typeof ReturnSeries> => ({
        account_id: account, complete: false, start_equity: null, end_equity: null, net_flows: null, pnl: null, total_return: null, max_drawdown: null,
        volatility: null, sharpe_ratio: null, periods: 0, unpriced_assets: [], notes: [why], points: [],
      });
      if (typeof anchor === 'string') { series.push(empty(anchor)); continue; }
      const fills = c.model.tradesByAccount.get(account);
      if (fills !== undefined && fills.length >= FILLS_KEPT) {
        series.push(empty(`the account has ${fills.length} fills since the gateway started; the read model keeps ${FILLS_KEPT}, so its balances over time cannot be rebuilt`));
        continue;
      }
      if (account === led.feeAccount) notes.push('this is the fee account: the fees it collects are not counted, so its equity and returns are understated');
      // Balances at v_0 and the changes after it, from the snapshot's balances and every acked change since.
      const opening = Array.from(anchor.get(account) ?? new Float64Array(led.assetCount));
      const changes: BalanceChange[] = [];
      const add = (tsUs: number, asset: number, units: number, flow: boolean): void => {
        if (units === 0) return;
        // The engine stamps microseconds, `now` is a wall-clock reading: a change acked just now may
        // carry a later stamp. When the last bucket ends now it still belongs there; else after the range.
        if (tsUs > times[n]!) { if (times[n] !== nowUs) return; tsUs = times[n]!; }
        if (tsUs <= times[0]!) opening[asset] = opening[asset]! + units;
        else changes.push({ tsUs, asset, units, flow });
      };
      if (fills !== undefined) {
        for (let k = 0; k < fills.length; k++) {
          if (fills.seq(k) <= this.startSeq) continue;
          const i = c.byId.get(fills.instrumentId(k))!;
          const ts = fills.tsUs(k), qty = fills.qtyLots(k) * i.spec.baseUnitsPerLot, notional = fills.notionalUnits(k), fee = fills.feeUnits(k);
          const ba = led.assetId(i.spec.baseAsset), qa = led.assetId(i.spec.quoteAsset);
          if (fills.side(k) === 0) { add(ts, ba, qty, false); add(ts, qa, -(notional + fee), false); }
          else { add(ts, ba, -qty, false); add(ts, qa, notional - fee, false); }
        }
      }
      for (const f of this.funding.get(account) ?? []) add(f.tsUs, f.asset, f.units, true);
      changes.sort((x, y) => x.tsUs - y.tsUs);
      const r = computeSeries({ times, opening, changes, prices });
      const s = summarize(r.buckets.map((b) => b.periodReturn), full, ppy);
      const last = r.buckets[r.buckets.length - 1]!;
      const flows = r.buckets.reduce((a, b) => a + b.netFlow, 0);
      series.push({
        account_id: account, complete: notes.length === 0 && (requestedStart === undefined || requestedStart >= covered),
        start_equity: fmt(r.startEquity), end_equity: fmt(last.equity), net_flows: fmt(flows), pnl: fmt(last.equity - r.startEquity - flows),
        total_return: s.totalReturn, max_drawdown: s.maxDrawdown, volatility: s.volatility, sharpe_ratio: s.sharpeRatio, periods: s.periods,
        unpriced_assets: r.unpricedAssets.map((a) => led.assetName(a)), notes,
        points: r.buckets.map((b, k) => ({
          time: new Date(Math.floor((firstOpen + k * len) / 1000)).toISOString(), equity: fmt(b.equity), net_flow: fmt(b.netFlow),
          period_return: b.periodReturn, cumulative_return: b.cumulativeReturn,
        })),
      });
    }
    return {
      ...base, start_time: new Date(Math.floor(times[0]! / 1000)).toISOString(), end_time: new Date(Math.floor(times[n]! / 1000)).toISOString(),
      complete: series.every((x) => x.complete) && (requestedStart === undefined || requestedStart >= covered), series,
    };
  }

  /**
   * prices[k][asset] at the valuation times: 1 for the valuation asset; for an asset that an
   * instrument quotes in it, the close of the candle of the bucket ending at v_k (carried forward
   * through buckets without trades), the last trade before the first bucket, or the book's last
   * price at the gateway start; null while it has none.
   */
  private async priceTable(val: { index: number }, interval: Interval, firstOpen: number, n: number, v0: number): Promise<(Price | null)[][]> {
    const c = this.c, led = c.engine.ledger, len = INTERVAL_US[interval];
    const table: (Price | null)[][] = Array.from({ length: n + 1 }, () => new Array<Price | null>(led.assetCount).fill(null));
    for (const row of table) row[val.index] = UNIT_PRICE;
    const pricing: InstrumentInfo[] = [];
    for (const i of c.byId.values()) if (led.assetId(i.spec.quoteAsset) === val.index && led.assetId(i.spec.baseAsset) !== val.index) pricing.push(i);
    if (pricing.length === 0) return table;
    await this.candlesCurrent();
    for (const i of pricing) {
      const a = led.assetId(i.spec.baseAsset);
      const price = (ticks: number): Price | null => (ticks > 0 ? { num: ticks * i.spec.notionalUnitsPerTickLot, den: i.spec.baseUnitsPerLot } : null);
      let px = v0 > firstOpen ? this.startPx.get(i.spec.id)! : await this.lastCloseBefore(i, interval, firstOpen);
      table[0]![a] = price(px);
      const rows = this.feed === null ? [] : await this.feed.store.query({ symbol: i.spec.symbol, interval, fromUs: firstOpen, toUs: firstOpen + (n - 1) * len, limit: n });
      let r = 0;
      for (let k = 0; k < n; k++) {
        const open = firstOpen + k * len;
        while (r < rows.length && rows[r]!.openTimeUs <= open) { if (rows[r]!.openTimeUs === open) px = rows[r]!.closeTicks; r++; }
        table[k + 1]![a] = price(px);
      }
    }
    return table;
  }

  /** The last trade price before `t` (a bucket boundary) since the gateway started, else the book's last price then (0: none). */
  private async lastCloseBefore(i: InstrumentInfo, interval: Interval, t: number): Promise<number> {
    const fallback = this.startPx.get(i.spec.id) ?? 0;
    const store = this.feed?.store;
    if (store === undefined) return fallback;
    const from = bucketStartUs(this.c.sinceUs, '1d');
    const sym = i.spec.symbol;
    const lastOf = (rows: CandleRow[]): CandleRow | undefined => rows[rows.length - 1];
    const days = await store.query({ symbol: sym, interval: '1d', fromUs: from, toUs: t - 1 });
    const day = lastOf(days);
    if (day === undefined) return fallback;
    if (interval === '1d') return day.closeTicks;
    // The day's candles of the interval that closed by t; if all of its trades came after t, the day before.
    const within = lastOf(await store.query({ symbol: sym, interval, fromUs: day.openTimeUs, toUs: t - INTERVAL_US[interval] }));
    if (within !== undefined) return within.closeTicks;
    const before = days.length >= 2 ? days[days.length - 2]! : undefined;
    return before !== undefined ? before.closeTicks : fallback;
  }

  /** Waits (bounded) for the candle store's start-up catch-up and brings it up to the last ack. */
  private async candlesCurrent(): Promise<void> {
    if (this.feed !== null) await candlesCurrent(this.feed, this.c.log);
  }


  /**
   * Reads the account, asset and amount of the funding acks noted since the last call from the
   * journal, in one pass from the first to the last (they are rare; more than FUNDING_EAGER of them
   * are read at once, off the ack path, so that the list stays bounded when nobody asks).
   */
  private readFunding(): void {
    if (this.pendingFunding.length === 0) return;
    const seqs = this.pendingFunding;
    this.pendingFunding = [];
    const wanted = new Set(seqs);
    const last = seqs[seqs.length - 1]!;
    outer: for (const chunk of readJournalChunks(this.c.engine.journalPath, seqs[0]! - 1)) {
      const w = chunk.words, rw = chunk.recordWords;
      for (let r = 0, o = 0; r < chunk.n; r++, o += rw) {
        const seq = w[o + chunk.seqWord]!;
        if (seq > last) break outer;
        if (!wanted.delete(seq)) continue;
        const type = w[o + CW_TYPE]!, v = w[o + CW_VALUE]!;
        const units = type === RuntimeCommandType.Withdraw ? -v : v; // Adjust carries its sign
        const account = w[o + CW_ACCOUNT]!;
        let list = this.funding.get(account);
        if (list === undefined) { list = []; this.funding.set(account, list); }
        list.push({ tsUs: w[o + CW_TS]!, asset: w[o + CW_ASSET]!, units });
      }
    }
    if (wanted.size > 0) {
      // Not readable yet (or any more): kept for the next request, and said in the log.
      const missing = seqs.filter((q) => wanted.has(q));
      this.pendingFunding.push(...missing);
      this.c.log({ seq: missing[0], count: missing.length }, 'rest: funding command not found in the journal; returns leave it out for now');
    }
  }


  /** Every account's balances at startSeq, from the ledger part of the snapshot the gateway was seeded from. */
  private loadAnchor(): Map<number, Float64Array> | string {
    if (this.anchor !== null) return this.anchor;
    try {
      const snap = latestSnapshot(this.c.engine.journalPath, LEDGER_SNAPSHOT_ID, this.startSeq);
      if (snap === null || snap.seq !== this.startSeq) return 'no ledger snapshot at the gateway start: the balances over time cannot be rebuilt';
      const d = balancesOfLedgerDump(decodeSnapshot(snap.blob).state);
      if (d.assetCount !== this.c.engine.ledger.assetCount) return 'the ledger snapshot at the gateway start has other assets than the ledger';
      this.anchor = d.totals;
    } catch (e) {
      this.c.log({ err: (e as Error).message }, 'rest: ledger snapshot unreadable for /performance');
      return 'the ledger snapshot at the gateway start could not be read (see the log)';
    }
    return this.anchor;
  }
}

function signedQty(c: RestContext, instrumentId: number, lots: number): string {
  const i = c.byId.get(instrumentId)!;
  return lots < 0 ? `-${c.fmtQty(i, -lots)}` : c.fmtQty(i, lots);
}
