// Tests of the binary protocol: every test vector of docs/protocol.md in both directions (read from
// the doc itself, so the doc cannot drift from the code), the schema tables' layout rules, the
// 64-bit helpers, the encoders' typed errors, frame limits, and the hot-path codecs against the
// schema-driven ones.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { Command } from '../core/types.js';
import {
  CommandDecoder, DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_MESSAGES_PER_FRAME, HEADER_BYTES, MESSAGE_SPECS, MsgType,
  NEXT_END, NEXT_ERROR, PROTO_ERROR_NAMES, ProtoError, ProtocolError, ReportEncoder, decodeFrame, decodedFields,
  encodeFrame, encodeMessage, fieldBytes, fromHex, messageSpec, messageSpecByName, readI64, readU64, toHex, writeI64,
  type DecodedFrame, type Fields, type FrameError, type MessageSpec,
} from './protocol.js';

// ----- the doc's vectors -----

interface Vector {
  name: string;
  direction: 'toEngine' | 'toClient';
  messages: { type: number; fields: Fields }[];
  error: FrameError | null;
  bytes: Uint8Array;
}

/** All fields of a message spec (reserved ones excluded), unlisted ones 0. */
function fullFields(spec: MessageSpec, given: Fields): Fields {
  const out: Fields = {};
  for (const fs of spec.fields) if (fs.kind[0] !== 'r') out[fs.name] = given[fs.name] ?? 0;
  for (const k of Object.keys(given)) assert.ok(k in out, `${spec.name} has no field ${k}`);
  return out;
}

function parseVectors(md: string): Vector[] {
  const out: Vector[] = [];
  const re = /```vector\n([\s\S]*?)```/g;
  for (let m = re.exec(md); m !== null; m = re.exec(md)) {
    const lines = m[1]!.split('\n');
    let name = ''; let direction = ''; let error: FrameError | null = null; let hex = ''; let inHex = false;
    const messages: Vector['messages'] = [];
    for (const line of lines) {
      if (inHex) { hex += ' ' + line; continue; }
      const [key, ...rest] = line.split(': ');
      const value = rest.join(': ');
      if (key === 'name') name = value;
      else if (key === 'direction') direction = value;
      else if (key === 'message') {
        const [msgName, ...pairs] = value.split(' ');
        const spec = messageSpecByName(msgName!);
        assert.ok(spec, `vector ${name}: unknown message ${msgName}`);
        const given: Fields = {};
        for (const p of pairs) { const [k, v] = p.split('='); given[k!] = Number(v); }
        messages.push({ type: spec.type, fields: fullFields(spec, given) });
      } else if (key === 'error') {
        const [codeName, ...pairs] = value.split(' ');
        const kv = Object.fromEntries(pairs.map((p) => p.split('=') as [string, string]));
        const code = PROTO_ERROR_NAMES.indexOf(codeName!);
        assert.ok(code > 0, `vector ${name}: unknown error ${codeName}`);
        error = { code, msgIndex: Number(kv.index), byteOffset: Number(kv.offset), msgType: Number(kv.type) };
      } else if (line === 'hex:') inHex = true;
    }
    assert.ok(direction === 'toEngine' || direction === 'toClient', `vector ${name}: direction`);
    out.push({ name, direction, messages, error, bytes: fromHex(hex) });
  }
  return out;
}

const docPath = new URL('../../docs/protocol.md', import.meta.url);
const VECTORS = parseVectors(readFileSync(docPath, 'utf8'));

/** Runs CommandDecoder over a frame; the result in decodeFrame's shape. */
function decodeWithCommandDecoder(dec: CommandDecoder, frame: Uint8Array): DecodedFrame {
  const messages: DecodedFrame['messages'] = [];
  if (dec.begin(frame)) {
    for (let t = dec.next(); t > 0; t = dec.next()) {
      messages.push({ type: t, name: messageSpec(t)!.name, offset: dec.msgOffset, fields: decodedFields(dec) });
      assert.equal(dec.msgIndex, messages.length - 1);
    }
  }
  const error = dec.error === ProtoError.None ? null
    : { code: dec.error, msgIndex: dec.errorIndex, byteOffset: dec.errorOffset, msgType: dec.errorMsgType };
  return { messages, error };
}

