import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InstrumentConfigError, describeInstrument, loadInstrument, type RawInstrument } from './instruments.js';

function base(): Record<string, unknown> {
  return {
    symbol: 'BTC-USDT',
    baseAsset: 'BTC',
    baseDecimals: 8,
    quoteAsset: 'USDT',
    quoteDecimals: 8,
    tickSize: '0.01',
    lotSize: '0.00001',
    minPrice: '0.01',
    maxPrice: '1000000',
    minQty: '0.00001',
    maxQty: '50',
    minNotional: '5',
    maxNotional: '9000000',
    priceBandBps: 1000,
    marketBandBps: 500,
    referencePrice: '60000',
    makerFee: '0.001',
    takerFee: '0.001',
    maxOpenOrdersPerAccount: 200,
    maxPosition: '100',
    orderCapacity: 1000,
    clientIdRetention: 1000,
    minDisplayQty: '0.0001',
  } satisfies RawInstrument;
}

function rejects(patch: Record<string, unknown>, field: string, pattern?: RegExp): InstrumentConfigError {
  const raw = { ...base(), ...patch };
  for (const [k, v] of Object.entries(patch)) if (v === undefined) delete raw[k];
  let caught: unknown;
  try {
    loadInstrument(raw, 1);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof InstrumentConfigError, `expected InstrumentConfigError for ${JSON.stringify(patch)}`);
  const fields = caught.issues.map((i) => String(i.path[0]));
  assert.ok(fields.includes(field), `expected an issue on ${field}, got ${caught.message}`);
  assert.match(caught.message, new RegExp(field));
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

describe('loadInstrument', () => {
  it('converts a valid instrument exactly', () => {
    const s = loadInstrument(base(), 7);
    assert.equal(s.id, 7);
    assert.equal(s.notionalUnitsPerTickLot, 10); // 0.01 * 0.00001 * 1e8
    assert.equal(s.baseUnitsPerLot, 1000); // 0.00001 * 1e8
    assert.equal(s.minPriceTicks, 1);
    assert.equal(s.maxPriceTicks, 100_000_000);
    assert.equal(s.minQtyLots, 1);
    assert.equal(s.maxQtyLots, 5_000_000);
    assert.equal(s.minNotionalUnits, 500_000_000);
    assert.equal(s.maxNotionalUnits, 900_000_000_000_000);
    assert.equal(s.referencePriceTicks, 6_000_000);
    assert.equal(s.makerFeePpm, 1000);
    assert.equal(s.takerFeePpm, 1000);
    assert.equal(s.maxPositionLots, 10_000_000);
    assert.equal(s.minDisplayQtyLots, 10);
    assert.equal(s.tickSize, '0.01');
    assert.equal(describeInstrument(s)['priceRange'], '0.01..1000000');
  });

  it('applies defaults and accepts fees in basis points', () => {
    const raw = base();
    for (const k of ['minNotional', 'maxNotional', 'referencePrice', 'makerFee', 'takerFee', 'maxOpenOrdersPerAccount',
      'maxPosition', 'clientIdRetention', 'minDisplayQty']) delete raw[k];
    raw['makerFeeBps'] = '-2.5';
    raw['takerFeeBps'] = '7.5';
    raw['tickSize'] = '0.0100'; // trailing zeros are fine
    const s = loadInstrument(raw, 1);
    assert.equal(s.makerFeePpm, -250);
    assert.equal(s.takerFeePpm, 750);
    assert.equal(s.minNotionalUnits, 0);
    assert.equal(s.maxNotionalUnits, 0);
    assert.equal(s.referencePriceTicks, 0);
    assert.equal(s.maxPositionLots, 0);
    assert.equal(s.minDisplayQtyLots, s.minQtyLots);
    assert.equal(s.tickSize, '0.01');
  });

  it('accepts a tick coarser than one unit', () => {
    const s = loadInstrument({ ...base(), tickSize: '0.5', minPrice: '0.5', maxPrice: '1000000', referencePrice: '60000.5' }, 1);
    assert.equal(s.notionalUnitsPerTickLot, 500);
    assert.equal(s.referencePriceTicks, 120001);
  });

  it('rejects unknown and missing fields and wrong types', () => {
    rejects({ tickSizee: '0.01' }, 'tickSizee', /unknown field/);
    rejects({ tickSize: undefined }, 'tickSize');
    rejects({ tickSize: 0.01 }, 'tickSize');
    rejects({ orderCapacity: 1.5 }, 'orderCapacity');
    rejects({ orderCapacity: 0 }, 'orderCapacity');
    rejects({ orderCapacity: 2 ** 25 }, 'orderCapacity');
    rejects({ symbol: 'btc/usdt' }, 'symbol');
    rejects({ baseAsset: 'btc' }, 'baseAsset');
    rejects({ quoteAsset: 'BTC' }, 'quoteAsset', /differ/);
    rejects({ baseDecimals: 19 }, 'baseDecimals');
    rejects({ priceBandBps: 10001 }, 'priceBandBps');
    rejects({ marketBandBps: -1 }, 'marketBandBps');
    rejects({ maxOpenOrdersPerAccount: -1 }, 'maxOpenOrdersPerAccount');
    assert.throws(() => loadInstrument(null, 1), InstrumentConfigError);
    assert.throws(() => loadInstrument(base(), 0), /id/);
    assert.throws(() => loadInstrument(base(), 70000), /id/);
  });

  it('rejects malformed decimal strings', () => {
    rejects({ tickSize: '1e-2' }, 'tickSize', /exponent/);
    rejects({ tickSize: '0' }, 'tickSize', /greater than zero/);
    rejects({ lotSize: '-0.001' }, 'lotSize');
    rejects({ minNotional: '' }, 'minNotional');
    rejects({ maxQty: '50.000001' }, 'maxQty', /not a multiple/);
    rejects({ minNotional: '5.000000001' }, 'minNotional', /decimal places/);
    rejects({ maxPosition: 'lots' }, 'maxPosition');
  });

  it('rejects scales that are not whole units', () => {
    // 0.01 * 0.00001 = 1e-7 USDT: not a whole unit with 6 quote decimals.
    rejects({ quoteDecimals: 6 }, 'tickSize', /whole number of quote units/);
    // a lot of 0.00001 BTC with 4 base decimals is a tenth of a unit.
    rejects({ baseDecimals: 4 }, 'lotSize', /whole number of base units/);
  });

  it('rejects min above max', () => {
    rejects({ minPrice: '2000000' }, 'minPrice', /above maxPrice/);
    rejects({ minQty: '60' }, 'minQty', /above maxQty/);
    rejects({ minNotional: '10000000' }, 'minNotional', /above maxNotional/);
    rejects({ minDisplayQty: '51' }, 'minDisplayQty', /above maxQty/);
  });

  it('rejects zero minimums', () => {
    rejects({ minPrice: '0' }, 'minPrice', /greater than zero/);
    rejects({ minQty: '0' }, 'minQty', /greater than zero/);
    rejects({ minDisplayQty: '0' }, 'minDisplayQty', /greater than zero/);
  });

  it('rejects prices off the tick and quantities off the lot', () => {
    rejects({ minPrice: '0.015' }, 'minPrice', /not a multiple of 0.01/);
    rejects({ maxPrice: '1000000.001' }, 'maxPrice', /not a multiple/);
    rejects({ referencePrice: '60000.005' }, 'referencePrice', /not a multiple/);
    rejects({ minQty: '0.000015' }, 'minQty', /not a multiple of 0.00001/);
    rejects({ maxPosition: '1.000001' }, 'maxPosition', /not a multiple/);
    rejects({ minDisplayQty: '0.000011' }, 'minDisplayQty', /not a multiple/);
    rejects({ tickSize: '0.5', minPrice: '0.5', referencePrice: '60000.2' }, 'referencePrice', /not a multiple of 0.5/);
  });

  it('rejects a reference price outside the price range', () => {
    rejects({ referencePrice: '2000000' }, 'referencePrice', /outside/);
  });

  it('rejects bad fees', () => {
    rejects({ makerFeeBps: '10' }, 'makerFee', /not both/);
    rejects({ takerFee: '-0.001' }, 'takerFee', /cannot be negative/);
    rejects({ makerFee: '-0.002' }, 'makerFee', /rebate/);
    rejects({ takerFee: '1.5' }, 'takerFee', /100%/);
    rejects({ takerFee: '0.0000001' }, 'takerFee', /decimal places/);
    rejects({ takerFee: undefined, takerFeeBps: '0.001' }, 'takerFeeBps', /decimal places/);
  });

  it('rejects a level capacity above the order capacity', () => {
  });

  it('rejects instruments whose products could leave the safe integer range', () => {
    // 1e8 ticks * 1e7 lots * 10 = 1e16 > 2^53-1
    rejects({ maxQty: '100' }, 'maxPrice', /beyond 2\^53-1/);
    // 1e12 ticks: the notional fits (N = 1, one lot) but ticks x 20000 does not
    rejects({ tickSize: '1', minPrice: '1', lotSize: '1', minQty: '1', maxQty: '1', maxPrice: '1000000000000', quoteDecimals: 0,
      baseDecimals: 0, minDisplayQty: '1', maxPosition: '0', minNotional: '0', maxNotional: '0', referencePrice: '0' },
    'maxPrice', /band arithmetic/);
    // 0.5 * 0.5 * 10^15: N = 2.5e14; a maxPrice of 100000 and maxQty 1000 overflow.
    rejects({ tickSize: '0.5', lotSize: '0.5', quoteDecimals: 15, minPrice: '0.5', maxPrice: '100000', minQty: '0.5', maxQty: '1000',
      minDisplayQty: '0.5', maxPosition: '0', minNotional: '0', maxNotional: '0', referencePrice: '0' }, 'maxPrice', /beyond/);
  });

  it('reports every problem at once', () => {
    const err = rejects({ minPrice: '0.015', maxQty: '50.000001', takerFee: '-1' }, 'minPrice');
    const fields = err.issues.map((i) => i.path[0]);
    assert.deepEqual(new Set(fields), new Set(['minPrice', 'maxQty', 'takerFee']));
    assert.equal(err.field, 'minPrice');
  });
});
