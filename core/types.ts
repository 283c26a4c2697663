// The core's vocabulary: enums, reject reasons, the command object and the event record layout.
// Everything is an integer: prices in ticks, quantities in lots, money in the quote asset's
// smallest unit, time in microseconds since the Unix epoch (engine time, from the sequencer).
// See docs/matching-semantics.md for what every command does and the exact order of its events.

export const enum Side {
  Buy = 0,
  Sell = 1,
}

export const enum OrderType {
  Limit = 0,
  Market = 1,
  // Advanced types (issue 3) take the next codes; the codes are part of the wire protocol.
  Stop = 2,
  StopLimit = 3,
  TrailingStop = 4,
  TrailingStopLimit = 5,
  MarketIfTouched = 6,
  LimitIfTouched = 7,
}

export const enum TimeInForce {
  GTC = 0,
  IOC = 1,
  FOK = 2,
  GTD = 3,
}

/** Self-trade prevention mode, decided by the taker. */
export const enum StpMode {
  None = 0,
  ExpireTaker = 1,
  ExpireMaker = 2,
  ExpireBoth = 3,
  Decrement = 4,
}

/** Bit flags on a new order. */
export const enum OrderFlags {
  None = 0,
  PostOnly = 1,
  /** Market order sized by quote amount (quoteQty) instead of base quantity. */
  QuoteQty = 2,
  /** Conditional orders: trigger on the reference (mark) price instead of the last trade price. */
  TriggerMark = 4,
  /** Conditional orders: if the condition already holds at entry, activate at once (else reject). */
  TriggerImmediately = 8,
  /** Trailing orders: trailOffset is in basis points of the anchor, not ticks. */
  TrailBps = 16,
  /** Bracket child: linkId names the entry order; the size follows the entry's fills. */
  Child = 32,
}

export const ALL_ORDER_FLAGS = 63;

export const enum SymbolStatus {
  Open = 0,
  /** Nothing but time-driven expiry happens: new, replace and cancel are rejected. */
  Halted = 1,
  /** Cancels (and mass cancels) only. */
  CancelOnly = 2,
}

export const enum CommandType {
  NewOrder = 1,
  Cancel = 2,
  Replace = 3,
  MassCancel = 4,
  /** Advances engine time only (GTD expiry). */
  TimeTick = 5,
  SetSymbolStatus = 6,
  SetKillSwitch = 7,
  SetAccountLimits = 8,
  SetReferencePrice = 9,
}

/**
 * Reject reasons. The numeric codes are stable: they are the binary protocol's reject codes and
 * the REST problem types' ids. Never renumber; append.
 */
export const enum RejectReason {
  None = 0,
  UnknownCommand = 1,
  InvalidSide = 2,
  InvalidOrderType = 3,
  InvalidTimeInForce = 4,
  InvalidPrice = 5,
  InvalidQuantity = 6,
  InvalidStpMode = 7,
  InvalidFlags = 8,
  InvalidExpireTime = 9,
  PriceNotOnTick = 10,
  QuantityBelowMin = 11,
  QuantityAboveMax = 12,
  NotionalBelowMin = 13,
  NotionalAboveMax = 14,
  PriceOutsideBand = 15,
  TooManyOpenOrders = 16,
  PositionLimitExceeded = 17,
  SymbolHalted = 18,
  SymbolCancelOnly = 19,
  AccountKilled = 20,
  DuplicateClientOrderId = 21,
  PostOnlyWouldTake = 22,
  /** Also for another account's order: nothing about it leaks. (24 is unused.) */
  UnknownOrder = 23,
  BookFull = 25,
  NoReferencePrice = 26,
  GtdAlreadyExpired = 27,
  ReplaceNoChange = 28,
  UnknownSymbol = 29,
  InvalidAccount = 30,
  InvalidClientOrderId = 31,
  ArithmeticOverflow = 32,
  InvalidValue = 33,
  StopWouldTrigger = 34,
  InvalidStopPrice = 35,
  InvalidDisplayQty = 36,
  InvalidLink = 37,
  InvalidTrailOffset = 38,
  // Runtime and edge (issue 4 onwards) append from 64.
  Busy = 64,
  InsufficientBalance = 65,
  /** The session's credential lacks the permission (e.g. a read-only API key), or the account is not its own. */
  NotPermitted = 66,
}

/** Why an order left the book other than by a fill. */
export const enum EndReason {
  UserCancel = 0,
  MassCancel = 1,
  /** IOC remainder, market remainder. */
  ImmediateRemainder = 2,
  /** FOK could not fill in full. */
  FillOrKill = 3,
  /** GTD expiry by engine time. */
  Expired = 4,
  SelfTrade = 5,
  /** Market order stopped at its protection band. */
  MarketProtection = 6,
  KillSwitch = 7,
  /** Replace to a total quantity at or below the filled quantity. */
  ReplaceDone = 8,
  /** Market order by quote amount: left-over quote too small for one more lot. */
  QuoteExhausted = 9,
  /** More triggers fired in one command than maxTriggersPerCommand allows. */
  TriggerLimit = 11,
  /** The OCO partner traded, triggered or ended; or a bracket entry ended with no fills. */
  LinkedOrder = 12,
}

/**
 * A command, as the core reads it. One instance is reused for every command (no allocation per
 * message); the runtime decodes ring records into it. Fields a command type does not use are ignored.
 */
