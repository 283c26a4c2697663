// One call that opens everything the gateway needs for identity, from the engine's data dir:
//   <dataDir>/identity.sqlite      users, accounts, roles, API keys, refresh tokens, audit log
//   <dataDir>/identity-master.key  AES-256 key sealing API-key secrets, unless ENGINE_MASTER_KEY (or
//                                  AUTH_MASTER_KEY) or ENGINE_MASTER_KEY_FILE names it: then no key
//                                  file is written to the data dir (secret-box.ts)
//   <dataDir>/jwt-hs256.key        HS256 secret for access tokens (or AUTH_JWT_SECRET, or an EdDSA key)
// Key files are created (mode 0600) on first use. Environment values are base64/base64url (the master
// key also 64 hex digits). At open, a master key that opens none of the sealed API-key secrets is an
// error (MasterKeyError), not a stream of 401s.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AccessTokens, TokenDenylist, type JwtKeyConfig } from './access-token.js';
import { ApiKeyStore } from './api-keys.js';
import { AuditWriter } from './audit-worker.js';
import { identityDbPath, openIdentityDb, type IdentityDb } from './db.js';
import { DEFAULT_PASSWORD_PARAMS, type PasswordHashParams } from './passwords.js';
import { RedisReplayGuard, ReplayCache, type SharedNonceStore } from './replay-cache.js';
import { ENV_AUTH_MASTER_KEY, ENV_ENGINE_MASTER_KEY, ENV_ENGINE_MASTER_KEY_FILE, MasterKeyError, SecretBox, decodeKey, loadOrCreateKeyFile,
  masterKeySourceFromEnv } from './secret-box.js';
import { SessionService } from './sessions.js';
import { SignatureVerifier } from './signing.js';
import { IdentityStore } from './users.js';

export const MASTER_KEY_FILE = 'identity-master.key';
export const JWT_KEY_FILE = 'jwt-hs256.key';
/** The older name of ENGINE_MASTER_KEY (still read). */
export const ENV_MASTER_KEY = ENV_AUTH_MASTER_KEY;
export const ENV_JWT_SECRET = 'AUTH_JWT_SECRET';

export interface IdentityOptions {
  readonly dataDir: string;
  /** Default: ENGINE_MASTER_KEY / AUTH_MASTER_KEY / ENGINE_MASTER_KEY_FILE (loadMasterKey), else the key file in dataDir. */
  readonly masterKey?: Uint8Array;
  /** Default: HS256 with AUTH_JWT_SECRET, else the key file in dataDir. */
  readonly jwtKey?: JwtKeyConfig;
  readonly passwordParams?: PasswordHashParams;
  readonly accessTtlSeconds?: number;
  readonly refreshTtlMs?: number;
  readonly maxSessionMs?: number;
  readonly receiveWindowMs?: number;
  readonly replayCapacity?: number;
  /**
   * Where signed requests' nonces are checked: given (REDIS_URL's RedisBus), one Redis shared by every
   * gateway (RedisReplayGuard; fails closed with 503 replay_unavailable when it does not answer);
   * absent, this process's memory (ReplayCache of replayCapacity entries).
   */
  readonly nonceStore?: SharedNonceStore;
  readonly log?: (fields: Record<string, unknown>, msg: string) => void;
  readonly keyCacheTtlMs?: number;
  /** Environment to read keys from; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Audit rows written by a thread of their own (true; gateway/auth/audit-worker.ts), or on the
   * calling thread at the end of each event-loop turn (false). Either way `audit.append` resolves once
   * the row is committed, in one chain, and a failure fails closed. Default: ENGINE_AUDIT_THREAD=1 in
   * the process environment turns the thread on; off otherwise (measured on the 2-core host, the
   * thread's extra hop cost more POST throughput than the main-thread CPU it saved: docs/rest.md).
   */
  readonly auditThread?: boolean;
}

export interface Identity {
  readonly db: IdentityDb;
  readonly store: IdentityStore;
  /** The audit trail: every append of this process goes through its one writer. */
  readonly audit: AuditWriter;
  readonly apiKeys: ApiKeyStore;
  readonly accessTokens: AccessTokens;
  readonly sessions: SessionService;
  readonly signatures: SignatureVerifier;
  close(): void;
}

export interface MasterKey {
  key: Buffer;
  /** Where it came from, for messages: an environment variable, a file, or the data dir's key file. */
  source: string;
  /** True when the key is the data dir's file (created now if it was not there). */
  inDataDir: boolean;
}

/**
 * The master key: ENGINE_MASTER_KEY (or AUTH_MASTER_KEY), else the file ENGINE_MASTER_KEY_FILE names
 * (never created nor written), else <dataDir>/identity-master.key (created on first use).
 * `createInDataDir: false` refuses to create the data dir's file (MasterKeyError master_key_missing).
 */
export function resolveMasterKey(dataDir: string, env: Readonly<Record<string, string | undefined>> = process.env,
  o: { createInDataDir?: boolean } = {}): MasterKey {
  const src = masterKeySourceFromEnv(env);
  if (src.kind === 'env') return { key: src.key, source: `env ${src.name}`, inDataDir: false };
  if (src.kind === 'file') return { key: src.key, source: `env ${src.name}=${src.path}`, inDataDir: false };
  const file = join(dataDir, MASTER_KEY_FILE);
  if (o.createInDataDir === false && !existsSync(file)) {
    throw new MasterKeyError('master_key_missing', `no master key: ${ENV_ENGINE_MASTER_KEY} and ${ENV_ENGINE_MASTER_KEY_FILE} are not set and ${file} does not exist, `
      + 'but the identity database holds sealed API-key secrets: set the key they were sealed with');
  }
  return { key: loadOrCreateKeyFile(file), source: file, inDataDir: true };
}

