// client_order_id across a restart of a real engine on the same data dir: the client's string is
// journaled in the command record (words 27..31), the idempotency index and the orders' strings are
// rebuilt from the journal, and a retry of an acknowledged order answers 200 with the same order
// without using a sequence number. Also: rejected orders list what was asked, and order answers carry
// the fields POST accepted (display quantity, offsets, links, STP, trigger type).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { CLIENT_TEXT_ALPHABET, CLIENT_TEXT_MAX, CMD_WORDS, CW_CLIENT_TEXT, decodeCommand, encodeCommand, packClientText, unpackClientText } from '../../core/command-codec.js';
import { Command, CommandType } from '../../core/types.js';
import { readJournal } from '../../persistence/journal.js';
import { tempDataDir } from '../engine-test-kit.js';
import { crashOrderBody } from './idempotency-crash-child.js';
import { Order } from './schemas.js';
import { call, startRestKit, type CallResult, type RestKit } from './test-kit.js';

/** An order answer has exactly the properties /openapi.json documents for it, all required, and parses with the Order schema. */
async function assertDocumented(k: RestKit, answers: unknown[]): Promise<void> {
  const doc = (await call(k.base, 'GET', '/openapi.json')).body;
  const schema = doc.paths['/api/v1/orders/{order_id}'].get.responses['200'].content['application/json'].schema;
  const props = Object.keys(schema.properties).sort();
  assert.deepEqual([...schema.required].sort(), props);
  for (const name of ['display_quantity', 'trail_offset', 'trail_offset_bps', 'limit_offset', 'oco_order_id', 'parent_order_id', 'stp_mode', 'trigger_price_type']) {
    assert.ok(props.includes(name), `/openapi.json documents ${name}`);
  }
  for (const a of answers) {
    assert.deepEqual(Object.keys(a as object).sort(), props);
    Order.strict().parse(a);
  }
}

describe('client text in the command record (words 27..31)', () => {
  it('round-trips every packable text; words are exact integers below 2^53; zero words are none', () => {
    let seed = 11;
    const rnd = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
    const w = new Float64Array(CMD_WORDS);
    const texts = ['a', '-', 'z'.repeat(CLIENT_TEXT_MAX), 'x'.repeat(8), 'y'.repeat(16), CLIENT_TEXT_ALPHABET.slice(0, 40)];
    for (let k = 0; k < 2000; k++) texts.push(Array.from({ length: 1 + rnd(CLIENT_TEXT_MAX) }, () => CLIENT_TEXT_ALPHABET[rnd(CLIENT_TEXT_ALPHABET.length)]).join(''));
    for (const t of texts) {
      packClientText(t, w, CW_CLIENT_TEXT);
      for (let j = 0; j < 5; j++) assert.ok(Number.isSafeInteger(w[CW_CLIENT_TEXT + j]!) && w[CW_CLIENT_TEXT + j]! >= 0, `word ${j} of ${t}`);
      assert.equal(unpackClientText(w, CW_CLIENT_TEXT), t);
    }
    assert.equal(unpackClientText(new Float64Array(CMD_WORDS), CW_CLIENT_TEXT), null, 'an old record (zeros) has none');
    for (const bad of ['', 'a b', 'é', 'x'.repeat(CLIENT_TEXT_MAX + 1)]) assert.throws(() => packClientText(bad, w, 0), RangeError);
    // Through the record codec: encoded with the command, not decoded into it (the core never reads it).
    const cmd = new Command();
    cmd.type = CommandType.NewOrder; cmd.clientText = 'abc.DEF:1_2-3';
    encodeCommand(cmd, 1, w, 0);
    assert.equal(unpackClientText(w, CW_CLIENT_TEXT), 'abc.DEF:1_2-3');
    assert.equal(decodeCommand(w, 0, new Command()).clientText, null);
    cmd.clientText = null;
    encodeCommand(cmd, 1, w, 0);
    assert.deepEqual([...w.subarray(CW_CLIENT_TEXT)], [0, 0, 0, 0, 0]);
  });
});

