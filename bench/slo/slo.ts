// SLO definitions (config/slo/*.json), their evaluation, and the step-mode capacity search. Pure:
// no I/O except loadSloConfig's file read.

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { LatencySummary } from './stats.js';

export const SLO_METRICS = [
  'ackP50Us', 'ackP90Us', 'ackP99Us', 'ackP999Us', 'ackMaxUs', 'capacityOrdersPerSec',
  'ackP50xFloor', 'ackP99xFloor', 'achievedRatio', 'lostRatio',
] as const;
export type SloMetric = (typeof SLO_METRICS)[number];

const Target = z.strictObject({
  metric: z.enum(SLO_METRICS),
  /** The value must be <= max (latencies, ratios) ... */
  max: z.number().positive().optional(),
  /** ... or >= min (capacity). */
  min: z.number().nonnegative().optional(),
  note: z.string().optional(),
}).refine((t) => (t.max === undefined) !== (t.min === undefined), 'give exactly one of max and min');

const Phase = z.strictObject({
  warmupMs: z.number().int().min(0).max(60_000),
  measureMs: z.number().int().min(200).max(600_000),
});

const Mix = z.strictObject({
  /** GTC limit orders 1..maxOffsetTicks behind the touch (they rest). */
  passiveLimit: z.number().min(0),
  /** Cancels of one of the session's open orders (by engine order id). */
  cancel: z.number().min(0),
  /** Marketable limit orders (IOC, a few ticks through the touch). */
  crossingLimit: z.number().min(0),
  /** Market orders (IOC by quantity). */
  market: z.number().min(0),
  /** Stop (market) orders a few ticks beyond the last trade. */
  stop: z.number().min(0),
  /** Stop-limit orders a few ticks beyond the last trade. */
  stopLimit: z.number().min(0),
});

const PhaseOverride = Phase.partial();

export const SloConfigSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  engine: z.strictObject({
    durability: z.enum(['none', 'normal', 'full']),
    shards: z.number().int().min(1).max(8),
    symbols: z.number().int().min(1).max(64),
    /** One order session (WebSocket connection) per account. */
    accounts: z.number().int().min(1).max(256),
  }),
  load: z.strictObject({
    seed: z.number().int().min(1),
    mix: Mix,
    /** Cancels are steered so that each session keeps about this many open orders. */
    openOrdersPerAccount: z.number().int().min(1).max(100_000),
    maxOffsetTicks: z.number().int().min(1).max(1000),
    /** A request without an ack this long after its intended send time counts as lost. */
    ackTimeoutMs: z.number().int().min(100).max(60_000),
    /**
     * How the load generator waits between sends without spinning (the engine shares the machine):
     * 'thread' (default) - a pacer thread wakes the event loop at the next send time, and the loop
     * waits in epoll meanwhile, so acks are read as they arrive; 'nap' - the loop itself sleeps
     * (futex) up to `clientNapUs` between turns, and acks that arrive meanwhile wait.
     */
    pacing: z.enum(['thread', 'nap']).default('thread'),
    /** 'nap' pacing only: the longest sleep between turns; 0 = spin (most precise sends, one core busy). */
    clientNapUs: z.number().int().min(0).max(1000),
  }),
  /** The SLO run: one long phase at the SLO rate; its latencies are the ack* metrics. */
  slo: Phase.extend({
    rateOrdersPerSec: z.number().int().min(100).max(5_000_000),
    targets: z.array(Target).min(1),
  }),
  /** Step mode: rates tried in order until a step misses the latency targets. */
  step: Phase.extend({
    ratesOrdersPerSec: z.array(z.number().int().min(100).max(5_000_000)).min(1),
    /** Re-runs of a failed step before it counts as failed (noise on a shared machine). */
    retries: z.number().int().min(0).max(3),
    /** Bisection steps between the last passing and the first failing rate. */
    refineSteps: z.number().int().min(0).max(5),
    /** Bisection rates are rounded to this. */
    granularityOrdersPerSec: z.number().int().min(1),
    /** A step fails when it sent less than this fraction of the target rate ... */
    minAchievedRatio: z.number().min(0).max(1),
    /** ... or lost (no ack by the timeout) more than this fraction of its requests. */
    maxLostRatio: z.number().min(0).max(1),
  }),
  /** The floor: the same client against a bare uWebSockets.js echo server. */
  echo: Phase.extend({
    rateOrdersPerSec: z.number().int().min(100).max(5_000_000),
  }),
  /** --quick overrides. */
  quick: z.strictObject({
    slo: PhaseOverride.optional(),
    step: PhaseOverride.extend({ ratesOrdersPerSec: z.array(z.number().int().min(100)).min(1).optional(), retries: z.number().int().min(0).optional(), refineSteps: z.number().int().min(0).optional() }).optional(),
    echo: PhaseOverride.optional(),
  }).optional(),
});

