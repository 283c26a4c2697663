// Test support for the persistent REST candles (candles-persist.test.ts and its crash child): a pair
// of crossing orders sent through the REST API, and the expected candles recomputed by brute force
// from a clean replay of the journal (persistence/recovery.ts's cleanReplay: an independent path,
// not the JournalReplayer the candle feed uses).

import type { InstrumentSpec } from '../../core/instrument.js';
import { EventType } from '../../core/types.js';
import { INTERVAL_US, INTERVALS, type Interval } from '../../marketdata/candles.js';
import { cleanReplay } from '../../persistence/recovery.js';
import type { RestContext } from './context.js';
import type { CallResult } from './test-kit.js';

type Caller = (method: string, path: string, o: { token: string; body: unknown }) => Promise<CallResult>;

/** A resting sell then an IOC buy at the same price: at least one trade. Throws on any refusal. */
export async function tradePair(send: Caller, sellerToken: string, buyerToken: string, rnd: () => number): Promise<void> {
  const symbol = rnd() < 0.6 ? 'AAA-USD' : 'BBB-USD';
  const price = (9500 + Math.floor(rnd() * 1000)) / 100;
  const quantity = ((1 + Math.floor(rnd() * 20)) / 1000).toFixed(3);
  const base = { symbol, order_type: 'limit', quantity, price: price.toFixed(2) };
  const s = await send('POST', '/api/v1/orders', { token: sellerToken, body: { ...base, side: 'sell', time_in_force: 'GTC' } });
  if (s.status !== 201) throw new Error(`sell refused: ${s.status} ${JSON.stringify(s.body)}`);
  const b = await send('POST', '/api/v1/orders', { token: buyerToken, body: { ...base, side: 'buy', time_in_force: 'IOC' } });
  if (b.status !== 201) throw new Error(`buy refused: ${b.status} ${JSON.stringify(b.body)}`);
}

/** The REST answer's rows of /ohlcv. */
export interface RestCandle {
  open_time: string; open: string; high: string; low: string; close: string; volume: string; quote_volume: string; trade_count: number;
}

interface Acc { open: number; high: number; low: number; close: number; vol: number; quote: number; n: number }

/**
 * Candles of every trade in the journal at `dataDir`, by a plain group-by over the clean replay's
 * trade events, formatted as /ohlcv answers them: key `${symbol} ${interval}`, oldest first.
 */
export function bruteForceCandles(dataDir: string, instruments: readonly InstrumentSpec[], c: RestContext): { candles: Map<string, RestCandle[]>; trades: number } {
  const replay = cleanReplay(dataDir, instruments, {}, Number.MAX_SAFE_INTEGER, true);
  const out = new Map<string, RestCandle[]>();
  let trades = 0;
  for (const spec of instruments) {
    const info = c.bySymbol.get(spec.symbol)!;
    const ticks = (replay.events.get(spec.id) ?? []).filter((e) => e[0] === EventType.Trade);
    trades += ticks.length;
    for (const interval of INTERVALS) {
      const groups = new Map<number, Acc>();
      for (const e of ticks) {
        const ts = e[2]!, px = e[4]!, qty = e[5]!, notional = e[15]!;
        const open = Math.floor(ts / INTERVAL_US[interval as Interval]) * INTERVAL_US[interval as Interval];
        const g = groups.get(open);
        if (g === undefined) groups.set(open, { open: px, high: px, low: px, close: px, vol: qty, quote: notional, n: 1 });
        else { g.high = Math.max(g.high, px); g.low = Math.min(g.low, px); g.close = px; g.vol += qty; g.quote += notional; g.n++; }
      }
      out.set(`${spec.symbol} ${interval}`, [...groups].sort((a, b) => a[0] - b[0]).map(([open, g]) => ({
        open_time: new Date(Math.floor(open / 1000)).toISOString(), open: c.fmtPrice(info, g.open), high: c.fmtPrice(info, g.high),
        low: c.fmtPrice(info, g.low), close: c.fmtPrice(info, g.close), volume: c.fmtQty(info, g.vol),
        quote_volume: c.fmtAsset(spec.quoteAsset, g.quote), trade_count: g.n,
      })));
    }
  }
  return { candles: out, trades };
}
