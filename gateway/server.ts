// The network gateway (issue 5): one uWebSockets.js server, one port, for
//   GET  /health      process up (plain HTTP, JSON)
//   GET  /ready       engine running and not recovering, replication lag within its limit (503 otherwise)
//   WS   /ws/orders   binary order entry (docs/protocol.md), authenticated at the upgrade
//   WS   /ws/stream   JSON market data and account streams (docs/gateway.md)
// in front of the engine runtime (gateway/engine.ts). TLS with uWS.SSLApp when cert and key files
// are configured.
//
// Order path: a binary frame is decoded in place by CommandDecoder (batches of messages), each
// request is stamped with the session's account and submitted to the engine; what the engine
// refuses before sequencing (ledger, Busy) is answered with an ExecRejected (seq 0) by the gateway.
// A request the engine defers (a linked order waiting for its book to settle, or a command queued
// behind one: Engine.submit Deferred) is answered when the engine decides it; the session's later
// requests wait in the gateway meanwhile, so each session's requests are still sequenced in order.
// Everything else is answered from the engine's acks (reports.ts), which come only once the
// command is durable. Reports for a session are gathered per event-loop turn and sent as one frame.
//
// See docs/gateway.md for the connection options, close codes and stream messages.

import { accessSync, constants as fsConstants } from 'node:fs';
import uWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket, us_socket_context_t } from 'uWebSockets.js';
import { OrderBook } from '../core/book.js';
import { RuntimeCommandType } from '../core/command-codec.js';
import { EventBuffer } from '../core/events.js';
import { EVR_TYPE_DONE } from '../core/command-codec.js';
import { Command, CommandType, EventType, OrderFlags, OrderType, RejectReason } from '../core/types.js';
import { latestSnapshot } from '../persistence/journal.js';
import { decodeSnapshot } from '../persistence/snapshot-blob.js';
import type { RedisBus } from '../persistence/redis.js';
import { SubmitStatus, type Ack, type Engine, type SubmitResult } from './engine.js';
import { CommandDecoder, DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_MESSAGES_PER_FRAME, MsgType, ProtoError, ReportEncoder } from './protocol.js';
import { ReportRouter, type ReportSink } from './reports.js';
import {
  CloseCode, OptionalAuthenticator, Session, SessionKind, queryParam, refusal,
  type AuthOutcome, type AuthRefusal, type Authenticator, type SessionData, type UpgradeRequest,
} from './sessions.js';
import { Streams, type StreamSocket } from './streams.js';
import { readSideReadiness } from '../persistence/pg/read-status.js';

/**
 * The gateway has no reject code of its own for "this credential may not do that" yet (a request
 * for RejectReason.NotPermitted = 66 is with the lead); until then such requests are answered with
 * InvalidAccount: the session's account may not be used for that request.
 */
export const REJECT_NOT_PERMITTED = RejectReason.NotPermitted;

export interface TlsOptions {
  certFile: string;
  keyFile: string;
  passphrase?: string;
}

export interface GatewayOptions {
  host: string;
  /** 0 = any free port (tests); the bound port is `server.port`. */
  port: number;
  tls?: TlsOptions | null;
  /** Authenticates /ws/orders upgrades (required) and, through OptionalAuthenticator, /ws/stream. */
  authenticator: Authenticator;
  /** /ws/stream: default = anonymous allowed for market data, credentials checked when given. */
  streamAuthenticator?: Authenticator;
  maxFrameBytes?: number;
  maxMessagesPerFrame?: number;
  /** Malformed frames tolerated per window before the session is closed (default 8 per 10 s). */
  malformedLimit?: number;
  malformedWindowMs?: number;
  /** Heartbeat on a quiet order session (default 10000 ms; 0 = off). */
  heartbeatIntervalMs?: number;
  /** An order session with more unsent bytes than this is closed (default 8 MiB). */
  orderMaxBufferedBytes?: number;
  /** A stream session over this is a slow consumer (default 1 MiB). */
  streamMaxBufferedBytes?: number;
  /** uWS idle timeout in seconds (pings are sent automatically); default 120. */
  idleTimeoutSec?: number;
  /** Wall clock in ms for authentication and timers (tests: fake). Default Date.now. */
  nowMs?: () => number;
  log?: (fields: Record<string, unknown>, msg: string) => void;
  /** Mounts more HTTP routes (the REST shim: gateway/rest/mount.ts) before the 404 catch-all. */
  mount?: (server: GatewayServer) => void;
}

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
}

export interface GatewayStats {
  orderSessions: number;
  streamSessions: number;
  framesIn: number;
  messagesIn: number;
  sessionRejects: number;
  gatewayRejects: number;
  busyRejects: number;
  closedMalformed: number;
  closedSlow: number;
  streamResyncs: number;
  trackedOrders: number;
}

interface CodJob {
  account: number;
  /** Instruments still to cancel. */
  ids: number[];
}

type MassCancelJob = ReturnType<ReportRouter['beginMassCancel']>;

/** A mass cancel being submitted book by book (resumed after a part the engine deferred). */
interface MassRun {
  job: MassCancelJob;
  ids: number[];
  /** The next part to submit. */
  k: number;
  requestId: number;
  fail: number;
}

/** A request the engine answered Deferred (by its submit tag): what its final answer needs. */
interface DeferredRequest {
  session: Session;
  /** A mass cancel part, else an order request. */
  mass: MassRun | null;
  msgType: number;
  orderId: number;
  clientOrderId: number;
  instrumentId: number;
  commandType: number;
  child: number;
  /** performance.now() at its frame (binary order metrics). */
  t0: number;
}

/**
 * A request that arrived while an earlier one of its session was deferred: a copy of the command
 * (the decoder's Command is reused), or, past MAX_HELD_PER_SESSION, only what its Busy answer needs
 * (msgType negated, cmd null).
 */
interface HeldRequest {
  msgType: number;
  cmd: Command | null;
  instrumentId: number;
  requestId: number;
  orderId: number;
  clientOrderId: number;
  commandType: number;
}

/**
 * A session with a request parked in the engine (Engine.submit answered Deferred): its later
 * requests are held here and submitted in order once it is answered, so that the session's requests
 * are sequenced, and answered, in the order they came (docs/protocol.md).
 */
interface SessionWait {
  /** The submit tag of the deferred request outstanding; 0 when none. */
  tag: number;
  held: HeldRequest[];
  head: number;
  /** A mass cancel interrupted by a deferred part. */
  mass: MassRun | null;
}

