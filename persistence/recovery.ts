// Recovery on start: the engine starts from the newest complete snapshot set within the journal
// (Engine.start restores the books in their shards and the ledger, checking each restored state
// hash against the one recorded with it), then the journal after that snapshot is replayed through
// the same path as live commands (Engine.replayRecord: ledger hold with the journaled amounts, shard
// rings, settlement). Every Snapshot command passed on the way is checked against the hashes
// recorded when it was taken. Logs the recovery time and events/s.
//
// Also `cleanReplay`: an independent single-threaded replay of a journal (books and ledger in one
// loop, every command settled before the next; persistence/replayer.ts), the reference the tests
// compare the engine with. Both cross instrument configuration changes (appended instruments:
// configuration epochs, instrument-fingerprint.ts) as a start does.

import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { OrderBook } from '../core/book.js';
import type { EventBuffer } from '../core/events.js';
import type { InstrumentSpec } from '../core/instrument.js';
import { Engine, JOURNAL_FILE, ledgerOptionsOf, type EngineOptions, type StateHashes } from '../gateway/engine.js';
import type { Ledger, LedgerOptions } from '../gateway/ledger.js';
import { readInstrumentEpochs, resolveInstrumentEpochs } from './instrument-fingerprint.js';
import { readJournalChunks } from './journal.js';
import { ReplayError, StateReplayer } from './replayer.js';

export interface RecoveryReport {
  /** Seq of the snapshot set the engine started from (0 = none). */
  snapshotSeq: number;
  /** Journal records replayed after it. */
  replayedCommands: number;
  /** Event records the replay produced (and the ledger settled). */
  replayedEvents: number;
  lastSeq: number;
  ms: number;
  eventsPerSec: number;
  commandsPerSec: number;
}

export class RecoveryError extends Error {
  override readonly name = 'RecoveryError';
}

/** Starts the engine on its data dir and recovers it (snapshot + journal replay) before returning. */
export async function startEngine(o: EngineOptions): Promise<{ engine: Engine; recovery: RecoveryReport }> {
  const t0 = process.hrtime.bigint();
  const engine = await Engine.start(o);
  let recovery: RecoveryReport;
  try {
    recovery = await recoverEngine(engine, t0);
    // A start from before the last instrument configuration change replayed the older epochs on
    // the main thread (snapshot-recovery.ts): a snapshot now lets the next start begin past it.
    const epochs = readInstrumentEpochs(engine.journalPath);
    if (epochs.length > 1 && recovery.snapshotSeq < epochs[epochs.length - 1]!.fromSeq) {
      const seq = await engine.snapshot('inline');
      o.log?.({ seq, epoch: epochs.length - 1, fromSeq: epochs[epochs.length - 1]!.fromSeq }, 'snapshot taken after starting across an instrument configuration change');
    }
  } catch (e) {
    await engine.close().catch(() => {});
    throw e;
  }
  o.log?.({ recovery }, 'recovery done');
  return { engine, recovery };
}

/** Replays the journal after the engine's starting snapshot through the engine. */
export async function recoverEngine(engine: Engine, t0 = process.hrtime.bigint()): Promise<RecoveryReport> {
  const from = engine.replayFromSeq;
  const events0 = engine.eventsDrained;
  let n = 0;
  if (engine.recovering) {
    let spins = 0;
    for (const chunk of readJournalChunks(engine.journalPath, from)) {
      const w = chunk.words, rw = chunk.recordWords, sw = chunk.seqWord;
      for (let r = 0, o = 0; r < chunk.n; r++, o += rw) {
        if (w[o + sw]! <= from) continue;
        while (!engine.replayRecord(w, o)) {
          engine.poll();
          if (++spins % 1024 === 0) await yieldToLoop();
          if (engine.error !== null) throw engine.error;
        }
        n++;
        // The chunk's buffer stays valid across this await: the generator only refills it when
        // the loop asks for the next chunk.
        if (n % 4096 === 0) {
          engine.poll();
          await yieldToLoop();
        }
      }
    }
    await engine.drain();
    engine.finishReplay();
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const events = engine.eventsDrained - events0;
  const s = ms / 1000;
  return {
    snapshotSeq: from, replayedCommands: n, replayedEvents: events, lastSeq: engine.journal.recoveredSeq,
    ms: Math.round(ms * 10) / 10,
    eventsPerSec: s > 0 ? Math.round(events / s) : 0,
    commandsPerSec: s > 0 ? Math.round(n / s) : 0,
  };
}

export interface CleanReplay {
  hashes: StateHashes;
  books: Map<number, OrderBook>;
  ledger: Ledger;
  /** Every event record per instrument id, in order (when collect = true). */
  events: Map<number, number[][]>;
  commands: number;
}

/**
 * Replays the journal at `dataDir` (records 1..upToSeq) on one thread, from empty state: for each
 * command, ledger hold (the journaled amounts), book execute, settle. Throws if the ledger rejects a
 * journaled command. `collect`: keep every event (tests).
 */
export function cleanReplay(dataDir: string, instruments: readonly InstrumentSpec[], ledgerOptions: Partial<LedgerOptions> = {},
  upToSeq = Number.MAX_SAFE_INTEGER, collect = false): CleanReplay {
  const path = join(dataDir, JOURNAL_FILE);
  const events = new Map<number, number[][]>();
  for (const s of instruments) events.set(s.id, []);
  const sink = collect ? (id: number, b: EventBuffer): void => { const out = events.get(id)!; for (let r = 0; r < b.count; r++) out.push(b.record(r)); } : null;
  const options = ledgerOptionsOf({ ledger: ledgerOptions } as EngineOptions);
  // A journal whose instrument configuration grew is replayed epoch by epoch (replayer.ts).
  const recorded = existsSync(path) ? readInstrumentEpochs(path) : [];
  const epochs = recorded.length > 1 ? resolveInstrumentEpochs(recorded, instruments, options.assets ?? [], path) : null;
  const rp = new StateReplayer(instruments, options, null, sink, epochs);
  try {
    if (existsSync(path)) {
      outer: for (const chunk of readJournalChunks(path, 0)) {
        const w = chunk.words, rw = chunk.recordWords, sw = chunk.seqWord;
        for (let r = 0, o = 0; r < chunk.n; r++, o += rw) {
          const seq = w[o + sw]!;
          if (seq <= rp.lastSeq) continue;
          if (seq > upToSeq) break outer;
          rp.apply(w, o);
        }
      }
    }
  } catch (e) {
    if (e instanceof ReplayError) throw new RecoveryError(`clean replay: ${e.message}`);
    throw e;
  }
  // The whole journal: the state as a start under the current configuration has it (grown into an
  // epoch that has no record yet). Up to a seq: the shape the snapshots at that seq have.
  if (upToSeq === Number.MAX_SAFE_INTEGER) rp.advanceTo(rp.lastSeq + 1);
  const bookHashes: Record<number, string> = {};
  for (const [id, b] of rp.books) bookHashes[id] = b.stateHash();
  return { hashes: { seq: rp.lastSeq, ledger: rp.ledger.stateHash(), books: bookHashes }, books: rp.books, ledger: rp.ledger, events, commands: rp.commands };
}
