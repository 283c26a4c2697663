// Pipeline bench: commands through the real threads (sequencer + ledger on the main thread, one
// shard worker, the SQLite journal thread), per durability mode:
//   - ordersPerSec: sustained maximum (closed loop: submit until Busy, poll, repeat);
//   - ackP50Us/P99/P999: open loop at a fixed offered rate (default 200,000 orders/s), latency from
//     each order's INTENDED send time to its ack callback (so queueing behind a stall is counted);
// plus the bare ring round trip (main -> echo worker -> main, both spinning) measured in the same run,
// the open loop's own floor (`openLoopFloorUs`: the same driver at the same offered rate, each
// command an empty record echoed by a bare worker, with the threads sleeping as the engine's do
// (`sleep`) or both spinning (`spin`); see openLoopFloor), and the recovery replay rate (the
// 'normal' journal replayed from empty through the engine).
// Prints one JSON object as its LAST stdout line. BENCH_QUICK=1: short phases.
//
// The open-loop driver sleeps (until the next intended send time, at most 1 ms) when nothing is due
// and no events came back, as a gateway fed by the network idles between packets; it sleeps on the
// shard's event ring, so a shard publish wakes it as it wakes the engine's own loop (measured: ack
// p50 ~100 us -> ~55 us at 200k/s, none; BENCH_WAKE_ON_EVENTS=0 sleeps on a private word). A
// driver that busy-spins takes a whole core of the two, leaving the shard and journal threads one
// core to fight over (measured: p50 ~2-5 ms instead of ~0.2 ms); BENCH_SPIN_DRIVER=1 restores it.
// Experiment knobs: BENCH_MODES=none,full (normal always runs: recovery replays it), BENCH_RATE,
// BENCH_SHARD_SPIN, BENCH_JOURNAL_SPIN, BENCH_SHARD_ADAPTIVE_US, BENCH_JOURNAL_ADAPTIVE_US (adaptive spin), BENCH_JOURNAL_NICE, BENCH_CKPT_NICE, BENCH_LINGER (journal linger, us), BENCH_COMMIT_GAP (journal commit pacing, us), BENCH_PAGE_SIZE (journal page size), BENCH_JOURNAL_FORMAT (2: raw records, 3: compact, the default), BENCH_WINDOW (maxInFlight), BENCH_CMD_RING, BENCH_EV_RING, BENCH_JOURNAL_RING (ring capacities),
// BENCH_CKPT_MS (WAL checkpoint period), BENCH_SNAPSHOT_MS (periodic snapshots, default none) and
// BENCH_SNAPSHOT_WRITER (thread/inline: who writes them), BENCH_SNAPSHOT_NICE (the snapshot thread's nice). BENCH_CLOSED_ONLY=1: only the closed loop of the modes in
// BENCH_MODES (normal included only when listed), no open loop, ring round trip or recovery;
// BENCH_PHASE_MS: the length of each phase (default 4000, 700 with BENCH_QUICK). BENCH_DRIVER_SLACK_NS:
// the main thread's timer slack (the driver's sleeps overshoot ~70 us with the default 50 us slack).
// Per mode it also reports the CPU time of the process and of the main thread during the open loop
// (cpuMs, mainCpuMs: out of 2 x phase length available on this 2-core machine), and per thread
// (`threads`: main, shard, journal, checkpointer, other = GC/libuv helpers summed) the user and
// kernel CPU ms, the ms spent runnable but waiting on a run queue (/proc schedstat) and the voluntary
// / involuntary context switches; journalCommits and journalRecordsPerCommit: the journal's
// transactions in the open loop.

import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Durability } from '../persistence/journal.js';
import { Command, CommandType } from '../core/types.js';
import { SubmitStatus, type Ack, type Engine } from '../gateway/engine.js';
import { KIT_ACCOUNTS, fundAccounts, kitInstruments, tempDataDir } from '../gateway/engine-test-kit.js';
import { OrderFlow } from '../gateway/order-flow.js';
import { Ring } from '../gateway/ring.js';
import { ECHO_STOP, type EchoWorkerData } from '../gateway/ring-echo-worker.js';
import { SC_TID } from '../gateway/shard-worker.js';
import { CTRL_COMMITS_F64, CTRL_RECORDS_F64 } from '../persistence/journal.js';
import { startEngine } from '../persistence/recovery.js';
import { setTimerSlackNs } from '../persistence/thread-priority.js';

