import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuditLog, GENESIS_HASH, canonicalJson, chainHash, verifyAuditChain } from './audit.js';
import { T0_MS, openTestIdentity, type TestIdentity } from './fixtures.js';

describe('audit trail (hash chain)', () => {
  let id: TestIdentity;
  let log: AuditLog;

  beforeEach(() => {
    id = openTestIdentity();
    // The synchronous writer (the CLI's and the writer thread's); id.audit, the process's writer, is
    // tested in audit-worker.test.ts.
    log = new AuditLog(id.db);
    for (let i = 1; i <= 5; i++) {
      log.append({ tsMs: T0_MS + i, actor: `user:${i}`, action: 'order.place', target: `account:${i}`, remoteAddr: '192.0.2.1', requestId: `r${i}`, outcome: 'success', detail: { qty: i, b: [1, { z: 1, a: 2 }] } });
    }
  });
  afterEach(() => id.dispose());

  /** Lets the test act as an attacker with write access to the file. */
  function dropGuards(): void {
    id.db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
  }

  it('group commit: rows queued in one turn share one transaction, chain in queue order, and interleave with direct appends', async () => {
    const entry = (i: number) => ({ tsMs: T0_MS + 100 + i, actor: 'user:9', action: 'order.place', requestId: `g${i}`, outcome: 'success' as const, detail: { i } });
    const first = Array.from({ length: 20 }, (_, i) => log.appendGrouped(entry(i)));
    assert.equal(log.list(5).length, 0, 'nothing written before the flush');
    const bad = log.appendGrouped({ ...entry(99), outcome: 'maybe' as never });
    await assert.rejects(bad, TypeError);
    const recs = await Promise.all(first);
    assert.deepEqual(recs.map((r) => r.seq), Array.from({ length: 20 }, (_, i) => 6 + i));
    assert.equal(log.groupCommits, 1, 'one transaction for the 20 rows');
    assert.equal(log.groupRows, 20);
    log.append(entry(50)); // a direct append between two flushes continues the same chain
    const second = await Promise.all([log.appendGrouped(entry(51)), log.appendGrouped(entry(52))]);
    assert.deepEqual(second.map((r) => r.seq), [27, 28]);
    assert.equal(log.groupCommits, 2);
    const v = log.verify();
    assert.ok(v.ok);
    assert.equal(v.rows, 28);
    assert.deepEqual(log.list(5, 100).map((r) => r.requestId), [...Array.from({ length: 20 }, (_, i) => `g${i}`), 'g50', 'g51', 'g52']);
  });

  it('group commit: a failed transaction rejects every row of it and writes none', async () => {
    id.db.exec('CREATE TRIGGER audit_fail BEFORE INSERT ON audit_log WHEN NEW.request_id = \'boom\' BEGIN SELECT RAISE(ABORT, \'refused\'); END;');
    const ps = [log.appendGrouped({ tsMs: T0_MS, actor: 'user:1', action: 'x', requestId: 'ok', outcome: 'success' }),
      log.appendGrouped({ tsMs: T0_MS, actor: 'user:1', action: 'x', requestId: 'boom', outcome: 'success' })];
    const settled = await Promise.allSettled(ps);
    assert.deepEqual(settled.map((r) => r.status), ['rejected', 'rejected']);
    assert.equal(log.list(0, 100).length, 5, 'the row queued with the failing one was rolled back too');
    assert.ok(log.verify().ok);
  });

  it('an untouched chain verifies; each row links to the previous', () => {
    const r = log.verify();
    assert.ok(r.ok);
    assert.equal(r.rows, 5);
    const rows = log.list();
    assert.equal(rows[0]!.prevHash, GENESIS_HASH);
    for (let i = 1; i < rows.length; i++) assert.equal(rows[i]!.prevHash, rows[i - 1]!.hash);
    assert.deepEqual(r.head, { seq: 5, hash: rows[4]!.hash });
    assert.deepEqual(rows[0]!.detail, { b: [1, { a: 2, z: 1 }], qty: 1 });
  });

  it('the hash is SHA-256(prev hash bytes || canonical row) as documented', () => {
    const row = id.db.prepare('SELECT * FROM audit_log WHERE seq = 1').get() as Record<string, unknown>;
    assert.equal(row['detail'], '{"b":[1,{"a":2,"z":1}],"qty":1}');
    const canonical = JSON.stringify([1, T0_MS + 1, 'user:1', 'order.place', 'account:1', '192.0.2.1', 'r1', 'success', row['detail']]);
    assert.equal(row['hash'], chainHash(GENESIS_HASH, canonical));
  });

  it('the table refuses UPDATE and DELETE', () => {
    assert.throws(() => id.db.prepare("UPDATE audit_log SET outcome = 'failure' WHERE seq = 2").run(), /append-only/);
    assert.throws(() => id.db.prepare('DELETE FROM audit_log WHERE seq = 2').run(), /append-only/);
  });

  it('detects an edited row', () => {
    dropGuards();
    id.db.prepare("UPDATE audit_log SET outcome = 'denied' WHERE seq = 3").run();
    const r = verifyAuditChain(id.db);
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && [r.seq, r.problem, r.rows], [3, 'hash_mismatch', 2]);
  });

  it('detects an edit whose own hash was recomputed (the next row no longer links)', () => {
    dropGuards();
    const row = id.db.prepare('SELECT * FROM audit_log WHERE seq = 3').get() as Record<string, string | number | null>;
    const canonical = JSON.stringify([3, row['ts_ms'], 'user:666', row['action'], row['target'], row['remote_addr'], row['request_id'], row['outcome'], row['detail']]);
    id.db.prepare('UPDATE audit_log SET actor = ?, hash = ? WHERE seq = 3').run('user:666', chainHash(row['prev_hash'] as string, canonical));
    const r = verifyAuditChain(id.db);
    assert.deepEqual(!r.ok && [r.seq, r.problem], [4, 'prev_hash_mismatch']);
  });

  it('detects a deleted row', () => {
    dropGuards();
    id.db.prepare('DELETE FROM audit_log WHERE seq = 2').run();
    const r = verifyAuditChain(id.db);
    assert.deepEqual(!r.ok && [r.seq, r.problem], [3, 'seq_gap']);
  });

  it('detects a deleted row even when the later rows were renumbered', () => {
    dropGuards();
    id.db.exec('DELETE FROM audit_log WHERE seq = 2; UPDATE audit_log SET seq = seq - 1 WHERE seq > 2;');
    const r = verifyAuditChain(id.db);
    assert.deepEqual(!r.ok && [r.seq, r.problem], [2, 'prev_hash_mismatch']);
  });

  it('detects reordered rows (two rows swapped)', () => {
    dropGuards();
    id.db.exec('UPDATE audit_log SET seq = 100 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = 100;');
    const r = verifyAuditChain(id.db);
    assert.deepEqual(!r.ok && [r.seq, r.problem], [2, 'prev_hash_mismatch']);
  });

  it('detects swapped contents that keep the seq column in place', () => {
    dropGuards();
    const cols = 'ts_ms, actor, action, target, remote_addr, request_id, outcome, detail, prev_hash, hash';
    const a = id.db.prepare(`SELECT ${cols} FROM audit_log WHERE seq = 2`).get() as Record<string, unknown>;
    const b = id.db.prepare(`SELECT ${cols} FROM audit_log WHERE seq = 3`).get() as Record<string, unknown>;
    const set = id.db.prepare(`UPDATE audit_log SET ${cols.split(', ').map((c) => `${c} = @${c}`).join(', ')} WHERE seq = @seq`);
    set.run({ ...b, seq: 2 });
    set.run({ ...a, seq: 3 });
    assert.equal(verifyAuditChain(id.db).ok, false);
  });

  it('a truncated tail is caught only against a recorded head', () => {
    const head = log.head()!;
    dropGuards();
    id.db.prepare('DELETE FROM audit_log WHERE seq = 5').run();
    assert.equal(verifyAuditChain(id.db).ok, true, 'a shorter chain is still a valid chain');
    const r = verifyAuditChain(id.db, head);
    assert.deepEqual(!r.ok && [r.seq, r.problem], [5, 'head_mismatch']);
  });

  it('a recorded head that was rewritten is caught', () => {
    const head = { seq: 3, hash: 'f'.repeat(64) };
    const r = verifyAuditChain(id.db, head);
    assert.deepEqual(!r.ok && r.problem, 'head_mismatch');
    assert.equal(verifyAuditChain(id.db, log.list()[2]!).ok, true);
  });

  it('appends continue the chain after a reopen', () => {
    const again = new AuditLog(id.db);
    again.append({ tsMs: T0_MS, actor: 'operator:x', action: 'user.create', outcome: 'success' });
    const r = again.verify();
    assert.ok(r.ok);
    assert.equal(r.rows, 6);
    assert.throws(() => again.append({ tsMs: T0_MS, actor: 'a', action: 'b', outcome: 'maybe' as never }), TypeError);
  });

  it('canonicalJson sorts keys at every depth and drops undefined', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { y: 1, x: 2 }], c: undefined } }), '{"a":{"d":[3,{"x":2,"y":1}]},"b":1}');
    assert.equal(canonicalJson(undefined), 'null');
    assert.equal(canonicalJson('x"y'), '"x\\"y"');
  });
});

