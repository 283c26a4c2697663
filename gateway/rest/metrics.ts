// GET /metrics (Prometheus text format, prom-client, a registry of its own per gateway): orders by
// channel (rest, binary) and status after the durable ack, order latency by channel (REST: parsed
// request to durable-ack answer; binary: decoded frame to the ack going out), HTTP requests by route
// and status, engine depths (commands in flight, sequenced vs acked vs durable, each ring's records
// published and not yet released), sessions (WebSocket order and stream sessions, REST logins).
// The journal thread's commit latency and batch size come from its live histograms (shared memory,
// persistence/journal.ts liveHistograms), exposed as Prometheus histograms. PostgreSQL replication lag and the Redis fan-out come from
// the read side registered for the engine (persistence/pg/read-status.ts); absent = not exported.

import client from 'prom-client';
import { readSideOf } from '../../persistence/pg/read-status.js';
import type { LiveHistogram } from '../../persistence/journal.js';
import type { Engine } from '../engine.js';
import { observeBinaryOrders } from '../server.js';
import type { Route } from './router.js';

/**
 * A Prometheus histogram whose buckets are counted by another thread (prom-client's Histogram only
 * counts its own observe() calls): exposes the cumulative counts it reads at scrape time.
 */
class SharedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(readonly name: string, readonly help: string, private readonly read: () => LiveHistogram) {}
  get(): { name: string; help: string; type: string; aggregator: string; values: { metricName: string; labels: Record<string, string | number>; value: number }[] } {
    const h = this.read();
    type V = { metricName: string; labels: Record<string, string | number>; value: number };
    const values: V[] = h.bounds.map((b, i) => ({ metricName: `${this.name}_bucket`, labels: { le: b }, value: h.cumulative[i]! }));
    values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: h.count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: h.sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: h.count });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
  reset(): void { /* counted by the journal thread since it opened */ }
}

/**
 * A Prometheus histogram with one label, counted in plain numbers (no allocation per observation,
 * unlike prom-client's Histogram.observe, which builds a label object and key each time) and handed
 * to the scrape as cumulative buckets, like SharedHistogram.
 */