/** Encodes one engine -> client message with the hot-path ReportEncoder. */
function encodeWithReportEncoder(enc: ReportEncoder, type: number, f: Fields): void {
  const g = (k: string): number => f[k] ?? 0;
  switch (type) {
    case MsgType.Heartbeat: enc.heartbeat(g('timestampUs')); break;
    case MsgType.SessionReject: enc.sessionReject(g('reason'), g('msgIndex'), g('byteOffset'), g('msgType')); break;
    case MsgType.ExecAccepted: enc.accepted(g('seq'), g('tsUs'), g('orderId'), g('clientOrderId'), g('instrumentId'), g('side'),
      g('orderType'), g('tif'), g('priceTicks'), g('qtyLots'), g('quoteQtyUnits'), g('expireTsUs'), g('flags')); break;
    case MsgType.ExecRejected: enc.rejected(g('seq'), g('tsUs'), g('orderId'), g('clientOrderId'), g('instrumentId'), g('reason'),
      g('commandType')); break;
    case MsgType.ExecFill: enc.fill(g('seq'), g('tsUs'), g('orderId'), g('clientOrderId'), g('instrumentId'), g('liquidity'), g('side'),
      g('tradeId'), g('priceTicks'), g('qtyLots'), g('feeUnits'), g('leavesQtyLots'), g('cumQtyLots'), g('notionalUnits')); break;
    case MsgType.ExecCanceled: case MsgType.ExecExpired:
      enc.ended(type === MsgType.ExecExpired, g('seq'), g('tsUs'), g('orderId'), g('clientOrderId'), g('instrumentId'), g('reason'),
        g('canceledQtyLots'), g('cumQtyLots')); break;
    case MsgType.ExecReplaced: enc.replaced(g('seq'), g('tsUs'), g('orderId'), g('clientOrderId'), g('instrumentId'), g('keptPriority'),
      g('priceTicks'), g('qtyLots'), g('leavesQtyLots')); break;
    case MsgType.ExecTriggered: enc.triggered(g('seq'), g('tsUs'), g('orderId'), g('clientOrderId'), g('instrumentId'), g('newOrderType'),
      g('stopPriceTicks'), g('sourcePriceTicks'), g('limitPriceTicks'), g('leavesQtyLots')); break;
    case MsgType.ExecActivated: enc.twoQty(type, g('seq'), g('tsUs'), g('orderId'), g('clientOrderId'), g('instrumentId'),
      g('qtyLots'), g('leavesQtyLots')); break;
    case MsgType.ExecSliceRefreshed: enc.twoQty(type, g('seq'), g('tsUs'), g('orderId'), g('clientOrderId'), g('instrumentId'),
      g('visibleQtyLots'), g('hiddenQtyLots')); break;
    case MsgType.ExecDecremented: enc.twoQty(type, g('seq'), g('tsUs'), g('orderId'), g('clientOrderId'), g('instrumentId'),
      g('decrementQtyLots'), g('leavesQtyLots')); break;
    case MsgType.MassCancelDone: enc.massCancelDone(g('seq'), g('tsUs'), g('requestId'), g('instrumentId'), g('canceledCount')); break;
    default: throw new Error(`not an engine message: ${type}`);
  }
}

function stripOffsets(d: DecodedFrame): unknown {
  return { messages: d.messages.map((m) => ({ type: m.type, fields: m.fields })), error: d.error };
}

