import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimerSlackNs, threadId, threadTimerSlackNs } from './thread-priority.js';

test('setTimerSlackNs sets the calling thread\'s timer slack only', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
  const tid = threadId();
  assert.ok(tid > 0);
  const before = threadTimerSlackNs(tid);
  assert.ok(before !== null && before > 0);
  try {
    assert.equal(setTimerSlackNs(1), 1);
    assert.equal(threadTimerSlackNs(tid), 1, 'as the kernel sees it');
    assert.equal(setTimerSlackNs(0), -1, '0 would mean "the process default": refused');
    assert.equal(setTimerSlackNs(1.5), -1);
    assert.equal(threadTimerSlackNs(tid), 1, 'a refused value changes nothing');
  } finally {
    setTimerSlackNs(before!);
  }
  assert.equal(threadTimerSlackNs(tid), before);
});
