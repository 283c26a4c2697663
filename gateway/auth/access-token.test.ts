import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { AccessTokens, TokenDenylist, bearerToken, type JwtKeyConfig } from './access-token.js';
import { AuthError } from './errors.js';
import { T0_MS } from './fixtures.js';

const SECRET = Buffer.alloc(32, 9);
const HS: JwtKeyConfig = { alg: 'HS256', secret: SECRET };
const SUBJECT = { userId: 12, roles: ['trader', 'viewer'] as const, accountIds: [3, 5] };

function b64(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(T0_MS / 1000);
  return { iss: 'trading-engine', aud: 'trading-engine-api', sub: '12', roles: ['trader'], accounts: [3], iat, exp: iat + 900, jti: 'abc', ...over };
}

/** A compact JWS made by hand, HMAC-signed with `secret` (or unsigned for alg none). */
function handMade(header: Record<string, unknown>, payload: Record<string, unknown>, secret?: Uint8Array): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const sig = secret ? createHmac('sha256', secret).update(input).digest('base64url') : '';
  return `${input}.${sig}`;
}

describe('access tokens (JWT)', () => {
  const tokens = new AccessTokens({ key: HS, denylist: new TokenDenylist() });

  it('issues a token that verifies into a session principal', async () => {
    const t = await tokens.issue(SUBJECT, T0_MS);
    assert.equal(t.expiresAtMs, (Math.floor(T0_MS / 1000) + 900) * 1000);
    const [h] = t.token.split('.');
    assert.deepEqual(JSON.parse(Buffer.from(h!, 'base64url').toString()), { alg: 'HS256', typ: 'at+jwt' });
    const r = await tokens.verify(t.token, T0_MS + 1000);
    assert.ok(r.ok);
    assert.equal(r.principal.kind, 'session');
    assert.equal(r.principal.userId, 12);
    assert.deepEqual([...r.principal.roles], ['trader', 'viewer']);
    assert.deepEqual([...r.principal.accountIds], [3, 5]);
    assert.equal(r.principal.credentialId, t.jti);
    assert.equal(r.principal.keyScopes, null);
  });

  it('every token has its own jti', async () => {
    const a = await tokens.issue(SUBJECT, T0_MS);
    const b = await tokens.issue(SUBJECT, T0_MS);
    assert.notEqual(a.jti, b.jti);
  });

  it('rejects an expired token (after the clock tolerance)', async () => {
    const t = await tokens.issue(SUBJECT, T0_MS);
    assert.ok((await tokens.verify(t.token, t.expiresAtMs + 4000)).ok, 'inside the 5 s tolerance');
    const r = await tokens.verify(t.token, t.expiresAtMs + 6000);
    assert.equal(!r.ok && r.code, 'token_expired');
    assert.equal(!r.ok && r.httpStatus, 401);
  });

  it('rejects a token issued in the future', async () => {
    const t = await tokens.issue(SUBJECT, T0_MS + 60_000);
    const r = await tokens.verify(t.token, T0_MS);
    assert.equal(r.ok, false);
  });

  it('rejects a token signed with another key (forged)', async () => {
    const other = new AccessTokens({ key: { alg: 'HS256', secret: Buffer.alloc(32, 1) } });
    const t = await other.issue(SUBJECT, T0_MS);
    const r = await tokens.verify(t.token, T0_MS);
    assert.equal(!r.ok && r.code, 'token_invalid');
  });

  it('rejects a token whose payload was changed after signing', async () => {
    const t = await tokens.issue(SUBJECT, T0_MS);
    const [h, , s] = t.token.split('.');
    const forged = `${h}.${b64(claims({ roles: ['admin'], accounts: [1, 2, 3] }))}.${s}`;
    assert.equal((await tokens.verify(forged, T0_MS)).ok, false);
  });

  it('rejects alg "none" (unsigned), in any spelling', async () => {
    for (const alg of ['none', 'None', 'NONE']) {
      const r = await tokens.verify(handMade({ alg, typ: 'at+jwt' }, claims()), T0_MS);
      assert.equal(!r.ok && r.code, 'token_invalid', alg);
    }
  });

  it('accepts a correct hand-made HS256 token (the hand-made path is sound)', async () => {
    const r = await tokens.verify(handMade({ alg: 'HS256', typ: 'at+jwt' }, claims(), SECRET), T0_MS);
    assert.ok(r.ok);
  });

  it('rejects wrong issuer, audience, typ, or missing/ill-typed claims', async () => {
    const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
      ['issuer', { alg: 'HS256', typ: 'at+jwt' }, claims({ iss: 'evil' })],
      ['audience', { alg: 'HS256', typ: 'at+jwt' }, claims({ aud: 'other-api' })],
      ['typ', { alg: 'HS256', typ: 'JWT' }, claims()],
      ['no jti', { alg: 'HS256', typ: 'at+jwt' }, claims({ jti: undefined })],
      ['no exp', { alg: 'HS256', typ: 'at+jwt' }, claims({ exp: undefined })],
      ['unknown role', { alg: 'HS256', typ: 'at+jwt' }, claims({ roles: ['superuser'] })],
      ['roles not a list', { alg: 'HS256', typ: 'at+jwt' }, claims({ roles: 'admin' })],
      ['fractional account', { alg: 'HS256', typ: 'at+jwt' }, claims({ accounts: [1.5] })],
      ['account 0', { alg: 'HS256', typ: 'at+jwt' }, claims({ accounts: [0] })],
      ['sub not numeric', { alg: 'HS256', typ: 'at+jwt' }, claims({ sub: 'admin' })],
    ];
    for (const [name, h, p] of cases) {
      const r = await tokens.verify(handMade(h, p, SECRET), T0_MS);
      assert.equal(!r.ok && r.code, 'token_invalid', name);
    }
  });

  it('rejects garbage', async () => {
    for (const t of ['', 'a.b.c', 'not-a-jwt', `${b64({ alg: 'HS256' })}.`]) {
      assert.equal((await tokens.verify(t, T0_MS)).ok, false);
    }
  });

  it('a revoked jti is refused until it would have expired anyway', async () => {
    const denylist = new TokenDenylist();
    const ts = new AccessTokens({ key: HS, denylist });
    const t = await ts.issue(SUBJECT, T0_MS);
    ts.revoke(t.jti, t.expiresAtMs);
    const r = await ts.verify(t.token, T0_MS + 1);
    assert.equal(!r.ok && r.code, 'token_revoked');
    assert.equal(denylist.has(t.jti, t.expiresAtMs + 1), false, 'forgotten after expiry');
    assert.equal(denylist.size, 0);
  });

  it('EdDSA: verifies with the public key; HS256 made with the public key is refused (alg confusion)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const ed = new AccessTokens({ key: { alg: 'EdDSA', privateKey, publicKey, kid: 'k1' } });
    const t = await ed.issue(SUBJECT, T0_MS);
    const r = await ed.verify(t.token, T0_MS);
    assert.ok(r.ok);
    const pem = Buffer.from(publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const confused = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' }).sign(pem);
    assert.equal((await ed.verify(confused, T0_MS)).ok, false);
    assert.equal((await tokens.verify(t.token, T0_MS)).ok, false, 'an HS256 verifier refuses EdDSA tokens');
  });

  it('refuses weak keys', () => {
    assert.throws(() => new AccessTokens({ key: { alg: 'HS256', secret: Buffer.alloc(31) } }), AuthError);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.throws(() => new AccessTokens({ key: { alg: 'EdDSA', privateKey, publicKey } }), AuthError);
  });

  it('bearerToken reads the Authorization header', () => {
    assert.equal(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi');
    assert.equal(bearerToken('bearer abc'), undefined);
    assert.equal(bearerToken('Basic dXNlcjpwYXNz'), undefined);
    assert.equal(bearerToken(undefined), undefined);
  });
});

