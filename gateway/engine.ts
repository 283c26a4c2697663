// The engine runtime on the main thread (issue 4): sequencer, account ledger, routing to shard
// worker threads over SAB rings, the journal thread, event draining, settlement and durable acks.
// Lifecycle of one order and the ordering argument: docs/runtime.md ("Runtime").
//
//   submit(cmd) --> ledger hold --> journal ring + shard ring (both reserved first, then published)
//   shard: book.execute --> event ring --> poll(): settle ledger --> ack once durable (seq order)
//
// Nothing here blocks: a full ring or a full in-flight window answers Busy (counted); the hot path
// reuses one Command, one SubmitResult and one Ack.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  CMD_RECORD_BYTES, CW_INSTRUMENT, CW_LEDGER_EXTRA, CW_SEQ, CW_TS, CW_TYPE, CommandExtras, EVR_INSTRUMENT, EVR_LAST,
  CW_LINK_ID, EVR_RECORD_BYTES, EVR_TYPE_DONE, EVR_WORDS, RuntimeCommandType, copyCommandRecord, decodeCommand, encodeCommand, isFundingType,
} from '../core/command-codec.js';
import type { InstrumentSpec } from '../core/instrument.js';
import { Command, CommandType, EventType, OrderType, RejectReason, Side } from '../core/types.js';
import { Journal, SnapshotStore, latestSnapshot, listJournalArchives, type Durability } from '../persistence/journal.js';
import { hashNumbers } from '../core/hash.js';
import { archiveJournal, newestSnapshotSetSeq, type ArchiveResult } from '../persistence/journal-archive.js';
import { SnapshotWriter, type SnapshotWriterOptions, type WrittenSnapshot } from '../persistence/snapshot-writer.js';
import {
  LEDGER_SNAPSHOT_ID, decodeSnapshot, encodeSnapshot, type SnapshotSet,
} from '../persistence/snapshot-blob.js';
import { checkInstrumentFingerprint, recordInstrumentFingerprint, type FingerprintCheck } from '../persistence/instrument-fingerprint.js';
import { loadStartingPoint } from '../persistence/snapshot-recovery.js';
import { EngineClock } from './clock.js';
import { Ledger, type LedgerOptions } from './ledger.js';
import { RING_HEADER_BYTES, Ring } from './ring.js';
import {
  SC_STOP, SHARD_CTRL_BYTES, type ShardMessage, type ShardWorkerData,
} from './shard-worker.js';

export const JOURNAL_FILE = 'journal.sqlite';
const RING_DATA_WORD = RING_HEADER_BYTES / 8;
/** In-flight table entry: shard -1 = no shard (funding), -2 = every shard (snapshot). */
const SHARD_NONE = -1;
/** Shards an engine may have (the pump keeps one wait flag per event ring: evWaitArmed). */
const MAX_SHARDS = 64;
const SHARD_ALL = -2;

export interface EngineOptions {
  instruments: InstrumentSpec[];
  shards: number;
  /** symbol -> shard index (config/engine.ts). Missing symbols: index % shards. */
  shardOf?: Record<string, number>;
  durability: Durability;
  dataDir: string;
  /** Ledger options; defaults: fee account 999_999_999, maxOrders 2^18, maxPendingReplaces 2^14. */
  ledger?: Partial<LedgerOptions>;
  /** Slots per shard command ring (power of two). Default 16384. */
  commandRingCapacity?: number;
  /** Slots per shard event ring (power of two). Default 65536. */
  eventRingCapacity?: number;
  /** Journal ring slots. Default 65536. */
  journalRingCapacity?: number;
  /** Max sequenced commands not yet acked (power of two); beyond it submit answers Busy. Default 65536. */
  maxInFlight?: number;
  /** Shard spin before Atomics.wait. Default 2000 with one shard (measured: 20000 cost ack p50 ~25% at 10k orders/s on 2 cores), 0 with more. */
  shardSpinIterations?: number;
  /** Journal thread spin before Atomics.wait (persistence/journal.ts; default 2000). */
  journalSpinIterations?: number;
  /** Shard and journal threads' adaptive spin (gateway/ring.ts adaptiveSpinUs): keep polling up to this long while traffic is dense. Default 0 (off). */
  shardAdaptiveSpinUs?: number;
  journalAdaptiveSpinUs?: number;
  /** Journal WAL checkpoint period (persistence/journal.ts checkpointIntervalMs; default 100). */
  journalCheckpointIntervalMs?: number;
  /** Journal periodic group commit: the journal thread naps this long between batches, unannounced (persistence/journal.ts lingerUs). Default 500 with durability 'none', else 0. */
  journalLingerUs?: number;
  /** Journal commit pacing: the least gap (us) between a COMMIT's end and the next transaction (persistence/journal.ts commitGapUs). Default 50 with durability 'normal', else 0. */
  journalCommitGapUs?: number;
  /** SQLite page size of a new journal file (persistence/journal.ts pageSize; default JOURNAL_PAGE_SIZE). */
  journalPageSize?: number;
  /** Format of a new journal file (persistence/journal.ts format: 3 compact, the default; 2 raw records). */
  journalFormat?: number;
  /** Nice value of the journal thread (persistence/journal.ts threadNice; default 0). */
  journalThreadNice?: number;
  /** Nice value of the WAL checkpoint thread (persistence/journal.ts checkpointerNice; default 10). */
  journalCheckpointerNice?: number;
  /** Take a snapshot every this many ms (0 = only on demand and at close). Default 0. */
  snapshotIntervalMs?: number;
  /**
   * After each periodic snapshot, archive the journal rows it makes unnecessary for recovery
   * (Engine.archiveJournal). Default false.
   */
  archiveJournalOnSnapshot?: boolean;
  /** The periodic archive waits until this many records are archivable. Default ARCHIVE_MIN_RECORDS. */
  archiveMinRecords?: number;
  /** Engine time source in microseconds (tests: deterministic); it is made monotonic. */
  clockUs?: () => number;
  /** Called with every ack, in seq order, once the command is durable at the configured level. */
  onAck?: (ack: Ack) => void;
  /** Deferred sequencing: commands parked per book at most (default DEFAULT_MAX_PARKED_PER_BOOK). */
  maxParkedPerBook?: number;
  /** Deferred sequencing: a parked command's longest wait (ms, default DEFAULT_MAX_PARK_MS). */
  maxParkMs?: number;
  /** Recovery progress and other notes (e.g. pino's info). */
  log?: (fields: Record<string, unknown>, msg: string) => void;
  /** Take a snapshot at close (default true; inline: nothing is running any more). */
  snapshotOnClose?: boolean;
  /**
   * Who writes a snapshot taken while the engine runs (docs/runtime.md "Snapshots"). 'thread'
   * (default): the snapshot thread, which keeps its own replayed copy of the state from the journal;
   * the matching threads and the ledger do not stop at all (the main thread only sequences the
   * command). 'inline': once every earlier command is settled (new submits answer Busy meanwhile),
   * the ledger dumps on the main thread and each shard stops matching to dump its books; the stop
   * grows with the state (about 2.5 us per open order on the main thread, docs/benchmarks.md).
   */
  snapshotWriter?: SnapshotMode;
  /** Nice value of the snapshot thread (default 10: it yields to matching on a busy machine). */
  snapshotThreadNice?: number;
  /** How often the snapshot thread follows the journal between snapshots (ms, default 100). */
  snapshotTailMs?: number;
  /**
   * The longest a single step of a snapshot may hold what the matching and ack path needs (ms,
   * default DEFAULT_SNAPSHOT_BUDGET_MS). The snapshot thread holds the journal file's write lock for
   * at most this long per transaction (big parts are stored in chunks over several transactions,
   * with pauses between them); its dump runs at its nice value without naps. An inline snapshot cannot be bounded (the
   * shards stop while they dump): its stop is measured, and one over the budget is counted
   * (stats().snapshotBudgetOverruns) and logged. docs/runtime.md "Snapshots and recovery".
   */
  snapshotBudgetMs?: number;
}

export const DEFAULT_SNAPSHOT_BUDGET_MS = 5;

export type SnapshotMode = 'thread' | 'inline';

export const enum SubmitStatus {
  Accepted = 0,
  /** Refused before sequencing (ledger or unknown instrument): nothing was journaled. */
  Rejected = 1,
  /** A ring or the in-flight window is full: nothing was journaled; try again later. */
  Busy = 2,
  /**
   * Parked (only when submit was given a DeferredHandler): a linked order (OCO leg, bracket child)
   * whose book has unsettled commands, or any command of a book with parked commands before it.
   * Nothing is journaled yet; the handler gets the final answer later, exactly once, never inside
   * submit (docs/runtime.md "Ledger and pipelining").
   */
  Deferred = 3,
}

/**
 * The final answer of a command that submit() answered Deferred: `tag` as given to submit; `r`
 * (valid only during the call) is Accepted with its seq, Rejected with its reason, or Busy (not
 * sequenced within maxParkMs, or the engine closes or failed). Called from poll, a timer, close or
 * fail; it may submit again. An exception it throws is logged and ignored.
 */
export type DeferredHandler = (tag: number, r: SubmitResult) => void;

/** Commands parked per book at most (beyond: Busy). */
export const DEFAULT_MAX_PARKED_PER_BOOK = 4096;
/** A parked command not sequenced within this long of its submit is answered Busy. */
export const DEFAULT_MAX_PARK_MS = 1000;

/** Engine.sequenceParkedHead: the head was sequenced (or refused) and answered; it waits for its book to settle; for ring or window room. */
const PARK_TAKEN = 0;
const PARK_WAITS_FOR_BOOK = 1;
const PARK_WAITS_FOR_ROOM = 2;
/** A FIFO's taken prefix is dropped once it is this long and at least half the array (Engine.unpark). */
const PARK_COMPACT_AT = 1024;

/** A command waiting in its book's FIFO until it may be sequenced (Engine.park). */
interface Parked {
  cmd: Command;
  instrumentId: number;
  /** A linked NewOrder: sequenced only while its book is settled. */
  linked: boolean;
  handler: DeferredHandler;
  tag: number;
  /** performance.now() past which it is answered Busy. */
  deadline: number;
}

/** The answer of submit(). One instance per engine, overwritten by the next submit. */
export class SubmitResult {
  status: SubmitStatus = SubmitStatus.Accepted;
  /** The command's seq (= the new order's id) when accepted, else 0. */
  seq = 0;
  /** RejectReason when rejected or busy (Busy). */
  reason = 0;
}

