// `npm run bench:slo`: latency SLO verification (issue 8). See docs/benchmarks.md, "SLO harness".
//
//   1. the floor: a bare uWebSockets.js echo server (child process) driven by the load generator;
//   2. the engine + gateway in a child process (or a running one: --url), accounts funded through the
//      engine's deposit path;
//   3. the SLO run: open-loop load at the SLO rate, latency from intended send time to ack;
//   4. step mode: rising rates until a step misses the latency targets: capacity under the SLO;
//   5. the SLOs (config/slo/default.json) evaluated; a Markdown report and two SVG plots written to
//      results/slo-<timestamp>/; one JSON object as the LAST stdout line; exit 1 when an SLO is missed.
//
// The load generator is its own process (loadgen.ts); everything is on 127.0.0.1.
//
// Options: --quick (under ~40 s), --config <file>, --url ws://127.0.0.1:<port>/ws/orders (a running
// engine-child.js: --token, --accounts <n>, --symbols <n> describe it), --rates 5000,10000,...,
// --slo-rate <n>, --no-steps, --out <dir>, --pacing thread|nap (overrides load.pacing).

import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadgenInit } from './loadgen.js';
import { markdownReport, percentileSvg, throughputSvg, type PhaseSummary, type SloMarker, type TimelinePhase } from './report.js';
import { SLO_REFERENCE_PRICE_TICKS, SLO_TOKEN, sloAccounts, sloInstruments, type EngineReady, type PhaseRequest, type PhaseResult } from './setup.js';
import {
  SloConfigError, capacityOf, evaluateSlos, judgeStep, latencyMetrics, loadSloConfig, planNextRate,
  type SloConfig, type SloMetric, type StepOutcome,
} from './slo.js';
import { decodeHistogram, multipleOf, ninesOf, spectrum, summarize, type Histogram } from './stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The package root (dist/bench/slo -> ../../..). */
const ROOT = resolve(HERE, '..', '..', '..');

interface Args {
  quick: boolean;
  config: string;
  url: string | null;
  token: string;
  accounts: number | null;
  symbols: number | null;
  rates: number[] | null;
  sloRate: number | null;
  steps: boolean;
  out: string;
  pacing: 'thread' | 'nap' | null;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    quick: false, config: join(ROOT, 'config', 'slo', 'default.json'), url: null, token: SLO_TOKEN, accounts: null,
    symbols: null, rates: null, sloRate: null, steps: true, out: join(ROOT, 'results'), pacing: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => { const x = argv[++i]; if (x === undefined) throw new SloConfigError(`${k} needs a value`); return x; };
    const int = (): number => { const s = v(); const n = Number(s); if (!Number.isInteger(n) || n <= 0) throw new SloConfigError(`${k}: not a positive integer: ${s}`); return n; };
    if (k === '--quick') a.quick = true;
    else if (k === '--config') a.config = resolve(v());
    else if (k === '--url') {
      const u = v();
      const host = new URL(u).hostname;
      if (!/^127\.|^localhost$|^\[::1\]$/.test(host)) throw new SloConfigError(`--url must be on this machine (127.0.0.0/8, localhost, [::1]), got ${host}`);
      a.url = u;
    } else if (k === '--token') a.token = v();
    else if (k === '--accounts') a.accounts = int();
    else if (k === '--symbols') a.symbols = int();
    else if (k === '--rates') a.rates = v().split(',').map((s) => Number(s.trim()));
    else if (k === '--slo-rate') a.sloRate = int();
    else if (k === '--no-steps') a.steps = false;
    else if (k === '--out') a.out = resolve(v());
    else if (k === '--pacing') { const p = v(); if (p !== 'thread' && p !== 'nap') throw new SloConfigError(`--pacing: thread or nap, got ${p}`); a.pacing = p; }
    else throw new SloConfigError(`unknown option ${k} (see bench/slo/harness.ts)`);
  }
  return a;
}

const log = (msg: string): void => { process.stderr.write(`[slo] ${msg}\n`); };

