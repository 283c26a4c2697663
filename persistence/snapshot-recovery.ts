// The engine's starting point at start (Engine.start): the newest snapshot set within the journal
// whose every part is whole (persistence/snapshot-blob.ts checkSnapshotBlob: decodes, right owner
// and seq, state words hash to the recorded hash) and whose ledger restores to the recorded hash;
// a set that fails is skipped for the next older complete one, and ultimately for a full replay
// from seq 1 when the journal (archives included) still starts there. Damaged parts are deleted, so
// the replay passing their Snapshot command writes them again (it would otherwise compare against
// them). Every skip is logged. The books are restored by the shard workers from the chosen blobs,
// whose integrity was checked here (restoring them all on the main thread too would double the
// start-up cost of big books; see docs/runtime.md "Snapshots and recovery").

import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import type { InstrumentSpec } from '../core/instrument.js';
import { Ledger, type LedgerOptions } from '../gateway/ledger.js';
import { listJournalArchives } from './journal.js';
import { LEDGER_SNAPSHOT_ID, decodeSnapshot, deleteSnapshotParts, findSnapshotSet, type BadSnapshotPart, type SnapshotSet } from './snapshot-blob.js';

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

export function loadStartingPoint(path: string, instruments: readonly InstrumentSpec[], ledgerOptions: LedgerOptions, recoveredSeq: number,
  log?: (fields: Record<string, unknown>, msg: string) => void): StartingPoint {
  const ids = instruments.map((s) => s.id);
  const skipped: SkippedSnapshotSet[] = [];
  const bad: BadSnapshotPart[] = [];
  const partName = (id: number): string => (id === LEDGER_SNAPSHOT_ID ? 'ledger' : `instrument ${id}`);
  let bound = recoveredSeq;
  let found: { set: SnapshotSet; ledger: Ledger } | null = null;
  const empty = new Ledger(instruments, ledgerOptions);
  const dumpVersion = empty.stateDump()[0]!;
  for (;;) {
    const set = findSnapshotSet(path, ids, bound, (b) => {
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
      const ledger = Ledger.restore(instruments, ledgerOptions, snap.state);
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
    return { set: found.set, ledger: found.ledger, skipped, deleted };
  }
  if (recoveredSeq > 0) {
    const first = firstJournalSeq(path);
    if (first !== 1) {
      throw new SnapshotRecoveryError(`${path}: no usable snapshot set${skipped.length > 0 ? ` (skipped: ${skipped.map((s) => `seq ${s.seq}: ${s.reason}`).join('; ')})` : ''}, and the journal starts at seq ${first}, not 1 (earlier records were trimmed without an archive), so the state cannot be rebuilt by replay`);
    }
    if (skipped.length > 0) log?.({ journal: path, lastSeq: recoveredSeq }, 'no usable snapshot set: full replay from seq 1');
  }
  return { set: null, ledger: empty, skipped, deleted };
}
