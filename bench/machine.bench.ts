// `npm run bench:machine`: the machine's own latency floors, the ones every thread hand-off and every
// timed sleep of the engine pays before any of its code runs. The pipeline and SLO benchmarks quote
// their tails against these (docs/benchmarks.md, "The machine's floors").
//
//   wake       one-way latency of Atomics.notify -> the woken thread running (the target idles in
//              Atomics.wait, as the engine's shard and journal threads do between batches), and the
//              notifier's own cost of the notify call (a futex wake syscall).
//   sleep      overshoot of a timed 50 us Atomics.wait (futex sleep with timeout), with the thread's
//              default timer slack and with 1 ns (persistence/thread-priority.ts setTimerSlackNs).
//   hiccups    gaps in a thread that only reads the clock (jHiccup's idea): with one such thread
//              (a core left free) and with one per core (every core busy, as the engine's threads
//              are under load): how often the thread is not running for > 50 us, > 1 ms, > 5 ms.
//
// Last stdout line: one JSON object. Bounded: about 15 s. Options: --hiccup-seconds N (default 4).

import os from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { setTimerSlackNs } from '../persistence/thread-priority.js';

interface WakeData { kind: 'wake'; sab: SharedArrayBuffer; stamps: SharedArrayBuffer }
interface SpinData { kind: 'spin'; ms: number }
type WorkerData = WakeData | SpinData;

interface HiccupResult { seconds: number; gapsOver50us: number; gapsOver200us: number; gapsOver1ms: number; gapsOver5ms: number; maxGapUs: number }

const pct = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;
const nowAbsMs = (): number => performance.timeOrigin + performance.now();

/** A thread that only reads the clock for `ms`, recording gaps between consecutive reads. */
function hiccups(ms: number): HiccupResult {
  const start = performance.now();
  const end = start + ms;
  let last = start, over50 = 0, over200 = 0, over1ms = 0, over5ms = 0, max = 0;
  for (;;) {
    const t = performance.now();
    const gapUs = (t - last) * 1000;
    if (gapUs > 50) {
      over50++;
      if (gapUs > 200) over200++;
      if (gapUs > 1000) over1ms++;
      if (gapUs > 5000) over5ms++;
      if (gapUs > max) max = gapUs;
    }
    last = t;
    if (t >= end) break;
  }
  return { seconds: ms / 1000, gapsOver50us: over50, gapsOver200us: over200, gapsOver1ms: over1ms, gapsOver5ms: over5ms, maxGapUs: round(max, 0) };
}

function workerMain(d: WorkerData): void {
  if (d.kind === 'spin') { parentPort!.postMessage(hiccups(d.ms)); return; }
  // Wake target: sleeps on word 0 until the main thread bumps it, stamps the time it runs, acks on word 1.
  const a = new Int32Array(d.sab);
  const stamps = new Float64Array(d.stamps);
  for (let i = 0; ; i++) {
    Atomics.wait(a, 0, i);
    stamps[0] = nowAbsMs();
    if (Atomics.load(a, 2) === 1) return;
    Atomics.store(a, 1, i + 1);
    Atomics.notify(a, 1);
  }
}

async function wake(samples: number): Promise<{ wakeP50Us: number; wakeP99Us: number; wakeP999Us: number; notifyCallP50Us: number; notifyCallP99Us: number }> {
  const sab = new SharedArrayBuffer(12);
  const stampsSab = new SharedArrayBuffer(8);
  const a = new Int32Array(sab);
  const stamps = new Float64Array(stampsSab);
  const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'wake', sab, stamps: stampsSab } satisfies WakeData });
  await new Promise((r) => setTimeout(r, 100));
  const lat = new Float64Array(samples);
  const call = new Float64Array(samples);
  for (let i = 0; i < samples; i++) {
    // Let the target settle into its futex sleep (and this thread idle too: a sleep, not a spin).
    Atomics.wait(a, 2, 0, 0.3);
    const t0 = nowAbsMs();
    Atomics.store(a, 0, i + 1);
    Atomics.notify(a, 0);
    call[i] = (nowAbsMs() - t0) * 1000;
    Atomics.wait(a, 1, i, 1000);
    lat[i] = (stamps[0]! - t0) * 1000;
  }
  Atomics.store(a, 2, 1);
  Atomics.store(a, 0, samples + 1);
  Atomics.notify(a, 0);
  await w.terminate();
  lat.sort(); call.sort();
  return { wakeP50Us: round(pct(lat, 0.5)), wakeP99Us: round(pct(lat, 0.99)), wakeP999Us: round(pct(lat, 0.999)), notifyCallP50Us: round(pct(call, 0.5), 2), notifyCallP99Us: round(pct(call, 0.99), 2) };
}

function sleepOvershoot(samples: number, sleepUs: number): { p50Us: number; p99Us: number } {
  const word = new Int32Array(new SharedArrayBuffer(4));
  const over = new Float64Array(samples);
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    Atomics.wait(word, 0, 0, sleepUs / 1000);
    over[i] = (performance.now() - t) * 1000 - sleepUs;
  }
  over.sort();
  return { p50Us: round(pct(over, 0.5)), p99Us: round(pct(over, 0.99)) };
}

function spinThreads(n: number, ms: number): Promise<HiccupResult[]> {
  return Promise.all(Array.from({ length: n }, () => new Promise<HiccupResult>((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'spin', ms } satisfies SpinData });
    w.once('message', (m: HiccupResult) => { resolve(m); void w.terminate(); });
    w.once('error', reject);
  })));
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--hiccup-seconds');
  const hiccupMs = (i >= 0 ? Number(process.argv[i + 1]) : 4) * 1000;
  if (!(hiccupMs > 0 && hiccupMs <= 60_000)) throw new Error('--hiccup-seconds: 0 < N <= 60');
  const log = (s: string): void => { process.stderr.write(`[machine] ${s}\n`); };

  log('futex wake latency (3,000 samples)');
  const w = await wake(3000);
  log(JSON.stringify(w));
  log('timed 50 us sleep overshoot, default timer slack, then 1 ns');
  const slackDefault = sleepOvershoot(3000, 50);
  const applied = setTimerSlackNs(1);
  const slack1ns = applied === 1 ? sleepOvershoot(3000, 50) : null;
  log(JSON.stringify({ slackDefault, slack1ns }));
  const cores = os.availableParallelism();
  log(`hiccups: 1 clock-reading thread for ${hiccupMs / 1000} s`);
  const [one] = await spinThreads(1, hiccupMs);
  log(JSON.stringify(one));
  log(`hiccups: ${cores} clock-reading threads (every core busy) for ${hiccupMs / 1000} s`);
  const all = await spinThreads(cores, hiccupMs);
  log(JSON.stringify(all));
  const worst = all.reduce((m, r) => (r.gapsOver1ms > m.gapsOver1ms ? r : m), all[0]!);
  console.log(JSON.stringify({
    cores, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, loadAvg1m: round(os.loadavg()[0]!, 2),
    ...w,
    sleep50usOvershootP50Us: slackDefault.p50Us, sleep50usOvershootP99Us: slackDefault.p99Us,
    sleep50usOvershootSlack1nsP50Us: slack1ns?.p50Us ?? null, sleep50usOvershootSlack1nsP99Us: slack1ns?.p99Us ?? null,
    hiccupsOneThread: one, hiccupsAllCoresWorst: worst, hiccupsAllCores: all,
  }));
}

if (isMainThread) main().catch((e) => { process.stderr.write(`${(e as Error).stack ?? e}\n`); process.exit(1); });
else workerMain(workerData as WorkerData);
