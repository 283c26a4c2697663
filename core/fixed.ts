// Fixed-point helpers: exact conversions between decimal strings and scaled integers, and checked
// integer arithmetic. Nothing here goes through floating-point division or parseFloat: a decimal
// string is read digit by digit into a safe integer, and a product is only returned when it is exact.
//
// Accepted decimal syntax (strict, for configuration and JSON edges):
//   [-]digits[.digits]     e.g. "0", "12", "0.001", "-3.25", "007.50"
// Rejected: empty, whitespace, "+", ".5", "5.", exponents ("1e-3"), hex, "Infinity", "NaN", commas.
// Fraction digits beyond the scale are allowed only when they are zeros ("1.500" at scale 2 is 150):
// the value is still exact. A non-zero digit beyond the scale is `TooManyDecimals`.

export const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1
/** floor(MAX_SAFE / 10) and the last digit of MAX_SAFE: the overflow guard of digit accumulation. */
const MAX_SAFE_DIV10 = 900719925474099;
const MAX_SAFE_LAST_DIGIT = 1;
/** Largest scale accepted: 10^18 is beyond 2^53, so only tiny values fit there, but they are exact. */
export const MAX_SCALE_DECIMALS = 18;
const PPM = 1_000_000;

const CH_0 = 48;
const CH_9 = 57;
const CH_MINUS = 45;
const CH_PLUS = 43;
const CH_DOT = 46;
const CH_E_LOWER = 101;
const CH_E_UPPER = 69;

export type DecimalErrorCode =
  | 'Empty'
  | 'Malformed'
  | 'ExponentNotation'
  | 'TooManyDecimals'
  | 'SignNotAllowed'
  | 'OutOfRange'
  | 'NotOnStep'
  | 'InvalidStep';

