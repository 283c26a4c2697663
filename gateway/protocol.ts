// Binary order-entry protocol (schema version 1): fixed little-endian layouts, SBE-like.
// The byte-by-byte specification, enum tables and test vectors are in docs/protocol.md; the
// schema tables below (MESSAGE_SPECS) are the single source of truth the doc's tables follow.
//
// A frame (one WebSocket binary message) holds one or more messages back to back. Every message
// starts with an 8-byte header: u16 length (whole message), u16 type, u16 schema version, u16
// reserved (0). Every message type has one fixed length, a multiple of 8.
//
// 64-bit fields. Every 64-bit field is an ordinary little-endian u64 (or i64 for fees) on the
// wire, so clients in other languages read it natively. The JavaScript codecs read and write it as
// two u32 halves (lo at the field's offset, hi at offset + 4): DataView.getBigInt64 allocates a
// BigInt and is several times slower, and float64 on the wire would force every other language to
// convert. Values are limited to the safe-integer range: u64 in [0, 2^53-1] (hi <= 0x1FFFFF), i64 in
// [-(2^53-1), 2^53-1]; anything else is IntegerOutOfRange.
//
// Three codecs live here:
// - CommandDecoder (engine side, hot path): client -> engine frames into one reusable Command; no
//   allocation per message, never throws, a typed error (ProtoError) with the byte offset.
// - ReportEncoder (engine side, hot path): engine -> client messages appended into one reusable buffer.
// - decodeFrame / encodeMessage (client side, schema-driven, allocating): the mirror of both, used by
//   the client library (gateway/client.ts) and by the tests as an independent second implementation.

import { ALL_ORDER_FLAGS, Command, CommandType } from '../core/types.js';

export const SCHEMA_VERSION = 1;
export const HEADER_BYTES = 8;
/** Largest safe integer (2^53-1): the bound of every u64 field. */
export const MAX_U64_SAFE = Number.MAX_SAFE_INTEGER;
const TWO_32 = 4294967296;
/** Largest hi half of a u64 whose value is <= 2^53-1. */
const MAX_HI = 0x1fffff;

export const DEFAULT_MAX_MESSAGES_PER_FRAME = 64;
/** Default frame size limit: 64 of the largest client message (NewOrder, 112 bytes). */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 112;

/** Message types. 1-15 client -> engine, 16-31 session level, 32+ engine -> client. */
export const enum MsgType {
  NewOrder = 1,
  Cancel = 2,
  Replace = 3,
  MassCancel = 4,
  /** Both directions. */
  Heartbeat = 16,
  /** Engine -> client: a frame-level error. */
  SessionReject = 17,
  ExecAccepted = 32,
  ExecRejected = 33,
  ExecFill = 34,
  ExecCanceled = 35,
  ExecExpired = 36,
  ExecReplaced = 37,
  ExecTriggered = 38,
  ExecActivated = 39,
  ExecSliceRefreshed = 40,
  ExecDecremented = 41,
  MassCancelDone = 42,
}

/** Decode errors (also SessionReject reasons). Stable codes: never renumber; append. */
export const enum ProtoError {
  None = 0,
  /** The frame ends before the message: fewer than 8 bytes left for a header, an empty frame, or a
   *  header length beyond the end of the frame. */
  Short = 1,
  /** The frame is larger than the limit (maxFrameBytes). */
  Long = 2,
  /** Header length below 8, or not the fixed length of the message type. */
  LengthMismatch = 3,
  UnknownType = 4,
  UnknownVersion = 5,
  /** An enum or flag field holds a value outside its table. */
  EnumOutOfRange = 6,
  /** A 64-bit field beyond the safe-integer range. */
  IntegerOutOfRange = 7,
  /** (Encoders only) a value that is not an integer. */
  NonInteger = 8,
  /** A reserved field or the header's reserved word is not zero. */
  ReservedNonZero = 9,
  /** More messages in the frame than maxMessagesPerFrame. */
  TooManyMessages = 10,
}

export const PROTO_ERROR_NAMES: readonly string[] = [
  'None', 'Short', 'Long', 'LengthMismatch', 'UnknownType', 'UnknownVersion', 'EnumOutOfRange',
  'IntegerOutOfRange', 'NonInteger', 'ReservedNonZero', 'TooManyMessages',
];

/** Liquidity flag of a fill. */
export const enum Liquidity {
  Maker = 1,
  Taker = 2,
}

// ---------------------------------------------------------------------------------------------
// Schema tables
// ---------------------------------------------------------------------------------------------

export type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'i64' | 'r8' | 'r16' | 'r32';

export interface FieldSpec {
  readonly name: string;
  readonly offset: number;
  readonly kind: FieldKind;
  /** Integer fields: inclusive bounds (default: the type's range). */
  readonly min?: number;
  readonly max?: number;
  /** Bit-flag fields: the allowed bits. */
  readonly mask?: number;
  readonly doc: string;
}

export type Direction = 'toEngine' | 'toClient' | 'both';

export interface MessageSpec {
  readonly type: number;
  readonly name: string;
  readonly size: number;
  readonly direction: Direction;
  readonly fields: readonly FieldSpec[];
}

const KIND_BYTES: Record<FieldKind, number> = { u8: 1, u16: 2, u32: 4, u64: 8, i64: 8, r8: 1, r16: 2, r32: 4 };
export function fieldBytes(kind: FieldKind): number {
  return KIND_BYTES[kind];
}

const f = (name: string, offset: number, kind: FieldKind, doc: string, extra: Partial<FieldSpec> = {}): FieldSpec =>
  ({ name, offset, kind, doc, ...extra });
