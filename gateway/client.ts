// TradingClient: the core of the TypeScript client library for the binary order-entry protocol
// (docs/protocol.md). It encodes requests into frames, sends them over any WebSocket-like
// transport, matches acknowledgements to requests (promises with a timeout) and emits every
// execution report. It has no Node-only dependency, so it runs in browsers as well.
//
// Acks:
//   newOrder   -> resolves on ExecAccepted or ExecRejected(NewOrder) with the same clientOrderId
//   cancel     -> ExecCanceled(reason UserCancel) or ExecRejected(Cancel) for the same order key
//   replace    -> ExecReplaced, ExecCanceled(reason ReplaceDone) or ExecRejected(Replace)
//   massCancel -> MassCancelDone or ExecRejected(MassCancel) with the same requestId
// A promise rejects only for a request that could not be sent (ProtocolError for a bad field,
// DuplicatePendingError), an ack timeout (AckTimeoutError) or close() (ClientClosedError).
// Reports that arrive after a timeout are still emitted as events.

import {
  DEFAULT_MAX_MESSAGES_PER_FRAME, MsgType, decodeFrame, encodeMessage, messageSpec,
  type DecodedMessage, type Fields, type FrameError,
} from './protocol.js';

/** The part of a WebSocket the client needs (a browser WebSocket with binaryType 'arraybuffer' fits). */
export interface Transport {
  send(data: ArrayBuffer | Uint8Array): void;
  onmessage: ((event: { data: unknown }) => void) | null;
}

export interface NewOrderRequest {
  instrumentId: number;
  side: number;
  orderType?: number;
  tif?: number;
  priceTicks?: number;
  qtyLots?: number;
  /** 1..2^53-1; assigned by the client (a counter) when omitted or 0. */
  clientOrderId?: number;
  flags?: number;
  stpMode?: number;
  stpGroup?: number;
  quoteQtyUnits?: number;
  stopPriceTicks?: number;
  displayQtyLots?: number;
  trailOffset?: number;
  limitOffsetTicks?: number;
  linkId?: number;
  expireTsUs?: number;
}

/** Target of a cancel or replace: the engine's orderId, or (orderId absent/0) the clientOrderId. */
export interface OrderRef {
  instrumentId: number;
  orderId?: number;
  clientOrderId?: number;
}

export interface ReplaceRequest extends OrderRef {
  /** 0 or absent = keep. */
  priceTicks?: number;
  /** New total quantity (filled included); 0 or absent = keep. */
  qtyLots?: number;
}

export interface MassCancelRequest {
  /** 0 = every instrument. */
  instrumentId: number;
  /** Assigned by the client when omitted or 0. */
  requestId?: number;
}

/** A decoded engine message: `type`, `name` (the MsgType's name, e.g. 'ExecFill') and its fields. */
export type Report = DecodedMessage;

export interface Ack {
  /** false for ExecRejected (see `reason`). */
  ok: boolean;
  /** RejectReason when not ok, else 0. */
  reason: number;
  report: Report;
}

export interface OrderAck extends Ack {
  clientOrderId: number;
}

export class AckTimeoutError extends Error {
  override readonly name = 'AckTimeoutError';
}
export class ClientClosedError extends Error {
  override readonly name = 'ClientClosedError';
}
export class DuplicatePendingError extends Error {
  override readonly name = 'DuplicatePendingError';
}

export interface TimerApi {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface TradingClientOptions {
  /** Default 5000. */
  ackTimeoutMs?: number;
  /** First client order id / request id the client assigns (default 1). Use something unique per
   *  session (e.g. a time-based base) when the engine retains ids across reconnects. */
  firstClientOrderId?: number;
  /** Timer functions (tests inject fake ones). */
  timers?: TimerApi;
  maxMessagesPerFrame?: number;
}

export type ClientEvent =
  | 'report' | 'ExecAccepted' | 'ExecRejected' | 'ExecFill' | 'ExecCanceled' | 'ExecExpired' | 'ExecReplaced'
  | 'ExecTriggered' | 'ExecActivated' | 'ExecSliceRefreshed' | 'ExecDecremented' | 'MassCancelDone'
  | 'Heartbeat' | 'SessionReject' | 'error';

type Listener = (payload: any) => void;

interface Pending {
  resolve(ack: Ack): void;
  reject(err: Error): void;
  timer: unknown;
}

const END_USER_CANCEL = 0;
const END_REPLACE_DONE = 8;
const CMD_NEW = 1, CMD_CANCEL = 2, CMD_REPLACE = 3, CMD_MASS = 4;

const defaultTimers: TimerApi = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof globalThis.setTimeout>),
};