// ----------------------------------------------------------------------------------------------
// Child processes
// ----------------------------------------------------------------------------------------------

const children = new Set<ChildProcess>();

function forkChild(file: string, args: string[] = []): ChildProcess {
  // Diagnostics: extra Node flags for every child (SLO_CHILD_NODE_ARGS) or for one
  // (SLO_LOADGEN_NODE_ARGS, SLO_ENGINE_NODE_ARGS, SLO_ECHO_NODE_ARGS), e.g. "--trace-gc" or "--cpu-prof".
  const own = { 'loadgen.js': 'SLO_LOADGEN_NODE_ARGS', 'engine-child.js': 'SLO_ENGINE_NODE_ARGS', 'echo-server.js': 'SLO_ECHO_NODE_ARGS' }[file];
  const flags = [process.env.SLO_CHILD_NODE_ARGS, own === undefined ? undefined : process.env[own]].filter((f): f is string => !!f).join(' ');
  const c = fork(join(HERE, file), args, { execArgv: flags.split(/\s+/).filter((f) => f !== ''), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(c);
  c.on('exit', () => children.delete(c));
  return c;
}

/** Sends `msg` and resolves with the first reply of type `want` (rejects on 'error', exit or timeout). */
function ask<T>(c: ChildProcess, msg: unknown, want: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((res, rej) => {
    const timer = setTimeout(() => { cleanup(); rej(new Error(`no '${want}' from child within ${timeoutMs} ms`)); }, timeoutMs);
    const onMsg = (m: { type?: string; message?: string }): void => {
      if (m?.type === want) { cleanup(); res(m as T); } else if (m?.type === 'error') { cleanup(); rej(new Error(m.message)); }
    };
    const onExit = (code: number | null): void => { cleanup(); rej(new Error(`child exited (code ${code}) while waiting for '${want}'`)); };
    const cleanup = (): void => { clearTimeout(timer); c.off('message', onMsg); c.off('exit', onExit); };
    c.on('message', onMsg);
    c.once('exit', onExit);
    if (msg !== null) c.send(msg as object);
  });
}

async function stopChild(c: ChildProcess, msg: unknown, waitMs: number): Promise<unknown> {
  if (c.exitCode !== null || !c.connected) return null;
  let reply: unknown = null;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.on('message', (m: { type?: string }) => { if (m?.type === 'stopped') reply = m; });
  try { c.send(msg as object); } catch { /* gone */ }
  const t = setTimeout(() => { if (c.pid !== undefined && c.exitCode === null) c.kill('SIGKILL'); }, waitMs);
  await exited;
  clearTimeout(t);
  return reply;
}

function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGKILL');
}

// ----------------------------------------------------------------------------------------------
// Phases
// ----------------------------------------------------------------------------------------------

interface Measured {
  summary: PhaseSummary;
  histogram: Histogram;
  timeline: TimelinePhase;
}

function measuredOf(r: PhaseResult, verdict?: { pass: boolean; failures: string[] }): Measured {
  const h = decodeHistogram(r.latencyHistogram);
  const lag = decodeHistogram(r.sendLagHistogram);
  return {
    histogram: h,
    summary: {
      name: r.name, target: r.target, rateOrdersPerSec: r.rateOrdersPerSec, achievedOrdersPerSec: r.achievedOrdersPerSec,
      sent: r.sent, acked: r.acked, lost: r.lost, latency: summarize(h), sendLag: summarize(lag), rejectReasons: r.rejectReasons,
      requestKinds: r.requestKinds, fills: r.fills, ...(verdict ? { pass: verdict.pass, failures: verdict.failures } : {}),
    },
    timeline: { name: r.name, targetRateOrdersPerSec: r.rateOrdersPerSec, binMs: r.binMs, sentPerBin: r.sentPerBin, ackedPerBin: r.ackedPerBin, warmupBins: r.warmupBins },
  };
}

function describe(p: PhaseSummary): string {
  const l = p.latency;
  return `${p.name}: ${p.achievedOrdersPerSec}/s of ${p.rateOrdersPerSec}/s, acks ${l.count}, lost ${p.lost}, p50 ${l.p50Us} p99 ${l.p99Us} p99.9 ${l.p999Us} max ${l.maxUs} us (send lag p50 ${p.sendLag.p50Us} p99 ${p.sendLag.p99Us} us)`;
}

function gitInfo(): { commit: string; dirty: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { commit, dirty: status.trim() !== '' };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

function timestamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
}

async function main(): Promise<number> {
  const started = Date.now();
  const args = parseArgs(process.argv.slice(2));
  const cfg: SloConfig = loadSloConfig(args.config, args.quick);
  const budgetMs = args.quick ? 38_000 : 175_000;
  const sloRate = args.sloRate ?? cfg.slo.rateOrdersPerSec;
  const rates = args.rates ?? cfg.step.ratesOrdersPerSec;
  const accountsN = args.accounts ?? cfg.engine.accounts;
  const symbolsN = args.symbols ?? cfg.engine.symbols;
  const notes: string[] = [];
  const phaseCostMs = (warm: number, meas: number): number => warm + meas + 1_500;

  // 1. The floor.
  const echoChild = forkChild('echo-server.js');
  const echoReady = await ask<{ url: string }>(echoChild, null, 'ready', 10_000);
  const loadgen = forkChild('loadgen.js');
  const init: LoadgenInit = {
    type: 'init', engineUrl: null, echoUrl: echoReady.url, token: args.token, accounts: sloAccounts(accountsN),
    instrumentIds: sloInstruments(symbolsN).map((s) => s.id), referencePriceTicks: SLO_REFERENCE_PRICE_TICKS,
    seed: cfg.load.seed, mix: cfg.load.mix, openOrdersPerAccount: cfg.load.openOrdersPerAccount,
    maxOffsetTicks: cfg.load.maxOffsetTicks, ackTimeoutMs: cfg.load.ackTimeoutMs, pacing: args.pacing ?? cfg.load.pacing, clientNapUs: cfg.load.clientNapUs,
  };
  await ask(loadgen, init, 'initDone', 10_000);
  const runPhase = async (q: Omit<PhaseRequest, 'type'>): Promise<PhaseResult> => {
    const r = await ask<PhaseResult>(loadgen, { type: 'phase', ...q }, 'phaseResult', q.warmupMs + q.measureMs + cfg.load.ackTimeoutMs + 30_000);
    return r;
  };
  log(`echo floor at ${cfg.echo.rateOrdersPerSec}/s (${echoReady.url})`);
  const echo = measuredOf(await runPhase({ name: 'echo floor', target: 'echo', rateOrdersPerSec: cfg.echo.rateOrdersPerSec, warmupMs: cfg.echo.warmupMs, measureMs: cfg.echo.measureMs }));
  log(describe(echo.summary));
  await stopChild(echoChild, { type: 'stop' }, 3000);

  // 2. The engine.
  let engineChild: ChildProcess | null = null;
  let ready: EngineReady;
  if (args.url === null) {
    log(`starting engine + gateway: durability ${cfg.engine.durability}, ${cfg.engine.shards} shard(s), ${symbolsN} symbols, ${accountsN} accounts`);
    engineChild = forkChild('engine-child.js', ['--shards', String(cfg.engine.shards), '--symbols', String(symbolsN), '--accounts', String(accountsN), '--durability', cfg.engine.durability]);
    ready = await ask<EngineReady>(engineChild, null, 'ready', 60_000);
  } else {
    ready = {
      type: 'ready', url: args.url, token: args.token, accounts: sloAccounts(accountsN), instrumentIds: init.instrumentIds,
      shards: cfg.engine.shards, durability: cfg.engine.durability, fundedAccounts: 0,
    };
    notes.push(`target: a running engine at ${args.url} (its durability and shard count are not known to the harness; the config's are reported)`);
  }
  await ask(loadgen, { ...init, engineUrl: ready.url, token: ready.token, accounts: ready.accounts, instrumentIds: ready.instrumentIds }, 'initDone', 10_000);

  // 3. The SLO run.
  log(`SLO run at ${sloRate}/s (${ready.url})`);
  const sloRun = measuredOf(await runPhase({ name: `SLO ${sloRate}/s`, target: 'engine', rateOrdersPerSec: sloRate, warmupMs: cfg.slo.warmupMs, measureMs: cfg.slo.measureMs }));
  log(describe(sloRun.summary));
  await ask(loadgen, { type: 'cancelAll' }, 'cancelAllDone', 30_000);

  // 4. Step mode.
  const plan = { ratesOrdersPerSec: rates, retries: cfg.step.retries, refineSteps: cfg.step.refineSteps, granularityOrdersPerSec: cfg.step.granularityOrdersPerSec };
  const history: StepOutcome[] = [];
  const steps: Measured[] = [];
  let stepsCut = false;
  if (args.steps) {
    for (let rate = planNextRate(plan, history); rate !== null; rate = planNextRate(plan, history)) {
      if (Date.now() - started + phaseCostMs(cfg.step.warmupMs, cfg.step.measureMs) + 5_000 > budgetMs) { stepsCut = true; break; }
      const r = await runPhase({ name: `step ${rate}/s`, target: 'engine', rateOrdersPerSec: rate, warmupMs: cfg.step.warmupMs, measureMs: cfg.step.measureMs });
      const h = decodeHistogram(r.latencyHistogram);
      const v = judgeStep(cfg.slo.targets, summarize(h), {
        targetRate: rate, achievedRate: r.achievedOrdersPerSec, sent: r.sent, lost: r.lost,
        minAchievedRatio: cfg.step.minAchievedRatio, maxLostRatio: cfg.step.maxLostRatio,
      });
      const m = measuredOf(r, { pass: v.met, failures: v.failures });
      steps.push(m);
      history.push({ rateOrdersPerSec: rate, pass: v.met });
      log(`${describe(m.summary)} -> ${v.met ? 'pass' : `fail (${v.failures.join('; ')})`}`);
      await ask(loadgen, { type: 'cancelAll' }, 'cancelAllDone', 30_000);
    }
  }
  if (stepsCut) notes.push(`step mode stopped early to stay within the ${budgetMs / 1000} s budget; capacity is a lower bound`);
  const capacity = args.steps ? capacityOf(plan, history) : null;
  if (args.steps && history.length > 0 && history.every((h) => h.pass) && !stepsCut) notes.push(`every listed rate passed: capacity is at least ${capacity}/s (add higher rates to find the limit)`);

  // 5. Stop, evaluate, write.
  await ask(loadgen, { type: 'exit' }, '__none__', 3000).catch(() => {});
  let engineStats: unknown = null;
  if (engineChild !== null) engineStats = await stopChild(engineChild, { type: 'stop' }, 30_000);

  const floor = echo.summary.latency, at = sloRun.summary.latency;
  const sent = sloRun.summary.sent;
  const metrics: Partial<Record<SloMetric, number | null>> = {
    ...latencyMetrics(at),
    capacityOrdersPerSec: capacity,
    ackP50xFloor: multipleOf(at.p50Us, floor.p50Us), ackP99xFloor: multipleOf(at.p99Us, floor.p99Us),
    achievedRatio: sloRun.summary.achievedOrdersPerSec / sloRate, lostRatio: sent > 0 ? sloRun.summary.lost / sent : 1,
  };
  const evaluation = evaluateSlos(cfg.slo.targets, metrics);
  if (sloRun.summary.lost > 0) { evaluation.met = false; evaluation.failures.push(`SLO run: ${sloRun.summary.lost} requests without an ack within ${cfg.load.ackTimeoutMs} ms`); }

  const now = new Date();
  const dir = join(args.out, `slo-${timestamp(now)}`);
  mkdirSync(dir, { recursive: true });
  const git = gitInfo();
  const markers: SloMarker[] = [];
  for (const t of cfg.slo.targets) {
    const p = t.metric === 'ackP50Us' ? 50 : t.metric === 'ackP90Us' ? 90 : t.metric === 'ackP99Us' ? 99 : t.metric === 'ackP999Us' ? 99.9 : null;
    if (p !== null && t.max !== undefined) markers.push({ label: `${t.metric} <= ${t.max}`, nines: ninesOf(p), valueUs: t.max });
  }
  const series = [echo, sloRun, ...steps].map((m) => ({ label: `${m.summary.name}${m.summary.pass === false ? ' (fail)' : ''}`, points: spectrum(m.histogram) }));
  writeFileSync(join(dir, 'latency-percentiles.svg'), percentileSvg(`Ack latency percentiles (${cfg.engine.durability}, ${cfg.engine.shards} shard(s)) vs echo floor`, series, markers));
  writeFileSync(join(dir, 'throughput.svg'), throughputSvg('Throughput over time: sent and acked per second', [echo, sloRun, ...steps].map((m) => m.timeline)));
  for (const [i, m] of [echo, sloRun, ...steps].entries()) {
    writeFileSync(join(dir, `phase-${i}.hgrm`), m.histogram.outputPercentileDistribution());
  }
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
  const durationSec = Math.round((Date.now() - started) / 1000);
  writeFileSync(join(dir, 'report.md'), markdownReport({
    dateIso: now.toISOString(), commit: git.commit, dirty: git.dirty, quick: args.quick, configName: args.config.replace(ROOT + '/', ''),
    machine, engine: { durability: cfg.engine.durability, shards: cfg.engine.shards, symbols: symbolsN, accounts: accountsN, target: args.url ?? 'child process (engine-child.js)' },
    sloRateOrdersPerSec: sloRate, echo: echo.summary, sloRun: sloRun.summary, steps: steps.map((s) => s.summary),
    capacityOrdersPerSec: capacity ?? 0, evaluation, durationSec, notes,
  }));
  const out = {
    sloMet: evaluation.met, failures: evaluation.failures,
    capacityOrdersPerSec: capacity, sloRateOrdersPerSec: sloRate,
    ackP50Us: at.p50Us, ackP99Us: at.p99Us, ackP999Us: at.p999Us, ackMaxUs: at.maxUs,
    echoP50Us: floor.p50Us, echoP99Us: floor.p99Us, echoP999Us: floor.p999Us,
    ackP50xFloor: metrics.ackP50xFloor, ackP99xFloor: metrics.ackP99xFloor,
    achievedOrdersPerSec: sloRun.summary.achievedOrdersPerSec, lost: sloRun.summary.lost,
    steps: steps.map((s) => ({ rate: s.summary.rateOrdersPerSec, achieved: s.summary.achievedOrdersPerSec, p50Us: s.summary.latency.p50Us, p99Us: s.summary.latency.p99Us, p999Us: s.summary.latency.p999Us, lost: s.summary.lost, pass: s.summary.pass })),
    durability: cfg.engine.durability, shards: cfg.engine.shards, symbols: symbolsN, accounts: accountsN,
    quick: args.quick, durationSec, resultsDir: dir, commit: git.commit, dirty: git.dirty, date: now.toISOString(), engineStats,
  };
  writeFileSync(join(dir, 'result.json'), JSON.stringify(out, null, 2) + '\n');
  log(`results in ${dir}`);
  if (!evaluation.met) log(`SLO MISSED:\n  - ${evaluation.failures.join('\n  - ')}`);
  else log('SLO met');
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return evaluation.met ? 0 : 1;
}

process.on('SIGINT', () => { killAll(); process.exit(130); });
main().then((code) => { killAll(); process.exit(code); }, (e: unknown) => {
  killAll();
  process.stderr.write(`[slo] ${e instanceof SloConfigError ? e.message : String((e as Error).stack ?? e)}\n`);
  process.exit(2);
});
