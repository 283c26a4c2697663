// Instruments as they are written in configuration (decimal strings for every amount), and their
// conversion to the core's InstrumentSpec (integers only). An instrument whose scales would let an
// integer computation of the core leave the safe range is rejected here, at definition, with an
// error that names the field.

import { z } from 'zod';
import {
  DecimalStep, FixedPointError, MAX_SAFE, formatDecimal, parseDecimal,
} from '../core/fixed.js';
import type { InstrumentSpec } from '../core/instrument.js';

/** Upper bound of the preallocated capacities (orders, levels, retained client ids) per book. */
export const MAX_CAPACITY = 1 << 24;
/** Highest decimals of an asset's smallest unit. */
export const MAX_ASSET_DECIMALS = 18;
/** Band arithmetic multiplies a price in ticks by at most 10000 + 10000 bps. */
export const BAND_FACTOR = 20000;

const decimalString = z.string().min(1, 'must be a decimal string like "0.01"');
const bps = z.number().int().min(0).max(10000);
const count = z.number().int().min(0).max(MAX_CAPACITY);

/** One instrument as written in config (JSON). Unknown fields are rejected. */
export const RawInstrumentSchema = z.strictObject({
  symbol: z.string().regex(/^[A-Z0-9]{1,16}-[A-Z0-9]{1,16}$/, 'must look like "BTC-USDT" (upper case, one "-")'),
  baseAsset: z.string().regex(/^[A-Z0-9]{1,16}$/, 'must be an upper-case asset code like "BTC"'),
  quoteAsset: z.string().regex(/^[A-Z0-9]{1,16}$/, 'must be an upper-case asset code like "USDT"'),
  /** Decimals of the base asset's smallest unit (8 for BTC satoshis). */
  baseDecimals: z.number().int().min(0).max(MAX_ASSET_DECIMALS),
  quoteDecimals: z.number().int().min(0).max(MAX_ASSET_DECIMALS),
  tickSize: decimalString,
  lotSize: decimalString,
  minPrice: decimalString,
  maxPrice: decimalString,
  minQty: decimalString,
  maxQty: decimalString,
  /** In the quote asset. Default "0" (no minimum). */
  minNotional: decimalString.default('0'),
  /** In the quote asset. Default "0" (no maximum beyond maxPrice * maxQty). */
  maxNotional: decimalString.default('0'),
  /** Limit prices within this distance of the reference price. 0 = off. */
  priceBandBps: bps,
  /** Market orders never trade further than this from the reference price. */
  marketBandBps: bps,
  /** Initial reference price. Absent or "0" = none until the first trade. */
  referencePrice: decimalString.default('0'),
  /** Fee as a decimal rate ("0.001" = 0.1%) or in basis points ("10"); one form per side; default 0. */
  makerFee: decimalString.optional(),
  makerFeeBps: decimalString.optional(),
  takerFee: decimalString.optional(),
  takerFeeBps: decimalString.optional(),
  /** Per-account defaults. 0 = unlimited. */
  maxOpenOrdersPerAccount: count.default(0),
  /** Base quantity. "0" = unlimited. */
  maxPosition: decimalString.default('0'),
  orderCapacity: count.min(1),
  /** Price levels per side. Default: orderCapacity (a level holds at least one order). */
  clientIdRetention: count.default(0),
  /** Iceberg minimum display quantity. Default: minQty. */
  minDisplayQty: decimalString.optional(),
});

export type RawInstrument = z.input<typeof RawInstrumentSchema>;

export interface ConfigIssue {
  /** Path of the offending field, e.g. ["tickSize"] or ["instruments", 0, "lotSize"]. */
  path: (string | number)[];
  message: string;
}

export function formatPath(path: readonly (string | number | symbol)[]): string {
  if (path.length === 0) return '(root)';
  return path.map((p) => String(p)).join('.');
}

/** An instrument definition that cannot be used; `issues` names each bad field. */
export class InstrumentConfigError extends Error {
  readonly issues: ConfigIssue[];
  readonly symbol: string;
  constructor(symbol: string, id: number, issues: ConfigIssue[]) {
    super(`instrument ${symbol} (id ${id}) is invalid:\n` +
      issues.map((i) => `  - ${formatPath(i.path)}: ${i.message}`).join('\n'));
    this.name = 'InstrumentConfigError';
    this.symbol = symbol;
    this.issues = issues;
  }

