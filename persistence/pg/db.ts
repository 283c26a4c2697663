// PostgreSQL connection helpers (postgres.js): one place for the options every user of the database
// shares, a reachability probe with a short timeout, and per-test schemas.

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import postgres from 'postgres';

export type Sql = postgres.Sql<Record<string, never>>;

export interface ConnectOptions {
  /** search_path for every connection of the pool (a test's own schema, or a deployment's). */
  schema?: string;
  /** application_name: lets an operator (or a test) find this pool's backends in pg_stat_activity. */
  applicationName?: string;
  /** Pool size. Default 1 (the replicator writes on one connection). */
  max?: number;
  /** Seconds. Default 5. */
  connectTimeoutS?: number;
}

export const DEFAULT_TEST_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** The database tests use: TEST_DATABASE_URL, else DATABASE_URL, else the local `test` database. */
export function testDatabaseUrl(): string {
  return process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? DEFAULT_TEST_URL;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkIdentifier(name: string): string {
  if (!IDENT.test(name)) throw new RangeError(`not a plain lower-case SQL identifier: ${JSON.stringify(name)}`);
  return name;
}

export function connect(url: string, o: ConnectOptions = {}): Sql {
  const connection: Record<string, string> = { application_name: o.applicationName ?? 'trading-engine' };
  if (o.schema !== undefined) connection.search_path = `${checkIdentifier(o.schema)}, public`;
  const u = new URL(url);
  const host = u.hostname === '' ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || 5432);
  const timeoutMs = (o.connectTimeoutS ?? 5) * 1000;
  const options = {
    max: o.max ?? 1,
    connect_timeout: o.connectTimeoutS ?? 5,
    // Our own TCP socket with TCP_NODELAY: postgres.js writes COPY data and CopyDone (and a query's
    // messages) in separate small writes, and Nagle + delayed ACK then cost ~40 ms per statement
    // (measured: a 2,000-row COPY in a transaction took 88 ms with Nagle, 2.2 ms without).
    socket: async () => {
      const s = net.connect(port, host);
      s.setNoDelay(true);
      const t = setTimeout(() => s.destroy(new Error(`connect to ${host}:${port} timed out`)), timeoutMs);
      try {
        await once(s, 'connect');
      } finally {
        clearTimeout(t);
      }
      return s;
    },
    idle_timeout: 0,
    onnotice: () => {},
    connection,
    // int8 and numeric come back as strings by default; BIGINT columns hold safe integers here.
    types: {
      bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    },
  };
  // `socket` is a documented option missing from postgres.js's type declarations.
  return postgres(url, options as unknown as postgres.Options<Record<string, never>>) as unknown as Sql;
}

/** True when a query answers within timeoutMs. Never throws. */
export async function pgReachable(url: string, timeoutMs = 2000): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: Math.max(1, Math.ceil(timeoutMs / 1000)), onnotice: () => {} });
  try {
    const timer = new Promise<false>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
    const probe = sql`select 1 as ok`.then(() => true as const, () => false as const);
    return await Promise.race([probe, timer]);
  } finally {
    void sql.end({ timeout: 0 }).catch(() => {});
  }
}

export interface TestSchema {
  url: string;
  schema: string;
  /** A pool (max 2) whose search_path is the schema. */
  sql: Sql;
  /** Drops the schema and closes the pool. */
  drop(): Promise<void>;
}

/** Creates a fresh schema with a random name in the test database. */
export async function createTestSchema(prefix = 't', url = testDatabaseUrl()): Promise<TestSchema> {
  const schema = checkIdentifier(`${prefix}_${randomBytes(6).toString('hex')}`);
  const admin = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.end({ timeout: 1 });
  }
  const sql = connect(url, { schema, max: 2, applicationName: `test-${schema}` });
  return {
    url, schema, sql,
    async drop(): Promise<void> {
      await sql.end({ timeout: 1 }).catch(() => {});
      const a = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
      try {
        await a.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await a.end({ timeout: 1 });
      }
    },
  };
}

/**
 * For tests: undefined when PostgreSQL answers, else the reason to skip (printed by node:test).
 * CI=true or PG_TESTS_REQUIRED=1 turn "unreachable" into a failure instead of a skip.
 */
export async function pgSkipReason(url = testDatabaseUrl()): Promise<string | undefined> {
  if (await pgReachable(url, 2000)) return undefined;
  const msg = `PostgreSQL not reachable at ${url.replace(/\/\/[^@]*@/, '//***@')} (2 s timeout): test skipped`;
  if (process.env.PG_TESTS_REQUIRED === '1' || process.env.CI === 'true') throw new Error(msg.replace('test skipped', 'required (CI=true or PG_TESTS_REQUIRED=1)'));
  process.stderr.write(`# ${msg}\n`);
  return msg;
}

/** SQL fragment: microseconds since the epoch (a column or parameter) -> timestamptz, exactly. */
export const sqlTimestampOfUs = (x: string): string => `('epoch'::timestamptz + ${x} * interval '1 microsecond')`;

/** SQL fragment: a timestamptz column -> microseconds since the epoch (int8), exactly. */
export const sqlUsOfTimestamp = (col: string): string => `(extract(epoch from ${col}) * 1000000)::int8`;

/**
 * Microseconds since the epoch -> an ISO 8601 string with six fraction digits, which PostgreSQL reads
 * exactly. Consecutive values share their second: "YYYY-MM-DDTHH:MM:SS" is formatted once per
 * second, then the fraction is appended (a Date + toISOString per row was one of the replicator's
 * top costs).
 */
export function isoMicros(us: number): string {
  const sec = Math.floor(us / 1_000_000);
  if (sec !== isoSecond) {
    isoSecond = sec;
    isoPrefix = new Date(sec * 1000).toISOString().slice(0, 19);
  }
  return `${isoPrefix}.${String(us - sec * 1_000_000).padStart(6, '0')}Z`;
}
let isoSecond = Number.NaN;
let isoPrefix = '';
