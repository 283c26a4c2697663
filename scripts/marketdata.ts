// Operator CLI for historical market data: import candles and trades from CSV files (the column
// layouts of common exchange exports, marketdata/csv.ts), validated row by row, and export them.
// This is how backtests get their data.
//
//   node dist/scripts/marketdata.js <command> [options]      (npm run marketdata -- <command> ...)
//
//   import-candles --symbol S --interval I --file F|- [--source NAME] [--dry-run] [--strict]
//   import-trades  --symbol S --file F|- [--source NAME] [--dry-run] [--strict]
//   export-candles --symbol S --interval I [--from T] [--to T] [--file F|-] [--source NAME]
//   export-trades  --symbol S [--from T] [--to T] [--file F|-] [--source NAME]
//
// Common: --target sqlite|postgres (default: postgres when DATABASE_URL is set, else the SQLite file
// <dataDir>/marketdata.sqlite), --data-dir DIR, --json (the report as one JSON object),
// --max-rejects N (rejected rows listed, default 20). --source defaults to 'import'; 'engine' names
// the engine's own series, which can be exported (PostgreSQL) but never imported into.
// Exit codes: 0 done (every row imported), 1 failed (nothing written), 2 bad input (message on
// stderr; nothing written), 3 some rows rejected (the valid rows were written, unless --strict or
// --dry-run).

import { appendFileSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { InstrumentSpec } from '../core/instrument.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, parseCommandLine, type CliValues } from './cli.js';
import { EngineConfigError, loadEngineConfig, type EngineConfig } from '../config/engine.js';
import { INTERVALS, isInterval, type Candle, type Interval } from '../marketdata/candles.js';
import {
  exportCandlesCsv, exportTradesCsv, importCandlesCsv, importTradesCsv, parseTimeUs, type HistoricalTrade, type ImportReport, type RejectedRow,
} from '../marketdata/csv.js';
import {
  checkSourceName, ENGINE_SOURCE, HISTORY_SQLITE_FILE, HistoryStoreError, SqliteHistoryStore, type HistoryStore, type WriteCounts,
} from '../marketdata/history-store.js';
import { PgHistoryStore } from '../persistence/pg/history-store.js';

export { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './cli.js';
export const EXIT_REJECTED = 3;

/** Larger files are refused: the parser holds the whole text and its rows in memory. */
export const MAX_INPUT_BYTES = 256 * 1024 * 1024;
const EXPORT_PAGE_ROWS = 10_000;
const DEFAULT_SOURCE = 'import';

export interface MarketDataIo {
  /** Report lines. */
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** Standard input as text (--file -). */
  readonly readStdin: () => string;
  /** CSV written to standard output (--file - on export); resolves once the chunk may be followed (back-pressure). */
  readonly writeStdout: (chunk: string) => Promise<void> | void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

const USAGE = `usage: marketdata <command> [options]
commands:
  import-candles --symbol S --interval ${INTERVALS.join('|')} --file F|- [--source NAME] [--dry-run] [--strict]
  import-trades  --symbol S --file F|- [--source NAME] [--dry-run] [--strict]
  export-candles --symbol S --interval I [--from T] [--to T] [--file F|-] [--source NAME]
  export-trades  --symbol S [--from T] [--to T] [--file F|-] [--source NAME]
options: --target sqlite|postgres, --data-dir DIR, --json, --max-rejects N
T: ISO 8601 with a zone (2024-01-02T00:00:00Z) or epoch seconds/ms/us; both bounds inclusive
exit codes: 0 done, 1 failed, 2 bad input, 3 some rows rejected`;

class UsageError extends Error {}

const OPTIONS = {
  symbol: { type: 'string' },
  interval: { type: 'string' },
  file: { type: 'string' },
  source: { type: 'string' },
  target: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'data-dir': { type: 'string' },
  'dry-run': { type: 'boolean' },
  strict: { type: 'boolean' },
  'max-rejects': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = CliValues<typeof OPTIONS>;
type Flag = keyof typeof OPTIONS;

const COMMON: readonly Flag[] = ['symbol', 'source', 'target', 'data-dir', 'json', 'file', 'help'];

interface Command {
  /** Options besides COMMON this command reads; any other one is a usage error. */
  readonly flags: readonly Flag[];
  readonly run: (c: Ctx) => Promise<Result>;
}

const COMMANDS: Record<string, Command> = {
  'import-candles': { flags: ['interval', 'dry-run', 'strict', 'max-rejects'], run: (c) => runImport(c, 'candles') },
  'import-trades': { flags: ['dry-run', 'strict', 'max-rejects'], run: (c) => runImport(c, 'trades') },
  'export-candles': { flags: ['interval', 'from', 'to'], run: (c) => runExport(c, 'candles') },
  'export-trades': { flags: ['from', 'to'], run: (c) => runExport(c, 'trades') },
};

interface Ctx {
  readonly name: string;
  readonly v: Values;
  readonly io: MarketDataIo;
  readonly config: EngineConfig;
  readonly inst: InstrumentSpec;
  readonly source: string;
  readonly target: Target;
}

type Target = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string; schema?: string };

interface Result {
  readonly code: number;
  readonly data: Record<string, unknown>;
  readonly text: string[];
  /** Report on stderr (the CSV went to stdout). */
  readonly toStderr?: boolean;
}

export async function runMarketData(argv: readonly string[], io: MarketDataIo): Promise<number> {
  const cl = parseCommandLine('marketdata', argv, OPTIONS, USAGE, COMMANDS, io);
  if ('exit' in cl) return cl.exit;
  const { name, command, values: v } = cl;
  try {
    const r = await command.run(context(name, command, v, io));
    const say = r.toStderr === true ? io.err : io.out;
    if (v.json) say(JSON.stringify(r.data));
    else for (const line of r.text) say(line);
    return r.code;
  } catch (e) {
    if (e instanceof UsageError || e instanceof EngineConfigError) {
      io.err(`marketdata ${name}: ${e.message}`);
      return EXIT_USAGE;
    }
    io.err(`marketdata ${name}: failed, nothing written: ${(e as Error).message}`);
    return EXIT_FAILED;
  }
}

/** Everything a command needs that can be checked before touching a file or a database. */
function context(name: string, command: Command, v: Values, io: MarketDataIo): Ctx {
  for (const [flag, value] of Object.entries(v)) {
    if (value !== undefined && !COMMON.includes(flag as Flag) && !command.flags.includes(flag as Flag)) {
      throw new UsageError(`--${flag} does not apply to ${name}`);
    }
  }
  const config = loadEngineConfig({ env: io.env as NodeJS.ProcessEnv });
  const symbol = need(v, 'symbol');
  const inst = config.instruments.find((i) => i.symbol === symbol);
  if (inst === undefined) throw new UsageError(`unknown symbol ${JSON.stringify(symbol)}; configured: ${config.instruments.map((i) => i.symbol).join(', ')}`);
  let source: string;
  try {
    source = checkSourceName(v.source ?? DEFAULT_SOURCE);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (name.startsWith('import-') && source === ENGINE_SOURCE) {
    throw new UsageError(`--source ${ENGINE_SOURCE} is the engine's own series (written by the engine only); name the data's origin, e.g. --source binance`);
  }
  return { name, v, io, config, inst, source, target: targetOf(v, config, io) };
}

function targetOf(v: Values, config: EngineConfig, io: MarketDataIo): Target {
  const kind = v.target ?? (config.databaseUrl !== null ? 'postgres' : 'sqlite');
  if (kind === 'sqlite') {
    const dir = v['data-dir'] !== undefined ? resolve(v['data-dir']) : config.dataDir;
    return { kind, path: join(dir, HISTORY_SQLITE_FILE) };
  }
  if (kind !== 'postgres') throw new UsageError(`--target must be sqlite or postgres, got ${JSON.stringify(kind)}`);
  if (config.databaseUrl === null) throw new UsageError('--target postgres needs DATABASE_URL');
  if (v['data-dir'] !== undefined) throw new UsageError('--data-dir applies to the sqlite target only (DATABASE_URL is set: add --target sqlite to use the file)');
  const schema = io.env.PGSCHEMA;
  return { kind, url: config.databaseUrl, ...(schema !== undefined && schema !== '' ? { schema } : {}) };
}

function need(v: Values, flag: Flag): string {
  const x = v[flag];
  if (typeof x !== 'string' || x === '') throw new UsageError(`--${flag} is required`);
  return x;
}

function intervalOf(v: Values): Interval {
  const s = need(v, 'interval');
  if (!isInterval(s)) throw new UsageError(`--interval must be one of ${INTERVALS.join(', ')}, got ${JSON.stringify(s)}`);
  return s;
}

function timeOf(v: Values, flag: 'from' | 'to'): number | undefined {
  const s = v[flag];
  if (s === undefined) return undefined;
  try {
    return parseTimeUs(s);
  } catch (e) {
    throw new UsageError(`--${flag}: ${(e as Error).message}`);
  }
}

async function openStore(t: Target, forExport: boolean): Promise<HistoryStore> {
  if (t.kind === 'postgres') return PgHistoryStore.open({ url: t.url, ...(t.schema !== undefined ? { schema: t.schema } : {}) });
  try {
    return new SqliteHistoryStore(t.path, { mustExist: forExport });
  } catch (e) {
    if (forExport) throw new UsageError(`${(e as Error).message} (nothing imported there yet? check --data-dir)`);
    throw e;
  }
}

/** The input file as text: size-checked, a UTF-8 byte order mark dropped (it would hide the header). */
function readInput(c: Ctx): { text: string; name: string } {
  const file = need(c.v, 'file');
  let text: string;
  if (file === '-') {
    text = c.io.readStdin();
    if (Buffer.byteLength(text) > MAX_INPUT_BYTES) throw new UsageError(`standard input is larger than ${MAX_INPUT_BYTES} bytes; split it`);
  } else {
    try {
      const size = statSync(file).size;
      if (size > MAX_INPUT_BYTES) throw new UsageError(`${file} is ${size} bytes, more than ${MAX_INPUT_BYTES}; split it (e.g. daily files)`);
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
    }
  }
  return { text: text.replace(/^\uFEFF/, ''), name: file === '-' ? '(stdin)' : resolve(file) };
}

function maxRejects(v: Values): number {
  const s = v['max-rejects'];
  if (s === undefined) return 20;
  if (!/^[0-9]{1,7}$/.test(s)) throw new UsageError(`--max-rejects must be a non-negative integer, got ${JSON.stringify(s)}`);
  return Number(s);
}

async function runImport(c: Ctx, what: 'candles' | 'trades'): Promise<Result> {
  const interval = what === 'candles' ? intervalOf(c.v) : undefined;
  const shown = maxRejects(c.v);
  const input = readInput(c);
  const report: ImportReport<Candle> | ImportReport<HistoricalTrade> = interval !== undefined
    ? importCandlesCsv(input.text, c.inst, interval)
    : importTradesCsv(input.text, c.inst);
  const skip = c.v['dry-run'] === true ? 'dry run' : c.v.strict === true && report.rejected.length > 0 ? 'strict' : undefined;
  let counts: WriteCounts | undefined;
  let where = describeTarget(c.target);
  if (skip === undefined && report.rows.length > 0) {
    const store = await openStore(c.target, false);
    where = store.description;
    try {
      counts = interval !== undefined
        ? await store.writeCandles(c.source, c.inst, report.rows as Candle[])
        : await store.writeTrades(c.source, c.inst, report.rows as HistoricalTrade[]);
    } catch (e) {
      if (e instanceof HistoryStoreError) throw new UsageError(e.message);
      throw e;
    } finally {
      await store.close();
    }
  }
  return importResult(c, { what, interval, input: input.name, where, report, counts, skip, shown });
}

function describeTarget(t: Target): string {
  return t.kind === 'sqlite' ? `sqlite ${t.path}` : `postgres ${t.url.replace(/\/\/[^@]*@/, '//***@')}${t.schema !== undefined ? ` schema ${t.schema}` : ''}`;
}

interface ImportOutcome {
  what: 'candles' | 'trades';
  interval: Interval | undefined;
  input: string;
  where: string;
  report: ImportReport<unknown>;
  counts: WriteCounts | undefined;
  skip: 'dry run' | 'strict' | undefined;
  shown: number;
}

function importResult(c: Ctx, o: ImportOutcome): Result {
  const { report, counts } = o;
  const rejected = report.rejected;
  const written = counts !== undefined;
  const head = `${c.name} ${c.inst.symbol}${o.interval !== undefined ? ` ${o.interval}` : ''} (source ${c.source}): ${o.input} -> ${o.where}`;
  const text = [head, `rows read: ${report.lines}, imported: ${written ? report.rows.length : 0}, rejected: ${rejected.length}`];
  if (counts !== undefined) text.push(`written: ${counts.inserted} new, ${counts.updated} changed, ${counts.unchanged} unchanged`);
  else if (o.skip === 'dry run') text.push(`dry run: nothing written (${report.rows.length} valid rows)`);
  else if (o.skip === 'strict') text.push(`--strict: nothing written (${report.rows.length} valid rows) because ${rejected.length} row(s) were rejected`);
  else text.push('no valid rows: nothing written');
  text.push(...rejectLines(rejected, o.shown));
  return {
    code: rejected.length > 0 ? EXIT_REJECTED : EXIT_OK,
    data: {
      command: c.name, symbol: c.inst.symbol, interval: o.interval ?? null, source: c.source, file: o.input, target: o.where,
      rowsRead: report.lines, imported: written ? report.rows.length : 0, valid: report.rows.length, written, inserted: counts?.inserted ?? 0, updated: counts?.updated ?? 0,
      unchanged: counts?.unchanged ?? 0, rejectedCount: rejected.length, rejected: rejected.slice(0, o.shown),
    },
    text,
  };
}

function rejectLines(rejected: readonly RejectedRow[], shown: number): string[] {
  if (rejected.length === 0) return [];
  const lines = ['rejected rows:', ...rejected.slice(0, shown).map((r) => `  line ${r.line}: ${r.reason}`)];
  if (rejected.length > shown) lines.push(`  ... and ${rejected.length - shown} more`);
  return lines;
}

async function runExport(c: Ctx, what: 'candles' | 'trades'): Promise<Result> {
  const interval = what === 'candles' ? intervalOf(c.v) : undefined;
  const fromUs = timeOf(c.v, 'from'), toUs = timeOf(c.v, 'to');
  if (fromUs !== undefined && toUs !== undefined && fromUs > toUs) throw new UsageError('--from is after --to');
  const file = c.v.file ?? '-';
  const range = { source: c.source, symbol: c.inst.symbol, ...(fromUs !== undefined ? { fromUs } : {}), ...(toUs !== undefined ? { toUs } : {}) };
  if (c.source === ENGINE_SOURCE && c.target.kind === 'sqlite') {
    throw new UsageError(`the embedded default keeps no ${what} of the engine on disk for export (candles live in memory, trades in the journal); use DATABASE_URL`);
  }
  const store = await openStore(c.target, true);
  let out: CsvOutput | undefined;
  let rows = 0;
  try {
    out = new CsvOutput(file, c.io);
    const pages = interval !== undefined ? store.candlePages({ ...range, interval }, EXPORT_PAGE_ROWS) : store.tradePages(range, c.inst, EXPORT_PAGE_ROWS);
    for await (const page of pages) {
      rows += page.length;
      await out.page(interval !== undefined ? exportCandlesCsv(page as Candle[], c.inst) : exportTradesCsv(page as HistoricalTrade[], c.inst));
    }
    if (rows === 0) await out.page(interval !== undefined ? exportCandlesCsv([], c.inst) : exportTradesCsv([], c.inst));
    out.commit();
  } catch (e) {
    out?.abandon();
    if (e instanceof HistoryStoreError) throw new UsageError(e.message);
    throw e;
  } finally {
    await store.close();
  }
  const dest = file === '-' ? '(stdout)' : resolve(file);
  return {
    code: EXIT_OK,
    data: { command: c.name, symbol: c.inst.symbol, interval: interval ?? null, source: c.source, target: store.description, file: dest, rows },
    text: [`${c.name} ${c.inst.symbol}${interval !== undefined ? ` ${interval}` : ''} (source ${c.source}): ${store.description} -> ${dest}: ${rows} rows`],
    toStderr: file === '-',
  };
}

/**
 * Export output. A file is written under a temporary name and renamed at the end, so a failed export
 * never leaves a truncated file where a complete one is expected. Each page comes with its own header
 * line; only the first is kept.
 */
class CsvOutput {
  private readonly tmp: string | undefined;
  private started = false;

  constructor(private readonly file: string, private readonly io: MarketDataIo) {
    this.tmp = file === '-' ? undefined : `${resolve(file)}.tmp-${process.pid}`;
    if (this.tmp !== undefined) writeFileSync(this.tmp, '');
  }

  async page(csv: string): Promise<void> {
    const chunk = this.started ? csv.slice(csv.indexOf('\n') + 1) : csv;
    this.started = true;
    if (this.tmp === undefined) await this.io.writeStdout(chunk);
    else appendFileSync(this.tmp, chunk);
  }

  commit(): void {
    if (this.tmp !== undefined) renameSync(this.tmp, resolve(this.file));
  }

  abandon(): void {
    if (this.tmp === undefined) return;
    try {
      unlinkSync(this.tmp);
    } catch {
      // Already gone: nothing to clean.
    }
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  const io: MarketDataIo = {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
    readStdin: () => readFileSync(0, 'utf8'),
    writeStdout: (chunk) => new Promise<void>((done) => {
      if (process.stdout.write(chunk)) done();
      else process.stdout.once('drain', done);
    }),
    env: process.env,
  };
  runMarketData(process.argv.slice(2), io).then((code) => { process.exitCode = code; }, (e: unknown) => {
    process.stderr.write(`marketdata: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = EXIT_FAILED;
  });
}