const r = (offset: number, kind: 'r8' | 'r16' | 'r32'): FieldSpec => f('reserved' + offset, offset, kind, 'reserved, must be 0');

/** Fields 8..47 shared by every execution report. */
const EXEC_PREFIX: readonly FieldSpec[] = [
  f('seq', 8, 'u64', 'engine sequence number of the command that caused the report (0 for gateway rejects)'),
  f('tsUs', 16, 'u64', 'engine time of that command, microseconds since the Unix epoch'),
  f('orderId', 24, 'u64', 'engine order id (0 when a reject names no order)'),
  f('clientOrderId', 32, 'u64', 'the order\'s client order id (0 = none); MassCancel rejects: the requestId'),
  f('instrumentId', 40, 'u32', 'instrument'),
];

export const MESSAGE_SPECS: readonly MessageSpec[] = [
  {
    type: MsgType.NewOrder, name: 'NewOrder', size: 112, direction: 'toEngine', fields: [
      f('clientOrderId', 8, 'u64', 'client order id, 1..2^53-1 (0 = none: no idempotency, no ack matching)'),
      f('priceTicks', 16, 'u64', 'limit price (Limit, StopLimit, LimitIfTouched), else 0'),
      f('qtyLots', 24, 'u64', 'quantity (0 with QuoteQty and for bracket children)'),
      f('quoteQtyUnits', 32, 'u64', 'Market with QuoteQty: amount in quote units, else 0'),
      f('stopPriceTicks', 40, 'u64', 'trigger price X (Stop, StopLimit, MIT, LIT), else 0'),
      f('displayQtyLots', 48, 'u64', 'iceberg visible size (Limit GTC/GTD), 0 = not an iceberg'),
      f('trailOffset', 56, 'u64', 'trailing types: offset in ticks (bps with TrailBps), else 0'),
      f('limitOffsetTicks', 64, 'u64', 'TrailingStopLimit: limit distance from X, else 0'),
      f('linkId', 72, 'u64', 'OCO partner order id, or bracket entry id with the Child flag; 0 = none'),
      f('expireTsUs', 80, 'u64', 'GTD expiry, microseconds since the Unix epoch; 0 unless tif = GTD'),
      f('stpGroup', 88, 'u64', 'self-trade group (0 = none)'),
      f('instrumentId', 96, 'u32', 'instrument'),
      f('side', 100, 'u8', 'Side', { max: 1 }),
      f('orderType', 101, 'u8', 'OrderType', { max: 7 }),
      f('tif', 102, 'u8', 'TimeInForce', { max: 3 }),
      f('stpMode', 103, 'u8', 'StpMode', { max: 4 }),
      f('flags', 104, 'u32', 'OrderFlags bits', { mask: ALL_ORDER_FLAGS }),
      r(108, 'r32'),
    ],
  },
  {
    type: MsgType.Cancel, name: 'Cancel', size: 32, direction: 'toEngine', fields: [
      f('orderId', 8, 'u64', 'order to cancel; 0 = find it by clientOrderId'),
      f('clientOrderId', 16, 'u64', 'used when orderId = 0'),
      f('instrumentId', 24, 'u32', 'instrument of the order'),
      r(28, 'r32'),
    ],
  },
  {
    type: MsgType.Replace, name: 'Replace', size: 48, direction: 'toEngine', fields: [
      f('orderId', 8, 'u64', 'order to change; 0 = find it by clientOrderId'),
      f('clientOrderId', 16, 'u64', 'used when orderId = 0 (the order keeps its client id)'),
      f('priceTicks', 24, 'u64', 'new price, 0 = keep'),
      f('qtyLots', 32, 'u64', 'new total quantity including what is filled, 0 = keep'),
      f('instrumentId', 40, 'u32', 'instrument of the order'),
      r(44, 'r32'),
    ],
  },
  {
    type: MsgType.MassCancel, name: 'MassCancel', size: 24, direction: 'toEngine', fields: [
      f('requestId', 8, 'u64', 'client-chosen id, echoed in MassCancelDone (and in a reject\'s clientOrderId)'),
      f('instrumentId', 16, 'u32', 'instrument; 0 = every instrument'),
      r(20, 'r32'),
    ],
  },
  {
    type: MsgType.Heartbeat, name: 'Heartbeat', size: 16, direction: 'both', fields: [
      f('timestampUs', 8, 'u64', 'sender\'s clock, microseconds since the Unix epoch (informational, may be 0)'),
    ],
  },
  {
    type: MsgType.SessionReject, name: 'SessionReject', size: 24, direction: 'toClient', fields: [
      f('reason', 8, 'u16', 'ProtoError', { min: 1, max: 10 }),
      f('msgIndex', 10, 'u16', 'index of the offending message in its frame (0-based)'),
      f('byteOffset', 12, 'u32', 'offset in the frame of the offending byte (the field or header word at fault)'),
      f('msgType', 16, 'u16', 'type field of the offending message (0 if it could not be read)'),
      r(18, 'r16'),
      r(20, 'r32'),
    ],
  },
  {
    type: MsgType.ExecAccepted, name: 'ExecAccepted', size: 88, direction: 'toClient', fields: [
      ...EXEC_PREFIX,
      f('side', 44, 'u8', 'Side', { max: 1 }),
      f('orderType', 45, 'u8', 'OrderType', { max: 7 }),
      f('tif', 46, 'u8', 'TimeInForce', { max: 3 }),
      r(47, 'r8'),
      f('priceTicks', 48, 'u64', 'limit price (0 for market-type)'),
      f('qtyLots', 56, 'u64', 'quantity'),
      f('quoteQtyUnits', 64, 'u64', 'quote amount (QuoteQty orders)'),
      f('expireTsUs', 72, 'u64', 'GTD expiry (0 = none)'),
      f('flags', 80, 'u32', 'OrderFlags bits', { mask: ALL_ORDER_FLAGS }),
      r(84, 'r32'),
    ],
  },
  {
    type: MsgType.ExecRejected, name: 'ExecRejected', size: 48, direction: 'toClient', fields: [
      ...EXEC_PREFIX,
      f('reason', 44, 'u16', 'RejectReason (clients treat unknown codes as a generic reject)', { min: 1 }),
      f('commandType', 46, 'u8', 'the rejected request: 1 NewOrder, 2 Cancel, 3 Replace, 4 MassCancel', { min: 1, max: 4 }),
      r(47, 'r8'),
    ],
  },
  {
    type: MsgType.ExecFill, name: 'ExecFill', size: 104, direction: 'toClient', fields: [
      ...EXEC_PREFIX,
      f('liquidity', 44, 'u8', 'Liquidity: 1 maker, 2 taker', { min: 1, max: 2 }),
      f('side', 45, 'u8', 'Side of this order', { max: 1 }),
      r(46, 'r16'),
      f('tradeId', 48, 'u64', 'trade id (per instrument, from 1)'),
      f('priceTicks', 56, 'u64', 'trade price'),
      f('qtyLots', 64, 'u64', 'quantity of this fill'),
      f('feeUnits', 72, 'i64', 'fee in quote units, negative = rebate'),
      f('leavesQtyLots', 80, 'u64', 'quantity still open after the fill (0 for QuoteQty orders)'),
      f('cumQtyLots', 88, 'u64', 'quantity filled so far, this fill included'),
      f('notionalUnits', 96, 'u64', 'price x qty in quote units'),
    ],
  },
  {
    type: MsgType.ExecCanceled, name: 'ExecCanceled', size: 64, direction: 'toClient', fields: [
      ...EXEC_PREFIX,
      f('reason', 44, 'u8', 'EndReason'),
      r(45, 'r8'),
      r(46, 'r16'),
      f('canceledQtyLots', 48, 'u64', 'open quantity removed'),
      f('cumQtyLots', 56, 'u64', 'quantity filled before the end'),
    ],
  },
  {
    type: MsgType.ExecExpired, name: 'ExecExpired', size: 64, direction: 'toClient', fields: [
      ...EXEC_PREFIX,
      f('reason', 44, 'u8', 'EndReason'),
      r(45, 'r8'),
      r(46, 'r16'),
      f('canceledQtyLots', 48, 'u64', 'open quantity removed'),
      f('cumQtyLots', 56, 'u64', 'quantity filled before the end'),
    ],
  },
  {
    type: MsgType.ExecReplaced, name: 'ExecReplaced', size: 72, direction: 'toClient', fields: [
      ...EXEC_PREFIX,
      f('keptPriority', 44, 'u8', '1 = time priority kept, 0 = lost', { max: 1 }),
      r(45, 'r8'),
      r(46, 'r16'),
      f('priceTicks', 48, 'u64', 'price now'),
      f('qtyLots', 56, 'u64', 'total quantity now (filled included)'),
      f('leavesQtyLots', 64, 'u64', 'open quantity now'),
    ],
  },
  {
    type: MsgType.ExecTriggered, name: 'ExecTriggered', size: 80, direction: 'toClient', fields: [
      ...EXEC_PREFIX,
      f('newOrderType', 44, 'u8', 'OrderType it became: 0 Limit, 1 Market', { max: 1 }),
      r(45, 'r8'),
      r(46, 'r16'),
      f('stopPriceTicks', 48, 'u64', 'trigger price X'),
      f('sourcePriceTicks', 56, 'u64', 'source price P that fired it'),
      f('limitPriceTicks', 64, 'u64', 'limit price (0 for market)'),
      f('leavesQtyLots', 72, 'u64', 'open quantity'),
    ],
  },
  {
    type: MsgType.ExecActivated, name: 'ExecActivated', size: 64, direction: 'toClient', fields: [
      ...EXEC_PREFIX,
      r(44, 'r32'),
      f('qtyLots', 48, 'u64', 'bracket child\'s new total quantity'),
      f('leavesQtyLots', 56, 'u64', 'open quantity'),
    ],
  },
  {
    type: MsgType.ExecSliceRefreshed, name: 'ExecSliceRefreshed', size: 64, direction: 'toClient', fields: [
      ...EXEC_PREFIX,
      r(44, 'r32'),
      f('visibleQtyLots', 48, 'u64', 'iceberg\'s new visible slice'),
      f('hiddenQtyLots', 56, 'u64', 'quantity still hidden'),
    ],
  },
  {
    type: MsgType.ExecDecremented, name: 'ExecDecremented', size: 64, direction: 'toClient', fields: [
      ...EXEC_PREFIX,
      r(44, 'r32'),
      f('decrementQtyLots', 48, 'u64', 'quantity removed by self-trade prevention (Decrement mode)'),
      f('leavesQtyLots', 56, 'u64', 'open quantity now'),
    ],
  },
  {
    type: MsgType.MassCancelDone, name: 'MassCancelDone', size: 40, direction: 'toClient', fields: [
      f('seq', 8, 'u64', 'engine sequence number of the (last) mass cancel command'),
      f('tsUs', 16, 'u64', 'engine time'),
      f('requestId', 24, 'u64', 'the request\'s requestId'),
      f('instrumentId', 32, 'u32', 'as requested (0 = every instrument)'),
      f('canceledCount', 36, 'u32', 'orders canceled (each also has its ExecCanceled)'),
    ],
  },
];

