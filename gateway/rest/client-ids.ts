// Idempotency of POST /api/v1/orders by client_order_id, across restarts.
//
// The client's string travels in the sequenced command record itself (words 27..31,
// core/command-codec.ts's CW_CLIENT_TEXT): it is journaled with the order in the same durable
// write, replayed and replicated with it. So an order the engine acknowledged always has its string
// in the journal, and at start this index is rebuilt by scanning the journal's NewOrder records of
// the last `windowSeqs` seqs (command words only: nothing is executed). There is no window in which
// the order is durable but its id mapping is not (a side table written with the audit row would
// lose the mapping in a crash between the journal's commit and that row's).
//
// "The same body" is decided on the command the body converts to (what the journal holds), so it
// means the same after a restart as before it: instrument, side, type, time in force, flags
// (post-only, quote quantity, trigger type, trigger-immediately, trailing in bps, bracket child),
// price, quantity, quote quantity, expiry, stop price, display quantity, trailing and limit
// offsets, OCO/parent link and STP mode and group. Spellings that convert to the same command
// ("1" and "1.0", "BUY" and "buy", "AAAUSD" and "AAA-USD", a time_in_force given or defaulted to
// the same one) are the same body; the account is part of the key.

import { CMD_WORDS, CW_ACCOUNT, CW_CLIENT_TEXT, CW_DISPLAY_QTY, CW_EXPIRE_TS, CW_FLAGS, CW_INSTRUMENT, CW_LIMIT_OFFSET, CW_LINK_ID, CW_ORDER_TYPE, CW_PRICE, CW_QTY,
  CW_QUOTE_QTY, CW_SEQ, CW_SIDE, CW_STOP_PRICE, CW_STP_GROUP, CW_STP_MODE, CW_TIF, CW_TRAIL_OFFSET, CW_TYPE, unpackClientText } from '../../core/command-codec.js';
import { CommandType, type Command } from '../../core/types.js';
import { readJournalChunks } from '../../persistence/journal.js';

export interface IdemEntry {
  /** commandFingerprint of the order it created; null until needed for an order found by the start-up scan (then read from its journal record). */
  fp: string | null;
  /** The order's id (its seq); 0 while the request has not been sequenced yet. */
  orderId: number;
  /** Settles when the first request is answered (a retry meanwhile waits for it); null when done. */
  pending: Promise<void> | null;
}

/** The fields of a NewOrder that make it "the same order" (see the file comment). */
export function commandFingerprint(c: Command, instrumentId: number): string {
  return `${instrumentId},${c.side},${c.orderType},${c.tif},${c.flags},${c.priceTicks},${c.qtyLots},${c.quoteQtyUnits},${c.expireTsUs},`
    + `${c.stopPriceTicks},${c.displayQtyLots},${c.trailOffset},${c.limitOffsetTicks},${c.linkId},${c.stpMode},${c.stpGroup}`;
}

/** commandFingerprint of a journaled command record at word `o`. */
export function recordFingerprint(w: Float64Array, o: number): string {
  return `${w[o + CW_INSTRUMENT]},${w[o + CW_SIDE]},${w[o + CW_ORDER_TYPE]},${w[o + CW_TIF]},${w[o + CW_FLAGS]},${w[o + CW_PRICE]},${w[o + CW_QTY]},`
    + `${w[o + CW_QUOTE_QTY]},${w[o + CW_EXPIRE_TS]},${w[o + CW_STOP_PRICE]},${w[o + CW_DISPLAY_QTY]},${w[o + CW_TRAIL_OFFSET]},`
    + `${w[o + CW_LIMIT_OFFSET]},${w[o + CW_LINK_ID]},${w[o + CW_STP_MODE]},${w[o + CW_STP_GROUP]}`;
}

export interface ScanResult { orders: number; fromSeq: number; toSeq: number; ms: number }

/**
 * `${account}:${client_order_id}` -> the order it created, and order id -> client_order_id, for the
 * newest `maxEntries` REST orders that had one (oldest dropped first).
 */
