// zod 4 schemas of every REST body, query and answer. Decimals travel as strings ("12.5") and are
// converted exactly with the instrument's tick and lot (core/fixed.ts); ids are decimal strings.
// Request objects are strict: an unknown field is a validation error. The OpenAPI document is
// generated from these (openapi.ts).

import { z } from 'zod';
import { RejectReason } from '../../core/types.js';
import { REJECT_SLUGS } from './problem.js';
import { ORDER_STATUSES } from './read-model.js';

export const Decimal = z.string().regex(/^[0-9]{1,20}(\.[0-9]{1,18})?$/, 'a non-negative decimal string such as "12.5"')
  .meta({ description: 'decimal as a string, exact', example: '12.5' });
export const SignedDecimal = z.string().meta({ description: 'signed decimal as a string', example: '-3.25' });
export const IdString = z.string().regex(/^[1-9][0-9]{0,15}$/, 'a positive integer id as a string').meta({ example: '42' });
/** account_id in a JSON body: a JSON number only (no string, array or boolean is coerced), like every account_id the API answers with. */
export const AccountId = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).meta({ description: 'trading account id (a JSON number)' });
/** account_id in a query string (necessarily text): decimal digits only, no sign, exponent, spaces or leading zeros. */
export const AccountIdQuery = z.string().regex(/^[1-9][0-9]{0,15}$/, 'a positive integer account id').transform((s, ctx) => {
  const n = Number(s);
  if (!Number.isSafeInteger(n)) { ctx.addIssue({ code: 'custom', message: 'a positive integer account id' }); return z.NEVER; }
  return n;
}).meta({ description: 'trading account id (decimal digits)', example: '1' });
export const DateTime = z.iso.datetime({ offset: true }).meta({ description: 'RFC 3339 date-time', example: '2025-06-01T12:00:00Z' });
export const Symbol = z.string().regex(/^[A-Za-z0-9._-]{1,32}$/, 'a symbol such as "BTC-USD"');
/**
 * An integer query parameter (limit, depth): plain decimal digits only. A query value is text, and
 * Number()'s loose forms ("0x10", "1e2", " 5", "+5", "5.0", "") are refused instead of coerced; the
 * range check then applies to the number. Default when absent.
 */
export const Limit = (max: number, dflt: number) => z.string()
  .regex(/^(0|[1-9][0-9]{0,15})$/, 'decimal digits only (no sign, exponent, hex, fraction, spaces or leading zeros)')
  .transform(Number).pipe(z.number().int().min(1).max(max))
  .prefault(String(dflt)).meta({ description: `integer 1..${max} in decimal digits; default ${dflt}`, example: String(dflt) });

export const SIDES = ['buy', 'sell'] as const;
export const ORDER_TYPES = ['limit', 'market', 'stop', 'stop_limit', 'trailing_stop', 'trailing_stop_limit', 'market_if_touched', 'limit_if_touched'] as const;
export const TIFS = ['GTC', 'IOC', 'FOK', 'GTD'] as const;
export const STP_MODES = ['none', 'expire_taker', 'expire_maker', 'expire_both', 'decrement'] as const;
export const TRIGGER_PRICE_TYPES = ['last', 'mark'] as const;

