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

  /** Start a record; returns its word offset with type, seq and ts written and the rest zeroed. */
  begin(type: number): number {
    if (this.count === this.capacity) {
      if (this.onFull === null) throw new Error('EventBuffer full and no drain hook');
      this.onFull(this);
      if (this.count === this.capacity) throw new Error('EventBuffer drain hook did not drain');
    }
    const o = this.count * EVENT_WORDS;
    this.count++;
    const w = this.words;
    w[o] = type; w[o + 1] = this.seq; w[o + 2] = this.tsUs;
    for (let i = o + 3, e = o + EVENT_WORDS; i < e; i++) w[i] = 0;
    return o;
  }

  accepted(orderId: number, account: number, clientOrderId: number, side: number, orderType: number, tif: number,
    priceTicks: number, qtyLots: number, quoteQtyUnits: number, flags: number, expireTsUs: number): void {
    const o = this.begin(EventType.Accepted); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = clientOrderId; w[o + 6] = side; w[o + 7] = orderType;
    w[o + 8] = tif; w[o + 9] = priceTicks; w[o + 10] = qtyLots; w[o + 11] = quoteQtyUnits; w[o + 12] = flags;
    w[o + 13] = expireTsUs;
  }

  rejected(orderId: number, account: number, clientOrderId: number, reason: number, commandType: number): void {
    const o = this.begin(EventType.Rejected); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = clientOrderId; w[o + 6] = reason; w[o + 7] = commandType;
  }

  trade(tradeId: number, priceTicks: number, qtyLots: number, makerOrderId: number, makerAccount: number,
    takerOrderId: number, takerAccount: number, takerSide: number, makerFeeUnits: number, takerFeeUnits: number,
    makerRemainingLots: number, takerRemainingLots: number, notionalUnits: number): void {
    const o = this.begin(EventType.Trade); const w = this.words;
    w[o + 3] = tradeId; w[o + 4] = priceTicks; w[o + 5] = qtyLots; w[o + 6] = makerOrderId; w[o + 7] = makerAccount;
    w[o + 8] = takerOrderId; w[o + 9] = takerAccount; w[o + 10] = takerSide; w[o + 11] = makerFeeUnits;
    w[o + 12] = takerFeeUnits; w[o + 13] = makerRemainingLots; w[o + 14] = takerRemainingLots; w[o + 15] = notionalUnits;
  }

  canceled(orderId: number, account: number, remainingLots: number, reason: number, filledLots: number): void {
    const o = this.begin(EventType.Canceled); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = remainingLots; w[o + 6] = reason; w[o + 7] = filledLots;
  }

  expired(orderId: number, account: number, remainingLots: number, reason: number, filledLots: number): void {
    const o = this.begin(EventType.Expired); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = remainingLots; w[o + 6] = reason; w[o + 7] = filledLots;
  }

  replaced(orderId: number, account: number, priceTicks: number, qtyLots: number, remainingLots: number, keptPriority: number): void {
    const o = this.begin(EventType.Replaced); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = priceTicks; w[o + 6] = qtyLots; w[o + 7] = remainingLots;
    w[o + 8] = keptPriority;
  }

  decremented(orderId: number, account: number, decrementLots: number, remainingLots: number): void {
    const o = this.begin(EventType.Decremented); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = decrementLots; w[o + 6] = remainingLots;
  }

  depth(side: number, priceTicks: number, qtyLots: number, orderCount: number): void {
    const o = this.begin(EventType.Depth); const w = this.words;
    w[o + 3] = side; w[o + 4] = priceTicks; w[o + 5] = qtyLots; w[o + 6] = orderCount;
  }

  topOfBook(bidPriceTicks: number, bidQtyLots: number, askPriceTicks: number, askQtyLots: number): void {
    const o = this.begin(EventType.TopOfBook); const w = this.words;
    w[o + 3] = bidPriceTicks; w[o + 4] = bidQtyLots; w[o + 5] = askPriceTicks; w[o + 6] = askQtyLots;
  }

  adminDone(commandType: number, account: number, value: number, value2: number, affected: number): void {
    const o = this.begin(EventType.AdminDone); const w = this.words;
    w[o + 3] = commandType; w[o + 4] = account; w[o + 5] = value; w[o + 6] = value2; w[o + 7] = affected;
  }

  triggered(orderId: number, account: number, stopPriceTicks: number, sourcePriceTicks: number, newOrderType: number,
    limitPriceTicks: number, remainingLots: number): void {
    const o = this.begin(EventType.Triggered); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = stopPriceTicks; w[o + 6] = sourcePriceTicks; w[o + 7] = newOrderType;
    w[o + 8] = limitPriceTicks; w[o + 9] = remainingLots;
  }

  activated(orderId: number, account: number, qtyLots: number, remainingLots: number): void {
    const o = this.begin(EventType.Activated); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = qtyLots; w[o + 6] = remainingLots;
  }

  sliceRefreshed(orderId: number, account: number, visibleLots: number, hiddenLots: number): void {
    const o = this.begin(EventType.SliceRefreshed); const w = this.words;
    w[o + 3] = orderId; w[o + 4] = account; w[o + 5] = visibleLots; w[o + 6] = hiddenLots;
  }

  /** Copy of record i as a plain array (tests and tools; allocates). */
  record(i: number): number[] {
    const o = i * EVENT_WORDS;
    return Array.from(this.words.subarray(o, o + EVENT_WORDS));
  }
}
