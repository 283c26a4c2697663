// fast-check arbitraries for realistic command streams against one order book.
//
// A stream is generated as abstract steps; targets of cancels and replaces are indices resolved at
// run time against the orders resting at that moment (StreamBuilder), so most of them hit live
// orders whatever happened before. Few accounts (self-trades happen), shared STP groups, prices
// clustered around the reference price (orders cross often), every order type, TIF, flag and STP
// mode, admin commands, GTD expiries that fire during the run, and now and then an invalid value.
// Issue 3: a share of the steps (ADV_SHARE percent, default 25) are advanced: stops, stop-limits,
// trailing (ticks and bps), if-touched, mark-price triggers with SetReferencePrice moves, immediate
// triggers, icebergs, OCO links (valid and not), bracket children (valid and not), protected market
// orders, protection prices on conditional orders (caps and floors), marketable sweeps, invalid values
// of the new fields, and cascades (several stops at nearby prices, depth, then a sweep through them).
// specArb adds small maxTriggersPerCommand values.

import fc from 'fast-check';
import type { InstrumentSpec } from '../core/instrument.js';
import { Command, CommandType } from '../core/types.js';
import { testSpec, type DumpOrder, type ParsedDump } from './fixtures.js';

export const ACCOUNTS = [1, 2, 3, 4] as const;
const BASE_MID_TICKS = 10_000;
const START_TS_US = 1_700_000_000_000_000;

/** A value that must be rejected wherever an integer in a range is expected. */
const badNumber = fc.constantFrom(0.5, -1, NaN, Infinity, -0.25, 1e-9 + 3);
/** Beyond 2^53-1: for the fields whose range the doc bounds at 2^53-1. */
const TOO_BIG = 2 ** 53;

/**
 * Invalid values of the issue-3 fields: each entry builds a valid order of `base` (a plain limit or
 * market order, or a conditional of `type`) and then breaks one thing.
 */
interface BadAdvanced { base: 'limit' | 'market' | 'cond'; type?: number; apply: (c: Command, mid: number) => void }
const BAD_ADVANCED: BadAdvanced[] = [
  { base: 'limit', apply: (c, mid) => { c.stopPriceTicks = mid; } },
  { base: 'limit', apply: (c) => { c.trailOffset = 5; } },
  { base: 'market', apply: (c) => { c.limitOffsetTicks = 2; } },
  { base: 'limit', apply: (c) => { c.flags |= 4; } },
  { base: 'market', apply: (c) => { c.flags |= 8; } },
  { base: 'limit', apply: (c) => { c.flags |= 16; } },
  { base: 'limit', apply: (c) => { c.tif = 1; c.displayQtyLots = 1; } },
  { base: 'limit', apply: (c) => { c.displayQtyLots = c.qtyLots + 1; } },
  { base: 'limit', apply: (c) => { c.displayQtyLots = 0.5; } },
  { base: 'limit', apply: (c, mid) => { c.protectionPriceTicks = mid; } },
  { base: 'limit', apply: (c) => { c.linkId = 0.5; } },
  { base: 'limit', apply: (c) => { c.linkId = TOO_BIG; } },
  { base: 'market', apply: (c) => { c.protectionPriceTicks = -1; } },
  { base: 'cond', type: 2, apply: (c) => { c.tif = 0; } },
  { base: 'cond', type: 2, apply: (c) => { c.flags |= 1; } },
  { base: 'cond', type: 3, apply: (c) => { c.flags |= 2; } },
  { base: 'cond', type: 2, apply: (c) => { c.flags |= 16; } },
  { base: 'cond', type: 2, apply: (c) => { c.stopPriceTicks = 0; } },
  { base: 'cond', type: 6, apply: (c) => { c.stopPriceTicks = 0.5; } },
  { base: 'cond', type: 3, apply: (c) => { c.stopPriceTicks = 1_000_001; } },
  { base: 'cond', type: 3, apply: (c) => { c.priceTicks = 0; } },
  { base: 'cond', type: 2, apply: (c, mid) => { c.priceTicks = mid; } },
  { base: 'cond', type: 4, apply: (c, mid) => { c.stopPriceTicks = mid; } },
  { base: 'cond', type: 4, apply: (c) => { c.trailOffset = 0; } },
  { base: 'cond', type: 5, apply: (c) => { c.flags |= 16; c.trailOffset = 10_000; } },
  { base: 'cond', type: 4, apply: (c) => { c.trailOffset = 1.5; } },
  { base: 'cond', type: 5, apply: (c) => { c.limitOffsetTicks = -1; } },
  { base: 'cond', type: 2, apply: (c) => { c.limitOffsetTicks = 1; } },
  { base: 'cond', type: 7, apply: (c) => { c.trailOffset = 3; } },
  { base: 'cond', type: 2, apply: (c) => { c.displayQtyLots = 2; } },
  { base: 'cond', type: 6, apply: (c) => { c.flags |= 32; c.qtyLots = 0; c.linkId = 1; } },
  { base: 'cond', type: 3, apply: (c) => { c.protectionPriceTicks = 1_000_001; } },
  { base: 'cond', type: 4, apply: (c) => { c.protectionPriceTicks = -1; } },
  { base: 'cond', type: 5, apply: (c) => { c.protectionPriceTicks = 0.5; } },
  { base: 'cond', type: 2, apply: (c) => { c.qtyLots = 0; } },
  { base: 'cond', type: 7, apply: (c) => { c.tif = 3; c.expireTsUs = 0; } },
];

