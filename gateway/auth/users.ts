// Users, their roles, and the trading accounts they own or were given access to.

import { prepared, type IdentityDb } from './db.js';
import { AuthError } from './errors.js';
import { DEFAULT_PASSWORD_PARAMS, hashPassword, passwordProblem, type PasswordHashParams } from './passwords.js';
import { isRole, type Role } from './permissions.js';

export const ACCOUNT_TYPES = ['spot', 'margin', 'futures'] as const;
export type AccountType = (typeof ACCOUNT_TYPES)[number];

export interface UserRecord {
  readonly id: number;
  readonly username: string;
  readonly email: string;
  readonly isActive: boolean;
  readonly createdAtMs: number;
}

export interface AccountRecord {
  readonly id: number;
  readonly userId: number;
  readonly accountType: AccountType;
  readonly exchange: string;
  readonly isActive: boolean;
}

export interface NewUser {
  readonly email: string;
  readonly password: string;
  /** Defaults to the e-mail. */
  readonly username?: string;
  readonly firstName?: string;
  readonly lastName?: string;
  readonly roles?: readonly Role[];
}

export interface NewAccount {
  readonly userId: number;
  /** The engine's account id; default: one more than the highest so far. */
  readonly id?: number;
  readonly accountType?: AccountType;
  readonly exchange?: string;
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$/;
const USERNAME = /^[A-Za-z0-9._@+-]{3,254}$/;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

interface UserRow { id: number; username: string; email: string; is_active: number; created_at_ms: number; password_hash: string }
interface AccountRow { id: number; user_id: number; account_type: AccountType; exchange: string; is_active: number }

function toUser(r: UserRow): UserRecord {
  return { id: r.id, username: r.username, email: r.email, isActive: r.is_active === 1, createdAtMs: r.created_at_ms };
}

function toAccount(r: AccountRow): AccountRecord {
  return { id: r.id, userId: r.user_id, accountType: r.account_type, exchange: r.exchange, isActive: r.is_active === 1 };
}

export function checkAccountId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 1) throw new AuthError('invalid_account', `account id must be an integer in [1, 2^53-1], got ${id}`);
}

export class IdentityStore {
  constructor(readonly db: IdentityDb, private readonly passwordParams: PasswordHashParams = DEFAULT_PASSWORD_PARAMS) {}

  async createUser(u: NewUser, nowMs: number): Promise<UserRecord> {
    const email = normalizeEmail(u.email);
    if (email.length > 254 || !EMAIL.test(email)) throw new AuthError('invalid_email', `not an e-mail address: ${JSON.stringify(u.email)}`);
    const username = u.username ?? email;
    if (!USERNAME.test(username)) throw new AuthError('invalid_argument', `invalid username ${JSON.stringify(username)}`);
    const problem = passwordProblem(u.password);
    if (problem) throw new AuthError('invalid_password', problem);
    const roles = u.roles ?? [];
    for (const r of roles) if (!isRole(r)) throw new AuthError('invalid_role', `unknown role ${r}`);
    if (this.findUser(email)) throw new AuthError('duplicate', `a user with e-mail ${email} exists`);
    const passwordHash = await hashPassword(u.password, this.passwordParams);
    return this.db.transaction(() => {
      if (this.findUser(email) || this.findUser(username)) throw new AuthError('duplicate', `user ${email} exists`);
      const info = prepared(this.db, 
        `INSERT INTO users (username, email, password_hash, first_name, last_name, is_active, created_at_ms, updated_at_ms)
         VALUES (?, ?, ?, ?, ?, 1, ?, ?)`,
      ).run(username, email, passwordHash, u.firstName ?? null, u.lastName ?? null, nowMs, nowMs);
      const id = Number(info.lastInsertRowid);
      for (const r of roles) this.grantRole(id, r, nowMs);
      return this.getUser(id);
    }).immediate();
  }

  /** By id, e-mail or username; undefined when there is none. */
  findUser(ref: number | string): UserRecord | undefined {
    const row = this.userRow(ref);
    return row ? toUser(row) : undefined;
  }

  getUser(ref: number | string): UserRecord {
    const u = this.findUser(ref);
    if (!u) throw new AuthError('not_found', `no user ${ref}`);
    return u;
  }

  /** The stored password hash (for login), with the user. */
  credentialsOf(email: string): { user: UserRecord; passwordHash: string } | undefined {
    const row = this.userRow(normalizeEmail(email));
    return row ? { user: toUser(row), passwordHash: row.password_hash } : undefined;
  }

