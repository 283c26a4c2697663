// Request signing for API keys: HMAC-SHA256 with the key's secret, in the style of the large
// exchanges, plus a nonce so a captured request cannot be replayed even inside the receive window.
//
// REST request headers:
//   X-TE-APIKEY     the key id ("ak_" + 24 hex digits)
//   X-TE-TIMESTAMP  client time, milliseconds since the Unix epoch, decimal, no sign or leading zeros
//   X-TE-NONCE      16 to 64 characters of [A-Za-z0-9_-], unique per key within the window
//   X-TE-SIGNATURE  lower-case hex of HMAC-SHA256(key = UTF-8 bytes of the secret, message = canonical)
//
// Canonical message for a REST request (fields joined by a single LF, 0x0A):
//   "TE1-HMAC-SHA256" LF timestamp LF nonce LF METHOD LF path-with-query LF body
// METHOD is upper-case; path-with-query is exactly the request target as sent (percent-encoding and
// parameter order untouched, "?" and the query included when present); body is the raw body bytes
// (empty for none). No field but the body may contain LF, so the split is unambiguous.
//
// Canonical message for a WebSocket upgrade (same headers on the upgrade request):
//   "TE1-WS-HMAC-SHA256" LF timestamp LF nonce LF path-with-query
// The distinct first line keeps a REST signature from being usable as an upgrade signature.
//
// Checks, in order: headers well-formed; |now - timestamp| <= window; key known, not revoked, not
// expired, user active; signature equal (crypto.timingSafeEqual on the 32 digest bytes); nonce not
// seen (recorded only after the signature is valid, so nobody can poison the cache). The nonce check
// is this process's ReplayCache (synchronous answers), or with Redis the shared RedisReplayGuard
// (answers are then promises; Redis not answering refuses with 503 replay_unavailable).

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ApiKeyMaterial, ApiKeyStore } from './api-keys.js';
import { authFailure, type AuthFailure } from './errors.js';
import { getHeader, type HeaderSource } from './headers.js';
import type { ApiKeyScope, Principal, Role } from './permissions.js';
import type { ReplayGuard, ReplayVerdict, SyncReplayGuard } from './replay-cache.js';
import type { IdentityStore } from './users.js';

export const HEADER_KEY = 'x-te-apikey';
export const HEADER_TIMESTAMP = 'x-te-timestamp';
export const HEADER_NONCE = 'x-te-nonce';
export const HEADER_SIGNATURE = 'x-te-signature';

export const REST_PREFIX = 'TE1-HMAC-SHA256';
export const WS_PREFIX = 'TE1-WS-HMAC-SHA256';
export const DEFAULT_RECEIVE_WINDOW_MS = 5000;

const TIMESTAMP = /^[1-9][0-9]{0,15}$/;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const SIGNATURE = /^[0-9a-f]{64}$/;
const METHOD = /^[A-Z]{1,16}$/;
// A request target: starts with "/", printable ASCII without space (RFC 9112 request-target).
const TARGET = /^\/[\x21-\x7e]*$/;

export interface SignedRequest {
  /** Any case (uWS's getMethod() is lower-case). */
  readonly method: string;
  /** The request target as received: path plus "?query" when there is one (see requestTarget). */
  readonly pathWithQuery: string;
  readonly headers: HeaderSource;
  /** The raw body (uWS hands out ArrayBuffer chunks: concatenate them first). */
  readonly body: Uint8Array | ArrayBuffer;
}

/** uWS gives the path (getUrl) and the query without "?" (getQuery) apart: this joins them back. */
export function requestTarget(path: string, query: string | undefined): string {
  return query ? `${path}?${query}` : path;
}

export interface SignedUpgrade {
  readonly pathWithQuery: string;
  readonly headers: HeaderSource;
}

export interface SignatureFields {
  readonly timestampMs: number;
  readonly nonce: string;
}

export type VerifiedRequest = { readonly ok: true; readonly principal: Principal; readonly key: ApiKeyMaterial };
export type SignatureResult = VerifiedRequest | (AuthFailure & { readonly serverTimeMs?: number });

/** The canonical REST message as bytes. */
export function restCanonical(timestampMs: number, nonce: string, method: string, pathWithQuery: string, body: Uint8Array | ArrayBuffer): Buffer {
  const head = `${REST_PREFIX}\n${timestampMs}\n${nonce}\n${method.toUpperCase()}\n${pathWithQuery}\n`;
  return Buffer.concat([Buffer.from(head, 'utf8'), body instanceof ArrayBuffer ? new Uint8Array(body) : body]);
}

