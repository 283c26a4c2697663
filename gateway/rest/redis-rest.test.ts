// The REST shim with Redis (RestDeps.redis): two gateways sharing one Redis share one bucket per key
// and per IP; with no Redis server, or one that stops answering, requests are still answered and
// limited in memory; the ticker and top of book reach Redis after a trade. Real engines, real Redis
// (a fresh key prefix per test, deleted afterwards); skipped with a message when Redis is
// unreachable, unless CI=true or REDIS_TESTS_REQUIRED=1.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisBus, deleteRedisKeys, redisSkipReason, redisTestUrl } from '../../persistence/redis.js';
import { MarketDataCache, type MarketDataSink } from './market-data.js';
import { call, startRestKit, type CallResult, type RestKit } from './test-kit.js';
import { PASSWORD } from '../auth/fixtures.js';

const URL_ = redisTestUrl();
const skip = await redisSkipReason(URL_);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Every kit logs in its 6 users at start (test-kit.ts): 6 requests on the IP bucket each. */
const KIT_LOGINS = 6;
const BUY = { symbol: 'AAA-USD', side: 'buy', order_type: 'limit', quantity: '0.005', price: '99.00' };

async function connected(bus: RedisBus): Promise<void> {
  for (let i = 0; i < 300 && !bus.ready; i++) await sleep(10);
  assert.ok(bus.ready, 'bus connected');
}

async function deleteKeys(prefix: string): Promise<void> {
  await deleteRedisKeys(URL_, prefix);
}

function refused(r: CallResult, maxRetryAfter: number): void {
  assert.equal(r.status, 429, JSON.stringify(r.body));
  assert.equal(r.body.code, 'rate_limited');
  const ra = Number(r.headers.get('retry-after'));
  assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= maxRetryAfter, `Retry-After ${ra}`);
}

