// SLO config validation, SLO evaluation and the step-mode capacity search (bench/slo/slo.ts).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import {
  SloConfigError, capacityOf, evaluateSlos, judgeStep, parseSloConfig, planNextRate, stepTargets,
  type SloTarget, type StepOutcome, type StepPlan,
} from './slo.js';
import type { LatencySummary } from './stats.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const defaultRaw = (): Record<string, any> => JSON.parse(readFileSync(join(ROOT, 'config', 'slo', 'default.json'), 'utf8'));

const TARGETS: SloTarget[] = [
  { metric: 'ackP50Us', max: 1000 },
  { metric: 'ackP99Us', max: 5000 },
  { metric: 'capacityOrdersPerSec', min: 20_000 },
];

function lat(p50: number, p99: number, p999 = p99, count = 1000): LatencySummary {
  return { count, p50Us: p50, p90Us: p50, p99Us: p99, p999Us: p999, p9999Us: p999, maxUs: p999, meanUs: p50 };
}

/** Runs the planner against a machine whose capacity is `cap` (rates above it fail). */
function search(plan: StepPlan, pass: (rate: number, attempt: number) => boolean): { order: number[]; capacity: number } {
  const history: StepOutcome[] = [];
  const order: number[] = [];
  for (let r = planNextRate(plan, history); r !== null; r = planNextRate(plan, history)) {
    assert.ok(order.length < 50, 'the search ends');
    const attempt = history.filter((h) => h.rateOrdersPerSec === r).length;
    order.push(r);
    history.push({ rateOrdersPerSec: r, pass: pass(r, attempt) });
  }
  return { order, capacity: capacityOf(plan, history) };
}

describe('slo config', () => {
  it('config/slo/default.json is valid, and --quick applies its overrides', () => {
    const c = parseSloConfig(defaultRaw());
    const q = parseSloConfig(defaultRaw(), true);
    assert.equal(c.name, 'default');
    assert.ok(q.step.measureMs <= c.step.measureMs);
    assert.ok(q.slo.measureMs <= c.slo.measureMs);
    assert.equal(q.slo.rateOrdersPerSec, c.slo.rateOrdersPerSec);
    assert.deepEqual(q.slo.targets, c.slo.targets);
  });

  it('rejects bad configs with the field named', () => {
    const bad = defaultRaw();
    bad.slo.targets.push({ metric: 'ackP99Us' });
    bad.step.ratesOrdersPerSec = [10_000, 5_000];
    assert.throws(() => parseSloConfig(bad), (e: unknown) => e instanceof SloConfigError && /slo\.targets\.4/.test(e.message));
    const unsorted = defaultRaw();
    unsorted.step.ratesOrdersPerSec = [10_000, 5_000];
    assert.throws(() => parseSloConfig(unsorted), /increasing/);
    const unknown = defaultRaw();
    unknown.slo.targets = [{ metric: 'p50', max: 1 }];
    assert.throws(() => parseSloConfig(unknown), SloConfigError);
  });
});

describe('slo evaluation', () => {
  it('checks max and min targets and names each miss', () => {
    const ok = evaluateSlos(TARGETS, { ackP50Us: 900, ackP99Us: 5000, capacityOrdersPerSec: 20_000 });
    assert.equal(ok.met, true);
    assert.deepEqual(ok.failures, []);
    const bad = evaluateSlos(TARGETS, { ackP50Us: 1200, ackP99Us: 4000, capacityOrdersPerSec: 10_000 });
    assert.equal(bad.met, false);
    assert.deepEqual(bad.failures, ['ackP50Us = 1200 > 1000', 'capacityOrdersPerSec = 10000 < 20000']);
    assert.deepEqual(bad.results.map((r) => r.met), [false, true, false]);
  });

  it('a metric that was not measured is a miss', () => {
    const e = evaluateSlos(TARGETS, { ackP50Us: 10, ackP99Us: 20, capacityOrdersPerSec: null });
    assert.equal(e.met, false);
    assert.match(e.failures[0]!, /capacityOrdersPerSec: not measured/);
  });

  it('a step is judged by the latency targets, the achieved rate and lost requests', () => {
    assert.deepEqual(stepTargets(TARGETS).map((t) => t.metric), ['ackP50Us', 'ackP99Us']);
    const o = { targetRate: 10_000, achievedRate: 10_000, sent: 50_000, lost: 0, minAchievedRatio: 0.95, maxLostRatio: 0 };
    assert.equal(judgeStep(TARGETS, lat(500, 3000), o).met, true);
    assert.deepEqual(judgeStep(TARGETS, lat(500, 6000), o).failures, ['ackP99Us = 6000 > 5000']);
    assert.match(judgeStep(TARGETS, lat(500, 3000), { ...o, achievedRate: 9000 }).failures[0]!, /achieved 9000\/s/);
    assert.match(judgeStep(TARGETS, lat(500, 3000), { ...o, lost: 1 }).failures[0]!, /lost 1 of 50000/);
    assert.ok(judgeStep(TARGETS, lat(0, 0, 0, 0), o).failures.includes('no acks recorded'));
  });
});

describe('step mode', () => {
  const RATES = [5000, 10_000, 20_000, 50_000, 100_000];
  const plan = (retries = 0, refineSteps = 0): StepPlan => ({ ratesOrdersPerSec: RATES, retries, refineSteps, granularityOrdersPerSec: 1000 });

  it('goes up the listed rates until one fails; capacity is the last that passed', () => {
    const r = search(plan(), (rate) => rate <= 30_000);
    assert.deepEqual(r.order, [5000, 10_000, 20_000, 50_000]);
    assert.equal(r.capacity, 20_000);
  });

  it('every rate passing: capacity is the highest listed rate', () => {
    const r = search(plan(1, 2), () => true);
    assert.deepEqual(r.order, RATES);
    assert.equal(r.capacity, 100_000);
  });

  it('the first rate failing: capacity 0', () => {
    const r = search(plan(), () => false);
    assert.deepEqual(r.order, [5000]);
    assert.equal(r.capacity, 0);
  });

  it('retries a failed step; a passing retry counts as a pass', () => {
    const flaky = search(plan(1), (rate, attempt) => rate <= 10_000 || (rate === 20_000 && attempt === 1));
    assert.deepEqual(flaky.order, [5000, 10_000, 20_000, 20_000, 50_000, 50_000]);
    assert.equal(flaky.capacity, 20_000);
  });

  it('bisects between the last pass and the first failure', () => {
    const r = search(plan(0, 2), (rate) => rate <= 40_000);
    // 20k passes, 50k fails -> 35k passes -> 43k (42.5k rounded) fails.
    assert.deepEqual(r.order, [5000, 10_000, 20_000, 50_000, 35_000, 43_000]);
    assert.equal(r.capacity, 35_000);
    const below = search(plan(0, 1), (rate) => rate < 5000);
    assert.deepEqual(below.order, [5000, 3000]);
    assert.equal(below.capacity, 3000);
  });

  it('a noisy failure below the capacity still bounds it (the lowest confirmed failure)', () => {
    const r = search(plan(), (rate) => rate !== 10_000);
    assert.deepEqual(r.order, [5000, 10_000]);
    assert.equal(r.capacity, 5000);
  });
});
