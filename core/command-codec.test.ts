import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CMD_WORDS, CW_LEDGER_EXTRA, CommandExtras, EVR_INSTRUMENT, EVR_LAST, EVR_TYPE_DONE, EVR_WORDS, RuntimeCommandType,
  copyCommandRecord, decodeCommand, encodeCommand, encodeDoneRecord, encodeEventRecord,
} from './command-codec.js';
import { EventBuffer } from './events.js';
import { Command, EVENT_WORDS } from './types.js';

const FIELDS: (keyof Command)[] = ['type', 'seq', 'tsUs', 'account', 'orderId', 'clientOrderId', 'side', 'orderType', 'tif',
  'flags', 'stpMode', 'stpGroup', 'priceTicks', 'qtyLots', 'quoteQtyUnits', 'expireTsUs', 'stopPriceTicks', 'displayQtyLots',
  'trailOffset', 'limitOffsetTicks', 'linkId', 'protectionPriceTicks', 'value', 'value2'];

describe('command codec', () => {
  it('round-trips every Command field, the instrument id and the runtime extras', () => {
    const a = new Command();
    FIELDS.forEach((f, k) => { (a as unknown as Record<string, number>)[f] = k === 0 ? 3 : 2 ** 53 - 1 - k * 1000; });
    a.value = -12345;
    const w = new Float64Array(CMD_WORDS * 3).fill(7);
    encodeCommand(a, 65535, w, CMD_WORDS, 4, 99);
    const b = new Command();
    const x = new CommandExtras();
    decodeCommand(w, CMD_WORDS, b, x);
    for (const f of FIELDS) assert.equal(b[f], a[f], f);
    assert.deepEqual({ ...x }, { instrumentId: 65535, asset: 4, ledgerExtraUnits: 99 });
    assert.equal(w[0], 7, 'nothing written before the record');
    assert.equal(w[2 * CMD_WORDS], 7, 'nothing written after the record');
    for (let i = CW_LEDGER_EXTRA + 1; i < CMD_WORDS; i++) assert.equal(w[CMD_WORDS + i], 0, `reserved word ${i} is zero`);
  });

  it('copyCommandRecord copies exactly one record, word for word, and nothing around it', () => {
    const src = new Float64Array(CMD_WORDS * 3);
    for (let i = 0; i < src.length; i++) src[i] = i * 3 + 1;
    const dst = new Float64Array(CMD_WORDS * 4).fill(-1);
    copyCommandRecord(src, CMD_WORDS, dst, 2 * CMD_WORDS + 5);
    for (let i = 0; i < dst.length; i++) {
      const k = i - (2 * CMD_WORDS + 5);
      assert.equal(dst[i], k >= 0 && k < CMD_WORDS ? src[CMD_WORDS + k] : -1, `word ${i}`);
    }
    // An encoded record copied decodes to the same command and extras.
    const a = new Command();
    FIELDS.forEach((f, k) => { (a as unknown as Record<string, number>)[f] = 1000 + k; });
    encodeCommand(a, 7, src, 0, 2, 55);
    copyCommandRecord(src, 0, dst, 0);
    assert.deepEqual(Array.from(dst.subarray(0, CMD_WORDS)), Array.from(src.subarray(0, CMD_WORDS)));
  });

  it('keeps the journal convention: word 0 = type, word 1 = seq', () => {
    const c = new Command(); c.type = RuntimeCommandType.Snapshot; c.seq = 42;
    const w = new Float64Array(CMD_WORDS);
    encodeCommand(c, 0, w, 0);
    assert.equal(w[0], RuntimeCommandType.Snapshot);
    assert.equal(w[1], 42);
  });

  it('event records carry the book event, the instrument id and the last flag', () => {
    const ev = new EventBuffer(16);
    ev.seq = 5; ev.tsUs = 6;
    ev.trade(1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11, 12, 13);
    const w = new Float64Array(EVR_WORDS * 2);
    encodeEventRecord(ev.words, 0, 9, true, w, EVR_WORDS);
    assert.deepEqual(Array.from(w.subarray(EVR_WORDS, EVR_WORDS + EVENT_WORDS)), ev.record(0));
    assert.equal(w[EVR_WORDS + EVR_INSTRUMENT], 9);
    assert.equal(w[EVR_WORDS + EVR_LAST], 1);
    encodeDoneRecord(8, 9, 3, w, 0);
    assert.deepEqual([w[0], w[1], w[2], w[EVR_INSTRUMENT], w[EVR_LAST]], [EVR_TYPE_DONE, 8, 9, 3, 1]);
  });
});
