// Child process of candles-persist.test.ts: a REST gateway on the given data dir that trades through
// the REST API until the parent SIGKILLs it. Prints `traded <pairs>` after each acked pair of
// crossing orders. argv: dataDir, flushIntervalMs, flushAfterPairs (-1: never flush explicitly),
// seed. With a huge flush interval and flushAfterPairs = m, the candle file holds exactly the trades
// of the first m pairs when the parent kills it, so everything after comes from the journal replay.

import { call, startRestKit } from './test-kit.js';
import { tradePair } from './candles-persist-kit.js';

const [dataDir, flushMs, flushAfter, seedArg] = process.argv.slice(2);
if (dataDir === undefined || flushMs === undefined || flushAfter === undefined || seedArg === undefined) {
  process.stderr.write('usage: candles-crash-child <dataDir> <flushIntervalMs> <flushAfterPairs> <seed>\n');
  process.exit(2);
}
const k = await startRestKit({ dataDir, candleFlushIntervalMs: Number(flushMs) }, { dataDir });
await k.rest.candles.ready;
let seed = Number(seedArg);
const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
for (let pairs = 1; ; pairs++) {
  await tradePair((m, p, b) => call(k.base, m, p, b), k.users['trader2']!.token, k.users['trader']!.token, rnd);
  if (pairs === Number(flushAfter)) k.rest.candles.flush();
  process.stdout.write(`traded ${pairs} watermark ${k.rest.candles.watermark}\n`);
}
