// The REST shim's OHLCV candles: a CandleAggregator fed by the engine's trades into a candle store.
//
// In memory (no file): only the trades acked since this gateway started, as before.
// Persistent (a SQLite file in the data dir): the file keeps the candles and a watermark, the last
// engine seq whose trades are in it, both written in one SQLite transaction. At start the trades of
// the seqs after the watermark are regenerated from the journal (persistence/pg/engine-source.ts's
// JournalReplayer, the replicator's catch-up) before the live acks are applied, so after a restart or
// a crash every trade is counted exactly once: a seq is either below the watermark (in the file) or
// above it (replayed or acked later), never both. Design: docs/persistence.md ("Candles and CSV").

import Database from 'better-sqlite3';
import { CW_TS, EVR_TYPE_DONE } from '../../core/command-codec.js';
import { EVENT_WORDS, EventType } from '../../core/types.js';
import { CandleAggregator, INTERVALS, SqliteCandleStore, type Candle, type CandleStore } from '../../marketdata/candles.js';
import { JournalReplayer } from '../../persistence/pg/engine-source.js';
import { readJournal } from '../../persistence/journal.js';
import { ledgerOptionsOfEngine } from './context.js';
import type { Ack, Engine } from '../engine.js';

export class CandleFeedError extends Error {
  override readonly name = 'CandleFeedError';
}

export interface CandleFeedOptions {
  /** Given store (not persisted by the feed, not closed by it); wins over `file`. */
  store?: CandleStore;
  /** SQLite file of the persistent store; undefined or null: an in-memory store. */
  file?: string | null;
  /** Engine seq the live acks start after (the seq the REST read model was seeded at). */
  startSeq: number;
  /** Persistent mode: how often finished deltas go to the file. Default 1000 ms. */
  flushIntervalMs?: number;
  /** Persistent mode: records replayed per read of the catch-up, each read one transaction. Default 20,000. */
  catchUpBatchRecords?: number;
  log?: (fields: Record<string, unknown>, msg: string) => void;
}

/** One acked trade waiting until its seq is durable in the journal (and the catch-up is done). */
interface LiveTrade { seq: number; symbol: string; tsUs: number; px: number; qty: number; notional: number }

const META_WATERMARK = 'watermark_seq';
/** Time of the journal's first command: a different journal under the same file means a rebuild. */
const META_ORIGIN = 'journal_origin_us';

export class CandleFeed {
  readonly store: CandleStore;
  /** True with a file: the candles cover every trade in the journal (once caught up). */
  readonly persistent: boolean;
  /** Resolves when the catch-up from the journal is done (at once in memory); never rejects. */
  readonly ready: Promise<void>;
  /** Set when the catch-up failed: the file stays at its watermark and live trades are ignored. */
  failure: Error | null = null;
  private readonly agg = new CandleAggregator(INTERVALS, { clampTime: true });
  private readonly db: Database.Database | null = null;
  private readonly ownsStore: boolean;
  private readonly symbols = new Map<number, string>();
  private readonly log: (fields: Record<string, unknown>, msg: string) => void;
  private live: LiveTrade[] = [];
  /** Last seq acked to us (persistent mode), and the last seq whose trades are in the file. */
  private ackedSeq: number;
  private storedSeq = 0;
  /** Drained deltas whose write failed: written first next time (merge order is what matters). */
  private unsaved: Candle[] = [];
  private caughtUp = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private writeStmt: ((deltas: readonly Candle[], seq: number) => void) | null = null;

