// RFC 9457 problem details for the REST shim. Every problem has a stable `type` URI per reason:
// the engine's reject reasons (core/types.ts RejectReason, the binary protocol's codes) keep their
// number as `reason_code` and a snake_case slug in the type; the REST layer's own reasons (validation,
// authentication, rate limits, ...) have slugs of their own. Bodies never carry a stack trace.
//
// Every code the shim can answer with is registered here (ProblemCode): the REST layer's own
// (REST_PROBLEMS), the identity module's (auth/errors.ts AUTH_FAILURE_CODES, auth/permissions.ts
// AUTHZ_DENIALS) and the engine's (REJECT_SLUGS). `problem()` takes only a registered code when it is
// given a literal (tsc refuses a new one until it is added to REST_PROBLEMS), and /openapi.json's
// components.x-problem-types is PROBLEM_TYPES, built from the same lists (problem-types.test.ts also
// scans the sources for codes given to problem() and authFailure()).

import { AUTH_FAILURE_CODES, authFailureStatus, type AuthFailureCode } from '../auth/errors.js';
import { AUTHZ_DENIALS, type AuthzDenial } from '../auth/permissions.js';

export const PROBLEM_BASE = 'urn:trading-engine:problem:';

const REJECT_SLUG_TABLE = {
  1: 'unknown_command', 2: 'invalid_side', 3: 'invalid_order_type', 4: 'invalid_time_in_force', 5: 'invalid_price',
  6: 'invalid_quantity', 7: 'invalid_stp_mode', 8: 'invalid_flags', 9: 'invalid_expire_time', 10: 'price_not_on_tick',
  11: 'quantity_below_min', 12: 'quantity_above_max', 13: 'notional_below_min', 14: 'notional_above_max',
  15: 'price_outside_band', 16: 'too_many_open_orders', 17: 'position_limit_exceeded', 18: 'symbol_halted',
  19: 'symbol_cancel_only', 20: 'account_killed', 21: 'duplicate_client_order_id', 22: 'post_only_would_take',
  23: 'unknown_order', 25: 'book_full', 26: 'no_reference_price', 27: 'gtd_already_expired', 28: 'replace_no_change',
  29: 'unknown_symbol', 30: 'invalid_account', 31: 'invalid_client_order_id', 32: 'arithmetic_overflow',
  33: 'invalid_value', 34: 'stop_would_trigger', 35: 'invalid_stop_price', 36: 'invalid_display_qty', 37: 'invalid_link',
  38: 'invalid_trail_offset', 64: 'busy', 65: 'insufficient_balance', 66: 'not_permitted',
} as const;

/** RejectReason code -> slug (names of core/types.ts RejectReason, snake_case). */
export const REJECT_SLUGS: Readonly<Record<number, string>> = REJECT_SLUG_TABLE;
export type RejectSlug = typeof REJECT_SLUG_TABLE[keyof typeof REJECT_SLUG_TABLE];

/** RejectReason.UnknownOrder: on a cancel or replace of an order the shim holds, the order is already done. */
const UNKNOWN_ORDER = 23;

/**
 * The REST layer's own problem codes: HTTP status and what it means (the OpenAPI document lists them).
 * A new code goes here first; problem() with an unregistered literal does not compile.
 */
export const REST_PROBLEMS = {
  validation_error: [400, 'the body, query or path is not valid; `errors` names each field'],
  malformed_json: [400, 'the body is not valid JSON'],
  unsupported_media_type: [415, 'a body must be application/json'],
  payload_too_large: [413, 'the body is larger than the gateway accepts'],
  not_found: [404, 'no such route'],
  method_not_allowed: [405, 'the route exists but not with this method (see the Allow header)'],
  rate_limited: [429, 'too many requests (per IP, per credential or logins); see Retry-After'],
  unavailable: [503, 'the engine is not accepting commands (recovering, closing or failed)'],
  not_yet_available: [501, 'the feature is not available on this gateway'],
  idempotency_conflict: [409, 'client_order_id was used for a different order'],
  internal_error: [500, 'a bug; the request id identifies it in the logs'],
  timeout: [504, 'the command was sequenced but not acknowledged in time; query it again'],
  invalid_cursor: [400, 'the cursor is not one this server issued'],
  order_not_found: [404, 'no such order for this credential (or another account\'s)'],
  order_already_done: [409, 'the order exists but is already final (filled, canceled, expired or rejected): nothing to cancel or replace'],
  trade_not_found: [404, 'no such trade for this credential'],
  audit_unavailable: [503, 'the audit trail cannot be written: state-changing requests are refused'],
  history_unavailable: [503, 'the PostgreSQL history is unavailable; retry'],
  candles_unavailable: [503, 'the candle store is being caught up or cannot be written; retry'],
} as const satisfies Record<string, readonly [number, string]>;

