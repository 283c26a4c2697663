// Authentication at the WebSocket upgrade, and the per-connection session state.
//
// The gateway asks an `Authenticator` once per upgrade: it gets the request (path, raw query,
// lower-case headers) and answers a principal (who, which accounts, which permissions) or a typed
// refusal with an HTTP status. Nothing is authenticated per message afterwards: one session = one
// principal for the life of the socket (closed when the credential expires).
//
// Implementations here:
// - `CredentialAuthenticator`: the identity module's verifiers (gateway/auth): API-key HMAC
//   signatures of the upgrade (X-TE-APIKEY / -TIMESTAMP / -NONCE / -SIGNATURE headers, see
//   gateway/auth/signing.ts) and, when configured, bearer access tokens (Authorization header, or an
//   `access_token` query parameter for browsers, which cannot set headers on a WebSocket).
// - `StaticTokenAuthenticator`: a fixed token -> principal table (development and tests).

import type { WebSocket } from 'uWebSockets.js';
import { bearerToken } from './auth/access-token.js';
import { permissionsOf, type Principal } from './auth/permissions.js';
import { hasSignatureHeaders, type SignatureResult, type SignedUpgrade } from './auth/signing.js';

/** What the gateway knows about the caller after the upgrade. */
export interface GatewayPrincipal {
  readonly userId: number;
  /** Accounts this credential may act for. */
  readonly accounts: ReadonlySet<number>;
  /** Permission names (gateway/auth/permissions.ts), e.g. 'order.place', 'order.cancel', 'account.read'. */
  readonly permissions: ReadonlySet<string>;
  /** API key id or token id (logs, audit). */
  readonly credentialId: string;
  /** When the credential stops being valid (ms since epoch); the session is closed then. null = never. */
  readonly expiresAtMs: number | null;
}

export type RefusalCode =
  | 'missing_credentials' | 'malformed_credentials' | 'invalid_credentials' | 'expired_credentials'
  | 'replayed' | 'forbidden' | 'account_required' | 'account_not_found' | 'unavailable' | string;

/** A refused upgrade: answered with `status` and an RFC 9457 problem body carrying `code`. */
export interface AuthRefusal {
  readonly ok: false;
  readonly status: 400 | 401 | 403 | 404 | 503;
  readonly code: RefusalCode;
  readonly message: string;
}

export type AuthOutcome = { readonly ok: true; readonly principal: GatewayPrincipal } | AuthRefusal;

export interface UpgradeRequest {
  /** Path without the query, e.g. "/ws/orders". */
  readonly path: string;
  /** Raw query string without "?" ("" when none). */
  readonly query: string;
  /** Lower-case header names. */
  readonly headers: ReadonlyMap<string, string>;
}

export interface Authenticator {
  /** `nowMs`: wall clock in ms (the gateway passes Date.now()). May be async. */
  authenticate(req: UpgradeRequest, nowMs: number): AuthOutcome | Promise<AuthOutcome>;
}

export function refusal(status: AuthRefusal['status'], code: RefusalCode, message: string): AuthRefusal {
  return { ok: false, status, code, message };
}

/** Value of one query parameter (first occurrence), or undefined. */
export function queryParam(query: string, name: string): string | undefined {
  if (query === '') return undefined;
  return new URLSearchParams(query).get(name) ?? undefined;
}

/** The upgrade's request target exactly as sent: path, plus "?query" when there is one. */
export function pathWithQuery(req: UpgradeRequest): string {
  return req.query === '' ? req.path : `${req.path}?${req.query}`;
}

/** Converts the identity module's principal. */
export function fromAuthPrincipal(p: Principal, expiresAtMs: number | null): GatewayPrincipal {
  // permissionsOf ignores accounts: account-scoped ones hold for exactly the accounts in p.accountIds.
  return { userId: p.userId, accounts: p.accountIds, permissions: new Set<string>(permissionsOf(p)), credentialId: p.credentialId, expiresAtMs };
}

/** The part of gateway/auth's SignatureVerifier used here. */
export interface UpgradeSignatureVerifier {
  /** A promise when the nonce check is shared (Redis). */
  verifyUpgrade(req: SignedUpgrade, nowMs: number): SignatureResult | Promise<SignatureResult>;
}

/** The part of gateway/auth's AccessTokens used here. */
export interface AccessTokenVerifier {
  verify(token: string, nowMs: number): Promise<{ ok: true; principal: Principal; expiresAtMs: number } | { ok: false; code: string; message: string; httpStatus: number }>;
}

function statusOf(httpStatus: number): AuthRefusal['status'] {
  return httpStatus === 403 ? 403 : httpStatus === 503 ? 503 : 401;
}

/**
 * API-key signatures (headers) first; else a bearer access token (Authorization header or the
 * `access_token` query parameter) when a token verifier is given; else `missing_credentials`.
 * Failure codes are the identity module's (bad_signature, stale_timestamp, key_expired,
 * replayed_nonce, token_expired, ...), with its HTTP status.
 */
export class CredentialAuthenticator implements Authenticator {
  constructor(private readonly o: { signatures?: UpgradeSignatureVerifier; accessTokens?: AccessTokenVerifier }) {}

