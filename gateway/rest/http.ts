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
  repeated: Set<string>;
  remoteAddr: string;
  /** uWS route parameters in order. */
  params: string[];
}

export function captureRequest(res: HttpResponse, req: HttpRequest, paramCount: number): RawRequest {
  const headers = new Map<string, string>();
  const repeated = new Set<string>();
  req.forEach((k, v) => {
    if (headers.has(k)) repeated.add(k); else headers.set(k, v);
  });
  const params: string[] = [];
  for (let i = 0; i < paramCount; i++) params.push(req.getParameter(i) ?? '');
  return {
    method: req.getCaseSensitiveMethod().toUpperCase(), path: req.getUrl(), query: req.getQuery() ?? '', headers, repeated,
    remoteAddr: Buffer.from(res.getRemoteAddressAsText()).toString('utf8'), params,
  };
}

/** The request target as sent (for signatures). */
export function targetOf(r: RawRequest): string {
  return r.query === '' ? r.path : `${r.path}?${r.query}`;
}

export class BodyTooLarge extends Error {}

/**
 * Reads the body, refusing more than `limitBytes` (the caller checks Content-Length first). Resolves
 * with the bytes, or rejects with BodyTooLarge; `aborted` is set by the caller's onAborted.
 */
export function readBody(res: HttpResponse, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > limitBytes) { done = true; reject(new BodyTooLarge()); return; }
      // uWS reuses the chunk's memory after the callback: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk.slice(0))));
      if (isLast) { done = true; resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)); }
    });
  });
}

export interface Answer {
  status: number;
  /** Serialized body (JSON or text); undefined for 204. */
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export function writeAnswer(res: HttpResponse, a: Answer, common: Record<string, string>): void {
  res.cork(() => {
    res.writeStatus(`${a.status} ${STATUS_TEXT[a.status] ?? ''}`);
    if (a.body !== undefined) res.writeHeader('content-type', a.contentType ?? 'application/json');
    for (const k in common) res.writeHeader(k, common[k]!);
    if (a.headers) for (const k in a.headers) res.writeHeader(k, a.headers[k]!);
    res.end(a.body ?? '');
  });
}

export function problemAnswer(p: ProblemError, instance?: string): Answer {
  return { status: p.status, body: JSON.stringify(p.body(instance)), contentType: 'application/problem+json', headers: p.headers };
}
