// Unit tests of TradingClient against an in-memory fake transport: the "engine" decodes what the
// client sent with the engine's CommandDecoder and answers with frames from the engine's
// ReportEncoder. Timers are injected, so timeouts are tested without waiting.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CommandType, EndReason, OrderFlags, OrderType, RejectReason, Side, TimeInForce } from '../core/types.js';
import {
  AckTimeoutError, ClientClosedError, DuplicatePendingError, TradingClient, type Report, type TimerApi, type Transport,
} from './client.js';
import {
  CommandDecoder, Liquidity, MsgType, ProtoError, ProtocolError, ReportEncoder, decodedFields, type Fields,
} from './protocol.js';

const INSTR = 7;

class FakeTransport implements Transport {
  onmessage: ((event: { data: unknown }) => void) | null = null;
  readonly frames: Uint8Array[] = [];
  send(data: ArrayBuffer | Uint8Array): void {
    this.frames.push(data instanceof Uint8Array ? data.slice() : new Uint8Array(data.slice(0)));
  }
  deliver(data: unknown): void {
    this.onmessage?.({ data });
  }
}

class FakeTimers implements TimerApi {
  private next = 1;
  readonly live = new Map<number, () => void>();
  setTimeout(fn: () => void, _ms: number): unknown { const id = this.next++; this.live.set(id, fn); return id; }
  clearTimeout(h: unknown): void { this.live.delete(h as number); }
  fireAll(): void { const fns = [...this.live.values()]; this.live.clear(); for (const fn of fns) fn(); }
}

/** Decodes the client's frames and answers with encoded reports. */
class FakeEngine {
  readonly transport = new FakeTransport();
  readonly timers = new FakeTimers();
  readonly client: TradingClient;
  readonly dec = new CommandDecoder();
  readonly enc = new ReportEncoder(4096);
  seq = 1000;

  constructor() {
    this.client = new TradingClient(this.transport, { timers: this.timers, ackTimeoutMs: 1000, firstClientOrderId: 500 });
  }

  /** Messages of the i-th frame the client sent, as { type, fields }. */
  sent(i = this.transport.frames.length - 1): { type: number; fields: Fields }[] {
    const out: { type: number; fields: Fields }[] = [];
    assert.ok(this.dec.begin(this.transport.frames[i]!));
    for (let t = this.dec.next(); t > 0; t = this.dec.next()) out.push({ type: t, fields: decodedFields(this.dec) });
    assert.equal(this.dec.error, ProtoError.None);
    return out;
  }

  /** Sends what `write` encodes as one frame. */
  reply(write: (enc: ReportEncoder, seq: number) => void): void {
    this.enc.reset();
    write(this.enc, ++this.seq);
    this.transport.deliver(this.enc.bytes().slice().buffer);
  }
}

const TS = 1_700_000_000_000_000;

