// Which instrument configuration wrote a data dir. The journal file's `engine_meta` table holds a
// canonical JSON of every instrument spec field (and the ledger's asset order) and its SHA-256; at
// start (Engine.start, before any snapshot is restored) the engine's configuration is compared with
// it. A journal replays to the live state only under the configuration it was written with (fees,
// capacities, limits and bands decide what a command does; the ledger's snapshot holds the
// instrument count and indexes orders and balances by instrument and asset position), so any
// difference refuses the start with an InstrumentConfigError naming each change. There is no
// "add instruments" escape: the ledger's state dump holds one entry per instrument, so every
// snapshot recorded before the addition would fail its hash check on replay (docs/runtime.md
// "Snapshots and recovery"). A journal without a record (new, or written before this version) gets
// one.

import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import type { InstrumentSpec } from '../core/instrument.js';

/** engine_meta keys. */
export const META_INSTRUMENTS = 'instruments';
export const META_INSTRUMENTS_HASH = 'instruments_sha256';
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
  for (const [id, s] of nowById) {
    const o = oldById.get(id);
    if (o === undefined) { out.push({ kind: 'added', id, symbol: String(s.symbol), text: `instrument ${s.symbol} (id ${id}) added` }); continue; }
    for (const f of FINGERPRINT_FIELDS) {
      const a = o[f] ?? null, b = s[f] ?? null;
      if (a !== b) out.push({ kind: 'changed', id, symbol: String(o.symbol), field: f, old: a, new: b, text: `${o.symbol} (id ${id}) ${f}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}` });
    }
  }
  const common = (l: CanonicalSpec[], other: Map<number, CanonicalSpec>): number[] => l.map((s) => s.id as number).filter((id) => other.has(id));
  const oldOrder = common(old.instruments, nowById), nowOrder = common(now.instruments, oldById);
  if (oldOrder.join() !== nowOrder.join()) out.push({ kind: 'reordered', old: oldOrder, new: nowOrder, text: `instrument order (ids) ${oldOrder.join(',')} -> ${nowOrder.join(',')}` });
  if (old.assets.join('\u0000') !== now.assets.join('\u0000')) out.push({ kind: 'assets', old: old.assets, new: now.assets, text: `ledger assets ${old.assets.join(',')} -> ${now.assets.join(',')}` });
  return out;
}

export interface FingerprintCheck {
  /** 'match': the record equals the configuration; 'recorded': there was none, it was written now. */
  status: 'match' | 'recorded';
  /** When recorded: whether the journal already held records or snapshots (a data dir from before this version). */
  legacy: boolean;
  hash: string;
}

/**
 * Compares the instrument configuration with the one recorded in the journal file at `journalPath`
 * (which must exist: Engine.start opens the journal first), or records it when there is none.
 * Throws InstrumentConfigError when they differ. Its own short-lived connection.
 */
export function checkInstrumentFingerprint(journalPath: string, instruments: readonly InstrumentSpec[], extraAssets: readonly string[] = [],
  log?: (fields: Record<string, unknown>, msg: string) => void): FingerprintCheck {
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
      const put = db.prepare('INSERT OR REPLACE INTO engine_meta (key, value) VALUES (?, ?)');
      db.transaction(() => { put.run(META_INSTRUMENTS, json); put.run(META_INSTRUMENTS_HASH, hash); })();
      const legacy = db.prepare('SELECT 1 FROM journal LIMIT 1').get() !== undefined || db.prepare('SELECT 1 FROM snapshots LIMIT 1').get() !== undefined;
      log?.({ journal: journalPath, instruments: instruments.length, sha256: hash, legacy },
        legacy ? 'journal written before instrument fingerprints: recorded the current instrument configuration (it is taken to be the one the journal was written with)'
          : 'new journal: recorded the instrument configuration');
      return { status: 'recorded', legacy, hash };
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
    const changes = diffFingerprints(old, fp);
    if (changes.length === 0) changes.push({ kind: 'version', old: recHash, new: hash, text: `recorded sha256 ${recHash} -> ${hash}` });
    throw new InstrumentConfigError(journalPath, changes);
  } finally {
    db.close();
  }
}
