// The client's client_order_id string in PostgreSQL (migration 004, orders.client_order_text) and in
// the REST history answers, against a real database:
// - a database made by the previous version (migrations 001..003 only, with an order row of that
//   time) is migrated forward by the read side's start (004 only) and its old row still answers,
//   with the engine's integer;
// - REST orders placed with a client_order_id are replicated live with their string (and the
//   integer kept in client_order_id); an order without one has none;
// - a second gateway on another data dir (its idempotency index and read model never saw those
//   orders) answers them from PostgreSQL with the string, in the list and by id;
// - the journal catch-up path (JournalReplayer, as after a restart) yields the same string, and the
//   INSERT write mode stores it like COPY.
// Skipped (with a message) when PostgreSQL is unreachable, unless CI=true or PG_TESTS_REQUIRED=1.

import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestSchema, pgSkipReason, testDatabaseUrl, type TestSchema } from '../../persistence/pg/db.js';
import { JournalReplayer } from '../../persistence/pg/engine-source.js';
import { migrate, schemaDir } from '../../persistence/pg/migrate.js';
import { startReadSide, type ReadSide } from '../../persistence/pg/read-side.js';
import type { EventsRecord } from '../../persistence/pg/replication.js';
import { Replicator } from '../../persistence/pg/replicator.js';
import { MemorySource } from '../../persistence/pg/workload.js';
import type { Ack } from '../engine.js';
import { LIVE_STATUSES } from './read-model.js';
import { REST_INSTRUMENTS, call, startRestKit, type CallResult, type RestKit } from './test-kit.js';

const skip = await pgSkipReason(testDatabaseUrl());

const OLD_ORDER_ID = 900_000_001;
const TEXT_A = 'alpha.1:X_y-z';
const TEXT_G = 'gamma-3';

let k: RestKit;
let k2: RestKit | null = null;
let db: TestSchema;
let rs: ReadSide;
let oldDir = '';
const ids: Record<string, string> = {};
const order = (side: string, price: string, extra: Record<string, unknown> = {}) => ({ symbol: 'AAA-USD', side, order_type: 'limit', quantity: '0.005', price, ...extra });
const req = (kit: RestKit, user: string, method: string, path: string, body?: unknown): Promise<CallResult> =>
  call(kit.base, method, path, { token: kit.users[user]!.token, ...(body !== undefined ? { body } : {}) });

