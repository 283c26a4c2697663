// The engine's state rebuilt on one thread from the journal: every book and the ledger in one loop,
// each command held by the ledger (with the journaled amounts), executed by its book and settled
// before the next. It is both the reference the tests compare the threaded engine with
// (recovery.ts cleanReplay) and the snapshot thread's copy of the state (snapshot-writer-worker.ts),
// which follows the journal and dumps this state at each Snapshot command, so that the matching
// threads never stop to write one (docs/runtime.md "Snapshots"). The replication catch-up
// (pg/engine-source.ts JournalReplayer) steps its state with it too, building its records from the
// events the sink sees.
//
// A journal whose instrument configuration grew (instruments appended at a start: configuration
// epochs, persistence/instrument-fingerprint.ts) is replayed epoch by epoch: a snapshot set is
// restored under the epoch in force at its seq (its parts are that epoch's instruments, its ledger
// dump that epoch's shape, and their hashes were recorded so), and where the journal enters the next
// epoch the state grows into it (Ledger.grow; empty books for the new instruments). dumps() is then
// always in the shape of the epoch of the last seq applied, as the snapshots recorded at it are.

import { OrderBook } from '../core/book.js';
import { CW_ASSET, CW_INSTRUMENT, CW_LEDGER_EXTRA, CW_SEQ, CW_TYPE, CW_VALUE, CommandExtras, RuntimeCommandType, decodeCommand } from '../core/command-codec.js';
import { EventBuffer } from '../core/events.js';
import type { InstrumentSpec } from '../core/instrument.js';
import { Command, CommandType, RejectReason } from '../core/types.js';
import { Ledger, type LedgerOptions } from '../gateway/ledger.js';
import { epochIndexAt, readInstrumentEpochs, resolveInstrumentEpochs, type InstrumentEpoch } from './instrument-fingerprint.js';
import { LEDGER_SNAPSHOT_ID, decodeSnapshot, findSnapshotSet, type BadSnapshotPart, type SnapshotSet } from './snapshot-blob.js';

export class ReplayError extends Error {
  override readonly name = 'ReplayError';
}

/** Called with the buffered events of one command (instrument id, buffer) before the ledger settles them. */
export type ReplayEventSink = (instrumentId: number, events: EventBuffer) => void;

export class StateReplayer {
  ledger: Ledger;
  readonly books = new Map<number, OrderBook>();
  /** The last seq applied (the snapshot set's seq before any). */
  lastSeq: number;
  /** Commands applied. */
  commands = 0;
  /** The configuration epochs (one when the configuration never grew) and the one in force. */
  readonly epochs: readonly InstrumentEpoch[];
  epoch: number;
  private readonly resolved: boolean;
  /** First seq of the next epoch (Infinity when in the last). */
  private nextEpochSeq: number;
  private readonly index = new Map<number, number>();
  private readonly ev: EventBuffer;
  private readonly cmd = new Command();
  private readonly extras = new CommandExtras();
  private current = 0;

  /**
   * From empty state, or from a snapshot set (each restored state's hash checked against the one
   * recorded with it). `sink` sees every command's events (tests collect them). `epochs`: the
   * journal's configuration epochs resolved against `instruments` (null: the journal was written
   * under `instruments` alone); the set is restored under the epoch in force at its seq.
   */
  constructor(readonly instruments: readonly InstrumentSpec[], private readonly ledgerOptions: LedgerOptions, from: SnapshotSet | null = null,
    private readonly sink: ReplayEventSink | null = null, epochs: readonly InstrumentEpoch[] | null = null) {
    this.ev = new EventBuffer(1 << 14, (b) => this.settle(b));
    this.resolved = epochs !== null;
    this.epochs = epochs ?? [{ fromSeq: 1, instruments, assets: [] }];
    this.epoch = epochs === null ? 0 : epochIndexAt(epochs, from?.seq ?? 0);
    this.nextEpochSeq = this.epochs[this.epoch + 1]?.fromSeq ?? Infinity;
    const specs = this.epochs[this.epoch]!.instruments;
    const options = this.epochOptions(this.epoch);
    if (from === null) {
      this.ledger = new Ledger(specs, options);
      this.lastSeq = 0;
    } else {
      const snap = decodeSnapshot(from.ledger);
      this.ledger = Ledger.restore(specs, options, snap.state);
      const h = this.ledger.stateHash();
      if (h !== snap.stateHash) throw new ReplayError(`restored ledger hash ${h} differs from the recorded ${snap.stateHash} (seq ${from.seq})`);
      this.lastSeq = from.seq;
    }
    specs.forEach((s, i) => {
      this.index.set(s.id, i);
      const blob = from?.books.get(s.id);
      if (blob === undefined) {
        if (from !== null) throw new ReplayError(`snapshot set at seq ${from.seq} has no book for instrument ${s.id}`);
        this.books.set(s.id, new OrderBook(s, this.ev));
        return;
      }
      const snap = decodeSnapshot(blob);
      const book = OrderBook.restore(s, this.ev, snap.state);
      const h = book.stateHash();
      if (h !== snap.stateHash) throw new ReplayError(`restored book ${s.id} hash ${h} differs from the recorded ${snap.stateHash} (seq ${from!.seq})`);
      this.books.set(s.id, book);
    });
  }

  /** The ledger options of epoch `e` (its asset order; the caller's own when no epochs were given). */
  private epochOptions(e: number): LedgerOptions {
    return this.resolved ? { ...this.ledgerOptions, assets: this.epochs[e]!.assets } : this.ledgerOptions;
  }

