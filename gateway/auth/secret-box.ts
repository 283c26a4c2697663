// Sealing of API-key secrets at rest: AES-256-GCM under a master key kept outside the identity
// database: from the environment (ENGINE_MASTER_KEY, or ENGINE_MASTER_KEY_FILE naming a file, e.g.
// a mounted secret; then nothing is written to the data dir), else a key file beside the database
// (<dataDir>/identity-master.key, mode 0600, created on first use). HMAC verification needs the
// secret itself, so a hash cannot be what is stored; sealing means a copy of the database alone (a
// backup, the Postgres replica) gives no usable key, and with the key kept outside the data dir a
// copy of the whole data dir gives none either.
//
// Sealed layout: version (1 byte, 0x01) || nonce (12 bytes) || ciphertext || GCM tag (16 bytes).
// The additional authenticated data is the key id, so a sealed secret cannot be moved to another id.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { AuthError } from './errors.js';

export const MASTER_KEY_BYTES = 32;
const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class SecretBox {
  private readonly key: Buffer;

  constructor(masterKey: Uint8Array) {
    if (masterKey.byteLength !== MASTER_KEY_BYTES) throw new AuthError('weak_key', `the master key must be ${MASTER_KEY_BYTES} bytes`);
    this.key = Buffer.from(masterKey);
  }

  seal(plaintext: Uint8Array, aad: string): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const c = createCipheriv('aes-256-gcm', this.key, nonce);
    c.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([c.update(plaintext), c.final()]);
    return Buffer.concat([Buffer.of(VERSION), nonce, body, c.getAuthTag()]);
  }

  /** The plaintext, or undefined when the box was altered, moved or sealed under another key. */
  open(sealed: Uint8Array, aad: string): Buffer | undefined {
    const b = Buffer.from(sealed);
    if (b.length < 1 + NONCE_BYTES + TAG_BYTES || b[0] !== VERSION) return undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, b.subarray(1, 1 + NONCE_BYTES));
      d.setAAD(Buffer.from(aad, 'utf8'));
      d.setAuthTag(b.subarray(b.length - TAG_BYTES));
      return Buffer.concat([d.update(b.subarray(1 + NONCE_BYTES, b.length - TAG_BYTES)), d.final()]);
    } catch {
      return undefined;
    }
  }
}

/**
 * Reads a key of `bytes` random bytes from `file` (base64url text), creating it with mode 0600 the
 * first time. The file must hold exactly one key of that size.
 */
export function loadOrCreateKeyFile(file: string, bytes: number = MASTER_KEY_BYTES): Buffer {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    try {
      writeFileSync(file, `${randomBytes(bytes).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // another process made it first
    }
  }
  chmodSync(file, 0o600);
  return decodeKey(readFileSync(file, 'utf8'), bytes, file);
}

/** A base64 or base64url key of exactly `bytes` bytes (from a file or an environment variable). */
export function decodeKey(text: string, bytes: number, where: string): Buffer {
  const t = text.trim();
  const key = Buffer.from(t, t.includes('+') || t.includes('/') ? 'base64' : 'base64url');
  if (!/^[A-Za-z0-9+/_=-]+$/.test(t) || key.length !== bytes) {
    throw new AuthError('weak_key', `${where} must hold a base64 key of exactly ${bytes} bytes`);
  }
  return key;
}

/** Environment variables naming the master key (see masterKeySourceFromEnv). */
export const ENV_ENGINE_MASTER_KEY = 'ENGINE_MASTER_KEY';
export const ENV_ENGINE_MASTER_KEY_FILE = 'ENGINE_MASTER_KEY_FILE';
/** The older name of ENGINE_MASTER_KEY, still read. */
export const ENV_AUTH_MASTER_KEY = 'AUTH_MASTER_KEY';

/** A master key that cannot be used: missing, malformed, conflicting settings, or not the sealing key. */
export class MasterKeyError extends Error {
  override readonly name = 'MasterKeyError';
  constructor(readonly code: 'master_key_invalid' | 'master_key_conflict' | 'master_key_unreadable' | 'master_key_mismatch' | 'master_key_missing', message: string) {
    super(message);
  }
}

/** Where the master key comes from. */
export type MasterKeySource =
  | { kind: 'env'; name: string; key: Buffer }
  | { kind: 'file'; name: string; path: string; key: Buffer }
  | { kind: 'data-dir' };

/**
 * A master key written as text: 64 hex digits, or base64/base64url of exactly 32 bytes (what the
 * data dir key file holds). `where` names it in the error, which never repeats the value.
 */
export function decodeMasterKey(text: string, where: string): Buffer {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  const key = Buffer.from(t, t.includes('+') || t.includes('/') ? 'base64' : 'base64url');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(t) || key.length !== MASTER_KEY_BYTES) {
    throw new MasterKeyError('master_key_invalid', `${where} must be a ${MASTER_KEY_BYTES}-byte key: 64 hex digits or base64/base64url `
      + `(e.g. the output of \`openssl rand -base64 ${MASTER_KEY_BYTES}\`); got ${t.length} characters`);
  }
  return key;
}

/**
 * The master key named by the environment: ENGINE_MASTER_KEY (or its older name AUTH_MASTER_KEY),
 * or ENGINE_MASTER_KEY_FILE (a file holding the key as text; a relative path is resolved against
 * `cwd`; never created); neither = the data dir's key file. Setting more than one is an error. Empty
 * values count as unset. Throws MasterKeyError.
 */
export function masterKeySourceFromEnv(env: Readonly<Record<string, string | undefined>>, cwd: string = process.cwd()): MasterKeySource {
  const set = [ENV_ENGINE_MASTER_KEY, ENV_AUTH_MASTER_KEY, ENV_ENGINE_MASTER_KEY_FILE].filter((n) => (env[n] ?? '') !== '');
  if (set.length > 1) {
    throw new MasterKeyError('master_key_conflict', `set only one of ${set.join(', ')}: each names the master key`);
  }
  if (set.length === 0) return { kind: 'data-dir' };
  const name = set[0]!;
  const value = env[name]!;
  if (name !== ENV_ENGINE_MASTER_KEY_FILE) return { kind: 'env', name, key: decodeMasterKey(value, name) };
  const path = isAbsolute(value) ? value : resolve(cwd, value);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MasterKeyError('master_key_unreadable', `${name}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { kind: 'file', name, path, key: decodeMasterKey(text, `${name} (${path})`) };
}
