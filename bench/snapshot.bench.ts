// Snapshot stop bench: how long a snapshot holds up order flow, with the snapshot written inline
// (the ledger on the main thread, each shard stopping to dump its books) and by the snapshot thread
// (persistence/snapshot-writer.ts: a replayed copy of the state; nothing stops).
//
// Per pair (the two modes alternate which goes first): an engine (durability normal, 1 shard) gets
// BENCH_SNAPSHOT_ORDERS resting limit orders, then an open-loop flow at BENCH_RATE orders/s (latency
// from each order's intended send time to its ack, so queueing behind a stop is counted) for three
// phases of BENCH_PHASE_MS: a warm-up, one without a snapshot (the same run's baseline), and one with
// a snapshot requested at its middle (the flow goes on until the snapshot is stored). Reports, per mode, the medians over pairs of the ack p99 and
// max in both phases, the engine's own stop figures and the snapshot's total time. Prints one JSON
// object as its LAST stdout line. Run: `node --expose-gc dist/bench/snapshot.bench.js`.

import { rmSync } from 'node:fs';
import { Command, CommandType, OrderType, Side, TimeInForce } from '../core/types.js';
import { SubmitStatus, type Ack, type Engine, type SnapshotMode } from '../gateway/engine.js';
import { KIT_ACCOUNTS, fundAccounts, kitInstruments, tempDataDir } from '../gateway/engine-test-kit.js';
import { OrderFlow } from '../gateway/order-flow.js';
import { startEngine } from '../persistence/recovery.js';

const QUICK = process.env['BENCH_QUICK'] === '1';
const ORDERS = Number(process.env['BENCH_SNAPSHOT_ORDERS'] ?? (QUICK ? 20_000 : 150_000));
const RATE = Number(process.env['BENCH_RATE'] ?? 20_000);
const PHASE_MS = Number(process.env['BENCH_PHASE_MS'] ?? (QUICK ? 1000 : 3000));
const PAIRS = Number(process.env['BENCH_PAIRS'] ?? (QUICK ? 1 : 3));
/** BENCH_MODES=thread: one mode only (experiments; no pairs then). */
const MODES = (process.env['BENCH_MODES'] ?? 'inline,thread').split(',') as SnapshotMode[];
const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

interface PhaseResult { p50Ms: number; p99Ms: number; maxMs: number; acks: number; busy: number }
interface RunResult {
  mode: SnapshotMode; restingOrders: number; base: PhaseResult; snap: PhaseResult;
  /** Engine figures: the main thread's stop (inline: the ledger's dump; thread: sequencing the command). */
  mainStopMs: number;
  /** Inline: until every shard had written its books (each stops matching meanwhile); thread: 0. */
  shardStopMs: number;
  /** From the request until the snapshot was stored. */
  snapshotTotalMs: number;
  /** Thread: its time to dump and hash every state, then to store them. */
  threadDumpMs: number;
  threadWriteMs: number;
  /** Thread: its write transactions on the journal file, the longest one, its CPU slices and the longest one (ms). */
  threadTxns: number;
  threadMaxLockMs: number;
  threadSlices: number;
  threadMaxSliceMs: number;
  /**
   * Thread: the worst ack latency of the snapshot phase among the commands in flight (from their
   * intended send time to their ack) while the thread wrote (held or took the journal file's write
   * lock), while it dumped, and at neither time: which step stalled the acks.
   */
  maxAckDuringWriteMs: number;
  maxAckDuringDumpMs: number;
  maxAckOtherwiseMs: number;
  /** The engine's longest snapshot stop and the budget overruns in the snapshot phase. */
  stopMs: number;
  budgetOverruns: number;
  busySnapshot: number;
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Places `n` resting limit orders, away from the reference price so that the flow seldom takes them. */
async function restOrders(engine: Engine, n: number): Promise<number> {
  const cmd = new Command();
  const specs = engine.instruments;
  let placed = 0;
  for (let k = 0; k < n; k++) {
    const s = specs[k % specs.length]!;
    const buy = (k >> 1) % 2 === 0;
    cmd.type = CommandType.NewOrder;
    cmd.account = KIT_ACCOUNTS[k % KIT_ACCOUNTS.length]!;
    cmd.orderId = 0;
    cmd.clientOrderId = 0;
    cmd.side = buy ? Side.Buy : Side.Sell;
    cmd.orderType = OrderType.Limit;
    cmd.tif = TimeInForce.GTC;
    cmd.flags = 0;
    const off = 200 + (k % 1000);
    cmd.priceTicks = buy ? Math.max(1, s.referencePriceTicks - off) : s.referencePriceTicks + off;
    cmd.qtyLots = 1 + (k % 7);
    for (;;) {
      const r = engine.submit(cmd, s.id);
      if (r.status === SubmitStatus.Accepted) { placed++; break; }
      if (r.status === SubmitStatus.Rejected) break;
      engine.poll();
      await yieldLoop();
    }
    if ((k & 1023) === 1023) { engine.poll(); await yieldLoop(); }
  }
  await engine.drain();
  return placed;
}

async function run(mode: SnapshotMode): Promise<RunResult> {
  const dir = tempDataDir(`bench-snap-${mode}`);
  const intended = new Float64Array(1 << 20);
  let samples: number[] = [];
  // Each sample's intended send time and ack time (epoch ms), to set against the thread's windows.
  let sentAt: number[] = [];
  let ackedAt: number[] = [];
  let measuring = false;
  const onAck = (a: Ack): void => {
    if (!measuring) return;
    const t = intended[a.seq & (intended.length - 1)]!;
    if (t > 0) {
      const now = performance.now();
      samples.push(now - t);
      sentAt.push(performance.timeOrigin + t);
      ackedAt.push(performance.timeOrigin + now);
    }
  };
  const { engine } = await startEngine({
    instruments: kitInstruments(), shards: 1, durability: 'normal', dataDir: dir, onAck, snapshotOnClose: false, snapshotWriter: mode,
    ...(process.env['BENCH_SNAPSHOT_BUDGET_MS'] !== undefined ? { snapshotBudgetMs: Number(process.env['BENCH_SNAPSHOT_BUDGET_MS']) } : {}),
  });
  await fundAccounts(engine);
  const resting = await restOrders(engine, ORDERS);
  // Starts the snapshot thread (it restores and catches up) outside the measured phases.
  if (mode === 'thread') await engine.snapshot();
  if (typeof global.gc === 'function') global.gc();
  const flow = new OrderFlow(42, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true });
  const cmd = new Command();
  const ids = engine.instruments.map((s) => s.id);

