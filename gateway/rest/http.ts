// uWebSockets.js I/O for the REST shim: what a handler needs from a request, read while the request
// object is valid (it is only valid during the synchronous part of the callback), the body read with
// a size limit enforced while it streams in (and up front from Content-Length), and answers written
// in one cork.

import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { STATUS_TEXT, type ProblemError } from './problem.js';

export interface RawRequest {
  method: string;
  /** Path without the query. */
  path: string;
  /** Raw query without "?" ("" when none). */
  query: string;
  /** Lower-case names; a repeated header keeps its first value and is listed in `repeated`. */
  headers: Map<string, string>;
  /** Read-only (shared when empty). */
  repeated: ReadonlySet<string>;
  remoteAddr: string;
  /** uWS route parameters in order. */
  params: string[];
}

const NO_REPEATS: Set<string> = new Set();

export function captureRequest(res: HttpResponse, req: HttpRequest, paramCount: number): RawRequest {
  const headers = new Map<string, string>();
  let repeated: Set<string> | null = null;
  req.forEach((k, v) => {
    if (headers.has(k)) (repeated ??= new Set()).add(k); else headers.set(k, v);
  });
  const params: string[] = [];
  for (let i = 0; i < paramCount; i++) params.push(req.getParameter(i) ?? '');
  return {
    method: req.getCaseSensitiveMethod().toUpperCase(), path: req.getUrl(), query: req.getQuery() ?? '', headers, repeated: repeated ?? NO_REPEATS,
    remoteAddr: remoteAddress(res), params,
  };
}

const textDecoder = new TextDecoder();
let lastAddrBytes: Uint8Array | null = null;
let lastAddr = '';

/** The peer's address as text; the last one is remembered (keep-alive clients send many requests from one address). */
function remoteAddress(res: HttpResponse): string {
  const b = new Uint8Array(res.getRemoteAddressAsText());
  const l = lastAddrBytes;
  if (l !== null && l.length === b.length) {
    let same = true;
    for (let i = 0; i < b.length; i++) if (l[i] !== b[i]) { same = false; break; }
    if (same) return lastAddr;
  }
  lastAddrBytes = b.slice();
  lastAddr = textDecoder.decode(b);
  return lastAddr;
}

/** The request target as sent (for signatures). */
export function targetOf(r: RawRequest): string {
  return r.query === '' ? r.path : `${r.path}?${r.query}`;
}

export class BodyTooLarge extends Error {}

/**
 * Reads the body, refusing more than `limitBytes` (the caller checks Content-Length first). Calls
 * `done` once: with the bytes, or with BodyTooLarge; `aborted` is set by the caller's onAborted.
 */
export function readBody(res: HttpResponse, limitBytes: number, done: (err: BodyTooLarge | null, body: Buffer) => void): void {
  let chunks: Buffer[] | null = null;
  let first: Buffer | null = null;
  let size = 0;
  let finished = false;
  res.onData((chunk, isLast) => {
    if (finished) return;
    size += chunk.byteLength;
    if (size > limitBytes) { finished = true; done(new BodyTooLarge(), EMPTY); return; }
    // uWS reuses the chunk's memory after the callback: copy it (once). Buffer.from(Uint8Array)
    // copies into node's buffer pool (small bodies); chunk.slice(0) made a new ArrayBuffer per chunk.
    const b = Buffer.from(new Uint8Array(chunk));
    if (first === null) first = b; else (chunks ??= [first]).push(b);
    if (isLast) { finished = true; done(null, chunks !== null ? Buffer.concat(chunks) : first); }
  });
}

const EMPTY = Buffer.alloc(0);

export interface Answer {
  status: number;
  /** Serialized body (JSON or text); undefined for 204. */
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

const statusLines = new Map<number, string>();

function statusLine(status: number): string {
  let l = statusLines.get(status);
  if (l === undefined) { l = `${status} ${STATUS_TEXT[status] ?? ''}`; statusLines.set(status, l); }
  return l;
}

/** Headers of every answer: `cache-control: no-store`, `x-content-type-options: nosniff`, the request id, CORS. */
export interface CommonHeaders {
  /** "" = none. */
  requestId: string;
  /** The allowed Origin echoed back, or null. */
  origin: string | null;
}

export function writeAnswer(res: HttpResponse, a: Answer, common: CommonHeaders): void {
  res.cork(() => {
    res.writeStatus(statusLine(a.status));
    if (a.body !== undefined) res.writeHeader('content-type', a.contentType ?? 'application/json');
    res.writeHeader('cache-control', 'no-store');
    res.writeHeader('x-content-type-options', 'nosniff');
    if (common.requestId !== '') res.writeHeader('x-request-id', common.requestId);
    if (common.origin !== null) {
      res.writeHeader('access-control-allow-origin', common.origin);
      res.writeHeader('vary', 'Origin');
      res.writeHeader('access-control-expose-headers', 'retry-after, x-request-id');
    }
    if (a.headers) for (const k in a.headers) res.writeHeader(k, a.headers[k]!);
    res.end(a.body ?? '');
  });
}

export function problemAnswer(p: ProblemError, instance?: string): Answer {
  return { status: p.status, body: JSON.stringify(p.body(instance)), contentType: 'application/problem+json', headers: p.headers };
}
