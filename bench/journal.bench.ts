// Journal thread throughput and commit latency: records/s by durability (NORMAL, FULL) and group
// commit bound (maxBatchRecords), the per-commit latency distribution as the journal thread saw it,
// and the ack latency (append one record, await waitDurable) on an idle journal.
// Run: npm run build && node dist/bench/journal.bench.js [--quick] [--dir DIR]
// The last stdout line is one JSON object.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, type Durability } from '../persistence/journal.js';
import { fillTestRecord } from '../persistence/journal-test-records.js';

const QUICK = process.argv.includes('--quick');
const dirArg = process.argv.indexOf('--dir');
const baseDir = dirArg > 0 ? process.argv[dirArg + 1]! : tmpdir();
const dir = mkdtempSync(join(baseDir, 'journal-bench-'));
let fileNo = 0;

interface Dist { p50: number; p90: number; p99: number; max: number; mean: number }

function dist(xs: number[]): Dist {
  const s = Float64Array.from(xs).sort();
  const n = s.length;
  const at = (q: number): number => round1(s[Math.min(n - 1, Math.floor(q * n))]!);
  let sum = 0;
  for (const x of s) sum += x;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round1(s[n - 1]!), mean: round1(sum / n) };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

interface Row {
  durability: Durability;
  checkpoint: 'thread' | 'inline';
  maxBatchRecords: number;
  records: number;
  recordsPerS: number;
  commits: number;
  meanBatchRecords: number;
  commitUs: Dist;
  batchUs: Dist;
}

/** Flood `n` records; time from the first append until the watermark reaches n. */
async function flood(durability: Durability, maxBatchRecords: number, n: number, checkpoint: 'thread' | 'inline'): Promise<Row> {
  const path = join(dir, `flood-${++fileNo}.sqlite`);
  const j = await Journal.open({ path, durability, maxBatchRecords, ringCapacity: 16384, checkpoint });
  const rec = new Float64Array(j.ring.recordWords);
  const t0 = performance.now();
  for (let seq = 1; seq <= n; seq++) {
    fillTestRecord(rec, seq);
    while (!j.tryAppend(rec)) await j.waitDurable(j.durableSeq() + 1); // full: sleep until the next commit
  }
  await j.waitDurable(n);
  const elapsedS = (performance.now() - t0) / 1000;
  const stats = await j.close();
  rmSync(path, { force: true });
  return {
    durability,
    checkpoint,
    maxBatchRecords,
    records: n,
    recordsPerS: Math.round(n / elapsedS),
    commits: stats.commits,
    meanBatchRecords: round1(stats.records / stats.commits),
    commitUs: dist(stats.commitUs),
    batchUs: dist(stats.batchUs),
  };
}

/** Idle journal: append one record, await its durability, repeat. */
async function ackLatency(durability: Durability, n: number): Promise<Dist> {
  const path = join(dir, `ack-${++fileNo}.sqlite`);
  const j = await Journal.open({ path, durability });
  const rec = new Float64Array(j.ring.recordWords);
  const us: number[] = [];
  for (let seq = 1; seq <= n; seq++) {
    fillTestRecord(rec, seq);
    const t0 = performance.now();
    if (!j.tryAppend(rec)) throw new Error('ring full on an idle journal');
    await j.waitDurable(seq);
    us.push((performance.now() - t0) * 1000);
  }
  await j.close();
  rmSync(path, { force: true });
  return dist(us);
}

async function main(): Promise<void> {
  const scale = QUICK ? 0.1 : 1;
  const sizes: Record<number, number> = { 1: 20_000, 10: 100_000, 100: 300_000, 1000: 500_000, 4096: 500_000 };
  const rows: Row[] = [];
  const cases: [Durability, number, 'thread' | 'inline'][] = [];
  for (const durability of ['normal', 'full'] as const) {
    for (const batch of [1, 10, 100, 1000, 4096]) cases.push([durability, batch, 'thread']);
    for (const batch of [1000, 4096]) cases.push([durability, batch, 'inline']);
  }
  for (const [durability, batch, checkpoint] of cases) {
    {
      const n = Math.max(1000, Math.round(sizes[batch]! * scale * (durability === 'full' && batch === 1 ? 0.5 : 1)));
      const row = await flood(durability, batch, n, checkpoint);
      rows.push(row);
      console.log(`${durability.padEnd(6)} ckpt ${checkpoint.padEnd(6)} batch<=${String(batch).padEnd(5)} ${String(row.recordsPerS).padStart(9)} rec/s  mean batch ${row.meanBatchRecords}  commit us p50 ${row.commitUs.p50} p99 ${row.commitUs.p99} max ${row.commitUs.max}  batch us p50 ${row.batchUs.p50}`);
    }
  }
  const ack: Record<string, Dist> = {};
  for (const durability of ['normal', 'full'] as const) {
    ack[durability] = await ackLatency(durability, Math.round(3000 * scale));
    console.log(`ack latency ${durability}: ${JSON.stringify(ack[durability])} us`);
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ node: process.version, recordBytes: 128, dir: baseDir, flood: rows, ackLatencyUs: ack }));
}

main().catch((e: unknown) => {
  console.error(e);
  rmSync(dir, { recursive: true, force: true });
  process.exit(1);
});