  /**
   * Enters every epoch that starts at or before `nextSeq` (the seq about to be applied): the ledger
   * grows into its configuration, its new instruments get empty books. apply() does it itself;
   * callers that stop at an epoch's end and hand the state on call it with the next epoch's seq.
   */
  advanceTo(nextSeq: number): void {
    while (nextSeq >= this.nextEpochSeq) {
      const e = ++this.epoch;
      const specs = this.epochs[e]!.instruments;
      this.ledger = this.ledger.grow(specs, this.epochOptions(e));
      for (let i = this.index.size; i < specs.length; i++) {
        const s = specs[i]!;
        this.index.set(s.id, i);
        this.books.set(s.id, new OrderBook(s, this.ev));
      }
      this.nextEpochSeq = this.epochs[e + 1]?.fromSeq ?? Infinity;
    }
  }

  private settle(b: EventBuffer): void {
    if (this.sink !== null) this.sink(this.current, b);
    this.ledger.apply(b, 0);
    b.clear();
  }

  /**
   * Applies the journal record at word offset `o` of `w`, which must be the next seq. Returns its
   * type (a Snapshot command changes nothing: the caller dumps the state there). Throws ReplayError
   * when the ledger refuses a journaled command (the live engine accepted it).
   */
  apply(w: Float64Array, o: number): number {
    const seq = w[o + CW_SEQ]!;
    if (seq !== this.lastSeq + 1) throw new ReplayError(`journal seq ${seq} follows ${this.lastSeq}`);
    if (seq >= this.nextEpochSeq) this.advanceTo(seq);
    const type = w[o + CW_TYPE]!;
    this.lastSeq = seq;
    this.commands++;
    if (type === RuntimeCommandType.Snapshot) return type;
    const cmd = decodeCommand(w, o, this.cmd, this.extras);
    const ledger = this.ledger;
    if (type === RuntimeCommandType.Deposit || type === RuntimeCommandType.Withdraw || type === RuntimeCommandType.Adjust) {
      const a = w[o + CW_ASSET]!, v = w[o + CW_VALUE]!;
      const r = type === RuntimeCommandType.Deposit ? ledger.deposit(cmd.account, a, v)
        : type === RuntimeCommandType.Withdraw ? ledger.withdraw(cmd.account, a, v) : ledger.adjust(cmd.account, a, v);
      if (r !== RejectReason.None) throw new ReplayError(`funding seq ${seq} rejected by the ledger (${r})`);
      return type;
    }
    const id = w[o + CW_INSTRUMENT]!;
    const i = this.index.get(id);
    if (i === undefined) throw new ReplayError(`seq ${seq} names unknown instrument ${id}`);
    const r = type === CommandType.Replace ? ledger.holdReplace(cmd, i, false, Math.max(0, w[o + CW_LEDGER_EXTRA]!)) : ledger.hold(cmd, i, 0);
    // (a replace of an order that ended while the replace was in flight: the book rejects it too)
    if (r !== RejectReason.None && !(r === RejectReason.UnknownOrder && type === CommandType.Replace)) throw new ReplayError(`seq ${seq} rejected by the ledger (${r})`);
    this.current = id;
    this.books.get(id)!.execute(cmd);
    this.settle(this.ev);
    return type;
  }

  /** Each state's dump: the ledger's under LEDGER_SNAPSHOT_ID, each book's under its instrument id. */
  dumps(): Map<number, number[]> {
    const out = new Map<number, number[]>();
    out.set(LEDGER_SNAPSHOT_ID, this.ledger.stateDump());
    for (const [id, b] of this.books) out.set(id, b.stateDump());
    return out;
  }
}

/**
 * The newest whole snapshot set at or before `atOrBeforeSeq` (findSnapshotSet) across configuration
 * epochs: a set's parts are the instruments of the epoch in force at its seq. (A set of an older
 * epoch lacks the later instruments' books, so the later epochs' searches never return one.)
 */
export function findEpochSnapshotSet(path: string, epochs: readonly InstrumentEpoch[], atOrBeforeSeq: number,
  onBadPart?: (bad: BadSnapshotPart) => void): SnapshotSet | null {
  let bound = atOrBeforeSeq;
  for (;;) {
    const e = epochIndexAt(epochs, bound);
    const set = findSnapshotSet(path, epochs[e]!.instruments.map((s) => s.id), bound, onBadPart);
    if (set !== null && epochIndexAt(epochs, set.seq) === e) return set;
    if (e === 0) return null;
    bound = epochs[e]!.fromSeq - 1;
  }
}

/**
 * A StateReplayer for the journal at `journalPath` under the configuration `instruments` (that the
 * journal's recorded epochs start with), from the newest snapshot set that restores with its hashes
 * (older ones, then empty state, when it does not): the snapshot thread's starting point.
 */
export function openStateReplayer(journalPath: string, instruments: readonly InstrumentSpec[], ledgerOptions: LedgerOptions,
  sink: ReplayEventSink | null = null): StateReplayer {
  const epochs = resolveInstrumentEpochs(readInstrumentEpochs(journalPath), instruments, ledgerOptions.assets ?? [], journalPath);
  for (let bound = Number.MAX_SAFE_INTEGER; ;) {
    const set = findEpochSnapshotSet(journalPath, epochs, bound);
    try {
      return new StateReplayer(instruments, ledgerOptions, set, sink, epochs);
    } catch (e) {
      if (set === null) throw e;
      bound = set.seq - 1;
    }
  }
}