/**
 * One acknowledged command. One instance per engine, valid only during the onAck call. Its event
 * records are EVR_WORDS-word records (core/command-codec.ts) in `words`, at recordOffset(i); a record
 * of type EVR_TYPE_DONE is a placeholder for "no event". Funding commands have no records.
 */
export class Ack {
  seq = 0;
  commandType = 0;
  instrumentId = 0;
  recordCount = 0;
  words: Float64Array = new Float64Array(0);
  private base = 0;
  private mask = 0;
  /** @internal */
  set(seq: number, type: number, instrumentId: number, ring: { f64: Float64Array; capacity: number } | null, startCounter: number, count: number): void {
    this.seq = seq; this.commandType = type; this.instrumentId = instrumentId; this.recordCount = count;
    if (ring !== null) { this.words = ring.f64; this.mask = ring.capacity - 1; }
    this.base = startCounter;
  }
  recordOffset(i: number): number {
    return RING_DATA_WORD + ((this.base + i) & this.mask) * EVR_WORDS;
  }
}

export class EngineError extends Error {
  override readonly name = 'EngineError';
}

/** Records the periodic journal archive waits for (one segment per ~100k commands, not per snapshot). */
export const ARCHIVE_MIN_RECORDS = 100_000;

export interface EngineStats {
  nextSeq: number;
  ackedSeq: number;
  durableSeq: number;
  busyRingFull: number;
  /** The part of busyRingFull where the journal's ring was the full one (the rest: a shard's command ring). */
  busyJournalRing: number;
  busyInFlight: number;
  busySnapshot: number;
  busyLedger: number;
  /** Deferred sequencing: commands parked, parked ones later answered Busy, parked now. */
  deferredParked: number;
  deferredBusy: number;
  parkedNow: number;
  rejectedByLedger: number;
  eventsDrained: number;
  ledgerShortfalls: number;
  /** The last inline snapshot: main-thread time of the ledger's part (ms; the event loop's stop). */
  lastSnapshotLedgerMs: number;
  /** The last inline snapshot: from its issue until every shard had written its books (ms; each shard stops matching meanwhile). */
  lastSnapshotShardsMs: number;
  /** Snapshots completed, by who wrote them. */
  snapshotsInline: number;
  snapshotsThread: number;
  /** The last thread snapshot: main-thread time to sequence it (ms; nothing else stops). */
  lastSnapshotIssueMs: number;
  /** The last thread snapshot: the snapshot thread's time to dump and hash every state, then to store them (ms). */
  lastSnapshotThreadDumpMs: number;
  lastSnapshotThreadWriteMs: number;
  /** The last thread snapshot: from its issue until it was stored (ms; includes the thread catching up with the journal). */
  lastSnapshotThreadTotalMs: number;
  /** Commands the snapshot thread has still to apply (0 when it is not running). */
  snapshotThreadLag: number;
  /** Periodic snapshot ticks skipped while the previous periodic snapshot was still being written. */
  snapshotsSkipped: number;
  /**
   * The last snapshot's longest stop of the matching or ack path (ms): inline, from its request
   * (submits answer Busy) until every shard had written its books; thread, its longest write
   * transaction on the journal file (the journal thread's commits wait behind it).
   */
  lastSnapshotStopMs: number;
  /** Snapshots whose stop (lastSnapshotStopMs) exceeded snapshotBudgetMs. */
  snapshotBudgetOverruns: number;
  /** The last thread snapshot: its write transactions on the journal file and the longest one (ms). */
  lastSnapshotThreadTxns: number;
  lastSnapshotThreadMaxLockMs: number;
  /** The last thread snapshot: its stretches of work between the write's pauses and the longest one (ms, wall time at the thread's nice; the dump is one stretch). */
  lastSnapshotThreadSlices: number;
  lastSnapshotThreadMaxSliceMs: number;
  /** Event records copied out of a full event ring before their command could be acked. */
  eventsSpilled: number;
}

export interface StateHashes {
  seq: number;
  ledger: string;
  /** instrument id -> book state hash */
  books: Record<number, string>;
}

/** A sequenced snapshot: resolved once acked and stored (an inline one is stored when acked). */
interface SnapshotWait {
  seq: number;
  acked: boolean;
  written: boolean;
  waiters: { resolve: (seq: number) => void; reject: (e: Error) => void }[];
}

interface ShardHandle {
  index: number;
  worker: Worker;
  cmdRing: Ring;
  evRing: Ring;
  ctrl: Int32Array;
  /** Records of the event ring acked so far (a counter like the ring's head, wrapping at 2^32). */
  ackCounter: number;
  /**
   * Event records moved out of a full ring before their command was acked (a command whose events
   * outnumber the ring's slots: a sweep through many orders or iceberg slices, an expiry of many GTD
   * orders). They keep their ring counters: record c is at `spill` index c & (capacity - 1), for c in
   * [ackCounter, spilledTo). Null while nothing was ever spilled.
   */
  spill: EventSpill | null;
  spilledTo: number;
  instrumentIds: number[];
  stopped: Promise<Record<number, string>>;
  /** The thread's counters, once it stopped. */
  threadStats: ShardThreadStats | null;
}

/** A growable copy of event records laid out like a ring's data (Ack reads it the same way). */
interface EventSpill {
  f64: Float64Array;
  capacity: number;
}

/** Counters of a shard thread, reported when it stops (diagnostics, benches). */
export interface ShardThreadStats {
  commands: number;
  /** Sleeps on its command ring. */
  waits: number;
  /** Wake-ups of the gateway's thread by its event publishes. */
  notifies: number;
}

export class Engine {
  readonly instruments: readonly InstrumentSpec[];
  readonly durability: Durability;
  readonly journalPath: string;
  readonly ledger: Ledger;
  readonly journal: Journal;
  readonly shardCount: number;
  onAck: ((ack: Ack) => void) | null;

  private readonly shards: ShardHandle[];
  /** 1 while an async wait on shard k's event ring is pending (at most one each). */
  private readonly evWaitArmed = new Uint8Array(MAX_SHARDS);
  private readonly idToIndex = new Int32Array(65536).fill(-1);
  private readonly shardOfIndex: Int32Array;
  private readonly refPx: Float64Array;
  private readonly instrInFlight: Float64Array;
  private readonly clock = new EngineClock();
  private readonly clockUs: (() => number) | null;
  private readonly log: (fields: Record<string, unknown>, msg: string) => void;

  // Sequencer and the in-flight window (indexed by seq & mask).
  private nextSeq: number;
  private ackSeq: number;
  private readonly mask: number;
  private readonly tPending: Int32Array;
  private readonly tShard: Int32Array;
  private readonly tCount: Int32Array;
  private readonly tType: Int32Array;
  private readonly tInstr: Int32Array;

  private readonly result = new SubmitResult();
  private readonly ack = new Ack();
  private readonly scratch = new Command();
  private readonly extras = new CommandExtras();
  private scheduled = false;
  /** Open beginBatch calls (publishes are deferred while > 0). */
  private batchDepth = 0;
  private closing = false;
  private failure: Error | null = null;
  private snapshotRequested = false;
  private snapshotWaiters: { resolve: (seq: number) => void; reject: (e: Error) => void }[] = [];
  private snapshotSeqs: SnapshotWait[] = [];
  /** Thread-mode snapshot requests not yet sequenced (the journal's ring was full). */
  private threadSnapshotWaiters: { resolve: (seq: number) => void; reject: (e: Error) => void }[] = [];
  private readonly snapshotMode: SnapshotMode;
  private readonly snapshotBudgetMs: number;
  /** When the pending inline snapshot was requested (0: none; submits answer Busy from then). */
  private snapshotRequestedAt = 0;
  /** busySnapshot when that inline snapshot was requested: submits it refused are busySnapshot - this. */
  private snapshotBusyAtRequest = 0;
  private lastSnapshotStopMs = 0;
  private snapshotBudgetOverruns = 0;
  private snapshotWriter: SnapshotWriter | null = null;
  private readonly snapshotWriterOptions: SnapshotWriterOptions;
  private snapshotsInline = 0;
  private snapshotsThread = 0;
  private lastSnapshotIssueMs = 0;
  private lastThreadSnapshot: WrittenSnapshot | null = null;
  private lastSnapshotThreadTotalMs = 0;
  private snapshotTimer: NodeJS.Timeout | null = null;
  private readonly snapshotOnClose: boolean;
  private readonly ackWaitsForDurability: boolean;
  /** True while recovery replays the journal (no journal appends, forced ledger amounts). */
  private replaying = false;
  /** The seq of the snapshot the engine started from (0 = none): recovery replays the journal after it. */
  replayFromSeq = 0;

  // Counters.
  busyRingFull = 0;
  busyJournalRing = 0;
  busyInFlight = 0;
  busySnapshot = 0;
  /** Periodic snapshot ticks skipped because the previous periodic snapshot had not finished. */
  snapshotsSkipped = 0;
  busyLedger = 0;
  rejectedByLedger = 0;
  eventsDrained = 0;
  /** Commands submit() answered Deferred (parked), and those of them later answered Busy (wait bound, close, failure). */
  deferredParked = 0;
  deferredBusy = 0;

  // Deferred sequencing: per book, a FIFO of parked commands (parkedQ[i] from parkedHead[i]).
  private readonly parkedQ: Parked[][];
  private readonly parkedHead: Int32Array;
  private readonly parkedLen: Int32Array;
  private parkedTotal = 0;
  private readonly maxParkedPerBook: number;
  private readonly maxParkMs: number;
  /** Set at close (and failure): nothing more is parked. */
  private parkingClosed = false;
  private parkTimer: NodeJS.Timeout | null = null;
  /** The answer handed to a DeferredHandler (submits it makes overwrite `result`, not this). */
  private readonly deferredResult = new SubmitResult();

