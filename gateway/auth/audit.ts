// The audit trail: an append-only, hash-chained table.
//
// Row n stores hash_n = SHA-256(bytes(hash_{n-1}) || UTF-8(canonical_n)), where hash_0 is 32 zero
// bytes and canonical_n is the JSON array
//   [seq, ts_ms, actor, action, target, remote_addr, request_id, outcome, detail]
// (absent fields as null; detail is itself canonical JSON text: object keys sorted, no spaces).
// Editing a row breaks its own hash; deleting or reordering rows breaks the seq sequence and the
// next row's prev_hash. Truncating the tail leaves a valid shorter chain: only a head (seq, hash)
// recorded somewhere else catches that, so `verifyAuditChain` takes an expected head.
// SQLite triggers refuse UPDATE and DELETE; the chain is what catches someone who bypasses them.

import { hash } from 'node:crypto';
import { prepared, type IdentityDb } from './db.js';

export const AUDIT_OUTCOMES = ['success', 'failure', 'denied'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

export interface AuditEntry {
  readonly tsMs: number;
  /** Who: "user:12", "key:ak_...", "operator:alice", "anonymous". */
  readonly actor: string;
  /** What: "auth.login", "apikey.create", "order.place", ... */
  readonly action: string;
  /** On what: "account:7", "user:3", ... */
  readonly target?: string;
  /** From where: an IP address, or "local" for the operator CLI. */
  readonly remoteAddr?: string;
  readonly requestId?: string;
  readonly outcome: AuditOutcome;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface AuditRecord extends AuditEntry {
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
}

export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

export type AuditProblem = 'hash_mismatch' | 'prev_hash_mismatch' | 'seq_gap' | 'head_mismatch';

export type AuditVerifyResult =
  | { readonly ok: true; readonly rows: number; readonly head: AuditHead | null }
  | { readonly ok: false; readonly rows: number; readonly seq: number; readonly problem: AuditProblem; readonly message: string };

export const GENESIS_HASH = '0'.repeat(64);

interface AuditRow {
  seq: number; ts_ms: number; actor: string; action: string; target: string | null; remote_addr: string | null;
  request_id: string | null; outcome: string; detail: string; prev_hash: string; hash: string;
}

const INSERT_AUDIT_ROW = 'INSERT INTO audit_log (seq, ts_ms, actor, action, target, remote_addr, request_id, outcome, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';

/**
 * Refuses an entry that could not be stored exactly as it is hashed (a TypeError, nothing written):
 * a row that SQLite would refuse (NOT NULL) or store as other text than the canonical row hashes
 * (a number as a TEXT column) would otherwise fail or corrupt the whole group commit it is in.
 */
function checkEntry(e: AuditEntry): void {
  if (!(AUDIT_OUTCOMES as readonly string[]).includes(e.outcome)) throw new TypeError(`bad audit outcome ${e.outcome}`);
  if (typeof e.tsMs !== 'number' || !Number.isFinite(e.tsMs)) throw new TypeError('audit tsMs must be a finite number');
  if (typeof e.actor !== 'string' || typeof e.action !== 'string') throw new TypeError('audit actor and action must be strings');
  if (!optionalString(e.target) || !optionalString(e.remoteAddr) || !optionalString(e.requestId)) throw new TypeError('audit target, remoteAddr and requestId must be strings when given');
}

function optionalString(v: unknown): boolean {
  return v === undefined || v === null || typeof v === 'string';
}

/**
 * An entry as a group commit carries it (the audit writer's thread, gateway/auth/audit-worker.ts):
 * PACKED_FIELDS values per row, appended to `out` in this order: tsMs, actor, action, target,
 * remoteAddr, requestId (null when absent), outcome, detail (its canonical JSON text). Checked
 * first (TypeError, nothing appended): what is packed can always be written.
 */
export function packEntry(e: AuditEntry, out: PackedRows): void {
  checkEntry(e);
  const detail = canonicalJson(e.detail ?? {});
  out.push(e.tsMs, e.actor, e.action, e.target ?? null, e.remoteAddr ?? null, e.requestId ?? null, e.outcome, detail);
}

/**
 * packEntry's fields as one text (what the writer thread's ring carries): the first seven as a JSON
 * array, a newline, then the detail's canonical JSON as it is (JSON.stringify escapes every newline
 * inside the array, so the first one ends it; the detail is not escaped a second time).
 * unpackEntryText gives the same values back, lone surrogates included. Checked first (TypeError).
 */
export function packEntryText(e: AuditEntry): string {
  checkEntry(e);
  const detail = canonicalJson(e.detail ?? {});
  return JSON.stringify([e.tsMs, e.actor, e.action, e.target ?? null, e.remoteAddr ?? null, e.requestId ?? null, e.outcome]) + '\n' + detail;
}

/** packEntryText's text -> its PACKED_FIELDS values, appended to `out`. */
export function unpackEntryText(text: string, out: PackedRows): void {
  const nl = text.indexOf('\n');
  const f = JSON.parse(text.slice(0, nl)) as PackedRows;
  if (f.length !== PACKED_FIELDS - 1) throw new Error('malformed packed audit row');
  for (let i = 0; i < f.length; i++) out.push(f[i]!);
  out.push(text.slice(nl + 1));
}

export const PACKED_FIELDS = 8;
export type PackedRows = (string | number | null)[];

/**
 * JSON with object keys sorted at every level (arrays keep their order). The same text as
 * `{${Object.keys(o).filter(defined).sort().map(k => JSON.stringify(k) + ':' + canonicalJson(o[k])).join(',')}}`
 * (and `[${a.map(canonicalJson).join(',')}]` for arrays, JSON.stringify or "null" for the rest),
 * built by appending, with the keys sorted in place and quoted key names taken from a small cache:
 * an audit row is written per state-changing request, and the intermediate arrays and
 * strings of the plain form were a fifth of the REST server's allocation per order.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') {
    const s = JSON.stringify(v);
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out += ',';
      if (i in v) out += canonicalJson(v[i]); // a hole joins as nothing, as map + join did
    }
    return out + ']';
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  // Insertion sort (a handful of keys): string < compares UTF-16 code units, as sort() does.
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > k) { keys[j + 1] = keys[j]!; j--; }
    keys[j + 1] = k;
  }
  let out = '{';
  let first = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!, x = o[k];
    if (x === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += quotedName(k);
    out += ':';
    out += canonicalJson(x);
  }
  return out + '}';
}

/** JSON.stringify of a name from a small set (object keys, actions, outcomes), remembered. */
const quotedNames = new Map<string, string>();
function quotedName(s: string): string {
  let q = quotedNames.get(s);
  if (q === undefined) {
    q = JSON.stringify(s);
    if (s.length <= 64) {
      if (quotedNames.size >= 1024) quotedNames.clear();
      quotedNames.set(s, q);
    }
  }
  return q;
}

/** The canonical row (JSON.stringify builds it in one pass; measured: no more allocation than appending the pieces). */
function canonicalRow(r: Omit<AuditRow, 'prev_hash' | 'hash'>): string {
  return JSON.stringify([r.seq, r.ts_ms, r.actor, r.action, r.target, r.remote_addr, r.request_id, r.outcome, r.detail]);
}

/**
 * sha256(previous hash's 32 bytes || canonical row as UTF-8), hex. One-shot crypto.hash: a
 * createHash object per row left a weak handle per row for the scavenger to process (measured:
 * 2M createHash calls cost 530 ms of scavenge time, crypto.hash none; docs/benchmarks.md).
 */
export function chainHash(prevHashHex: string, canonical: string): string {
  const prev = Buffer.from(prevHashHex, 'hex');
  const body = Buffer.allocUnsafe(prev.length + Buffer.byteLength(canonical, 'utf8'));
  prev.copy(body, 0);
  body.write(canonical, prev.length, 'utf8');
  return hash('sha256', body, 'hex');
}

/** chainHash's bytes are assembled here when a row is appended (one buffer, grown when needed). */
let scratch = Buffer.alloc(4096);

/** chainHash for a 64-hex-digit previous hash, without a buffer per row (same bytes, same digest). */
function chainHashFast(prevHashHex: string, canonical: string): string {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  if (32 + 3 * canonical.length > scratch.length) scratch = Buffer.alloc(2 * (32 + 3 * canonical.length));
  if (prevHashHex.length !== 64 || scratch.write(prevHashHex, 0, 32, 'hex') !== 32) return chainHash(prevHashHex, canonical);
  const n = scratch.write(canonical, 32, 'utf8');
  return hash('sha256', scratch.subarray(0, 32 + n), 'hex');
}

interface Pending {
  e: AuditEntry;
  resolve: (r: AuditRecord) => void;
  reject: (err: Error) => void;
}

export class AuditLog {
  private pending: Pending[] = [];
  private flushScheduled = false;
  /** Transactions written by `appendGrouped` flushes and the rows they held (metrics, tests). */
  groupCommits = 0;
  groupRows = 0;

  /** One transaction for a flush's batch (made once). */
  private readonly writeBatch: (batch: Pending[]) => AuditRecord[];

  /** One transaction for packed rows (made once). */
  private readonly writePackedTx: (rows: PackedRows) => number;

  constructor(private readonly db: IdentityDb) {
    const tx = db.transaction((batch: Pending[]): AuditRecord[] => {
      const h = this.head();
      let seq = h?.seq ?? 0, prev = h?.hash ?? GENESIS_HASH;
      const recs: AuditRecord[] = [];
      for (let i = 0; i < batch.length; i++) {
        const r = this.insertRow(batch[i]!.e, seq, prev);
        seq = r.seq; prev = r.hash;
        recs.push(r);
      }
      return recs;
    });
    this.writeBatch = (batch) => tx.immediate(batch);
    const ptx = db.transaction((rows: PackedRows): number => {
      const h = this.head();
      const first = (h?.seq ?? 0) + 1;
      let seq = first - 1, prev = h?.hash ?? GENESIS_HASH;
      const insert = this.insert;
      for (let i = 0; i + PACKED_FIELDS <= rows.length; i += PACKED_FIELDS) {
        seq++;
        const tsMs = rows[i]!, actor = rows[i + 1]!, action = rows[i + 2]!, target = rows[i + 3]!, remoteAddr = rows[i + 4]!;
        const requestId = rows[i + 5]!, outcome = rows[i + 6]!, detail = rows[i + 7]!;
        const hash = chainHashFast(prev, JSON.stringify([seq, tsMs, actor, action, target, remoteAddr, requestId, outcome, detail]));
        insert.run(seq, tsMs, actor, action, target, remoteAddr, requestId, outcome, detail, prev, hash);
        prev = hash;
      }
      return first;
    });
    this.writePackedTx = (rows) => ptx.immediate(rows);
  }

  /**
   * Writes packed rows (packEntry's layout, checked when they were packed) in ONE immediate
   * transaction after the chain's current head, read inside it: any other writer of the same file
   * (another connection, the operator CLI) serializes with it on SQLite's write lock and the chain
   * stays one. Returns the first row's seq (the rest follow it). Throws and writes nothing on failure.
   */
  writePacked(rows: PackedRows): number {
    return this.writePackedTx(rows);
  }

  /** Appends one row (in its own immediate transaction, so concurrent writers serialize). */
  append(e: AuditEntry): AuditRecord {
    checkEntry(e);
    return this.db.transaction(() => {
      const h = this.head();
      return this.insertRow(e, h?.seq ?? 0, h?.hash ?? GENESIS_HASH);
    }).immediate();
  }

  /**
   * Group commit: queues the row and resolves once it is committed. Every row queued during one
   * turn of the event loop goes into ONE immediate transaction (setImmediate), chained in queue
   * order, instead of one transaction (one WAL commit) per row. A caller that answers only after the
   * promise settles never reports success for an action whose audit row is not written. If the
   * transaction fails, every row of it is rejected (none was written).
   */
  appendGrouped(e: AuditEntry): Promise<AuditRecord> {
    try {
      checkEntry(e);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise<AuditRecord>((resolve, reject) => {
      this.pending.push({ e, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Writes every queued row now (one transaction); normally run by the scheduled flush. */
  flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    let out: AuditRecord[];
    try {
      out = this.writeBatch(batch);
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
      return;
    }
    this.groupCommits++;
    this.groupRows += batch.length;
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(out[i]!);
  }

  /** Writes the row after (lastSeq, prevHash); the canonical row is canonicalRow's (verifyAuditChain), without the row object. */
  private insertRow(e: AuditEntry, lastSeq: number, prevHash: string): AuditRecord {
    const seq = lastSeq + 1;
    const target = e.target ?? null, remoteAddr = e.remoteAddr ?? null, requestId = e.requestId ?? null;
    const detail = canonicalJson(e.detail ?? {});
    const hash = chainHashFast(prevHash, JSON.stringify([seq, e.tsMs, e.actor, e.action, target, remoteAddr, requestId, e.outcome, detail]));
    // Positional parameters: better-sqlite3 binds them without walking an object's keys.
    this.insert.run(seq, e.tsMs, e.actor, e.action, target, remoteAddr, requestId, e.outcome, detail, prevHash, hash);
    // Object.assign rather than spread: the same own fields, but spreading into a literal with more
    // fields made a dictionary-mode object here (~1.5 KB per row instead of ~0.3 KB).
    const r = Object.assign({}, e) as { -readonly [K in keyof AuditRecord]: AuditRecord[K] };
    r.seq = seq; r.prevHash = prevHash; r.hash = hash;
    return r;
  }

  private get insert(): ReturnType<typeof prepared> {
    return prepared(this.db, INSERT_AUDIT_ROW);
  }

  head(): AuditHead | null {
    const r = prepared(this.db, 'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as AuditHead | undefined;
    return r ?? null;
  }

  /** Rows with seq > afterSeq, oldest first, at most `limit`. */
  list(afterSeq = 0, limit = 100): AuditRecord[] {
    const rows = prepared(this.db, 'SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit) as AuditRow[];
    return rows.map((r) => ({
      seq: r.seq, tsMs: r.ts_ms, actor: r.actor, action: r.action, outcome: r.outcome as AuditOutcome,
      ...(r.target !== null ? { target: r.target } : {}),
      ...(r.remote_addr !== null ? { remoteAddr: r.remote_addr } : {}),
      ...(r.request_id !== null ? { requestId: r.request_id } : {}),
      detail: JSON.parse(r.detail) as Record<string, unknown>,
      prevHash: r.prev_hash, hash: r.hash,
    }));
  }

  verify(expectedHead?: AuditHead): AuditVerifyResult {
    return verifyAuditChain(this.db, expectedHead);
  }
}

/**
 * Walks the whole chain in seq order. `expectedHead` (recorded earlier, elsewhere) must still be on
 * the chain: at that seq with that hash. Without it a truncated tail goes unnoticed.
 */
export function verifyAuditChain(db: IdentityDb, expectedHead?: AuditHead): AuditVerifyResult {
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let headSeen = false;
  const stmt = db.prepare('SELECT * FROM audit_log ORDER BY seq');
  for (const raw of stmt.iterate()) {
    const r = raw as AuditRow;
    const rows = expectedSeq - 1;
    if (r.seq !== expectedSeq) {
      return { ok: false, rows, seq: r.seq, problem: 'seq_gap', message: `expected seq ${expectedSeq}, found ${r.seq}: rows deleted or reordered` };
    }
    if (r.prev_hash !== prev) {
      return { ok: false, rows, seq: r.seq, problem: 'prev_hash_mismatch', message: `row ${r.seq} does not link to row ${r.seq - 1}` };
    }
    const h = chainHash(prev, canonicalRow(r));
    if (h !== r.hash) {
      return { ok: false, rows, seq: r.seq, problem: 'hash_mismatch', message: `row ${r.seq} was altered` };
    }
    if (expectedHead && r.seq === expectedHead.seq) {
      if (r.hash !== expectedHead.hash) {
        return { ok: false, rows, seq: r.seq, problem: 'head_mismatch', message: `row ${r.seq} differs from the recorded head` };
      }
      headSeen = true;
    }
    prev = r.hash;
    expectedSeq++;
  }
  const rows = expectedSeq - 1;
  if (expectedHead && !headSeen) {
    return { ok: false, rows, seq: expectedHead.seq, problem: 'head_mismatch', message: `recorded head ${expectedHead.seq} is missing: the log was truncated` };
  }
  return { ok: true, rows, head: rows === 0 ? null : { seq: rows, hash: prev } };
}
