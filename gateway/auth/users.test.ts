import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { identityDbPath, MIGRATIONS, openIdentityDb } from './db.js';
import { AuthError } from './errors.js';
import { PASSWORD, T0_MS, openTestIdentity, type TestIdentity } from './fixtures.js';

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof AuthError ? e.code : `not AuthError: ${String(e)}`;
  }
  return undefined;
}

async function codeAsync(f: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await f();
  } catch (e) {
    return e instanceof AuthError ? e.code : `not AuthError: ${String(e)}`;
  }
  return undefined;
}

describe('identity store: users, roles, accounts', () => {
  let id: TestIdentity;
  before(() => { id = openTestIdentity(); });
  after(() => id.dispose());

  it('creates a user with a normalized e-mail and an argon2id hash', async () => {
    const u = await id.store.createUser({ email: '  Alice@Example.COM ', password: PASSWORD, roles: ['trader'] }, T0_MS);
    assert.equal(u.email, 'alice@example.com');
    assert.equal(u.username, 'alice@example.com');
    assert.equal(u.isActive, true);
    assert.match(id.store.credentialsOf('ALICE@example.com')!.passwordHash, /^\$argon2id\$/);
    assert.deepEqual(id.store.rolesOf(u.id), ['trader']);
    assert.equal(id.store.findUser('alice@example.com')!.id, u.id);
    assert.equal(id.store.findUser(u.id)!.email, u.email);
  });

  it('rejects bad e-mails, weak passwords, unknown roles and duplicates', async () => {
    assert.equal(await codeAsync(() => id.store.createUser({ email: 'not-an-email', password: PASSWORD }, T0_MS)), 'invalid_email');
    assert.equal(await codeAsync(() => id.store.createUser({ email: 'a b@example.com', password: PASSWORD }, T0_MS)), 'invalid_email');
    assert.equal(await codeAsync(() => id.store.createUser({ email: 'x@example.com', password: 'short' }, T0_MS)), 'invalid_password');
    assert.equal(await codeAsync(() => id.store.createUser({ email: 'x@example.com', password: PASSWORD, roles: ['root' as never] }, T0_MS)), 'invalid_role');
    assert.equal(await codeAsync(() => id.store.createUser({ email: 'ALICE@example.com', password: PASSWORD }, T0_MS)), 'duplicate');
    assert.equal(await codeAsync(() => id.store.createUser({ email: 'y@example.com', username: 'a', password: PASSWORD }, T0_MS)), 'invalid_argument');
  });

  it('grants and revokes roles', async () => {
    const u = await id.store.createUser({ email: 'rm@example.com', password: PASSWORD }, T0_MS);
    assert.deepEqual(id.store.rolesOf(u.id), []);
    id.store.grantRole(u.id, 'risk_manager', T0_MS);
    id.store.grantRole(u.id, 'risk_manager', T0_MS);
    id.store.grantRole(u.id, 'viewer', T0_MS);
    assert.deepEqual(id.store.rolesOf(u.id), ['risk_manager', 'viewer']);
    assert.equal(id.store.revokeRole(u.id, 'viewer'), true);
    assert.equal(id.store.revokeRole(u.id, 'viewer'), false);
    assert.equal(code(() => id.store.grantRole(u.id, 'boss' as never, T0_MS)), 'invalid_role');
    assert.equal(code(() => id.store.grantRole(999, 'viewer', T0_MS)), 'not_found');
    assert.throws(() => id.db.prepare("INSERT INTO user_roles VALUES (?, 'boss', 0)").run(u.id), /CHECK/);
  });

  it('accounts: engine ids, explicit or next; owned plus granted access; inactive ones drop out', async () => {
    const owner = await id.store.createUser({ email: 'owner@example.com', password: PASSWORD }, T0_MS);
    const desk = await id.store.createUser({ email: 'desk@example.com', password: PASSWORD }, T0_MS);
    const a = id.store.createAccount({ userId: owner.id, id: 100, accountType: 'margin' }, T0_MS);
    const b = id.store.createAccount({ userId: owner.id }, T0_MS);
    assert.deepEqual([a.id, a.accountType, b.id], [100, 'margin', 101]);
    assert.deepEqual(id.store.accountIdsOf(owner.id), [100, 101]);
    assert.deepEqual(id.store.accountIdsOf(desk.id), []);
    id.store.grantAccountAccess(desk.id, 100, T0_MS);
    assert.deepEqual(id.store.accountIdsOf(desk.id), [100]);
    id.store.setAccountActive(100, false);
    assert.deepEqual(id.store.accountIdsOf(owner.id), [101]);
    assert.deepEqual(id.store.accountIdsOf(desk.id), []);
    assert.equal(id.store.revokeAccountAccess(desk.id, 100), true);
    assert.equal(code(() => id.store.createAccount({ userId: owner.id, id: 100 }, T0_MS)), 'duplicate');
    assert.equal(code(() => id.store.createAccount({ userId: owner.id, id: 0 }, T0_MS)), 'invalid_account');
    assert.equal(code(() => id.store.createAccount({ userId: owner.id, id: 2 ** 53 }, T0_MS)), 'invalid_account');
    assert.equal(code(() => id.store.createAccount({ userId: owner.id, id: 1.5 }, T0_MS)), 'invalid_account');
    assert.equal(code(() => id.store.createAccount({ userId: owner.id, accountType: 'crypto' as never }, T0_MS)), 'invalid_argument');
    assert.equal(code(() => id.store.createAccount({ userId: 999 }, T0_MS)), 'not_found');
    assert.equal(code(() => id.store.grantAccountAccess(desk.id, 555, T0_MS)), 'not_found');
  });

  it('the database file is private and reopening keeps the schema and data', () => {
    const file = identityDbPath(id.dataDir);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const again = openIdentityDb(file);
    try {
      assert.equal(again.pragma('user_version', { simple: true }), MIGRATIONS.length);
      assert.ok((again.prepare('SELECT COUNT(*) FROM users').pluck().get() as number) >= 4);
      assert.equal(again.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(again.pragma('foreign_keys', { simple: true }), 1);
    } finally {
      again.close();
    }
  });

  it('refuses a database from a newer build', () => {
    const file = identityDbPath(id.dataDir);
    id.db.pragma('user_version = 99');
    try {
      assert.throws(() => openIdentityDb(file), /newer than this build/);
    } finally {
      id.db.pragma(`user_version = ${MIGRATIONS.length}`);
    }
  });
});