const SPEC_BY_TYPE: (MessageSpec | undefined)[] = [];
for (const s of MESSAGE_SPECS) SPEC_BY_TYPE[s.type] = s;

export function messageSpec(type: number): MessageSpec | undefined {
  return SPEC_BY_TYPE[type];
}

export function messageSpecByName(name: string): MessageSpec | undefined {
  return MESSAGE_SPECS.find((s) => s.name === name);
}

function accepts(spec: MessageSpec, dir: 'toEngine' | 'toClient'): boolean {
  return spec.direction === dir || spec.direction === 'both';
}

// ---------------------------------------------------------------------------------------------
// 64-bit helpers (two u32 halves)
// ---------------------------------------------------------------------------------------------

/** u64 at `off` as a number, or -1 when it is above 2^53-1. */
export function readU64(v: DataView, off: number): number {
  const hi = v.getUint32(off + 4, true);
  if (hi > MAX_HI) return -1;
  return hi * TWO_32 + v.getUint32(off, true);
}

/** i64 at `off` as a number, or NaN when it is outside +-(2^53-1). */
export function readI64(v: DataView, off: number): number {
  const hi = v.getInt32(off + 4, true);
  const lo = v.getUint32(off, true);
  if (hi > MAX_HI || hi < -MAX_HI - 1 || (hi === -MAX_HI - 1 && lo === 0)) return NaN;
  return hi * TWO_32 + lo;
}

