// postinstall: fixes a crash in the pinned postgres@3.4.9 that upstream has not released a fix for
// (porsager/postgres issues #1066, #1154, #1208; pull requests #1168, #1176, #1209 open).
//
// The driver batches small writes behind a setImmediate. When the connection closes before that
// immediate runs (a PostgreSQL restart, pg_terminate_backend, a cut network), `closed()` sets
// `socket = null` and the immediate then calls `socket.write` on null: an uncaught TypeError that
// no caller can catch. The read side (replicator, REST history) shares the engine's process, so a
// PostgreSQL outage could take the whole engine down. Teardown also cancels that immediate without
// clearing its handle, so the connection never flushes small writes again after a reconnect.
//
// The patch: nextWrite() on a closed socket drops the buffered bytes and fails the pending queries
// with CONNECTION_CLOSED (catchable, like every other connection loss); teardown clears the handle
// and the buffer. Test: persistence/pg/driver-patch.test.ts (a reserved connection whose backend is
// terminated). Plain JavaScript, no dependencies: it runs before anything is built. Idempotent; it
// fails the install if the driver's code is not the one it knows (a changed version must be
// re-checked, not silently left unpatched).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MARK = '/* trading-engine patch: porsager/postgres#1208 */';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkgDir = join(root, 'node_modules', 'postgres');

const EDITS = [
  {
    from: 'function nextWrite(fn) {\n',
    to: `function nextWrite(fn) {\n    ${MARK}\n    if (socket === null) {\n      nextWriteTimer !== null && clearImmediate(nextWriteTimer)\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options))\n      return false\n    }\n`,
  },
  // terminate() and closed(): the two teardown paths.
  { from: '    clearImmediate(nextWriteTimer)\n    if (socket) {\n', to: '    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    if (socket) {\n' },
  { from: '    clearImmediate(nextWriteTimer)\n    socket.removeListener', to: '    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    socket.removeListener' },
];

if (!existsSync(pkgDir)) process.exit(0); // not installed (e.g. a partial install): nothing to patch
const version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
let patched = 0;
for (const sub of ['src', 'cjs/src', 'cf/src']) {
  const file = join(pkgDir, sub, 'connection.js');
  if (!existsSync(file)) continue;
  let text = readFileSync(file, 'utf8');
  if (text.includes(MARK)) continue;
  for (const e of EDITS) {
    if (text.split(e.from).length !== 2) {
      console.error(`patch-deps: postgres@${version} ${sub}/connection.js does not contain the expected code; re-check the fix for porsager/postgres#1208 (scripts/patch-deps.mjs)`);
      process.exit(1);
    }
    text = text.replace(e.from, e.to);
  }
  writeFileSync(file, text);
  patched++;
}
if (patched > 0) console.log(`patch-deps: postgres@${version}: guarded nextWrite against a closed socket (${patched} builds)`);