export class TradingClient {
  readonly transport: Transport;
  readonly ackTimeoutMs: number;
  private readonly timers: TimerApi;
  private readonly maxMessagesPerFrame: number;
  private nextId: number;
  private closed = false;
  private readonly listeners = new Map<string, Listener[]>();
  private readonly pendingNew = new Map<number, Pending>();
  /** Cancel / replace keys: 'o' + orderId or 'c' + clientOrderId. */
  private readonly pendingCancel = new Map<string, Pending>();
  private readonly pendingReplace = new Map<string, Pending>();
  private readonly pendingMass = new Map<number, Pending>();
  /** Messages queued by batch(), sent as one frame (or more when over maxMessagesPerFrame). */
  private corked: { type: number; fields: Partial<Fields> }[] | null = null;

  constructor(transport: Transport, options: TradingClientOptions = {}) {
    this.transport = transport;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 5000;
    this.timers = options.timers ?? defaultTimers;
    this.maxMessagesPerFrame = options.maxMessagesPerFrame ?? DEFAULT_MAX_MESSAGES_PER_FRAME;
    this.nextId = options.firstClientOrderId ?? 1;
    transport.onmessage = (event) => this.receive(event.data);
  }

  // ----- events -----

  on(event: ClientEvent, listener: Listener): this {
    const list = this.listeners.get(event);
    if (list === undefined) this.listeners.set(event, [listener]); else list.push(listener);
    return this;
  }

  off(event: ClientEvent, listener: Listener): this {
    const list = this.listeners.get(event);
    if (list !== undefined) {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    }
    return this;
  }

  private emit(event: string, payload: unknown): void {
    const list = this.listeners.get(event);
    if (list === undefined) return;
    for (const l of list.slice()) l(payload);
  }

  // ----- requests -----

  newOrder(req: NewOrderRequest): Promise<OrderAck> {
    const clientOrderId = req.clientOrderId !== undefined && req.clientOrderId !== 0 ? req.clientOrderId : this.takeId();
    const fields = { ...req, clientOrderId } as Partial<Fields>;
    return this.request(this.pendingNew, clientOrderId, MsgType.NewOrder, fields)
      .then((ack) => ({ ...ack, clientOrderId }));
  }

  cancel(ref: OrderRef): Promise<Ack> {
    return this.request(this.pendingCancel, refKey(ref), MsgType.Cancel, ref as unknown as Partial<Fields>);
  }

  replace(req: ReplaceRequest): Promise<Ack> {
    return this.request(this.pendingReplace, refKey(req), MsgType.Replace, req as unknown as Partial<Fields>);
  }

  massCancel(req: MassCancelRequest): Promise<Ack> {
    const requestId = req.requestId !== undefined && req.requestId !== 0 ? req.requestId : this.takeId();
    return this.request(this.pendingMass, requestId, MsgType.MassCancel, { instrumentId: req.instrumentId, requestId });
  }

  heartbeat(timestampUs = 0): void {
    this.sendMessage(MsgType.Heartbeat, { timestampUs });
  }

  /** Runs `fn`; every request it makes goes out in one frame (split at maxMessagesPerFrame). */
  batch(fn: () => void): void {
    if (this.corked !== null) { fn(); return; }
    this.corked = [];
    try {
      fn();
    } finally {
      const queued = this.corked;
      this.corked = null;
      for (let i = 0; i < queued.length; i += this.maxMessagesPerFrame) {
        this.sendFrame(queued.slice(i, i + this.maxMessagesPerFrame));
      }
    }
  }

  /** Rejects every pending request and stops listening. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.transport.onmessage = null;
    for (const map of [this.pendingNew, this.pendingCancel, this.pendingReplace, this.pendingMass] as Map<unknown, Pending>[]) {
      for (const p of map.values()) { this.timers.clearTimeout(p.timer); p.reject(new ClientClosedError('client closed')); }
      map.clear();
    }
  }

  /** Requests waiting for their ack. */
  pendingCount(): number {
    return this.pendingNew.size + this.pendingCancel.size + this.pendingReplace.size + this.pendingMass.size;
  }

  private takeId(): number {
    return this.nextId++;
  }

