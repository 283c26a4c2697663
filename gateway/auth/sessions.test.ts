import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PASSWORD, T0_MS, addUser, openTestIdentity, type TestIdentity } from './fixtures.js';
import { hashRefreshToken } from './sessions.js';
import { DEFAULT_PASSWORD_PARAMS } from './passwords.js';

const ctx = (nowMs: number) => ({ nowMs, remoteAddr: '203.0.113.5', requestId: 'req-1' });

describe('sessions: login, refresh rotation, reuse detection, logout', () => {
  let id: TestIdentity;
  let alice: number;

  before(async () => {
    id = openTestIdentity({ refreshTtlMs: 3_600_000, maxSessionMs: 10 * 3_600_000 });
    alice = await addUser(id, 'alice@example.com', ['trader'], [3, 5]);
    await addUser(id, 'bob@example.com', ['viewer'], [9]);
  });
  after(() => id.dispose());

  it('logs in and the access token carries roles and accounts', async () => {
    const r = await id.sessions.login('Alice@Example.com', PASSWORD, ctx(T0_MS));
    assert.ok(r.ok);
    assert.equal(r.userId, alice);
    assert.match(r.refreshToken, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(r.refreshExpiresAtMs, T0_MS + 3_600_000);
    const v = await id.accessTokens.verify(r.accessToken, T0_MS);
    assert.ok(v.ok);
    assert.deepEqual([...v.principal.accountIds], [3, 5]);
    assert.deepEqual([...v.principal.roles], ['trader']);
  });

  it('stores only the hash of the refresh token', async () => {
    const r = await id.sessions.login('alice@example.com', PASSWORD, ctx(T0_MS));
    assert.ok(r.ok);
    const plain = id.db.prepare('SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = ?').pluck().get(r.refreshToken);
    const hashed = id.db.prepare('SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = ?').pluck().get(hashRefreshToken(r.refreshToken));
    assert.equal(plain, 0);
    assert.equal(hashed, 1);
  });

  it('wrong password and unknown e-mail fail the same way, and are audited', async () => {
    const before = id.audit.head()?.seq ?? 0;
    const wrong = await id.sessions.login('alice@example.com', 'not the password', ctx(T0_MS));
    const unknown = await id.sessions.login('nobody@example.com', PASSWORD, ctx(T0_MS));
    assert.deepEqual(wrong, unknown);
    assert.equal(!wrong.ok && wrong.code, 'invalid_credentials');
    assert.equal(!wrong.ok && wrong.httpStatus, 401);
    const rows = id.audit.list(before);
    assert.deepEqual(rows.map((r) => [r.action, r.actor, r.outcome]), [
      ['auth.login', `user:${alice}`, 'failure'],
      ['auth.login', 'anonymous', 'failure'],
    ]);
    assert.equal(rows[0]!.remoteAddr, '203.0.113.5');
    assert.equal(rows[0]!.requestId, 'req-1');
  });

  it('a disabled user cannot log in or refresh', async () => {
    const carol = await addUser(id, 'carol@example.com', ['viewer'], []);
    const r = await id.sessions.login('carol@example.com', PASSWORD, ctx(T0_MS));
    assert.ok(r.ok);
    id.store.setUserActive(carol, false, T0_MS);
    const again = await id.sessions.login('carol@example.com', PASSWORD, ctx(T0_MS));
    assert.equal(!again.ok && again.code, 'user_disabled');
    const refreshed = await id.sessions.refresh(r.refreshToken, ctx(T0_MS + 1));
    assert.equal(!refreshed.ok && refreshed.code, 'user_disabled');
  });

  it('refresh rotates: a new pair each time, the old token is revoked', async () => {
    const l = await id.sessions.login('alice@example.com', PASSWORD, ctx(T0_MS));
    assert.ok(l.ok);
    const r1 = await id.sessions.refresh(l.refreshToken, ctx(T0_MS + 60_000));
    assert.ok(r1.ok);
    assert.notEqual(r1.refreshToken, l.refreshToken);
    assert.notEqual(r1.accessToken, l.accessToken);
    const r2 = await id.sessions.refresh(r1.refreshToken, ctx(T0_MS + 120_000));
    assert.ok(r2.ok);
    const old = id.db.prepare('SELECT revoked_reason, replaced_by FROM refresh_tokens WHERE token_hash = ?').get(hashRefreshToken(l.refreshToken));
    assert.deepEqual(old, { revoked_reason: 'rotated', replaced_by: hashRefreshToken(r1.refreshToken) });
  });

  it('reusing a rotated token revokes the whole family (the thief and the owner both lose it)', async () => {
    const l = await id.sessions.login('alice@example.com', PASSWORD, ctx(T0_MS));
    assert.ok(l.ok);
    const stolenCopy = l.refreshToken;
    const owner = await id.sessions.refresh(l.refreshToken, ctx(T0_MS + 1000));
    assert.ok(owner.ok);
    const thief = await id.sessions.refresh(stolenCopy, ctx(T0_MS + 2000));
    assert.equal(!thief.ok && thief.code, 'refresh_reused');
    const ownerNext = await id.sessions.refresh(owner.refreshToken, ctx(T0_MS + 3000));
    assert.equal(!ownerNext.ok && ownerNext.code, 'refresh_reused', 'the newest token of the family is dead too');
    const last = id.audit.list((id.audit.head()?.seq ?? 2) - 2);
    assert.ok(last.some((r) => r.action === 'auth.refresh_reuse' && r.outcome === 'denied'));
    const live = id.db.prepare('SELECT COUNT(*) FROM refresh_tokens WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = ?) AND revoked_at_ms IS NULL')
      .pluck().get(hashRefreshToken(stolenCopy));
    assert.equal(live, 0);
  });

  it('revoking a family revokes its access tokens too, not other sessions of the user', async () => {
    const l = await id.sessions.login('alice@example.com', PASSWORD, ctx(T0_MS));
    const other = await id.sessions.login('alice@example.com', PASSWORD, ctx(T0_MS));
    assert.ok(l.ok && other.ok);
    const owner = await id.sessions.refresh(l.refreshToken, ctx(T0_MS + 1000));
    assert.ok(owner.ok);
    assert.ok((await id.accessTokens.verify(owner.accessToken, T0_MS + 1500)).ok, 'valid before the reuse');
    const thief = await id.sessions.refresh(l.refreshToken, ctx(T0_MS + 2000));
    assert.equal(!thief.ok && thief.code, 'refresh_reused');
    for (const t of [l.accessToken, owner.accessToken]) {
      const v = await id.accessTokens.verify(t, T0_MS + 2500);
      assert.equal(!v.ok && v.code, 'token_revoked', 'every access token of the family is dead');
    }
    assert.ok((await id.accessTokens.verify(other.accessToken, T0_MS + 2500)).ok, 'another login of the same user is not touched');
    id.sessions.revokeAllForUser(alice, 'password_changed', T0_MS + 3000);
    const v = await id.accessTokens.verify(other.accessToken, T0_MS + 3500);
    assert.equal(!v.ok && v.code, 'token_revoked', 'ending every session ends its access tokens');
  });

  it('two concurrent refreshes of one token: one wins, the other counts as reuse', async () => {
    const l = await id.sessions.login('alice@example.com', PASSWORD, ctx(T0_MS));
    assert.ok(l.ok);
    const [a, b] = await Promise.all([
      id.sessions.refresh(l.refreshToken, ctx(T0_MS + 1)),
      id.sessions.refresh(l.refreshToken, ctx(T0_MS + 1)),
    ]);
    assert.equal([a, b].filter((r) => r.ok).length, 1);
    assert.equal([a, b].filter((r) => !r.ok && r.code === 'refresh_reused').length, 1);
  });

  it('refresh tokens expire, and a family ends at login + maxSessionMs', async () => {
    const l = await id.sessions.login('alice@example.com', PASSWORD, ctx(T0_MS));
    assert.ok(l.ok);
    const late = await id.sessions.refresh(l.refreshToken, ctx(T0_MS + 3_600_000));
    assert.equal(!late.ok && late.code, 'refresh_expired');

    let cur = await id.sessions.login('alice@example.com', PASSWORD, ctx(T0_MS));
    assert.ok(cur.ok);
    for (let h = 1; h <= 9; h++) {
      const next = await id.sessions.refresh(cur.refreshToken, ctx(T0_MS + h * 3_500_000));
      assert.ok(next.ok, `refresh ${h}`);
      assert.ok(next.refreshExpiresAtMs <= T0_MS + 10 * 3_600_000);
      cur = next;
    }
    const beyond = await id.sessions.refresh(cur.refreshToken, ctx(T0_MS + 10 * 3_600_000));
    assert.equal(!beyond.ok && beyond.code, 'refresh_expired');
  });

  it('unknown or malformed refresh tokens are refused', async () => {
    for (const t of ['', 'x', 'A'.repeat(43), 'A'.repeat(44), '../../etc/passwd']) {
      const r = await id.sessions.refresh(t, ctx(T0_MS));
      assert.equal(!r.ok && r.code, 'refresh_invalid', t);
    }
  });

  it('logout revokes the refresh family and the access token', async () => {
    const l = await id.sessions.login('alice@example.com', PASSWORD, ctx(T0_MS));
    assert.ok(l.ok);
    const v = await id.accessTokens.verify(l.accessToken, T0_MS);
    assert.ok(v.ok);
    assert.equal(await id.sessions.logout(l.refreshToken, ctx(T0_MS + 5), { jti: v.principal.credentialId, expiresAtMs: v.expiresAtMs }), true);
    const r = await id.sessions.refresh(l.refreshToken, ctx(T0_MS + 10));
    assert.equal(!r.ok && r.code, 'refresh_revoked', 'after logout: a plain revoked token, not reuse');
    assert.equal(!r.ok && r.httpStatus, 401);
    const row = id.audit.list((id.audit.head()?.seq ?? 1) - 1).at(-1)!;
    assert.equal(row.action, 'auth.refresh');
    assert.equal(row.outcome, 'failure');
    assert.equal((row.detail as { code?: string }).code, 'refresh_revoked');
    const a = await id.accessTokens.verify(l.accessToken, T0_MS + 10);
    assert.equal(!a.ok && a.code, 'token_revoked');
    assert.equal(await id.sessions.logout(l.refreshToken, ctx(T0_MS + 20)), true, 'idempotent on a known token');
    assert.equal(await id.sessions.logout('nonsense', ctx(T0_MS + 20)), false);
  });

  it('revokeAllForUser ends every session', async () => {
    const a = await id.sessions.login('bob@example.com', PASSWORD, ctx(T0_MS));
    const b = await id.sessions.login('bob@example.com', PASSWORD, ctx(T0_MS));
    assert.ok(a.ok && b.ok);
    assert.ok(id.sessions.revokeAllForUser(a.userId, 'password_changed', T0_MS) >= 2);
    const r = await id.sessions.refresh(a.refreshToken, ctx(T0_MS + 1));
    assert.equal(!r.ok && r.code, 'refresh_revoked');
  });

  it('after logout, a token rotated before it is still reuse; a fresh login of the same user is not touched', async () => {
    const l = await id.sessions.login('alice@example.com', PASSWORD, ctx(T0_MS));
    const other = await id.sessions.login('alice@example.com', PASSWORD, ctx(T0_MS));
    assert.ok(l.ok && other.ok);
    const next = await id.sessions.refresh(l.refreshToken, ctx(T0_MS + 1));
    assert.ok(next.ok);
    assert.equal(await id.sessions.logout(next.refreshToken, ctx(T0_MS + 2)), true);
    const loggedOut = await id.sessions.refresh(next.refreshToken, ctx(T0_MS + 3));
    assert.equal(!loggedOut.ok && loggedOut.code, 'refresh_revoked');
    const rotated = await id.sessions.refresh(l.refreshToken, ctx(T0_MS + 4));
    assert.equal(!rotated.ok && rotated.code, 'refresh_reused', 'the rotated token presented again is reuse, logout or not');
    const reason = id.db.prepare('SELECT revoked_reason FROM refresh_tokens WHERE token_hash = ?').pluck().get(hashRefreshToken(next.refreshToken));
    assert.equal(reason, 'logout', 'a refresh after logout changes nothing');
    assert.ok((await id.sessions.refresh(other.refreshToken, ctx(T0_MS + 5))).ok);
  });

  it('rehashes a password made with old parameters at the next login', async () => {
    const s2 = openTestIdentity({ dataDir: id.dataDir, passwordParams: { ...DEFAULT_PASSWORD_PARAMS } });
    try {
      const r = await s2.sessions.login('bob@example.com', PASSWORD, ctx(T0_MS));
      assert.ok(r.ok);
      const stored = s2.store.credentialsOf('bob@example.com')!.passwordHash;
      assert.match(stored, /m=19456,t=2,p=1/);
    } finally {
      s2.close();
    }
  });

  it('the audit chain of all that still verifies', () => {
    const v = id.audit.verify();
    assert.ok(v.ok);
    assert.ok(v.rows > 10);
  });
});
