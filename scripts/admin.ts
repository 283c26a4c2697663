// Operator CLI for identity: users, accounts, roles, API keys, and the audit trail.
//
//   node dist/scripts/admin.js <command> [options]
//
//   create-user     --email E (--password-stdin | --password-env VAR) [--role R]... [--username U]
//   create-account  --user U [--id N] [--type spot|margin|futures]
//   grant-role      --user U --role viewer|trader|risk_manager|admin
//   revoke-role     --user U --role R
//   grant-account   --user U --account N        (access to an account the user does not own)
//   create-api-key  --user U --accounts 1,2 --scopes read,trade[,risk] [--label L] [--expires-days N]
//   revoke-api-key  --key ak_...
//   audit-verify    [--expect-head SEQ:HASH]
//
// Common: --data-dir DIR (default: the engine configuration's dataDir), --json (one JSON object
// on stdout). U is a user id, e-mail or username. Every change is written to the audit trail as
// "operator:<OS user>" from "local". Exit codes: 0 done, 1 failed (e.g. the audit chain is broken),
// 2 bad input (message on stderr).

import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, parseCommandLine, type CliValues } from './cli.js';
import { loadEngineConfig } from '../config/engine.js';
import type { AuditHead } from '../gateway/auth/audit.js';
import { AuthError } from '../gateway/auth/errors.js';
import { openIdentity, type Identity } from '../gateway/auth/identity.js';
import { isApiKeyScope, isRole, type ApiKeyScope, type Role } from '../gateway/auth/permissions.js';
import { ACCOUNT_TYPES, type AccountType, type UserRecord } from '../gateway/auth/users.js';

export { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './cli.js';

export interface AdminIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** Standard input as text (for --password-stdin). */
  readonly readStdin: () => string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly nowMs: () => number;
}

const USAGE = `usage: admin <command> [options]
commands:
  create-user     --email E (--password-stdin | --password-env VAR) [--role R]... [--username U]
  create-account  --user U [--id N] [--type ${ACCOUNT_TYPES.join('|')}]
  grant-role      --user U --role viewer|trader|risk_manager|admin
  revoke-role     --user U --role R
  grant-account   --user U --account N
  create-api-key  --user U --accounts N[,N...] --scopes read[,trade][,risk] [--label L] [--expires-days N]
  revoke-api-key  --key KEY_ID
  audit-verify    [--expect-head SEQ:HASH]
options: --data-dir DIR, --json`;

class UsageError extends Error {}

const OPTIONS = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  email: { type: 'string' },
  username: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  'password-env': { type: 'string' },
  role: { type: 'string', multiple: true },
  user: { type: 'string' },
  id: { type: 'string' },
  type: { type: 'string' },
  account: { type: 'string' },
  accounts: { type: 'string' },
  scopes: { type: 'string' },
  label: { type: 'string' },
  'expires-days': { type: 'string' },
  key: { type: 'string' },
  'expect-head': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = CliValues<typeof OPTIONS>;

interface Ctx {
  readonly id: Identity;
  readonly v: Values;
  readonly io: AdminIo;
  readonly nowMs: number;
  readonly actor: string;
}

type Result = { readonly code: number; readonly data: Record<string, unknown>; readonly text: string[] };

const COMMANDS: Record<string, (c: Ctx) => Promise<Result> | Result> = {
  'create-user': createUser,
  'create-account': createAccount,
  'grant-role': (c) => changeRole(c, true),
  'revoke-role': (c) => changeRole(c, false),
  'grant-account': grantAccount,
  'create-api-key': createApiKey,
  'revoke-api-key': revokeApiKey,
  'audit-verify': auditVerify,
};

export async function runAdmin(argv: readonly string[], io: AdminIo): Promise<number> {
  const cl = parseCommandLine('admin', argv, OPTIONS, USAGE, COMMANDS, io);
  if ('exit' in cl) return cl.exit;
  const { name, command, values: v } = cl;
  let identity: Identity | undefined;
  try {
    const dataDir = v['data-dir'] !== undefined ? resolve(v['data-dir']) : loadEngineConfig({ env: io.env as NodeJS.ProcessEnv }).dataDir;
    // A short-lived process: its audit rows are written on this thread (still one chain with the
    // gateway's writer: each transaction reads the head under SQLite's write lock).
    identity = openIdentity({ dataDir, env: io.env, auditThread: false });
    const r = await command({ id: identity, v, io, nowMs: io.nowMs(), actor: `operator:${operatorName()}` });
    if (v.json) io.out(JSON.stringify(r.data));
    else for (const line of r.text) io.out(line);
    return r.code;
  } catch (e) {
    if (e instanceof UsageError || e instanceof AuthError) {
      io.err(`admin ${name}: ${e.message}`);
      return EXIT_USAGE;
    }
    io.err(`admin ${name}: failed: ${(e as Error).message}`);
    return EXIT_FAILED;
  } finally {
    identity?.close();
  }
}