  private constructor(o: EngineOptions, journal: Journal, ledger: Ledger, shards: ShardHandle[], shardOfIndex: Int32Array, lastSeq: number) {
    this.instruments = o.instruments;
    this.durability = o.durability;
    this.journal = journal;
    this.journalPath = journal.path;
    this.ledger = ledger;
    this.shards = shards;
    this.shardCount = shards.length;
    this.shardOfIndex = shardOfIndex;
    this.onAck = o.onAck ?? null;
    this.clockUs = o.clockUs ?? null;
    this.log = o.log ?? (() => {});
    this.snapshotOnClose = o.snapshotOnClose ?? true;
    this.snapshotMode = o.snapshotWriter ?? 'thread';
    this.snapshotBudgetMs = o.snapshotBudgetMs ?? DEFAULT_SNAPSHOT_BUDGET_MS;
    this.snapshotWriterOptions = {
      journalPath: journal.path, instruments: o.instruments, ledgerOptions: ledgerOptionsOf(o),
      ...(o.snapshotTailMs !== undefined ? { tailMs: o.snapshotTailMs } : {}),
      ...(o.snapshotThreadNice !== undefined ? { nice: o.snapshotThreadNice } : {}),
      budgetMs: this.snapshotBudgetMs,
      onError: (e) => this.log({ err: e.message }, 'snapshot thread failed (the next snapshot starts a new one)'),
    };
    this.ackWaitsForDurability = o.durability !== 'none';
    const n = o.instruments.length;
    this.refPx = new Float64Array(n);
    this.instrInFlight = new Float64Array(n);
    o.instruments.forEach((s, i) => { this.idToIndex[s.id] = i; this.refPx[i] = s.referencePriceTicks; });
    const window = o.maxInFlight ?? 65536;
    if (!Number.isInteger(window) || window < 2 || (window & (window - 1)) !== 0) throw new EngineError(`maxInFlight must be a power of two, got ${window}`);
    this.mask = window - 1;
    this.tPending = new Int32Array(window);
    this.tShard = new Int32Array(window);
    this.tCount = new Int32Array(window);
    this.tType = new Int32Array(window);
    this.tInstr = new Int32Array(window);
    this.nextSeq = lastSeq + 1;
    this.ackSeq = lastSeq + 1;
    this.parkedQ = o.instruments.map(() => []);
    this.parkedHead = new Int32Array(n);
    this.parkedLen = new Int32Array(n);
    this.maxParkedPerBook = o.maxParkedPerBook ?? DEFAULT_MAX_PARKED_PER_BOOK;
    this.maxParkMs = o.maxParkMs ?? DEFAULT_MAX_PARK_MS;
  }

  /**
   * Starts the journal thread and the shard workers. With `restore` (from persistence/recovery.ts)
   * the books and the ledger start from a snapshot; the caller then replays the journal after it.
   */
  static async start(o: EngineOptions): Promise<Engine> {
    let engineRef: Engine | null = null;
    // Every option is checked before any thread starts (nothing to clean up after a refusal).
    const shardOfIndex = checkOptions(o);
    mkdirSync(o.dataDir, { recursive: true });
    const path = join(o.dataDir, JOURNAL_FILE);
    const journal = await Journal.open({ path, durability: o.durability, recordBytes: CMD_RECORD_BYTES, ringCapacity: o.journalRingCapacity ?? 65536,
      ...(o.journalSpinIterations !== undefined ? { spinIterations: o.journalSpinIterations } : {}),
      ...(o.journalAdaptiveSpinUs !== undefined ? { adaptiveSpinUs: o.journalAdaptiveSpinUs } : {}),
      // With durability 'none' no ack waits for the journal: it commits periodically (measured with
      // bench:pipeline at 200k orders/s: process CPU 6.5 -> 5.0 CPU-s per 4 s; docs/runtime.md).
      lingerUs: o.journalLingerUs ?? (o.durability === 'none' ? 500 : 0),
      // With durability 'normal' the commits are paced 50 us apart (six A/B pairs at 200k orders/s:
      // ack p99 4.2 -> 3.0 ms, p50 129 -> 172 us; docs/runtime.md "Tail attribution, session 8").
      commitGapUs: o.journalCommitGapUs ?? (o.durability === 'normal' ? 50 : 0),
      ...(o.journalThreadNice !== undefined ? { threadNice: o.journalThreadNice } : {}),
      ...(o.journalPageSize !== undefined ? { pageSize: o.journalPageSize } : {}),
      ...(o.journalFormat !== undefined ? { format: o.journalFormat } : {}),
      ...(o.journalCheckpointerNice !== undefined ? { checkpointerNice: o.journalCheckpointerNice } : {}),
      ...(o.journalCheckpointIntervalMs !== undefined ? { checkpointIntervalMs: o.journalCheckpointIntervalMs } : {}) });
    // The data dir must have been written under this instrument configuration (recorded on first
    // open), or one that this one appends instruments to (a new configuration epoch from the next
    // seq); then the newest whole snapshot set within the journal (a snapshot past the journal's end
    // would contain commands that were never durable), older ones when it is damaged.
    const ledgerOptions = ledgerOptionsOf(o);
    let restore: SnapshotSet | null;
    let ledger: Ledger;
    let fingerprint: FingerprintCheck;
    try {
      // Snapshot parts past the journal's end belong to commands that never became durable.
      const store = new SnapshotStore(path);
      try {
        const dropped = store.dropAfter(journal.recoveredSeq);
        if (dropped > 0) o.log?.({ dropped, journalEnd: journal.recoveredSeq }, 'snapshot parts past the journal end deleted');
      } finally {
        store.close();
      }
      // A new or extended record is written only once the shards have started from the starting
      // point (below): a start that fails before, or dies, leaves the recorded configuration, which
      // still starts. Nothing is sequenced before it is written (Engine.start has not returned).
      fingerprint = checkInstrumentFingerprint(path, o.instruments, ledgerOptions.assets ?? [], o.log, journal.recoveredSeq + 1, true);
      ({ set: restore, ledger } = loadStartingPoint(path, o.instruments, ledgerOptions, journal.recoveredSeq, o.log, fingerprint.pending?.epochs ?? undefined));
    } catch (e) {
      await journal.close().catch(() => {});
      throw e;
    }

    const spin = o.shardSpinIterations ?? (o.shards === 1 ? 2000 : 0);
    const shards: ShardHandle[] = [];
    const readies: Promise<void>[] = [];
    try {
      for (let k = 0; k < o.shards; k++) {
        const mine = o.instruments.filter((_, i) => shardOfIndex[i] === k);
        const cmdRing = Ring.create(o.commandRingCapacity ?? 16384, CMD_RECORD_BYTES);
        const evRing = Ring.create(o.eventRingCapacity ?? 65536, EVR_RECORD_BYTES);
        const ctrlSab = new SharedArrayBuffer(SHARD_CTRL_BYTES);
        const data: ShardWorkerData = {
          shardIndex: k, instruments: mine, restore: mine.map((s) => restore?.books.get(s.id) ?? null),
          cmdRingSab: cmdRing.sab, evRingSab: evRing.sab, ctrlSab, journalPath: path, spinIterations: spin, adaptiveSpinUs: o.shardAdaptiveSpinUs ?? 0,
        };
        const worker = new Worker(new URL('./shard-worker.js', import.meta.url), { workerData: data });
        worker.unref(); // the engine's owner keeps the process alive, not its threads
        let onStopped: (h: Record<number, string>) => void = () => {};
        let onFailed: (e: Error) => void = () => {};
        const stopped = new Promise<Record<number, string>>((res, rej) => { onStopped = res; onFailed = rej; });
        stopped.catch(() => {});
        const h: ShardHandle = { index: k, worker, cmdRing, evRing, ctrl: new Int32Array(ctrlSab), ackCounter: 0, spill: null, spilledTo: 0, instrumentIds: mine.map((s) => s.id), stopped, threadStats: null };
        shards.push(h);
        readies.push(new Promise<void>((res, rej) => {
          worker.on('message', (m: ShardMessage) => {
            if (m.type === 'ready') res();
            else if (m.type === 'stopped') { h.threadStats = { commands: m.commands, waits: m.waits, notifies: m.notifies }; onStopped(m.hashes); }
            else { const e = new EngineError(m.message); rej(e); onFailed(e); engineRef?.fail(e); }
          });
          worker.on('error', (e) => { rej(e); onFailed(e); engineRef?.fail(e); });
          worker.on('exit', (code) => {
            const e = new EngineError(`shard ${k} exited (code ${code})`);
            rej(e); onFailed(e);
            if (engineRef !== null && !engineRef.closing) engineRef.fail(e);
          });
        }));
      }
      await Promise.all(readies);
      if (fingerprint.pending !== undefined) {
        recordInstrumentFingerprint(path, fingerprint.pending);
        if (fingerprint.notice !== undefined) o.log?.(fingerprint.notice.fields, fingerprint.notice.msg);
      }
    } catch (e) {
      for (const s of shards) await s.worker.terminate();
      await journal.close().catch(() => {});
      throw e;
    }
    const fromSeq = restore?.seq ?? 0;
    const engine = new Engine(o, journal, ledger, shards, shardOfIndex, fromSeq);
    engineRef = engine;
    engine.replayFromSeq = fromSeq;
    engine.replaying = journal.recoveredSeq > fromSeq;
    if (engine.ackWaitsForDurability) journal.setDurableListener(() => engine.schedule());
    // A failed journal thread stops the engine at once: nothing more can become durable.
    journal.setFailureListener((e) => engine.fail(e));
    if ((o.snapshotIntervalMs ?? 0) > 0) {
      // One periodic snapshot at a time: a snapshot thread that lags (a busy machine, nice 10) gets
      // no second Snapshot command behind the first; the tick is skipped and counted.
      let periodic = false;
      engine.snapshotTimer = setInterval(() => {
        if (periodic) { engine.snapshotsSkipped++; return; }
        periodic = true;
        const taken = engine.snapshot();
        (o.archiveJournalOnSnapshot === true ? taken.then(() => engine.archiveJournal(o.archiveMinRecords ?? ARCHIVE_MIN_RECORDS)) : taken)
          .catch(() => {}).finally(() => { periodic = false; });
      }, o.snapshotIntervalMs);
      engine.snapshotTimer.unref();
    }
    return engine;
  }

  // ------------------------------------------------------------------------------------------
  // Submit (sequencer, ledger hold, routing, journal)
  // ------------------------------------------------------------------------------------------

