// Child process for the engine crash test (engine-crash.test.ts): starts the engine on argv[2]
// (recovery from snapshot + journal), prints "recovered <json>" with the state hashes it recovered
// (taken by a snapshot right after recovery), then submits a steady seeded order flow forever
// (argv[4]: 'advanced', the default, with conditional, trailing, FOK, post-only and iceberg orders,
// OCO legs, bracket children, mass cancels and mark moves, a leg answering Busy being retried; or
// 'basic'), printing "acked <seq>" (synchronously, fd 1) whenever the highest acknowledged seq
// advances. The parent SIGKILLs it at random moments.

import { writeSync } from 'node:fs';
import { Command, CommandType } from '../core/types.js';
import { SubmitStatus } from '../gateway/engine.js';
import { KIT_ACCOUNTS, fundAccounts, kitInstruments } from '../gateway/engine-test-kit.js';
import { OrderFlow } from '../gateway/order-flow.js';
import { startEngine } from './recovery.js';

const RATE_PER_MS = 10; // ~10k commands/s

async function main(): Promise<void> {
  const dir = process.argv[2];
  const seed = Number(process.argv[3] ?? 1);
  const advanced = (process.argv[4] ?? 'advanced') === 'advanced';
  if (dir === undefined) throw new Error('usage: engine-crash-child <dataDir> [seed] [advanced|basic]');
  let acked = 0;
  const { engine, recovery } = await startEngine({
    instruments: kitInstruments(), shards: 2, durability: 'normal', dataDir: dir, snapshotIntervalMs: 150, archiveJournalOnSnapshot: true, archiveMinRecords: 1,
    onAck: (a) => { acked = a.seq; },
  });
  const hashes = await engine.stateHashes();
  writeSync(1, `recovered ${JSON.stringify({ ...hashes, recovery })}\n`);
  await fundAccounts(engine);
  const flow = new OrderFlow(seed, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true, gtdUs: 50_000, advanced });
  const cmd = new Command();
  let printed = 0;
  let pending = false;
  let i = 0;
  const t0 = performance.now();
  let sent = 0;
  for (;;) {
    const due = (performance.now() - t0) * RATE_PER_MS;
    while (sent < due) {
      if (!pending) { i = flow.next(cmd, Date.now() * 1000); pending = true; }
      const r = engine.submit(cmd, engine.instruments[i]!.id);
      if (r.status === SubmitStatus.Busy) break;
      if (r.status === SubmitStatus.Accepted && cmd.type === CommandType.NewOrder) flow.accepted(i, r.seq, cmd.account);
      pending = false;
      sent++;
    }
    engine.poll();
    if (acked > printed) { printed = acked; writeSync(1, `acked ${printed}\n`); }
    await new Promise<void>((r) => setImmediate(r));
  }
}

main().catch((e: unknown) => {
  writeSync(2, `${String((e as Error).stack ?? e)}\n`);
  process.exit(1);
});
