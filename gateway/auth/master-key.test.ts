// The master key sealing API-key secrets (secret-box.ts, identity.ts): from ENGINE_MASTER_KEY or
// ENGINE_MASTER_KEY_FILE nothing is written to the data dir and the sealed secrets open again on the
// next open with the same key; a key that opens none of them fails the open with MasterKeyError
// (instead of 401s); no key configured and the data dir's key file gone fails too, without creating
// a new file; a data dir key moved out to ENGINE_MASTER_KEY_FILE keeps working.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FAST_PASSWORD_PARAMS, T0_MS, addUser, tempDir } from './fixtures.js';
import { MASTER_KEY_FILE, openIdentity, type Identity } from './identity.js';
import { MasterKeyError, decodeMasterKey, masterKeySourceFromEnv } from './secret-box.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const dir = (): string => { const d = tempDir('master-key-'); dirs.push(d); return d; };

const KEY_HEX = '5a'.repeat(32);
const OTHER_B64 = Buffer.alloc(32, 0x33).toString('base64');

function open(dataDir: string, env: Record<string, string>): Identity {
  return openIdentity({ dataDir, env, passwordParams: FAST_PASSWORD_PARAMS, jwtKey: { alg: 'HS256', secret: Buffer.alloc(32, 9) }, auditThread: false });
}

/** Opens, adds a user and an API key, closes; returns the key's id and secret. */
async function sealOne(dataDir: string, env: Record<string, string>): Promise<{ keyId: string; secret: string }> {
  const id = open(dataDir, env);
  try {
    const userId = await addUser(id, 'k@example.com', ['trader'], [1]);
    return id.apiKeys.create({ userId, accountIds: [1], scopes: ['read', 'trade'] }, T0_MS);
  } finally {
    id.close();
  }
}

function secretAfterReopen(dataDir: string, env: Record<string, string>, keyId: string): string | undefined {
  const id = open(dataDir, env);
  try {
    return id.apiKeys.material(keyId)?.secret.toString('utf8');
  } finally {
    id.close();
  }
}

function mismatch(fn: () => unknown, code: MasterKeyError['code'], re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MasterKeyError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, re);
    return true;
  });
}

describe('master key outside the data dir', () => {
  it('ENGINE_MASTER_KEY: no key file is written, secrets reopen with the same key, another key fails the open', async () => {
    const d = dir();
    const env = { ENGINE_MASTER_KEY: KEY_HEX };
    const k = await sealOne(d, env);
    assert.equal(existsSync(join(d, MASTER_KEY_FILE)), false, 'nothing written to the data dir');
    assert.equal(secretAfterReopen(d, env, k.keyId), k.secret);
    mismatch(() => open(d, { ENGINE_MASTER_KEY: OTHER_B64 }), 'master_key_mismatch',
      /master key from env ENGINE_MASTER_KEY opens none of the 1 newest sealed API-key secrets .*Set ENGINE_MASTER_KEY or ENGINE_MASTER_KEY_FILE/);
    // No key configured and no key file: refused, and no new key file made (it could never open them).
    mismatch(() => open(d, {}), 'master_key_missing', /no master key: .*identity-master\.key does not exist, but the identity database holds sealed API-key secrets/);
    assert.equal(existsSync(join(d, MASTER_KEY_FILE)), false);
    // The same key in base64 is the same key.
    assert.equal(secretAfterReopen(d, { ENGINE_MASTER_KEY: Buffer.from(KEY_HEX, 'hex').toString('base64') }, k.keyId), k.secret);
  });

  it('ENGINE_MASTER_KEY_FILE: read, never written; a missing file or wrong key fails', async () => {
    const d = dir();
    const keyDir = dir();
    const file = join(keyDir, 'master.key');
    writeFileSync(file, `${Buffer.alloc(32, 0x44).toString('base64url')}\n`, { mode: 0o400 });
    const env = { ENGINE_MASTER_KEY_FILE: file };
    const k = await sealOne(d, env);
    assert.equal(existsSync(join(d, MASTER_KEY_FILE)), false);
    assert.equal(secretAfterReopen(d, env, k.keyId), k.secret);
    mismatch(() => open(d, { ENGINE_MASTER_KEY_FILE: join(keyDir, 'missing.key') }), 'master_key_unreadable', /ENGINE_MASTER_KEY_FILE: cannot read .*missing\.key: ENOENT/);
    mismatch(() => open(d, { ENGINE_MASTER_KEY: KEY_HEX }), 'master_key_mismatch', /opens none of the 1 newest/);
    mismatch(() => open(d, { ENGINE_MASTER_KEY: KEY_HEX, ENGINE_MASTER_KEY_FILE: file }), 'master_key_conflict', /set only one of/);
  });

  it('a data dir key moved out of the data dir (to ENGINE_MASTER_KEY_FILE) keeps opening the secrets', async () => {
    const d = dir();
    const k = await sealOne(d, {});
    assert.ok(existsSync(join(d, MASTER_KEY_FILE)), 'default: the key file in the data dir');
    const outside = join(dir(), 'moved.key');
    renameSync(join(d, MASTER_KEY_FILE), outside);
    assert.equal(secretAfterReopen(d, { ENGINE_MASTER_KEY_FILE: outside }, k.keyId), k.secret);
    assert.equal(secretAfterReopen(d, { ENGINE_MASTER_KEY: readFileSync(outside, 'utf8').trim() }, k.keyId), k.secret);
    assert.equal(existsSync(join(d, MASTER_KEY_FILE)), false);
  });

  it('decodes hex and base64 keys of 32 bytes only, never echoing the value', () => {
    assert.deepEqual(decodeMasterKey(KEY_HEX, 'X'), Buffer.from(KEY_HEX, 'hex'));
    assert.deepEqual(decodeMasterKey(` ${OTHER_B64}\n`, 'X'), Buffer.alloc(32, 0x33));
    for (const bad of ['', 'zz'.repeat(32), 'ab'.repeat(33), Buffer.alloc(31).toString('base64'), 'not a key at all!']) {
      assert.throws(() => decodeMasterKey(bad, 'X'), (e: unknown) => e instanceof MasterKeyError && e.code === 'master_key_invalid' && (bad === '' || !e.message.includes(bad)));
    }
    assert.deepEqual(masterKeySourceFromEnv({}), { kind: 'data-dir' });
    assert.deepEqual(masterKeySourceFromEnv({ ENGINE_MASTER_KEY: '' }), { kind: 'data-dir' }, 'empty = unset');
  });
});
