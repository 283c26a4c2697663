import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { waitAsync } from '../../gateway/ring.js';
import { ARM, FIRE, STOP } from './pacer-worker.js';

test('the pacer wakes the event loop at the armed time, never before it, and a re-arm replaces the time', async () => {
  const ctlSab = new SharedArrayBuffer(16), dueSab = new SharedArrayBuffer(8);
  const ctl = new Int32Array(ctlSab), due = new Float64Array(dueSab);
  // Armed before the thread starts: the first arm must not be missed.
  due[0] = performance.timeOrigin + performance.now() + 5;
  Atomics.add(ctl, ARM, 1);
  const worker = new Worker(new URL('./pacer-worker.js', import.meta.url), { workerData: { ctl: ctlSab, due: dueSab } });
  try {
    for (let i = 0; i < 20; i++) {
      if (i > 0) {
        // Arm far in the future, then re-arm sooner: the sooner time wins.
        Atomics.store(ctl, FIRE, 0);
        due[0] = performance.timeOrigin + performance.now() + 60_000;
        Atomics.add(ctl, ARM, 1); Atomics.notify(ctl, ARM);
        due[0] = performance.timeOrigin + performance.now() + 1 + (i % 3);
        Atomics.add(ctl, ARM, 1); Atomics.notify(ctl, ARM);
      }
      const armedFor = due[0]!;
      const w = waitAsync(ctl, FIRE, 0, 10_000);
      const r = w.async ? await w.value : w.value;
      assert.notEqual(r, 'timed-out', `arm ${i} fired`);
      assert.equal(Atomics.load(ctl, FIRE), 1);
      assert.ok(performance.timeOrigin + performance.now() >= armedFor, `arm ${i} fired at or after its time`);
    }
  } finally {
    Atomics.store(ctl, STOP, 1); Atomics.add(ctl, ARM, 1); Atomics.notify(ctl, ARM);
    const code = await new Promise<number>((r) => worker.once('exit', r));
    assert.equal(code, 0, 'the pacer exits on STOP');
  }
});
