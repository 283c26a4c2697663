// A lean HTTP/1.1 load generator for bench/rest.bench.ts, in the manner of wrk: one raw node:net
// socket per connection, keep-alive, each request pre-encoded once (a few fixed variants), answers
// read with a minimal parser (status line and Content-Length; the body is skipped, except the start
// of the first non-2xx body, kept for the failure message). Answers split across reads and several
// answers in one read are both handled; chunked or close-delimited answers are refused (the server
// under test always sends Content-Length).
//
// Closed loop (default): each connection has one request in flight and sends the next as soon as an
// answer ends; latency = write to the end of the answer. Open loop (`rate` > 0, wrk2 style): each
// connection has its own schedule of intended send times (rate / connections per second, staggered),
// still one request in flight; latency is taken from the intended send time, so a late answer also
// counts against the requests queued behind it (no coordinated omission). Latencies go into one
// preallocated Float64Array per phase.

import net from 'node:net';

export interface LoadPhase {
  port: number;
  /** Pre-encoded requests; request k (counted across all connections) is requests[k % length]. */
  requests: Buffer[];
  seconds: number;
  connections: number;
  /** Open loop: total requests per second over all connections; 0 = closed loop. */
  rate?: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  statuses: Record<string, number>;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Open loop only: write-to-answer percentiles (service time, without the wait behind a late answer). */
  serviceP50Ms?: number;
  serviceP99Ms?: number;
  /** The first non-2xx answer (status line and the start of its body), or the first socket error. */
  firstFailure?: string;
}

/** `METHOD path HTTP/1.1` with the given headers, a Content-Length when there is a body, then the body. */
export function encodeRequest(method: string, path: string, headers: Record<string, string>, body?: string): Buffer {
  let head = `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n`;
  for (const k in headers) head += `${k}: ${headers[k]}\r\n`;
  if (body !== undefined) head += `content-length: ${Buffer.byteLength(body)}\r\n`;
  return Buffer.from(`${head}\r\n${body ?? ''}`, 'latin1');
}

class Samples {
  private a: Float64Array;
  n = 0;
  constructor(capacity: number) { this.a = new Float64Array(capacity); }
  add(v: number): void {
    if (this.n === this.a.length) { const b = new Float64Array(this.a.length * 2); b.set(this.a); this.a = b; }
    this.a[this.n++] = v;
  }
  /** Sorts in place; call once at the end. */
  quantiles(): (p: number) => number {
    const s = this.a.subarray(0, this.n).sort();
    return (p) => (s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(p * s.length))]!);
  }
}

const CR = 13, LF = 10;
const HEAD_LIMIT = 16 * 1024;

/** Where the "\r\n\r\n" of a head starting at `at` ends (searching from `from` on), or -1. */
function headEnd(b: Buffer, at: number, from: number): number {
  for (let i = Math.max(from, at + 3); i < b.length; i++) {
    if (b[i] === LF && b[i - 1] === CR && b[i - 2] === LF && b[i - 3] === CR) return i + 1;
  }
  return -1;
}

/** Content-Length of a head (latin1, "\r\n"-separated lines), or -1 when absent. */
function contentLength(head: string): number {
  const lower = head.toLowerCase();
  const at = lower.indexOf('\r\ncontent-length:');
  if (at < 0) return -1;
  let i = at + 17;
  while (lower.charCodeAt(i) === 32 || lower.charCodeAt(i) === 9) i++;
  let v = 0, digits = 0;
  for (let c = lower.charCodeAt(i); c >= 48 && c <= 57; c = lower.charCodeAt(++i)) { v = v * 10 + (c - 48); digits++; }
  return digits === 0 ? -1 : v;
}

