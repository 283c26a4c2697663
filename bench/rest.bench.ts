// REST shim throughput and latency: the gateway (engine + uWS + REST) runs in this process; the load
// generator runs in a child process on loopback, N keep-alive connections each with one request in
// flight. Phase 1: GET /api/v1/market-data/ticker; phase 2: POST /api/v1/orders (limit orders that
// cross between two accounts, so the book stays small), each answered after the durable ack.
// Last stdout line: JSON {getTickerRps, postOrderRps, postOrderP99Ms, ...}. Any non-2xx answer or
// connection error makes the run fail (exit code 1, with the first failure on stderr).
//
//   npm run build && node dist/bench/rest.bench.js [--seconds 8] [--connections 32] [--gen net|http] [--rate N] [--warmup 2]
//
// --warmup S (default 2): each phase first runs S seconds of the same load unmeasured (JIT tiers and
//   caches settle; the first half second of POSTs is several times slower); --warmup 0 measures from the
//   first request, as sessions 1-3 did. The CPU and GC figures cover the measured part only.
// --gen net (default): bench/rest-loadgen.ts, raw sockets and pre-encoded requests (wrk-like, cheap per
//   request, so more of the two cores is left to the server). --gen http: node:http's client with a
//   keep-alive agent, the generator of sessions 1-3 (about 2.5x the CPU per request: ~27 us against ~10 us).
// --rate N (net only): open loop at N requests/s in total (wrk2 style; latency from the intended send
//   time, serviceP50Ms/serviceP99Ms from the actual write; the generator's timers add up to ~1 ms of
//   lateness to the former). Default: closed loop, which is what the JSON keys are quoted from.
//
// Each phase's `heap` (main thread, measured part): allocatedBytesPerRequest, promotedBytesPerRequest
// (what scavenges moved to the old generation) and scavengesPer10k. They hardly depend on the rate or
// on what else runs on the machine, so they are the figures to compare builds by on a shared machine
// (with the rates and latencies of alternated runs). REST_BENCH_HEAP_PROFILE=file.heapprofile (and
// REST_BENCH_HEAP_PROFILE_KIND=all|old|live) or REST_BENCH_CPU_PROFILE=file.cpuprofile profile the
// main thread during the measured POST phase (see Profiles below); node flags given to this script
// (e.g. --trace-gc-nvp) apply to the server, which runs in this process.

import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { encodeRequest, runLoad } from './rest-loadgen.js';

type Gen = 'net' | 'http';
interface ChildArgs { port: number; tokens: string[]; seconds: number; connections: number; phase: 'ticker' | 'orders'; gen: Gen; rate: number; warmup: number }
interface PhaseResult {
  phase: string; requests: number; errors: number; statuses: Record<string, number>; seconds: number; rps: number; p50Ms: number; p99Ms: number;
  p999Ms?: number; maxMs?: number; warmupRequests?: number; serviceP50Ms?: number; serviceP99Ms?: number; firstFailure?: string;
  /** CPU used during the phase, in cores: the generator's process, and this one (server: main, shard, journal threads). */
  generatorCores?: number; serverCores?: number;
  /** CPU of this process's main thread (uWS, REST, engine pump) during the phase, in cores and in us per request (Linux; else absent). */
  mainCores?: number; mainUsPerRequest?: number;
  /** This process's GC during the phase: pauses (count, total and longest ms), minor (scavenges) and major. */
  gc?: { minor: number; minorMs: number; major: number; majorMs: number; maxPauseMs: number };
  /**
   * This process's main-thread heap during the phase (v8.GCProfiler): bytes allocated per request
   * (growth of the used heap between collections, summed), bytes promoted to the old generation per
   * request by scavenges, and scavenges per 10,000 requests. Allocation is the steadiest of the
   * figures on a noisy machine: it does not depend on the rate or on what else runs.
   */
  heap?: { allocatedBytesPerRequest: number; promotedBytesPerRequest: number; scavengesPer10k: number };
}

/**
 * REST_BENCH_HEAP_PROFILE=file / REST_BENCH_CPU_PROFILE=file: a sampling heap profile (every
 * allocation, including what the scavenger collects) or a CPU profile of this process's main thread
 * during the measured part of the orders phase, written as JSON (.heapprofile / .cpuprofile); see
 * REST_BENCH_HEAP_PROFILE_KIND below for which allocations the heap profile keeps.
 */
