// Snapshot parts stored within a time budget (the snapshot thread, persistence/snapshot-writer-worker.ts).
// The `snapshots` table lives in the journal file, so whoever writes it holds the journal file's
// SQLite write lock, and the journal thread's commits (every durable ack) wait behind it: one
// transaction with every part of a 150k-order state held it for 150-370 ms (docs/runtime.md
// "Snapshots and recovery"). Here a big part is stored as chunks (table `snapshot_chunks`) over as
// many short transactions as it takes, each holding the lock for about the budget at most, with a
// pause after each so that the journal thread gets the lock; then ONE last transaction inserts, for
// each chunked part, a small pointer row in `snapshots` (and the small parts whole), and one
// fdatasync of the WAL, holding no lock, makes it all durable. A set therefore appears in
// `snapshots`, where findSnapshotSet looks for it, only when all of it is stored; chunks without a
// pointer (a crash in the middle) are never read, and are deleted at the next start.

import type Database from 'better-sqlite3';
import { closeSync, existsSync, fdatasyncSync, openSync } from 'node:fs';

/** Bytes per chunk of a big part at most (16 journal pages). */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;
/** A chunk transaction's bytes: at most this many chunks, at least MIN_TXN_BYTES (or the rest). */
const TXN_CHUNKS = 16;
const MIN_TXN_BYTES = 16 * 1024;
const LOCK_POLL_MS = 0.2;
const LOCK_WAIT_MS = 5000;

export const SNAPSHOT_CHUNKS_SCHEMA =
  'CREATE TABLE IF NOT EXISTS snapshot_chunks (shard INTEGER NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (shard, seq, idx))';

const POINTER_MAGIC = 0x534e5043; // "SNPC" (a snapshot blob starts with "SNAP")
const POINTER_VERSION = 1;
const POINTER_WORDS = 6;

/** The `snapshots` row of a part stored in `chunks` chunks of `bytes` bytes in all. */
export function chunkPointer(shard: number, seq: number, chunks: number, bytes: number): Uint8Array {
  const w = new Float64Array(POINTER_WORDS);
  w[0] = POINTER_MAGIC; w[1] = POINTER_VERSION; w[2] = shard; w[3] = seq; w[4] = chunks; w[5] = bytes;
  return new Uint8Array(w.buffer);
}

/** The chunk count and size a pointer row names, or null when `blob` is a part stored whole. */
export function readChunkPointer(blob: Uint8Array): { shard: number; seq: number; chunks: number; bytes: number } | null {
  if (blob.byteLength !== POINTER_WORDS * 8) return null;
  const w = new Float64Array(blob.slice().buffer);
  if (w[0] !== POINTER_MAGIC || w[1] !== POINTER_VERSION) return null;
  return { shard: w[2]!, seq: w[3]!, chunks: w[4]!, bytes: w[5]! };
}

/**
 * The stored part a `snapshots` row stands for: the row itself, or the chunks its pointer names put
 * together. Chunks missing or of another total size give an empty blob, which fails decodeSnapshot
 * (persistence/snapshot-blob.ts), so such a part is never taken as whole.
 */
export function resolveStoredPart(db: Database.Database, shard: number, seq: number, blob: Uint8Array): Uint8Array {
  const p = readChunkPointer(blob);
  if (p === null) return blob;
  if (p.shard !== shard || p.seq !== seq) return new Uint8Array(0);
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshot_chunks'").get();
  if (hasTable === undefined) return new Uint8Array(0);
  const rows = db.prepare('SELECT idx, data FROM snapshot_chunks WHERE shard = ? AND seq = ? AND idx < ? ORDER BY idx').all(shard, seq, p.chunks) as { idx: number; data: Buffer }[];
  if (rows.length !== p.chunks) return new Uint8Array(0);
  const out = new Uint8Array(p.bytes);
  let at = 0;
  for (let i = 0; i < rows.length; i++) {
    const d = rows[i]!.data;
    if (rows[i]!.idx !== i || at + d.byteLength > p.bytes) return new Uint8Array(0);
    out.set(d, at);
    at += d.byteLength;
  }
  return at === p.bytes ? out : new Uint8Array(0);
}

