// API keys for programmatic clients. An operator creates one for a user, scoped to some of that
// user's accounts and to permission scopes (read, trade, risk). The key id is public ("ak_" + 24
// hex digits); the secret (32 random bytes, base64url, 43 characters) is returned once by `create`
// and stored only sealed (secret-box.ts). Revocation is immediate in this process and reaches other
// processes within the verifier's cache time (signing.ts).

import { randomBytes } from 'node:crypto';
import { prepared, type IdentityDb } from './db.js';
import { AuthError } from './errors.js';
import { API_KEY_SCOPES, isApiKeyScope, type ApiKeyScope } from './permissions.js';
import type { SecretBox } from './secret-box.js';
import { checkAccountId, type IdentityStore } from './users.js';

export interface NewApiKey {
  readonly userId: number;
  readonly accountIds: readonly number[];
  readonly scopes: readonly ApiKeyScope[];
  readonly label?: string;
  readonly expiresAtMs?: number;
}

export interface CreatedApiKey {
  readonly keyId: string;
  /** Shown once; not recoverable later. */
  readonly secret: string;
}

export interface ApiKeyRecord {
  readonly keyId: string;
  readonly userId: number;
  readonly label: string;
  readonly scopes: readonly ApiKeyScope[];
  readonly accountIds: readonly number[];
  readonly createdAtMs: number;
  readonly expiresAtMs: number | null;
  readonly revokedAtMs: number | null;
}

/** A key as the verifier needs it: the record plus the unsealed secret. */
export interface ApiKeyMaterial extends ApiKeyRecord {
  readonly secret: Buffer;
}

export const KEY_ID_PATTERN = /^ak_[0-9a-f]{24}$/;

interface KeyRow {
  key_id: string; user_id: number; label: string; scopes: string; secret_sealed: Buffer;
  created_at_ms: number; expires_at_ms: number | null; revoked_at_ms: number | null;
}

export class ApiKeyStore {
  constructor(private readonly db: IdentityDb, private readonly store: IdentityStore, private readonly box: SecretBox) {}

  create(k: NewApiKey, nowMs: number): CreatedApiKey {
    const scopes = [...new Set(k.scopes)];
    if (scopes.length === 0) throw new AuthError('invalid_scope', `an API key needs at least one scope (${API_KEY_SCOPES.join(', ')})`);
    for (const s of scopes) if (!isApiKeyScope(s)) throw new AuthError('invalid_scope', `unknown scope ${s}; known: ${API_KEY_SCOPES.join(', ')}`);
    const accounts = [...new Set(k.accountIds)].sort((a, b) => a - b);
    if (accounts.length === 0) throw new AuthError('invalid_account', 'an API key needs at least one account');
    for (const a of accounts) checkAccountId(a);
    if (k.expiresAtMs !== undefined && !(Number.isSafeInteger(k.expiresAtMs) && k.expiresAtMs > nowMs)) {
      throw new AuthError('invalid_argument', 'expiry must be in the future');
    }
    this.store.getUser(k.userId);
    const own = new Set(this.store.accountIdsOf(k.userId));
    const foreign = accounts.filter((a) => !own.has(a));
    if (foreign.length > 0) throw new AuthError('invalid_account', `user ${k.userId} has no access to account(s) ${foreign.join(', ')}`);

    const keyId = `ak_${randomBytes(12).toString('hex')}`;
    const secret = randomBytes(32).toString('base64url');
    const sealed = this.box.seal(Buffer.from(secret, 'utf8'), keyId);
    this.db.transaction(() => {
      prepared(this.db, 
        `INSERT INTO api_keys (key_id, user_id, label, scopes, secret_sealed, created_at_ms, expires_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ).run(keyId, k.userId, k.label ?? '', scopes.sort().join(' '), sealed, nowMs, k.expiresAtMs ?? null);
      const add = prepared(this.db, 'INSERT INTO api_key_accounts (key_id, account_id) VALUES (?, ?)');
      for (const a of accounts) add.run(keyId, a);
    }).immediate();
    return { keyId, secret };
  }

  /** False when there is no such key or it was already revoked. */
  revoke(keyId: string, nowMs: number): boolean {
    return prepared(this.db, 'UPDATE api_keys SET revoked_at_ms = ? WHERE key_id = ? AND revoked_at_ms IS NULL').run(nowMs, keyId).changes > 0;
  }

  find(keyId: string): ApiKeyRecord | undefined {
    const row = this.row(keyId);
    return row ? this.toRecord(row) : undefined;
  }

  listForUser(userId: number): ApiKeyRecord[] {
    const rows = prepared(this.db, 'SELECT * FROM api_keys WHERE user_id = ? ORDER BY created_at_ms, key_id').all(userId) as KeyRow[];
    return rows.map((r) => this.toRecord(r));
  }

  /** Record and secret; undefined for an unknown id or a secret that no longer unseals. */
  material(keyId: string): ApiKeyMaterial | undefined {
    const row = this.row(keyId);
    if (!row) return undefined;
    const secret = this.box.open(row.secret_sealed, row.key_id);
    return secret ? { ...this.toRecord(row), secret } : undefined;
  }

  private row(keyId: string): KeyRow | undefined {
    if (typeof keyId !== 'string' || !KEY_ID_PATTERN.test(keyId)) return undefined;
    return prepared(this.db, 'SELECT * FROM api_keys WHERE key_id = ?').get(keyId) as KeyRow | undefined;
  }

  private toRecord(r: KeyRow): ApiKeyRecord {
    const accountIds = prepared(this.db, 'SELECT account_id FROM api_key_accounts WHERE key_id = ? ORDER BY account_id').pluck().all(r.key_id) as number[];
    return {
      keyId: r.key_id, userId: r.user_id, label: r.label,
      scopes: r.scopes.split(' ').filter(isApiKeyScope),
      accountIds, createdAtMs: r.created_at_ms, expiresAtMs: r.expires_at_ms, revokedAtMs: r.revoked_at_ms,
    };
  }
}
