// Short-lived access tokens: JWTs signed with HS256 (a shared secret of at least 32 bytes) or EdDSA
// (Ed25519), through `jose`. The algorithm is pinned by the configured key: a token whose header
// names another algorithm ("none", or RS256/HS256 confusion) is rejected before any key is used.
//
// Header: {"alg": "HS256"|"EdDSA", "typ": "at+jwt", "kid"?}
// Claims: iss, aud, sub (user id, decimal string), roles (string[]), accounts (number[]),
//         iat, exp (seconds), jti (random, 128 bits, base64url)

import { randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { AuthError, authFailure, type AuthFailure } from './errors.js';
import { isRole, type Principal, type Role } from './permissions.js';

export type JwtKeyConfig =
  | { readonly alg: 'HS256'; readonly secret: Uint8Array; readonly kid?: string }
  | { readonly alg: 'EdDSA'; readonly privateKey: KeyObject; readonly publicKey: KeyObject; readonly kid?: string };

export interface AccessTokenOptions {
  readonly key: JwtKeyConfig;
  readonly issuer?: string;
  readonly audience?: string;
  /** Default 900 (15 minutes). */
  readonly ttlSeconds?: number;
  /** Clock skew allowed on exp/iat; default 5 s. */
  readonly clockToleranceSeconds?: number;
  /** Access tokens revoked before their expiry (logout). */
  readonly denylist?: TokenDenylist;
}

export interface AccessTokenSubject {
  readonly userId: number;
  readonly roles: readonly Role[];
  readonly accountIds: readonly number[];
  /** The login session (refresh family) the token belongs to: claim `sid`; revoking the session revokes it. */
  readonly sessionId?: string;
}

export interface IssuedAccessToken {
  readonly token: string;
  readonly jti: string;
  readonly expiresAtMs: number;
}

export type AccessTokenResult = { readonly ok: true; readonly principal: Principal; readonly expiresAtMs: number } | AuthFailure;

export const HS256_MIN_SECRET_BYTES = 32;

/**
 * Revoked access-token ids, each kept until the token would have expired anyway, so the set stays
 * bounded by (logouts per TTL). In memory: one gateway process.
 */
export class TokenDenylist {
  private readonly until = new Map<string, number>();
  add(jti: string, expiresAtMs: number): void {
    this.until.set(jti, expiresAtMs);
  }
  has(jti: string, nowMs: number): boolean {
    this.sweep(nowMs);
    return this.until.has(jti);
  }
  get size(): number {
    return this.until.size;
  }
  private sweep(nowMs: number): void {
    for (const [jti, exp] of this.until) if (exp < nowMs) this.until.delete(jti);
  }
}

const VERIFIED_CACHE_MAX = 10_000;

export class AccessTokens {
  readonly ttlSeconds: number;
  private readonly issuer: string;
  private readonly audience: string;
  private readonly toleranceSeconds: number;
  /**
   * The HS256 secret as a KeyObject, made once: given raw bytes, jose imports the key through
   * WebCrypto on every sign and verify (measured: the largest cost of an authenticated REST request).
   */
  private readonly hsKey: Promise<webcrypto.CryptoKey> | null;
  /** Token strings that verified, with their principal and expiry (see verify). */
  private readonly verified = new Map<string, { principal: Principal; expiresAtMs: number; sid: string | null }>();

  constructor(private readonly opts: AccessTokenOptions) {
    if (opts.key.alg === 'HS256' && opts.key.secret.byteLength < HS256_MIN_SECRET_BYTES) {
      throw new AuthError('weak_key', `an HS256 secret needs at least ${HS256_MIN_SECRET_BYTES} bytes`);
    }
    if (opts.key.alg === 'EdDSA' && opts.key.publicKey.asymmetricKeyType !== 'ed25519') {
      throw new AuthError('weak_key', 'EdDSA keys must be Ed25519');
    }
    this.ttlSeconds = opts.ttlSeconds ?? 900;
    this.issuer = opts.issuer ?? 'trading-engine';
    this.audience = opts.audience ?? 'trading-engine-api';
    this.toleranceSeconds = opts.clockToleranceSeconds ?? 5;
    // jose 6 works on WebCrypto keys: import one CryptoKey up front (a KeyObject is converted per call).
    this.hsKey = opts.key.alg === 'HS256'
      ? webcrypto.subtle.importKey('raw', opts.key.secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
      : null;
  }

  async issue(s: AccessTokenSubject, nowMs: number): Promise<IssuedAccessToken> {
    const iat = Math.floor(nowMs / 1000);
    const exp = iat + this.ttlSeconds;
    const jti = randomBytes(16).toString('base64url');
    const { key } = this.opts;
    const token = await new SignJWT({ roles: [...s.roles], accounts: [...s.accountIds], ...(s.sessionId !== undefined ? { sid: s.sessionId } : {}) })
      .setProtectedHeader({ alg: key.alg, typ: 'at+jwt', ...(key.kid ? { kid: key.kid } : {}) })
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setSubject(String(s.userId))
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(jti)
      .sign(key.alg === 'HS256' ? await this.hsKey! : key.privateKey);
    return { token, jti, expiresAtMs: exp * 1000 };
  }

  async verify(token: string, nowMs: number): Promise<AccessTokenResult> {
    // A client sends the same token on every request: the signature and claims of a token string
    // that verified once are not checked again (the string must match exactly); its expiry and the
    // revocation denylist are, on every use. Bounded; the oldest entry goes first.
    const hit = this.verified.get(token);
    if (hit !== undefined) {
      if (nowMs - this.toleranceSeconds * 1000 >= hit.expiresAtMs) {
        this.verified.delete(token);
        return authFailure('token_expired', 'access token expired');
      }
      if (this.revoked(hit.principal.credentialId, hit.sid, nowMs)) return authFailure('token_revoked', 'access token revoked');
      return { ok: true, principal: hit.principal, expiresAtMs: hit.expiresAtMs };
    }
    const { key } = this.opts;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key.alg === 'HS256' ? await this.hsKey! : key.publicKey, {
        algorithms: [key.alg],
        issuer: this.issuer,
        audience: this.audience,
        typ: 'at+jwt',
        currentDate: new Date(nowMs),
        clockTolerance: this.toleranceSeconds,
        requiredClaims: ['sub', 'iat', 'exp', 'jti'],
      }));
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) return authFailure('token_expired', 'access token expired');
      return authFailure('token_invalid', 'access token invalid');
    }
    const principal = principalFromClaims(payload);
    if (!principal) return authFailure('token_invalid', 'access token claims invalid');
    if (payload.iat! * 1000 > nowMs + this.toleranceSeconds * 1000) return authFailure('token_invalid', 'access token issued in the future');
    const sid = typeof (payload as { sid?: unknown }).sid === 'string' ? (payload as { sid: string }).sid : null;
    if (this.revoked(principal.credentialId, sid, nowMs)) return authFailure('token_revoked', 'access token revoked');
    const expiresAtMs = payload.exp! * 1000;
    if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, { principal, expiresAtMs, sid });
    return { ok: true, principal, expiresAtMs };
  }

  /** Revokes an access token before its expiry (needs a denylist). */
  revoke(jti: string, expiresAtMs: number): void {
    this.opts.denylist?.add(jti, expiresAtMs);
  }

  /**
   * Revokes every access token of a login session (claim `sid`) issued so far: kept in the denylist
   * for one token lifetime, after which none of them is valid anyway.
   */
  revokeSession(sessionId: string, nowMs: number): void {
    this.opts.denylist?.add(`sid:${sessionId}`, nowMs + (this.ttlSeconds + this.toleranceSeconds) * 1000);
  }

  private revoked(jti: string, sid: string | null, nowMs: number): boolean {
    const d = this.opts.denylist;
    return d !== undefined && (d.has(jti, nowMs) || (sid !== null && d.has(`sid:${sid}`, nowMs)));
  }
}

function principalFromClaims(p: JWTPayload): Principal | undefined {
  const userId = typeof p.sub === 'string' && /^[1-9][0-9]{0,15}$/.test(p.sub) ? Number(p.sub) : NaN;
  const { roles, accounts } = p as { roles?: unknown; accounts?: unknown };
  if (!Number.isSafeInteger(userId) || typeof p.jti !== 'string') return undefined;
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string' && isRole(r))) return undefined;
  if (!Array.isArray(accounts) || !accounts.every((a) => Number.isSafeInteger(a) && a >= 1)) return undefined;
  return {
    kind: 'session',
    userId,
    roles: new Set(roles as Role[]),
    accountIds: new Set(accounts as number[]),
    keyScopes: null,
    credentialId: p.jti,
  };
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(authorization.trim());
  return m?.[1];
}
