// The SLO harness's load generator: a separate process (forked by harness.ts) that drives the
// gateway over the binary WebSocket protocol with the project's own client (TradingClient over the
// RFC 6455 client of gateway/ws-test-client.ts), one order session per account, on 127.0.0.1.
//
// Open loop: request k of a phase has the intended send time t0 + k / rate, whatever happened to
// the requests before it; its latency is measured from that intended time to its ack (ExecAccepted /
// ExecRejected for a new order, ExecCanceled / ExecRejected for a cancel), so a stall that delays
// sending is counted in full (the coordinated-omission correction wrk2 makes). Requests due in the
// same event-loop turn for the same session go out in one frame (TradingClient.batch).
//
// The echo floor uses the same client and loop against a bare echo server: the echoed NewOrder is
// rewritten on arrival into an ExecAccepted with the same ids (a copy of a few fields, well under a
// microsecond) so TradingClient resolves it exactly as it resolves the engine's ack.

import { Worker } from 'node:worker_threads';
import { REJECT_NAMES } from '../common.js';
import { TradingClient, type Ack, type Report, type TimerApi, type Transport } from '../../gateway/client.js';
import { waitAsync } from '../../gateway/ring.js';
import { RawWebSocket } from '../../gateway/ws-test-client.js';
import { OrderMixer, MixRequest, REQUEST_KINDS, OT_STOP, OT_STOP_LIMIT, TIF_IOC, type RequestKind } from './mix.js';
import { echoToAccepted } from './echo-frames.js';
import type { PhaseRequest, PhaseResult } from './setup.js';
import type { OrderMix } from './slo.js';
import { encodeHistogram, newLatencyHistogram, recordUs, type Histogram } from './stats.js';
import { ARM, FIRE, STOP } from './pacer-worker.js';

export interface LoadgenInit {
  type: 'init';
  engineUrl: string | null;
  echoUrl: string | null;
  token: string;
  accounts: number[];
  instrumentIds: number[];
  referencePriceTicks: number;
  seed: number;
  mix: OrderMix;
  openOrdersPerAccount: number;
  maxOffsetTicks: number;
  ackTimeoutMs: number;
  /** 'thread': a pacer thread wakes the event loop at each send time; 'nap': the loop itself sleeps (see slo.ts load.pacing). */
  pacing: 'thread' | 'nap';
  /** Longest CPU-yielding sleep between sends in 'nap' pacing (0 = spin); see slo.ts load.clientNapUs. */
  clientNapUs: number;
}

const BIN_MS = 100;
/** A futex sleep overshoots by about this much here; naps end this early. */
const NAP_MARGIN_US = 50;
const NAP = new Int32Array(new SharedArrayBuffer(4));
/** Reason codes of the advanced order types (docs/matching-semantics.md) not in bench/common.ts. */
const EXTRA_REJECT_NAMES: Record<number, string> = { 34: 'StopWouldTrigger', 35: 'InvalidStopPrice', 36: 'InvalidDisplayQty', 37: 'InvalidTrailOffset' };
const MAX_PER_TURN = 4096;
/** With less than this until the next send, the loop takes one more turn instead of arming the pacer. */
const PACER_MIN_SLEEP_MS = 0.02;

/** Ack timeouts are the harness's job (counted as lost at the end of a phase): no timer per request. */
const NO_TIMERS: TimerApi = { setTimeout: () => 0, clearTimeout: () => {} };

class OpenOrders {
  readonly ids: number[] = [];
  readonly instr: number[] = [];
  private readonly at = new Map<number, number>();
  get size(): number { return this.ids.length; }
  add(orderId: number, instrumentId: number): void {
    if (this.at.has(orderId)) return;
    this.at.set(orderId, this.ids.length);
    this.ids.push(orderId); this.instr.push(instrumentId);
  }
  remove(orderId: number): void {
    const i = this.at.get(orderId);
    if (i === undefined) return;
    const last = this.ids.length - 1;
    if (i !== last) {
      this.ids[i] = this.ids[last]!; this.instr[i] = this.instr[last]!;
      this.at.set(this.ids[i]!, i);
    }
    this.ids.pop(); this.instr.pop();
    this.at.delete(orderId);
  }
  clear(): void { this.ids.length = 0; this.instr.length = 0; this.at.clear(); }
}

