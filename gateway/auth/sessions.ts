// Login, refresh and logout.
//
// Login checks the password (argon2id) and returns an access token (access-token.ts) and a refresh
// token: 32 random bytes, base64url, stored only as its SHA-256 (a fast hash is enough for a
// 256-bit random value). Each refresh rotates: the presented token is revoked, a new one of the
// same family is returned. Presenting a rotated token again means it was copied: the whole family
// (every token descended from that login) is revoked, the event is audited and the answer is
// `refresh_reused`. A token whose session was ended otherwise (logout, user disabled, every session
// of the user revoked) is answered `refresh_revoked` and revokes nothing more. A family ends at
// login + maxSessionMs however often it is refreshed.

import { createHash, randomBytes } from 'node:crypto';
import type { AccessTokens, IssuedAccessToken } from './access-token.js';
import type { AuditEntry, AuditOutcome } from './audit.js';
import { prepared, type IdentityDb } from './db.js';
import { authFailure, type AuthFailure, type AuthFailureCode } from './errors.js';
import { DEFAULT_PASSWORD_PARAMS, hashPassword, makeDummyHash, needsRehash, verifyPassword, type PasswordHashParams } from './passwords.js';
import type { IdentityStore, UserRecord } from './users.js';

export interface SessionOptions {
  /** Lifetime of one refresh token; default 7 days. */
  readonly refreshTtlMs?: number;
  /** Lifetime of a login's refresh family; default 30 days. */
  readonly maxSessionMs?: number;
  readonly passwordParams?: PasswordHashParams;
}

/** Where a request came from, for the audit trail. */
export interface RequestContext {
  readonly nowMs: number;
  readonly remoteAddr?: string;
  readonly requestId?: string;
}

export interface TokenPair {
  readonly accessToken: string;
  readonly accessExpiresAtMs: number;
  readonly refreshToken: string;
  readonly refreshExpiresAtMs: number;
  readonly userId: number;
}

export type SessionResult = ({ readonly ok: true } & TokenPair) | AuthFailure;

interface RefreshRow {
  token_hash: string; family_id: string; user_id: number; issued_at_ms: number; expires_at_ms: number;
  revoked_at_ms: number | null; revoked_reason: string | null;
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;

export class SessionService {
  private readonly refreshTtlMs: number;
  private readonly maxSessionMs: number;
  private readonly passwordParams: PasswordHashParams;
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly db: IdentityDb,
    private readonly store: IdentityStore,
    private readonly tokens: AccessTokens,
    private readonly audit?: SessionAudit,
    opts: SessionOptions = {},
  ) {
    this.refreshTtlMs = opts.refreshTtlMs ?? 7 * 24 * 3600_000;
    this.maxSessionMs = opts.maxSessionMs ?? 30 * 24 * 3600_000;
    this.passwordParams = opts.passwordParams ?? DEFAULT_PASSWORD_PARAMS;
  }

  async login(email: string, password: string, ctx: RequestContext): Promise<SessionResult> {
    const creds = this.store.credentialsOf(email);
    if (!creds) {
      this.dummyHash ??= makeDummyHash(this.passwordParams);
      await verifyPassword(await this.dummyHash, password);
      return await this.fail('auth.login', 'invalid_credentials', 'wrong e-mail or password', 'anonymous', ctx, { email: String(email).slice(0, 254) });
    }
    const { user, passwordHash } = creds;
    const actor = `user:${user.id}`;
    if (!(await verifyPassword(passwordHash, password))) {
      return await this.fail('auth.login', 'invalid_credentials', 'wrong e-mail or password', actor, ctx);
    }
    if (!user.isActive) return await this.fail('auth.login', 'user_disabled', 'user disabled', actor, ctx);
    if (needsRehash(passwordHash, this.passwordParams)) {
      this.store.setPasswordHash(user.id, await hashPassword(password, this.passwordParams), ctx.nowMs);
    }
    const familyId = randomBytes(16).toString('base64url');
    const pair = await this.issuePair(user, familyId, ctx.nowMs + this.maxSessionMs, ctx.nowMs);
    await this.record('auth.login', actor, 'success', ctx, { family: familyId });
    return { ok: true, ...pair };
  }