export interface SlicedWriteOptions {
  /** The longest a transaction may hold the write lock (ms): chunks are inserted while they fit. */
  budgetMs: number;
  chunkBytes: number;
  /** Called between transactions with the pause to take (ms): the journal thread gets the lock meanwhile. */
  pause: (ms: number) => void;
  /** Runs a wait that uses no CPU (for the lock, for the fsync); the caller's CPU slices leave it out. */
  idle?: <T>(wait: () => T) => T;
  /** Called with true before each transaction takes the lock and false once it committed (the thread's priority). */
  holding?: (held: boolean) => void;
  /** Tests: throw after this many committed chunk transactions (0 = never). */
  failAfterTxns?: number;
}

export interface SlicedWriteResult {
  /** Write transactions (the chunk ones and the last one). */
  txns: number;
  /** The longest of them, from the lock taken (BEGIN IMMEDIATE returned) to COMMIT returned (ms). */
  maxLockMs: number;
  chunks: number;
  /** The fdatasync of the WAL outside any transaction (ms). */
  syncMs: number;
}

/**
 * Stores `items` (each a part whole, as encodeSnapshot makes it) on `db` (the journal file, WAL)
 * within the budget per transaction, the set becoming visible in `snapshots` in the last one.
 * Durable when it returns.
 */
