// The read side wired to the running engine, against the real PostgreSQL and Redis (each skipped
// with a message when unreachable; PG_TESTS_REQUIRED=1 / REDIS_TESTS_REQUIRED=1 or CI=true turn that
// into a failure): an engine replicating a workload (rows = what the journal's events say), a
// restart that catches up from the journal, a PostgreSQL cut mid-run with the live buffer
// overflowing, and the Redis fan-out of the stream layer, with Redis cut and absent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { InstrumentSpec } from '../../core/instrument.js';
import type { Engine, EngineOptions } from '../../gateway/engine.js';
import { KIT_ACCOUNTS, driveFlow, fundAccounts, kitInstruments, tempDataDir } from '../../gateway/engine-test-kit.js';
import { OrderFlow } from '../../gateway/order-flow.js';
import { Streams, type Publisher } from '../../gateway/streams.js';
import { cleanReplay, startEngine } from '../recovery.js';
import { RedisBus, deleteRedisKeys, redisSkipReason, redisTestUrl } from '../redis.js';
import { createTestSchema, testDatabaseUrl, pgSkipReason, type TestSchema } from './db.js';
import { ledgerBalances } from './engine-source.js';
import { readSideReadiness } from './read-status.js';
import { startReadSide, type ReadSide, type ReadSideOptions } from './read-side.js';
import type { ReplicationRecord } from './replication.js';
import { TcpProxy, viaProxy } from './tcp-proxy.js';
import { dumpTables, diffDumps, modelTables } from './test-model.js';

const skip = await pgSkipReason();
const REDIS_URL = redisTestUrl();
const redisSkip = await redisSkipReason(REDIS_URL);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function options(dataDir: string): EngineOptions {
  return { instruments: kitInstruments(), shards: 2, durability: 'normal', dataDir };
}

async function withSchema(fn: (s: TestSchema) => Promise<void>): Promise<void> {
  const s = await createTestSchema('rs');
  try {
    await fn(s);
  } finally {
    await s.drop();
  }
}

async function readSideFor(engine: Engine, s: TestSchema, url = s.url, over: Partial<ReadSideOptions> = {}): Promise<ReadSide> {
  const rs = await startReadSide({ engine, databaseUrl: url, redisUrl: null, schema: s.schema, applicationName: `rs-${s.schema}`, retryMaxMs: 200, ...over });
  engine.onAck = rs.onAck;
  await rs.started;
  return rs;
}

/** What the journal's events say: every command's events per (seq, instrument), by a clean replay. */
function journalRecords(dir: string, specs: readonly InstrumentSpec[]): ReplicationRecord[] {
  const r = cleanReplay(dir, specs, {}, Number.MAX_SAFE_INTEGER, true);
  const bySeq = new Map<string, { seq: number; id: number; words: number[] }>();
  for (const [id, list] of r.events) {
    for (const e of list) {
      const k = `${e[1]}:${id}`;
      let g = bySeq.get(k);
      if (g === undefined) { g = { seq: e[1]!, id, words: [] }; bySeq.set(k, g); }
      g.words.push(...e);
    }
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq || a.id - b.id)
    .map((g) => ({ kind: 'events', seq: g.seq, instrumentId: g.id, words: Float64Array.from(g.words) }));
}

/** Rows = the model of the journal's events; balances = the engine's final ledger. */
async function assertRowsMatch(s: TestSchema, dir: string, engine: Engine): Promise<void> {
  const specs = kitInstruments();
  const got = await dumpTables(s.sql);
  const want = modelTables(journalRecords(dir, specs), specs);
  assert.ok(want.trades.length > 200, `the workload trades (${want.trades.length})`);
  assert.equal(diffDumps({ ...got, balances: [] }, { ...want, balances: [] }), null);
  const ledger = engine.ledger;
  const rows = new Map(got.balances.map((b) => [`${b.account_id}:${b.asset}`, b]));
  for (const b of got.balances) {
    const a = ledger.assetId(String(b.asset));
    assert.deepEqual([b.available_units, b.locked_units], [ledger.available(Number(b.account_id), a), ledger.locked(Number(b.account_id), a)], `balance ${b.account_id} ${b.asset}`);
  }
  for (const b of ledgerBalances(ledger, 0, 0)) {
    if (b.availableUnits === 0 && b.lockedUnits === 0) continue;
    assert.ok(rows.has(`${b.account}:${b.asset}`), `balance row of ${b.account} ${b.asset} exists`);
  }
}