/** A TCP forwarder that can stop forwarding while keeping the connections open (a hung Redis). */
class StallingProxy {
  stalled = false;
  port = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly host: string, private readonly targetPort: number) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.host);
      for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
        this.sockets.add(from);
        from.on('data', (d) => { if (!this.stalled) to.write(d); });
        from.on('error', () => to.destroy());
        from.on('close', () => { to.destroy(); this.sockets.delete(from); });
      }
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe('REST shim with Redis', () => {
  it('two gateways on one Redis: one bucket per key and one per IP across both (429 + Retry-After)', { skip, timeout: 60_000 }, async () => {
    const prefix = `test:rest:${randomBytes(4).toString('hex')}:`;
    // One token per 100 s: nothing refills while the test runs.
    const perIp = { burst: 30, ratePerSecond: 0.01 }, perKey = { burst: 5, ratePerSecond: 0.01 };
    const busA = new RedisBus({ url: URL_, prefix, log: () => {} }), busB = new RedisBus({ url: URL_, prefix, log: () => {} });
    let a: RestKit | null = null, b: RestKit | null = null;
    try {
      await connected(busA); await connected(busB);
      a = await startRestKit({ redis: busA, perIp, perKey });
      b = await startRestKit({ redis: busB, perIp, perKey });
      const uid = a.users['trader']!.userId;
      assert.equal(b.users['trader']!.userId, uid, 'the same user on both (as with one shared identity database)');
      let ipSpent = 2 * KIT_LOGINS;

      // Per key: 5 for the user across both gateways, not 5 on each.
      const order = await call(a.base, 'POST', '/api/v1/orders', { token: a.users['trader']!.token, body: BUY });
      assert.equal(order.status, 201, JSON.stringify(order.body));
      for (let i = 0; i < 2; i++) assert.equal((await call(a.base, 'GET', '/api/v1/market-data/ticker', { token: a.users['trader']!.token })).status, 200);
      for (let i = 0; i < 2; i++) assert.equal((await call(b.base, 'GET', '/api/v1/market-data/ticker', { token: b.users['trader']!.token })).status, 200);
      refused(await call(b.base, 'GET', '/api/v1/market-data/ticker', { token: b.users['trader']!.token }), 100);
      refused(await call(a.base, 'POST', '/api/v1/orders', { token: a.users['trader']!.token, body: BUY }), 100);
      assert.equal((await call(b.base, 'GET', '/api/v1/market-data/ticker', { token: b.users['trader2']!.token })).status, 200, 'another key has its own bucket');
      ipSpent += 8;
      const raw = new Redis(URL_);
      try {
        assert.equal(await raw.exists(`${prefix}rl:key:user:${uid}`, `${prefix}rl:ip:127.0.0.1`), 2, 'both buckets are in Redis');
      } finally {
        raw.disconnect();
      }

      // Per IP: unauthenticated requests (401) still spend the IP's tokens; alternate gateways until refused.
      let i = 0;
      for (;; i++) {
        const r = await call(i % 2 === 0 ? a.base : b.base, 'GET', '/api/v1/market-data/symbols');
        if (r.status === 429) { refused(r, 100); break; }
        assert.equal(r.status, 401);
        ipSpent++;
        assert.ok(ipSpent <= perIp.burst, `more than the burst (${perIp.burst}) passed from one IP`);
      }
      assert.equal(ipSpent, perIp.burst, 'the IP got exactly its burst across both gateways');
      const other = i % 2 === 0 ? b.base : a.base;
      refused(await call(other, 'GET', '/api/v1/market-data/symbols'), 100);
      // Refused before the body is looked at: a body, and even a too-large Content-Length, get 429.
      refused(await call(other, 'POST', '/api/v1/orders', { token: a.users['trader2']!.token, body: BUY }), 100);
      refused(await call(other, 'POST', '/api/v1/orders', { raw: 'x'.repeat(70 * 1024), headers: { 'content-type': 'application/json' } }), 100);
    } finally {
      await a?.close(); await b?.close();
      await busA.close(); await busB.close();
      await deleteKeys(prefix);
    }
  });

  it('two gateways on one Redis share the per-IP login bucket', { skip, timeout: 60_000 }, async () => {
    const prefix = `test:rest:${randomBytes(4).toString('hex')}:`;
    // Room for both kits' own start-up logins and two more, nothing refills during the test.
    const loginPolicy = { burst: 2 * KIT_LOGINS + 2, ratePerSecond: 0.01 };
    const busA = new RedisBus({ url: URL_, prefix, log: () => {} }), busB = new RedisBus({ url: URL_, prefix, log: () => {} });
    let a: RestKit | null = null, b: RestKit | null = null;
    try {
      await connected(busA); await connected(busB);
      a = await startRestKit({ redis: busA, loginPolicy });
      b = await startRestKit({ redis: busB, loginPolicy });
      const login = (k: RestKit): Promise<CallResult> => call(k.base, 'POST', '/api/v1/auth/login', { body: { email: k.users['trader']!.email, password: PASSWORD } });
      assert.equal((await login(a)).status, 200);
      assert.equal((await login(b)).status, 200);
      // Each gateway alone would still have KIT_LOGINS + 2 - 1 left; together the IP has none.
      refused(await login(a), 100);
      refused(await login(b), 100);
    } finally {
      await a?.close(); await b?.close();
      await busA.close(); await busB.close();
      await deleteKeys(prefix);
    }
  });

  it('with no Redis server: requests are answered and limited in memory, promptly; logged, not per request', { timeout: 60_000 }, async () => {
    const logs: string[] = [];
    const bus = new RedisBus({ url: 'redis://127.0.0.1:1', prefix: 'test:none:', commandTimeoutMs: 100, log: () => {} });
    let k: RestKit | null = null;
    try {
      const t0 = Date.now();
      k = await startRestKit({ redis: bus, perKey: { burst: 3, ratePerSecond: 0.01 }, log: (_f, m) => logs.push(m) });
      const tok = k.users['trader']!.token;
      const t1 = performance.now();
      assert.equal((await call(k.base, 'POST', '/api/v1/orders', { token: tok, body: BUY })).status, 201);
      for (let i = 0; i < 2; i++) assert.equal((await call(k.base, 'GET', '/api/v1/market-data/ticker', { token: tok })).status, 200);
      refused(await call(k.base, 'GET', '/api/v1/market-data/ticker', { token: tok }), 100);
      assert.ok(performance.now() - t1 < 2000, 'no request waited on Redis');
      await sleep(300); // a few cache ticks: nothing is written (or counted as dropped) while Redis is away
      assert.equal(bus.status().dropped, 0);
      const fallbackLogs = logs.filter((m) => m.startsWith('rate limits: Redis not usable')).length;
      assert.ok(fallbackLogs >= 1 && fallbackLogs <= 1 + Math.floor((Date.now() - t0) / 5000), `${fallbackLogs} log lines for ${KIT_LOGINS + 4} requests`);
    } finally {
      await k?.close();
      await bus.close();
    }
  });

  it('a Redis that stops answering: each request waits at most the command timeout, then memory decides', { skip, timeout: 60_000 }, async () => {
    const u = new URL(URL_);
    const proxy = new StallingProxy(u.hostname, Number(u.port || 6379));
    await proxy.listen();
    const prefix = `test:stall:${randomBytes(4).toString('hex')}:`;
    const bus = new RedisBus({ url: `redis://127.0.0.1:${proxy.port}`, prefix, commandTimeoutMs: 150, log: () => {} });
    let k: RestKit | null = null;
    try {
      await connected(bus);
      k = await startRestKit({ redis: bus, perKey: { burst: 2, ratePerSecond: 0.01 } });
      const tok = k.users['trader']!.token;
      assert.equal((await call(k.base, 'GET', '/api/v1/market-data/ticker', { token: tok })).status, 200, 'through Redis');
      proxy.stalled = true;
      const errors = bus.status().errors;
      const timed = async (): Promise<CallResult> => {
        const t = performance.now();
        const r = await call(k!.base, 'GET', '/api/v1/market-data/ticker', { token: tok });
        assert.ok(performance.now() - t < 2000, `answered in ${Math.round(performance.now() - t)} ms`);
        return r;
      };
      // The local bucket starts full: 2 pass, then refused.
      assert.equal((await timed()).status, 200);
      assert.equal((await timed()).status, 200);
      refused(await timed(), 100);
      assert.ok(bus.status().errors >= errors + 6, 'each ip: and key: call timed out (3 requests)');
    } finally {
      await k?.close();
      await bus.close();
      await proxy.close();
      await deleteKeys(prefix);
    }
  });

  it('after a trade the ticker and top of book are in Redis, with a TTL', { skip, timeout: 60_000 }, async () => {
    const prefix = `test:tick:${randomBytes(4).toString('hex')}:`;
    const bus = new RedisBus({ url: URL_, prefix, log: () => {} });
    const reader = new RedisBus({ url: URL_, prefix, log: () => {} });
    let k: RestKit | null = null;
    try {
      await connected(bus); await connected(reader);
      k = await startRestKit({ redis: bus });
      const maker = await call(k.base, 'POST', '/api/v1/orders', { token: k.users['trader2']!.token, body: { symbol: 'BBB-USD', side: 'sell', order_type: 'limit', quantity: '0.010', price: '101.00' } });
      assert.equal(maker.status, 201);
      const taker = await call(k.base, 'POST', '/api/v1/orders', { token: k.users['trader']!.token, body: { symbol: 'BBB-USD', side: 'buy', order_type: 'market', quantity: '0.004' } });
      assert.equal(taker.body.status, 'filled');
      let ticker = null;
      for (let i = 0; i < 100; i++) {
        ticker = await reader.getTicker('BBB-USD');
        if (ticker?.['last_price'] === '101') break;
        await sleep(20);
      }
      const local = await call(k.base, 'GET', '/api/v1/market-data/ticker?symbol=BBB-USD', { token: k.users['viewer']!.token });
      assert.deepEqual(ticker, local.body.data[0], 'the same JSON as GET /market-data/ticker');
      const tob = await reader.getTopOfBook('BBB-USD');
      assert.ok(tob !== null);
      assert.equal(tob.askQtyLots, 6, '0.006 left at 101');
      assert.ok(tob.askPriceTicks > 0 && tob.bidQtyLots === 0);
      assert.ok(Math.abs(tob.tsUs / 1000 - Date.now()) < 5000, 'tsUs is the write time');
      assert.ok((await reader.getTicker('AAA-USD')) !== null, 'every symbol is written, traded or not');
      const raw = new Redis(URL_);
      try {
        for (const key of [`${prefix}ticker:BBB-USD`, `${prefix}tob:BBB-USD`]) {
          const ttl = await raw.pttl(key);
          assert.ok(ttl > 0 && ttl <= 10_000, `${key} PTTL ${ttl}`);
        }
      } finally {
        raw.disconnect();
      }
    } finally {
      await k?.close();
      await bus.close(); await reader.close();
      await deleteKeys(prefix);
    }
  });

  it('MarketDataCache writes a book when it changed, refreshes it every TTL / 3, nothing while the sink is away', { timeout: 60_000 }, async () => {
    let k: RestKit | null = null;
    try {
      k = await startRestKit();
      const written: string[] = [];
      const sink: MarketDataSink & { ready: boolean; fail: boolean } = {
        ready: false, fail: false,
        setTicker: (s, _t, ttl) => { assert.equal(ttl, 900); if (sink.fail) return false; written.push(`ticker:${s}`); return true; },
        setTopOfBook: (s, _t, ttl) => { assert.equal(ttl, 900); written.push(`tob:${s}`); return true; },
      };
      const cache = new MarketDataCache(k.rest.context, sink, { intervalMs: 100, ttlMs: 900 });
      assert.equal(cache.flush(0), 0, 'not ready: nothing');
      sink.ready = true;
      assert.equal(cache.flush(0), 2, 'first flush: every symbol');
      assert.deepEqual(written.sort(), ['ticker:AAA-USD', 'ticker:BBB-USD', 'tob:AAA-USD', 'tob:BBB-USD']);
      assert.equal(cache.flush(100), 0, 'unchanged');
      assert.equal((await call(k.base, 'POST', '/api/v1/orders', { token: k.users['trader']!.token, body: BUY })).status, 201);
      written.length = 0;
      assert.equal(cache.flush(200), 1, 'the book that moved');
      assert.deepEqual(written, ['ticker:AAA-USD', 'tob:AAA-USD']);
      assert.equal(cache.flush(299), 0);
      assert.equal(cache.flush(300), 1, 'AAA-USD written at 200: not due; BBB-USD written at 0: due at 300');
      sink.fail = true;
      assert.equal(cache.flush(600), 0, 'a failed write is retried next time');
      sink.fail = false;
      assert.equal(cache.flush(600), 2);
      assert.throws(() => new MarketDataCache(k!.rest.context, sink, { intervalMs: 100, ttlMs: 200 }), RangeError);
      assert.throws(() => new MarketDataCache(k!.rest.context, sink, { intervalMs: 0 }), RangeError);
    } finally {
      await k?.close();
    }
  });
});