export function writePartsSliced(db: Database.Database, path: string, items: readonly { shard: number; seq: number; blob: Uint8Array }[],
  o: SlicedWriteOptions): SlicedWriteResult {
  const chunkBytes = Math.max(8, Math.floor(o.chunkBytes));
  const put = db.prepare('INSERT OR REPLACE INTO snapshots (shard, seq, blob) VALUES (?, ?, ?)');
  const putChunk = db.prepare('INSERT OR REPLACE INTO snapshot_chunks (shard, seq, idx, data) VALUES (?, ?, ?, ?)');
  const beginStmt = db.prepare('BEGIN IMMEDIATE');
  const idle = o.idle ?? (<T>(f: () => T): T => f());
  const nap = new Int32Array(new SharedArrayBuffer(4));
  // The lock, tried every LOCK_POLL_MS: SQLite's own busy handler sleeps 1, 2, 5 ... 100 ms between
  // tries, and the journal thread, committing every millisecond or so, kept it waiting seconds.
  const holding = o.holding ?? ((_: boolean): void => {});
  const begin = { run: (): void => idle(() => {
    holding(true);
    const until = performance.now() + LOCK_WAIT_MS;
    db.pragma('busy_timeout = 0');
    try {
      for (;;) {
        try {
          beginStmt.run();
          return;
        } catch (e) {
          if ((e as { code?: string }).code !== 'SQLITE_BUSY' || performance.now() > until) throw e;
          Atomics.wait(nap, 0, 0, LOCK_POLL_MS);
        }
      }
    } finally {
      db.pragma('busy_timeout = 5000');
    }
  }) };
  const commit = db.prepare('COMMIT');
  // The last transaction takes the small parts whole (up to one chunk's worth in all) and a pointer per chunked one.
  const whole: { shard: number; seq: number; blob: Uint8Array }[] = [];
  const chunked: { shard: number; seq: number; blob: Uint8Array; chunks: number }[] = [];
  let wholeBytes = 0;
  for (const it of items) {
    if (wholeBytes + it.blob.byteLength <= chunkBytes) { whole.push(it); wholeBytes += it.blob.byteLength; }
    else chunked.push({ ...it, chunks: Math.max(1, Math.ceil(it.blob.byteLength / chunkBytes)) });
  }
  const r: SlicedWriteResult = { txns: 0, maxLockMs: 0, chunks: 0, syncMs: 0 };
  const rollback = (): void => { if (db.inTransaction) db.exec('ROLLBACK'); };
  try {
    // No fsync under the lock (one took up to 90 ms here while the checkpointer wrote): every
    // transaction commits with synchronous = NORMAL, then one fdatasync of the WAL, holding no
    // lock, makes them durable before this returns. A crash before it loses the set or keeps all of
    // it: WAL frames chain their checksums, so recovery never takes the pointers' commit without
    // the chunk frames written before them.
    db.pragma('synchronous = NORMAL');
    if (chunked.length > 0) {
      // SQLite writes a transaction's pages into the WAL at COMMIT, so its hold grows with its
      // bytes: the bytes of the next transaction follow from the last ones' cost per byte (the
      // first takes a quarter chunk), within TXN_CHUNKS chunks; chunks are cut to fit.
      let msPerByte = 0;
      let part = 0, idx = 0, offset = 0;
      while (part < chunked.length) {
        const allowed = Math.min(TXN_CHUNKS * chunkBytes,
          msPerByte > 0 ? Math.max(MIN_TXN_BYTES, Math.floor((o.budgetMs * 0.5) / msPerByte)) : Math.ceil(chunkBytes / 4));
        begin.run();
        const t0 = performance.now();
        let n = 0, bytes = 0;
        while (part < chunked.length && bytes < allowed) {
          const c = chunked[part]!;
          const len = Math.min(chunkBytes, allowed - bytes, c.blob.byteLength - offset);
          putChunk.run(c.shard, c.seq, idx, c.blob.subarray(offset, offset + len));
          n++; bytes += len; offset += len; idx++;
          if (offset === c.blob.byteLength) { c.chunks = idx; part++; idx = 0; offset = 0; }
        }
        commit.run();
        holding(false);
        const held = performance.now() - t0;
        const cost = held / bytes;
        msPerByte = cost > msPerByte ? cost : (msPerByte + cost) / 2;
        r.txns++;
        r.chunks += n;
        r.maxLockMs = Math.max(r.maxLockMs, held);
        if (o.failAfterTxns !== undefined && o.failAfterTxns > 0 && r.txns >= o.failAfterTxns) {
          throw new Error(`test: snapshot write stopped after ${r.txns} transactions`);
        }
        // A journal commit that found the lock taken sleeps in SQLite's busy handler (1, 2, 5, 10 ms
        // ... apart): a pause as long as the hold lets its next try find the lock free.
        o.pause(Math.max(o.budgetMs, held));
      }
    }
    begin.run();
    const t0 = performance.now();
    for (const it of whole) put.run(it.shard, it.seq, it.blob);
    for (const c of chunked) put.run(c.shard, c.seq, chunkPointer(c.shard, c.seq, c.chunks, c.blob.byteLength));
    commit.run();
    holding(false);
    r.txns++;
    r.maxLockMs = Math.max(r.maxLockMs, performance.now() - t0);
    const ts = performance.now();
    idle(() => syncWal(path));
    r.syncMs = performance.now() - ts;
    return r;
  } catch (e) {
    rollback();
    holding(false);
    throw e;
  } finally {
    db.pragma('synchronous = FULL');
  }
}

/** fdatasync of the WAL file (what the transactions wrote), holding no lock meanwhile. */
function syncWal(path: string): void {
  const wal = `${path}-wal`;
  if (!existsSync(wal)) return;
  const fd = openSync(wal, 'r');
  try {
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Deletes chunks that no pointer row names (a snapshot thread stopped in the middle of a set) and
 * chunks past `seq`. At start, before anything writes; returns the rows deleted.
 */
export function dropOrphanChunks(db: Database.Database, seq: number): number {
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshot_chunks'").get();
  if (hasTable === undefined) return 0;
  return db.prepare(`DELETE FROM snapshot_chunks WHERE seq > ? OR NOT EXISTS
    (SELECT 1 FROM snapshots s WHERE s.shard = snapshot_chunks.shard AND s.seq = snapshot_chunks.seq AND length(s.blob) = ${POINTER_WORDS * 8})`).run(seq).changes;
}

/** Deletes the chunks of the part of `shard` at `seq` (with its `snapshots` row). */
export function deletePartChunks(db: Database.Database, shard: number, seq: number): number {
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshot_chunks'").get();
  if (hasTable === undefined) return 0;
  return db.prepare('DELETE FROM snapshot_chunks WHERE shard = ? AND seq = ?').run(shard, seq).changes;
}
