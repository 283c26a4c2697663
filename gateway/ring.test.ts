import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { Ring, RingError, RING_HEADER_BYTES, RING_LINE_BYTES } from './ring.js';
import { ECHO_STOP, type EchoWorkerData } from './ring-echo-worker.js';

/** Deterministic content of record `seq`, word `i` (exact integers, distinct per word). */
function wordOf(seq: number, i: number): number {
  return seq * 64 + i * 7 + 1;
}

function fill(ring: Ring, o: number, seq: number): void {
  for (let i = 0; i < ring.recordWords; i++) ring.f64[o + i] = wordOf(seq, i);
}

function check(ring: Ring, o: number, seq: number): void {
  for (let i = 0; i < ring.recordWords; i++) {
    if (ring.f64[o + i] !== wordOf(seq, i)) assert.fail(`record ${seq} word ${i}: got ${ring.f64[o + i]}, want ${wordOf(seq, i)}`);
  }
}

test('shape validation and attach checks', () => {
  assert.throws(() => Ring.create(3, 128), RingError);
  assert.throws(() => Ring.create(0, 128), RingError);
  assert.throws(() => Ring.create(8, 12), RingError);
  assert.throws(() => Ring.create(8, 0), RingError);
  assert.throws(() => Ring.create(8, 128, { spinIterations: -1 }), RingError);
  assert.throws(() => Ring.attach(new SharedArrayBuffer(RING_HEADER_BYTES + 1024)), /bad magic/);
  const r = Ring.create(16, 64);
  assert.equal(r.sab.byteLength, Ring.bytesFor(16, 64));
  const v = Ring.attach(r.sab);
  assert.equal(v.capacity, 16);
  assert.equal(v.recordBytes, 64);
  assert.equal(v.recordWords, 8);
  assert.throws(() => Ring.attach(r.sab.slice(0, r.sab.byteLength - 8)), /size/);
});

test('layout: shared words on separate 128-byte lines, records 8-byte aligned after the header', () => {
  const r = Ring.create(4, 128);
  const o = r.tryReserve();
  assert.equal(o * 8, RING_HEADER_BYTES);
  assert.equal(RING_HEADER_BYTES, 4 * RING_LINE_BYTES);
});

test('empty and full edges; full never blocks the producer', () => {
  const prod = Ring.create(8, 128);
  const cons = Ring.attach(prod.sab);
  assert.equal(cons.poll(), -1);
  assert.equal(cons.peek(), -1);
  assert.equal(cons.available(), 0);
  assert.equal(cons.waitForData(0), 0);
  for (let s = 0; s < 8; s++) {
    const o = prod.tryReserve();
    assert.ok(o >= 0);
    fill(prod, o, s);
  }
  assert.equal(prod.tryReserve(), -1, 'full ring answers -1');
  assert.equal(cons.available(), 0, 'nothing visible before publish');
  assert.equal(prod.publish(), 8);
  assert.equal(prod.tryReserve(), -1);
  assert.equal(prod.freeSlots(), 0);
  assert.equal(cons.available(), 8);
  const p = cons.peek();
  assert.equal(cons.poll(), p, 'peek does not consume');
  check(cons, p, 0);
  assert.equal(prod.tryReserve(), -1, 'polled but unreleased slots stay owned by the consumer');
  cons.release(1);
  const o = prod.tryReserve();
  assert.ok(o >= 0, 'a released slot can be reserved again');
  assert.equal(o, p, 'wraps to the first slot');
  prod.abortReserved();
  assert.equal(prod.reservedCount(), 0);
  for (let s = 1; s < 8; s++) check(cons, cons.poll(), s);
  assert.equal(cons.poll(), -1);
  assert.throws(() => cons.release(8), RingError);
  assert.equal(cons.releaseAll(), 7);
  assert.equal(prod.freeSlots(), 8);
  assert.equal(prod.notifyCount, 0, 'no notify when the consumer is not sleeping');
});

test('single-thread wraparound with varied batch sizes keeps order and content', () => {
  for (const recordBytes of [8, 64, 128, 200]) {
    const prod = Ring.create(16, recordBytes);
    const cons = Ring.attach(prod.sab);
    let nextWrite = 0;
    let nextRead = 0;
    for (let round = 0; round < 5000; round++) {
      const burst = 1 + ((round * 7) % 17);
      for (let k = 0; k < burst; k++) {
        const o = prod.tryReserve();
        if (o < 0) break;
        fill(prod, o, nextWrite++);
      }
      prod.publish();
      const take = 1 + ((round * 5) % 13);
      for (let k = 0; k < take; k++) {
        const o = cons.poll();
        if (o < 0) break;
        check(cons, o, nextRead++);
      }
      cons.release(cons.unreleasedCount());
    }
    for (let o = cons.poll(); o >= 0; o = cons.poll()) check(cons, o, nextRead++);
    assert.equal(nextRead, nextWrite);
    assert.ok(nextWrite > 5000 * 4);
  }
});

