// Shared pieces of the benches: the bench instrument, the book interface they drive, reason names,
// percentiles, machine description and environment knobs.

import fs from 'node:fs';
import os from 'node:os';
import type { InstrumentSpec } from '../core/instrument.js';
import type { EventBuffer } from '../core/events.js';
import type { Command } from '../core/types.js';
import { MID_PRICE_TICKS } from './streams.js';

/** What the benches need from a book (OrderBook and ReferenceBook both have it). */
export interface BenchBook {
  execute(cmd: Command): void;
  stateHash(): string;
  prefetch?(type: number, orderId: number, account: number, clientOrderId: number): void;
}
export type BookFactory = (spec: InstrumentSpec, events: EventBuffer) => BenchBook;

/**
 * The bench instrument: tick 0.01, lot 0.001, quote in 6 decimals (10 units per tick x lot), every
 * risk check on (price band, min/max quantity and notional, max open orders, position limit), fees
 * on. Limits are set so that the generated streams almost never hit them.
 */
export function benchSpec(orderCapacity: number): InstrumentSpec {
  return {
    id: 1, symbol: 'BENCH-USD', baseAsset: 'BENCH', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.001',
    notionalUnitsPerTickLot: 10, baseUnitsPerLot: 100_000, baseDecimals: 8, quoteDecimals: 6,
    minPriceTicks: 1, maxPriceTicks: 10_000_000,
    minQtyLots: 1, maxQtyLots: 10_000,
    minNotionalUnits: 100_000, maxNotionalUnits: 100_000_000_000,
    priceBandBps: 1_000, marketBandBps: 500, referencePriceTicks: MID_PRICE_TICKS,
    makerFeePpm: 100, takerFeePpm: 250,
    maxOpenOrdersPerAccount: 100_000, maxPositionLots: 100_000_000,
    orderCapacity, clientIdRetention: 10_000, minDisplayQtyLots: 1,
  };
}

// Names for the numeric codes of core/types.ts (const enums leave no names at run time).
export const REJECT_NAMES: Record<number, string> = {
  0: 'None', 1: 'UnknownCommand', 2: 'InvalidSide', 3: 'InvalidOrderType', 4: 'InvalidTimeInForce', 5: 'InvalidPrice',
  6: 'InvalidQuantity', 7: 'InvalidStpMode', 8: 'InvalidFlags', 9: 'InvalidExpireTime', 10: 'PriceNotOnTick',
  11: 'QuantityBelowMin', 12: 'QuantityAboveMax', 13: 'NotionalBelowMin', 14: 'NotionalAboveMax',
  15: 'PriceOutsideBand', 16: 'TooManyOpenOrders', 17: 'PositionLimitExceeded', 18: 'SymbolHalted',
  19: 'SymbolCancelOnly', 20: 'AccountKilled', 21: 'DuplicateClientOrderId', 22: 'PostOnlyWouldTake',
  23: 'UnknownOrder', 25: 'BookFull', 26: 'NoReferencePrice', 27: 'GtdAlreadyExpired', 28: 'ReplaceNoChange',
  29: 'UnknownSymbol', 30: 'InvalidAccount', 31: 'InvalidClientOrderId', 32: 'ArithmeticOverflow',
  33: 'InvalidValue', 64: 'Busy', 65: 'InsufficientBalance',
};
export const END_NAMES: Record<number, string> = {
  0: 'UserCancel', 1: 'MassCancel', 2: 'ImmediateRemainder', 3: 'FillOrKill', 4: 'Expired', 5: 'SelfTrade',
  6: 'MarketProtection', 7: 'KillSwitch', 8: 'ReplaceDone', 9: 'QuoteExhausted',
};
export const EVENT_NAMES: Record<number, string> = {
  1: 'Accepted', 2: 'Rejected', 3: 'Trade', 4: 'Canceled', 5: 'Expired', 6: 'Replaced', 7: 'Decremented',
  8: 'Depth', 9: 'TopOfBook', 10: 'AdminDone',
};
export const COMMAND_NAMES: Record<number, string> = {
  1: 'NewOrder', 2: 'Cancel', 3: 'Replace', 4: 'MassCancel', 5: 'TimeTick', 6: 'SetSymbolStatus',
  7: 'SetKillSwitch', 8: 'SetAccountLimits', 9: 'SetReferencePrice',
};

export function nameOf(table: Record<number, string>, code: number): string {
  return table[code] ?? `code${code}`;
}

/** Value at quantile q of an ascending-sorted array (nearest rank). */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return 0;
  return n % 2 === 1 ? s[(n - 1) >> 1]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

export function round(x: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Cost of one performance.now() pair, in ns (median of many). */
export function timerOverheadNs(): number {
  const n = 100_000;
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = performance.now();
    const b = performance.now();
    d[i] = (b - a) * 1e6;
  }
  d.sort();
  return quantile(d, 0.5);
}

export function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    node: process.version, v8: process.versions.v8, platform: process.platform, arch: process.arch,
    cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', totalMemBytes: os.totalmem(),
    loadAvg1m: round(os.loadavg()[0] ?? 0, 2), date: new Date().toISOString(),
    glibcTunables: process.env['GLIBC_TUNABLES'] ?? null,
  };
}

/**
 * The process's anonymous memory in transparent huge pages, in KiB (Linux; null elsewhere). With
 * THP in `madvise` mode (Debian's default) it is 0 unless the process asks, which the npm scripts do
 * for glibc's allocations with GLIBC_TUNABLES=glibc.malloc.hugetlb=1.
 */
export function anonHugePagesKb(): number | null {
  try {
    const m = /AnonHugePages:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/smaps_rollup', 'utf8'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

export function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
  return n;
}

export function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

type Gc = () => void;
const gcFn: Gc | undefined = (globalThis as { gc?: Gc }).gc;
export const hasGc = gcFn !== undefined;
export function fullGc(): void {
  if (gcFn !== undefined) { gcFn(); gcFn(); }
}

const napCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Full GC, then a pause of `ms`: V8 frees a collected ArrayBuffer's memory on a background thread,
 * and unmapping a large book's hundreds of MB (page freeing, TLB shootdowns) would otherwise overlap
 * the next timed run. Measured: a shallow run timed right after a deep book was dropped ran at
 * 1.7-2.5M ops/s against 3.4-3.6M without one.
 */
export function settle(ms = 250): void {
  fullGc();
  Atomics.wait(napCell, 0, 0, ms);
  fullGc();
}