it('chainHash is sha256(previous hash bytes || canonical row UTF-8): rows written before the one-shot hash still verify', () => {
  const prev = createHash('sha256').update('x').digest('hex');
  for (const canonical of ['[1,2,"a"]', '["ünïcödé ✓ 日本", null]', '', 'x'.repeat(10_000)]) {
    const expect = createHash('sha256').update(Buffer.from(prev, 'hex')).update(canonical, 'utf8').digest('hex');
    assert.equal(chainHash(prev, canonical), expect);
  }
  assert.equal(chainHash(GENESIS_HASH, '[]'), createHash('sha256').update(Buffer.from(GENESIS_HASH, 'hex')).update('[]', 'utf8').digest('hex'));
});

/** canonicalJson as it was first written (map, filter, sort, join): the appending one must give the same text. */
function referenceCanonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') {
    const s = JSON.stringify(v);
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(v)) return `[${v.map(referenceCanonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${referenceCanonicalJson(o[k])}`).join(',')}}`;
}

it('canonicalJson built by appending equals the plain map/filter/sort/join form (random values, odd keys and strings)', () => {
  let seed = 12345;
  const rnd = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
  const strs = ['', 'a', 'B', 'é', 'ünï', '日本', '\u2028', '"q"', 'back\\slash', 'line\nbreak', '\u0000', '\ud800', '10', '9', '__proto__x', 'order.place', 'x'.repeat(300)];
  const value = (depth: number): unknown => {
    switch (rnd(depth > 2 ? 6 : 9)) {
      case 0: return null;
      case 1: return rnd(2) === 0;
      case 2: return [0, -0, 1.5, -3, 1e21, 2 ** 53, NaN, Infinity][rnd(8)];
      case 3: return strs[rnd(strs.length)];
      case 4: return undefined;
      case 5: return rnd(1e9);
      case 6: { const a: unknown[] = []; for (let i = rnd(4); i > 0; i--) a.push(value(depth + 1)); if (rnd(5) === 0) a[a.length + 1] = 1; return a; }
      default: { const o: Record<string, unknown> = {}; for (let i = rnd(6); i > 0; i--) o[strs[rnd(strs.length)]!] = value(depth + 1); return o; }
    }
  };
  for (let i = 0; i < 3000; i++) {
    const v = value(0);
    assert.equal(canonicalJson(v), referenceCanonicalJson(v), JSON.stringify(v));
  }
});

it('rows appended one by one, in groups and by the writer thread hash exactly as verifyAuditChain recomputes them (unicode and long details)', async () => {
  const id = openTestIdentity({ auditThread: true });
  try {
    const log = new AuditLog(id.db);
    const details = [{}, { note: 'ünïcödé ✓ 日本' }, { long: 'y'.repeat(5000) }, { q: '"\\', n: [1, null, { b: 2, a: 1 }] }];
    for (let i = 0; i < 8; i++) log.append({ tsMs: T0_MS + i, actor: `user:${i % 2}`, action: 'order.place', outcome: 'success', detail: details[i % 4]! });
    await Promise.all(Array.from({ length: 6 }, (_, i) => log.appendGrouped({ tsMs: T0_MS + 50 + i, actor: 'user:1', action: 'order.cancel', target: `order:${i}`, remoteAddr: '192.0.2.7', requestId: `q${i}`, outcome: 'failure', detail: details[i % 4]! })));
    // ... and through the process's writer thread (gateway/auth/audit-worker.ts), which packs the row
    // on this thread and hashes and inserts it on its own.
    assert.ok(id.audit.threaded);
    await Promise.all(Array.from({ length: 6 }, (_, i) => id.audit.append({ tsMs: T0_MS + 60 + i, actor: 'user:1', action: 'order.cancel', target: `order:${i}`, remoteAddr: '192.0.2.7', requestId: `w${i}`, outcome: 'failure', detail: details[(i + 1) % 4]! })));
    const v = log.verify();
    assert.ok(v.ok, JSON.stringify(v));
    assert.equal(v.rows, 20);
    const rows = id.db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as Record<string, string | number | null>[];
    let prev = GENESIS_HASH;
    for (const r of rows) {
      const canonical = JSON.stringify([r['seq'], r['ts_ms'], r['actor'], r['action'], r['target'], r['remote_addr'], r['request_id'], r['outcome'], r['detail']]);
      assert.equal(r['hash'], createHash('sha256').update(Buffer.from(prev, 'hex')).update(canonical, 'utf8').digest('hex'));
      prev = r['hash'] as string;
    }
  } finally {
    id.dispose();
  }
});
