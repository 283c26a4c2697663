// Authorization: one table says, for every permission, whether it acts on an account or globally,
// which roles hold it, and which API-key scope carries it. `authorize` is the only decision point.
//
// Object-level rule: an account-scoped permission is granted only for an account in the
// principal's own set (accounts the user owns or was given access to, narrowed by an API key's
// account list). Nobody holds a permission over every account, admins included, and an account
// outside the set is answered exactly like one that does not exist (404), so ids cannot be probed.

export const ROLES = ['viewer', 'trader', 'risk_manager', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What an API key may carry. Admin permissions are never reachable with an API key. */
export const API_KEY_SCOPES = ['read', 'trade', 'risk'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export type PermissionTarget = 'account' | 'global';

export interface PermissionRule {
  readonly target: PermissionTarget;
  readonly roles: readonly Role[];
  /** The API-key scope that carries it; null = sessions only (never an API key). */
  readonly keyScope: ApiKeyScope | null;
  readonly description: string;
}

export const PERMISSIONS = {
  'market.read':       { target: 'global',  roles: ['viewer', 'trader', 'risk_manager', 'admin'], keyScope: 'read',  description: 'market data, instruments, order books' },
  'account.read':      { target: 'account', roles: ['viewer', 'trader', 'risk_manager'],          keyScope: 'read',  description: 'balances, positions, orders, fills of an account' },
  'order.place':       { target: 'account', roles: ['trader'],                                    keyScope: 'trade', description: 'place and amend orders' },
  'order.cancel':      { target: 'account', roles: ['trader', 'risk_manager'],                    keyScope: 'trade', description: 'cancel orders (one, or all of an account)' },
  'risk.limits.read':  { target: 'account', roles: ['viewer', 'trader', 'risk_manager'],          keyScope: 'read',  description: 'read an account\'s risk limits' },
  'risk.limits.write': { target: 'account', roles: ['risk_manager'],                              keyScope: 'risk',  description: 'set an account\'s risk limits' },
  'risk.kill_switch':  { target: 'account', roles: ['risk_manager'],                              keyScope: 'risk',  description: 'engage or release an account\'s kill switch' },
  'risk.halt':         { target: 'global',  roles: ['risk_manager'],                              keyScope: 'risk',  description: 'halt or resume trading in an instrument' },
  'instrument.write':  { target: 'global',  roles: ['admin'],                                     keyScope: null,    description: 'define or change instruments' },
  'user.manage':       { target: 'global',  roles: ['admin'],                                     keyScope: null,    description: 'users, roles, accounts, API keys' },
  'audit.read':        { target: 'global',  roles: ['admin', 'risk_manager'],                     keyScope: null,    description: 'read and verify the audit trail' },
} as const satisfies Record<string, PermissionRule>;

export type Permission = keyof typeof PERMISSIONS;
export const PERMISSION_NAMES = Object.keys(PERMISSIONS) as Permission[];

/** Who is asking, after authentication. Built by access-token.ts (sessions) or signing.ts (API keys). */
export interface Principal {
  readonly kind: 'session' | 'api_key';
  readonly userId: number;
  readonly roles: ReadonlySet<Role>;
  /** Accounts this credential may act for (already narrowed by an API key's list). */
  readonly accountIds: ReadonlySet<number>;
  /** An API key's scopes; null for a session (its roles alone decide). */
  readonly keyScopes: ReadonlySet<ApiKeyScope> | null;
  /** The access token's jti or the API key's id (for the audit trail). */
  readonly credentialId: string;
}

/** Every code a denied AuthzDecision may carry (the REST shim's problem types include them all: rest/problem.ts). */
export const AUTHZ_DENIALS = ['unknown_permission', 'role_missing', 'scope_missing', 'account_required', 'account_not_applicable', 'account_not_found'] as const;
export type AuthzDenial = typeof AUTHZ_DENIALS[number];

export type AuthzDecision =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: AuthzDenial; readonly httpStatus: 400 | 403 | 404; readonly message: string };

const ALLOW: AuthzDecision = { ok: true };

function deny(code: AuthzDenial, httpStatus: 400 | 403 | 404, message: string): AuthzDecision {
  return { ok: false, code, httpStatus, message };
}

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

export function isApiKeyScope(s: string): s is ApiKeyScope {
  return (API_KEY_SCOPES as readonly string[]).includes(s);
}

export function isPermission(s: string): s is Permission {
  return Object.hasOwn(PERMISSIONS, s);
}

/**
 * May `principal` use `permission` (on `accountId`, for an account-scoped permission)?
 * Checks, in order: the permission exists, a role holds it, an API key's scope carries it, and
 * for account-scoped permissions the account is in the principal's set.
 */
export function authorize(principal: Principal, permission: string, accountId?: number): AuthzDecision {
  if (!isPermission(permission)) return deny('unknown_permission', 403, `unknown permission ${permission}`);
  const rule: PermissionRule = PERMISSIONS[permission];
  if (!rule.roles.some((r) => principal.roles.has(r))) {
    return deny('role_missing', 403, `${permission} needs one of the roles ${rule.roles.join(', ')}`);
  }
  if (principal.keyScopes !== null && (rule.keyScope === null || !principal.keyScopes.has(rule.keyScope))) {
    return deny('scope_missing', 403, rule.keyScope === null
      ? `${permission} is not available to API keys`
      : `${permission} needs an API key with scope ${rule.keyScope}`);
  }
  if (rule.target === 'global') {
    return accountId === undefined ? ALLOW : deny('account_not_applicable', 400, `${permission} does not take an account`);
  }
  if (accountId === undefined) return deny('account_required', 400, `${permission} needs an account`);
  if (!principal.accountIds.has(accountId)) return deny('account_not_found', 404, 'account not found');
  return ALLOW;
}

/**
 * For an object found by id (an order, a fill): `ownerAccountId` is its account, or undefined when
 * no such object exists. Both "not yours" and "does not exist" give the same 404.
 */
export function authorizeObject(principal: Principal, permission: Permission, ownerAccountId: number | undefined): AuthzDecision {
  if (PERMISSIONS[permission].target !== 'account') throw new TypeError(`${permission} is not account-scoped`);
  if (ownerAccountId === undefined) {
    const asAccount = authorize(principal, permission, Number.NaN);
    return asAccount.ok || asAccount.code === 'account_not_found' ? deny('account_not_found', 404, 'not found') : asAccount;
  }
  const d = authorize(principal, permission, ownerAccountId);
  return d.ok || d.code !== 'account_not_found' ? d : deny('account_not_found', 404, 'not found');
}

/** The permissions a principal holds (ignoring accounts): for a "who am I" endpoint. */
export function permissionsOf(principal: Principal): Permission[] {
  return PERMISSION_NAMES.filter((p) => {
    const rule: PermissionRule = PERMISSIONS[p];
    if (!rule.roles.some((r) => principal.roles.has(r))) return false;
    return principal.keyScopes === null || (rule.keyScope !== null && principal.keyScopes.has(rule.keyScope));
  });
}
