// Helpers shared by the engine tests, the crash-test child and the pipeline bench: three test
// instruments sharing a quote asset, funding of accounts, a flow driver that submits a seeded order
// flow and collects acks.

import { after } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EVR_INSTRUMENT, EVR_TYPE_DONE, RuntimeCommandType } from '../core/command-codec.js';
import type { InstrumentSpec } from '../core/instrument.js';
import { Command, CommandType, EVENT_WORDS } from '../core/types.js';
import { testSpec } from '../testing/fixtures.js';
import { JOURNAL_FILE, SubmitStatus, type Ack, type Engine, type EngineOptions } from './engine.js';
import { startEngine as startEngineRaw } from '../persistence/recovery.js';
import { OrderFlow } from './order-flow.js';

export const KIT_ACCOUNTS = [1, 2, 3, 4, 5, 6] as const;
export const KIT_FUNDS_UNITS = 1e14;

export function kitInstruments(): InstrumentSpec[] {
  return [
    testSpec({ id: 1, symbol: 'AAA-USD', baseAsset: 'AAA', orderCapacity: 100_000, clientIdRetention: 1000 }),
    testSpec({ id: 2, symbol: 'BBB-USD', baseAsset: 'BBB', referencePriceTicks: 20_000, orderCapacity: 100_000, clientIdRetention: 1000 }),
    testSpec({ id: 7, symbol: 'CCC-USD', baseAsset: 'CCC', referencePriceTicks: 5_000, makerFeePpm: -50, orderCapacity: 100_000, clientIdRetention: 1000 }),
  ];
}

export function tempDataDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `engine-${tag}-`));
}

/** Deposits KIT_FUNDS_UNITS of every asset to every kit account (sequenced, journaled). */
export async function fundAccounts(engine: Engine): Promise<number> {
  const cmd = new Command();
  let n = 0;
  for (const acc of KIT_ACCOUNTS) {
    for (let a = 0; a < engine.ledger.assetCount; a++) {
      for (;;) {
        cmd.reset();
        cmd.type = RuntimeCommandType.Deposit; cmd.account = acc; cmd.value = KIT_FUNDS_UNITS;
        const r = engine.submit(cmd, 0, a);
        if (r.status === SubmitStatus.Accepted) break;
        if (r.status === SubmitStatus.Rejected) throw new Error(`deposit rejected: ${r.reason}`);
        engine.poll();
        await new Promise<void>((res) => setImmediate(res));
      }
      n++;
    }
  }
  return n;
}

/** Collects every acked event per instrument id (placeholders left out), and the acked seqs. */
export class AckCollector {
  readonly events = new Map<number, number[][]>();
  lastSeq = 0;
  count = 0;
  outOfOrder = 0;
  readonly onAck = (ack: Ack): void => {
    if (ack.seq !== this.lastSeq + 1 && this.lastSeq !== 0) this.outOfOrder++;
    this.lastSeq = ack.seq;
    this.count++;
    for (let r = 0; r < ack.recordCount; r++) {
      const o = ack.recordOffset(r);
      if (ack.words[o] === EVR_TYPE_DONE) continue;
      const id = ack.words[o + EVR_INSTRUMENT]!;
      let list = this.events.get(id);
      if (list === undefined) { list = []; this.events.set(id, list); }
      list.push(Array.from(ack.words.subarray(o, o + EVENT_WORDS)));
    }
  };
}

/**
 * Submits `count` commands of a seeded flow, pipelined: on Busy it polls and yields, then retries
 * the same command. Resolves once all are acked.
 */
export async function driveFlow(engine: Engine, flow: OrderFlow, count: number, nowUs: () => number = () => 0): Promise<{ accepted: number; rejected: number; busy: number }> {
  const cmd = new Command();
  const ids = flow.instruments.map((s) => s.id);
  let accepted = 0, rejected = 0, busy = 0;
  for (let k = 0; k < count; k++) {
    const i = flow.next(cmd, nowUs());
    for (;;) {
      const r = engine.submit(cmd, ids[i]!);
      if (r.status === SubmitStatus.Accepted) {
        accepted++;
        if (cmd.type === CommandType.NewOrder) flow.accepted(i, r.seq, cmd.account);
        break;
      }
      if (r.status === SubmitStatus.Rejected) { rejected++; break; }
      busy++;
      engine.poll();
      await new Promise<void>((res) => setImmediate(res));
    }
    if ((k & 255) === 255) await new Promise<void>((res) => setImmediate(res));
  }
  await engine.drain();
  return { accepted, rejected, busy };
}

/**
 * Tests: stops the engine's drain loop (poll, schedule) until the returned release is called. The
 * shards still execute what is sequenced, but nothing is settled or acked meanwhile: a book with a
 * command in flight stays unsettled, so a linked order sent to it stays parked (up to maxParkMs) for
 * as long as the test needs. Release is idempotent; call it in a finally (engine.close drains
 * through poll and would never finish while held).
 */
export function holdSettlement(engine: Engine): () => void {
  const e = engine as unknown as { poll: () => number; schedule: () => void };
  e.poll = () => 0;
  e.schedule = () => {};
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    delete (e as { poll?: unknown }).poll;
    delete (e as { schedule?: unknown }).schedule;
    engine.schedule();
  };
}

/** Tests: `f` with a connection to the journal file of data dir `dir` (closed after). */
export function withJournalDb<T>(dir: string, f: (db: Database.Database) => T): T {
  const db = new Database(join(dir, JOURNAL_FILE));
  try {
    db.pragma('busy_timeout = 5000');
    return f(db);
  } finally {
    db.close();
  }
}

/** Tests: the journal file's engine_meta rows of data dir `dir` (the instrument configuration record). */
export function engineMeta(dir: string): Record<string, string> {
  return withJournalDb(dir, (db) => Object.fromEntries((db.prepare('SELECT key, value FROM engine_meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value])));
}

/**
 * Tests: a startEngine whose engines a failed assertion left open are closed after the file's tests,
 * so that its process can exit. Call it at a test file's top level (it registers the `after` hook).
 */
export function closingStartEngine(): (o: EngineOptions) => ReturnType<typeof startEngineRaw> {
  const open = new Set<Engine>();
  after(async () => { for (const e of open) await e.close().catch(() => {}); });
  return async (o) => {
    const r = await startEngineRaw(o);
    open.add(r.engine);
    const close = r.engine.close.bind(r.engine);
    r.engine.close = () => { open.delete(r.engine); return close(); };
    return r;
  };
}
