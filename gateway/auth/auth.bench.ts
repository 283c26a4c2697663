// Costs of the identity building blocks on this machine (node dist/gateway/auth/auth.bench.js).
// Prints one line per operation: samples, p50, p99, mean, and ops/s from the mean. Each sample is
// one operation timed with hrtime; the first 10% are a warm-up and dropped. Noisy on a shared
// 2-core machine: compare runs, do not trust a single one. Results go in docs/security.md.

import { generateKeyPairSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { AccessTokens } from './access-token.js';
import { AuditLog, verifyAuditChain } from './audit.js';
import { T0_MS, addUser, openTestIdentity } from './fixtures.js';
import { DEFAULT_PASSWORD_PARAMS, hashPassword, verifyPassword } from './passwords.js';
import { MemoryRateLimiter } from './rate-limit.js';
import { ReplayCache } from './replay-cache.js';
import { SignatureVerifier, signRequest } from './signing.js';

interface Stat { name: string; n: number; p50Us: number; p99Us: number; meanUs: number }

function stats(name: string, samplesNs: number[]): Stat {
  const kept = samplesNs.slice(Math.floor(samplesNs.length / 10)).sort((a, b) => a - b);
  const at = (q: number) => kept[Math.min(kept.length - 1, Math.floor(q * kept.length))]! / 1000;
  const meanUs = kept.reduce((s, x) => s + x, 0) / kept.length / 1000;
  return { name, n: kept.length, p50Us: at(0.5), p99Us: at(0.99), meanUs };
}

async function time(name: string, n: number, f: (i: number) => unknown): Promise<Stat> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await f(i);
    out.push(Number(process.hrtime.bigint() - t));
  }
  return stats(name, out);
}

function timeSync(name: string, n: number, f: (i: number) => unknown): Stat {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    f(i);
    out.push(Number(process.hrtime.bigint() - t));
  }
  return stats(name, out);
}

function fmt(us: number): string {
  return us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${us.toFixed(1)} us`;
}

async function main(): Promise<void> {
  const results: Stat[] = [];
  const p = DEFAULT_PASSWORD_PARAMS;
  const label = `m=${p.memoryKib} KiB, t=${p.timeCost}, p=${p.parallelism}`;
  const stored = await hashPassword('correct horse battery staple');
  results.push(await time(`argon2id hash (${label})`, 30, () => hashPassword('correct horse battery staple')));
  results.push(await time(`argon2id verify (${label})`, 30, () => verifyPassword(stored, 'correct horse battery staple')));
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: 16 }, () => verifyPassword(stored, 'wrong password here')));
  const burstMs = Number(process.hrtime.bigint() - t0) / 1e6;

  const hs = new AccessTokens({ key: { alg: 'HS256', secret: Buffer.alloc(32, 1) } });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const ed = new AccessTokens({ key: { alg: 'EdDSA', privateKey, publicKey } });
  const subject = { userId: 1, roles: ['trader'] as const, accountIds: [1, 2, 3] };
  const hsTok = (await hs.issue(subject, T0_MS)).token;
  const edTok = (await ed.issue(subject, T0_MS)).token;
  results.push(await time('JWT HS256 issue', 3000, () => hs.issue(subject, T0_MS)));
  results.push(await time('JWT HS256 verify', 3000, () => hs.verify(hsTok, T0_MS)));
  results.push(await time('JWT EdDSA verify', 3000, () => ed.verify(edTok, T0_MS)));

  const id = openTestIdentity();
  try {
    const user = await addUser(id, 'bench@example.com', ['trader'], [1]);
    const key = id.apiKeys.create({ userId: user, accountIds: [1], scopes: ['trade'] }, T0_MS);
    const verifier = new SignatureVerifier({ keys: id.apiKeys, store: id.store, replay: new ReplayCache(1_000_000), cacheTtlMs: 3_600_000 });
    const uncached = new SignatureVerifier({ keys: id.apiKeys, store: id.store, replay: new ReplayCache(1_000_000), cacheTtlMs: 0 });
    const body = Buffer.from(JSON.stringify({ symbol: 'BTC-USD', side: 'buy', type: 'limit', price: '65000.50', qty: '0.125', tif: 'GTC', clientOrderId: 123456789 }));
    const req = { method: 'POST', pathWithQuery: '/api/v1/orders?account=1', body };
    const N = 20_000;
    const signed = Array.from({ length: N }, (_, i) => ({ ...req, headers: signRequest(key.keyId, key.secret, req, { timestampMs: T0_MS, nonce: `bench-nonce-${String(i).padStart(10, '0')}` }) }));
    results.push(timeSync('HMAC request verify (key cached)', N, (i) => verifier.verifyRequest(signed[i]!, T0_MS)));
    results.push(timeSync('HMAC request verify (key from SQLite + unseal)', N, (i) => uncached.verifyRequest({ ...signed[i]!, headers: { ...signed[i]!.headers } }, T0_MS + 1)));
    const direct = new AuditLog(id.db); // the synchronous writer, one transaction per row (id.audit is the worker's)
    results.push(timeSync('audit append (SQLite WAL, own transaction)', 5000, (i) => direct.append({ tsMs: T0_MS + i, actor: 'user:1', action: 'order.place', target: 'account:1', remoteAddr: '192.0.2.1', requestId: `r${i}`, outcome: 'success', detail: { qty: i } })));
    const vt = process.hrtime.bigint();
    const v = verifyAuditChain(id.db);
    const verifyMs = Number(process.hrtime.bigint() - vt) / 1e6;
    const lim = new MemoryRateLimiter();
    const pol = { burst: 100, ratePerSecond: 50 };
    results.push(timeSync('rate limit consumeSync (10k keys)', 200_000, (i) => lim.consumeSync(`ip:${i % 10_000}`, pol, T0_MS + i)));

    console.log(`node ${process.version}, ${process.platform}/${process.arch}`);
    console.log('| operation | samples | p50 | p99 | mean | ops/s (1 thread) |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const r of results) console.log(`| ${r.name} | ${r.n} | ${fmt(r.p50Us)} | ${fmt(r.p99Us)} | ${fmt(r.meanUs)} | ${Math.round(1e6 / r.meanUs).toLocaleString('en-US')} |`);
    console.log(`16 argon2id verifies at once (libuv pool of ${process.env['UV_THREADPOOL_SIZE'] ?? 4}): ${burstMs.toFixed(0)} ms, ${(16000 / burstMs).toFixed(0)}/s`);
    console.log(`verifyAuditChain over ${v.rows} rows: ${verifyMs.toFixed(1)} ms (${v.ok ? 'ok' : 'BROKEN'})`);
  } finally {
    id.dispose();
  }
}

await main();
