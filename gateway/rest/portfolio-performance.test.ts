// GET /api/v1/portfolio/performance's returns over time against a running gateway (test-kit.ts): the
// balances at the gateway start come from the ledger snapshot, fills and deposits/withdrawals acked
// since then move them, the candles price them; deposits are never returns; bad queries are 400
// problems; the OpenAPI document describes the new query and answer.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RuntimeCommandType } from '../../core/command-codec.js';
import { Command } from '../../core/types.js';
import { SubmitStatus } from '../engine.js';
import { PROBLEM_BASE } from './problem.js';
import { call, startRestKit, type CallResult, type RestKit } from './test-kit.js';

let k: RestKit;
const tok = (name: string): string => k.users[name]!.token;
const get = (path: string, user = 'trader'): Promise<CallResult> => call(k.base, 'GET', path, { token: tok(user) });
const PERF = '/api/v1/portfolio/performance';

/** A funding command through the engine (sequenced and journaled like an order), acked before it returns. */
async function fund(type: number, account: number, asset: string, units: number): Promise<void> {
  const cmd = new Command();
  cmd.type = type; cmd.account = account; cmd.value = units;
  const r = k.engine.submit(cmd, 0, k.engine.ledger.assetId(asset));
  assert.equal(r.status, SubmitStatus.Accepted, `funding refused: ${r.reason}`);
  await k.rest.model.waitFor(r.seq, 5000);
}

/** Total (available + locked) units of an asset in the ledger. */
const total = (account: number, asset: string): number => {
  const a = k.engine.ledger.assetId(asset);
  return k.engine.ledger.available(account, a) + k.engine.ledger.locked(account, a);
};
/** USD smallest units (6 decimals) of a decimal string. */
const usd = (s: string): number => Math.round(Number(s) * 1e6);

function isValidation(r: CallResult, path: string): void {
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(r.body.type, PROBLEM_BASE + 'validation_error');
  assert.ok(r.body.errors.some((e: { path: string }) => e.path === path), JSON.stringify(r.body.errors));
}

before(async () => { k = await startRestKit(); });
after(async () => { await k?.close(); });