  /**
   * Sequences `cmd` for instrument `instrumentId` (a core command; cmd.seq, cmd.tsUs and, for a
   * NewOrder, cmd.orderId are assigned here) or a funding command (RuntimeCommandType; instrumentId
   * ignored; `asset` and cmd.value). Never blocks. The result object is reused by the next call.
   *
   * `deferred` (with its `tag`): a linked NewOrder (OCO leg, bracket child) whose book has unsettled
   * commands, and any command of a book with parked commands, is parked in that book's FIFO and
   * answered Deferred; `deferred` gets its final answer later (DeferredHandler). It is sequenced at
   * the first poll that finds its book settled (where a replay holds it too), before every later
   * command of that book. Without a handler such a command answers Busy, as it always did.
   */
  submit(cmd: Command, instrumentId: number, asset = 0, deferred: DeferredHandler | null = null, tag = 0): SubmitResult {
    const r = this.result;
    r.seq = 0; r.reason = 0;
    if (this.failure !== null) throw this.failure;
    if (this.closing) throw new EngineError('engine is closing');
    if (this.replaying) throw new EngineError('engine is recovering');
    const je = this.journal.error;
    if (je !== null) { this.fail(je); throw je; }
    if (this.snapshotRequested) return this.busy(RejectReason.Busy, 'snapshot');
    if (this.nextSeq - this.ackSeq > this.mask) return this.busy(RejectReason.Busy, 'window');
    if (isFundingType(cmd.type)) return this.submitFunding(cmd, asset);
    // Book commands only (a Snapshot is the engine's own; anything else is not a command): refused
    // before sequencing, so that nothing unknown reaches the journal or a book.
    const type = cmd.type;
    if (!(type >= CommandType.NewOrder && type <= CommandType.SetReferencePrice && Number.isInteger(type))) { r.status = SubmitStatus.Rejected; r.reason = RejectReason.UnknownCommand; return r; }
    const i = Number.isInteger(instrumentId) && instrumentId >= 0 && instrumentId < 65536 ? this.idToIndex[instrumentId]! : -1;
    if (i < 0) { r.status = SubmitStatus.Rejected; r.reason = RejectReason.UnknownSymbol; return r; }
    // A linked order waits for its book to settle (the ledger decides it as a replay does); what
    // comes for that book meanwhile waits behind it, so that nothing overtakes it.
    if (this.parkedLen[i]! > 0 || (deferred !== null && type === CommandType.NewOrder && cmd.linkId !== 0 && this.instrInFlight[i]! > 0)) {
      return this.park(cmd, instrumentId, i, deferred, tag);
    }
    return this.sequence(cmd, instrumentId, i);
  }

  /** Sequences book command `cmd` of instrument index `i` (submit's checks passed): into this.result. */
  private sequence(cmd: Command, instrumentId: number, i: number): SubmitResult {
    const r = this.result;
    const shard = this.shards[this.shardOfIndex[i]!]!;
    const jring = this.journal.ring;
    const jo = jring.tryReserve();
    if (jo < 0) { this.busyJournalRing++; return this.busy(RejectReason.Busy, 'ring'); }
    const so = shard.cmdRing.tryReserve();
    if (so < 0) { jring.unreserveLast(); return this.busy(RejectReason.Busy, 'ring'); }

    const seq = this.nextSeq;
    cmd.seq = seq;
    cmd.tsUs = this.now();
    if (cmd.type === CommandType.NewOrder) {
      cmd.orderId = seq;
      if (cmd.orderType === OrderType.Market) this.setProtection(cmd, i);
      else if (cmd.orderType === OrderType.TrailingStop || cmd.orderType === OrderType.TrailingStopLimit) this.setTrailingProtection(cmd, i);
    }
    let reason: number;
    if (cmd.type === CommandType.Replace) {
      reason = this.ledger.holdReplace(cmd, i, this.instrInFlight[i]! > 0);
      // Whether the ledger still knows the order depends on how far settlement has got: let the book
      // decide (it rejects a replace of an ended or foreign order), so the journaled stream does not
      // depend on timing.
      if (reason === RejectReason.UnknownOrder) reason = RejectReason.None;
    } else {
      // inFlight: an OCO leg or bracket child answers Busy while earlier commands of its book are
      // unsettled (the partner may trade or fire in flight), so that whether it is accepted, and
      // with what hold, does not depend on timing: a replay, which settles every command before the
      // next, decides the same (docs/ledger.md "OCO and brackets"). With a DeferredHandler it never
      // gets here unsettled: it is parked until its book settles (park, drainParked).
      reason = this.ledger.hold(cmd, i, this.refPx[i]!, this.instrInFlight[i]! > 0);
    }
    if (reason !== RejectReason.None) {
      jring.unreserveLast();
      shard.cmdRing.unreserveLast();
      if (reason === RejectReason.Busy) return this.busy(reason, 'ledger');
      this.rejectedByLedger++;
      r.status = SubmitStatus.Rejected; r.reason = reason;
      return r;
    }
    const extra = cmd.type === CommandType.Replace ? this.ledger.lastReplaceExtraUnits : -1;
    encodeCommand(cmd, instrumentId, jring.f64, jo, 0, extra);
    // The shard gets the same record: a word copy is cheaper than encoding the fields again.
    copyCommandRecord(jring.f64, jo, shard.cmdRing.f64, so);
    // Both slots are filled before either is published; nothing can fail in between.
    if (this.batchDepth === 0) {
      jring.publish();
      shard.cmdRing.publish();
    }
    this.track(seq, cmd.type, shard.index, i, 1);
    r.status = SubmitStatus.Accepted; r.seq = seq;
    return r;
  }

  // ------------------------------------------------------------------------------------------
  // Deferred sequencing: per-book FIFOs of commands waiting for their book to settle
  // ------------------------------------------------------------------------------------------

  /** Parks a copy of `cmd` at the end of book `i`'s FIFO (Deferred), or answers Busy. */
  private park(cmd: Command, instrumentId: number, i: number, handler: DeferredHandler | null, tag: number): SubmitResult {
    // Without a handler nobody could be answered later; a full FIFO or a closing engine parks nothing.
    if (handler === null || this.parkingClosed || this.parkedLen[i]! >= this.maxParkedPerBook) return this.busy(RejectReason.Busy, 'ledger');
    const linked = cmd.type === CommandType.NewOrder && cmd.linkId !== 0;
    this.parkedQ[i]!.push({ cmd: Object.assign(new Command(), cmd), instrumentId, linked, handler, tag, deadline: performance.now() + this.maxParkMs });
    this.parkedLen[i] = this.parkedLen[i]! + 1;
    this.parkedTotal++;
    this.deferredParked++;
    if (this.parkTimer === null) this.armParkTimer(this.maxParkMs);
    this.schedule();
    const r = this.result;
    r.status = SubmitStatus.Deferred; r.seq = 0; r.reason = 0;
    return r;
  }

  /** Commands parked now (all books). */
  get parkedCommands(): number {
    return this.parkedTotal;
  }

  /** Removes and returns the head of book `i`'s FIFO. */
  private unpark(i: number): Parked {
    const q = this.parkedQ[i]!;
    const h = this.parkedHead[i]!;
    const p = q[h]!;
    q[h] = undefined as unknown as Parked;
    this.parkedLen[i] = this.parkedLen[i]! - 1;
    this.parkedTotal--;
    if (this.parkedLen[i] === 0) { q.length = 0; this.parkedHead[i] = 0; } else if (h + 1 >= PARK_COMPACT_AT && 2 * (h + 1) >= q.length) {
      // A book whose FIFO never empties (steady flow with linked orders now and then) would otherwise
      // keep one dead slot per command it ever parked: drop the taken prefix now and then.
      q.copyWithin(0, h + 1);
      q.length -= h + 1;
      this.parkedHead[i] = 0;
    } else this.parkedHead[i] = h + 1;
    if (this.parkedTotal === 0 && this.parkTimer !== null) { clearTimeout(this.parkTimer); this.parkTimer = null; }
    return p;
  }

  /**
   * Sequences parked commands, in order per book: a linked one only while its book is settled (no
   * command of it in flight: the point where a replay holds it), the plain ones behind it right
   * after. Stops at a full ring or window, or while an inline snapshot waits (poll retries).
   */
  private drainParked(): void {
    if (!this.mayDrainParked()) return;
    for (let i = 0; i < this.parkedLen.length; i++) {
      while (this.parkedLen[i]! > 0) {
        const st = this.sequenceParkedHead(i);
        if (st === PARK_WAITS_FOR_ROOM) { this.schedule(); return; } // room comes with acks (poll) or the journal thread
        if (st === PARK_WAITS_FOR_BOOK) break;
        if (this.failure !== null || this.parkingClosed) return;
      }
    }
  }

  private mayDrainParked(): boolean {
    if (this.snapshotRequested || this.failure !== null || this.parkingClosed) return false;
    const je = this.journal.error;
    if (je !== null) { this.fail(je); return false; }
    return true;
  }

  /** Sequences (and answers) the head of book `i`'s FIFO if it may go now. */
  private sequenceParkedHead(i: number): number {
    const head = this.parkedQ[i]![this.parkedHead[i]!]!;
    if (head.linked && this.instrInFlight[i]! > 0) return PARK_WAITS_FOR_BOOK;
    const shard = this.shards[this.shardOfIndex[i]!]!;
    if (this.nextSeq - this.ackSeq > this.mask || this.journal.ring.freeSlots() < 1 || shard.cmdRing.freeSlots() < 1) return PARK_WAITS_FOR_ROOM;
    const p = this.unpark(i);
    const r = this.result;
    r.seq = 0; r.reason = 0;
    this.answerParked(p, this.sequence(p.cmd, p.instrumentId, i));
    return PARK_TAKEN;
  }

  /** Hands a parked command's final answer to its handler. */
  private answerParked(p: Parked, r: SubmitResult): void {
    const d = this.deferredResult;
    d.status = r.status; d.seq = r.seq; d.reason = r.reason;
    if (d.status === SubmitStatus.Busy) this.deferredBusy++;
    try {
      p.handler(p.tag, d);
    } catch (e) {
      this.log({ err: (e as Error).message, tag: p.tag }, 'deferred submit handler failed');
    }
  }

  private busyParked(p: Parked): void {
    const d = this.result;
    d.status = SubmitStatus.Busy; d.seq = 0; d.reason = RejectReason.Busy;
    this.answerParked(p, d);
  }

  private armParkTimer(ms: number): void {
    this.parkTimer = setTimeout(this.parkTimerTask, Math.max(1, Math.ceil(ms)));
    // Parked commands alone do not keep the process alive (as the snapshot timer).
    this.parkTimer.unref();
  }