  constructor(private readonly engine: Engine, o: CandleFeedOptions) {
    this.log = o.log ?? (() => {});
    for (const s of engine.instruments) this.symbols.set(s.id, s.symbol);
    this.ackedSeq = o.startSeq;
    const file = o.store === undefined ? o.file ?? null : null;
    this.persistent = file !== null;
    this.ownsStore = o.store === undefined;
    if (file === null) {
      this.store = o.store ?? new SqliteCandleStore(':memory:');
      this.caughtUp = true;
      this.ready = Promise.resolve();
      return;
    }
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a process crash keeps every committed transaction, which is all we need
    // (after a power loss the watermark and the candles still go back together: one transaction).
    this.db.pragma('synchronous = NORMAL');
    const store = new SqliteCandleStore(this.db);
    this.store = store;
    this.db.exec('CREATE TABLE IF NOT EXISTS candle_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID');
    const setMeta = this.db.prepare('INSERT INTO candle_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    // better-sqlite3 nests the store's own transaction as a savepoint: deltas and watermark commit together.
    const write = this.db.transaction((deltas: readonly Candle[], seq: number) => {
      if (deltas.length > 0) store.mergeDeltas(deltas);
      setMeta.run(META_WATERMARK, seq);
    });
    this.writeStmt = (deltas, seq) => write(deltas, seq);
    this.storedSeq = this.openWatermark(o.startSeq, setMeta);
    this.ready = this.catchUp(o.startSeq, o.catchUpBatchRecords ?? 20_000).then(() => {
      this.caughtUp = true;
      this.flushQuietly(); // the trades acked meanwhile
    }, (e: unknown) => {
      this.failure = e instanceof Error ? e : new Error(String(e));
      this.live = [];
      this.log({ err: this.failure.message, watermark: this.storedSeq }, 'rest: candle catch-up from the journal failed; /ohlcv unavailable until restart');
    });
    const every = o.flushIntervalMs ?? 1000;
    this.timer = setInterval(() => this.flushQuietly(), every);
    this.timer.unref(); // never keeps the process alive
  }

  /**
   * The file's watermark, after checking it belongs to this journal: a file ahead of the journal
   * (e.g. trades acked with durability 'none' and lost in a crash) or made from another journal
   * counts trades the engine no longer has, so it is emptied and rebuilt from the whole journal.
   */
  private openWatermark(startSeq: number, setMeta: Database.Statement): number {
    const db = this.db!;
    const get = (k: string): number | null => (db.prepare('SELECT value FROM candle_meta WHERE key = ?').get(k) as { value: number } | undefined)?.value ?? null;
    const origin = journalOriginUs(this.engine.journalPath);
    const w = get(META_WATERMARK) ?? 0;
    const storedOrigin = get(META_ORIGIN);
    const foreign = storedOrigin !== null && origin !== null && storedOrigin !== origin;
    if (w > startSeq || foreign) {
      this.log({ watermark: w, journalSeq: startSeq, foreign }, 'rest: candle file does not match the journal; rebuilding it from the journal');
      db.transaction(() => { db.exec('DELETE FROM candles'); setMeta.run(META_WATERMARK, 0); })();
      if (foreign) db.prepare('DELETE FROM candle_meta WHERE key = ?').run(META_ORIGIN);
      return this.openWatermark(startSeq, setMeta);
    }
    if (storedOrigin === null && origin !== null) setMeta.run(META_ORIGIN, origin);
    return w;
  }

  /** Replays (watermark, startSeq] from the journal into the file, one transaction per read. */
  private async catchUp(startSeq: number, batch: number): Promise<void> {
    if (this.storedSeq >= startSeq) return;
    const from0 = this.storedSeq;
    const replayer = new JournalReplayer(this.engine.journalPath, this.engine.instruments, ledgerOptionsOfEngine(this.engine));
    let from = from0;
    while (from < startSeq && !this.closed) {
      const recs = await replayer.read(from, startSeq, batch);
      if (this.closed) return;
      if (recs.length === 0) throw new CandleFeedError(`the journal ends before seq ${startSeq} (replayed up to ${from})`);
      for (const r of recs) {
        if (r.kind !== 'events') continue;
        const symbol = this.symbols.get(r.instrumentId);
        if (symbol === undefined) continue; // snapshot markers (instrument 0)
        for (let o = 0; o < r.words.length; o += EVENT_WORDS) {
          if (r.words[o] === EventType.Trade) this.agg.addTrade(symbol, r.words[o + 2]!, r.words[o + 4]!, r.words[o + 5]!, r.words[o + 15]!);
        }
      }
      from = recs[recs.length - 1]!.seq;
      this.write(from);
    }
    this.log({ from: from0, to: startSeq, commands: startSeq - from0 }, 'rest: candles caught up from the journal');
  }

  /** The engine's ack hook (after the read model's). Never throws. */
  readonly onAck = (ack: Ack): void => {
    if (this.closed || this.failure !== null) return;
    const symbol = this.symbols.get(ack.instrumentId);
    if (!this.persistent) {
      if (symbol !== undefined) this.eachTrade(ack, (ts, px, qty, n) => this.agg.addTrade(symbol, ts, px, qty, n));
      return;
    }
    // Already in the file (a seq the catch-up replayed): counting it again would double it.
    if (ack.seq <= this.storedSeq) return;
    this.ackedSeq = ack.seq;
    if (symbol !== undefined) this.eachTrade(ack, (tsUs, px, qty, notional) => this.live.push({ seq: ack.seq, symbol, tsUs, px, qty, notional }));
  };

  private eachTrade(ack: Ack, f: (tsUs: number, px: number, qty: number, notional: number) => void): void {
    const w = ack.words;
    for (let r = 0; r < ack.recordCount; r++) {
      const o = ack.recordOffset(r);
      if (w[o] === EVR_TYPE_DONE || w[o] !== EventType.Trade) continue;
      try {
        f(w[o + 2]!, w[o + 4]!, w[o + 5]!, w[o + 15]!);
      } catch (e) {
        this.log({ err: (e as Error).message, seq: ack.seq }, 'rest: trade not added to the candles');
      }
    }
  }

  /** Makes the store current before a query. Throws CandleFeedError when the file cannot be written. */
  async sync(): Promise<void> {
    if (this.persistent) { this.flush(); return; }
    if (!this.closed && this.agg.size > 0) await this.store.mergeDeltas(this.agg.drain());
  }

  /**
   * Persistent mode: moves the acked trades whose seq is durable in the journal into the file with
   * the new watermark (one transaction). Trades acked before they are durable (durability 'none')
   * wait, so the file never holds a trade a crash could take out of the journal. Throws
   * CandleFeedError when the write fails (the deltas are kept for the next try).
   */
  flush(): void {
    if (this.closed || !this.persistent || !this.caughtUp || this.failure !== null) return;
    const upTo = Math.min(this.ackedSeq, this.engine.journal.durableSeq());
    let k = 0;
    for (; k < this.live.length && this.live[k]!.seq <= upTo; k++) {
      const t = this.live[k]!;
      this.agg.addTrade(t.symbol, t.tsUs, t.px, t.qty, t.notional);
    }
    if (k > 0) this.live = this.live.slice(k);
    if (upTo > this.storedSeq || this.agg.size > 0 || this.unsaved.length > 0) this.write(Math.max(upTo, this.storedSeq));
  }

  private write(seq: number): void {
    const deltas = this.unsaved.length > 0 ? this.unsaved.concat(this.agg.drain()) : this.agg.drain();
    try {
      this.writeStmt!(deltas, seq);
    } catch (e) {
      this.unsaved = deltas; // the transaction rolled back: nothing of it is in the file
      throw new CandleFeedError(`candle file write failed: ${(e as Error).message}`);
    }
    this.unsaved = [];
    this.storedSeq = seq;
  }

  private flushQuietly(): void {
    try {
      this.flush();
    } catch (e) {
      this.log({ err: (e as Error).message }, 'rest: candle flush failed; retried next time');
    }
  }

  /** True once the start-up catch-up is over, done or failed (at once in memory). */
  get settled(): boolean {
    return this.caughtUp || this.failure !== null;
  }

  /** Last seq whose trades are in the file (0 in memory). */
  get watermark(): number {
    return this.storedSeq;
  }

  /** Flushes what is durable, then closes the file (a given store is left open). */
  close(): void {
    if (this.closed) return;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.flushQuietly();
    this.closed = true;
    if (this.db !== null) this.db.close();
    else if (this.ownsStore) (this.store as SqliteCandleStore).close();
  }
}


function journalOriginUs(journalPath: string): number | null {
  for (const rec of readJournal(journalPath, 0)) return rec.words[CW_TS]!;
  return null;
}