class Profiles {
  private session: Session | null = null;
  private readonly heapFile = process.env['REST_BENCH_HEAP_PROFILE'];
  private readonly cpuFile = process.env['REST_BENCH_CPU_PROFILE'];
  private readonly heapKind = process.env['REST_BENCH_HEAP_PROFILE_KIND'] ?? 'all';
  async start(): Promise<void> {
    if (this.heapFile === undefined && this.cpuFile === undefined) return;
    this.session = new Session();
    this.session.connect();
    if (this.heapFile !== undefined) {
      // REST_BENCH_HEAP_PROFILE_KIND: all (default) = every allocation; old = what was promoted to the
      // old generation (still alive or collected by a full GC); live = still alive after a full GC at
      // the end (what the phase retained).
      const kind = this.heapKind;
      await this.session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: kind !== 'live', includeObjectsCollectedByMinorGC: kind === 'all' } as never);
    }
    if (this.cpuFile !== undefined) {
      await this.session.post('Profiler.enable');
      await this.session.post('Profiler.setSamplingInterval', { interval: 200 });
      await this.session.post('Profiler.start');
    }
  }
  async stop(): Promise<void> {
    const s = this.session;
    if (s === null) return;
    this.session = null;
    if (this.heapFile !== undefined && this.heapKind === 'live') await s.post('HeapProfiler.collectGarbage');
    if (this.heapFile !== undefined) writeFileSync(this.heapFile, JSON.stringify((await s.post('HeapProfiler.stopSampling')).profile));
    if (this.cpuFile !== undefined) writeFileSync(this.cpuFile, JSON.stringify((await s.post('Profiler.stop')).profile));
    s.disconnect();
  }
}

/** Allocation and promotion on this thread's heap while `on` (v8.GCProfiler). */
class HeapCounter {
  private profiler: v8.GCProfiler | null = null;
  private used0 = 0;
  start(): void {
    this.profiler?.stop();
    this.profiler = new v8.GCProfiler();
    this.used0 = v8.getHeapStatistics().used_heap_size;
    this.profiler.start();
  }
  stop(requests: number): PhaseResult['heap'] {
    const r = this.profiler?.stop();
    this.profiler = null;
    const used1 = v8.getHeapStatistics().used_heap_size;
    if (r === undefined) return undefined;
    let allocated = 0, promoted = 0, scavenges = 0, last = this.used0;
    const oldSpace = (h: { heapSpaceStatistics: { spaceName: string; spaceUsedSize: number }[] }): number =>
      h.heapSpaceStatistics.reduce((n, s) => (s.spaceName === 'old_space' || s.spaceName === 'large_object_space' ? n + s.spaceUsedSize : n), 0);
    for (const g of r.statistics) {
      allocated += Math.max(0, g.beforeGC.heapStatistics.usedHeapSize - last);
      last = g.afterGC.heapStatistics.usedHeapSize;
      if (g.gcType === 'Scavenge') { scavenges++; promoted += Math.max(0, oldSpace(g.afterGC) - oldSpace(g.beforeGC)); }
    }
    allocated += Math.max(0, used1 - last);
    const n = Math.max(1, requests);
    return { allocatedBytesPerRequest: Math.round(allocated / n), promotedBytesPerRequest: Math.round(promoted / n), scavengesPer10k: +((scavenges * 1e4) / n).toFixed(1) };
  }
}

/** Counts this process's GC pauses (main thread) while `on`. */
class GcCounter {
  minor = 0; minorMs = 0; major = 0; majorMs = 0; maxPauseMs = 0;
  private readonly obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) { this.minor++; this.minorMs += e.duration; } else { this.major++; this.majorMs += e.duration; }
      if (e.duration > this.maxPauseMs) this.maxPauseMs = e.duration;
    }
  });
  reset(): void { this.minor = this.minorMs = this.major = this.majorMs = this.maxPauseMs = 0; }
  start(): void { this.reset(); this.obs.observe({ entryTypes: ['gc'] }); }
  stop(): PhaseResult['gc'] {
    this.obs.disconnect();
    return { minor: this.minor, minorMs: +this.minorMs.toFixed(1), major: this.major, majorMs: +this.majorMs.toFixed(1), maxPauseMs: +this.maxPauseMs.toFixed(2) };
  }
}

/** CPU seconds of the calling thread (utime + stime of /proc/thread-self/stat), or NaN where there is none. */
function threadCpuSeconds(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // fields 14 and 15, in USER_HZ (100 on Linux)
  } catch {
    return NaN;
  }
}

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

function strArg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}