describe('protocol test vectors (docs/protocol.md)', () => {
  it('the doc has vectors for every message type, valid and malformed', () => {
    assert.ok(VECTORS.length >= 40, `only ${VECTORS.length} vectors found`);
    const covered = new Set(VECTORS.filter((v) => v.error === null).flatMap((v) => v.messages.map((m) => m.type)));
    for (const s of MESSAGE_SPECS) assert.ok(covered.has(s.type), `no vector for ${s.name}`);
    const errorCodes = new Set(VECTORS.flatMap((v) => (v.error ? [v.error.code] : [])));
    for (const code of [ProtoError.Short, ProtoError.LengthMismatch, ProtoError.UnknownType, ProtoError.UnknownVersion,
      ProtoError.EnumOutOfRange, ProtoError.IntegerOutOfRange, ProtoError.ReservedNonZero]) {
      assert.ok(errorCodes.has(code), `no error vector for ${PROTO_ERROR_NAMES[code]}`);
    }
  });

  for (const v of VECTORS) {
    it(`${v.direction} ${v.name}`, () => {
      const expected = { messages: v.messages, error: v.error };
      // decode(bytes) == fields, with the schema-driven decoder ...
      assert.deepEqual(stripOffsets(decodeFrame(v.bytes, v.direction)), expected);
      // ... and with the engine's CommandDecoder for client -> engine frames
      if (v.direction === 'toEngine') {
        assert.deepEqual(stripOffsets(decodeWithCommandDecoder(new CommandDecoder(), v.bytes)), expected);
      }
      if (v.error !== null) return;
      // encode(fields) == bytes, with the schema-driven encoder ...
      assert.equal(toHex(encodeFrame(v.messages)), toHex(v.bytes));
      // ... and with the engine's ReportEncoder for engine -> client frames
      if (v.direction === 'toClient') {
        const enc = new ReportEncoder(1024);
        for (const m of v.messages) encodeWithReportEncoder(enc, m.type, m.fields);
        assert.equal(toHex(enc.bytes()), toHex(v.bytes));
      }
    });
  }
});

describe('schema tables', () => {
  it('every message is a multiple of 8 bytes, its fields tile bytes 8..size exactly, 64-bit fields are 8-aligned', () => {
    const seenTypes = new Set<number>();
    for (const s of MESSAGE_SPECS) {
      assert.ok(!seenTypes.has(s.type), `duplicate type ${s.type}`); seenTypes.add(s.type);
      assert.equal(s.size % 8, 0, s.name);
      let p = HEADER_BYTES;
      for (const fs of [...s.fields].sort((a, b) => a.offset - b.offset)) {
        assert.equal(fs.offset, p, `${s.name}.${fs.name}: gap or overlap`);
        const n = fieldBytes(fs.kind);
        assert.equal(fs.offset % n, 0, `${s.name}.${fs.name}: misaligned`);
        p += n;
      }
      assert.equal(p, s.size, `${s.name}: fields do not fill the message`);
      assert.deepEqual(s.fields.map((x) => x.offset), [...s.fields].map((x) => x.offset).sort((a, b) => a - b), `${s.name}: fields not in offset order`);
      const names = s.fields.map((x) => x.name);
      assert.equal(new Set(names).size, names.length, `${s.name}: duplicate field name`);
    }
  });

  it('the message tables of docs/protocol.md match the schema', () => {
    const md = readFileSync(docPath, 'utf8');
    for (const s of MESSAGE_SPECS) {
      const start = md.indexOf(`### ${s.name} (type ${s.type}, ${s.size} bytes`);
      assert.ok(start >= 0, `no table for ${s.name}`);
      const end = md.slice(start + 4).search(/\n##/) + start + 4;
      const rows = md.slice(start, end).split('\n').filter((l) => /^\| \d+ \|/.test(l));
      assert.equal(rows.length, s.fields.length + 1, `${s.name}: rows`);
      for (const fs of s.fields) {
        const name = fs.kind[0] === 'r' ? '(reserved)' : '`' + fs.name + '`';
        const row = rows.find((l) => l.startsWith(`| ${fs.offset} | ${fieldBytes(fs.kind)} |`));
        assert.ok(row?.includes(`| ${name} |`), `${s.name}.${fs.name}: no row at offset ${fs.offset}`);
      }
    }
  });

  it('the largest client message fits the default frame limit 64 times', () => {
    const largest = Math.max(...MESSAGE_SPECS.filter((s) => s.direction !== 'toClient').map((s) => s.size));
    assert.equal(DEFAULT_MAX_FRAME_BYTES, largest * DEFAULT_MAX_MESSAGES_PER_FRAME);
  });
});

describe('64-bit helpers', () => {
  const v = new DataView(new ArrayBuffer(8));
  it('round-trips the edges of the safe range', () => {
    for (const x of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 52, Number.MAX_SAFE_INTEGER, -1, -(2 ** 32), -(2 ** 32) - 1, -Number.MAX_SAFE_INTEGER]) {
      writeI64(v, 0, x);
      assert.equal(v.getBigInt64(0, true), BigInt(x), `bytes of ${x}`);
      assert.equal(readI64(v, 0), x);
      if (x >= 0) assert.equal(readU64(v, 0), x);
    }
  });
  it('reports values beyond the safe range', () => {
    for (const big of [2n ** 53n, 2n ** 64n - 1n, 2n ** 63n]) {
      v.setBigUint64(0, big, true);
      assert.equal(readU64(v, 0), -1, String(big));
    }
    for (const big of [2n ** 53n, -(2n ** 53n), -(2n ** 63n), 2n ** 63n - 1n]) {
      v.setBigInt64(0, big, true);
      assert.ok(Number.isNaN(readI64(v, 0)), String(big));
    }
  });
});