describe('client_order_id strings in PostgreSQL and the REST history', { skip: skip ?? false }, () => {
  before(async () => {
    db = await createTestSchema('rest_ctext');
    // The previous version's database: migrations 001..003, and an order it replicated (integer id only).
    oldDir = mkdtempSync(join(tmpdir(), 'pg-schema-old-'));
    for (const f of readdirSync(schemaDir())) if (/^00[123]_.*\.sql$/.test(f)) copyFileSync(join(schemaDir(), f), join(oldDir, f));
    const old = await migrate(db.sql, { dir: oldDir });
    assert.deepEqual(old.applied, ['1_core', '2_timeseries', '3_historical_trades']);
    await db.sql`INSERT INTO orders (order_id, instrument_id, account_id, client_order_id, side, order_type, time_in_force, qty_lots,
        remaining_lots, status, end_reason, created_at, updated_at, created_seq, updated_seq)
      VALUES (${OLD_ORDER_ID}, 1, 1, 4242, 'buy', 'limit', 'GTC', 5, 0, 'canceled', 1, now() - interval '1 day', now() - interval '1 day', ${OLD_ORDER_ID}, ${OLD_ORDER_ID})`;

    k = await startRestKit({ history: { url: db.url, schema: db.schema } });
    rs = await startReadSide({ engine: k.engine, databaseUrl: db.url, redisUrl: null, schema: db.schema, retryMaxMs: 200 });
    const prev = k.engine.onAck;
    k.engine.onAck = (a: Ack): void => { rs.onAck(a); prev?.(a); };
    await rs.started;

    const a = await req(k, 'trader', 'POST', '/api/v1/orders', order('buy', '90.00', { client_order_id: TEXT_A }));
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.equal((await req(k, 'trader', 'DELETE', `/api/v1/orders/${a.body.id}`)).status, 200);
    const g = await req(k, 'trader', 'POST', '/api/v1/orders', order('sell', '100.00', { client_order_id: TEXT_G }));
    assert.equal(g.status, 201, JSON.stringify(g.body));
    const b = await req(k, 'trader2', 'POST', '/api/v1/orders', order('buy', '100.00'));
    assert.equal(b.body.status, 'filled', JSON.stringify(b.body));
    Object.assign(ids, { a: a.body.id, g: g.body.id, b: b.body.id });
    await rs.caughtUp(20_000);
  });

  after(async () => {
    await k2?.close();
    await k?.close();
    await rs?.stop(0);
    await db?.drop();
    if (oldDir !== '') rmSync(oldDir, { recursive: true, force: true });
  });

  it('the old database was migrated forward (004 only) and its row is untouched', async () => {
    const v = await db.sql`SELECT version, name FROM schema_migrations ORDER BY version`;
    assert.deepEqual(v.map((r) => `${r.version}_${r.name}`), ['1_core', '2_timeseries', '3_historical_trades', '4_client_order_text']);
    const r = await db.sql`SELECT client_order_id, client_order_text FROM orders WHERE order_id = ${OLD_ORDER_ID}`;
    assert.deepEqual([Number(r[0]!.client_order_id), r[0]!.client_order_text], [4242, null]);
    const view = await db.sql`SELECT client_order_text FROM orders_decimal WHERE order_id = ${Number(ids.a)}`;
    assert.equal(view[0]?.client_order_text, TEXT_A, 'the decimal view has the string too');
  });

  it('replication writes the string, keeps the integer, and leaves orders without one NULL', async () => {
    const rows = await db.sql`SELECT order_id, client_order_id, client_order_text, status FROM orders WHERE order_id IN ${db.sql([Number(ids.a), Number(ids.g), Number(ids.b)])}`;
    const by = new Map(rows.map((r) => [String(r.order_id), r]));
    assert.equal(by.get(ids.a!)?.client_order_text, TEXT_A);
    assert.equal(by.get(ids.a!)?.status, 'canceled');
    assert.ok(Number(by.get(ids.a!)?.client_order_id) > 0, 'the engine integer is kept in client_order_id');
    assert.equal(by.get(ids.g!)?.client_order_text, TEXT_G);
    assert.equal(by.get(ids.g!)?.status, 'filled');
    assert.equal(by.get(ids.b!)?.client_order_text, null);
  });

  it('the history reader answers the string (and the integer for the old row)', async () => {
    const h = k.rest.context.history!;
    assert.equal((await h.order(Number(ids.a)))?.clientOrderId, TEXT_A);
    assert.equal((await h.order(Number(ids.b)))?.clientOrderId, null);
    assert.equal((await h.order(OLD_ORDER_ID))?.clientOrderId, '4242');
    const list = await h.orders({ accounts: [1], statuses: ['filled', 'canceled', 'expired'], instrumentId: 0, side: -1, fromUs: undefined, toUs: undefined, beforeId: 0, limit: 10 });
    assert.deepEqual(list.map((o) => [o.id, o.clientOrderId]), [[OLD_ORDER_ID, '4242'], [Number(ids.g), TEXT_G], [Number(ids.a), TEXT_A]]);
  });

  it('a gateway that never saw the orders (no index entry, not in memory) answers the strings from PostgreSQL', async () => {
    k2 = await startRestKit({ history: { url: db.url, schema: db.schema } });
    for (const [id, r] of k2.rest.model.orders) if (!LIVE_STATUSES.has(r.status)) k2.rest.model.orders.delete(id);
    assert.equal(k2.rest.model.orders.has(Number(ids.a)), false);
    const one = await req(k2, 'trader', 'GET', `/api/v1/orders/${ids.a}`);
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.equal(one.body.client_order_id, TEXT_A);
    const list = await req(k2, 'trader', 'GET', '/api/v1/orders?status=filled,canceled');
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.equal(list.body.history_source, 'postgresql');
    const by = new Map<string, any>(list.body.data.map((o: any) => [o.id, o]));
    assert.equal(by.get(ids.a!)?.client_order_id, TEXT_A);
    assert.equal(by.get(ids.g!)?.client_order_id, TEXT_G);
    assert.equal(by.get(String(OLD_ORDER_ID))?.client_order_id, '4242', 'rows from before 004 keep the integer');
  });

  it('journal catch-up carries the string, and the INSERT write mode stores it like COPY', async () => {
    const head = k.engine.stats().ackedSeq;
    const recs = await new JournalReplayer(k.engine.journalPath, REST_INSTRUMENTS).read(0, head, 1_000_000);
    const ev = (seq: number): EventsRecord | undefined => recs.find((r): r is EventsRecord => r.kind === 'events' && r.seq === seq);
    assert.equal(ev(Number(ids.a))?.clientText, TEXT_A);
    assert.equal(ev(Number(ids.g))?.clientText, TEXT_G);
    assert.equal(ev(Number(ids.b))?.clientText ?? null, null);

    const db2 = await createTestSchema('rest_ctext_ins');
    try {
      await migrate(db2.sql);
      const rep = new Replicator({ url: db2.url, schema: db2.schema, source: new MemorySource(recs), instruments: REST_INSTRUMENTS, writeMode: 'insert', idleMs: 2 });
      rep.start();
      await rep.waitFor(recs[recs.length - 1]!.seq, 20_000);
      await rep.stop();
      const rows = await db2.sql`SELECT order_id, client_order_text FROM orders WHERE order_id IN ${db2.sql([Number(ids.a), Number(ids.g), Number(ids.b)])} ORDER BY order_id`;
      assert.deepEqual(rows.map((r) => [String(r.order_id), r.client_order_text]), [[ids.a, TEXT_A], [ids.g, TEXT_G], [ids.b, null]]);
    } finally {
      await db2.drop();
    }
  });
});
