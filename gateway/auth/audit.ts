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

function checkEntry(e: AuditEntry): void {
  if (!(AUDIT_OUTCOMES as readonly string[]).includes(e.outcome)) throw new TypeError(`bad audit outcome ${e.outcome}`);
}

/** JSON with object keys sorted at every level (arrays keep their order). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') {
    const s = JSON.stringify(v);
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

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

  constructor(private readonly db: IdentityDb) {}

  /** Appends one row (in its own immediate transaction, so concurrent writers serialize). */
  append(e: AuditEntry): AuditRecord {
    checkEntry(e);
    return this.db.transaction(() => this.insertRow(e, this.head())).immediate();
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
      out = this.db.transaction(() => {
        let last = this.head();
        const recs: AuditRecord[] = [];
        for (const p of batch) {
          const r = this.insertRow(p.e, last);
          last = { seq: r.seq, hash: r.hash };
          recs.push(r);
        }
        return recs;
      }).immediate();
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
      return;
    }
    this.groupCommits++;
    this.groupRows += batch.length;
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(out[i]!);
  }

  private insertRow(e: AuditEntry, last: AuditHead | null): AuditRecord {
    const row = {
      seq: (last?.seq ?? 0) + 1,
      ts_ms: e.tsMs,
      actor: e.actor,
      action: e.action,
      target: e.target ?? null,
      remote_addr: e.remoteAddr ?? null,
      request_id: e.requestId ?? null,
      outcome: e.outcome,
      detail: canonicalJson(e.detail ?? {}),
    };
    const prevHash = last?.hash ?? GENESIS_HASH;
    const hash = chainHash(prevHash, canonicalRow(row));
    // Positional parameters: better-sqlite3 binds them without walking an object's keys.
    prepared(this.db, INSERT_AUDIT_ROW).run(row.seq, row.ts_ms, row.actor, row.action, row.target, row.remote_addr, row.request_id, row.outcome,
      row.detail, prevHash, hash);
    return { ...e, seq: row.seq, prevHash, hash };
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