const QUICK = process.env['BENCH_QUICK'] === '1';
const PHASE_MS = Number(process.env['BENCH_PHASE_MS'] ?? (QUICK ? 700 : 4000));
const CLOSED_ONLY = process.env['BENCH_CLOSED_ONLY'] === '1';
const OFFERED_PER_SEC = Number(process.env['BENCH_RATE'] ?? 200_000);
const SAMPLE_CAP = 1 << 22;
const SPIN_DRIVER = process.env['BENCH_SPIN_DRIVER'] === '1';
const sleepWord = new Int32Array(new SharedArrayBuffer(4));
// The sleeping driver waits on the shard's event ring (a shard publish wakes it, as it wakes the
// engine's own loop) unless BENCH_WAKE_ON_EVENTS=0 (then it sleeps until the next send time only).
// BENCH_DUMP=prefix: write the worst ack latency per ms of the open loop to prefix-<mode>.csv.
const DUMP = process.env['BENCH_DUMP'] ?? '';
// Submits of one loop pass form one engine batch (one publish per ring, as the gateway does per
// frame) unless BENCH_BATCH=0.
const BATCH = process.env['BENCH_BATCH'] !== '0';
const WAKE_ON_EVENTS = process.env['BENCH_WAKE_ON_EVENTS'] !== '0';
// Closed loop: after a Busy answer and a poll that found no events, wait for the shard's next events
// (1 ms at most) unless BENCH_BUSY_SPIN=1 (retry at once, the driver of sessions 1-4).
const BUSY_SPIN = process.env['BENCH_BUSY_SPIN'] === '1';
// BENCH_DRIVER_SLACK_NS: the main thread's timer slack (0: the kernel's default, 50 us).
const DRIVER_SLACK_NS = Number(process.env['BENCH_DRIVER_SLACK_NS'] ?? 0);

/** CPU ms (user + system) of this thread (Linux /proc; -1 elsewhere). */
function mainThreadCpuMs(): number {
  try {
    const st = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * (1000 / 100); // clock ticks (USER_HZ = 100)
  } catch {
    return -1;
  }
}

/** CPU ms (user + system) per thread of this process, by tid (Linux /proc; empty elsewhere). */
function threadCpuMs(): Map<number, { name: string; ms: number; sysMs: number }> {
  const out = new Map<number, { name: string; ms: number; sysMs: number }>();
  try {
    for (const t of readdirSync('/proc/self/task')) {
      try {
        const st = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
        const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
        const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
        out.set(Number(t), { name, ms: (Number(f[11]) + Number(f[12])) * 10, sysMs: Number(f[12]) * 10 });
      } catch { /* the thread ended */ }
    }
  } catch { /* not Linux */ }
  return out;
}

/** The busiest threads between two threadCpuMs() readings, as "name:tid" -> ms. */
function threadCpuDiff(a: Map<number, { name: string; ms: number; sysMs: number }>, b: Map<number, { name: string; ms: number; sysMs: number }>, field: 'ms' | 'sysMs' = 'ms'): Record<string, number> {
  const rows: [string, number][] = [];
  for (const [tid, v] of b) {
    const ms = v[field] - (a.get(tid)?.[field] ?? 0);
    if (ms >= 20) rows.push([`${tid === process.pid ? 'main' : v.name}:${tid}`, ms]);
  }
  rows.sort((x, y) => y[1] - x[1]);
  return Object.fromEntries(rows);
}

/** Per-thread scheduler counters (Linux /proc): CPU (user, kernel), run-queue wait, context switches. */
interface ThreadSched { userMs: number; sysMs: number; runqWaitMs: number; volCs: number; involCs: number }

/** ThreadSched of every thread of this process, by tid (empty elsewhere than Linux). */
function threadSched(): Map<number, ThreadSched> {
  const out = new Map<number, ThreadSched>();
  let tids: string[];
  try { tids = readdirSync('/proc/self/task'); } catch { return out; }
  for (const t of tids) {
    try {
      const st = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      // schedstat: ns on the CPU, ns waiting on a run queue, timeslices.
      const ss = readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ');
      const status = readFileSync(`/proc/self/task/${t}/status`, 'utf8');
      const vol = /voluntary_ctxt_switches:\s+(\d+)/.exec(status), invol = /nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status);
      out.set(Number(t), { userMs: Number(f[11]) * 10, sysMs: Number(f[12]) * 10, runqWaitMs: Number(ss[1]) / 1e6, volCs: Number(vol?.[1] ?? 0), involCs: Number(invol?.[1] ?? 0) });
    } catch { /* the thread ended */ }
  }
  return out;
}

