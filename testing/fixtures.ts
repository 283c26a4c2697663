// Test fixtures for the order books: a small instrument, command builders, a book-agnostic driver,
// and a decoder that turns EventBuffer records into named objects for assertions and diffs.

import { EventBuffer } from '../core/events.js';
import type { InstrumentSpec } from '../core/instrument.js';
import { Command, CommandType, EVENT_WORDS, EventType } from '../core/types.js';

/** tick 0.01, lot 0.001 (base 8 decimals, quote 6): one tick x one lot = 0.00001 quote = 10 units. */
export function testSpec(over: Partial<InstrumentSpec> = {}): InstrumentSpec {
  return {
    id: 1,
    symbol: 'TEST-USD',
    baseAsset: 'TEST',
    quoteAsset: 'USD',
    tickSize: '0.01',
    lotSize: '0.001',
    notionalUnitsPerTickLot: 10,
    baseUnitsPerLot: 100_000,
    baseDecimals: 8,
    quoteDecimals: 6,
    minPriceTicks: 1,
    maxPriceTicks: 1_000_000,
    minQtyLots: 1,
    maxQtyLots: 1_000,
    minNotionalUnits: 1_000,
    maxNotionalUnits: 100_000_000,
    priceBandBps: 1_000,
    marketBandBps: 500,
    referencePriceTicks: 10_000,
    makerFeePpm: 100,
    takerFeePpm: 200,
    maxOpenOrdersPerAccount: 0,
    maxPositionLots: 0,
    orderCapacity: 1_000,
    clientIdRetention: 100,
    minDisplayQtyLots: 1,
    ...over,
  };
}

/** What the tests need from a book: the shared API of OrderBook and ReferenceBook. */
export interface BookLike {
  execute(cmd: Command): void;
  stateDump(): number[];
  stateHash(): string;
}

export type BookFactory = (spec: InstrumentSpec, events: EventBuffer) => BookLike;

/** A fresh Command with the given fields (the rest 0). */
export function makeCommand(fields: Partial<Command>): Command {
  return Object.assign(new Command(), fields);
}

/** Copies `fields` into a reused command (reset first), as the runtime does. */
export function fillCommand(cmd: Command, fields: Partial<Command>): Command {
  cmd.reset();
  return Object.assign(cmd, fields);
}

// ------------------------------------------------------------------------------------------------
// Event decoding
// ------------------------------------------------------------------------------------------------

export const EVENT_NAMES: Record<number, string> = {
  1: 'Accepted', 2: 'Rejected', 3: 'Trade', 4: 'Canceled', 5: 'Expired', 6: 'Replaced', 7: 'Decremented',
  8: 'Depth', 9: 'TopOfBook', 10: 'AdminDone', 11: 'Triggered', 12: 'Activated', 13: 'SliceRefreshed',
};

const FIELDS: Record<number, string[]> = {
  [EventType.Accepted]: ['orderId', 'account', 'clientOrderId', 'side', 'orderType', 'tif', 'priceTicks', 'qtyLots',
    'quoteQtyUnits', 'flags', 'expireTsUs'],
  [EventType.Rejected]: ['orderId', 'account', 'clientOrderId', 'reason', 'commandType'],
  [EventType.Trade]: ['tradeId', 'priceTicks', 'qtyLots', 'makerOrderId', 'makerAccount', 'takerOrderId', 'takerAccount',
    'takerSide', 'makerFeeUnits', 'takerFeeUnits', 'makerRemainingLots', 'takerRemainingLots', 'notionalUnits'],
  [EventType.Canceled]: ['orderId', 'account', 'remainingLots', 'reason', 'filledLots'],
  [EventType.Expired]: ['orderId', 'account', 'remainingLots', 'reason', 'filledLots'],
  [EventType.Replaced]: ['orderId', 'account', 'priceTicks', 'qtyLots', 'remainingLots', 'keptPriority'],
  [EventType.Decremented]: ['orderId', 'account', 'decrementLots', 'remainingLots'],
  [EventType.Depth]: ['side', 'priceTicks', 'qtyLots', 'orderCount'],
  [EventType.TopOfBook]: ['bidPriceTicks', 'bidQtyLots', 'askPriceTicks', 'askQtyLots'],
  [EventType.AdminDone]: ['commandType', 'account', 'value', 'value2', 'affected'],
  [EventType.Triggered]: ['orderId', 'account', 'stopPriceTicks', 'sourcePriceTicks', 'newOrderType', 'limitPriceTicks',
    'remainingLots'],
  [EventType.Activated]: ['orderId', 'account', 'qtyLots', 'remainingLots'],
  [EventType.SliceRefreshed]: ['orderId', 'account', 'visibleLots', 'hiddenLots'],
};

