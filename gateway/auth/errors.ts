// Typed errors for the identity modules.
//
// Expected outcomes of a request (a wrong password, a stale signature) are returned as values
// (`AuthFailure`), never thrown: the gateway maps them to a status code and an RFC 9457 body.
// `AuthError` is thrown only for bad operator or programmer input (an invalid e-mail given to
// createUser, an unknown role), where the caller made a mistake it must fix.

export type AuthFailureCode =
  // credentials
  | 'missing_credentials'
  | 'malformed_credentials'
  | 'invalid_credentials'
  | 'user_disabled'
  // access tokens
  | 'token_invalid'
  | 'token_expired'
  | 'token_revoked'
  // refresh tokens
  | 'refresh_invalid'
  | 'refresh_expired'
  | 'refresh_reused'
  // request signatures
  | 'stale_timestamp'
  | 'unknown_key'
  | 'key_revoked'
  | 'key_expired'
  | 'bad_signature'
  | 'replayed_nonce'
  | 'replay_cache_full';

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
};

export function authFailure(code: AuthFailureCode, message: string): AuthFailure {
  return { ok: false, code, httpStatus: STATUS[code] ?? 401, message };
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