export type SloConfig = z.infer<typeof SloConfigSchema>;
export type SloTarget = z.infer<typeof Target>;
export type OrderMix = z.infer<typeof Mix>;

export class SloConfigError extends Error {
  override readonly name = 'SloConfigError';
}

/** Parses and validates a config object; with `quick`, applies its overrides. */
export function parseSloConfig(raw: unknown, quick = false): SloConfig {
  const r = SloConfigSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new SloConfigError(`invalid SLO config (${lines.length} problem${lines.length === 1 ? '' : 's'}):\n${lines.join('\n')}`);
  }
  const c = r.data;
  const mixSum = Object.values(c.load.mix).reduce((a, b) => a + b, 0);
  if (mixSum <= 0) throw new SloConfigError('invalid SLO config: load.mix weights sum to 0');
  const rates = c.step.ratesOrdersPerSec;
  for (let i = 1; i < rates.length; i++) if (rates[i]! <= rates[i - 1]!) throw new SloConfigError('invalid SLO config: step.ratesOrdersPerSec must be increasing');
  if (!quick || c.quick === undefined) return c;
  const q = c.quick;
  return {
    ...c,
    slo: { ...c.slo, ...q.slo },
    step: { ...c.step, ...q.step },
    echo: { ...c.echo, ...q.echo },
  };
}

export function loadSloConfig(path: string, quick = false): SloConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new SloConfigError(`cannot read SLO config ${path}: ${(e as Error).message}`);
  }
  return parseSloConfig(raw, quick);
}

// ----------------------------------------------------------------------------------------------
// Evaluation
// ----------------------------------------------------------------------------------------------

export interface TargetResult {
  metric: SloMetric;
  op: '<=' | '>=';
  threshold: number;
  /** null when the run did not produce the metric. */
  value: number | null;
  met: boolean;
}

export interface SloEvaluation {
  met: boolean;
  results: TargetResult[];
  /** One line per missed target, e.g. "ackP99Us = 2300 > 2000". */
  failures: string[];
}

export function evaluateSlos(targets: readonly SloTarget[], metrics: Partial<Record<SloMetric, number | null>>): SloEvaluation {
  const results: TargetResult[] = [];
  const failures: string[] = [];
  for (const t of targets) {
    const v = metrics[t.metric];
    const value = v === undefined || v === null || Number.isNaN(v) ? null : v;
    const op = t.max !== undefined ? '<=' : '>=';
    const threshold = (t.max ?? t.min)!;
    const met = value !== null && (op === '<=' ? value <= threshold : value >= threshold);
    results.push({ metric: t.metric, op, threshold, value, met });
    if (!met) {
      failures.push(value === null
        ? `${t.metric}: not measured (SLO ${op} ${threshold})`
        : `${t.metric} = ${value} ${op === '<=' ? '>' : '<'} ${threshold}`);
    }
  }
  return { met: failures.length === 0, results, failures };
}

/** Latency metrics of one phase, as evaluateSlos reads them. */
export function latencyMetrics(s: LatencySummary): Partial<Record<SloMetric, number>> {
  return { ackP50Us: s.p50Us, ackP90Us: s.p90Us, ackP99Us: s.p99Us, ackP999Us: s.p999Us, ackMaxUs: s.maxUs };
}

