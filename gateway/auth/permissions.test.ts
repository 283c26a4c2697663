import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  API_KEY_SCOPES, PERMISSIONS, PERMISSION_NAMES, ROLES, authorize, authorizeObject, permissionsOf,
  type ApiKeyScope, type Permission, type Principal, type Role,
} from './permissions.js';

// The expected matrix, written out independently of PERMISSIONS: a change to either must be deliberate.
const EXPECTED: Record<Permission, { roles: Role[]; scope: ApiKeyScope | null; account: boolean }> = {
  'market.read':       { roles: ['viewer', 'trader', 'risk_manager', 'admin'], scope: 'read',  account: false },
  'account.read':      { roles: ['viewer', 'trader', 'risk_manager'],          scope: 'read',  account: true },
  'order.place':       { roles: ['trader'],                                    scope: 'trade', account: true },
  'order.cancel':      { roles: ['trader', 'risk_manager'],                    scope: 'trade', account: true },
  'risk.limits.read':  { roles: ['viewer', 'trader', 'risk_manager'],          scope: 'read',  account: true },
  'risk.limits.write': { roles: ['risk_manager'],                              scope: 'risk',  account: true },
  'risk.kill_switch':  { roles: ['risk_manager'],                              scope: 'risk',  account: true },
  'risk.halt':         { roles: ['risk_manager'],                              scope: 'risk',  account: false },
  'instrument.write':  { roles: ['admin'],                                     scope: null,    account: false },
  'user.manage':       { roles: ['admin'],                                     scope: null,    account: false },
  'audit.read':        { roles: ['admin', 'risk_manager'],                     scope: null,    account: false },
};

const OWN = 7;
const FOREIGN = 8;

function session(roles: Role[], accounts: number[] = [OWN]): Principal {
  return { kind: 'session', userId: 1, roles: new Set(roles), accountIds: new Set(accounts), keyScopes: null, credentialId: 'jti' };
}

function apiKey(roles: Role[], scopes: ApiKeyScope[], accounts: number[] = [OWN]): Principal {
  return { kind: 'api_key', userId: 1, roles: new Set(roles), accountIds: new Set(accounts), keyScopes: new Set(scopes), credentialId: 'ak_x' };
}

describe('authorize: role x permission matrix', () => {
  it('the permission table and the expected matrix name the same permissions', () => {
    assert.deepEqual([...PERMISSION_NAMES].sort(), Object.keys(EXPECTED).sort());
  });

  for (const permission of PERMISSION_NAMES) {
    for (const role of ROLES) {
      const exp = EXPECTED[permission];
      const allowed = exp.roles.includes(role);
      it(`${role} ${allowed ? 'may' : 'may not'} ${permission}`, () => {
        const p = session([role]);
        const own = authorize(p, permission, exp.account ? OWN : undefined);
        if (allowed) {
          assert.deepEqual(own, { ok: true });
        } else {
          assert.equal(own.ok, false);
          assert.equal(!own.ok && own.code, 'role_missing');
          assert.equal(!own.ok && own.httpStatus, 403);
        }
        if (exp.account) {
          // Object-level: never another account, whatever the role.
          const other = authorize(p, permission, FOREIGN);
          assert.equal(other.ok, false);
          if (allowed) assert.equal(!other.ok && other.code, 'account_not_found');
        }
        // The same walk through an API key holding every scope: only keyScope-carried permissions pass.
        const k = authorize(apiKey([role], [...API_KEY_SCOPES]), permission, exp.account ? OWN : undefined);
        assert.equal(k.ok, allowed && exp.scope !== null, `api key ${role} ${permission}`);
      });
    }
  }

  it('a user with several roles holds the union', () => {
    const p = session(['viewer', 'risk_manager']);
    assert.deepEqual(authorize(p, 'risk.halt'), { ok: true });
    assert.deepEqual(authorize(p, 'account.read', OWN), { ok: true });
    assert.equal(authorize(p, 'order.place', OWN).ok, false);
  });

  it('a principal with no roles may do nothing', () => {
    for (const perm of PERMISSION_NAMES) assert.equal(authorize(session([]), perm, OWN).ok, false);
    assert.deepEqual(permissionsOf(session([])), []);
  });
});