/**
 * Per-role difference of two threadSched() readings: main, shard, journal, checkpointer by tid, and
 * "other" (V8's GC helpers, libuv's pool, ...) summed. Threads that ended in between are left out.
 */
function schedByRole(a: Map<number, ThreadSched>, b: Map<number, ThreadSched>, roles: Record<string, number>): Record<string, ThreadSched> {
  const out: Record<string, ThreadSched> = {};
  const byTid = new Map<number, string>();
  for (const [role, tid] of Object.entries(roles)) { byTid.set(tid, role); out[role] = { userMs: 0, sysMs: 0, runqWaitMs: 0, volCs: 0, involCs: 0 }; }
  out['other'] = { userMs: 0, sysMs: 0, runqWaitMs: 0, volCs: 0, involCs: 0 };
  for (const [tid, v] of b) {
    const u = a.get(tid) ?? { userMs: 0, sysMs: 0, runqWaitMs: 0, volCs: 0, involCs: 0 };
    const o = out[byTid.get(tid) ?? 'other']!;
    o.userMs += v.userMs - u.userMs;
    o.sysMs += v.sysMs - u.sysMs;
    o.runqWaitMs += v.runqWaitMs - u.runqWaitMs;
    o.volCs += v.volCs - u.volCs;
    o.involCs += v.involCs - u.involCs;
  }
  for (const o of Object.values(out)) o.runqWaitMs = Math.round(o.runqWaitMs * 10) / 10;
  return out;
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

class Driver {
  readonly cmd = new Command();
  readonly flow: OrderFlow;
  readonly ids: number[];
  pendingIndex = -1;
  constructor(readonly engine: Engine, seed: number) {
    // Resting orders are GTD (up to 50 ms of engine time), so the books stay at a steady size.
    this.flow = new OrderFlow(seed, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true, gtdUs: 50_000, allGtd: true });
    this.ids = engine.instruments.map((s) => s.id);
  }
  /** Submits the pending (or a new) command; returns its seq, or 0 if Busy. */
  /** Wall clock (us) for the flow's GTD expiries, read once per loop pass (a clock read per order cost ~5% of the main thread). */
  nowUs = Date.now() * 1000;
  trySubmit(): number {
    if (this.pendingIndex < 0) this.pendingIndex = this.flow.next(this.cmd, this.nowUs);
    const r = this.engine.submit(this.cmd, this.ids[this.pendingIndex]!);
    if (r.status === SubmitStatus.Busy) return 0;
    if (r.status === SubmitStatus.Accepted && this.cmd.type === CommandType.NewOrder) this.flow.accepted(this.pendingIndex, r.seq, this.cmd.account);
    this.pendingIndex = -1;
    return r.status === SubmitStatus.Accepted ? r.seq : -1;
  }
}