  async refresh(refreshToken: string, ctx: RequestContext): Promise<SessionResult> {
    const row = this.findRefresh(refreshToken);
    if (!row) return await this.fail('auth.refresh', 'refresh_invalid', 'refresh token invalid', 'anonymous', ctx);
    const actor = `user:${row.user_id}`;
    if (row.revoked_at_ms !== null && row.revoked_reason !== 'rotated' && row.revoked_reason !== 'reuse_detected') {
      // Its session was ended (logout, user disabled, every session of the user revoked): a plain
      // revoked token, not a sign of theft; nothing more to revoke.
      return await this.fail('auth.refresh', 'refresh_revoked', 'refresh token revoked: the session was ended; log in again', actor, ctx, { family: row.family_id, previousReason: row.revoked_reason });
    }
    if (row.revoked_at_ms !== null) {
      // Rotated before (or its family already ended by a reuse): presented again, so it was copied.
      const revoked = this.revokeFamily(row.family_id, 'reuse_detected', ctx.nowMs);
      await this.record('auth.refresh_reuse', actor, 'denied', ctx, { family: row.family_id, previousReason: row.revoked_reason, revoked });
      return authFailure('refresh_reused', 'refresh token already used: session revoked');
    }
    if (row.expires_at_ms <= ctx.nowMs) return await this.fail('auth.refresh', 'refresh_expired', 'refresh token expired', actor, ctx);
    const user = this.store.findUser(row.user_id);
    if (!user?.isActive) {
      this.revokeFamily(row.family_id, 'user_disabled', ctx.nowMs);
      return await this.fail('auth.refresh', 'user_disabled', 'user disabled', actor, ctx);
    }
    const familyExpiresAtMs = this.familyExpiry(row.family_id);
    let pair: TokenPair;
    try {
      pair = await this.issuePair(user, row.family_id, familyExpiresAtMs, ctx.nowMs, row.token_hash);
    } catch (e) {
      if (!(e instanceof RefreshRaceError)) throw e;
      const revoked = this.revokeFamily(row.family_id, 'reuse_detected', ctx.nowMs);
      await this.record('auth.refresh_reuse', actor, 'denied', ctx, { family: row.family_id, previousReason: 'concurrent', revoked });
      return authFailure('refresh_reused', 'refresh token already used: session revoked');
    }
    await this.record('auth.refresh', actor, 'success', ctx, { family: row.family_id });
    return { ok: true, ...pair };
  }

  /**
   * Ends the session of `refreshToken` (its whole family) and, when given, revokes the access
   * token too. Unknown tokens are ignored (logout is idempotent). Resolves once its audit row is
   * committed (or the audit writer failed).
   */
  async logout(refreshToken: string, ctx: RequestContext, access?: { jti: string; expiresAtMs: number }): Promise<boolean> {
    if (access) this.tokens.revoke(access.jti, access.expiresAtMs);
    const row = this.findRefresh(refreshToken);
    if (!row) return false;
    const revoked = this.revokeFamily(row.family_id, 'logout', ctx.nowMs);
    await this.record('auth.logout', `user:${row.user_id}`, 'success', ctx, { family: row.family_id, revoked });
    return true;
  }

  /**
   * Login sessions alive at `nowMs`: refresh-token families with a token neither revoked nor expired
   * (a partial index keeps this from scanning the table; /metrics active_sessions{kind="rest"}).
   */
  liveSessionCount(nowMs: number): number {
    return prepared(this.db, 'SELECT COUNT(DISTINCT family_id) FROM refresh_tokens WHERE revoked_at_ms IS NULL AND expires_at_ms > ?').pluck().get(nowMs) as number;
  }

  /** Ends every session of a user (password change, compromise). Returns the tokens revoked. */
  revokeAllForUser(userId: number, reason: string, nowMs: number): number {
    const families = prepared(this.db, 'SELECT DISTINCT family_id FROM refresh_tokens WHERE user_id = ? AND revoked_at_ms IS NULL').pluck().all(userId) as string[];
    for (const f of families) this.tokens.revokeSession(f, nowMs);
    return prepared(this.db, 
      'UPDATE refresh_tokens SET revoked_at_ms = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at_ms IS NULL',
    ).run(nowMs, reason, userId).changes;
  }

