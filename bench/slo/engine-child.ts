// The SLO harness's engine process: the threaded engine (journal thread, shard workers, ledger and
// sequencer on the main thread) on a temporary data dir, the bench instruments, every bench account
// funded through the engine's deposit path, and the uWebSockets.js gateway on 127.0.0.1 with a
// static bearer token for those accounts.
//
// Forked by the harness (IPC: sends EngineReady, stops on {type:'stop'} or when the parent goes).
// Standalone, for `bench:slo --url`: node dist/bench/slo/engine-child.js --port 9100 [--shards 2]
//   [--symbols 8] [--accounts 16] [--durability normal]; prints the EngineReady JSON, stops on SIGINT.

import { rmSync } from 'node:fs';
import { Command } from '../../core/types.js';
import { RuntimeCommandType } from '../../core/command-codec.js';
import { SubmitStatus, type Engine } from '../../gateway/engine.js';
import { tempDataDir } from '../../gateway/engine-test-kit.js';
import { startGateway, type GatewayServer } from '../../gateway/server.js';
import { StaticTokenAuthenticator, type GatewayPrincipal } from '../../gateway/sessions.js';
import type { Durability } from '../../persistence/journal.js';
import { startEngine } from '../../persistence/recovery.js';
import { SLO_FUNDS_UNITS, SLO_TOKEN, sloAccounts, sloInstruments, sloShardMap, type EngineReady } from './setup.js';

interface ChildOptions {
  port: number;
  shards: number;
  symbols: number;
  accounts: number;
  durability: Durability;
}

function parseArgs(argv: string[]): ChildOptions {
  const o: ChildOptions = { port: 0, shards: 1, symbols: 8, accounts: 16, durability: 'normal' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!, v = argv[i + 1];
    const num = (): number => { const n = Number(v); if (!Number.isInteger(n) || n < 0) throw new Error(`${k} needs a whole number`); i++; return n; };
    if (k === '--port') o.port = num();
    else if (k === '--shards') o.shards = Math.max(1, num());
    else if (k === '--symbols') o.symbols = Math.max(1, num());
    else if (k === '--accounts') o.accounts = Math.max(1, num());
    else if (k === '--durability') { if (v !== 'none' && v !== 'normal' && v !== 'full') throw new Error('--durability: none, normal or full'); o.durability = v; i++; }
    else throw new Error(`unknown option ${k}`);
  }
  return o;
}

async function deposit(engine: Engine, accounts: readonly number[]): Promise<number> {
  const cmd = new Command();
  let n = 0;
  for (const account of accounts) {
    for (let asset = 0; asset < engine.ledger.assetCount; asset++) {
      for (;;) {
        cmd.reset();
        cmd.type = RuntimeCommandType.Deposit; cmd.account = account; cmd.value = SLO_FUNDS_UNITS;
        const r = engine.submit(cmd, 0, asset);
        if (r.status === SubmitStatus.Accepted) break;
        if (r.status === SubmitStatus.Rejected) throw new Error(`deposit for account ${account} rejected (reason ${r.reason})`);
        engine.poll();
        await new Promise<void>((res) => setImmediate(res));
      }
      n++;
    }
  }
  await engine.drain();
  return n;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const instruments = sloInstruments(o.symbols);
  const accounts = sloAccounts(o.accounts);
  const dataDir = tempDataDir('slo');
  const { engine } = await startEngine({
    instruments, shards: o.shards, shardOf: sloShardMap(instruments, o.shards), durability: o.durability, dataDir,
    snapshotOnClose: false, maxInFlight: 1 << 16,
  });
  await deposit(engine, accounts);
  const principal: GatewayPrincipal = {
    userId: 1, accounts: new Set(accounts), permissions: new Set(['order.place', 'order.cancel', 'account.read']),
    credentialId: 'slo-bench', expiresAtMs: null,
  };
  const gateway: GatewayServer = await startGateway(engine, { http: { host: '127.0.0.1', port: o.port }, dataDir }, {
    authenticator: new StaticTokenAuthenticator(new Map([[SLO_TOKEN, principal]])),
    options: { heartbeatIntervalMs: 0, orderMaxBufferedBytes: 64 << 20 },
  });
  const ready: EngineReady = {
    type: 'ready', url: `ws://127.0.0.1:${gateway.port}/ws/orders`, token: SLO_TOKEN, accounts,
    instrumentIds: instruments.map((s) => s.id), shards: o.shards, durability: o.durability, fundedAccounts: accounts.length,
  };

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const stats = { engine: engine.stats(), gateway: gateway.stats() };
    try {
      await gateway.close();
      await engine.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
    if (process.send) process.send({ type: 'stopped', stats }, () => process.exit(0));
    else { process.stderr.write(`${JSON.stringify(stats)}\n`); process.exit(0); }
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  if (process.send) {
    process.on('message', (m: { type?: string }) => {
      if (m?.type === 'stop') void stop();
      else if (m?.type === 'stats') process.send!({ type: 'stats', stats: { engine: engine.stats(), gateway: gateway.stats() } });
    });
    process.on('disconnect', () => void stop());
    process.send(ready);
  } else {
    process.stdout.write(`${JSON.stringify(ready)}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`engine child: ${String((e as Error).stack ?? e)}\n`);
  process.exit(1);
});