export function wsCanonical(timestampMs: number, nonce: string, pathWithQuery: string): Buffer {
  return Buffer.from(`${WS_PREFIX}\n${timestampMs}\n${nonce}\n${pathWithQuery}`, 'utf8');
}

export function hmacHex(secret: string | Uint8Array, message: Uint8Array): string {
  return createHmac('sha256', secret).update(message).digest('hex');
}

/** Client side: the four headers for a REST request (used by tests, the CLI and client libraries). */
export function signRequest(keyId: string, secret: string, req: Omit<SignedRequest, 'headers'>, f: SignatureFields): Record<string, string> {
  const sig = hmacHex(secret, restCanonical(f.timestampMs, f.nonce, req.method, req.pathWithQuery, req.body));
  return { [HEADER_KEY]: keyId, [HEADER_TIMESTAMP]: String(f.timestampMs), [HEADER_NONCE]: f.nonce, [HEADER_SIGNATURE]: sig };
}

export function signUpgrade(keyId: string, secret: string, pathWithQuery: string, f: SignatureFields): Record<string, string> {
  const sig = hmacHex(secret, wsCanonical(f.timestampMs, f.nonce, pathWithQuery));
  return { [HEADER_KEY]: keyId, [HEADER_TIMESTAMP]: String(f.timestampMs), [HEADER_NONCE]: f.nonce, [HEADER_SIGNATURE]: sig };
}

export interface VerifierOptions<G extends ReplayGuard = ReplayGuard> {
  readonly keys: ApiKeyStore;
  readonly store: IdentityStore;
  /** ReplayCache (this process; answers synchronously) or RedisReplayGuard (shared; answers with a promise). */
  readonly replay: G;
  /** Accepted |now - timestamp|; default 5000 ms. */
  readonly receiveWindowMs?: number;
  /** How long a key (with its user's roles and accounts) is cached; default 5000 ms, 0 = no cache. */
  readonly cacheTtlMs?: number;
}

interface CachedKey {
  readonly material: ApiKeyMaterial;
  readonly principal: Principal | null; // null: user disabled
  readonly loadedAtMs: number;
}

interface ParsedAuth {
  readonly keyId: string;
  readonly timestampMs: number;
  readonly nonce: string;
  readonly signature: Buffer;
}

/** What the verifier answers with: at once with a synchronous replay guard, else possibly a promise. */
export type VerifierResult<G extends ReplayGuard> = G extends SyncReplayGuard ? SignatureResult : SignatureResult | Promise<SignatureResult>;

export class SignatureVerifier<G extends ReplayGuard = ReplayGuard> {
  readonly receiveWindowMs: number;
  private readonly cacheTtlMs: number;
  private readonly cache = new Map<string, CachedKey>();

  constructor(private readonly opts: VerifierOptions<G>) {
    this.receiveWindowMs = opts.receiveWindowMs ?? DEFAULT_RECEIVE_WINDOW_MS;
    this.cacheTtlMs = opts.cacheTtlMs ?? 5000;
    if (!(this.receiveWindowMs > 0)) throw new RangeError('receive window must be positive');
  }

  verifyRequest(req: SignedRequest, nowMs: number): VerifierResult<G> {
    const method = typeof req.method === 'string' ? req.method.toUpperCase() : '';
    if (!METHOD.test(method) || !TARGET.test(req.pathWithQuery)) return authFailure('malformed_credentials', 'bad method or request target') as VerifierResult<G>;
    return this.verify(req.headers, nowMs, (a) => restCanonical(a.timestampMs, a.nonce, method, req.pathWithQuery, req.body)) as VerifierResult<G>;
  }

  verifyUpgrade(req: SignedUpgrade, nowMs: number): VerifierResult<G> {
    if (!TARGET.test(req.pathWithQuery)) return authFailure('malformed_credentials', 'bad request target') as VerifierResult<G>;
    return this.verify(req.headers, nowMs, (a) => wsCanonical(a.timestampMs, a.nonce, req.pathWithQuery)) as VerifierResult<G>;
  }

  /** Drops a cached key at once (after a revocation in this process). */
  invalidate(keyId?: string): void {
    if (keyId === undefined) this.cache.clear();
    else this.cache.delete(keyId);
  }

