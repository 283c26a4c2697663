// An instrument as the core sees it: every scale already an integer. config/ turns the decimal
// strings of the configuration into this (see core/fixed.ts and config/instruments.ts).

export interface InstrumentSpec {
  /** Small integer id, unique in the engine (used on the wire). */
  id: number;
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  /** Decimal strings kept for the edges (JSON). */
  tickSize: string;
  lotSize: string;
  /** Quote-asset smallest units per (1 tick x 1 lot): notional_units = price_ticks * qty_lots * this. */
  notionalUnitsPerTickLot: number;
  /** Base-asset smallest units per lot. */
  baseUnitsPerLot: number;
  /** Decimals of the assets' smallest units (e.g. 8 for BTC satoshis). */
  baseDecimals: number;
  quoteDecimals: number;
  minPriceTicks: number;
  maxPriceTicks: number;
  minQtyLots: number;
  maxQtyLots: number;
  minNotionalUnits: number;
  /** 0 = no maximum beyond maxPriceTicks * maxQtyLots. */
  maxNotionalUnits: number;
  /** Limit prices must lie within this distance of the reference price, in basis points. 0 = off. */
  priceBandBps: number;
  /** Market orders never trade further than this from the reference price, in basis points. */
  marketBandBps: number;
  /** Initial reference price; 0 = none until the first trade or SetReferencePrice. */
  referencePriceTicks: number;
  /** Fee rates in parts per million of the notional (100 ppm = 1 bp). Maker may be negative (rebate), never below -taker. */
  makerFeePpm: number;
  takerFeePpm: number;
  /** Per-account defaults, overridable by SetAccountLimits. 0 = unlimited. */
  maxOpenOrdersPerAccount: number;
  maxPositionLots: number;
  /** Preallocated capacity: open orders (price levels are sized from it: a level holds at least one order). */
  orderCapacity: number;
  /** How many terminated client order ids stay remembered per book for idempotency. */
  clientIdRetention: number;
  /** Iceberg minimum display quantity. */
  minDisplayQtyLots: number;
  /** At most this many conditional orders activate in one command; the rest expire (TriggerLimit). */
  maxTriggersPerCommand?: number;
}
