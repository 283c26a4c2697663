// Spawns the compiled start script (dist/scripts/start.js) and checks that it starts, says honestly
// what is not available yet, and stops cleanly with final state hashes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestSchema, pgSkipReason, testDatabaseUrl } from '../persistence/pg/db.js';

const pgSkip = await pgSkipReason();
const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'start.js');
const KILL_AFTER_MS = 30_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: Record<string, unknown>[];
  stderr: string;
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['ENGINE_CONFIG', 'ENGINE_HOST', 'ENGINE_PORT', 'ENGINE_DURABILITY', 'ENGINE_DATA_DIR', 'ENGINE_SHARDS',
    'LOG_LEVEL', 'DATABASE_URL', 'REDIS_URL', 'START_EXIT_AFTER_MS', 'PGSCHEMA', 'REPLICATION_MAX_LAG_SECONDS']) delete env[k];
  // Port 0: the gateway takes any free port, so parallel test runs never collide on 8080.
  return { ...env, ENGINE_PORT: '0', ...extra };
}

/** Runs the script; `onLine` may act on each parsed stdout JSON line (e.g. send a signal). */
let portOf = 0;
function run(env: Record<string, string>, onLine?: (line: Record<string, unknown>, pid: number) => void,
  first?: (line: Record<string, unknown>) => void): Promise<Run> {
  const cwd = mkdtempSync(join(tmpdir(), 'engine-start-'));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Record<string, unknown>[] = [];
    let stdout = '';
    let stderr = '';
    const guard = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      let nl: number;
      while ((nl = stdout.indexOf('\n')) >= 0) {
        const text = stdout.slice(0, nl);
        stdout = stdout.slice(nl + 1);
        if (text.trim() === '') continue;
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        first?.(line);
        onLine?.(line, child.pid!);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      rmSync(cwd, { recursive: true, force: true });
      resolve({ code, signal, lines, stderr });
    });
  });
}

function find(r: Run, pattern: RegExp): Record<string, unknown> {
  const line = r.lines.find((l) => pattern.test(String(l['msg'])));
  assert.ok(line, `no log line matching ${pattern}; got:\n${r.lines.map((l) => l['msg']).join('\n')}\nstderr: ${r.stderr}`);
  return line;
}

function checkFinal(r: Run, reason: RegExp): void {
  assert.equal(r.code, 0, `exit code ${r.code} (signal ${r.signal}); stderr: ${r.stderr}`);
  const final = find(r, /final state hashes/);
  assert.match(String(final['reason']), reason);
  const books = final['books'] as { symbol: string; stateHash: string }[];
  assert.deepEqual(books.map((b) => b.symbol), ['BTC-USDT', 'ETH-USDT', 'SOL-USDT']);
  for (const b of books) assert.match(b.stateHash, /^[0-9a-f]{16}$/);
  assert.equal(r.lines[r.lines.length - 1], final, 'the final hashes are the last line');
}