/** Writes an integer in [-(2^53-1), 2^53-1] as a little-endian 64-bit two's complement value. */
export function writeI64(v: DataView, off: number, value: number): void {
  v.setUint32(off, value >>> 0, true);
  v.setInt32(off + 4, Math.floor(value / TWO_32), true);
}

// ---------------------------------------------------------------------------------------------
// Engine side: client -> engine decoder (hot path)
// ---------------------------------------------------------------------------------------------

/** `next()` results besides a message type. */
export const NEXT_END = 0;
export const NEXT_ERROR = -1;

export interface DecoderOptions {
  maxMessagesPerFrame?: number;
  maxFrameBytes?: number;
}

/**
 * Decodes client -> engine frames into one reusable Command. Usage:
 *
 *   if (!dec.begin(frame)) -> dec.error ...
 *   for (let t = dec.next(); t > 0; t = dec.next()) { route dec.cmd (and dec.instrumentId) }
 *   if (dec.error !== ProtoError.None) -> SessionReject(dec.error, dec.errorIndex, dec.errorOffset)
 *
 * `next()` returns the MsgType of the decoded message, NEXT_END at the end of the frame, or NEXT_ERROR
 * at the first bad message (the frame's later messages are not read). Messages before the bad one
 * were valid and are the caller's to process. Never throws and never allocates per message; a new
 * DataView is made only when a frame arrives in a different ArrayBuffer than the previous one.
 *
 * Filled per message: NewOrder: the Command's order fields + instrumentId; Cancel: orderId,
 * clientOrderId; Replace: orderId, clientOrderId, priceTicks, qtyLots; MassCancel: requestId (also
 * copied to cmd.clientOrderId); Heartbeat: heartbeatTsUs (cmd.type = 0). The Command is reset
 * first, so account, seq and tsUs are 0: the caller sets them (the account comes from the session).
 */
export class CommandDecoder {
  readonly cmd: Command;
  readonly maxMessagesPerFrame: number;
  readonly maxFrameBytes: number;
  /** Type of the message just decoded. */
  msgType = 0;
  instrumentId = 0;
  requestId = 0;
  heartbeatTsUs = 0;
  /** Byte offset of the decoded message in the frame, and its index. */
  msgOffset = 0;
  msgIndex = 0;
  error: ProtoError = ProtoError.None;
  errorIndex = 0;
  errorOffset = 0;
  /** Type field of the bad message (0 if not read). */
  errorMsgType = 0;

  private view: DataView = new DataView(new ArrayBuffer(8));
  private viewBuffer: ArrayBufferLike | null = null;
  private base = 0;
  private end = 0;
  private pos = 0;
  private index = 0;

