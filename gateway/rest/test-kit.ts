// A running gateway with the REST shim for tests and the bench: real engine (journal, shard worker,
// ledger, durable acks), real identity (SQLite, argon2 with cheap parameters, HS256 JWTs, sealed API
// keys, audit), uWS on 127.0.0.1 (any free port).

import type { InstrumentSpec } from '../../core/instrument.js';
import { startEngine } from '../../persistence/recovery.js';
import { testSpec } from '../../testing/fixtures.js';
import { addUser, openTestIdentity, PASSWORD, type TestIdentity } from '../auth/fixtures.js';
import type { Role } from '../auth/permissions.js';
import { signRequest } from '../auth/signing.js';
import type { Engine, EngineOptions } from '../engine.js';
import { fundAccounts, tempDataDir } from '../engine-test-kit.js';
import { GatewayServer } from '../server.js';
import { CredentialAuthenticator } from '../sessions.js';
import { mountRest, type RestApi, type RestDeps } from './mount.js';
import { randomBytes } from 'node:crypto';

export const REST_INSTRUMENTS: InstrumentSpec[] = [
  testSpec({ id: 1, symbol: 'AAA-USD', baseAsset: 'AAA', orderCapacity: 20_000, clientIdRetention: 1000 }),
  testSpec({ id: 2, symbol: 'BBB-USD', baseAsset: 'BBB', orderCapacity: 20_000, clientIdRetention: 1000 }),
];

export interface KitUser { email: string; userId: number; roles: Role[]; accounts: number[]; token: string }

export interface RestKit {
  engine: Engine;
  gateway: GatewayServer;
  identity: TestIdentity;
  rest: RestApi;
  base: string;
  users: Record<string, KitUser>;
  close(): Promise<void>;
}

/** Users: trader (account 1), trader2 (2), viewer (3), risk (risk_manager, access to 1), admin (none), limited (viewer, 4). */
export const KIT_USERS: { name: string; roles: Role[]; accounts: number[] }[] = [
  { name: 'trader', roles: ['trader'], accounts: [1] },
  { name: 'trader2', roles: ['trader'], accounts: [2] },
  { name: 'viewer', roles: ['viewer'], accounts: [3] },
  { name: 'risk', roles: ['risk_manager'], accounts: [] },
  { name: 'admin', roles: ['admin'], accounts: [] },
  { name: 'limited', roles: ['viewer'], accounts: [4] },
];

/**
 * `kit.dataDir`: the engine's data dir (a restart on the same one recovers it); default a new temp dir.
 * `kit.engine`: more engine options (e.g. maxParkMs).
 */
export async function startRestKit(o: Partial<RestDeps> = {}, kit: { dataDir?: string; engine?: Partial<EngineOptions> } = {}): Promise<RestKit> {
  const dataDir = kit.dataDir ?? tempDataDir('rest');
  const { engine } = await startEngine({ instruments: REST_INSTRUMENTS, shards: 1, durability: 'normal', dataDir, ...kit.engine });
  await fundAccounts(engine);
  const identity = openTestIdentity();
  let rest: RestApi | null = null;
  const gateway = await GatewayServer.start(engine, {
    host: '127.0.0.1', port: 0, heartbeatIntervalMs: 0,
    authenticator: new CredentialAuthenticator({ signatures: identity.signatures, accessTokens: identity.accessTokens }),
    mount: (g) => {
      rest = mountRest(g, {
        identity, corsOrigins: ['https://ui.example'], perIp: { burst: 1e6, ratePerSecond: 1e6 }, perKey: { burst: 300, ratePerSecond: 1 },
        loginPolicy: { burst: 100, ratePerSecond: 10 }, history: null, ...o,
      });
    },
  });
  const base = `http://127.0.0.1:${gateway.port}`;
  const users: Record<string, KitUser> = {};
  for (const u of KIT_USERS) {
    const email = `${u.name}@example.com`;
    const userId = await addUser(identity, email, u.roles, u.accounts);
    users[u.name] = { email, userId, roles: u.roles, accounts: u.accounts, token: '' };
  }
  identity.store.grantAccountAccess(users['risk']!.userId, 1, Date.now());
  users['risk']!.accounts = [1];
  for (const u of Object.values(users)) {
    const r = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: u.email, password: PASSWORD }) });
    if (r.status !== 200) throw new Error(`login ${u.email}: ${r.status} ${await r.text()}`);
    u.token = ((await r.json()) as { access_token: string }).access_token;
  }
  return {
    engine, gateway, identity, rest: rest!, base, users,
    close: async () => {
      await gateway.close();
      rest?.close();
      await engine.close();
      identity.dispose();
    },
  };
}

export interface CallResult { status: number; body: any; headers: Headers }

/** fetch with a bearer token (or none) and a JSON body. */
export async function call(base: string, method: string, path: string, o: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: string } = {}): Promise<CallResult> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token) headers['authorization'] = `Bearer ${o.token}`;
  let body: string | undefined = o.raw;
  if (o.body !== undefined) { body = JSON.stringify(o.body); headers['content-type'] ??= 'application/json'; }
  const r = await fetch(base + path, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await r.text();
  let parsed: unknown = text;
  try { parsed = text === '' ? null : JSON.parse(text); } catch { /* text */ }
  return { status: r.status, body: parsed, headers: r.headers };
}

/** A request signed with an API key (gateway/auth/signing.ts). */
export async function signedCall(base: string, key: { keyId: string; secret: string }, method: string, pathWithQuery: string, body?: unknown): Promise<CallResult> {
  const raw = body === undefined ? '' : JSON.stringify(body);
  const h = signRequest(key.keyId, key.secret, { method, pathWithQuery, body: Buffer.from(raw) }, { timestampMs: Date.now(), nonce: randomBytes(12).toString('hex') });
  return call(base, method, pathWithQuery, { headers: { ...h, ...(raw !== '' ? { 'content-type': 'application/json' } : {}) }, ...(raw !== '' ? { raw } : {}) });
}
