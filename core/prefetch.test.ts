// `OrderBook.prefetch` only loads memory: a book that is told about every next command (and about
// garbage ones) must emit the same events and reach the same state hash as one that is not. A book
// large enough for its records to be placed at an offset in their buffer (32 MiB and more) must
// behave exactly like a small one on the same stream.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { OrderBook } from './book.js';
import { EventBuffer } from './events.js';
import type { InstrumentSpec } from './instrument.js';
import { Command } from './types.js';
import { StreamBuilder, specArb, stepsArb } from '../testing/command-gen.js';
import { decodeEvents, describeCommand, diffEvents, parseDump } from '../testing/fixtures.js';
import { envInt } from '../testing/lockstep.js';

const RUNS = envInt('PREFETCH_RUNS', 60);
const COMMANDS = envInt('PROPERTY_COMMANDS', 200);

/** Commands of a random stream, built against the state of a plain book. */
function buildStream(spec: InstrumentSpec, steps: Parameters<StreamBuilder['build']>[0][]): Command[] {
  const ev = new EventBuffer(1 << 14);
  const book = new OrderBook(spec, ev);
  const builder = new StreamBuilder();
  const out: Command[] = [];
  const cmd = new Command();
  for (const step of steps) {
    builder.build(step, parseDump(book.stateDump()), cmd);
    out.push(Object.assign(new Command(), cmd));
    ev.clear();
    book.execute(cmd);
  }
  return out;
}

const HOSTILE = [NaN, -1, -0, 0, 1.5, 2 ** 31, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, Infinity];

test('prefetch of the next command (and of garbage) changes no event and no state', () => {
  fc.assert(fc.property(specArb, stepsArb(2, COMMANDS), fc.nat(), (spec, steps, salt) => {
    const cmds = buildStream(spec, steps);
    const evA = new EventBuffer(1 << 14), evB = new EventBuffer(1 << 14);
    const a = new OrderBook(spec, evA), b = new OrderBook(spec, evB);
    b.prefetchMinEntries = 0; // a small book: make prefetch do its loads anyway
    for (let i = 0; i < cmds.length; i++) {
      const c = cmds[i]!;
      const next = cmds[i + 1];
      if (next !== undefined) b.prefetch(next.type, next.orderId, next.account, next.clientOrderId);
      const h = HOSTILE[(salt + i) % HOSTILE.length]!;
      b.prefetch((salt + i) % 6, h, h, h); // every command type, hostile ids
      evA.clear(); evB.clear();
      a.execute(c); b.execute(c);
      const diff = diffEvents(decodeEvents(evA), decodeEvents(evB), 'plain', 'prefetching');
      if (diff !== null) assert.fail(`${diff}\nat ${describeCommand(c)}`);
    }
    assert.equal(b.stateHash(), a.stateHash());
    assert.deepStrictEqual(b.snapshot(), a.snapshot());
  }), { numRuns: RUNS, interruptAfterTimeLimit: 30_000 });
});

test('a book whose records sit at an offset in a 32 MiB+ buffer behaves like a small book', () => {
  fc.assert(fc.property(specArb, stepsArb(2, COMMANDS), (spec, steps) => {
    // Capacities far above what a stream of this length can fill, so neither book rejects BookFull;
    // 140,000 slots x 256 bytes > 32 MiB: the constructor places the records at an offset.
    const small: InstrumentSpec = { ...spec, orderCapacity: 1_000 };
    const big: InstrumentSpec = { ...spec, orderCapacity: 140_000 };
    const cmds = buildStream(small, steps);
    const evA = new EventBuffer(1 << 14), evB = new EventBuffer(1 << 14);
    const a = new OrderBook(small, evA), b = new OrderBook(big, evB);
    for (const c of cmds) {
      evA.clear(); evB.clear();
      a.execute(c); b.execute(c);
      const diff = diffEvents(decodeEvents(evA), decodeEvents(evB), 'small', 'large');
      if (diff !== null) assert.fail(`${diff}\nat ${describeCommand(c)}`);
    }
    assert.equal(b.stateHash(), a.stateHash());
  }), { numRuns: Math.max(1, Math.floor(RUNS / 6)), interruptAfterTimeLimit: 30_000 });
});
