// The PostgreSQL replicator: reads the replication stream (replication.ts) from its checkpoint and
// writes orders, trades, positions, account balances and candles in batches, each batch in ONE
// transaction that also moves the checkpoint. Design and idempotency argument: docs/persistence.md.
//
// It never blocks its caller: start() launches its own async loop. When PostgreSQL is down or slow
// it falls behind (the stream keeps the records), reports it through lag(), retries with backoff,
// and catches up when the database answers again. After any error it re-reads the checkpoint from
// the database before writing again, so an ambiguous COMMIT (connection lost while committing) is
// resolved by what the database says, never by guessing.

import type { InstrumentSpec } from '../../core/instrument.js';
import { CandleAggregator, type Candle, type Interval, INTERVALS } from '../../marketdata/candles.js';
import { connect, isoMicros, sqlTimestampOfUs as TS, type Sql } from './db.js';
import {
  buildBatch, eventCount, orderStatus, recordTsUs, ORDER_TYPE_NAMES, SIDE_NAMES, TIF_NAMES,
  type Batch, type ReplicationRecord, type ReplicationSource,
} from './replication.js';

export type WriteMode = 'copy' | 'insert';

export interface ReplicatorOptions {
  url: string;
  source: ReplicationSource;
  instruments: readonly InstrumentSpec[];
  /** search_path schema (tests); default: the connection's. */
  schema?: string;
  /** Checkpoint row name (one per replicated stream). Default 'default'. */
  name?: string;
  /**
   * Records per read (a seq is never split, so a batch can be a little larger). Default 20000: with
   * COPY, bench:replication measured 2000 -> 151-181k, 8000 -> 164-253k, 20000 -> 220-270k events/s
   * (50000: 189k, no better); a batch only holds what is there, so lag at a steady rate is unchanged.
   */
  maxBatchRecords?: number;
  /** Wait between reads when caught up, unless notify() is called. Default 5 ms. */
  idleMs?: number;
  /** Backoff after a failure: doubles from min to max. Default 50 .. 2000 ms. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** New orders and trades by COPY (default) or by INSERT ... SELECT FROM unnest(arrays). */
  writeMode?: WriteMode;
  /** Candle intervals written to market_data. Default all six. */
  candleIntervals?: readonly Interval[];
  /** market_data.exchange of the engine's own candles. Default 'engine'. */
  exchange?: string;
  applicationName?: string;
  log?: (fields: Record<string, unknown>, msg: string) => void;
  /** Tests: called at each stage of a batch; throwing there simulates a failure at that point. */
  fault?: (stage: string) => void;
  /** Called after each committed batch (bench: per-record lag). */
  onCommit?: (records: readonly ReplicationRecord[], info: CommitInfo) => void;
}

export interface CommitInfo {
  fromSeqExclusive: number;
  toSeq: number;
  events: number;
  /** Wall time of the commit's answer, microseconds since the epoch. */
  committedWallUs: number;
  /** Time spent building and writing the batch, microseconds. */
  writeUs: number;
}

export interface ReplicationLag {
  /** Last seq written to PostgreSQL (the checkpoint). */
  checkpointSeq: number;
  /** The stream's head. */
  headSeq: number;
  /** headSeq - checkpointSeq: seqs (commands, each with its events) not yet in PostgreSQL. */
  lagSeqs: number;
  /**
   * Age of the oldest record not yet in PostgreSQL (wall clock now - its engine time), 0 when
   * caught up. Engine time comes from the sequencer's clock, which follows the wall clock.
   */
  lagSeconds: number;
  /** False from a failed batch until the next successful one. */
  connected: boolean;
  lastError: string | null;
  failures: number;
  batches: number;
  records: number;
  events: number;
  running: boolean;
}

export class CheckpointMovedError extends Error {
  override readonly name = 'CheckpointMovedError';
}

const nowUs = (): number => Date.now() * 1000;
/** A batch still unanswered after this long counts as "not connected" in lag(). */
const STALL_MS = 1000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A PostgreSQL array literal of integers, sent as one text parameter and cast (`::int8[]`): the
 * driver's generic array serializer escapes element by element, which costs more than the write.
 */