  const phase = async (snapshotAtMs: number): Promise<{ r: PhaseResult; snapMs: number }> => {
    samples = [];
    sentAt = [];
    ackedAt = [];
    measuring = true;
    const interval = 1000 / RATE;
    const t0 = performance.now();
    const end = t0 + PHASE_MS;
    let k = 0, busy = 0, lastYield = t0;
    let snap: Promise<number> | null = null;
    let snapMs = 0;
    let stored = false;
    let pending = -1;
    for (;;) {
      const now = performance.now();
      // The flow goes on until the snapshot is stored (a thread snapshot that lags ends after the phase).
      if (now >= end && (snap === null || stored)) break;
      if (snapshotAtMs >= 0 && snap === null && now - t0 >= snapshotAtMs) {
        const ts = performance.now();
        snap = engine.snapshot(mode).then((s) => { snapMs = performance.now() - ts; stored = true; return s; });
      }
      while (t0 + k * interval <= now) {
        if (pending < 0) pending = flow.next(cmd, Date.now() * 1000);
        intended[engine.nextSequence & (intended.length - 1)] = t0 + k * interval;
        const r = engine.submit(cmd, ids[pending]!);
        if (r.status === SubmitStatus.Busy) { busy++; break; } // retried (same command, later intended time kept)
        if (r.status === SubmitStatus.Accepted && cmd.type === CommandType.NewOrder) flow.accepted(pending, r.seq, cmd.account);
        pending = -1;
        k++;
      }
      if (engine.poll() === 0) {
        const w = t0 + k * interval - performance.now();
        if (w > 0.05) engine.waitForEventsSync(Math.min(w, 1));
      }
      if (now - lastYield > 2) { lastYield = now; await yieldLoop(); }
    }
    if (snap !== null) await snap;
    await engine.drain();
    measuring = false;
    const lat = Float64Array.from(samples).sort();
    const r3 = (x: number): number => Math.round(x * 1000) / 1000;
    return { r: { p50Ms: r3(pct(lat, 0.5)), p99Ms: r3(pct(lat, 0.99)), maxMs: r3(lat.length > 0 ? lat[lat.length - 1]! : 0), acks: lat.length, busy }, snapMs };
  };

