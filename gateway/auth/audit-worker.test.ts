import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AuditLog, GENESIS_HASH, canonicalJson, packEntryText, unpackEntryText, verifyAuditChain, type AuditEntry, type PackedRows } from './audit.js';
import { AuditWriter } from './audit-worker.js';
import { identityDbPath, openIdentityDb, type IdentityDb } from './db.js';
import { addUser, openTestIdentity, T0_MS, tempDir, type TestIdentity } from './fixtures.js';
import { openIdentity } from './identity.js';
import { rmSync } from 'node:fs';

const entry = (i: number, extra: Partial<AuditEntry> = {}): AuditEntry => ({
  tsMs: T0_MS + i, actor: `user:${i % 3}`, action: 'order.place', target: `account:${i}`, remoteAddr: '192.0.2.9', requestId: `w${i}`,
  outcome: 'success', detail: { i, note: i % 5 === 0 ? 'ünïcödé ✓ 日本 "q" \\ \n' : 'x', nested: { b: 1, a: [i, null] } }, ...extra,
});

/** Recomputes every row's hash with a plain createHash (independent of audit.ts) and checks the seqs. */
function checkRows(db: IdentityDb): number {
  const rows = db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as Record<string, string | number | null>[];
  let prev = GENESIS_HASH;
  rows.forEach((r, i) => {
    assert.equal(r['seq'], i + 1, 'gap-free seq');
    assert.equal(r['prev_hash'], prev);
    const canonical = JSON.stringify([r['seq'], r['ts_ms'], r['actor'], r['action'], r['target'], r['remote_addr'], r['request_id'], r['outcome'], r['detail']]);
    assert.equal(r['hash'], createHash('sha256').update(Buffer.from(prev, 'hex')).update(canonical, 'utf8').digest('hex'));
    prev = r['hash'] as string;
  });
  return rows.length;
}

describe('audit writer thread', () => {
  let id: TestIdentity;
  beforeEach(() => { id = openTestIdentity({ auditThread: true }); });
  afterEach(() => id.dispose());

  it('is the identity\'s writer: rows of many turns commit in order, in fewer transactions, and verify', async () => {
    const w = id.audit;
    assert.ok(w.threaded);
    const seqs: number[] = [];
    const later: Promise<number[]>[] = [];
    for (let turn = 0; turn < 20; turn++) {
      const ps = Array.from({ length: 25 }, (_, k) => w.append(entry(turn * 25 + k)));
      if (turn % 2 === 0) seqs.push(...await Promise.all(ps)); // some turns wait, others pile up
      else later.push(Promise.all(ps));
    }
    assert.equal(await w.append(entry(999)), 501);
    for (const s of await Promise.all(later)) seqs.push(...s);
    assert.deepEqual([...seqs].sort((a, b) => a - b), Array.from({ length: 500 }, (_, i) => i + 1));
    assert.equal(w.rows, 501);
    assert.ok(w.commits >= 1 && w.commits < 501, `${w.commits} transactions`);
    assert.equal(checkRows(id.db), 501);
    const v = w.verify();
    assert.ok(v.ok && v.rows === 501);
    assert.deepEqual(w.list(0, 3).map((r) => r.requestId), ['w0', 'w1', 'w2']);
    assert.deepEqual(w.list(4, 1)[0]!.detail, { i: 4, nested: { a: [4, null], b: 1 }, note: 'x' });
  });

  it('a bad entry is a TypeError and writes nothing; the writer stays up', async () => {
    const w = id.audit;
    await assert.rejects(w.append({ ...entry(1), outcome: 'maybe' as never }), TypeError);
    await assert.rejects(w.append({ ...entry(2), actor: undefined as never }), TypeError);
    await assert.rejects(w.append({ ...entry(3), target: 7 as never }), TypeError);
    await assert.rejects(w.append({ ...entry(4), tsMs: Number.NaN }), TypeError);
    await assert.rejects(w.append({ ...entry(5), detail: { n: 1n } as never }), TypeError);
    assert.equal(w.failure, null);
    assert.equal(await w.append(entry(6)), 1);
    assert.equal(w.list().length, 1);
  });

  it('shares the chain with another writer of the same file (the operator CLI, a second connection) without gaps or SQLITE_BUSY', async () => {
    const other = openIdentityDb(identityDbPath(id.dataDir));
    try {
      const cli = new AuditLog(other);
      const ps: Promise<number>[] = [];
      for (let i = 0; i < 200; i++) {
        ps.push(id.audit.append(entry(i)));
        if (i % 10 === 0) {
          cli.append(entry(10_000 + i, { actor: 'operator:x', remoteAddr: 'local' })); // waits for the writer's lock
          id.store.createAccount({ userId: await addUser(id, `u${i}@example.com`, ['trader'], []), id: 100 + i }, T0_MS); // main-thread identity writes
        }
        if (i % 7 === 0) await new Promise((r) => setImmediate(r));
      }
      await Promise.all(ps);
      assert.equal(checkRows(id.db), 220);
      assert.ok(verifyAuditChain(id.db).ok);
      assert.equal(id.audit.failure, null);
    } finally {
      other.close();
    }
  });

  it('continues a chain written before it (an existing data dir), and a reopened identity continues its chain', async () => {
    const log = new AuditLog(id.db);
    for (let i = 0; i < 5; i++) log.append(entry(i)); // the former synchronous path
    const seqs = await Promise.all([id.audit.append(entry(5)), id.audit.append(entry(6))]);
    assert.deepEqual(seqs, [6, 7]);
    const dir = id.dataDir;
    id.close();
    await id.audit.whenClosed();
    const again = openIdentity({ dataDir: dir, env: {}, auditThread: true, masterKey: Buffer.alloc(32, 7), jwtKey: { alg: 'HS256', secret: Buffer.alloc(32, 9) } });
    try {
      assert.equal(await again.audit.append(entry(7)), 8);
      assert.ok(again.audit.verify().ok);
      assert.equal(checkRows(again.db), 8);
    } finally {
      again.close();
      await again.audit.whenClosed();
    }
  });

  it('close writes what was queued before it, then the thread exits', async () => {
    const ps = Array.from({ length: 30 }, (_, i) => id.audit.append(entry(i)));
    id.audit.close();
    await assert.rejects(id.audit.append(entry(99)), /closed/);
    assert.equal((await Promise.all(ps)).length, 30);
    await id.audit.whenClosed();
    assert.equal(id.audit.failure, null);
    assert.equal(checkRows(id.db), 30);
  });

  it('fails closed when a transaction fails: its rows and every later one are rejected, nothing more is written', async () => {
    const w = id.audit;
    const failures: Error[] = [];
    w.onFailure((e) => failures.push(e));
    assert.equal(await w.append(entry(0)), 1);
    id.db.exec("CREATE TRIGGER audit_fail BEFORE INSERT ON audit_log WHEN NEW.request_id = 'boom' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;");
    // The failing row first: a polling writer may take rows of a turn in more than one transaction.
    const ps = [w.append(entry(2, { requestId: 'boom' })), w.append(entry(1)), w.append(entry(3))];
    const settled = await Promise.allSettled(ps);
    assert.deepEqual(settled.map((s) => s.status), ['rejected', 'rejected', 'rejected']);
    assert.match(String((settled[0] as PromiseRejectedResult).reason), /disk on fire/);
    assert.ok(w.failure !== null);
    assert.equal(failures.length, 1);
    id.db.exec('DROP TRIGGER audit_fail');
    await assert.rejects(w.append(entry(4)), /disk on fire/, 'no restart: later rows are refused at once');
    assert.equal(w.failedRows, 4);
    assert.equal(checkRows(id.db), 1, 'the failed transaction wrote nothing, and nothing after it was written');
    assert.ok(w.verify().ok);
  });

  it('fails closed when the thread dies: rows in flight are rejected', async () => {
    const w = id.audit;
    assert.equal(await w.append(entry(0)), 1);
    const p = w.append(entry(1));
    await w.killThreadForTest();
    await assert.rejects(p, /exited/);
    assert.match(w.failure?.message ?? '', /exited/);
    await assert.rejects(w.append(entry(2)));
    assert.ok(checkRows(id.db) <= 2);
    assert.ok(w.verify().ok);
  });
});