  /** The first issue's top-level field name, e.g. "tickSize". */
  get field(): string {
    return String(this.issues[0]?.path[0] ?? '');
  }
}

/** Collects issues while converting; each conversion names its field. */
class Checker {
  readonly issues: ConfigIssue[] = [];

  fail(field: string, message: string): void {
    this.issues.push({ path: [field], message });
  }

  /** Runs fn; a FixedPointError becomes an issue of `field` and the result is undefined. */
  attempt<T>(field: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      if (err instanceof FixedPointError) {
        this.fail(field, err.message);
        return undefined;
      }
      throw err;
    }
  }
}

/** Exact value of a decimal string as BigInt numerator over 10^scale (scale = significant decimals). */
function exactUnits(step: DecimalStep): { num: bigint; scale: number } {
  return { num: BigInt(step.units), scale: step.scaleDecimals };
}

/** num / 10^scale * 10^decimals as a positive safe integer, or an explanation why not. */
function scaledInteger(num: bigint, scale: number, decimals: number): number | string {
  const shifted = num * 10n ** BigInt(decimals);
  const div = 10n ** BigInt(scale);
  if (shifted % div !== 0n) return 'is not a whole number';
  const v = shifted / div;
  if (v < 1n) return 'is below 1';
  if (v > BigInt(MAX_SAFE)) return 'is beyond 2^53-1';
  return Number(v);
}

/** A fee rate string in ppm: "0.001" -> 1000; basis points "10" -> 1000. */
function feePpm(c: Checker, rateField: string, rate: string | undefined, bpsField: string, bpsText: string | undefined): number | undefined {
  if (rate !== undefined && bpsText !== undefined) {
    c.fail(rateField, `give either ${rateField} or ${bpsField}, not both`);
    return undefined;
  }
  const field = bpsText !== undefined ? bpsField : rateField;
  const ppm = c.attempt(field, () => {
    if (bpsText !== undefined) return parseDecimal(bpsText, 2, { allowNegative: true }); // 1 bp = 100 ppm
    if (rate !== undefined) return parseDecimal(rate, 6, { allowNegative: true });
    return 0;
  });
  if (ppm === undefined) return undefined;
  if (ppm < -1_000_000 || ppm > 1_000_000) {
    c.fail(field, 'fee rate must lie within [-100%, 100%]');
    return undefined;
  }
  return ppm;
}

/**
 * Validates one raw instrument and converts it to the core's InstrumentSpec.
 * Throws InstrumentConfigError listing every problem found.
 */
