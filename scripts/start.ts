// `npm start`: the engine on its embedded default configuration.
//
// What runs today: the configuration is loaded and validated; the threaded engine starts (the SQLite
// journal thread in the data dir, one worker thread per shard owning its order books, the account
// ledger and sequencer on the main thread), recovering from the latest snapshot and the journal; engine
// time advances once a second through every book (a sequenced, journaled TimeTick, so GTD expiry
// works) until SIGINT/SIGTERM, when the engine drains, takes a snapshot and logs the final state
// hashes. There is no network gateway yet, so no orders can come in; the log says so plainly.
//
// Environment: see config/engine.ts (ENGINE_CONFIG, ENGINE_PORT, ...). START_EXIT_AFTER_MS=n stops
// the engine by itself after n ms, as if it had received SIGTERM (tests and smoke checks).
// DATABASE_URL: migrations, then the engine is replicated to PostgreSQL (persistence/pg/read-side.ts);
// REPLICATION_MAX_LAG_SECONDS (default 30) is the lag above which /ready answers 503; PGSCHEMA (as
// for `npm run migrate`) puts the tables in that schema.
// REDIS_URL: market data and account updates are also published to Redis (cross-gateway fan-out);
// the REST shim's rate limits and its ticker/top-of-book cache go through it too (docs/rest.md).
// ENGINE_MASTER_KEY (64 hex digits or base64 of 32 bytes) or ENGINE_MASTER_KEY_FILE (a file holding
// it): the master key sealing API-key secrets, kept out of the data dir (docs/security.md); checked
// with the configuration, and at the gateway's start against the secrets already sealed: a key that
// opens none of them stops the start (exit 2) with a message naming the variable.
// Exit codes: 0 clean stop, 2 invalid configuration, 1 anything else.

import { EngineConfigError, describeConfig, loadEngineConfig, type EngineConfig } from '../config/engine.js';
import { describeInstrument } from '../config/instruments.js';
import { createLogger } from '../config/log.js';
import { EVR_TYPE_DONE, RuntimeCommandType } from '../core/command-codec.js';
import { parseDecimal } from '../core/fixed.js';
import { Command, CommandType, EventType } from '../core/types.js';
import { SubmitStatus, type Ack, type Engine } from '../gateway/engine.js';
import { MasterKeyError } from '../gateway/auth/secret-box.js';
import { startGateway, type GatewayServer } from '../gateway/server.js';
import { startReadSide, type ReadSide } from '../persistence/pg/read-side.js';
import { startEngine } from '../persistence/recovery.js';

const TICK_INTERVAL_MS = 1000;
export const EXIT_CONFIG = 2;