class EchoTransport implements Transport {
  onmessage: ((event: { data: unknown }) => void) | null = null;
  constructor(private readonly ws: RawWebSocket) {
    ws.onmessage = (ev) => {
      if (!(ev.data instanceof ArrayBuffer)) return;
      this.onmessage?.({ data: echoToAccepted(new Uint8Array(ev.data)) });
    };
  }
  send(data: ArrayBuffer | Uint8Array): void { this.ws.send(data); }
}

interface Conn {
  account: number;
  ws: RawWebSocket;
  client: TradingClient;
  open: OpenOrders;
}

/** Per-phase counters; the ack callbacks check `phase` so late acks of an old phase do nothing. */
class PhaseState {
  readonly latency: Histogram = newLatencyHistogram();
  readonly sendLag: Histogram = newLatencyHistogram();
  sent = 0; acked = 0; ok = 0; rejected = 0; fills = 0;
  readonly rejectReasons: Record<string, number> = {};
  readonly kinds: Record<string, number> = Object.fromEntries(REQUEST_KINDS.map((k) => [k, 0]));
  readonly sentBins: number[] = [];
  readonly ackedBins: number[] = [];
  constructor(readonly t0: number, readonly measureStart: number, readonly measureEnd: number) {}
  bin(list: number[], t: number): void {
    const b = Math.max(0, Math.floor((t - this.t0) / BIN_MS));
    while (list.length <= b) list.push(0);
    list[b]!++;
  }
}

class LoadGenerator {
  private conns: Conn[] = [];
  private target: 'engine' | 'echo' | null = null;
  private readonly lastPx: Float64Array;
  private readonly idxOf = new Map<number, number>();
  private readonly mixer: OrderMixer;
  private readonly req = new MixRequest();
  private phase: PhaseState | null = null;
  private pacerState: { worker: Worker; ctl: Int32Array; due: Float64Array } | null = null;

  constructor(private readonly init: LoadgenInit) {
    this.lastPx = new Float64Array(init.instrumentIds.length).fill(init.referencePriceTicks);
    init.instrumentIds.forEach((id, i) => this.idxOf.set(id, i));
    this.mixer = new OrderMixer(init.seed, init.mix, init.maxOffsetTicks, init.instrumentIds.length);
  }

  async connect(target: 'engine' | 'echo'): Promise<void> {
    if (this.target === target) return;
    await this.disconnect();
    const url = target === 'engine' ? this.init.engineUrl : this.init.echoUrl;
    if (url === null) throw new Error(`no ${target} URL`);
    const conns: Conn[] = [];
    for (let i = 0; i < this.init.accounts.length; i++) {
      const account = this.init.accounts[i]!;
      const ws = await RawWebSocket.connect(`${url}?account=${account}`, { Authorization: `Bearer ${this.init.token}` });
      const transport: Transport = target === 'echo' ? new EchoTransport(ws) : ws;
      // Client order ids unique across reconnects of this process (the engine retains them).
      const client = new TradingClient(transport, { timers: NO_TIMERS, firstClientOrderId: 1 + (Date.now() % 1e9) * 1000 + i * 1e12 });
      const c: Conn = { account, ws, client, open: new OpenOrders() };
      client.on('report', (r: Report) => this.onReport(c, r));
      conns.push(c);
    }
    this.conns = conns;
    this.target = target;
  }

  async disconnect(): Promise<void> {
    const old = this.conns;
    this.conns = [];
    this.target = null;
    for (const c of old) c.client.close();
    await Promise.all(old.map((c) => Promise.race([c.ws.close(), new Promise((r) => setTimeout(r, 1500))])));
  }

  private onReport(c: Conn, r: Report): void {
    const f = r.fields;
    switch (r.name) {
      case 'ExecAccepted':
        if (this.target === 'engine' && (f.tif !== TIF_IOC || f.orderType === OT_STOP || f.orderType === OT_STOP_LIMIT)) c.open.add(f.orderId!, f.instrumentId!);
        break;
      case 'ExecFill': {
        const i = this.idxOf.get(f.instrumentId!);
        if (i !== undefined) this.lastPx[i] = f.priceTicks!;
        if (f.leavesQtyLots === 0) c.open.remove(f.orderId!);
        if (this.phase !== null) this.phase.fills++;
        break;
      }
      case 'ExecCanceled': case 'ExecExpired':
        c.open.remove(f.orderId!);
        break;
    }
  }

