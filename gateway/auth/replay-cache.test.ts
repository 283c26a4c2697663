import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayCache } from './replay-cache.js';

describe('replay cache', () => {
  it('remembers an id until its expiry, then forgets it', () => {
    const c = new ReplayCache(10);
    assert.equal(c.checkAndRemember('k:n1', 1000, 0), 'fresh');
    assert.equal(c.checkAndRemember('k:n1', 1000, 500), 'replayed');
    assert.equal(c.checkAndRemember('k:n1', 1000, 1000), 'replayed', 'still live at its expiry');
    assert.equal(c.checkAndRemember('k:n1', 2001, 1001), 'fresh', 'expired: may be recorded again');
  });

  it('stays bounded: expired entries are swept as new ones arrive', () => {
    const c = new ReplayCache(100);
    for (let i = 0; i < 10_000; i++) assert.equal(c.checkAndRemember(`n${i}`, i + 50, i), 'fresh');
    assert.ok(c.size <= 51, `size ${c.size}`);
  });

  it('refuses new ids when full of live ones (fail closed), accepts again once they expire', () => {
    const c = new ReplayCache(3);
    for (const n of ['a', 'b', 'c']) assert.equal(c.checkAndRemember(n, 100, 0), 'fresh');
    assert.equal(c.checkAndRemember('d', 100, 1), 'full');
    assert.equal(c.checkAndRemember('a', 100, 1), 'replayed', 'a live id is never forgotten to make room');
    assert.equal(c.checkAndRemember('d', 300, 101), 'fresh');
  });

  it('sweeps out-of-order expiries when full', () => {
    const c = new ReplayCache(2);
    assert.equal(c.checkAndRemember('late', 10_000, 0), 'fresh');
    assert.equal(c.checkAndRemember('early', 10, 0), 'fresh');
    assert.equal(c.checkAndRemember('x', 20_000, 5000), 'fresh', 'early expired behind a later front entry');
  });

  it('rejects a bad capacity', () => {
    assert.throws(() => new ReplayCache(0), RangeError);
  });
});
