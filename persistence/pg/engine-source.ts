// The replication stream of the running engine (ReplicationSource, replication.ts): a bounded live
// buffer fed from the engine's durable acks, plus catch-up from the journal by an offline replay for
// every seq the buffer does not hold (after a restart, or after the buffer overflowed because
// PostgreSQL was slow or down). Design: docs/persistence.md ("Read side in the running engine").
//
// The ack path only copies the command's event words into the buffer (or drops them when the buffer
// is full): no I/O, no JSON, no per-account work. Balance records are built when the replicator
// reads, from the ledger's values at that moment (see BalanceMode below).

import { setImmediate as yieldToLoop } from 'node:timers/promises';
import {
  CMD_WORDS, CW_ACCOUNT, CW_ASSET, CW_CLIENT_TEXT, CW_INSTRUMENT, CW_SEQ, CW_TS, CW_TYPE, EVR_TYPE_DONE, RuntimeCommandType,
  isFundingType, unpackClientText,
} from '../../core/command-codec.js';
import type { InstrumentSpec } from '../../core/instrument.js';
import { CommandType, EVENT_WORDS, EventType } from '../../core/types.js';
import { ledgerOptionsOf, type Ack, type Engine, type EngineOptions } from '../../gateway/engine.js';
import type { Ledger, LedgerOptions } from '../../gateway/ledger.js';
import { readJournal, readJournalChunks } from '../journal.js';
import { ReplayError, StateReplayer, type ReplayEventSink } from '../replayer.js';
import { findSnapshotSet } from '../snapshot-blob.js';
import type { BalanceRecord, EventsRecord, ReplicationRecord, ReplicationSource } from './replication.js';

export class CatchUpError extends Error {
  override readonly name = 'CatchUpError';
}

export interface EngineSourceOptions {
  /** Live buffer bound, in event words x 16 (= event records) plus one per command. Default 262144. */
  maxBufferedEvents?: number;
  /** After an overflow, live acks are buffered again once the buffer is below this fraction. Default 0.5. */
  resumeFraction?: number;
  /** Ledger options of the engine (the catch-up replay's ledger must match). */
  ledger?: Partial<LedgerOptions>;
  /** Journal commands per catch-up chunk between yields to the event loop. Default 2048. */
  replayChunkCommands?: number;
  log?: (fields: Record<string, unknown>, msg: string) => void;
}

export interface EngineSourceStats {
  headSeq: number;
  bufferedCommands: number;
  bufferedEvents: number;
  /** True while live acks are dropped (buffer full): they will be regenerated from the journal. */
  overflowing: boolean;
  overflows: number;
  droppedCommands: number;
  /** Commands served from the journal replay (emitted), and replays started from a snapshot. */
  catchUpCommands: number;
  catchUpRebuilds: number;
}

interface LiveEntry {
  seq: number;
  commandType: number;
  instrumentId: number;
  tsUs: number;
  /** k x EVENT_WORDS words (no placeholders). */
  words: Float64Array;
  /** Balance records taken at start-up (see the source's constructor), replicated before this seq's own. */
  dump: BalanceRecord[] | null;
}

const EMPTY = new Float64Array(0);

/** Accounts whose balances an event changes (word offsets of account fields). */
function touchedAccounts(w: Float64Array, o: number, feeAccount: number, out: number[]): void {
  const t = w[o]!;
  if (t === EventType.Trade) { out.push(w[o + 7]!, w[o + 9]!, feeAccount); return; }
  if (t === EventType.Accepted || t === EventType.Rejected || t === EventType.Canceled || t === EventType.Expired
    || t === EventType.Replaced || t === EventType.Decremented || t === EventType.Triggered || t === EventType.Activated) out.push(w[o + 4]!);
}

/** The balance records (both assets of the instrument) of every account the events touch. */
function balanceRecords(ledger: Ledger, instrumentIndex: number, words: Float64Array, seq: number, tsUs: number, out: ReplicationRecord[]): void {
  const accounts: number[] = [];
  for (let o = 0; o < words.length; o += EVENT_WORDS) touchedAccounts(words, o, ledger.feeAccount, accounts);
  if (accounts.length === 0) return;
  const base = ledger.baseAssetOf(instrumentIndex), quote = ledger.quoteAssetOf(instrumentIndex);
  const seen = new Set<number>();
  for (const a of accounts) {
    if (seen.has(a)) continue;
    seen.add(a);
    out.push(balanceOf(ledger, a, base, seq, tsUs), balanceOf(ledger, a, quote, seq, tsUs));
  }
}

