// fast-check arbitraries for realistic command streams against one order book.
//
// A stream is generated as abstract steps; targets of cancels and replaces are indices resolved at
// run time against the orders resting at that moment (StreamBuilder), so most of them hit live
// orders whatever happened before. Few accounts (self-trades happen), shared STP groups, prices
// clustered around the reference price (orders cross often), every order type, TIF, flag and STP
// mode, admin commands, GTD expiries that fire during the run, and now and then an invalid value.

import fc from 'fast-check';
import type { InstrumentSpec } from '../core/instrument.js';
import { Command, CommandType } from '../core/types.js';
import { testSpec, type ParsedDump } from './fixtures.js';

export const ACCOUNTS = [1, 2, 3, 4] as const;
const BASE_MID_TICKS = 10_000;
const START_TS_US = 1_700_000_000_000_000;

/** A value that must be rejected wherever an integer in a range is expected. */
const badNumber = fc.constantFrom(0.5, -1, NaN, Infinity, -0.25, 1e-9 + 3);
/** Beyond 2^53-1: for the fields whose range the doc bounds at 2^53-1. */
const TOO_BIG = 2 ** 53;

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

export type Step = NewStep | TargetStep | AdminStep;

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

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: newStepArb, weight: 20 },
  { arbitrary: targetStepArb('cancel'), weight: 2 },
  { arbitrary: targetStepArb('replace'), weight: 4 },
  { arbitrary: adminStepArb, weight: 3 },
);

export function stepsArb(minLength: number, maxLength: number): fc.Arbitrary<Step[]> {
  // size 'max': without it fast-check keeps arrays near 10 elements whatever maxLength says.
  return fc.array(stepArb, { minLength, maxLength, size: 'max' });
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
}).map((over) => testSpec(over));

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
      const open = [...state.bids, ...state.asks];
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
    const open = [...state.bids, ...state.asks].sort((a, b) => a.orderId - b.orderId);
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