export function runLoad(o: LoadPhase): Promise<LoadResult> {
  const rate = o.rate ?? 0;
  const closed = rate <= 0;
  const lat = new Samples(Math.max(1024, Math.ceil(o.seconds * (closed ? 100_000 : rate * 1.1))));
  const service = closed ? null : new Samples(Math.max(1024, Math.ceil(o.seconds * rate * 1.1)));
  const statuses: Record<string, number> = {};
  let errors = 0, done = 0, seq = 0, firstFailure: string | undefined;
  const start = performance.now();
  const end = start + o.seconds * 1000;
  const interval = closed ? 0 : (1000 * o.connections) / rate;
  const failure = (s: string): void => { firstFailure ??= s; };

  return new Promise((resolve) => {
    let open = o.connections;
    const finished = (): void => {
      if (--open > 0) return;
      const secs = (performance.now() - start) / 1000;
      const q = lat.quantiles();
      const r: LoadResult = {
        requests: done, errors, statuses, seconds: +secs.toFixed(2), rps: Math.round(done / secs),
        p50Ms: +q(0.5).toFixed(3), p99Ms: +q(0.99).toFixed(3), p999Ms: +q(0.999).toFixed(3), maxMs: +q(1).toFixed(3),
      };
      if (service !== null) { const s = service.quantiles(); r.serviceP50Ms = +s(0.5).toFixed(3); r.serviceP99Ms = +s(0.99).toFixed(3); }
      if (firstFailure !== undefined) r.firstFailure = firstFailure;
      resolve(r);
    };

    for (let c = 0; c < o.connections; c++) {
      // Open loop: connection c's i-th request is due at start + (i + c / connections) * interval.
      let due = start + (c / o.connections) * interval;
      let sentAt = 0;
      let inFlight = false;
      let stopped = false;
      // Parser state: bytes of an unfinished head, or the body bytes still to skip.
      let pending: Buffer | null = null;
      let status = 0, bodyLeft = 0, inBody = false;
      let sample: string | null = null;
      let sock: net.Socket;
      let timer: NodeJS.Timeout | null = null;

      const stop = (): void => {
        if (stopped) return;
        stopped = true;
        if (timer !== null) clearTimeout(timer);
        sock.destroy();
        finished();
      };
      const send = (): void => {
        timer = null;
        const now = performance.now();
        if (now >= end) { stop(); return; }
        if (!closed && now < due) { timer = setTimeout(send, due - now); return; }
        inFlight = true;
        sentAt = now;
        sock.write(o.requests[seq++ % o.requests.length]!);
      };
      const answered = (): void => {
        const now = performance.now();
        done++;
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (closed) lat.add(now - sentAt);
        else { lat.add(now - due); service!.add(now - sentAt); due += interval; }
        if (sample !== null) { failure(sample); sample = null; }
        inFlight = false;
        status = 0; inBody = false;
        send();
      };
      const parse = (chunk: Buffer): void => {
        let b = chunk, at = 0;
        while (at < b.length) {
          if (inBody) {
            const take = Math.min(bodyLeft, b.length - at);
            if (sample !== null && sample.length < 300) sample += b.toString('utf8', at, at + Math.min(take, 300 - sample.length));
            bodyLeft -= take; at += take;
            if (bodyLeft === 0) answered();
            continue;
          }
          // A head: join with what an earlier read left over.
          let from = at;
          if (pending !== null) { from = pending.length; b = Buffer.concat([pending, b.subarray(at)]); at = 0; pending = null; }
          const e = headEnd(b, at, from - 3);
          if (e < 0) {
            if (b.length - at > HEAD_LIMIT) throw new Error('answer head larger than 16 KiB');
            pending = Buffer.from(b.subarray(at));
            return;
          }
          const head = b.toString('latin1', at, e);
          if (!inFlight) throw new Error(`an answer arrived with no request in flight: ${JSON.stringify(head.slice(0, 80))}`);
          if (!head.startsWith('HTTP/1.1 ')) throw new Error(`not an HTTP/1.1 answer: ${JSON.stringify(head.slice(0, 80))}`);
          status = Number(head.slice(9, 12));
          const len = contentLength(head);
          if (len < 0) throw new Error(`answer without Content-Length: ${JSON.stringify(head.slice(0, 200))}`);
          if ((status < 200 || status > 299) && firstFailure === undefined) sample = `${head.slice(0, head.indexOf('\r\n'))} `;
          at = e; bodyLeft = len; inBody = true;
          if (len === 0) { inBody = false; answered(); }
        }
      };
      const connect = (): void => {
        pending = null; inBody = false; status = 0; sample = null;
        sock = net.connect({ host: '127.0.0.1', port: o.port, noDelay: true });
        let connected = false;
        sock.on('connect', () => { connected = true; send(); });
        sock.on('data', (chunk) => {
          try {
            parse(chunk);
          } catch (e) {
            errors++;
            failure(String(e));
            if (inFlight) { inFlight = false; if (!closed) due += interval; }
            sock.destroy();
          }
        });
        sock.on('error', (e) => { failure(`socket: ${e.message}`); });
        sock.on('close', () => {
          if (stopped) return;
          // Dropped mid-request (or by the server): one error, then a new connection while time remains.
          if (inFlight || !connected) errors++;
          if (inFlight) { inFlight = false; if (!closed) due += interval; }
          if (performance.now() >= end) { stopped = true; finished(); return; }
          if (connected) connect(); else setTimeout(connect, 20);
        });
      };
      connect();
    }
  });
}
