// Model-based property test of SlotHeap: random push / remove / fix / pop sequences against a plain
// array kept sorted by (key, id); after every step the heap's top, size and position fields must
// match the model. Keys come from a small range so ties (broken by id) are common.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SlotHeap } from './heap.js';

const CAP = 24;
const FW = 3, F_ID = 0, F_KEY = 2; // strided records, as in the book
const PW = 2, P_POS = 1;

type Op = { kind: 0 | 1 | 2 | 3; pick: number; key: number };

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom<0 | 1 | 2 | 3>(0, 0, 1, 2, 3),
  pick: fc.nat(1000),
  key: fc.integer({ min: -4, max: 4 }),
});

test('SlotHeap pops in (key, id) order through push, remove, fix and pop', () => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 200 }), (ops) => {
    const f = new Float64Array(CAP * FW);
    const p = new Int32Array(CAP * PW).fill(-1);
    const h = new SlotHeap(CAP, f, FW, F_KEY, F_ID, p, PW, P_POS);
    const model: number[] = []; // slots, sorted by (key, id)
    let nextId = 1;
    const cmp = (x: number, y: number): number => f[x * FW + F_KEY]! - f[y * FW + F_KEY]! || f[x * FW + F_ID]! - f[y * FW + F_ID]!;
    const free = (): number => {
      for (let s = 0; s < CAP; s++) if (!model.includes(s)) return s;
      return -1;
    };
    for (const op of ops) {
      if (op.kind === 0) { // push
        const s = free();
        if (s === -1) continue;
        f[s * FW + F_ID] = nextId++;
        f[s * FW + F_KEY] = op.key;
        h.push(s);
        model.push(s);
      } else if (model.length === 0) {
        continue;
      } else if (op.kind === 1) { // remove any
        const s = model[op.pick % model.length]!;
        h.remove(s);
        model.splice(model.indexOf(s), 1);
        assert.equal(p[s * PW + P_POS], -1);
      } else if (op.kind === 2) { // re-key, then fix
        const s = model[op.pick % model.length]!;
        f[s * FW + F_KEY] = op.key;
        h.fix(s);
      } else { // pop
        const s = h.top();
        model.sort(cmp);
        assert.equal(s, model[0]);
        h.remove(s);
        model.shift();
      }
      model.sort(cmp);
      assert.equal(h.n, model.length);
      assert.equal(h.top(), model.length === 0 ? -1 : model[0]);
      for (let i = 0; i < h.n; i++) assert.equal(p[h.at(i) * PW + P_POS], i);
    }
    // Drain: the full pop order is the sorted order.
    const popped: number[] = [];
    while (h.n > 0) { const s = h.top(); popped.push(s); h.remove(s); }
    assert.deepEqual(popped, model);
  }), { numRuns: 500 });
});