  /** The wait bound: parked commands past their deadline are answered Busy (oldest first per book). */
  private readonly parkTimerTask = (): void => {
    this.parkTimer = null;
    const now = performance.now();
    let next = Infinity;
    try {
      for (let i = 0; i < this.parkedLen.length; i++) {
        // A late head is sequenced if it may go now (a plain one behind an expired leg), else answered Busy.
        while (this.parkedLen[i]! > 0 && this.parkedQ[i]![this.parkedHead[i]!]!.deadline <= now) {
          if (this.mayDrainParked() && this.sequenceParkedHead(i) === PARK_TAKEN) continue;
          if (this.parkedLen[i]! > 0) this.busyParked(this.unpark(i));
        }
      }
      this.drainParked();
    } catch (e) {
      this.fail(e as Error);
    }
    for (let i = 0; i < this.parkedLen.length; i++) {
      if (this.parkedLen[i]! > 0) next = Math.min(next, this.parkedQ[i]![this.parkedHead[i]!]!.deadline);
    }
    // (A handler may have parked again meanwhile and armed a later timer: the earliest deadline wins.)
    if (this.parkTimer !== null) { clearTimeout(this.parkTimer); this.parkTimer = null; }
    if (next !== Infinity) this.armParkTimer(next - now);
  };

  /** Close or failure: nothing more is parked, and every parked command is answered Busy. */
  private closeParking(): void {
    this.parkingClosed = true;
    if (this.parkTimer !== null) { clearTimeout(this.parkTimer); this.parkTimer = null; }
    for (let i = 0; i < this.parkedLen.length; i++) while (this.parkedLen[i]! > 0) this.busyParked(this.unpark(i));
  }

  /**
   * Opens a batch: until the matching endBatch, submits fill their ring slots but do not publish
   * them, so a frame of many commands publishes (and wakes the shard and the journal thread, each an
   * Atomics.notify when they sleep) once per ring instead of once per command. Nothing is visible to
   * the shards or the journal before endBatch; sequence numbers, holds and results are final at
   * submit. Batches nest; every beginBatch must be matched (try/finally).
   */
  beginBatch(): void {
    this.batchDepth++;
  }

  /** Closes a batch; the outermost endBatch publishes everything submitted in it. */
  endBatch(): void {
    if (this.batchDepth === 0) return;
    if (--this.batchDepth === 0) this.publishPending();
  }

  /**
   * Opens a batch that closes at the end of this event-loop turn (setImmediate, after every socket
   * callback of the current poll phase): commands submitted one per callback (REST requests, binary
   * frames) by many clients in the same turn share one publish per ring. Idempotent within a turn.
   */
  batchUntilTurnEnds(): void {
    if (this.turnBatch) return;
    this.turnBatch = true;
    this.beginBatch();
    setImmediate(this.endTurnBatch);
  }

  private turnBatch = false;
  private readonly endTurnBatch = (): void => {
    this.turnBatch = false;
    this.endBatch();
  };

  private publishPending(): void {
    this.journal.ring.publish();
    for (let k = 0; k < this.shards.length; k++) this.shards[k]!.cmdRing.publish();
  }

  private submitFunding(cmd: Command, asset: number): SubmitResult {
    const r = this.result;
    const jring = this.journal.ring;
    const jo = jring.tryReserve();
    if (jo < 0) { this.busyJournalRing++; return this.busy(RejectReason.Busy, 'ring'); }
    const reason = this.applyFunding(cmd.type, cmd.account, asset, cmd.value);
    if (reason !== RejectReason.None) {
      jring.unreserveLast();
      this.rejectedByLedger++;
      r.status = SubmitStatus.Rejected; r.reason = reason;
      return r;
    }
    const seq = this.nextSeq;
    cmd.seq = seq;
    cmd.tsUs = this.now();
    encodeCommand(cmd, 0, jring.f64, jo, asset, -1);
    if (this.batchDepth === 0) jring.publish();
    this.track(seq, cmd.type, SHARD_NONE, -1, 0);
    r.status = SubmitStatus.Accepted; r.seq = seq;
    return r;
  }

  private applyFunding(type: number, account: number, asset: number, units: number): number {
    if (type === RuntimeCommandType.Deposit) return this.ledger.deposit(account, asset, units);
    if (type === RuntimeCommandType.Withdraw) return this.ledger.withdraw(account, asset, units);
    return this.ledger.adjust(account, asset, units);
  }

  /** A trailing buy carries a protection price the ledger holds for (docs/ledger.md, Trailing orders); a client's own is kept. */
  private setTrailingProtection(cmd: Command, i: number): void {
    if (cmd.side !== Side.Buy || cmd.protectionPriceTicks !== 0) return;
    cmd.protectionPriceTicks = this.ledger.trailingProtectionTicks(i, cmd, this.refPx[i]!);
  }

  /** The book never trades a market order beyond the price the ledger holds for (the tighter bound). */
  private setProtection(cmd: Command, i: number): void {
    const bound = this.ledger.marketBoundTicks(i, cmd.side, this.refPx[i]!);
    if (bound === 0) return;
    const mine = cmd.protectionPriceTicks;
    if (mine === 0 || typeof mine !== 'number' || !Number.isFinite(mine)) cmd.protectionPriceTicks = bound;
    else cmd.protectionPriceTicks = cmd.side === Side.Buy ? Math.min(mine, bound) : Math.max(mine, bound);
  }

  private busy(reason: number, why: 'ring' | 'window' | 'snapshot' | 'ledger'): SubmitResult {
    if (why === 'ring') this.busyRingFull++;
    else if (why === 'window') this.busyInFlight++;
    else if (why === 'snapshot') this.busySnapshot++;
    else this.busyLedger++;
    const r = this.result;
    r.status = SubmitStatus.Busy; r.reason = reason; r.seq = 0;
    this.schedule();
    return r;
  }

  private now(): number {
    if (this.clockUs === null) return this.clock.nowUs();
    this.clock.floor(this.clockUs());
    return this.clock.lastUs;
  }

  private track(seq: number, type: number, shard: number, instrumentIndex: number, pending: number): void {
    const e = seq & this.mask;
    this.tPending[e] = pending;
    this.tShard[e] = shard;
    this.tCount[e] = 0;
    this.tType[e] = type;
    this.tInstr[e] = instrumentIndex;
    if (instrumentIndex >= 0) this.instrInFlight[instrumentIndex] = this.instrInFlight[instrumentIndex]! + 1;
    this.nextSeq = seq + 1;
    this.schedule();
  }

  // ------------------------------------------------------------------------------------------
  // Draining, settlement, acks
  // ------------------------------------------------------------------------------------------

  /**
   * Drains the event rings (settling the ledger), then releases every ack that is complete and
   * durable, in seq order. Returns the number of records drained. Called by the engine's own loop;
   * a caller with its own loop (benchmarks) may call it too.
   */
  poll(): number {
    let drained = 0;
    const mask = this.mask;
    // The tables in locals: the ledger calls in the loop would otherwise make V8 reload each field.
    const tCount = this.tCount, tPending = this.tPending, tInstr = this.tInstr, inFlight = this.instrInFlight;
    const ledger = this.ledger, refPx = this.refPx, idToIndex = this.idToIndex;
    for (let k = 0; k < this.shards.length; k++) {
      const ring = this.shards[k]!.evRing;
      const f = ring.f64;
      let o = ring.poll();
      while (o >= 0) {
        const type = f[o]!;
        const e = f[o + 1]! & mask;
        tCount[e] = tCount[e]! + 1;
        if (type !== EVR_TYPE_DONE) {
          ledger.applyRecord(f, o);
          if (type === EventType.Trade) refPx[idToIndex[f[o + EVR_INSTRUMENT]!]!] = f[o + 4]!;
          else if (type === EventType.AdminDone && f[o + 3] === CommandType.SetReferencePrice) refPx[idToIndex[f[o + EVR_INSTRUMENT]!]!] = f[o + 5]!;
        }
        if (f[o + EVR_LAST] === 1) {
          const left = tPending[e]! - 1;
          tPending[e] = left;
          const ii = tInstr[e]!;
          if (ii >= 0) inFlight[ii] = inFlight[ii]! - 1;
          if (left === 0 && this.tType[e] === RuntimeCommandType.Snapshot) this.snapshotShardsDone(f[o + 1]!);
        }
        drained++;
        if (drained >= 8192) break;
        o = ring.poll();
      }
      // Nearly full of drained records that cannot be acked yet (one command's events outnumber the
      // slots, or acks wait for durability): move them out so the shard can go on (never a deadlock).
      if (ring.unreleasedCount() >= ring.capacity - (ring.capacity >> 3)) this.spillEvents(this.shards[k]!);
    }
    this.eventsDrained += drained;
    this.releaseAcks();
    if (this.parkedTotal > 0) this.drainParked();
    if (this.snapshotRequested && !this.replaying) this.tryIssueSnapshot();
    if (this.threadSnapshotWaiters.length > 0 && !this.replaying) this.tryIssueThreadSnapshot();
    return drained;
  }

  private releaseAcks(): void {
    const durable = this.ackWaitsForDurability && !this.replaying ? this.journal.durableSeq() : Number.MAX_SAFE_INTEGER;
    const mask = this.mask;
    const ack = this.ack;
    while (this.ackSeq < this.nextSeq) {
      const seq = this.ackSeq;
      const e = seq & mask;
      if (this.tPending[e]! > 0 || seq > durable) break;
      const sh = this.tShard[e]!;
      const type = this.tType[e]!;
      const ii = this.tInstr[e]!;
      const instrumentId = ii >= 0 ? this.instruments[ii]!.id : 0;
      if (sh >= 0) {
        const s = this.shards[sh]!;
        const n = this.tCount[e]!;
        if (s.spill !== null && ((s.spilledTo - s.ackCounter) | 0) > 0) {
          // Its first records were spilled: the rest (drained, not released) join them, so that the
          // command's records are contiguous in the spill.
          if (((s.spilledTo - s.ackCounter) | 0) < n) this.spillEvents(s, n - ((s.spilledTo - s.ackCounter) | 0));
          ack.set(seq, type, instrumentId, s.spill, s.ackCounter, n);
        } else {
          ack.set(seq, type, instrumentId, s.evRing, s.ackCounter, n);
        }
        this.deliver(ack);
        s.ackCounter = (s.ackCounter + n) | 0;
        // An emptied spill the size of a pathological command is given back.
        if (s.spill !== null && ((s.spilledTo - s.ackCounter) | 0) <= 0 && s.spill.capacity > 65536) s.spill = null;
      } else {
        ack.set(seq, type, instrumentId, null, 0, 0);
        this.deliver(ack);
        if (sh === SHARD_ALL) {
          for (const s of this.shards) s.ackCounter = (s.ackCounter + 1) | 0;
        }
      }
      this.ackSeq = seq + 1;
      if (type === RuntimeCommandType.Snapshot) this.snapshotAcked(seq);
    }
    // The acked commands' event slots go back to the shards: one release (an atomic store) per ring
    // per call, not per ack. (A throwing onAck fails the engine; nothing is released after it.)
    this.releaseAckedEvents();
  }

