// Round trip main thread -> worker -> main through two SPSC rings, against ringbuf.js and postMessage.
// Run: npm run bench:ring. The last stdout line is one JSON object with every figure.
// 2 cores: at most the echo thread spins besides the main thread; each case runs its own worker,
// terminated before the next case starts.

import { Worker } from 'node:worker_threads';
import { RingBuffer } from 'ringbuf.js';
import { Ring } from '../gateway/ring.js';
import { STOP_WORD, type BenchWorkerData } from './ring-bench-worker.js';

const QUICK = process.argv.includes('--quick');
const SCALE = QUICK ? 0.1 : 1;
const RING_CAPACITY = 4096;

interface Latency {
  samples: number;
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
  p999Ns: number;
  maxNs: number;
  meanNs: number;
}

function summarize(ns: Float64Array, n: number): Latency {
  const s = ns.subarray(0, n).sort();
  const at = (q: number): number => Math.round(s[Math.min(n - 1, Math.floor(q * n))]!);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i]!;
  return { samples: n, p50Ns: at(0.5), p90Ns: at(0.9), p99Ns: at(0.99), p999Ns: at(0.999), maxNs: Math.round(s[n - 1]!), meanNs: Math.round(sum / n) };
}

async function startWorker(data: BenchWorkerData): Promise<Worker> {
  const w = new Worker(new URL('./ring-bench-worker.js', import.meta.url), { workerData: data });
  await new Promise<void>((resolve, reject) => {
    w.once('message', () => resolve());
    w.once('error', reject);
  });
  return w;
}

// ------------------------------------------------------------------ our ring

interface RingPair { out: Ring; back: Ring; worker: Worker }

async function ringPair(recordBytes: number, workerSpin: number): Promise<RingPair> {
  const out = Ring.create(RING_CAPACITY, recordBytes);
  const back = Ring.create(RING_CAPACITY, recordBytes);
  const worker = await startWorker({ mode: 'ring', inSab: out.sab, outSab: back.sab, recordWords: recordBytes / 8, spinIterations: workerSpin });
  return { out, back, worker };
}

async function stopRing(p: RingPair): Promise<void> {
  let o = p.out.tryReserve();
  while (o < 0) {
    while (p.back.poll() >= 0) { /* drain */ }
    p.back.releaseAll();
    o = p.out.tryReserve();
  }
  p.out.f64[o] = STOP_WORD;
  p.out.publish();
  await p.worker.terminate();
}

/**
 * One record out, wait for its echo, repeat. mainWaits: the main thread sleeps for the reply too.
 * untilAsleep: before each (untimed) send, wait until the worker has announced that it sleeps and
 * give it 50 us more to be inside futex_wait, so every round trip pays a real wake-up.
 */
function ringRoundTrips(p: RingPair, n: number, warmup: number, mainWaits: boolean, untilAsleep = false): Latency {
  const { out, back } = p;
  const words = out.recordWords;
  const ns = new Float64Array(n);
  const total = n + warmup;
  for (let k = 0; k < total; k++) {
    if (untilAsleep) {
      while (!out.consumerSleeping()) { /* spin */ }
      const until = performance.now() + 0.05;
      while (performance.now() < until) { /* spin */ }
    }
    const t0 = performance.now();
    const o = out.tryReserve();
    const f = out.f64;
    f[o] = k;
    for (let i = 1; i < words; i++) f[o + i] = k + i;
    out.publish();
    let r = back.poll();
    while (r < 0) {
      if (mainWaits) back.waitForData(1000);
      r = back.poll();
    }
    if (back.f64[r] !== k || back.f64[r + words - 1] !== k + words - 1) throw new Error(`echo mismatch at ${k}`);
    back.release(1);
    const t1 = performance.now();
    if (k >= warmup) ns[k - warmup] = (t1 - t0) * 1e6;
  }
  return summarize(ns, n);
}

