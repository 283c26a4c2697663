// Child process of idempotency-restart.test.ts: a REST gateway on the given data dir that places
// orders with client_order_ids `crash-<n>` (even n rest, odd n fill against a resting sell of
// trader2) until the parent SIGKILLs it; prints `acked <n> <order id> <status>` after each answer.
// argv: dataDir. Imported by the test for `crashOrderBody` only (main runs when executed).

import { fileURLToPath } from 'node:url';
import { call, startRestKit } from './test-kit.js';

/** The body of order n (the parent retries exactly these). */
export function crashOrderBody(n: number): Record<string, unknown> {
  return n % 2 === 0
    ? { symbol: 'AAA-USD', side: 'buy', order_type: 'limit', quantity: '0.001', price: (90 + (n % 7)).toFixed(2), client_order_id: `crash-${n}` }
    : { symbol: 'AAA-USD', side: 'buy', order_type: 'limit', time_in_force: 'IOC', quantity: '0.001', price: '100', client_order_id: `crash-${n}` };
}

async function main(dataDir: string): Promise<void> {
  const k = await startRestKit({}, { dataDir });
  const trader = k.users['trader']!.token, trader2 = k.users['trader2']!.token;
  for (let n = 0; ; n++) {
    if (n % 2 === 1) {
      const s = await call(k.base, 'POST', '/api/v1/orders', { token: trader2, body: { symbol: 'AAA-USD', side: 'sell', order_type: 'limit', quantity: '0.001', price: '100' } });
      if (s.status !== 201) throw new Error(`sell refused: ${s.status} ${JSON.stringify(s.body)}`);
    }
    const r = await call(k.base, 'POST', '/api/v1/orders', { token: trader, body: crashOrderBody(n) });
    if (r.status !== 201) throw new Error(`order ${n} refused: ${r.status} ${JSON.stringify(r.body)}`);
    process.stdout.write(`acked ${n} ${r.body.id} ${r.body.status}\n`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dataDir = process.argv[2];
  if (dataDir === undefined) { process.stderr.write('usage: idempotency-crash-child <dataDir>\n'); process.exit(2); }
  await main(dataDir);
}