describe('rest: /portfolio/performance returns over time', () => {
  it('before any trade: cash only is priced, the other assets are listed as unpriced, return 0', async () => {
    const r = await get(PERF);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const ret = r.body.returns;
    assert.equal(ret.valuation_asset, 'USD');
    assert.equal(ret.interval, '1h');
    assert.equal(ret.complete, true);
    assert.equal(ret.start_time, ret.covered_from, 'the first bucket starts when the gateway started');
    assert.equal(ret.series.length, 1);
    const s = ret.series[0];
    assert.equal(s.account_id, 1);
    assert.deepEqual(s.unpriced_assets, ['AAA', 'BBB']);
    assert.equal(usd(s.start_equity), total(1, 'USD'));
    assert.equal(s.total_return, 0);
    assert.equal(s.pnl, '0');
    assert.ok(s.points.length >= 1);
    assert.ok(Array.isArray(r.body.data) && typeof r.body.method === 'string', 'the PnL part is still there');
  });

  it('a deposit and a withdrawal are cash flows, not returns', async () => {
    const before = (await get(PERF)).body.returns.series[0];
    await fund(RuntimeCommandType.Deposit, 1, 'USD', 5_000_000_000);
    await fund(RuntimeCommandType.Withdraw, 1, 'USD', 1_000_000_000);
    const s = (await get(PERF)).body.returns.series[0];
    assert.equal(usd(s.net_flows) - usd(before.net_flows), 4_000_000_000);
    assert.equal(usd(s.end_equity), total(1, 'USD'));
    assert.equal(s.total_return, 0);
    assert.equal(s.pnl, '0');
    assert.equal(s.max_drawdown, 0, 'a withdrawal is no drawdown');
  });

  it('after a cross: the fee is the loss, the equity matches the ledger marked to the last price', async () => {
    const maker = await call(k.base, 'POST', '/api/v1/orders', { token: tok('trader2'), body: { symbol: 'BBB-USD', side: 'sell', order_type: 'limit', quantity: '0.010', price: '101.00' } });
    assert.equal(maker.status, 201, JSON.stringify(maker.body));
    const taker = await call(k.base, 'POST', '/api/v1/orders', { token: tok('trader'), body: { symbol: 'BBB-USD', side: 'buy', order_type: 'market', quantity: '0.004' } });
    assert.equal(taker.status, 201, JSON.stringify(taker.body));
    const fee1 = (await get('/api/v1/trades?symbol=BBB-USD')).body.data[0].fee as string;
    const fee2 = (await get('/api/v1/trades?symbol=BBB-USD', 'trader2')).body.data[0].fee as string;
    assert.ok(usd(fee1) > 0 && usd(fee2) > 0);

    const s1 = (await get(PERF)).body.returns.series[0];
    assert.deepEqual(s1.unpriced_assets, ['AAA', 'BBB'], 'BBB had no price at the start of the bucket');
    // Equity = USD + BBB at 101 (1.01 USD units per BBB unit); AAA has never traded.
    assert.equal(usd(s1.end_equity), Math.round(total(1, 'USD') + total(1, 'BBB') * 1.01));
    // Buying at the mark costs only the fee; BBB entering the valuation is a flow.
    assert.equal(usd(s1.pnl), -usd(fee1));
    assert.ok(s1.total_return < 0 && s1.total_return > -1e-6, String(s1.total_return));

    const s2 = (await get(PERF, 'trader2')).body.returns.series[0];
    assert.equal(s2.account_id, 2);
    assert.equal(usd(s2.pnl), -usd(fee2));
    // trader2 had no cash flow after the start: its return is -fee / its starting equity (all USD).
    assert.ok(Math.abs(s2.total_return - -usd(fee2) / usd(s2.start_equity)) < 1e-15, `${s2.total_return}`);

    // A deposit of BBB, now priced, is a flow too: the pnl does not move.
    await fund(RuntimeCommandType.Deposit, 1, 'BBB', 300_000);
    const s3 = (await get(PERF)).body.returns.series[0];
    assert.equal(usd(s3.pnl), -usd(fee1));
    assert.equal(usd(s3.net_flows) - usd(s1.net_flows), Math.round(300_000 * 1.01));
  });

  it('interval and range: buckets of the interval from the covered start, at most 1000; a start before the gateway is incomplete', async () => {
    const r = await get(`${PERF}?interval=1m`);
    assert.equal(r.status, 200);
    const s = r.body.returns.series[0];
    const covered = Date.parse(r.body.returns.covered_from);
    const firstOpen = Math.floor(covered / 60_000) * 60_000;
    assert.equal(Date.parse(s.points[0].time), firstOpen);
    assert.equal(s.points.length, Math.floor(Date.now() / 60_000) - firstOpen / 60_000 + 1);
    for (let i = 1; i < s.points.length; i++) assert.equal(Date.parse(s.points[i].time) - Date.parse(s.points[i - 1].time), 60_000);
    const early = new Date(covered - 3 * 86_400_000).toISOString();
    const e = await get(`${PERF}?interval=1d&start_time=${early}`);
    assert.equal(e.status, 200, JSON.stringify(e.body));
    assert.equal(e.body.returns.complete, false);
    assert.equal(e.body.returns.series[0].complete, false);
    assert.equal(e.body.returns.start_time, e.body.returns.covered_from, 'no bucket before the covered range');
    const past = await get(`${PERF}?start_time=${new Date(covered - 7200_000).toISOString()}&end_time=${new Date(covered - 3600_000).toISOString()}`);
    assert.equal(past.status, 200);
    assert.deepEqual(past.body.returns.series, []);
    assert.equal(past.body.returns.complete, false);
  });

  it('bad queries are 400 problems naming the parameter; another account is not found', async () => {
    const now = Date.now();
    isValidation(await get(`${PERF}?interval=2h`), 'query.interval');
    isValidation(await get(`${PERF}?interval=1H`), 'query.interval');
    isValidation(await get(`${PERF}?start_time=yesterday`), 'query.start_time');
    isValidation(await get(`${PERF}?start_time=${new Date(now).toISOString()}&end_time=${new Date(now - 60_000).toISOString()}`), 'query.end_time');
    isValidation(await get(`${PERF}?interval=1m&start_time=${new Date(now - 2 * 86_400_000).toISOString()}&end_time=${new Date(now).toISOString()}`), 'query.start_time');
    isValidation(await get(`${PERF}?interval=1m&start_time=${new Date(now - 2 * 86_400_000).toISOString()}`), 'query.start_time');
    isValidation(await get(`${PERF}?start_time=${new Date(now + 86_400_000).toISOString()}`), 'query.start_time');
    isValidation(await get(`${PERF}?valuation_asset=ZZZ`), 'query.valuation_asset');
    isValidation(await get(`${PERF}?colour=red`), 'query.colour');
    isValidation(await get(`${PERF}?interval=1h&interval=1d`), 'query.interval');
    const other = await get(`${PERF}?account_id=2`);
    assert.equal(other.status, 404);
    assert.equal(other.body.code, 'account_not_found');
    // Valued in another asset: BBB has no instrument quoting the others in it, so only BBB counts.
    const inBbb = await get(`${PERF}?valuation_asset=BBB`);
    assert.equal(inBbb.status, 200);
    assert.deepEqual(inBbb.body.returns.series[0].unpriced_assets, ['AAA', 'USD']);
  });

  it('the OpenAPI document describes the query and the returns', async () => {
    const doc = (await call(k.base, 'GET', '/openapi.json')).body;
    const op = doc.paths['/api/v1/portfolio/performance'].get;
    const names = op.parameters.map((p: { name: string }) => p.name).sort();
    assert.deepEqual(names, ['account_id', 'end_time', 'interval', 'start_time', 'valuation_asset']);
    const schema = op.responses['200'].content['application/json'].schema;
    assert.ok(schema.properties.returns.properties.series, JSON.stringify(schema.properties.returns));
    assert.ok(schema.properties.data, 'the PnL rows are still described');
  });
});