describe('encoders: typed errors', () => {
  const out = new Uint8Array(128);
  const code = (fn: () => unknown): number => {
    try { fn(); } catch (e) { assert.ok(e instanceof ProtocolError, String(e)); return e.code; }
    return ProtoError.None;
  };
  it('rejects non-integers, out-of-range values and values outside an enum', () => {
    assert.equal(code(() => encodeMessage(MsgType.NewOrder, { qtyLots: 1.5 }, out)), ProtoError.NonInteger);
    assert.equal(code(() => encodeMessage(MsgType.NewOrder, { priceTicks: Number.NaN }, out)), ProtoError.NonInteger);
    assert.equal(code(() => encodeMessage(MsgType.NewOrder, { priceTicks: '5' as unknown as number }, out)), ProtoError.NonInteger);
    assert.equal(code(() => encodeMessage(MsgType.NewOrder, { clientOrderId: 2 ** 53 }, out)), ProtoError.IntegerOutOfRange);
    assert.equal(code(() => encodeMessage(MsgType.NewOrder, { qtyLots: -1 }, out)), ProtoError.IntegerOutOfRange);
    assert.equal(code(() => encodeMessage(MsgType.NewOrder, { instrumentId: 2 ** 32 }, out)), ProtoError.IntegerOutOfRange);
    assert.equal(code(() => encodeMessage(MsgType.NewOrder, { side: 2 }, out)), ProtoError.EnumOutOfRange);
    assert.equal(code(() => encodeMessage(MsgType.NewOrder, { flags: 64 }, out)), ProtoError.EnumOutOfRange);
    assert.equal(code(() => encodeMessage(MsgType.ExecFill, { liquidity: 0 }, out)), ProtoError.EnumOutOfRange);
    assert.equal(code(() => encodeMessage(99, {}, out)), ProtoError.UnknownType);
    assert.equal(code(() => encodeMessage(MsgType.ExecFill, { liquidity: 1, feeUnits: -Number.MAX_SAFE_INTEGER }, out)), ProtoError.None);
  });
});