async function runMode(mode: Durability): Promise<{ result: Record<string, number | Record<string, ThreadSched>>; dir: string }> {
  const dir = tempDataDir(`bench-${mode}`);
  let acks = 0;
  const intended = new Float64Array(1 << 20);
  const samples = new Float64Array(SAMPLE_CAP);
  let nSamples = 0;
  const sampleAt = DUMP ? new Float64Array(SAMPLE_CAP) : samples;
  let measuring = false;
  const onAck = (a: Ack): void => {
    acks++;
    if (measuring) {
      const t = intended[a.seq & (intended.length - 1)]!;
      if (t > 0 && nSamples < SAMPLE_CAP) {
        if (DUMP) sampleAt[nSamples] = t;
        samples[nSamples++] = (performance.now() - t) * 1000;
      }
    }
  };
  const { engine } = await startEngine({ instruments: kitInstruments(), shards: 1, durability: mode, dataDir: dir, onAck, snapshotOnClose: false,
    maxInFlight: Number(process.env['BENCH_WINDOW'] ?? 1 << 16),
    ...(process.env['BENCH_CMD_RING'] ? { commandRingCapacity: Number(process.env['BENCH_CMD_RING']) } : {}),
    ...(process.env['BENCH_EV_RING'] ? { eventRingCapacity: Number(process.env['BENCH_EV_RING']) } : {}),
    ...(process.env['BENCH_JOURNAL_RING'] ? { journalRingCapacity: Number(process.env['BENCH_JOURNAL_RING']) } : {}),
    ...(process.env['BENCH_SHARD_SPIN'] ? { shardSpinIterations: Number(process.env['BENCH_SHARD_SPIN']) } : {}),
    ...(process.env['BENCH_SHARD_ADAPTIVE_US'] ? { shardAdaptiveSpinUs: Number(process.env['BENCH_SHARD_ADAPTIVE_US']) } : {}),
    ...(process.env['BENCH_JOURNAL_ADAPTIVE_US'] ? { journalAdaptiveSpinUs: Number(process.env['BENCH_JOURNAL_ADAPTIVE_US']) } : {}),
    ...(process.env['BENCH_CKPT_MS'] ? { journalCheckpointIntervalMs: Number(process.env['BENCH_CKPT_MS']) } : {}),
    ...(process.env['BENCH_LINGER'] ? { journalLingerUs: Number(process.env['BENCH_LINGER']) } : {}),
    ...(process.env['BENCH_COMMIT_GAP'] ? { journalCommitGapUs: Number(process.env['BENCH_COMMIT_GAP']) } : {}),
    ...(process.env['BENCH_PAGE_SIZE'] ? { journalPageSize: Number(process.env['BENCH_PAGE_SIZE']) } : {}),
    ...(process.env['BENCH_JOURNAL_FORMAT'] ? { journalFormat: Number(process.env['BENCH_JOURNAL_FORMAT']) } : {}),
    ...(process.env['BENCH_JOURNAL_NICE'] ? { journalThreadNice: Number(process.env['BENCH_JOURNAL_NICE']) } : {}),
    ...(process.env['BENCH_CKPT_NICE'] ? { journalCheckpointerNice: Number(process.env['BENCH_CKPT_NICE']) } : {}),
    ...(process.env['BENCH_JOURNAL_SPIN'] ? { journalSpinIterations: Number(process.env['BENCH_JOURNAL_SPIN']) } : {}),
    ...(process.env['BENCH_SNAPSHOT_MS'] ? { snapshotIntervalMs: Number(process.env['BENCH_SNAPSHOT_MS']) } : {}),
    ...(process.env['BENCH_SNAPSHOT_NICE'] ? { snapshotThreadNice: Number(process.env['BENCH_SNAPSHOT_NICE']) } : {}),
    ...(process.env['BENCH_SNAPSHOT_WRITER'] ? { snapshotWriter: process.env['BENCH_SNAPSHOT_WRITER'] as 'thread' | 'inline' } : {}) });
  await fundAccounts(engine);
  await engine.drain();
  const d = new Driver(engine, 99);

  // Sustained maximum (closed loop).
  const a0 = acks;
  const cpu0 = CLOSED_ONLY ? threadCpuMs() : null;
  let t0 = performance.now();
  let end = t0 + PHASE_MS;
  while (performance.now() < end) {
    if (BATCH) engine.beginBatch();
    let full = false;
    d.nowUs = Date.now() * 1000;
    for (let k = 0; k < 256; k++) if (d.trySubmit() === 0) { full = true; break; }
    if (BATCH) engine.endBatch();
    // Busy and nothing came back: the shard is behind (or not running). Wait for its next events
    // instead of retrying at once, as a gateway whose clients wait for answers idles in its event
    // loop; a retry loop would keep a core from the shard and journal threads (BENCH_BUSY_SPIN=1).
    if (engine.poll() === 0 && full && !BUSY_SPIN) engine.waitForEventsSync(1);
    if ((acks & 0xfff) === 0) await yieldLoop();
  }
  await engine.drain();
  const ordersPerSec = (acks - a0) / ((performance.now() - t0) / 1000);
  if (CLOSED_ONLY) {
    const cpu1 = threadCpuMs();
    const threads = threadCpuDiff(cpu0!, cpu1);
    const threadsSys = threadCpuDiff(cpu0!, cpu1, 'sysMs');
    const st = engine.stats();
    // Diagnostics: wake-ups paid by the main thread's publishes (journal ring, shard command ring).
    const shardRing = (engine as unknown as { shards: { cmdRing: Ring }[] }).shards[0]!.cmdRing;
    process.stderr.write(`${mode} notifies: journal ${engine.journal.ring.notifyCount}, shard ${shardRing.notifyCount}; journal commits ${(engine.journal as unknown as { ctrlF64: Float64Array }).ctrlF64[9]}\n`);
    await engine.close();
    process.stderr.write(`${mode} shard: ${JSON.stringify(engine.shardThreadStats?.()[0])}\n`);
    process.stderr.write(`${mode} threads (CPU ms; journal thread ${engine.journal.threads.journalTid}, checkpointer ${engine.journal.threads.checkpointerTid}): ${JSON.stringify(threads)}; of it in the kernel: ${JSON.stringify(threadsSys)}\n`);
    let cpuMs = 0;
    for (const k in threads) cpuMs += threads[k]!;
    return { dir, result: { ordersPerSec: Math.round(ordersPerSec), cpuUsPerOrder: Math.round((cpuMs * 1000 / (acks - a0)) * 100) / 100, mainUsPerOrder: Math.round(((threads[`main:${process.pid}`] ?? 0) * 1000 / (acks - a0)) * 100) / 100, mainCpuMs: threads[`main:${process.pid}`] ?? -1, busyRingFull: st.busyRingFull, busyJournalRing: st.busyJournalRing ?? -1, busyInFlight: st.busyInFlight, commands: st.nextSeq - 1 } };
  }
  if (typeof global.gc === 'function') global.gc();
  await yieldLoop();

  // Open loop at the offered rate; latency from the intended send time.
  const intervalMs = 1000 / OFFERED_PER_SEC;
  measuring = true;
  let busy = 0;
  t0 = performance.now();
  end = t0 + PHASE_MS;
  let k = 0;
  let lastYield = t0;
  // Per-thread attribution: the shard writes its tid into its control block (SC_TID).
  const shardCtrl = (engine as unknown as { shards: { ctrl: Int32Array }[] }).shards[0]!.ctrl;
  const roles = { main: process.pid, shard: Atomics.load(shardCtrl, SC_TID), journal: engine.journal.threads.journalTid, checkpointer: engine.journal.threads.checkpointerTid };
  const journalCtrl = (engine.journal as unknown as { ctrlF64: Float64Array }).ctrlF64;
  const commits0 = journalCtrl[CTRL_COMMITS_F64]!, records0 = journalCtrl[CTRL_RECORDS_F64]!;
  const sched0 = threadSched();
  const ru0 = process.resourceUsage(), main0 = mainThreadCpuMs(), openCpu0 = threadCpuMs();
  for (;;) {
    const now = performance.now();
    if (now >= end) break;
    if (BATCH) engine.beginBatch();
    d.nowUs = Date.now() * 1000;
    while (t0 + k * intervalMs <= now) {
      const seqBefore = engine.nextSequence;
      intended[seqBefore & (intended.length - 1)] = t0 + k * intervalMs;
      const s = d.trySubmit();
      if (s === 0) { busy++; break; }
      k++;
    }
    if (BATCH) engine.endBatch();
    const drained = engine.poll();
    if (!SPIN_DRIVER && drained === 0) {
      const w = t0 + k * intervalMs - performance.now();
      if (w > 0.002) {
        if (WAKE_ON_EVENTS) engine.waitForEventsSync(Math.min(w, 1));
        else Atomics.wait(sleepWord, 0, 0, Math.min(w, 1));
      }
    }
    if (now - lastYield > 5) { lastYield = now; await yieldLoop(); }
  }
  const ru1 = process.resourceUsage(), main1 = mainThreadCpuMs(), openCpu1 = threadCpuMs();
  const threads = schedByRole(sched0, threadSched(), roles);
  const journalCommits = journalCtrl[CTRL_COMMITS_F64]! - commits0, journalRecords = journalCtrl[CTRL_RECORDS_F64]! - records0;
  // Diagnostics: which threads used the CPU during the open loop (journal ${tid}, checkpointer ${tid}).
  process.stderr.write(`${mode} open loop threads (CPU ms; journal thread ${engine.journal.threads.journalTid}, checkpointer ${engine.journal.threads.checkpointerTid}): ${JSON.stringify(threadCpuDiff(openCpu0, openCpu1))}; of it in the kernel: ${JSON.stringify(threadCpuDiff(openCpu0, openCpu1, 'sysMs'))}\n`);
  await engine.drain();
  measuring = false;
  if (DUMP) {
    // Diagnostics: worst ack latency per millisecond of intended send time, as CSV.
    const worst = new Map<number, number>();
    for (let i = 0; i < nSamples; i++) {
      const ms = Math.floor(sampleAt[i]! - t0);
      worst.set(ms, Math.max(worst.get(ms) ?? 0, samples[i]!));
    }
    writeFileSync(`${DUMP}-${mode}.csv`, [...worst].map(([ms, us]) => `${ms},${Math.round(us)}`).join('\n') + '\n');
  }
  const lat = samples.slice(0, nSamples).sort();
  const stats = engine.stats();
  await engine.close();
  return {
    dir,
    result: {
      ordersPerSec: Math.round(ordersPerSec),
      offeredPerSec: OFFERED_PER_SEC,
      achievedPerSec: Math.round(k / (PHASE_MS / 1000)),
      ackP50Us: Math.round(pct(lat, 0.5) * 10) / 10,
      ackP99Us: Math.round(pct(lat, 0.99) * 10) / 10,
      ackP999Us: Math.round(pct(lat, 0.999) * 10) / 10,
      ackSamples: nSamples,
      cpuMs: Math.round((ru1.userCPUTime + ru1.systemCPUTime - ru0.userCPUTime - ru0.systemCPUTime) / 1000),
      mainCpuMs: main0 < 0 ? -1 : Math.round(main1 - main0),
      busyAnswers: busy,
      ledgerRejects: stats.rejectedByLedger,
      busyLedger: stats.busyLedger,
      ledgerShortfalls: stats.ledgerShortfalls,
      commands: stats.nextSeq - 1,
      // Journal transactions in the open loop and their mean size (records per COMMIT).
      journalCommits,
      journalRecordsPerCommit: journalCommits > 0 ? Math.round(journalRecords / journalCommits * 10) / 10 : 0,
      threads,
    },
  };
}

