// Crash idempotency against the real PostgreSQL: the replicator runs in a child process that is
// SIGKILLed at random points (at least 10 times), then restarted until it finishes. The rows and
// the checkpoint must equal those of an uninterrupted run of the same records.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTestSchema, pgSkipReason } from './db.js';
import { migrate } from './migrate.js';
import { Replicator } from './replicator.js';
import { diffDumps, dumpTables, modelTables } from './test-model.js';
import { MemorySource, WORKLOAD_SPECS, generateWorkload, prng } from './workload.js';

const skip = await pgSkipReason();
const CHILD = fileURLToPath(new URL('./replicator-crash-child.js', import.meta.url));

/** Runs the child; kills it with SIGKILL after `killAfterCommits` commits (or lets it finish). */
function runChild(args: string[], killAfterCommits: number | null): Promise<{ commits: number; finished: boolean; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let commits = 0, finished = false, killed = false, buf = '', err = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('commit ')) commits++;
        if (line === 'done') finished = true;
        if (killAfterCommits !== null && commits >= killAfterCommits && !killed) { killed = true; child.kill('SIGKILL'); }
      }
    });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL' || code === 0) resolve({ commits, finished, killed });
      else reject(new Error(`child exited with ${code}: ${err}`));
    });
  });
}

test('replicator SIGKILLed at random points, then restarted: same rows and checkpoint as an uninterrupted run', { skip, timeout: 60_000 }, async () => {
  const seed = 41, commands = 4000;
  const ref = await createTestSchema('rref');
  const crash = await createTestSchema('rcrash');
  try {
    await migrate(ref.sql);
    await migrate(crash.sql);
    const { records, gen } = generateWorkload({ seed, commands });
    const rep = new Replicator({ url: ref.url, schema: ref.schema, source: new MemorySource(records), instruments: WORKLOAD_SPECS,
      maxBatchRecords: 1000, writeMode: 'insert' });
    rep.start();
    await rep.waitFor(gen.seq, 30_000);
    await rep.stop();
    const want = await dumpTables(ref.sql);
    assert.equal(diffDumps(want, modelTables(records, WORKLOAD_SPECS)), null, 'the reference run equals the model');

    const rnd = prng(99);
    let kills = 0, runs = 0, finished = false;
    const seen: number[] = [];
    while (!finished && runs < 60) {
      runs++;
      // Kill after 1-4 commits (the kill lands while later batches are being built or written), or at a random time.
      const r = await runChild([crash.url, crash.schema, String(seed), String(commands)], kills < 12 ? 1 + Math.floor(rnd() * 4) : null);
      if (r.killed && !r.finished) kills++;
      finished = r.finished;
      const [cp] = await crash.sql`SELECT seq FROM replication_checkpoint WHERE name = 'default'`;
      seen.push(Number(cp?.seq ?? 0));
    }
    assert.ok(finished, 'a final run finished');
    assert.ok(kills >= 10, `killed at least 10 times (${kills})`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, 'the checkpoint never goes back');
    const got = await dumpTables(crash.sql);
    assert.equal(diffDumps(got, want), null);
    const cps = await Promise.all([ref, crash].map((s) => s.sql`SELECT name, seq, records FROM replication_checkpoint ORDER BY name`));
    assert.deepEqual(cps[1]!.map((r) => ({ ...r })), cps[0]!.map((r) => ({ ...r })));
    assert.equal(Number(cps[1]![0]!.seq), gen.seq);
  } finally {
    await ref.drop();
    await crash.drop();
  }
});
