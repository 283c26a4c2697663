// Child process for the crash test in journal.test.ts: appends records 1, 2, 3, ... to the journal
// at argv[2] forever and prints "durable <seq>" (synchronously, on fd 1) each time the watermark
// advances, so the parent knows what was reported durable when it SIGKILLs this process.

import { writeSync } from 'node:fs';
import { Journal } from './journal.js';
import { fillTestRecord } from './journal-test-records.js';

async function main(): Promise<void> {
  const path = process.argv[2];
  if (path === undefined) throw new Error('usage: journal-crash-child <path>');
  const journal = await Journal.open({ path, durability: 'normal', maxBatchRecords: 512, ringCapacity: 4096 });
  journal.setDurableListener((seq) => writeSync(1, `durable ${seq}\n`));
  const rec = new Float64Array(journal.ring.recordWords);
  let seq = journal.recoveredSeq;
  writeSync(1, `started ${seq}\n`);
  for (;;) {
    for (let k = 0; k < 256; k++) {
      fillTestRecord(rec, seq + 1);
      if (!journal.tryAppend(rec)) break;
      seq++;
    }
    await new Promise((r) => setImmediate(r));
  }
}

main().catch((e: unknown) => {
  writeSync(2, `${String(e)}\n`);
  process.exit(1);
});
