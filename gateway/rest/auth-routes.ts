// /api/v1/auth: login (e-mail + password -> access JWT + refresh token), refresh (rotation with
// reuse detection), logout (revokes the refresh family and, with a bearer token, the access token).
// gateway/auth's SessionService does the work and writes the audit rows; logins have their own tight
// bucket per client IP (argon2 costs ~16 ms of a pool thread).

import { MemoryRateLimiter, type RateLimiter, type RateLimitPolicy } from '../auth/rate-limit.js';
import type { RequestContext, SessionResult } from '../auth/sessions.js';
import { problem } from './problem.js';
import type { Route, RouteContext } from './router.js';
import { LoginBody, RefreshBody, TokenPair } from './schemas.js';
import { z } from 'zod';

export interface SessionsLike {
  login(email: string, password: string, ctx: RequestContext): Promise<SessionResult>;
  refresh(refreshToken: string, ctx: RequestContext): Promise<SessionResult>;
  /** Settles once the logout's audit row is committed. */
  logout(refreshToken: string, ctx: RequestContext, access?: { jti: string; expiresAtMs: number }): Promise<boolean>;
  /** Login sessions alive at `nowMs` (/metrics active_sessions{kind="rest"}). */
  liveSessionCount?(nowMs: number): number;
}

/**
 * `limiter`: where the per-IP login buckets live; the REST shim passes its shared one (Redis) when it
 * has one, so a client cannot multiply its login attempts by the number of gateways.
 */
export function authRoutes(sessions: SessionsLike | undefined, loginPolicy: RateLimitPolicy = { burst: 10, ratePerSecond: 0.2 },
  limiter: RateLimiter = new MemoryRateLimiter(10_000)): Route[] {
  const rctx = (ctx: RouteContext): RequestContext => ({ nowMs: ctx.nowMs, remoteAddr: ctx.raw.remoteAddr, requestId: ctx.requestId });
  const need = (): SessionsLike => {
    if (sessions === undefined) throw problem(501, 'not_yet_available', 'sessions are not configured on this gateway');
    return sessions;
  };
  const pair = (r: SessionResult): { body: unknown } => {
    if (!r.ok) throw problem(r.httpStatus, r.code, r.message);
    return {
      body: {
        access_token: r.accessToken, token_type: 'Bearer', expires_at: new Date(r.accessExpiresAtMs).toISOString(),
        refresh_token: r.refreshToken, refresh_expires_at: new Date(r.refreshExpiresAtMs).toISOString(), user_id: r.userId,
      },
    };
  };
  return [
    {
      method: 'post', path: '/api/v1/auth/login', permission: 'public', tag: 'auth', summary: 'Log in', body: LoginBody, response: TokenPair, audit: null,
      handler: async (ctx) => {
        const d = await limiter.consume(`login:${ctx.raw.remoteAddr}`, loginPolicy, ctx.nowMs);
        if (!d.allowed) throw problem(429, 'rate_limited', `too many logins; retry after ${d.retryAfterSeconds} s`, { retry_after_seconds: d.retryAfterSeconds }, { 'retry-after': String(d.retryAfterSeconds) });
        const b = ctx.body as z.infer<typeof LoginBody>;
        return pair(await need().login(b.email, b.password, rctx(ctx)));
      },
    },
    {
      method: 'post', path: '/api/v1/auth/refresh', permission: 'public', tag: 'auth', summary: 'Rotate a refresh token', body: RefreshBody, response: TokenPair, audit: null,
      handler: async (ctx) => pair(await need().refresh((ctx.body as z.infer<typeof RefreshBody>).refresh_token, rctx(ctx))),
    },
    {
      method: 'post', path: '/api/v1/auth/logout', permission: 'public', tag: 'auth', summary: 'Log out (idempotent)', body: RefreshBody, status: 204, audit: null,
      handler: async (ctx) => {
        await need().logout((ctx.body as z.infer<typeof RefreshBody>).refresh_token, rctx(ctx), ctx.access ?? undefined);
        return { status: 204 };
      },
    },
  ];
}