  constructor(options: DecoderOptions = {}, cmd: Command = new Command()) {
    this.cmd = cmd;
    this.maxMessagesPerFrame = options.maxMessagesPerFrame ?? DEFAULT_MAX_MESSAGES_PER_FRAME;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Starts a frame. False when the frame itself is bad (empty: Short; too large: Long). */
  begin(frame: ArrayBuffer | Uint8Array): boolean {
    let buf: ArrayBufferLike; let off: number; let len: number;
    if (frame instanceof Uint8Array) { buf = frame.buffer; off = frame.byteOffset; len = frame.byteLength; } else { buf = frame; off = 0; len = frame.byteLength; }
    if (buf !== this.viewBuffer) { this.view = new DataView(buf); this.viewBuffer = buf; }
    this.base = off; this.end = off + len; this.pos = off; this.index = 0;
    this.error = ProtoError.None; this.errorIndex = 0; this.errorOffset = 0; this.errorMsgType = 0;
    if (len > this.maxFrameBytes) return this.failFrame(ProtoError.Long, this.maxFrameBytes);
    if (len === 0) return this.failFrame(ProtoError.Short, 0);
    return true;
  }

  private failFrame(code: ProtoError, offset: number): false {
    this.error = code; this.errorIndex = 0; this.errorOffset = offset; this.pos = this.end;
    return false;
  }

  private fail(code: ProtoError, absOffset: number, msgType: number): number {
    this.error = code; this.errorIndex = this.index; this.errorOffset = absOffset - this.base;
    this.errorMsgType = msgType; this.pos = this.end;
    return NEXT_ERROR;
  }

  next(): number {
    if (this.error !== ProtoError.None) return NEXT_ERROR;
    const p = this.pos;
    const left = this.end - p;
    if (left === 0) return NEXT_END;
    if (this.index >= this.maxMessagesPerFrame) return this.fail(ProtoError.TooManyMessages, p, 0);
    if (left < HEADER_BYTES) return this.fail(ProtoError.Short, p, 0);
    const v = this.view;
    const len = v.getUint16(p, true);
    const type = v.getUint16(p + 2, true);
    if (len < HEADER_BYTES) return this.fail(ProtoError.LengthMismatch, p, type);
    if (len > left) return this.fail(ProtoError.Short, p, type);
    if (v.getUint16(p + 4, true) !== SCHEMA_VERSION) return this.fail(ProtoError.UnknownVersion, p + 4, type);
    if (v.getUint16(p + 6, true) !== 0) return this.fail(ProtoError.ReservedNonZero, p + 6, type);
    let r: number;
    switch (type) {
      case MsgType.NewOrder: r = len === 112 ? this.newOrder(v, p) : this.fail(ProtoError.LengthMismatch, p, type); break;
      case MsgType.Cancel: r = len === 32 ? this.cancel(v, p, CommandType.Cancel) : this.fail(ProtoError.LengthMismatch, p, type); break;
      case MsgType.Replace: r = len === 48 ? this.replace(v, p) : this.fail(ProtoError.LengthMismatch, p, type); break;
      case MsgType.MassCancel: r = len === 24 ? this.massCancel(v, p) : this.fail(ProtoError.LengthMismatch, p, type); break;
      case MsgType.Heartbeat: r = len === 16 ? this.heartbeat(v, p) : this.fail(ProtoError.LengthMismatch, p, type); break;
      default: return this.fail(ProtoError.UnknownType, p + 2, type);
    }
    if (r === NEXT_ERROR) return r;
    this.msgType = type; this.msgOffset = p - this.base; this.msgIndex = this.index;
    this.pos = p + len; this.index++;
    return type;
  }

  private newOrder(v: DataView, p: number): number {
    const T = MsgType.NewOrder;
    const c = this.cmd.reset();
    c.type = CommandType.NewOrder;
    if ((c.clientOrderId = readU64(v, p + 8)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 8, T);
    if ((c.priceTicks = readU64(v, p + 16)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 16, T);
    if ((c.qtyLots = readU64(v, p + 24)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 24, T);
    if ((c.quoteQtyUnits = readU64(v, p + 32)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 32, T);
    if ((c.stopPriceTicks = readU64(v, p + 40)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 40, T);
    if ((c.displayQtyLots = readU64(v, p + 48)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 48, T);
    if ((c.trailOffset = readU64(v, p + 56)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 56, T);
    if ((c.limitOffsetTicks = readU64(v, p + 64)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 64, T);
    if ((c.linkId = readU64(v, p + 72)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 72, T);
    if ((c.expireTsUs = readU64(v, p + 80)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 80, T);
    if ((c.stpGroup = readU64(v, p + 88)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 88, T);
    this.instrumentId = v.getUint32(p + 96, true);
    if ((c.side = v.getUint8(p + 100)) > 1) return this.fail(ProtoError.EnumOutOfRange, p + 100, T);
    if ((c.orderType = v.getUint8(p + 101)) > 7) return this.fail(ProtoError.EnumOutOfRange, p + 101, T);
    if ((c.tif = v.getUint8(p + 102)) > 3) return this.fail(ProtoError.EnumOutOfRange, p + 102, T);
    if ((c.stpMode = v.getUint8(p + 103)) > 4) return this.fail(ProtoError.EnumOutOfRange, p + 103, T);
    const flags = v.getUint32(p + 104, true);
    if ((flags & ~ALL_ORDER_FLAGS) !== 0) return this.fail(ProtoError.EnumOutOfRange, p + 104, T);
    c.flags = flags;
    if (v.getUint32(p + 108, true) !== 0) return this.fail(ProtoError.ReservedNonZero, p + 108, T);
    return T;
  }

  private cancel(v: DataView, p: number, type: number): number {
    const T = MsgType.Cancel;
    const c = this.cmd.reset();
    c.type = type;
    if ((c.orderId = readU64(v, p + 8)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 8, T);
    if ((c.clientOrderId = readU64(v, p + 16)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 16, T);
    this.instrumentId = v.getUint32(p + 24, true);
    if (v.getUint32(p + 28, true) !== 0) return this.fail(ProtoError.ReservedNonZero, p + 28, T);
    return T;
  }

  private replace(v: DataView, p: number): number {
    const T = MsgType.Replace;
    const c = this.cmd.reset();
    c.type = CommandType.Replace;
    if ((c.orderId = readU64(v, p + 8)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 8, T);
    if ((c.clientOrderId = readU64(v, p + 16)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 16, T);
    if ((c.priceTicks = readU64(v, p + 24)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 24, T);
    if ((c.qtyLots = readU64(v, p + 32)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 32, T);
    this.instrumentId = v.getUint32(p + 40, true);
    if (v.getUint32(p + 44, true) !== 0) return this.fail(ProtoError.ReservedNonZero, p + 44, T);
    return T;
  }

  private massCancel(v: DataView, p: number): number {
    const T = MsgType.MassCancel;
    const c = this.cmd.reset();
    c.type = CommandType.MassCancel;
    if ((this.requestId = readU64(v, p + 8)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 8, T);
    c.clientOrderId = this.requestId;
    this.instrumentId = v.getUint32(p + 16, true);
    if (v.getUint32(p + 20, true) !== 0) return this.fail(ProtoError.ReservedNonZero, p + 20, T);
    return T;
  }

  private heartbeat(v: DataView, p: number): number {
    this.cmd.reset();
    if ((this.heartbeatTsUs = readU64(v, p + 8)) < 0) return this.fail(ProtoError.IntegerOutOfRange, p + 8, MsgType.Heartbeat);
    this.instrumentId = 0;
    return MsgType.Heartbeat;
  }
}

// ---------------------------------------------------------------------------------------------
// Engine side: engine -> client encoder (hot path)
// ---------------------------------------------------------------------------------------------

/**
 * Appends engine -> client messages to one reusable buffer; `bytes()` is the frame so far (a view,
 * valid until the next `reset()`), `length` its size. Values come from the core, which guarantees
 * integers in range, so nothing is validated here (the tests compare every method with the
 * schema-driven encoder). `hasRoom(n)` tells whether n more bytes fit; a write past the end throws
 * (a sizing bug: the caller flushes before).
 */
export class ReportEncoder {
  readonly buffer: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly view: DataView;
  length = 0;

  constructor(capacityBytes = 64 * 1024) {
    this.buffer = new ArrayBuffer(capacityBytes);
    this.u8 = new Uint8Array(this.buffer);
    this.view = new DataView(this.buffer);
  }

  reset(): void { this.length = 0; }
  hasRoom(bytes: number): boolean { return this.length + bytes <= this.buffer.byteLength; }
  /** The frame written since the last reset (allocates one view). */
  bytes(): Uint8Array { return this.u8.subarray(0, this.length); }

  /** Header + zeroed body; returns the message's offset. */
  private begin(type: number, size: number): number {
    const p = this.length;
    if (p + size > this.buffer.byteLength) throw new RangeError('ReportEncoder buffer full');
    this.u8.fill(0, p, p + size);
    const v = this.view;
    v.setUint16(p, size, true); v.setUint16(p + 2, type, true); v.setUint16(p + 4, SCHEMA_VERSION, true);
    this.length = p + size;
    return p;
  }

  private prefix(type: number, size: number, seq: number, tsUs: number, orderId: number, clientOrderId: number, instrumentId: number): number {
    const p = this.begin(type, size);
    const v = this.view;
    writeI64(v, p + 8, seq); writeI64(v, p + 16, tsUs); writeI64(v, p + 24, orderId); writeI64(v, p + 32, clientOrderId);
    v.setUint32(p + 40, instrumentId, true);
    return p;
  }

  heartbeat(timestampUs: number): void {
    const p = this.begin(MsgType.Heartbeat, 16);
    writeI64(this.view, p + 8, timestampUs);
  }

  sessionReject(reason: number, msgIndex: number, byteOffset: number, msgType: number): void {
    const p = this.begin(MsgType.SessionReject, 24); const v = this.view;
    v.setUint16(p + 8, reason, true); v.setUint16(p + 10, msgIndex, true); v.setUint32(p + 12, byteOffset, true);
    v.setUint16(p + 16, msgType, true);
  }

  accepted(seq: number, tsUs: number, orderId: number, clientOrderId: number, instrumentId: number, side: number,
    orderType: number, tif: number, priceTicks: number, qtyLots: number, quoteQtyUnits: number, expireTsUs: number, flags: number): void {
    const p = this.prefix(MsgType.ExecAccepted, 88, seq, tsUs, orderId, clientOrderId, instrumentId); const v = this.view;
    v.setUint8(p + 44, side); v.setUint8(p + 45, orderType); v.setUint8(p + 46, tif);
    writeI64(v, p + 48, priceTicks); writeI64(v, p + 56, qtyLots); writeI64(v, p + 64, quoteQtyUnits);
    writeI64(v, p + 72, expireTsUs); v.setUint32(p + 80, flags, true);
  }

  rejected(seq: number, tsUs: number, orderId: number, clientOrderId: number, instrumentId: number, reason: number, commandType: number): void {
    const p = this.prefix(MsgType.ExecRejected, 48, seq, tsUs, orderId, clientOrderId, instrumentId); const v = this.view;
    v.setUint16(p + 44, reason, true); v.setUint8(p + 46, commandType);
  }

  fill(seq: number, tsUs: number, orderId: number, clientOrderId: number, instrumentId: number, liquidity: number, side: number,
    tradeId: number, priceTicks: number, qtyLots: number, feeUnits: number, leavesQtyLots: number, cumQtyLots: number, notionalUnits: number): void {
    const p = this.prefix(MsgType.ExecFill, 104, seq, tsUs, orderId, clientOrderId, instrumentId); const v = this.view;
    v.setUint8(p + 44, liquidity); v.setUint8(p + 45, side);
    writeI64(v, p + 48, tradeId); writeI64(v, p + 56, priceTicks); writeI64(v, p + 64, qtyLots); writeI64(v, p + 72, feeUnits);
    writeI64(v, p + 80, leavesQtyLots); writeI64(v, p + 88, cumQtyLots); writeI64(v, p + 96, notionalUnits);
  }

  /** ExecCanceled or ExecExpired (same layout). */
  ended(expired: boolean, seq: number, tsUs: number, orderId: number, clientOrderId: number, instrumentId: number, reason: number,
    canceledQtyLots: number, cumQtyLots: number): void {
    const p = this.prefix(expired ? MsgType.ExecExpired : MsgType.ExecCanceled, 64, seq, tsUs, orderId, clientOrderId, instrumentId);
    const v = this.view;
    v.setUint8(p + 44, reason); writeI64(v, p + 48, canceledQtyLots); writeI64(v, p + 56, cumQtyLots);
  }

  replaced(seq: number, tsUs: number, orderId: number, clientOrderId: number, instrumentId: number, keptPriority: number,
    priceTicks: number, qtyLots: number, leavesQtyLots: number): void {
    const p = this.prefix(MsgType.ExecReplaced, 72, seq, tsUs, orderId, clientOrderId, instrumentId); const v = this.view;
    v.setUint8(p + 44, keptPriority); writeI64(v, p + 48, priceTicks); writeI64(v, p + 56, qtyLots); writeI64(v, p + 64, leavesQtyLots);
  }

  triggered(seq: number, tsUs: number, orderId: number, clientOrderId: number, instrumentId: number, newOrderType: number,
    stopPriceTicks: number, sourcePriceTicks: number, limitPriceTicks: number, leavesQtyLots: number): void {
    const p = this.prefix(MsgType.ExecTriggered, 80, seq, tsUs, orderId, clientOrderId, instrumentId); const v = this.view;
    v.setUint8(p + 44, newOrderType); writeI64(v, p + 48, stopPriceTicks); writeI64(v, p + 56, sourcePriceTicks);
    writeI64(v, p + 64, limitPriceTicks); writeI64(v, p + 72, leavesQtyLots);
  }

  /** ExecActivated, ExecSliceRefreshed or ExecDecremented: the prefix and two u64 at 48 and 56. */
  twoQty(type: MsgType.ExecActivated | MsgType.ExecSliceRefreshed | MsgType.ExecDecremented, seq: number, tsUs: number,
    orderId: number, clientOrderId: number, instrumentId: number, a: number, b: number): void {
    const p = this.prefix(type, 64, seq, tsUs, orderId, clientOrderId, instrumentId);
    writeI64(this.view, p + 48, a); writeI64(this.view, p + 56, b);
  }

  massCancelDone(seq: number, tsUs: number, requestId: number, instrumentId: number, canceledCount: number): void {
    const p = this.begin(MsgType.MassCancelDone, 40); const v = this.view;
    writeI64(v, p + 8, seq); writeI64(v, p + 16, tsUs); writeI64(v, p + 24, requestId);
    v.setUint32(p + 32, instrumentId, true); v.setUint32(p + 36, canceledCount, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Schema-driven codec (client side, tests): both directions, allocating, simple
// ---------------------------------------------------------------------------------------------

export type Fields = Record<string, number>;

export interface DecodedMessage {
  type: number;
  name: string;
  /** Offset of the message in its frame. */
  offset: number;
  /** Every field of the spec except reserved ones. */
  fields: Fields;
}

export interface FrameError {
  code: ProtoError;
  /** Index of the bad message in the frame. */
  msgIndex: number;
  /** Offset in the frame of the offending byte. */
  byteOffset: number;
  /** Type field of the bad message, 0 if not read. */
  msgType: number;
}

export interface DecodedFrame {
  /** The valid messages before the first bad one (all of them when error is null). */
  messages: DecodedMessage[];
  error: FrameError | null;
}

/** Checks one field's value as read from the wire; returns ProtoError.None or the error. */
function checkWireValue(fs: FieldSpec, value: number): ProtoError {
  switch (fs.kind) {
    case 'r8': case 'r16': case 'r32': return value === 0 ? ProtoError.None : ProtoError.ReservedNonZero;
    case 'u64': return value < 0 ? ProtoError.IntegerOutOfRange : ProtoError.None;
    case 'i64': return Number.isNaN(value) ? ProtoError.IntegerOutOfRange : ProtoError.None;
    default:
      if (fs.mask !== undefined) return (value & ~fs.mask) !== 0 ? ProtoError.EnumOutOfRange : ProtoError.None;
      if ((fs.min !== undefined && value < fs.min) || (fs.max !== undefined && value > fs.max)) return ProtoError.EnumOutOfRange;
      return ProtoError.None;
  }
}

function readField(v: DataView, off: number, kind: FieldKind): number {
  switch (kind) {
    case 'u8': case 'r8': return v.getUint8(off);
    case 'u16': case 'r16': return v.getUint16(off, true);
    case 'u32': case 'r32': return v.getUint32(off, true);
    case 'u64': return readU64(v, off);
    case 'i64': return readI64(v, off);
  }
}

/**
 * Decodes a whole frame with the schema tables. `direction` is the receiver's side: 'toEngine'
 * accepts client messages (the server's view), 'toClient' engine messages (the client's view).
 * Same checks and the same error order as CommandDecoder; never throws.
 */
export function decodeFrame(frame: ArrayBuffer | Uint8Array, direction: 'toEngine' | 'toClient', options: DecoderOptions = {}): DecodedFrame {
  const maxMessages = options.maxMessagesPerFrame ?? DEFAULT_MAX_MESSAGES_PER_FRAME;
  const maxBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const u8 = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  const v = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const messages: DecodedMessage[] = [];
  const fail = (code: ProtoError, byteOffset: number, msgType: number): DecodedFrame =>
    ({ messages, error: { code, msgIndex: messages.length, byteOffset, msgType } });
  const n = u8.byteLength;
  if (n > maxBytes) return fail(ProtoError.Long, maxBytes, 0);
  if (n === 0) return fail(ProtoError.Short, 0, 0);
  let p = 0;
  while (p < n) {
    if (messages.length >= maxMessages) return fail(ProtoError.TooManyMessages, p, 0);
    if (n - p < HEADER_BYTES) return fail(ProtoError.Short, p, 0);
    const len = v.getUint16(p, true); const type = v.getUint16(p + 2, true);
    if (len < HEADER_BYTES) return fail(ProtoError.LengthMismatch, p, type);
    if (len > n - p) return fail(ProtoError.Short, p, type);
    if (v.getUint16(p + 4, true) !== SCHEMA_VERSION) return fail(ProtoError.UnknownVersion, p + 4, type);
    if (v.getUint16(p + 6, true) !== 0) return fail(ProtoError.ReservedNonZero, p + 6, type);
    const spec = SPEC_BY_TYPE[type];
    if (spec === undefined || !accepts(spec, direction)) return fail(ProtoError.UnknownType, p + 2, type);
    if (len !== spec.size) return fail(ProtoError.LengthMismatch, p, type);
    const fields: Fields = {};
    for (const fs of spec.fields) {
      const value = readField(v, p + fs.offset, fs.kind);
      const err = checkWireValue(fs, value);
      if (err !== ProtoError.None) return fail(err, p + fs.offset, type);
      if (fs.kind[0] !== 'r') fields[fs.name] = value;
    }
    messages.push({ type, name: spec.name, offset: p, fields });
    p += len;
  }
  return { messages, error: null };
}

/** Thrown by the schema-driven encoder for a value that cannot be sent. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(readonly code: ProtoError, readonly field: string, message: string) {
    super(message);
  }
}

function checkEncodeValue(spec: MessageSpec, fs: FieldSpec, value: number): void {
  // The message names the field only on failure: no string is built per field on the way out.
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new ProtocolError(ProtoError.NonInteger, fs.name, `${spec.name}.${fs.name}: ${String(value)} is not an integer`);
  }
  const lo = fs.kind === 'i64' ? -MAX_U64_SAFE : 0;
  const hi = fs.kind === 'u8' ? 0xff : fs.kind === 'u16' ? 0xffff : fs.kind === 'u32' ? 0xffffffff : MAX_U64_SAFE;
  if (value < lo || value > hi) throw new ProtocolError(ProtoError.IntegerOutOfRange, fs.name, `${spec.name}.${fs.name}: ${value} is out of range`);
  if (checkWireValue(fs, value) !== ProtoError.None) throw new ProtocolError(ProtoError.EnumOutOfRange, fs.name, `${spec.name}.${fs.name}: ${value} is not a valid value`);
}

/**
 * Writes one message of `type` from `fields` (missing fields are 0; reserved fields are always 0)
 * at `offset` of `out`; returns the bytes written. Throws ProtocolError for a value that is not an
 * integer, out of range, or outside its enum; RangeError when `out` is too small.
 */
export function encodeMessage(type: number, fields: Readonly<Partial<Fields>>, out: Uint8Array, offset = 0): number {
  const spec = SPEC_BY_TYPE[type];
  if (spec === undefined) throw new ProtocolError(ProtoError.UnknownType, '', `unknown message type ${type}`);
  if (offset + spec.size > out.byteLength) throw new RangeError('encodeMessage: buffer too small');
  for (const fs of spec.fields) if (fs.kind[0] !== 'r') checkEncodeValue(spec, fs, fields[fs.name] ?? 0);
  const v = new DataView(out.buffer, out.byteOffset + offset, spec.size);
  out.fill(0, offset, offset + spec.size);
  v.setUint16(0, spec.size, true); v.setUint16(2, type, true); v.setUint16(4, SCHEMA_VERSION, true);
  for (const fs of spec.fields) {
    if (fs.kind[0] === 'r') continue;
    const value = fields[fs.name] ?? 0;
    switch (fs.kind) {
      case 'u8': v.setUint8(fs.offset, value); break;
      case 'u16': v.setUint16(fs.offset, value, true); break;
      case 'u32': v.setUint32(fs.offset, value, true); break;
      default: writeI64(v, fs.offset, value);
    }
  }
  return spec.size;
}

/** Encodes messages back to back into a new frame. */
export function encodeFrame(messages: readonly { type: number; fields: Readonly<Partial<Fields>> }[]): Uint8Array {
  let size = 0;
  for (const m of messages) {
    const spec = SPEC_BY_TYPE[m.type];
    if (spec === undefined) throw new ProtocolError(ProtoError.UnknownType, '', `unknown message type ${m.type}`);
    size += spec.size;
  }
  const out = new Uint8Array(size);
  let p = 0;
  for (const m of messages) p += encodeMessage(m.type, m.fields, out, p);
  return out;
}

/** The fields of the message CommandDecoder just decoded, named as in the schema (tests, tools). */
export function decodedFields(dec: CommandDecoder): Fields {
  const c = dec.cmd;
  switch (dec.msgType) {
    case MsgType.NewOrder: return {
      clientOrderId: c.clientOrderId, priceTicks: c.priceTicks, qtyLots: c.qtyLots, quoteQtyUnits: c.quoteQtyUnits,
      stopPriceTicks: c.stopPriceTicks, displayQtyLots: c.displayQtyLots, trailOffset: c.trailOffset,
      limitOffsetTicks: c.limitOffsetTicks, linkId: c.linkId, expireTsUs: c.expireTsUs, stpGroup: c.stpGroup,
      instrumentId: dec.instrumentId, side: c.side, orderType: c.orderType, tif: c.tif, stpMode: c.stpMode, flags: c.flags,
    };
    case MsgType.Cancel: return { orderId: c.orderId, clientOrderId: c.clientOrderId, instrumentId: dec.instrumentId };
    case MsgType.Replace: return {
      orderId: c.orderId, clientOrderId: c.clientOrderId, priceTicks: c.priceTicks, qtyLots: c.qtyLots, instrumentId: dec.instrumentId,
    };
    case MsgType.MassCancel: return { requestId: dec.requestId, instrumentId: dec.instrumentId };
    case MsgType.Heartbeat: return { timestampUs: dec.heartbeatTsUs };
    default: return {};
  }
}

/** Lowercase hex of bytes, space-separated (docs and tests). */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Parses hex with any whitespace between bytes. */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error('bad hex');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}
