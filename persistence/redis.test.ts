// RedisBus against the real Redis (skipped with a message when unreachable), with a random key
// prefix per run; degradation through a TCP proxy that is cut and restored, and with no server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RedisBus, deleteRedisKeys, redisSkipReason, redisTestUrl } from './redis.js';
import { TcpProxy } from './pg/tcp-proxy.js';

const URL_ = redisTestUrl();
const skip = await redisSkipReason(URL_);
const prefix = `test:${randomBytes(4).toString('hex')}:`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function cleanup(): Promise<void> {
  await deleteRedisKeys(URL_, prefix);
}

async function ready(bus: RedisBus, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!bus.ready && Date.now() < end) await sleep(10);
  assert.ok(bus.ready, 'bus connected');
}

test('publish market data and account updates across instances; cache top of book and tickers', { skip, timeout: 20_000 }, async () => {
  const a = new RedisBus({ url: URL_, prefix });
  const b = new RedisBus({ url: URL_, prefix });
  try {
    await ready(a);
    const got: string[] = [];
    await b.subscribe(b.marketDataChannel('BTC-USD'), (m) => got.push(m));
    await b.subscribe(b.accountChannel(7), (m) => got.push(`acct:${m}`));
    assert.equal(a.publishMarketData('BTC-USD', { t: 'trade', priceTicks: 100 }), true);
    assert.equal(a.publishAccountUpdate(7, 'filled'), true);
    for (let i = 0; i < 100 && got.length < 2; i++) await sleep(10);
    assert.deepEqual(got, ['{"t":"trade","priceTicks":100}', 'acct:filled']);
    const tob = { bidPriceTicks: 99, bidQtyLots: 5, askPriceTicks: 101, askQtyLots: 3, tsUs: 1 };
    a.setTopOfBook('BTC-USD', tob);
    a.setTicker('BTC-USD', { last: '1.01', volume: 12 });
    await sleep(20);
    assert.deepEqual(await b.getTopOfBook('BTC-USD'), tob);
    assert.deepEqual(await b.getTicker('BTC-USD'), { last: '1.01', volume: 12 });
    assert.equal(await b.getTopOfBook('NOPE'), null);
  } finally {
    await a.close(); await b.close(); await cleanup();
  }
});

test('token bucket rate limiter is shared by instances (Lua, atomic)', { skip, timeout: 20_000 }, async () => {
  const a = new RedisBus({ url: URL_, prefix });
  const b = new RedisBus({ url: URL_, prefix });
  try {
    await ready(a); await ready(b);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).rateLimit('user:1', 5, 1)));
    assert.equal(results.filter((r) => r.allowed).length, 5, 'exactly capacity allowed across both');
    assert.ok(results.every((r) => r.source === 'redis'));
    const denied = results.find((r) => !r.allowed)!;
    assert.ok(denied.retryAfterMs > 0 && denied.retryAfterMs <= 1000);
    const big = await a.rateLimit('user:2', 10, 100, 4);
    assert.deepEqual([big.allowed, big.remaining], [true, 6]);
    await sleep(60); // 100 tokens/s refill
    const after = await a.rateLimit('user:2', 10, 100, 10);
    assert.equal(after.allowed, true, 'refilled');
  } finally {
    await a.close(); await b.close(); await cleanup();
  }
});

test('degrades when Redis goes away and recovers when it comes back; never throws, never blocks', { skip, timeout: 30_000 }, async () => {
  const u = new URL(URL_);
  const proxy = new TcpProxy(u.hostname, Number(u.port || 6379));
  await proxy.listen();
  const logs: string[] = [];
  const bus = new RedisBus({ url: `redis://127.0.0.1:${proxy.port}`, prefix, commandTimeoutMs: 200, log: (_f, m) => logs.push(m) });
  try {
    await ready(bus);
    assert.equal((await bus.rateLimit('k', 2, 1)).source, 'redis');
    proxy.cut();
    await sleep(50);
    const t0 = performance.now();
    assert.equal(bus.publishMarketData('X', 'x'), false);
    assert.equal(bus.setTopOfBook('X', { bidPriceTicks: 1, bidQtyLots: 1, askPriceTicks: 2, askQtyLots: 1, tsUs: 1 }), false);
    assert.equal(await bus.getTopOfBook('X'), null);
    const r = await bus.rateLimit('k', 2, 1);
    assert.equal(r.source, 'local');
    assert.ok(performance.now() - t0 < 1000, 'calls return promptly while Redis is away');
    assert.ok(bus.status().dropped >= 2);
    proxy.restore();
    await ready(bus, 5000);
    assert.equal(bus.publishMarketData('X', 'y'), true);
    assert.equal((await bus.rateLimit('k', 2, 1)).source, 'redis');
    assert.ok(logs.length >= 1, 'the outage was logged');
  } finally {
    await bus.close();
    await proxy.close();
    await cleanup();
  }
});

test('with no Redis server at all: everything answers, nothing throws', { timeout: 10_000 }, async () => {
  const bus = new RedisBus({ url: 'redis://127.0.0.1:1', prefix, commandTimeoutMs: 100, log: () => {} });
  try {
    assert.equal(bus.publishAccountUpdate(1, { x: 1 }), false);
    assert.equal(await bus.getTicker('X'), null);
    const r1 = await bus.rateLimit('a', 1, 1);
    const r2 = await bus.rateLimit('a', 1, 1);
    assert.deepEqual([r1.allowed, r1.source, r2.allowed], [true, 'local', false]);
  } finally {
    await bus.close();
  }
});
