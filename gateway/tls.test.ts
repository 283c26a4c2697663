// The gateway over TLS, end to end: a self-signed certificate for 127.0.0.1/localhost made with the
// openssl CLI, a real engine, GatewayServer with `tls` on any free port, HTTPS and wss:// clients
// that trust exactly that certificate. Also: what a bad TLS configuration does at start (it must
// fail with a GatewayError, never come up without TLS), and startGateway's ENGINE_TLS_* variables.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { OrderType, Side } from '../core/types.js';
import { startEngine } from '../persistence/recovery.js';
import { TradingClient, type Report } from './client.js';
import type { Engine } from './engine.js';
import { fundAccounts, kitInstruments, tempDataDir } from './engine-test-kit.js';
import { GatewayError, GatewayServer, startGateway, type TlsOptions } from './server.js';
import { StaticTokenAuthenticator, type GatewayPrincipal } from './sessions.js';
import { RawWebSocket } from './ws-test-client.js';

// ------------------------------------------------------------------------------------------ setup

/** Why the suite is skipped, or false. Only a missing CLI skips: a failing openssl fails the tests. */
function opensslMissing(): string | false {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return false;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'the openssl CLI is not on PATH: cannot generate a test certificate';
    throw e;
  }
}

const PASSPHRASE = 'tls-test-passphrase';
const AAA = kitInstruments()[0]!.id;

function principal(userId: number, account: number): GatewayPrincipal {
  return { userId, accounts: new Set([account]), permissions: new Set(['order.place', 'order.cancel']), credentialId: `tls-test-${userId}`, expiresAtMs: null };
}
const authenticator = new StaticTokenAuthenticator(new Map([['token-a1', principal(1, 1)], ['token-a2', principal(2, 2)]]));

let certDir = '';
let dataDir = '';
/** The self-signed certificate (PEM): the only CA the clients trust. */
let certPem = '';
let tls: TlsOptions;
let engine: Engine;
let gateway: GatewayServer;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: certDir, stdio: ['ignore', 'ignore', 'pipe'] });
}

interface HttpsAnswer { status: number; body: string; peerFingerprint256: string }

/** GET over HTTPS; `ca` undefined = Node's default trust store. */
function getHttps(port: number, path: string, ca: string | undefined): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    // agent: false, so no pooled keep-alive socket outlives the test.
    const req = httpsGet({ host: '127.0.0.1', port, path, agent: false, ...(ca !== undefined ? { ca } : {}) }, (res) => {
      const peerFingerprint256 = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peerFingerprint256 }));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error('https request timed out')));
    req.on('error', reject);
  });
}

/** Writes a plain-HTTP request to the port and returns whatever bytes come back until close (or 3 s). */
function plainHttpExchange(port: number): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = netConnect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => { sock.destroy(); resolve({ text: Buffer.concat(chunks).toString('latin1'), closedByServer: false }); }, 3000);
    sock.on('connect', () => sock.write(`GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      // A reset is one way for the server to refuse; anything else is a broken test setup.
      if (e.code !== 'ECONNRESET') { clearTimeout(timer); reject(e); }
    });
    sock.on('close', () => { clearTimeout(timer); resolve({ text: Buffer.concat(chunks).toString('latin1'), closedByServer: true }); });
  });
}

async function until(what: string, pred: () => boolean, timeoutMs = 8000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function rejectsWithGatewayError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof GatewayError, `expected a GatewayError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

/** Sets the ENGINE_TLS_* variables for the duration of `fn`, then puts back what was there. */
async function withTlsEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const names = ['ENGINE_TLS_CERT_FILE', 'ENGINE_TLS_KEY_FILE', 'ENGINE_TLS_PASSPHRASE'];
  const saved = new Map(names.map((n) => [n, process.env[n]]));
  for (const n of names) {
    const v = vars[n];
    if (v === undefined) delete process.env[n]; else process.env[n] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [n, v] of saved) { if (v === undefined) delete process.env[n]; else process.env[n] = v; }
  }
}

// ------------------------------------------------------------------------------------------ tests