/** Pipelined: keep the ring full, count echoes per second. */
function ringThroughput(p: RingPair, n: number): number {
  const { out, back } = p;
  const words = out.recordWords;
  let sent = 0;
  let got = 0;
  const t0 = performance.now();
  while (got < n) {
    while (sent < n) {
      const o = out.tryReserve();
      if (o < 0) break;
      const f = out.f64;
      for (let i = 0; i < words; i++) f[o + i] = sent + i;
      sent++;
      if ((sent & 63) === 0) out.publish();
    }
    out.publish();
    const f = back.f64;
    for (let r = back.poll(); r >= 0; r = back.poll()) {
      if (f[r] !== got) throw new Error(`throughput echo out of order at ${got}`);
      got++;
    }
    back.releaseAll();
  }
  return Math.round(n / ((performance.now() - t0) / 1000));
}

// ------------------------------------------------------------------ ringbuf.js

interface RbPair { out: RingBuffer; back: RingBuffer; worker: Worker; words: number }

async function rbPair(recordBytes: number): Promise<RbPair> {
  const words = recordBytes / 8;
  const outSab = RingBuffer.getStorageForCapacity(RING_CAPACITY * words, Float64Array);
  const backSab = RingBuffer.getStorageForCapacity(RING_CAPACITY * words, Float64Array);
  const worker = await startWorker({ mode: 'ringbuf', inSab: outSab, outSab: backSab, recordWords: words });
  return { out: new RingBuffer(outSab, Float64Array), back: new RingBuffer(backSab, Float64Array), worker, words };
}

async function stopRb(p: RbPair): Promise<void> {
  const stop = new Float64Array(p.words);
  stop[0] = STOP_WORD;
  const sink = new Float64Array(RING_CAPACITY * p.words);
  while (p.out.availableWrite() < p.words) p.back.pop(sink);
  p.out.push(stop, p.words);
  await p.worker.terminate();
}

function rbRoundTrips(p: RbPair, n: number, warmup: number): Latency {
  const { out, back, words } = p;
  const rec = new Float64Array(words);
  const got = new Float64Array(words);
  const ns = new Float64Array(n);
  const total = n + warmup;
  for (let k = 0; k < total; k++) {
    const t0 = performance.now();
    rec[0] = k;
    for (let i = 1; i < words; i++) rec[i] = k + i;
    out.push(rec, words);
    while (back.availableRead() < words) { /* spin */ }
    back.pop(got, words);
    if (got[0] !== k) throw new Error(`ringbuf.js echo mismatch at ${k}`);
    const t1 = performance.now();
    if (k >= warmup) ns[k - warmup] = (t1 - t0) * 1e6;
  }
  return summarize(ns, n);
}

function rbThroughput(p: RbPair, n: number): number {
  const { out, back, words } = p;
  const batch = 64;
  const rec = new Float64Array(words * batch);
  const sink = new Float64Array(words * RING_CAPACITY);
  let sent = 0;
  let got = 0;
  const t0 = performance.now();
  while (got < n) {
    while (sent < n) {
      const room = Math.min(Math.floor(out.availableWrite() / words), batch, n - sent);
      if (room === 0) break;
      for (let j = 0; j < room; j++) {
        const b = j * words;
        for (let i = 0; i < words; i++) rec[b + i] = sent + j + i;
      }
      out.push(rec, room * words);
      sent += room;
    }
    const avail = back.availableRead();
    if (avail >= words) {
      const m = back.pop(sink, avail - (avail % words));
      for (let b = 0; b < m; b += words) {
        if (sink[b] !== got) throw new Error(`ringbuf.js throughput out of order at ${got}`);
        got++;
      }
    }
  }
  return Math.round(n / ((performance.now() - t0) / 1000));
}

// ------------------------------------------------------------------ postMessage

