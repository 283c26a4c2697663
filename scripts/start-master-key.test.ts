// `npm start` with the master key outside the data dir (ENGINE_MASTER_KEY, ENGINE_MASTER_KEY_FILE):
// the right key starts and writes no key file into the data dir; a key that opens none of the API-key
// secrets already sealed in the data dir stops the start (exit 2) with a message naming the variable;
// a malformed key is a configuration error (exit 2) that does not echo the value.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { FAST_PASSWORD_PARAMS, T0_MS, addUser } from '../gateway/auth/fixtures.js';
import { MASTER_KEY_FILE, openIdentity } from '../gateway/auth/identity.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'start.js');
const KEY = 'c1'.repeat(32);
const WRONG = Buffer.alloc(32, 0x77).toString('base64');

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const dir = (p: string): string => { const d = mkdtempSync(join(tmpdir(), p)); dirs.push(d); return d; };

interface Run { code: number | null; stdout: string; stderr: string }

function run(extra: Record<string, string>): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['ENGINE_CONFIG', 'ENGINE_HOST', 'ENGINE_PORT', 'ENGINE_DURABILITY', 'ENGINE_DATA_DIR', 'ENGINE_SHARDS', 'LOG_LEVEL', 'DATABASE_URL',
    'REDIS_URL', 'START_EXIT_AFTER_MS', 'PGSCHEMA', 'REPLICATION_MAX_LAG_SECONDS', 'ENGINE_MASTER_KEY', 'ENGINE_MASTER_KEY_FILE', 'AUTH_MASTER_KEY', 'AUTH_JWT_SECRET']) delete env[k];
  const cwd = dir('engine-start-mk-');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT], { cwd, env: { ...env, ENGINE_PORT: '0', ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(guard); resolve({ code, stdout, stderr }); });
  });
}

/** A data dir whose identity database holds one API key sealed under ENGINE_MASTER_KEY=KEY. */
async function sealedDataDir(): Promise<string> {
  const d = dir('start-mk-data-');
  const id = openIdentity({ dataDir: d, env: { ENGINE_MASTER_KEY: KEY }, passwordParams: FAST_PASSWORD_PARAMS, auditThread: false });
  try {
    const userId = await addUser(id, 'k@example.com', ['trader'], [1]);
    id.apiKeys.create({ userId, accountIds: [1], scopes: ['read'] }, T0_MS);
  } finally {
    id.close();
  }
  return d;
}

describe('npm start with the master key outside the data dir', () => {
  it('the right key (variable or file) starts and writes no key file into the data dir', async () => {
    const d = await sealedDataDir();
    const r = await run({ ENGINE_DATA_DIR: d, ENGINE_MASTER_KEY: KEY, START_EXIT_AFTER_MS: '1000' });
    assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
    assert.match(r.stdout, /"masterKey":\{"source":"ENGINE_MASTER_KEY","file":null\}/, 'the start-up log says where the key comes from');
    assert.ok(!r.stdout.includes(KEY), 'the key is not logged');
    assert.match(r.stdout, /gateway listening/);
    const keyFile = join(dir('start-mk-key-'), 'master.key');
    writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
    const f = await run({ ENGINE_DATA_DIR: d, ENGINE_MASTER_KEY_FILE: keyFile, START_EXIT_AFTER_MS: '1000' });
    assert.equal(f.code, 0, `exit ${f.code}; stderr: ${f.stderr}`);
    assert.equal(existsSync(join(d, MASTER_KEY_FILE)), false, 'no key file in the data dir');
  });

  it('a key that does not open the sealed secrets stops the start with a clear error (exit 2)', async () => {
    const d = await sealedDataDir();
    const r = await run({ ENGINE_DATA_DIR: d, ENGINE_MASTER_KEY: WRONG, START_EXIT_AFTER_MS: '5000' });
    assert.equal(r.code, 2, `exit ${r.code}; stdout: ${r.stdout.slice(-2000)}`);
    assert.match(r.stderr, /gateway failed to start: the master key from env ENGINE_MASTER_KEY opens none of the 1 newest sealed API-key secrets/);
    assert.ok(!r.stderr.includes(WRONG));
    // No key at all: the data dir has no key file, so nothing can open them either.
    const n = await run({ ENGINE_DATA_DIR: d, START_EXIT_AFTER_MS: '5000' });
    assert.equal(n.code, 2, `exit ${n.code}; stdout: ${n.stdout.slice(-2000)}`);
    assert.match(n.stderr, /no master key: ENGINE_MASTER_KEY and ENGINE_MASTER_KEY_FILE are not set/);
    assert.equal(existsSync(join(d, MASTER_KEY_FILE)), false, 'no new key file was made');
  });

  it('a malformed key is a configuration error before anything starts', async () => {
    const r = await run({ ENGINE_DATA_DIR: dir('start-mk-bad-'), ENGINE_MASTER_KEY: 'tooShort', START_EXIT_AFTER_MS: '5000' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /masterKey \[env ENGINE_MASTER_KEY\]: ENGINE_MASTER_KEY must be a 32-byte key/);
    assert.ok(!r.stderr.includes('tooShort'));
  });
});