const TICKER_PATH = '/api/v1/market-data/ticker?symbol=AAA-USD';
const ORDER_PATH = '/api/v1/orders';
/** Request k: account k % 2 (trader buys, trader2 sells), so every pair of orders crosses. */
const orderBody = (k: number): string => JSON.stringify({ symbol: 'AAA-USD', side: k % 2 === 0 ? 'buy' : 'sell', order_type: 'limit', quantity: '0.001', price: '100.00' });

/** node:http client (sessions 1-3): closed loop, latency from request creation to the end of the answer. */
async function runHttpPhase(a: ChildArgs): Promise<PhaseResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: a.connections });
  const lat: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0, n = 0, seq = 0;
  let firstFailure: string | undefined;
  const end = performance.now() + a.seconds * 1000;
  const one = (): Promise<void> => new Promise((resolve) => {
    const k = seq++;
    const isOrder = a.phase === 'orders';
    const body = isOrder ? orderBody(k) : undefined;
    const t0 = performance.now();
    const req = http.request({
      host: '127.0.0.1', port: a.port, agent, method: isOrder ? 'POST' : 'GET',
      path: isOrder ? ORDER_PATH : TICKER_PATH,
      headers: { authorization: `Bearer ${a.tokens[k % 2]}`, ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) },
    }, (res) => {
      res.resume();
      res.on('end', () => {
        lat.push(performance.now() - t0); n++;
        statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
        if ((res.statusCode! < 200 || res.statusCode! > 299) && firstFailure === undefined) firstFailure = `HTTP ${res.statusCode}`;
        resolve();
      });
    });
    req.on('error', (e) => { errors++; firstFailure ??= `socket: ${e.message}`; resolve(); });
    if (body) req.end(body); else req.end();
  });
  const t0 = performance.now();
  await Promise.all(Array.from({ length: a.connections }, async () => { while (performance.now() < end) await one(); }));
  const secs = (performance.now() - t0) / 1000;
  agent.destroy();
  lat.sort((x, y) => x - y);
  const q = (p: number): number => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! : 0);
  return {
    phase: a.phase, requests: n, errors, statuses, seconds: +secs.toFixed(2), rps: Math.round(n / secs), p50Ms: +q(0.5).toFixed(3), p99Ms: +q(0.99).toFixed(3),
    ...(firstFailure !== undefined ? { firstFailure } : {}),
  };
}

/** bench/rest-loadgen.ts: the same requests, pre-encoded once. */
async function runNetPhase(a: ChildArgs): Promise<PhaseResult> {
  const requests = a.phase === 'orders'
    ? [0, 1].map((k) => encodeRequest('POST', ORDER_PATH, { authorization: `Bearer ${a.tokens[k]}`, 'content-type': 'application/json' }, orderBody(k)))
    : [0, 1].map((k) => encodeRequest('GET', TICKER_PATH, { authorization: `Bearer ${a.tokens[k]}` }));
  const r = await runLoad({ port: a.port, requests, seconds: a.seconds, connections: a.connections, rate: a.rate });
  return { phase: a.phase, ...r };
}

const nonOk = (r: PhaseResult): number => Object.entries(r.statuses).filter(([s]) => !(Number(s) >= 200 && Number(s) <= 299)).reduce((n, [, c]) => n + c, 0);

async function childPhase(m: ChildArgs): Promise<PhaseResult> {
  const run = m.gen === 'http' ? runHttpPhase : runNetPhase;
  let warm: PhaseResult | null = null;
  // Warm-up: the same load, unmeasured (JIT tiers and caches settle first); its failures still count.
  if (m.warmup > 0) warm = await run({ ...m, seconds: m.warmup });
  process.send!({ measuring: true });
  const cpu0 = process.cpuUsage();
  const r = await run(m);
  const cpu = process.cpuUsage(cpu0);
  // CPU the generator used, in cores (1 = one core busy for the whole phase).
  r.generatorCores = +((cpu.user + cpu.system) / 1e6 / r.seconds).toFixed(2);
  if (warm !== null) {
    r.warmupRequests = warm.requests;
    if (warm.errors > 0 || nonOk(warm) > 0) {
      r.errors += warm.errors;
      r.statuses['warmup-non-2xx'] = nonOk(warm);
      r.firstFailure ??= warm.firstFailure ?? '?';
    }
  }
  return r;
}

async function child(): Promise<void> {
  process.on('message', (m: ChildArgs) => {
    childPhase(m).then((r) => { process.send!(r); }, (e) => { process.send!({ error: String(e) }); });
  });
}