  setPasswordHash(userId: number, passwordHash: string, nowMs: number): void {
    prepared(this.db, 'UPDATE users SET password_hash = ?, updated_at_ms = ? WHERE id = ?').run(passwordHash, nowMs, userId);
  }

  setUserActive(userId: number, active: boolean, nowMs: number): void {
    const r = prepared(this.db, 'UPDATE users SET is_active = ?, updated_at_ms = ? WHERE id = ?').run(active ? 1 : 0, nowMs, userId);
    if (r.changes === 0) throw new AuthError('not_found', `no user ${userId}`);
  }

  grantRole(userId: number, role: Role, nowMs: number): void {
    if (!isRole(role)) throw new AuthError('invalid_role', `unknown role ${role}`);
    this.getUser(userId);
    prepared(this.db, 'INSERT OR IGNORE INTO user_roles (user_id, role, granted_at_ms) VALUES (?, ?, ?)').run(userId, role, nowMs);
  }

  revokeRole(userId: number, role: Role): boolean {
    if (!isRole(role)) throw new AuthError('invalid_role', `unknown role ${role}`);
    return prepared(this.db, 'DELETE FROM user_roles WHERE user_id = ? AND role = ?').run(userId, role).changes > 0;
  }

  rolesOf(userId: number): Role[] {
    const rows = prepared(this.db, 'SELECT role FROM user_roles WHERE user_id = ? ORDER BY role').pluck().all(userId) as string[];
    return rows.filter(isRole);
  }

  createAccount(a: NewAccount, nowMs: number): AccountRecord {
    const type = a.accountType ?? 'spot';
    if (!(ACCOUNT_TYPES as readonly string[]).includes(type)) throw new AuthError('invalid_argument', `account type must be one of ${ACCOUNT_TYPES.join(', ')}`);
    if (a.id !== undefined) checkAccountId(a.id);
    return this.db.transaction(() => {
      this.getUser(a.userId);
      const id = a.id ?? (prepared(this.db, 'SELECT COALESCE(MAX(id), 0) + 1 FROM trading_accounts').pluck().get() as number);
      if (this.findAccount(id)) throw new AuthError('duplicate', `account ${id} exists`);
      prepared(this.db, 
        'INSERT INTO trading_accounts (id, user_id, account_type, exchange, is_active, created_at_ms) VALUES (?, ?, ?, ?, 1, ?)',
      ).run(id, a.userId, type, a.exchange ?? 'internal', nowMs);
      return this.findAccount(id)!;
    }).immediate();
  }

  findAccount(id: number): AccountRecord | undefined {
    const row = prepared(this.db, 'SELECT id, user_id, account_type, exchange, is_active FROM trading_accounts WHERE id = ?').get(id) as AccountRow | undefined;
    return row ? toAccount(row) : undefined;
  }

  setAccountActive(id: number, active: boolean): void {
    const r = prepared(this.db, 'UPDATE trading_accounts SET is_active = ? WHERE id = ?').run(active ? 1 : 0, id);
    if (r.changes === 0) throw new AuthError('not_found', `no account ${id}`);
  }

  grantAccountAccess(userId: number, accountId: number, nowMs: number): void {
    this.getUser(userId);
    if (!this.findAccount(accountId)) throw new AuthError('not_found', `no account ${accountId}`);
    prepared(this.db, 'INSERT OR IGNORE INTO account_access (user_id, account_id, granted_at_ms) VALUES (?, ?, ?)').run(userId, accountId, nowMs);
  }

  revokeAccountAccess(userId: number, accountId: number): boolean {
    return prepared(this.db, 'DELETE FROM account_access WHERE user_id = ? AND account_id = ?').run(userId, accountId).changes > 0;
  }

  /** Active accounts the user owns or was given access to, ascending. */
  accountIdsOf(userId: number): number[] {
    return prepared(this.db, 
      `SELECT id FROM trading_accounts WHERE user_id = ? AND is_active = 1
       UNION
       SELECT a.id FROM account_access x JOIN trading_accounts a ON a.id = x.account_id WHERE x.user_id = ? AND a.is_active = 1
       ORDER BY 1`,
    ).pluck().all(userId, userId) as number[];
  }

  private userRow(ref: number | string): UserRow | undefined {
    const cols = 'id, username, email, is_active, created_at_ms, password_hash';
    if (typeof ref === 'number') return prepared(this.db, `SELECT ${cols} FROM users WHERE id = ?`).get(ref) as UserRow | undefined;
    return prepared(this.db, `SELECT ${cols} FROM users WHERE email = ? OR username = ?`).get(normalizeEmail(ref), ref) as UserRow | undefined;
  }
}
