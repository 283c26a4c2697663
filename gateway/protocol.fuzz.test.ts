// Fuzz test of the protocol decoders: seeded random and mutated frames (flipped and overwritten
// bytes, truncation, extension, changed type / version / length / reserved words, spliced frames,
// pure noise). For every frame: nothing throws; the engine's CommandDecoder and the schema-driven
// decodeFrame agree exactly (messages, fields, error code, index, offset); every decoded message
// re-encodes to the very bytes it came from; an error is a typed ProtoError. FUZZ_SEED and
// FUZZ_FRAMES override the defaults (a failure prints the seed and the frame).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { mulberry32 } from '../testing/prng.js';
import {
  CommandDecoder, HEADER_BYTES, MESSAGE_SPECS, MsgType, ProtoError, decodeFrame, decodedFields, encodeFrame, messageSpec,
  toHex, type DecodedFrame, type Fields, type MessageSpec,
} from './protocol.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed1234);
const FRAMES = Number(process.env.FUZZ_FRAMES ?? 120_000);

const prng = mulberry32;

class Gen {
  readonly rnd: () => number;
  constructor(seed: number) { this.rnd = prng(seed); }
  int(n: number): number { return Math.floor(this.rnd() * n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }

  /** A value for a field: mostly small, sometimes at the edges of its range. */
  value(spec: MessageSpec, name: string): number {
    const fs = spec.fields.find((x) => x.name === name)!;
    if (fs.mask !== undefined) return this.int(fs.mask + 1) & fs.mask;
    if (fs.min !== undefined || fs.max !== undefined) {
      const lo = fs.min ?? 0; const hi = fs.max ?? lo + 70;
      return lo + this.int(hi - lo + 1);
    }
    const big = fs.kind === 'u64' || fs.kind === 'i64';
    const max = fs.kind === 'u8' ? 0xff : fs.kind === 'u16' ? 0xffff : fs.kind === 'u32' ? 0xffffffff : Number.MAX_SAFE_INTEGER;
    let x: number;
    switch (this.int(6)) {
      case 0: x = 0; break;
      case 1: x = max; break;
      case 2: x = big ? 2 ** 32 + this.int(1000) - 500 : this.int(max + 1); break;
      case 3: x = Math.floor(this.rnd() * max); break;
      default: x = Math.min(max, this.int(100_000));
    }
    if (fs.kind === 'i64' && this.int(2) === 0) x = -x;
    return x;
  }

  message(specs: readonly MessageSpec[]): { type: number; fields: Fields } {
    const spec = this.pick(specs);
    const fields: Fields = {};
    for (const fs of spec.fields) if (fs.kind[0] !== 'r') fields[fs.name] = this.value(spec, fs.name);
    return { type: spec.type, fields };
  }

  validFrame(specs: readonly MessageSpec[]): Uint8Array {
    const n = 1 + (this.int(4) === 0 ? this.int(8) : 0);
    return encodeFrame(Array.from({ length: n }, () => this.message(specs)));
  }

  /** One to three mutations of a valid frame (or noise). */
  mutate(frame: Uint8Array, other: Uint8Array): Uint8Array {
    let f = frame.slice();
    const rounds = 1 + this.int(3);
    for (let r = 0; r < rounds; r++) {
      const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
      const msgStart = this.messageStart(f);
      switch (this.int(12)) {
        case 0: if (f.length > 0) { const i = this.int(f.length); f[i] = f[i]! ^ (1 << this.int(8)); } break;
        case 1: if (f.length > 0) f[this.int(f.length)] = this.int(256); break;
        case 2: f = f.slice(0, this.int(f.length + 1)); break;
        case 3: { const g = new Uint8Array(f.length + 1 + this.int(24)); g.set(f); for (let i = f.length; i < g.length; i++) g[i] = this.int(256); f = g; break; }
        case 4: if (msgStart + 4 <= f.length) v.setUint16(msgStart + 2, this.pick([0, 1, 2, 3, 4, 5, 16, 17, 32, 34, 42, 99, 0xffff, this.int(64)]), true); break;
        case 5: if (msgStart + 6 <= f.length) v.setUint16(msgStart + 4, this.pick([0, 2, 0x100, 0xffff]), true); break;
        case 6: if (msgStart + 2 <= f.length) v.setUint16(msgStart, this.pick([0, 4, 7, 8, 16, 24, 32, 48, 104, 112, 120, 0xffff, this.int(200)]), true); break;
        case 7: if (msgStart + 8 <= f.length) v.setUint16(msgStart + 6, 1 + this.int(0xffff), true); break;
        case 8: { // overwrite a 64-bit field's high half with something near the 2^53 boundary
          const at = msgStart + 8 + 8 * this.int(12);
          if (at + 8 <= f.length) v.setUint32(at + 4, this.pick([0x1fffff, 0x200000, 0xffffffff, 0x80000000, 0xffe00000]), true);
          break;
        }
        case 9: { const g = new Uint8Array(f.length + other.length); g.set(f); g.set(other, f.length); f = g; break; }
        case 10: { const n = this.int(130); f = new Uint8Array(n); for (let i = 0; i < n; i++) f[i] = this.int(256); break; }
        default: if (f.length > 0) { const at = this.int(f.length); f = new Uint8Array([...f.subarray(0, at), ...f.subarray(at + 1 + this.int(8))]); }
      }
    }
    return f;
  }

  /** Start of a random message of a frame, following the length fields as far as they go. */
  private messageStart(f: Uint8Array): number {
    const starts = [0];
    let p = 0;
    while (p + HEADER_BYTES <= f.length) {
      const len = f[p]! | (f[p + 1]! << 8);
      if (len < HEADER_BYTES) break;
      p += len;
      if (p < f.length) starts.push(p);
    }
    return this.pick(starts);
  }
}

function commandDecoderResult(dec: CommandDecoder, frame: Uint8Array): DecodedFrame {
  const messages: DecodedFrame['messages'] = [];
  if (dec.begin(frame)) {
    for (let t = dec.next(); t > 0; t = dec.next()) {
      messages.push({ type: t, name: messageSpec(t)!.name, offset: dec.msgOffset, fields: decodedFields(dec) });
    }
  }
  const error = dec.error === ProtoError.None ? null
    : { code: dec.error, msgIndex: dec.errorIndex, byteOffset: dec.errorOffset, msgType: dec.errorMsgType };
  return { messages, error };
}

/** The checks every decoded frame must pass; returns the error code (0 = none). */
function checkFrame(frame: Uint8Array, d: DecodedFrame, maxFrameBytes: number): number {
  const reencoded = encodeFrame(d.messages);
  if (d.error === null) {
    assert.equal(toHex(reencoded), toHex(frame), 're-encoding a valid frame');
    return 0;
  }
  const e = d.error;
  assert.ok(e.code >= ProtoError.Short && e.code <= ProtoError.TooManyMessages && e.code !== ProtoError.NonInteger, `error code ${e.code}`);
  assert.equal(e.msgIndex, d.messages.length);
  // The valid messages before the error re-encode to the frame's prefix, and the error lies after it.
  if (e.code !== ProtoError.Long) {
    assert.equal(toHex(reencoded), toHex(frame.subarray(0, reencoded.length)), 're-encoding the valid prefix');
    assert.ok(e.byteOffset >= reencoded.length && e.byteOffset <= frame.length, `error offset ${e.byteOffset}`);
  } else {
    assert.equal(e.byteOffset, maxFrameBytes);
  }
  return e.code;
}

const clientSpecs = MESSAGE_SPECS.filter((s) => s.direction !== 'toClient');
const engineSpecs = MESSAGE_SPECS.filter((s) => s.direction !== 'toEngine');

describe('protocol fuzz', () => {
  it(`client -> engine: ${FRAMES} frames (seed ${SEED})`, () => {
    const g = new Gen(SEED);
    // Small limits, so that mutated frames also reach Long and TooManyMessages.
    const limits = { maxFrameBytes: 600, maxMessagesPerFrame: 8 };
    const dec = new CommandDecoder(limits);
    const byCode = new Map<number, number>();
    let valid = 0;
    for (let i = 0; i < FRAMES; i++) {
      const base = g.validFrame(clientSpecs);
      const frame = g.int(8) === 0 ? base : g.mutate(base, g.validFrame(clientSpecs));
      let hot: DecodedFrame; let ref: DecodedFrame;
      try {
        hot = commandDecoderResult(dec, frame);
        ref = decodeFrame(frame, 'toEngine', limits);
      } catch (err) {
        assert.fail(`decoder threw on frame ${i} (seed ${SEED}): ${toHex(frame)}: ${String(err)}`);
      }
      try {
        assert.deepEqual(hot, ref, 'CommandDecoder and decodeFrame disagree');
        const code = checkFrame(frame, hot, dec.maxFrameBytes);
        if (code === 0) valid++;
        byCode.set(code, (byCode.get(code) ?? 0) + 1);
      } catch (err) {
        throw new Error(`frame ${i} (seed ${SEED}): ${toHex(frame)}\n${String(err)}`);
      }
    }
    // The mutations reach every decode error and leave a good share of valid frames.
    for (const code of [ProtoError.Short, ProtoError.Long, ProtoError.LengthMismatch, ProtoError.UnknownType, ProtoError.UnknownVersion,
      ProtoError.EnumOutOfRange, ProtoError.IntegerOutOfRange, ProtoError.ReservedNonZero, ProtoError.TooManyMessages]) {
      assert.ok((byCode.get(code) ?? 0) > 0, `no frame ended with error ${code}`);
    }
    assert.ok(valid > FRAMES / 10, `only ${valid} valid frames`);
    if (process.env.FUZZ_STATS) console.log({ valid, byCode: Object.fromEntries(byCode) });
  });

  it('client -> engine: too many messages in a frame', () => {
    const g = new Gen(SEED + 1);
    const dec = new CommandDecoder({ maxMessagesPerFrame: 4, maxFrameBytes: 1 << 16 });
    for (let i = 0; i < 2000; i++) {
      const n = 1 + g.int(8);
      const frame = encodeFrame(Array.from({ length: n }, () => g.message(clientSpecs)));
      const hot = commandDecoderResult(dec, frame);
      assert.deepEqual(hot, decodeFrame(frame, 'toEngine', { maxMessagesPerFrame: 4, maxFrameBytes: 1 << 16 }));
      assert.equal(hot.messages.length, Math.min(n, 4));
      assert.equal(hot.error?.code ?? 0, n > 4 ? ProtoError.TooManyMessages : 0);
    }
  });

  it(`engine -> client: ${Math.floor(FRAMES / 3)} frames`, () => {
    const g = new Gen(SEED + 2);
    let valid = 0;
    for (let i = 0; i < Math.floor(FRAMES / 3); i++) {
      const base = g.validFrame(engineSpecs);
      const frame = g.int(8) === 0 ? base : g.mutate(base, g.validFrame(engineSpecs));
      let d: DecodedFrame;
      try {
        d = decodeFrame(frame, 'toClient', { maxFrameBytes: 1 << 16 });
      } catch (err) {
        assert.fail(`decodeFrame threw on frame ${i} (seed ${SEED}): ${toHex(frame)}: ${String(err)}`);
      }
      try {
        if (checkFrame(frame, d, 1 << 16) === 0) valid++;
      } catch (err) {
        throw new Error(`frame ${i} (seed ${SEED}): ${toHex(frame)}\n${String(err)}`);
      }
    }
    assert.ok(valid > FRAMES / 30, `only ${valid} valid frames`);
  });

  it('a heartbeat survives being sent in the wrong direction only where it is allowed', () => {
    const hb = encodeFrame([{ type: MsgType.Heartbeat, fields: { timestampUs: 3 } }]);
    assert.equal(decodeFrame(hb, 'toEngine').error, null);
    assert.equal(decodeFrame(hb, 'toClient').error, null);
    const fill = encodeFrame([{ type: MsgType.ExecFill, fields: { liquidity: 1 } }]);
    assert.equal(decodeFrame(fill, 'toEngine').error?.code, ProtoError.UnknownType);
  });
});
