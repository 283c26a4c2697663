import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuthError } from './errors.js';
import { SecretBox, decodeKey, loadOrCreateKeyFile } from './secret-box.js';
import { tempDir } from './fixtures.js';

describe('secret box (AES-256-GCM)', () => {
  const box = new SecretBox(Buffer.alloc(32, 3));

  it('round-trips and is bound to its key id', () => {
    const s = box.seal(Buffer.from('secret-value'), 'ak_1');
    assert.equal(s[0], 1);
    assert.equal(s.length, 1 + 12 + 12 + 16);
    assert.equal(box.open(s, 'ak_1')!.toString(), 'secret-value');
    assert.equal(box.open(s, 'ak_2'), undefined, 'moved to another key id');
  });

  it('refuses tampering, truncation and another master key', () => {
    const s = box.seal(Buffer.from('secret-value'), 'ak_1');
    for (let i = 0; i < s.length; i++) {
      const t = Buffer.from(s);
      t[i] = t[i]! ^ 0x01;
      assert.equal(box.open(t, 'ak_1'), undefined, `byte ${i}`);
    }
    assert.equal(box.open(s.subarray(0, 20), 'ak_1'), undefined);
    assert.equal(new SecretBox(Buffer.alloc(32, 4)).open(s, 'ak_1'), undefined);
    assert.throws(() => new SecretBox(Buffer.alloc(16)), AuthError);
  });

  it('creates a key file once, mode 0600, and reads it back', () => {
    const dir = tempDir();
    try {
      const f = join(dir, 'sub', 'master.key');
      const k1 = loadOrCreateKeyFile(f);
      assert.equal(k1.length, 32);
      assert.equal(statSync(f).mode & 0o777, 0o600);
      assert.deepEqual(loadOrCreateKeyFile(f), k1);
      writeFileSync(f, 'too-short\n');
      assert.throws(() => loadOrCreateKeyFile(f), AuthError);
      assert.match(readFileSync(f, 'utf8'), /too-short/, 'never overwritten');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decodes base64 and base64url keys of the exact size', () => {
    const k = Buffer.alloc(32, 0xfb);
    assert.deepEqual(decodeKey(k.toString('base64'), 32, 'X'), k);
    assert.deepEqual(decodeKey(k.toString('base64url'), 32, 'X'), k);
    assert.throws(() => decodeKey(Buffer.alloc(31).toString('base64'), 32, 'X'), AuthError);
    assert.throws(() => decodeKey('not base64 !!', 32, 'X'), AuthError);
  });
});
