// Core benchmark: the fast order book (core/book.ts) on generated streams, the reference book of
// the tests, and two npm order books as peers. Run with `npm run bench:core` (node --expose-gc).
//
// For each registered stream (bench/streams.ts STREAMS):
//   - a warm-up run, then RUNS timed runs, each on a fresh book with the untimed preload applied;
//     opsPerSec = median of the runs (min and max also given). Throughput runs time the whole loop.
//   - heapGrowthBytesPerOp: heapUsed after minus before a timed run (full GC both sides) / ops,
//     median over the runs.
//   - a separate latency pass on a fresh book timing every command with performance.now() into a
//     preallocated Float64Array: p50Ns, p99Ns, p999Ns (they include timerOverheadNs, reported).
//     The same pass scans the events: trades, events by type, rejects by reason, ends by reason.
// reference: the shallow stream's first BENCH_REF_OPS commands (default 5,000: the reference book
//   runs at a few hundred ops/s) through testing/reference-book.ts, in lockstep with the fast book,
//   comparing every command's events; only the reference's execute() is timed.
// peers: the shallow stream through nodejs-order-book and hft-limit-order-book (see bench/peers.ts
//   for the mapping and what they cannot express).
//
// Environment: BENCH_OPS (timed ops per stream), BENCH_DEEP_PRELOAD (resting orders of the deep
// preload), BENCH_RUNS (default 5), BENCH_PEER_RUNS (default 3), BENCH_REF_OPS (default 5000),
// BENCH_STREAMS (comma list of stream names), BENCH_PEERS=0 / BENCH_REF=0 to skip those parts,
// BENCH_PAIRS (default 5; 0 skips): deep/shallow measured in back-to-back pairs (ratios.deepVsShallowPaired),
// BENCH_PREFETCH=0 to replay without telling the book the next command (`OrderBook.prefetch`, which
// the shard worker calls as it drains its ring; on by default, also in the latency pass, inside the
// timed region).
// Progress goes to stderr; the last line of stdout is one JSON object.

import { OrderBook } from '../core/book.js';
import { EventBuffer } from '../core/events.js';
import { Command, EVENT_WORDS, EventType } from '../core/types.js';
import {
  type BenchBook, type BookFactory, benchSpec, COMMAND_NAMES, END_NAMES, envInt, EVENT_NAMES, fullGc, hasGc, log,
  anonHugePagesKb, settle, machineInfo, median, nameOf, quantile, REJECT_NAMES, round, timerOverheadNs,
} from './common.js';
import { peerAdapters, PeerStrings, replayPeer, type PeerAdapter, type PeerRunStats } from './peers.js';
import { type GeneratedStream, generateStream, loadCommand, type OpStream, STREAMS, type StreamConfig } from './streams.js';