export type InvalidField = 'account' | 'orderId' | 'side' | 'orderType' | 'tif' | 'flags' | 'stpMode' | 'stpGroup'
  | 'clientOrderId' | 'priceTicks' | 'qtyLots' | 'quoteQtyUnits' | 'expireTsUs';

export interface NewStep {
  kind: 'new';
  dtUs: number;
  seqGap: number;
  account: number;
  side: number;
  orderType: number;
  tif: number;
  postOnly: boolean;
  byQuote: boolean;
  stpMode: number;
  stpGroup: number;
  /** Away from the mid on the order's own side (buy: below, sell: above); negative crosses. */
  priceOffsetTicks: number;
  qtyLots: number;
  quoteLots: number;
  quoteOddUnits: number;
  clientOrderId: number;
  expireInUs: number;
  /** 'seq': id = seq; 'open': an open order's id (InvalidValue). */
  idMode: 'seq' | 'open';
  invalid: { field: InvalidField; value: number } | null;
}

export interface TargetStep {
  kind: 'cancel' | 'replace';
  dtUs: number;
  seqGap: number;
  /** Index into the resting orders (or into every id issued, for `stale`). */
  target: number;
  mode: 'live' | 'clientId' | 'stale' | 'otherAccount';
  /** Replace only: 0 = keep. */
  priceOffsetTicks: number | null;
  qtyLots: number;
  /** toRemaining: total = filled + remaining (+0 or -1): after an STP decrement, a replace whose remaining does not grow. */
  qtyMode: 'keep' | 'abs' | 'down' | 'up' | 'belowFilled' | 'toRemaining';
  invalidValue: number | null;
}

export interface AdminStep {
  kind: 'mass' | 'tick' | 'status' | 'kill' | 'limits' | 'refprice' | 'unknown';
  dtUs: number;
  seqGap: number;
  account: number;
  value: number;
  value2: number;
}

/**
 * Issue-3 steps: conditional orders, icebergs, OCO links, bracket children, protected market orders,
 * mark price moves and invalid values of the new fields. The numbers are interpreted by flavor in
 * StreamBuilder.buildAdvanced (prices relative to the current source price, targets resolved against
 * the open orders of the moment).
 */
export interface AdvStep {
  kind: 'adv';
  dtUs: number;
  seqGap: number;
  account: number;
  flavor: 'cond' | 'iceberg' | 'oco' | 'child' | 'protected' | 'mark' | 'sweep' | 'bad';
  side: number;
  /** OrderType 2..7. */
  condType: number;
  tifPick: number;
  mark: boolean;
  immediate: boolean;
  bps: boolean;
  /** Away from the source price in the direction that does not fire yet; <= 0 fires at once. */
  stopOffsetTicks: number;
  /** Limit price relative to X for stop-limit / limit-if-touched (buy: X + this, sell: X - this). */
  limitVsStopTicks: number;
  trailTicks: number;
  trailBps: number;
  tslOffsetTicks: number;
  /** Plain prices: away from the mid on the order's own side (negative crosses). */
  priceOffsetTicks: number;
  qtyLots: number;
  displayLots: number;
  clientOrderId: number;
  expireInUs: number;
  stpMode: number;
  stpGroup: number;
  /** 'oco' and 'child' flavors: which candidate (index); mode picks valid or one kind of invalid link. */
  target: number;
  linkMode: 'valid' | 'valid' | 'none' | 'bad';
  childType: number;
  /** 0 = a valid child; else one kind of invalid child. */
  childBad: number;
  protTicks: number;
  /** 'bad' flavor: which invalid value. */
  badPick: number;
}

export type Step = NewStep | TargetStep | AdminStep | AdvStep;

const dtArb = fc.oneof(
  { arbitrary: fc.constant(0), weight: 3 },
  { arbitrary: fc.integer({ min: 1, max: 50 }), weight: 4 },
  { arbitrary: fc.integer({ min: 51, max: 3_000 }), weight: 2 },
);
const seqGapArb = fc.oneof({ arbitrary: fc.constant(1), weight: 9 }, { arbitrary: fc.integer({ min: 2, max: 5 }), weight: 1 });
const accountArb = fc.constantFrom(...ACCOUNTS);

const invalidArb: fc.Arbitrary<{ field: InvalidField; value: number } | null> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 36 },
  {
    arbitrary: fc.record({
      field: fc.constantFrom<InvalidField>('account', 'orderId', 'side', 'orderType', 'tif', 'flags', 'stpMode', 'stpGroup',
        'clientOrderId', 'priceTicks', 'qtyLots', 'quoteQtyUnits', 'expireTsUs'),
      value: badNumber,
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      field: fc.constantFrom<InvalidField>('account', 'orderId', 'stpGroup', 'clientOrderId', 'quoteQtyUnits', 'qtyLots', 'priceTicks'),
      value: fc.constant(TOO_BIG),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      field: fc.constantFrom<InvalidField>('side', 'orderType', 'tif', 'flags', 'stpMode'),
      value: fc.constantFrom(8, 9, 64, -1), // out of range for every enum (2..7 are valid order types since issue 3)
    }),
    weight: 1,
  },
);