/** `^(?:[Bb][Uu][Yy]|...)$`: a JSON Schema (ECMA-262) pattern matching the values in any letter case. */
function anyCasePattern(values: readonly string[]): string {
  const esc = (ch: string): string => (/[A-Za-z]/.test(ch) ? `[${ch.toUpperCase()}${ch.toLowerCase()}]` : ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return `^(?:${values.map((v) => [...v].map(esc).join('')).join('|')})$`;
}

/**
 * An enum of request bodies and query filters, accepted in any letter case ("BUY", "Gtc") and
 * normalised to its canonical spelling (the one answers use) before validation. Only strings are
 * touched: a number or boolean still fails as before. The OpenAPI input schema says so: a string with
 * a case-insensitive pattern and the canonical values in the description (a JSON Schema `enum` would
 * claim the input is case-sensitive).
 */
export function ciEnum<const T extends readonly [string, ...string[]]>(values: T) {
  const canon = new Map(values.map((v) => [v.toLowerCase(), v]));
  const inner = z.enum(values);
  const s = z.preprocess((v) => (typeof v === 'string' ? canon.get(v.toLowerCase()) ?? v : v), inner)
    .meta({ type: 'string', pattern: anyCasePattern(values), description: `one of ${values.join(', ')} (case-insensitive on input; answers use this spelling)` });
  CASE_INSENSITIVE.add(inner).add(s);
  return s;
}

/** Schemas (ciEnum's) whose JSON Schema `enum` is dropped from input documents (openapi.ts): the pattern says what is accepted. */
export const CASE_INSENSITIVE = new WeakSet<z.ZodType>();

/**
 * `params` of a custom zod issue that stands for an engine reject reason: the router's fieldErrors
 * answers the issue with the reason's slug as its `code` and the number as `reason_code`.
 */
export function rejectParams(reason: number): { code: string; reason_code: number } {
  return { code: REJECT_SLUGS[reason] ?? `reject_${reason}`, reason_code: reason };
}

/** A query with start_time and end_time: an end before the start is an error at query.end_time. */
function timeRange(q: { start_time?: string | undefined; end_time?: string | undefined }, ctx: z.RefinementCtx): void {
  if (q.start_time !== undefined && q.end_time !== undefined && Date.parse(q.end_time) < Date.parse(q.start_time)) {
    ctx.addIssue({ code: 'custom', path: ['end_time'], message: 'end_time is before start_time' });
  }
}

export const ClientOrderId = z.string().regex(/^[A-Za-z0-9._:-]{1,36}$/, '1 to 36 characters of A-Z a-z 0-9 . _ : -');

export const OrderCreate = z.strictObject({
  account_id: AccountId.optional().meta({ description: 'required when the credential has several accounts' }),
  symbol: Symbol,
  side: ciEnum(SIDES),
  order_type: ciEnum(ORDER_TYPES),
  quantity: Decimal.optional().meta({ description: 'base quantity (not with quote_quantity; 0 or absent for bracket children)' }),
  quote_quantity: Decimal.optional().meta({ description: 'market orders only: spend/receive this much quote' }),
  price: Decimal.optional().meta({ description: 'limit price (limit, stop_limit, limit_if_touched)' }),
  stop_price: Decimal.optional().meta({ description: 'trigger price (stop, stop_limit, market_if_touched, limit_if_touched)' }),
  time_in_force: ciEnum(TIFS).optional().meta({ description: `one of ${TIFS.join(', ')} (case-insensitive on input); default GTC for limit types, IOC for market types` }),
  expires_at: DateTime.optional().meta({ description: 'GTD only' }),
  client_order_id: ClientOrderId.optional().meta({ description: 'makes the request idempotent per account' }),
  post_only: z.boolean().optional(),
  display_quantity: Decimal.optional().meta({ description: 'iceberg: visible quantity' }),
  trail_offset: Decimal.optional().meta({ description: 'trailing types: distance as a price' }),
  trail_offset_bps: z.number().int().min(1).max(9999).optional().meta({ description: 'trailing types: distance in basis points (instead of trail_offset)' }),
  limit_offset: Decimal.optional().meta({ description: 'trailing_stop_limit: limit distance from the stop, as a price' }),
  trigger_price_type: ciEnum(TRIGGER_PRICE_TYPES).optional(),
  trigger_immediately: z.boolean().optional(),
  stp_mode: ciEnum(STP_MODES).optional(),
  stp_group: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  oco_order_id: IdString.optional().meta({ description: 'OCO: link to this open order of the same account and side' }),
  parent_order_id: IdString.optional().meta({ description: 'bracket child of this entry order' }),
}).superRefine((b, ctx) => {
  // Combinations the engine would reject after sequencing: refused here, with field paths and the
  // binary protocol's reason (core/book.ts validation), before a sequence number is used.
  if (b.time_in_force === 'GTD' && b.expires_at === undefined) {
    ctx.addIssue({ code: 'custom', path: ['expires_at'], message: 'time_in_force GTD needs expires_at', params: rejectParams(RejectReason.InvalidExpireTime) });
  }
  if (b.expires_at !== undefined && b.time_in_force !== undefined && b.time_in_force !== 'GTD') {
    ctx.addIssue({ code: 'custom', path: ['expires_at'], message: `expires_at only goes with time_in_force GTD, not ${b.time_in_force}`, params: rejectParams(RejectReason.InvalidExpireTime) });
  }
  if (b.quantity !== undefined && b.quote_quantity !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['quote_quantity'], message: 'give quantity or quote_quantity, not both', params: rejectParams(RejectReason.InvalidQuantity) });
  }
});
export type OrderCreate = z.infer<typeof OrderCreate>;

