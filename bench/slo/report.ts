// Output of the SLO harness: the Markdown report and two SVG plots (the HdrHistogram percentile
// spectrum with a log "nines" x axis, and throughput over time). Pure functions of their inputs.

import type { SloEvaluation } from './slo.js';
import { multipleOf, type LatencySummary, type SpectrumPoint } from './stats.js';

export interface PhaseSummary {
  name: string;
  target: 'engine' | 'echo';
  rateOrdersPerSec: number;
  achievedOrdersPerSec: number;
  sent: number;
  acked: number;
  lost: number;
  latency: LatencySummary;
  sendLag: LatencySummary;
  rejectReasons: Record<string, number>;
  requestKinds: Record<string, number>;
  fills: number;
  /** Step phases: verdict against the latency targets. */
  pass?: boolean;
  failures?: string[];
}

export interface TimelinePhase {
  name: string;
  targetRateOrdersPerSec: number;
  binMs: number;
  sentPerBin: number[];
  ackedPerBin: number[];
  warmupBins: number;
}

export interface SpectrumSeries {
  label: string;
  points: SpectrumPoint[];
}

export interface SloMarker {
  label: string;
  nines: number;
  valueUs: number;
}

export interface ReportInput {
  dateIso: string;
  commit: string;
  dirty: boolean;
  quick: boolean;
  configName: string;
  machine: string;
  engine: { durability: string; shards: number; symbols: number; accounts: number; target: string };
  sloRateOrdersPerSec: number;
  echo: PhaseSummary;
  sloRun: PhaseSummary;
  steps: PhaseSummary[];
  capacityOrdersPerSec: number;
  evaluation: SloEvaluation;
  durationSec: number;
  notes: string[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmtUs(v: number): string {
  if (v >= 1_000_000) return `${+(v / 1_000_000).toPrecision(3)} s`;
  if (v >= 1000) return `${+(v / 1000).toPrecision(3)} ms`;
  return `${+v.toPrecision(3)} us`;
}

function fmtRate(v: number): string {
  return v >= 1000 ? `${+(v / 1000).toPrecision(4)}k` : String(Math.round(v));
}

/** "0%", "90%", "99%", "99.9%" ... for integer nines. */
export function ninesLabel(n: number): string {
  if (n <= 0) return '0%';
  return `${(100 - 100 / 10 ** n).toFixed(Math.max(0, n - 2))}%`;
}

/** Log-scale ticks (1, 2, 5 x 10^k) covering [lo, hi]. */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out;
}

/** The percentile spectrum: x = nines (log of 1/(1-p)), y = latency on a log scale. */
export function percentileSvg(title: string, series: readonly SpectrumSeries[], markers: readonly SloMarker[] = []): string {
  const W = 920, H = 540, L = 80, R = 220, T = 50, B = 60;
  const pw = W - L - R, ph = H - T - B;
  let maxX = 3, lo = Infinity, hi = 0;
  for (const s of series) for (const p of s.points) { maxX = Math.max(maxX, p.nines); lo = Math.min(lo, Math.max(1, p.valueUs)); hi = Math.max(hi, p.valueUs); }
  for (const m of markers) { lo = Math.min(lo, m.valueUs); hi = Math.max(hi, m.valueUs); }
  if (!Number.isFinite(lo)) { lo = 1; hi = 1000; }
  maxX = Math.ceil(maxX);
  const yLo = 10 ** Math.floor(Math.log10(lo)), yHi = 10 ** Math.ceil(Math.log10(Math.max(hi, yLo * 10)));
  const x = (n: number): number => L + (Math.min(n, maxX) / maxX) * pw;
  const y = (v: number): number => T + ph - ((Math.log10(Math.max(v, yLo)) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo))) * ph;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  o.push(`<text x="${L}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`);
  for (let n = 0; n <= maxX; n++) {
    o.push(`<line x1="${x(n)}" y1="${T}" x2="${x(n)}" y2="${T + ph}" stroke="#ddd"/>`);
    o.push(`<text x="${x(n)}" y="${T + ph + 18}" text-anchor="middle">${ninesLabel(n)}</text>`);
  }
  for (const v of logTicks(yLo, yHi)) {
    o.push(`<line x1="${L}" y1="${y(v).toFixed(1)}" x2="${L + pw}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
    o.push(`<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${fmtUs(v)}</text>`);
  }
  o.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  o.push(`<text x="${L + pw / 2}" y="${H - 18}" text-anchor="middle">percentile (log scale of 1/(1-p): "nines")</text>`);
  o.push(`<text x="18" y="${T + ph / 2}" text-anchor="middle" transform="rotate(-90 18 ${T + ph / 2})">latency from intended send time (log)</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!;
    const pts = s.points.map((p) => `${x(p.nines).toFixed(1)},${y(p.valueUs).toFixed(1)}`).join(' ');
    if (pts !== '') o.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts}"/>`);
    o.push(`<line x1="${L + pw + 12}" y1="${T + 10 + i * 20}" x2="${L + pw + 32}" y2="${T + 10 + i * 20}" stroke="${c}" stroke-width="3"/>`);
    o.push(`<text x="${L + pw + 38}" y="${T + 14 + i * 20}">${esc(s.label)}</text>`);
  });
  const my = T + 20 + series.length * 20;
  markers.forEach((m, i) => {
    const cx = x(m.nines), cy = y(m.valueUs);
    o.push(`<path d="M${(cx - 6).toFixed(1)},${cy.toFixed(1)} h12 M${cx.toFixed(1)},${(cy - 6).toFixed(1)} v12" stroke="black" stroke-width="2"/>`);
    if (i === 0) o.push(`<text x="${L + pw + 12}" y="${my + 4}">+ SLO limits:</text>`);
    o.push(`<text x="${L + pw + 22}" y="${my + 20 + i * 18}">${esc(m.label)}</text>`);
  });
  o.push('</svg>');
  return o.join('\n') + '\n';
}

