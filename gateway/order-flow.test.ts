import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mulberry32 } from '../testing/prng.js';
import { hashNumbers } from '../core/hash.js';
import { Command, CommandType } from '../core/types.js';
import { KIT_ACCOUNTS, kitInstruments } from './engine-test-kit.js';
import { OrderFlow, Prng } from './order-flow.js';

describe('order flow', () => {
  it('Prng draws the same sequence as testing/prng.ts Mulberry32 for the same seed', () => {
    for (const seed of [0, 1, 42, 99, 20240611, 0x7fffffff, 0x80000000, 0xffffffff, 123456789]) {
      const a = new Prng(seed), b = new Mulberry32(seed);
      for (let k = 0; k < 200_000; k++) {
        const x = a.next(), y = b.next();
        if (x !== y) assert.fail(`seed ${seed}, draw ${k}: ${x} !== ${y}`);
      }
    }
  });

  it('Prng.int stays within [lo, hi] and reaches both ends', () => {
    const r = new Prng(7);
    let lo = false, hi = false;
    for (let k = 0; k < 10_000; k++) {
      const v = r.int(-3, 40);
      assert.ok(Number.isInteger(v) && v >= -3 && v <= 40, String(v));
      if (v === -3) lo = true;
      if (v === 40) hi = true;
    }
    assert.ok(lo && hi);
  });

  it('generates the same commands as before (fingerprint of 5000 commands, seed 99, the pipeline bench options)', () => {
    // The fingerprint was taken with the flow built on testing/prng.ts's Mulberry32 (session 6).
    const f = new OrderFlow(99, kitInstruments(), { accounts: KIT_ACCOUNTS, marketOrders: true, gtdUs: 50_000, allGtd: true });
    const c = new Command();
    const out: number[] = [];
    for (let k = 1; k <= 5000; k++) {
      const i = f.next(c, 1_700_000_000_000_000);
      out.push(i, ...Object.values(c) as number[]);
      if (c.type === CommandType.NewOrder) f.accepted(i, k, c.account);
    }
    assert.equal(out.length, 125_000);
    assert.equal(hashNumbers(out), 'd85168c3d4ae8111');
  });
});