export type RestProblemCode = keyof typeof REST_PROBLEMS;
/** Every `code` (and `type` suffix) a REST problem can have. */
export type ProblemCode = RestProblemCode | AuthFailureCode | AuthzDenial | RejectSlug;

export interface ProblemType {
  type: string;
  code: string;
  /** The status it is answered with; absent where it depends on the case (authorization denials). */
  status?: number;
  /** The binary protocol's RejectReason, for the engine's rejects. */
  reason_code?: number;
  description?: string;
}

/** components.x-problem-types of /openapi.json: every code the REST shim can answer with, once. */
export function problemTypes(): ProblemType[] {
  const out = new Map<string, ProblemType>();
  const add = (t: Omit<ProblemType, 'type'>): void => { if (!out.has(t.code)) out.set(t.code, { type: PROBLEM_BASE + t.code, ...t }); };
  for (const [code, [status, description]] of Object.entries(REST_PROBLEMS)) add({ code, status, description });
  for (const code of AUTH_FAILURE_CODES) add({ code, status: authFailureStatus(code), description: 'authentication (gateway/auth)' });
  for (const code of AUTHZ_DENIALS) add({ code, description: 'authorization (gateway/auth/permissions.ts)' });
  for (const [n, code] of Object.entries(REJECT_SLUG_TABLE)) {
    const reason = Number(n);
    if (reason === UNKNOWN_ORDER) continue; // answered as order_already_done (rejectProblem)
    add({ code, status: rejectStatus(reason), reason_code: reason, description: 'engine reject (core/types.ts RejectReason)' });
  }
  return [...out.values()];
}

/** HTTP status for an engine reject. */
export function rejectStatus(reason: number): number {
  if (reason === UNKNOWN_ORDER) return 409; // see rejectProblem
  if (reason === 64) return 503;
  if (reason === 66) return 403;
  if (reason === 21) return 409;
  return 422;
}

export interface FieldError {
  /** Dotted path into the body or query, e.g. "price" or "query.limit". */
  path: string;
  message: string;
  code: string;
  /** The binary protocol's RejectReason when the error is one (code is then its slug). */
  reason_code?: number;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  reason_code?: number;
  errors?: FieldError[];
  [extra: string]: unknown;
}

/** A problem to answer with: thrown by handlers, caught by the router. */
export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }

  body(instance?: string): ProblemBody {
    // Extras never override the standard members.
    return {
      ...this.extra, type: PROBLEM_BASE + this.code, title: this.code.replace(/_/g, ' '), status: this.status, detail: this.message,
      code: this.code, ...(instance !== undefined ? { instance } : {}),
    };
  }
}

/**
 * A problem with a registered code. A literal code must be a ProblemCode (tsc says so); a value typed
 * only as `string` passes (the identity module's results, whose codes are typed where they are made).
 */
export function problem<C extends string>(status: number, code: string extends C ? C : C extends ProblemCode ? C : ProblemCode, detail: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): ProblemError {
  return new ProblemError(status, code, detail, extra, headers);
}

/**
 * The engine rejected (or refused before sequencing) with RejectReason `reason`.
 * UnknownOrder (23) is answered as 409 `order_already_done` (reason_code 23): the shim only sends a
 * cancel or replace for an order it holds (a missing one is 404 `order_not_found` before that), so
 * the engine not knowing it means it has ended in the meantime (filled, canceled, expired).
 */
export function rejectProblem(reason: number, detail?: string, extra: Record<string, unknown> = {}): ProblemError {
  const slug = reason === UNKNOWN_ORDER ? 'order_already_done' : REJECT_SLUGS[reason] ?? `reject_${reason}`;
  const headers: Record<string, string> = reason === 64 ? { 'retry-after': '1' } : {};
  return new ProblemError(rejectStatus(reason), slug, detail ?? `rejected: ${slug.replace(/_/g, ' ')}`, { reason_code: reason, ...extra }, headers);
}

export function validationProblem(errors: FieldError[], detail = 'the request is not valid'): ProblemError {
  return new ProblemError(400, 'validation_error', detail, { errors });
}

/** Every REST-layer code (without the identity module's and the engine's). */
export const REST_CODES = Object.keys(REST_PROBLEMS) as RestProblemCode[];

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 413: 'Content Too Large', 415: 'Unsupported Media Type',
  422: 'Unprocessable Content', 429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};
