// Which instrument configuration wrote a data dir. The journal file's `engine_meta` table holds a
// canonical JSON of every instrument spec field (and the ledger's asset order) and its SHA-256; at
// start (Engine.start, before any snapshot is restored) the engine's configuration is compared with
// it. A journal replays to the live state only under the configuration it was written with (fees,
// capacities, limits and bands decide what a command does; the ledger's snapshot holds the
// instrument count and indexes orders and balances by instrument and asset position), so any
// difference refuses the start with an InstrumentConfigError naming each change, except one:
// instruments appended after all existing ones (with any new assets appended after the existing
// ones). Positions of everything that existed stay the same, so the journal written before the
// addition means the same under the larger configuration; only the state dumps' shape differs (one
// entry per instrument and asset). The addition opens a configuration epoch (`instrument_epochs`:
// the configuration in force from seq S on, recorded as the counts of instruments and assets, a
// prefix of the current configuration, and that prefix's hash), and every reader of snapshots
// restores a snapshot under the epoch in force at its seq, then grows the state into the next
// epoch's shape where the journal crosses into it (persistence/replayer.ts, snapshot-recovery.ts;
// docs/runtime.md "Snapshots and recovery"). A journal without a record (new, or written before
// this version) gets one.

import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { InstrumentSpec } from '../core/instrument.js';
import { lastSeq } from './journal.js';

/** engine_meta keys. */
export const META_INSTRUMENTS = 'instruments';
export const META_INSTRUMENTS_HASH = 'instruments_sha256';
/** JSON InstrumentEpochRecord[], oldest first (absent before the first addition: one epoch from seq 1). */
export const META_EPOCHS = 'instrument_epochs';
/** Version of the canonical form (bumped if its fields change; a different version is a change). */
export const FINGERPRINT_VERSION = 1;
/** OrderBook's default when maxTriggersPerCommand is unset (core/book.ts), so unset == explicit 100. */
const DEFAULT_MAX_TRIGGERS = 100;

/** Every InstrumentSpec field, in the canonical order. All of them can change what a replay does. */
export const FINGERPRINT_FIELDS = [
  'id', 'symbol', 'baseAsset', 'quoteAsset', 'tickSize', 'lotSize', 'notionalUnitsPerTickLot', 'baseUnitsPerLot',
  'baseDecimals', 'quoteDecimals', 'minPriceTicks', 'maxPriceTicks', 'minQtyLots', 'maxQtyLots', 'minNotionalUnits',
  'maxNotionalUnits', 'priceBandBps', 'marketBandBps', 'referencePriceTicks', 'makerFeePpm', 'takerFeePpm',
  'maxOpenOrdersPerAccount', 'maxPositionLots', 'orderCapacity', 'clientIdRetention', 'minDisplayQtyLots',
  'maxTriggersPerCommand',
] as const satisfies readonly (keyof InstrumentSpec)[];

type Field = typeof FINGERPRINT_FIELDS[number];
type CanonicalSpec = Record<Field, string | number | null>;

export interface InstrumentFingerprint {
  v: number;
  /** The ledger's asset order (LedgerOptions.assets, then each instrument's base and quote). */
  assets: string[];
  /** In configuration order (the ledger refers to instruments by position). */
  instruments: CanonicalSpec[];
}

export interface InstrumentConfigChange {
  kind: 'added' | 'removed' | 'changed' | 'reordered' | 'assets' | 'version';
  /** Instrument id and symbol (added, removed, changed). */
  id?: number;
  symbol?: string;
  field?: string;
  old?: unknown;
  new?: unknown;
  /** One line for people. */
  text: string;
}

/** The start was refused: the data dir was written under another instrument configuration. */
export class InstrumentConfigError extends Error {
  override readonly name = 'InstrumentConfigError';
  readonly code = 'instrument-config-changed';
  constructor(readonly journalPath: string, readonly changes: InstrumentConfigChange[]) {
    super(`${journalPath} was written under another instrument configuration; refusing to start (a replay would not reproduce the recorded state): ${changes.map((c) => c.text).join('; ')}. Start with the recorded configuration, or on a new data dir.`);
  }
}

/** The ledger's asset order for these instruments and extra assets (as gateway/ledger.ts builds it). */
export function ledgerAssetOrder(instruments: readonly InstrumentSpec[], extraAssets: readonly string[] = []): string[] {
  const out: string[] = [];
  const add = (a: string): void => { if (!out.includes(a)) out.push(a); };
  for (const a of extraAssets) add(a);
  for (const s of instruments) { add(s.baseAsset); add(s.quoteAsset); }
  return out;
}