/** Base class of every error thrown by this module; `code` tells what went wrong. */
export class FixedPointError extends Error {
  readonly code: DecimalErrorCode | 'ArithmeticOverflow' | 'InvalidArgument';
  constructor(code: FixedPointError['code'], message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A decimal string that cannot be converted exactly. */
export class DecimalError extends FixedPointError {
  readonly input: string;
  declare readonly code: DecimalErrorCode;
  constructor(code: DecimalErrorCode, input: string, message: string) {
    super(code, message);
    this.input = input;
  }
}

/** An integer result would leave the safe integer range [-(2^53-1), 2^53-1]. */
export class ArithmeticOverflowError extends FixedPointError {
  constructor(message: string) {
    super('ArithmeticOverflow', message);
  }
}

function checkScale(scaleDecimals: number): void {
  if (!Number.isInteger(scaleDecimals) || scaleDecimals < 0 || scaleDecimals > MAX_SCALE_DECIMALS) {
    throw new FixedPointError('InvalidArgument', `scaleDecimals must be an integer in [0, ${MAX_SCALE_DECIMALS}], got ${scaleDecimals}`);
  }
}

function show(str: string): string {
  return JSON.stringify(str.length > 40 ? str.slice(0, 40) + '...' : str);
}

export interface ParseOptions {
  /** Accept a leading '-'. Default false: amounts, prices and sizes are never negative. */
  allowNegative?: boolean;
}

/**
 * Reads a decimal string as an integer count of 10^-scaleDecimals units: parseDecimal("1.25", 2) = 125.
 * Throws DecimalError (code Empty, Malformed, ExponentNotation, TooManyDecimals, SignNotAllowed,
 * OutOfRange). "-0" reads as 0.
 */
export function parseDecimal(str: string, scaleDecimals: number, options?: ParseOptions): number {
  checkScale(scaleDecimals);
  if (typeof str !== 'string') throw new DecimalError('Malformed', String(str), `expected a decimal string, got ${typeof str}`);
  const len = str.length;
  if (len === 0) throw new DecimalError('Empty', str, 'empty decimal string');
  let i = 0;
  let negative = false;
  const first = str.charCodeAt(0);
  if (first === CH_MINUS || first === CH_PLUS) {
    if (first === CH_PLUS) throw new DecimalError('Malformed', str, `${show(str)}: a leading '+' is not accepted`);
    if (options?.allowNegative !== true) throw new DecimalError('SignNotAllowed', str, `${show(str)}: negative values are not allowed here`);
    negative = true;
    i = 1;
  }
  let value = 0;
  let intDigits = 0;
  for (; i < len; i++) {
    const c = str.charCodeAt(i);
    if (c < CH_0 || c > CH_9) break;
    value = accumulate(value, c - CH_0, str);
    intDigits++;
  }
  if (intDigits === 0) throw malformed(str);
  let fracDigits = 0;
  if (i < len && str.charCodeAt(i) === CH_DOT) {
    i++;
    for (; i < len; i++) {
      const c = str.charCodeAt(i);
      if (c < CH_0 || c > CH_9) break;
      const d = c - CH_0;
      if (fracDigits < scaleDecimals) {
        value = accumulate(value, d, str);
      } else if (d !== 0) {
        throw new DecimalError('TooManyDecimals', str, `${show(str)}: more than ${scaleDecimals} decimal places`);
      }
      fracDigits++;
    }
    if (fracDigits === 0) throw malformed(str);
  }
  if (i < len) throw malformed(str);
  for (let k = fracDigits; k < scaleDecimals; k++) value = accumulate(value, 0, str);
  if (value === 0) return 0;
  return negative ? -value : value;
}

function accumulate(value: number, digit: number, str: string): number {
  if (value > MAX_SAFE_DIV10 || (value === MAX_SAFE_DIV10 && digit > MAX_SAFE_LAST_DIGIT)) {
    throw new DecimalError('OutOfRange', str, `${show(str)}: beyond the safe integer range (2^53-1 units)`);
  }
  return value * 10 + digit;
}

function malformed(str: string): DecimalError {
  for (let i = 0; i < str.length; i++) {
    const c = str.charCodeAt(i);
    if (c === CH_E_LOWER || c === CH_E_UPPER) {
      return new DecimalError('ExponentNotation', str, `${show(str)}: exponent notation is not accepted, write the digits out`);
    }
  }
  return new DecimalError('Malformed', str, `${show(str)}: not a decimal number (expected digits with an optional '.' and fraction)`);
}

/**
 * Writes an integer count of 10^-scaleDecimals units as the canonical decimal string: no exponent,
 * no '+', no leading zeros, no trailing fraction zeros, no '.' for whole values, "-" for negatives.
 * formatDecimal(150, 2) = "1.5"; formatDecimal(-5, 3) = "-0.005"; formatDecimal(0, 8) = "0".
 */
export function formatDecimal(units: number, scaleDecimals: number): string {
  checkScale(scaleDecimals);
  if (!Number.isSafeInteger(units)) {
    throw new FixedPointError('InvalidArgument', `formatDecimal: not a safe integer: ${units}`);
  }
  if (units === 0) return '0';
  const negative = units < 0;
  const digits = String(negative ? -units : units); // a safe integer prints as plain digits
  let intPart: string;
  let fracPart: string;
  if (digits.length > scaleDecimals) {
    intPart = digits.slice(0, digits.length - scaleDecimals);
    fracPart = digits.slice(digits.length - scaleDecimals);
  } else {
    intPart = '0';
    fracPart = '0'.repeat(scaleDecimals - digits.length) + digits;
  }
  let end = fracPart.length;
  while (end > 0 && fracPart.charCodeAt(end - 1) === CH_0) end--;
  const body = end === 0 ? intPart : intPart + '.' + fracPart.slice(0, end);
  return negative ? '-' + body : body;
}

/** Number of fraction digits of a canonical-or-not decimal string, ignoring trailing zeros. */
function significantDecimals(str: string): number {
  const dot = str.indexOf('.');
  if (dot < 0) return 0;
  let end = str.length;
  while (end > dot + 1 && str.charCodeAt(end - 1) === CH_0) end--;
  return end - dot - 1;
}

/**
 * A positive step (tick size or lot size) read once: step = units * 10^-scaleDecimals.
 * Precompute it for repeated conversions; the string forms below build one per call.
 */
export class DecimalStep {
  readonly text: string;
  readonly scaleDecimals: number;
  readonly units: number;

  constructor(step: string) {
    if (typeof step !== 'string') throw new DecimalError('InvalidStep', String(step), 'step must be a decimal string');
    const scale = significantDecimals(step);
    if (scale > MAX_SCALE_DECIMALS) {
      throw new DecimalError('InvalidStep', step, `step ${show(step)} has more than ${MAX_SCALE_DECIMALS} decimal places`);
    }
    let units: number;
    try {
      units = parseDecimal(step, scale);
    } catch (err) {
      if (err instanceof DecimalError) throw new DecimalError('InvalidStep', step, `step ${err.message}`);
      throw err;
    }
    if (units <= 0) throw new DecimalError('InvalidStep', step, `step ${show(step)} must be greater than zero`);
    this.text = formatDecimal(units, scale);
    this.scaleDecimals = scale;
    this.units = units;
  }

  /** Decimal string -> number of steps. Throws NotOnStep if it is not a whole multiple. */
  toSteps(str: string, what = 'value'): number {
    let units: number;
    try {
      units = parseDecimal(str, this.scaleDecimals);
    } catch (err) {
      if (err instanceof DecimalError && err.code === 'TooManyDecimals') throw this.notOnStep(str, what);
      throw err;
    }
    const rem = units % this.units;
    if (rem !== 0) throw this.notOnStep(str, what);
    return units / this.units; // exact: units is a multiple of this.units
  }

  /** Number of steps -> canonical decimal string. */
  fromSteps(steps: number): string {
    return formatDecimal(mulSafe(steps, this.units), this.scaleDecimals);
  }

  private notOnStep(str: string, what: string): DecimalError {
    return new DecimalError('NotOnStep', str, `${what} ${show(str)} is not a multiple of ${this.text}`);
  }
}

function asStep(step: string | DecimalStep): DecimalStep {
  return typeof step === 'string' ? new DecimalStep(step) : step;
}

/** "50000.25" with tick "0.05" -> 1000005 ticks. Throws NotOnStep if not a multiple of the tick. */
export function priceToTicks(price: string, tickSize: string | DecimalStep): number {
  return asStep(tickSize).toSteps(price, 'price');
}

/** "0.003" with lot "0.001" -> 3 lots. Throws NotOnStep if not a multiple of the lot. */
export function qtyToLots(qty: string, lotSize: string | DecimalStep): number {
  return asStep(lotSize).toSteps(qty, 'quantity');
}

export function ticksToPrice(priceTicks: number, tickSize: string | DecimalStep): string {
  return asStep(tickSize).fromSteps(priceTicks);
}

export function lotsToQty(qtyLots: number, lotSize: string | DecimalStep): string {
  return asStep(lotSize).fromSteps(qtyLots);
}

/**
 * a * b for safe integers, exact, or ArithmeticOverflowError. (If the true product is within
 * +-(2^53-1) the double product is exact; if it is beyond, rounding cannot bring it back inside.)
 */
export function mulSafe(a: number, b: number): number {
  const p = a * b;
  if (Number.isSafeInteger(p) && Number.isSafeInteger(a) && Number.isSafeInteger(b)) return p === 0 ? 0 : p; // no -0
  throw operationError('*', a, b);
}

/** a + b for safe integers, exact, or ArithmeticOverflowError. */
export function addSafe(a: number, b: number): number {
  const s = a + b;
  if (Number.isSafeInteger(s) && Number.isSafeInteger(a) && Number.isSafeInteger(b)) return s === 0 ? 0 : s;
  throw operationError('+', a, b);
}

function operationError(op: string, a: number, b: number): FixedPointError {
  if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b)) {
    return new FixedPointError('InvalidArgument', `operands of '${op}' must be safe integers, got ${a} and ${b}`);
  }
  return new ArithmeticOverflowError(`${a} ${op} ${b} leaves the safe integer range`);
}

