// What the SLO harness's engine child and load generator agree on: the bench instruments, the
// accounts, the bearer token, and the messages they exchange with the harness over IPC.

import type { InstrumentSpec } from '../../core/instrument.js';

export const SLO_TOKEN = 'slo-bench-token';
/** Deposited of every asset to every bench account before the run. */
export const SLO_FUNDS_UNITS = 1e14;
export const SLO_REFERENCE_PRICE_TICKS = 10_000;
export const SLO_FIRST_INSTRUMENT_ID = 101;

/** `n` instruments SLO00-USD ... sharing the quote asset: tick 0.01, lot 0.001, reference 100.00. */
export function sloInstruments(n: number, orderCapacity = 262_144): InstrumentSpec[] {
  const out: InstrumentSpec[] = [];
  for (let i = 0; i < n; i++) {
    const base = `SLO${String(i).padStart(2, '0')}`;
    out.push({
      id: SLO_FIRST_INSTRUMENT_ID + i, symbol: `${base}-USD`, baseAsset: base, quoteAsset: 'USD',
      tickSize: '0.01', lotSize: '0.001', notionalUnitsPerTickLot: 10, baseUnitsPerLot: 100_000, baseDecimals: 8, quoteDecimals: 6,
      minPriceTicks: 1, maxPriceTicks: 10_000_000, minQtyLots: 1, maxQtyLots: 10_000,
      minNotionalUnits: 1_000, maxNotionalUnits: 100_000_000_000,
      priceBandBps: 1_000, marketBandBps: 500, referencePriceTicks: SLO_REFERENCE_PRICE_TICKS,
      makerFeePpm: 100, takerFeePpm: 200, maxOpenOrdersPerAccount: 0, maxPositionLots: 0,
      orderCapacity, clientIdRetention: 1_000, minDisplayQtyLots: 1,
    });
  }
  return out;
}

export function sloAccounts(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** Round-robin symbol -> shard map (config/engine.ts's shardOf shape). */
export function sloShardMap(instruments: readonly InstrumentSpec[], shards: number): Record<string, number> {
  const m: Record<string, number> = {};
  instruments.forEach((s, i) => { m[s.symbol] = i % shards; });
  return m;
}

// ----------------------------------------------------------------------------------------------
// IPC messages
// ----------------------------------------------------------------------------------------------

/** Engine child -> harness once it listens. */
export interface EngineReady {
  type: 'ready';
  url: string;
  token: string;
  accounts: number[];
  instrumentIds: number[];
  shards: number;
  durability: string;
  fundedAccounts: number;
}

/** Harness -> load generator: one measured phase. */
export interface PhaseRequest {
  type: 'phase';
  name: string;
  /** 'engine': the order mix through TradingClient; 'echo': NewOrders against the echo server. */
  target: 'engine' | 'echo';
  rateOrdersPerSec: number;
  warmupMs: number;
  measureMs: number;
}

/** Load generator -> harness after a phase. */
export interface PhaseResult {
  type: 'phaseResult';
  name: string;
  target: 'engine' | 'echo';
  rateOrdersPerSec: number;
  measureMs: number;
  /** Requests whose intended send time fell in the measured window. */
  sent: number;
  acked: number;
  lost: number;
  /** Acks by kind: ok, rejected (by reason name), per request kind. */
  okAcks: number;
  rejectedAcks: number;
  rejectReasons: Record<string, number>;
  requestKinds: Record<string, number>;
  fills: number;
  achievedOrdersPerSec: number;
  /** Compressed HdrHistogram of ack latency (us) from the intended send time. */
  latencyHistogram: string;
  /** How late sends left compared with their intended time (client-side lag; us). */
  sendLagHistogram: string;
  /** Throughput timeline: one entry per binMs of the whole phase (warm-up included). */
  binMs: number;
  sentPerBin: number[];
  ackedPerBin: number[];
  warmupBins: number;
  openOrdersAtEnd: number;
}