export const newStepArb: fc.Arbitrary<NewStep> = fc.record({
  kind: fc.constant('new' as const),
  dtUs: dtArb,
  seqGap: seqGapArb,
  account: accountArb,
  side: fc.constantFrom(0, 1),
  orderType: fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, { arbitrary: fc.constant(1), weight: 1 }),
  tif: fc.oneof({ arbitrary: fc.constant(0), weight: 5 }, { arbitrary: fc.constantFrom(1, 2, 3), weight: 3 }),
  postOnly: fc.oneof({ arbitrary: fc.constant(false), weight: 6 }, { arbitrary: fc.constant(true), weight: 1 }),
  byQuote: fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 }),
  stpMode: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.constantFrom(1, 2, 3, 4), weight: 4 }),
  stpGroup: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.constantFrom(7, 8), weight: 1 }),
  priceOffsetTicks: fc.oneof(
    { arbitrary: fc.integer({ min: -3, max: 8 }), weight: 12 },
    { arbitrary: fc.integer({ min: -40, max: 40 }), weight: 1 },
    { arbitrary: fc.integer({ min: -3_000, max: 3_000 }), weight: 1 },
  ),
  qtyLots: fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: 12 }), weight: 8 },
    { arbitrary: fc.integer({ min: 13, max: 400 }), weight: 1 },
    { arbitrary: fc.integer({ min: 900, max: 1_100 }), weight: 1 },
  ),
  quoteLots: fc.integer({ min: 0, max: 30 }),
  quoteOddUnits: fc.oneof({ arbitrary: fc.constant(0), weight: 1 }, { arbitrary: fc.integer({ min: 1, max: 99_999 }), weight: 3 }),
  clientOrderId: fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: 12 }), weight: 2 }),
  expireInUs: fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: 400 }), weight: 3 },
    { arbitrary: fc.integer({ min: 401, max: 20_000 }), weight: 2 },
    { arbitrary: fc.integer({ min: -50, max: 0 }), weight: 1 },
  ),
  idMode: fc.oneof({ arbitrary: fc.constant('seq' as const), weight: 40 }, { arbitrary: fc.constant('open' as const), weight: 1 }),
  invalid: invalidArb,
});

const targetStepArb = (kind: 'cancel' | 'replace'): fc.Arbitrary<TargetStep> => fc.record({
  kind: fc.constant(kind),
  dtUs: dtArb,
  seqGap: seqGapArb,
  target: fc.nat({ max: 1_000 }),
  mode: fc.oneof(
    { arbitrary: fc.constant('live' as const), weight: 12 },
    { arbitrary: fc.constant('clientId' as const), weight: 4 },
    { arbitrary: fc.constant('stale' as const), weight: 2 },
    { arbitrary: fc.constant('otherAccount' as const), weight: 1 },
  ),
  priceOffsetTicks: fc.oneof(
    { arbitrary: fc.constant(null), weight: 2 },
    { arbitrary: fc.integer({ min: -6, max: 6 }), weight: 3 },
    { arbitrary: fc.integer({ min: -3_000, max: 3_000 }), weight: 1 },
  ),
  qtyLots: fc.integer({ min: 1, max: 15 }),
  qtyMode: fc.constantFrom('keep' as const, 'abs' as const, 'down' as const, 'up' as const, 'belowFilled' as const, 'toRemaining' as const),
  invalidValue: fc.oneof({ arbitrary: fc.constant(null), weight: 15 }, { arbitrary: badNumber, weight: 1 }),
});

const adminStepArb: fc.Arbitrary<AdminStep> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('mass' as const), dtUs: dtArb, seqGap: seqGapArb,
      account: fc.oneof({ arbitrary: accountArb, weight: 4 }, { arbitrary: fc.constant(0), weight: 1 }, { arbitrary: fc.constant(-3), weight: 1 }),
      value: fc.constant(0), value2: fc.constant(0),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('tick' as const), dtUs: fc.integer({ min: 0, max: 5_000 }), seqGap: seqGapArb,
      account: fc.constant(0), value: fc.constant(0), value2: fc.constant(0),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('status' as const), dtUs: dtArb, seqGap: seqGapArb, account: fc.constant(0),
      value: fc.oneof({ arbitrary: fc.constant(0), weight: 10 }, { arbitrary: fc.constantFrom(1, 2), weight: 1 }, { arbitrary: fc.constantFrom(3, -1, 0.5), weight: 1 }),
      value2: fc.constant(0),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('kill' as const), dtUs: dtArb, seqGap: seqGapArb,
      account: fc.oneof({ arbitrary: accountArb, weight: 6 }, { arbitrary: fc.constantFrom(0, -1, 1.5), weight: 1 }),
      value: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: fc.constant(1), weight: 2 }, { arbitrary: fc.constantFrom(2, -1), weight: 1 }),
      value2: fc.constant(0),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('limits' as const), dtUs: dtArb, seqGap: seqGapArb,
      account: fc.oneof({ arbitrary: accountArb, weight: 6 }, { arbitrary: fc.constantFrom(0, NaN), weight: 1 }),
      value: fc.oneof({ arbitrary: fc.constantFrom(0, 3, 20, 100), weight: 8 }, { arbitrary: fc.constantFrom(-1, 0.5), weight: 1 }),
      value2: fc.oneof({ arbitrary: fc.constantFrom(0, 1, 3, 10), weight: 8 }, { arbitrary: fc.constantFrom(-2, NaN), weight: 1 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('refprice' as const), dtUs: dtArb, seqGap: seqGapArb, account: fc.constant(0),
      value: fc.oneof({ arbitrary: fc.integer({ min: -60, max: 60 }), weight: 6 }, { arbitrary: fc.constantFrom(-1e9, 0.5, NaN), weight: 1 }),
      value2: fc.constant(0),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('unknown' as const), dtUs: dtArb, seqGap: seqGapArb, account: accountArb,
      value: fc.constantFrom(0, 10, 99, -1), value2: fc.constant(0),
    }),
  },
);

