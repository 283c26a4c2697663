// Snapshot blobs as stored by persistence/journal.ts `writeSnapshot` (table `snapshots`): a small
// header (magic, version, owner id, seq, the state hash recorded when it was taken) and the owner's
// canonical state dump (OrderBook.snapshot / Ledger.snapshot), all float64 words. The owner id is the
// instrument id for a book and LEDGER_SNAPSHOT_ID for the ledger, so snapshots do not depend on how
// instruments are spread over shards.

import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { hashNumbers } from '../core/hash.js';
import { latestSnapshot } from './journal.js';
import { deletePartChunks } from './snapshot-chunks.js';

export const LEDGER_SNAPSHOT_ID = 0;
const MAGIC = 0x534e4150; // "SNAP"
const VERSION = 1;
/** Words before the state in a blob. */
export const SNAPSHOT_HEADER_WORDS = 6;
const HEADER_WORDS = SNAPSHOT_HEADER_WORDS;

export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
}

export interface DecodedSnapshot {
  ownerId: number;
  seq: number;
  /** The state hash recorded when the snapshot was taken (16 hex digits). */
  stateHash: string;
  state: Float64Array;
}

export function encodeSnapshot(ownerId: number, seq: number, stateHash: string, state: Float64Array): Uint8Array {
  const w = new Float64Array(HEADER_WORDS + state.length);
  w.set(state, HEADER_WORDS);
  setSnapshotHeader(w, ownerId, seq, stateHash);
  return new Uint8Array(w.buffer);
}

/**
 * Writes the header into `w`, whose words from SNAPSHOT_HEADER_WORDS on hold the state (the
 * snapshot thread fills its blobs itself).
 */
export function setSnapshotHeader(w: Float64Array, ownerId: number, seq: number, stateHash: string): void {
  if (!/^[0-9a-f]{16}$/.test(stateHash)) throw new SnapshotError(`bad state hash ${stateHash}`);
  w[0] = MAGIC; w[1] = VERSION; w[2] = ownerId; w[3] = seq;
  w[4] = parseInt(stateHash.slice(0, 8), 16); w[5] = parseInt(stateHash.slice(8), 16);
}

export function decodeSnapshot(blob: Uint8Array): DecodedSnapshot {
  if (blob.byteLength % 8 !== 0 || blob.byteLength < HEADER_WORDS * 8) throw new SnapshotError('snapshot blob has a bad size');
  const copy = new Uint8Array(blob.byteLength);
  copy.set(blob);
  const w = new Float64Array(copy.buffer);
  if (w[0] !== MAGIC || w[1] !== VERSION) throw new SnapshotError('not a snapshot blob (bad magic or version)');
  const hex = (v: number): string => v.toString(16).padStart(8, '0');
  return { ownerId: w[2]!, seq: w[3]!, stateHash: hex(w[4]!) + hex(w[5]!), state: w.subarray(HEADER_WORDS) };
}

export interface SnapshotSet {
  seq: number;
  ledger: Uint8Array;
  /** instrument id -> book snapshot blob */
  books: Map<number, Uint8Array>;
}

/**
 * Checks that a stored blob is whole: it decodes, it is the part of `ownerId` at `seq`, and its state
 * words hash to the hash recorded in its header (a torn or bit-flipped blob fails here, without
 * restoring anything). Throws SnapshotError.
 */
export function checkSnapshotBlob(blob: Uint8Array, ownerId: number, seq: number): DecodedSnapshot {
  const d = decodeSnapshot(blob);
  if (d.ownerId !== ownerId || d.seq !== seq) throw new SnapshotError(`blob is the part of ${d.ownerId} at seq ${d.seq}, stored as ${ownerId} at ${seq}`);
  let h: string;
  try {
    h = hashNumbers(d.state);
  } catch (e) {
    throw new SnapshotError(`state is not integers (${(e as Error).message})`);
  }
  if (h !== d.stateHash) throw new SnapshotError(`state hashes to ${h}, the header records ${d.stateHash}`);
  return d;
}

/** A stored snapshot part that failed checkSnapshotBlob (ownerId LEDGER_SNAPSHOT_ID = the ledger). */
export interface BadSnapshotPart { seq: number; ownerId: number; reason: string }

/**
 * The newest seq <= atOrBeforeSeq at which the ledger and every instrument in `instrumentIds` have a
 * snapshot (a crash in the middle of taking one leaves an incomplete set, which is skipped) whose
 * every part passes checkSnapshotBlob, or null. A complete set with a damaged part is skipped for
 * the next older one; `onBadPart` hears of each damaged part.
 */
export function findSnapshotSet(path: string, instrumentIds: readonly number[], atOrBeforeSeq: number,
  onBadPart?: (bad: BadSnapshotPart) => void): SnapshotSet | null {
  if (!existsSync(path)) return null;
  let bound = atOrBeforeSeq;
  for (;;) {
    const l = latestSnapshot(path, LEDGER_SNAPSHOT_ID, bound);
    if (l === null) return null;
    const books = new Map<number, Uint8Array>();
    for (const id of instrumentIds) {
      const b = latestSnapshot(path, id, l.seq);
      if (b === null || b.seq !== l.seq) break;
      books.set(id, b.blob);
    }
    if (books.size === instrumentIds.length) {
      let whole = true;
      const check = (ownerId: number, blob: Uint8Array): void => {
        try {
          checkSnapshotBlob(blob, ownerId, l.seq);
        } catch (e) {
          if (!(e instanceof SnapshotError)) throw e;
          whole = false;
          onBadPart?.({ seq: l.seq, ownerId, reason: e.message });
        }
      };
      check(LEDGER_SNAPSHOT_ID, l.blob);
      for (const [id, blob] of books) check(id, blob);
      if (whole) return { seq: l.seq, ledger: l.blob, books };
    }
    bound = l.seq - 1;
  }
}

/**
 * Deletes stored snapshot parts (damaged ones, so that a replay passing their Snapshot command writes
 * them again instead of comparing against them). One transaction; returns the rows deleted.
 */
export function deleteSnapshotParts(path: string, parts: readonly { seq: number; ownerId: number }[]): number {
  if (parts.length === 0) return 0;
  const db = new Database(path, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const del = db.prepare('DELETE FROM snapshots WHERE shard = ? AND seq = ?');
    let n = 0;
    db.transaction(() => {
      for (const p of parts) { n += del.run(p.ownerId, p.seq).changes; deletePartChunks(db, p.ownerId, p.seq); }
    })();
    return n;
  } finally {
    db.close();
  }
}