  private request<K>(map: Map<K, Pending>, key: K, type: number, fields: Partial<Fields>): Promise<Ack> {
    if (this.closed) return Promise.reject(new ClientClosedError('client closed'));
    if (map.has(key)) return Promise.reject(new DuplicatePendingError(`a ${messageSpec(type)!.name} for ${String(key)} is already pending`));
    try {
      this.sendMessage(type, fields);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise<Ack>((resolve, reject) => {
      const timer = this.timers.setTimeout(() => {
        if (map.get(key) === pending) map.delete(key);
        reject(new AckTimeoutError(`no ack for ${messageSpec(type)!.name} ${String(key)} within ${this.ackTimeoutMs} ms`));
      }, this.ackTimeoutMs);
      const pending: Pending = { resolve, reject, timer };
      map.set(key, pending);
    });
  }

  /** Encodes (validating every field: throws ProtocolError) and sends or queues. */
  private sendMessage(type: number, fields: Partial<Fields>): void {
    const spec = messageSpec(type)!;
    const bytes = new Uint8Array(spec.size);
    encodeMessage(type, fields, bytes, 0);
    if (this.corked !== null) this.corked.push({ type, fields });
    else this.transport.send(bytes);
  }

  private sendFrame(messages: { type: number; fields: Partial<Fields> }[]): void {
    let size = 0;
    for (const m of messages) size += messageSpec(m.type)!.size;
    const frame = new Uint8Array(size);
    let p = 0;
    for (const m of messages) p += encodeMessage(m.type, m.fields, frame, p);
    if (size > 0) this.transport.send(frame);
  }

  // ----- incoming -----

  /** Handles one frame from the engine (the transport's onmessage calls this). */
  receive(data: unknown): void {
    let frame: Uint8Array;
    if (data instanceof ArrayBuffer) frame = new Uint8Array(data);
    else if (ArrayBuffer.isView(data)) frame = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else { this.emit('error', new TypeError('non-binary message from the engine')); return; }
    const decoded = decodeFrame(frame, 'toClient', { maxFrameBytes: Number.MAX_SAFE_INTEGER, maxMessagesPerFrame: Number.MAX_SAFE_INTEGER });
    for (const m of decoded.messages) this.dispatch(m);
    if (decoded.error !== null) this.emit('error', decoded.error satisfies FrameError);
  }

  private dispatch(m: Report): void {
    const f = m.fields;
    switch (m.type) {
      case MsgType.ExecAccepted:
        this.settle(this.pendingNew, f.clientOrderId!, m, true);
        break;
      case MsgType.ExecRejected:
        switch (f.commandType) {
          case CMD_NEW: this.settle(this.pendingNew, f.clientOrderId!, m, false); break;
          case CMD_CANCEL: this.settleRef(this.pendingCancel, f, m, false); break;
          case CMD_REPLACE: this.settleRef(this.pendingReplace, f, m, false); break;
          case CMD_MASS: this.settle(this.pendingMass, f.clientOrderId!, m, false); break;
        }
        break;
      case MsgType.ExecCanceled:
        if (f.reason === END_USER_CANCEL) this.settleRef(this.pendingCancel, f, m, true);
        else if (f.reason === END_REPLACE_DONE) this.settleRef(this.pendingReplace, f, m, true);
        break;
      case MsgType.ExecReplaced:
        this.settleRef(this.pendingReplace, f, m, true);
        break;
      case MsgType.MassCancelDone:
        this.settle(this.pendingMass, f.requestId!, m, true);
        break;
    }
    if (m.type >= MsgType.ExecAccepted) this.emit('report', m);
    this.emit(m.name, m);
  }

  private settle<K>(map: Map<K, Pending>, key: K, report: Report, ok: boolean): boolean {
    const p = map.get(key);
    if (p === undefined) return false;
    map.delete(key);
    this.timers.clearTimeout(p.timer);
    p.resolve({ ok, reason: ok ? 0 : report.fields.reason!, report });
    return true;
  }

  /** A report names both ids of the order (rejects: the ones the request gave); try both keys. */
  private settleRef(map: Map<string, Pending>, f: Fields, report: Report, ok: boolean): void {
    if (f.orderId !== 0 && this.settle(map, 'o' + f.orderId, report, ok)) return;
    if (f.clientOrderId !== 0) this.settle(map, 'c' + f.clientOrderId, report, ok);
  }
}

function refKey(ref: OrderRef): string {
  return ref.orderId !== undefined && ref.orderId !== 0 ? 'o' + ref.orderId : 'c' + (ref.clientOrderId ?? 0);
}
