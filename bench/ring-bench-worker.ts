// Echo thread for bench/ring.bench.ts. Modes:
//  - 'ring':     gateway/ring.ts, consumer spins `spinIterations` then sleeps in Atomics.wait
//  - 'ringbuf':  the npm package ringbuf.js (Float64 elements, one record = recordWords elements), spinning
//  - 'post':     worker postMessage echo
// A record whose word 0 is STOP_WORD is echoed, then the ring modes return.

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { RingBuffer } from 'ringbuf.js';
import { Ring } from '../gateway/ring.js';

export const STOP_WORD = -1;

export interface BenchWorkerData {
  mode: 'ring' | 'ringbuf' | 'post';
  inSab?: SharedArrayBuffer;
  outSab?: SharedArrayBuffer;
  recordWords: number;
  spinIterations?: number;
}

// Imported for STOP_WORD by the bench on the main thread: only run as a worker.
const port = parentPort!;
const data = workerData as BenchWorkerData;

function echoRing(): void {
  const input = Ring.attach(data.inSab!, { spinIterations: data.spinIterations ?? 0 });
  const output = Ring.attach(data.outSab!);
  const src = input.f64;
  const dst = output.f64;
  const words = input.recordWords;
  port.postMessage('ready');
  for (;;) {
    if (input.waitForData(10_000) === 0) continue;
    let stop = false;
    for (let o = input.poll(); o >= 0; o = input.poll()) {
      let d = output.tryReserve();
      while (d < 0) {
        output.publish();
        d = output.tryReserve();
      }
      for (let i = 0; i < words; i++) dst[d + i] = src[o + i]!;
      if (src[o] === STOP_WORD) stop = true;
      if (input.unreleasedCount() >= 64) {
        output.publish();
        input.releaseAll();
      }
    }
    output.publish();
    input.releaseAll();
    if (stop) return;
  }
}

function echoRingbuf(): void {
  const input = new RingBuffer(data.inSab!, Float64Array);
  const output = new RingBuffer(data.outSab!, Float64Array);
  const words = data.recordWords;
  const rec = new Float64Array(words * 64);
  port.postMessage('ready');
  for (;;) {
    const avail = input.availableRead();
    if (avail < words) continue;
    // Whole records only: every push is a multiple of `words` elements, so reads are too.
    let n = Math.min(avail - (avail % words), rec.length);
    while (output.availableWrite() < n) { /* spin: the main thread drains */ }
    n = input.pop(rec, n);
    output.push(rec, n);
    for (let k = 0; k < n; k += words) if (rec[k] === STOP_WORD) return;
  }
}

function echoPost(): void {
  port.on('message', (m: unknown) => port.postMessage(m));
  port.postMessage('ready');
}

if (!isMainThread) {
  if (data.mode === 'ring') echoRing();
  else if (data.mode === 'ringbuf') echoRingbuf();
  else echoPost();
}