/** Requests held per session behind a deferred one; beyond it they are answered Busy (in order). */
const MAX_HELD_PER_SESSION = 4096;
/**
 * Requests held per session at most, counting those to be answered Busy: a client that keeps
 * pipelining past it while its deferred request waits is closed as a slow consumer (its held
 * requests are dropped, as at any close), so a session's memory stays bounded.
 */
const MAX_PENDING_PER_SESSION = 65_536;
/** A session's taken prefix of held requests is dropped once it is this long and half the array. */
const HELD_COMPACT_AT = 1024;

/**
 * Metrics of binary-protocol orders (the REST shim's /metrics: gateway/rest/metrics.ts): called once
 * per NewOrder a session submitted, when its ack goes out (after the durable ack), with the order's
 * status then and the time from its frame's decoding to the ack.
 */
export type BinaryOrderObserver = (status: BinaryOrderStatus, latencyMs: number) => void;
export type BinaryOrderStatus = 'new' | 'pending_trigger' | 'partially_filled' | 'filled' | 'canceled' | 'expired' | 'rejected';

const binaryOrderObservers = new WeakMap<Engine, BinaryOrderObserver>();

/** Registers the observer of the binary orders of the gateway on `engine` (one; a second replaces it). */
export function observeBinaryOrders(engine: Engine, fn: BinaryOrderObserver): void {
  binaryOrderObservers.set(engine, fn);
}

/**
 * The status of new order `seq` after its own ack, from the ack's events (the last lifecycle event
 * of that order wins): rejected, new or pending_trigger (accepted; a stop type waits for its
 * trigger), partially_filled or filled (a trade with leaves left or not), canceled, expired.
 */