export const advStepArb: fc.Arbitrary<AdvStep> = fc.record({
  kind: fc.constant('adv' as const),
  dtUs: dtArb,
  seqGap: seqGapArb,
  account: accountArb,
  flavor: fc.oneof(
    { arbitrary: fc.constant('cond' as const), weight: 10 },
    { arbitrary: fc.constant('iceberg' as const), weight: 4 },
    { arbitrary: fc.constant('oco' as const), weight: 3 },
    { arbitrary: fc.constant('child' as const), weight: 4 },
    { arbitrary: fc.constant('protected' as const), weight: 2 },
    { arbitrary: fc.constant('mark' as const), weight: 3 },
    { arbitrary: fc.constant('sweep' as const), weight: 3 },
    { arbitrary: fc.constant('bad' as const), weight: 2 },
  ),
  side: fc.constantFrom(0, 1),
  condType: fc.constantFrom(2, 3, 4, 5, 6, 7, 2, 3),
  tifPick: fc.nat({ max: 3 }),
  mark: fc.oneof({ arbitrary: fc.constant(false), weight: 2 }, { arbitrary: fc.constant(true), weight: 1 }),
  immediate: fc.oneof({ arbitrary: fc.constant(false), weight: 2 }, { arbitrary: fc.constant(true), weight: 1 }),
  bps: fc.boolean(),
  stopOffsetTicks: fc.oneof(
    { arbitrary: fc.integer({ min: -2, max: 6 }), weight: 8 },
    { arbitrary: fc.integer({ min: 7, max: 40 }), weight: 2 },
    { arbitrary: fc.integer({ min: -30, max: -3 }), weight: 1 },
  ),
  limitVsStopTicks: fc.integer({ min: -3, max: 10 }),
  trailTicks: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 6 }), weight: 3 }, { arbitrary: fc.integer({ min: 7, max: 40 }), weight: 1 }),
  trailBps: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 10 }), weight: 3 }, { arbitrary: fc.integer({ min: 11, max: 300 }), weight: 1 }),
  tslOffsetTicks: fc.integer({ min: 0, max: 8 }),
  priceOffsetTicks: fc.oneof({ arbitrary: fc.integer({ min: -3, max: 8 }), weight: 6 }, { arbitrary: fc.integer({ min: -40, max: 40 }), weight: 1 }),
  qtyLots: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 12 }), weight: 8 }, { arbitrary: fc.integer({ min: 13, max: 200 }), weight: 1 }),
  displayLots: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 4 }), weight: 8 }, { arbitrary: fc.constantFrom(0, -1, 0.5, 500), weight: 1 }),
  clientOrderId: fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: 12 }), weight: 1 }),
  expireInUs: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 400 }), weight: 3 }, { arbitrary: fc.integer({ min: 401, max: 20_000 }), weight: 2 }),
  stpMode: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.constantFrom(1, 2, 3, 4), weight: 2 }),
  stpGroup: fc.oneof({ arbitrary: fc.constant(0), weight: 5 }, { arbitrary: fc.constantFrom(7, 8), weight: 1 }),
  target: fc.nat({ max: 1_000 }),
  linkMode: fc.oneof(
    { arbitrary: fc.constant('valid' as const), weight: 6 },
    { arbitrary: fc.constant('none' as const), weight: 2 },
    { arbitrary: fc.constant('bad' as const), weight: 2 },
  ),
  childType: fc.constantFrom(0, 0, 2, 3),
  childBad: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: fc.integer({ min: 1, max: 7 }), weight: 2 }),
  protTicks: fc.oneof({ arbitrary: fc.integer({ min: -3, max: 30 }), weight: 8 }, { arbitrary: fc.constantFrom(-1, 0.5, 2 ** 53), weight: 1 }),
  badPick: fc.nat({ max: BAD_ADVANCED.length - 1 }),
}) as fc.Arbitrary<AdvStep>;

/** Share of advanced (issue 3) steps among all steps: ADV_SHARE percent, default 25. */
export const DEFAULT_ADV_SHARE = Math.min(90, Math.max(0, Number(process.env['ADV_SHARE'] ?? 25) || 0)) / 100;

const PLAIN_WEIGHT = 29;

/** Steps of every kind, `advShare` of them advanced (issue 3). */
export function stepArbWith(advShare: number): fc.Arbitrary<Step> {
  const advWeight = advShare <= 0 ? 0 : Math.max(1, Math.round((PLAIN_WEIGHT * advShare) / (1 - advShare)));
  const parts: Array<{ arbitrary: fc.Arbitrary<Step>; weight: number }> = [
    { arbitrary: newStepArb, weight: 20 },
    { arbitrary: targetStepArb('cancel'), weight: 2 },
    { arbitrary: targetStepArb('replace'), weight: 4 },
    { arbitrary: adminStepArb, weight: 3 },
  ];
  if (advWeight > 0) parts.push({ arbitrary: advStepArb, weight: advWeight });
  return fc.oneof(...parts);
}