function loadConfigOrExit(): EngineConfig {
  try {
    return loadEngineConfig();
  } catch (err) {
    if (err instanceof EngineConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
}

function maxLagSeconds(): number {
  const raw = process.env['REPLICATION_MAX_LAG_SECONDS'];
  if (raw === undefined || raw === '') return 30;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) {
    process.stderr.write(`invalid engine configuration (1 problem):\n  - REPLICATION_MAX_LAG_SECONDS [env REPLICATION_MAX_LAG_SECONDS=${JSON.stringify(raw)}]: must be a positive number of seconds\n`);
    process.exit(EXIT_CONFIG);
  }
  return v;
}

function exitAfterMs(): number | null {
  const raw = process.env['START_EXIT_AFTER_MS'];
  if (raw === undefined || raw === '') return null;
  if (!/^[0-9]{1,9}$/.test(raw)) {
    process.stderr.write(`invalid engine configuration (1 problem):\n  - START_EXIT_AFTER_MS [env START_EXIT_AFTER_MS=${JSON.stringify(raw)}]: must be a whole number of milliseconds\n`);
    process.exit(EXIT_CONFIG);
  }
  return Number(raw);
}

async function main(): Promise<void> {
  const stopAfterMs = exitAfterMs();
  const lagLimitSeconds = maxLagSeconds();
  const config = loadConfigOrExit();
  const log = createLogger(config.logLevel);
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception; stopping');
    process.exit(1);
  });

  log.info({ config: describeConfig(config), node: process.version }, 'configuration loaded');
  const counts = new Map<number, { events: number; expired: number }>();
  for (const spec of config.instruments) counts.set(spec.id, { events: 0, expired: 0 });
  let readSide: ReadSide | null = null;
  const onAck = (ack: Ack): void => {
    readSide?.onAck(ack);
    const c = counts.get(ack.instrumentId);
    if (c === undefined) return;
    for (let r = 0; r < ack.recordCount; r++) {
      const t = ack.words[ack.recordOffset(r)];
      if (t === EVR_TYPE_DONE) continue;
      c.events++;
      if (t === EventType.Expired) c.expired++;
    }
  };
  let engine: Engine;
  try {
    const started = await startEngine({
      instruments: config.instruments, shards: config.shards, shardOf: config.shardOf, durability: config.durability,
      dataDir: config.dataDir, snapshotIntervalMs: config.snapshotIntervalMs, archiveJournalOnSnapshot: config.archiveJournal, onAck,
      snapshotWriter: config.snapshotWriter, snapshotBudgetMs: config.snapshotBudgetMs,
      log: (fields, msg) => log.info(fields, msg),
    });
    engine = started.engine;
    if (config.databaseUrl !== null || config.redisUrl !== null) {
      readSide = await startReadSide({
        engine, databaseUrl: config.databaseUrl, redisUrl: config.redisUrl, maxLagSeconds: lagLimitSeconds,
        ...(process.env['PGSCHEMA'] ? { schema: process.env['PGSCHEMA'] } : {}),
        log: (fields, msg) => log.info(fields, msg),
      });
      log.info({ postgres: config.databaseUrl !== null, redis: config.redisUrl !== null, maxLagSeconds: lagLimitSeconds }, 'read side started');
    }
    if (config.demoFunding !== null && started.recovery.lastSeq === 0) fundDemoAccounts(engine, config, log);
  } catch (err) {
    log.fatal({ err }, 'engine failed to start');
    process.exit(1);
  }
  for (const spec of config.instruments) {
    log.info({ instrument: describeInstrument(spec), shard: config.shardOf[spec.symbol] ?? 0 }, 'order book ready');
  }

  let gateway: GatewayServer;
  try {
    gateway = await startGateway(engine, config, { log: (f, m) => log.info(f, m), ...(readSide?.redis ? { redis: readSide.redis } : {}) });
  } catch (err) {
    log.fatal({ err }, 'gateway failed to start');
    await engine.close().catch(() => undefined);
    if (err instanceof MasterKeyError) {
      process.stderr.write(`gateway failed to start: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    process.exit(1);
  }
  if (readSide?.redis) {
    const bus = readSide.redis;
    gateway.streams.setRemote({ publishMarketData: (s, m) => bus.publishMarketData(s, m), publishAccountUpdate: (a, m) => bus.publishAccountUpdate(a, m) });
  }
  log.info('serving the binary WebSocket /ws/orders, JSON streams on /ws/stream and the REST shim /api/v1 ' +
    '(/openapi.json; docs/gateway.md, docs/rest.md); users, accounts and API keys are created with scripts/admin.ts');
  log.warn('not available yet: strategies (REST answers 501)');
  log.info({ durability: config.durability, journal: engine.journalPath, shards: config.shards },
    'engine threads running: SQLite journal thread, one worker thread per shard, ledger and sequencer on the main thread');
  if (config.databaseUrl === null) log.info('DATABASE_URL not set: no PostgreSQL replication (the SQLite journal in the data dir is the only copy)');
  if (config.redisUrl === null) log.info('REDIS_URL not set: no Redis fan-out; REST rate limits per instance');

  const cmd = new Command();
  let ticks = 0;
  let busyTicks = 0;
  const tick = (): void => {
    for (const spec of config.instruments) {
      cmd.reset();
      cmd.type = CommandType.TimeTick;
      if (engine.submit(cmd, spec.id).status !== SubmitStatus.Accepted) busyTicks++;
    }
    ticks++;
  };
  const timer = setInterval(tick, TICK_INTERVAL_MS);

  let stopping = false;
  const stop = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    try {
      await gateway.close();
      const final = await engine.close();
      if (readSide !== null) {
        await readSide.stop();
        log.info({ replication: readSide.lag(), redis: readSide.redis?.status() ?? null }, 'read side stopped');
      }
      log.info({
        reason, ticks, busyTicks, lastSeq: final.seq, ledgerStateHash: final.ledger, stats: engine.stats(),
        books: config.instruments.map((s) => ({
          symbol: s.symbol, stateHash: final.books[s.id], events: counts.get(s.id)!.events, expired: counts.get(s.id)!.expired,
        })),
      }, 'engine stopped; final state hashes');
      process.exit(0);
    } catch (err) {
      log.fatal({ err }, 'engine failed while stopping');
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  if (stopAfterMs !== null) setTimeout(() => void stop(`START_EXIT_AFTER_MS=${stopAfterMs}`), stopAfterMs);

  log.info({ books: config.instruments.length, tickIntervalMs: TICK_INTERVAL_MS, snapshotIntervalMs: config.snapshotIntervalMs, stopAfterMs },
    'engine running; stop with SIGINT or SIGTERM');
}

void main();

/**
 * On an empty journal, deposits the configured demo balances (config `demoFunding`; the embedded
 * default funds accounts 1..10). Deposits are sequenced and journaled like any command, so a restart
 * replays them instead of depositing again.
 */
function fundDemoAccounts(engine: Engine, config: EngineConfig, log: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void }): void {
  const f = config.demoFunding!;
  const decimals = new Map<string, number>();
  for (const s of config.instruments) { decimals.set(s.baseAsset, s.baseDecimals); decimals.set(s.quoteAsset, s.quoteDecimals); }
  const cmd = new Command();
  let deposits = 0;
  for (const [asset, amount] of Object.entries(f.amounts)) {
    const d = decimals.get(asset);
    const id = engine.ledger.assetId(asset);
    if (d === undefined || id < 0) { log.warn({ asset }, 'demoFunding names an asset no instrument uses; skipped'); continue; }
    const units = parseDecimal(amount, d);
    for (const account of f.accounts) {
      cmd.reset();
      cmd.type = RuntimeCommandType.Deposit;
      cmd.account = account;
      cmd.value = units;
      const r = engine.submit(cmd, 0, id);
      if (r.status !== SubmitStatus.Accepted) throw new Error(`demo deposit refused: ${asset} to ${account} (reason ${r.reason})`);
      deposits++;
    }
  }
  log.info({ accounts: f.accounts, amounts: f.amounts, deposits }, 'demo accounts funded (empty journal; config demoFunding)');
}