function intArray(values: readonly number[]): string {
  return `{${values.join(',')}}`;
}

/** The same for text: every element quoted (an empty string must be), `\` and `"` escaped. */
function textArray(values: readonly string[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    out += `${i === 0 ? '' : ','}"${/[\\"]/.test(v) ? v.replace(/[\\"]/g, '\\$&') : v}"`;
  }
  return `${out}}`;
}


export class Replicator {
  readonly name: string;
  private readonly o: ReplicatorOptions;
  private readonly sql: Sql;
  private readonly symbols = new Map<number, string>();
  private readonly intervals: readonly Interval[];
  private readonly maxBatch: number;
  private checkpoint = -1;
  private loaded = false;
  private pending: readonly ReplicationRecord[] | null = null;
  private pendingFirstTsUs = 0;
  private stopping = false;
  private loopDone: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private stats = { failures: 0, batches: 0, records: 0, events: 0 };
  private connected = false;
  private inFlightSinceMs = 0;
  private lastError: string | null = null;
  private lastLoggedError = 0;
  private readonly caughtUpWaiters: Array<{ seq: number; resolve: () => void }> = [];

  constructor(o: ReplicatorOptions) {
    this.o = o;
    this.name = o.name ?? 'default';
    this.maxBatch = o.maxBatchRecords ?? 20_000;
    this.intervals = o.candleIntervals ?? INTERVALS;
    for (const s of o.instruments) this.symbols.set(s.id, s.symbol);
    this.sql = connect(o.url, {
      max: 1, applicationName: o.applicationName ?? `replicator-${this.name}`, ...(o.schema !== undefined ? { schema: o.schema } : {}),
    });
  }

  /** Starts the loop (idempotent). Returns at once. */
  start(): void {
    if (this.loopDone !== null) return;
    this.stopping = false;
    this.loopDone = this.loop();
  }

  /** Tells the loop new records are there (skips the idle wait). */
  notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /**
   * Stops after the batch in progress (its transaction commits or rolls back as a whole); if that
   * batch does not finish within graceMs (database unreachable), the connection is closed under it.
   */
  async stop(graceMs = 2000): Promise<void> {
    this.stopping = true;
    this.notify();
    if (this.loopDone !== null) {
      let t: NodeJS.Timeout | undefined;
      const grace = new Promise<'late'>((r) => { t = setTimeout(() => r('late'), graceMs); });
      const r = await Promise.race([this.loopDone.then(() => 'done' as const), grace]);
      clearTimeout(t);
      if (r === 'late') {
        await this.sql.end({ timeout: 0 }).catch(() => {});
        await this.loopDone;
      }
    }
    this.loopDone = null;
    await this.sql.end({ timeout: 1 }).catch(() => {});
  }

