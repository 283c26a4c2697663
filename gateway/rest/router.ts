// The REST router: a table of routes (method, path, permission, zod schemas, handler) registered on
// the gateway's uWS app, and the pipeline every request goes through, in this order:
//   CORS (allow-list; preflight answered) -> per-IP rate limit -> Content-Length and media type ->
//   body read with the size limit -> authentication (API-key signature or bearer token) -> per-key
//   rate limit -> the route's permission (role and key scope) -> zod validation of path, query and
//   body (unknown fields rejected) -> audit writer up (state-changing routes) -> handler -> audit of
//   state-changing requests.
// Every failure is an RFC 9457 problem (problem.ts); nothing leaks a stack trace.
//
// Audit: the answer to a state-changing request goes out once its audit row is committed (group
// commit by the audit writer, gateway/auth/audit-worker.ts). If the writer fails, an action that
// already happened is still answered as it happened (its row is missing: logged and counted), and the
// router fails closed: every later state-changing request is refused with 503 audit_unavailable before
// its handler runs (so before the engine), until the process restarts. Reads go on.

import { randomBytes } from 'node:crypto';
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { z } from 'zod';
import { bearerToken } from '../auth/access-token.js';
import type { AuditOutcome } from '../auth/audit.js';
import { authorize, PERMISSIONS, permissionsOf, type Permission, type Principal } from '../auth/permissions.js';
import { MemoryRateLimiter, type RateDecision, type RateLimiter, type RateLimitPolicy } from '../auth/rate-limit.js';
import { HEADER_KEY, HEADER_SIGNATURE } from '../auth/signing.js';
import { captureRequest, problemAnswer, readBody, targetOf, writeAnswer, type Answer, type CommonHeaders, type RawRequest } from './http.js';
import { problem, ProblemError, validationProblem, type FieldError } from './problem.js';

export type RoutePermission = Permission | 'public';
export type Method = 'get' | 'post' | 'put' | 'delete';

export interface RouteContext {
  principal: Principal | null;
  /** Access token id and expiry when authenticated by a bearer token (logout revokes it). */
  access: { jti: string; expiresAtMs: number } | null;
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body: unknown;
  raw: RawRequest;
  requestId: string;
  nowMs: number;
  /** Set by handlers for the audit row. */
  audit: { target?: string; detail?: Record<string, unknown> };
}

