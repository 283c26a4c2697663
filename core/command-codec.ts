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
/**
 * NewOrder from REST: the client's `client_order_id` string, in words 27..31 (CLIENT_TEXT_WORDS), so
 * that it is journaled, replayed and replicated with the order (gateway/rest/client-ids.ts reads it
 * back after a restart). All 0 = none (binary orders, old journals). Packing: `packClientText`.
 */
export const CW_CLIENT_TEXT = 27;
export const CLIENT_TEXT_WORDS = 5;

/**
 * The characters a packed client text may hold: Binance's client order id alphabet
 * ([.A-Z:/a-z0-9_-]). Digit value = index + 1 (0 ends the text).
 */
export const CLIENT_TEXT_ALPHABET = '-./0123456789:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';
const TEXT_BASE = CLIENT_TEXT_ALPHABET.length + 1; // 68: 68^8 < 2^53, so 8 characters per word
const TEXT_PER_WORD = 8;
/** Longest text the five words hold. */
export const CLIENT_TEXT_MAX = CLIENT_TEXT_WORDS * TEXT_PER_WORD;
const TEXT_DIGIT = new Int8Array(128).fill(-1);
for (let k = 0; k < CLIENT_TEXT_ALPHABET.length; k++) TEXT_DIGIT[CLIENT_TEXT_ALPHABET.charCodeAt(k)] = k + 1;

/** True when `s` can be packed: 1..CLIENT_TEXT_MAX characters of CLIENT_TEXT_ALPHABET. */
export function isPackableClientText(s: string): boolean {
  if (s.length === 0 || s.length > CLIENT_TEXT_MAX) return false;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c >= 128 || TEXT_DIGIT[c]! < 0) return false;
  }
  return true;
}

/**
 * Writes `s` into words o..o+4 of `w`: word j holds characters 8j..8j+7 as base-68 digits, the first
 * character the lowest digit; a missing character is digit 0. Every word is an exact integer < 2^53.
 * Throws RangeError on a text that is not packable (the REST schema refuses those first).
 */
export function packClientText(s: string, w: Float64Array, o: number): void {
  if (!isPackableClientText(s)) throw new RangeError(`client text ${JSON.stringify(s)} is not 1..${CLIENT_TEXT_MAX} characters of [${CLIENT_TEXT_ALPHABET}]`);
  for (let j = 0; j < CLIENT_TEXT_WORDS; j++) {
    let v = 0;
    for (let k = Math.min(s.length, (j + 1) * TEXT_PER_WORD) - 1; k >= j * TEXT_PER_WORD; k--) v = v * TEXT_BASE + TEXT_DIGIT[s.charCodeAt(k)]!;
    w[o + j] = v;
  }
}

/** The text packed at words o..o+4 of `w`, or null when the first word is 0 (none) or a word is not a valid packing. */
export function unpackClientText(w: ArrayLike<number>, o: number): string | null {
  if (w[o] === 0) return null;
  const codes = TEXT_CODES;
  let n = 0;
  for (let j = 0; j < CLIENT_TEXT_WORDS; j++) {
    let v = w[o + j]!;
    if (!Number.isSafeInteger(v) || v < 0) return null;
    for (let k = 0; k < TEXT_PER_WORD; k++) {
      const d = v % TEXT_BASE;
      v = (v - d) / TEXT_BASE;
      if (d === 0) return v === 0 && restZero(w, o, j + 1) ? String.fromCharCode.apply(null, codes.subarray(0, n) as unknown as number[]) : null;
      codes[n++] = CLIENT_TEXT_ALPHABET.charCodeAt(d - 1);
    }
    if (v !== 0) return null;
  }
  return String.fromCharCode.apply(null, codes.subarray(0, n) as unknown as number[]);
}

/** unpackClientText's scratch character codes. */
const TEXT_CODES = new Uint16Array(CLIENT_TEXT_MAX);

function restZero(w: ArrayLike<number>, o: number, from: number): boolean {
  for (let j = from; j < CLIENT_TEXT_WORDS; j++) if (w[o + j] !== 0) return false;
  return true;
}

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
  // Words 27..31: the REST client text (CW_CLIENT_TEXT), else 0 (written out rather than looped).
  if (cmd.clientText !== null) packClientText(cmd.clientText, w, o + CW_CLIENT_TEXT);
  else { w[o + 27] = 0; w[o + 28] = 0; w[o + 29] = 0; w[o + 30] = 0; w[o + 31] = 0; }
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