/** Throughput over time: sent and acked per second in bins, phases side by side, target dashed. */
export function throughputSvg(title: string, phases: readonly TimelinePhase[]): string {
  const W = 920, H = 420, L = 80, R = 30, T = 60, B = 60;
  const pw = W - L - R, ph = H - T - B;
  const GAP = 3;
  let bins = 0, maxRate = 1;
  for (const p of phases) {
    bins += Math.max(p.sentPerBin.length, p.ackedPerBin.length) + GAP;
    const perSec = 1000 / p.binMs;
    for (const v of p.sentPerBin) maxRate = Math.max(maxRate, v * perSec);
    for (const v of p.ackedPerBin) maxRate = Math.max(maxRate, v * perSec);
    maxRate = Math.max(maxRate, p.targetRateOrdersPerSec);
  }
  bins = Math.max(1, bins);
  const binMs = phases[0]?.binMs ?? 100;
  const yMax = niceCeil(maxRate * 1.05);
  const x = (b: number): number => L + (b / bins) * pw;
  const y = (v: number): number => T + ph - (v / yMax) * ph;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  o.push(`<text x="${L}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    o.push(`<line x1="${L}" y1="${y(v)}" x2="${L + pw}" y2="${y(v)}" stroke="#eee"/>`);
    o.push(`<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${fmtRate(v)}/s</text>`);
  }
  const totalSec = (bins * binMs) / 1000;
  const stepSec = totalSec > 120 ? 20 : totalSec > 40 ? 10 : 5;
  for (let s = 0; s <= totalSec; s += stepSec) {
    o.push(`<text x="${x((s * 1000) / binMs).toFixed(1)}" y="${T + ph + 18}" text-anchor="middle">${s}s</text>`);
  }
  o.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  o.push(`<text x="${L + pw / 2}" y="${H - 18}" text-anchor="middle">time (phases back to back; pauses between them left out)</text>`);
  let b0 = 0;
  const sent: string[] = [], acked: string[] = [];
  phases.forEach((p, i) => {
    const n = Math.max(p.sentPerBin.length, p.ackedPerBin.length);
    const perSec = 1000 / p.binMs;
    if (p.warmupBins > 0) o.push(`<rect x="${x(b0).toFixed(1)}" y="${T}" width="${(x(b0 + Math.min(p.warmupBins, n)) - x(b0)).toFixed(1)}" height="${ph}" fill="#f4f4f4"/>`);
    o.push(`<line x1="${x(b0).toFixed(1)}" y1="${y(p.targetRateOrdersPerSec).toFixed(1)}" x2="${x(b0 + n).toFixed(1)}" y2="${y(p.targetRateOrdersPerSec).toFixed(1)}" stroke="#555" stroke-dasharray="5,4"/>`);
    o.push(`<text x="${x(b0).toFixed(1)}" y="${T - 8 - (i % 2) * 13}" font-size="10">${esc(p.name)}</text>`);
    const line = (list: number[]): string => list.map((v, b) => `${x(b0 + b + 0.5).toFixed(1)},${y(v * perSec).toFixed(1)}`).join(' ');
    sent.push(line(p.sentPerBin)); acked.push(line(p.ackedPerBin));
    b0 += n + GAP;
  });
  for (const pts of sent) if (pts !== '') o.push(`<polyline fill="none" stroke="${COLORS[0]}" stroke-width="1.5" points="${pts}"/>`);
  for (const pts of acked) if (pts !== '') o.push(`<polyline fill="none" stroke="${COLORS[1]}" stroke-width="1.5" points="${pts}"/>`);
  o.push(`<text x="${W - 330}" y="24" fill="${COLORS[0]}">sent/s</text><text x="${W - 275}" y="24" fill="${COLORS[1]}">acked/s</text><text x="${W - 210}" y="24" fill="#555">- - target (grey: warm-up)</text>`);
  o.push('</svg>');
  return o.join('\n') + '\n';
}

function niceCeil(v: number): number {
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= v) return m * e;
  return 10 * e;
}

function phaseRow(p: PhaseSummary, floor: LatencySummary): string {
  const l = p.latency;
  const verdict = p.pass === undefined ? '' : p.pass ? 'pass' : `**fail**: ${p.failures?.join('; ') ?? ''}`;
  return `| ${p.name} | ${fmtRate(p.rateOrdersPerSec)} | ${fmtRate(p.achievedOrdersPerSec)} | ${l.count} | ${p.lost} | ${l.p50Us} (${multipleOf(l.p50Us, floor.p50Us)}x) | ${l.p99Us} (${multipleOf(l.p99Us, floor.p99Us)}x) | ${l.p999Us} | ${l.maxUs} | ${p.sendLag.p99Us} | ${verdict} |`;
}

export function markdownReport(r: ReportInput): string {
  const f = r.echo.latency;
  const s = r.sloRun.latency;
  const lines: string[] = [];
  lines.push(`# SLO run ${r.dateIso}${r.quick ? ' (quick)' : ''}`);
  lines.push('');
  lines.push(`**${r.evaluation.met ? 'SLO met' : 'SLO MISSED'}**. Capacity under the SLO: **${r.capacityOrdersPerSec.toLocaleString('en-US')} orders/s**.`);
  lines.push('');
  lines.push(`- commit ${r.commit}${r.dirty ? ' (work tree modified)' : ''}; config \`${r.configName}\`; ${r.durationSec} s`);
  lines.push(`- machine: ${r.machine}`);
  lines.push(`- engine: ${r.engine.target}; durability \`${r.engine.durability}\`, ${r.engine.shards} shard(s), ${r.engine.symbols} symbols, ${r.engine.accounts} accounts (one order session each)`);
  lines.push('- latency: from each request\'s intended send time (open loop) to its ack, microseconds (HdrHistogram, 3 significant digits); "x" = multiple of the echo floor at the same percentile');
  lines.push('');
  lines.push('## SLO targets');
  lines.push('');
  lines.push('| metric | SLO | measured | met |');
  lines.push('| --- | --- | ---: | --- |');
  for (const t of r.evaluation.results) lines.push(`| ${t.metric} | ${t.op} ${t.threshold} | ${t.value ?? 'n/a'} | ${t.met ? 'yes' : '**no**'} |`);
  lines.push('');
  lines.push(`## At the SLO rate (${fmtRate(r.sloRateOrdersPerSec)} orders/s) and the floor`);
  lines.push('');
  lines.push('| | p50 | p90 | p99 | p99.9 | p99.99 | max | count |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  lines.push(`| engine ack (us) | ${s.p50Us} | ${s.p90Us} | ${s.p99Us} | ${s.p999Us} | ${s.p9999Us} | ${s.maxUs} | ${s.count} |`);
  lines.push(`| echo floor (us) | ${f.p50Us} | ${f.p90Us} | ${f.p99Us} | ${f.p999Us} | ${f.p9999Us} | ${f.maxUs} | ${f.count} |`);
  lines.push(`| multiple of floor | ${multipleOf(s.p50Us, f.p50Us)} | ${multipleOf(s.p90Us, f.p90Us)} | ${multipleOf(s.p99Us, f.p99Us)} | ${multipleOf(s.p999Us, f.p999Us)} | ${multipleOf(s.p9999Us, f.p9999Us)} | ${multipleOf(s.maxUs, f.maxUs)} | |`);
  lines.push('');
  const kinds = Object.entries(r.sloRun.requestKinds).map(([k, v]) => `${k} ${v}`).join(', ');
  const rej = Object.entries(r.sloRun.rejectReasons).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  lines.push(`Requests at the SLO rate: ${kinds}; fills ${r.sloRun.fills}; rejected acks: ${rej === '' ? 'none' : rej}.`);
  lines.push('');
  lines.push('## Phases');
  lines.push('');
  lines.push('| phase | target/s | sent/s | acks | lost | p50 us | p99 us | p99.9 us | max us | send lag p99 us | step verdict |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  lines.push(phaseRow(r.echo, f));
  lines.push(phaseRow(r.sloRun, f));
  for (const p of r.steps) lines.push(phaseRow(p, f));
  lines.push('');
  lines.push('"send lag" is how late the load generator sent requests compared with their intended time: when it grows, the client (which shares the machine with the engine) is part of what is measured.');
  lines.push('');
  lines.push('## Plots');
  lines.push('');
  lines.push('- `latency-percentiles.svg`: the percentile spectrum of every phase. x: percentile on a log scale of 1/(1-p) ("nines": 90%, 99%, 99.9% ... equally spaced); y: latency, log scale. Crosses: the SLO limits. A curve that turns up sharply at a high percentile shows rare stalls (GC, journal fsync, scheduling); a curve that is high everywhere shows queueing (the offered rate is above capacity).');
  lines.push('- `throughput.svg`: requests sent and acks received per second over each phase (grey: warm-up, dashed: target rate). Acks falling below sends means a growing backlog.');
  if (r.notes.length > 0) {
    lines.push('');
    lines.push('## Notes');
    lines.push('');
    for (const n of r.notes) lines.push(`- ${n}`);
  }
  lines.push('');
  return lines.join('\n');
}
