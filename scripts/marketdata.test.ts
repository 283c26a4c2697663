// The market-data CLI run as operators run it (the compiled script in a child process, on temp
// files) against the embedded SQLite store and, when it answers, PostgreSQL in a schema of its own;
// bad-input cases in-process (runMarketData). Fixtures use the default configuration's BTC-USDT:
// tick 0.01, lot 0.00001, 8 quote decimals.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { importCandlesCsv, importTradesCsv } from '../marketdata/csv.js';
import { HISTORY_SQLITE_FILE } from '../marketdata/history-store.js';
import { createTestSchema, pgSkipReason, type TestSchema } from '../persistence/pg/db.js';
import { EXIT_FAILED, EXIT_OK, EXIT_REJECTED, EXIT_USAGE, runMarketData, type MarketDataIo } from './marketdata.js';

const pgSkip = await pgSkipReason();

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'marketdata.js');

/** Binance kline layout with its header; lines 3-6 are bad, line 8 is blank. */
const KLINES = [
  'open_time,open,high,low,close,volume,close_time,quote_asset_volume,number_of_trades,taker_buy_base_asset_volume,taker_buy_quote_asset_volume,ignore',
  '1700000040000,60000.01000000,60010.00000000,59990.50000000,60005.25000000,1.50000000,1700000099999,90007.51500000,42,0.7,42000.1,0',
  '1700000100000,60005.25,60005.255,60000.00,60001.00,0.1,1700000159999,6000.1,3,0,0,0',
  '1700000160000,60001.00,59990.00,60000.00,60000.00,0.1,1700000219999,6000,2,0,0,0',
  '1700000X00000,60000.00,60001.00,59999.00,60000.00,0.1,1700000279999,6000,2,0,0,0',
  '1700000220000,60000.00,60001.00,59999.00',
  '1700000280000,60000.00,60002.00,59998.00,60001.00,0.00010000,1700000339999,6.0001,1,0,0,0',
  '',
  '1700000340000,60001.00,60001.00,60001.00,60001.00,0,1700000399999,0,0,0,0,0',
].join('\n') + '\n';

/** The valid rows of KLINES as stored: [open time us, open, high, low, close (ticks), volume (lots), quote volume (units), count]. */
const KLINE_ROWS = [
  [1_700_000_040_000_000, 6_000_001, 6_001_000, 5_999_050, 6_000_525, 150_000, 9_000_751_500_000, 42],
  [1_700_000_280_000_000, 6_000_000, 6_000_200, 5_999_800, 6_000_100, 10, 600_010_000, 1],
  [1_700_000_340_000_000, 6_000_100, 6_000_100, 6_000_100, 6_000_100, 0, 0, 0],
];

const KLINES_EXPORTED = [
  'open_time,open,high,low,close,volume,close_time,quote_volume,count',
  '1700000040000,60000.01,60010,59990.5,60005.25,1.5,1700000099999,90007.515,42',
  '1700000280000,60000,60002,59998,60001,0.0001,1700000339999,6.0001,1',
  '1700000340000,60001,60001,60001,60001,0,1700000399999,0,0',
].join('\n') + '\n';

/** Binance trade layout (no header, with is_best_match); lines 3-5 are bad. */
const TRADES = [
  '1001,60000.00,0.01000,600.00,1700000000000,true,true',
  '1002,60000.01,0.00500,300.00005,1700000000500,false,true',
  '1003,60000.015,0.00100,60,1700000001000,false,true',
  '1004,60000.02,0.00100,60.00002,1700000001000,maybe,true',
  '1002,60000.02,0.00100,60.00002,1700000002000,false,true',
  '1005,60000.03,0.00200,120.00006,1700000003000,false,true',
].join('\n') + '\n';

/** Trade 1002 again with a corrected time and price. */
const TRADE_FIX = '1002,60000.05,0.00500,300.00025,1700000000600,false,true\n';

const TRADES_EXPORTED_AFTER_FIX = [
  'id,price,qty,quote_qty,time,is_buyer_maker',
  '1001,60000,0.01,600,1700000000000000,true',
  '1002,60000.05,0.005,300.00025,1700000000600000,false',
  '1005,60000.03,0.002,120.00006,1700000003000000,false',
].join('\n') + '\n';

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['ENGINE_CONFIG', 'ENGINE_DATA_DIR', 'DATABASE_URL', 'PGSCHEMA']) delete env[k];
  return { ...env, ...extra };
}