  /**
   * Copies `count` (default: every) drained, unreleased records of shard `s`'s event ring into its
   * spill, after those already there, and releases their slots to the shard.
   */
  private spillEvents(s: ShardHandle, count = -1): void {
    const r = s.evRing;
    const n = count < 0 ? r.unreleasedCount() : count;
    if (n <= 0) return;
    const from = r.releasedCount();
    if (s.spill === null || ((s.spilledTo - s.ackCounter) | 0) <= 0) s.spilledTo = from;
    // Spilled and not yet acked, after this copy: the spill must hold them all.
    const need = ((from - s.ackCounter) | 0) + n;
    let sp = s.spill;
    if (sp === null || sp.capacity < need) {
      let cap = sp === null ? 1024 : sp.capacity;
      while (cap < need) cap *= 2;
      const grown: EventSpill = { f64: new Float64Array(RING_DATA_WORD + cap * EVR_WORDS), capacity: cap };
      if (sp !== null) {
        for (let c = s.ackCounter; c !== s.spilledTo; c = (c + 1) | 0) {
          grown.f64.set(sp.f64.subarray(RING_DATA_WORD + (c & (sp.capacity - 1)) * EVR_WORDS, RING_DATA_WORD + ((c & (sp.capacity - 1)) + 1) * EVR_WORDS), RING_DATA_WORD + (c & (cap - 1)) * EVR_WORDS);
        }
      }
      s.spill = sp = grown;
      this.eventSpillGrowths++;
    }
    const rm = r.capacity - 1, sm = sp.capacity - 1, src = r.f64, dst = sp.f64;
    for (let i = 0; i < n; i++) {
      const c = (from + i) | 0;
      const so = RING_DATA_WORD + (c & rm) * EVR_WORDS, d = RING_DATA_WORD + (c & sm) * EVR_WORDS;
      for (let w = 0; w < EVR_WORDS; w++) dst[d + w] = src[so + w]!;
    }
    r.release(n);
    s.spilledTo = (from + n) | 0;
    this.eventsSpilled += n;
  }

  /** Event records copied out of full rings (stats). */
  eventsSpilled = 0;
  eventSpillGrowths = 0;

  private releaseAckedEvents(): void {
    for (let k = 0; k < this.shards.length; k++) {
      const s = this.shards[k]!;
      const r = s.evRing;
      const n = (s.ackCounter - r.releasedCount()) | 0;
      if (n > 0) r.release(n);
    }
  }

  private deliver(ack: Ack): void {
    const cb = this.onAck;
    if (cb === null || this.replaying) return;
    try {
      cb(ack);
    } catch (e) {
      this.fail(e as Error);
      throw e;
    }
  }

  /** Commands sequenced and not yet acked. */
  get inFlight(): number {
    return this.nextSeq - this.ackSeq;
  }

  /** True when every sequenced command has been executed and settled (acks may still wait). */
  private allExecuted(): boolean {
    for (let i = 0; i < this.instrInFlight.length; i++) if (this.instrInFlight[i] !== 0) return false;
    for (let s = this.ackSeq; s < this.nextSeq; s++) if (this.tPending[s & this.mask]! > 0) return false;
    return true;
  }

  /** Keeps the drain loop going while anything is in flight; idles on the journal's watermark. */
  schedule(): void {
    if (this.scheduled || this.failure !== null) return;
    this.scheduled = true;
    setImmediate(this.pumpTask);
  }

  private readonly pumpTask = (): void => {
    this.scheduled = false;
    if (this.failure !== null) return;
    let drained: number;
    try {
      drained = this.poll();
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    if ((this.snapshotRequested || this.threadSnapshotWaiters.length > 0) && !this.replaying) { this.schedule(); return; }
    if (this.ackSeq === this.nextSeq) return;
    // Busy: keep polling while events keep coming. When a poll finds nothing, sleep on the event
    // rings (Atomics.waitAsync: a shard's publish wakes us) instead of spinning through setImmediate:
    // on 2 cores a busy-polling main thread starves the shard and journal threads (docs/runtime.md).
    // Waiting only for the watermark: the journal's durable listener calls schedule() when it advances.
    if (this.replaying || drained > 0) { this.schedule(); return; }
    if (!this.allExecuted()) { this.sleepOnEventRings(); return; }
    if (!this.ackWaitsForDurability || this.journal.durableSeq() >= this.ackSeq) this.schedule();
  };

  /** Arms one async wait per event ring that has none pending; any wake-up (or a 10 ms timeout) polls again. */
  private sleepOnEventRings(): void {
    for (let k = 0; k < this.shards.length; k++) {
      if (this.evWaitArmed[k] === 1) continue;
      const p = this.shards[k]!.evRing.waitForDataAsync(10);
      if (p === null) { this.schedule(); return; }
      this.evWaitArmed[k] = 1;
      p.then(() => { this.evWaitArmed[k] = 0; this.schedule(); }, () => { this.evWaitArmed[k] = 0; this.schedule(); });
    }
  }

  /**
   * For a driver with its own synchronous loop (benchmarks): blocks up to `timeoutMs` until shard 0
   * publishes events (an announced wait on its event ring: the shard's publish wakes this thread), as
   * the engine's own loop does asynchronously. Other shards are not watched. Returns the records
   * available on that ring.
   */
  waitForEventsSync(timeoutMs: number): number {
    return this.shards[0]!.evRing.waitForData(timeoutMs);
  }

  /** Resolves once every command sequenced so far is acked, and every parked one answered. */
  async drain(): Promise<void> {
    if (this.failure !== null) throw this.failure;
    // A batch left open would never be executed: publish it (the batch stays open for its owner).
    this.publishPending();
    // Parked commands too: each is sequenced (and published) or answered Busy within maxParkMs.
    while (this.ackSeq < this.nextSeq || this.parkedTotal > 0) {
      if (this.failure !== null) throw this.failure;
      const seq0 = this.nextSeq;
      this.poll();
      // What the poll sequenced (parked commands) inside a batch left open is published as well.
      if (this.nextSeq !== seq0) this.publishPending();
      if (this.parkedTotal > 0 || this.ackSeq < this.nextSeq) await new Promise<void>((r) => setImmediate(r));
    }
  }

  // ------------------------------------------------------------------------------------------
  // Snapshots
  // ------------------------------------------------------------------------------------------

  /**
   * Archives the journal: the rows wholly at or before the newest complete snapshot set (the ledger
   * and every book at one seq), which recovery no longer needs, are copied into a segment under
   * journal-archive/ on a worker thread (persistence/journal-archive.ts), then the journal thread
   * trims them from the live file a few dozen rows at a time. Readers of the journal read the
   * archives first, so nothing that replays it sees a gap. Resolves with the new segment, or null
   * when fewer than `minRecords` records are newly archivable (take a snapshot first). One archive
   * runs at a time. The periodic archive (archiveJournalOnSnapshot) waits for
   * ARCHIVE_MIN_RECORDS records, so that a quiet engine does not make a small file per snapshot.
   */
  archiveJournal(minRecords = 1): Promise<ArchiveResult | null> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const run = async (): Promise<ArchiveResult | null> => {
      const bound = newestSnapshotSetSeq(this.journalPath, [LEDGER_SNAPSHOT_ID, ...this.instruments.map((s) => s.id)]);
      const r = bound > 0 ? await archiveJournal(this.journalPath, bound, minRecords) : null;
      // Also after a restart that came between an archive and the end of its trim.
      const archives = listJournalArchives(this.journalPath);
      if (archives.length > 0) this.journal.requestTrim(archives[archives.length - 1]!.lastSeq);
      return r;
    };
    const next = this.archiving.then(run, run);
    this.archiving = next.catch(() => null);
    return next;
  }

  private archiving: Promise<unknown> = Promise.resolve(null);