export class ClientOrderIds {
  private readonly byKey = new Map<string, IdemEntry>();
  private readonly textById = new Map<number, string>();

  constructor(readonly maxEntries = 500_000) {}

  get size(): number {
    return this.byKey.size;
  }

  get(account: number, text: string): IdemEntry | undefined {
    return this.byKey.get(`${account}:${text}`);
  }

  /** Adds (or replaces) the entry of `account`'s `text`, dropping the oldest past maxEntries. */
  add(account: number, text: string, e: IdemEntry): void {
    const key = `${account}:${text}`;
    const prev = this.byKey.get(key);
    if (prev !== undefined && prev !== e && prev.orderId !== 0 && prev.orderId !== e.orderId) this.textById.delete(prev.orderId);
    this.byKey.delete(key);
    this.byKey.set(key, e);
    if (e.orderId !== 0) this.textById.set(e.orderId, text);
    while (this.byKey.size > this.maxEntries) {
      const [k, old] = this.byKey.entries().next().value as [string, IdemEntry];
      this.byKey.delete(k);
      this.textById.delete(old.orderId);
    }
  }

  /** The request of `e` was sequenced as order `orderId`. */
  sequenced(e: IdemEntry, account: number, orderId: number, text: string): void {
    e.orderId = orderId;
    // (an entry evicted while its request waited is not indexed again: textById stays bounded)
    if (this.byKey.get(`${account}:${text}`) === e) this.textById.set(orderId, text);
  }

  /** Frees `account`'s `text` (a request that was never sequenced). */
  delete(account: number, text: string): void {
    this.byKey.delete(`${account}:${text}`);
  }

  /** The client_order_id of an order id, when it is held. */
  textOf(orderId: number): string | undefined {
    return this.textById.get(orderId);
  }

  /** The fingerprint of a scanned entry, from its journal record (read once); null if the journal no longer has it. */
  fingerprintOf(e: IdemEntry, journalPath: string): string | null {
    if (e.fp !== null) return e.fp;
    for (const ch of readJournalChunks(journalPath, e.orderId - 1)) {
      if (ch.recordWords !== CMD_WORDS) return null;
      for (let r = 0; r < ch.n; r++) {
        const o = r * CMD_WORDS;
        if (ch.words[o + CW_SEQ] === e.orderId) { e.fp = recordFingerprint(ch.words, o); return e.fp; }
        if (ch.words[o + CW_SEQ]! > e.orderId) return null;
      }
    }
    return null;
  }

  /** Order ids (ascending) with their text: what a start-up scan found. */
  *texts(): Generator<[number, string]> {
    yield* this.textById;
  }

  /**
   * Adds every NewOrder with a client text in the journal's seqs (fromSeqExclusive, toSeq] (archives
   * included), oldest first, as if each had just been placed. Synchronous: called at start, before
   * the first request; reads command words only (readJournalChunks, one copy per chunk).
   */
  scanJournal(journalPath: string, fromSeqExclusive: number, toSeq: number): ScanResult {
    const t0 = performance.now();
    let orders = 0;
    for (const ch of readJournalChunks(journalPath, fromSeqExclusive)) {
      if (ch.recordWords !== CMD_WORDS) break; // not a command journal this code knows
      const w = ch.words;
      let past = false;
      for (let r = 0; r < ch.n; r++) {
        const o = r * CMD_WORDS;
        const seq = w[o + CW_SEQ]!;
        if (seq <= fromSeqExclusive) continue;
        if (seq > toSeq) { past = true; break; }
        if (w[o + CW_TYPE] !== CommandType.NewOrder || w[o + CW_CLIENT_TEXT] === 0) continue;
        const text = unpackClientText(w, o + CW_CLIENT_TEXT);
        if (text === null) continue;
        this.add(w[o + CW_ACCOUNT]!, text, { fp: null, orderId: seq, pending: null });
        orders++;
      }
      if (past) break;
    }
    return { orders, fromSeq: fromSeqExclusive, toSeq, ms: performance.now() - t0 };
  }
}