function operatorName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

function need(v: Values, flag: keyof Values): string {
  const x = v[flag];
  if (typeof x !== 'string' || x === '') throw new UsageError(`--${flag} is required`);
  return x;
}

function positiveInt(s: string, what: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(s) || !Number.isSafeInteger(Number(s))) throw new UsageError(`${what} must be a positive integer, got ${JSON.stringify(s)}`);
  return Number(s);
}

function userOf(c: Ctx): UserRecord {
  const ref = need(c.v, 'user');
  const u = c.id.store.findUser(/^[0-9]+$/.test(ref) ? Number(ref) : ref);
  if (!u) throw new UsageError(`no user ${JSON.stringify(ref)}`);
  return u;
}

function roleOf(s: string): Role {
  if (!isRole(s)) throw new UsageError(`unknown role ${JSON.stringify(s)}; roles: viewer, trader, risk_manager, admin`);
  return s;
}

/** Writes the operator's audit row and waits for its commit (a failure fails the command). */
async function audit(c: Ctx, action: string, target: string, detail: Record<string, unknown> = {}): Promise<void> {
  await c.id.audit.append({ tsMs: c.nowMs, actor: c.actor, action, target, remoteAddr: 'local', outcome: 'success', detail });
}

async function createUser(c: Ctx): Promise<Result> {
  const email = need(c.v, 'email');
  const roles = (c.v.role ?? []).map(roleOf);
  let password: string;
  if (c.v['password-stdin']) {
    password = c.io.readStdin().replace(/\r?\n$/, '');
  } else if (c.v['password-env'] !== undefined) {
    const value = c.io.env[c.v['password-env']];
    if (value === undefined) throw new UsageError(`environment variable ${c.v['password-env']} is not set`);
    password = value;
  } else {
    throw new UsageError('give the password with --password-stdin or --password-env VAR (never on the command line)');
  }
  const u = await c.id.store.createUser({ email, password, roles, ...(c.v.username !== undefined ? { username: c.v.username } : {}) }, c.nowMs);
  await audit(c, 'user.create', `user:${u.id}`, { email: u.email, roles });
  return { code: EXIT_OK, data: { userId: u.id, email: u.email, roles }, text: [`created user ${u.id} <${u.email}> roles: ${roles.join(', ') || '(none)'}`] };
}

async function createAccount(c: Ctx): Promise<Result> {
  const u = userOf(c);
  const type = c.v.type ?? 'spot';
  if (!(ACCOUNT_TYPES as readonly string[]).includes(type)) throw new UsageError(`--type must be one of ${ACCOUNT_TYPES.join(', ')}`);
  const a = c.id.store.createAccount({
    userId: u.id, accountType: type as AccountType,
    ...(c.v.id !== undefined ? { id: positiveInt(c.v.id, '--id') } : {}),
  }, c.nowMs);
  await audit(c, 'account.create', `account:${a.id}`, { userId: u.id, accountType: a.accountType });
  return { code: EXIT_OK, data: { accountId: a.id, userId: u.id, accountType: a.accountType }, text: [`created account ${a.id} (${a.accountType}) for user ${u.id}`] };
}

async function changeRole(c: Ctx, grant: boolean): Promise<Result> {
  const u = userOf(c);
  const given = c.v.role ?? [];
  if (given.length !== 1) throw new UsageError('give exactly one --role');
  const role = roleOf(given[0]!);
  if (grant) c.id.store.grantRole(u.id, role, c.nowMs);
  else if (!c.id.store.revokeRole(u.id, role)) throw new UsageError(`user ${u.id} does not have role ${role}`);
  await audit(c, grant ? 'role.grant' : 'role.revoke', `user:${u.id}`, { role });
  const roles = c.id.store.rolesOf(u.id);
  return { code: EXIT_OK, data: { userId: u.id, roles }, text: [`user ${u.id} roles: ${roles.join(', ') || '(none)'}`] };
}

