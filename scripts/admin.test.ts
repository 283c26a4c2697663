// The operator CLI, run as operators run it (the compiled script in a child process) for the main
// flows, and in-process (runAdmin) for the many bad-input cases.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openIdentity } from '../gateway/auth/identity.js';
import { ReplayCache } from '../gateway/auth/replay-cache.js';
import { SignatureVerifier, signRequest } from '../gateway/auth/signing.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, runAdmin, type AdminIo } from './admin.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'admin.js');
const PASSWORD = 'correct horse battery staple';

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['ENGINE_CONFIG', 'ENGINE_DATA_DIR', 'AUTH_MASTER_KEY', 'AUTH_JWT_SECRET']) delete env[k];
  return { ...env, ...extra };
}

function cli(dataDir: string, args: string[], input = '', env: Record<string, string> = {}): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [SCRIPT, ...args, '--data-dir', dataDir], { input, env: cleanEnv(env), encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

async function inProcess(args: string[], stdin = ''): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: AdminIo = { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: () => stdin, env: { PW: PASSWORD }, nowMs: () => 1_750_000_000_000 };
  return { code: await runAdmin(args, io), out, err };
}

describe('admin CLI', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'admin-cli-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a user, an account and an API key whose secret signs requests', () => {
    const u = cli(dir, ['create-user', '--email', 'Trader@Example.com', '--password-stdin', '--role', 'trader', '--role', 'viewer', '--json'], `${PASSWORD}\n`);
    assert.equal(u.code, EXIT_OK, u.err);
    assert.deepEqual(JSON.parse(u.out), { userId: 1, email: 'trader@example.com', roles: ['trader', 'viewer'] });

    const a = cli(dir, ['create-account', '--user', 'trader@example.com', '--id', '7']);
    assert.equal(a.code, EXIT_OK, a.err);
    assert.match(a.out, /created account 7 \(spot\) for user 1/);

    const k = cli(dir, ['create-api-key', '--user', '1', '--accounts', '7', '--scopes', 'read,trade', '--label', 'bot']);
    assert.equal(k.code, EXIT_OK, k.err);
    const keyId = /key id: +(ak_[0-9a-f]{24})/.exec(k.out)![1]!;
    const secret = /secret: +([A-Za-z0-9_-]{43})/.exec(k.out)![1]!;
    assert.match(k.out, /shown this once/);

    const id = openIdentity({ dataDir: dir, env: {} });
    try {
      const v = new SignatureVerifier({ keys: id.apiKeys, store: id.store, replay: new ReplayCache() });
      const req = { method: 'GET', pathWithQuery: '/api/v1/balances?account=7', body: Buffer.alloc(0) };
      const now = Date.now();
      const r = v.verifyRequest({ ...req, headers: signRequest(keyId, secret, req, { timestampMs: now, nonce: 'cli-test-nonce-0001' }) }, now);
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual([...r.principal.accountIds], [7]);
    } finally {
      id.close();
    }

    const rv = cli(dir, ['revoke-api-key', '--key', keyId]);
    assert.equal(rv.code, EXIT_OK, rv.err);
    const again = cli(dir, ['revoke-api-key', '--key', keyId]);
    assert.equal(again.code, EXIT_USAGE);
    assert.match(again.err, /already revoked/);
  });

  it('audit-verify passes, then detects tampering and a truncated tail', () => {
    const ok = cli(dir, ['audit-verify', '--json']);
    assert.equal(ok.code, EXIT_OK, ok.err);
    const report = JSON.parse(ok.out) as { ok: boolean; rows: number; head: { seq: number; hash: string } };
    assert.equal(report.ok, true);
    assert.equal(report.rows, 4, 'user, account, key, revoke');

    const id = openIdentity({ dataDir: dir, env: {} });
    try {
      id.db.exec("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'operator:someone-else' WHERE seq = 2;");
    } finally {
      id.close();
    }
    const broken = cli(dir, ['audit-verify']);
    assert.equal(broken.code, EXIT_FAILED);
    assert.match(broken.out, /BROKEN at seq 2 \(hash_mismatch\)/);

    const dir2 = mkdtempSync(join(tmpdir(), 'admin-cli-'));
    try {
      cli(dir2, ['create-user', '--email', 'a@example.com', '--password-env', 'PW'], '', { PW: PASSWORD });
      cli(dir2, ['grant-role', '--user', 'a@example.com', '--role', 'admin']);
      const head = (JSON.parse(cli(dir2, ['audit-verify', '--json']).out) as typeof report).head;
      const id2 = openIdentity({ dataDir: dir2, env: {} });
      id2.db.exec(`DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = ${head.seq};`);
      id2.close();
      assert.equal(cli(dir2, ['audit-verify']).code, EXIT_OK, 'without the recorded head a truncation is invisible');
      const t = cli(dir2, ['audit-verify', '--expect-head', `${head.seq}:${head.hash}`]);
      assert.equal(t.code, EXIT_FAILED);
      assert.match(t.out, /head_mismatch/);
    } finally {
      rmSync(dir2, { recursive: true, force: true });
    }
  });

  it('finds the data dir from the engine configuration when --data-dir is absent', () => {
    const d = mkdtempSync(join(tmpdir(), 'admin-cli-'));
    try {
      const r = spawnSync(process.execPath, [SCRIPT, 'audit-verify'], { env: cleanEnv({ ENGINE_DATA_DIR: d }), encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, EXIT_OK, r.stderr);
      assert.match(r.stdout, /audit chain OK: 0 rows/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('bad input exits 2 with a clear message', async () => {
    const d = mkdtempSync(join(tmpdir(), 'admin-cli-'));
    try {
      const base = ['--data-dir', d];
      assert.equal((await inProcess(['create-user', '--email', 'u@example.com', '--password-env', 'PW', '--role', 'trader', ...base])).code, EXIT_OK);
      assert.equal((await inProcess(['create-account', '--user', '1', '--id', '5', ...base])).code, EXIT_OK);
      const cases: [string[], RegExp, string?][] = [
        [[], /no command/],
        [['frobnicate'], /unknown command/],
        [['constructor'], /unknown command/], // an Object.prototype name is not a command
        [['toString'], /unknown command/],
        [['create-user', '--bogus'], /Unknown option/],
        [['create-user', '--email', 'v@example.com'], /--password-stdin or --password-env/],
        [['create-user', '--email', 'v@example.com', '--password-stdin'], /at least 10 characters/, 'short'],
        [['create-user', '--email', 'nope', '--password-env', 'PW'], /not an e-mail/],
        [['create-user', '--email', 'u@example.com', '--password-env', 'PW'], /exists/],
        [['create-user', '--email', 'w@example.com', '--password-env', 'MISSING'], /MISSING is not set/],
        [['create-user', '--email', 'w@example.com', '--password-env', 'PW', '--role', 'god'], /unknown role "god"/],
        [['create-account', '--user', '42'], /no user "42"/],
        [['create-account', '--user', '1', '--id=-3'], /--id must be a positive integer/],
        [['create-account', '--user', '1', '--id', '5'], /account 5 exists/],
        [['create-account', '--user', '1', '--type', 'crypto'], /--type must be one of/],
        [['grant-role', '--user', '1'], /exactly one --role/],
        [['grant-role', '--user', '1', '--role', 'root'], /unknown role/],
        [['revoke-role', '--user', '1', '--role', 'admin'], /does not have role admin/],
        [['grant-account', '--user', '1', '--account', '999'], /no account 999/],
        [['create-api-key', '--user', '1', '--accounts', '5'], /--scopes is required/],
        [['create-api-key', '--user', '1', '--accounts', '5', '--scopes', 'read,admin'], /unknown scope "admin"/],
        [['create-api-key', '--user', '1', '--accounts', '6', '--scopes', 'read'], /no access to account\(s\) 6/],
        [['create-api-key', '--user', '1', '--accounts', '5,x', '--scopes', 'read'], /--accounts must be a positive integer/],
        [['create-api-key', '--user', '1', '--accounts', '5', '--scopes', 'read', '--expires-days', '0'], /--expires-days must be/],
        [['revoke-api-key', '--key', 'ak_000000000000000000000000'], /no API key/],
        [['revoke-api-key'], /--key is required/],
        [['audit-verify', '--expect-head', 'abc'], /SEQ:HASH/],
      ];
      for (const [args, message, stdin] of cases) {
        const r = await inProcess(args.length ? [...args, ...base] : [], stdin);
        assert.equal(r.code, EXIT_USAGE, `${args.join(' ')} -> ${r.code} ${r.err.join(' ')}`);
        assert.match(r.err.join('\n'), message, args.join(' '));
      }
      const help = await inProcess(['--help']);
      assert.equal(help.code, EXIT_OK);
      assert.match(help.out.join('\n'), /create-api-key/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