export const REJECT_NAMES: Record<number, string> = {
  0: 'None', 1: 'UnknownCommand', 2: 'InvalidSide', 3: 'InvalidOrderType', 4: 'InvalidTimeInForce', 5: 'InvalidPrice',
  6: 'InvalidQuantity', 7: 'InvalidStpMode', 8: 'InvalidFlags', 9: 'InvalidExpireTime', 10: 'PriceNotOnTick',
  11: 'QuantityBelowMin', 12: 'QuantityAboveMax', 13: 'NotionalBelowMin', 14: 'NotionalAboveMax', 15: 'PriceOutsideBand',
  16: 'TooManyOpenOrders', 17: 'PositionLimitExceeded', 18: 'SymbolHalted', 19: 'SymbolCancelOnly', 20: 'AccountKilled',
  21: 'DuplicateClientOrderId', 22: 'PostOnlyWouldTake', 23: 'UnknownOrder', 25: 'BookFull', 26: 'NoReferencePrice',
  27: 'GtdAlreadyExpired', 28: 'ReplaceNoChange', 29: 'UnknownSymbol', 30: 'InvalidAccount', 31: 'InvalidClientOrderId',
  32: 'ArithmeticOverflow', 33: 'InvalidValue', 34: 'StopWouldTrigger', 35: 'InvalidStopPrice', 36: 'InvalidDisplayQty',
  37: 'InvalidLink', 38: 'InvalidTrailOffset', 64: 'Busy', 65: 'InsufficientBalance', 66: 'NotPermitted',
};

export const END_NAMES: Record<number, string> = {
  0: 'UserCancel', 1: 'MassCancel', 2: 'ImmediateRemainder', 3: 'FillOrKill', 4: 'Expired', 5: 'SelfTrade',
  6: 'MarketProtection', 7: 'KillSwitch', 8: 'ReplaceDone', 9: 'QuoteExhausted', 11: 'TriggerLimit', 12: 'LinkedOrder',
};

export const COMMAND_NAMES: Record<number, string> = {
  1: 'NewOrder', 2: 'Cancel', 3: 'Replace', 4: 'MassCancel', 5: 'TimeTick', 6: 'SetSymbolStatus', 7: 'SetKillSwitch',
  8: 'SetAccountLimits', 9: 'SetReferencePrice',
};

/** One decoded event: `type` is the event's name, the other fields are the record's numbers. */
export interface DecodedEvent {
  type: string;
  seq: number;
  tsUs: number;
  [field: string]: number | string;
}

export function decodeRecord(words: ArrayLike<number>, offset = 0): DecodedEvent {
  const code = words[offset]!;
  const names = FIELDS[code];
  const ev: DecodedEvent = { type: EVENT_NAMES[code] ?? `Unknown(${code})`, seq: words[offset + 1]!, tsUs: words[offset + 2]! };
  if (names === undefined) {
    for (let k = 3; k < EVENT_WORDS; k++) ev[`w${k}`] = words[offset + k]!;
    return ev;
  }
  names.forEach((name, k) => { ev[name] = words[offset + 3 + k]!; });
  // Words a type does not use must be 0: surface them if not.
  for (let k = 3 + names.length; k < EVENT_WORDS; k++) if (!Object.is(words[offset + k], 0)) ev[`w${k}`] = words[offset + k]!;
  return ev;
}

/** Records [from, buf.count) as named objects. */
export function decodeEvents(buf: EventBuffer, from = 0): DecodedEvent[] {
  const out: DecodedEvent[] = [];
  for (let i = from; i < buf.count; i++) out.push(decodeRecord(buf.words, i * EVENT_WORDS));
  return out;
}

/** The same without seq and tsUs (hand-written expectations). */
export function stripStamps(events: DecodedEvent[]): Array<Record<string, number | string>> {
  return events.map(({ seq: _s, tsUs: _t, ...rest }) => rest);
}

/** One line per event with reason names, for failure messages. */
export function describeEvent(e: Record<string, number | string>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(e)) {
    if (k === 'type') continue;
    let s = Object.is(v, -0) ? '-0' : String(v);
    if (k === 'reason') s += e['type'] === 'Rejected' ? `(${REJECT_NAMES[v as number] ?? '?'})` : `(${END_NAMES[v as number] ?? '?'})`;
    if (k === 'commandType') s += `(${COMMAND_NAMES[v as number] ?? '?'})`;
    parts.push(`${k}=${s}`);
  }
  return `${e['type']} ${parts.join(' ')}`;
}

export function describeCommand(c: Command): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(c)) if (k !== 'type' && !Object.is(v, 0)) parts.push(`${k}: ${Object.is(v, -0) ? '-0' : String(v)}`);
  return `${COMMAND_NAMES[c.type] ?? `type ${c.type}`} { ${parts.join(', ')} }`;
}

