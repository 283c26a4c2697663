// Engine configuration, in three layers, later ones winning:
//   1. config/default.json (found from the package root, so it works from the sources and from dist/)
//   2. the JSON file named by ENGINE_CONFIG (optional; objects merge key by key, arrays replace)
//   3. environment variables (ENV_VARS below)
// The merged object is validated with zod, then every instrument is converted to an InstrumentSpec.
// Every problem is reported at once, each with its field path and the layer it came from.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { InstrumentSpec } from '../core/instrument.js';
import { MasterKeyError, masterKeySourceFromEnv } from '../gateway/auth/secret-box.js';
import { InstrumentConfigError, formatPath, loadInstrument } from './instruments.js';
import { LOG_LEVELS, type LogLevel } from './log.js';

export const DURABILITY_MODES = ['none', 'normal', 'full'] as const;
export type DurabilityMode = (typeof DURABILITY_MODES)[number];
export const SNAPSHOT_WRITER_MODES = ['thread', 'inline'] as const;
export type SnapshotWriterMode = (typeof SNAPSHOT_WRITER_MODES)[number];
export const MAX_SHARDS = 64;

export interface EngineConfig {
  instruments: InstrumentSpec[];
  shards: number;
  /** Shard index of every instrument's symbol. */
  shardOf: Record<string, number>;
  durability: DurabilityMode;
  /** Each shard and the ledger write a snapshot into the journal this often (ms); 0 = only on demand. */
  snapshotIntervalMs: number;
  /**
   * After each periodic snapshot, move the journal rows recovery no longer needs into
   * <dataDir>/journal-archive/ and trim them from the live journal (Engine.archiveJournal).
   */
  archiveJournal: boolean;
  /**
   * Who writes the snapshots taken while the engine runs: 'thread' (the snapshot thread, from its
   * replayed copy of the state; matching does not stop) or 'inline' (the ledger and each shard stop
   * to dump their state). docs/runtime.md "Snapshots".
   */
  snapshotWriter: SnapshotWriterMode;
  /**
   * The longest a single step of a snapshot may hold what matching and acks need (ms): the snapshot
   * thread's write transactions on the journal file; inline snapshots over it are counted and logged.
   * docs/runtime.md "Snapshots and recovery".
   */
  snapshotBudgetMs: number;
  /** Absolute path (a relative dataDir is resolved against the working directory). */
  dataDir: string;
  http: { host: string; port: number; corsOrigins: string[]; maxBodyBytes: number };
  logLevel: LogLevel;
  /** Postgres replication target; null = off. */
  databaseUrl: string | null;
  /** Redis fan-out and caches; null = off. */
  redisUrl: string | null;
  /**
   * Demo balances deposited (journaled like any deposit) when the engine starts on an empty journal:
   * account ids and asset -> decimal amount. null = none (production configurations).
   */
  demoFunding: { accounts: number[]; amounts: Record<string, string> } | null;
  /**
   * Where the master key sealing API-key secrets comes from (gateway/auth/secret-box.ts), checked at
   * load: 'ENGINE_MASTER_KEY' (or its older name 'AUTH_MASTER_KEY'), 'ENGINE_MASTER_KEY_FILE' (then
   * `masterKeyFile` is its absolute path), or 'data-dir' (<dataDir>/identity-master.key, created on
   * first use). The key itself is not kept here (the config is logged); the gateway reads it again.
   */
  masterKey: { source: 'ENGINE_MASTER_KEY' | 'AUTH_MASTER_KEY' | 'ENGINE_MASTER_KEY_FILE' | 'data-dir'; file: string | null };
  /** The layers that were read, in order (for the start-up log). */
  layers: string[];
}

/** Environment variables and the config field each one sets. */
export const ENV_VARS: readonly { name: string; path: string[]; kind: 'string' | 'int' | 'lower' | 'list' }[] = [
  { name: 'ENGINE_HOST', path: ['http', 'host'], kind: 'string' },
  { name: 'ENGINE_PORT', path: ['http', 'port'], kind: 'int' },
  { name: 'ENGINE_CORS_ORIGINS', path: ['http', 'corsOrigins'], kind: 'list' },
  { name: 'ENGINE_MAX_BODY_BYTES', path: ['http', 'maxBodyBytes'], kind: 'int' },
  { name: 'ENGINE_DURABILITY', path: ['durability'], kind: 'lower' },
  { name: 'ENGINE_DATA_DIR', path: ['dataDir'], kind: 'string' },
  { name: 'ENGINE_SNAPSHOT_INTERVAL_MS', path: ['snapshotIntervalMs'], kind: 'int' },
  { name: 'ENGINE_SNAPSHOT_WRITER', path: ['snapshotWriter'], kind: 'lower' },
  { name: 'ENGINE_SNAPSHOT_BUDGET_MS', path: ['snapshotBudgetMs'], kind: 'int' },
  { name: 'ENGINE_SHARDS', path: ['shards'], kind: 'int' },
  { name: 'LOG_LEVEL', path: ['logLevel'], kind: 'lower' },
  { name: 'DATABASE_URL', path: ['databaseUrl'], kind: 'string' },
  { name: 'REDIS_URL', path: ['redisUrl'], kind: 'string' },
];

