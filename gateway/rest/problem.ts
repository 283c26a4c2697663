// RFC 9457 problem details for the REST shim. Every problem has a stable `type` URI per reason:
// the engine's reject reasons (core/types.ts RejectReason, the binary protocol's codes) keep their
// number as `reason_code` and a snake_case slug in the type; the REST layer's own reasons (validation,
// authentication, rate limits, ...) have slugs of their own. Bodies never carry a stack trace.

export const PROBLEM_BASE = 'urn:trading-engine:problem:';

/** RejectReason code -> slug (names of core/types.ts RejectReason, snake_case). */
export const REJECT_SLUGS: Readonly<Record<number, string>> = {
  1: 'unknown_command', 2: 'invalid_side', 3: 'invalid_order_type', 4: 'invalid_time_in_force', 5: 'invalid_price',
  6: 'invalid_quantity', 7: 'invalid_stp_mode', 8: 'invalid_flags', 9: 'invalid_expire_time', 10: 'price_not_on_tick',
  11: 'quantity_below_min', 12: 'quantity_above_max', 13: 'notional_below_min', 14: 'notional_above_max',
  15: 'price_outside_band', 16: 'too_many_open_orders', 17: 'position_limit_exceeded', 18: 'symbol_halted',
  19: 'symbol_cancel_only', 20: 'account_killed', 21: 'duplicate_client_order_id', 22: 'post_only_would_take',
  23: 'unknown_order', 25: 'book_full', 26: 'no_reference_price', 27: 'gtd_already_expired', 28: 'replace_no_change',
  29: 'unknown_symbol', 30: 'invalid_account', 31: 'invalid_client_order_id', 32: 'arithmetic_overflow',
  33: 'invalid_value', 34: 'stop_would_trigger', 35: 'invalid_stop_price', 36: 'invalid_display_qty', 37: 'invalid_link',
  38: 'invalid_trail_offset', 64: 'busy', 65: 'insufficient_balance', 66: 'not_permitted',
};

/** HTTP status for an engine reject. */
export function rejectStatus(reason: number): number {
  if (reason === 23) return 404; // unknown order: not found (also another account's)
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

export function problem(status: number, code: string, detail: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): ProblemError {
  return new ProblemError(status, code, detail, extra, headers);
}

/** The engine rejected (or refused before sequencing) with RejectReason `reason`. */
export function rejectProblem(reason: number, detail?: string, extra: Record<string, unknown> = {}): ProblemError {
  const slug = REJECT_SLUGS[reason] ?? `reject_${reason}`;
  const headers: Record<string, string> = reason === 64 ? { 'retry-after': '1' } : {};
  return new ProblemError(rejectStatus(reason), slug, detail ?? `rejected: ${slug.replace(/_/g, ' ')}`, { reason_code: reason, ...extra }, headers);
}

export function validationProblem(errors: FieldError[], detail = 'the request is not valid'): ProblemError {
  return new ProblemError(400, 'validation_error', detail, { errors });
}

/** Every REST-layer code (without the engine's), for the OpenAPI document and tests. */
export const REST_CODES = [
  'validation_error', 'malformed_json', 'unsupported_media_type', 'payload_too_large', 'not_found', 'method_not_allowed',
  'rate_limited', 'missing_credentials', 'unavailable', 'not_yet_available', 'idempotency_conflict', 'internal_error',
  'role_missing', 'scope_missing', 'account_required', 'account_not_found', 'account_not_applicable', 'timeout',
] as const;

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 413: 'Content Too Large', 415: 'Unsupported Media Type',
  422: 'Unprocessable Content', 429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};
