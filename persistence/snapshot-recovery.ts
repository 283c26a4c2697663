// The engine's starting point at start (Engine.start): the newest snapshot set within the journal
// whose every part is whole (persistence/snapshot-blob.ts checkSnapshotBlob: decodes, right owner
// and seq, state words hash to the recorded hash) and whose ledger restores to the recorded hash;
// a set that fails is skipped for the next older complete one, and ultimately for a full replay
// from seq 1 when the journal (archives included) still starts there. Damaged parts are deleted, so
// the replay passing their Snapshot command writes them again (it would otherwise compare against
// them). Every skip is logged. The books are restored by the shard workers from the chosen blobs,
// whose integrity was checked here (restoring them all on the main thread too would double the
// start-up cost of big books; see docs/runtime.md "Snapshots and recovery").
//
// When instruments were appended to the configuration (configuration epochs,
// persistence/instrument-fingerprint.ts), a set is looked for among each epoch's instruments and
// restored under the epoch in force at its seq. A starting point in an older epoch than the
// current one (the start that applied an addition, or one whose newer sets are all damaged) is
// brought to the current epoch's first seq on this thread (StateReplayer: the journal replayed
// under each older epoch's configuration, the Snapshot commands on the way checked or written in
// their epoch's shape, then the state grown into the current configuration), and the engine starts
// from that state; its own replay then only meets records of the current epoch.

import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { RuntimeCommandType } from '../core/command-codec.js';
import { hashNumbers } from '../core/hash.js';
import type { InstrumentSpec } from '../core/instrument.js';
import { Ledger, type LedgerOptions } from '../gateway/ledger.js';
import { epochIndexAt, readInstrumentEpochs, resolveInstrumentEpochs, type InstrumentEpoch, type InstrumentEpochRecord } from './instrument-fingerprint.js';
import { SnapshotStore, listJournalArchives, readJournalChunks } from './journal.js';
import { StateReplayer, findEpochSnapshotSet } from './replayer.js';
import { LEDGER_SNAPSHOT_ID, decodeSnapshot, deleteSnapshotParts, encodeSnapshot, type BadSnapshotPart, type SnapshotSet } from './snapshot-blob.js';

/**
 * The state cannot be rebuilt: no usable snapshot set and the journal no longer starts at seq 1, or
 * a whole ledger snapshot of another dump version.
 */
export class SnapshotRecoveryError extends Error {
  override readonly name = 'SnapshotRecoveryError';
}

export interface SkippedSnapshotSet { seq: number; reason: string }

export interface StartingPoint {
  /** The set to start from (null: replay from seq 1). */
  set: SnapshotSet | null;
  /** The ledger restored from set (or a new one). */
  ledger: Ledger;
  /** Newer complete sets skipped, newest first. */
  skipped: SkippedSnapshotSet[];
  /** Damaged parts deleted. */
  deleted: BadSnapshotPart[];
}

/** The lowest seq the journal at `path` holds, archives included (0 when it holds none). */
export function firstJournalSeq(path: string): number {
  const archives = listJournalArchives(path);
  if (archives.length > 0) return archives[0]!.firstSeq;
  if (!existsSync(path)) return 0;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const row = db.prepare('SELECT min(first_seq) AS s FROM journal').get() as { s: number | null };
    return row.s ?? 0;
  } finally {
    db.close();
  }
}

/**
 * `epochRecords`: the epochs to run under instead of the recorded ones (the start that applies an
 * addition: its epoch is recorded only after this succeeded; Engine.start).
 */
export function loadStartingPoint(path: string, instruments: readonly InstrumentSpec[], ledgerOptions: LedgerOptions, recoveredSeq: number,
  log?: (fields: Record<string, unknown>, msg: string) => void, epochRecords?: readonly InstrumentEpochRecord[]): StartingPoint {
  const epochs = resolveInstrumentEpochs(epochRecords ?? readInstrumentEpochs(path), instruments, ledgerOptions.assets ?? [], path);
  const current = epochs.length - 1;
  const epochOptions = (e: number): LedgerOptions => (current === 0 ? ledgerOptions : { ...ledgerOptions, assets: epochs[e]!.assets });
  const skipped: SkippedSnapshotSet[] = [];
  const bad: BadSnapshotPart[] = [];
  const partName = (id: number): string => (id === LEDGER_SNAPSHOT_ID ? 'ledger' : `instrument ${id}`);
  let bound = recoveredSeq;
  let found: { set: SnapshotSet; ledger: Ledger } | null = null;
  const empty = new Ledger(instruments, ledgerOptions);
  const dumpVersion = empty.stateDump()[0]!;
  for (;;) {
    const set = findEpochSnapshotSet(path, epochs, bound, (b) => {
      bad.push(b);
      if (skipped[skipped.length - 1]?.seq !== b.seq) skipped.push({ seq: b.seq, reason: `${partName(b.ownerId)}: ${b.reason}` });
      else skipped[skipped.length - 1]!.reason += `; ${partName(b.ownerId)}: ${b.reason}`;
    });
    if (set === null) break;
    const snap = decodeSnapshot(set.ledger);
    // A whole blob of another dump version is not damage: falling back would only fail later, when
    // the replay compares the state at its seq with it (docs/runtime.md: not portable across versions).
    if (snap.state[0] !== dumpVersion) {
      throw new SnapshotRecoveryError(`${path}: the ledger snapshot at seq ${set.seq} is of dump version ${snap.state[0]}, this version writes ${dumpVersion}; data directories are not portable across snapshot format versions`);
    }
    try {
      const e = epochIndexAt(epochs, set.seq);
      const ledger = Ledger.restore(epochs[e]!.instruments, epochOptions(e), snap.state);
      const h = ledger.stateHash();
      if (h !== snap.stateHash) throw new Error(`restored ledger hash ${h} differs from the recorded ${snap.stateHash}`);
      found = { set, ledger };
      break;
    } catch (e) {
      skipped.push({ seq: set.seq, reason: `ledger: ${(e as Error).message}` });
      bound = set.seq - 1;
    }
  }
  const deleted = bad.filter((b) => found === null || b.seq > found.set.seq);
  if (deleted.length > 0) deleteSnapshotParts(path, deleted);
  for (const s of skipped) log?.({ journal: path, seq: s.seq, reason: s.reason }, 'snapshot set skipped at start');
  if (deleted.length > 0) log?.({ journal: path, parts: deleted.map((b) => ({ seq: b.seq, part: partName(b.ownerId) })) }, 'damaged snapshot parts deleted (the replay writes them again)');
  if (found !== null) {
    if (skipped.length > 0) log?.({ journal: path, seq: found.set.seq, skipped: skipped.length }, 'starting from an older snapshot set');
    if (epochIndexAt(epochs, found.set.seq) < current) return { ...crossEpochs(path, epochs, instruments, ledgerOptions, found.set, log), skipped, deleted };
    return { set: found.set, ledger: found.ledger, skipped, deleted };
  }
  if (recoveredSeq > 0) {
    const first = firstJournalSeq(path);
    if (first !== 1) {
      throw new SnapshotRecoveryError(`${path}: no usable snapshot set${skipped.length > 0 ? ` (skipped: ${skipped.map((s) => `seq ${s.seq}: ${s.reason}`).join('; ')})` : ''}, and the journal starts at seq ${first}, not 1 (earlier records were trimmed without an archive), so the state cannot be rebuilt by replay`);
    }
    if (skipped.length > 0) log?.({ journal: path, lastSeq: recoveredSeq }, 'no usable snapshot set: full replay from seq 1');
  }
  if (current > 0) return { ...crossEpochs(path, epochs, instruments, ledgerOptions, null, log), skipped, deleted };
  return { set: null, ledger: empty, skipped, deleted };
}