  /** Sends request k of the phase on connection c. */
  private issue(c: Conn, ph: PhaseState, intended: number, now: number, echo: boolean): void {
    const r = this.req;
    this.mixer.next(r, this.lastPx, echo ? 0 : c.open.size, this.init.openOrdersPerAccount);
    if (echo) { r.kind = 'passiveLimit'; }
    const measured = intended >= ph.measureStart && intended < ph.measureEnd;
    const instrumentId = this.init.instrumentIds[r.instrumentIndex]!;
    let p: Promise<Ack>;
    const kind: RequestKind = r.kind;
    if (kind === 'cancel') {
      const j = this.mixer.index(c.open.size);
      const orderId = c.open.ids[j]!;
      const instr = c.open.instr[j]!;
      c.open.remove(orderId);
      p = c.client.cancel({ instrumentId: instr, orderId });
    } else {
      p = c.client.newOrder({
        instrumentId, side: r.side, orderType: r.orderType, tif: r.tif, priceTicks: r.priceTicks, qtyLots: r.qtyLots,
        stopPriceTicks: r.stopPriceTicks,
      });
    }
    ph.bin(ph.sentBins, now);
    if (!measured) {
      p.then(() => { if (this.phase === ph) ph.bin(ph.ackedBins, performance.now()); }, () => {});
      return;
    }
    ph.sent++;
    ph.kinds[kind] = ph.kinds[kind]! + 1;
    recordUs(ph.sendLag, (now - intended) * 1000);
    p.then((ack) => {
      if (this.phase !== ph) return;
      const t = performance.now();
      recordUs(ph.latency, (t - intended) * 1000);
      ph.acked++;
      ph.bin(ph.ackedBins, t);
      if (ack.ok) ph.ok++;
      else {
        ph.rejected++;
        const name = REJECT_NAMES[ack.reason] ?? EXTRA_REJECT_NAMES[ack.reason] ?? String(ack.reason);
        ph.rejectReasons[name] = (ph.rejectReasons[name] ?? 0) + 1;
      }
    }, () => {});
  }