async function ringRoundTrip(): Promise<{ p50Ns: number; p99Ns: number }> {
  const out = Ring.create(1024, 128), back = Ring.create(1024, 128);
  const data: EchoWorkerData = { inSab: out.sab, outSab: back.sab, spinIterations: 1 << 30 };
  const w = new Worker(new URL('../gateway/ring-echo-worker.js', import.meta.url), { workerData: data });
  await new Promise<void>((r) => w.once('message', () => r()));
  const n = QUICK ? 20_000 : 200_000;
  const lat = new Float64Array(n);
  const rec = new Float64Array(16);
  for (let i = 0; i < n + 2000; i++) {
    rec[0] = i + 1;
    const t = process.hrtime.bigint();
    out.tryPush(rec); out.publish();
    let o = back.poll();
    while (o < 0) o = back.poll();
    back.releaseAll();
    const dt = Number(process.hrtime.bigint() - t);
    if (i >= 2000) lat[i - 2000] = dt;
  }
  rec[0] = ECHO_STOP; out.tryPush(rec); out.publish();
  await new Promise<void>((r) => w.once('exit', () => r()));
  lat.sort();
  return { p50Ns: Math.round(pct(lat, 0.5)), p99Ns: Math.round(pct(lat, 0.99)) };
}

/**
 * The floor of the open loop: the same driver and offered rate as the modes' open loop, but each
 * "command" is an empty record echoed by a bare worker (no sequencer, ledger, matching or journal).
 * `sleep`: the echo thread spins as the shard does (2,000 reads) then waits, and the driver sleeps
 * on the echo ring between sends, as the engine's threads do; `spin`: both threads spin (a core
 * each, nothing else running). Latency from each record's intended send time to the driver reading
 * its echo. No engine design with these two hand-offs can have a lower tail on this machine.
 */