describe('client_order_id survives a restart', () => {
  it('retries after a restart answer 200 with the same order and use no sequence number; a different order is 409', async () => {
    const dataDir = tempDataDir('rest-idem');
    let k: RestKit = await startRestKit({}, { dataDir });
    const post = (who: string, body: unknown): Promise<CallResult> => call(k.base, 'POST', '/api/v1/orders', { token: k.users[who]!.token, body });
    const get = (who: string, path: string): Promise<CallResult> => call(k.base, 'GET', path, { token: k.users[who]!.token });
    try {
      // An open iceberg with STP, a pending stop, a filled IOC and a rejected post-only order, each with a client id.
      const bodyA = { symbol: 'AAA-USD', side: 'buy', order_type: 'limit', quantity: '0.005', price: '90.00', display_quantity: '0.001', stp_mode: 'expire_maker', client_order_id: 'open.A:1_x-Y' };
      const a = await post('trader', bodyA);
      assert.equal(a.status, 201, JSON.stringify(a.body));
      assert.equal(a.body.client_order_id, 'open.A:1_x-Y');
      assert.equal(a.body.display_quantity, '0.001');
      assert.equal(a.body.stp_mode, 'expire_maker');
      assert.equal(a.body.trigger_price_type, null);
      assert.equal(a.body.oco_order_id, null);
      assert.equal(a.body.parent_order_id, null);
      assert.equal(a.body.trail_offset, null);
      assert.equal(a.body.trail_offset_bps, null);
      assert.equal(a.body.limit_offset, null);
      const bodyS = { symbol: 'AAA-USD', side: 'sell', order_type: 'stop', quantity: '0.002', stop_price: '80', client_order_id: 'stop-S' };
      const st = await post('trader', bodyS);
      assert.equal(st.status, 201, JSON.stringify(st.body));
      assert.equal(st.body.status, 'pending_trigger');
      assert.equal(st.body.trigger_price_type, 'last');
      assert.equal(st.body.stop_price, '80');
      assert.equal((await post('trader2', { symbol: 'AAA-USD', side: 'sell', order_type: 'limit', quantity: '0.003', price: '100' })).status, 201);
      const bodyF = { symbol: 'AAA-USD', side: 'buy', order_type: 'limit', time_in_force: 'IOC', quantity: '0.003', price: '100', client_order_id: 'F-1' };
      const f = await post('trader', bodyF);
      assert.equal(f.status, 201, JSON.stringify(f.body));
      assert.equal(f.body.status, 'filled');
      assert.equal((await post('trader2', { symbol: 'AAA-USD', side: 'sell', order_type: 'limit', quantity: '0.001', price: '101' })).status, 201);
      const bodyR = { symbol: 'AAA-USD', side: 'buy', order_type: 'limit', quantity: '0.002', price: '101', post_only: true, client_order_id: 'rej-R' };
      const rj = await post('trader', bodyR);
      assert.ok(rj.status >= 400 && rj.status < 500, JSON.stringify(rj.body));
      const rejectedId = rj.body.order_id as string;
      // The rejected order is listed with what was asked.
      const listed = (await get('trader', '/api/v1/orders?status=rejected')).body.data.find((o: { id: string }) => o.id === rejectedId);
      assert.equal(listed.quantity, '0.002');
      assert.equal(listed.price, '101');
      assert.equal(listed.post_only, true);
      assert.equal(listed.client_order_id, 'rej-R');
      assert.equal(listed.reject_reason, rj.body.code);
      await assertDocumented(k, [a.body, st.body, f.body, listed]);

      // The string is in the journal's record of each order.
      const texts = new Map<number, string | null>();
      for (const rec of readJournal(k.engine.journalPath, 0)) if (rec.kind === CommandType.NewOrder) texts.set(rec.seq, unpackClientText(rec.words, CW_CLIENT_TEXT));
      assert.equal(texts.get(Number(a.body.id)), 'open.A:1_x-Y');
      assert.equal(texts.get(Number(f.body.id)), 'F-1');
      assert.equal(texts.get(Number(rejectedId)), 'rej-R');

      await k.close();
      k = await startRestKit({}, { dataDir });
      const seqBefore = k.engine.stats().nextSeq;

      // GET shows the client's string (not the engine's integer) and the entered fields.
      const ga = await get('trader', `/api/v1/orders/${a.body.id}`);
      assert.equal(ga.status, 200);
      assert.equal(ga.body.client_order_id, 'open.A:1_x-Y');
      assert.equal(ga.body.display_quantity, '0.001');
      assert.equal(ga.body.stp_mode, 'expire_maker');

      // The same orders again: 200, the same order, the header, no new sequence number.
      const ra = await post('trader', { ...bodyA, side: 'BUY', quantity: '0.0050', price: '90' }); // same order, other spellings
      assert.equal(ra.status, 200, JSON.stringify(ra.body));
      assert.equal(ra.headers.get('idempotent-replayed'), 'true');
      assert.equal(ra.body.id, a.body.id);
      assert.equal(ra.body.status, 'new');
      assert.equal(ra.body.client_order_id, 'open.A:1_x-Y');
      const rs = await post('trader', bodyS);
      assert.equal(rs.status, 200, JSON.stringify(rs.body));
      assert.equal(rs.body.id, st.body.id);
      const rf = await post('trader', bodyF);
      assert.equal(rf.status, 200, JSON.stringify(rf.body));
      assert.equal(rf.headers.get('idempotent-replayed'), 'true');
      assert.equal(rf.body.id, f.body.id);
      assert.equal(rf.body.status, 'filled');
      assert.equal(rf.body.filled_quantity, '0.003');
      assert.equal(rf.body.client_order_id, 'F-1');
      const rr = await post('trader', bodyR);
      assert.equal(rr.status, rj.status);
      assert.equal(rr.body.code, rj.body.code);
      assert.equal(rr.body.order_id, rejectedId);
      // A different order under a used id: 409, before the engine.
      const conflict = await post('trader', { ...bodyA, price: '91' });
      assert.equal(conflict.status, 409);
      assert.equal(conflict.body.code, 'idempotency_conflict');
      assert.equal(conflict.body.order_id, a.body.id);
      const conflictF = await post('trader', { ...bodyF, quantity: '0.004' });
      assert.equal(conflictF.body.code, 'idempotency_conflict');
      assert.equal(k.engine.stats().nextSeq, seqBefore, 'no retry or conflict used a sequence number');
      // Another account may use the same string.
      const other = await post('trader2', { ...bodyA, side: 'sell', price: '100' });
      assert.equal(other.status, 201, JSON.stringify(other.body));
      // Ended orders from before the restart read with their string too.
      const gf = await get('trader', `/api/v1/orders/${f.body.id}`);
      assert.equal(gf.body.client_order_id, 'F-1');
      assert.equal(gf.body.status, 'filled');
      const gr = await get('trader', `/api/v1/orders/${rejectedId}`);
      assert.equal(gr.body.status, 'rejected');
      assert.equal(gr.body.quantity, '0.002');
      assert.equal(gr.body.price, '101');

      // A second restart: still the same (the retries above left nothing in the journal).
      await k.close();
      k = await startRestKit({}, { dataDir });
      const again = await post('trader', bodyF);
      assert.equal(again.status, 200);
      assert.equal(again.body.id, f.body.id);
      const n = await post('trader', { ...bodyA, client_order_id: 'after-restart', price: '95' });
      assert.equal(n.status, 201, JSON.stringify(n.body));
      assert.equal((await post('trader', { ...bodyA, client_order_id: 'after-restart', price: '95' })).status, 200);
    } finally {
      await k.close();
    }
  });

  it('order answers carry offsets, links, STP and the trigger type, the same after a restart (seeded from the snapshot)', async () => {
    const dataDir = tempDataDir('rest-fields');
    let k: RestKit = await startRestKit({}, { dataDir });
    const post = (who: string, body: Record<string, unknown>): Promise<CallResult> => call(k.base, 'POST', '/api/v1/orders', { token: k.users[who]!.token, body: { symbol: 'BBB-USD', ...body } });
    const get = (path: string): Promise<CallResult> => call(k.base, 'GET', path, { token: k.users['trader']!.token });
    const FIELDS = ['client_order_id', 'display_quantity', 'trail_offset', 'trail_offset_bps', 'limit_offset', 'trigger_price_type', 'oco_order_id', 'parent_order_id', 'stp_mode', 'stp_group', 'order_type', 'status'];
    const pick = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(FIELDS.map((f) => [f, o[f]]));
    try {
      // A last price first (trailing orders trail from it).
      assert.equal((await post('trader2', { side: 'sell', order_type: 'limit', quantity: '0.001', price: '100' })).status, 201);
      assert.equal((await post('trader', { side: 'buy', order_type: 'limit', time_in_force: 'IOC', quantity: '0.001', price: '100' })).status, 201);
      const placed: Record<string, Record<string, unknown>> = {};
      const place = async (name: string, body: Record<string, unknown>, want: Record<string, unknown>): Promise<string> => {
        const r = await post('trader', { client_order_id: name, ...body });
        assert.equal(r.status, 201, `${name}: ${JSON.stringify(r.body)}`);
        for (const [f, v] of Object.entries(want)) assert.deepEqual(r.body[f], v, `${name}.${f}`);
        return r.body.id as string;
      };
      const ids: Record<string, string> = {};
      ids['trail'] = await place('trail', { side: 'sell', order_type: 'trailing_stop', quantity: '0.002', trail_offset: '1.00' },
        { trail_offset: '1', trail_offset_bps: null, limit_offset: null, trigger_price_type: 'last', status: 'pending_trigger' });
      ids['trail-bps'] = await place('trail-bps', { side: 'sell', order_type: 'trailing_stop_limit', quantity: '0.002', trail_offset_bps: 50, limit_offset: '0.50', trigger_price_type: 'MARK' },
        { trail_offset: null, trail_offset_bps: 50, limit_offset: '0.5', trigger_price_type: 'mark' });
      ids['oco-1'] = await place('oco-1', { side: 'buy', order_type: 'limit', quantity: '0.002', price: '95', stp_mode: 'decrement', stp_group: 7 },
        { oco_order_id: null, stp_mode: 'decrement', stp_group: 7, trigger_price_type: null });
      ids['oco-2'] = await place('oco-2', { side: 'buy', order_type: 'stop', quantity: '0.002', stop_price: '105', oco_order_id: ids['oco-1'] },
        { oco_order_id: ids['oco-1'], parent_order_id: null });
      assert.equal((await get(`/api/v1/orders/${ids['oco-1']}`)).body.oco_order_id, ids['oco-2'], 'the first leg names the second');
      ids['entry'] = await place('entry', { side: 'buy', order_type: 'limit', quantity: '0.003', price: '96', display_quantity: '0.001' }, { display_quantity: '0.001' });
      ids['child'] = await place('child', { side: 'sell', order_type: 'limit', price: '110', parent_order_id: ids['entry'] }, { parent_order_id: ids['entry'], oco_order_id: null });
      for (const [name, id] of Object.entries(ids)) placed[name] = pick((await get(`/api/v1/orders/${id}`)).body);
      const listed = (await get('/api/v1/orders?symbol=BBB-USD&status=open')).body.data as Record<string, unknown>[];
      await assertDocumented(k, listed);
      for (const [name, id] of Object.entries(ids)) assert.deepEqual(pick(listed.find((o) => o['id'] === id)!), placed[name], `${name} listed as read`);

      await k.close();
      k = await startRestKit({}, { dataDir });
      for (const [name, id] of Object.entries(ids)) assert.deepEqual(pick((await get(`/api/v1/orders/${id}`)).body), placed[name], `${name} after the restart`);
    } finally {
      await k.close();
    }
  });

  it('after a SIGKILL: every acknowledged order answers 200 on retry, and the one in flight exists at most once', async () => {
    const dataDir = tempDataDir('rest-idem-crash');
    const KILL_AFTER = 12;
    const child = spawn(process.execPath, [fileURLToPath(new URL('./idempotency-crash-child.js', import.meta.url)), dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const acked: { n: number; id: string; status: string }[] = [];
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const m = /^acked (\d+) (\d+) (\w+)$/.exec(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (m === null) continue;
          acked.push({ n: Number(m[1]), id: m[2]!, status: m[3]! });
          if (acked.length === KILL_AFTER) { child.kill('SIGKILL'); resolve(); }
        }
      });
      child.on('exit', (code, signal) => { if (signal !== 'SIGKILL') reject(new Error(`child exited early (${code}): ${stderr}`)); });
    });
    await new Promise<void>((resolve) => { if (child.exitCode !== null || child.signalCode !== null) resolve(); else child.on('exit', () => resolve()); });
    const k = await startRestKit({}, { dataDir });
    try {
      const seqBefore = k.engine.stats().nextSeq;
      for (const a of acked) {
        const r = await call(k.base, 'POST', '/api/v1/orders', { token: k.users['trader']!.token, body: crashOrderBody(a.n) });
        assert.equal(r.status, 200, `crash-${a.n}: ${JSON.stringify(r.body)}`);
        assert.equal(r.headers.get('idempotent-replayed'), 'true');
        assert.equal(r.body.id, a.id, `crash-${a.n} is the same order`);
        assert.equal(r.body.client_order_id, `crash-${a.n}`);
        assert.equal(r.body.status, a.n % 2 === 0 ? 'new' : 'filled');
      }
      assert.equal(k.engine.stats().nextSeq, seqBefore, 'the retries used no sequence number');
      // The request in flight at the kill (and the next, never sent): 200 if the journal has it, else a new order; once either way.
      for (const n of [KILL_AFTER, KILL_AFTER + 1]) {
        const r1 = await call(k.base, 'POST', '/api/v1/orders', { token: k.users['trader']!.token, body: crashOrderBody(n) });
        assert.ok(r1.status === 200 || r1.status === 201, `crash-${n}: ${r1.status} ${JSON.stringify(r1.body)}`);
        const r2 = await call(k.base, 'POST', '/api/v1/orders', { token: k.users['trader']!.token, body: crashOrderBody(n) });
        assert.equal(r2.status, 200);
        assert.equal(r2.body.id, r1.body.id);
      }
      const count = new Map<string, number>();
      for (const rec of readJournal(k.engine.journalPath, 0)) {
        if (rec.kind !== CommandType.NewOrder) continue;
        const t = unpackClientText(rec.words, CW_CLIENT_TEXT);
        if (t !== null) count.set(t, (count.get(t) ?? 0) + 1);
      }
      for (let n = 0; n <= KILL_AFTER + 1; n++) assert.equal(count.get(`crash-${n}`), 1, `crash-${n} is journaled exactly once`);
    } finally {
      await k.close();
    }
  });
});
