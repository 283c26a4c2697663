// One call that opens everything the gateway needs for identity, from the engine's data dir:
//   <dataDir>/identity.sqlite      users, accounts, roles, API keys, refresh tokens, audit log
//   <dataDir>/identity-master.key  AES-256 key sealing API-key secrets (or AUTH_MASTER_KEY)
//   <dataDir>/jwt-hs256.key        HS256 secret for access tokens (or AUTH_JWT_SECRET, or an EdDSA key)
// Key files are created (mode 0600) on first use. Environment values are base64/base64url.

import { join } from 'node:path';
import { AccessTokens, TokenDenylist, type JwtKeyConfig } from './access-token.js';
import { ApiKeyStore } from './api-keys.js';
import { AuditWriter } from './audit-worker.js';
import { identityDbPath, openIdentityDb, type IdentityDb } from './db.js';
import { DEFAULT_PASSWORD_PARAMS, type PasswordHashParams } from './passwords.js';
import { RedisReplayGuard, ReplayCache, type SharedNonceStore } from './replay-cache.js';
import { MASTER_KEY_BYTES, SecretBox, decodeKey, loadOrCreateKeyFile } from './secret-box.js';
import { SessionService } from './sessions.js';
import { SignatureVerifier } from './signing.js';
import { IdentityStore } from './users.js';

export const MASTER_KEY_FILE = 'identity-master.key';
export const JWT_KEY_FILE = 'jwt-hs256.key';
export const ENV_MASTER_KEY = 'AUTH_MASTER_KEY';
export const ENV_JWT_SECRET = 'AUTH_JWT_SECRET';

export interface IdentityOptions {
  readonly dataDir: string;
  /** Default: AUTH_MASTER_KEY, else the key file in dataDir. */
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

export function loadMasterKey(dataDir: string, env: Readonly<Record<string, string | undefined>> = process.env): Buffer {
  const v = env[ENV_MASTER_KEY];
  return v ? decodeKey(v, MASTER_KEY_BYTES, ENV_MASTER_KEY) : loadOrCreateKeyFile(join(dataDir, MASTER_KEY_FILE));
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
    const apiKeys = new ApiKeyStore(db, store, new SecretBox(o.masterKey ?? loadMasterKey(o.dataDir, env)));
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