/** Two event lists side by side from the first difference, or null when equal (Object.is per field). */
export function diffEvents(a: DecodedEvent[], b: DecodedEvent[], labelA = 'fast', labelB = 'reference'): string | null {
  const n = Math.max(a.length, b.length);
  let first = -1;
  for (let i = 0; i < n && first < 0; i++) {
    const x = a[i], y = b[i];
    if (x === undefined || y === undefined) { first = i; break; }
    const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
    for (const k of keys) if (!Object.is(x[k], y[k])) { first = i; break; }
  }
  if (first < 0) return null;
  const lines = [`events differ at index ${first}:`];
  for (let i = 0; i < n; i++) {
    const mark = i === first ? '>>' : '  ';
    lines.push(`${mark} ${labelA.padEnd(9)} ${a[i] ? describeEvent(a[i]!) : '(none)'}`);
    lines.push(`${mark} ${labelB.padEnd(9)} ${b[i] ? describeEvent(b[i]!) : '(none)'}`);
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------------
// A driver for hand-written scenarios: stamps seq and time, returns each command's events.
// ------------------------------------------------------------------------------------------------

export class Driver {
  readonly events = new EventBuffer(4096);
  readonly book: BookLike;
  seq = 0;
  tsUs = 1_000_000;
  private readonly cmd = new Command();

  constructor(factory: BookFactory, spec: InstrumentSpec = testSpec()) {
    this.book = factory(spec, this.events);
  }

  /** Runs one command (seq auto-incremented; NewOrder's orderId defaults to seq); returns its events without stamps. */
  send(fields: Partial<Command>): Array<Record<string, number | string>> {
    this.seq++;
    if (fields.tsUs !== undefined) this.tsUs = fields.tsUs;
    const c = fillCommand(this.cmd, { seq: this.seq, tsUs: this.tsUs, ...fields });
    if (c.type === CommandType.NewOrder && fields.orderId === undefined) c.orderId = this.seq;
    this.events.clear();
    this.book.execute(c);
    return stripStamps(decodeEvents(this.events));
  }

  /** Like send, but with seq and tsUs kept on each event. */
  sendRaw(fields: Partial<Command>): DecodedEvent[] {
    this.seq++;
    if (fields.tsUs !== undefined) this.tsUs = fields.tsUs;
    const c = fillCommand(this.cmd, { seq: this.seq, tsUs: this.tsUs, ...fields });
    if (c.type === CommandType.NewOrder && fields.orderId === undefined) c.orderId = this.seq;
    this.events.clear();
    this.book.execute(c);
    return decodeEvents(this.events);
  }
}

// ------------------------------------------------------------------------------------------------
// State dump parsing
// ------------------------------------------------------------------------------------------------

export interface DumpOrder {
  orderId: number; account: number; clientOrderId: number; side: number; priceTicks: number; qtyLots: number;
  remainingLots: number; filledLots: number; tif: number; flags: number; stpMode: number; stpGroup: number;
  expireTsUs: number; orderType: number; stopPriceTicks: number; displayQtyLots: number; visibleLots: number;
  trailOffset: number; limitOffsetTicks: number; anchorTicks: number; linkId: number; parentId: number;
}

export interface ParsedDump {
  nowUs: number;
  referencePriceTicks: number;
  lastTradePriceTicks: number;
  nextTradeId: number;
  status: number;
  bids: DumpOrder[];
  asks: DumpOrder[];
  /** Open orders not on the book (conditionals waiting for a trigger, bracket children of size 0). */
  pending: DumpOrder[];
  accounts: Array<{ account: number; positionLots: number; killed: number; maxPositionLots: number; maxOpenOrders: number }>;
  retained: Array<[number, number]>;
}

/** Parses the canonical dump; throws on a malformed one. */
export function parseDump(d: ArrayLike<number>): ParsedDump {
  let i = 0;
  const next = (): number => {
    if (i >= d.length) throw new RangeError(`dump too short at ${i}`);
    return d[i++]!;
  };
  // Canonical dump v2: 5-number header, 22 fields per order, a pending section after the asks.
  const nowUs = next(), referencePriceTicks = next(), lastTradePriceTicks = next(), nextTradeId = next(), status = next();
  const readOrders = (): DumpOrder[] => {
    const n = next();
    const out: DumpOrder[] = [];
    for (let k = 0; k < n; k++) {
      out.push({ orderId: next(), account: next(), clientOrderId: next(), side: next(), orderType: next(), priceTicks: next(),
        qtyLots: next(), remainingLots: next(), filledLots: next(), tif: next(), flags: next(), stpMode: next(),
        stpGroup: next(), expireTsUs: next(), stopPriceTicks: next(), displayQtyLots: next(), visibleLots: next(),
        trailOffset: next(), limitOffsetTicks: next(), anchorTicks: next(), linkId: next(), parentId: next() });
    }
    return out;
  };
  const bids = readOrders();
  const asks = readOrders();
  const pending = readOrders();
  const accounts: ParsedDump['accounts'] = [];
  const na = next();
  for (let k = 0; k < na; k++) accounts.push({ account: next(), positionLots: next(), killed: next(), maxPositionLots: next(), maxOpenOrders: next() });
  const retained: Array<[number, number]> = [];
  const nr = next();
  for (let k = 0; k < nr; k++) retained.push([next(), next()]);
  if (i !== d.length) throw new RangeError(`dump has ${d.length - i} trailing values`);
  return { nowUs, referencePriceTicks, lastTradePriceTicks, nextTradeId, status, bids, asks, pending, accounts, retained };
}