export function newOrderStatus(ack: Ack): BinaryOrderStatus {
  const w = ack.words, id = ack.seq;
  let st: BinaryOrderStatus = 'new';
  for (let r = 0; r < ack.recordCount; r++) {
    const o = ack.recordOffset(r);
    const type = w[o]!;
    if (type === EVR_TYPE_DONE) continue;
    if (type === EventType.Rejected) { if (w[o + 1] === id) return 'rejected'; }
    else if (type === EventType.Accepted) { if (w[o + 3] === id) st = w[o + 7]! >= OrderType.Stop ? 'pending_trigger' : 'new'; }
    else if (type === EventType.Triggered) { if (w[o + 3] === id && st === 'pending_trigger') st = 'new'; }
    else if (type === EventType.Trade) {
      if (w[o + 8] === id) st = w[o + 14] === 0 ? 'filled' : 'partially_filled';
      else if (w[o + 6] === id) st = w[o + 13] === 0 ? 'filled' : 'partially_filled';
    } else if (type === EventType.Canceled || type === EventType.Expired) {
      if (w[o + 3] === id) st = type === EventType.Canceled ? 'canceled' : 'expired';
    }
  }
  return st;
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' };
const LONG_FRAME_SLACK = 8;

export class GatewayServer implements ReportSink {
  readonly engine: Engine;
  readonly app: TemplatedApp;
  port = 0;
  readonly router: ReportRouter;
  readonly streams: Streams;

  private readonly o: Required<Omit<GatewayOptions, 'tls' | 'streamAuthenticator' | 'log' | 'mount'>> & Pick<GatewayOptions, 'tls'>;
  private readonly streamAuth: Authenticator;
  private readonly log: (fields: Record<string, unknown>, msg: string) => void;
  private readonly decoder: CommandDecoder;
  private readonly enc = new ReportEncoder(64);
  private readonly byAccount = new Map<number, Session[]>();
  private readonly orderSessions = new Set<Session>();
  private readonly dirty: Session[] = [];
  private flushQueued = false;
  private listenSocket: us_listen_socket | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly prevOnAck: ((ack: Ack) => void) | null;
  private seeding = false;
  private closing = false;
  private readonly codJobs: CodJob[] = [];
  /** Deferred sequencing: sessions waiting for a deferred request, and those requests by tag. */
  private readonly waits = new Map<Session, SessionWait>();
  private readonly deferredReqs = new Map<number, DeferredRequest>();
  private nextTag = 0;
  /** Scratch command for mass cancel parts. */
  private readonly massCmd = new Command();
  private codScheduled = false;
  /** A cancel-on-disconnect part is parked in the engine (runCod resumes from its answer). */
  private codDeferred = false;
  private readonly instrumentIds: number[];
  private onClose: (() => void)[] = [];
  /** Binary NewOrders submitted and not yet acked, for binaryOrderObservers: [seq, performance.now()] pairs, a FIFO (acks come in seq order). */
  private orderTimes = new Float64Array(2048);
  private orderTimesHead = 0;
  private orderTimesLen = 0;
  /** More conditions of /ready (e.g. the REST shim's audit writer, gateway/rest/mount.ts). */
  private readonly readinessChecks: { name: string; check: () => { ok: boolean; detail?: Record<string, unknown> } }[] = [];
  private readonly mountHook: ((server: GatewayServer) => void) | null;

  // Counters.
  framesIn = 0;
  messagesIn = 0;
  sessionRejects = 0;
  gatewayRejects = 0;
  busyRejects = 0;
  closedMalformed = 0;
  closedSlow = 0;
  ackErrors = 0;

  private constructor(engine: Engine, options: GatewayOptions) {
    this.engine = engine;
    this.o = {
      host: options.host, port: options.port, tls: options.tls ?? null, authenticator: options.authenticator,
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      maxMessagesPerFrame: options.maxMessagesPerFrame ?? DEFAULT_MAX_MESSAGES_PER_FRAME,
      malformedLimit: options.malformedLimit ?? 8, malformedWindowMs: options.malformedWindowMs ?? 10_000,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 10_000,
      orderMaxBufferedBytes: options.orderMaxBufferedBytes ?? 8 << 20,
      streamMaxBufferedBytes: options.streamMaxBufferedBytes ?? 1 << 20,
      idleTimeoutSec: options.idleTimeoutSec ?? 120,
      nowMs: options.nowMs ?? Date.now,
    };
    this.streamAuth = options.streamAuthenticator ?? new OptionalAuthenticator(options.authenticator);
    this.log = options.log ?? (() => {});
    this.mountHook = options.mount ?? null;
    this.decoder = new CommandDecoder({ maxFrameBytes: this.o.maxFrameBytes, maxMessagesPerFrame: this.o.maxMessagesPerFrame });
    this.instrumentIds = engine.instruments.map((s) => s.id);
    this.app = createApp(this.o.tls ?? null);
    this.streams = new Streams(engine.instruments, engine.ledger, this.app,
      (s) => (s.closed || s.ws === null ? null : s.ws as unknown as StreamSocket), { maxBufferedBytes: this.o.streamMaxBufferedBytes });
    this.router = new ReportRouter(this, engine.stats().ackedSeq, this.streams);
    this.prevOnAck = engine.onAck;
  }

  /**
   * Starts the gateway on a running engine: installs the ack handler, seeds the order tracker and
   * the book mirrors from a snapshot of the books, and listens.
   */
  static async start(engine: Engine, options: GatewayOptions): Promise<GatewayServer> {
    const g = new GatewayServer(engine, options);
    g.seeding = true;
    engine.onAck = g.onAck;
    try {
      // Its ack seeds the mirrors (onAck), in seq order with every other ack, from the books' blobs:
      // inline, so that they are stored when it is acked (nothing is flowing yet, nothing waits).
      await engine.snapshot('inline');
      if (g.seeding) throw new GatewayError('the snapshot ack did not arrive');
      g.routes();
      await g.listen();
    } catch (e) {
      engine.onAck = g.prevOnAck;
      throw e;
    }
    if (g.o.heartbeatIntervalMs > 0) {
      g.heartbeatTimer = setInterval(() => g.heartbeats(), Math.max(50, g.o.heartbeatIntervalMs / 2));
      g.heartbeatTimer.unref();
    }
    const native = uwsNative();
    g.log({ host: g.o.host, port: g.port, tls: g.o.tls !== null, uwsNative: native }, 'gateway listening');
    if (!native) g.log({ nodeVersion: process.version }, 'WARNING: uWebSockets.js runs its slower JavaScript fallback (its native binary did not load for this Node.js build, or UWS_USE_FALLBACK is set)');
    return g;
  }

  /** Adds a condition to /ready: while it is not ok, /ready answers 503 with its detail under `checks`. */
  addReadinessCheck(name: string, check: () => { ok: boolean; detail?: Record<string, unknown> }): void {
    this.readinessChecks.push({ name, check });
  }

  /** Runs `fn` at close (e.g. closing the identity database the authenticator uses). */
  onClosed(fn: () => void): void {
    this.onClose.push(fn);
  }

  stats(): GatewayStats {
    return {
      orderSessions: this.orderSessions.size, streamSessions: this.streams.sessions.size, framesIn: this.framesIn,
      messagesIn: this.messagesIn, sessionRejects: this.sessionRejects, gatewayRejects: this.gatewayRejects,
      busyRejects: this.busyRejects, closedMalformed: this.closedMalformed, closedSlow: this.closedSlow + this.streams.slowClosed,
      streamResyncs: this.streams.resyncs, trackedOrders: this.router.orders.size,
    };
  }

  get ready(): boolean {
    return !this.closing && this.engine.error === null && !this.engine.recovering;
  }

  // ------------------------------------------------------------------------------------------
  // Engine side
  // ------------------------------------------------------------------------------------------

  private readonly onAck = (ack: Ack): void => {
    this.prevOnAck?.(ack);
    if (this.seeding) {
      if (ack.commandType === RuntimeCommandType.Snapshot) { this.seed(ack.seq); this.seeding = false; }
      return;
    }
    if (this.orderTimesLen > 0) this.observeOrder(ack);
    try {
      this.router.onAck(ack);
      this.streams.onAck(ack);
    } catch (e) {
      // A gateway bug must not fail the engine (an exception in onAck would): the sessions may have
      // missed reports, so they are closed and clients reconnect and reconcile.
      this.ackErrors++;
      this.log({ err: (e as Error).stack ?? String(e), seq: ack.seq }, 'gateway: report routing failed; closing sessions');
      for (const s of [...this.orderSessions, ...this.streams.sessions]) if (!s.closed && s.ws !== null) s.ws.end(CloseCode.InternalError, 'internal error: reconnect');
    }
  };

  /** A binary NewOrder's ack: its status and latency to the observer (metrics). */
  private observeOrder(ack: Ack): void {
    const q = this.orderTimes, mask = q.length / 2 - 1;
    // Commands not acked in order cannot happen; entries older than this ack are dropped all the same.
    while (this.orderTimesLen > 0 && q[this.orderTimesHead * 2]! < ack.seq) { this.orderTimesHead = (this.orderTimesHead + 1) & mask; this.orderTimesLen--; }
    if (this.orderTimesLen === 0 || q[this.orderTimesHead * 2] !== ack.seq) return;
    const t0 = q[this.orderTimesHead * 2 + 1]!;
    this.orderTimesHead = (this.orderTimesHead + 1) & mask;
    this.orderTimesLen--;
    const obs = binaryOrderObservers.get(this.engine);
    if (obs === undefined) return;
    try {
      obs(newOrderStatus(ack), performance.now() - t0);
    } catch (e) {
      this.log({ err: (e as Error).message }, 'gateway: order metrics observer failed');
    }
  }

  /** Remembers a binary NewOrder's seq and submit time (`t0`, default now) while an observer is registered. */
  private noteOrderSubmitted(seq: number, t0 = -1): void {
    if (!binaryOrderObservers.has(this.engine)) return;
    let q = this.orderTimes;
    const cap = q.length / 2;
    if (this.orderTimesLen === cap) {
      const bigger = new Float64Array(q.length * 2);
      for (let i = 0; i < this.orderTimesLen; i++) { const j = ((this.orderTimesHead + i) & (cap - 1)) * 2; bigger[i * 2] = q[j]!; bigger[i * 2 + 1] = q[j + 1]!; }
      this.orderTimes = q = bigger;
      this.orderTimesHead = 0;
    }
    const k = ((this.orderTimesHead + this.orderTimesLen) & (q.length / 2 - 1)) * 2;
    q[k] = seq;
    q[k + 1] = t0 >= 0 ? t0 : performance.now();
    this.orderTimesLen++;
  }

  /** Book mirrors and open orders as of the snapshot at `seq` (called inside that snapshot's ack). */
  private seed(seq: number): void {
    const ev = new EventBuffer(16);
    let orders = 0;
    for (const spec of this.engine.instruments) {
      const snap = latestSnapshot(this.engine.journalPath, spec.id, seq);
      if (snap === null || snap.seq !== seq) throw new GatewayError(`no snapshot of ${spec.symbol} at seq ${seq}`);
      const state = decodeSnapshot(snap.blob).state;
      const book = OrderBook.restore(spec, ev, state);
      const nb = book.levelCount(0), na = book.levelCount(1);
      const bids = new Float64Array(3 * nb), asks = new Float64Array(3 * na);
      book.depthInto(0, nb, bids);
      book.depthInto(1, na, asks);
      this.streams.seedBook(spec.id, bids, nb, asks, na, state[2]!, seq);
      orders += this.router.seedFromDump(state);
    }
    this.router.lastAckedSeq = seq;
    this.log({ seq, openOrders: orders }, 'gateway seeded from the books\' snapshot');
  }

  // ReportSink
  sessionsOf(account: number): readonly Session[] {
    return this.byAccount.get(account) ?? NO_SESSIONS;
  }

  touched(s: Session): void {
    if (s.outLength === 0 || s.closed) return;
    this.dirty.push(s);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushTask);
    }
  }

  private readonly flushTask = (): void => {
    this.flushQueued = false;
    const list = this.dirty;
    for (let i = 0; i < list.length; i++) this.flush(list[i]!);
    list.length = 0;
  };

  /** Sends a session's outbox as one frame; closes a session that does not keep up. */
  private flush(s: Session): void {
    if (s.outLength === 0) return;
    const ws = s.ws;
    if (s.closed || ws === null) { s.outLength = 0; return; }
    if (ws.getBufferedAmount() > this.o.orderMaxBufferedBytes) {
      s.outLength = 0;
      this.closedSlow++;
      this.log({ session: s.id, account: s.account }, 'order session closed: slow consumer');
      ws.end(CloseCode.SlowConsumer, 'slow consumer: report backlog over the limit; reconnect and resync');
      return;
    }
    const bytes = s.out.subarray(0, s.outLength);
    ws.cork(() => { ws.send(bytes, true, false); });
    s.outLength = 0;
    s.lastSendMs = this.o.nowMs();
  }

  private heartbeats(): void {
    const now = this.o.nowMs();
    const e = this.enc;
    for (const s of this.orderSessions) {
      if (s.closed || now - s.lastSendMs < this.o.heartbeatIntervalMs) continue;
      e.reset();
      e.heartbeat(now * 1000);
      s.append(e.u8, 0, e.length);
      this.flush(s);
    }
    for (const s of this.streams.sessions) if (s.resync.size > 0) this.streams.drained(s);
  }

  // ------------------------------------------------------------------------------------------
  // HTTP and upgrades
  // ------------------------------------------------------------------------------------------

  private routes(): void {
    const app = this.app;
    app.get('/health', (res) => {
      json(res, '200 OK', { status: 'ok' });
    });
    app.get('/ready', (res) => {
      const st = this.engine.stats();
      // The read side (PostgreSQL replication) makes /ready fail while its lag is over the limit;
      // it does not refuse orders (this.ready): the engine itself is fine.
      const rs = readSideReadiness(this.engine);
      let checksOk = true;
      const checks: Record<string, unknown> = {};
      for (const c of this.readinessChecks) {
        const r = c.check();
        if (!r.ok) checksOk = false;
        checks[c.name] = { ok: r.ok, ...r.detail };
      }
      const ok = this.ready && rs.ok && checksOk;
      const body = { status: ok ? 'ready' : 'not_ready', recovering: this.engine.recovering, engineError: this.engine.error?.message ?? null,
        ackedSeq: st.ackedSeq, durableSeq: st.durableSeq, ...(rs.replication !== null ? { replication: rs.replication } : {}),
        ...(this.readinessChecks.length > 0 ? { checks } : {}) };
      json(res, ok ? '200 OK' : '503 Service Unavailable', body);
    });
    const wsBase = {
      compression: uWS.DISABLED,
      idleTimeout: this.o.idleTimeoutSec,
      sendPingsAutomatically: true,
    };
    app.ws<SessionData>('/ws/orders', {
      ...wsBase,
      // Frames a little over the protocol limit still reach the decoder (SessionReject Long); much
      // bigger ones are cut by uWS itself.
      maxPayloadLength: Math.max(this.o.maxFrameBytes * LONG_FRAME_SLACK, 64 * 1024),
      // Never let uWS drop a report: the gateway closes a session that falls this far behind.
      maxBackpressure: this.o.orderMaxBufferedBytes * 2,
      upgrade: (res, req, ctx) => this.upgrade(SessionKind.Orders, res, req, ctx),
      open: (ws) => this.openOrders(ws),
      message: (ws, msg, isBinary) => this.orderFrame(ws, msg, isBinary),
      drain: () => {},
      close: (ws) => this.closeOrders(ws.getUserData().session),
    });
    app.ws<SessionData>('/ws/stream', {
      ...wsBase,
      maxPayloadLength: 4096,
      maxBackpressure: this.o.streamMaxBufferedBytes * 2,
      upgrade: (res, req, ctx) => this.upgrade(SessionKind.Stream, res, req, ctx),
      open: (ws) => { const s = ws.getUserData().session; s.ws = ws; this.streams.sessions.add(s); this.armExpiry(s); },
      message: (ws, msg, isBinary) => this.streamMessage(ws, msg, isBinary),
      drain: (ws) => this.streams.drained(ws.getUserData().session),
      close: (ws) => { const s = ws.getUserData().session; s.closed = true; this.disarm(s); this.streams.closed(s); },
    });
    this.mountHook?.(this);
    app.any('/*', (res) => {
      problem(res, 404, 'not_found', 'no such route (see docs/gateway.md)');
    });
  }

  private listen(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.app.listen(this.o.host, this.o.port, (sock) => {
        if (sock === false) { reject(new GatewayError(`cannot listen on ${this.o.host}:${this.o.port}`)); return; }
        this.listenSocket = sock;
        this.port = uWS.us_socket_local_port(sock as unknown as uWS.us_socket);
        resolve();
      });
    });
  }

  private upgrade(kind: SessionKind, res: HttpResponse, req: HttpRequest, ctx: us_socket_context_t): void {
    const headers = new Map<string, string>();
    req.forEach((k, v) => { headers.set(k, v); });
    const ureq: UpgradeRequest = { path: req.getUrl(), query: req.getQuery() ?? '', headers };
    const key = req.getHeader('sec-websocket-key');
    const proto = req.getHeader('sec-websocket-protocol');
    const ext = req.getHeader('sec-websocket-extensions');
    if (!this.ready) { refuse(res, refusal(503, 'unavailable', 'the engine is not ready')); return; }
    const auth = kind === SessionKind.Orders ? this.o.authenticator : this.streamAuth;
    let outcome: AuthOutcome | Promise<AuthOutcome>;
    try {
      outcome = auth.authenticate(ureq, this.o.nowMs());
    } catch (e) {
      this.log({ err: (e as Error).message }, 'authenticator failed');
      refuse(res, refusal(503, 'unavailable', 'authentication is unavailable'));
      return;
    }
    const finish = (out: AuthOutcome): void => {
      const r = this.admit(kind, ureq, out);
      if (!r.ok) { refuse(res, r); return; }
      res.upgrade<SessionData>({ session: r.session }, key, proto, ext, ctx);
    };
    if (!(outcome instanceof Promise)) { finish(outcome); return; }
    let aborted = false;
    res.onAborted(() => { aborted = true; });
    outcome.then((out) => { if (!aborted) res.cork(() => finish(out)); }, (e: unknown) => {
      this.log({ err: (e as Error).message }, 'authenticator failed');
      if (!aborted) res.cork(() => refuse(res, refusal(503, 'unavailable', 'authentication is unavailable')));
    });
  }

  /** From an authenticated principal to a session (or a refusal): account choice and permissions. */
  private admit(kind: SessionKind, req: UpgradeRequest, out: AuthOutcome): { ok: true; session: Session } | AuthRefusal {
    if (!out.ok) return out;
    if (!this.ready) return refusal(503, 'unavailable', 'the engine is not ready');
    const p = out.principal;
    if (p.expiresAtMs !== null && p.expiresAtMs <= this.o.nowMs()) return refusal(401, 'expired_credentials', 'credential expired');
    if (kind === SessionKind.Stream) return { ok: true, session: new Session(kind, p, 0, false) };
    const raw = queryParam(req.query, 'account') ?? req.headers.get('x-te-account');
    let account: number;
    if (raw === undefined) {
      if (p.accounts.size !== 1) return refusal(400, 'account_required', 'this credential has several accounts: choose one with ?account=<id>');
      account = p.accounts.values().next().value as number;
    } else {
      if (!/^[1-9][0-9]{0,15}$/.test(raw) || !Number.isSafeInteger(Number(raw))) return refusal(400, 'bad_request', 'account must be a positive integer');
      account = Number(raw);
      // Not yours and does not exist look the same.
      if (!p.accounts.has(account)) return refusal(404, 'account_not_found', 'account not found');
    }
    if (!p.permissions.has('order.place') && !p.permissions.has('order.cancel')) {
      return refusal(403, 'forbidden', 'order entry needs the order.place or order.cancel permission');
    }
    const cod = queryParam(req.query, 'cancelOnDisconnect') ?? req.headers.get('x-te-cancel-on-disconnect');
    return { ok: true, session: new Session(kind, p, account, cod === '1' || cod === 'true') };
  }

  private armExpiry(s: Session): void {
    const exp = s.principal.expiresAtMs;
    if (exp === null) return;
    const ms = Math.min(Math.max(0, exp - this.o.nowMs()), 2 ** 31 - 1);
    s.expiryTimer = setTimeout(() => {
      if (!s.closed && s.ws !== null) s.ws.end(CloseCode.CredentialExpired, 'credential expired: reconnect with a fresh one');
    }, ms);
    s.expiryTimer.unref();
  }

  private disarm(s: Session): void {
    if (s.expiryTimer !== null) { clearTimeout(s.expiryTimer); s.expiryTimer = null; }
  }

  // ------------------------------------------------------------------------------------------
  // Order sessions
  // ------------------------------------------------------------------------------------------

  private openOrders(ws: WebSocket<SessionData>): void {
    const s = ws.getUserData().session;
    s.ws = ws;
    s.lastSendMs = this.o.nowMs();
    this.orderSessions.add(s);
    const list = this.byAccount.get(s.account);
    if (list === undefined) this.byAccount.set(s.account, [s]); else list.push(s);
    this.armExpiry(s);
    this.log({ session: s.id, userId: s.principal.userId, account: s.account, credential: s.principal.credentialId, cancelOnDisconnect: s.cancelOnDisconnect }, 'order session open');
  }

  private closeOrders(s: Session): void {
    s.closed = true;
    s.outLength = 0;
    // Requests held behind a deferred one never reached the engine: dropped (the deferred one is still answered).
    const w = this.waits.get(s);
    if (w !== undefined) { w.held.length = 0; w.head = 0; if (w.tag === 0) this.waits.delete(s); }
    this.disarm(s);
    this.orderSessions.delete(s);
    const list = this.byAccount.get(s.account);
    if (list !== undefined) {
      const i = list.indexOf(s);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byAccount.delete(s.account);
    }
    if (s.cancelOnDisconnect) this.cancelOnDisconnect(s.account);
    this.log({ session: s.id, account: s.account }, 'order session closed');
  }

  private orderFrame(ws: WebSocket<SessionData>, msg: ArrayBuffer, isBinary: boolean): void {
    const s = ws.getUserData().session;
    this.framesIn++;
    if (!isBinary) {
      ws.end(CloseCode.UnsupportedData, 'binary frames only (docs/protocol.md)');
      return;
    }
    const dec = this.decoder;
    if (dec.begin(msg)) {
      // One engine batch per event-loop turn: the commands of every frame handled in this turn
      // (all clients' sockets of one poll phase) reach the shard and journal rings with one publish,
      // one wake-up of each, at the end of the turn.
      this.engine.batchUntilTurnEnds();
      this.engine.beginBatch();
      try {
        for (let t = dec.next(); t > 0; t = dec.next()) {
          this.messagesIn++;
          if (t !== MsgType.Heartbeat) this.route(s, t);
          if (s.closed) return;
        }
      } finally {
        this.engine.endBatch();
      }
    }
    if (dec.error !== ProtoError.None) this.malformed(s, ws, dec);
    // Answers written while handling the frame (gateway rejects) go out now, inside uWS's cork.
    if (s.outLength > 0 && !s.closed) this.flush(s);
  }

  private malformed(s: Session, ws: WebSocket<SessionData>, dec: CommandDecoder): void {
    this.sessionRejects++;
    const e = this.enc;
    e.reset();
    e.sessionReject(dec.error, dec.errorIndex, dec.errorOffset, dec.errorMsgType);
    s.append(e.u8, 0, e.length);
    const now = this.o.nowMs();
    if (now - s.malformedWindowStartMs > this.o.malformedWindowMs) { s.malformedWindowStartMs = now; s.malformed = 0; }
    s.malformed++;
    if (s.malformed > this.o.malformedLimit) {
      this.flush(s);
      this.closedMalformed++;
      this.log({ session: s.id, account: s.account, malformed: s.malformed }, 'order session closed: malformed frames');
      ws.end(CloseCode.MalformedFlood, `too many malformed frames (${s.malformed} in ${this.o.malformedWindowMs} ms)`);
    }
  }

  /** One decoded request of session `s` (the decoder's Command holds it). */
  private route(s: Session, t: number): void {
    const dec = this.decoder;
    // Behind a deferred request of the same session: held, in order (one map lookup only while any session waits).
    if (this.waits.size > 0) {
      const w = this.waits.get(s);
      if (w !== undefined) { this.hold(s, w, t, dec.cmd, dec.instrumentId, dec.requestId); return; }
    }
    this.request(s, t, dec.cmd, dec.instrumentId, dec.requestId);
  }

  /** Submits one request of session `s` (message type `t`), or answers it. */
  private request(s: Session, t: number, cmd: Command, instrumentId: number, requestId: number): void {
    cmd.account = s.account;
    const place = s.can('order.place');
    if (t === MsgType.MassCancel) {
      if (!place && !s.can('order.cancel')) { this.reject(s, 0, requestId, instrumentId, REJECT_NOT_PERMITTED, CommandType.MassCancel); return; }
      this.massCancel(s, requestId, instrumentId);
      return;
    }
    const needsPlace = t !== MsgType.Cancel;
    if (needsPlace ? !place : !place && !s.can('order.cancel')) {
      this.reject(s, t === MsgType.NewOrder ? 0 : cmd.orderId, cmd.clientOrderId, instrumentId, REJECT_NOT_PERMITTED, cmd.type);
      return;
    }
    const orderId = t === MsgType.NewOrder ? 0 : cmd.orderId;
    const cid = cmd.clientOrderId;
    const type = cmd.type;
    const child = t === MsgType.NewOrder && (cmd.flags & OrderFlags.Child) !== 0 ? cmd.linkId : 0;
    const tag = ++this.nextTag;
    const r = this.submit(cmd, instrumentId, tag);
    if (r.status === SubmitStatus.Deferred) {
      // A linked order waiting for its book to settle, or a command of a book where one waits.
      this.deferredReqs.set(tag, { session: s, mass: null, msgType: t, orderId, clientOrderId: cid, instrumentId, commandType: type, child, t0: performance.now() });
      this.waitFor(s, tag);
      return;
    }
    this.answered(s, r.status, r.seq, r.reason, t, orderId, cid, instrumentId, type, child, -1);
  }

  /** The engine's answer to an order request: accepted (reports follow from its ack) or refused (ExecRejected). */
  private answered(s: Session, status: SubmitStatus, seq: number, reason: number, t: number, orderId: number, cid: number, instrumentId: number, type: number, child: number, t0: number): void {
    if (status === SubmitStatus.Accepted) {
      s.lastSubmittedSeq = seq;
      if (child !== 0) this.router.noteChild(seq, child);
      if (t === MsgType.NewOrder) this.noteOrderSubmitted(seq, t0);
      return;
    }
    if (status === SubmitStatus.Busy) this.busyRejects++;
    this.reject(s, orderId, cid, instrumentId, reason, type);
  }

  private reject(s: Session, orderId: number, cid: number, instrumentId: number, reason: number, commandType: number): void {
    this.gatewayRejects++;
    this.router.gatewayReject(s, orderId, cid, instrumentId, reason, commandType);
  }

  /** engine.submit, with a closing/recovering/failed engine answered as Busy (and sessions closed on failure). */
  private submit(cmd: Command, instrumentId: number, tag: number): { status: SubmitStatus; seq: number; reason: number } {
    try {
      return this.engine.submit(cmd, instrumentId, 0, this.onDeferred, tag);
    } catch (e) {
      if (this.engine.error !== null) this.engineFailed(this.engine.error);
      return BUSY;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Deferred requests (the engine parks a linked order until its book settles: Engine.submit)
  // ------------------------------------------------------------------------------------------

  /** Session `s` waits for deferred request `tag`. */
  private waitFor(s: Session, tag: number): void {
    const w = this.waits.get(s);
    if (w !== undefined) w.tag = tag;
    else this.waits.set(s, { tag, held: [], head: 0, mass: null });
  }

  /** Holds a request behind the session's deferred one (over the bound: answered Busy, in its turn). */
  private hold(s: Session, w: SessionWait, t: number, cmd: Command, instrumentId: number, requestId: number): void {
    const pending = w.held.length - w.head;
    if (pending >= MAX_PENDING_PER_SESSION) {
      if (!s.closed && s.ws !== null) {
        this.closedSlow++;
        this.log({ session: s.id, account: s.account, held: pending }, 'order session closed: slow consumer (requests held behind a deferred one)');
        s.ws.end(CloseCode.SlowConsumer, `slow consumer: over ${MAX_PENDING_PER_SESSION} requests waiting behind a deferred one; reconnect and resync`);
      }
      return;
    }
    if (pending >= MAX_HELD_PER_SESSION) {
      w.held.push({ msgType: -t, cmd: null, instrumentId, requestId, orderId: t === MsgType.NewOrder ? 0 : cmd.orderId, clientOrderId: cmd.clientOrderId, commandType: cmd.type });
      return;
    }
    w.held.push({ msgType: t, cmd: Object.assign(new Command(), cmd), instrumentId, requestId, orderId: 0, clientOrderId: 0, commandType: 0 });
  }

  /** The engine's final answer to a deferred request (called from the engine's poll, a timer, close or failure). */
  private readonly onDeferred = (tag: number, r: SubmitResult): void => {
    const d = this.deferredReqs.get(tag);
    if (d === undefined) return;
    this.deferredReqs.delete(tag);
    const s = d.session;
    const w = this.waits.get(s);
    if (w !== undefined && w.tag === tag) w.tag = 0;
    if (d.mass !== null) this.massPartAnswered(s, d.mass, r.status, r.seq, r.reason);
    else this.answered(s, r.status, r.seq, r.reason, d.msgType, d.orderId, d.clientOrderId, d.instrumentId, d.commandType, d.child, d.t0);
    this.resume(s);
    // Answers written outside a frame's handling go out with the turn's other reports.
    this.touched(s);
  };

  /** Submits the session's held requests in order until one is deferred again (or none is left). */
  private resume(s: Session): void {
    const w = this.waits.get(s);
    if (w === undefined || w.tag !== 0) return;
    if (w.mass !== null) {
      const run = w.mass;
      w.mass = null;
      this.continueMass(s, run);
      if (w.tag !== 0) return;
    }
    while (w.tag === 0 && w.head < w.held.length) {
      const h = w.held[w.head]!;
      w.held[w.head] = undefined as unknown as HeldRequest;
      w.head++;
      if (w.head >= HELD_COMPACT_AT && 2 * w.head >= w.held.length) { w.held.copyWithin(0, w.head); w.held.length -= w.head; w.head = 0; }
      // A closed session's requests that never reached the engine are dropped (as if never sent).
      if (s.closed) continue;
      if (h.msgType < 0) {
        const t = -h.msgType;
        this.busyRejects++;
        if (t === MsgType.MassCancel) this.reject(s, 0, h.requestId, h.instrumentId, RejectReason.Busy, CommandType.MassCancel);
        else this.reject(s, h.orderId, h.clientOrderId, h.instrumentId, RejectReason.Busy, h.commandType);
        continue;
      }
      this.request(s, h.msgType, h.cmd!, h.instrumentId, h.requestId);
    }
    if (w.tag === 0 && w.head >= w.held.length) this.waits.delete(s);
  }

  private massCancel(s: Session, requestId: number, instrumentId: number): void {
    const job = this.router.beginMassCancel(s, requestId, instrumentId);
    const ids = instrumentId === 0 ? this.instrumentIds : [instrumentId];
    this.continueMass(s, { job, ids, k: 0, requestId, fail: 0 });
  }

  /** Submits the mass cancel's remaining parts; a deferred part suspends it until answered. */
  private continueMass(s: Session, run: MassRun): void {
    const cmd = this.massCmd;
    while (run.k < run.ids.length) {
      const id = run.ids[run.k++]!;
      cmd.reset();
      cmd.type = CommandType.MassCancel; cmd.account = s.account; cmd.clientOrderId = run.requestId;
      const tag = ++this.nextTag;
      const r = this.submit(cmd, id, tag);
      if (r.status === SubmitStatus.Deferred) {
        this.deferredReqs.set(tag, { session: s, mass: run, msgType: MsgType.MassCancel, orderId: 0, clientOrderId: run.requestId, instrumentId: id, commandType: CommandType.MassCancel, child: 0, t0: 0 });
        this.waitFor(s, tag);
        this.waits.get(s)!.mass = run;
        return;
      }
      this.massPartAnswered(s, run, r.status, r.seq, r.reason);
    }
    if (run.fail !== 0) this.gatewayRejects++;
    this.router.endMassCancel(run.job, run.fail);
  }

  private massPartAnswered(s: Session, run: MassRun, status: SubmitStatus, seq: number, reason: number): void {
    if (status === SubmitStatus.Accepted) {
      s.lastSubmittedSeq = seq;
      this.router.massCancelPart(run.job, seq);
    } else {
      if (status === SubmitStatus.Busy) this.busyRejects++;
      if (run.fail === 0) run.fail = reason;
    }
  }

  /** Mass cancel of `account` in every book; Busy parts are retried until done. */
  private cancelOnDisconnect(account: number): void {
    this.codJobs.push({ account, ids: [...this.instrumentIds] });
    this.runCod();
  }

  private retryCod(): void {
    if (this.codScheduled) return;
    this.codScheduled = true;
    setTimeout(() => { this.codScheduled = false; this.runCod(); }, 1);
  }

  /** The final answer to a parked cancel-on-disconnect part: done, or (Busy) tried again. */
  private readonly onCodDeferred = (_tag: number, r: SubmitResult): void => {
    this.codDeferred = false;
    if (r.status === SubmitStatus.Busy) { this.retryCod(); return; }
    const job = this.codJobs[0];
    if (job !== undefined) job.ids.shift();
    this.runCod();
  };

  private runCod(): void {
    if (this.codDeferred) return;
    const cmd = this.decoder.cmd;
    while (this.codJobs.length > 0) {
      const job = this.codJobs[0]!;
      while (job.ids.length > 0) {
        cmd.reset();
        cmd.type = CommandType.MassCancel; cmd.account = job.account;
        let r: { status: SubmitStatus };
        try {
          // With a handler: on a book with parked commands the part waits in its FIFO (answered in
          // onCodDeferred) instead of being answered Busy for as long as that FIFO stands.
          r = this.engine.submit(cmd, job.ids[0]!, 0, this.onCodDeferred, 0);
        } catch (e) {
          this.log({ account: job.account, err: (e as Error).message }, 'cancel-on-disconnect abandoned: engine unavailable');
          this.codJobs.length = 0;
          return;
        }
        if (r.status === SubmitStatus.Deferred) { this.codDeferred = true; return; }
        if (r.status === SubmitStatus.Busy) { this.retryCod(); return; }
        job.ids.shift();
      }
      this.codJobs.shift();
      this.log({ account: job.account }, 'cancel-on-disconnect sent');
    }
  }

  private engineFailed(err: Error): void {
    if (this.closing) return;
    this.log({ err: err.message }, 'engine failed: closing order sessions');
    for (const s of [...this.orderSessions]) if (!s.closed && s.ws !== null) s.ws.end(CloseCode.EngineFailed, 'engine failed');
  }

  // ------------------------------------------------------------------------------------------
  // Stream sessions
  // ------------------------------------------------------------------------------------------

  private streamMessage(ws: WebSocket<SessionData>, msg: ArrayBuffer, isBinary: boolean): void {
    const s = ws.getUserData().session;
    const sock = ws as unknown as StreamSocket;
    let ok: boolean;
    if (isBinary) {
      sock.send(JSON.stringify({ type: 'error', code: 'bad_request', message: 'send JSON text messages', request: null }), false);
      ok = false;
    } else {
      ok = this.streams.request(s, sock, Buffer.from(msg).toString('utf8'));
    }
    if (ok) return;
    const now = this.o.nowMs();
    if (now - s.malformedWindowStartMs > this.o.malformedWindowMs) { s.malformedWindowStartMs = now; s.malformed = 0; }
    if (++s.malformed > this.o.malformedLimit) {
      this.closedMalformed++;
      ws.end(CloseCode.MalformedFlood, `too many malformed requests (${s.malformed} in ${this.o.malformedWindowMs} ms)`);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Shutdown
  // ------------------------------------------------------------------------------------------

  /** Stops listening, closes every session (cancel-on-disconnect runs), restores the engine's ack handler. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.flushTask();
    if (this.listenSocket !== null) { uWS.us_listen_socket_close(this.listenSocket); this.listenSocket = null; }
    for (const s of [...this.orderSessions, ...this.streams.sessions]) {
      if (!s.closed && s.ws !== null) s.ws.end(CloseCode.GoingAway, 'server shutting down');
    }
    // Cancel-on-disconnect commands just submitted are acked before the engine closes.
    while (this.codJobs.length > 0 && this.engine.error === null) await new Promise((r) => setTimeout(r, 1));
    this.engine.onAck = this.prevOnAck;
    for (const fn of this.onClose) { try { fn(); } catch { /* closing anyway */ } }
    this.onClose = [];
    this.log(this.stats() as unknown as Record<string, unknown>, 'gateway closed');
  }
}