test('free-running counters survive the int32 sign flip and the 2^32 wrap', () => {
  for (const start of [0x7ffffff0 | 0, -20]) {
    const prod0 = Ring.create(8, 64);
    const hdr = new Int32Array(prod0.sab, 0, RING_HEADER_BYTES / 4);
    hdr[RING_LINE_BYTES / 4] = start; // tail
    hdr[(2 * RING_LINE_BYTES) / 4] = start; // head
    const prod = Ring.attach(prod0.sab);
    const cons = Ring.attach(prod0.sab);
    let w = 0;
    let r = 0;
    for (let round = 0; round < 40; round++) {
      for (let k = 0; k < 5; k++) {
        const o = prod.tryReserve();
        if (o < 0) break;
        fill(prod, o, w++);
      }
      prod.publish();
      for (let k = 0; k < 3; k++) {
        const o = cons.poll();
        if (o < 0) break;
        check(cons, o, r++);
      }
      cons.releaseAll();
    }
    for (let o = cons.poll(); o >= 0; o = cons.poll()) check(cons, o, r++);
    assert.equal(r, w);
    assert.ok(w > 100);
  }
});

test('tryPush and copyOut copy whole records', () => {
  const prod = Ring.create(4, 64);
  const cons = Ring.attach(prod.sab);
  const src = new Float64Array(16).map((_, i) => i + 0.5);
  assert.ok(prod.tryPush(src, 8));
  prod.publish();
  const dst = new Float64Array(8);
  cons.copyOut(cons.poll(), dst);
  assert.deepEqual(Array.from(dst), Array.from(src.subarray(8)));
});

test('waitForData times out on an empty ring and counts the sleep', () => {
  const prod = Ring.create(4, 64);
  const cons = Ring.attach(prod.sab, { spinIterations: 100 });
  assert.equal(cons.waitForData(5), 0);
  assert.equal(cons.waitCount, 1);
  assert.equal(cons.consumerSleeping(), false, 'flag cleared after the timeout');
  fill(prod, prod.tryReserve(), 0);
  prod.publish();
  assert.equal(cons.waitForData(5), 1);
  assert.equal(cons.waitCount, 1, 'no sleep when data is there');
});

test('adaptiveSpinUs: validated; a consumer whose waits are short keeps polling instead of sleeping', async () => {
  assert.throws(() => Ring.attach(Ring.create(4, 64).sab, { adaptiveSpinUs: -1 }), RingError);
  assert.throws(() => Ring.attach(Ring.create(4, 64).sab, { adaptiveSpinUs: 10_001 }), RingError);
  // Ping-pong, one record at a time: each of the echo thread's waits after the first lasts one round
  // trip, far below the 10 ms window (a 100x margin for a loaded machine), so it polls through them.
  const e = await startEcho(64, 64, 0, 10_000);
  const n = 2000;
  for (let k = 0; k < n; k++) {
    // A pause of ~20 us before each record, so the echo thread has emptied its ring and must wait
    // (without it a quiet machine lets it find the next record already there: no wait to measure).
    const until = performance.now() + 0.02;
    while (performance.now() < until) { /* pause */ }
    const o = e.toWorker.tryReserve();
    e.toWorker.f64[o] = k;
    e.toWorker.publish();
    let r = e.fromWorker.poll();
    while (r < 0) r = e.fromWorker.poll();
    assert.equal(e.fromWorker.f64[r], k);
    e.fromWorker.releaseAll();
  }
  const st = await stopEcho(e);
  // On a quiet machine nearly every wait is a hit. The bounds leave room for a loaded one, where a
  // descheduled thread makes some waits long (each long wait costs about two hits): a run with other
  // jobs on both cores once gave 941 hits of 2,000. Off, there are none at all (below).
  assert.ok(st.adaptiveHits > n / 4, `the echo thread polled through many waits (hits ${st.adaptiveHits}, sleeps ${st.waits})`);
  assert.ok(st.waits < (3 * n) / 4, `and slept in fewer of them than it would without (${st.waits})`);
  assert.ok(st.adaptiveHits > st.waits, `more waits ended polling than sleeping (hits ${st.adaptiveHits}, sleeps ${st.waits})`);
  // Off: the same exchange makes it sleep (no adaptive hits at all).
  const off = await startEcho(64, 64, 0, 0);
  for (let k = 0; k < 200; k++) {
    const o = off.toWorker.tryReserve();
    off.toWorker.f64[o] = k;
    off.toWorker.publish();
    while (off.fromWorker.poll() < 0) { /* wait */ }
    off.fromWorker.releaseAll();
  }
  assert.equal((await stopEcho(off)).adaptiveHits, 0);
});

