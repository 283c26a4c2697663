// Replicator against the real PostgreSQL (skipped with a message when it is not reachable):
// migrations, replication equality (real OrderBooks -> events -> rows, field by field), injected
// failures between statements, and a connection cut mid-run (lag grows, then returns to zero).
// Each test uses its own schema, dropped at the end.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDump } from '../../testing/fixtures.js';
import { createTestSchema, pgSkipReason, testDatabaseUrl, type TestSchema } from './db.js';
import { loadMigrations, migrate } from './migrate.js';
import { Replicator, type ReplicatorOptions } from './replicator.js';
import { dumpTables, diffDumps, modelTables } from './test-model.js';
import { MemorySource, WorkloadGenerator, WORKLOAD_SPECS, generateWorkload, prng } from './workload.js';
import { TcpProxy, viaProxy } from './tcp-proxy.js';

const skip = await pgSkipReason();

async function withSchema(fn: (s: TestSchema) => Promise<void>): Promise<void> {
  const s = await createTestSchema('rt');
  try {
    await migrate(s.sql);
    await fn(s);
  } finally {
    await s.drop();
  }
}

function replicator(s: TestSchema, o: Partial<ReplicatorOptions> & Pick<ReplicatorOptions, 'source'>): Replicator {
  return new Replicator({ url: s.url, schema: s.schema, instruments: WORKLOAD_SPECS, idleMs: 2, retryMinMs: 5, retryMaxMs: 50, ...o });
}

test('migrations apply once, in order, and the plain (non-Timescale) path has BRIN indexes on time', { skip, timeout: 30_000 }, async () => {
  await withSchema(async (s) => {
    const again = await migrate(s.sql);
    assert.deepEqual(again.applied, [], 'a second run applies nothing');
    assert.equal(again.alreadyApplied, loadMigrations().length);
    const versions = await s.sql`SELECT version, name FROM schema_migrations ORDER BY version`;
    assert.deepEqual(versions.map((r) => `${r.version}_${r.name}`), ['1_core', '2_timeseries', '3_historical_trades', '4_client_order_text']);
    const tables = (await s.sql`SELECT table_name FROM information_schema.tables WHERE table_schema = ${s.schema} ORDER BY 1`).map((r) => r.table_name);
    for (const t of ['users', 'trading_accounts', 'instruments', 'orders', 'trades', 'positions', 'account_balances', 'trading_strategies',
      'strategy_executions', 'market_data', 'trading_signals', 'portfolio_metrics', 'replication_checkpoint', 'schema_migrations', 'historical_trades']) {
      assert.ok(tables.includes(t), `table ${t}`);
    }
    if (!again.timescale) {
      const brin = await s.sql`SELECT indexname FROM pg_indexes WHERE schemaname = ${s.schema} AND indexdef ILIKE '%USING brin%'`;
      assert.ok(brin.some((r) => r.indexname === 'idx_trades_ts_brin'));
      assert.ok(brin.some((r) => r.indexname === 'idx_market_data_time_brin'));
    }
  });
});

for (const writeMode of ['copy', 'insert'] as const) {
  test(`replication equality (${writeMode}): rows equal what the events say, field by field, and the books' open orders`, { skip, timeout: 60_000 }, async () => {
    await withSchema(async (s) => {
      const { records, gen } = generateWorkload({ seed: writeMode === 'copy' ? 11 : 12, commands: 6000 });
      const src = new MemorySource(records);
      const rep = replicator(s, { source: src, writeMode, maxBatchRecords: 700 });
      rep.start();
      await rep.waitFor(gen.seq, 50_000);
      assert.deepEqual({ ...rep.lag(), lastError: null }, { ...rep.lag(), checkpointSeq: gen.seq, lagSeqs: 0, lagSeconds: 0, lastError: null });
      await rep.stop();
      const got = await dumpTables(s.sql);
      const want = modelTables(records, WORKLOAD_SPECS);
      assert.ok(want.trades.length > 1000 && want.orders.length > 3000, 'the workload trades');
      assert.ok(new Set(want.orders.map((o) => o.status)).size === 5, 'every status occurs');
      assert.ok(want.orders.some((o) => o.triggered === true), 'stop orders triggered');
      assert.equal(diffDumps(got, want), null);
      // The open orders in PostgreSQL are exactly the books' resting and pending orders.
      const open = got.orders.filter((o) => o.status === 'new' || o.status === 'partially_filled');
      const fromBooks = gen.books.flatMap((b, i) => {
        const d = parseDump(b.stateDump());
        return [...d.bids, ...d.asks, ...d.pending].map((o) => ({ id: o.orderId, inst: WORKLOAD_SPECS[i]!.id, rem: o.remainingLots, filled: o.filledLots }));
      }).sort((a, b) => a.id - b.id);
      assert.deepEqual(open.map((o) => ({ id: o.order_id, inst: o.instrument_id, rem: o.remaining_lots, filled: o.filled_lots })), fromBooks);
      // Positions: the books' net positions.
      for (const [i, b] of gen.books.entries()) {
        const d = parseDump(b.stateDump());
        for (const a of d.accounts) {
          const p = got.positions.find((r) => r.account_id === a.account && r.instrument_id === WORKLOAD_SPECS[i]!.id);
          assert.equal(p?.net_lots ?? 0, a.positionLots, `position of ${a.account} in ${WORKLOAD_SPECS[i]!.symbol}`);
        }
      }
      const [cp] = await s.sql`SELECT seq, records FROM replication_checkpoint WHERE name = 'default'`;
      assert.equal(cp!.seq, gen.seq);
      assert.equal(cp!.records, records.length);
    });
  });
}