describe('CommandDecoder', () => {
  const hb = encodeFrame([{ type: MsgType.Heartbeat, fields: { timestampUs: 1 } }]);

  it('limits the number of messages per frame', () => {
    const frame = encodeFrame(Array.from({ length: 65 }, () => ({ type: MsgType.Heartbeat, fields: {} })));
    const d = decodeWithCommandDecoder(new CommandDecoder({ maxFrameBytes: 1 << 16 }), frame);
    assert.equal(d.messages.length, 64);
    assert.deepEqual(d.error, { code: ProtoError.TooManyMessages, msgIndex: 64, byteOffset: 64 * 16, msgType: 0 });
    const g = decodeFrame(frame, 'toEngine', { maxFrameBytes: 1 << 16 });
    assert.deepEqual(stripOffsets(g), stripOffsets(d));
  });

  it('limits the frame size before reading anything', () => {
    const dec = new CommandDecoder({ maxFrameBytes: 32 });
    const frame = encodeFrame([{ type: MsgType.Heartbeat, fields: {} }, { type: MsgType.Heartbeat, fields: {} }, { type: MsgType.Heartbeat, fields: {} }]);
    assert.equal(dec.begin(frame), false);
    assert.equal(dec.error, ProtoError.Long);
    assert.equal(dec.next(), NEXT_ERROR);
    assert.equal(decodeFrame(frame, 'toEngine', { maxFrameBytes: 32 }).error?.code, ProtoError.Long);
  });

  it('reads a frame at a byte offset inside a larger buffer, and an ArrayBuffer', () => {
    const big = new Uint8Array(100);
    big.set(hb, 37);
    const dec = new CommandDecoder();
    assert.ok(dec.begin(big.subarray(37, 37 + hb.length)));
    assert.equal(dec.next(), MsgType.Heartbeat);
    assert.equal(dec.heartbeatTsUs, 1);
    assert.equal(dec.msgOffset, 0);
    assert.equal(dec.next(), NEXT_END);
    assert.ok(dec.begin(hb.slice().buffer));
    assert.equal(dec.next(), MsgType.Heartbeat);
  });

  it('fills one reusable Command, reset for every message, and mass cancel requestId into clientOrderId', () => {
    const cmd = new Command();
    const dec = new CommandDecoder({}, cmd);
    const frame = encodeFrame([
      { type: MsgType.NewOrder, fields: { clientOrderId: 5, priceTicks: 10, qtyLots: 2, instrumentId: 3, side: 1, stpGroup: 9 } },
      { type: MsgType.Cancel, fields: { orderId: 77, instrumentId: 3 } },
      { type: MsgType.MassCancel, fields: { requestId: 12, instrumentId: 4 } },
    ]);
    assert.ok(dec.begin(frame));
    assert.equal(dec.next(), MsgType.NewOrder);
    assert.equal(dec.cmd, cmd);
    assert.deepEqual([cmd.type, cmd.clientOrderId, cmd.priceTicks, cmd.qtyLots, cmd.side, cmd.stpGroup, dec.instrumentId], [1, 5, 10, 2, 1, 9, 3]);
    cmd.account = 42; // the server sets it; the next message starts clean
    assert.equal(dec.next(), MsgType.Cancel);
    assert.deepEqual([cmd.type, cmd.orderId, cmd.clientOrderId, cmd.priceTicks, cmd.side, cmd.stpGroup, cmd.account], [2, 77, 0, 0, 0, 0, 0]);
    assert.equal(dec.next(), MsgType.MassCancel);
    assert.deepEqual([cmd.type, cmd.clientOrderId, dec.requestId, dec.instrumentId], [4, 12, 12, 4]);
    assert.equal(dec.next(), NEXT_END);
  });
});

describe('ReportEncoder', () => {
  it('appends messages into one buffer and starts over on reset', () => {
    const enc = new ReportEncoder(64);
    enc.heartbeat(1); enc.heartbeat(2);
    assert.equal(enc.length, 32);
    assert.equal(enc.hasRoom(32), true);
    assert.equal(enc.hasRoom(40), false);
    const d = decodeFrame(enc.bytes(), 'toClient');
    assert.deepEqual(d.messages.map((m) => m.fields.timestampUs), [1, 2]);
    enc.reset();
    assert.equal(enc.length, 0);
    enc.heartbeat(3);
    assert.equal(decodeFrame(enc.bytes(), 'toClient').messages[0]!.fields.timestampUs, 3);
    assert.throws(() => { enc.heartbeat(0); enc.heartbeat(0); enc.heartbeat(0); enc.heartbeat(0); }, RangeError);
  });
});
