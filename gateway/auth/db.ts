// The identity database: one SQLite file (WAL) in the engine's data dir, shared by the gateway and
// the operator CLI (scripts/admin.ts). Table names follow the plan's section 6 where it has them
// (users, trading_accounts); the rest are ours. Times are integer milliseconds since the epoch,
// passed in by the caller (no clock reads here).
//
// Schema changes are numbered migrations applied in order and recorded in PRAGMA user_version.

import Database from 'better-sqlite3';
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type IdentityDb = Database.Database;

export const IDENTITY_DB_FILE = 'identity.sqlite';

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    first_name     TEXT,
    last_name      TEXT,
    is_active      INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
  );
  CREATE TABLE user_roles (
    user_id        INTEGER NOT NULL REFERENCES users(id),
    role           TEXT NOT NULL CHECK (role IN ('viewer', 'trader', 'risk_manager', 'admin')),
    granted_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (user_id, role)
  ) WITHOUT ROWID;
  -- id is the engine's integer account id.
  CREATE TABLE trading_accounts (
    id             INTEGER PRIMARY KEY CHECK (id >= 1),
    user_id        INTEGER NOT NULL REFERENCES users(id),
    account_type   TEXT NOT NULL DEFAULT 'spot' CHECK (account_type IN ('spot', 'margin', 'futures')),
    exchange       TEXT NOT NULL DEFAULT 'internal',
    is_active      INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at_ms  INTEGER NOT NULL
  );
  CREATE INDEX trading_accounts_user ON trading_accounts(user_id);
  -- Access to accounts a user does not own (e.g. a risk manager assigned to a desk).
  CREATE TABLE account_access (
    user_id        INTEGER NOT NULL REFERENCES users(id),
    account_id     INTEGER NOT NULL REFERENCES trading_accounts(id),
    granted_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (user_id, account_id)
  ) WITHOUT ROWID;
  CREATE TABLE api_keys (
    key_id         TEXT PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users(id),
    label          TEXT NOT NULL DEFAULT '',
    scopes         TEXT NOT NULL,
    secret_sealed  BLOB NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    expires_at_ms  INTEGER,
    revoked_at_ms  INTEGER
  );
  CREATE INDEX api_keys_user ON api_keys(user_id);
  CREATE TABLE api_key_accounts (
    key_id         TEXT NOT NULL REFERENCES api_keys(key_id),
    account_id     INTEGER NOT NULL REFERENCES trading_accounts(id),
    PRIMARY KEY (key_id, account_id)
  ) WITHOUT ROWID;
  CREATE TABLE refresh_tokens (
    token_hash     TEXT PRIMARY KEY,
    family_id      TEXT NOT NULL,
    user_id        INTEGER NOT NULL REFERENCES users(id),
    issued_at_ms   INTEGER NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    revoked_at_ms  INTEGER,
    revoked_reason TEXT,
    replaced_by    TEXT
  ) WITHOUT ROWID;
  CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
  CREATE TABLE audit_log (
    seq            INTEGER PRIMARY KEY,
    ts_ms          INTEGER NOT NULL,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    target         TEXT,
    remote_addr    TEXT,
    request_id     TEXT,
    outcome        TEXT NOT NULL,
    detail         TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
  );
  CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
  CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
  `,
  // 2: live login sessions (refresh tokens neither revoked nor expired) counted without a scan
  // (SessionService.liveSessionCount, /metrics active_sessions{kind="rest"}).
  `
  CREATE INDEX refresh_tokens_live ON refresh_tokens(expires_at_ms, family_id) WHERE revoked_at_ms IS NULL;
  `,
];

const statements = new WeakMap<IdentityDb, Map<string, Database.Statement>>();

/** `db.prepare(sql)`, compiled once per connection (preparing costs more than running most of these). */
export function prepared(db: IdentityDb, sql: string): Database.Statement {
  let m = statements.get(db);
  if (!m) statements.set(db, (m = new Map()));
  let st = m.get(sql);
  if (!st) m.set(sql, (st = db.prepare(sql)));
  return st;
}

export function identityDbPath(dataDir: string): string {
  return join(dataDir, IDENTITY_DB_FILE);
}

/** Opens (creating if needed) the identity database at `file` and brings its schema up to date. */
export function openIdentityDb(file: string): IdentityDb {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  // Password hashes and sealed secrets: readable by the engine's user only (WAL files inherit this).
  if (file !== ':memory:') chmodSync(file, 0o600);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

function migrate(db: IdentityDb): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`identity database schema version ${current} is newer than this build (${MIGRATIONS.length})`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
