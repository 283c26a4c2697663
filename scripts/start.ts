// `npm start`: the engine on its embedded default configuration.
//
// What runs today: the configuration is loaded and validated, one order book per instrument is built,
// and engine time advances once a second through every book (a TimeTick command, so GTD expiry
// works) until SIGINT/SIGTERM, when the final state hashes are logged. The network gateway, the
// shard worker threads and the journal arrive in later issues; the log says so plainly.
//
// Environment: see config/engine.ts (ENGINE_CONFIG, ENGINE_PORT, ...). START_EXIT_AFTER_MS=n stops
// the engine by itself after n ms, as if it had received SIGTERM (tests and smoke checks).
// Exit codes: 0 clean stop, 2 invalid configuration, 1 anything else.

import { EngineConfigError, describeConfig, loadEngineConfig, type EngineConfig } from '../config/engine.js';
import { describeInstrument } from '../config/instruments.js';
import { createLogger, type Logger } from '../config/log.js';
import { OrderBook } from '../core/book.js';
import { EventBuffer } from '../core/events.js';
import { Command, CommandType, EVENT_WORDS, EV_TYPE, EventType } from '../core/types.js';

const TICK_INTERVAL_MS = 1000;
const EVENT_BUFFER_RECORDS = 4096;
export const EXIT_CONFIG = 2;

/**
 * Engine time for the sequencer's stamps: microseconds since the epoch, from the wall clock at
 * start plus a monotonic clock since, and never going back.
 */
class EngineClock {
  private readonly baseUs = Date.now() * 1000;
  private readonly baseNs = process.hrtime.bigint();
  private lastUs = 0;

  nowUs(): number {
    const us = this.baseUs + Number((process.hrtime.bigint() - this.baseNs) / 1000n);
    if (us > this.lastUs) this.lastUs = us;
    return this.lastUs;
  }
}

interface BookSlot {
  symbol: string;
  shard: number;
  book: OrderBook;
  events: EventBuffer;
  eventCount: number;
  expiredCount: number;
}

/** Tallies a book's events after a command and empties its buffer (no logging per event). */
function drain(slot: BookSlot): void {
  const ev = slot.events;
  const w = ev.words;
  for (let i = 0; i < ev.count; i++) {
    if (w[i * EVENT_WORDS + EV_TYPE] === EventType.Expired) slot.expiredCount++;
  }
  slot.eventCount += ev.count;
  ev.clear();
}

function buildBooks(config: EngineConfig, log: Logger): BookSlot[] {
  return config.instruments.map((spec) => {
    const slot: BookSlot = {
      symbol: spec.symbol, shard: config.shardOf[spec.symbol] ?? 0,
      book: undefined as unknown as OrderBook, events: undefined as unknown as EventBuffer, eventCount: 0, expiredCount: 0,
    };
    slot.events = new EventBuffer(EVENT_BUFFER_RECORDS, () => drain(slot));
    slot.book = new OrderBook(spec, slot.events);
    log.info({ instrument: describeInstrument(spec), shard: slot.shard, stateHash: slot.book.stateHash() }, 'order book ready');
    return slot;
  });
}

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

function exitAfterMs(): number | null {
  const raw = process.env['START_EXIT_AFTER_MS'];
  if (raw === undefined || raw === '') return null;
  if (!/^[0-9]{1,9}$/.test(raw)) {
    process.stderr.write(`invalid engine configuration (1 problem):\n  - START_EXIT_AFTER_MS [env START_EXIT_AFTER_MS=${JSON.stringify(raw)}]: must be a whole number of milliseconds\n`);
    process.exit(EXIT_CONFIG);
  }
  return Number(raw);
}

function main(): void {
  const stopAfterMs = exitAfterMs();
  const config = loadConfigOrExit();
  const log = createLogger(config.logLevel);
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception; stopping');
    process.exit(1);
  });

  log.info({ config: describeConfig(config), node: process.version }, 'configuration loaded');
  const slots = buildBooks(config, log);

  log.warn({ wouldListen: `${config.http.host}:${config.http.port}` },
    'gateway not available yet: no network listener is opened (binary WebSocket and REST come in later issues); ' +
    'orders cannot be submitted, the engine only advances time');
  log.warn({ durability: config.durability, dataDir: config.dataDir },
    'journal not available yet: nothing is written to the data dir and the durability setting has no effect');
  log.info({ shards: config.shards }, 'shard worker threads not available yet: every book runs on the main thread');
  if (config.databaseUrl !== null) log.warn('DATABASE_URL is set but Postgres replication is not available yet');
  if (config.redisUrl !== null) log.warn('REDIS_URL is set but Redis fan-out is not available yet');

  const clock = new EngineClock();
  const cmd = new Command();
  let seq = 0;
  let ticks = 0;
  const tick = (): void => {
    for (const slot of slots) {
      cmd.reset();
      cmd.type = CommandType.TimeTick;
      cmd.seq = ++seq;
      cmd.tsUs = clock.nowUs();
      slot.book.execute(cmd);
      drain(slot);
    }
    ticks++;
  };
  const timer = setInterval(tick, TICK_INTERVAL_MS);

  let stopping = false;
  const stop = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    log.info({
      reason, ticks, lastSeq: seq,
      books: slots.map((s) => ({
        symbol: s.symbol, stateHash: s.book.stateHash(), restingOrders: s.book.restingOrders,
        engineTimeUs: s.book.engineTimeUs, events: s.eventCount, expired: s.expiredCount,
      })),
    }, 'engine stopped; final state hashes');
    process.exit(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (stopAfterMs !== null) setTimeout(() => stop(`START_EXIT_AFTER_MS=${stopAfterMs}`), stopAfterMs);

  log.info({ books: slots.length, tickIntervalMs: TICK_INTERVAL_MS, stopAfterMs }, 'engine running; stop with SIGINT or SIGTERM');
}

main();