export const OrderReplace = z.strictObject({
  price: Decimal.optional(),
  quantity: Decimal.optional().meta({ description: 'new total quantity, filled part included' }),
}).refine((b) => b.price !== undefined || b.quantity !== undefined, { message: 'give price, quantity or both', path: ['price'] });

export const OrderIdParams = z.strictObject({ order_id: IdString });

const csvOf = <T extends readonly [string, ...string[]]>(values: T) => z.string().transform((s, ctx) => {
  const parts = s.split(',').map((x) => x.trim().toLowerCase()).filter((x) => x !== '');
  for (const p of parts) if (!(values as readonly string[]).includes(p)) { ctx.addIssue({ code: 'custom', message: `unknown value ${p}; one of ${values.join(', ')}` }); return z.NEVER; }
  return parts as T[number][];
}).meta({ description: `comma-separated, case-insensitive: ${values.join(', ')}` });

export const OrderListQuery = z.strictObject({
  account_id: AccountIdQuery.optional(),
  symbol: Symbol.optional(),
  status: csvOf([...ORDER_STATUSES, 'open'] as unknown as readonly [string, ...string[]]).optional(),
  side: ciEnum(SIDES).optional(),
  start_time: DateTime.optional(),
  end_time: DateTime.optional(),
  cursor: IdString.optional().meta({ description: 'next_cursor of the previous page' }),
  limit: Limit(500, 100),
}).superRefine(timeRange);

export const Order = z.object({
  id: z.string(), account_id: z.number(), symbol: z.string(), side: z.enum(SIDES), order_type: z.enum(ORDER_TYPES),
  status: z.enum(ORDER_STATUSES), quantity: z.string().nullable(), quote_quantity: z.string().nullable(), price: z.string().nullable(),
  stop_price: z.string().nullable(), time_in_force: z.enum(TIFS), filled_quantity: z.string(), remaining_quantity: z.string(),
  average_price: z.string().nullable().meta({ description: 'filled notional / filled quantity, rounded down to the tick' }),
  fee: z.string(), fee_asset: z.string(), client_order_id: z.string().nullable(), post_only: z.boolean(),
  reject_reason: z.string().nullable(), reject_code: z.number().nullable(), end_reason: z.string().nullable(),
  created_at: z.string().nullable(), updated_at: z.string().nullable(), expires_at: z.string().nullable(), engine_seq: z.number(),
  // What POST accepted beyond the above; null when not set (or not known: see the descriptions).
  display_quantity: z.string().nullable().meta({ description: 'iceberg: visible quantity; null when not set (or, for a binary-protocol order, not known until a restart; never from PostgreSQL history)' }),
  trail_offset: z.string().nullable().meta({ description: 'trailing types: distance as a price; null when given in basis points or not set' }),
  trail_offset_bps: z.number().nullable().meta({ description: 'trailing types: distance in basis points; null when given as a price or not set' }),
  limit_offset: z.string().nullable().meta({ description: 'trailing_stop_limit: limit distance from the stop, as a price' }),
  trigger_price_type: z.enum(TRIGGER_PRICE_TYPES).nullable().meta({ description: 'conditional types: the price that triggers them; null for limit and market' }),
  oco_order_id: z.string().nullable().meta({ description: 'the other leg of an OCO pair (on both legs)' }),
  parent_order_id: z.string().nullable().meta({ description: 'a bracket child: its entry order' }),
  stp_mode: z.enum(STP_MODES).nullable().meta({ description: 'self-trade prevention mode; null when not set (none)' }),
  stp_group: z.number().nullable().meta({ description: 'self-trade prevention group; null when not set' }),
});

export const HistorySource = z.enum(['memory', 'postgresql']).meta({
  description: 'memory: only what the gateway saw since it started; postgresql: also the replicated history (may trail the engine by the replication lag, usually under a second)',
});
export const Page = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), next_cursor: z.string().nullable() });
export const HistoryPage = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), next_cursor: z.string().nullable(), history_source: HistorySource });