  /**
   * Takes a snapshot: a Snapshot command is sequenced and journaled, and the ledger's and every
   * book's state at its seq are stored. Resolves with that seq once the command is acked and the
   * snapshots are stored. `mode` (default: the engine's snapshotWriter option):
   * - 'thread': the snapshot thread writes them from its replayed copy of the state; nothing stops.
   * - 'inline': once every earlier command is executed and settled (new submits answer Busy
   *   meanwhile), each shard writes its books at the seq and the ledger its own.
   */
  snapshot(mode: SnapshotMode = this.snapshotMode): Promise<number> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new EngineError('engine is closing'));
    return new Promise<number>((resolve, reject) => {
      if (mode === 'inline') {
        this.snapshotWaiters.push({ resolve, reject });
        if (!this.snapshotRequested) { this.snapshotRequestedAt = performance.now(); this.snapshotBusyAtRequest = this.busySnapshot; }
        this.snapshotRequested = true;
        this.schedule();
      } else {
        this.threadSnapshotWaiters.push({ resolve, reject });
        this.tryIssueThreadSnapshot();
      }
    });
  }

  /**
   * Sequences one Snapshot command for the thread-mode requests waiting (none are left if the
   * journal's ring had room); the shards never see it, and it is acked like a funding command.
   */
  private tryIssueThreadSnapshot(): void {
    if (this.threadSnapshotWaiters.length === 0 || this.replaying) return;
    // The in-flight window full: tracking it now would overwrite the oldest unacked command's entry.
    if (this.nextSeq - this.ackSeq > this.mask) { this.schedule(); return; } // retried by poll
    let writer = this.snapshotWriter;
    if (writer === null || writer.error !== null) writer = this.snapshotWriter = new SnapshotWriter(this.snapshotWriterOptions);
    const t0 = performance.now();
    const jring = this.journal.ring;
    const jo = jring.tryReserve();
    if (jo < 0) { this.schedule(); return; } // retried by poll
    const cmd = this.scratch.reset();
    cmd.type = RuntimeCommandType.Snapshot;
    cmd.seq = this.nextSeq;
    cmd.tsUs = this.now();
    encodeCommand(cmd, 0, jring.f64, jo, 0, -1);
    const seq = cmd.seq;
    const waiters = this.threadSnapshotWaiters;
    this.threadSnapshotWaiters = [];
    const wait: SnapshotWait = { seq, acked: false, written: false, waiters };
    this.snapshotSeqs.push(wait);
    // The waiter is registered before the command can reach the journal (published below).
    const issued = performance.now();
    writer.written(seq).then((w) => {
      this.lastThreadSnapshot = w;
      this.lastSnapshotThreadTotalMs = performance.now() - issued;
      this.snapshotStopped(w.maxLockMs, seq, 'thread');
      this.snapshotsThread++;
      wait.written = true;
      this.settleSnapshotWait(wait);
    }, (e: Error) => this.rejectSnapshotWait(wait, e));
    this.track(seq, cmd.type, SHARD_NONE, -1, 0);
    if (this.batchDepth === 0) jring.publish();
    this.lastSnapshotIssueMs = performance.now() - t0;
  }

  private settleSnapshotWait(w: SnapshotWait): void {
    if (!w.acked || !w.written) return;
    const i = this.snapshotSeqs.indexOf(w);
    if (i >= 0) this.snapshotSeqs.splice(i, 1);
    for (const x of w.waiters) x.resolve(w.seq);
  }

  private rejectSnapshotWait(w: SnapshotWait, e: Error): void {
    const i = this.snapshotSeqs.indexOf(w);
    if (i >= 0) this.snapshotSeqs.splice(i, 1);
    this.log({ seq: w.seq, err: e.message }, 'snapshot failed');
    for (const x of w.waiters) x.reject(e);
  }

  private tryIssueSnapshot(): void {
    if (!this.allExecuted() || this.nextSeq - this.ackSeq > this.mask) return;
    const jring = this.journal.ring;
    if (!this.replaying) {
      if (jring.tryReserve() < 0) return;
      jring.unreserveLast();
    }
    for (const s of this.shards) if (s.cmdRing.freeSlots() < 1) return;
    const cmd = this.scratch.reset();
    cmd.type = RuntimeCommandType.Snapshot;
    cmd.seq = this.nextSeq;
    cmd.tsUs = this.now();
    if (!this.replaying) {
      const jo = jring.tryReserve();
      encodeCommand(cmd, 0, jring.f64, jo, 0, -1);
      jring.publish();
    }
    this.routeSnapshot(cmd);
    const waiters = this.snapshotWaiters;
    this.snapshotWaiters = [];
    this.snapshotRequested = false;
    // The ledger has written its part; the shards write theirs before their done records (the ack).
    this.snapshotSeqs.push({ seq: cmd.seq, acked: false, written: true, waiters });
    this.snapshotsInline++;
  }

  /** Ledger snapshot (now: every earlier command is settled) and the command to every shard. */
  private routeSnapshot(cmd: Command): void {
    this.snapshotIssuedAt = performance.now();
    this.snapshotLedger(cmd.seq);
    for (const s of this.shards) {
      const so = s.cmdRing.tryReserve();
      encodeCommand(cmd, 0, s.cmdRing.f64, so, 0, -1);
      s.cmdRing.publish();
    }
    this.track(cmd.seq, cmd.type, SHARD_ALL, -1, this.shards.length);
  }

  private snapshotLedger(seq: number): void {
    // One dump for the hash and the blob; the engine's own snapshot connection.
    const t0 = performance.now();
    const dump = this.ledger.stateDump();
    const h = hashNumbers(dump);
    const store = this.snapshotStore ??= new SnapshotStore(this.journalPath);
    const prev = store.at(LEDGER_SNAPSHOT_ID, seq);
    if (prev !== null) {
      const rec = decodeSnapshot(prev).stateHash;
      if (rec !== h) throw new EngineError(`ledger state hash ${h} at seq ${seq} differs from the recorded ${rec}`);
    } else {
      store.writeAll([{ shard: LEDGER_SNAPSHOT_ID, seq, blob: encodeSnapshot(LEDGER_SNAPSHOT_ID, seq, h, Float64Array.from(dump)) }]);
    }
    this.snapshotLedgerMs = performance.now() - t0;
  }

  private snapshotStore: SnapshotStore | null = null;
  /** Main-thread time of the last ledger snapshot (ms): the event loop's stop for it. */
  private snapshotLedgerMs = 0;
  private snapshotIssuedAt = 0;
  /** Time from the last snapshot's issue until every shard had written its books (ms). */
  private snapshotShardsMs = 0;

  private snapshotShardsDone(seq: number): void {
    // Acked in seq order by releaseAcks; here only the time the shards took (their books' stop).
    const t = performance.now();
    this.snapshotShardsMs = t - this.snapshotIssuedAt;
    // (A recovery replay's snapshots stop nothing that flows.)
    if (this.snapshotRequestedAt > 0 && !this.replaying) this.snapshotStopped(t - this.snapshotRequestedAt, seq, 'inline');
    this.snapshotRequestedAt = 0;
  }

  /** Records a snapshot's longest stop of the matching or ack path; over the budget: counted and logged. */
  private snapshotStopped(ms: number, seq: number, by: SnapshotMode): void {
    this.lastSnapshotStopMs = ms;
    if (ms <= this.snapshotBudgetMs) return;
    // An inline snapshot stops only who submits meanwhile (answered Busy): one that refused nobody
    // (the gateway's start-up and close snapshots, an idle engine) stopped nothing.
    const refused = this.busySnapshot - this.snapshotBusyAtRequest;
    if (by === 'inline' && refused === 0) return;
    this.snapshotBudgetOverruns++;
    this.log({ seq, stopMs: Math.round(ms * 100) / 100, budgetMs: this.snapshotBudgetMs, writer: by, ...(by === 'inline' ? { refused } : {}) },
      by === 'inline' ? 'inline snapshot stopped matching longer than snapshotBudgetMs (inline snapshots are for idle moments)'
        : 'snapshot thread held the journal write lock longer than snapshotBudgetMs');
  }

  /** The snapshot thread's report on the last set it stored (null before any). */
  get lastThreadSnapshotWritten(): WrittenSnapshot | null {
    return this.lastThreadSnapshot;
  }

  private snapshotAcked(seq: number): void {
    for (const w of this.snapshotSeqs) {
      if (w.seq === seq) { w.acked = true; this.settleSnapshotWait(w); return; }
    }
  }

  /** The state hashes recorded by the snapshot at `seq` (after snapshot() resolved). */
  recordedHashes(seq: number): StateHashes {
    const read = (id: number): string => {
      const s = latestSnapshot(this.journalPath, id, seq);
      if (s === null || s.seq !== seq) throw new EngineError(`no snapshot of ${id} at seq ${seq}`);
      return decodeSnapshot(s.blob).stateHash;
    };
    const books: Record<number, string> = {};
    for (const s of this.instruments) books[s.id] = read(s.id);
    return { seq, ledger: read(LEDGER_SNAPSHOT_ID), books };
  }

  /** Takes a snapshot and returns the hashes it recorded: the engine's state hashes at that seq. */
  async stateHashes(mode: SnapshotMode = this.snapshotMode): Promise<StateHashes> {
    const seq = await this.snapshot(mode);
    return this.recordedHashes(seq);
  }

  // ------------------------------------------------------------------------------------------
  // Replay (recovery): the same path as submit, with the journaled stamps and amounts
  // ------------------------------------------------------------------------------------------

  /** True until recovery (persistence/recovery.ts) has replayed the journal. */
  get recovering(): boolean {
    return this.replaying;
  }

  /** @internal recovery.ts: the journal was replayed; checks that the engine is at its end. */
  finishReplay(): void {
    if (this.nextSeq !== this.journal.recoveredSeq + 1) throw new EngineError(`replay ended at seq ${this.nextSeq - 1}, the journal at ${this.journal.recoveredSeq}`);
    if (this.ackSeq !== this.nextSeq) throw new EngineError('replay ended with commands in flight');
    this.replaying = false;
  }

  /**
   * Replays one journal record (CMD_WORDS words at `o` of `w`). Returns false when it cannot go yet
   * (a ring is full, or the ledger needs earlier events settled first): poll and call again.
   */
  replayRecord(w: Float64Array, o: number): boolean {
    if (this.failure !== null) throw this.failure;
    const seq = w[o + CW_SEQ]!;
    if (seq !== this.nextSeq) throw new EngineError(`journal seq ${seq} where ${this.nextSeq} was expected`);
    if (this.nextSeq - this.ackSeq > this.mask) return false;
    const type = w[o + CW_TYPE]!;
    const cmd = decodeCommand(w, o, this.scratch, this.extras);
    if (type === RuntimeCommandType.Snapshot) {
      if (!this.allExecuted()) return false;
      for (const s of this.shards) if (s.cmdRing.freeSlots() < 1) return false;
      this.routeSnapshot(cmd);
      return true;
    }
    if (isFundingType(type)) {
      const r = this.applyFunding(type, cmd.account, this.extras.asset, cmd.value);
      if (r !== RejectReason.None) {
        if (!this.allExecuted()) return false;
        throw new EngineError(`replay: funding command seq ${seq} rejected by the ledger (${r})`);
      }
      this.track(seq, type, SHARD_NONE, -1, 0);
      return true;
    }
    const instrumentId = w[o + CW_INSTRUMENT]!;
    const i = this.idToIndex[instrumentId]!;
    if (i === undefined || i < 0) throw new EngineError(`replay: seq ${seq} names unknown instrument ${instrumentId}`);
    // A linked order (OCO leg, bracket child) was accepted live only once its book had settled (the
    // ledger answered Busy before): it is held here at the same point.
    if (type === CommandType.NewOrder && w[o + CW_LINK_ID] !== 0 && this.instrInFlight[i]! > 0) return false;
    const shard = this.shards[this.shardOfIndex[i]!]!;
    const so = shard.cmdRing.tryReserve();
    if (so < 0) return false;
    let reason: number;
    if (type === CommandType.Replace) reason = this.ledger.holdReplace(cmd, i, false, Math.max(0, w[o + CW_LEDGER_EXTRA]!));
    else reason = this.ledger.hold(cmd, i, this.refPx[i]!);
    // A replace whose order had not yet ended when it was sequenced live may find it ended here (this
    // ledger has settled at least as much): the book rejects it the same way (UnknownOrder).
    if (reason === RejectReason.UnknownOrder && type === CommandType.Replace) reason = RejectReason.None;
    if (reason !== RejectReason.None) {
      shard.cmdRing.unreserveLast();
      // Live, the hold succeeded with at most the funds a fully settled ledger has: settle, retry.
      if (!this.allExecuted()) return false;
      throw new EngineError(`replay: seq ${seq} rejected by the ledger (${reason}) although it was accepted live`);
    }
    copyCommandRecord(w, o, shard.cmdRing.f64, so);
    shard.cmdRing.publish();
    this.clock.floor(w[o + CW_TS]!);
    this.track(seq, type, shard.index, i, 1);
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // Failure and close
  // ------------------------------------------------------------------------------------------

  get error(): Error | null {
    return this.failure;
  }

  /** @internal */
  fail(e: Error): void {
    if (this.failure !== null) return;
    this.failure = e;
    this.log({ err: e.message }, 'engine failed');
    this.closeParking();
    for (const w of this.snapshotWaiters) w.reject(e);
    for (const w of this.threadSnapshotWaiters) w.reject(e);
    for (const s of this.snapshotSeqs) for (const w of s.waiters) w.reject(e);
    this.snapshotWaiters = [];
    this.threadSnapshotWaiters = [];
    this.snapshotSeqs = [];
    // A dead engine's snapshot thread would go on following the journal.
    void this.snapshotWriter?.close();
  }

  /** Per shard, its thread's counters once it stopped (after close), else null. */
  shardThreadStats(): (ShardThreadStats | null)[] {
    return this.shards.map((s) => s.threadStats);
  }

  /** Depth (Ring.depth: published, not yet released) of each shard's command ring and event ring, for /metrics. Read-only. */
  shardRingDepths(): { shard: number; commands: number; commandCapacity: number; events: number; eventCapacity: number }[] {
    return this.shards.map((h) => ({ shard: h.index, commands: h.cmdRing.depth(), commandCapacity: h.cmdRing.capacity, events: h.evRing.depth(), eventCapacity: h.evRing.capacity }));
  }

  /** The seq the next accepted command will get (no allocation; stats() builds an object). */
  get nextSequence(): number { return this.nextSeq; }

  stats(): EngineStats {
    return {
      nextSeq: this.nextSeq, ackedSeq: this.ackSeq - 1, durableSeq: this.journal.durableSeq(),
      busyRingFull: this.busyRingFull, busyJournalRing: this.busyJournalRing, busyInFlight: this.busyInFlight, busySnapshot: this.busySnapshot,
      busyLedger: this.busyLedger, rejectedByLedger: this.rejectedByLedger, eventsDrained: this.eventsDrained,
      ledgerShortfalls: this.ledger.shortfallCount,
      deferredParked: this.deferredParked, deferredBusy: this.deferredBusy, parkedNow: this.parkedTotal,
      lastSnapshotLedgerMs: this.snapshotLedgerMs, lastSnapshotShardsMs: this.snapshotShardsMs,
      snapshotsInline: this.snapshotsInline, snapshotsThread: this.snapshotsThread, lastSnapshotIssueMs: this.lastSnapshotIssueMs,
      lastSnapshotThreadDumpMs: this.lastThreadSnapshot?.dumpMs ?? 0, lastSnapshotThreadWriteMs: this.lastThreadSnapshot?.writeMs ?? 0,
      lastSnapshotThreadTotalMs: this.lastSnapshotThreadTotalMs, snapshotsSkipped: this.snapshotsSkipped, eventsSpilled: this.eventsSpilled,
      lastSnapshotStopMs: this.lastSnapshotStopMs, snapshotBudgetOverruns: this.snapshotBudgetOverruns,
      lastSnapshotThreadTxns: this.lastThreadSnapshot?.txns ?? 0, lastSnapshotThreadMaxLockMs: this.lastThreadSnapshot?.maxLockMs ?? 0,
      lastSnapshotThreadSlices: this.lastThreadSnapshot?.slices ?? 0, lastSnapshotThreadMaxSliceMs: this.lastThreadSnapshot?.maxSliceMs ?? 0,
      snapshotThreadLag: this.snapshotWriter !== null && this.snapshotWriter.error === null ? Math.max(0, this.nextSeq - 1 - this.snapshotWriter.appliedSeq) : 0,
    };
  }

  /**
   * Acks everything in flight, takes a final snapshot (unless snapshotOnClose is false), stops the
   * shards and the journal thread. Returns the final state hashes.
   */
  async close(): Promise<StateHashes> {
    if (this.snapshotTimer !== null) clearInterval(this.snapshotTimer);
    // Parked commands are answered Busy now (nothing new is sequenced for them while the engine closes).
    this.closeParking();
    let hashes: StateHashes | null = null;
    if (this.failure === null) {
      await this.drain();
      // Snapshots the thread is still writing finish first (it may be catching up with the journal).
      await Promise.allSettled(this.snapshotSeqs.filter((w) => !w.written).map((w) => new Promise<void>((res) => w.waiters.push({ resolve: () => res(), reject: () => res() }))));
      // Nothing runs any more: the final snapshot is taken inline (the live state's own hashes).
      if (this.snapshotOnClose) hashes = await this.stateHashes('inline');
      await this.drain();
    }
    this.closing = true;
    if (this.snapshotWriter !== null) await this.snapshotWriter.close();
    const books: Record<number, string> = {};
    for (const s of this.shards) {
      Atomics.store(s.ctrl, SC_STOP, 1);
      s.cmdRing.wakeConsumer();
    }
    for (const s of this.shards) {
      try {
        Object.assign(books, await s.stopped);
      } catch (e) {
        if (this.failure === null) this.fail(e as Error);
      }
      await s.worker.terminate();
    }
    this.journal.setDurableListener(null);
    this.journal.setFailureListener(null);
    this.snapshotStore?.close();
    this.snapshotStore = null;
    if (this.failure === null) await this.journal.close();
    else await this.journal.close().catch(() => {});
    if (this.failure !== null) throw this.failure;
    return hashes ?? { seq: this.nextSeq - 1, ledger: this.ledger.stateHash(), books };
  }
}