  /** Resolves once the checkpoint reaches seq (or rejects after timeoutMs). */
  waitFor(seq: number, timeoutMs = 30_000): Promise<void> {
    if (this.checkpoint >= seq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`replicator: seq ${seq} not reached in ${timeoutMs} ms (at ${this.checkpoint})`)), timeoutMs);
      this.caughtUpWaiters.push({ seq, resolve: () => { clearTimeout(t); resolve(); } });
      this.notify();
    });
  }

  checkpointSeq(): number {
    return this.checkpoint;
  }

  /** For /metrics and /ready. Cheap; never touches the database. */
  lag(): ReplicationLag {
    const head = this.o.source.headSeq();
    const cp = Math.max(0, this.checkpoint);
    const behind = head > cp;
    return {
      checkpointSeq: cp,
      headSeq: head,
      lagSeqs: behind ? head - cp : 0,
      lagSeconds: behind && this.pending !== null ? Math.max(0, nowUs() - this.pendingFirstTsUs) / 1e6 : 0,
      connected: this.connected && !(this.inFlightSinceMs > 0 && Date.now() - this.inFlightSinceMs > STALL_MS),
      lastError: this.lastError,
      failures: this.stats.failures,
      batches: this.stats.batches,
      records: this.stats.records,
      events: this.stats.events,
      running: this.loopDone !== null && !this.stopping,
    };
  }

  // ----------------------------------------------------------------------------------------------

  private async loop(): Promise<void> {
    let backoff = this.o.retryMinMs ?? 50;
    while (!this.stopping) {
      try {
        if (!this.loaded) await this.load();
        if (this.pending === null) {
          const recs = await this.o.source.read(this.checkpoint, this.maxBatch);
          if (recs.length === 0) {
            this.resolveWaiters();
            await this.idle();
            continue;
          }
          if (recs[0]!.seq <= this.checkpoint) throw new RangeError(`source returned seq ${recs[0]!.seq} at checkpoint ${this.checkpoint}`);
          this.pending = recs;
          this.pendingFirstTsUs = firstTsUs(recs);
        }
        this.inFlightSinceMs = Date.now();
        await this.apply(this.pending);
        this.inFlightSinceMs = 0;
        this.pending = null;
        this.connected = true;
        backoff = this.o.retryMinMs ?? 50;
        this.resolveWaiters();
      } catch (e) {
        this.inFlightSinceMs = 0;
        this.stats.failures++;
        this.connected = false;
        this.loaded = false; // re-read the checkpoint: the last COMMIT may or may not have happened
        this.lastError = (e as Error).message ?? String(e);
        const t = Date.now();
        if (t - this.lastLoggedError > 5000) {
          this.lastLoggedError = t;
          this.o.log?.({ err: this.lastError, checkpoint: this.checkpoint, failures: this.stats.failures }, 'replicator: batch failed, retrying');
        }
        if (this.stopping) break;
        await this.idle(backoff);
        backoff = Math.min(backoff * 2, this.o.retryMaxMs ?? 2000);
      }
    }
  }

  private idle(ms = this.o.idleMs ?? 5): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = null; resolve(); }, ms);
      this.wake = () => { clearTimeout(t); resolve(); };
    });
  }

  private resolveWaiters(): void {
    for (let i = this.caughtUpWaiters.length - 1; i >= 0; i--) {
      const w = this.caughtUpWaiters[i]!;
      if (this.checkpoint >= w.seq) { this.caughtUpWaiters.splice(i, 1); w.resolve(); }
    }
  }

  /** Reads (creating if needed) the checkpoint and writes the instruments table. */
  private async load(): Promise<void> {
    const sql = this.sql;
    await sql`INSERT INTO replication_checkpoint (name, seq) VALUES (${this.name}, 0) ON CONFLICT (name) DO NOTHING`;
    const rows = await sql`SELECT seq FROM replication_checkpoint WHERE name = ${this.name}`;
    const seq = Number(rows[0]!.seq);
    // The pending batch committed after all (lost reply to COMMIT), or another writer moved on: re-read.
    if (this.pending !== null && this.pending[0]!.seq <= seq) this.pending = null;
    this.checkpoint = seq;
    await this.syncInstruments();
    this.loaded = true;
    this.connected = true;
  }

  private async syncInstruments(): Promise<void> {
    for (const s of this.o.instruments) {
      const { id, symbol, baseAsset, quoteAsset, tickSize, lotSize, baseDecimals, quoteDecimals, notionalUnitsPerTickLot, baseUnitsPerLot } = s;
      await this.sql`INSERT INTO instruments (instrument_id, symbol, base_asset, quote_asset, tick_size, lot_size, base_decimals,
          quote_decimals, notional_units_per_tick_lot, base_units_per_lot, spec)
        VALUES (${id}, ${symbol}, ${baseAsset}, ${quoteAsset}, ${tickSize}, ${lotSize}, ${baseDecimals}, ${quoteDecimals},
          ${notionalUnitsPerTickLot}, ${baseUnitsPerLot}, ${JSON.stringify(s)}::jsonb)
        ON CONFLICT (instrument_id) DO UPDATE SET symbol = EXCLUDED.symbol, base_asset = EXCLUDED.base_asset,
          quote_asset = EXCLUDED.quote_asset, tick_size = EXCLUDED.tick_size, lot_size = EXCLUDED.lot_size,
          base_decimals = EXCLUDED.base_decimals, quote_decimals = EXCLUDED.quote_decimals,
          notional_units_per_tick_lot = EXCLUDED.notional_units_per_tick_lot, base_units_per_lot = EXCLUDED.base_units_per_lot,
          spec = EXCLUDED.spec, updated_at = now()
        WHERE instruments.spec IS DISTINCT FROM EXCLUDED.spec`;
    }
  }

  private symbolOf(instrumentId: number): string {
    let s = this.symbols.get(instrumentId);
    if (s === undefined) {
      s = `I${instrumentId}`;
      this.symbols.set(instrumentId, s);
      this.o.log?.({ instrumentId }, 'replicator: unknown instrument id, candles use a placeholder symbol');
    }
    return s;
  }

  private fault(stage: string): void {
    this.o.fault?.(stage);
  }

  /** Writes one batch and the checkpoint in one transaction. */
  private async apply(records: readonly ReplicationRecord[]): Promise<void> {
    const t0 = performance.now();
    const agg = new CandleAggregator(this.intervals, { clampTime: true });
    const batch = buildBatch(records, (t) => agg.addTrade(this.symbolOf(t.instrumentId), t.tsUs, t.priceTicks, t.qtyLots, t.notionalUnits));
    const candles = agg.drain();
    const from = this.checkpoint;
    this.fault('begin');
    await this.sql.begin(async (tx) => {
      // No wait for PostgreSQL's WAL flush at COMMIT: a database crash can lose the last batches, but
      // their checkpoint row goes with them (same transaction), so the replicator writes them again
      // from the journal, the source of truth. Rows are never half there.
      await tx`SET LOCAL synchronous_commit = off`;
      const cp = await tx`SELECT seq FROM replication_checkpoint WHERE name = ${this.name} FOR UPDATE`;
      if (cp.length === 0 || Number(cp[0]!.seq) !== from) {
        throw new CheckpointMovedError(`checkpoint ${this.name} is ${cp.length === 0 ? 'missing' : cp[0]!.seq}, expected ${from}: another writer?`);
      }
      this.fault('orders-new');
      await this.writeNewOrders(tx as unknown as Sql, batch);
      this.fault('orders-update');
      await this.updateOrders(tx as unknown as Sql, batch);
      this.fault('trades');
      await this.writeTrades(tx as unknown as Sql, batch);
      this.fault('positions');
      await this.upsertPositions(tx as unknown as Sql, batch);
      this.fault('balances');
      await this.upsertBalances(tx as unknown as Sql, batch);
      this.fault('candles');
      await this.upsertCandles(tx as unknown as Sql, candles);
      this.fault('checkpoint');
      await tx`UPDATE replication_checkpoint SET seq = ${batch.lastSeq}, records = records + ${records.length}, updated_at = now()
        WHERE name = ${this.name}`;
      this.fault('commit');
    });
    this.fault('after-commit');
    this.checkpoint = batch.lastSeq;
    this.stats.batches++;
    this.stats.records += records.length;
    let ev = 0;
    for (const r of records) ev += eventCount(r);
    this.stats.events += ev;
    if (this.o.onCommit !== undefined) {
      this.o.onCommit(records, { fromSeqExclusive: from, toSeq: batch.lastSeq, events: ev, committedWallUs: nowUs(), writeUs: (performance.now() - t0) * 1000 });
    }
  }

  private async writeNewOrders(tx: Sql, b: Batch): Promise<void> {
    const rows = [...b.orders.values()].filter((c) => c.isNew);
    if (rows.length === 0) return;
    if (this.o.writeMode === 'insert') {
      const col = <K extends keyof (typeof rows)[number]>(k: K): Array<(typeof rows)[number][K]> => rows.map((r) => r[k]);
      await tx`INSERT INTO orders (order_id, instrument_id, account_id, client_order_id, client_order_text, side, order_type, time_in_force, flags,
          price_ticks, stop_price_ticks, qty_lots, quote_qty_units, remaining_lots, filled_lots, filled_notional_units, fee_units,
          status, end_reason, triggered, expires_at, created_at, updated_at, created_seq, updated_seq)
        SELECT id, inst, acc, cid, NULLIF(ctext, ''), side, otype, tif, flags, px, stop, qty, qq, rem, filled, notional, fee, status,
          NULLIF(er, -1)::smallint, trig <> 0, CASE WHEN exp = 0 THEN NULL ELSE ${tx.unsafe(TS('exp'))} END,
          ${tx.unsafe(TS('cts'))}, ${tx.unsafe(TS('uts'))}, cseq, useq
        FROM unnest(${intArray(col('orderId'))}::int8[], ${intArray(col('instrumentId'))}::int4[], ${intArray(col('accountId'))}::int8[], ${intArray(col('clientOrderId'))}::int8[],
          ${textArray(rows.map((r) => r.clientText ?? ''))}::text[], ${textArray(rows.map((r) => SIDE_NAMES[r.side] ?? 'buy'))}::text[], ${textArray(rows.map((r) => ORDER_TYPE_NAMES[r.orderType] ?? 'limit'))}::text[],
          ${textArray(rows.map((r) => TIF_NAMES[r.tif] ?? 'GTC'))}::text[], ${intArray(col('flags'))}::int4[], ${intArray(col('priceTicks'))}::int8[],
          ${intArray(col('stopPriceTicks'))}::int8[], ${intArray(col('qtyLots'))}::int8[], ${intArray(col('quoteQtyUnits'))}::int8[], ${intArray(col('remainingLots'))}::int8[],
          ${intArray(col('filledLots'))}::int8[], ${intArray(col('filledNotionalUnits'))}::int8[], ${intArray(col('feeUnits'))}::int8[],
          ${textArray(rows.map((r) => orderStatus(r.terminal, r.filledLots, r.remainingLots)))}::text[], ${intArray(col('endReason'))}::int4[],
          ${intArray(rows.map((r) => (r.triggered ? 1 : 0)))}::int4[], ${intArray(col('expireTsUs'))}::int8[], ${intArray(col('createdTsUs'))}::int8[], ${intArray(col('updatedTsUs'))}::int8[],
          ${intArray(col('createdSeq'))}::int8[], ${intArray(col('updatedSeq'))}::int8[])
          AS d(id, inst, acc, cid, ctext, side, otype, tif, flags, px, stop, qty, qq, rem, filled, notional, fee, status, er, trig, exp,
               cts, uts, cseq, useq)`;
      return;
    }
    await copyIn(tx, `COPY orders (order_id, instrument_id, account_id, client_order_id, client_order_text, side, order_type, time_in_force, flags,
      price_ticks, stop_price_ticks, qty_lots, quote_qty_units, remaining_lots, filled_lots, filled_notional_units, fee_units,
      status, end_reason, triggered, expires_at, created_at, updated_at, created_seq, updated_seq) FROM STDIN`, rows, (r) =>
      `${r.orderId}\t${r.instrumentId}\t${r.accountId}\t${r.clientOrderId}\t${copyText(r.clientText)}\t${SIDE_NAMES[r.side] ?? 'buy'}\t`
        + `${ORDER_TYPE_NAMES[r.orderType] ?? 'limit'}\t${TIF_NAMES[r.tif] ?? 'GTC'}\t${r.flags}\t${r.priceTicks}\t${r.stopPriceTicks}\t`
        + `${r.qtyLots}\t${r.quoteQtyUnits}\t${r.remainingLots}\t${r.filledLots}\t${r.filledNotionalUnits}\t${r.feeUnits}\t`
        + `${orderStatus(r.terminal, r.filledLots, r.remainingLots)}\t${r.endReason < 0 ? '\\N' : r.endReason}\t${r.triggered ? 't' : 'f'}\t`
        + `${r.expireTsUs === 0 ? '\\N' : isoMicros(r.expireTsUs)}\t${isoMicros(r.createdTsUs)}\t${isoMicros(r.updatedTsUs)}\t`
        + `${r.createdSeq}\t${r.updatedSeq}`);
  }

  private async updateOrders(tx: Sql, b: Batch): Promise<void> {
    const rows = [...b.orders.values()].filter((c) => !c.isNew);
    if (rows.length === 0) return;
    const col = <K extends keyof (typeof rows)[number]>(k: K): Array<(typeof rows)[number][K]> => rows.map((r) => r[k]);
    await tx`UPDATE orders o SET
        filled_lots = o.filled_lots + d.dfilled,
        filled_notional_units = o.filled_notional_units + d.dnotional,
        fee_units = o.fee_units + d.dfee,
        remaining_lots = CASE WHEN d.rem < 0 THEN o.remaining_lots ELSE d.rem END,
        price_ticks = CASE WHEN d.px < 0 THEN o.price_ticks ELSE d.px END,
        stop_price_ticks = CASE WHEN d.stop < 0 THEN o.stop_price_ticks ELSE d.stop END,
        qty_lots = CASE WHEN d.qty < 0 THEN o.qty_lots ELSE d.qty END,
        triggered = o.triggered OR d.trig <> 0,
        status = CASE WHEN d.term <> '' THEN d.term
                      WHEN o.status IN ('canceled', 'expired') THEN o.status
                      WHEN o.filled_lots + d.dfilled = 0 THEN 'new'
                      WHEN (CASE WHEN d.rem < 0 THEN o.remaining_lots ELSE d.rem END) = 0 THEN 'filled'
                      ELSE 'partially_filled' END,
        end_reason = CASE WHEN d.er < 0 THEN o.end_reason ELSE d.er::smallint END,
        updated_at = ${tx.unsafe(TS('d.uts'))},
        updated_seq = d.useq
      FROM unnest(${intArray(col('orderId'))}::int8[], ${intArray(col('filledLots'))}::int8[], ${intArray(col('filledNotionalUnits'))}::int8[], ${intArray(col('feeUnits'))}::int8[],
        ${intArray(col('remainingLots'))}::int8[], ${intArray(col('priceTicks'))}::int8[], ${intArray(col('stopPriceTicks'))}::int8[], ${intArray(col('qtyLots'))}::int8[],
        ${intArray(rows.map((r) => (r.triggered ? 1 : 0)))}::int4[], ${textArray(col('terminal'))}::text[], ${intArray(col('endReason'))}::int4[], ${intArray(col('updatedTsUs'))}::int8[],
        ${intArray(col('updatedSeq'))}::int8[])
        AS d(id, dfilled, dnotional, dfee, rem, px, stop, qty, trig, term, er, uts, useq)
      WHERE o.order_id = d.id`;
  }

  private async writeTrades(tx: Sql, b: Batch): Promise<void> {
    const rows = b.trades;
    if (rows.length === 0) return;
    if (this.o.writeMode === 'insert') {
      const col = <K extends keyof (typeof rows)[number]>(k: K): Array<(typeof rows)[number][K]> => rows.map((r) => r[k]);
      await tx`INSERT INTO trades (ts, instrument_id, trade_id, seq, price_ticks, qty_lots, notional_units, taker_side, maker_order_id,
          maker_account_id, taker_order_id, taker_account_id, maker_fee_units, taker_fee_units)
        SELECT ${tx.unsafe(TS('ts'))}, inst, tid, seq, px, qty, notional, side, mo, ma, tko, tka, mf, tf
        FROM unnest(${intArray(col('tsUs'))}::int8[], ${intArray(col('instrumentId'))}::int4[], ${intArray(col('tradeId'))}::int8[], ${intArray(col('seq'))}::int8[],
          ${intArray(col('priceTicks'))}::int8[], ${intArray(col('qtyLots'))}::int8[], ${intArray(col('notionalUnits'))}::int8[],
          ${textArray(rows.map((r) => SIDE_NAMES[r.takerSide] ?? 'buy'))}::text[], ${intArray(col('makerOrderId'))}::int8[], ${intArray(col('makerAccountId'))}::int8[],
          ${intArray(col('takerOrderId'))}::int8[], ${intArray(col('takerAccountId'))}::int8[], ${intArray(col('makerFeeUnits'))}::int8[], ${intArray(col('takerFeeUnits'))}::int8[])
          AS d(ts, inst, tid, seq, px, qty, notional, side, mo, ma, tko, tka, mf, tf)`;
      return;
    }
    await copyIn(tx, `COPY trades (ts, instrument_id, trade_id, seq, price_ticks, qty_lots, notional_units, taker_side, maker_order_id,
      maker_account_id, taker_order_id, taker_account_id, maker_fee_units, taker_fee_units) FROM STDIN`, rows, (r) =>
      `${isoMicros(r.tsUs)}\t${r.instrumentId}\t${r.tradeId}\t${r.seq}\t${r.priceTicks}\t${r.qtyLots}\t${r.notionalUnits}\t`
        + `${SIDE_NAMES[r.takerSide] ?? 'buy'}\t${r.makerOrderId}\t${r.makerAccountId}\t${r.takerOrderId}\t${r.takerAccountId}\t`
        + `${r.makerFeeUnits}\t${r.takerFeeUnits}`);
  }

  private async upsertPositions(tx: Sql, b: Batch): Promise<void> {
    const rows = [...b.positions.values()];
    if (rows.length === 0) return;
    const col = <K extends keyof (typeof rows)[number]>(k: K): Array<(typeof rows)[number][K]> => rows.map((r) => r[k]);
    await tx`INSERT INTO positions AS p (account_id, instrument_id, net_lots, bought_lots, sold_lots, buy_notional_units,
        sell_notional_units, fee_units, trade_count, updated_at, updated_seq)
      SELECT acc, inst, net, bought, sold, bn, sn, fee, n, ${tx.unsafe(TS('uts'))}, useq
      FROM unnest(${intArray(col('accountId'))}::int8[], ${intArray(col('instrumentId'))}::int4[], ${intArray(col('netLots'))}::int8[], ${intArray(col('boughtLots'))}::int8[],
        ${intArray(col('soldLots'))}::int8[], ${intArray(col('buyNotionalUnits'))}::int8[], ${intArray(col('sellNotionalUnits'))}::int8[], ${intArray(col('feeUnits'))}::int8[],
        ${intArray(col('tradeCount'))}::int8[], ${intArray(col('updatedTsUs'))}::int8[], ${intArray(col('updatedSeq'))}::int8[])
        AS d(acc, inst, net, bought, sold, bn, sn, fee, n, uts, useq)
      ON CONFLICT (account_id, instrument_id) DO UPDATE SET
        net_lots = p.net_lots + EXCLUDED.net_lots, bought_lots = p.bought_lots + EXCLUDED.bought_lots,
        sold_lots = p.sold_lots + EXCLUDED.sold_lots, buy_notional_units = p.buy_notional_units + EXCLUDED.buy_notional_units,
        sell_notional_units = p.sell_notional_units + EXCLUDED.sell_notional_units, fee_units = p.fee_units + EXCLUDED.fee_units,
        trade_count = p.trade_count + EXCLUDED.trade_count, updated_at = EXCLUDED.updated_at, updated_seq = EXCLUDED.updated_seq`;
  }

  private async upsertBalances(tx: Sql, b: Batch): Promise<void> {
    const rows = [...b.balances.values()];
    if (rows.length === 0) return;
    const col = <K extends keyof (typeof rows)[number]>(k: K): Array<(typeof rows)[number][K]> => rows.map((r) => r[k]);
    await tx`INSERT INTO account_balances AS a (account_id, asset, available_units, locked_units, updated_at, updated_seq)
      SELECT acc, asset, av, lk, ${tx.unsafe(TS('uts'))}, useq
      FROM unnest(${intArray(col('accountId'))}::int8[], ${textArray(col('asset'))}::text[], ${intArray(col('availableUnits'))}::int8[], ${intArray(col('lockedUnits'))}::int8[],
        ${intArray(col('updatedTsUs'))}::int8[], ${intArray(col('updatedSeq'))}::int8[]) AS d(acc, asset, av, lk, uts, useq)
      ON CONFLICT (account_id, asset) DO UPDATE SET available_units = EXCLUDED.available_units,
        locked_units = EXCLUDED.locked_units, updated_at = EXCLUDED.updated_at, updated_seq = EXCLUDED.updated_seq`;
  }

  private async upsertCandles(tx: Sql, rows: readonly Candle[]): Promise<void> {
    if (rows.length === 0) return;
    const exchange = this.o.exchange ?? 'engine';
    const ids = new Map<string, number>();
    for (const [id, s] of this.symbols) ids.set(s, id);
    const col = <K extends keyof Candle>(k: K): Array<Candle[K]> => rows.map((r) => r[k]);
    await tx`INSERT INTO market_data AS m (time, symbol, exchange, timeframe, instrument_id, open_ticks, high_ticks, low_ticks,
        close_ticks, volume_lots, quote_volume_units, trades_count)
      SELECT ${tx.unsafe(TS('t'))}, sym, ${exchange}, tf, inst, o, h, l, c, v, qv, n
      FROM unnest(${intArray(col('openTimeUs'))}::int8[], ${textArray(col('symbol'))}::text[], ${textArray(col('interval'))}::text[],
        ${intArray(rows.map((r) => ids.get(r.symbol) ?? 0))}::int4[], ${intArray(col('openTicks'))}::int8[], ${intArray(col('highTicks'))}::int8[],
        ${intArray(col('lowTicks'))}::int8[], ${intArray(col('closeTicks'))}::int8[], ${intArray(col('volumeLots'))}::int8[], ${intArray(col('quoteVolumeUnits'))}::int8[],
        ${intArray(col('tradeCount'))}::int8[]) AS d(t, sym, tf, inst, o, h, l, c, v, qv, n)
      ON CONFLICT (time, symbol, exchange, timeframe) DO UPDATE SET
        high_ticks = GREATEST(m.high_ticks, EXCLUDED.high_ticks), low_ticks = LEAST(m.low_ticks, EXCLUDED.low_ticks),
        close_ticks = EXCLUDED.close_ticks, volume_lots = m.volume_lots + EXCLUDED.volume_lots,
        quote_volume_units = m.quote_volume_units + EXCLUDED.quote_volume_units, trades_count = m.trades_count + EXCLUDED.trades_count`;
  }
}