  private async issuePair(user: UserRecord, familyId: string, familyExpiresAtMs: number, nowMs: number, rotatedFrom?: string): Promise<TokenPair> {
    const access: IssuedAccessToken = await this.tokens.issue(
      { userId: user.id, roles: this.store.rolesOf(user.id), accountIds: this.store.accountIdsOf(user.id), sessionId: familyId }, nowMs);
    const refreshToken = randomBytes(32).toString('base64url');
    const tokenHash = hashRefreshToken(refreshToken);
    const refreshExpiresAtMs = Math.min(nowMs + this.refreshTtlMs, familyExpiresAtMs);
    this.db.transaction(() => {
      if (rotatedFrom !== undefined) {
        const r = prepared(this.db, 
          `UPDATE refresh_tokens SET revoked_at_ms = ?, revoked_reason = 'rotated', replaced_by = ?
           WHERE token_hash = ? AND revoked_at_ms IS NULL`,
        ).run(nowMs, tokenHash, rotatedFrom);
        // Lost a race with another refresh of the same token: that is reuse too.
        if (r.changes === 0) throw new RefreshRaceError();
      }
      prepared(this.db, 
        `INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?)`,
      ).run(tokenHash, familyId, user.id, nowMs, refreshExpiresAtMs);
    }).immediate();
    return { accessToken: access.token, accessExpiresAtMs: access.expiresAtMs, refreshToken, refreshExpiresAtMs, userId: user.id };
  }

  private familyExpiry(familyId: string): number {
    const first = prepared(this.db, 'SELECT MIN(issued_at_ms) FROM refresh_tokens WHERE family_id = ?').pluck().get(familyId) as number;
    return first + this.maxSessionMs;
  }

  private findRefresh(token: string): RefreshRow | undefined {
    if (typeof token !== 'string' || !REFRESH_TOKEN.test(token)) return undefined;
    return prepared(this.db, 'SELECT * FROM refresh_tokens WHERE token_hash = ?').get(hashRefreshToken(token)) as RefreshRow | undefined;
  }

  private revokeFamily(familyId: string, reason: string, nowMs: number): number {
    // The family's access tokens go with it (claim sid), not only its refresh tokens.
    this.tokens.revokeSession(familyId, nowMs);
    return prepared(this.db, 
      'UPDATE refresh_tokens SET revoked_at_ms = ?, revoked_reason = ? WHERE family_id = ? AND revoked_at_ms IS NULL',
    ).run(nowMs, reason, familyId).changes;
  }

  private async fail(action: string, code: AuthFailureCode, message: string, actor: string, ctx: RequestContext, detail?: Record<string, unknown>): Promise<AuthFailure> {
    await this.record(action, actor, 'failure', ctx, { code, ...detail });
    return authFailure(code, message);
  }

  /**
   * Writes the audit row and waits for its commit. If the audit writer fails, the action (already
   * done) is still answered as it happened: the writer records its failure and fails closed (the
   * REST router then refuses state-changing requests), so it is not thrown here.
   */
  private async record(action: string, actor: string, outcome: AuditOutcome, ctx: RequestContext, detail?: Record<string, unknown>): Promise<void> {
    if (this.audit === undefined) return;
    try {
      await this.audit.append({
        tsMs: ctx.nowMs, actor, action, outcome, detail,
        ...(ctx.remoteAddr !== undefined ? { remoteAddr: ctx.remoteAddr } : {}),
        ...(ctx.requestId !== undefined ? { requestId: ctx.requestId } : {}),
      });
    } catch {
      // Counted by the writer (AuditWriter.failedRows, failure).
    }
  }
}

class RefreshRaceError extends Error {}

/** Where sessions write their audit rows (AuditWriter): a promise settles once the row is committed. */
export interface SessionAudit {
  append(e: AuditEntry): Promise<unknown> | unknown;
}