export function instrumentFingerprint(instruments: readonly InstrumentSpec[], extraAssets: readonly string[] = []): InstrumentFingerprint {
  return {
    v: FINGERPRINT_VERSION,
    assets: ledgerAssetOrder(instruments, extraAssets),
    instruments: instruments.map((s) => {
      const c = {} as CanonicalSpec;
      for (const f of FINGERPRINT_FIELDS) {
        const v = f === 'maxTriggersPerCommand' ? (s.maxTriggersPerCommand ?? DEFAULT_MAX_TRIGGERS) : s[f];
        c[f] = v === undefined ? null : v;
      }
      return c;
    }),
  };
}

export function fingerprintJson(fp: InstrumentFingerprint): string {
  return JSON.stringify(fp);
}

export function fingerprintHash(json: string): string {
  return createHash('sha256').update(json).digest('hex');
}

/** What differs between the recorded and the configured fingerprints (empty = the same). */
export function diffFingerprints(old: InstrumentFingerprint, now: InstrumentFingerprint): InstrumentConfigChange[] {
  const out: InstrumentConfigChange[] = [];
  if (old.v !== now.v) out.push({ kind: 'version', old: old.v, new: now.v, text: `fingerprint version ${old.v} -> ${now.v}` });
  const oldById = new Map(old.instruments.map((s) => [s.id as number, s]));
  const nowById = new Map(now.instruments.map((s) => [s.id as number, s]));
  for (const [id, s] of oldById) {
    if (!nowById.has(id)) out.push({ kind: 'removed', id, symbol: String(s.symbol), text: `instrument ${s.symbol} (id ${id}) removed` });
  }
  // Where the last instrument that existed before stands in the new order: an addition ahead of it is
  // not an append (it would move instruments the journal refers to by position).
  let lastOld = -1;
  now.instruments.forEach((s, i) => { if (oldById.has(s.id as number)) lastOld = i; });
  now.instruments.forEach((s, i) => {
    const id = s.id as number;
    const o = oldById.get(id);
    if (o === undefined) {
      out.push({ kind: 'added', id, symbol: String(s.symbol),
        text: i < lastOld ? `instrument ${s.symbol} (id ${id}) added before existing instruments (only instruments after all existing ones can be added)` : `instrument ${s.symbol} (id ${id}) added` });
      return;
    }
    for (const f of FINGERPRINT_FIELDS) {
      const a = o[f] ?? null, b = s[f] ?? null;
      if (a !== b) out.push({ kind: 'changed', id, symbol: String(o.symbol), field: f, old: a, new: b, text: `${o.symbol} (id ${id}) ${f}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}` });
    }
  });
  const common = (l: CanonicalSpec[], other: Map<number, CanonicalSpec>): number[] => l.map((s) => s.id as number).filter((id) => other.has(id));
  const oldOrder = common(old.instruments, nowById), nowOrder = common(now.instruments, oldById);
  if (oldOrder.join() !== nowOrder.join()) out.push({ kind: 'reordered', old: oldOrder, new: nowOrder, text: `instrument order (ids) ${oldOrder.join(',')} -> ${nowOrder.join(',')}` });
  if (old.assets.join('\u0000') !== now.assets.join('\u0000')) out.push({ kind: 'assets', old: old.assets, new: now.assets, text: `ledger assets ${old.assets.join(',')} -> ${now.assets.join(',')}` });
  return out;
}

/**
 * Whether `now` only appends to `old`: every recorded instrument unchanged at its position, at least
 * one instrument after them, and the recorded asset order a prefix of the new one.
 */
export function isAppendOnly(old: InstrumentFingerprint, now: InstrumentFingerprint): boolean {
  if (old.v !== now.v || now.instruments.length <= old.instruments.length || now.assets.length < old.assets.length) return false;
  for (let i = 0; i < old.instruments.length; i++) {
    const a = old.instruments[i]!, b = now.instruments[i]!;
    for (const f of FINGERPRINT_FIELDS) if ((a[f] ?? null) !== (b[f] ?? null)) return false;
  }
  for (let i = 0; i < old.assets.length; i++) if (old.assets[i] !== now.assets[i]) return false;
  const oldIds = new Set(old.instruments.map((s) => s.id));
  return now.instruments.slice(old.instruments.length).every((s) => !oldIds.has(s.id));
}

/**
 * A configuration epoch as recorded: the configuration in force for journal seqs >= fromSeq (up to
 * the next epoch's). Each epoch's configuration is a prefix of the next one's (only appends are
 * accepted): its first `instruments` instruments and first `assets` ledger assets, whose fingerprint
 * hashes to `sha256`.
 */
export interface InstrumentEpochRecord { fromSeq: number; instruments: number; assets: number; sha256: string }

/** An epoch resolved against a configuration: what a replay of its seqs runs under. */
export interface InstrumentEpoch {
  fromSeq: number;
  instruments: readonly InstrumentSpec[];
  /** The ledger's asset order (as LedgerOptions.assets it gives the same order). */
  assets: readonly string[];
}