describe('access tokens: verified-token cache', () => {
  it('trusts only the exact token string, and still applies revocation and expiry on every use', async () => {
    const denylist = new TokenDenylist();
    const ts = new AccessTokens({ key: HS, denylist });
    const t = await ts.issue(SUBJECT, T0_MS);
    assert.ok((await ts.verify(t.token, T0_MS + 1000)).ok, 'first use: full verification');
    assert.ok((await ts.verify(t.token, T0_MS + 2000)).ok, 'second use: from the cache');
    // One changed character in the signature is another string: full verification, refused.
    // Change the signature's FIRST character: its 6 bits are all significant, whereas the last
    // character of a 43-character base64url signature carries 2 padding bits that decoders
    // ignore ('A' -> 'B' there decodes to the same bytes and would verify).
    const sigAt = t.token.lastIndexOf('.') + 1;
    const first = t.token[sigAt];
    const tampered = t.token.slice(0, sigAt) + (first === 'A' ? 'g' : 'A') + t.token.slice(sigAt + 1);
    assert.notEqual(
      Buffer.from(tampered.slice(sigAt), 'base64url').toString('hex'),
      Buffer.from(t.token.slice(sigAt), 'base64url').toString('hex'),
      'the tampered signature decodes to different bytes',
    );
    assert.equal((await ts.verify(tampered, T0_MS + 2000)).ok, false);
    ts.revoke(t.jti, t.expiresAtMs);
    const r = await ts.verify(t.token, T0_MS + 3000);
    assert.equal(!r.ok && r.code, 'token_revoked', 'revocation applies to a cached token');
    const t2 = await ts.issue(SUBJECT, T0_MS);
    assert.ok((await ts.verify(t2.token, T0_MS + 1000)).ok);
    const e = await ts.verify(t2.token, t2.expiresAtMs + 6000);
    assert.equal(!e.ok && e.code, 'token_expired', 'expiry applies to a cached token');
  });
});