async function checkpointOf(s: TestSchema): Promise<number> {
  const [cp] = await s.sql`SELECT seq FROM replication_checkpoint WHERE name = 'engine'`;
  return Number(cp!.seq);
}

test('engine -> PostgreSQL: rows equal the events; restart (close + start) catches up from the journal with no gap or duplicate',
  { skip, timeout: 60_000 }, async () => {
    await withSchema(async (s) => {
      const dir = tempDataDir('rs-restart');
      try {
        let { engine } = await startEngine(options(dir));
        let rs = await readSideFor(engine, s);
        await fundAccounts(engine);
        const flow = new OrderFlow(17, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true, gtdUs: 3000 });
        await driveFlow(engine, flow, 2500);
        await engine.snapshot();
        await driveFlow(engine, flow, 1000);
        await rs.caughtUp(20_000);
        assert.equal(await checkpointOf(s), engine.stats().ackedSeq);
        assert.equal(rs.source!.stats().catchUpCommands, 0, 'all live, nothing from the journal');
        await assertRowsMatch(s, dir, engine);

        // The replicator stops first; the engine goes on: PostgreSQL is behind at close.
        await rs.stop(0);
        const behindAt = await checkpointOf(s);
        await driveFlow(engine, flow, 1500);
        await engine.close();
        assert.ok((await checkpointOf(s)) < engine.stats().ackedSeq);

        ({ engine } = await startEngine(options(dir)));
        rs = await readSideFor(engine, s);
        await driveFlow(engine, flow, 1500);
        await rs.caughtUp(30_000);
        const st = rs.source!.stats();
        assert.ok(st.catchUpCommands >= 1500, `the seqs after the checkpoint came from the journal (${st.catchUpCommands})`);
        assert.ok(st.catchUpRebuilds >= 1);
        assert.equal(await checkpointOf(s), engine.stats().ackedSeq);
        assert.ok(behindAt > 0);
        await assertRowsMatch(s, dir, engine);
        const lag = rs.lag()!;
        assert.deepEqual([lag.lagSeqs, lag.lagSeconds, lag.connected], [0, 0, true]);
        await rs.stop();
        await engine.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

test('PostgreSQL cut mid-run: matching goes on, the live buffer overflows into journal catch-up, lag grows then returns to 0',
  { skip, timeout: 60_000 }, async () => {
    await withSchema(async (s) => {
      const dir = tempDataDir('rs-cut');
      const target = new URL(testDatabaseUrl());
      const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
      await proxy.listen();
      try {
        const { engine } = await startEngine(options(dir));
        const rs = await readSideFor(engine, s, viaProxy(s.url, proxy.port), { maxBufferedEvents: 3000, maxLagSeconds: 0.5 });
        await fundAccounts(engine);
        const flow = new OrderFlow(23, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true, gtdUs: 3000 });
        await driveFlow(engine, flow, 1000);
        await rs.caughtUp(20_000);
        assert.equal(readSideReadiness(engine).ok, true);

        proxy.cut();
        const acked0 = engine.stats().ackedSeq;
        const lags: number[] = [];
        for (let i = 0; i < 8; i++) {
          const r = await driveFlow(engine, flow, 400);
          assert.ok(r.accepted > 300, 'matching goes on');
          await sleep(150);
          lags.push(rs.lag()!.lagSeqs);
        }
        const down = rs.lag()!;
        assert.ok(engine.stats().ackedSeq >= acked0 + 3000, 'commands acked while PostgreSQL is away');
        assert.equal(down.connected, false);
        assert.ok(lags[lags.length - 1]! > lags[1]!, `lag grows: ${lags.join(',')}`);
        assert.ok(down.lagSeconds > 0.5, `lag in seconds (${down.lagSeconds})`);
        assert.equal(readSideReadiness(engine).ok, false, '/ready fails over the lag limit');
        const st = rs.source!.stats();
        assert.ok(st.overflows >= 1 && st.droppedCommands > 0, `the live buffer overflowed (${JSON.stringify(st)})`);
        assert.ok(st.bufferedEvents <= 3000);

        proxy.restore();
        await rs.caughtUp(30_000);
        const up = rs.lag()!;
        assert.deepEqual([up.lagSeqs, up.lagSeconds, up.connected], [0, 0, true]);
        assert.equal(readSideReadiness(engine).ok, true);
        assert.ok(rs.source!.stats().catchUpCommands > 0, 'the dropped seqs came from the journal');
        // And live again afterwards.
        await driveFlow(engine, flow, 500);
        await rs.caughtUp(20_000);
        await assertRowsMatch(s, dir, engine);
        await rs.stop();
        await engine.close();
      } finally {
        await proxy.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

/** A uWS stand-in with no local subscribers: everything goes to the remote fan-out only. */
const NO_LOCAL: Publisher = { publish: () => true, numSubscribers: () => 0 };

test('Redis fan-out from the stream layer: market data and balances reach another instance; Redis cut or absent never blocks the engine',
  { skip: redisSkip, timeout: 40_000 }, async () => {
    const dir = tempDataDir('rs-redis');
    const target = new URL(REDIS_URL);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
    await proxy.listen();
    const prefix = `te-test-${process.pid}-${Date.now()}:`;
    const bus = new RedisBus({ url: viaProxy(REDIS_URL, proxy.port), prefix });
    const other = new RedisBus({ url: REDIS_URL, prefix });
    const absent = new RedisBus({ url: 'redis://127.0.0.1:1', prefix });
    const { engine } = await startEngine(options(dir));
    try {
      const streams = new Streams(engine.instruments, engine.ledger, NO_LOCAL, () => null);
      const absentStreams = new Streams(engine.instruments, engine.ledger, NO_LOCAL, () => null);
      streams.setRemote({ publishMarketData: (sym, m) => bus.publishMarketData(sym, m), publishAccountUpdate: (a, m) => bus.publishAccountUpdate(a, m) });
      absentStreams.setRemote({ publishMarketData: (sym, m) => absent.publishMarketData(sym, m), publishAccountUpdate: (a, m) => absent.publishAccountUpdate(a, m) });
      engine.onAck = (a) => { streams.onAck(a); absentStreams.onAck(a); };
      for (let i = 0; i < 300 && !(bus.ready && other.ready); i++) await sleep(10);
      assert.ok(bus.ready && other.ready, 'connected');
      const md: string[] = [], acct: string[] = [];
      await other.subscribe(other.marketDataChannel('AAA-USD'), (m) => md.push(m));
      await other.subscribe(other.accountChannel(1), (m) => acct.push(m));
      await fundAccounts(engine);
      const flow = new OrderFlow(5, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: false, gtdUs: 3000 });
      await driveFlow(engine, flow, 600);
      const hasTrade = (): boolean => md.some((m) => m.includes('"type":"trade"'));
      for (let i = 0; i < 300 && (!hasTrade() || acct.length === 0); i++) await sleep(10);
      const types = new Set(md.map((m) => (JSON.parse(m) as { type: string }).type));
      assert.ok(types.has('trade') && types.size >= 2, `market data published (${[...types].join(',')})`);
      assert.ok(acct.some((m) => (JSON.parse(m) as { type: string }).type === 'balance'), 'balances of account 1 published');

      // Redis goes away: the engine keeps acking, publishes are dropped (counted), nothing throws.
      proxy.cut();
      for (let i = 0; i < 200 && bus.ready; i++) await sleep(10);
      const dropped0 = bus.status().dropped;
      const r = await driveFlow(engine, flow, 600);
      assert.ok(r.accepted > 500);
      assert.ok(bus.status().dropped > dropped0, 'dropped while away');
      assert.ok(absent.status().dropped > 0 && absent.status().published === 0, 'an absent Redis only drops');
      proxy.restore();
      for (let i = 0; i < 400 && !bus.ready; i++) await sleep(10);
      assert.ok(bus.ready, 'reconnected');
      const before = md.length;
      await driveFlow(engine, flow, 300);
      for (let i = 0; i < 200 && md.length === before; i++) await sleep(10);
      assert.ok(md.length > before, 'published again after Redis came back');
      assert.equal(streams.remoteErrors, 0);
      engine.onAck = null;
    } finally {
      await engine.close();
      await bus.close(); await other.close(); await absent.close();
      await proxy.close();
      await deleteRedisKeys(REDIS_URL, prefix);
      rmSync(dir, { recursive: true, force: true });
    }
  });
