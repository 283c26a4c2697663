// Where /metrics and /ready find the read side of an engine (replication lag, Redis fan-out) without
// the gateway depending on PostgreSQL or Redis: the read side registers itself here per engine.

import type { ReplicationLag } from './replicator.js';

export interface ReadSideStatus {
  /** Replication lag (null: no replication). */
  replication(): (ReplicationLag & { maxLagSeconds: number; bufferedCommands: number; overflowing: boolean; droppedCommands: number; catchUpCommands: number }) | null;
  /** Redis fan-out (null: none). */
  redis(): { ready: boolean; published: number; dropped: number; errors: number } | null;
}

const byEngine = new WeakMap<object, ReadSideStatus>();

export function attachReadSide(engine: object, status: ReadSideStatus | null): void {
  if (status === null) byEngine.delete(engine);
  else byEngine.set(engine, status);
}

export function readSideOf(engine: object): ReadSideStatus | null {
  return byEngine.get(engine) ?? null;
}

/** Readiness of the read side: replication lag within its limit (Redis never makes us unready). */
export function readSideReadiness(engine: object): { ok: boolean; replication: Record<string, unknown> | null } {
  const r = readSideOf(engine)?.replication() ?? null;
  if (r === null) return { ok: true, replication: null };
  const ok = r.lagSeconds <= r.maxLagSeconds;
  return {
    ok,
    replication: { ok, lagSeconds: r.lagSeconds, lagSeqs: r.lagSeqs, maxLagSeconds: r.maxLagSeconds, connected: r.connected, checkpointSeq: r.checkpointSeq, headSeq: r.headSeq },
  };
}