test('injected failures between statements (and after COMMIT): same rows and checkpoint as an uninterrupted run', { skip, timeout: 60_000 }, async () => {
  await withSchema(async (s) => {
    const { records, gen } = generateWorkload({ seed: 21, commands: 4000 });
    const rnd = prng(5);
    let faults = 0;
    const stages = new Set<string>();
    const rep = replicator(s, {
      source: new MemorySource(records), maxBatchRecords: 300,
      fault: (stage) => {
        if (rnd() < 0.08) { faults++; stages.add(stage); throw new Error(`injected failure at ${stage}`); }
      },
    });
    rep.start();
    await rep.waitFor(gen.seq, 50_000);
    const lag = rep.lag();
    await rep.stop();
    assert.ok(faults >= 10, `at least 10 failures injected (${faults})`);
    assert.ok(stages.has('after-commit'), 'a failure after a COMMIT was injected');
    assert.ok(lag.failures === faults);
    assert.equal(diffDumps(await dumpTables(s.sql), modelTables(records, WORKLOAD_SPECS)), null);
    const [cp] = await s.sql`SELECT seq, records FROM replication_checkpoint WHERE name = 'default'`;
    assert.deepEqual([cp!.seq, cp!.records], [gen.seq, records.length]);
  });
});

test('connection cut mid-run (proxy down, pg_terminate_backend): lag grows, then returns to zero; rows complete', { skip, timeout: 60_000 }, async () => {
  await withSchema(async (s) => {
    const proxy = new TcpProxy(new URL(testDatabaseUrl()).hostname, Number(new URL(testDatabaseUrl()).port || 5432));
    await proxy.listen();
    const gen = new WorkloadGenerator({ seed: 31, commands: 0, startTsUs: Date.now() * 1000 });
    const src = new MemorySource();
    const app = `repl-cut-${s.schema}`;
    const rep = new Replicator({
      url: viaProxy(s.url, proxy.port), schema: s.schema, instruments: WORKLOAD_SPECS, source: src, idleMs: 2,
      retryMinMs: 10, retryMaxMs: 100, applicationName: app,
    });
    const feed = (n: number): void => { for (let i = 0; i < n; i++) src.append(gen.step(Date.now() * 1000)); };
    try {
      rep.start();
      feed(500);
      await rep.waitFor(gen.seq, 20_000);
      assert.equal(rep.lag().lagSeqs, 0);

      proxy.cut();
      const samples: number[] = [];
      for (let i = 0; i < 15; i++) {
        feed(100);
        await new Promise((r) => setTimeout(r, 100));
        samples.push(rep.lag().lagSeqs);
      }
      const down = rep.lag();
      assert.equal(down.connected, false);
      assert.ok(down.lagSeqs >= 1000, `lag in seqs grows while down (${down.lagSeqs})`);
      assert.ok(down.lagSeconds > 1, `lag in seconds grows while down (${down.lagSeconds})`);
      assert.ok(samples[samples.length - 1]! > samples[2]!, `lag increases: ${samples.join(',')}`);

      proxy.restore();
      await rep.waitFor(gen.seq, 20_000);
      const up = rep.lag();
      assert.deepEqual([up.lagSeqs, up.lagSeconds, up.connected], [0, 0, true]);

      // A backend killed by the server side.
      feed(300);
      const killed = await s.sql`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = ${app}`;
      assert.ok(killed.length >= 1, 'the replicator connection was found');
      feed(300);
      await rep.waitFor(gen.seq, 20_000);
      assert.equal(rep.lag().lagSeqs, 0);
    } finally {
      await rep.stop();
      await proxy.close();
    }
    assert.equal(diffDumps(await dumpTables(s.sql), modelTables(src.records, WORKLOAD_SPECS)), null);
  });
});
