// Event output of a book: fixed records in one preallocated Float64Array (see EVENT_WORDS in types.ts).
// The writer methods are the only way events are produced, so the fast book and the reference book
// of the tests emit byte-identical streams. When the buffer is full, `onFull` is called to drain it
// (the runtime copies records to its event ring); without a drain hook a full buffer throws, which is
// a sizing bug, never a silent drop.

import { EVENT_WORDS, EventType } from './types.js';

export type DrainHook = (buf: EventBuffer) => void;

export class EventBuffer {
  readonly words: Float64Array;
  readonly capacity: number;
  /** Number of records currently held. */
  count = 0;
  onFull: DrainHook | null;
  /** seq and time of the command being processed: stamped on every record. */
  seq = 0;
  tsUs = 0;

  constructor(capacityRecords = 1 << 16, onFull: DrainHook | null = null) {
    if (!Number.isInteger(capacityRecords) || capacityRecords < 16) throw new RangeError('event buffer capacity must be an integer >= 16');
    this.capacity = capacityRecords;
    this.words = new Float64Array(capacityRecords * EVENT_WORDS);
    this.onFull = onFull;
  }

  clear(): void {
    this.count = 0;
  }

  /**
   * Start a record; returns its word offset with type, seq and ts written. The caller writes every
   * other word of the record (zeros included): one pass of stores instead of zeroing then writing.
   */
  private open(type: number): number {
    let c = this.count;
    if (c === this.capacity) { this.drain(); c = this.count; }
    const o = c * EVENT_WORDS;
    this.count = c + 1;
    const w = this.words;
    w[o] = type; w[o + 1] = this.seq; w[o + 2] = this.tsUs;
    return o;
  }

  /** Start a record; returns its word offset with type, seq and ts written and the rest zeroed. */
  begin(type: number): number {
    const o = this.open(type);
    this.words.fill(0, o + 3, o + EVENT_WORDS);
    return o;
  }

  private drain(): void {
    if (this.onFull === null) throw new Error('EventBuffer full and no drain hook');
    this.onFull(this);
    if (this.count === this.capacity) throw new Error('EventBuffer drain hook did not drain');
  }

  accepted(orderId: number, account: number, clientOrderId: number, side: number, orderType: number, tif: number,
    priceTicks: number, qtyLots: number, quoteQtyUnits: number, flags: number, expireTsUs: number): void {
    const o = this.open(EventType.Accepted); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = clientOrderId; w[o + 6] = side; w[o + 7] = orderType;
    w[o + 8] = tif; w[o + 9] = priceTicks; w[o + 10] = qtyLots; w[o + 11] = quoteQtyUnits; w[o + 12] = flags;
    w[o + 13] = expireTsUs;
    w[o + 14] = 0; w[o + 15] = 0;
  }

  rejected(orderId: number, account: number, clientOrderId: number, reason: number, commandType: number): void {
    const o = this.open(EventType.Rejected); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = clientOrderId; w[o + 6] = reason; w[o + 7] = commandType;
    w[o + 8] = 0; w[o + 9] = 0; w[o + 10] = 0; w[o + 11] = 0; w[o + 12] = 0; w[o + 13] = 0; w[o + 14] = 0; w[o + 15] = 0;
  }

  trade(tradeId: number, priceTicks: number, qtyLots: number, makerOrderId: number, makerAccount: number,
    takerOrderId: number, takerAccount: number, takerSide: number, makerFeeUnits: number, takerFeeUnits: number,
    makerRemainingLots: number, takerRemainingLots: number, notionalUnits: number): void {
    const o = this.open(EventType.Trade); const w = this.words;
    w[o + 3] = tradeId; w[o + 4] = priceTicks; w[o + 5] = qtyLots; w[o + 6] = makerOrderId; w[o + 7] = makerAccount;
    w[o + 8] = takerOrderId; w[o + 9] = takerAccount; w[o + 10] = takerSide; w[o + 11] = makerFeeUnits;
    w[o + 12] = takerFeeUnits; w[o + 13] = makerRemainingLots; w[o + 14] = takerRemainingLots; w[o + 15] = notionalUnits;
  }

  canceled(orderId: number, account: number, remainingLots: number, reason: number, filledLots: number): void {
    const o = this.open(EventType.Canceled); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = remainingLots; w[o + 6] = reason; w[o + 7] = filledLots;
    w[o + 8] = 0; w[o + 9] = 0; w[o + 10] = 0; w[o + 11] = 0; w[o + 12] = 0; w[o + 13] = 0; w[o + 14] = 0; w[o + 15] = 0;
  }