/** Refuses options the engine cannot run with (EngineError naming the option); returns each instrument's shard. */
function checkOptions(o: EngineOptions): Int32Array {
  const bad = (what: string): never => { throw new EngineError(what); };
  if (!Number.isInteger(o.shards) || o.shards < 1 || o.shards > MAX_SHARDS) bad(`shards must be an integer in [1, ${MAX_SHARDS}], got ${o.shards}`);
  if (o.durability !== 'none' && o.durability !== 'normal' && o.durability !== 'full') bad(`durability must be none, normal or full, got ${String(o.durability)}`);
  if (o.snapshotWriter !== undefined && o.snapshotWriter !== 'thread' && o.snapshotWriter !== 'inline') bad(`snapshotWriter must be 'thread' or 'inline', got ${String(o.snapshotWriter)}`);
  if (!Array.isArray(o.instruments) || o.instruments.length === 0) bad('instruments: at least one is needed');
  const ids = new Set<number>(), symbols = new Set<string>();
  for (const s of o.instruments) {
    if (!Number.isInteger(s.id) || s.id < 1 || s.id > 65535 || ids.has(s.id)) bad(`instrument ${s.symbol}: id must be a unique integer in [1, 65535]`);
    if (symbols.has(s.symbol)) bad(`instrument ${s.symbol}: the symbol appears twice`);
    ids.add(s.id); symbols.add(s.symbol);
  }
  if (o.shardOf !== undefined) {
    for (const [sym, k] of Object.entries(o.shardOf)) {
      if (!symbols.has(sym)) bad(`shardOf: ${sym} is not an instrument`);
      if (!Number.isInteger(k) || k < 0 || k >= o.shards) bad(`shardOf: ${sym} -> shard ${k} does not exist (shards: ${o.shards})`);
    }
  }
  const window = o.maxInFlight ?? 65536;
  if (!Number.isInteger(window) || window < 2 || (window & (window - 1)) !== 0) bad(`maxInFlight must be a power of two >= 2, got ${window}`);
  const nonNegative = (name: string, v: number | undefined): void => { if (v !== undefined && !(Number.isFinite(v) && v >= 0)) bad(`${name} must be a finite number >= 0, got ${v}`); };
  nonNegative('snapshotIntervalMs', o.snapshotIntervalMs);
  nonNegative('archiveMinRecords', o.archiveMinRecords);
  nonNegative('maxParkMs', o.maxParkMs);
  if (o.maxParkedPerBook !== undefined && !(Number.isInteger(o.maxParkedPerBook) && o.maxParkedPerBook >= 0)) bad(`maxParkedPerBook must be an integer >= 0, got ${o.maxParkedPerBook}`);
  if (o.snapshotTailMs !== undefined && !(Number.isFinite(o.snapshotTailMs) && o.snapshotTailMs >= 1)) bad(`snapshotTailMs must be a finite number >= 1, got ${o.snapshotTailMs}`);
  if (o.snapshotThreadNice !== undefined && !(Number.isInteger(o.snapshotThreadNice) && o.snapshotThreadNice >= 0 && o.snapshotThreadNice <= 19)) bad(`snapshotThreadNice must be an integer in [0, 19], got ${o.snapshotThreadNice}`);
  if (o.snapshotBudgetMs !== undefined && !(Number.isFinite(o.snapshotBudgetMs) && o.snapshotBudgetMs >= 0.5 && o.snapshotBudgetMs <= 60_000)) bad(`snapshotBudgetMs must be a number in [0.5, 60000], got ${o.snapshotBudgetMs}`);
  if (o.journalCommitGapUs !== undefined && !(o.journalCommitGapUs >= 0 && o.journalCommitGapUs <= 10_000)) bad(`journalCommitGapUs must be a number in [0, 10000], got ${o.journalCommitGapUs}`);
  const shardOfIndex = new Int32Array(o.instruments.length);
  o.instruments.forEach((s, i) => { shardOfIndex[i] = o.shardOf?.[s.symbol] ?? i % o.shards; });
  return shardOfIndex;
}

function ledgerOptionsOf(o: EngineOptions): LedgerOptions {
  // Pipelining keeps many orders and replaces in flight: larger pools than the ledger's defaults.
  return { feeAccount: 999_999_999, maxOrders: 1 << 18, maxPendingReplaces: 1 << 14, ...o.ledger };
}

export { ledgerOptionsOf };