  private verify(headers: HeaderSource, nowMs: number, canonical: (a: ParsedAuth) => Buffer): SignatureResult | Promise<SignatureResult> {
    const parsed = parseAuthHeaders(headers);
    if (!('keyId' in parsed)) return parsed;
    if (Math.abs(nowMs - parsed.timestampMs) > this.receiveWindowMs) {
      return { ...authFailure('stale_timestamp', `timestamp outside the ${this.receiveWindowMs} ms receive window`), serverTimeMs: nowMs };
    }
    const entry = this.lookup(parsed.keyId, nowMs);
    if (!entry) return authFailure('unknown_key', 'unknown API key');
    const { material } = entry;
    if (material.revokedAtMs !== null && material.revokedAtMs <= nowMs) return authFailure('key_revoked', 'API key revoked');
    if (material.expiresAtMs !== null && material.expiresAtMs <= nowMs) return authFailure('key_expired', 'API key expired');
    if (!entry.principal) return authFailure('user_disabled', 'user disabled');

    const expected = createHmac('sha256', material.secret).update(canonical(parsed)).digest();
    if (!timingSafeEqual(expected, parsed.signature)) return authFailure('bad_signature', 'signature does not match');

    const verdict = this.opts.replay.checkAndRemember(`${parsed.keyId}:${parsed.nonce}`, parsed.timestampMs + this.receiveWindowMs, nowMs);
    const principal = entry.principal;
    if (typeof verdict === 'string') return afterReplayCheck(verdict, principal, material);
    return verdict.then((v) => afterReplayCheck(v, principal, material), () => afterReplayCheck('unavailable', principal, material));
  }

  private lookup(keyId: string, nowMs: number): CachedKey | undefined {
    const hit = this.cache.get(keyId);
    if (hit && nowMs - hit.loadedAtMs < this.cacheTtlMs && nowMs >= hit.loadedAtMs) return hit;
    const material = this.opts.keys.material(keyId);
    if (!material) {
      this.cache.delete(keyId);
      return undefined;
    }
    const entry: CachedKey = { material, principal: this.principalFor(material), loadedAtMs: nowMs };
    if (this.cacheTtlMs > 0) {
      if (this.cache.size >= 10_000) this.cache.clear();
      this.cache.set(keyId, entry);
    }
    return entry;
  }

  /** The key's accounts narrowed to those its user may still use; roles are the user's now. */
  private principalFor(m: ApiKeyMaterial): Principal | null {
    const user = this.opts.store.findUser(m.userId);
    if (!user?.isActive) return null;
    const own = new Set(this.opts.store.accountIdsOf(m.userId));
    return {
      kind: 'api_key',
      userId: m.userId,
      roles: new Set<Role>(this.opts.store.rolesOf(m.userId)),
      accountIds: new Set(m.accountIds.filter((a) => own.has(a))),
      keyScopes: new Set<ApiKeyScope>(m.scopes),
      credentialId: m.keyId,
    };
  }
}

function afterReplayCheck(verdict: ReplayVerdict, principal: Principal, key: ApiKeyMaterial): SignatureResult {
  if (verdict === 'fresh') return { ok: true, principal, key };
  if (verdict === 'replayed') return authFailure('replayed_nonce', 'nonce already used');
  if (verdict === 'full') return authFailure('replay_cache_full', 'too many signed requests in flight; retry');
  return authFailure('replay_unavailable', 'the shared nonce store is not reachable: signed requests cannot be checked for replay; retry shortly');
}

/** True when the request carries any of the signing headers (so it should be checked as signed). */
export function hasSignatureHeaders(headers: HeaderSource): boolean {
  return getHeader(headers, HEADER_KEY) !== undefined || getHeader(headers, HEADER_SIGNATURE) !== undefined;
}

function parseAuthHeaders(headers: HeaderSource): ParsedAuth | AuthFailure {
  const keyId = getHeader(headers, HEADER_KEY);
  const ts = getHeader(headers, HEADER_TIMESTAMP);
  const nonce = getHeader(headers, HEADER_NONCE);
  const sig = getHeader(headers, HEADER_SIGNATURE);
  if (keyId === undefined && ts === undefined && nonce === undefined && sig === undefined) {
    return authFailure('missing_credentials', 'no API key headers');
  }
  if (keyId === undefined || ts === undefined || nonce === undefined || sig === undefined) {
    return authFailure('malformed_credentials', `all of ${HEADER_KEY}, ${HEADER_TIMESTAMP}, ${HEADER_NONCE}, ${HEADER_SIGNATURE} are needed`);
  }
  if (!TIMESTAMP.test(ts) || !Number.isSafeInteger(Number(ts))) return authFailure('malformed_credentials', 'timestamp must be integer milliseconds');
  if (!NONCE.test(nonce)) return authFailure('malformed_credentials', 'nonce must be 16-64 characters of [A-Za-z0-9_-]');
  if (!SIGNATURE.test(sig)) return authFailure('malformed_credentials', 'signature must be 64 lower-case hex digits');
  return { keyId, timestampMs: Number(ts), nonce, signature: Buffer.from(sig, 'hex') };
}