/**
 * ceil(x / 1e6) for an integer |x| < 2^53. `%` on integers is exact, and x - r is a multiple of 1e6,
 * so the division is exact too.
 */
function ceilDivPpm(x: number): number {
  const r = x % PPM;
  const q = (x - r) / PPM;
  return r > 0 ? q + 1 : q === 0 ? 0 : q;
}

/**
 * Fee in quote units: ceil(notionalUnits * ppm / 1e6), exact for every safe integer notional and
 * every integer |ppm| <= 1e6 (the product itself may be far beyond 2^53). With n = q*1e6 + r:
 * n*ppm/1e6 = q*ppm + r*ppm/1e6, where q*ppm is an integer no larger than |n| and r*ppm < 1e12.
 * Negative ppm (a maker rebate) rounds toward +infinity too, so a rebate is never overpaid.
 */
export function feeUnits(notionalUnits: number, ppm: number): number {
  if (!Number.isSafeInteger(notionalUnits)) {
    throw new FixedPointError('InvalidArgument', `feeUnits: notional must be a safe integer, got ${notionalUnits}`);
  }
  if (!Number.isInteger(ppm) || ppm < -PPM || ppm > PPM) {
    throw new FixedPointError('InvalidArgument', `feeUnits: ppm must be an integer in [-1e6, 1e6], got ${ppm}`);
  }
  const r = notionalUnits % PPM;
  const q = (notionalUnits - r) / PPM;
  const fee = q * ppm + ceilDivPpm(r * ppm);
  return fee === 0 ? 0 : fee;
}