  await phase(-1); // warm-up (the flow's code paths compiled), not reported
  const { r: base } = await phase(-1);
  const st0 = engine.stats();
  const { r: snap, snapMs } = await phase(PHASE_MS / 2);
  const st = engine.stats();
  const w = mode === 'thread' ? engine.lastThreadSnapshotWritten : null;
  let maxAckDuringWriteMs = 0, maxAckDuringDumpMs = 0, maxAckOtherwiseMs = 0;
  if (w !== null) {
    for (let i = 0; i < samples.length; i++) {
      const lat = samples[i]!, a = sentAt[i]!, b = ackedAt[i]!;
      if (a <= w.writeEndAt && b >= w.writeAt) maxAckDuringWriteMs = Math.max(maxAckDuringWriteMs, lat);
      else if (a <= w.writeAt && b >= w.dumpAt) maxAckDuringDumpMs = Math.max(maxAckDuringDumpMs, lat);
      else maxAckOtherwiseMs = Math.max(maxAckOtherwiseMs, lat);
    }
  }
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  return {
    mode, restingOrders: resting, base, snap,
    mainStopMs: r2(mode === 'inline' ? st.lastSnapshotLedgerMs : st.lastSnapshotIssueMs),
    shardStopMs: r2(mode === 'inline' ? st.lastSnapshotShardsMs : 0),
    snapshotTotalMs: r2(snapMs),
    threadDumpMs: r2(mode === 'thread' ? st.lastSnapshotThreadDumpMs : 0),
    threadWriteMs: r2(mode === 'thread' ? st.lastSnapshotThreadWriteMs : 0),
    threadTxns: st.lastSnapshotThreadTxns, threadMaxLockMs: r2(st.lastSnapshotThreadMaxLockMs),
    threadSlices: st.lastSnapshotThreadSlices, threadMaxSliceMs: r2(st.lastSnapshotThreadMaxSliceMs),
    maxAckDuringWriteMs: r2(maxAckDuringWriteMs), maxAckDuringDumpMs: r2(maxAckDuringDumpMs), maxAckOtherwiseMs: r2(maxAckOtherwiseMs),
    stopMs: r2(st.lastSnapshotStopMs), budgetOverruns: st.snapshotBudgetOverruns - st0.snapshotBudgetOverruns,
    busySnapshot: st.busySnapshot - st0.busySnapshot,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 === 1 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  const runs: RunResult[] = [];
  for (let p = 0; p < PAIRS; p++) {
    const order: SnapshotMode[] = p % 2 === 0 ? ['inline', 'thread'] : ['thread', 'inline'];
    for (const m of order) {
      if (!MODES.includes(m)) continue;
      const r = await run(m);
      process.stderr.write(`${JSON.stringify(r)}\n`);
      runs.push(r);
    }
  }
  const summary = (m: SnapshotMode): Record<string, number> => {
    const rs = runs.filter((r) => r.mode === m);
    return {
      baseP99Ms: median(rs.map((r) => r.base.p99Ms)), baseMaxMs: median(rs.map((r) => r.base.maxMs)),
      snapP99Ms: median(rs.map((r) => r.snap.p99Ms)), snapMaxMs: median(rs.map((r) => r.snap.maxMs)),
      mainStopMs: median(rs.map((r) => r.mainStopMs)), shardStopMs: median(rs.map((r) => r.shardStopMs)),
      snapshotTotalMs: median(rs.map((r) => r.snapshotTotalMs)),
      threadDumpMs: median(rs.map((r) => r.threadDumpMs)), threadWriteMs: median(rs.map((r) => r.threadWriteMs)), busySnapshot: median(rs.map((r) => r.busySnapshot)),
      threadTxns: median(rs.map((r) => r.threadTxns)), threadMaxLockMs: median(rs.map((r) => r.threadMaxLockMs)),
      threadMaxSliceMs: median(rs.map((r) => r.threadMaxSliceMs)), maxAckDuringWriteMs: median(rs.map((r) => r.maxAckDuringWriteMs)),
      maxAckDuringDumpMs: median(rs.map((r) => r.maxAckDuringDumpMs)), maxAckOtherwiseMs: median(rs.map((r) => r.maxAckOtherwiseMs)),
      stopMs: median(rs.map((r) => r.stopMs)), budgetOverruns: median(rs.map((r) => r.budgetOverruns)),
    };
  };
  const inline = summary('inline'), thread = summary('thread');
  console.log(JSON.stringify({
    restingOrders: ORDERS, offeredPerSec: RATE, phaseMs: PHASE_MS, pairs: PAIRS, inline, thread,
    // > 1: the snapshot phase's worst ack is that much worse inline than with the thread.
    ratios: { snapMaxInlineVsThread: thread.snapMaxMs > 0 ? Math.round((inline.snapMaxMs / thread.snapMaxMs) * 100) / 100 : null },
  }));
}

await main();