async function parent(): Promise<void> {
  const { startRestKit } = await import('../gateway/rest/test-kit.js');
  const seconds = arg('seconds', 8), connections = arg('connections', 32), rate = arg('rate', 0), warmup = arg('warmup', 2);
  const gen = strArg('gen', 'net') as Gen;
  if (gen !== 'net' && gen !== 'http') throw new Error(`--gen net|http, not ${gen}`);
  if (rate > 0 && gen !== 'net') throw new Error('--rate needs --gen net');
  const kit = await startRestKit({ perKey: { burst: 1e9, ratePerSecond: 1e9 } });
  const tokens = [kit.users['trader']!.token, kit.users['trader2']!.token];
  const proc = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const runPhase = (p: ChildArgs['phase']): Promise<PhaseResult> => new Promise((resolve, reject) => {
    // The CPU and GC counters start again when the generator says that its warm-up is over.
    let cpu0 = process.cpuUsage(), main0 = threadCpuSeconds();
    gcCounter.start();
    const onMessage = (m: PhaseResult & { error?: string; measuring?: boolean }): void => {
      if (m.measuring) { cpu0 = process.cpuUsage(); main0 = threadCpuSeconds(); gcCounter.reset(); heapCounter.start(); if (p === 'orders') void profiles.start(); return; }
      proc.off('message', onMessage);
      const gc = gcCounter.stop();
      const heap = heapCounter.stop(m.requests ?? 0);
      const profiled = p === 'orders' ? profiles.stop() : Promise.resolve();
      if (m.error) { reject(new Error(m.error)); return; }
      const cpu = process.cpuUsage(cpu0), main = threadCpuSeconds() - main0;
      void profiled.then(() => resolve({
        ...m, serverCores: +((cpu.user + cpu.system) / 1e6 / m.seconds).toFixed(2), gc, ...(heap !== undefined ? { heap } : {}),
        ...(Number.isFinite(main) ? { mainCores: +(main / m.seconds).toFixed(2), mainUsPerRequest: +((main * 1e6) / Math.max(1, m.requests)).toFixed(1) } : {}),
      }));
    };
    proc.on('message', onMessage);
    proc.send({ port: kit.gateway.port, tokens, seconds, connections, phase: p, gen, rate, warmup } satisfies ChildArgs);
  });
  const gcCounter = new GcCounter();
  const heapCounter = new HeapCounter();
  const profiles = new Profiles();
  const failures: string[] = [];
  const check = (r: PhaseResult): void => {
    const bad = nonOk(r);
    if (bad > 0 || r.errors > 0) failures.push(`${r.phase}: ${bad} non-2xx answers, ${r.errors} errors; first: ${r.firstFailure ?? '?'}`);
  };
  try {
    const ticker = await runPhase('ticker');
    console.log(JSON.stringify(ticker));
    check(ticker);
    const orders = await runPhase('orders');
    console.log(JSON.stringify(orders));
    check(orders);
    console.log(JSON.stringify({
      getTickerRps: ticker.rps, getTickerP99Ms: ticker.p99Ms, postOrderRps: orders.rps, postOrderP50Ms: orders.p50Ms, postOrderP99Ms: orders.p99Ms,
      connections, secondsPerPhase: seconds, warmupSecondsPerPhase: warmup, orderStatuses: orders.statuses, durability: kit.engine.durability,
      generator: gen, mode: rate > 0 ? `open loop ${rate}/s` : 'closed loop',
      postOrderGeneratorCores: orders.generatorCores, postOrderServerCores: orders.serverCores, postOrderMainCores: orders.mainCores, postOrderMainUsPerRequest: orders.mainUsPerRequest, postOrderGc: orders.gc, postOrderHeap: orders.heap,
      // The audit writer (gateway/auth/audit-worker.ts) over the whole run: rows, transactions, failures.
      audit: { threaded: kit.identity.audit.threaded, rows: kit.identity.audit.rows, commits: kit.identity.audit.commits, rowsPerCommit: +(kit.identity.audit.rows / Math.max(1, kit.identity.audit.commits)).toFixed(1), failedRows: kit.identity.audit.failedRows },
    }));
  } finally {
    proc.kill();
    await kit.close();
  }
  if (failures.length > 0) {
    for (const f of failures) console.error(`rest bench FAILED: ${f}`);
    process.exitCode = 1;
  }
}

if (process.argv.includes('--child')) await child(); else await parent();