export function loadInstrument(raw: unknown, id: number): InstrumentSpec {
  const label = typeof raw === 'object' && raw !== null && typeof (raw as { symbol?: unknown }).symbol === 'string'
    ? (raw as { symbol: string }).symbol : '(unnamed)';
  if (!Number.isSafeInteger(id) || id < 1 || id > 65535) {
    throw new InstrumentConfigError(label, id, [{ path: ['id'], message: 'must be an integer in [1, 65535]' }]);
  }
  const parsed = RawInstrumentSchema.safeParse(raw);
  if (!parsed.success) {
    const issues: ConfigIssue[] = [];
    for (const i of parsed.error.issues) {
      const path = i.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
      if (i.code === 'unrecognized_keys') for (const key of i.keys) issues.push({ path: [...path, key], message: 'unknown field' });
      else issues.push({ path, message: i.message });
    }
    throw new InstrumentConfigError(label, id, issues);
  }
  const r = parsed.data;
  const c = new Checker();

  const tick = c.attempt('tickSize', () => new DecimalStep(r.tickSize));
  const lot = c.attempt('lotSize', () => new DecimalStep(r.lotSize));
  if (r.baseAsset === r.quoteAsset) c.fail('quoteAsset', 'must differ from baseAsset');

  // Scales: both products must be whole numbers of the assets' smallest units.
  let notionalUnitsPerTickLot: number | undefined;
  let baseUnitsPerLot: number | undefined;
  if (tick !== undefined && lot !== undefined) {
    const t = exactUnits(tick), l = exactUnits(lot);
    const n = scaledInteger(t.num * l.num, t.scale + l.scale, r.quoteDecimals);
    if (typeof n === 'string') {
      c.fail('tickSize', `tickSize * lotSize = ${tick.text} * ${lot.text} in units of 10^-${r.quoteDecimals} ${r.quoteAsset} ${n}: ` +
        'the notional of one tick x one lot must be a whole number of quote units (coarser tick or lot, or more quoteDecimals)');
    } else notionalUnitsPerTickLot = n;
    const b = scaledInteger(l.num, l.scale, r.baseDecimals);
    if (typeof b === 'string') {
      c.fail('lotSize', `lotSize ${lot.text} in units of 10^-${r.baseDecimals} ${r.baseAsset} ${b}: ` +
        'a lot must be a whole number of base units');
    } else baseUnitsPerLot = b;
  }

  const onTick = (field: string, text: string): number | undefined =>
    tick === undefined ? undefined : c.attempt(field, () => tick.toSteps(text, field));
  const onLot = (field: string, text: string): number | undefined =>
    lot === undefined ? undefined : c.attempt(field, () => lot.toSteps(text, field));
  const quoteUnits = (field: string, text: string): number | undefined =>
    c.attempt(field, () => parseDecimal(text, r.quoteDecimals));

  const minPriceTicks = onTick('minPrice', r.minPrice);
  const maxPriceTicks = onTick('maxPrice', r.maxPrice);
  const referencePriceTicks = onTick('referencePrice', r.referencePrice);
  const minQtyLots = onLot('minQty', r.minQty);
  const maxQtyLots = onLot('maxQty', r.maxQty);
  const maxPositionLots = onLot('maxPosition', r.maxPosition);
  const minDisplayQtyLots = r.minDisplayQty === undefined ? minQtyLots : onLot('minDisplayQty', r.minDisplayQty);
  const minNotionalUnits = quoteUnits('minNotional', r.minNotional);
  const maxNotionalUnits = quoteUnits('maxNotional', r.maxNotional);
  const makerFeePpm = feePpm(c, 'makerFee', r.makerFee, 'makerFeeBps', r.makerFeeBps);
  const takerFeePpm = feePpm(c, 'takerFee', r.takerFee, 'takerFeeBps', r.takerFeeBps);

  if (minPriceTicks !== undefined && minPriceTicks < 1) c.fail('minPrice', 'must be greater than zero');
  if (minQtyLots !== undefined && minQtyLots < 1) c.fail('minQty', 'must be greater than zero');
  if (minPriceTicks !== undefined && maxPriceTicks !== undefined && minPriceTicks > maxPriceTicks) {
    c.fail('minPrice', `minPrice ${r.minPrice} is above maxPrice ${r.maxPrice}`);
  }
  if (minQtyLots !== undefined && maxQtyLots !== undefined && minQtyLots > maxQtyLots) {
    c.fail('minQty', `minQty ${r.minQty} is above maxQty ${r.maxQty}`);
  }
  if (minNotionalUnits !== undefined && maxNotionalUnits !== undefined && maxNotionalUnits > 0 && minNotionalUnits > maxNotionalUnits) {
    c.fail('minNotional', `minNotional ${r.minNotional} is above maxNotional ${r.maxNotional}`);
  }
  if (referencePriceTicks !== undefined && referencePriceTicks !== 0 && minPriceTicks !== undefined && maxPriceTicks !== undefined &&
    (referencePriceTicks < minPriceTicks || referencePriceTicks > maxPriceTicks)) {
    c.fail('referencePrice', `referencePrice ${r.referencePrice} is outside [minPrice, maxPrice]`);
  }
  if (minDisplayQtyLots !== undefined && maxQtyLots !== undefined && minDisplayQtyLots > maxQtyLots) {
    c.fail('minDisplayQty', `minDisplayQty ${r.minDisplayQty} is above maxQty ${r.maxQty}`);
  }
  if (minDisplayQtyLots !== undefined && minDisplayQtyLots < 1) c.fail('minDisplayQty', 'must be greater than zero');
  if (takerFeePpm !== undefined && takerFeePpm < 0) c.fail(r.takerFeeBps !== undefined ? 'takerFeeBps' : 'takerFee', 'taker fee cannot be negative');
  if (makerFeePpm !== undefined && takerFeePpm !== undefined && takerFeePpm >= 0 && makerFeePpm < -takerFeePpm) {
    c.fail(r.makerFeeBps !== undefined ? 'makerFeeBps' : 'makerFee', 'a maker rebate cannot exceed the taker fee (the engine would pay out more than it takes)');
  }

  // Safe-range guards: every product the core forms from these bounds must stay below 2^53.
  if (maxPriceTicks !== undefined && maxQtyLots !== undefined && notionalUnitsPerTickLot !== undefined) {
    const worst = BigInt(maxPriceTicks) * BigInt(maxQtyLots) * BigInt(notionalUnitsPerTickLot);
    if (worst > BigInt(MAX_SAFE)) {
      c.fail('maxPrice', `maxPrice * maxQty in quote units (${worst} = ${maxPriceTicks} ticks x ${maxQtyLots} lots x ` +
        `${notionalUnitsPerTickLot}) is beyond 2^53-1: lower maxPrice or maxQty, or use fewer quoteDecimals`);
    }
  }
  if (maxPriceTicks !== undefined && BigInt(maxPriceTicks) * BigInt(BAND_FACTOR) > BigInt(MAX_SAFE)) {
    c.fail('maxPrice', `maxPrice is ${maxPriceTicks} ticks: band arithmetic (ticks x ${BAND_FACTOR}) would leave the safe integer range`);
  }

  if (c.issues.length > 0) throw new InstrumentConfigError(r.symbol, id, c.issues);
  return {
    id,
    symbol: r.symbol,
    baseAsset: r.baseAsset,
    quoteAsset: r.quoteAsset,
    tickSize: tick!.text,
    lotSize: lot!.text,
    notionalUnitsPerTickLot: notionalUnitsPerTickLot!,
    baseUnitsPerLot: baseUnitsPerLot!,
    baseDecimals: r.baseDecimals,
    quoteDecimals: r.quoteDecimals,
    minPriceTicks: minPriceTicks!,
    maxPriceTicks: maxPriceTicks!,
    minQtyLots: minQtyLots!,
    maxQtyLots: maxQtyLots!,
    minNotionalUnits: minNotionalUnits!,
    maxNotionalUnits: maxNotionalUnits!,
    priceBandBps: r.priceBandBps,
    marketBandBps: r.marketBandBps,
    referencePriceTicks: referencePriceTicks!,
    makerFeePpm: makerFeePpm!,
    takerFeePpm: takerFeePpm!,
    maxOpenOrdersPerAccount: r.maxOpenOrdersPerAccount,
    maxPositionLots: maxPositionLots!,
    orderCapacity: r.orderCapacity,
    clientIdRetention: r.clientIdRetention,
    minDisplayQtyLots: minDisplayQtyLots!,
  };
}

/** Human-readable summary of a spec's limits (for logs): decimal strings again, exact. */
export function describeInstrument(spec: InstrumentSpec): Record<string, string | number> {
  const tick = new DecimalStep(spec.tickSize);
  const lot = new DecimalStep(spec.lotSize);
  return {
    id: spec.id,
    symbol: spec.symbol,
    tickSize: spec.tickSize,
    lotSize: spec.lotSize,
    priceRange: `${tick.fromSteps(spec.minPriceTicks)}..${tick.fromSteps(spec.maxPriceTicks)}`,
    qtyRange: `${lot.fromSteps(spec.minQtyLots)}..${lot.fromSteps(spec.maxQtyLots)}`,
    referencePrice: spec.referencePriceTicks === 0 ? 'none' : tick.fromSteps(spec.referencePriceTicks),
    makerFee: formatDecimal(spec.makerFeePpm, 6),
    takerFee: formatDecimal(spec.takerFeePpm, 6),
    orderCapacity: spec.orderCapacity,
  };
}