async function grantAccount(c: Ctx): Promise<Result> {
  const u = userOf(c);
  const accountId = positiveInt(need(c.v, 'account'), '--account');
  c.id.store.grantAccountAccess(u.id, accountId, c.nowMs);
  await audit(c, 'account.grant_access', `account:${accountId}`, { userId: u.id });
  return { code: EXIT_OK, data: { userId: u.id, accountIds: c.id.store.accountIdsOf(u.id) }, text: [`user ${u.id} accounts: ${c.id.store.accountIdsOf(u.id).join(', ')}`] };
}

async function createApiKey(c: Ctx): Promise<Result> {
  const u = userOf(c);
  const accountIds = need(c.v, 'accounts').split(',').map((s) => positiveInt(s.trim(), '--accounts'));
  const scopes = need(c.v, 'scopes').split(',').map((s) => s.trim());
  for (const s of scopes) if (!isApiKeyScope(s)) throw new UsageError(`unknown scope ${JSON.stringify(s)}; scopes: read, trade, risk`);
  const days = c.v['expires-days'];
  const expiresAtMs = days === undefined ? undefined : c.nowMs + positiveInt(days, '--expires-days') * 86_400_000;
  const k = c.id.apiKeys.create({
    userId: u.id, accountIds, scopes: scopes as ApiKeyScope[],
    ...(c.v.label !== undefined ? { label: c.v.label } : {}),
    ...(expiresAtMs !== undefined ? { expiresAtMs } : {}),
  }, c.nowMs);
  await audit(c, 'apikey.create', `key:${k.keyId}`, { userId: u.id, accountIds, scopes, expiresAtMs: expiresAtMs ?? null });
  return {
    code: EXIT_OK,
    data: { keyId: k.keyId, secret: k.secret, userId: u.id, accountIds, scopes, expiresAtMs: expiresAtMs ?? null },
    text: [
      `key id:  ${k.keyId}`,
      `secret:  ${k.secret}`,
      'The secret is shown this once and cannot be recovered; store it now.',
    ],
  };
}

async function revokeApiKey(c: Ctx): Promise<Result> {
  const keyId = need(c.v, 'key');
  if (!c.id.apiKeys.find(keyId)) throw new UsageError(`no API key ${JSON.stringify(keyId)}`);
  if (!c.id.apiKeys.revoke(keyId, c.nowMs)) throw new UsageError(`API key ${keyId} is already revoked`);
  await audit(c, 'apikey.revoke', `key:${keyId}`);
  return { code: EXIT_OK, data: { keyId, revoked: true }, text: [`revoked ${keyId} (running gateways stop accepting it within their key cache time, 5 s by default)`] };
}

function auditVerify(c: Ctx): Result {
  let expected: AuditHead | undefined;
  const h = c.v['expect-head'];
  if (h !== undefined) {
    const m = /^([1-9][0-9]*):([0-9a-f]{64})$/.exec(h);
    if (!m) throw new UsageError('--expect-head must be SEQ:HASH (the hash as 64 lower-case hex digits)');
    expected = { seq: Number(m[1]), hash: m[2]! };
  }
  const r = c.id.audit.verify(expected);
  if (r.ok) {
    const head = r.head ? `${r.head.seq}:${r.head.hash}` : '(empty)';
    return { code: EXIT_OK, data: { ok: true, rows: r.rows, head: r.head }, text: [`audit chain OK: ${r.rows} rows; head ${head}`, 'Record the head elsewhere; pass it as --expect-head later to detect truncation.'] };
  }
  return { code: EXIT_FAILED, data: { ok: false, rows: r.rows, seq: r.seq, problem: r.problem, message: r.message }, text: [`audit chain BROKEN at seq ${r.seq} (${r.problem}): ${r.message}; ${r.rows} rows before it verify`] };
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  const io: AdminIo = {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
    readStdin: () => readFileSync(0, 'utf8'),
    env: process.env,
    nowMs: () => Date.now(),
  };
  runAdmin(process.argv.slice(2), io).then((code) => { process.exitCode = code; }, (e: unknown) => {
    process.stderr.write(`admin: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = EXIT_FAILED;
  });
}