describe('authorize: API key scopes', () => {
  for (const permission of PERMISSION_NAMES) {
    for (const scope of API_KEY_SCOPES) {
      const exp = EXPECTED[permission];
      it(`a key with only ${scope} ${exp.scope === scope ? 'may' : 'may not'} ${permission}`, () => {
        const p = apiKey(exp.roles.length ? [...exp.roles] : [], [scope]);
        const d = authorize(p, permission, exp.account ? OWN : undefined);
        assert.equal(d.ok, exp.scope === scope);
        if (!d.ok) assert.equal(d.code, 'scope_missing');
      });
    }
  }

  it('admin permissions are never reachable with an API key', () => {
    const p = apiKey(['admin'], [...API_KEY_SCOPES]);
    for (const perm of ['instrument.write', 'user.manage', 'audit.read'] as const) {
      const d = authorize(p, perm);
      assert.equal(!d.ok && d.code, 'scope_missing');
    }
  });

  it('a key is limited to its own account list', () => {
    const p = apiKey(['trader'], ['trade'], [OWN]);
    assert.deepEqual(authorize(p, 'order.place', OWN), { ok: true });
    assert.equal(authorize(p, 'order.place', 99).ok, false);
  });
});

describe('authorize: arguments', () => {
  it('an unknown permission is denied', () => {
    const d = authorize(session([...ROLES]), 'order.teleport', OWN);
    assert.equal(!d.ok && d.code, 'unknown_permission');
    assert.equal(authorize(session([...ROLES]), 'toString').ok, false);
    assert.equal(authorize(session([...ROLES]), '__proto__').ok, false);
  });

  it('account-scoped permissions need an account; global ones take none', () => {
    const p = session([...ROLES]);
    const noAccount = authorize(p, 'order.place');
    assert.equal(!noAccount.ok && noAccount.code, 'account_required');
    assert.equal(!noAccount.ok && noAccount.httpStatus, 400);
    const extra = authorize(p, 'risk.halt', OWN);
    assert.equal(!extra.ok && extra.code, 'account_not_applicable');
  });

  it('a foreign account answers 404 exactly like a missing one', () => {
    const p = session(['trader']);
    const foreign = authorize(p, 'account.read', FOREIGN);
    const missing = authorize(p, 'account.read', 123456);
    assert.deepEqual(foreign, missing);
    assert.equal(!foreign.ok && foreign.httpStatus, 404);
  });

  it('authorizeObject: not yours and not found look the same', () => {
    const p = session(['trader']);
    assert.deepEqual(authorizeObject(p, 'order.cancel', OWN), { ok: true });
    const foreign = authorizeObject(p, 'order.cancel', FOREIGN);
    const missing = authorizeObject(p, 'order.cancel', undefined);
    assert.deepEqual(foreign, missing);
    assert.equal(!foreign.ok && foreign.httpStatus, 404);
    // Lacking the role is still a 403, found or not.
    const viewer = session(['viewer']);
    assert.equal((authorizeObject(viewer, 'order.cancel', undefined) as { code: string }).code, 'role_missing');
    assert.throws(() => authorizeObject(p, 'risk.halt', OWN), TypeError);
  });

  it('permissionsOf lists what a role holds', () => {
    assert.deepEqual(permissionsOf(session(['viewer'])), ['market.read', 'account.read', 'risk.limits.read']);
    assert.deepEqual(permissionsOf(apiKey(['trader'], ['read'])), ['market.read', 'account.read', 'risk.limits.read']);
    assert.equal(Object.keys(PERMISSIONS).length, PERMISSION_NAMES.length);
  });
});