async function openLoopFloor(spin: boolean): Promise<{ p50Us: number; p99Us: number; p999Us: number; maxUs: number; sent: number }> {
  const out = Ring.create(16384, 128), back = Ring.create(16384, 128);
  const data: EchoWorkerData = { inSab: out.sab, outSab: back.sab, spinIterations: spin ? 1 << 30 : 2000 };
  const w = new Worker(new URL('../gateway/ring-echo-worker.js', import.meta.url), { workerData: data });
  await new Promise<void>((r) => w.once('message', () => r()));
  const intervalMs = 1000 / OFFERED_PER_SEC;
  const n = Math.ceil(PHASE_MS / intervalMs) + 16;
  const lat = new Float64Array(n);
  let got = 0, k = 0;
  const rec = new Float64Array(16);
  const bf = back.f64;
  const t0 = performance.now() + 5;
  const end = t0 + PHASE_MS;
  for (;;) {
    const now = performance.now();
    if (now >= end) break;
    let pushed = false;
    while (t0 + k * intervalMs <= now) {
      rec[0] = k + 1;
      if (!out.tryPush(rec)) break;
      k++;
      pushed = true;
    }
    if (pushed) out.publish();
    let drained = 0;
    for (let o = back.poll(); o >= 0; o = back.poll()) {
      const t = performance.now();
      lat[got++] = (t - (t0 + (bf[o]! - 1) * intervalMs)) * 1000;
      drained++;
    }
    if (drained > 0) back.releaseAll();
    else if (!spin) {
      const wMs = t0 + k * intervalMs - performance.now();
      if (wMs > 0.002) back.waitForData(Math.min(wMs, 1));
    }
  }
  rec[0] = ECHO_STOP;
  while (!out.tryPush(rec)) { back.poll(); back.releaseAll(); }
  out.publish();
  for (;;) {
    const o = back.poll();
    if (o < 0) { await new Promise<void>((r) => setImmediate(r)); continue; }
    if (bf[o] === ECHO_STOP) break;
    lat[got++] = (performance.now() - (t0 + (bf[o]! - 1) * intervalMs)) * 1000;
    back.releaseAll();
  }
  await new Promise<void>((r) => w.once('exit', () => r()));
  const sorted = lat.subarray(0, got).sort();
  const r1 = (x: number): number => Math.round(x * 10) / 10;
  return { p50Us: r1(pct(sorted, 0.5)), p99Us: r1(pct(sorted, 0.99)), p999Us: r1(pct(sorted, 0.999)), maxUs: r1(sorted[got - 1] ?? 0), sent: k };
}