class LabeledHistogram<V extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series: Record<V, { counts: Float64Array; sum: number; count: number }>;
  constructor(readonly name: string, readonly help: string, private readonly label: string, values: readonly V[], private readonly bounds: readonly number[]) {
    this.series = {} as Record<V, { counts: Float64Array; sum: number; count: number }>;
    for (const v of values) this.series[v] = { counts: new Float64Array(bounds.length), sum: 0, count: 0 };
  }
  observe(labelValue: V, value: number): void {
    const s = this.series[labelValue];
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) if (value <= b[i]!) { s.counts[i]!++; break; }
    s.sum += value;
    s.count++;
  }
  get(): { name: string; help: string; type: string; aggregator: string; values: { metricName: string; labels: Record<string, string | number>; value: number }[] } {
    type Sample = { metricName: string; labels: Record<string, string | number>; value: number };
    const values: Sample[] = [];
    for (const [v, s] of Object.entries(this.series) as [V, { counts: Float64Array; sum: number; count: number }][]) {
      let cum = 0;
      for (let i = 0; i < this.bounds.length; i++) { cum += s.counts[i]!; values.push({ metricName: `${this.name}_bucket`, labels: { le: this.bounds[i]!, [this.label]: v }, value: cum }); }
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', [this.label]: v }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { [this.label]: v }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { [this.label]: v }, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
  reset(): void { /* counted since the gateway started */ }
}

export interface SessionCounts { orderSessions: number; streamSessions: number }

export type OrderChannel = 'rest' | 'binary';

/** The audit trail's state as the REST shim sees it (mount.ts). */
export interface AuditCounts {
  /** false once the audit writer failed: state-changing requests are refused until restart. */
  up: boolean;
  /** Audit rows that could not be written (the writer's failures, and rows not attempted while it was down). */
  failedRows: number;
  /** State-changing requests refused with 503 audit_unavailable. */
  refused: number;
}

/** A prom-client Counter fed at scrape time from a number that only grows. */
function scrapedCounter(r: client.Registry, name: string, help: string, read: () => number): void {
  let reported = 0;
  new client.Counter({ name, help, registers: [r], collect() { const v = read(); if (v > reported) { this.inc(v - reported); reported = v; } } });
}

/**
 * Counts by label set, kept in plain numbers per request and handed to a prom-client Counter when it
 * is scraped (its collect), so a request costs two Map lookups instead of prom-client's label hashing.
 * Keyed by two parts (e.g. the route object and the status) so that no key string is built per request.
 */
class LocalCounts<L extends string> {
  private readonly counts = new Map<unknown, Map<unknown, { labels: Record<L, string>; n: number; reported: number }>>();
  /** Counts one; false (nothing counted) when the pair is new: then call `create`. */
  inc(k1: unknown, k2: unknown): boolean {
    const c = this.counts.get(k1)?.get(k2);
    if (c === undefined) return false;
    c.n++;
    return true;
  }
  create(k1: unknown, k2: unknown, labels: Record<L, string>): void {
    let m = this.counts.get(k1);
    if (m === undefined) { m = new Map(); this.counts.set(k1, m); }
    m.set(k2, { labels, n: 1, reported: 0 });
  }
  /** Adds what was counted since the last scrape to `counter`. */
  flushInto(counter: client.Counter<L>): void {
    for (const m of this.counts.values()) {
      for (const c of m.values()) if (c.n > c.reported) { counter.inc(c.labels, c.n - c.reported); c.reported = c.n; }
    }
  }
}

export class RestMetrics {
  readonly registry = new client.Registry();
  private readonly ordersTotal: client.Counter<'channel' | 'status'>;
  private readonly orderLatency: LabeledHistogram<OrderChannel>;
  private readonly httpTotal: client.Counter<'method' | 'route' | 'status'>;
  private readonly orderCounts = new LocalCounts<'channel' | 'status'>();
  private readonly httpCounts = new LocalCounts<'method' | 'route' | 'status'>();

  constructor(engine: Engine, sessions: () => SessionCounts) {
    const r = this.registry;
    const orderCounts = this.orderCounts, httpCounts = this.httpCounts;
    this.ordersTotal = new client.Counter({ name: 'orders_total', help: 'New orders by channel (rest: POST /orders; binary: the WebSocket order protocol) and status after the durable ack', labelNames: ['channel', 'status'], registers: [r], collect() { orderCounts.flushInto(this); } });
    this.orderLatency = new LabeledHistogram<OrderChannel>('order_latency_seconds',
      'New orders by channel: rest, from the parsed request to the durable-ack answer; binary, from the decoded frame to the ack going out',
      'channel', ['rest', 'binary'], [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5]);
    r.registerMetric(this.orderLatency as unknown as client.Metric);
    observeBinaryOrders(engine, (status, ms) => this.orderDone('binary', status, ms));
    this.httpTotal = new client.Counter({ name: 'http_requests_total', help: 'REST requests answered', labelNames: ['method', 'route', 'status'], registers: [r], collect() { httpCounts.flushInto(this); } });
    const st = () => engine.stats();
    new client.Gauge({ name: 'engine_in_flight_commands', help: 'Commands sequenced and not yet acked (the in-flight window depth)', registers: [r], collect() { this.set(engine.inFlight); } });
    new client.Gauge({ name: 'engine_acked_seq', help: 'Last acked seq', registers: [r], collect() { this.set(st().ackedSeq); } });
    new client.Gauge({ name: 'engine_durable_seq', help: 'Last durable seq of the journal', registers: [r], collect() { this.set(st().durableSeq); } });
    new client.Gauge({ name: 'engine_journal_lag_commands', help: 'Sequenced commands not yet durable', registers: [r], collect() { const s = st(); this.set(Math.max(0, s.nextSeq - 1 - s.durableSeq)); } });
    new client.Gauge({ name: 'engine_busy_total', help: 'Submits answered Busy, by cause', labelNames: ['cause'], registers: [r], collect() {
      const s = st(); this.set({ cause: 'ring_full' }, s.busyRingFull); this.set({ cause: 'in_flight' }, s.busyInFlight); this.set({ cause: 'snapshot' }, s.busySnapshot); this.set({ cause: 'ledger' }, s.busyLedger);
    } });
    // Deferred sequencing (docs/runtime.md "Ledger and pipelining"): linked orders parked until their book settles.
    new client.Gauge({ name: 'engine_deferred_total', help: 'Submits parked until their book settled (deferred sequencing), and those of them later answered Busy', labelNames: ['outcome'], registers: [r], collect() {
      const s = st(); this.set({ outcome: 'parked' }, s.deferredParked); this.set({ outcome: 'busy' }, s.deferredBusy);
    } });
    new client.Gauge({ name: 'engine_parked_commands', help: 'Commands parked now, waiting for their book to settle', registers: [r], collect() { this.set(st().parkedNow); } });
    new client.Gauge({ name: 'engine_snapshot_budget_overruns_total', help: 'Snapshots that stopped the matching or ack path longer than snapshotBudgetMs', registers: [r], collect() { this.set(st().snapshotBudgetOverruns); } });
    new client.Gauge({ name: 'engine_snapshot_last_stop_seconds', help: 'The last snapshot\'s longest stop of the matching or ack path (thread: its longest write transaction on the journal)', registers: [r], collect() { this.set(st().lastSnapshotStopMs / 1000); } });
    new client.Gauge({ name: 'engine_events_drained_total', help: 'Event records drained from the shard rings', registers: [r], collect() { this.set(st().eventsDrained); } });
    // Ring depths: records published and not yet released by the consumer (gateway/ring.ts depth), read at scrape time.
    new client.Gauge({ name: 'engine_command_ring_depth', help: 'Commands in each shard\'s command ring (sent by the gateway, not yet taken by the shard)', labelNames: ['shard'], registers: [r], collect() {
      for (const d of engine.shardRingDepths()) this.set({ shard: String(d.shard) }, d.commands);
    } });
    new client.Gauge({ name: 'engine_event_ring_depth', help: 'Event records in each shard\'s event ring (published by the shard, not yet released by the gateway: released at the durable ack)', labelNames: ['shard'], registers: [r], collect() {
      for (const d of engine.shardRingDepths()) this.set({ shard: String(d.shard) }, d.events);
    } });
    new client.Gauge({ name: 'engine_journal_lock_retries_total', help: 'Tries of the journal thread for the journal file\'s write lock that found another connection (the snapshot thread) holding it; each is followed by a 0.1 ms nap', registers: [r], collect() { this.set(engine.journal.lockRetries()); } });
    new client.Gauge({ name: 'engine_journal_ring_depth', help: 'Commands in the journal thread\'s ring (sequenced, not yet taken by the journal thread)', registers: [r], collect() { this.set(engine.journal.ring.depth()); } });
    new client.Gauge({ name: 'engine_ring_capacity', help: 'Slots of each ring', labelNames: ['ring', 'shard'], registers: [r], collect() {
      for (const d of engine.shardRingDepths()) { this.set({ ring: 'command', shard: String(d.shard) }, d.commandCapacity); this.set({ ring: 'event', shard: String(d.shard) }, d.eventCapacity); }
      this.set({ ring: 'journal', shard: '' }, engine.journal.ring.capacity);
    } });
    new client.Gauge({ name: 'ledger_open_orders', help: 'Orders holding funds in the ledger', registers: [r], collect() { this.set(engine.ledger.openOrderCount); } });
    const repl = () => readSideOf(engine)?.replication() ?? null;
    new client.Gauge({ name: 'replication_lag_seconds', help: 'Age of the oldest acked command not yet in PostgreSQL (0 when caught up)', registers: [r], collect() { const l = repl(); if (l !== null) this.set(l.lagSeconds); } });
    new client.Gauge({ name: 'replication_lag_commands', help: 'Acked commands (seqs) not yet in PostgreSQL', registers: [r], collect() { const l = repl(); if (l !== null) this.set(l.lagSeqs); } });
    new client.Gauge({ name: 'replication_checkpoint_seq', help: 'Last seq committed to PostgreSQL', registers: [r], collect() { const l = repl(); if (l !== null) this.set(l.checkpointSeq); } });
    new client.Gauge({ name: 'replication_connected', help: '1 while the replicator writes to PostgreSQL without failures', registers: [r], collect() { const l = repl(); if (l !== null) this.set(l.connected ? 1 : 0); } });
    new client.Gauge({ name: 'replication_failures_total', help: 'Replicator batches that failed (retried)', registers: [r], collect() { const l = repl(); if (l !== null) this.set(l.failures); } });
    new client.Gauge({ name: 'replication_buffered_commands', help: 'Acked commands in the live replication buffer', registers: [r], collect() { const l = repl(); if (l !== null) this.set(l.bufferedCommands); } });
    new client.Gauge({ name: 'replication_dropped_commands_total', help: 'Live acks not buffered (buffer full): caught up from the journal instead', registers: [r], collect() { const l = repl(); if (l !== null) this.set(l.droppedCommands); } });
    new client.Gauge({ name: 'replication_catch_up_commands_total', help: 'Commands regenerated from the journal by the catch-up replay', registers: [r], collect() { const l = repl(); if (l !== null) this.set(l.catchUpCommands); } });
    new client.Gauge({ name: 'redis_fanout', help: 'Redis fan-out: ready (1/0) and messages published, dropped, errors', labelNames: ['what'], registers: [r], collect() {
      const x = readSideOf(engine)?.redis() ?? null;
      if (x === null) return;
      this.set({ what: 'ready' }, x.ready ? 1 : 0); this.set({ what: 'published' }, x.published); this.set({ what: 'dropped' }, x.dropped); this.set({ what: 'errors' }, x.errors);
    } });
    const hist = () => engine.journal.liveHistograms();
    r.registerMetric(new SharedHistogram('journal_commit_seconds', 'Journal thread: duration of each SQLite COMMIT (group commit of one batch)', () => hist().commitSeconds) as unknown as client.Metric);
    r.registerMetric(new SharedHistogram('journal_batch_records', 'Journal thread: commands per transaction (group commit batch size)', () => hist().batchRecords) as unknown as client.Metric);
    const restSessions = (): number | null => {
      try { return this.restSessions?.() ?? null; } catch { return null; } // identity database closed: not exported
    };
    new client.Gauge({
      name: 'active_sessions', help: 'Open sessions by kind: orders and stream (WebSocket connections of this gateway), rest (REST logins: refresh-token families neither revoked nor expired, in this gateway\'s identity database)',
      labelNames: ['kind'], registers: [r], collect() {
        const s = sessions(); this.set({ kind: 'orders' }, s.orderSessions); this.set({ kind: 'stream' }, s.streamSessions);
        const n = restSessions();
        if (n !== null) this.set({ kind: 'rest' }, n);
      },
    });
  }

  /** Where active_sessions{kind="rest"} is read at scrape time (mount.ts: the identity's live login sessions). */
  restSessions: (() => number | null) | null = null;

  /** A REST order answered (after its durable ack). */
  orderSubmitted(status: string, latencyMs: number): void {
    this.orderDone('rest', status, latencyMs);
  }

  /** A new order of `channel`, its status after the durable ack, and its latency. */
  orderDone(channel: OrderChannel, status: string, latencyMs: number): void {
    if (!this.orderCounts.inc(channel, status)) this.orderCounts.create(channel, status, { channel, status });
    this.orderLatency.observe(channel, latencyMs / 1000);
  }

  /** audit_writer_up, audit_rows_failed_total, audit_refused_requests_total (read at scrape time). */
  audit(read: () => AuditCounts): void {
    const r = this.registry;
    new client.Gauge({ name: 'audit_writer_up', help: '1 while audit rows can be written; 0 once the audit writer failed (state-changing requests are refused until restart)', registers: [r], collect() { this.set(read().up ? 1 : 0); } });
    scrapedCounter(r, 'audit_rows_failed_total', 'Audit rows that could not be written (writer failures, and rows not attempted while it was down)', () => read().failedRows);
    scrapedCounter(r, 'audit_refused_requests_total', 'State-changing REST requests refused with 503 audit_unavailable', () => read().refused);
  }

  observe(route: Route, status: number): void {
    if (!this.httpCounts.inc(route, status)) this.httpCounts.create(route, status, { method: route.method.toUpperCase(), route: route.path, status: String(status) });
  }

  route(): Route {
    return {
      method: 'get', path: '/metrics', permission: 'public', tag: 'health', summary: 'Prometheus metrics', textResponse: true,
      handler: async () => ({ text: await this.registry.metrics(), contentType: this.registry.contentType }),
    };
  }
}
