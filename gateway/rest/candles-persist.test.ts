// Persistent OHLCV candles of the REST shim (candle-feed.ts): trades through the REST API, then a
// clean restart and SIGKILLed children on the same data dir; every /ohlcv answer must equal the
// candles recomputed by brute force from a clean replay of the journal (each trade exactly once).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { INTERVAL_US, INTERVALS } from '../../marketdata/candles.js';
import { createTestSchema, pgSkipReason, testDatabaseUrl } from '../../persistence/pg/db.js';
import { migrate } from '../../persistence/pg/migrate.js';
import { tempDataDir } from '../engine-test-kit.js';
import { bruteForceCandles, tradePair, type RestCandle } from './candles-persist-kit.js';
import { CANDLE_FILE } from './mount.js';
import { call, REST_INSTRUMENTS, startRestKit, type RestKit } from './test-kit.js';

const pgSkip = await pgSkipReason(testDatabaseUrl());

const SYMBOLS = REST_INSTRUMENTS.map((s) => s.symbol);

interface Answers { candles: Map<string, RestCandle[]>; since: Set<string | null>; sources: Set<string> }

/** Every symbol's and interval's /ohlcv (all candles). */
async function ohlcvAll(k: RestKit): Promise<Answers> {
  const out: Answers = { candles: new Map(), since: new Set(), sources: new Set() };
  for (const symbol of SYMBOLS) {
    for (const interval of INTERVALS) {
      const r = await call(k.base, 'GET', `/api/v1/market-data/ohlcv?symbol=${symbol}&interval=${interval}&limit=1000`, { token: k.users['viewer']!.token });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      out.candles.set(`${symbol} ${interval}`, r.body.data);
      out.since.add(r.body.since);
      out.sources.add(r.body.history_source);
    }
  }
  return out;
}

/** /ohlcv equals the brute-force candles of the whole journal; returns the journal's trade count. */
async function assertExact(k: RestKit, dataDir: string, what: string): Promise<number> {
  const got = await ohlcvAll(k);
  const want = bruteForceCandles(dataDir, REST_INSTRUMENTS, k.rest.context);
  assert.ok(want.trades > 0, `${what}: the journal has trades`);
  assert.deepEqual(got.candles, want.candles, `${what}: /ohlcv equals the brute-force candles`);
  assert.deepEqual([...got.since], [null], `${what}: since is null (every trade of the journal is included)`);
  assert.deepEqual([...got.sources], ['memory']);
  return want.trades;
}

async function pairs(k: RestKit, n: number, rnd: () => number): Promise<void> {
  const send = (m: string, p: string, o: { token: string; body: unknown }) => call(k.base, m, p, o);
  for (let i = 0; i < n; i++) await tradePair(send, k.users['trader2']!.token, k.users['trader']!.token, rnd);
}

function seeded(seed: number): () => number {
  let s = seed;
  return () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
}

function fileState(dataDir: string): { watermark: number; trades: number } {
  const db = new Database(join(dataDir, CANDLE_FILE));
  try {
    const w = db.prepare("SELECT value FROM candle_meta WHERE key = 'watermark_seq'").get() as { value: number } | undefined;
    const t = db.prepare("SELECT coalesce(sum(trade_count), 0) AS n FROM candles WHERE interval = '1d'").get() as { n: number };
    return { watermark: w?.value ?? 0, trades: t.n };
  } finally {
    db.close();
  }
}

const start = async (dataDir: string, history: { url: string; schema: string } | null = null): Promise<RestKit> => {
  const k = await startRestKit({ dataDir, history }, { dataDir });
  await k.rest.candles.ready;
  return k;
};

/** Runs the crash child until it printed `killAfter` pairs, SIGKILLs it; returns the watermarks it printed. */
async function runAndKill(dataDir: string, flushMs: number, flushAfter: number, killAfter: number, seed: number): Promise<number[]> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./candles-crash-child.js', import.meta.url)), dataDir, String(flushMs), String(flushAfter), String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const watermarks: number[] = [];
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const m = /^traded (\d+) watermark (\d+)$/.exec(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (m === null) continue;
        watermarks.push(Number(m[2]));
        if (Number(m[1]) === killAfter) { child.kill('SIGKILL'); resolve(); }
      }
    });
    child.on('exit', (code, signal) => { if (signal !== 'SIGKILL') reject(new Error(`child exited early (${code}): ${stderr}`)); });
  });
  await new Promise<void>((resolve) => { if (child.exitCode !== null || child.signalCode !== null) resolve(); else child.on('exit', () => resolve()); });
  return watermarks;
}

