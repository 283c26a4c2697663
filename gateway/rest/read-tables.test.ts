import { it } from 'node:test';
import assert from 'node:assert/strict';
import { FillList, IdList, KeyedSlots, MarketTradeList, NumberQueue, OrderTable } from './read-tables.js';
import type { MarketTrade, OrderRecord, TradeRecord } from './read-model.js';

const rec = (id: number, k: number): OrderRecord => ({
  id, account: 1 + (k % 3), instrumentId: 1 + (k % 2), clientOrderId: k % 4 === 0 ? null : k % 4 === 1 ? `cid-${k}` : String(k), side: k % 2,
  orderType: k % 8, effectiveType: k % 3, tif: k % 5, flags: k % 64, priceTicks: 100 + k, stopPriceTicks: k % 7, qtyLots: 10 + k, quoteQtyUnits: k * 3,
  expireTsUs: 1_700_000_000_000_000 + k, filledLots: k % 10, remainingLots: 10 + k - (k % 10), filledNotionalUnits: k * 1e6, feeUnits: -k,
  status: (['new', 'pending_trigger', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected'] as const)[k % 7]!, triggered: k % 2 === 0,
  rejectReason: k % 9, endReason: k % 11, createdUs: 1_764_000_000_000_000 + k, updatedUs: 1_764_000_000_000_001 + k, lastSeq: 2 ** 40 + k,
  displayQtyLots: k % 6, trailOffset: k % 13, limitOffsetTicks: k % 5, linkId: k % 3 === 0 ? 0 : 1000 + k, stpMode: k % 5, stpGroup: k % 4,
});

it('OrderTable holds what a Map of records would, reuses rows, grows, and tolerates deletes while iterating', () => {
  const t = new OrderTable(4);
  const ref = new Map<number, OrderRecord>();
  let seed = 7;
  const rnd = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
  for (let k = 0; k < 5000; k++) {
    const id = 1 + rnd(3000);
    if (rnd(3) === 0) {
      assert.equal(t.delete(id), ref.delete(id));
    } else {
      const s = t.add(id);
      if (ref.has(id)) { assert.equal(s, -1, 'an id already held is not added again'); continue; }
      const r = rec(id, k);
      t.write(s, r);
      ref.set(id, r);
    }
    assert.equal(t.size, ref.size);
  }
  for (let id = 0; id <= 3001; id++) {
    assert.equal(t.has(id), ref.has(id));
    assert.deepEqual(t.get(id), ref.get(id));
  }
  const seen = new Map<number, OrderRecord>();
  for (const [id, r] of t) { seen.set(id, r); if (id % 2 === 0) t.delete(id); }
  assert.deepEqual(new Map([...seen].sort((a, b) => a[0] - b[0])), new Map([...ref].sort((a, b) => a[0] - b[0])));
  assert.equal(t.size, [...ref.keys()].filter((id) => id % 2 !== 0).length);
  // Deferred release: a dropped row reads as free until released, then is reused.
  const pending: number[] = [];
  const [id0] = [...t.keys()];
  const s0 = t.slot(id0!);
  t.deleteDeferred(id0!, pending);
  assert.equal(t.has(id0!), false);
  assert.notEqual(t.add(999_999), s0, 'not reused before release');
  t.releaseDeferred(pending);
  assert.equal(t.add(999_998), s0);
});

it('FillList keeps fills like an array trimmed to `keep` past `trimAt`', () => {
  const keep = 5, trimAt = Math.floor(keep * 1.25);
  const l = new FillList(keep, trimAt);
  const ref: TradeRecord[] = [];
  for (let k = 1; k <= 200; k++) {
    const t: TradeRecord = {
      id: `${1 + (k % 2)}-${k * 3}`, fillNo: k, instrumentId: 1 + (k % 2), tradeId: k * 3, account: 4, orderId: 1000 + k, side: k % 2,
      liquidity: k % 3 === 0 ? 'taker' : 'maker', priceTicks: 100 + k, qtyLots: k, notionalUnits: k * 100, feeUnits: k % 4 - 1, tsUs: 1_764_000_000_000_000 + k, seq: 2 ** 35 + k,
    };
    l.push(t.fillNo, t.instrumentId, t.tradeId, t.account, t.orderId, t.side, t.liquidity === 'taker', t.priceTicks, t.qtyLots, t.notionalUnits, t.feeUnits, t.tsUs, t.seq);
    ref.push(t);
    if (ref.length > keep * 1.25) ref.splice(0, ref.length - keep);
    assert.equal(l.length, ref.length);
    assert.deepEqual([...l], ref);
    assert.equal(l.fillNo(l.length - 1), k);
  }
});

it('MarketTradeList keeps public trades like an array cut back to `keep` past 2 x keep', () => {
  for (const keep of [1, 3, 10]) {
    const l = new MarketTradeList(keep);
    const ref: MarketTrade[] = [];
    for (let k = 1; k <= 100; k++) {
      const t: MarketTrade = { tradeId: k, priceTicks: 100 + k, qtyLots: k % 7 + 1, takerSide: k % 2, tsUs: 1_764_000_000_000_000 + k, seq: 10 * k };
      l.push(t.tradeId, t.priceTicks, t.qtyLots, t.takerSide, t.tsUs, t.seq);
      ref.push(t);
      if (ref.length > keep * 2) ref.splice(0, ref.length - keep);
      assert.equal(l.length, ref.length);
      assert.deepEqual(Array.from({ length: l.length }, (_, i) => l.at(i)), ref);
    }
  }
});

it('KeyedSlots holds what a Map of [value, number] would, reusing slots', () => {
  const k = new KeyedSlots<string | null>();
  const ref = new Map<number, [string | null, number]>();
  let seed = 99;
  const rnd = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
  for (let i = 0; i < 4000; i++) {
    const key = 2 ** 33 + rnd(300);
    if (rnd(2) === 0) assert.equal(k.delete(key), ref.delete(key));
    else { const v = rnd(3) === 0 ? null : `v${i}`; k.set(key, v, i * 1.5); ref.set(key, [v, i * 1.5]); }
    assert.equal(k.size, ref.size);
  }
  const seen = new Map<number, [string | null, number]>();
  for (let s = 0; s < k.slotCount; s++) {
    const key = k.keyAt(s);
    if (Number.isNaN(key)) continue;
    assert.equal(k.slot(key), s);
    seen.set(key, [k.value(s), k.num(s)]);
  }
  assert.deepEqual(new Map([...seen].sort((a, b) => a[0] - b[0])), new Map([...ref].sort((a, b) => a[0] - b[0])));
  assert.ok(k.slotCount <= 300, 'slots are reused');
});

it('IdList keeps ids ascending through inserts, front drops and retain; NumberQueue is first in, first out', () => {
  const l = new IdList();
  const ref: number[] = [];
  let seed = 5;
  const rnd = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
  let next = 1000;
  for (let i = 0; i < 5000; i++) {
    const r = rnd(10);
    if (r < 6) { next += 1 + rnd(3); l.insert(next); ref.push(next); }
    else if (r < 8) { const id = next - rnd(900); if (!ref.includes(id)) { l.insert(id); ref.splice(ref.findIndex((x) => x > id) < 0 ? ref.length : ref.findIndex((x) => x > id), 0, id); } }
    else if (r < 9) { const first = ref[0]; assert.equal(l.dropFirst(first ?? -1), first !== undefined); if (first !== undefined) ref.shift(); assert.equal(l.dropFirst(-5), false); }
    else if (rnd(50) === 0) { l.retain((x) => x % 3 !== 0); for (let k = ref.length - 1; k >= 0; k--) if (ref[k]! % 3 === 0) ref.splice(k, 1); }
    assert.equal(l.length, ref.length);
    if (i % 97 === 0) {
      assert.deepEqual(Array.from({ length: l.length }, (_, k) => l.at(k)), ref);
      const v = next - rnd(1000);
      const lb = ref.findIndex((x) => x >= v);
      assert.equal(l.lowerBound(v), lb < 0 ? ref.length : lb);
    }
  }
  const q = new NumberQueue();
  const qr: number[] = [];
  for (let i = 0; i < 5000; i++) {
    if (rnd(3) !== 0 || qr.length === 0) { q.push(i); qr.push(i); } else assert.equal(q.shift(), qr.shift());
    assert.equal(q.size, qr.length);
  }
});