async function postRoundTrips(recordBytes: number, n: number, warmup: number): Promise<{ latency: Latency; throughputPerS: number }> {
  const words = recordBytes / 8;
  const worker = await startWorker({ mode: 'post', recordWords: words });
  const ns = new Float64Array(n);
  const rec = new Float64Array(words);
  let pending: ((m: Float64Array) => void) | null = null;
  let onMsg: (m: Float64Array) => void = (m) => { const p = pending; pending = null; p!(m); };
  worker.on('message', (m: Float64Array) => onMsg(m));
  for (let k = 0; k < n + warmup; k++) {
    const t0 = performance.now();
    rec[0] = k;
    const reply = await new Promise<Float64Array>((resolve) => { pending = resolve; worker.postMessage(rec); });
    const t1 = performance.now();
    if (reply[0] !== k) throw new Error(`postMessage echo mismatch at ${k}`);
    if (k >= warmup) ns[k - warmup] = (t1 - t0) * 1e6;
  }
  // Pipelined: a window of messages in flight.
  const total = Math.round(300_000 * SCALE);
  const window = 1000;
  let sent = 0;
  let got = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    onMsg = (m) => {
      if (m[0] !== got) reject(new Error(`postMessage out of order at ${got}`));
      got++;
      if (got === total) resolve();
      else if (sent < total) { rec[0] = sent++; worker.postMessage(rec); }
    };
    while (sent < Math.min(window, total)) { rec[0] = sent++; worker.postMessage(rec); }
  });
  const throughputPerS = Math.round(total / ((performance.now() - t0) / 1000));
  await worker.terminate();
  return { latency: summarize(ns, n), throughputPerS };
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const spinN = Math.round(300_000 * SCALE);
  const waitN = Math.round(30_000 * SCALE);
  const tputN = Math.round(5_000_000 * SCALE);
  const result: Record<string, unknown> = { node: process.version, ringCapacity: RING_CAPACITY };
  for (const recordBytes of [64, 128]) {
    const key = `rec${recordBytes}`;
    const entry: Record<string, unknown> = {};

    let p = await ringPair(recordBytes, 1 << 30);
    entry.ringSpin = ringRoundTrips(p, spinN, 20_000, false);
    entry.ringThroughputPerS = ringThroughput(p, tputN);
    await stopRing(p);
    console.log(`${key} ring both spinning: ${JSON.stringify(entry.ringSpin)}; pipelined ${entry.ringThroughputPerS}/s`);

    p = await ringPair(recordBytes, 0);
    entry.ringWorkerWaits = ringRoundTrips(p, waitN, 2000, false);
    entry.ringWorkerAsleep = ringRoundTrips(p, waitN, 2000, false, true);
    entry.ringBothWait = ringRoundTrips(p, waitN, 2000, true);
    entry.ringThroughputWorkerWaitsPerS = ringThroughput(p, tputN);
    await stopRing(p);
    console.log(`${key} ring worker spin 0 then Atomics.wait, back-to-back sends: ${JSON.stringify(entry.ringWorkerWaits)}`);
    console.log(`${key} ring worker asleep in Atomics.wait at each send: ${JSON.stringify(entry.ringWorkerAsleep)}`);
    console.log(`${key} ring both in Atomics.wait: ${JSON.stringify(entry.ringBothWait)}; pipelined (worker waits) ${entry.ringThroughputWorkerWaitsPerS}/s`);

    const rb = await rbPair(recordBytes);
    entry.ringbufjsSpin = rbRoundTrips(rb, spinN, 20_000);
    entry.ringbufjsThroughputPerS = rbThroughput(rb, tputN);
    await stopRb(rb);
    console.log(`${key} ringbuf.js both spinning: ${JSON.stringify(entry.ringbufjsSpin)}; pipelined ${entry.ringbufjsThroughputPerS}/s`);

    const post = await postRoundTrips(recordBytes, waitN, 2000);
    entry.postMessage = post.latency;
    entry.postMessageThroughputPerS = post.throughputPerS;
    console.log(`${key} postMessage: ${JSON.stringify(post.latency)}; pipelined ${post.throughputPerS}/s`);
    result[key] = entry;
  }
  console.log(JSON.stringify(result));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
