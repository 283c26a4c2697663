import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EngineConfigError, defaultConfigPath, describeConfig, loadEngineConfig, packageRoot, redactUrl,
} from './engine.js';

const dir = mkdtempSync(join(tmpdir(), 'engine-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function writeOverlay(content: unknown): string {
  const path = join(dir, `overlay-${fileCount++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function failure(env: Record<string, string>): EngineConfigError {
  try {
    loadEngineConfig({ env, cwd: dir });
  } catch (err) {
    assert.ok(err instanceof EngineConfigError, String(err));
    return err;
  }
  assert.fail('expected an EngineConfigError');
}

function issueAt(err: EngineConfigError, path: string) {
  const issue = err.issues.find((i) => i.path.join('.') === path);
  assert.ok(issue, `no issue at ${path} in:\n${err.message}`);
  return issue;
}

describe('loadEngineConfig', () => {
  it('finds config/default.json from the package root, also when running from dist/', () => {
    const root = packageRoot();
    assert.ok(existsSync(join(root, 'package.json')));
    assert.equal(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).name, 'trading-engine');
    assert.equal(defaultConfigPath(), join(root, 'config', 'default.json'));
    assert.ok(existsSync(defaultConfigPath()));
  });

  it('loads the embedded default with no environment', () => {
    const c = loadEngineConfig({ env: {}, cwd: dir });
    assert.deepEqual(c.instruments.map((s) => s.symbol), ['BTC-USDT', 'ETH-USDT', 'SOL-USDT']);
    assert.deepEqual(c.instruments.map((s) => s.id), [1, 2, 3]);
    assert.equal(c.durability, 'normal');
    assert.equal(c.snapshotWriter, 'thread');
    assert.deepEqual(c.http, { host: '127.0.0.1', port: 8080, corsOrigins: [], maxBodyBytes: 65536 });
    assert.equal(c.shards, 1);
    assert.deepEqual(c.shardOf, { 'BTC-USDT': 0, 'ETH-USDT': 0, 'SOL-USDT': 0 });
    assert.equal(c.dataDir, join(dir, 'data'));
    assert.equal(c.logLevel, 'info');
    assert.equal(c.databaseUrl, null);
    assert.equal(c.redisUrl, null);
    for (const s of c.instruments) {
      assert.ok(Number.isSafeInteger(s.maxPriceTicks * s.maxQtyLots * s.notionalUnitsPerTickLot));
      assert.ok(s.referencePriceTicks > 0);
    }
  });

  it('merges the ENGINE_CONFIG file over the default, then the environment over both', () => {
    const overlay = writeOverlay({ http: { port: 9001 }, shards: 3, shardMap: { 'SOL-USDT': 0 }, durability: 'full' });
    const c = loadEngineConfig({ env: { ENGINE_CONFIG: overlay, ENGINE_DURABILITY: 'NONE', LOG_LEVEL: 'warn' }, cwd: dir });
    assert.deepEqual(c.http, { host: '127.0.0.1', port: 9001, corsOrigins: [], maxBodyBytes: 65536 });
    assert.equal(c.durability, 'none');
    assert.equal(c.logLevel, 'warn');
    assert.equal(loadEngineConfig({ env: { ENGINE_SNAPSHOT_WRITER: 'Inline' }, cwd: dir }).snapshotWriter, 'inline');
    assert.equal(c.snapshotBudgetMs, 5, 'the snapshot budget defaults to 5 ms');
    assert.equal(loadEngineConfig({ env: { ENGINE_SNAPSHOT_BUDGET_MS: '20' }, cwd: dir }).snapshotBudgetMs, 20);
    for (const bad of ['0', '2.5', 'fast', '60001']) {
      assert.throws(() => loadEngineConfig({ env: { ENGINE_SNAPSHOT_BUDGET_MS: bad }, cwd: dir }), (e: unknown) => e instanceof EngineConfigError
        && e.issues.some((i) => i.path.join('.') === 'snapshotBudgetMs' && /ENGINE_SNAPSHOT_BUDGET_MS/.test(i.source)), `ENGINE_SNAPSHOT_BUDGET_MS=${bad}`);
    }
    assert.deepEqual(c.shardOf, { 'BTC-USDT': 0, 'ETH-USDT': 1, 'SOL-USDT': 0 });
    assert.equal(c.layers.length, 3);

    const c2 = loadEngineConfig({
      env: {
        ENGINE_CONFIG: overlay, ENGINE_PORT: '7000', ENGINE_HOST: '0.0.0.0', ENGINE_SHARDS: '2', ENGINE_DATA_DIR: 'state',
        DATABASE_URL: 'postgres://u:secret@localhost:5432/engine', REDIS_URL: 'redis://127.0.0.1:6379', ENGINE_DURABILITY: '',
      },
      cwd: dir,
    });
    assert.deepEqual(c2.http, { host: '0.0.0.0', port: 7000, corsOrigins: [], maxBodyBytes: 65536 });
    assert.equal(c2.shards, 2);
    assert.deepEqual(c2.shardOf, { 'BTC-USDT': 0, 'ETH-USDT': 1, 'SOL-USDT': 0 });
    assert.equal(c2.durability, 'full', 'an empty variable counts as unset');
    assert.equal(c2.dataDir, join(dir, 'state'));
    assert.equal(c2.databaseUrl, 'postgres://u:secret@localhost:5432/engine');
    const described = JSON.stringify(describeConfig(c2));
    assert.ok(!described.includes('secret'), 'no password in the log summary');
  });

  it('replaces the instruments list as a whole', () => {
    const def = JSON.parse(readFileSync(defaultConfigPath(), 'utf8'));
    const overlay = writeOverlay({ instruments: [def.instruments[2]] });
    const c = loadEngineConfig({ env: { ENGINE_CONFIG: overlay }, cwd: dir });
    assert.deepEqual(c.instruments.map((s) => s.symbol), ['SOL-USDT']);
  });

  it('takes the REST CORS allow-list and body limit from the environment; a malformed origin is named', () => {
    const c = loadEngineConfig({ env: { ENGINE_CORS_ORIGINS: ' https://ui.example.com, http://localhost:5173 ,', ENGINE_MAX_BODY_BYTES: '131072' }, cwd: dir });
    assert.deepEqual(c.http.corsOrigins, ['https://ui.example.com', 'http://localhost:5173']);
    assert.equal(c.http.maxBodyBytes, 131072);
    const err = failure({ ENGINE_CORS_ORIGINS: 'https://ui.example.com/app', ENGINE_MAX_BODY_BYTES: '10' });
    assert.match(issueAt(err, 'http.corsOrigins.0').source, /env ENGINE_CORS_ORIGINS/);
    assert.match(issueAt(err, 'http.maxBodyBytes').source, /env ENGINE_MAX_BODY_BYTES/);
  });

  it('names each bad environment variable', () => {
    const err = failure({ ENGINE_PORT: 'http', ENGINE_DURABILITY: 'sometimes', LOG_LEVEL: 'loud', ENGINE_SHARDS: '-1', ENGINE_SNAPSHOT_WRITER: 'fork',
      DATABASE_URL: 'mysql://u:pw@h/db', REDIS_URL: 'nope' });
    assert.match(issueAt(err, 'http.port').source, /env ENGINE_PORT="http"/);
    assert.match(issueAt(err, 'durability').source, /env ENGINE_DURABILITY/);
    assert.match(issueAt(err, 'snapshotWriter').source, /env ENGINE_SNAPSHOT_WRITER/);
    assert.match(issueAt(err, 'logLevel').source, /env LOG_LEVEL/);
    assert.match(issueAt(err, 'shards').source, /env ENGINE_SHARDS/);
    const db = issueAt(err, 'databaseUrl');
    assert.match(db.source, /env DATABASE_URL/);
    assert.ok(!err.message.includes('pw@'), 'password redacted in the message');
    assert.match(issueAt(err, 'redisUrl').message, /redis:\/\//);
    assert.equal(err.issues.length, 7);
    assert.match(err.message, /^invalid engine configuration \(7 problems\):\n {2}- /);
    assert.equal(err.message.split('\n').length, 8);
  });

  it('names bad fields of the ENGINE_CONFIG file with the file as source', () => {
    const def = JSON.parse(readFileSync(defaultConfigPath(), 'utf8'));
    const badInstrument = { ...def.instruments[0], tickSize: '0.003', lotSize: '0.00001' };
    const overlay = writeOverlay({ http: { prot: 1 }, extra: true, instruments: [badInstrument, { ...def.instruments[1], id: 1 }] });
    const err = failure({ ENGINE_CONFIG: overlay });
    assert.equal(issueAt(err, 'http.prot').source, overlay);
    assert.equal(issueAt(err, 'extra').source, overlay);
    assert.match(issueAt(err, 'http.prot').message, /unknown field/);

    const err2 = failure({ ENGINE_CONFIG: writeOverlay({ instruments: [badInstrument, { ...def.instruments[1], id: 1 }] }) });
    const tick = err2.issues.filter((i) => i.path[0] === 'instruments' && i.path[1] === 0);
    assert.ok(tick.length > 0, err2.message);
    assert.match(err2.message, /instruments\.0\.(minPrice|maxPrice|referencePrice) .*not a multiple of 0\.003/);
    assert.match(issueAt(err2, 'instruments.1.id').message, /also used/);
  });

  it('checks ids, symbols and the shard map', () => {
    const def = JSON.parse(readFileSync(defaultConfigPath(), 'utf8'));
    const { id: _id, ...noId } = def.instruments[0];
    let err = failure({ ENGINE_CONFIG: writeOverlay({ instruments: [noId] }) });
    assert.match(issueAt(err, 'instruments.0.id').message, /required/);
    err = failure({ ENGINE_CONFIG: writeOverlay({ instruments: [def.instruments[0], { ...def.instruments[0], id: 9 }] }) });
    assert.match(issueAt(err, 'instruments.1.symbol').message, /also defined/);
    err = failure({ ENGINE_CONFIG: writeOverlay({ shardMap: { 'DOGE-USDT': 0, 'BTC-USDT': 5 } }) });
    assert.match(issueAt(err, 'shardMap.DOGE-USDT').message, /unknown symbol/);
    assert.match(issueAt(err, 'shardMap.BTC-USDT').message, /does not exist/);
    err = failure({ ENGINE_SHARDS: '4' });
    assert.match(issueAt(err, 'shards').message, /idle/);
    err = failure({ ENGINE_CONFIG: writeOverlay({ instruments: [] }) });
    assert.match(issueAt(err, 'instruments').message, /at least one/);
  });

  it('reports unreadable or malformed override files', () => {
    let err = failure({ ENGINE_CONFIG: join(dir, 'missing.json') });
    assert.match(err.message, /cannot read .*missing\.json/);
    assert.match(err.issues[0]!.source, /ENGINE_CONFIG/);
    err = failure({ ENGINE_CONFIG: writeOverlay('{ "shards": 2, }') });
    assert.match(err.message, /not valid JSON/);
    err = failure({ ENGINE_CONFIG: writeOverlay('[1, 2]') });
    assert.match(err.message, /JSON object/);
  });
});

describe('master key (ENGINE_MASTER_KEY, ENGINE_MASTER_KEY_FILE)', () => {
  const hex = 'ab'.repeat(32);
  const b64 = Buffer.alloc(32, 9).toString('base64');

  it('defaults to the data dir key file', () => {
    const c = loadEngineConfig({ env: {}, cwd: dir });
    assert.deepEqual(c.masterKey, { source: 'data-dir', file: null });
    assert.deepEqual(describeConfig(c).masterKey, { source: 'data-dir', file: null });
  });

  it('accepts a key in the environment as hex, base64 or base64url (and the older AUTH_MASTER_KEY)', () => {
    for (const v of [hex, hex.toUpperCase(), b64, Buffer.alloc(32, 9).toString('base64url')]) {
      assert.deepEqual(loadEngineConfig({ env: { ENGINE_MASTER_KEY: v }, cwd: dir }).masterKey, { source: 'ENGINE_MASTER_KEY', file: null }, v);
    }
    assert.deepEqual(loadEngineConfig({ env: { AUTH_MASTER_KEY: b64 }, cwd: dir }).masterKey, { source: 'AUTH_MASTER_KEY', file: null });
    const described = JSON.stringify(describeConfig(loadEngineConfig({ env: { ENGINE_MASTER_KEY: hex }, cwd: dir })));
    assert.ok(!described.includes(hex), 'the key is never in the logged config');
  });

  it('accepts a key file (relative paths against the working directory) and reads it at load', () => {
    writeFileSync(join(dir, 'master.key'), `${b64}\n`, { mode: 0o600 });
    assert.deepEqual(loadEngineConfig({ env: { ENGINE_MASTER_KEY_FILE: 'master.key' }, cwd: dir }).masterKey,
      { source: 'ENGINE_MASTER_KEY_FILE', file: join(dir, 'master.key') });
  });

  it('refuses malformed keys, missing files and conflicting settings, naming the variable but never the value', () => {
    const bad = 'c2hvcnQ-but-not-32-bytes';
    let err = failure({ ENGINE_MASTER_KEY: bad });
    let i = issueAt(err, 'masterKey');
    assert.equal(i.source, 'env ENGINE_MASTER_KEY');
    assert.match(i.message, /ENGINE_MASTER_KEY must be a 32-byte key: 64 hex digits or base64/);
    assert.ok(!err.message.includes(bad), 'the value is not echoed');
    err = failure({ ENGINE_MASTER_KEY: 'ab'.repeat(31) });
    assert.match(issueAt(err, 'masterKey').message, /32-byte key/);
    err = failure({ ENGINE_MASTER_KEY_FILE: join(dir, 'no-such.key') });
    i = issueAt(err, 'masterKey');
    assert.equal(i.source, 'env ENGINE_MASTER_KEY_FILE');
    assert.match(i.message, /cannot read .*no-such\.key: ENOENT/);
    writeFileSync(join(dir, 'short.key'), 'abc\n');
    assert.match(issueAt(failure({ ENGINE_MASTER_KEY_FILE: join(dir, 'short.key') }), 'masterKey').message, /ENGINE_MASTER_KEY_FILE \(.*short\.key\) must be a 32-byte key/);
    err = failure({ ENGINE_MASTER_KEY: hex, ENGINE_MASTER_KEY_FILE: join(dir, 'master.key') });
    assert.match(issueAt(err, 'masterKey').message, /set only one of ENGINE_MASTER_KEY, ENGINE_MASTER_KEY_FILE/);
    err = failure({ ENGINE_MASTER_KEY: hex, AUTH_MASTER_KEY: b64 });
    assert.match(issueAt(err, 'masterKey').message, /set only one of ENGINE_MASTER_KEY, AUTH_MASTER_KEY/);
    // Reported together with the other problems.
    err = failure({ ENGINE_MASTER_KEY: bad, ENGINE_SHARDS: '0' });
    issueAt(err, 'shards');
    issueAt(err, 'masterKey');
  });
});

describe('redactUrl', () => {
  it('hides passwords only', () => {
    assert.equal(redactUrl('postgres://u:secret@h:5432/db'), 'postgres://u:***@h:5432/db');
    assert.equal(redactUrl('redis://h:6379'), 'redis://h:6379');
    assert.equal(redactUrl('not a url'), 'not a url');
  });
});