function urlWithProtocols(protocols: string[], example: string) {
  return z.string().refine((s) => {
    try {
      return protocols.includes(new URL(s).protocol);
    } catch {
      return false;
    }
  }, `must be a URL like ${example}`);
}

export const EngineConfigSchema = z.strictObject({
  instruments: z.array(z.unknown()).min(1, 'at least one instrument is needed'),
  shards: z.number({ error: 'must be an integer' }).int().min(1).max(MAX_SHARDS).default(1),
  /** symbol -> shard index; symbols not listed are assigned round robin by their position. */
  shardMap: z.record(z.string(), z.number().int().min(0)).default({}),
  durability: z.enum(DURABILITY_MODES).default('normal'),
  snapshotIntervalMs: z.number({ error: 'must be an integer' }).int().min(0).max(86_400_000).default(60_000),
  archiveJournal: z.boolean({ error: 'must be true or false' }).default(true),
  snapshotWriter: z.enum(SNAPSHOT_WRITER_MODES).default('thread'),
  snapshotBudgetMs: z.number({ error: 'must be an integer' }).int().min(1).max(60_000).default(5),
  dataDir: z.string().min(1).default('./data'),
  http: z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number({ error: 'must be an integer in [0, 65535]' }).int().min(0).max(65535).default(8080),
    /** Origins the REST shim answers CORS requests from (exact "scheme://host[:port]", or "*"). */
    corsOrigins: z.array(z.string().regex(/^(\*|https?:\/\/[^/\s?#]+)$/, { error: 'must be "*" or an origin such as https://ui.example.com (scheme, host, optional port; no path)' })).default([]),
    /** Largest REST request body, bytes. */
    maxBodyBytes: z.number({ error: 'must be an integer' }).int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
  }).prefault({}),
  logLevel: z.enum(LOG_LEVELS).default('info'),
  databaseUrl: urlWithProtocols(['postgres:', 'postgresql:'], 'postgres://user:pass@host:5432/db').nullable().default(null),
  redisUrl: urlWithProtocols(['redis:', 'rediss:'], 'redis://host:6379').nullable().default(null),
  demoFunding: z.strictObject({
    accounts: z.array(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)).min(1).max(1000),
    amounts: z.record(z.string().min(1), z.string().regex(/^[0-9]+(\.[0-9]+)?$/, 'must be a positive decimal string')),
  }).nullable().default(null),
});

export interface EngineConfigIssue {
  path: (string | number)[];
  /** Where the value came from: a file path, "env NAME", or "default" when nothing set it. */
  source: string;
  message: string;
}

export class EngineConfigError extends Error {
  readonly issues: EngineConfigIssue[];
  constructor(issues: EngineConfigIssue[]) {
    super(`invalid engine configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
      issues.map((i) => `  - ${formatPath(i.path)} [${i.source}]: ${i.message}`).join('\n'));
    this.name = 'EngineConfigError';
    this.issues = issues;
  }
}

/** The folder holding package.json, found by walking up from this module (sources or dist/). */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
}

export function defaultConfigPath(): string {
  return join(packageRoot(), 'config', 'default.json');
}

type Json = Record<string, unknown>;

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where each field came from: dotted path -> source label. */
class Sources {
  private readonly map = new Map<string, string>();
  /** Raw env values by dotted path, for messages. */
  readonly envValues = new Map<string, string>();

  set(path: readonly (string | number)[], source: string): void {
    const key = path.join('.');
    for (const k of [...this.map.keys()]) if (k.startsWith(key + '.')) this.map.delete(k);
    this.map.set(key, source);
  }

  /** An object merged key by key keeps its first source (its keys carry their own). */
  setIfAbsent(path: readonly (string | number)[], source: string): void {
    const key = path.join('.');
    if (!this.map.has(key)) this.map.set(key, source);
  }

  of(path: readonly (string | number)[]): string {
    for (let n = path.length; n > 0; n--) {
      const key = path.slice(0, n).join('.');
      const s = this.map.get(key);
      if (s !== undefined) {
        const raw = this.envValues.get(key);
        return raw === undefined ? s : `${s}=${JSON.stringify(redactUrl(raw))}`;
      }
    }
    return 'default';
  }
}

/** Merges src into target (objects key by key, arrays and scalars replace), recording sources. */
function mergeLayer(target: Json, src: Json, source: string, sources: Sources, prefix: string[] = []): void {
  for (const [key, value] of Object.entries(src)) {
    const path = [...prefix, key];
    if (isPlainObject(value) && isPlainObject(target[key])) {
      sources.setIfAbsent(path, source);
      mergeLayer(target[key] as Json, value, source, sources, path);
    } else {
      target[key] = structuredClone(value);
      sources.set(path, source);
    }
  }
}

function readJsonFile(path: string, what: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new EngineConfigError([{ path: [], source: what, message: `cannot read ${path}: ${(err as Error).message}` }]);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new EngineConfigError([{ path: [], source: path, message: `not valid JSON: ${(err as Error).message}` }]);
  }
  if (!isPlainObject(data)) throw new EngineConfigError([{ path: [], source: path, message: 'must hold a JSON object' }]);
  return data;
}

/** The environment variables that are set (non-empty), converted for the schema. */
function envValues(env: NodeJS.ProcessEnv): { name: string; path: string[]; raw: string; value: unknown }[] {
  const out: { name: string; path: string[]; raw: string; value: unknown }[] = [];
  for (const v of ENV_VARS) {
    const raw = env[v.name];
    if (raw === undefined || raw === '') continue; // empty = unset
    const text = raw.trim();
    // A malformed integer stays a string, so the schema reports it with its source.
    const value = v.kind === 'int' ? (/^[0-9]{1,15}$/.test(text) ? Number(text) : raw)
      : v.kind === 'lower' ? text.toLowerCase()
      : v.kind === 'list' ? text.split(',').map((x) => x.trim()).filter((x) => x !== '') : raw;
    out.push({ name: v.name, path: v.path, raw, value });
  }
  return out;
}

/** Hides the password of a URL (for logs and messages). Leaves anything else unchanged. */
export function redactUrl(s: string): string {
  try {
    const u = new URL(s);
    if (u.password === '') return s;
    u.password = '***';
    return u.toString();
  } catch {
    return s;
  }
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Working directory for ENGINE_CONFIG and dataDir. Default process.cwd(). */
  cwd?: string;
  /** Override the default file (tests). */
  defaultPath?: string;
}

/** Loads, merges and validates the configuration. Throws EngineConfigError listing every problem. */
export function loadEngineConfig(options: LoadOptions = {}): EngineConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const sources = new Sources();
  const merged: Json = {};
  const layers: string[] = [];

  const defaultPath = options.defaultPath ?? defaultConfigPath();
  mergeLayer(merged, readJsonFile(defaultPath, 'default config'), defaultPath, sources);
  layers.push(defaultPath);

  const overlay = env['ENGINE_CONFIG'];
  if (overlay !== undefined && overlay !== '') {
    const path = resolve(cwd, overlay);
    mergeLayer(merged, readJsonFile(path, `ENGINE_CONFIG=${JSON.stringify(overlay)}`), path, sources);
    layers.push(path);
  }

  const fromEnv = envValues(env);
  for (const v of fromEnv) {
    let wrapped: Json = { [v.path[v.path.length - 1]!]: v.value };
    for (const key of v.path.slice(0, -1).reverse()) wrapped = { [key]: wrapped };
    mergeLayer(merged, wrapped, `env ${v.name}`, sources);
    sources.envValues.set(v.path.join('.'), v.raw);
  }
  if (fromEnv.length > 0) layers.push(`env ${fromEnv.map((v) => v.name).join(',')}`);

  const keyIssues: EngineConfigIssue[] = [];
  const masterKey = masterKeyOf(env, cwd, keyIssues);
  const parsed = EngineConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issues: EngineConfigIssue[] = [...keyIssues];
    for (const i of parsed.error.issues) {
      const path = i.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
      if (i.code === 'unrecognized_keys') {
        for (const key of i.keys) issues.push({ path: [...path, key], source: sources.of([...path, key]), message: 'unknown field' });
      } else {
        issues.push({ path, source: sources.of(path), message: i.message });
      }
    }
    throw new EngineConfigError(issues);
  }
  const c = parsed.data;
  const issues: EngineConfigIssue[] = [...keyIssues];
  const instruments = loadInstruments(c.instruments, sources, issues);
  const shardOf = assignShards(instruments, c.shards, c.shardMap, sources, issues);
  if (issues.length > 0) throw new EngineConfigError(issues);

  return {
    instruments,
    shards: c.shards,
    shardOf,
    durability: c.durability,
    snapshotIntervalMs: c.snapshotIntervalMs,
    archiveJournal: c.archiveJournal,
    snapshotWriter: c.snapshotWriter,
    snapshotBudgetMs: c.snapshotBudgetMs,
    dataDir: resolve(cwd, c.dataDir),
    http: { host: c.http.host, port: c.http.port, corsOrigins: c.http.corsOrigins, maxBodyBytes: c.http.maxBodyBytes },
    logLevel: c.logLevel,
    databaseUrl: c.databaseUrl,
    redisUrl: c.redisUrl,
    demoFunding: c.demoFunding,
    masterKey,
    layers,
  };
}

/**
 * ENGINE_MASTER_KEY / AUTH_MASTER_KEY / ENGINE_MASTER_KEY_FILE, validated now (decoded, the file
 * read) so that a bad setting stops the start with the other configuration problems. Messages name
 * the variable, never its value.
 */
function masterKeyOf(env: NodeJS.ProcessEnv, cwd: string, issues: EngineConfigIssue[]): EngineConfig['masterKey'] {
  try {
    const s = masterKeySourceFromEnv(env, cwd);
    if (s.kind === 'data-dir') return { source: 'data-dir', file: null };
    if (s.kind === 'file') return { source: 'ENGINE_MASTER_KEY_FILE', file: s.path };
    return { source: s.name === 'AUTH_MASTER_KEY' ? 'AUTH_MASTER_KEY' : 'ENGINE_MASTER_KEY', file: null };
  } catch (e) {
    if (!(e instanceof MasterKeyError)) throw e;
    const names = ['ENGINE_MASTER_KEY', 'AUTH_MASTER_KEY', 'ENGINE_MASTER_KEY_FILE'].filter((n) => (env[n] ?? '') !== '');
    issues.push({ path: ['masterKey'], source: `env ${names.join(',')}`, message: e.message });
    return { source: 'data-dir', file: null };
  }
}

function loadInstruments(raws: unknown[], sources: Sources, issues: EngineConfigIssue[]): InstrumentSpec[] {
  const specs: InstrumentSpec[] = [];
  const ids = new Map<number, number>();
  const symbols = new Map<string, number>();
  raws.forEach((raw, index) => {
    const at = ['instruments', index];
    if (!isPlainObject(raw)) {
      issues.push({ path: at, source: sources.of(at), message: 'must be an object' });
      return;
    }
    const { id, ...rest } = raw;
    if (typeof id !== 'number') {
      issues.push({ path: [...at, 'id'], source: sources.of(at), message: 'required: a unique integer in [1, 65535] (used on the wire)' });
      return;
    }
    const prevId = ids.get(id);
    if (prevId !== undefined) issues.push({ path: [...at, 'id'], source: sources.of(at), message: `id ${id} is also used by instruments.${prevId}` });
    else ids.set(id, index);
    const symbol = rest['symbol'];
    if (typeof symbol === 'string') {
      const prevSym = symbols.get(symbol);
      if (prevSym !== undefined) issues.push({ path: [...at, 'symbol'], source: sources.of(at), message: `symbol ${symbol} is also defined by instruments.${prevSym}` });
      else symbols.set(symbol, index);
    }
    try {
      specs.push(loadInstrument(rest, id));
    } catch (err) {
      if (!(err instanceof InstrumentConfigError)) throw err;
      for (const i of err.issues) {
        const path = [...at, ...i.path];
        issues.push({ path, source: sources.of(path), message: `${err.symbol}: ${i.message}` });
      }
    }
  });
  return specs;
}

function assignShards(instruments: InstrumentSpec[], shards: number, shardMap: Record<string, number>,
  sources: Sources, issues: EngineConfigIssue[]): Record<string, number> {
  const shardOf: Record<string, number> = {};
  const known = new Set(instruments.map((s) => s.symbol));
  for (const [symbol, shard] of Object.entries(shardMap)) {
    const path = ['shardMap', symbol];
    if (!known.has(symbol)) issues.push({ path, source: sources.of(path), message: `unknown symbol ${symbol}` });
    else if (shard >= shards) issues.push({ path, source: sources.of(path), message: `shard ${shard} does not exist (shards = ${shards}, from ${sources.of(['shards'])})` });
  }
  instruments.forEach((spec, index) => {
    shardOf[spec.symbol] = shardMap[spec.symbol] ?? index % shards;
  });
  if (instruments.length > 0 && shards > instruments.length) {
    issues.push({ path: ['shards'], source: sources.of(['shards']),
      message: `${shards} shards for ${instruments.length} instruments: a shard without symbols would only idle` });
  }
  return shardOf;
}

/** A log-safe summary of the configuration (no credentials). */
export function describeConfig(c: EngineConfig): Record<string, unknown> {
  return {
    layers: c.layers,
    shards: c.shards,
    shardOf: c.shardOf,
    durability: c.durability,
    dataDir: c.dataDir,
    http: c.http,
    logLevel: c.logLevel,
    databaseUrl: c.databaseUrl === null ? null : redactUrl(c.databaseUrl),
    redisUrl: c.redisUrl === null ? null : redactUrl(c.redisUrl),
    masterKey: c.masterKey,
    instruments: c.instruments.map((s) => s.symbol),
  };
}