export function loadMasterKey(dataDir: string, env: Readonly<Record<string, string | undefined>> = process.env): Buffer {
  return resolveMasterKey(dataDir, env).key;
}

/** API keys checked at open: the newest ones. */
const CHECKED_KEYS = 8;

/**
 * Fails (MasterKeyError master_key_mismatch) when the database holds sealed API-key secrets and the
 * box opens none of the newest of them: the key is not the one they were sealed with (GCM's tag makes
 * that certain). Some but not all opening means damaged rows, not a wrong key: those keys alone fail.
 */
export function checkMasterKey(db: IdentityDb, box: SecretBox, source: string): void {
  const rows = db.prepare('SELECT key_id, secret_sealed FROM api_keys ORDER BY created_at_ms DESC LIMIT ?').all(CHECKED_KEYS) as { key_id: string; secret_sealed: Buffer }[];
  if (rows.length === 0) return;
  if (rows.some((r) => box.open(r.secret_sealed, r.key_id) !== undefined)) return;
  throw new MasterKeyError('master_key_mismatch', `the master key from ${source} opens none of the ${rows.length} newest sealed API-key secrets in `
    + `${db.name}: they were sealed with another key. Set ${ENV_ENGINE_MASTER_KEY} or ${ENV_ENGINE_MASTER_KEY_FILE} to the key they were sealed with `
    + `(if the key was moved out of the data dir: the former ${MASTER_KEY_FILE}); API keys cannot be verified without it`);
}

function hasSealedSecrets(db: IdentityDb): boolean {
  return db.prepare('SELECT 1 FROM api_keys LIMIT 1').get() !== undefined;
}

export function loadJwtKey(dataDir: string, env: Readonly<Record<string, string | undefined>> = process.env): JwtKeyConfig {
  const v = env[ENV_JWT_SECRET];
  return { alg: 'HS256', secret: v ? decodeKey(v, 32, ENV_JWT_SECRET) : loadOrCreateKeyFile(join(dataDir, JWT_KEY_FILE), 32) };
}

/** ENGINE_AUDIT_THREAD: "1" writes audit rows on a thread of their own; anything else (or unset) on the calling thread. */
export function auditThreadFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return env['ENGINE_AUDIT_THREAD'] === '1';
}

export function openIdentity(o: IdentityOptions): Identity {
  const env = o.env ?? process.env;
  const file = identityDbPath(o.dataDir);
  const db = openIdentityDb(file);
  let audit: AuditWriter | null = null;
  try {
    const passwordParams = o.passwordParams ?? DEFAULT_PASSWORD_PARAMS;
    const store = new IdentityStore(db, passwordParams);
    audit = new AuditWriter(db, { file, thread: o.auditThread ?? auditThreadFromEnv() });
    // The master key must open the secrets already sealed: checked here, so a wrong key fails the
    // start with a message instead of answering every signed request 401.
    const mk = o.masterKey !== undefined ? { key: Buffer.from(o.masterKey), source: 'the masterKey option', inDataDir: false }
      : resolveMasterKey(o.dataDir, env, { createInDataDir: !hasSealedSecrets(db) });
    const box = new SecretBox(mk.key);
    checkMasterKey(db, box, mk.source);
    if (!mk.inDataDir && existsSync(join(o.dataDir, MASTER_KEY_FILE))) {
      o.log?.({ file: join(o.dataDir, MASTER_KEY_FILE), source: mk.source }, 'identity: the master key comes from outside the data dir; the old key file in the data dir is unused and can be deleted (keep a copy elsewhere if you may need it)');
    }
    const apiKeys = new ApiKeyStore(db, store, box);
    const accessTokens = new AccessTokens({
      key: o.jwtKey ?? loadJwtKey(o.dataDir, env),
      denylist: new TokenDenylist(),
      ...(o.accessTtlSeconds !== undefined ? { ttlSeconds: o.accessTtlSeconds } : {}),
    });
    const sessions = new SessionService(db, store, accessTokens, audit, {
      passwordParams,
      ...(o.refreshTtlMs !== undefined ? { refreshTtlMs: o.refreshTtlMs } : {}),
      ...(o.maxSessionMs !== undefined ? { maxSessionMs: o.maxSessionMs } : {}),
    });
    const signatures = new SignatureVerifier({
      keys: apiKeys, store,
      replay: o.nonceStore !== undefined ? new RedisReplayGuard(o.nonceStore, { ...(o.log ? { log: o.log } : {}) }) : new ReplayCache(o.replayCapacity),
      ...(o.receiveWindowMs !== undefined ? { receiveWindowMs: o.receiveWindowMs } : {}),
      ...(o.keyCacheTtlMs !== undefined ? { cacheTtlMs: o.keyCacheTtlMs } : {}),
    });
    const writer = audit;
    // The writer thread still writes what was queued before the close, on its own connection.
    return { db, store, audit, apiKeys, accessTokens, sessions, signatures, close: () => { writer.close(); db.close(); } };
  } catch (e) {
    audit?.close();
    db.close();
    throw e;
  }
}