it('a small ring wraps and queues rows that do not fit, in order', async () => {
  const dir = tempDir();
  const db = openIdentityDb(identityDbPath(dir));
  const w = new AuditWriter(db, { file: identityDbPath(dir), ringBytes: 8192 });
  try {
    const big = 'y'.repeat(150);
    const all: Promise<number>[] = [];
    for (let turn = 0; turn < 6; turn++) {
      for (let i = 0; i < 40; i++) all.push(w.append(entry(turn * 40 + i, { detail: { big, i } })));
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(await Promise.all(all), Array.from({ length: 240 }, (_, i) => i + 1));
    assert.equal(checkRows(db), 240);
    assert.deepEqual(w.list(0, 240).map((r) => r.requestId), Array.from({ length: 240 }, (_, i) => `w${i}`));
    await assert.rejects(w.append(entry(1, { detail: { big: 'z'.repeat(1000) } })), /too large/);
    assert.equal(w.failure, null);
  } finally {
    w.close();
    await w.whenClosed();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

it('without a thread (thread: false) the same appends are written at the end of the turn', async () => {
  const id = openTestIdentity({ auditThread: false });
  try {
    assert.equal(id.audit.threaded, false);
    assert.equal(openTestIdentityDefaultThreaded(), false, 'the default without ENGINE_AUDIT_THREAD=1');
    const seqs = await Promise.all(Array.from({ length: 10 }, (_, i) => id.audit.append(entry(i))));
    assert.deepEqual(seqs, Array.from({ length: 10 }, (_, i) => i + 1));
    assert.equal(id.audit.commits, 1, 'one transaction for the turn');
    assert.equal(checkRows(id.db), 10);
  } finally {
    id.dispose();
  }
});

function openTestIdentityDefaultThreaded(): boolean {
  const saved = process.env['ENGINE_AUDIT_THREAD'];
  delete process.env['ENGINE_AUDIT_THREAD'];
  const id = openTestIdentity();
  try {
    return id.audit.threaded;
  } finally {
    id.dispose();
    if (saved !== undefined) process.env['ENGINE_AUDIT_THREAD'] = saved;
  }
}

it('packEntryText / unpackEntryText give back exactly the packed fields (newlines, quotes, lone surrogates)', () => {
  for (const e of [entry(5), entry(1, { target: 'a\nb', requestId: undefined, detail: { '\n': '\ud800"\\' } }), { tsMs: 1.5, actor: 'x', action: 'y', outcome: 'denied' as const }]) {
    const out: PackedRows = [];
    unpackEntryText(packEntryText(e), out);
    assert.deepEqual(out.slice(0, 7), [e.tsMs, e.actor, e.action, e.target ?? null, e.remoteAddr ?? null, e.requestId ?? null, e.outcome]);
    assert.equal(out[7], canonicalJson(e.detail ?? {}));
  }
});