/** The targets a single step is judged by: the latency ones (not capacity, not floor multiples). */
export function stepTargets(targets: readonly SloTarget[]): SloTarget[] {
  return targets.filter((t) => t.metric.startsWith('ack') && !t.metric.endsWith('xFloor'));
}

// ----------------------------------------------------------------------------------------------
// Step mode
// ----------------------------------------------------------------------------------------------

export interface StepOutcome {
  rateOrdersPerSec: number;
  pass: boolean;
}

export interface StepPlan {
  ratesOrdersPerSec: readonly number[];
  retries: number;
  refineSteps: number;
  granularityOrdersPerSec: number;
}

/** Judges one step: the latency targets, the achieved rate and the lost requests. */
export function judgeStep(
  targets: readonly SloTarget[], summary: LatencySummary,
  o: { targetRate: number; achievedRate: number; sent: number; lost: number; minAchievedRatio: number; maxLostRatio: number },
): SloEvaluation {
  const achievedRatio = o.targetRate > 0 ? o.achievedRate / o.targetRate : 0;
  const lostRatio = o.sent > 0 ? o.lost / o.sent : 0;
  const ev = evaluateSlos(stepTargets(targets), latencyMetrics(summary));
  const failures = [...ev.failures];
  if (achievedRatio < o.minAchievedRatio) failures.push(`achieved ${Math.round(o.achievedRate)}/s < ${Math.round(o.minAchievedRatio * 100)}% of ${o.targetRate}/s`);
  if (lostRatio > o.maxLostRatio) failures.push(`lost ${o.lost} of ${o.sent} requests (no ack within the timeout)`);
  if (summary.count === 0) failures.push('no acks recorded');
  return { met: failures.length === 0, results: ev.results, failures };
}

function attemptsAt(history: readonly StepOutcome[], rate: number): StepOutcome[] {
  return history.filter((h) => h.rateOrdersPerSec === rate);
}

/** A rate failed for good: every attempt failed and (for a listed rate) the retries are used up. */
function confirmedFailure(plan: StepPlan, history: readonly StepOutcome[], rate: number): boolean {
  const a = attemptsAt(history, rate);
  if (a.length === 0 || a.some((x) => x.pass)) return false;
  return !plan.ratesOrdersPerSec.includes(rate) || a.length > plan.retries;
}

/**
 * The next rate to measure, or null when the search is over. Listed rates go in increasing order; a
 * failed one is re-run up to `retries` times; after the first confirmed failure, `refineSteps`
 * bisections between the highest passing rate below it and the lowest failing rate.
 */
export function planNextRate(plan: StepPlan, history: readonly StepOutcome[]): number | null {
  let failRate = -1;
  for (const rate of plan.ratesOrdersPerSec) {
    const a = attemptsAt(history, rate);
    if (a.length === 0) return rate;
    if (a.some((x) => x.pass)) continue;
    if (a.length <= plan.retries) return rate;
    failRate = rate;
    break;
  }
  if (failRate < 0) return null;
  const refinements = history.filter((h) => !plan.ratesOrdersPerSec.includes(h.rateOrdersPerSec));
  if (refinements.length >= plan.refineSteps) return null;
  const { lo, hi } = bracket(plan, history);
  const g = plan.granularityOrdersPerSec;
  const mid = Math.round((lo + hi) / 2 / g) * g;
  if (mid <= lo || mid >= hi) return null;
  return mid;
}

/** Highest passing rate below the lowest confirmed failure (lo), and that failure (hi; Infinity if none). */
function bracket(plan: StepPlan, history: readonly StepOutcome[]): { lo: number; hi: number } {
  let hi = Infinity;
  for (const h of history) if (h.rateOrdersPerSec < hi && confirmedFailure(plan, history, h.rateOrdersPerSec)) hi = h.rateOrdersPerSec;
  let lo = 0;
  for (const h of history) if (h.pass && h.rateOrdersPerSec < hi && h.rateOrdersPerSec > lo) lo = h.rateOrdersPerSec;
  return { lo, hi };
}

/** Capacity under the SLO: the highest passing rate below the lowest confirmed failure (0 if none passed). */
export function capacityOf(plan: StepPlan, history: readonly StepOutcome[]): number {
  return bracket(plan, history).lo;
}
