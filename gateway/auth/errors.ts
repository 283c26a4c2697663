// Typed errors for the identity modules.
//
// Expected outcomes of a request (a wrong password, a stale signature) are returned as values
// (`AuthFailure`), never thrown: the gateway maps them to a status code and an RFC 9457 body.
// `AuthError` is thrown only for bad operator or programmer input (an invalid e-mail given to
// createUser, an unknown role), where the caller made a mistake it must fix.

/** Every code an AuthFailure may carry (the REST shim's problem types include them all: rest/problem.ts). */
export const AUTH_FAILURE_CODES = [
  // credentials
  'missing_credentials',
  'malformed_credentials',
  'invalid_credentials',
  'user_disabled',
  // access tokens
  'token_invalid',
  'token_expired',
  'token_revoked',
  // refresh tokens
  'refresh_invalid',
  'refresh_expired',
  /** A rotated (already used) refresh token presented again: the whole family is revoked. */
  'refresh_reused',
  /** A refresh token whose session was ended (logout, user disabled, all sessions revoked). */
  'refresh_revoked',
  // request signatures
  'stale_timestamp',
  'unknown_key',
  'key_revoked',
  'key_expired',
  'bad_signature',
  'replayed_nonce',
  'replay_cache_full',
  /** The shared nonce store (Redis) is configured but did not answer: fail closed. */
  'replay_unavailable',
] as const;

export type AuthFailureCode = typeof AUTH_FAILURE_CODES[number];

export interface AuthFailure {
  readonly ok: false;
  readonly code: AuthFailureCode;
  /** 401 (authenticate again), 403 (known but not allowed) or 503 (try again later). */
  readonly httpStatus: 401 | 403 | 503;
  readonly message: string;
}

const STATUS: Partial<Record<AuthFailureCode, 403 | 503>> = {
  user_disabled: 403,
  replay_cache_full: 503,
  replay_unavailable: 503,
};

/** The HTTP status an AuthFailure with `code` is answered with. */
export function authFailureStatus(code: AuthFailureCode): 401 | 403 | 503 {
  return STATUS[code] ?? 401;
}

export function authFailure(code: AuthFailureCode, message: string): AuthFailure {
  return { ok: false, code, httpStatus: authFailureStatus(code), message };
}

export type AuthErrorCode =
  | 'invalid_email'
  | 'invalid_password'
  | 'invalid_role'
  | 'invalid_scope'
  | 'invalid_account'
  | 'invalid_argument'
  | 'duplicate'
  | 'not_found'
  | 'weak_key';

export class AuthError extends Error {
  override readonly name = 'AuthError';
  constructor(readonly code: AuthErrorCode, message: string) {
    super(message);
  }
}
