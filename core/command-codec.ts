// Fixed-size records for the runtime: a Command (plus its instrument and the runtime-only fields) as
// CMD_WORDS float64 words, the layout used by the shard command rings AND the journal; and the event
// record of the shard -> gateway rings: the book's 16-word event plus the instrument id and a flag
// that marks a command's last record. Every word holds an exact integer. No allocation: encode into
// and decode from caller-owned arrays at a word offset. Layout tables: docs/runtime.md.

import { Command, EVENT_WORDS } from './types.js';

/** Words per command record (256 bytes). */
export const CMD_WORDS = 32;
export const CMD_RECORD_BYTES = CMD_WORDS * 8;

// Command record words. 0 = type and 1 = seq, as the journal expects (kindWord 0, seqWord 1).
export const CW_TYPE = 0;
export const CW_SEQ = 1;
export const CW_TS = 2;
/** Instrument id (InstrumentSpec.id); 0 for commands that are not for one book (funding, snapshot). */
export const CW_INSTRUMENT = 3;
export const CW_ACCOUNT = 4;
export const CW_ORDER_ID = 5;
export const CW_CLIENT_ORDER_ID = 6;
export const CW_SIDE = 7;
export const CW_ORDER_TYPE = 8;
export const CW_TIF = 9;
export const CW_FLAGS = 10;
export const CW_STP_MODE = 11;
export const CW_STP_GROUP = 12;
export const CW_PRICE = 13;
export const CW_QTY = 14;
export const CW_QUOTE_QTY = 15;
export const CW_EXPIRE_TS = 16;
export const CW_STOP_PRICE = 17;
export const CW_DISPLAY_QTY = 18;
export const CW_TRAIL_OFFSET = 19;
export const CW_LIMIT_OFFSET = 20;
export const CW_LINK_ID = 21;
export const CW_PROTECTION_PRICE = 22;
export const CW_VALUE = 23;
export const CW_VALUE2 = 24;
/** Funding commands: the asset id (Ledger.assetId). */
export const CW_ASSET = 25;
/**
 * Replace: the extra units the ledger held for it when it was sequenced (journaled so that a replay
 * holds exactly the same amount, whatever fills were in flight at the time). -1 = none recorded.
 */
export const CW_LEDGER_EXTRA = 26;
// 27..31 reserved (0).

/**
 * Runtime command types: sequenced and journaled like the core's, but handled by the gateway (the
 * ledger) or by every shard. Codes above the core's CommandType range; never renumber.
 */
export const enum RuntimeCommandType {
  /** account, asset, value = units (> 0). */
  Deposit = 64,
  /** account, asset, value = units (> 0). */
  Withdraw = 65,
  /** account, asset, value = signed units. */
  Adjust = 66,
  /** Every shard writes its books' snapshots at this seq; the ledger writes its own. */
  Snapshot = 67,
}

export function isFundingType(type: number): boolean {
  return type === RuntimeCommandType.Deposit || type === RuntimeCommandType.Withdraw || type === RuntimeCommandType.Adjust;
}

/** The runtime-only fields of a command record that `Command` does not carry. */
export class CommandExtras {
  instrumentId = 0;
  asset = 0;
  ledgerExtraUnits = -1;
  reset(): this { this.instrumentId = 0; this.asset = 0; this.ledgerExtraUnits = -1; return this; }
}

/** Writes `cmd` (and the extras) as one record at word offset `o` of `w`. */
export function encodeCommand(cmd: Command, instrumentId: number, w: Float64Array, o: number,
  asset = 0, ledgerExtraUnits = -1): void {
  w[o + CW_TYPE] = cmd.type; w[o + CW_SEQ] = cmd.seq; w[o + CW_TS] = cmd.tsUs; w[o + CW_INSTRUMENT] = instrumentId;
  w[o + CW_ACCOUNT] = cmd.account; w[o + CW_ORDER_ID] = cmd.orderId; w[o + CW_CLIENT_ORDER_ID] = cmd.clientOrderId;
  w[o + CW_SIDE] = cmd.side; w[o + CW_ORDER_TYPE] = cmd.orderType; w[o + CW_TIF] = cmd.tif; w[o + CW_FLAGS] = cmd.flags;
  w[o + CW_STP_MODE] = cmd.stpMode; w[o + CW_STP_GROUP] = cmd.stpGroup; w[o + CW_PRICE] = cmd.priceTicks;
  w[o + CW_QTY] = cmd.qtyLots; w[o + CW_QUOTE_QTY] = cmd.quoteQtyUnits; w[o + CW_EXPIRE_TS] = cmd.expireTsUs;
  w[o + CW_STOP_PRICE] = cmd.stopPriceTicks; w[o + CW_DISPLAY_QTY] = cmd.displayQtyLots;
  w[o + CW_TRAIL_OFFSET] = cmd.trailOffset; w[o + CW_LIMIT_OFFSET] = cmd.limitOffsetTicks; w[o + CW_LINK_ID] = cmd.linkId;
  w[o + CW_PROTECTION_PRICE] = cmd.protectionPriceTicks; w[o + CW_VALUE] = cmd.value; w[o + CW_VALUE2] = cmd.value2;
  w[o + CW_ASSET] = asset; w[o + CW_LEDGER_EXTRA] = ledgerExtraUnits;
  // The reserved words 27..31 (CW_LEDGER_EXTRA + 1 .. CMD_WORDS - 1), written out rather than looped.
  w[o + 27] = 0; w[o + 28] = 0; w[o + 29] = 0; w[o + 30] = 0; w[o + 31] = 0;
}

