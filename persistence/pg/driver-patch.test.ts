// scripts/patch-deps.mjs (run by npm's postinstall) guards postgres.js against writing to a closed
// socket: unpatched, a query on a reserved connection whose backend was terminated crashes the
// process with an uncaught TypeError from a setImmediate (porsager/postgres#1208). Patched, the query
// rejects with CONNECTION_CLOSED and the process goes on. Needs PostgreSQL (skipped with a message
// when unreachable, a failure with CI=true).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import postgres from 'postgres';
import { pgSkipReason, testDatabaseUrl } from './db.js';

const skip = await pgSkipReason();

test('a terminated backend under a reserved connection rejects the next query (CONNECTION_CLOSED) instead of crashing the process', { skip: skip ?? false, timeout: 20_000 }, async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => { uncaught.push(e); };
  // node:test turns an uncaught exception into this test's failure anyway; the monitor records it.
  process.on('uncaughtExceptionMonitor', onUncaught);
  const sql = postgres(testDatabaseUrl(), { max: 1, onnotice: () => {} });
  const admin = postgres(testDatabaseUrl(), { max: 1, onnotice: () => {} });
  try {
    const r = await sql.reserve();
    const [row] = await r`SELECT pg_backend_pid() AS pid`;
    await admin`SELECT pg_terminate_backend(${row!.pid})`;
    await new Promise((res) => setTimeout(res, 100));
    await assert.rejects(async () => { await r`SELECT 1`; }, (e: { code?: string }) => e.code === 'CONNECTION_CLOSED');
    await new Promise((res) => setTimeout(res, 200)); // any stray setImmediate has run by now
    assert.deepEqual(uncaught, []);
    // The pool still works afterwards.
    assert.equal((await sql`SELECT 2 AS two`)[0]!.two, 2);
  } finally {
    process.off('uncaughtExceptionMonitor', onUncaught);
    await sql.end({ timeout: 1 }).catch(() => {});
    await admin.end({ timeout: 1 }).catch(() => {});
  }
});