export class Command {
  type: number = 0;
  /** Global sequence number from the sequencer. For NewOrder it is also the order id. */
  seq: number = 0;
  /** Engine time, microseconds since the Unix epoch. */
  tsUs: number = 0;
  account: number = 0;
  /** NewOrder: the new order's id (normally = seq). Cancel/Replace: the target order id. */
  orderId: number = 0;
  /** Client order id, an integer in [1, 2^53-1]; 0 = none. Idempotent per (account, book). */
  clientOrderId: number = 0;
  side: number = 0;
  orderType: number = 0;
  tif: number = 0;
  flags: number = 0;
  stpMode: number = 0;
  /** Self-trade group: orders of different accounts with the same non-zero group never trade. */
  stpGroup: number = 0;
  priceTicks: number = 0;
  qtyLots: number = 0;
  /** Market orders with OrderFlags.QuoteQty: the amount in quote units. */
  quoteQtyUnits: number = 0;
  /** GTD expiry, microseconds since epoch. */
  expireTsUs: number = 0;
  /** Advanced types (issue 3). */
  stopPriceTicks: number = 0;
  displayQtyLots: number = 0;
  trailOffset: number = 0;
  limitOffsetTicks: number = 0;
  linkId: number = 0;
  /**
   * Market orders (by quantity or quote): a worst price set by the runtime (the price its balance hold
   * was computed for). The book trades no further than the tighter of this and its own protection
   * bound. 0 = none.
   */
  protectionPriceTicks: number = 0;
  /** Admin commands: SetSymbolStatus -> status; SetKillSwitch -> 0/1; SetReferencePrice -> price. */
  value: number = 0;
  /** SetAccountLimits: max open orders (0 = instrument default). */
  value2: number = 0;
  /** NewOrder from REST: the client's order id text, journaled in words 27..31 (core/command-codec.ts); never read by the core. */
  clientText: string | null = null;

  reset(): this {
    this.type = 0; this.seq = 0; this.tsUs = 0; this.account = 0; this.orderId = 0;
    this.clientOrderId = 0; this.side = 0; this.orderType = 0; this.tif = 0; this.flags = 0;
    this.stpMode = 0; this.stpGroup = 0; this.priceTicks = 0; this.qtyLots = 0;
    this.quoteQtyUnits = 0; this.expireTsUs = 0; this.stopPriceTicks = 0; this.displayQtyLots = 0;
    this.trailOffset = 0; this.limitOffsetTicks = 0; this.linkId = 0; this.protectionPriceTicks = 0; this.value = 0;
    this.value2 = 0; this.clientText = null;
    return this;
  }
}

// ---------------------------------------------------------------------------------------------
// Events: fixed records of EVENT_WORDS float64 words (every value is an exact integer).
// Word 0 is the type, word 1 the command's seq, word 2 the command's engine time. The rest depend
// on the type and are listed below (word index: meaning). Unused words are 0.
// ---------------------------------------------------------------------------------------------

export const EVENT_WORDS = 16;

export const enum EventType {
  /** 3 orderId, 4 account, 5 clientOrderId, 6 side, 7 orderType, 8 tif, 9 priceTicks,
   *  10 qtyLots, 11 quoteQtyUnits, 12 flags, 13 expireTsUs */
  Accepted = 1,
  /** 3 orderId, 4 account, 5 clientOrderId (all three as the command gave them), 6 reason (RejectReason), 7 command type */
  Rejected = 2,
  /** 3 tradeId, 4 priceTicks, 5 qtyLots, 6 makerOrderId, 7 makerAccount, 8 takerOrderId,
   *  9 takerAccount, 10 takerSide, 11 makerFeeUnits, 12 takerFeeUnits, 13 makerRemainingLots,
   *  14 takerRemainingLots, 15 notionalUnits */
  Trade = 3,
  /** 3 orderId, 4 account, 5 remainingLots (removed), 6 reason (EndReason), 7 filledLots */
  Canceled = 4,
  /** 3 orderId, 4 account, 5 remainingLots (removed), 6 reason (EndReason), 7 filledLots */
  Expired = 5,
  /** 3 orderId, 4 account, 5 priceTicks, 6 qtyLots (new total), 7 remainingLots,
   *  8 keptPriority (0/1) */
  Replaced = 6,
  /** Decrement self-trade prevention shrank a resting or incoming order without a trade:
   *  3 orderId, 4 account, 5 decrementLots, 6 remainingLots */
  Decremented = 7,
  /** Market data: one price level's new visible total. 3 side, 4 priceTicks, 5 qtyLots, 6 orderCount */
  Depth = 8,
  /** Market data, once per command at most, when the top of book changed:
   *  3 bidPriceTicks, 4 bidQtyLots, 5 askPriceTicks, 6 askQtyLots (0 qty = empty side) */
  TopOfBook = 9,
  /** Admin acknowledgements: 3 command type, 4 account, 5 value, 6 value2, 7 affected count */
  AdminDone = 10,
  /** A conditional order fired: 3 orderId, 4 account, 5 stopPriceTicks (X), 6 sourcePriceTicks (P),
   *  7 new orderType (Limit or Market), 8 limit priceTicks (0 for market), 9 remainingLots */
  Triggered = 11,
  /** A bracket child got (more) size from its entry's fills: 3 orderId, 4 account, 5 qtyLots (new
   *  total), 6 remainingLots */
  Activated = 12,
  /** An iceberg showed a new slice at the back of its level: 3 orderId, 4 account, 5 visibleLots,
   *  6 hiddenLots */
  SliceRefreshed = 13,
}

/** Event word indices shared by all types. */
export const EV_TYPE = 0;
export const EV_SEQ = 1;
export const EV_TS = 2;
