// Crash test of the whole engine: a child process (engine-crash-child.ts) runs the engine on the
// embedded SQLite journal under a steady order flow (the advanced one: stops, trailing, if-touched,
// FOK, post-only, icebergs, OCO legs, bracket children, mass cancels, mark moves; ENGINE_CRASH_FLOW=basic
// for the plain one) and is SIGKILLed at random moments (seeded), at least 20 times. After each
// restart: every command acknowledged before the kill is in the journal, the recovered ledger and
// books equal a clean single-threaded replay of the journal, and the journal's seqs are 1..n with
// none missing or duplicated.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeCommand } from '../core/command-codec.js';
import { Command, CommandType, OrderFlags, OrderType } from '../core/types.js';
import { JOURNAL_FILE } from '../gateway/engine.js';
import { kitInstruments, tempDataDir } from '../gateway/engine-test-kit.js';
import { Prng } from '../gateway/order-flow.js';
import { listJournalArchives, readJournal } from './journal.js';
import { cleanReplay } from './recovery.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'engine-crash-child.js');
const KILLS = Number(process.env['ENGINE_CRASH_KILLS'] ?? 20);
const BUDGET_MS = 55_000;
/** The child's order flow: 'advanced' (default) or 'basic' (limit, IOC, market, GTD, cancels, replaces). */
const FLOW = process.env['ENGINE_CRASH_FLOW'] === 'basic' ? 'basic' : 'advanced';

interface Life { recovered: { seq: number; ledger: string; books: Record<string, string>; recovery: { replayedCommands: number; snapshotSeq: number } }; acked: number; stderr: string }

function life(dir: string, seed: number, runMs: number): Promise<Life> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, String(seed), FLOW], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '', stderr = '';
    let recovered: Life['recovered'] | null = null;
    let acked = 0;
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('recovered ')) {
          recovered = JSON.parse(line.slice(10)) as Life['recovered'];
          setTimeout(() => child.kill('SIGKILL'), runMs);
        } else if (line.startsWith('acked ')) {
          acked = Math.max(acked, Number(line.slice(6)));
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(guard);
      if (recovered === null) reject(new Error(`child never recovered; stderr: ${stderr}`));
      else resolve({ recovered, acked, stderr });
    });
  });
}

describe('engine crash recovery (SIGKILL)', () => {
  it(`survives ${KILLS} kills: acked commands kept, state equals a clean replay, seqs gap-free`, async () => {
    const dir = tempDataDir('crash');
    const rng = new Prng(20240611);
    const t0 = Date.now();
    let ackedBefore = 0;
    let ackedMax = 0;
    let kills = 0;
    let replayed = 0;
    try {
      for (; kills <= KILLS; kills++) {
        const runMs = kills === KILLS ? 0 : rng.int(80, 700);
        const l = await life(dir, 1000 + kills, runMs);
        const rec = l.recovered;
        // The recovery snapshot is taken right after recovery: everything before it is the journal.
        const journalEnd = rec.seq - 1;
        assert.ok(journalEnd >= ackedBefore, `life ${kills}: acked seq ${ackedBefore} lost (journal ends at ${journalEnd})`);
        const clean = cleanReplay(dir, kitInstruments(), {}, journalEnd);
        assert.equal(clean.hashes.seq, journalEnd);
        assert.deepEqual({ ledger: rec.ledger, books: rec.books }, { ledger: clean.hashes.ledger, books: clean.hashes.books },
          `life ${kills}: recovered state differs from a clean replay of seqs 1..${journalEnd}`);
        replayed += rec.recovery.replayedCommands;
        ackedBefore = l.acked;
        ackedMax = Math.max(ackedMax, l.acked);
        if (Date.now() - t0 > BUDGET_MS) break;
      }
      let prev = 0;
      // The advanced flow's commands reached the journal (and so every replay and recovery above).
      const seen = { conditional: 0, oco: 0, child: 0, massCancel: 0, mark: 0 };
      const c = new Command();
      for (const r of readJournal(join(dir, JOURNAL_FILE))) {
        assert.equal(r.seq, prev + 1, `journal seq ${r.seq} follows ${prev}`);
        prev = r.seq;
        decodeCommand(r.words, 0, c);
        if (c.type === CommandType.NewOrder) {
          if (c.orderType >= OrderType.Stop) seen.conditional++;
          if ((c.flags & OrderFlags.Child) !== 0) seen.child++;
          else if (c.linkId !== 0) seen.oco++;
        } else if (c.type === CommandType.MassCancel) seen.massCancel++;
        else if (c.type === CommandType.SetReferencePrice) seen.mark++;
      }
      if (FLOW === 'advanced') for (const [k, v] of Object.entries(seen)) assert.ok(v > 0, `the journal holds ${k} commands (${JSON.stringify(seen)})`);
      assert.ok(prev >= ackedBefore);
      // The child archives the journal after every snapshot, so kills also land in archives and trims.
      assert.ok(listJournalArchives(join(dir, JOURNAL_FILE)).length > 0, 'journal segments were archived');
      assert.ok(kills >= 20 || KILLS < 20, `only ${kills} kills in the time budget`);
      assert.ok(ackedMax > 1000, `the flow ran (highest ack ${ackedMax})`);
      assert.ok(replayed > 0, 'some restarts replayed journal records after a snapshot');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
