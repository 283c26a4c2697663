import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SecretBox } from './secret-box.js';
import { ApiKeyStore } from './api-keys.js';
import { AuthError } from './errors.js';
import { identityDbPath } from './db.js';
import { T0_MS, addUser, openTestIdentity, type TestIdentity } from './fixtures.js';

describe('API keys', () => {
  let id: TestIdentity;
  let alice: number;

  before(async () => {
    id = openTestIdentity();
    alice = await addUser(id, 'alice@example.com', ['trader'], [3, 5]);
    await addUser(id, 'bob@example.com', ['trader'], [9]);
  });
  after(() => id.dispose());

  it('creates a key: public id, 43-character secret, scopes and accounts recorded', () => {
    const k = id.apiKeys.create({ userId: alice, accountIds: [5, 3, 5], scopes: ['trade', 'read'], label: 'bot' }, T0_MS);
    assert.match(k.keyId, /^ak_[0-9a-f]{24}$/);
    assert.match(k.secret, /^[A-Za-z0-9_-]{43}$/);
    const rec = id.apiKeys.find(k.keyId)!;
    assert.deepEqual(rec.accountIds, [3, 5]);
    assert.deepEqual(rec.scopes, ['read', 'trade']);
    assert.equal(rec.label, 'bot');
    assert.equal(rec.revokedAtMs, null);
    assert.equal(id.apiKeys.material(k.keyId)!.secret.toString(), k.secret);
  });

  it('never stores the secret in the clear (not in the database file, not in the WAL)', () => {
    const k = id.apiKeys.create({ userId: alice, accountIds: [3], scopes: ['read'] }, T0_MS);
    id.db.pragma('wal_checkpoint(TRUNCATE)');
    const file = identityDbPath(id.dataDir);
    for (const f of [file, `${file}-wal`]) {
      let bytes: Buffer;
      try { bytes = readFileSync(f); } catch { continue; }
      assert.equal(bytes.includes(Buffer.from(k.secret)), false, f);
    }
  });

  it('a database copy without the master key yields no secret', () => {
    const k = id.apiKeys.create({ userId: alice, accountIds: [3], scopes: ['read'] }, T0_MS);
    const thief = new ApiKeyStore(id.db, id.store, new SecretBox(Buffer.alloc(32, 1)));
    assert.equal(thief.material(k.keyId), undefined);
    assert.ok(thief.find(k.keyId), 'the public record is still there');
  });

  it('rejects bad scopes, empty lists, foreign accounts, past expiry, unknown users', () => {
    const bad: [string, () => unknown][] = [
      ['no scope', () => id.apiKeys.create({ userId: alice, accountIds: [3], scopes: [] }, T0_MS)],
      ['unknown scope', () => id.apiKeys.create({ userId: alice, accountIds: [3], scopes: ['admin' as never] }, T0_MS)],
      ['no account', () => id.apiKeys.create({ userId: alice, accountIds: [], scopes: ['read'] }, T0_MS)],
      ['foreign account', () => id.apiKeys.create({ userId: alice, accountIds: [3, 9], scopes: ['read'] }, T0_MS)],
      ['bad account id', () => id.apiKeys.create({ userId: alice, accountIds: [0], scopes: ['read'] }, T0_MS)],
      ['past expiry', () => id.apiKeys.create({ userId: alice, accountIds: [3], scopes: ['read'], expiresAtMs: T0_MS }, T0_MS)],
      ['unknown user', () => id.apiKeys.create({ userId: 999, accountIds: [3], scopes: ['read'] }, T0_MS)],
    ];
    for (const [name, f] of bad) assert.throws(f, AuthError, name);
  });

  it('revokes once', () => {
    const k = id.apiKeys.create({ userId: alice, accountIds: [3], scopes: ['read'] }, T0_MS);
    assert.equal(id.apiKeys.revoke(k.keyId, T0_MS + 1), true);
    assert.equal(id.apiKeys.revoke(k.keyId, T0_MS + 2), false);
    assert.equal(id.apiKeys.find(k.keyId)!.revokedAtMs, T0_MS + 1);
    assert.equal(id.apiKeys.revoke('ak_000000000000000000000000', T0_MS), false);
  });

  it('unknown and malformed ids find nothing', () => {
    assert.equal(id.apiKeys.find('ak_000000000000000000000000'), undefined);
    assert.equal(id.apiKeys.material("ak_' OR 1=1 --"), undefined);
    assert.ok(id.apiKeys.listForUser(alice).length >= 4);
  });
});
