import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ArithmeticOverflowError, DecimalError, DecimalStep, FixedPointError, addSafe, feeUnits, formatDecimal,
  lotsToQty, mulSafe, parseDecimal, priceToTicks, qtyToLots, ticksToPrice,
} from './fixed.js';

const MAX = BigInt(Number.MAX_SAFE_INTEGER);
const NUM_RUNS = 2000;

function expectCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FixedPointError, `expected a FixedPointError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** Reference: canonical decimal of n / 10^scale via BigInt. */
function refFormat(n: bigint, scale: number): string {
  const neg = n < 0n;
  const a = neg ? -n : n;
  const div = 10n ** BigInt(scale);
  const ip = a / div;
  let fp = (a % div).toString().padStart(scale, '0').replace(/0+$/, '');
  if (scale === 0) fp = '';
  const body = fp.length > 0 ? `${ip}.${fp}` : `${ip}`;
  return neg && a !== 0n ? '-' + body : body;
}

/** Reference: ceil(a / b) for b > 0 in BigInt. */
function refCeilDiv(a: bigint, b: bigint): bigint {
  const q = a / b; // truncates toward zero
  return a % b > 0n ? q + 1n : q;
}

const safeInt = fc.oneof(
  fc.maxSafeInteger(),
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.constantFrom(0, 1, -1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 999_999, 1_000_000, 1_000_001),
);
const scale = fc.integer({ min: 0, max: 18 });

describe('parseDecimal', () => {
  it('reads plain decimals at a scale', () => {
    assert.equal(parseDecimal('0', 0), 0);
    assert.equal(parseDecimal('12', 0), 12);
    assert.equal(parseDecimal('1.25', 2), 125);
    assert.equal(parseDecimal('1.25', 4), 12500);
    assert.equal(parseDecimal('0.001', 6), 1000);
    assert.equal(parseDecimal('007.50', 2), 750);
    assert.equal(parseDecimal('1.500000', 2), 150, 'zeros beyond the scale are exact');
    assert.equal(parseDecimal('-3.25', 2, { allowNegative: true }), -325);
    assert.ok(Object.is(parseDecimal('-0.00', 2, { allowNegative: true }), 0), 'no negative zero');
    assert.equal(parseDecimal('9007199254740991', 0), Number.MAX_SAFE_INTEGER);
    assert.equal(parseDecimal('90071992.54740991', 8), Number.MAX_SAFE_INTEGER);
    assert.equal(parseDecimal('-9007199254740991', 0, { allowNegative: true }), -Number.MAX_SAFE_INTEGER);
  });

  it('rejects malformed input with a typed code', () => {
    expectCode(() => parseDecimal('', 2), 'Empty');
    for (const s of [' 1', '1 ', '+1', '.5', '5.', '1.2.3', '1,5', '0x10', 'Infinity', 'NaN', '-', '--1', '1-', '١']) {
      expectCode(() => parseDecimal(s, 2, { allowNegative: true }), 'Malformed');
    }
    for (const s of ['1e3', '1E3', '1.5e-3', '2e+2']) expectCode(() => parseDecimal(s, 4), 'ExponentNotation');
    expectCode(() => parseDecimal('1.255', 2), 'TooManyDecimals');
    expectCode(() => parseDecimal('0.0000001', 6), 'TooManyDecimals');
    expectCode(() => parseDecimal('1.5', 0), 'TooManyDecimals');
    expectCode(() => parseDecimal('-1', 2), 'SignNotAllowed');
    expectCode(() => parseDecimal('-0', 2), 'SignNotAllowed');
    expectCode(() => parseDecimal('9007199254740992', 0), 'OutOfRange');
    expectCode(() => parseDecimal('90071992.54740992', 8), 'OutOfRange');
    expectCode(() => parseDecimal('1', 18), 'OutOfRange'); // 10^18 units
    expectCode(() => parseDecimal('99999999999999999999999', 0), 'OutOfRange');
    expectCode(() => parseDecimal('1', 19), 'InvalidArgument');
    expectCode(() => parseDecimal('1', -1), 'InvalidArgument');
    expectCode(() => parseDecimal('1', 1.5), 'InvalidArgument');
    expectCode(() => parseDecimal(12 as unknown as string, 0), 'Malformed');
    assert.throws(() => parseDecimal('1e3', 2), DecimalError);
  });

  it('agrees with a BigInt computation on generated decimal strings', () => {
    fc.assert(fc.property(
      fc.boolean(), fc.stringMatching(/^[0-9]{1,20}$/), fc.option(fc.stringMatching(/^[0-9]{1,22}$/)), scale,
      (neg, ip, fp, s) => {
        const str = (neg ? '-' : '') + ip + (fp === null ? '' : '.' + fp);
        const frac = fp ?? '';
        const tooMany = /[1-9]/.test(frac.slice(s));
        const expected = BigInt(ip + frac.slice(0, s).padEnd(s, '0')) * (neg ? -1n : 1n);
        let got: number | string;
        try {
          got = parseDecimal(str, s, { allowNegative: true });
        } catch (err) {
          got = (err as FixedPointError).code;
        }
        if (expected > MAX || expected < -MAX) assert.equal(got, 'OutOfRange', str);
        else if (tooMany) assert.equal(got, 'TooManyDecimals', str);
        else assert.equal(got, Number(expected), str);
      },
    ), { numRuns: NUM_RUNS });
  });
});

describe('formatDecimal', () => {
  it('writes the canonical form', () => {
    assert.equal(formatDecimal(0, 8), '0');
    assert.equal(formatDecimal(150, 2), '1.5');
    assert.equal(formatDecimal(100, 2), '1');
    assert.equal(formatDecimal(-5, 3), '-0.005');
    assert.equal(formatDecimal(123, 0), '123');
    assert.equal(formatDecimal(Number.MAX_SAFE_INTEGER, 18), '0.009007199254740991');
    expectCode(() => formatDecimal(0.5, 2), 'InvalidArgument');
    expectCode(() => formatDecimal(2 ** 53, 2), 'InvalidArgument');
  });

  it('agrees with BigInt formatting and round-trips through parseDecimal', () => {
    fc.assert(fc.property(safeInt, scale, (n, s) => {
      const str = formatDecimal(n, s);
      assert.equal(str, refFormat(BigInt(n), s));
      assert.equal(parseDecimal(str, s, { allowNegative: true }), n);
    }), { numRuns: NUM_RUNS });
  });

  it('is canonical: format(parse(x)) is a fixed point', () => {
    fc.assert(fc.property(fc.stringMatching(/^-?[0-9]{1,5}(\.[0-9]{1,10})?$/), (str) => {
      const s = 10;
      const n = parseDecimal(str, s, { allowNegative: true });
      const canon = formatDecimal(n, s);
      assert.equal(formatDecimal(parseDecimal(canon, s, { allowNegative: true }), s), canon);
      assert.match(canon, /^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$/);
    }), { numRuns: NUM_RUNS });
  });
});

describe('ticks and lots', () => {
  it('converts prices and quantities on their steps', () => {
    assert.equal(priceToTicks('50000.25', '0.05'), 1000005);
    assert.equal(priceToTicks('50000.2500', '0.05'), 1000005);
    assert.equal(priceToTicks('100', '25'), 4);
    assert.equal(qtyToLots('0.003', '0.001'), 3);
    assert.equal(qtyToLots('1', '0.00001'), 100000);
    assert.equal(ticksToPrice(1000005, '0.05'), '50000.25');
    assert.equal(ticksToPrice(4, '25'), '100');
    assert.equal(lotsToQty(3, '0.001'), '0.003');
    assert.equal(lotsToQty(0, '0.001'), '0');
    const tick = new DecimalStep('0.0100');
    assert.equal(tick.text, '0.01');
    assert.equal(tick.scaleDecimals, 2);
    assert.equal(tick.units, 1);
    assert.equal(priceToTicks('1.23', tick), 123);
  });

  it('rejects values off the step and bad steps', () => {
    expectCode(() => priceToTicks('50000.26', '0.05'), 'NotOnStep');
    expectCode(() => priceToTicks('50000.001', '0.01'), 'NotOnStep');
    expectCode(() => priceToTicks('110', '25'), 'NotOnStep');
    expectCode(() => qtyToLots('0.0015', '0.001'), 'NotOnStep');
    expectCode(() => priceToTicks('-1', '0.01'), 'SignNotAllowed');
    expectCode(() => priceToTicks('1e2', '0.01'), 'ExponentNotation');
    for (const bad of ['0', '0.000', '-0.01', '', '1e-3', 'abc', '0.0000000000000000001']) {
      expectCode(() => new DecimalStep(bad), 'InvalidStep');
    }
    expectCode(() => ticksToPrice(Number.MAX_SAFE_INTEGER, '25'), 'ArithmeticOverflow');
  });

  it('round-trips ticks through prices for random steps', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 1_000_000_000 }),
      (stepUnits, stepScale, steps) => {
        const step = new DecimalStep(formatDecimal(stepUnits, stepScale));
        const text = step.fromSteps(steps);
        assert.equal(step.toSteps(text), steps);
        assert.equal(text, refFormat(BigInt(steps) * BigInt(stepUnits), stepScale));
      },
    ), { numRuns: NUM_RUNS });
  });
});

describe('mulSafe and addSafe', () => {
  it('returns exact products and throws ArithmeticOverflow beyond 2^53-1', () => {
    assert.equal(mulSafe(94906265, 94906265), 9007199136250225);
    expectCode(() => mulSafe(94906266, 94906266), 'ArithmeticOverflow');
    assert.throws(() => mulSafe(2 ** 27, 2 ** 26), ArithmeticOverflowError);
    assert.equal(mulSafe(2 ** 26, 2 ** 26), 2 ** 52);
    assert.ok(Object.is(mulSafe(0, -5), 0));
    expectCode(() => mulSafe(1.5, 2), 'InvalidArgument');
    expectCode(() => mulSafe(2 ** 53, 0), 'InvalidArgument');
    assert.equal(addSafe(Number.MAX_SAFE_INTEGER - 1, 1), Number.MAX_SAFE_INTEGER);
    expectCode(() => addSafe(Number.MAX_SAFE_INTEGER, 1), 'ArithmeticOverflow');
  });

  it('agrees with BigInt multiplication', () => {
    const operand = fc.oneof(safeInt, fc.integer({ min: -(2 ** 31), max: 2 ** 31 }), fc.integer({ min: 90_000_000, max: 100_000_000 }));
    fc.assert(fc.property(operand, operand, (a, b) => {
      const exact = BigInt(a) * BigInt(b);
      if (exact > MAX || exact < -MAX) {
        assert.throws(() => mulSafe(a, b), ArithmeticOverflowError);
      } else {
        assert.equal(mulSafe(a, b), Number(exact));
      }
    }), { numRuns: NUM_RUNS * 2 });
  });
});

describe('feeUnits', () => {
  it('rounds up, rebates included', () => {
    assert.equal(feeUnits(1_000_000, 1000), 1000);
    assert.equal(feeUnits(1, 1000), 1); // 0.001 rounds up to 1
    assert.equal(feeUnits(0, 1000), 0);
    assert.equal(feeUnits(999, 1000), 1);
    assert.equal(feeUnits(1500, -1000), -1); // -1.5 -> -1: a rebate rounds toward +infinity
    assert.ok(Object.is(feeUnits(1, -1000), 0));
    assert.equal(feeUnits(Number.MAX_SAFE_INTEGER, 1_000_000), Number.MAX_SAFE_INTEGER);
    assert.equal(feeUnits(Number.MAX_SAFE_INTEGER, -1_000_000), -Number.MAX_SAFE_INTEGER);
    assert.equal(feeUnits(Number.MAX_SAFE_INTEGER, 999_999), 9007190247541737); // ceil(9007190247541736.259)
    expectCode(() => feeUnits(1, 1_000_001), 'InvalidArgument');
    expectCode(() => feeUnits(1, 0.5), 'InvalidArgument');
    expectCode(() => feeUnits(2 ** 53, 1), 'InvalidArgument');
  });

  it('agrees with ceil(n*ppm/1e6) in BigInt for all safe n and |ppm| <= 1e6', () => {
    const ppm = fc.oneof(fc.integer({ min: -1_000_000, max: 1_000_000 }), fc.constantFrom(0, 1, -1, 1_000_000, -1_000_000, 999_999));
    fc.assert(fc.property(safeInt, ppm, (n, p) => {
      const expected = refCeilDiv(BigInt(n) * BigInt(p), 1_000_000n);
      assert.equal(feeUnits(n, p), Number(expected), `n=${n} ppm=${p}`);
    }), { numRuns: NUM_RUNS * 2 });
  });
});
