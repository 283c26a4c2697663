// Versioned schema migrations: persistence/pg/schema/NNN_name.sql, applied in order, each once and in
// its own transaction, recorded in schema_migrations (version, name, checksum). A session advisory
// lock serialises concurrent migrators. A file changed after it was applied is an error (checksum).
//
// TimescaleDB is detected here: installed in the database (pg_extension), or available
// (pg_available_extensions) and creatable. The result is passed to the SQL as the transaction-local
// setting `trading.timescale` ('on' / 'off'), which 002_timeseries.sql reads.
//
// CLI: `npm run migrate` = node dist/persistence/pg/migrate.js, with DATABASE_URL (and optionally
// PGSCHEMA for a non-default schema).

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { connect, type Sql } from './db.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
  timescale: boolean;
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

const FILE = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

/** The schema folder: beside this module (if copied) or in the source tree (dist/ -> ../../../). */
export function schemaDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const d of [join(here, 'schema'), join(here, '..', '..', '..', 'persistence', 'pg', 'schema')]) {
    if (existsSync(d)) return d;
  }
  throw new MigrationError(`schema folder not found near ${here}`);
}

export function loadMigrations(dir = schemaDir()): Migration[] {
  const out: Migration[] = [];
  for (const f of readdirSync(dir).sort()) {
    const m = FILE.exec(f);
    if (m === null) continue;
    const text = readFileSync(join(dir, f), 'utf8');
    out.push({ version: Number(m[1]), name: m[2]!, sql: text, checksum: createHash('sha256').update(text).digest('hex') });
  }
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.version === out[i - 1]!.version) throw new MigrationError(`two migrations with version ${out[i]!.version}`);
  }
  return out;
}

async function detectTimescale(sql: Sql): Promise<{ installed: boolean; available: boolean }> {
  const inst = await sql`SELECT extname FROM pg_extension WHERE extname = 'timescaledb'`;
  if (inst.length > 0) return { installed: true, available: true };
  const av = await sql`SELECT name FROM pg_available_extensions WHERE name = 'timescaledb'`;
  return { installed: false, available: av.length > 0 };
}

export interface MigrateOptions {
  dir?: string;
  /** 'auto' (default): use TimescaleDB when installed or creatable; 'off': plain tables always. */
  timescale?: 'auto' | 'off';
  log?: (msg: string) => void;
}

/** Applies the pending migrations on `sql` (its search_path decides the schema). */
export async function migrate(sql: Sql, o: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = loadMigrations(o.dir);
  const log = o.log ?? (() => {});
  const conn = await sql.reserve();
  try {
    await conn`SELECT pg_advisory_lock(hashtext(current_schema() || '.schema_migrations'))`;
    try {
      await conn`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP)`;
      const done = new Map<number, { name: string; checksum: string }>();
      for (const r of await conn`SELECT version, name, checksum FROM schema_migrations`) {
        done.set(Number(r.version), { name: String(r.name), checksum: String(r.checksum) });
      }
      let timescale = false;
      if (o.timescale !== 'off') {
        const t = await detectTimescale(conn as unknown as Sql);
        timescale = t.installed;
        if (!t.installed && t.available) {
          // Creatable only with shared_preload_libraries set: try, and fall back to plain tables.
          try {
            await conn.unsafe('CREATE EXTENSION IF NOT EXISTS timescaledb');
            timescale = true;
          } catch (e) {
            log(`timescaledb available but not creatable (${(e as Error).message}): plain tables`);
          }
        }
      }
      const applied: string[] = [];
      for (const m of migrations) {
        const prev = done.get(m.version);
        if (prev !== undefined) {
          if (prev.checksum !== m.checksum) {
            throw new MigrationError(`migration ${m.version}_${m.name} changed after it was applied (checksum differs)`);
          }
          continue;
        }
        await conn.unsafe('BEGIN');
        try {
          await conn.unsafe(`SET LOCAL trading.timescale = '${timescale ? 'on' : 'off'}'`);
          await conn.unsafe(m.sql);
          await conn`INSERT INTO schema_migrations (version, name, checksum) VALUES (${m.version}, ${m.name}, ${m.checksum})`;
          await conn.unsafe('COMMIT');
        } catch (e) {
          await conn.unsafe('ROLLBACK').catch(() => {});
          throw new MigrationError(`migration ${m.version}_${m.name} failed: ${(e as Error).message}`);
        }
        applied.push(`${m.version}_${m.name}`);
        log(`applied ${m.version}_${m.name}`);
      }
      return { applied, alreadyApplied: migrations.length - applied.length, timescale };
    } finally {
      await conn`SELECT pg_advisory_unlock(hashtext(current_schema() || '.schema_migrations'))`.catch(() => {});
    }
  } finally {
    conn.release();
  }
}

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (url === undefined || url === '') {
    process.stderr.write('migrate: DATABASE_URL is not set\n');
    process.exit(2);
  }
  const schema = process.env.PGSCHEMA;
  const sql = connect(url, { applicationName: 'trading-engine-migrate', ...(schema ? { schema } : {}) });
  try {
    const r = await migrate(sql, { log: (m) => process.stdout.write(`${m}\n`) });
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    process.stderr.write(`migrate: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