export const stepArb: fc.Arbitrary<Step> = stepArbWith(DEFAULT_ADV_SHARE);

/**
 * A cascade: 2 to 5 stops (or trailing stops) of one side at nearby trigger prices, each with a
 * little depth behind it, then a sweep on the same side that trades through them.
 */
export const cascadeArb: fc.Arbitrary<Step[]> = fc.record({
  base: advStepArb,
  condType: fc.constantFrom(2, 3, 4, 2),
  offsets: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 2, maxLength: 5 }),
  depthOffsets: fc.array(fc.integer({ min: 0, max: 10 }), { minLength: 1, maxLength: 4 }),
  sweepReach: fc.integer({ min: 2, max: 14 }),
}).map(({ base, condType, offsets, depthOffsets, sweepReach }) => {
  const stops: Step[] = offsets.map((off, i) => ({ ...base, flavor: 'cond' as const, condType, stopOffsetTicks: off, immediate: false,
    dtUs: 0, seqGap: 1, target: base.target + i * 3 + 1, qtyLots: 1 + ((base.qtyLots + i) % 5) }));
  // Resting liquidity on the other side (some of it icebergs) for the activated stops and the sweep.
  const depth: AdvStep[] = depthOffsets.map((off, i) => ({ ...base, flavor: 'iceberg' as const, dtUs: 0, seqGap: 1,
    account: ACCOUNTS[(base.account + i) % ACCOUNTS.length]!, side: 1 - base.side, tifPick: 0, qtyLots: 2 + off,
    displayLots: i % 2 === 0 ? 0 : 2, priceOffsetTicks: 1 + off, stpMode: 0 }));
  const sweep: AdvStep = { ...base, flavor: 'sweep', dtUs: 1, seqGap: 1, target: sweepReach - 2, qtyLots: 4 + sweepReach,
    account: ACCOUNTS[(base.account + 2) % ACCOUNTS.length]!, stpMode: 0 };
  return [...stops, ...depth, sweep];
});

export function stepsArb(minLength: number, maxLength: number, advShare = DEFAULT_ADV_SHARE): fc.Arbitrary<Step[]> {
  const one = advShare === DEFAULT_ADV_SHARE ? stepArb : stepArbWith(advShare);
  const cascadeWeight = advShare <= 0 ? 0 : Math.max(1, Math.round(advShare * 8));
  const chunk: fc.Arbitrary<Step[]> = cascadeWeight === 0 ? one.map((s) => [s])
    : fc.oneof({ arbitrary: one.map((s) => [s]), weight: 200 }, { arbitrary: cascadeArb, weight: cascadeWeight });
  // size 'max': without it fast-check keeps arrays near 10 elements whatever maxLength says.
  return fc.array(chunk, { minLength, maxLength, size: 'max' }).map((chunks) => chunks.flat().slice(0, maxLength));
}

/** Instrument variants: small capacities, zero and negative fees, no reference price, tight bands. */
export const specArb: fc.Arbitrary<InstrumentSpec> = fc.record({
  orderCapacity: fc.constantFrom(6, 40, 1_000),
  clientIdRetention: fc.constantFrom(0, 2, 20),
  makerFeePpm: fc.constantFrom(-50, 0, 100, 333),
  takerFeePpm: fc.constantFrom(200, 777),
  maxOpenOrdersPerAccount: fc.constantFrom(0, 4, 20),
  maxPositionLots: fc.constantFrom(0, 30, 300),
  referencePriceTicks: fc.constantFrom(0, BASE_MID_TICKS, BASE_MID_TICKS),
  priceBandBps: fc.constantFrom(0, 20, 1_000),
  marketBandBps: fc.constantFrom(0, 5, 500),
  minNotionalUnits: fc.constantFrom(1, 30_000),
  maxNotionalUnits: fc.constantFrom(0, 30_000_000),
  notionalUnitsPerTickLot: fc.constantFrom(1, 10),
  minDisplayQtyLots: fc.constantFrom(1, 1, 2),
  maxTriggersPerCommand: fc.constantFrom(0, 0, 0, 1, 2, 3),
}).map(({ maxTriggersPerCommand, ...over }) => testSpec(maxTriggersPerCommand === 0 ? over : { ...over, maxTriggersPerCommand }));

// ------------------------------------------------------------------------------------------------
// Resolving steps into commands
// ------------------------------------------------------------------------------------------------

interface Issued { orderId: number; account: number; clientOrderId: number }

/** Turns steps into commands with increasing seq and non-decreasing time, resolving targets. */
export class StreamBuilder {
  seq = 0;
  tsUs = START_TS_US;
  private readonly issued: Issued[] = [];

  /** `state`: the book's state before this command (targets are resolved against its orders). */
  build(step: Step, state: ParsedDump, cmd: Command): Command {
    cmd.reset();
    this.seq += step.seqGap;
    this.tsUs += step.dtUs;
    cmd.seq = this.seq;
    cmd.tsUs = this.tsUs;
    const mid = state.referencePriceTicks > 0 ? state.referencePriceTicks : BASE_MID_TICKS;
    switch (step.kind) {
      case 'new': this.buildNew(step, state, mid, cmd); break;
      case 'adv': this.buildAdvanced(step, state, mid, cmd); break;
      case 'cancel':
      case 'replace': this.buildTarget(step, state, mid, cmd); break;
      default: this.buildAdmin(step, mid, cmd);
    }
    return cmd;
  }