describe('rest: persistent candles (<dataDir>/candles.sqlite)', () => {
  it('a clean restart serves the same candles, since = null, and live trades after it are counted once', async () => {
    const dataDir = tempDataDir('candles');
    const rnd = seeded(7);
    const k1 = await start(dataDir);
    await pairs(k1, 12, rnd);
    await k1.engine.snapshot(); // the next start's catch-up begins from a snapshot set
    await pairs(k1, 12, rnd);
    const trades = await assertExact(k1, dataDir, 'before the restart');
    const before = await ohlcvAll(k1);
    await k1.close();
    const f = fileState(dataDir);
    assert.equal(f.trades, trades, 'close wrote every trade to the file');

    const k2 = await start(dataDir);
    try {
      assert.ok(k2.rest.candles.watermark >= f.watermark);
      assert.deepEqual((await ohlcvAll(k2)).candles, before.candles, 'same candles after the restart');
      await pairs(k2, 8, rnd);
      const after = await assertExact(k2, dataDir, 'after live trades');
      assert.ok(after > trades);
    } finally {
      await k2.close();
    }
  });

  it('SIGKILL before a flush loses nothing: the restart replays the journal after the watermark, each trade once', async () => {
    const dataDir = tempDataDir('candles-crash');
    // Round 1: the child writes the file once, after 6 pairs, then trades on unflushed until killed.
    const printed = await runAndKill(dataDir, 1e9, 6, 14, 11);
    const f = fileState(dataDir);
    assert.equal(f.watermark, printed[5], 'the file is at the explicit flush');
    const k1 = await start(dataDir);
    let trades: number;
    try {
      trades = await assertExact(k1, dataDir, 'after the first crash');
      assert.ok(f.trades > 0 && f.trades < trades, `the crash left trades only in the journal (file ${f.trades}, journal ${trades})`);
      assert.ok(k1.rest.candles.watermark > f.watermark, 'the catch-up moved the watermark');
    } finally {
      await k1.close();
    }
    // Round 2: flushing every 5 ms while trading, killed at a point of no one's choosing.
    await runAndKill(dataDir, 5, -1, 9 + Math.floor(Math.random() * 8), 23);
    const k2 = await start(dataDir);
    try {
      assert.ok(await assertExact(k2, dataDir, 'after the second crash') > trades);
    } finally {
      await k2.close();
    }
  });

  it('without a data dir the store is in memory: since is the start time, as the schema says', async () => {
    const k = await startRestKit();
    try {
      await pairs(k, 2, seeded(3));
      const a = await ohlcvAll(k);
      assert.deepEqual([...a.since], [k.rest.context.sinceIso]);
      assert.equal(k.rest.candles.persistent, false);
      const n = [...a.candles].filter(([key]) => key.endsWith(' 1d')).reduce((s, [, rows]) => s + rows.reduce((x, r) => x + r.trade_count, 0), 0);
      assert.ok(n >= 2, 'the live trades are there');
    } finally {
      await k.close();
    }
  });

  it('with PostgreSQL history: the file\'s candles win over stale market_data rows, older PostgreSQL candles are kept', { skip: pgSkip ?? false }, async () => {
    const db = await createTestSchema('rest_candles');
    const dataDir = tempDataDir('candles-pg');
    try {
      await migrate(db.sql, { timescale: 'off' });
      const history = { url: db.url, schema: db.schema };
      const k1 = await start(dataDir, history);
      await pairs(k1, 6, seeded(5));
      await k1.close();
      // No replicator: market_data holds a stale row for today's 1d candle of each symbol (as a lagging
      // replicator would) and one candle of ten days ago that the journal knows nothing of.
      const dayUs = INTERVAL_US['1d'];
      const todayUs = Math.floor(Date.now() * 1000 / dayUs) * dayUs;
      for (const [id, symbol] of REST_INSTRUMENTS.map((x) => [x.id, x.symbol] as const)) {
        for (const [openUs, n] of [[todayUs, 1], [todayUs - 10 * dayUs, 4]] as const) {
          await db.sql`INSERT INTO market_data (time, symbol, exchange, timeframe, instrument_id, open_ticks, high_ticks, low_ticks, close_ticks, volume_lots, quote_volume_units, trades_count)
            VALUES (${new Date(openUs / 1000)}, ${symbol}, 'engine', '1d', ${id}, 1, 1, 1, 1, 1, 1, ${n})`;
        }
      }
      // A restart: the stale rows' bucket opened before this gateway did (the in-memory rule gave it to PostgreSQL).
      const k2 = await start(dataDir, history);
      try {
        const want = bruteForceCandles(dataDir, REST_INSTRUMENTS, k2.rest.context).candles;
        for (const symbol of SYMBOLS) {
          const r = await call(k2.base, 'GET', `/api/v1/market-data/ohlcv?symbol=${symbol}&interval=1d`, { token: k2.users['viewer']!.token });
          assert.equal(r.status, 200, JSON.stringify(r.body));
          assert.equal(r.body.history_source, 'postgresql');
          assert.equal(r.body.since, null);
          assert.equal(r.body.data.length, 1 + want.get(`${symbol} 1d`)!.length, JSON.stringify(r.body.data));
          assert.equal(r.body.data[0].open_time, new Date((todayUs - 10 * dayUs) / 1000).toISOString());
          assert.equal(r.body.data[0].trade_count, 4, 'the older candle comes from PostgreSQL');
          assert.deepEqual(r.body.data.slice(1), want.get(`${symbol} 1d`), 'today\'s candle comes from the file, exact');
        }
      } finally {
        await k2.close();
      }
    } finally {
      await db.drop();
    }
  });
});
