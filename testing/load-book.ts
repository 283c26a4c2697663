// Loads core/book.ts (the fast OrderBook) at run time, so the oracle's tests still compile and run
// while the fast book is missing or broken. Returns null (with the reason) when it cannot be loaded.

import type { EventBuffer } from '../core/events.js';
import type { InstrumentSpec } from '../core/instrument.js';
import type { BookLike } from './fixtures.js';

export interface FastBookModule {
  create(spec: InstrumentSpec, events: EventBuffer): BookLike & { snapshot(): Float64Array };
  restore(spec: InstrumentSpec, events: EventBuffer, snap: ArrayLike<number>): BookLike & { snapshot(): Float64Array };
}

type Ctor = {
  new (spec: InstrumentSpec, events: EventBuffer): BookLike & { snapshot(): Float64Array };
  restore(spec: InstrumentSpec, events: EventBuffer, snap: ArrayLike<number>): BookLike & { snapshot(): Float64Array };
};

export async function loadFastBook(): Promise<{ mod: FastBookModule | null; why: string }> {
  const specifier = '../core/book.js';
  try {
    const m = (await import(specifier)) as { OrderBook?: Ctor };
    const C = m.OrderBook;
    if (typeof C !== 'function') return { mod: null, why: 'core/book.js has no OrderBook export' };
    return {
      mod: {
        create: (spec, events) => new C(spec, events),
        restore: (spec, events, snap) => C.restore(spec, events, snap),
      },
      why: '',
    };
  } catch (e) {
    return { mod: null, why: `core/book.js failed to load: ${(e as Error).message}` };
  }
}