async function recoveryRate(dir: string): Promise<number> {
  // Replay the whole journal from empty (the snapshots are dropped first) through the engine.
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(`${dir}/journal.sqlite`);
  db.exec('DELETE FROM snapshots');
  db.close();
  const { engine, recovery } = await startEngine({ instruments: kitInstruments(), shards: 1, durability: 'normal', dataDir: dir, snapshotOnClose: false });
  await engine.close();
  process.stderr.write(`recovery: ${JSON.stringify(recovery)}\n`);
  return recovery.eventsPerSec;
}

async function main(): Promise<void> {
  if (DRIVER_SLACK_NS > 0) process.stderr.write(`driver timer slack: ${setTimerSlackNs(DRIVER_SLACK_NS)} ns\n`);
  const modes: Record<string, Record<string, number | Record<string, ThreadSched>>> = {};
  let normalDir = '';
  const only = (process.env['BENCH_MODES'] ?? 'none,normal,full').split(',');
  for (const mode of (['none', 'normal', 'full'] as const).filter((m) => only.includes(m) || (m === 'normal' && !CLOSED_ONLY))) {
    const { result, dir } = await runMode(mode);
    modes[mode] = result;
    process.stderr.write(`${mode}: ${JSON.stringify(result)}\n`);
    if (mode === 'normal' && !CLOSED_ONLY) normalDir = dir; else rmSync(dir, { recursive: true, force: true });
  }
  if (CLOSED_ONLY) {
    process.stdout.write(`${JSON.stringify({ modes, phaseMs: PHASE_MS, closedOnly: true })}\n`);
    return;
  }
  const ring = await ringRoundTrip();
  // The open loop's own floor at the same offered rate (see openLoopFloor); BENCH_FLOOR=0 skips it.
  const openLoopFloors = process.env['BENCH_FLOOR'] === '0' ? undefined : { sleep: await openLoopFloor(false), spin: await openLoopFloor(true) };
  if (openLoopFloors !== undefined) process.stderr.write(`open-loop floor: ${JSON.stringify(openLoopFloors)}\n`);
  const recoveryEventsPerSec = await recoveryRate(normalDir);
  rmSync(normalDir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify({
    modes, ringRoundTripP50Ns: ring.p50Ns, ringRoundTripP99Ns: ring.p99Ns, recoveryEventsPerSec, openLoopFloorUs: openLoopFloors,
    phaseMs: PHASE_MS, shards: 1, quick: QUICK, driver: SPIN_DRIVER ? 'spin' : 'sleep',
  })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${String((e as Error).stack ?? e)}\n`);
  process.exit(1);
});