describe('TradingClient', () => {
  it('newOrder: encodes every field, assigns a client order id, resolves on ExecAccepted and emits it', async () => {
    const e = new FakeEngine();
    const seen: Report[] = [];
    e.client.on('report', (r: Report) => seen.push(r));
    const accepted: Report[] = [];
    e.client.on('ExecAccepted', (r: Report) => accepted.push(r));
    const p = e.client.newOrder({
      instrumentId: INSTR, side: Side.Sell, orderType: OrderType.StopLimit, tif: TimeInForce.GTD, priceTicks: 48950, qtyLots: 10,
      stopPriceTicks: 49000, expireTsUs: TS + 60_000_000, flags: OrderFlags.TriggerMark, stpMode: 4, stpGroup: 77,
    });
    const [m] = e.sent();
    assert.equal(m!.type, MsgType.NewOrder);
    assert.deepEqual(m!.fields, {
      clientOrderId: 500, priceTicks: 48950, qtyLots: 10, quoteQtyUnits: 0, stopPriceTicks: 49000, displayQtyLots: 0, trailOffset: 0,
      limitOffsetTicks: 0, linkId: 0, expireTsUs: TS + 60_000_000, stpGroup: 77, instrumentId: INSTR, side: 1, orderType: 3, tif: 3,
      stpMode: 4, flags: 4,
    });
    assert.equal(e.client.pendingCount(), 1);
    e.reply((enc, seq) => enc.accepted(seq, TS, seq, 500, INSTR, 1, 3, 3, 48950, 10, 0, TS + 60_000_000, 4));
    const ack = await p;
    assert.equal(ack.ok, true);
    assert.equal(ack.reason, 0);
    assert.equal(ack.clientOrderId, 500);
    assert.equal(ack.report.fields.orderId, 1001);
    assert.equal(seen.length, 1);
    assert.equal(accepted.length, 1);
    assert.equal(e.client.pendingCount(), 0);
    assert.equal(e.timers.live.size, 0, 'the timeout is cleared');
  });

  it('newOrder: resolves with ok=false and the reason on ExecRejected; ids are not matched across request kinds', async () => {
    const e = new FakeEngine();
    const p = e.client.newOrder({ instrumentId: INSTR, side: Side.Buy, priceTicks: 100, qtyLots: 1, clientOrderId: 42, flags: OrderFlags.PostOnly });
    // A cancel reject naming client order id 42 does not answer the NewOrder.
    e.reply((enc, seq) => enc.rejected(seq, TS, 0, 42, INSTR, RejectReason.UnknownOrder, CommandType.Cancel));
    assert.equal(e.client.pendingCount(), 1);
    e.reply((enc, seq) => enc.rejected(seq, TS, seq, 42, INSTR, RejectReason.PostOnlyWouldTake, CommandType.NewOrder));
    const ack = await p;
    assert.deepEqual([ack.ok, ack.reason, ack.clientOrderId], [false, RejectReason.PostOnlyWouldTake, 42]);
  });

  it('rejects a request that cannot be encoded (nothing is sent) and a duplicate pending client order id', async () => {
    const e = new FakeEngine();
    await assert.rejects(e.client.newOrder({ instrumentId: INSTR, side: Side.Buy, priceTicks: 100.5, qtyLots: 1 }),
      (err: unknown) => err instanceof ProtocolError && err.code === ProtoError.NonInteger && err.field === 'priceTicks');
    await assert.rejects(e.client.newOrder({ instrumentId: INSTR, side: 2, qtyLots: 1 }),
      (err: unknown) => err instanceof ProtocolError && err.code === ProtoError.EnumOutOfRange);
    await assert.rejects(e.client.newOrder({ instrumentId: INSTR, side: 0, qtyLots: 1, clientOrderId: 2 ** 53 }),
      (err: unknown) => err instanceof ProtocolError && err.code === ProtoError.IntegerOutOfRange);
    assert.equal(e.transport.frames.length, 0);
    const first = e.client.newOrder({ instrumentId: INSTR, side: 0, qtyLots: 1, priceTicks: 5, clientOrderId: 9 });
    await assert.rejects(e.client.newOrder({ instrumentId: INSTR, side: 0, qtyLots: 1, priceTicks: 5, clientOrderId: 9 }), DuplicatePendingError);
    assert.equal(e.transport.frames.length, 1);
    e.client.close();
    await assert.rejects(first, ClientClosedError);
  });

  it('times out without an ack; a late report is still emitted', async () => {
    const e = new FakeEngine();
    const p = e.client.newOrder({ instrumentId: INSTR, side: 0, qtyLots: 1, priceTicks: 5 });
    e.timers.fireAll();
    await assert.rejects(p, AckTimeoutError);
    assert.equal(e.client.pendingCount(), 0);
    const late: Report[] = [];
    e.client.on('ExecAccepted', (r: Report) => late.push(r));
    e.reply((enc, seq) => enc.accepted(seq, TS, seq, 500, INSTR, 0, 0, 0, 5, 1, 0, 0, 0));
    assert.equal(late.length, 1);
  });

  it('cancel by order id and by client order id; only a UserCancel (or a Cancel reject) answers it', async () => {
    const e = new FakeEngine();
    const byId = e.client.cancel({ instrumentId: INSTR, orderId: 1001 });
    const byClId = e.client.cancel({ instrumentId: INSTR, clientOrderId: 77 });
    assert.deepEqual(e.sent(0)[0]!.fields, { orderId: 1001, clientOrderId: 0, instrumentId: INSTR });
    assert.deepEqual(e.sent(1)[0]!.fields, { orderId: 0, clientOrderId: 77, instrumentId: INSTR });
    // Canceled for another reason (OCO partner) does not answer the cancel.
    e.reply((enc, seq) => enc.ended(false, seq, TS, 1001, 5, INSTR, EndReason.LinkedOrder, 3, 0));
    assert.equal(e.client.pendingCount(), 2);
    e.reply((enc, seq) => {
      enc.ended(false, seq, TS, 1001, 5, INSTR, EndReason.UserCancel, 3, 2);
      enc.rejected(seq + 1, TS, 0, 77, INSTR, RejectReason.UnknownOrder, CommandType.Cancel);
    });
    const a = await byId; const b = await byClId;
    assert.deepEqual([a.ok, a.report.name, a.report.fields.canceledQtyLots, a.report.fields.cumQtyLots], [true, 'ExecCanceled', 3, 2]);
    assert.deepEqual([b.ok, b.reason], [false, RejectReason.UnknownOrder]);
  });

  it('cancel by client order id is answered by an ExecCanceled that names both ids', async () => {
    const e = new FakeEngine();
    const p = e.client.cancel({ instrumentId: INSTR, clientOrderId: 600 });
    e.reply((enc, seq) => enc.ended(false, seq, TS, 1234, 600, INSTR, EndReason.UserCancel, 1, 0));
    assert.equal((await p).ok, true);
  });

  it('replace: ExecReplaced, or ExecCanceled with ReplaceDone, or a Replace reject', async () => {
    const e = new FakeEngine();
    const r1 = e.client.replace({ instrumentId: INSTR, orderId: 1001, priceTicks: 50020, qtyLots: 30 });
    assert.deepEqual(e.sent()[0]!.fields, { orderId: 1001, clientOrderId: 0, priceTicks: 50020, qtyLots: 30, instrumentId: INSTR });
    const r2 = e.client.replace({ instrumentId: INSTR, orderId: 1002, qtyLots: 1 });
    const r3 = e.client.replace({ instrumentId: INSTR, clientOrderId: 9, priceTicks: 1 });
    e.reply((enc, seq) => {
      enc.replaced(seq, TS, 1001, 0, INSTR, 0, 50020, 30, 20);
      enc.ended(false, seq + 1, TS, 1002, 0, INSTR, EndReason.ReplaceDone, 4, 5);
      enc.rejected(seq + 2, TS, 0, 9, INSTR, RejectReason.ReplaceNoChange, CommandType.Replace);
    });
    assert.deepEqual([(await r1).ok, (await r1).report.fields.leavesQtyLots], [true, 20]);
    assert.deepEqual([(await r2).ok, (await r2).report.fields.reason], [true, EndReason.ReplaceDone]);
    assert.deepEqual([(await r3).ok, (await r3).reason], [false, RejectReason.ReplaceNoChange]);
  });

  it('massCancel: MassCancelDone by request id, or a MassCancel reject carrying it as clientOrderId', async () => {
    const e = new FakeEngine();
    const m1 = e.client.massCancel({ instrumentId: 0 });
    assert.deepEqual(e.sent()[0]!.fields, { requestId: 500, instrumentId: 0 });
    const m2 = e.client.massCancel({ instrumentId: INSTR, requestId: 77 });
    e.reply((enc, seq) => {
      enc.ended(false, seq, TS, 1001, 1, INSTR, EndReason.MassCancel, 2, 0);
      enc.massCancelDone(seq, TS, 500, 0, 1);
      enc.rejected(seq + 1, TS, 0, 77, INSTR, RejectReason.SymbolHalted, CommandType.MassCancel);
    });
    assert.deepEqual([(await m1).ok, (await m1).report.fields.canceledCount], [true, 1]);
    assert.deepEqual([(await m2).ok, (await m2).reason], [false, RejectReason.SymbolHalted]);
  });

  it('batch: one frame for several requests, each with its own ack', async () => {
    const e = new FakeEngine();
    const acks: Promise<unknown>[] = [];
    e.client.batch(() => {
      acks.push(e.client.newOrder({ instrumentId: INSTR, side: 0, priceTicks: 10, qtyLots: 1 }));
      acks.push(e.client.newOrder({ instrumentId: INSTR, side: 1, priceTicks: 12, qtyLots: 1 }));
      acks.push(e.client.cancel({ instrumentId: INSTR, orderId: 3 }));
      e.client.heartbeat(TS);
    });
    assert.equal(e.transport.frames.length, 1);
    assert.deepEqual(e.sent(0).map((m) => m.type), [MsgType.NewOrder, MsgType.NewOrder, MsgType.Cancel, MsgType.Heartbeat]);
    e.reply((enc, seq) => {
      enc.accepted(seq, TS, seq, 500, INSTR, 0, 0, 0, 10, 1, 0, 0, 0);
      enc.accepted(seq + 1, TS, seq + 1, 501, INSTR, 1, 0, 0, 12, 1, 0, 0, 0);
      enc.ended(false, seq + 2, TS, 3, 0, INSTR, EndReason.UserCancel, 1, 0);
    });
    const results = await Promise.all(acks) as { ok: boolean }[];
    assert.deepEqual(results.map((r) => r.ok), [true, true, true]);
  });

  it('batch splits at maxMessagesPerFrame', () => {
    const transport = new FakeTransport();
    const client = new TradingClient(transport, { timers: new FakeTimers(), maxMessagesPerFrame: 3 });
    client.batch(() => { for (let i = 0; i < 7; i++) client.heartbeat(i); });
    assert.deepEqual(transport.frames.map((f) => f.length / 16), [3, 3, 1]);
  });

  it('emits fills and the other order events in order, with their fields', () => {
    const e = new FakeEngine();
    const names: string[] = [];
    e.client.on('report', (r: Report) => names.push(r.name));
    const fills: Report[] = [];
    e.client.on('ExecFill', (r: Report) => fills.push(r));
    e.reply((enc, seq) => {
      enc.fill(seq, TS, 1001, 5, INSTR, Liquidity.Maker, 0, 17, 50012, 10, -3, 15, 10, 500120);
      enc.twoQty(MsgType.ExecSliceRefreshed, seq, TS, 1001, 5, INSTR, 5, 10);
      enc.triggered(seq, TS, 1003, 6, INSTR, 0, 49000, 48990, 48950, 10);
      enc.twoQty(MsgType.ExecActivated, seq, TS, 1004, 7, INSTR, 10, 10);
      enc.twoQty(MsgType.ExecDecremented, seq, TS, 1005, 8, INSTR, 4, 6);
      enc.ended(true, seq, TS, 1006, 9, INSTR, EndReason.ImmediateRemainder, 5, 20);
    });
    assert.deepEqual(names, ['ExecFill', 'ExecSliceRefreshed', 'ExecTriggered', 'ExecActivated', 'ExecDecremented', 'ExecExpired']);
    assert.deepEqual(fills[0]!.fields, {
      seq: 1001, tsUs: TS, orderId: 1001, clientOrderId: 5, instrumentId: INSTR, liquidity: 1, side: 0, tradeId: 17,
      priceTicks: 50012, qtyLots: 10, feeUnits: -3, leavesQtyLots: 15, cumQtyLots: 10, notionalUnits: 500120,
    });
  });

  it('reports malformed engine frames as errors after dispatching the valid messages before them', () => {
    const e = new FakeEngine();
    const errors: unknown[] = [];
    const beats: Report[] = [];
    e.client.on('error', (err: unknown) => errors.push(err));
    e.client.on('Heartbeat', (r: Report) => beats.push(r));
    const enc = new ReportEncoder(64);
    enc.heartbeat(1); enc.heartbeat(2);
    const frame = enc.bytes().slice();
    frame[16 + 4] = 9; // second message: version 9
    e.transport.deliver(frame);
    assert.equal(beats.length, 1);
    assert.deepEqual(errors, [{ code: ProtoError.UnknownVersion, msgIndex: 1, byteOffset: 20, msgType: MsgType.Heartbeat }]);
    e.transport.deliver('not binary');
    assert.ok(errors[1] instanceof TypeError);
    const rejects: Report[] = [];
    e.client.on('SessionReject', (r: Report) => rejects.push(r));
    e.reply((x) => x.sessionReject(ProtoError.EnumOutOfRange, 0, 100, MsgType.NewOrder));
    assert.deepEqual(rejects[0]!.fields, { reason: 6, msgIndex: 0, byteOffset: 100, msgType: 1 });
  });

  it('close rejects every pending request and stops listening; off removes a listener', async () => {
    const e = new FakeEngine();
    const p1 = e.client.newOrder({ instrumentId: INSTR, side: 0, qtyLots: 1, priceTicks: 1 });
    const p2 = e.client.massCancel({ instrumentId: 0 });
    let count = 0;
    const l = (): void => { count++; };
    e.client.on('Heartbeat', l);
    e.reply((x) => x.heartbeat(1));
    e.client.off('Heartbeat', l);
    e.reply((x) => x.heartbeat(2));
    assert.equal(count, 1);
    e.client.close();
    await assert.rejects(p1, ClientClosedError);
    await assert.rejects(p2, ClientClosedError);
    assert.equal(e.transport.onmessage, null);
    assert.equal(e.timers.live.size, 0);
    await assert.rejects(e.client.cancel({ instrumentId: INSTR, orderId: 1 }), ClientClosedError);
  });
});
