// REST shim throughput and latency: the gateway (engine + uWS + REST) runs in this process; the load
// generator runs in a child process (node:http with keep-alive, N connections) on loopback.
// Phase 1: GET /api/v1/market-data/ticker; phase 2: POST /api/v1/orders (limit orders that cross
// between two accounts, so the book stays small), each answered after the durable ack.
// Last stdout line: JSON {getTickerRps, postOrderRps, postOrderP99Ms, ...}.
//
//   npm run build && node dist/bench/rest.bench.js [--seconds 8] [--connections 32]

import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

interface ChildArgs { port: number; tokens: string[]; seconds: number; connections: number; phase: 'ticker' | 'orders' }
interface PhaseResult { phase: string; requests: number; errors: number; statuses: Record<string, number>; seconds: number; rps: number; p50Ms: number; p99Ms: number }

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

async function runChildPhase(a: ChildArgs): Promise<PhaseResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: a.connections });
  const lat: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0, n = 0, seq = 0;
  const end = performance.now() + a.seconds * 1000;
  const one = (): Promise<void> => new Promise((resolve) => {
    const k = seq++;
    const isOrder = a.phase === 'orders';
    const body = isOrder ? JSON.stringify({ symbol: 'AAA-USD', side: k % 2 === 0 ? 'buy' : 'sell', order_type: 'limit', quantity: '0.001', price: '100.00' }) : undefined;
    const t0 = performance.now();
    const req = http.request({
      host: '127.0.0.1', port: a.port, agent, method: isOrder ? 'POST' : 'GET',
      path: isOrder ? '/api/v1/orders' : '/api/v1/market-data/ticker?symbol=AAA-USD',
      headers: { authorization: `Bearer ${a.tokens[k % 2]}`, ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) },
    }, (res) => {
      res.resume();
      res.on('end', () => {
        lat.push(performance.now() - t0); n++;
        statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
        resolve();
      });
    });
    req.on('error', () => { errors++; resolve(); });
    if (body) req.end(body); else req.end();
  });
  const t0 = performance.now();
  await Promise.all(Array.from({ length: a.connections }, async () => { while (performance.now() < end) await one(); }));
  const secs = (performance.now() - t0) / 1000;
  agent.destroy();
  lat.sort((x, y) => x - y);
  const q = (p: number): number => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! : 0);
  return { phase: a.phase, requests: n, errors, statuses, seconds: +secs.toFixed(2), rps: Math.round(n / secs), p50Ms: +q(0.5).toFixed(3), p99Ms: +q(0.99).toFixed(3) };
}

async function child(): Promise<void> {
  process.on('message', (m: ChildArgs) => {
    runChildPhase(m).then((r) => { process.send!(r); }, (e) => { process.send!({ error: String(e) }); });
  });
}

async function parent(): Promise<void> {
  const { startRestKit } = await import('../gateway/rest/test-kit.js');
  const seconds = arg('seconds', 8), connections = arg('connections', 32);
  const kit = await startRestKit({ perKey: { burst: 1e9, ratePerSecond: 1e9 } });
  const tokens = [kit.users['trader']!.token, kit.users['trader2']!.token];
  const proc = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const runPhase = (p: ChildArgs["phase"]): Promise<PhaseResult> => new Promise((resolve, reject) => {
    proc.once('message', (m: PhaseResult & { error?: string }) => (m.error ? reject(new Error(m.error)) : resolve(m)));
    proc.send({ port: kit.gateway.port, tokens, seconds, connections, phase: p } satisfies ChildArgs);
  });
  try {
    const ticker = await runPhase("ticker");
    console.log(JSON.stringify(ticker));
    const orders = await runPhase("orders");
    console.log(JSON.stringify(orders));
    console.log(JSON.stringify({
      getTickerRps: ticker.rps, getTickerP99Ms: ticker.p99Ms, postOrderRps: orders.rps, postOrderP50Ms: orders.p50Ms, postOrderP99Ms: orders.p99Ms,
      connections, secondsPerPhase: seconds, orderStatuses: orders.statuses, durability: kit.engine.durability,
    }));
  } finally {
    proc.kill();
    await kit.close();
  }
}

if (process.argv.includes('--child')) await child(); else await parent();
