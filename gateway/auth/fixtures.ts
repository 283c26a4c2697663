// Shared set-up for the identity tests: a fresh data dir, cheap argon2 parameters (the real ones
// are exercised in passwords.test.ts), fixed keys, and a few users.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openIdentity, type Identity, type IdentityOptions } from './identity.js';
import type { PasswordHashParams } from './passwords.js';
import type { Role } from './permissions.js';

export const FAST_PASSWORD_PARAMS: PasswordHashParams = { memoryKib: 1024, timeCost: 1, parallelism: 1 };
export const T0_MS = 1_750_000_000_000;
export const PASSWORD = 'correct horse battery staple';

export interface TestIdentity extends Identity {
  readonly dataDir: string;
  dispose(): void;
}

export function tempDir(prefix = 'identity-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function openTestIdentity(o: Partial<IdentityOptions> = {}): TestIdentity {
  const dataDir = o.dataDir ?? tempDir();
  const id = openIdentity({
    passwordParams: FAST_PASSWORD_PARAMS,
    masterKey: Buffer.alloc(32, 7),
    jwtKey: { alg: 'HS256', secret: Buffer.alloc(32, 9) },
    env: {},
    ...o,
    dataDir,
  });
  return {
    ...id,
    dataDir,
    dispose: () => {
      id.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A user with `roles` and accounts with the given ids. */
export async function addUser(id: Identity, email: string, roles: Role[], accountIds: number[]): Promise<number> {
  const u = await id.store.createUser({ email, password: PASSWORD, roles }, T0_MS);
  for (const a of accountIds) id.store.createAccount({ userId: u.id, id: a }, T0_MS);
  return u.id;
}