function balanceOf(ledger: Ledger, account: number, asset: number, seq: number, tsUs: number): BalanceRecord {
  return {
    kind: 'balance', seq, tsUs, account, asset: ledger.assetName(asset),
    availableUnits: ledger.available(account, asset), lockedUnits: ledger.locked(account, asset),
  };
}

/** Every (account, asset) with a non-zero balance, from the ledger's canonical dump. */
export function ledgerBalances(ledger: Ledger, seq: number, tsUs: number): BalanceRecord[] {
  const d = ledger.stateDump();
  const k = d[1]!;
  let p = 3 + k;
  const n = d[p++]!;
  const out: BalanceRecord[] = [];
  for (let i = 0; i < n; i++) {
    const account = d[p++]!;
    for (let x = 0; x < k; x++) {
      const available = d[p++]!, locked = d[p++]!;
      out.push({ kind: 'balance', seq, tsUs, account, asset: ledger.assetName(x), availableUnits: available, lockedUnits: locked });
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Catch-up: an offline replay of the journal (books + ledger, one command settled before the next)
// ------------------------------------------------------------------------------------------------

/**
 * Regenerates the records of journal seqs from books and a ledger restored from the newest
 * snapshot set at or before the first seq asked for. Keeps its position between reads, so
 * consecutive reads continue where the last one ended; a read behind its position rebuilds.
 * The state is stepped by a StateReplayer (the clean replay's and the snapshot thread's), whose
 * event sink collects each command's events for its records.
 */
export class JournalReplayer {
  /** State is "after seq pos" (-1: not built). */
  pos = -1;
  rebuilds = 0;
  emitted = 0;
  private state: StateReplayer | null = null;
  private readonly index = new Map<number, number>();
  /** The events of the command being applied (more than one part when the event buffer filled). */
  private chunks: Float64Array[] = [];
  private readonly collect: ReplayEventSink = (_, b) => {
    if (b.count > 0) this.chunks.push(b.words.slice(0, b.count * EVENT_WORDS));
  };
  private readonly ledgerOptions: LedgerOptions;
  private readonly ids: number[];

  constructor(private readonly journalPath: string, private readonly instruments: readonly InstrumentSpec[],
    ledger: Partial<LedgerOptions> = {}, private readonly chunkCommands = 2048) {
    this.ledgerOptions = ledgerOptionsOf({ ledger } as EngineOptions);
    instruments.forEach((s, i) => this.index.set(s.id, i));
    this.ids = instruments.map((s) => s.id);
  }

  /**
   * Restores the newest snapshot set at or before `seq` (or empty state). Each restored state is
   * checked against the hash recorded with it (as the engine and the snapshot thread do): a
   * replication built on a wrong state would write wrong rows.
   */
  private restore(seq: number): void {
    const set = findSnapshotSet(this.journalPath, this.ids, seq);
    this.state = new StateReplayer(this.instruments, this.ledgerOptions, set, this.collect);
    this.pos = this.state.lastSeq;
    this.rebuilds++;
  }

  /**
   * The records of seqs (from, upTo], about `max` of them (whole seqs). Yields to the event loop
   * between chunks of the journal.
   */
  async read(from: number, upTo: number, max: number): Promise<ReplicationRecord[]> {
    const out: ReplicationRecord[] = [];
    try {
      if (this.state === null || from < this.pos) this.restore(from);
      while (this.pos < upTo && out.length < max) {
        const before = this.pos;
        let n = 0;
        for (const rec of readJournal(this.journalPath, this.pos)) {
          if (rec.seq > upTo) break;
          this.step(rec.words, rec.seq > from ? out : null);
          if (++n >= this.chunkCommands || out.length >= max) break;
        }
        if (this.pos === before) break; // the journal does not hold upTo yet
        if (this.pos < upTo && out.length < max) await yieldToLoop();
      }
    } catch (e) {
      // The state may hold part of the command that failed: the next read rebuilds it.
      this.state = null;
      this.pos = -1;
      throw e instanceof ReplayError ? new CatchUpError(`catch-up: ${e.message}`) : e;
    }
    return out;
  }

  /** Applies one journal command; appends its records to `out` when given. */
  private step(w: Float64Array, out: ReplicationRecord[] | null): void {
    const state = this.state!;
    this.chunks.length = 0;
    const type = state.apply(w, 0);
    this.pos = state.lastSeq;
    if (out === null) return;
    const seq = w[CW_SEQ]!, tsUs = w[CW_TS]!;
    if (type === RuntimeCommandType.Snapshot) {
      out.push({ kind: 'events', seq, instrumentId: 0, words: EMPTY });
    } else if (isFundingType(type)) {
      out.push(balanceOf(state.ledger, w[CW_ACCOUNT]!, w[CW_ASSET]!, seq, tsUs));
    } else {
      const id = w[CW_INSTRUMENT]!;
      const words = this.chunks.length === 1 ? this.chunks[0]! : concat(this.chunks);
      const ev: EventsRecord = { kind: 'events', seq, instrumentId: id, words };
      if (type === CommandType.NewOrder && w[CW_CLIENT_TEXT] !== 0) ev.clientText = unpackClientText(w, CW_CLIENT_TEXT);
      out.push(ev);
      balanceRecords(state.ledger, this.index.get(id)!, words, seq, tsUs, out);
    }
    this.emitted++;
  }
}

function concat(parts: Float64Array[]): Float64Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Float64Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

// ------------------------------------------------------------------------------------------------
// The source
// ------------------------------------------------------------------------------------------------

/**
 * Install `source.onAck` in the engine's ack chain (after recovery, before anything is submitted).
 * Every seq up to the engine's acked seq at construction comes from the journal.
 */
export class EngineReplicationSource implements ReplicationSource {
  private readonly q: LiveEntry[] = [];
  private qHead = 0;
  private bufferedEvents = 0;
  private readonly maxEvents: number;
  private readonly resumeEvents: number;
  private lastAcked: number;
  private dropping = false;
  private startupDump: BalanceRecord[] | null;
  private readonly replayer: JournalReplayer;
  private readonly instrumentIndex = new Map<number, number>();
  private readonly log: (fields: Record<string, unknown>, msg: string) => void;
  private wake: (() => void) | null = null;
  overflows = 0;
  droppedCommands = 0;

  constructor(private readonly engine: Engine, o: EngineSourceOptions = {}) {
    this.maxEvents = o.maxBufferedEvents ?? 1 << 18;
    this.resumeEvents = Math.floor(this.maxEvents * (o.resumeFraction ?? 0.5));
    this.log = o.log ?? (() => {});
    this.lastAcked = engine.stats().ackedSeq;
    engine.instruments.forEach((s, i) => this.instrumentIndex.set(s.id, i));
    this.replayer = new JournalReplayer(engine.journalPath, engine.instruments, o.ledger ?? {}, o.replayChunkCommands ?? 2048);
    // Balances written before a crash may include holds of commands that never became durable; the
    // ledger now is exactly the state after lastAcked (recovery drained it): replicate it whole with
    // the first live seq.
    this.startupDump = ledgerBalances(engine.ledger, this.lastAcked + 1, 0);
  }

  /** Called by the replicator's owner to be told when records arrive (replicator.notify). */
  onData(fn: (() => void) | null): void {
    this.wake = fn;
  }

  /** The engine's ack hook. Never throws, never blocks: copies or drops. */
  readonly onAck = (ack: Ack): void => {
    this.lastAcked = ack.seq;
    const n = ack.recordCount;
    if (this.dropping) {
      if (this.bufferedEvents > this.resumeEvents) { this.droppedCommands++; return; }
      this.dropping = false;
      this.log({ seq: ack.seq, bufferedEvents: this.bufferedEvents }, 'replication: live buffer accepting again; the gap is caught up from the journal');
    }
    if (this.bufferedEvents + n + 1 > this.maxEvents) {
      this.dropping = true;
      this.overflows++;
      this.droppedCommands++;
      this.log({ seq: ack.seq, bufferedEvents: this.bufferedEvents }, 'replication: live buffer full (PostgreSQL slow or down); later commands will be caught up from the journal');
      return;
    }
    let k = 0;
    let tsUs = 0;
    for (let r = 0; r < n; r++) {
      const o = ack.recordOffset(r);
      if (tsUs === 0) tsUs = ack.words[o + 2]!;
      if (ack.words[o] !== EVR_TYPE_DONE) k++;
    }
    let words = EMPTY;
    if (k > 0) {
      words = new Float64Array(k * EVENT_WORDS);
      let p = 0;
      for (let r = 0; r < n; r++) {
        const o = ack.recordOffset(r);
        if (ack.words[o] === EVR_TYPE_DONE) continue;
        words.set(ack.words.subarray(o, o + EVENT_WORDS), p);
        p += EVENT_WORDS;
      }
    }
    const dump = this.startupDump;
    this.startupDump = null;
    this.q.push({ seq: ack.seq, commandType: ack.commandType, instrumentId: ack.instrumentId, tsUs, words, dump });
    this.bufferedEvents += k + 1;
    this.wake?.();
  };

  headSeq(): number {
    return this.lastAcked;
  }

  stats(): EngineSourceStats {
    return {
      headSeq: this.lastAcked, bufferedCommands: this.q.length - this.qHead, bufferedEvents: this.bufferedEvents,
      overflowing: this.dropping, overflows: this.overflows, droppedCommands: this.droppedCommands,
      catchUpCommands: this.replayer.emitted, catchUpRebuilds: this.replayer.rebuilds,
    };
  }

  private front(): LiveEntry | undefined {
    return this.q[this.qHead];
  }

  private shift(): void {
    const e = this.q[this.qHead]!;
    this.bufferedEvents -= e.words.length / EVENT_WORDS + 1;
    this.qHead++;
    if (this.qHead > 4096 && this.qHead * 2 > this.q.length) { this.q.splice(0, this.qHead); this.qHead = 0; }
  }

  async read(fromSeqExclusive: number, max: number): Promise<ReplicationRecord[]> {
    // Entries at or below the checkpoint are in PostgreSQL: release them.
    while (this.front() !== undefined && this.front()!.seq <= fromSeqExclusive) this.shift();
    const f = this.front();
    const nextLive = f !== undefined ? f.seq : this.lastAcked + 1;
    if (fromSeqExclusive + 1 < nextLive) {
      // Not in the buffer: regenerate from the journal, never past the buffer's first seq (no
      // overlap, no gap) nor past what the journal holds (durability 'none' acks before that).
      const upTo = Math.min(nextLive - 1, this.engine.journal.durableSeq());
      if (upTo <= fromSeqExclusive) return [];
      return this.replayer.read(fromSeqExclusive, upTo, max);
    }
    return this.readLive(fromSeqExclusive, max);
  }

  private readLive(from: number, max: number): ReplicationRecord[] {
    const out: ReplicationRecord[] = [];
    const ledger = this.engine.ledger;
    // NewOrder records get their client text from the journal (the ack does not carry the command
    // words): one read for the whole batch, so the batch stops before a NewOrder the journal does not
    // hold yet (durability 'none' acks before the write; any other mode acks after it).
    const durable = this.engine.journal.durableSeq();
    let orders: EventsRecord[] | null = null;
    let expect = from + 1;
    for (let i = this.qHead; i < this.q.length && out.length < max; i++) {
      const e = this.q[i]!;
      if (e.seq !== expect) break; // a gap left by an overflow: the journal serves it next
      if (e.commandType === CommandType.NewOrder && e.seq > durable) break;
      expect++;
      if (e.dump !== null) for (const b of e.dump) out.push({ ...b, tsUs: e.tsUs > 0 ? e.tsUs : Date.now() * 1000 });
      if (isFundingType(e.commandType)) {
        const f = this.fundingOf(e.seq);
        if (f === null) { if (e.dump !== null) out.length -= e.dump.length; break; }
        out.push(balanceOf(ledger, f.account, f.asset, e.seq, f.tsUs));
        continue;
      }
      const ev: EventsRecord = { kind: 'events', seq: e.seq, instrumentId: e.instrumentId, words: e.words };
      if (e.commandType === CommandType.NewOrder && e.words.length > 0) (orders ??= []).push(ev);
      out.push(ev);
      const ii = this.instrumentIndex.get(e.instrumentId);
      if (ii !== undefined && e.words.length > 0) balanceRecords(ledger, ii, e.words, e.seq, e.tsUs, out);
    }
    if (orders !== null) this.addClientTexts(orders);
    return out;
  }

  /**
   * Sets `clientText` of NewOrder records (ascending seqs) from their journal records: one pass over
   * the journal chunks from the first to the last (the query starts at the chunk holding the first).
   */
  private addClientTexts(recs: readonly EventsRecord[]): void {
    const bySeq = new Map<number, EventsRecord>();
    for (const r of recs) bySeq.set(r.seq, r);
    const first = recs[0]!.seq, last = recs[recs.length - 1]!.seq;
    for (const ch of readJournalChunks(this.engine.journalPath, first - 1)) {
      if (ch.recordWords !== CMD_WORDS) return;
      const w = ch.words;
      for (let k = 0; k < ch.n; k++) {
        const o = k * CMD_WORDS, seq = w[o + CW_SEQ]!;
        if (seq > last) return;
        if (seq < first || w[o + CW_TYPE] !== CommandType.NewOrder || w[o + CW_CLIENT_TEXT] === 0) continue;
        const r = bySeq.get(seq);
        if (r !== undefined) r.clientText = unpackClientText(w, o + CW_CLIENT_TEXT);
      }
    }
  }

  /** A funding command's account and asset (the ack carries neither): from the journal. Rare. */
  private fundingOf(seq: number): { account: number; asset: number; tsUs: number } | null {
    for (const rec of readJournal(this.engine.journalPath, seq - 1)) {
      if (rec.seq !== seq) return null;
      return { account: rec.words[CW_ACCOUNT]!, asset: rec.words[CW_ASSET]!, tsUs: rec.words[CW_TS]! };
    }
    return null;
  }
}