  private buildNew(s: NewStep, state: ParsedDump, mid: number, cmd: Command): void {
    cmd.type = CommandType.NewOrder;
    cmd.account = s.account;
    cmd.orderId = this.seq;
    if (s.idMode === 'open') {
      const open = [...state.bids, ...state.asks, ...state.pending];
      if (open.length > 0) cmd.orderId = open[s.qtyLots % open.length]!.orderId;
    }
    cmd.side = s.side;
    cmd.orderType = s.orderType;
    cmd.stpMode = s.stpMode;
    cmd.stpGroup = s.stpGroup;
    cmd.clientOrderId = s.clientOrderId;
    const isMarket = s.orderType === 1;
    // Mostly valid combinations; the TIF draw decides the rest.
    cmd.tif = isMarket ? (s.tif === 0 ? 1 : s.tif === 3 ? 2 : s.tif) : s.tif;
    const byQuote = isMarket && s.byQuote;
    if (byQuote && cmd.tif === 2) cmd.tif = 1;
    let flags = 0;
    if (s.postOnly && !isMarket && (cmd.tif === 0 || cmd.tif === 3)) flags |= 1;
    if (byQuote) flags |= 2;
    cmd.flags = flags;
    // Offsets are away from the mid on the order's own side: negative ones cross.
    cmd.priceTicks = isMarket ? 0 : Math.max(1, mid + (s.side === 0 ? -s.priceOffsetTicks : s.priceOffsetTicks));
    if (byQuote) {
      cmd.quoteQtyUnits = s.quoteLots * mid * 10 + s.quoteOddUnits;
      if (cmd.quoteQtyUnits === 0) cmd.quoteQtyUnits = 1;
    } else {
      cmd.qtyLots = s.qtyLots;
    }
    if (cmd.tif === 3) cmd.expireTsUs = this.tsUs + s.expireInUs;
    if (s.invalid !== null) (cmd as unknown as Record<string, number>)[s.invalid.field] = s.invalid.value;
    this.issued.push({ orderId: cmd.orderId, account: cmd.account, clientOrderId: cmd.clientOrderId });
  }

  private buildTarget(s: TargetStep, state: ParsedDump, mid: number, cmd: Command): void {
    cmd.type = s.kind === 'cancel' ? CommandType.Cancel : CommandType.Replace;
    const open = [...state.bids, ...state.asks, ...state.pending].sort((a, b) => a.orderId - b.orderId);
    let target: { orderId: number; account: number; clientOrderId: number; priceTicks: number; qtyLots: number; filledLots: number;
      remainingLots: number } | null = null;
    if (s.mode !== 'stale' && open.length > 0) target = open[s.target % open.length]!;
    else if (this.issued.length > 0) {
      const t = this.issued[s.target % this.issued.length]!;
      target = { ...t, priceTicks: mid, qtyLots: 5, filledLots: 0, remainingLots: 5 };
    }
    if (target === null) {
      cmd.orderId = s.target + 1;
      cmd.account = 1;
    } else {
      cmd.orderId = target.orderId;
      cmd.account = target.account;
      if (s.mode === 'clientId' && target.clientOrderId !== 0) {
        cmd.orderId = 0;
        cmd.clientOrderId = target.clientOrderId;
      }
      if (s.mode === 'otherAccount') cmd.account = (target.account % ACCOUNTS.length) + 1;
    }
    if (s.kind === 'replace') {
      if (s.priceOffsetTicks !== null) cmd.priceTicks = Math.max(1, mid + s.priceOffsetTicks);
      const q = target?.qtyLots ?? 5;
      const filled = target?.filledLots ?? 0;
      switch (s.qtyMode) {
        case 'keep': cmd.qtyLots = 0; break;
        case 'abs': cmd.qtyLots = s.qtyLots; break;
        case 'down': cmd.qtyLots = Math.max(1, q - (s.qtyLots % 4) - 1); break;
        case 'up': cmd.qtyLots = q + (s.qtyLots % 5) + 1; break;
        case 'belowFilled': cmd.qtyLots = Math.max(1, filled - (s.qtyLots % 2)); break;
        case 'toRemaining': cmd.qtyLots = Math.max(1, filled + (target?.remainingLots ?? 5) - (s.qtyLots % 2)); break;
      }
      if (s.invalidValue !== null) {
        if (s.qtyLots % 2 === 0) cmd.priceTicks = s.invalidValue;
        else cmd.qtyLots = s.invalidValue;
      }
    } else if (s.invalidValue !== null) {
      cmd.orderId = s.invalidValue;
    }
  }