/**
 * A nullable text in COPY's text format: \N for null, and backslash, tab, newline and carriage return
 * escaped (a packed client text cannot hold them: its alphabet is [-./0-9:A-Z_a-z]; this is defence).
 */
function copyText(v: string | null): string {
  if (v === null || v === '') return '\\N';
  return /[\\\t\n\r]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : v;
}

/** Engine time of the first record that has one (an events record can be empty); else now. */
function firstTsUs(recs: readonly ReplicationRecord[]): number {
  for (const r of recs) {
    const ts = recordTsUs(r);
    if (ts > 0) return ts;
  }
  return nowUs();
}

/**
 * COPY ... FROM STDIN with text-format lines (`line` escapes; our values need none). Lines are
 * formatted a chunk at a time, each chunk written as soon as it is ready, so PostgreSQL parses one
 * chunk while the next is being formatted (formatting everything first made the two take turns).
 */
async function copyIn<R>(tx: Sql, statement: string, rows: readonly R[], line: (row: R) => string): Promise<void> {
  const stream = await tx.unsafe(statement).writable();
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', () => resolve());
    stream.on('error', reject);
  });
  const CHUNK = 1000;
  for (let i = 0; i < rows.length; i += CHUNK) {
    let part = '';
    const end = Math.min(rows.length, i + CHUNK);
    for (let k = i; k < end; k++) part += `${line(rows[k]!)}\n`;
    if (!stream.write(part)) await new Promise<void>((r) => stream.once('drain', () => r()));
  }
  stream.end();
  await done;
}