interface Run {
  code: number;
  out: string;
  err: string;
}

function cli(args: string[], env: Record<string, string> = {}, input = ''): Run {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { input, env: cleanEnv(env), encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

async function inProcess(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: MarketDataIo = { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: () => '', writeStdout: (c) => { out.push(c); }, env };
  return { code: await runMarketData(args, io), out: out.join('\n'), err: err.join('\n') };
}

/** Every stored candle of the SQLite store, in key order. */
function sqliteCandles(dir: string): unknown[] {
  const db = new Database(join(dir, HISTORY_SQLITE_FILE), { readonly: true });
  try {
    return db.prepare('SELECT * FROM historical_candles ORDER BY source, symbol, interval, open_time_us').all();
  } finally {
    db.close();
  }
}

function sqliteTrades(dir: string): unknown[] {
  const db = new Database(join(dir, HISTORY_SQLITE_FILE), { readonly: true });
  try {
    return db.prepare('SELECT * FROM historical_trades ORDER BY source, symbol, trade_id').all();
  } finally {
    db.close();
  }
}

const INST = { symbol: 'BTC-USDT', tickSize: '0.01', lotSize: '0.00001', quoteDecimals: 8, notionalUnitsPerTickLot: 1000 };

function candleTuples(rows: readonly Record<string, unknown>[], names: readonly string[]): number[][] {
  return rows.map((r) => names.map((n) => Number(r[n])));
}

const SQLITE_CANDLE_COLS = ['open_time_us', 'open_ticks', 'high_ticks', 'low_ticks', 'close_ticks', 'volume_lots', 'quote_volume_units', 'trade_count'];

describe('marketdata CLI, embedded SQLite store', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'marketdata-cli-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('imports the valid kline rows and reports each bad row by line and reason (exit 3)', () => {
    const r = cli(['import-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--file', file('klines.csv', KLINES), '--source', 'binance', '--data-dir', dir]);
    assert.equal(r.code, EXIT_REJECTED, r.err);
    assert.match(r.out, /rows read: 7, imported: 3, rejected: 4/);
    assert.match(r.out, /written: 3 new, 0 changed, 0 unchanged/);
    assert.match(r.out, /line 3: high "60005\.255" is not a multiple of 0\.01/);
    assert.match(r.out, /line 4: high is below open, close or low/);
    assert.match(r.out, /line 5: time "1700000X00000" is neither epoch/);
    assert.match(r.out, /line 6: expected at least 6 columns .* got 4/);
    const rows = sqliteCandles(dir) as Record<string, unknown>[];
    assert.deepEqual(rows.map((x) => [x.source, x.symbol, x.interval]), Array(3).fill(['binance', 'BTC-USDT', '1m']));
    assert.deepEqual(candleTuples(rows, SQLITE_CANDLE_COLS), KLINE_ROWS);
  });

  it('re-importing the same file changes nothing and says so', () => {
    const before = sqliteCandles(dir);
    const r = cli(['import-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--file', join(dir, 'klines.csv'), '--source', 'binance', '--data-dir', dir, '--json']);
    assert.equal(r.code, EXIT_REJECTED, r.err);
    const rep = JSON.parse(r.out) as Record<string, unknown>;
    assert.deepEqual([rep.rowsRead, rep.imported, rep.inserted, rep.updated, rep.unchanged, rep.rejectedCount], [7, 3, 0, 0, 3, 4]);
    assert.deepEqual((rep.rejected as { line: number }[]).map((x) => x.line), [3, 4, 5, 6]);
    assert.deepEqual(sqliteCandles(dir), before);
  });

  it('exports what was imported; the export imports back to the same rows (round trip) and exports identically', () => {
    const out = join(dir, 'export.csv');
    const r = cli(['export-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--source', 'binance', '--file', out, '--data-dir', dir]);
    assert.equal(r.code, EXIT_OK, r.err);
    assert.match(r.out, /: 3 rows/);
    const text = readFileSync(out, 'utf8');
    assert.equal(text, KLINES_EXPORTED);
    assert.deepEqual(importCandlesCsv(text, INST, '1m').rows, importCandlesCsv(KLINES, INST, '1m').rows);

    const back = cli(['import-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--file', out, '--source', 'copy', '--data-dir', dir]);
    assert.equal(back.code, EXIT_OK, back.err);
    const again = cli(['export-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--source', 'copy', '--data-dir', dir]);
    assert.equal(again.code, EXIT_OK, again.err);
    assert.equal(again.out, KLINES_EXPORTED, 'CSV on stdout, the report on stderr');
    assert.match(again.err, /-> \(stdout\): 3 rows/);

    const range = cli(['export-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--source', 'binance', '--data-dir', dir,
      '--from', '2023-11-14T22:18:00Z', '--to', '1700000340']);
    assert.equal(range.code, EXIT_OK, range.err);
    assert.deepEqual(range.out.trim().split('\n').slice(1).map((l) => l.split(',')[0]), ['1700000280000', '1700000340000'], 'both bounds inclusive');
  });

  it('trades: imports the valid rows, a corrected trade replaces its id (also its time), export round-trips', () => {
    const r = cli(['import-trades', '--symbol', 'BTC-USDT', '--file', file('trades.csv', TRADES), '--source', 'binance', '--data-dir', dir]);
    assert.equal(r.code, EXIT_REJECTED, r.err);
    assert.match(r.out, /rows read: 6, imported: 3, rejected: 3/);
    assert.match(r.out, /line 3: price "60000\.015" is not a multiple of 0\.01/);
    assert.match(r.out, /line 4: is_buyer_maker "maybe" is not true\/false/);
    assert.match(r.out, /line 5: duplicate id 1002/);

    const fix = cli(['import-trades', '--symbol', 'BTC-USDT', '--file', file('fix.csv', TRADE_FIX), '--source', 'binance', '--data-dir', dir]);
    assert.equal(fix.code, EXIT_OK, fix.err);
    assert.match(fix.out, /written: 0 new, 1 changed, 0 unchanged/);
    const stored = sqliteTrades(dir) as Record<string, unknown>[];
    assert.deepEqual(stored.map((t) => [t.trade_id, t.ts_us, t.price_ticks, t.qty_lots, t.notional_units, t.taker_side]), [
      [1001, 1_700_000_000_000_000, 6_000_000, 1000, 60_000_000_000, 1],
      [1002, 1_700_000_000_600_000, 6_000_005, 500, 30_000_025_000, 0],
      [1005, 1_700_000_003_000_000, 6_000_003, 200, 12_000_006_000, 0],
    ]);

    const ex = cli(['export-trades', '--symbol', 'BTC-USDT', '--source', 'binance', '--data-dir', dir]);
    assert.equal(ex.code, EXIT_OK, ex.err);
    assert.equal(ex.out, TRADES_EXPORTED_AFTER_FIX);
    assert.deepEqual(importTradesCsv(ex.out, INST).rows.map((t) => t.tradeId), [1001, 1002, 1005]);
    const again = cli(['import-trades', '--symbol', 'BTC-USDT', '--file', file('trades-export.csv', ex.out), '--source', 'binance', '--data-dir', dir]);
    assert.equal(again.code, EXIT_OK, again.err);
    assert.match(again.out, /written: 0 new, 0 changed, 3 unchanged/);
  });

  it('--dry-run and --strict validate and report but write nothing; stdin works as --file -', () => {
    const fresh = mkdtempSync(join(tmpdir(), 'marketdata-dry-'));
    try {
      const dry = cli(['import-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--file', '-', '--data-dir', fresh, '--dry-run'], {}, KLINES);
      assert.equal(dry.code, EXIT_REJECTED, dry.err);
      assert.match(dry.out, /dry run: nothing written \(3 valid rows\)/);
      assert.ok(!existsSync(join(fresh, HISTORY_SQLITE_FILE)), 'a dry run creates no store');
      const strict = cli(['import-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--file', '-', '--data-dir', fresh, '--strict'], {}, KLINES);
      assert.equal(strict.code, EXIT_REJECTED, strict.err);
      assert.match(strict.out, /--strict: nothing written/);
      assert.ok(!existsSync(join(fresh, HISTORY_SQLITE_FILE)));
      const clean = KLINES_EXPORTED;
      const ok = cli(['import-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--file', '-', '--data-dir', fresh, '--strict'], {}, `\uFEFF${clean}`);
      assert.equal(ok.code, EXIT_OK, ok.err);
      assert.match(ok.out, /rows read: 3, imported: 3, rejected: 0/, 'a byte order mark does not hide the header');
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  it('a failure in the middle of the write leaves nothing of the file (exit 1)', () => {
    const fresh = mkdtempSync(join(tmpdir(), 'marketdata-fail-'));
    try {
      const args = ['import-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--file', '-', '--data-dir', fresh];
      assert.equal(cli([...args, '--source', 'binance'], {}, KLINES_EXPORTED).code, EXIT_OK);
      const before = sqliteCandles(fresh);
      // The last row of the next import (rows are written in open-time order) fails inside SQLite.
      const db = new Database(join(fresh, HISTORY_SQLITE_FILE));
      db.exec(`CREATE TRIGGER boom BEFORE INSERT ON historical_candles WHEN NEW.source = 'other' AND NEW.open_time_us = 1700000340000000
        BEGIN SELECT RAISE(ABORT, 'boom'); END`);
      db.close();
      const r = cli([...args, '--source', 'other'], {}, KLINES_EXPORTED);
      assert.equal(r.code, EXIT_FAILED, r.out);
      assert.match(r.err, /failed, nothing written: boom/);
      assert.deepEqual(sqliteCandles(fresh), before, 'the first two rows of the failed import were rolled back');
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  it('lists at most --max-rejects rejected rows, then a count', () => {
    const bad = Array.from({ length: 5 }, (_, i) => `${1_700_000_040_000 + i * 60_000},1,1,1,1.001,1`).join('\n');
    const r = cli(['import-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--file', '-', '--data-dir', dir, '--dry-run', '--max-rejects', '2'], {}, bad);
    assert.equal(r.code, EXIT_REJECTED, r.err);
    assert.deepEqual(r.out.split('\n').filter((l) => l.startsWith('  ')).map((l) => l.trim().split(':')[0]), ['line 1', 'line 2', '... and 3 more']);
  });
});

describe('marketdata CLI, bad input (exit 2, nothing written)', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'marketdata-usage-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: [string, string[], RegExp][] = [
    ['no command', [], /no command/],
    ['unknown command', ['import-orders', '--symbol', 'BTC-USDT'], /unknown command/],
    ['unknown option', ['import-trades', '--symbol', 'BTC-USDT', '--file', 'x', '--frobnicate'], /Unknown option/],
    ['unknown symbol', ['import-trades', '--symbol', 'DOGE-USDT', '--file', 'x'], /unknown symbol "DOGE-USDT"; configured: BTC-USDT/],
    ['bad interval', ['import-candles', '--symbol', 'BTC-USDT', '--interval', '2m', '--file', 'x'], /--interval must be one of 1m, 5m/],
    ['missing interval', ['export-candles', '--symbol', 'BTC-USDT'], /--interval is required/],
    ['missing file', ['import-trades', '--symbol', 'BTC-USDT'], /--file is required/],
    ['unreadable file', ['import-trades', '--symbol', 'BTC-USDT', '--file', '/nonexistent/t.csv'], /cannot read \/nonexistent\/t\.csv/],
    ['option of another command', ['export-trades', '--symbol', 'BTC-USDT', '--strict'], /--strict does not apply to export-trades/],
    ['import into the engine series', ['import-trades', '--symbol', 'BTC-USDT', '--file', 'x', '--source', 'engine'], /engine's own series/],
    ['bad source name', ['import-trades', '--symbol', 'BTC-USDT', '--file', 'x', '--source', 'Bin ance'], /source "Bin ance" must be/],
    ['postgres without DATABASE_URL', ['import-trades', '--symbol', 'BTC-USDT', '--file', 'x', '--target', 'postgres'], /needs DATABASE_URL/],
    ['bad target', ['import-trades', '--symbol', 'BTC-USDT', '--file', 'x', '--target', 'mysql'], /--target must be sqlite or postgres/],
    ['bad time', ['export-trades', '--symbol', 'BTC-USDT', '--from', 'yesterday'], /--from: time "yesterday"/],
    ['from after to', ['export-trades', '--symbol', 'BTC-USDT', '--from', '2024-01-02T00:00:00Z', '--to', '2024-01-01T00:00:00Z'], /--from is after --to/],
    ['engine series on sqlite', ['export-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--source', 'engine'], /use DATABASE_URL/],
    ['export from an empty data dir', ['export-trades', '--symbol', 'BTC-USDT'], /cannot open .*nothing imported there yet/],
  ];
  it('PostgreSQL unreachable: exit 1, the report says nothing was written', () => {
    const r = cli(['import-trades', '--symbol', 'BTC-USDT', '--file', '-'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' }, TRADES);
    assert.equal(r.code, EXIT_FAILED, r.out);
    assert.match(r.err, /import-trades: failed, nothing written: .*ECONNREFUSED/);
  });

  for (const [what, args, message] of cases) {
    it(what, async () => {
      const r = await inProcess([...args, '--data-dir', dir]);
      assert.equal(r.code, EXIT_USAGE, `${r.out}\n${r.err}`);
      assert.match(r.err, message);
      assert.ok(!existsSync(join(dir, HISTORY_SQLITE_FILE)), 'no store created');
    });
  }
});

describe('marketdata CLI, PostgreSQL (DATABASE_URL + PGSCHEMA)', { skip: pgSkip }, () => {
  let s: TestSchema;
  let dir: string;
  let env: Record<string, string>;
  before(async () => {
    s = await createTestSchema('mdcli');
    dir = mkdtempSync(join(tmpdir(), 'marketdata-pg-'));
    env = { DATABASE_URL: s.url, PGSCHEMA: s.schema };
  });
  after(async () => {
    await s?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const candles = async (): Promise<Record<string, unknown>[]> => [...await s.sql`SELECT (extract(epoch from time) * 1000000)::int8 AS open_time_us,
      symbol, exchange, timeframe, instrument_id, open_ticks, high_ticks, low_ticks, close_ticks, volume_lots, quote_volume_units, trades_count
    FROM market_data ORDER BY exchange, symbol, timeframe, time`];
  const PG_CANDLE_COLS = ['open_time_us', 'open_ticks', 'high_ticks', 'low_ticks', 'close_ticks', 'volume_lots', 'quote_volume_units', 'trades_count'];

  it('imports candles into market_data (exchange = source) after migrating; re-import changes nothing; export equals the SQLite export', async () => {
    const args = ['import-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--file', file('klines.csv', KLINES), '--source', 'binance'];
    const r = cli(args, env);
    assert.equal(r.code, EXIT_REJECTED, r.err);
    assert.match(r.out, new RegExp(`-> postgres .* schema ${s.schema}`));
    assert.match(r.out, /rows read: 7, imported: 3, rejected: 4/);
    assert.match(r.out, /written: 3 new, 0 changed, 0 unchanged/);
    assert.match(r.out, /line 3: .*\n {2}line 4: .*\n {2}line 5: .*\n {2}line 6: /);
    const rows = await candles();
    assert.deepEqual(rows.map((x) => [x.symbol, x.exchange, x.timeframe, x.instrument_id]), Array(3).fill(['BTC-USDT', 'binance', '1m', 1]));
    assert.deepEqual(candleTuples(rows, PG_CANDLE_COLS), KLINE_ROWS);

    const again = cli(args, env);
    assert.equal(again.code, EXIT_REJECTED, again.err);
    assert.match(again.out, /written: 0 new, 0 changed, 3 unchanged/);
    assert.deepEqual(await candles(), rows);

    const ex = cli(['export-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--source', 'binance'], env);
    assert.equal(ex.code, EXIT_OK, ex.err);
    assert.equal(ex.out, KLINES_EXPORTED);
    const part = cli(['export-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--source', 'binance', '--from', '1700000280000', '--to', '2023-11-14T22:18:00Z'], env);
    assert.deepEqual(part.out.trim().split('\n').slice(1).map((l) => l.split(',')[0]), ['1700000280000']);

    // The same file into the embedded store exports the same text: one layout, two stores.
    const sq = cli([...args, '--target', 'sqlite', '--data-dir', dir], env);
    assert.equal(sq.code, EXIT_REJECTED, sq.err);
    assert.equal(cli(['export-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--source', 'binance', '--target', 'sqlite', '--data-dir', dir], env).out, ex.out);
  });

  it('trades go to historical_trades, never to the engine\'s trades; a corrected time replaces the id; the engine\'s own trades export', async () => {
    const r = cli(['import-trades', '--symbol', 'BTC-USDT', '--file', file('trades.csv', TRADES), '--source', 'binance'], env);
    assert.equal(r.code, EXIT_REJECTED, r.err);
    assert.match(r.out, /rows read: 6, imported: 3, rejected: 3/);
    const fix = cli(['import-trades', '--symbol', 'BTC-USDT', '--file', file('fix.csv', TRADE_FIX), '--source', 'binance'], env);
    assert.equal(fix.code, EXIT_OK, fix.err);
    assert.match(fix.out, /written: 0 new, 1 changed, 0 unchanged/);
    const stored = await s.sql`SELECT trade_id, (extract(epoch from ts) * 1000000)::int8 AS ts_us, price_ticks, qty_lots, notional_units, taker_side,
        source, symbol, instrument_id FROM historical_trades ORDER BY trade_id`;
    assert.deepEqual(stored.map((t) => [t.trade_id, t.ts_us, t.price_ticks, t.qty_lots, t.notional_units, t.taker_side]), [
      [1001, 1_700_000_000_000_000, 6_000_000, 1000, 60_000_000_000, 'sell'],
      [1002, 1_700_000_000_600_000, 6_000_005, 500, 30_000_025_000, 'buy'],
      [1005, 1_700_000_003_000_000, 6_000_003, 200, 12_000_006_000, 'buy'],
    ]);
    assert.ok(stored.every((t) => t.source === 'binance' && t.symbol === 'BTC-USDT' && t.instrument_id === 1));
    assert.equal((await s.sql`SELECT count(*)::int8 AS n FROM trades`)[0]!.n, 0, 'the engine\'s trades table is untouched');

    const ex = cli(['export-trades', '--symbol', 'BTC-USDT', '--source', 'binance'], env);
    assert.equal(ex.code, EXIT_OK, ex.err);
    assert.equal(ex.out, TRADES_EXPORTED_AFTER_FIX);

    // One fill of the engine, as the replicator writes it: exported in the same layout with --source engine.
    await s.sql`INSERT INTO trades (ts, instrument_id, trade_id, seq, price_ticks, qty_lots, notional_units, taker_side, maker_order_id,
        maker_account_id, taker_order_id, taker_account_id, maker_fee_units, taker_fee_units)
      VALUES ('epoch'::timestamptz + 1700000005000000 * interval '1 microsecond', 1, 7, 99, 6000000, 100, 6000000000, 'buy', 1, 1, 2, 2, 0, 0)`;
    const eng = cli(['export-trades', '--symbol', 'BTC-USDT', '--source', 'engine'], env);
    assert.equal(eng.code, EXIT_OK, eng.err);
    assert.equal(eng.out, 'id,price,qty,quote_qty,time,is_buyer_maker\n7,60000,0.001,60,1700000005000000,false\n');
  });

  it('a failure in the second batch rolls back the whole file (exit 1)', async () => {
    // 6,000 candles: more than one batch of 5,000 rows; the last one fails inside PostgreSQL.
    const lines = Array.from({ length: 6000 }, (_, i) => `${1_600_000_020_000 + i * 60_000},100,101,99,100,1`);
    const lastUs = (1_600_000_020_000 + 5999 * 60_000) * 1000;
    await s.sql.unsafe(`CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.exchange = 'bulk' AND NEW.time = 'epoch'::timestamptz + ${lastUs} * interval '1 microsecond' THEN RAISE EXCEPTION 'boom'; END IF;
      RETURN NEW; END $$`);
    await s.sql.unsafe('CREATE TRIGGER boom BEFORE INSERT ON market_data FOR EACH ROW EXECUTE FUNCTION boom()');
    const before = await candles();
    const r = cli(['import-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--file', file('bulk.csv', lines.join('\n')), '--source', 'bulk'], env);
    assert.equal(r.code, EXIT_FAILED, r.out);
    assert.match(r.err, /failed, nothing written: boom/);
    assert.deepEqual(await candles(), before);
    await s.sql.unsafe('DROP TRIGGER boom ON market_data');
    const ok = cli(['import-candles', '--symbol', 'BTC-USDT', '--interval', '1m', '--file', join(dir, 'bulk.csv'), '--source', 'bulk'], env);
    assert.equal(ok.code, EXIT_OK, ok.err);
    assert.match(ok.out, /written: 6000 new, 0 changed, 0 unchanged/);
    assert.equal((await s.sql`SELECT count(*)::int8 AS n FROM market_data WHERE exchange = 'bulk'`)[0]!.n, 6000);
  });
});
