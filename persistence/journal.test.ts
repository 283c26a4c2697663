import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JOURNAL_PAGE_SIZE, Journal, JournalError, lastSeq, latestSnapshot, readJournal, readJournalChunks, writeSnapshot, type JournalOptions } from './journal.js';
import Database from 'better-sqlite3';
import { threadNice } from './thread-priority.js';
import { diffTestRecord, fillTestRecord, testKind } from './journal-test-records.js';

const dir = mkdtempSync(join(tmpdir(), 'journal-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const freshPath = (): string => join(dir, `j${++fileNo}.sqlite`);

/** Append seqs from..to (inclusive), yielding to the event loop whenever the ring is full. */
async function appendRange(j: Journal, from: number, to: number): Promise<void> {
  const rec = new Float64Array(j.ring.recordWords);
  for (let seq = from; seq <= to; seq++) {
    fillTestRecord(rec, seq);
    while (!j.tryAppend(rec)) await new Promise((r) => setImmediate(r));
  }
}

function verifyPrefix(path: string, expectedLast: number): void {
  let want = 1;
  for (const r of readJournal(path, 0)) {
    assert.equal(r.seq, want, 'gap-free, in order');
    assert.equal(r.kind, testKind(r.seq));
    const bad = diffTestRecord(r.words, r.seq);
    if (bad >= 0) assert.fail(`record ${r.seq} word ${bad} differs`);
    want++;
  }
  assert.equal(want - 1, expectedLast);
}

async function roundTrip(opts: Partial<JournalOptions>, n: number): Promise<void> {
  const path = freshPath();
  const j = await Journal.open({ path, ...opts });
  assert.equal(j.recoveredSeq, 0);
  assert.equal(j.durableSeq(), 0);
  await appendRange(j, 1, n);
  await j.waitDurable(n);
  assert.equal(j.durableSeq(), n, 'the watermark reaches the last seq');
  const stats = await j.close();
  assert.equal(stats.records, n);
  assert.equal(stats.durableSeq, n);
  assert.ok(stats.commits >= 1 && stats.commits <= n);
  assert.equal(stats.batchRecords.reduce((a, b) => a + b, 0), n);
  assert.equal(lastSeq(path), n);
  verifyPrefix(path, n);
}

test('writes N records through the thread and reads them back identical and in order (normal)', { timeout: 30_000 }, async () => {
  await roundTrip({ durability: 'normal' }, 50_000);
});

test('full and none durability modes journal every record too', { timeout: 30_000 }, async () => {
  await roundTrip({ durability: 'full', maxBatchRecords: 500 }, 5_000);
  await roundTrip({ durability: 'none', recordBytes: 64, ringCapacity: 256 }, 5_000);
});

test('group commit respects maxBatchRecords; the listener sees a rising watermark', { timeout: 30_000 }, async () => {
  const path = freshPath();
  const j = await Journal.open({ path, maxBatchRecords: 10, lingerUs: 200 });
  const seen: number[] = [];
  j.setDurableListener((s) => seen.push(s));
  await appendRange(j, 1, 2_000);
  await j.waitDurable(2_000);
  j.checkDurable();
  assert.equal(j.ring.notifyCount, 0, 'a lingering journal thread naps unannounced: no publish ever notifies it');
  const stats = await j.close();
  assert.ok(stats.batchRecords.every((b) => b >= 1 && b <= 10), 'every batch holds 1..10 records');
  assert.ok(stats.commits >= 200);
  assert.ok(seen.length >= 1);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, 'strictly rising');
  assert.equal(seen[seen.length - 1], 2_000);
  verifyPrefix(path, 2_000);
});

test('commit pacing: a transaction starts commitGapUs after the previous COMMIT ended at the earliest; out-of-range gaps are refused', { timeout: 30_000 }, async () => {
  for (const bad of [-1, 10_001, Number.NaN]) {
    await assert.rejects(Journal.open({ path: freshPath(), commitGapUs: bad }), (e: unknown) => e instanceof JournalError && e.code === 'bad-options');
  }
  const path = freshPath();
  const j = await Journal.open({ path, commitGapUs: 10_000 });
  // 200 single-record publishes spread over a while: unpaced, the thread (woken by each publish)
  // commits about once per publish; paced, at most once per 10 ms of elapsed time, plus the first.
  const t0 = performance.now();
  for (let seq = 1; seq <= 200; seq++) {
    await appendRange(j, seq, seq);
    await new Promise((r) => setTimeout(r, 0.2));
  }
  await j.waitDurable(200);
  const elapsedMs = performance.now() - t0;
  const stats = await j.close();
  assert.ok(stats.commits <= 1 + Math.floor(elapsedMs / 10), `${stats.commits} commits in ${elapsedMs.toFixed(0)} ms`);
  verifyPrefix(path, 200);
});

test('the checkpoint thread runs at a lower priority; the journal thread keeps priority 0 unless asked', { skip: process.platform !== 'linux' && 'per-thread nice is Linux only' }, async () => {
  const none = await Journal.open({ path: freshPath(), durability: 'none', threadNice: 10 });
  const normal = await Journal.open({ path: freshPath(), durability: 'normal' });
  // The checkpoint thread reports its id once it runs (asynchronously, after open).
  for (let waited = 0; (none.threads.checkpointerTid < 0 || normal.threads.checkpointerTid < 0) && waited < 10_000; waited += 20) {
    await new Promise((r) => setTimeout(r, 20));
  }
  try {
    assert.equal(none.threads.journalNice, 10);
    assert.equal(threadNice(none.threads.journalTid), 10, 'as the kernel sees it');
    assert.equal(normal.threads.journalNice, 0, 'default: unchanged');
    assert.equal(threadNice(normal.threads.journalTid), 0);
    for (const j of [none, normal]) {
      assert.equal(j.threads.checkpointerNice, 10);
      assert.equal(threadNice(j.threads.checkpointerTid), 10);
    }
    assert.equal(threadNice(process.pid), 0, 'the main thread keeps its priority');
  } finally {
    await none.close();
    await normal.close();
  }
  await assert.rejects(Journal.open({ path: freshPath(), threadNice: 20 }), JournalError);
});

test('readJournalChunks yields exactly the records readJournal does, in order, whole chunks after the start seq', { timeout: 30_000 }, async () => {
  const path = freshPath();
  const j = await Journal.open({ path, maxBatchRecords: 300 });
  await appendRange(j, 1, 5_000);
  await j.waitDurable(5_000);
  await j.close();
  for (const from of [0, 1, 777, 4_999, 5_000]) {
    const want = [...readJournal(path, from)];
    let k = 0;
    let skipped = 0;
    for (const c of readJournalChunks(path, from)) {
      assert.equal(c.words.length >= c.n * c.recordWords, true);
      for (let r = 0; r < c.n; r++) {
        const o = r * c.recordWords;
        const seq = c.words[o + c.seqWord]!;
        if (seq <= from) { skipped++; continue; }
        const rec = want[k++]!;
        assert.equal(seq, rec.seq);
        assert.equal(c.words[o + c.kindWord], rec.kind);
        assert.deepEqual(Array.from(c.words.subarray(o, o + c.recordWords)), Array.from(rec.words));
      }
    }
    assert.equal(k, want.length, `from ${from}: every record once`);
    assert.ok(skipped < 300, 'only the first chunk may start before the seq (chunks never span a 300-record batch)');
  }
});

test('readJournal streams from a seq and closes its connection when the loop breaks', { timeout: 30_000 }, async () => {
  const path = freshPath();
  const j = await Journal.open({ path });
  await appendRange(j, 1, 1_000);
  await j.waitDurable(1_000);
  const tail = [...readJournal(path, 990)].map((r) => r.seq);
  assert.deepEqual(tail, [991, 992, 993, 994, 995, 996, 997, 998, 999, 1000]);
  for (const r of readJournal(path, 0)) {
    if (r.seq === 3) break;
  }
  await appendRange(j, 1_001, 1_100); // the writer is not blocked by a leftover reader
  await j.waitDurable(1_100);
  await j.close();
  assert.equal([...readJournal(path, 1_100)].length, 0);
  assert.throws(() => lastSeq(join(dir, 'missing.sqlite')), (e: unknown) => e instanceof JournalError && e.code === 'not-found');
});

test('reopen continues after the last seq; a non-increasing seq fails the journal loudly', { timeout: 30_000 }, async () => {
  const path = freshPath();
  let j = await Journal.open({ path });
  await appendRange(j, 1, 100);
  await j.close();
  j = await Journal.open({ path });
  assert.equal(j.recoveredSeq, 100);
  assert.equal(j.durableSeq(), 100);
  await appendRange(j, 101, 150);
  await j.waitDurable(150);
  const waiting = j.waitDurable(1_000);
  await appendRange(j, 150, 150); // duplicate seq
  await assert.rejects(waiting, (e: unknown) => e instanceof JournalError && e.code === 'failed' && /not an integer above/.test(e.message));
  assert.ok(j.error !== null);
  assert.throws(() => j.tryAppend(new Float64Array(16)), JournalError);
  verifyPrefix(path, 150);
  await assert.rejects(Journal.open({ path, recordBytes: 64 }), (e: unknown) => e instanceof JournalError && e.code === 'bad-format');
  await assert.rejects(Journal.open({ path, durability: 'fast' as never }), (e: unknown) => e instanceof JournalError && e.code === 'bad-options');
});

test('snapshots: write and fetch the latest at or before a seq, per shard', () => {
  const path = freshPath();
  writeSnapshot(path, 1, 100, new Uint8Array([1, 1]));
  writeSnapshot(path, 1, 200, new Uint8Array([1, 2]));
  writeSnapshot(path, 2, 150, new Uint8Array([2, 1]));
  assert.deepEqual(latestSnapshot(path, 1), { shard: 1, seq: 200, blob: new Uint8Array([1, 2]) });
  assert.equal(latestSnapshot(path, 1, 199)?.seq, 100);
  assert.equal(latestSnapshot(path, 1, 99), null);
  assert.equal(latestSnapshot(path, 2)?.seq, 150);
  assert.equal(latestSnapshot(path, 3), null);
  assert.equal(lastSeq(path), 0);
});

test('SIGKILL mid-stream leaves a gap-free prefix holding every seq reported durable; reopen works', { timeout: 50_000 }, async () => {
  const path = freshPath();
  const child = spawn(process.execPath, [fileURLToPath(new URL('./journal-crash-child.js', import.meta.url)), path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let reported = 0;
  let started = false;
  let stderr = '';
  let buf = '';
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child made no progress (reported ${reported}); stderr: ${stderr}`)), 30_000);
    child.stdout.on('data', (b: Buffer) => {
      buf += b.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('started')) started = true;
        else if (line.startsWith('durable ')) reported = Math.max(reported, Number(line.slice(8)));
        nl = buf.indexOf('\n');
      }
      // Kill while it is streaming, well past the first commits.
      if (reported >= 30_000 && child.exitCode === null && !child.killed) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('exit', () => { clearTimeout(timer); if (!child.killed) reject(new Error(`child exited early; stderr: ${stderr}`)); });
  });
  assert.equal(await exited, 'SIGKILL');
  assert.ok(started);
  assert.ok(existsSync(`${path}-wal`), 'killed with a live WAL');
  const last = lastSeq(path);
  assert.ok(last >= reported, `journal holds ${last} >= ${reported} reported durable`);
  verifyPrefix(path, last);

  const j = await Journal.open({ path });
  assert.equal(j.recoveredSeq, last);
  await appendRange(j, last + 1, last + 500);
  await j.waitDurable(last + 500);
  await j.close();
  verifyPrefix(path, last + 500);
});

test('a new file gets the configured page size, an existing one keeps its own; records cross ring wraps intact', { timeout: 30_000 }, async () => {
  const { default: Database } = await import('better-sqlite3');
  const pageOf = (p: string): number => { const db = new Database(p, { readonly: true }); try { return db.pragma('page_size', { simple: true }) as number; } finally { db.close(); } };
  await assert.rejects(Journal.open({ path: freshPath(), pageSize: 1000 }), (e: unknown) => e instanceof JournalError && e.code === 'bad-options');
  const path = freshPath();
  // A small ring (64 slots): chunks are inserted straight from the ring and cut where it wraps.
  let j = await Journal.open({ path, pageSize: 4096, ringCapacity: 64 });
  await appendRange(j, 1, 1000);
  await j.waitDurable(1000);
  await j.close();
  assert.equal(pageOf(path), 4096);
  j = await Journal.open({ path, ringCapacity: 64 }); // default page size: the file keeps 4096
  await appendRange(j, 1001, 1500);
  await j.waitDurable(1500);
  await j.close();
  assert.equal(pageOf(path), 4096);
  verifyPrefix(path, 1500);
  const fresh = freshPath();
  j = await Journal.open({ path: fresh });
  await j.close();
  assert.equal(pageOf(fresh), JOURNAL_PAGE_SIZE);
});

test('format 3 (the default) stores chunks compactly; a format-2 file keeps its format when appended to and reads the same', { timeout: 30_000 }, async () => {
  const meta = (path: string): { format: number; blobBytes: number; records: number } => {
    const db = new Database(path, { readonly: true });
    try {
      const format = (db.prepare("SELECT value FROM journal_meta WHERE key = 'format_version'").get() as { value: number }).value;
      const s = db.prepare('SELECT sum(length(recs)) AS b, sum(n) AS n FROM journal').get() as { b: number; n: number };
      return { format, blobBytes: s.b, records: s.n };
    } finally {
      db.close();
    }
  };
  // Records like commands: most words repeat or step from the record before.
  const appendLike = async (j: Journal, from: number, to: number): Promise<void> => {
    const rec = new Float64Array(j.ring.recordWords);
    for (let seq = from; seq <= to; seq++) {
      rec[0] = 1 + (seq % 3); rec[1] = seq; rec[2] = 1_764_000_000_000_000 + seq; rec[5] = 10_000 + seq; rec[13] = 1_000 + (seq % 50);
      while (!j.tryAppend(rec)) await new Promise((r) => setImmediate(r));
    }
  };
  const p3 = freshPath();
  let j = await Journal.open({ path: p3, recordBytes: 256 });
  await appendLike(j, 1, 3_000);
  await j.close();
  const m3 = meta(p3);
  assert.equal(m3.format, 3);
  assert.equal(m3.records, 3_000);
  assert.ok(m3.blobBytes < 3_000 * 256 / 10, `${m3.blobBytes} bytes for 3,000 256-byte records`);

  const p2 = freshPath();
  j = await Journal.open({ path: p2, recordBytes: 256, format: 2 });
  await appendLike(j, 1, 1_500);
  await j.close();
  j = await Journal.open({ path: p2, recordBytes: 256 }); // default format 3 asked: the file stays 2
  assert.equal(j.recoveredSeq, 1_500);
  await appendLike(j, 1_501, 3_000);
  await j.close();
  const m2 = meta(p2);
  assert.equal(m2.format, 2);
  assert.equal(m2.blobBytes, 3_000 * 256, 'raw records');
  const a = [...readJournal(p2, 0)], b = [...readJournal(p3, 0)];
  assert.equal(a.length, 3_000);
  for (let k = 0; k < a.length; k++) assert.deepEqual(a[k]!.bytes, b[k]!.bytes, `record ${k + 1} reads the same from both formats`);
  await assert.rejects(Journal.open({ path: freshPath(), format: 4 }), (e: unknown) => e instanceof JournalError && e.code === 'bad-options');
});

test('a damaged format-3 chunk (truncated, padded, or not matching its row seqs) fails the reader with bad-format', { timeout: 30_000 }, async () => {
  for (const damage of ['UPDATE journal SET recs = substr(recs, 1, length(recs) - 1) WHERE seq = (SELECT min(seq) FROM journal)',
    "UPDATE journal SET recs = recs || x'00' WHERE seq = (SELECT min(seq) FROM journal)",
    'UPDATE journal SET first_seq = first_seq + 1 WHERE seq = (SELECT min(seq) FROM journal)',
    'UPDATE journal SET n = n - 1 WHERE seq = (SELECT min(seq) FROM journal)']) {
    const path = freshPath();
    const j = await Journal.open({ path });
    await appendRange(j, 1, 600);
    await j.close();
    const db = new Database(path);
    db.exec(damage);
    db.close();
    assert.throws(() => [...readJournal(path, 0)], (e: unknown) => e instanceof JournalError && e.code === 'bad-format', damage);
  }
});

test('another connection taking the write lock again and again: every record is journaled in order, the journal thread retries for the lock and trims under it', { timeout: 60_000 }, async () => {
  const path = freshPath();
  const j = await Journal.open({ path, maxBatchRecords: 64 });
  // A second writer on the journal file, as the snapshot thread is: short IMMEDIATE transactions.
  const other = new Database(path);
  other.pragma('busy_timeout = 5000');
  const put = other.prepare("INSERT OR REPLACE INTO engine_meta (key, value) VALUES ('lock-test', ?)");
  const hold = new Int32Array(new SharedArrayBuffer(4));
  let seq = 0;
  try {
    for (let i = 0; i < 100; i++) {
      other.exec('BEGIN IMMEDIATE');
      put.run(String(i));
      // Records published while the lock is held: the journal thread wakes and finds it taken.
      await appendRange(j, seq + 1, seq + 20);
      seq += 20;
      Atomics.wait(hold, 0, 0, 3);
      other.exec('COMMIT');
      await appendRange(j, seq + 1, seq + 20);
      seq += 20;
      await new Promise((r) => setTimeout(r, 1));
    }
    await j.waitDurable(seq);
    assert.equal(j.error, null, 'the journal did not fail');
    assert.ok(j.lockRetries() >= 1, 'the journal thread met the lock taken at least once');
    // A trim step (a write outside any batch) while the lock is held: it waits for the lock too.
    const before = j.lockRetries();
    other.exec('BEGIN IMMEDIATE');
    put.run('trim');
    j.requestTrim(seq / 2);
    await new Promise((r) => setTimeout(r, 200));
    other.exec('COMMIT');
    for (let waited = 0; j.trimmedSeq() < seq / 2 && waited < 20_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    assert.equal(j.trimmedSeq(), seq / 2, 'the trim went through');
    assert.equal(j.error, null);
    assert.ok(j.lockRetries() >= before);
    const left = other.prepare('SELECT min(first_seq) AS f, max(seq) AS s FROM journal').get() as { f: number; s: number };
    assert.ok(left.f > seq / 2 - 256 && left.s === seq, `rows left ${left.f}..${left.s}`);
  } finally {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
  }
  const stats = await j.close();
  assert.equal(stats.records, seq);
  assert.equal(stats.durableSeq, seq);
  assert.ok(stats.lockRetries >= 1);
  // Every record journaled, in order (the rows trimmed were the first half).
  let want = seq / 2 + 1;
  for (const r of readJournal(path, seq / 2)) {
    assert.equal(r.seq, want, 'gap-free, in order');
    assert.equal(diffTestRecord(r.words, r.seq), -1);
    want++;
  }
  assert.equal(want - 1, seq);
});

test('a write lock held past lockWaitMs fails the journal with the typed error; lockWaitMs is checked', { timeout: 30_000 }, async () => {
  await assert.rejects(Journal.open({ path: freshPath(), lockWaitMs: -1 }), (e: unknown) => e instanceof JournalError && e.code === 'bad-options');
  const path = freshPath();
  const j = await Journal.open({ path, lockWaitMs: 100 });
  await appendRange(j, 1, 10);
  await j.waitDurable(10);
  const other = new Database(path);
  try {
    other.exec('BEGIN IMMEDIATE');
    const failed = new Promise<JournalError>((resolve) => j.setFailureListener(resolve));
    const waiting = j.waitDurable(11);
    await appendRange(j, 11, 11);
    await assert.rejects(waiting, (e: unknown) => e instanceof JournalError && e.code === 'failed' && /^journal write failed after seq 10: database is locked/.test(e.message));
    assert.equal((await failed).code, 'failed');
    assert.ok(j.lockRetries() >= 1);
  } finally {
    other.exec('ROLLBACK');
    other.close();
  }
  verifyPrefix(path, 10);
});
