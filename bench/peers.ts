// Adapters that replay an OpStream into the npm order books used as peers.
//
// Both packages ship CommonJS with a broken "types" entry (dist/types/index.d.js), so they are
// loaded with createRequire and described by the minimal interfaces below (from their typings).
//
// Mapping (our command -> peer call):
//   NewOrder Limit GTC/IOC  -> limit({ id, side, size, price, timeInForce, postOnly[, accountId, stpMode] })
//   NewOrder Market IOC     -> market({ side, size[, accountId, stpMode] })
//   Cancel                  -> cancel(id)
//   Replace                 -> modify(id, { price?, size? })   (size = the new total; the peers have no
//                              notion of filled quantity, and always re-queue the order: no kept priority)
// Ids are strings in both packages; the strings are built before timing.
//
// What they cannot express (also in the JSON `unsupported` lists): fees, every risk check (price
// band, min/max quantity and notional, max open orders, position limits), market protection band
// (their market orders sweep without limit), client order ids and their idempotency, GTD, quote-qty
// market orders, an event stream (depth / top of book), integer fixed-point arithmetic, replace that
// keeps priority on a size decrease, and self-trade prevention: nodejs-order-book has STP by account
// (EXPIRE_TAKER / EXPIRE_MAKER / EXPIRE_BOTH) but no Decrement (mapped to NONE) and no STP groups;
// hft-limit-order-book has no accounts and no STP at all.

import { createRequire } from 'node:module';
import { CommandType, OrderFlags, OrderType, Side } from '../core/types.js';
import type { OpStream } from './streams.js';

const require = createRequire(import.meta.url);

interface PeerOrder { id: string }
interface PeerResult {
  done: PeerOrder[];
  partial: PeerOrder | null;
  partialQuantityProcessed: number;
  err: unknown;
}
interface PeerLimitOptions {
  id: string; side: string; size: number; price: number; timeInForce?: string; postOnly?: boolean;
  accountId?: string; stpMode?: string;
}
interface PeerMarketOptions { side: string; size: number; accountId?: string; stpMode?: string }
interface PeerBook {
  limit(o: PeerLimitOptions): PeerResult;
  market(o: PeerMarketOptions): PeerResult;
  cancel(id: string): unknown;
  modify(id: string, update: { price?: number; size?: number }): PeerResult;
}
type PeerCtor = new (options?: Record<string, unknown>) => PeerBook;

export interface PeerRunStats {
  trades: number;
  errors: number;
  cancelMisses: number;
}

export interface PeerAdapter {
  name: string;
  version: string;
  supportsStp: boolean;
  unsupported: string[];
  create(): PeerBook;
}

const COMMON_UNSUPPORTED = [
  'fees', 'price band', 'min/max quantity', 'min/max notional', 'max open orders per account', 'position limits',
  'market protection band', 'client order ids / idempotency', 'GTD', 'quote-quantity market orders',
  'event stream (depth, top of book)', 'integer fixed-point', 'replace keeping priority on size decrease',
  'kill switch / mass cancel / symbol status',
];

function loadPeer(pkg: string): { ctor: PeerCtor; version: string } {
  const mod = require(pkg) as { OrderBook: PeerCtor };
  const version = (require(`${pkg}/package.json`) as { version: string }).version;
  return { ctor: mod.OrderBook, version };
}

export function peerAdapters(): PeerAdapter[] {
  const out: PeerAdapter[] = [];
  const a = loadPeer('nodejs-order-book');
  out.push({
    name: 'nodejs-order-book', version: a.version, supportsStp: true,
    unsupported: [...COMMON_UNSUPPORTED, 'STP Decrement (sent as NONE)', 'STP groups'],
    create: () => new a.ctor(),
  });
  const b = loadPeer('hft-limit-order-book');
  out.push({
    name: 'hft-limit-order-book', version: b.version, supportsStp: false,
    unsupported: [...COMMON_UNSUPPORTED, 'accounts', 'self-trade prevention (all modes)'],
    create: () => new b.ctor(),
  });
  return out;
}

const STP_NAMES = ['NONE', 'EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH', 'NONE' /* Decrement: unsupported */];
const TIF_NAMES = ['GTC', 'IOC', 'FOK', 'GTC' /* GTD: unsupported */];

/** Strings built before timing: order ids and account ids. */
export class PeerStrings {
  readonly ids: string[];
  readonly accounts: string[];
  constructor(maxSeq: number, maxAccount: number) {
    this.ids = new Array<string>(maxSeq + 1);
    for (let i = 0; i <= maxSeq; i++) this.ids[i] = String(i);
    this.accounts = new Array<string>(maxAccount + 1);
    for (let i = 0; i <= maxAccount; i++) this.accounts[i] = 'a' + i;
  }
}

function countTrades(res: PeerResult, takerId: string | null): number {
  let n = 0;
  const done = res.done;
  for (let k = 0; k < done.length; k++) if (done[k]!.id !== takerId) n++;
  if (res.partial !== null && res.partialQuantityProcessed > 0 && res.partial.id !== takerId) n++;
  return n;
}

/**
 * Replays rows [0, count) of s into a peer book. Trades are counted as makers touched per command
 * (fully filled makers in `done` plus a partially filled maker), which equals the number of fills.
 */
export function replayPeer(book: PeerBook, s: OpStream, count: number, strs: PeerStrings, withStp: boolean, stats: PeerRunStats): void {
  let trades = 0, errors = 0, cancelMisses = 0;
  for (let i = 0; i < count; i++) {
    const kind = s.kind[i]!;
    const id = strs.ids[s.orderId[i]!]!;
    if (kind === CommandType.NewOrder) {
      const side = s.side[i] === Side.Buy ? 'buy' : 'sell';
      let res: PeerResult;
      if (s.orderType[i] === OrderType.Market) {
        res = withStp
          ? book.market({ side, size: s.qtyLots[i]!, accountId: strs.accounts[s.account[i]!]!, stpMode: STP_NAMES[s.stpMode[i]!]! })
          : book.market({ side, size: s.qtyLots[i]! });
        trades += countTrades(res, null);
      } else {
        const postOnly = (s.flags[i]! & OrderFlags.PostOnly) !== 0;
        const tif = TIF_NAMES[s.tif[i]!]!;
        res = withStp
          ? book.limit({ id, side, size: s.qtyLots[i]!, price: s.priceTicks[i]!, timeInForce: tif, postOnly,
            accountId: strs.accounts[s.account[i]!]!, stpMode: STP_NAMES[s.stpMode[i]!]! })
          : book.limit({ id, side, size: s.qtyLots[i]!, price: s.priceTicks[i]!, timeInForce: tif, postOnly });
        trades += countTrades(res, id);
      }
      if (res.err !== null && res.err !== undefined) errors++;
    } else if (kind === CommandType.Cancel) {
      if (book.cancel(id) === undefined) cancelMisses++;
    } else if (kind === CommandType.Replace) {
      const p = s.priceTicks[i]!, q = s.qtyLots[i]!;
      const res = p !== 0 && q !== 0 ? book.modify(id, { price: p, size: q })
        : p !== 0 ? book.modify(id, { price: p }) : book.modify(id, { size: q });
      trades += countTrades(res, id);
      if (res.err !== null && res.err !== undefined) errors++;
    }
  }
  stats.trades += trades; stats.errors += errors; stats.cancelMisses += cancelMisses;
}

