// Returns over time for /api/v1/portfolio/performance: an account's equity (its balances marked to
// price in one valuation asset) at the end of regular buckets, each bucket's time-weighted return with
// deposits and withdrawals neutralised, and the summary figures (total return, max drawdown,
// volatility, Sharpe). This file is the arithmetic only (pure functions, property-tested in
// performance.test.ts); portfolio.ts gathers the balances, cash flows and prices it needs.
//
// Method: linked Modified Dietz. Within one bucket [v0, v1] the return is
//   r = gain / (E0 + sum(w_i * F_i)),   gain = E1 - E0 - sum(F_i),   w_i = (v1 - t_i) / (v1 - v0)
// where E0, E1 are the equity at the bucket's start and end and F_i the cash flows (deposits > 0,
// withdrawals < 0) valued at the bucket's closing price; the buckets' returns are then chained
// (1 + R) = prod(1 + r), so the size of the account, and flows between buckets, do not weigh on the
// result: a time-weighted return. It equals the true time-weighted return when no flow falls inside a
// bucket, and differs from it only by how the price moved between a flow and the bucket's end.
// The gain is summed per asset as (units changed by trading) * P1 + (units held at the start) *
// (P1 - P0), so that at a constant price a flow or a trade at that price gives exactly 0.

import { formatDecimal } from '../../core/fixed.js';

/** Price of one smallest unit of an asset in smallest units of the valuation asset: num / den (exact for integers). */
export interface Price { num: number; den: number }

export const UNIT_PRICE: Price = { num: 1, den: 1 };

export function valueOf(units: number, p: Price): number {
  return p.den === 1 ? units * p.num : (units * p.num) / p.den;
}

/** A change of one asset's balance: a cash flow (deposit, withdrawal, adjustment) or a trade's leg (fees included). */
export interface BalanceChange { tsUs: number; asset: number; units: number; flow: boolean }

export interface SeriesInput {
  /** Valuation times v_0 < v_1 < ... < v_n: bucket k runs from v_k to v_{k+1}. */
  times: readonly number[];
  /** Balances (smallest units) per asset at v_0. */
  opening: readonly number[];
  /** Changes with v_0 < tsUs <= v_n, in time order. */
  changes: readonly BalanceChange[];
  /** prices[k][asset]: price at v_k, or null when the asset has none then (left out of equity). */
  prices: readonly (readonly (Price | null)[])[];
}

export interface BucketResult {
  /** Equity at the bucket's end (v_{k+1}), in smallest units of the valuation asset. */
  equity: number;
  /** Cash flows during the bucket, valued at its closing price (assets entering the valuation included). */
  netFlow: number;
  periodReturn: number | null;
  cumulativeReturn: number | null;
}

export interface SeriesResult {
  startEquity: number;
  buckets: BucketResult[];
  /** Assets held at some point that had no price then (left out of equity). */
  unpricedAssets: number[];
}

/** Below this (in valuation units) a gain with no capital behind it counts as none (float noise). */
const EPS = 1e-9;

/** Equity, flows and each bucket's Modified Dietz return, chained. */
export function computeSeries(s: SeriesInput): SeriesResult {
  const nAssets = s.opening.length;
  const bal = s.opening.slice();
  const unpriced = new Set<number>();
  const equityAt = (k: number): number => {
    let e = 0;
    const p = s.prices[k]!;
    for (let a = 0; a < nAssets; a++) {
      if (bal[a] === 0) continue;
      const pa = p[a];
      if (pa === null || pa === undefined) { unpriced.add(a); continue; }
      e += valueOf(bal[a]!, pa);
    }
    return e;
  };
  const startEquity = equityAt(0);
  const buckets: BucketResult[] = [];
  // The return index as a sum of log(1 + r), so that small returns keep their digits when chained.
  let logWealth: number | null = 0;
  let ci = 0;
  const traded = new Array<number>(nAssets).fill(0);
  for (let k = 0; k + 1 < s.times.length; k++) {
    const v0 = s.times[k]!, v1 = s.times[k + 1]!, span = v1 - v0;
    const p0 = s.prices[k]!, p1 = s.prices[k + 1]!;
    const start = bal.slice();
    const e0 = equityAt(k);
    traded.fill(0);
    let flows = 0, weighted = 0;
    for (; ci < s.changes.length && s.changes[ci]!.tsUs <= v1; ci++) {
      const c = s.changes[ci]!;
      bal[c.asset] = bal[c.asset]! + c.units;
      if (!c.flow) { traded[c.asset] = traded[c.asset]! + c.units; continue; }
      const pa = p1[c.asset];
      if (pa === null || pa === undefined) continue; // not in equity: not a flow of it either
      const f = valueOf(c.units, pa);
      flows += f;
      weighted += span > 0 ? f * ((v1 - c.tsUs) / span) : 0;
    }
    let gain = 0;
    for (let a = 0; a < nAssets; a++) {
      const pa1 = p1[a];
      if (pa1 === null || pa1 === undefined) continue;
      gain += valueOf(traded[a]!, pa1);
      const pa0 = p0[a];
      if (pa0 !== null && pa0 !== undefined) {
        if (start[a] !== 0) gain += valueOf(start[a]!, pa1) - valueOf(start[a]!, pa0);
      } else if (start[a] !== 0) {
        // The asset gets its first price in this bucket: what was held enters equity as a flow at
        // the close (weight 0), not as a gain.
        flows += valueOf(start[a]!, pa1);
      }
    }
    const e1 = equityAt(k + 1);
    const capital = e0 + weighted;
    let r: number | null;
    if (capital > EPS) r = gain / capital;
    else r = Math.abs(gain) <= EPS ? 0 : null;
    logWealth = logWealth === null || r === null ? null : logWealth + Math.log1p(Math.max(r, -1)); // below -1 (Dietz with large flows) the index is wiped out
    buckets.push({ equity: e1, netFlow: flows, periodReturn: r, cumulativeReturn: logWealth === null ? null : Math.expm1(logWealth) });
  }
  return { startEquity, buckets, unpricedAssets: [...unpriced].sort((x, y) => x - y) };
}