const RUNS = Math.max(1, envInt('BENCH_RUNS', 5));
const PEER_RUNS = Math.max(1, envInt('BENCH_PEER_RUNS', 3));
const OPS = envInt('BENCH_OPS', 0);
const DEEP_PRELOAD = envInt('BENCH_DEEP_PRELOAD', 0);
const REF_OPS = envInt('BENCH_REF_OPS', 5_000);
const ONLY = (process.env['BENCH_STREAMS'] ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');
const WITH_PEERS = process.env['BENCH_PEERS'] !== '0';
const WITH_REF = process.env['BENCH_REF'] !== '0';
const PREFETCH = process.env['BENCH_PREFETCH'] !== '0';
const PAIRS = envInt('BENCH_PAIRS', 5);

const fastFactory: BookFactory = (spec, events) => new OrderBook(spec, events);

function streamConfig(c: StreamConfig): StreamConfig {
  const out = { ...c };
  if (OPS > 0) out.ops = OPS;
  if (DEEP_PRELOAD > 0 && c.name === 'deep') { out.preloadOrders = DEEP_PRELOAD; out.targetLiveOrders = DEEP_PRELOAD; }
  return out;
}

/** Resting-order capacity: the preload plus a margin for the growth a stream can cause. */
function capacityFor(g: GeneratedStream): number {
  return g.preload.count + Math.ceil(g.ops.count / 4) + 10_000;
}

interface Rig { book: BenchBook; ev: EventBuffer; cmd: Command; preloadMs: number }

function freshRig(factory: BookFactory, g: GeneratedStream): Rig {
  settle(); // a previous (large) book's memory is returned before this one is built and timed
  const ev = new EventBuffer(1 << 16);
  const book = factory(benchSpec(capacityFor(g)), ev);
  const cmd = new Command();
  const t0 = performance.now();
  replay(book, g.preload, g.preload.count, cmd, ev);
  return { book, ev, cmd, preloadMs: performance.now() - t0 };
}

/** The throughput loop: returns the number of events produced. */
function replay(book: BenchBook, s: OpStream, count: number, cmd: Command, ev: EventBuffer): number {
  let events = 0;
  const pf = PREFETCH && book.prefetch !== undefined;
  for (let i = 0; i < count; i++) {
    loadCommand(s, i, cmd);
    if (pf && i + 1 < count) book.prefetch!(s.kind[i + 1]!, s.orderId[i + 1]!, s.account[i + 1]!, s.clientOrderId[i + 1]!);
    book.execute(cmd);
    events += ev.count;
    ev.clear();
  }
  return events;
}

// ------------------------------------------------------------------------------------------------
// Event statistics (outside the timed regions)
// ------------------------------------------------------------------------------------------------

class EventStats {
  events = 0;
  trades = 0;
  readonly byType = new Float64Array(32);
  readonly rejects = new Float64Array(128);
  /** [commandType * 128 + reason] */
  readonly rejectsByCommand = new Float64Array(16 * 128);
  readonly expired = new Float64Array(16);
  readonly canceled = new Float64Array(16);

  scan(ev: EventBuffer): void {
    const w = ev.words;
    const n = ev.count;
    this.events += n;
    for (let k = 0; k < n; k++) {
      const o = k * EVENT_WORDS;
      const t = w[o]!;
      this.byType[t]++;
      if (t === EventType.Trade) this.trades++;
      else if (t === EventType.Rejected) {
        const reason = w[o + 6]!;
        this.rejects[reason]++;
        this.rejectsByCommand[w[o + 7]! * 128 + reason]++;
      } else if (t === EventType.Expired) this.expired[w[o + 6]!]++;
      else if (t === EventType.Canceled) this.canceled[w[o + 6]!]++;
    }
  }

  toJson(): Record<string, unknown> {
    const named = (arr: Float64Array, names: Record<number, string>): Record<string, number> => {
      const o: Record<string, number> = {};
      for (let i = 0; i < arr.length; i++) if (arr[i]! > 0) o[nameOf(names, i)] = arr[i]!;
      return o;
    };
    const byCmd: Record<string, Record<string, number>> = {};
    for (let i = 0; i < this.rejectsByCommand.length; i++) {
      const v = this.rejectsByCommand[i]!;
      if (v === 0) continue;
      const c = nameOf(COMMAND_NAMES, Math.floor(i / 128));
      (byCmd[c] ??= {})[nameOf(REJECT_NAMES, i % 128)] = v;
    }
    let rejectTotal = 0;
    for (const v of this.rejects) rejectTotal += v;
    return {
      trades: this.trades, events: this.events, eventsByType: named(this.byType, EVENT_NAMES),
      rejectTotal, rejects: named(this.rejects, REJECT_NAMES), rejectsByCommand: byCmd,
      expiredByReason: named(this.expired, END_NAMES), canceledByReason: named(this.canceled, END_NAMES),
    };
  }
}

// ------------------------------------------------------------------------------------------------
// One stream through one book implementation
// ------------------------------------------------------------------------------------------------

interface StreamResult extends Record<string, unknown> { opsPerSec: number }

function benchStream(g: GeneratedStream, factory: BookFactory, runs: number, overheadNs: number, withHash: boolean): StreamResult {
  const n = g.ops.count;
  const name = g.config.name;

  // Warm-up: the whole stream once on a fresh book.
  {
    const rig = freshRig(factory, g);
    replay(rig.book, g.ops, n, rig.cmd, rig.ev);
  }

  const rates: number[] = [];
  const heapPerOp: number[] = [];
  const preloadMs: number[] = [];
  let events = 0;
  let lastHash = '';
  for (let r = 0; r < runs; r++) {
    const rig = freshRig(factory, g);
    preloadMs.push(rig.preloadMs);
    fullGc();
    const h0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    events = replay(rig.book, g.ops, n, rig.cmd, rig.ev);
    const dt = performance.now() - t0;
    fullGc();
    const h1 = process.memoryUsage().heapUsed;
    rates.push(n / (dt / 1000));
    heapPerOp.push((h1 - h0) / n);
    if (withHash && r === runs - 1) lastHash = rig.book.stateHash();
    log(`  ${name} run ${r + 1}/${runs}: ${Math.round(n / (dt / 1000)).toLocaleString('en-US')} ops/s, ` +
      `heap ${((h1 - h0) / n).toFixed(2)} B/op, preload ${rig.preloadMs.toFixed(0)} ms`);
  }

  // Latency pass (separate book): every command timed on its own, events scanned after the stamp.
  const lat = new Float64Array(n);
  const stats = new EventStats();
  const rig = freshRig(factory, g);
  {
    const { book, ev, cmd } = rig;
    const s = g.ops;
    const pf = PREFETCH && book.prefetch !== undefined;
    for (let i = 0; i < n; i++) {
      loadCommand(s, i, cmd);
      const t0 = performance.now();
      if (pf && i + 1 < n) book.prefetch!(s.kind[i + 1]!, s.orderId[i + 1]!, s.account[i + 1]!, s.clientOrderId[i + 1]!);
      book.execute(cmd);
      const t1 = performance.now();
      lat[i] = (t1 - t0) * 1e6;
      stats.scan(ev);
      ev.clear();
    }
  }
  let sum = 0;
  for (let i = 0; i < n; i++) sum += lat[i]!;
  lat.sort();
  const hash = withHash ? rig.book.stateHash() : '';
  const st = stats.toJson();
  const result: StreamResult = {
    ops: n, preloadOrders: g.preload.count, runs,
    opsPerSec: Math.round(median(rates)), opsPerSecMin: Math.round(Math.min(...rates)), opsPerSecMax: Math.round(Math.max(...rates)),
    runOpsPerSec: rates.map((x) => Math.round(x)),
    p50Ns: round(quantile(lat, 0.5)), p99Ns: round(quantile(lat, 0.99)), p999Ns: round(quantile(lat, 0.999)),
    maxNs: round(lat[n - 1] ?? 0), meanNs: round(sum / Math.max(1, n)), timerOverheadNs: round(overheadNs),
    heapGrowthBytesPerOp: hasGc ? round(median(heapPerOp), 3) : null,
    trades: st['trades'], events, eventsPerOp: round(events / Math.max(1, n), 3),
    preloadMs: round(median(preloadMs)),
    anonHugePagesKb: anonHugePagesKb(),
    ...st,
    generator: { ...g.expected, tradesMatch: st['trades'] === g.expected.trades },
  };
  if (withHash) { result['stateHash'] = hash; result['deterministic'] = hash === lastHash; }
  return result;
}

// ------------------------------------------------------------------------------------------------
// Reference book
// ------------------------------------------------------------------------------------------------

async function loadReference(): Promise<BookFactory | null> {
  const specifier = '../testing/reference-book.js';
  try {
    const mod = (await import(specifier)) as { ReferenceBook?: new (spec: unknown, ev: EventBuffer) => BenchBook };
    if (mod.ReferenceBook === undefined) return null;
    const Ctor = mod.ReferenceBook;
    return (spec, events) => new Ctor(spec, events);
  } catch (err) {
    log(`reference book not loaded: ${(err as Error).message}`);
    return null;
  }
}

/**
 * One pass over the first REF_OPS commands with both books in lockstep: every command's events are
 * compared word by word, and only the reference book's execute() is timed (the reference is orders
 * of magnitude slower, so a separate throughput pass would add minutes for no information).
 */
function benchReference(g: GeneratedStream, refFactory: BookFactory): Record<string, unknown> {
  const count = Math.min(REF_OPS, g.ops.count);
  const a = freshRig(fastFactory, g);
  const b = freshRig(refFactory, g);
  let mismatchAt = -1;
  let detail = '';
  let refMs = 0;
  let refEvents = 0;
  let i = 0;
  for (; i < count && mismatchAt < 0; i++) {
    loadCommand(g.ops, i, a.cmd);
    loadCommand(g.ops, i, b.cmd);
    a.book.execute(a.cmd);
    const t0 = performance.now();
    b.book.execute(b.cmd);
    refMs += performance.now() - t0;
    refEvents += b.ev.count;
    if (a.ev.count !== b.ev.count) {
      mismatchAt = i;
      detail = `event count fast ${a.ev.count} vs reference ${b.ev.count}`;
    } else {
      const len = a.ev.count * EVENT_WORDS;
      for (let k = 0; k < len; k++) {
        if (a.ev.words[k] !== b.ev.words[k]) {
          mismatchAt = i;
          detail = `event ${Math.floor(k / EVENT_WORDS)} word ${k % EVENT_WORDS}: fast ${a.ev.words[k]} vs reference ${b.ev.words[k]}`;
          break;
        }
      }
    }
    if (mismatchAt >= 0) {
      detail += `; fast events ${JSON.stringify(Array.from({ length: a.ev.count }, (_, k) => a.ev.record(k)))}` +
        `; reference events ${JSON.stringify(Array.from({ length: b.ev.count }, (_, k) => b.ev.record(k)))}`;
    }
    a.ev.clear();
    b.ev.clear();
    if ((i + 1) % 1000 === 0) log(`  reference: ${i + 1}/${count} ops, ${Math.round((i + 1) / (refMs / 1000))} ops/s so far`);
  }
  const hashA = a.book.stateHash(), hashB = b.book.stateHash();
  return {
    stream: g.config.name, ops: i, opsPerSec: Math.round(i / (refMs / 1000)), events: refEvents,
    comparedOps: i, eventStreamsEqual: mismatchAt < 0, stateHashEqual: hashA === hashB,
    ...(mismatchAt >= 0 ? { firstMismatchOp: mismatchAt, firstMismatchSeq: g.ops.firstSeq + mismatchAt, mismatch: detail.slice(0, 4000) } : {}),
  };
}

// ------------------------------------------------------------------------------------------------
// Peers
// ------------------------------------------------------------------------------------------------

function benchPeer(p: PeerAdapter, g: GeneratedStream, strs: PeerStrings): Record<string, unknown> {
  const n = g.ops.count;
  const fresh = (): ReturnType<PeerAdapter['create']> => {
    const book = p.create();
    const s: PeerRunStats = { trades: 0, errors: 0, cancelMisses: 0 };
    replayPeer(book, g.preload, g.preload.count, strs, p.supportsStp, s);
    return book;
  };
  {
    const s: PeerRunStats = { trades: 0, errors: 0, cancelMisses: 0 };
    replayPeer(fresh(), g.ops, Math.min(n, 100_000), strs, p.supportsStp, s);
  }
  const rates: number[] = [];
  let stats: PeerRunStats = { trades: 0, errors: 0, cancelMisses: 0 };
  for (let r = 0; r < PEER_RUNS; r++) {
    const book = fresh();
    stats = { trades: 0, errors: 0, cancelMisses: 0 };
    fullGc();
    const t0 = performance.now();
    replayPeer(book, g.ops, n, strs, p.supportsStp, stats);
    const dt = performance.now() - t0;
    rates.push(n / (dt / 1000));
    log(`  ${p.name} run ${r + 1}/${PEER_RUNS}: ${Math.round(n / (dt / 1000)).toLocaleString('en-US')} ops/s`);
  }
  // Latency pass: one command at a time (a one-row view of the stream per command would allocate,
  // so the adapter is called on the full stream with a per-command window instead).
  const lat = new Float64Array(n);
  {
    const book = fresh();
    const s: PeerRunStats = { trades: 0, errors: 0, cancelMisses: 0 };
    const view = rowView(g.ops);
    for (let i = 0; i < n; i++) {
      view.set(i);
      const t0 = performance.now();
      replayPeer(book, view.stream, 1, strs, p.supportsStp, s);
      lat[i] = (performance.now() - t0) * 1e6;
    }
  }
  lat.sort();
  return {
    package: p.name, version: p.version, stream: g.config.name, ops: n, runs: PEER_RUNS,
    opsPerSec: Math.round(median(rates)), opsPerSecMin: Math.round(Math.min(...rates)), opsPerSecMax: Math.round(Math.max(...rates)),
    p50Ns: round(quantile(lat, 0.5)), p99Ns: round(quantile(lat, 0.99)), p999Ns: round(quantile(lat, 0.999)),
    trades: stats.trades, errors: stats.errors, cancelMisses: stats.cancelMisses,
    stp: p.supportsStp ? 'by account: EXPIRE_TAKER/EXPIRE_MAKER/EXPIRE_BOTH (Decrement sent as NONE)' : 'none',
    unsupported: p.unsupported,
  };
}

/** A one-row OpStream whose row 0 is a copy of row i of the source (typed-array copies, no allocation). */
function rowView(src: OpStream): { stream: OpStream; set(i: number): void } {
  const one: OpStream = {
    count: 1, firstSeq: 0, kind: new Uint8Array(1), side: new Uint8Array(1), orderType: new Uint8Array(1),
    tif: new Uint8Array(1), flags: new Uint8Array(1), stpMode: new Uint8Array(1), account: new Int32Array(1),
    orderId: new Int32Array(1), clientOrderId: new Int32Array(1), priceTicks: new Int32Array(1), qtyLots: new Int32Array(1),
    stopPriceTicks: new Int32Array(1), displayQtyLots: new Int32Array(1), trailOffset: new Int32Array(1), linkId: new Int32Array(1),
  };
  return {
    stream: one,
    set(i: number): void {
      one.firstSeq = src.firstSeq + i;
      one.kind[0] = src.kind[i]!; one.side[0] = src.side[i]!; one.orderType[0] = src.orderType[i]!; one.tif[0] = src.tif[i]!;
      one.flags[0] = src.flags[i]!; one.stpMode[0] = src.stpMode[i]!; one.account[0] = src.account[i]!;
      one.orderId[0] = src.orderId[i]!; one.clientOrderId[0] = src.clientOrderId[i]!; one.priceTicks[0] = src.priceTicks[i]!;
      one.qtyLots[0] = src.qtyLots[i]!;
      one.stopPriceTicks[0] = src.stopPriceTicks[i]!; one.displayQtyLots[0] = src.displayQtyLots[i]!;
      one.trailOffset[0] = src.trailOffset[i]!; one.linkId[0] = src.linkId[i]!;
    },
  };
}

// ------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!hasGc) log('warning: run with node --expose-gc for heap figures (npm run bench:core does)');
  const out: Record<string, unknown> = {};
  const overheadNs = timerOverheadNs();
  log(`timer overhead (performance.now pair): ${overheadNs.toFixed(0)} ns`);

  let shallowGen: GeneratedStream | null = null;
  let deepGen: GeneratedStream | null = null;
  for (const base of STREAMS) {
    if (ONLY.length > 0 && !ONLY.includes(base.name)) continue;
    const c = streamConfig(base);
    const t0 = performance.now();
    const g = generateStream(c);
    log(`${c.name}: generated ${g.preload.count.toLocaleString('en-US')} preload + ${g.ops.count.toLocaleString('en-US')} ops ` +
      `in ${(performance.now() - t0).toFixed(0)} ms; generator expects ${g.expected.trades} trades, ` +
      `${g.expected.liveOrdersAtEnd} resting at end over ${g.expected.levelsAtEnd} levels`);
    try {
      out[c.name] = benchStream(g, fastFactory, RUNS, overheadNs, g.preload.count <= 100_000);
    } catch (err) {
      log(`${c.name}: FAILED: ${(err as Error).stack ?? String(err)}`);
      out[c.name] = { error: String((err as Error).message ?? err) };
    }
    const r = out[c.name] as Record<string, unknown>;
    log(`${c.name}: ${JSON.stringify({ opsPerSec: r['opsPerSec'], p50Ns: r['p50Ns'], p99Ns: r['p99Ns'], p999Ns: r['p999Ns'], trades: r['trades'], rejects: r['rejects'] })}`);
    if (c.name === 'shallow') shallowGen = g;
    if (c.name === 'deep') deepGen = g;
    fullGc();
  }

  // deep/shallow measured in pairs: one timed run of each on a fresh book, back to back (the order
  // alternating), the ratio taken per pair. The sequential figures above run all of shallow, then all
  // of deep, so a host that slows down for a minute (this shared VM does) moves their ratio; a pair
  // spans a few seconds.
  let paired: Record<string, unknown> | null = null;
  if (shallowGen !== null && deepGen !== null && PAIRS > 0 && !('error' in (out['shallow'] as object)) && !('error' in (out['deep'] as object))) {
    const ratios: number[] = [];
    for (let k = 0; k < PAIRS; k++) {
      const rate = (g: GeneratedStream): number => {
        const rig = freshRig(fastFactory, g);
        fullGc();
        const t0 = performance.now();
        replay(rig.book, g.ops, g.ops.count, rig.cmd, rig.ev);
        return g.ops.count / ((performance.now() - t0) / 1000);
      };
      let sh: number, dp: number;
      if (k % 2 === 0) { sh = rate(shallowGen); dp = rate(deepGen); } else { dp = rate(deepGen); sh = rate(shallowGen); }
      ratios.push(dp / sh);
      log(`  pair ${k + 1}/${PAIRS}: shallow ${Math.round(sh).toLocaleString('en-US')}, deep ${Math.round(dp).toLocaleString('en-US')} ops/s, deep/shallow ${(dp / sh).toFixed(3)}`);
      fullGc();
    }
    paired = { pairs: PAIRS, ratios: ratios.map((x) => round(x, 3)), median: round(median(ratios), 3) };
  }

  if (WITH_REF && shallowGen !== null) {
    const ref = await loadReference();
    if (ref === null) out['reference'] = { missing: 'testing/reference-book.ts (ReferenceBook) not available' };
    else {
      try {
        out['reference'] = benchReference(shallowGen, ref);
      } catch (err) {
        log(`reference: FAILED: ${(err as Error).stack ?? String(err)}`);
        out['reference'] = { error: String((err as Error).message ?? err) };
      }
    }
    log(`reference: ${JSON.stringify(out['reference']).slice(0, 600)}`);
  }

  if (WITH_PEERS && shallowGen !== null) {
    const peers: Record<string, unknown> = {};
    const strs = new PeerStrings(shallowGen.maxSeq, shallowGen.config.accounts);
    for (const p of peerAdapters()) {
      try {
        peers[p.name] = benchPeer(p, shallowGen, strs);
      } catch (err) {
        log(`${p.name}: FAILED: ${(err as Error).stack ?? String(err)}`);
        peers[p.name] = { error: String((err as Error).message ?? err) };
      }
      const r = peers[p.name] as Record<string, unknown>;
      log(`${p.name}: ${JSON.stringify({ opsPerSec: r['opsPerSec'], p99Ns: r['p99Ns'], trades: r['trades'] })}`);
      fullGc();
    }
    out['peers'] = peers;
  }

  out['machine'] = machineInfo();
  out['config'] = { runs: RUNS, peerRuns: PEER_RUNS, opsOverride: OPS || null, deepPreloadOverride: DEEP_PRELOAD || null, refOps: REF_OPS, prefetchNext: PREFETCH };
  const rate = (k: string): number | null => {
    const v = (out[k] as Record<string, unknown> | undefined)?.['opsPerSec'];
    return typeof v === 'number' ? v : null;
  };
  const peerRates = Object.values((out['peers'] ?? {}) as Record<string, Record<string, unknown>>)
    .map((p) => p['opsPerSec']).filter((v): v is number => typeof v === 'number');
  const shallow = rate('shallow'), deep = rate('deep');
  out['advancedOpsPerSec'] = rate('advanced');
  out['ratios'] = {
    shallowVsFastestPeer: shallow !== null && peerRates.length > 0 ? round(shallow / Math.max(...peerRates), 2) : null,
    deepVsShallow: shallow !== null && deep !== null ? round(deep / shallow, 3) : null,
    deepVsShallowPaired: paired,
    shallowVsReference: shallow !== null && rate('reference') !== null ? round(shallow / rate('reference')!, 2) : null,
    advancedVsShallow: shallow !== null && rate('advanced') !== null ? round(rate('advanced')! / shallow, 3) : null,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

await main();