function readMeta(journalPath: string): Map<string, string> {
  const db = new Database(journalPath, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'engine_meta'").get() === undefined) return new Map();
    return new Map((db.prepare('SELECT key, value FROM engine_meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
  } finally {
    db.close();
  }
}

function epochsOf(meta: Map<string, string>, recHash: string, old: InstrumentFingerprint): InstrumentEpochRecord[] {
  const json = meta.get(META_EPOCHS);
  if (json === undefined) return [{ fromSeq: 1, instruments: old.instruments.length, assets: old.assets.length, sha256: recHash }];
  return JSON.parse(json) as InstrumentEpochRecord[];
}

/**
 * The configuration epochs recorded in the journal file at `journalPath`, oldest first; [] when it
 * has no record (or does not exist). A record from before the first addition is one epoch from seq 1.
 */
export function readInstrumentEpochs(journalPath: string): InstrumentEpochRecord[] {
  if (!existsSync(journalPath)) return [];
  const meta = readMeta(journalPath);
  const json = meta.get(META_INSTRUMENTS);
  if (json === undefined) return [];
  const old = JSON.parse(json) as InstrumentFingerprint;
  return epochsOf(meta, meta.get(META_INSTRUMENTS_HASH) ?? fingerprintHash(json), old);
}

/**
 * The recorded epochs as configurations: each a prefix of `instruments` (and of the ledger asset
 * order with `extraAssets`), checked against the hash recorded for it. No record: one epoch, the
 * configuration itself. Throws InstrumentConfigError when an epoch is not a prefix of this
 * configuration (a reader started with another configuration than the engine's).
 */
export function resolveInstrumentEpochs(records: readonly InstrumentEpochRecord[], instruments: readonly InstrumentSpec[],
  extraAssets: readonly string[] = [], journalPath = 'journal'): InstrumentEpoch[] {
  const order = ledgerAssetOrder(instruments, extraAssets);
  if (records.length === 0) return [{ fromSeq: 1, instruments, assets: order }];
  return records.map((r, e) => {
    const ins = instruments.slice(0, r.instruments), assets = order.slice(0, r.assets);
    const h = fingerprintHash(fingerprintJson(instrumentFingerprint(ins, assets)));
    if (r.instruments > instruments.length || r.assets > order.length || h !== r.sha256) {
      throw new InstrumentConfigError(journalPath, [{ kind: 'version', old: r.sha256, new: h,
        text: `configuration epoch ${e} (from seq ${r.fromSeq}: ${r.instruments} instruments, ${r.assets} assets) is not the start of this configuration (sha256 ${r.sha256} recorded, ${h} here)` }]);
    }
    return { fromSeq: r.fromSeq, instruments: ins, assets };
  });
}

/** The index of the epoch whose configuration the state after `seq` is in (the first one for seq 0). */
export function epochIndexAt(epochs: readonly { fromSeq: number }[], seq: number): number {
  let e = 0;
  while (e + 1 < epochs.length && epochs[e + 1]!.fromSeq <= seq) e++;
  return e;
}

export interface FingerprintCheck {
  /**
   * 'match': the record equals the configuration; 'recorded': there was none, it was written now (or is `pending`);
   * 'extended': instruments were appended, a new epoch starts at `fromSeq`.
   */
  status: 'match' | 'recorded' | 'extended';
  /** When recorded: whether the journal already held records or snapshots (a data dir from before this version). */
  legacy: boolean;
  hash: string;
  /** When extended: the first seq of the new configuration, and what it added. */
  fromSeq?: number;
  added?: { instruments: { id: number; symbol: string }[]; assets: string[] };
  /** With `defer` ('recorded', 'extended'): the record not yet written (recordInstrumentFingerprint). */
  pending?: PendingFingerprint;
  /**
   * With `defer`: the log line of the new or extended record, not yet written to `log`; the caller
   * logs it once the record is written, so a start that fails never claims a configuration it did
   * not record.
   */
  notice?: { fields: Record<string, unknown>; msg: string };
}

/**
 * A record checkInstrumentFingerprint decided on but left to the caller to write: Engine.start
 * writes it only once the start it applies to has its starting point and its shards (a start that
 * fails before leaves the data dir under the recorded configuration, which can start again).
 */
export interface PendingFingerprint {
  json: string;
  hash: string;
  /** The epochs with the new one ('extended'; what loadStartingPoint runs under); null: none to write. */
  epochs: InstrumentEpochRecord[] | null;
}

/** Writes a pending record, all of its keys in one transaction (a crash leaves the old record or the new one). */
export function recordInstrumentFingerprint(journalPath: string, pending: PendingFingerprint): void {
  const db = new Database(journalPath, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    writeRecord(db, pending);
  } finally {
    db.close();
  }
}

function writeRecord(db: Database.Database, p: PendingFingerprint): void {
  const put = db.prepare('INSERT OR REPLACE INTO engine_meta (key, value) VALUES (?, ?)');
  db.transaction(() => {
    put.run(META_INSTRUMENTS, p.json);
    put.run(META_INSTRUMENTS_HASH, p.hash);
    if (p.epochs !== null) put.run(META_EPOCHS, JSON.stringify(p.epochs));
  })();
}

/**
 * Compares the instrument configuration with the one recorded in the journal file at `journalPath`
 * (which must exist: Engine.start opens the journal first), or records it when there is none.
 * Throws InstrumentConfigError when they differ, unless the configuration only appends instruments
 * (and assets): then it is recorded as a new epoch from `nextSeq` (default: the seq after the
 * journal's last), and logged. Its own short-lived connection. `defer`: a new or extended record is
 * not written but returned as `pending`, and its log line as `notice` (Engine.start writes and logs
 * them when the start has succeeded).
 */
export function checkInstrumentFingerprint(journalPath: string, instruments: readonly InstrumentSpec[], extraAssets: readonly string[] = [],
  log?: (fields: Record<string, unknown>, msg: string) => void, nextSeq?: number, defer = false): FingerprintCheck {
  const fp = instrumentFingerprint(instruments, extraAssets);
  const json = fingerprintJson(fp);
  const hash = fingerprintHash(json);
  const db = new Database(journalPath, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    db.exec('CREATE TABLE IF NOT EXISTS engine_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    const get = db.prepare('SELECT value FROM engine_meta WHERE key = ?');
    const row = get.get(META_INSTRUMENTS) as { value: string } | undefined;
    if (row === undefined) {
      const pending: PendingFingerprint = { json, hash, epochs: null };
      if (!defer) writeRecord(db, pending);
      const legacy = db.prepare('SELECT 1 FROM journal LIMIT 1').get() !== undefined || db.prepare('SELECT 1 FROM snapshots LIMIT 1').get() !== undefined;
      const notice = { fields: { journal: journalPath, instruments: instruments.length, sha256: hash, legacy },
        msg: legacy ? 'journal written before instrument fingerprints: recorded the current instrument configuration (it is taken to be the one the journal was written with)'
          : 'new journal: recorded the instrument configuration' };
      if (!defer) log?.(notice.fields, notice.msg);
      return { status: 'recorded', legacy, hash, ...(defer ? { pending, notice } : {}) };
    }
    const recHash = (get.get(META_INSTRUMENTS_HASH) as { value: string } | undefined)?.value ?? fingerprintHash(row.value);
    if (recHash === hash && row.value === json) return { status: 'match', legacy: false, hash };
    let old: InstrumentFingerprint;
    try {
      old = JSON.parse(row.value) as InstrumentFingerprint;
      if (!Array.isArray(old.instruments) || !Array.isArray(old.assets)) throw new Error('not a fingerprint');
    } catch (e) {
      throw new InstrumentConfigError(journalPath, [{ kind: 'version', text: `the recorded configuration cannot be read (${(e as Error).message})` }]);
    }
    if (isAppendOnly(old, fp)) {
      // A new epoch from the next seq: everything journaled so far was under the recorded one. An
      // epoch that never got a record (a start that stopped before any) is replaced.
      const from = Math.max(1, nextSeq ?? lastSeq(journalPath) + 1);
      const epochs = epochsOf(new Map((db.prepare('SELECT key, value FROM engine_meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value])), recHash, old);
      while (epochs.length > 0 && epochs[epochs.length - 1]!.fromSeq >= from) epochs.pop();
      epochs.push({ fromSeq: from, instruments: fp.instruments.length, assets: fp.assets.length, sha256: hash });
      const pending: PendingFingerprint = { json, hash, epochs };
      if (!defer) writeRecord(db, pending);
      const added = {
        instruments: fp.instruments.slice(old.instruments.length).map((s) => ({ id: s.id as number, symbol: String(s.symbol) })),
        assets: fp.assets.slice(old.assets.length),
      };
      const notice = { fields: { journal: journalPath, fromSeq: from, epoch: epochs.length - 1, added, sha256: hash },
        msg: `instrument configuration extended: ${added.instruments.map((s) => `${s.symbol} (id ${s.id})`).join(', ')}${added.assets.length > 0 ? `, assets ${added.assets.join(', ')}` : ''} added from seq ${from}` };
      if (!defer) log?.(notice.fields, notice.msg);
      return { status: 'extended', legacy: false, hash, fromSeq: from, added, ...(defer ? { pending, notice } : {}) };
    }
    const changes = diffFingerprints(old, fp);
    if (changes.length === 0) changes.push({ kind: 'version', old: recHash, new: hash, text: `recorded sha256 ${recHash} -> ${hash}` });
    throw new InstrumentConfigError(journalPath, changes);
  } finally {
    db.close();
  }
}