  private buildAdvanced(s: AdvStep, state: ParsedDump, mid: number, cmd: Command): void {
    if (s.flavor === 'mark') {
      cmd.type = CommandType.SetReferencePrice;
      cmd.value = Math.max(1, mid + (s.side === 0 ? s.stopOffsetTicks : -s.stopOffsetTicks));
      return;
    }
    cmd.type = CommandType.NewOrder;
    cmd.account = s.account;
    cmd.orderId = this.seq;
    cmd.side = s.side;
    cmd.stpMode = s.stpMode;
    cmd.stpGroup = s.stpGroup;
    cmd.clientOrderId = s.clientOrderId;
    const open = [...state.bids, ...state.asks, ...state.pending].sort((a, b) => a.orderId - b.orderId);
    switch (s.flavor) {
      case 'cond':
        this.fillConditional(s, state, mid, cmd, s.condType);
        if (s.badPick % 3 === 0) this.protect(s, state, mid, cmd);
        if (s.target % 3 === 0 && s.linkMode !== 'none') cmd.linkId = this.ocoTarget(s, open, cmd);
        break;
      case 'iceberg':
        this.fillLimit(s, mid, cmd, [0, 3, 0, 1][s.tifPick]!);
        cmd.qtyLots = Math.max(2, s.qtyLots);
        cmd.displayQtyLots = s.displayLots;
        break;
      case 'oco':
        if (s.tifPick === 3) this.fillMarket(s, cmd);
        else this.fillLimit(s, mid, cmd, s.tifPick === 2 ? 1 : 0);
        if (s.linkMode !== 'none') cmd.linkId = this.ocoTarget(s, open, cmd);
        break;
      case 'child':
        this.fillChild(s, state, mid, cmd, open);
        break;
      case 'sweep':
        // A marketable IOC through several ticks: trades, moves the last price, sets off cascades.
        this.fillLimit(s, mid, cmd, 1);
        cmd.priceTicks = Math.max(1, mid + (s.side === 0 ? 2 + (s.target % 14) : -2 - (s.target % 14)));
        cmd.qtyLots = 3 + (s.qtyLots % 30);
        break;
      case 'protected':
        this.fillMarket(s, cmd);
        if (s.tifPick === 2) { cmd.flags = 2; cmd.qtyLots = 0; cmd.quoteQtyUnits = s.qtyLots * mid * 10 + 7; }
        cmd.protectionPriceTicks = Number.isInteger(s.protTicks) && Math.abs(s.protTicks) <= 30
          ? Math.max(1, s.side === 0 ? mid + s.protTicks : mid - s.protTicks) : s.protTicks;
        break;
      case 'bad': {
        const b = BAD_ADVANCED[s.badPick % BAD_ADVANCED.length]!;
        if (b.base === 'limit') this.fillLimit(s, mid, cmd, 0);
        else if (b.base === 'market') this.fillMarket(s, cmd);
        else this.fillConditional(s, state, mid, cmd, b.type!);
        b.apply(cmd, mid);
        break;
      }
    }
    if (cmd.tif === 3 && cmd.expireTsUs === 0 && s.flavor !== 'bad') cmd.expireTsUs = this.tsUs + s.expireInUs;
    this.issued.push({ orderId: cmd.orderId, account: cmd.account, clientOrderId: cmd.clientOrderId });
  }

  private fillLimit(s: AdvStep, mid: number, cmd: Command, tif: number): void {
    cmd.orderType = 0;
    cmd.tif = tif;
    cmd.priceTicks = Math.max(1, mid + (s.side === 0 ? -s.priceOffsetTicks : s.priceOffsetTicks));
    cmd.qtyLots = s.qtyLots;
    if (tif === 3) cmd.expireTsUs = this.tsUs + s.expireInUs;
  }

  private fillMarket(s: AdvStep, cmd: Command): void {
    cmd.orderType = 1;
    cmd.tif = s.tifPick === 3 ? 2 : 1;
    cmd.qtyLots = s.qtyLots;
  }

  /** A conditional of `type` around the current source price (s.stopOffsetTicks <= 0 fires at once). */
  private fillConditional(s: AdvStep, state: ParsedDump, mid: number, cmd: Command, type: number): void {
    cmd.orderType = type;
    const trailing = type === 4 || type === 5;
    const marketType = type === 2 || type === 4 || type === 6;
    let flags = (s.mark ? 4 : 0) | (s.immediate ? 8 : 0);
    if (trailing && s.bps) flags |= 16;
    cmd.flags = flags;
    const src = s.mark ? state.referencePriceTicks : state.lastTradePriceTicks;
    const base = src > 0 ? src : mid;
    const touched = type === 6 || type === 7;
    const up = touched ? s.side === 1 : s.side === 0;
    if (trailing) {
      cmd.trailOffset = s.bps ? s.trailBps : s.trailTicks;
      if (type === 5) cmd.limitOffsetTicks = s.tslOffsetTicks;
    } else {
      const x = Math.max(1, up ? base + s.stopOffsetTicks : base - s.stopOffsetTicks);
      cmd.stopPriceTicks = x;
      if (!marketType) cmd.priceTicks = Math.max(1, s.side === 0 ? x + s.limitVsStopTicks : x - s.limitVsStopTicks);
    }
    cmd.tif = marketType ? [1, 1, 2, 1][s.tifPick]! : [0, 1, 2, 3][s.tifPick]!;
    cmd.qtyLots = s.qtyLots;
    if (cmd.tif === 3) cmd.expireTsUs = this.tsUs + s.expireInUs;
  }