  async runPhase(q: PhaseRequest): Promise<PhaseResult> {
    await this.connect(q.target);
    const echo = q.target === 'echo';
    const conns = this.conns;
    const n = conns.length;
    const intervalMs = 1000 / q.rateOrdersPerSec;
    const t0 = performance.now() + 5;
    const measureStart = t0 + q.warmupMs;
    const measureEnd = measureStart + q.measureMs;
    const total = Math.floor((q.warmupMs + q.measureMs) / intervalMs);
    const maxNapUs = this.init.clientNapUs;
    const ph = new PhaseState(t0, measureStart, measureEnd);
    this.phase = ph;
    let k = 0;
    const sendDue = (now: number): void => {
      const due = Math.min(total, Math.floor((now - t0) / intervalMs) + 1, k + MAX_PER_TURN);
      if (due <= k) return;
      // Requests k..due-1, round robin over the sessions; one frame per session per turn.
      for (let j = 0; j < n; j++) {
        const first = k + (((j - (k % n)) % n) + n) % n;
        if (first >= due) continue;
        const c = conns[j]!;
        c.client.batch(() => {
          for (let kk = first; kk < due; kk += n) this.issue(c, ph, t0 + kk * intervalMs, now, echo);
        });
      }
      k = due;
    };
    if (this.init.pacing === 'thread') {
      // The loop waits in epoll (acks are read as they arrive); the pacer thread wakes it when the
      // next request is due.
      const pacer = this.pacer();
      while (k < total) {
        sendDue(performance.now());
        if (k >= total) break;
        const next = t0 + k * intervalMs;
        if (next - performance.now() < PACER_MIN_SLEEP_MS) { await new Promise<void>((r) => setImmediate(r)); continue; }
        Atomics.store(pacer.ctl, FIRE, 0);
        pacer.due[0] = performance.timeOrigin + next;
        Atomics.add(pacer.ctl, ARM, 1);
        Atomics.notify(pacer.ctl, ARM);
        const w = waitAsync(pacer.ctl, FIRE, 0);
        if (w.async) await w.value;
      }
    } else {
      await new Promise<void>((resolve) => {
        const turn = (): void => {
          sendDue(performance.now());
          if (k >= total) { resolve(); return; }
          // Give the CPU back until the next send is due (the engine shares this 2-core machine):
          // a short futex sleep, never longer than MAX_NAP_US, so replies are read soon after.
          const napUs = Math.min(maxNapUs, (t0 + k * intervalMs - performance.now()) * 1000) - NAP_MARGIN_US;
          if (napUs >= 10) Atomics.wait(NAP, 0, 0, napUs / 1000);
          setImmediate(turn);
        };
        setImmediate(turn);
      });
    }
    // Drain: wait for the measured requests' acks, at most ackTimeoutMs after the last one was due.
    const deadline = measureEnd + this.init.ackTimeoutMs;
    while (ph.acked < ph.sent && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    this.phase = null;
    const lost = ph.sent - ph.acked;
    const warmupBins = Math.round(q.warmupMs / BIN_MS);
    let openAtEnd = 0;
    for (const c of conns) openAtEnd += c.open.size;
    if (lost > 0) {
      // Lost requests stay pending in the clients: reconnect before the next phase.
      await this.disconnect();
    }
    return {
      type: 'phaseResult', name: q.name, target: q.target, rateOrdersPerSec: q.rateOrdersPerSec, measureMs: q.measureMs,
      sent: ph.sent, acked: ph.acked, lost, okAcks: ph.ok, rejectedAcks: ph.rejected, rejectReasons: ph.rejectReasons,
      requestKinds: ph.kinds, fills: ph.fills, achievedOrdersPerSec: Math.round(ph.sent / (q.measureMs / 1000)),
      latencyHistogram: encodeHistogram(ph.latency), sendLagHistogram: encodeHistogram(ph.sendLag),
      binMs: BIN_MS, sentPerBin: ph.sentBins, ackedPerBin: ph.ackedBins, warmupBins, openOrdersAtEnd: openAtEnd,
    };
  }

  private pacer(): { ctl: Int32Array; due: Float64Array } {
    if (this.pacerState === null) {
      const ctl = new SharedArrayBuffer(16), due = new SharedArrayBuffer(8);
      const worker = new Worker(new URL('./pacer-worker.js', import.meta.url), { workerData: { ctl, due } });
      worker.unref();
      this.pacerState = { worker, ctl: new Int32Array(ctl), due: new Float64Array(due) };
    }
    return this.pacerState;
  }

  stopPacer(): void {
    const p = this.pacerState;
    if (p === null) return;
    this.pacerState = null;
    Atomics.store(p.ctl, STOP, 1);
    Atomics.add(p.ctl, ARM, 1);
    Atomics.notify(p.ctl, ARM);
  }

  /** Cancels every open order of every session (between phases: keeps the books from growing). */
  async cancelAll(): Promise<void> {
    if (this.target !== 'engine') return;
    await Promise.all(this.conns.map((c) => c.client.massCancel({ instrumentId: 0 }).catch(() => null)));
    for (const c of this.conns) c.open.clear();
  }
}

function main(): void {
  if (!process.send) {
    process.stderr.write('loadgen.ts is forked by bench/slo/harness.ts (npm run bench:slo)\n');
    process.exit(2);
  }
  let gen: LoadGenerator | null = null;
  const reply = (m: unknown): void => { process.send!(m); };
  let chain = Promise.resolve();
  process.on('message', (m: { type?: string }) => {
    chain = chain.then(async () => {
      try {
        if (m.type === 'init') {
          await gen?.disconnect();
          gen = new LoadGenerator(m as LoadgenInit);
          reply({ type: 'initDone' });
        }
        else if (m.type === 'phase') reply(await gen!.runPhase(m as PhaseRequest));
        else if (m.type === 'cancelAll') { await gen!.cancelAll(); reply({ type: 'cancelAllDone' }); }
        else if (m.type === 'exit') { gen?.stopPacer(); await gen?.disconnect(); process.exit(0); }
      } catch (e) {
        reply({ type: 'error', message: String((e as Error).stack ?? e) });
      }
    });
  });
  process.on('disconnect', () => process.exit(0));
}

main();