export interface RouteResult {
  status?: number;
  body?: unknown;
  /** Plain text answer instead of JSON (metrics). */
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface Route {
  method: Method;
  /** OpenAPI form: /api/v1/orders/{order_id}. */
  path: string;
  permission: RoutePermission;
  summary: string;
  tag: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  response?: z.ZodType;
  /** Success status (default 200). */
  status?: number;
  /** Audit action for state-changing routes; null = the called service audits itself. */
  audit?: string | null;
  /** Not served as JSON (metrics). */
  textResponse?: boolean;
  handler: (ctx: RouteContext) => RouteResult | Promise<RouteResult>;
}

type AuditInput = { tsMs: number; actor: string; action: string; target?: string; remoteAddr?: string; requestId?: string; outcome: AuditOutcome; detail?: Record<string, unknown> };

/** What a signature check answers (gateway/auth/signing.ts SignatureResult fits). */
type SignatureCheck = { ok: true; principal: Principal } | { ok: false; code: string; httpStatus: number; message: string; serverTimeMs?: number };

/** What the router needs to authenticate and audit (gateway/auth's Identity fits). */
export interface RestAuth {
  signatures?: { verifyRequest(req: { method: string; pathWithQuery: string; headers: ReadonlyMap<string, string>; body: Uint8Array }, nowMs: number): SignatureCheck | Promise<SignatureCheck> };
  accessTokens?: { verify(token: string, nowMs: number): Promise<{ ok: true; principal: Principal; expiresAtMs: number } | { ok: false; code: string; httpStatus: number; message: string }> };
  audit?: {
    /** Writes the row: a promise settles once it is committed; anything else means written on return. */
    append(e: AuditInput): unknown;
    /** Group-committed append (gateway/auth/audit-worker.ts AuditWriter); preferred for success rows. */
    appendGrouped?(e: AuditInput): Promise<unknown>;
    /** Set once the audit writer has failed (it fails closed); also failures of rows not the router's. */
    readonly failure?: Error | null;
    /** Rows the writer could not write, from any caller (metrics). */
    readonly failedRows?: number;
    /** Called once when the writer fails (logging). */
    onFailure?(fn: (err: Error) => void): void;
  };
}

export interface RouterOptions {
  /** Origins allowed by CORS (exact match, e.g. "https://ui.example.com"); "*" allows any. Default none. */
  corsOrigins?: readonly string[];
  /** Largest request body in bytes. Default 64 KiB. */
  maxBodyBytes?: number;
  perIp?: RateLimitPolicy;
  perKey?: RateLimitPolicy;
  /**
   * Store of the ip: and key: buckets. Default (or any MemoryRateLimiter): in this process, checked
   * synchronously (no Promise per request). Another one (RedisRateLimiter: shared by every gateway)
   * is awaited; it must answer promptly and never reject for an outage (RedisRateLimiter falls back
   * to local buckets).
   */
  limiter?: RateLimiter;
  nowMs?: () => number;
  log?: (fields: Record<string, unknown>, msg: string) => void;
  /** Called after each answered request (metrics). */
  observe?: (route: Route, status: number, elapsedMs: number) => void;
}

const UWS_METHOD: Record<Method, 'get' | 'post' | 'put' | 'del'> = { get: 'get', post: 'post', put: 'put', delete: 'del' };
const ALLOWED_HEADERS = 'authorization, content-type, x-request-id, x-te-apikey, x-te-timestamp, x-te-nonce, x-te-signature';
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export class RestRouter {
  readonly routes: Route[] = [];
  /** Exactly one of the two is set. */
  private readonly memory: MemoryRateLimiter | null;
  private readonly shared: RateLimiter | null;
  private readonly o: Required<Omit<RouterOptions, 'log' | 'observe' | 'limiter'>> & Pick<RouterOptions, 'log' | 'observe'>;
  private readonly idPrefix = randomBytes(4).toString('hex');
  private nextId = 0;
  /** Counters (metrics). */
  answered = 0;
  rateLimited = 0;
  /** Audit rows of this router whose append failed. */
  auditFailures = 0;
  /** Audit rows of this router not attempted because the writer was already down. */
  auditSkipped = 0;
  /** State-changing requests refused with 503 audit_unavailable. */
  auditRefused = 0;
  /** The first audit failure this router saw (fail closed until restart). */
  private auditError: Error | null = null;

  constructor(private readonly auth: RestAuth, options: RouterOptions = {}) {
    this.o = {
      corsOrigins: options.corsOrigins ?? [], maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
      perIp: options.perIp ?? { burst: 200, ratePerSecond: 100 }, perKey: options.perKey ?? { burst: 100, ratePerSecond: 50 },
      nowMs: options.nowMs ?? Date.now, log: options.log, observe: options.observe,
    };
    const l = options.limiter ?? new MemoryRateLimiter();
    this.memory = l instanceof MemoryRateLimiter ? l : null;
    this.shared = l instanceof MemoryRateLimiter ? null : l;
  }

  /** null while audit rows can be written; else why not (state-changing requests are refused). */
  get auditFailure(): Error | null {
    return this.auditError ?? this.auth.audit?.failure ?? null;
  }

  /** A bucket's decision: at once from memory, or a Promise from a shared store. */
  private consume(bucketKey: string, policy: RateLimitPolicy, nowMs: number): RateDecision | Promise<RateDecision> {
    return this.memory !== null ? this.memory.consumeSync(bucketKey, policy, nowMs) : this.shared!.consume(bucketKey, policy, nowMs);
  }

  add(...routes: Route[]): void {
    for (const r of routes) {
      if (this.routes.some((x) => x.method === r.method && x.path === r.path)) throw new Error(`route ${r.method} ${r.path} twice`);
      const isWrite = r.method !== 'get';
      if (isWrite && r.audit === undefined) throw new Error(`state-changing route ${r.method} ${r.path} names no audit action`);
      this.routes.push(r);
    }
  }

  /** Registers every route (and CORS preflights, and 405s for other methods) on the app. */
  mount(app: TemplatedApp): void {
    const byPath = new Map<string, Route[]>();
    for (const r of this.routes) {
      const list = byPath.get(r.path) ?? [];
      list.push(r);
      byPath.set(r.path, list);
    }
    for (const [path, list] of byPath) {
      const names: string[] = [];
      const uwsPath = path.replace(/\{([a-z_]+)\}/g, (_, n: string) => { names.push(n); return `:${n}`; });
      const allow = list.map((r) => r.method.toUpperCase()).join(', ');
      for (const r of list) {
        app[UWS_METHOD[r.method]](uwsPath, (res, req) => this.handle(r, names, res, captureRequest(res, req, names.length)));
      }
      app.options(uwsPath, (res, req) => {
        const raw = captureRequest(res, req, 0);
        writeAnswer(res, { status: 204, headers: { 'access-control-allow-methods': `${allow}, OPTIONS`, 'access-control-allow-headers': ALLOWED_HEADERS, 'access-control-max-age': '600' } }, this.common(raw, ''));
      });
      app.any(uwsPath, (res, req) => {
        const raw = captureRequest(res, req, 0);
        const p = problem(405, 'method_not_allowed', `${raw.method} is not allowed here; allowed: ${allow}`, {}, { allow });
        writeAnswer(res, problemAnswer(p, raw.path), this.common(raw, ''));
      });
    }
  }

  /** The headers every answer carries (http.ts writeAnswer): no-store, nosniff, the request id, CORS for an allowed origin. */
  private common(raw: RawRequest, requestId: string): CommonHeaders {
    const origin = raw.headers.get('origin');
    const allowed = origin !== undefined && (this.o.corsOrigins.includes(origin) || this.o.corsOrigins.includes('*'));
    return { requestId, origin: allowed ? origin : null };
  }

  private handle(route: Route, names: string[], res: HttpResponse, raw: RawRequest): void {
    const t0 = performance.now();
    const given = raw.headers.get('x-request-id');
    const requestId = given !== undefined && REQUEST_ID.test(given) ? given : `${this.idPrefix}-${(++this.nextId).toString(36)}`;
    const common = this.common(raw, requestId);
    let aborted = false;
    let answered = false;
    res.onAborted(() => { aborted = true; });
    const send = (a: Answer): void => {
      if (aborted || answered) return;
      answered = true;
      this.answered++;
      writeAnswer(res, a, common);
      this.o.observe?.(route, a.status, performance.now() - t0);
    };
    const fail = (e: unknown, ctx: RouteContext | null): void => {
      let p: ProblemError;
      if (e instanceof ProblemError) p = e;
      else {
        this.o.log?.({ err: (e as Error)?.stack ?? String(e), route: route.path, requestId }, 'rest: handler failed');
        p = problem(500, 'internal_error', 'internal error; the request id identifies it in the logs');
      }
      // A refused flood is counted, not written row by row into the audit trail; neither are the
      // refusals while the audit writer is down (counted: auditRefused).
      let audited: Promise<void> | null = null;
      if (p.status === 429) this.rateLimited++;
      else if (p.code !== AUDIT_UNAVAILABLE) audited = this.auditRow(route, ctx, raw, requestId, p.status === 401 || p.status === 403 ? 'denied' : 'failure', { code: p.code, status: p.status });
      // Like a success, the refusal is answered once its row is committed (or could not be).
      if (audited === null) send(problemAnswer(p, raw.path));
      else void audited.then(() => send(problemAnswer(p, raw.path)));
    };

    const nowMs = this.o.nowMs();
    // Per IP, before anything is parsed.
    const ipd = this.consume(this.ipKey(raw.remoteAddr), this.o.perIp, nowMs);
    if (!(ipd instanceof Promise) && !ipd.allowed) { fail(rateProblem(ipd.retryAfterSeconds), null); return; }

    const hasBody = route.method === 'post' || route.method === 'put';
    let tooLarge = false;
    // The body: `bodyState` 0 = still arriving, 1 = read (`body`), 2 = too large. `gate` 0 = the IP's
    // decision is pending, 1 = allowed, 2 = refused. The request goes on once both say so.
    let bodyState = hasBody ? 0 : 1;
    let body: Buffer = EMPTY;
    let gate = 0;
    if (hasBody) {
      const cl = raw.headers.get('content-length');
      tooLarge = cl !== undefined && (!/^[0-9]{1,12}$/.test(cl) || Number(cl) > this.o.maxBodyBytes);
      // uWS hands the body only to an onData set before this handler returns, so with a shared
      // limiter the body streams in (within the size limit) while the IP's decision is on its way.
      if (!tooLarge) {
        readBody(res, this.o.maxBodyBytes, (err, b) => {
          bodyState = err !== null ? 2 : 1;
          body = b;
          if (gate === 1) bodyReady();
        });
      }
    }
    const tooLargeProblem = (): ProblemError => problem(413, 'payload_too_large', `the body may be at most ${this.o.maxBodyBytes} bytes`);
    const bodyReady = (): void => {
      if (aborted) return;
      if (bodyState === 2) { fail(tooLargeProblem(), null); return; }
      this.prepare(route, raw, body, requestId, nowMs).then(run, (e: unknown) => fail(e, null)).catch((e: unknown) => fail(e, null));
    };
    const run = async (ctx: RouteContext): Promise<void> => {
      try {
        this.checkPermission(route, ctx);
        ctx.params = parseInto(route.params, Object.fromEntries(names.map((n, i) => [n, decodePathParam(n, raw.params[i] ?? '')])), 'path');
        ctx.query = parseInto(route.query, queryObject(raw.query), 'query');
        ctx.body = hasBody ? parseBody(route.body, body, raw) : undefined;
        // Fail closed: nothing state-changing is done that could not be audited.
        if (route.method !== 'get' && this.auditFailure !== null) {
          this.auditRefused++;
          throw problem(503, AUDIT_UNAVAILABLE, 'the audit trail cannot be written: state-changing requests are refused until it is restored; reads still work');
        }
        const out = await route.handler(ctx);
        const status = out.status ?? route.status ?? 200;
        // The success answer goes out only once its audit row is committed (group commit by the
        // audit writer). If the row could not be written the action has still happened: it is
        // answered as it happened, the failure logged and counted, and later writes are refused.
        const audited = this.auditRow(route, ctx, raw, requestId, 'success', { status }, true);
        if (audited !== null) await audited;
        const a: Answer = { status };
        if (out.text !== undefined) { a.body = out.text; a.contentType = out.contentType ?? 'text/plain'; }
        else if (status !== 204) a.body = JSON.stringify(out.body ?? null);
        if (out.headers) a.headers = out.headers;
        send(a);
      } catch (e) {
        fail(e, ctx);
      }
    };
    const proceed = (): void => {
      gate = 1;
      if (tooLarge) { fail(tooLargeProblem(), null); return; }
      if (bodyState !== 0) bodyReady();
    };
    if (!(ipd instanceof Promise)) { proceed(); return; }
    // A refused request is answered at once; its body, if still arriving, is dropped.
    ipd.then((d) => {
      if (!d.allowed) { gate = 2; fail(rateProblem(d.retryAfterSeconds), null); }
      else proceed();
    }, (e: unknown) => { gate = 2; fail(e, null); });
  }

  /**
   * What the router derives from a principal: its permissions (auth/permissions.ts permissionsOf) and
   * its per-key bucket. Kept per principal object (a cached bearer token hands out the same one on
   * every request; principals are never modified); a signed request's new principal is computed anew.
   */
  private readonly principals = new WeakMap<Principal, { permissions: ReadonlySet<Permission>; bucket: string }>();

  private derived(p: Principal): { permissions: ReadonlySet<Permission>; bucket: string } {
    let d = this.principals.get(p);
    if (d === undefined) {
      const cred = p.kind === 'api_key' ? p.credentialId : `user:${p.userId}`;
      d = { permissions: new Set(permissionsOf(p)), bucket: `key:${cred}` };
      this.principals.set(p, d);
    }
    return d;
  }

  /** The per-IP bucket's key; the last one is kept (keep-alive clients send many requests from one address). */
  private ipKey(addr: string): string {
    if (addr !== this.lastIp) { this.lastIp = addr; this.lastIpKey = `ip:${addr}`; }
    return this.lastIpKey;
  }
  private lastIp = '';
  private lastIpKey = 'ip:';

  /** Authentication and the per-key rate limit; throws problems. */
  private async prepare(route: Route, raw: RawRequest, body: Buffer, requestId: string, nowMs: number): Promise<RouteContext> {
    const ctx: RouteContext = { principal: null, access: null, params: {}, query: {}, body: undefined, raw, requestId, nowMs, audit: {} };
    // raw.headers holds uWS's lower-case names, so this is auth/signing.ts hasSignatureHeaders
    // without its case-insensitive scan (which iterates every header when the name is absent).
    const signed = raw.headers.has(HEADER_KEY) || raw.headers.has(HEADER_SIGNATURE);
    const authz = raw.headers.get('authorization');
    if (signed && this.auth.signatures !== undefined) {
      const v = this.auth.signatures.verifyRequest({ method: raw.method, pathWithQuery: targetOf(raw), headers: raw.headers, body }, nowMs);
      const r = v instanceof Promise ? await v : v; // a promise when the nonce check is shared (Redis)
      if (!r.ok) throw problem(r.httpStatus, r.code, r.message, r.serverTimeMs !== undefined ? { server_time_ms: r.serverTimeMs } : {});
      ctx.principal = r.principal;
    } else if (authz !== undefined && this.auth.accessTokens !== undefined) {
      if (raw.repeated.has('authorization')) throw problem(401, 'malformed_credentials', 'the Authorization header is repeated');
      const token = bearerToken(authz);
      if (token === undefined) throw problem(401, 'malformed_credentials', 'expected Authorization: Bearer <token>');
      const r = await this.auth.accessTokens.verify(token, nowMs);
      if (!r.ok) throw problem(r.httpStatus === 403 ? 403 : 401, r.code, r.message);
      ctx.principal = r.principal;
      ctx.access = { jti: r.principal.credentialId, expiresAtMs: r.expiresAtMs };
    }
    if (ctx.principal !== null) {
      const kd = this.consume(this.derived(ctx.principal).bucket, this.o.perKey, nowMs);
      const d = kd instanceof Promise ? await kd : kd;
      if (!d.allowed) throw rateProblem(d.retryAfterSeconds);
    }
    return ctx;
  }

  private checkPermission(route: Route, ctx: RouteContext): void {
    if (route.permission === 'public') return;
    const p = ctx.principal;
    if (p === null) throw problem(401, 'missing_credentials', 'this route needs credentials: a signed request (X-TE-APIKEY, ...) or Authorization: Bearer <token>', {}, { 'www-authenticate': 'Bearer' });
    if (this.derived(p).permissions.has(route.permission)) return;
    // authorize() says which of role and scope is missing.
    const rule = PERMISSIONS[route.permission];
    const d = authorize(p, route.permission, rule.target === 'account' ? [...p.accountIds][0] ?? 0 : undefined);
    if (!d.ok) throw problem(d.httpStatus === 404 ? 403 : d.httpStatus, d.code === 'account_not_found' ? 'role_missing' : d.code, d.message);
    throw problem(403, 'role_missing', `${route.permission} is needed`);
  }

  /**
   * Writes the request's audit row. `grouped` (success answers): through the audit writer's group
   * commit when it has one. Returns a promise that settles (never rejects) once the row is committed
   * or has failed, or null when nothing is to be waited for (no row, or written before this returns).
   * A failure is logged, counted (auditFailures) and latched: the router fails closed. While the
   * writer is down no row is attempted (counted as not written).
   */
  private auditRow(route: Route, ctx: RouteContext | null, raw: RawRequest, requestId: string, outcome: AuditOutcome, detail: Record<string, unknown>,
    grouped = false): Promise<void> | null {
    const audit = this.auth.audit;
    if (route.method === 'get' || route.audit === null || route.audit === undefined || audit === undefined) return null;
    const p = ctx?.principal ?? null;
    const actor = p === null ? 'anonymous' : p.kind === 'api_key' ? `key:${p.credentialId}` : `user:${p.userId}`;
    // target is set only when known (an absent field, not undefined), without spreading into the
    // literal (which made a dictionary-mode object per request).
    const entry: AuditInput = {
      tsMs: this.o.nowMs(), actor, action: route.audit, remoteAddr: raw.remoteAddr, requestId, outcome,
      detail: auditDetail(raw, detail, ctx?.audit.detail),
    };
    if (ctx?.audit.target !== undefined) entry.target = ctx.audit.target;
    if (this.auditFailure !== null) { this.auditSkipped++; return null; }
    const failed = (e: unknown): void => {
      this.auditFailures++;
      // A bad entry (TypeError) is this request's bug, not the writer's: it does not close writes.
      if (!(e instanceof TypeError)) this.auditError ??= e instanceof Error ? e : new Error(String(e));
      this.o.log?.({ err: (e as Error)?.message ?? String(e), requestId, action: entry.action, outcome }, 'rest: audit append failed; the row is missing');
    };
    let r: unknown;
    try {
      r = grouped && audit.appendGrouped !== undefined ? audit.appendGrouped(entry) : audit.append(entry);
    } catch (e) {
      failed(e);
      return null;
    }
    return r instanceof Promise ? r.then(noop, failed) : null;
  }
}

const EMPTY = Buffer.alloc(0);
/** The problem `code` (and type suffix) of a refusal while the audit trail cannot be written. */
export const AUDIT_UNAVAILABLE = 'audit_unavailable';
const noop = (): void => {};

/** `{ method, path, ...detail, ...extra }`, built by assignment (same keys, later ones win). */
function auditDetail(raw: RawRequest, detail: Record<string, unknown>, extra: Record<string, unknown> | undefined): Record<string, unknown> {
  const d: Record<string, unknown> = { method: raw.method, path: raw.path };
  for (const k in detail) d[k] = detail[k];
  if (extra !== undefined) for (const k in extra) d[k] = extra[k];
  return d;
}

function rateProblem(retryAfterSeconds: number): ProblemError {
  return problem(429, 'rate_limited', `too many requests; retry after ${retryAfterSeconds} s`, { retry_after_seconds: retryAfterSeconds }, { 'retry-after': String(retryAfterSeconds) });
}

/**
 * Query string -> object. Every parameter is a scalar (lists are comma-separated in one value), so a
 * repeated name (`?limit=1&limit=999`) is a validation error at query.<name>, not "the first wins".
 */
function queryObject(query: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (query === '') return out;
  let repeated: FieldError[] | null = null;
  for (const [k, v] of new URLSearchParams(query)) {
    if (!Object.hasOwn(out, k)) out[k] = v;
    else if (!(repeated ??= []).some((e) => e.path === `query.${k}`)) repeated.push({ path: `query.${k}`, message: 'given more than once', code: 'repeated_parameter' });
  }
  if (repeated !== null) throw validationProblem(repeated);
  return out;
}

function parseBody(schema: z.ZodType | undefined, body: Buffer, raw: RawRequest): unknown {
  if (schema === undefined) {
    if (body.length > 0) throw validationProblem([{ path: 'body', message: 'this route takes no body', code: 'unexpected_body' }]);
    return undefined;
  }
  const ct = raw.headers.get('content-type') ?? '';
  if (body.length > 0 && !/^application\/json\s*(;|$)/i.test(ct)) throw problem(415, 'unsupported_media_type', 'send the body as application/json');
  let json: unknown;
  try {
    json = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch {
    throw problem(400, 'malformed_json', 'the body is not valid JSON');
  }
  return parseInto(schema, json, 'body');
}

/** A path parameter, percent-decoded; a malformed escape (`%ZZ`, a cut UTF-8 sequence) is a 400, not a URIError. */
function decodePathParam(name: string, v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    throw validationProblem([{ path: `path.${name}`, message: 'malformed percent-encoding', code: 'invalid_format' }]);
  }
}

export function parseInto<T>(schema: z.ZodType<T> | undefined, value: unknown, where: 'body' | 'query' | 'path'): T {
  if (schema === undefined) {
    if (value !== null && typeof value === 'object' && Object.keys(value).length > 0) {
      throw validationProblem(Object.keys(value).map((k) => ({ path: `${where}.${k}`, message: 'unknown parameter', code: 'unrecognized_keys' })));
    }
    return {} as T;
  }
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw validationProblem(fieldErrors(r.error, where));
}

export function fieldErrors(err: z.ZodError, where: string): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of err.issues) {
    const base = [where, ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push({ path: `${base}.${k}`, message: 'unknown field', code: 'unrecognized_keys' });
    } else {
      // A custom issue may stand for an engine reject reason (schemas.ts rejectParams): its slug and number.
      const pr = issue.code === 'custom' ? (issue.params as { code?: unknown; reason_code?: unknown } | undefined) : undefined;
      if (typeof pr?.code === 'string' && typeof pr.reason_code === 'number') out.push({ path: base, message: issue.message, code: pr.code, reason_code: pr.reason_code });
      else out.push({ path: base, message: issue.message, code: issue.code });
    }
  }
  return out;
}