  /**
   * A protection price on a conditional (a buy's cap, a sell's floor) around the price it would
   * otherwise reach: from a few ticks inside it (the cap binds) to well beyond it (it does not), and
   * now and then an invalid value (s.protTicks not an integer in [-3, 30]).
   */
  private protect(s: AdvStep, state: ParsedDump, mid: number, cmd: Command): void {
    if (!Number.isInteger(s.protTicks) || Math.abs(s.protTicks) > 30) { cmd.protectionPriceTicks = s.protTicks; return; }
    let est: number;
    if (cmd.orderType === 4 || cmd.orderType === 5) {
      const src = s.mark ? state.referencePriceTicks : state.lastTradePriceTicks;
      const a = src > 0 ? src : mid;
      const d = s.bps ? Math.max(1, Math.floor((a * s.trailBps) / 10000)) : s.trailTicks;
      est = s.side === 0 ? a + d + cmd.limitOffsetTicks : a - d - cmd.limitOffsetTicks;
    } else {
      est = cmd.priceTicks !== 0 ? cmd.priceTicks : cmd.stopPriceTicks;
    }
    const p = s.side === 0 ? est + s.protTicks - 4 : est - s.protTicks + 4;
    cmd.protectionPriceTicks = Math.min(1_000_000, Math.max(1, p));
  }

  /** An OCO partner: a valid one when there is one (linkMode 'valid'), else some other id. */
  private ocoTarget(s: AdvStep, open: DumpOrder[], cmd: Command): number {
    if (s.linkMode === 'valid') {
      const ok = open.filter((o) => o.account === s.account && o.side === s.side && o.linkId === 0 && o.parentId === 0
        && (o.flags & 32) === 0 && o.filledLots === 0);
      if (ok.length > 0) return ok[s.target % ok.length]!.orderId;
      const any = open.filter((o) => o.linkId === 0 && o.parentId === 0 && (o.flags & 32) === 0 && o.filledLots === 0);
      if (any.length > 0) {
        const t = any[s.target % any.length]!;
        cmd.account = t.account;
        cmd.side = t.side;
        return t.orderId;
      }
      return 0;
    }
    if (open.length > 0 && s.target % 4 !== 0) return open[s.target % open.length]!.orderId;
    if (this.issued.length > 0) return this.issued[s.target % this.issued.length]!.orderId;
    return s.target + 1;
  }

  /** A bracket child of an entry of the same account (valid unless s.childBad says otherwise). */
  private fillChild(s: AdvStep, state: ParsedDump, mid: number, cmd: Command, open: DumpOrder[]): void {
    const canHave = (o: DumpOrder): boolean => (o.flags & 32) === 0 && o.parentId === 0 && open.filter((c) => c.parentId === o.orderId).length < 2;
    const own = open.filter((o) => o.account === s.account && canHave(o));
    const entries = own.length > 0 ? own : open.filter(canHave);
    const entry = entries.length > 0 ? entries[s.target % entries.length]! : null;
    if (entry !== null) cmd.account = entry.account;
    const side = entry !== null ? 1 - entry.side : s.side;
    const cs: AdvStep = { ...s, side, mark: s.mark && s.target % 2 === 0, immediate: false, bps: false };
    if (s.childType === 0) this.fillLimit(cs, mid, cmd, s.tifPick === 1 ? 3 : 0);
    else this.fillConditional(cs, state, mid, cmd, s.childType);
    cmd.side = side;
    if (s.childType !== 0 && s.badPick % 3 === 0) this.protect({ ...cs, side }, state, mid, cmd);
    cmd.flags |= 32;
    cmd.qtyLots = 0;
    cmd.linkId = entry !== null ? entry.orderId : s.target + 1;
    switch (s.childBad) {
      case 1: cmd.qtyLots = 1; break;
      case 2: cmd.side = 1 - side; break;
      case 3: cmd.orderType = 1; cmd.tif = 1; cmd.priceTicks = 0; cmd.stopPriceTicks = 0; break;
      case 4: cmd.orderType = 0; cmd.tif = 1; cmd.stopPriceTicks = 0; cmd.flags = 32; if (cmd.priceTicks === 0) cmd.priceTicks = mid; break;
      case 5: cmd.linkId = 0; break;
      case 6: {
        const child = open.find((o) => (o.flags & 32) !== 0);
        cmd.linkId = child !== undefined ? child.orderId : cmd.linkId;
        break;
      }
      case 7: cmd.orderType = 6; if (cmd.stopPriceTicks === 0) cmd.stopPriceTicks = mid; cmd.priceTicks = 0; cmd.tif = 1; break;
    }
  }

  private buildAdmin(s: AdminStep, mid: number, cmd: Command): void {
    switch (s.kind) {
      case 'mass': cmd.type = CommandType.MassCancel; cmd.account = s.account; break;
      case 'tick': cmd.type = CommandType.TimeTick; break;
      case 'status': cmd.type = CommandType.SetSymbolStatus; cmd.value = s.value; break;
      case 'kill': cmd.type = CommandType.SetKillSwitch; cmd.account = s.account; cmd.value = s.value; break;
      case 'limits': cmd.type = CommandType.SetAccountLimits; cmd.account = s.account; cmd.value = s.value; cmd.value2 = s.value2; break;
      case 'refprice':
        cmd.type = CommandType.SetReferencePrice;
        cmd.value = Number.isInteger(s.value) && Math.abs(s.value) <= 60 ? BASE_MID_TICKS + s.value : s.value;
        break;
      case 'unknown': cmd.type = s.value === 0 ? 0 : s.value === 10 ? 10 : s.value === 99 ? 99 : -1; cmd.account = s.account; break;
    }
    void mid;
  }
}
