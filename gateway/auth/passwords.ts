// Password hashing: argon2id (RFC 9106) through @node-rs/argon2, which runs on libuv's thread pool,
// so a login never blocks the event loop. The result is a PHC string ($argon2id$v=19$m=..,t=..,p=..$
// salt$hash) that records its own parameters, so raising them later only needs `needsRehash`.

import { randomBytes } from 'node:crypto';
import { hash, parseOptions, verify, type Options } from '@node-rs/argon2';

export interface PasswordHashParams {
  /** Memory per hash in KiB. */
  readonly memoryKib: number;
  /** Passes over memory. */
  readonly timeCost: number;
  readonly parallelism: number;
}

/**
 * OWASP's argon2id baseline (m = 19 MiB, t = 2, p = 1). Measured on the 2-core project machine:
 * see docs/security.md. Two logins at once use about 38 MiB.
 */
export const DEFAULT_PASSWORD_PARAMS: PasswordHashParams = { memoryKib: 19_456, timeCost: 2, parallelism: 1 };

export const PASSWORD_MIN_CHARS = 10;
/** Bounds the work an unauthenticated caller can ask for. */
export const PASSWORD_MAX_BYTES = 1024;

const ARGON2ID = 2; // Algorithm.Argon2id (a const enum in the package's typings)

function options(p: PasswordHashParams): Options {
  return { algorithm: ARGON2ID, memoryCost: p.memoryKib, timeCost: p.timeCost, parallelism: p.parallelism, outputLen: 32 };
}

/** Why a password is unacceptable, or null when it is fine. */
export function passwordProblem(password: string): string | null {
  if ([...password].length < PASSWORD_MIN_CHARS) return `password must be at least ${PASSWORD_MIN_CHARS} characters`;
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES) return `password must be at most ${PASSWORD_MAX_BYTES} bytes`;
  return null;
}

export function hashPassword(password: string, params: PasswordHashParams = DEFAULT_PASSWORD_PARAMS): Promise<string> {
  return hash(password.normalize('NFC'), options(params));
}

/** False for a wrong password or a malformed stored hash; never throws for those. */
export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES) return false;
  try {
    return await verify(stored, password.normalize('NFC'));
  } catch {
    return false;
  }
}

/** True when `stored` was made with other parameters than `params` (rehash after the next login). */
export function needsRehash(stored: string, params: PasswordHashParams = DEFAULT_PASSWORD_PARAMS): boolean {
  try {
    const o = parseOptions(stored);
    return o.algorithm !== ARGON2ID || o.memoryCost !== params.memoryKib || o.timeCost !== params.timeCost
      || o.parallelism !== params.parallelism;
  } catch {
    return true;
  }
}

/**
 * A hash of a random password with `params`, to verify against when the e-mail is unknown, so an
 * unknown e-mail costs the same time as a wrong password (no user enumeration by timing).
 */
export function makeDummyHash(params: PasswordHashParams = DEFAULT_PASSWORD_PARAMS): Promise<string> {
  return hash(randomBytes(24).toString('base64'), options(params));
}