/**
 * The state at the last seq before the current (last) epoch, in the current configuration's shape,
 * from `from` (or empty state): the journal replayed on this thread under each older epoch's
 * configuration, every Snapshot command passed checked against the parts recorded at its seq (or
 * its parts written, in that epoch's shape, when there are none: damaged ones were deleted), then
 * the state grown into the current configuration. Returned as a snapshot set at that seq (blobs for
 * the shards, whose hashes they check when they restore) and its ledger.
 */
function crossEpochs(path: string, epochs: readonly InstrumentEpoch[], instruments: readonly InstrumentSpec[], ledgerOptions: LedgerOptions,
  from: SnapshotSet | null, log?: (fields: Record<string, unknown>, msg: string) => void): { set: SnapshotSet; ledger: Ledger } {
  const t0 = performance.now();
  const end = epochs[epochs.length - 1]!.fromSeq - 1;
  let rp: StateReplayer;
  let checked = 0, written = 0;
  const store = new SnapshotStore(path);
  try {
    rp = new StateReplayer(instruments, ledgerOptions, from, null, epochs);
    outer: for (const chunk of readJournalChunks(path, rp.lastSeq)) {
      const w = chunk.words, rw = chunk.recordWords, sw = chunk.seqWord;
      for (let r = 0, o = 0; r < chunk.n; r++, o += rw) {
        const seq = w[o + sw]!;
        if (seq <= rp.lastSeq) continue;
        if (seq > end) break outer;
        if (rp.apply(w, o) !== RuntimeCommandType.Snapshot) continue;
        const fresh: { shard: number; seq: number; blob: Uint8Array }[] = [];
        for (const [id, dump] of rp.dumps()) {
          const h = hashNumbers(dump);
          const prev = store.at(id, seq);
          if (prev === null) { fresh.push({ shard: id, seq, blob: encodeSnapshot(id, seq, h, Float64Array.from(dump)) }); continue; }
          const rec = decodeSnapshot(prev).stateHash;
          if (rec !== h) throw new Error(`${id === LEDGER_SNAPSHOT_ID ? 'ledger' : `instrument ${id}`} state hash ${h} at seq ${seq} differs from the recorded ${rec}`);
          checked++;
        }
        if (fresh.length > 0) { store.writeAll(fresh); written += fresh.length; }
      }
    }
    if (rp.lastSeq !== end) throw new Error(`the journal ends at seq ${rp.lastSeq}, before seq ${end}`);
  } catch (e) {
    throw new SnapshotRecoveryError(`${path}: replaying up to the instrument configuration change at seq ${end + 1}: ${(e as Error).message}`);
  } finally {
    store.close();
  }
  rp.advanceTo(end + 1);
  const books = new Map<number, Uint8Array>();
  for (const [id, b] of rp.books) {
    const dump = b.stateDump();
    books.set(id, encodeSnapshot(id, end, hashNumbers(dump), Float64Array.from(dump)));
  }
  const ld = rp.ledger.stateDump();
  const set: SnapshotSet = { seq: end, ledger: encodeSnapshot(LEDGER_SNAPSHOT_ID, end, hashNumbers(ld), Float64Array.from(ld)), books };
  log?.({ journal: path, fromSeq: from?.seq ?? 0, toSeq: end, epochs: epochs.length, replayed: rp.commands, snapshotPartsChecked: checked, snapshotPartsWritten: written, ms: Math.round(performance.now() - t0) },
    'replayed up to the last instrument configuration change on the main thread: starting from the grown state');
  return { set, ledger: rp.ledger };
}
