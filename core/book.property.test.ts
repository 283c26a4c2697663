// Model-based property test: random command streams through the fast OrderBook and the reference
// book (testing/reference-book.ts) in lockstep; after every command the events and the canonical
// dump must be identical and the invariants must hold. PROPERTY_RUNS / PROPERTY_COMMANDS scale it;
// PROPERTY_SEED replays a run; ADV_SHARE sets the percentage of advanced (issue 3) steps (default 25).
// The reference imitates the reported fast-book bugs listed in KNOWN_FAST_BOOK_QUIRKS (testing/lockstep.ts);
// ORACLE_STRICT=1 compares against the doc alone.

import { test } from 'node:test';
import fc from 'fast-check';
import { specArb, stepsArb } from '../testing/command-gen.js';
import { loadFastBook } from '../testing/load-book.js';
import { envInt, runLockstep } from '../testing/lockstep.js';
import { ReferenceBook } from '../testing/reference-book.js';

// About 5 ms per 200-command run (the reference dominates); the reference-only property uses a sixth.
const RUNS = envInt('PROPERTY_RUNS', 1000);
const COMMANDS = envInt('PROPERTY_COMMANDS', 200);
const SEED = process.env['PROPERTY_SEED'] !== undefined ? Number(process.env['PROPERTY_SEED']) : undefined;

function params(runs: number): fc.Parameters<[unknown, unknown]> {
  return { numRuns: runs, ...(SEED !== undefined ? { seed: SEED } : {}), endOnFailure: false, interruptAfterTimeLimit: 50_000 };
}

test('reference book alone: invariants hold and it is deterministic', () => {
  fc.assert(fc.property(specArb, stepsArb(1, COMMANDS), (spec, steps) => {
    runLockstep(spec, steps, (s, ev) => new ReferenceBook(s, ev), { invariants: true, labelA: 'ref', labelB: 'ref-again' },
      (s, ev) => new ReferenceBook(s, ev));
  }), params(Math.max(20, Math.floor(RUNS / 6))));
});

test('fast book = reference book after every command, and its invariants hold', async (t) => {
  const { mod, why } = await loadFastBook();
  if (mod === null) {
    t.skip(why);
    return;
  }
  fc.assert(fc.property(specArb, stepsArb(1, COMMANDS), (spec, steps) => {
    runLockstep(spec, steps, mod.create, { invariants: true, labelA: 'fast', labelB: 'reference' });
  }), params(RUNS));
});