export const TradeListQuery = z.strictObject({
  account_id: AccountIdQuery.optional(),
  symbol: Symbol.optional(),
  side: ciEnum(SIDES).optional(),
  order_id: IdString.optional(),
  start_time: DateTime.optional(),
  end_time: DateTime.optional(),
  cursor: z.string().regex(/^[1-9][0-9]{0,15}(-[1-9][0-9]{0,15}-[mt])?$/, 'next_cursor of the previous page').optional(),
  limit: Limit(500, 100),
}).superRefine(timeRange);
export const TradeIdParams = z.strictObject({ trade_id: z.string().regex(/^[1-9][0-9]{0,4}-[1-9][0-9]{0,15}$/, 'instrumentId-tradeId, e.g. "1-42"') });
export const Trade = z.object({
  id: z.string(), order_id: z.string(), account_id: z.number(), symbol: z.string(), side: z.enum(SIDES), quantity: z.string(),
  price: z.string(), notional: z.string(), fee: z.string(), fee_asset: z.string(), trade_type: z.enum(['maker', 'taker']),
  timestamp: z.string(), engine_seq: z.number(),
});
export const TradeSummaryQuery = z.strictObject({ account_id: AccountIdQuery.optional(), symbol: Symbol.optional(), start_time: DateTime.optional(), end_time: DateTime.optional() }).superRefine(timeRange);
export const TradeSummary = z.object({
  data: z.array(z.object({
    account_id: z.number(), symbol: z.string(), trade_count: z.number(), buy_quantity: z.string(), sell_quantity: z.string(),
    buy_notional: z.string(), sell_notional: z.string(), fees: z.string(), quote_asset: z.string(), maker_count: z.number(), taker_count: z.number(),
  })),
  since: z.string().nullable().meta({ description: 'trades before this time (gateway start) are not included; null with PostgreSQL history' }),
  history_source: HistorySource,
});

export const AccountQuery = z.strictObject({ account_id: AccountIdQuery.optional() });
export const Balance = z.object({ account_id: z.number(), asset: z.string(), available: z.string(), locked: z.string(), total: z.string() });
export const Position = z.object({
  account_id: z.number(), symbol: z.string(), quantity: SignedDecimal, average_price: z.string().nullable(), mark_price: z.string().nullable(),
  market_value: SignedDecimal.nullable(), unrealized_pnl: SignedDecimal.nullable(), realized_pnl: SignedDecimal, fees: z.string(),
  quote_asset: z.string(), cost_basis_known: z.boolean(), partial_history: z.boolean(),
});
export const Performance = z.object({
  data: z.array(z.object({ account_id: z.number(), quote_asset: z.string(), realized_pnl: SignedDecimal, unrealized_pnl: SignedDecimal.nullable(), fees: z.string(), net_pnl: SignedDecimal.nullable() })),
  method: z.string(), approximations: z.array(z.string()),
});
export const Portfolio = z.object({ balances: z.array(Balance), positions: z.array(Position), open_orders: z.number(), approximations: z.array(z.string()) });

export const SymbolQuery = z.strictObject({ symbol: Symbol.optional() });
export const SymbolRequired = z.strictObject({ symbol: Symbol });
export const SymbolInfo = z.object({
  symbol: z.string(), instrument_id: z.number(), base_asset: z.string(), quote_asset: z.string(), tick_size: z.string(), lot_size: z.string(),
  min_quantity: z.string(), max_quantity: z.string(), min_price: z.string(), max_price: z.string(), min_notional: z.string(),
  maker_fee_ppm: z.number(), taker_fee_ppm: z.number(), order_types: z.array(z.enum(ORDER_TYPES)),
});
export const Ticker = z.object({
  symbol: z.string(), bid_price: z.string().nullable(), bid_quantity: z.string().nullable(), ask_price: z.string().nullable(), ask_quantity: z.string().nullable(),
  last_price: z.string().nullable(), last_quantity: z.string().nullable(), volume: z.string(), quote_volume: z.string(), trade_count: z.number(),
  engine_seq: z.number(),
});
export const OrderBookQuery = z.strictObject({ symbol: Symbol, depth: Limit(1000, 20) });
export const OrderBookOut = z.object({ symbol: z.string(), engine_seq: z.number(), bids: z.array(z.tuple([z.string(), z.string(), z.number()])), asks: z.array(z.tuple([z.string(), z.string(), z.number()])) });
export const MarketTradesQuery = z.strictObject({ symbol: Symbol, limit: Limit(1000, 100) });
export const MarketTrade = z.object({ id: z.string(), price: z.string(), quantity: z.string(), taker_side: z.enum(SIDES), timestamp: z.string(), engine_seq: z.number() });
export const OhlcvQuery = z.strictObject({
  symbol: Symbol, interval: z.enum(['1m', '5m', '15m', '1h', '4h', '1d']), start_time: DateTime.optional(), end_time: DateTime.optional(), limit: Limit(1000, 500),
}).superRefine(timeRange);
export const Candle = z.object({ open_time: z.string(), open: z.string(), high: z.string(), low: z.string(), close: z.string(), volume: z.string(), quote_volume: z.string(), trade_count: z.number() });

