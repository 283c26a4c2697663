import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PASSWORD_PARAMS, hashPassword, needsRehash, passwordProblem, verifyPassword } from './passwords.js';
import { FAST_PASSWORD_PARAMS } from './fixtures.js';

describe('passwords (argon2id)', () => {
  it('hashes with the default parameters into a self-describing PHC string', async () => {
    const h = await hashPassword('correct horse battery staple');
    assert.match(h, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.equal(await verifyPassword(h, 'correct horse battery staple'), true);
    assert.equal(needsRehash(h, DEFAULT_PASSWORD_PARAMS), false);
  });

  it('rejects a wrong password, a near miss and an empty one', async () => {
    const h = await hashPassword('correct horse battery staple', FAST_PASSWORD_PARAMS);
    assert.equal(await verifyPassword(h, 'correct horse battery stapl'), false);
    assert.equal(await verifyPassword(h, 'Correct horse battery staple'), false);
    assert.equal(await verifyPassword(h, ''), false);
  });

  it('salts: the same password hashes differently each time', async () => {
    const a = await hashPassword('same password here', FAST_PASSWORD_PARAMS);
    const b = await hashPassword('same password here', FAST_PASSWORD_PARAMS);
    assert.notEqual(a, b);
  });

  it('normalizes Unicode (NFC) so composed and decomposed forms match', async () => {
    const h = await hashPassword('caf\u00e9 au lait 2024', FAST_PASSWORD_PARAMS);
    assert.equal(await verifyPassword(h, 'cafe\u0301 au lait 2024'), true);
  });

  it('never throws on a malformed stored hash or an oversized password', async () => {
    assert.equal(await verifyPassword('not a hash', 'whatever password'), false);
    const h = await hashPassword('x'.repeat(20), FAST_PASSWORD_PARAMS);
    assert.equal(await verifyPassword(h, 'x'.repeat(5000)), false);
  });

  it('needsRehash when the parameters changed or the hash is foreign', async () => {
    const h = await hashPassword('some long password', FAST_PASSWORD_PARAMS);
    assert.equal(needsRehash(h, FAST_PASSWORD_PARAMS), false);
    assert.equal(needsRehash(h, DEFAULT_PASSWORD_PARAMS), true);
    assert.equal(needsRehash('$2b$10$abcdefghijklmnopqrstuv', DEFAULT_PASSWORD_PARAMS), true);
  });

  it('password policy: 10 characters at least, 1024 bytes at most', () => {
    assert.match(passwordProblem('short')!, /at least 10/);
    assert.equal(passwordProblem('ten chars!'), null);
    assert.match(passwordProblem('\u00e9'.repeat(600))!, /at most 1024 bytes/);
  });
});
