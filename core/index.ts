// Public entry of the matching core: `import { OrderBook, Command, EventBuffer } from 'trading-engine/core'`.
export { OrderBook, ORDER_FIELDS, feeUnits } from './book.js';
export { EventBuffer } from './events.js';
export { hashNumbers } from './hash.js';
export type { InstrumentSpec } from './instrument.js';
export * from './types.js';
export * from './fixed.js';
