// Child process for the SIGKILL part of instrument-addition.test.ts: starts the engine on argv[2]
// with the kit's instruments plus the first argv[3] (0-2) of the instruments below (a start with
// more of them than the last one appends them), prints "recovered <json>" with the state hashes it
// recovered (a thread snapshot right after recovery), then funds every asset and submits a seeded
// order flow over all its instruments until the parent SIGKILLs it.

import { writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { InstrumentSpec } from '../core/instrument.js';
import { KIT_ACCOUNTS, driveFlow, fundAccounts, kitInstruments } from '../gateway/engine-test-kit.js';
import { OrderFlow } from '../gateway/order-flow.js';
import { testSpec } from '../testing/fixtures.js';
import { startEngine } from './recovery.js';

/** Appended first: a new asset (DDD). */
export const ADDED_DDD_USD: InstrumentSpec = testSpec({ id: 9, symbol: 'DDD-USD', baseAsset: 'DDD', referencePriceTicks: 8_000, orderCapacity: 100_000, clientIdRetention: 1000 });
/** Appended second: existing assets only. */
export const ADDED_DDD_BBB: InstrumentSpec = testSpec({ id: 4, symbol: 'DDD-BBB', baseAsset: 'DDD', quoteAsset: 'BBB', orderCapacity: 100_000, clientIdRetention: 1000 });

async function main(): Promise<void> {
  const dir = process.argv[2];
  const added = Number(process.argv[3] ?? 0);
  const seed = Number(process.argv[4] ?? 1);
  if (dir === undefined) throw new Error('usage: instrument-addition-child <dataDir> <added 0-2> [seed]');
  const instruments = [...kitInstruments(), ...[ADDED_DDD_USD, ADDED_DDD_BBB].slice(0, added)];
  const { engine } = await startEngine({ instruments, shards: 2, durability: 'normal', dataDir: dir, snapshotIntervalMs: 100 });
  const hashes = await engine.stateHashes('thread');
  writeSync(1, `recovered ${JSON.stringify(hashes)}\n`);
  await fundAccounts(engine);
  const flow = new OrderFlow(seed, engine.instruments, { accounts: KIT_ACCOUNTS, marketOrders: true });
  for (;;) await driveFlow(engine, flow, 500);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    writeSync(2, `${String((e as Error).stack ?? e)}\n`);
    process.exit(1);
  });
}