/**
 * Copies one command record (CMD_WORDS words) from word `so` of `src` to word `d` of `dst` (the
 * sequencer: journal ring -> shard ring; replay: journal -> shard ring). Written out word by word: a
 * single-thread micro-benchmark took ~20 ns per record against ~44 ns for a 32-step loop; in the
 * pipeline the copy is mostly the misses on the shard slot's four lines (docs/runtime.md "Main thread
 * pass, session 6").
 */
export function copyCommandRecord(src: Float64Array, so: number, dst: Float64Array, d: number): void {
  dst[d] = src[so]!; dst[d + 1] = src[so + 1]!; dst[d + 2] = src[so + 2]!; dst[d + 3] = src[so + 3]!;
  dst[d + 4] = src[so + 4]!; dst[d + 5] = src[so + 5]!; dst[d + 6] = src[so + 6]!; dst[d + 7] = src[so + 7]!;
  dst[d + 8] = src[so + 8]!; dst[d + 9] = src[so + 9]!; dst[d + 10] = src[so + 10]!; dst[d + 11] = src[so + 11]!;
  dst[d + 12] = src[so + 12]!; dst[d + 13] = src[so + 13]!; dst[d + 14] = src[so + 14]!; dst[d + 15] = src[so + 15]!;
  dst[d + 16] = src[so + 16]!; dst[d + 17] = src[so + 17]!; dst[d + 18] = src[so + 18]!; dst[d + 19] = src[so + 19]!;
  dst[d + 20] = src[so + 20]!; dst[d + 21] = src[so + 21]!; dst[d + 22] = src[so + 22]!; dst[d + 23] = src[so + 23]!;
  dst[d + 24] = src[so + 24]!; dst[d + 25] = src[so + 25]!; dst[d + 26] = src[so + 26]!; dst[d + 27] = src[so + 27]!;
  dst[d + 28] = src[so + 28]!; dst[d + 29] = src[so + 29]!; dst[d + 30] = src[so + 30]!; dst[d + 31] = src[so + 31]!;
}

/** Reads the record at word offset `o` into `cmd` (every field) and, if given, `extras`. */
export function decodeCommand(w: ArrayLike<number>, o: number, cmd: Command, extras: CommandExtras | null = null): Command {
  cmd.type = w[o + CW_TYPE]!; cmd.seq = w[o + CW_SEQ]!; cmd.tsUs = w[o + CW_TS]!; cmd.account = w[o + CW_ACCOUNT]!;
  cmd.orderId = w[o + CW_ORDER_ID]!; cmd.clientOrderId = w[o + CW_CLIENT_ORDER_ID]!; cmd.side = w[o + CW_SIDE]!;
  cmd.orderType = w[o + CW_ORDER_TYPE]!; cmd.tif = w[o + CW_TIF]!; cmd.flags = w[o + CW_FLAGS]!;
  cmd.stpMode = w[o + CW_STP_MODE]!; cmd.stpGroup = w[o + CW_STP_GROUP]!; cmd.priceTicks = w[o + CW_PRICE]!;
  cmd.qtyLots = w[o + CW_QTY]!; cmd.quoteQtyUnits = w[o + CW_QUOTE_QTY]!; cmd.expireTsUs = w[o + CW_EXPIRE_TS]!;
  cmd.stopPriceTicks = w[o + CW_STOP_PRICE]!; cmd.displayQtyLots = w[o + CW_DISPLAY_QTY]!;
  cmd.trailOffset = w[o + CW_TRAIL_OFFSET]!; cmd.limitOffsetTicks = w[o + CW_LIMIT_OFFSET]!; cmd.linkId = w[o + CW_LINK_ID]!;
  cmd.protectionPriceTicks = w[o + CW_PROTECTION_PRICE]!; cmd.value = w[o + CW_VALUE]!; cmd.value2 = w[o + CW_VALUE2]!;
  if (extras !== null) {
    extras.instrumentId = w[o + CW_INSTRUMENT]!;
    extras.asset = w[o + CW_ASSET]!;
    extras.ledgerExtraUnits = w[o + CW_LEDGER_EXTRA]!;
  }
  return cmd;
}

// ------------------------------------------------------------------ event records (shard -> gateway)

/** Words per event ring record: the book's 16 words, the instrument id, the last-record flag. */
export const EVR_WORDS = EVENT_WORDS + 2;
export const EVR_RECORD_BYTES = EVR_WORDS * 8;
/** Word of the instrument id of the book that emitted the event. */
export const EVR_INSTRUMENT = EVENT_WORDS;
/** Word that is 1 on the last record a shard writes for a command, else 0. */
export const EVR_LAST = EVENT_WORDS + 1;
/**
 * Type of the placeholder a shard writes for a command that produced no event (a TimeTick with
 * nothing to expire, a Snapshot): word 1 seq, word 2 time, EVR_LAST = 1. Not a core event.
 */
export const EVR_TYPE_DONE = 0;

/** Copies book event record `r` of `src` (EVENT_WORDS stride) into an event ring record at `o`. */
export function encodeEventRecord(src: Float64Array, r: number, instrumentId: number, last: boolean, w: Float64Array, o: number): void {
  const s = r * EVENT_WORDS;
  for (let i = 0; i < EVENT_WORDS; i++) w[o + i] = src[s + i]!;
  w[o + EVR_INSTRUMENT] = instrumentId;
  w[o + EVR_LAST] = last ? 1 : 0;
}

/** Writes the "no event" placeholder of a command. */
export function encodeDoneRecord(seq: number, tsUs: number, instrumentId: number, w: Float64Array, o: number): void {
  w[o] = EVR_TYPE_DONE; w[o + 1] = seq; w[o + 2] = tsUs;
  for (let i = 3; i < EVENT_WORDS; i++) w[o + i] = 0;
  w[o + EVR_INSTRUMENT] = instrumentId;
  w[o + EVR_LAST] = 1;
}
