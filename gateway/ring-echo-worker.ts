// Test helper thread: echoes every record of ring `in` into ring `out`, unchanged, in order.
// A record whose word 0 is ECHO_STOP is echoed and then the thread exits.

import { parentPort, workerData } from 'node:worker_threads';
import { Ring } from './ring.js';

export const ECHO_STOP = -1;

export interface EchoWorkerData {
  inSab: SharedArrayBuffer;
  outSab: SharedArrayBuffer;
  spinIterations: number;
  adaptiveSpinUs?: number;
}

function run(data: EchoWorkerData): void {
  const input = Ring.attach(data.inSab, { spinIterations: data.spinIterations, adaptiveSpinUs: data.adaptiveSpinUs ?? 0 });
  const output = Ring.attach(data.outSab);
  const src = input.f64;
  const dst = output.f64;
  const words = input.recordWords;
  parentPort?.postMessage({ type: 'ready' });
  for (;;) {
    if (input.waitForData(10_000) === 0) continue;
    let stop = false;
    let o = input.poll();
    while (o >= 0) {
      let d = output.tryReserve();
      while (d < 0) {
        output.publish();
        d = output.tryReserve();
      }
      for (let i = 0; i < words; i++) dst[d + i] = src[o + i]!;
      if (src[o] === ECHO_STOP) stop = true;
      if (input.unreleasedCount() >= 64) {
        output.publish();
        input.releaseAll();
      }
      o = input.poll();
    }
    output.publish();
    input.releaseAll();
    if (stop) break;
  }
  parentPort?.postMessage({ type: 'done', waits: input.waitCount, adaptiveHits: input.adaptiveHits });
}

if (workerData) run(workerData as EchoWorkerData);