  authenticate(req: UpgradeRequest, nowMs: number): AuthOutcome | Promise<AuthOutcome> {
    const headers = req.headers;
    if (this.o.signatures !== undefined && hasSignatureHeaders(headers)) {
      // The signature covers the target; the query may carry gateway options (account, ...).
      const v = this.o.signatures.verifyUpgrade({ pathWithQuery: pathWithQuery(req), headers }, nowMs);
      const outcome = (r: SignatureResult): AuthOutcome => (r.ok ? { ok: true, principal: fromAuthPrincipal(r.principal, r.key.expiresAtMs) } : refusal(statusOf(r.httpStatus), r.code, r.message));
      return v instanceof Promise ? v.then(outcome) : outcome(v);
    }
    if (this.o.accessTokens !== undefined) {
      const token = bearerToken(headers.get('authorization')) ?? queryParam(req.query, 'access_token');
      if (token !== undefined) {
        return this.o.accessTokens.verify(token, nowMs).then((r): AuthOutcome => r.ok
          ? { ok: true, principal: fromAuthPrincipal(r.principal, r.expiresAtMs) }
          : refusal(statusOf(r.httpStatus), r.code, r.message));
      }
    }
    return refusal(401, 'missing_credentials', 'no credentials: sign the upgrade with an API key (X-TE-* headers) or send a bearer token');
  }
}

/** Fixed bearer tokens (Authorization: Bearer <token> or ?access_token=<token>). Development and tests. */
export class StaticTokenAuthenticator implements Authenticator {
  constructor(private readonly tokens: ReadonlyMap<string, GatewayPrincipal>) {}

  authenticate(req: UpgradeRequest, nowMs: number): AuthOutcome {
    const token = bearerToken(req.headers.get('authorization')) ?? queryParam(req.query, 'access_token');
    if (token === undefined) return refusal(401, 'missing_credentials', 'no bearer token');
    const p = this.tokens.get(token);
    if (p === undefined) return refusal(401, 'invalid_credentials', 'unknown token');
    if (p.expiresAtMs !== null && p.expiresAtMs <= nowMs) return refusal(401, 'expired_credentials', 'token expired');
    return { ok: true, principal: p };
  }
}

/** Lets anonymous connections through (market data only); credentials, when given, must be valid. */
export class OptionalAuthenticator implements Authenticator {
  constructor(private readonly inner: Authenticator) {}
  authenticate(req: UpgradeRequest, nowMs: number): AuthOutcome | Promise<AuthOutcome> {
    const h = req.headers;
    const given = hasSignatureHeaders(h) || h.has('authorization') || queryParam(req.query, 'access_token') !== undefined;
    if (!given) return { ok: true, principal: ANONYMOUS };
    return this.inner.authenticate(req, nowMs);
  }
}

export const ANONYMOUS: GatewayPrincipal = Object.freeze({
  userId: 0, accounts: new Set<number>(), permissions: new Set<string>(), credentialId: 'anonymous', expiresAtMs: null,
});

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

export const enum SessionKind {
  Orders = 1,
  Stream = 2,
}

/** WebSocket close codes the gateway uses (4000-4999: application codes). */
export const enum CloseCode {
  Normal = 1000,
  GoingAway = 1001,
  /** A text frame on the binary order socket. */
  UnsupportedData = 1003,
  InternalError = 1011,
  CredentialExpired = 4001,
  MalformedFlood = 4002,
  SlowConsumer = 4008,
  EngineFailed = 4011,
}

let nextSessionId = 1;

/** Per-socket state; the uWS socket's user data is `{ session }`. */
export class Session {
  readonly id = nextSessionId++;
  ws: WebSocket<SessionData> | null = null;
  closed = false;
  /** Seq of the last command this session got sequenced (gateway rejects wait for its ack). */
  lastSubmittedSeq = 0;
  /** Malformed frames in the current window. */
  malformed = 0;
  malformedWindowStartMs = 0;
  /** Unsent report bytes (order sessions), flushed once per event-loop turn. */
  out: Uint8Array = new Uint8Array(0);
  outLength = 0;
  lastSendMs = 0;
  expiryTimer: NodeJS.Timeout | null = null;
  /** Stream sessions: subscribed channels (topic -> kind), and topics waiting for a resync. */
  readonly topics = new Map<string, StreamSub>();
  readonly resync = new Set<string>();

  constructor(
    readonly kind: SessionKind,
    readonly principal: GatewayPrincipal,
    /** Orders sessions: the account every order is stamped with. Stream sessions: 0. */
    readonly account: number,
    readonly cancelOnDisconnect: boolean,
  ) {}

  can(permission: string): boolean {
    return this.principal.permissions.has(permission);
  }

  /** Appends bytes to the outbox (grows by doubling). */
  append(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (this.outLength + n > this.out.length) {
      let cap = Math.max(4096, this.out.length * 2);
      while (cap < this.outLength + n) cap *= 2;
      const grown = new Uint8Array(cap);
      grown.set(this.out.subarray(0, this.outLength));
      this.out = grown;
    }
    this.out.set(src.subarray(from, to), this.outLength);
    this.outLength += n;
  }
}

export interface StreamSub {
  readonly channel: string;
  readonly instrumentId: number;
  readonly account: number;
}

export interface SessionData {
  session: Session;
}
