// PostgreSQL replication: sustained throughput (events/s written into the local PostgreSQL, COPY vs
// multi-row INSERT ... SELECT FROM unnest) and replication lag under a steady 50,000 events/s.
// "Events" = every record of the replication stream: each 16-word engine event (Accepted, Trade,
// Depth, TopOfBook, ...) plus each balance record; `orderEvents` excludes the market-data ones.
// Run: npm run bench:replication [-- --quick] (DATABASE_URL or the local `test` database).
// The last stdout line is one JSON object.

import { EVENT_WORDS, EventType } from '../core/types.js';
import { createTestSchema, pgReachable, testDatabaseUrl } from '../persistence/pg/db.js';
import { migrate } from '../persistence/pg/migrate.js';
import type { ReplicationRecord } from '../persistence/pg/replication.js';
import { Replicator, type WriteMode } from '../persistence/pg/replicator.js';
import { MemorySource, WORKLOAD_SPECS, WorkloadGenerator, generateWorkload } from '../persistence/pg/workload.js';

const QUICK = process.argv.includes('--quick');
const RATE = 50_000;

function countEvents(records: readonly ReplicationRecord[]): { all: number; order: number } {
  let all = 0, order = 0;
  for (const r of records) {
    if (r.kind === 'balance') { all++; order++; continue; }
    for (let o = 0; o < r.words.length; o += EVENT_WORDS) {
      all++;
      const t = r.words[o]!;
      if (t !== EventType.Depth && t !== EventType.TopOfBook) order++;
    }
  }
  return { all, order };
}

function pct(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function throughput(mode: WriteMode, maxBatchRecords: number, commands: number): Promise<Record<string, number | string>> {
  const { records, gen } = generateWorkload({ seed: 7, commands });
  const ev = countEvents(records);
  const s = await createTestSchema('bench');
  try {
    await migrate(s.sql);
    const rep = new Replicator({ url: s.url, schema: s.schema, source: new MemorySource(records), instruments: WORKLOAD_SPECS, writeMode: mode, maxBatchRecords });
    const t0 = performance.now();
    rep.start();
    await rep.waitFor(gen.seq, 300_000);
    const sec = (performance.now() - t0) / 1000;
    const lag = rep.lag();
    await rep.stop();
    return { mode, maxBatchRecords, records: records.length, events: ev.all, seconds: Math.round(sec * 100) / 100,
      eventsPerSec: Math.round(ev.all / sec), orderEventsPerSec: Math.round(ev.order / sec), batches: lag.batches };
  } finally {
    await s.drop();
  }
}

async function steady(mode: WriteMode, seconds: number): Promise<Record<string, number | string>> {
  const s = await createTestSchema('bench');
  try {
    await migrate(s.sql);
    const gen = new WorkloadGenerator({ seed: 9, commands: 0 });
    const src = new MemorySource();
    const lagsMs: number[] = [];
    const rep = new Replicator({
      url: s.url, schema: s.schema, source: src, instruments: WORKLOAD_SPECS, writeMode: mode, maxBatchRecords: 20_000, idleMs: 2,
      onCommit: (recs, info) => {
        for (const r of recs) {
          const ts = r.kind === 'balance' ? r.tsUs : r.words[2];
          if (ts !== undefined) lagsMs.push((info.committedWallUs - ts) / 1000);
        }
      },
    });
    rep.start();
    const start = performance.now();
    let produced = 0;
    let maxLagSeqs = 0;
    while (performance.now() - start < seconds * 1000) {
      const due = ((performance.now() - start) / 1000) * RATE;
      while (produced < due) {
        const recs = gen.step(Date.now() * 1000);
        src.append(recs);
        produced += countEvents(recs).all;
      }
      rep.notify();
      maxLagSeqs = Math.max(maxLagSeqs, rep.lag().lagSeqs);
      await new Promise((r) => setTimeout(r, 1));
    }
    const elapsed = (performance.now() - start) / 1000;
    await rep.waitFor(gen.seq, 60_000);
    const drainMs = performance.now() - start - elapsed * 1000;
    const lag = rep.lag();
    await rep.stop();
    const sorted = Float64Array.from(lagsMs).sort();
    return {
      mode, seconds: Math.round(elapsed * 10) / 10, offeredEventsPerSec: Math.round(produced / elapsed), records: lagsMs.length,
      batches: lag.batches, lagP50Ms: pct(sorted, 0.5), lagP99Ms: pct(sorted, 0.99), lagMaxMs: sorted[sorted.length - 1] ?? 0,
      maxLagSeqs, drainAfterStopMs: Math.round(drainMs),
    };
  } finally {
    await s.drop();
  }
}

async function main(): Promise<void> {
  const url = testDatabaseUrl();
  if (!(await pgReachable(url, 2000))) {
    process.stdout.write(`${JSON.stringify({ skipped: `PostgreSQL not reachable at ${url}` })}\n`);
    return;
  }
  const commands = QUICK ? 20_000 : 100_000;
  const rows: Array<Record<string, number | string>> = [];
  for (const [mode, batch] of [['copy', 2000], ['insert', 2000], ['copy', 8000], ['insert', 8000], ['copy', 20000]] as const) {
    const r = await throughput(mode, batch, commands);
    rows.push(r);
    process.stdout.write(`throughput ${JSON.stringify(r)}\n`);
  }
  const best = rows.reduce((a, b) => (Number(b.eventsPerSec) > Number(a.eventsPerSec) ? b : a));
  const steadyRows: Array<Record<string, number | string>> = [];
  for (const mode of ['copy', 'insert'] as const) {
    const r = await steady(mode, QUICK ? 4 : 10);
    steadyRows.push(r);
    process.stdout.write(`steady ${JSON.stringify(r)}\n`);
  }
  const bestSteady = steadyRows.find((r) => r.mode === best.mode) ?? steadyRows[0]!;
  process.stdout.write(`${JSON.stringify({
    replicatedEventsPerSec: best.eventsPerSec, replicatedOrderEventsPerSec: best.orderEventsPerSec, bestMode: best.mode,
    bestMaxBatchRecords: best.maxBatchRecords, lagP99Ms: bestSteady.lagP99Ms, lagP50Ms: bestSteady.lagP50Ms,
    steadyOfferedEventsPerSec: bestSteady.offeredEventsPerSec, steadyMode: bestSteady.mode,
    throughput: rows, steady: steadyRows,
  })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