export const RiskLimitsQuery = z.strictObject({ account_id: AccountIdQuery.optional(), symbol: Symbol.optional() });
export const RiskLimitsPut = z.strictObject({
  account_id: AccountId.optional(),
  symbol: Symbol,
  max_position: Decimal.meta({ description: 'max absolute position (base quantity); "0" = the instrument default' }),
  max_open_orders: z.number().int().min(0).max(1_000_000_000).meta({ description: '0 = the instrument default' }),
});
export const RiskLimit = z.object({
  account_id: z.number(), symbol: z.string(), max_position: z.string().nullable(), max_open_orders: z.number().nullable(),
  max_position_source: z.enum(['account', 'instrument', 'none']), max_open_orders_source: z.enum(['account', 'instrument', 'none']), kill_switch: z.boolean(),
});
export const RiskMetric = z.object({
  account_id: z.number(), symbol: z.string(), position: SignedDecimal, open_orders: z.number(), open_buy_quantity: z.string(), open_sell_quantity: z.string(),
  position_limit_used: z.number().nullable().meta({ description: '(|position| + open quantity on the worse side) / max position; null without a limit' }),
  open_orders_limit_used: z.number().nullable(),
});
export const RiskAlert = z.object({ account_id: z.number(), symbol: z.string(), kind: z.string(), detail: z.string(), timestamp: z.string(), engine_seq: z.number() });

export const StrategyIdParams = z.strictObject({ strategy_id: IdString });
export const StrategyBody = z.strictObject({
  name: z.string().min(1).max(100), strategy_type: z.string().regex(/^[a-z0-9_]{1,50}$/), config: z.record(z.string(), z.unknown()).default({}),
});
export const StrategyUpdate = z.strictObject({ name: z.string().min(1).max(100).optional(), config: z.record(z.string(), z.unknown()).optional() });

export const LoginBody = z.strictObject({ email: z.string().min(3).max(254), password: z.string().min(1).max(1024) });
export const RefreshBody = z.strictObject({ refresh_token: z.string().min(1).max(128) });
export const TokenPair = z.object({
  access_token: z.string(), token_type: z.literal('Bearer'), expires_at: z.string(), refresh_token: z.string(), refresh_expires_at: z.string(), user_id: z.number(),
});

export const Problem = z.object({
  type: z.string(), title: z.string(), status: z.number(), detail: z.string(), code: z.string(), instance: z.string().optional(),
  reason_code: z.number().optional(),
  errors: z.array(z.object({
    path: z.string(), message: z.string(), code: z.string(),
    reason_code: z.number().optional().meta({ description: 'the binary protocol\'s reject reason, when the error is one (code is then its slug)' }),
  })).optional(),
}).meta({ id: 'Problem', description: 'RFC 9457 problem details' });

/** ISO date-time -> microseconds since the epoch (ms precision). */
export function toUs(iso: string | undefined): number | undefined {
  return iso === undefined ? undefined : Date.parse(iso) * 1000;
}

let isoMs = -1;
let isoText = '';

export function isoOfUs(us: number): string | null {
  if (us <= 0) return null;
  // An order's timestamps are mostly the same millisecond, and so are those of one burst: the last is kept.
  const ms = Math.floor(us / 1000);
  if (ms !== isoMs) { isoText = new Date(ms).toISOString(); isoMs = ms; }
  return isoText;
}