describe('npm start (dist/scripts/start.js)', () => {
  it('starts on the embedded default, says what is not available, and stops by itself', async () => {
    const r = await run({ START_EXIT_AFTER_MS: '1500' });
    find(r, /configuration loaded/);
    assert.equal(r.lines.filter((l) => l['msg'] === 'order book ready').length, 3);
    const gw = find(r, /gateway listening/);
    assert.ok(Number(gw['port']) > 0, 'the gateway listens on a real port');
    find(r, /REST shim \/api\/v1/);
    assert.equal(find(r, /not available yet: strategies/)['level'], 'warn');
    find(r, /DATABASE_URL not set/);
    find(r, /REDIS_URL not set/);
    find(r, /engine running/);
    checkFinal(r, /START_EXIT_AFTER_MS/);
    const final = find(r, /final state hashes/);
    assert.ok(Number(final['ticks']) >= 1, 'engine time advanced at least once');
    assert.equal(r.stderr, '');
  });

  it('funds the demo accounts once, on an empty journal, and not again after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'start-demo-'));
    try {
      const first = await run({ START_EXIT_AFTER_MS: '2500', ENGINE_DATA_DIR: dir });
      const funded = find(first, /demo accounts funded/);
      assert.equal(funded['deposits'], 40, '10 accounts x 4 assets of the embedded default');
      const second = await run({ START_EXIT_AFTER_MS: '2500', ENGINE_DATA_DIR: dir });
      assert.equal(second.lines.filter((l) => /demo accounts funded/.test(String(l['msg']))).length, 0);
      const a = find(first, /final state hashes/), b = find(second, /final state hashes/);
      assert.equal(b['ledgerStateHash'], a['ledgerStateHash'], 'the restart recovered the same balances');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops cleanly on SIGTERM', async () => {
    const r = await run({}, (line, pid) => {
      if (String(line['msg']).startsWith('engine running')) process.kill(pid, 'SIGTERM');
    });
    checkFinal(r, /SIGTERM/);
  });

  it('stops cleanly on SIGINT', async () => {
    const r = await run({ LOG_LEVEL: 'info' }, (line, pid) => {
      if (String(line['msg']).startsWith('engine running')) process.kill(pid, 'SIGINT');
    });
    checkFinal(r, /SIGINT/);
  });

  it('with DATABASE_URL and REDIS_URL: migrates, replicates, reports lag on /metrics and /ready, stops the read side', { skip: pgSkip, timeout: 40_000 }, async () => {
    const s = await createTestSchema('st');
    try {
      let ready = null as { status: number; body: Record<string, unknown> } | null;
      let metrics = '';
      const r = await run({ DATABASE_URL: testDatabaseUrl(), PGSCHEMA: s.schema, REDIS_URL, REPLICATION_MAX_LAG_SECONDS: '10' }, (line, pid) => {
        if (!String(line['msg']).startsWith('engine running')) return;
        const port = Number(portOf);
        void (async () => {
          // The demo deposits and the gateway's snapshot are replicated within a few seconds.
          for (let i = 0; i < 100; i++) {
            const res = await fetch(`http://127.0.0.1:${port}/ready`);
            ready = { status: res.status, body: await res.json() as Record<string, unknown> };
            const rep = ready.body['replication'] as { lagSeqs: number } | undefined;
            if (rep !== undefined && rep.lagSeqs === 0 && res.status === 200) break;
            await new Promise((res2) => setTimeout(res2, 100));
          }
          metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          process.kill(pid, 'SIGTERM');
        })();
      }, (line) => { if (line['msg'] === 'gateway listening') portOf = Number(line['port']); });
      checkFinal(r, /SIGTERM/);
      find(r, /PostgreSQL migrations done/);
      find(r, /read side started/);
      const stopped = find(r, /read side stopped/);
      assert.equal((stopped['replication'] as { lagSeqs: number }).lagSeqs, 0, 'caught up at shutdown');
      assert.ok(ready !== null);
      assert.equal(ready!.status, 200);
      assert.equal((ready!.body['replication'] as { maxLagSeconds: number }).maxLagSeconds, 10);
      assert.match(metrics, /^replication_lag_seconds 0$/m);
      assert.match(metrics, /^replication_lag_commands 0$/m);
      assert.match(metrics, /^redis_fanout\{what="ready"\} [01]$/m);
      const [b] = await s.sql`SELECT count(*)::int AS n FROM account_balances`;
      assert.equal(b!['n'], 40, 'the demo deposits are in PostgreSQL');
    } finally {
      await s.drop();
    }
  });

  it('exits non-zero with a clear message on invalid configuration', async () => {
    const r = await run({ ENGINE_PORT: 'eighty', ENGINE_DURABILITY: 'maybe', START_EXIT_AFTER_MS: '1000' });
    assert.equal(r.code, 2);
    assert.equal(r.lines.length, 0, 'nothing is started');
    assert.match(r.stderr, /^invalid engine configuration \(2 problems\):/);
    assert.match(r.stderr, /http\.port \[env ENGINE_PORT="eighty"\]/);
    assert.match(r.stderr, /durability \[env ENGINE_DURABILITY="maybe"\]/);
  });

  it('rejects a malformed START_EXIT_AFTER_MS', async () => {
    const r = await run({ START_EXIT_AFTER_MS: 'soon' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /START_EXIT_AFTER_MS/);
  });
});