/** False when the uWS package fell back to its JavaScript build (that build has no SSLApp). */
export function uwsNative(): boolean {
  return typeof (uWS as { SSLApp?: unknown }).SSLApp === 'function';
}

/**
 * uWS.App, or uWS.SSLApp when TLS is configured. uWS's own failure is a bare "App construction
 * failed" that names neither the file nor the cause, and the JavaScript fallback this uWS package
 * switches to when its native binary does not load (or with UWS_USE_FALLBACK) has no SSLApp at all:
 * both become a GatewayError that says what to fix, so a TLS configuration never starts half-done.
 */
function createApp(tls: TlsOptions | null): TemplatedApp {
  if (tls === null) return uWS.App();
  for (const [what, file] of [['certificate', tls.certFile], ['key', tls.keyFile]] as const) {
    try {
      accessSync(file, fsConstants.R_OK);
    } catch (e) {
      throw new GatewayError(`TLS ${what} file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  if (!uwsNative()) {
    throw new GatewayError('TLS needs the native uWebSockets.js binary; the JavaScript fallback in use (unsupported Node.js build or UWS_USE_FALLBACK) has no SSLApp');
  }
  try {
    return uWS.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile, ...(tls.passphrase ? { passphrase: tls.passphrase } : {}) });
  } catch (e) {
    throw new GatewayError(`TLS setup failed with certificate ${tls.certFile} and key ${tls.keyFile}: not PEM, the key does not match the certificate, or a wrong or missing passphrase (uWS: ${(e as Error).message})`);
  }
}

const NO_SESSIONS: readonly Session[] = Object.freeze([]) as readonly Session[];
const BUSY = Object.freeze({ status: SubmitStatus.Busy, seq: 0, reason: RejectReason.Busy });

function json(res: HttpResponse, status: string, body: unknown): void {
  res.cork(() => {
    res.writeStatus(status).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store').end(JSON.stringify(body));
  });
}

/** RFC 9457 problem details. */
function problem(res: HttpResponse, status: number, code: string, detail: string): void {
  const body = { type: `urn:trading-engine:problem:${code}`, title: code.replace(/_/g, ' '), status, detail, code };
  res.cork(() => {
    res.writeStatus(`${status} ${STATUS_TEXT[status] ?? ''}`).writeHeader('content-type', 'application/problem+json')
      .writeHeader('cache-control', 'no-store').end(JSON.stringify(body));
  });
}

function refuse(res: HttpResponse, r: AuthRefusal): void {
  problem(res, r.status, r.code, r.message);
}

// ------------------------------------------------------------------------------------------------
// npm start
// ------------------------------------------------------------------------------------------------

/** What startGateway reads from the engine configuration (config/engine.ts's EngineConfig fits). */
export interface GatewayConfig {
  http: { host: string; port: number; tls?: TlsOptions | null; corsOrigins?: readonly string[]; maxBodyBytes?: number };
  dataDir: string;
}

export interface GatewayDeps {
  /** Default: the identity module (gateway/auth) opened on config.dataDir: API-key signatures and access tokens. */
  authenticator?: Authenticator;
  log?: (fields: Record<string, unknown>, msg: string) => void;
  options?: Partial<GatewayOptions>;
  /** REDIS_URL's bus: the REST shim's shared rate limits and market-data cache (gateway/rest/mount.ts). */
  redis?: RedisBus;
}

/**
 * Starts the gateway for `npm start`. TLS: config.http.tls, else the environment variables
 * ENGINE_TLS_CERT_FILE and ENGINE_TLS_KEY_FILE (both, or neither).
 */
export async function startGateway(engine: Engine, config: GatewayConfig, deps: GatewayDeps = {}): Promise<GatewayServer> {
  let tls = config.http.tls ?? null;
  if (tls === null) {
    const cert = process.env['ENGINE_TLS_CERT_FILE'], key = process.env['ENGINE_TLS_KEY_FILE'];
    if ((cert ?? '') !== '' || (key ?? '') !== '') {
      if (!cert || !key) throw new GatewayError('TLS needs both ENGINE_TLS_CERT_FILE and ENGINE_TLS_KEY_FILE');
      tls = { certFile: cert, keyFile: key, ...(process.env['ENGINE_TLS_PASSPHRASE'] ? { passphrase: process.env['ENGINE_TLS_PASSPHRASE'] } : {}) };
    }
  }
  let authenticator = deps.authenticator;
  let closeIdentity: (() => void) | null = null;
  if (authenticator === undefined) {
    const { openIdentity } = await import('./auth/identity.js');
    const { CredentialAuthenticator } = await import('./sessions.js');
    // With REDIS_URL, signed requests' nonces are checked in Redis, shared by every gateway (auth/replay-cache.ts).
    const identity = openIdentity({ dataDir: config.dataDir, ...(deps.redis ? { nonceStore: deps.redis } : {}), ...(deps.log ? { log: deps.log } : {}) });
    authenticator = new CredentialAuthenticator({ signatures: identity.signatures, accessTokens: identity.accessTokens });
    closeIdentity = () => identity.close();
    const { mountRest } = await import('./rest/mount.js');
    let rest: { close(): void } | null = null;
    deps = { ...deps, options: { mount: (g) => { rest = mountRest(g, { identity, dataDir: config.dataDir, ...(config.http.corsOrigins ? { corsOrigins: config.http.corsOrigins } : {}), ...(config.http.maxBodyBytes ? { maxBodyBytes: config.http.maxBodyBytes } : {}), ...(deps.log ? { log: deps.log } : {}), ...(deps.redis ? { redis: deps.redis } : {}) }); }, ...deps.options } };
    const closeId = closeIdentity;
    closeIdentity = () => { rest?.close(); closeId(); };
  }
  let server: GatewayServer;
  try {
    server = await GatewayServer.start(engine, {
      host: config.http.host, port: config.http.port, tls, authenticator,
      ...(deps.log ? { log: deps.log } : {}), ...deps.options,
    });
  } catch (e) {
    closeIdentity?.();
    throw e;
  }
  if (closeIdentity !== null) server.onClosed(closeIdentity);
  return server;
}
