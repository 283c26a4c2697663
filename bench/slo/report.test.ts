// Report and plot generation on synthetic data (bench/slo/report.ts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logTicks, markdownReport, ninesLabel, percentileSvg, throughputSvg, type PhaseSummary, type ReportInput } from './report.js';
import { evaluateSlos } from './slo.js';
import { newLatencyHistogram, recordUs, spectrum, summarize } from './stats.js';
import { echoToAccepted } from './echo-frames.js';

function phase(name: string, rate: number, base: number, extra: Partial<PhaseSummary> = {}): PhaseSummary {
  const h = newLatencyHistogram();
  for (let i = 1; i <= 2000; i++) recordUs(h, base + (i % 100) + (i === 2000 ? base * 20 : 0));
  return {
    name, target: name.startsWith('echo') ? 'echo' : 'engine', rateOrdersPerSec: rate, achievedOrdersPerSec: rate, sent: 2000, acked: 2000, lost: 0,
    latency: summarize(h), sendLag: summarize(h), rejectReasons: { UnknownOrder: 3 }, requestKinds: { passiveLimit: 1200, cancel: 800 }, fills: 900, ...extra,
  };
}

function input(): ReportInput {
  const echo = phase('echo floor', 10_000, 50);
  const slo = phase('SLO 10000/s', 10_000, 400);
  const steps = [phase('step 5000/s', 5000, 300, { pass: true, failures: [] }), phase('step 20000/s', 20_000, 3000, { pass: false, failures: ['ackP99Us = 6000 > 5000'] })];
  return {
    dateIso: '2026-01-02T03:04:05.000Z', commit: 'abc1234', dirty: false, quick: false, configName: 'config/slo/default.json',
    machine: '2 x test cpu', engine: { durability: 'normal', shards: 1, symbols: 8, accounts: 16, target: 'child process' },
    sloRateOrdersPerSec: 10_000, echo, sloRun: slo, steps, capacityOrdersPerSec: 5000,
    evaluation: evaluateSlos([{ metric: 'ackP50Us', max: 1000 }, { metric: 'capacityOrdersPerSec', min: 10_000 }], { ackP50Us: slo.latency.p50Us, capacityOrdersPerSec: 5000 }),
    durationSec: 120, notes: ['a note'],
  };
}

describe('slo report', () => {
  it('labels nines and log ticks', () => {
    assert.deepEqual([0, 1, 2, 3, 4].map(ninesLabel), ['0%', '90%', '99%', '99.9%', '99.99%']);
    assert.deepEqual(logTicks(10, 1000), [10, 20, 50, 100, 200, 500, 1000]);
  });

  it('the Markdown report states the verdict, the targets, the floor multiples and every phase', () => {
    const md = markdownReport(input());
    assert.match(md, /\*\*SLO MISSED\*\*/);
    assert.match(md, /Capacity under the SLO: \*\*5,000 orders\/s\*\*/);
    assert.match(md, /\| capacityOrdersPerSec \| >= 10000 \| 5000 \| \*\*no\*\* \|/);
    assert.match(md, /\| ackP50Us \| <= 1000 \| \d+ \| yes \|/);
    assert.match(md, /\| multiple of floor \| 4\.5 \|/);
    for (const name of ['echo floor', 'SLO 10000/s', 'step 5000/s', 'step 20000/s']) assert.ok(md.includes(`| ${name} |`), name);
    assert.match(md, /\*\*fail\*\*: ackP99Us = 6000 > 5000/);
    assert.match(md, /commit abc1234;/);
    assert.match(md, /- a note/);
  });

  it('the percentile plot is an SVG with one line per series, nines on x and the SLO crosses', () => {
    const series = [50, 400, 3000].map((b, i) => {
      const h = newLatencyHistogram();
      for (let k = 1; k <= 5000; k++) recordUs(h, b + (k % 300));
      return { label: `series ${i} <&>`, points: spectrum(h) };
    });
    const svg = percentileSvg('Ack latency', series, [{ label: 'ackP99Us <= 5000', nines: 2, valueUs: 5000 }]);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.equal((svg.match(/<polyline/g) ?? []).length, 3);
    for (const l of ['90%', '99%', '99.9%']) assert.ok(svg.includes(`>${l}</text>`), l);
    assert.ok(svg.includes('series 0 &lt;&amp;&gt;'));
    assert.ok(svg.includes('ackP99Us &lt;= 5000'));
    assert.ok(!/NaN|Infinity|undefined/.test(svg));
  });

  it('the throughput plot draws sent and acked per phase with the target rates', () => {
    const svg = throughputSvg('Throughput', [
      { name: 'echo', targetRateOrdersPerSec: 10_000, binMs: 100, sentPerBin: [1000, 1000, 1000], ackedPerBin: [0, 1000, 1000], warmupBins: 1 },
      { name: 'step 20000/s', targetRateOrdersPerSec: 20_000, binMs: 100, sentPerBin: [2000, 2000], ackedPerBin: [1500, 1800], warmupBins: 0 },
    ]);
    assert.equal((svg.match(/<polyline/g) ?? []).length, 4);
    assert.equal((svg.match(/stroke-dasharray/g) ?? []).length, 2);
    assert.ok(svg.includes('>step 20000/s</text>'));
    assert.ok(!/NaN|Infinity|undefined/.test(svg));
    assert.ok(!/NaN/.test(throughputSvg('empty', [])));
  });

  it('the echo floor turns echoed NewOrders into ExecAccepted reports with the same ids', async () => {
    const { encodeMessage, decodeFrame, MsgType } = await import('../../gateway/protocol.js');
    const frame = new Uint8Array(224);
    encodeMessage(MsgType.NewOrder, { clientOrderId: 2 ** 40 + 7, instrumentId: 101, side: 1, orderType: 0, tif: 0, priceTicks: 10_005, qtyLots: 3 }, frame, 0);
    encodeMessage(MsgType.NewOrder, { clientOrderId: 9, instrumentId: 102, side: 0, orderType: 2, tif: 1, stopPriceTicks: 10_010, qtyLots: 1 }, frame, 112);
    const d = decodeFrame(echoToAccepted(frame), 'toClient');
    assert.equal(d.error, null);
    assert.equal(d.messages.length, 2);
    assert.equal(d.messages[0]!.name, 'ExecAccepted');
    assert.equal(d.messages[0]!.fields.clientOrderId, 2 ** 40 + 7);
    assert.equal(d.messages[0]!.fields.priceTicks, 10_005);
    assert.equal(d.messages[1]!.fields.instrumentId, 102);
    assert.equal(d.messages[1]!.fields.orderType, 2);
  });
});