export interface Summary {
  totalReturn: number | null;
  /** Largest fall of the return index from a previous peak, as a fraction (0.25 = 25 %); flows do not count. */
  maxDrawdown: number | null;
  /** Annualised standard deviation of the full buckets' returns; null with fewer than 2 or any bucket without a return. */
  volatility: number | null;
  /** Annualised mean / standard deviation of the full buckets' returns, risk-free rate 0. */
  sharpeRatio: number | null;
  /** Full-length buckets the volatility and Sharpe ratio are computed from. */
  periods: number;
}

/**
 * Summary of a series. `full[k]`: bucket k has the interval's whole length (the first and last may be
 * cut by the covered range or the present); only those enter volatility and Sharpe, annualised with
 * `periodsPerYear`.
 */
export function summarize(returns: readonly (number | null)[], full: readonly boolean[], periodsPerYear: number): Summary {
  let lw = 0, peak = 0, mdd = 0;
  let broken = false;
  for (const r of returns) {
    if (r === null) { broken = true; break; }
    lw += Math.log1p(Math.max(r, -1));
    if (lw > peak) peak = lw;
    const dd = -Math.expm1(lw - peak);
    if (dd > mdd) mdd = dd;
  }
  const xs: number[] = [];
  if (!broken) for (let k = 0; k < returns.length; k++) if (full[k]) xs.push(returns[k]!);
  let volatility: number | null = null, sharpe: number | null = null;
  if (!broken && xs.length >= 2) {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, b) => a + (b - mean) * (b - mean), 0) / (xs.length - 1);
    const sd = Math.sqrt(variance);
    volatility = sd * Math.sqrt(periodsPerYear);
    sharpe = sd > 1e-15 ? (mean / sd) * Math.sqrt(periodsPerYear) : null;
  }
  return {
    totalReturn: broken ? null : Math.expm1(lw),
    maxDrawdown: broken ? null : mdd,
    volatility, sharpeRatio: sharpe, periods: broken ? 0 : xs.length,
  };
}

/** Buckets per year of a 24/7 market (365.25 days). */
export function periodsPerYear(intervalUs: number): number {
  return (365.25 * 86_400_000_000) / intervalUs;
}

/**
 * The ledger snapshot's balances (Ledger.stateDump's canonical layout: version, assetCount,
 * feeAccount, external units per asset, accountCount, then per account its id and (available,
 * locked) per asset): account -> total units per asset.
 */
export function balancesOfLedgerDump(d: ArrayLike<number>): { assetCount: number; totals: Map<number, Float64Array> } {
  let p = 1;
  const k = d[p++]!;
  p++; // fee account
  p += k; // external units
  const n = d[p++]!;
  const totals = new Map<number, Float64Array>();
  for (let j = 0; j < n; j++) {
    const account = d[p++]!;
    const t = new Float64Array(k);
    for (let a = 0; a < k; a++) { t[a] = d[p]! + d[p + 1]!; p += 2; }
    totals.set(account, t);
  }
  if (!(Number.isInteger(k) && k >= 0 && p <= d.length)) throw new RangeError('ledger snapshot truncated');
  return { assetCount: k, totals };
}

/** Whole smallest units (a float, beyond 2^53 for large equities) as a decimal string with `decimals` places. */
export function bigDecimal(units: number, decimals: number): string {
  if (Number.isSafeInteger(units)) return formatDecimal(units, decimals);
  const neg = units < 0;
  const digits = BigInt(Math.abs(units)).toString().padStart(decimals + 1, '0');
  const int = digits.slice(0, digits.length - decimals), frac = digits.slice(digits.length - decimals).replace(/0+$/, '');
  return `${neg ? '-' : ''}${int}${frac !== '' ? `.${frac}` : ''}`;
}

