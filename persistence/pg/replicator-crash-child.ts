// Child process for replicator-crash.test.ts: replicates a seeded workload (the same records on
// every run) into the given schema with small batches, printing "commit <seq>" after each COMMIT
// (synchronously), and exits 0 once caught up. The parent SIGKILLs it at random points.
// argv: url schema seed commands

import { writeSync } from 'node:fs';
import { Replicator } from './replicator.js';
import { MemorySource, WORKLOAD_SPECS, generateWorkload } from './workload.js';

async function main(): Promise<void> {
  const [url, schema, seed, commands] = process.argv.slice(2);
  if (url === undefined || schema === undefined || seed === undefined || commands === undefined) {
    throw new Error('usage: replicator-crash-child <url> <schema> <seed> <commands>');
  }
  const { records, gen } = generateWorkload({ seed: Number(seed), commands: Number(commands) });
  const rep = new Replicator({
    url, schema, source: new MemorySource(records), instruments: WORKLOAD_SPECS, maxBatchRecords: 150, idleMs: 1,
    writeMode: Number(seed) % 2 === 0 ? 'copy' : 'insert',
    onCommit: (_r, info) => writeSync(1, `commit ${info.toSeq}\n`),
  });
  rep.start();
  await rep.waitFor(gen.seq, 60_000);
  await rep.stop();
  writeSync(1, 'done\n');
}

main().catch((e: unknown) => {
  writeSync(2, `${String(e)}\n`);
  process.exit(1);
});
