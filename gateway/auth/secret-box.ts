// Sealing of API-key secrets at rest: AES-256-GCM under a master key kept outside the identity
// database (a key file beside it, mode 0600, or an environment variable). HMAC verification needs
// the secret itself, so a hash cannot be what is stored; sealing means a copy of the database
// alone (a backup, the Postgres replica) gives no usable key.
//
// Sealed layout: version (1 byte, 0x01) || nonce (12 bytes) || ciphertext || GCM tag (16 bytes).
// The additional authenticated data is the key id, so a sealed secret cannot be moved to another id.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
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