describe('gateway over TLS', { skip: opensslMissing() }, () => {
  before(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'engine-tls-certs-'));
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-days', '1', '-keyout', 'key.pem', '-out', 'cert.pem');
    // The same key encrypted (passphrase path) and an unrelated key (mismatch path).
    openssl('pkey', '-in', 'key.pem', '-aes256', '-passout', `pass:${PASSPHRASE}`, '-out', 'key-encrypted.pem');
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other-key.pem');
    certPem = readFileSync(join(certDir, 'cert.pem'), 'utf8');
    tls = { certFile: join(certDir, 'cert.pem'), keyFile: join(certDir, 'key.pem') };

    dataDir = tempDataDir('tls');
    ({ engine } = await startEngine({ instruments: kitInstruments(), shards: 1, durability: 'normal', dataDir }));
    await fundAccounts(engine);
    gateway = await GatewayServer.start(engine, { host: '127.0.0.1', port: 0, tls, authenticator, heartbeatIntervalMs: 0 });
  });

  after(async () => {
    await gateway?.close();
    await engine?.close();
    if (dataDir !== '') rmSync(dataDir, { recursive: true, force: true });
    if (certDir !== '') rmSync(certDir, { recursive: true, force: true });
  });

  it('serves /health over HTTPS with the configured certificate, which default trust refuses', async () => {
    const ok = await getHttps(gateway.port, '/health', certPem);
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { status: 'ok' });
    // The certificate on the wire is the one generated for this test, not some other one.
    assert.equal(ok.peerFingerprint256, new X509Certificate(certPem).fingerprint256);

    await assert.rejects(getHttps(gateway.port, '/health', undefined), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
      return true;
    });
  });

  it('does not answer plain HTTP on the TLS port', async () => {
    const r = await plainHttpExchange(gateway.port);
    assert.doesNotMatch(r.text, /^HTTP\/1\.[01] 200/);
    assert.ok(!r.text.includes('"status":"ok"'), `plain HTTP got the health body: ${JSON.stringify(r.text)}`);
    // It is refused, not left hanging.
    assert.equal(r.closedByServer, true);
  });

  it('takes orders over wss:// with the TypeScript client and sends the execution reports', async () => {
    const base = `wss://127.0.0.1:${gateway.port}/ws/orders`;
    const wsA = await RawWebSocket.connect(base, { Authorization: 'Bearer token-a1' }, 5000, { ca: certPem });
    const wsB = await RawWebSocket.connect(base, { Authorization: 'Bearer token-a2' }, 5000, { ca: certPem });
    try {
      const a = new TradingClient(wsA, { ackTimeoutMs: 8000, firstClientOrderId: 1_000 });
      const b = new TradingClient(wsB, { ackTimeoutMs: 8000, firstClientOrderId: 2_000 });
      const fillsA: Report[] = [], fillsB: Report[] = [];
      a.on('ExecFill', (r: Report) => fillsA.push(r));
      b.on('ExecFill', (r: Report) => fillsB.push(r));

      const sell = await a.newOrder({ instrumentId: AAA, side: Side.Sell, orderType: OrderType.Limit, priceTicks: 10_000, qtyLots: 3 });
      assert.equal(sell.ok, true, `sell rejected, reason ${sell.reason}`);
      assert.equal(sell.report.name, 'ExecAccepted');
      const buy = await b.newOrder({ instrumentId: AAA, side: Side.Buy, orderType: OrderType.Limit, priceTicks: 10_000, qtyLots: 2 });
      assert.equal(buy.ok, true, `buy rejected, reason ${buy.reason}`);

      // The trade reaches both sides over their TLS sessions: maker (liquidity 1) and taker (2).
      await until('both fills', () => fillsA.length === 1 && fillsB.length === 1);
      assert.equal(fillsA[0]!.fields.orderId, sell.report.fields.orderId);
      assert.equal(fillsA[0]!.fields.liquidity, 1);
      assert.equal(fillsA[0]!.fields.leavesQtyLots, 1);
      assert.equal(fillsB[0]!.fields.orderId, buy.report.fields.orderId);
      assert.equal(fillsB[0]!.fields.liquidity, 2);
      assert.equal(fillsB[0]!.fields.leavesQtyLots, 0);
    } finally {
      wsA.destroy();
      wsB.destroy();
    }
  });

  it('wss:// refuses to connect to a server whose certificate the client does not trust', async () => {
    await assert.rejects(
      RawWebSocket.connect(`wss://127.0.0.1:${gateway.port}/ws/orders`, { Authorization: 'Bearer token-a1' }),
      (e: NodeJS.ErrnoException) => { assert.equal(e.code, 'DEPTH_ZERO_SELF_SIGNED_CERT'); return true; },
    );
  });

  describe('a bad TLS configuration fails the start with a GatewayError', () => {
    const start = (t: TlsOptions): Promise<GatewayServer> =>
      GatewayServer.start(engine, { host: '127.0.0.1', port: 0, tls: t, authenticator, heartbeatIntervalMs: 0 });

    it('names a certificate or key file that does not exist', async () => {
      const onAck = engine.onAck;
      await rejectsWithGatewayError(start({ ...tls, certFile: join(certDir, 'missing-cert.pem') }), /TLS certificate file .*missing-cert\.pem cannot be read \(ENOENT\)/);
      await rejectsWithGatewayError(start({ ...tls, keyFile: join(certDir, 'missing-key.pem') }), /TLS key file .*missing-key\.pem cannot be read \(ENOENT\)/);
      // A failed start leaves the engine's ack handler as it was (the running gateway keeps its reports).
      assert.equal(engine.onAck, onAck);
    });

    it('reports a key that does not match, a wrong passphrase, a file that is not PEM', async () => {
      const cause = /TLS setup failed .*not PEM, the key does not match the certificate, or a wrong or missing passphrase/;
      await rejectsWithGatewayError(start({ ...tls, keyFile: join(certDir, 'other-key.pem') }), cause);
      await rejectsWithGatewayError(start({ ...tls, keyFile: join(certDir, 'key-encrypted.pem'), passphrase: 'not-the-passphrase' }), cause);
      await rejectsWithGatewayError(start({ ...tls, certFile: join(certDir, 'key.pem') }), cause);
    });

    it('says so when uWS runs its JavaScript fallback, which has no SSLApp', () => {
      // The fallback is chosen when uWS is first loaded, so it needs its own process.
      const serverJs = fileURLToPath(new URL('./server.js', import.meta.url));
      const script = `
        const { GatewayServer } = await import(${JSON.stringify(serverJs)});
        try {
          await GatewayServer.start({ instruments: [] }, { host: '127.0.0.1', port: 0, tls: ${JSON.stringify(tls)}, authenticator: {} });
          console.log('RESULT ' + JSON.stringify({ started: true }));
        } catch (e) {
          console.log('RESULT ' + JSON.stringify({ name: e.name, message: e.message }));
        }
        process.exit(0);`;
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script],
        { env: { ...process.env, UWS_USE_FALLBACK: '1' }, encoding: 'utf8', timeout: 20_000 });
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      assert.ok(line !== undefined, `no result from the child: ${out}`);
      const r = JSON.parse(line.slice('RESULT '.length)) as { name?: string; message?: string };
      assert.equal(r.name, 'GatewayError');
      assert.match(r.message ?? '', /JavaScript fallback .* has no SSLApp/);
    });
  });

  it('uwsNative() tells the native binary from the JavaScript fallback (the gateway warns at start on the fallback)', () => {
    const serverJs = fileURLToPath(new URL('./server.js', import.meta.url));
    const script = `const { uwsNative } = await import(${JSON.stringify(serverJs)}); console.log('RESULT ' + uwsNative()); process.exit(0);`;
    const run = (env: NodeJS.ProcessEnv): string | undefined => execFileSync(process.execPath, ['--input-type=module', '-e', script],
      { env, encoding: 'utf8', timeout: 20_000 }).split('\n').find((l) => l.startsWith('RESULT '));
    assert.equal(run({ ...process.env, UWS_USE_FALLBACK: '1' }), 'RESULT false');
    const { UWS_USE_FALLBACK: _drop, ...env } = process.env;
    assert.equal(run(env), 'RESULT true');
  });

  describe('startGateway: ENGINE_TLS_* variables', () => {
    const config = { http: { host: '127.0.0.1', port: 0, tls: null }, dataDir: '' };

    it('serves HTTPS from ENGINE_TLS_CERT_FILE, ENGINE_TLS_KEY_FILE and ENGINE_TLS_PASSPHRASE', async () => {
      const g = await withTlsEnv({ ENGINE_TLS_CERT_FILE: tls.certFile, ENGINE_TLS_KEY_FILE: join(certDir, 'key-encrypted.pem'), ENGINE_TLS_PASSPHRASE: PASSPHRASE },
        () => startGateway(engine, { ...config, dataDir }, { authenticator, options: { heartbeatIntervalMs: 0 } }));
      try {
        const r = await getHttps(g.port, '/health', certPem);
        assert.equal(r.status, 200);
        assert.equal(r.peerFingerprint256, new X509Certificate(certPem).fingerprint256);
      } finally {
        await g.close();
      }
    });

    it('refuses one variable without the other, and a wrong passphrase', async () => {
      await withTlsEnv({ ENGINE_TLS_CERT_FILE: tls.certFile }, () =>
        rejectsWithGatewayError(startGateway(engine, { ...config, dataDir }, { authenticator }), /needs both ENGINE_TLS_CERT_FILE and ENGINE_TLS_KEY_FILE/));
      await withTlsEnv({ ENGINE_TLS_CERT_FILE: tls.certFile, ENGINE_TLS_KEY_FILE: join(certDir, 'key-encrypted.pem'), ENGINE_TLS_PASSPHRASE: 'wrong' }, () =>
        rejectsWithGatewayError(startGateway(engine, { ...config, dataDir }, { authenticator }), /TLS setup failed/));
    });
  });
});