  expired(orderId: number, account: number, remainingLots: number, reason: number, filledLots: number): void {
    const o = this.open(EventType.Expired); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = remainingLots; w[o + 6] = reason; w[o + 7] = filledLots;
    w[o + 8] = 0; w[o + 9] = 0; w[o + 10] = 0; w[o + 11] = 0; w[o + 12] = 0; w[o + 13] = 0; w[o + 14] = 0; w[o + 15] = 0;
  }

  replaced(orderId: number, account: number, priceTicks: number, qtyLots: number, remainingLots: number, keptPriority: number): void {
    const o = this.open(EventType.Replaced); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = priceTicks; w[o + 6] = qtyLots; w[o + 7] = remainingLots;
    w[o + 8] = keptPriority;
    w[o + 9] = 0; w[o + 10] = 0; w[o + 11] = 0; w[o + 12] = 0; w[o + 13] = 0; w[o + 14] = 0; w[o + 15] = 0;
  }

  decremented(orderId: number, account: number, decrementLots: number, remainingLots: number): void {
    const o = this.open(EventType.Decremented); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = decrementLots; w[o + 6] = remainingLots;
    w[o + 7] = 0; w[o + 8] = 0; w[o + 9] = 0; w[o + 10] = 0; w[o + 11] = 0; w[o + 12] = 0; w[o + 13] = 0; w[o + 14] = 0; w[o + 15] = 0;
  }

  depth(side: number, priceTicks: number, qtyLots: number, orderCount: number): void {
    const o = this.open(EventType.Depth); const w = this.words;
    w[o + 3] = side; w[o + 4] = priceTicks; w[o + 5] = qtyLots; w[o + 6] = orderCount;
    w[o + 7] = 0; w[o + 8] = 0; w[o + 9] = 0; w[o + 10] = 0; w[o + 11] = 0; w[o + 12] = 0; w[o + 13] = 0; w[o + 14] = 0; w[o + 15] = 0;
  }

  topOfBook(bidPriceTicks: number, bidQtyLots: number, askPriceTicks: number, askQtyLots: number): void {
    const o = this.open(EventType.TopOfBook); const w = this.words;
    w[o + 3] = bidPriceTicks; w[o + 4] = bidQtyLots; w[o + 5] = askPriceTicks; w[o + 6] = askQtyLots;
    w[o + 7] = 0; w[o + 8] = 0; w[o + 9] = 0; w[o + 10] = 0; w[o + 11] = 0; w[o + 12] = 0; w[o + 13] = 0; w[o + 14] = 0; w[o + 15] = 0;
  }

  adminDone(commandType: number, account: number, value: number, value2: number, affected: number): void {
    const o = this.open(EventType.AdminDone); const w = this.words;
    w[o + 3] = commandType; w[o + 4] = account; w[o + 5] = value; w[o + 6] = value2; w[o + 7] = affected;
    w[o + 8] = 0; w[o + 9] = 0; w[o + 10] = 0; w[o + 11] = 0; w[o + 12] = 0; w[o + 13] = 0; w[o + 14] = 0; w[o + 15] = 0;
  }

  triggered(orderId: number, account: number, stopPriceTicks: number, sourcePriceTicks: number, newOrderType: number,
    limitPriceTicks: number, remainingLots: number): void {
    const o = this.open(EventType.Triggered); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = stopPriceTicks; w[o + 6] = sourcePriceTicks; w[o + 7] = newOrderType;
    w[o + 8] = limitPriceTicks; w[o + 9] = remainingLots;
    w[o + 10] = 0; w[o + 11] = 0; w[o + 12] = 0; w[o + 13] = 0; w[o + 14] = 0; w[o + 15] = 0;
  }

  activated(orderId: number, account: number, qtyLots: number, remainingLots: number): void {
    const o = this.open(EventType.Activated); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = qtyLots; w[o + 6] = remainingLots;
    w[o + 7] = 0; w[o + 8] = 0; w[o + 9] = 0; w[o + 10] = 0; w[o + 11] = 0; w[o + 12] = 0; w[o + 13] = 0; w[o + 14] = 0; w[o + 15] = 0;
  }

  sliceRefreshed(orderId: number, account: number, visibleLots: number, hiddenLots: number): void {
    const o = this.open(EventType.SliceRefreshed); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = visibleLots; w[o + 6] = hiddenLots;
    w[o + 7] = 0; w[o + 8] = 0; w[o + 9] = 0; w[o + 10] = 0; w[o + 11] = 0; w[o + 12] = 0; w[o + 13] = 0; w[o + 14] = 0; w[o + 15] = 0;
  }

  /** Copy of record i as a plain array (tests and tools; allocates). */
  record(i: number): number[] {
    const o = i * EVENT_WORDS;
    return Array.from(this.words.subarray(o, o + EVENT_WORDS));
  }
}