/**
 * Reads the record at word offset `o` into `cmd` (every field but the client text, which is left
 * null: the core never reads it, and decoding it would build a string per command on the shard's
 * path; `unpackClientText(w, o + CW_CLIENT_TEXT)` reads it) and, if given, `extras`.
 */
export function decodeCommand(w: ArrayLike<number>, o: number, cmd: Command, extras: CommandExtras | null = null): Command {
  cmd.type = w[o + CW_TYPE]!; cmd.seq = w[o + CW_SEQ]!; cmd.tsUs = w[o + CW_TS]!; cmd.account = w[o + CW_ACCOUNT]!;
  cmd.orderId = w[o + CW_ORDER_ID]!; cmd.clientOrderId = w[o + CW_CLIENT_ORDER_ID]!; cmd.side = w[o + CW_SIDE]!;
  cmd.orderType = w[o + CW_ORDER_TYPE]!; cmd.tif = w[o + CW_TIF]!; cmd.flags = w[o + CW_FLAGS]!;
  cmd.stpMode = w[o + CW_STP_MODE]!; cmd.stpGroup = w[o + CW_STP_GROUP]!; cmd.priceTicks = w[o + CW_PRICE]!;
  cmd.qtyLots = w[o + CW_QTY]!; cmd.quoteQtyUnits = w[o + CW_QUOTE_QTY]!; cmd.expireTsUs = w[o + CW_EXPIRE_TS]!;
  cmd.stopPriceTicks = w[o + CW_STOP_PRICE]!; cmd.displayQtyLots = w[o + CW_DISPLAY_QTY]!;
  cmd.trailOffset = w[o + CW_TRAIL_OFFSET]!; cmd.limitOffsetTicks = w[o + CW_LIMIT_OFFSET]!; cmd.linkId = w[o + CW_LINK_ID]!;
  cmd.protectionPriceTicks = w[o + CW_PROTECTION_PRICE]!; cmd.value = w[o + CW_VALUE]!; cmd.value2 = w[o + CW_VALUE2]!;
  cmd.clientText = null;
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
// encodeEventRecord and encodeDoneRecord are written out for 16-word book events.
if (EVENT_WORDS !== 16) throw new Error(`core/command-codec.ts: event records are written out for 16 words, not ${EVENT_WORDS}`);
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

/**
 * Copies book event record `r` of `src` (EVENT_WORDS stride) into an event ring record at `o`.
 * Written out word by word, as copyCommandRecord (the shard's per-event copy; docs/runtime.md
 * "Throughput pass, session 9").
 */
export function encodeEventRecord(src: Float64Array, r: number, instrumentId: number, last: boolean, w: Float64Array, o: number): void {
  const s = r * EVENT_WORDS;
  w[o] = src[s]!; w[o + 1] = src[s + 1]!; w[o + 2] = src[s + 2]!; w[o + 3] = src[s + 3]!;
  w[o + 4] = src[s + 4]!; w[o + 5] = src[s + 5]!; w[o + 6] = src[s + 6]!; w[o + 7] = src[s + 7]!;
  w[o + 8] = src[s + 8]!; w[o + 9] = src[s + 9]!; w[o + 10] = src[s + 10]!; w[o + 11] = src[s + 11]!;
  w[o + 12] = src[s + 12]!; w[o + 13] = src[s + 13]!; w[o + 14] = src[s + 14]!; w[o + 15] = src[s + 15]!;
  w[o + EVR_INSTRUMENT] = instrumentId;
  w[o + EVR_LAST] = last ? 1 : 0;
}

/** Writes the "no event" placeholder of a command. */
export function encodeDoneRecord(seq: number, tsUs: number, instrumentId: number, w: Float64Array, o: number): void {
  w[o] = EVR_TYPE_DONE; w[o + 1] = seq; w[o + 2] = tsUs;
  w[o + 3] = 0; w[o + 4] = 0; w[o + 5] = 0; w[o + 6] = 0; w[o + 7] = 0; w[o + 8] = 0; w[o + 9] = 0;
  w[o + 10] = 0; w[o + 11] = 0; w[o + 12] = 0; w[o + 13] = 0; w[o + 14] = 0; w[o + 15] = 0;
  w[o + EVR_INSTRUMENT] = instrumentId;
  w[o + EVR_LAST] = 1;
}
