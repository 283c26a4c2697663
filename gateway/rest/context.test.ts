import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { engineClientOrderId } from './context.js';

test('engineClientOrderId: digits map to themselves, other strings to the first 48 bits of their SHA-256 plus 1 (stable across versions)', () => {
  assert.equal(engineClientOrderId('1'), 1);
  assert.equal(engineClientOrderId('123456789012345'), 123456789012345);
  for (const s of ['abc', 'my-order-1', '0123', '1234567890123456', 'ünï ✓', 'x'.repeat(64)]) {
    const expect = createHash('sha256').update(s, 'utf8').digest().readUIntBE(0, 6) + 1;
    assert.equal(engineClientOrderId(s), expect, s);
    assert.ok(Number.isSafeInteger(expect) && expect >= 1);
  }
});