interface Echo {
  worker: Worker;
  toWorker: Ring;
  fromWorker: Ring;
  done: Promise<{ waits: number; adaptiveHits: number }>;
}

async function startEcho(capacity: number, recordBytes: number, spinIterations: number, adaptiveSpinUs = 0): Promise<Echo> {
  const toWorker = Ring.create(capacity, recordBytes);
  const fromWorker = Ring.create(capacity, recordBytes);
  const data: EchoWorkerData = { inSab: toWorker.sab, outSab: fromWorker.sab, spinIterations, adaptiveSpinUs };
  const worker = new Worker(new URL('./ring-echo-worker.js', import.meta.url), { workerData: data });
  let resolveDone!: (v: { waits: number; adaptiveHits: number }) => void;
  const done = new Promise<{ waits: number; adaptiveHits: number }>((res) => { resolveDone = res; });
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m: { type: string; waits?: number; adaptiveHits?: number }) => {
      if (m.type === 'ready') resolve();
      else if (m.type === 'done') resolveDone({ waits: m.waits ?? 0, adaptiveHits: m.adaptiveHits ?? 0 });
    });
    worker.on('error', reject);
  });
  return { worker, toWorker, fromWorker, done };
}

async function stopEcho(e: Echo): Promise<{ waits: number; adaptiveHits: number }> {
  let o = e.toWorker.tryReserve();
  while (o < 0) {
    for (let r = e.fromWorker.poll(); r >= 0; r = e.fromWorker.poll()) { /* drain */ }
    e.fromWorker.releaseAll();
    o = e.toWorker.tryReserve();
  }
  e.toWorker.f64[o] = ECHO_STOP;
  e.toWorker.publish();
  const r = await e.done;
  await e.worker.terminate();
  return r;
}

for (const [recordBytes, total] of [[128, 2_000_000], [64, 2_000_000]] as const) {
  test(`cross-thread echo of ${total} records of ${recordBytes} bytes keeps order and content`, { timeout: 50_000 }, async () => {
    const e = await startEcho(1024, recordBytes, 2000);
    const out = e.toWorker;
    const back = e.fromWorker;
    const words = out.recordWords;
    const deadline = performance.now() + 45_000;
    let sent = 0;
    let received = 0;
    while (received < total) {
      while (sent < total) {
        const o = out.tryReserve();
        if (o < 0) break;
        const f = out.f64;
        for (let i = 0; i < words; i++) f[o + i] = wordOf(sent, i);
        sent++;
        if ((sent & 31) === 0) out.publish();
      }
      out.publish();
      const f = back.f64;
      for (let o = back.poll(); o >= 0; o = back.poll()) {
        for (let i = 0; i < words; i++) {
          if (f[o + i] !== wordOf(received, i)) assert.fail(`echo ${received} word ${i}: got ${f[o + i]}, want ${wordOf(received, i)}`);
        }
        received++;
      }
      back.releaseAll();
      if ((received & 0xffff) === 0 && performance.now() > deadline) assert.fail(`timed out after ${received} echoes`);
    }
    assert.equal(received, total);
    await stopEcho(e);
  });
}

test('a sleeping consumer is woken by publish, and only then does the producer notify', { timeout: 30_000 }, async () => {
  const e = await startEcho(64, 128, 0);
  const out = e.toWorker;
  const back = e.fromWorker;
  for (let round = 0; round < 5; round++) {
    const deadline = performance.now() + 10_000;
    while (!out.consumerSleeping()) {
      if (performance.now() > deadline) assert.fail('consumer never went to sleep');
      await sleep(2);
    }
    await sleep(20); // it stays asleep with nothing to do
    assert.equal(out.consumerSleeping(), true);
    const before = out.notifyCount;
    fill(out, out.tryReserve(), round);
    out.publish();
    assert.equal(out.notifyCount, before + 1, 'publish notified the sleeping consumer');
    assert.equal(back.waitForData(10_000), 1, 'echo arrived');
    check(back, back.poll(), round);
    back.releaseAll();
  }
  const { waits } = await stopEcho(e);
  assert.ok(waits >= 5, `worker slept ${waits} times`);
});
