// Shard worker thread: the single writer of the order books of its instruments. Reads command
// records (core/command-codec.ts) from its command ring, executes each on its book, and writes the
// book's events to its event ring (the last record of every command is flagged; a command without
// events gets a placeholder record), so the gateway can settle, and ack once durable.
//
// Idle: spin a bounded number of reads on the command ring, then Atomics.wait (no CPU while idle).
// A full event ring (the gateway is behind) is waited out in short sleeps: events are never dropped.
// A Snapshot command writes every book's snapshot at that seq (persistence/journal.ts writeSnapshot).

import { parentPort, workerData } from 'node:worker_threads';
import { OrderBook } from '../core/book.js';
import {
  CW_ACCOUNT, CW_CLIENT_ORDER_ID, CW_INSTRUMENT, CW_ORDER_ID, CW_TYPE, CommandExtras, RuntimeCommandType, decodeCommand,
  encodeDoneRecord, encodeEventRecord,
} from '../core/command-codec.js';
import { EventBuffer } from '../core/events.js';
import type { InstrumentSpec } from '../core/instrument.js';
import { Command } from '../core/types.js';
import { SnapshotStore } from '../persistence/journal.js';
import { hashNumbers } from '../core/hash.js';
import { decodeSnapshot, encodeSnapshot } from '../persistence/snapshot-blob.js';
import { threadId } from '../persistence/thread-priority.js';
import { Ring } from './ring.js';

/** Int32 words of the shard control block (a small SAB shared with the gateway). */
export const SHARD_CTRL_BYTES = 64;
export const SC_STOP = 0;
export const SC_STATE = 1;
/** Futex word the shard sleeps on while its event ring is full. */
export const SC_FULL_WAIT = 2;
/** Kernel thread id of the shard thread (Linux; -1 elsewhere), written once at start: per-thread CPU and scheduling figures (bench:pipeline). */
export const SC_TID = 3;
export const SHARD_RUNNING = 1;
export const SHARD_STOPPED = 2;
export const SHARD_FAILED = 3;

export interface ShardWorkerData {
  shardIndex: number;
  instruments: InstrumentSpec[];
  /** Per instrument (same order), a snapshot blob to restore from, or null for an empty book. */
  restore: (Uint8Array | null)[];
  cmdRingSab: SharedArrayBuffer;
  evRingSab: SharedArrayBuffer;
  ctrlSab: SharedArrayBuffer;
  /** Journal file, for snapshots. */
  journalPath: string;
  spinIterations: number;
  adaptiveSpinUs: number;
}

export type ShardMessage =
  | { type: 'ready'; hashes: Record<number, string> }
  | { type: 'stopped'; hashes: Record<number, string>; commands: number; waits: number; notifies: number }
  | { type: 'failed'; message: string };

interface BookSlot {
  id: number;
  book: OrderBook;
  ev: EventBuffer;
  /** Records of the current command already written to the ring (by the drain hook). */
  written: number;
}

const EVENT_BUFFER_RECORDS = 1024;

class Shard {
  private readonly cmdRing: Ring;
  private readonly evRing: Ring;
  private readonly ctrl: Int32Array;
  private readonly slots: BookSlot[] = [];
  private readonly byId = new Map<number, BookSlot>();
  private readonly cmd = new Command();
  private readonly extras = new CommandExtras();
  /** Snapshot connection, opened at the first Snapshot command. */
  private snapshots: SnapshotStore | null = null;
  commands = 0;

  constructor(private readonly data: ShardWorkerData) {
    this.cmdRing = Ring.attach(data.cmdRingSab, { spinIterations: data.spinIterations, adaptiveSpinUs: data.adaptiveSpinUs });
    this.evRing = Ring.attach(data.evRingSab);
    this.ctrl = new Int32Array(data.ctrlSab);
    data.instruments.forEach((spec, k) => {
      const slot: BookSlot = { id: spec.id, book: undefined as unknown as OrderBook, ev: undefined as unknown as EventBuffer, written: 0 };
      slot.ev = new EventBuffer(EVENT_BUFFER_RECORDS, (buf) => this.flush(slot, buf, false));
      const blob = data.restore[k] ?? null;
      if (blob === null) {
        slot.book = new OrderBook(spec, slot.ev);
      } else {
        const snap = decodeSnapshot(blob);
        slot.book = OrderBook.restore(spec, slot.ev, snap.state);
        const h = slot.book.stateHash();
        if (h !== snap.stateHash) throw new Error(`${spec.symbol}: restored book hash ${h} differs from the recorded ${snap.stateHash} (seq ${snap.seq})`);
      }
      this.slots.push(slot);
      this.byId.set(spec.id, slot);
    });
  }

  /** Times the shard slept on its command ring (Atomics.wait). */
  get waits(): number { return this.cmdRing.waitCount; }
  /** Times a publish of events woke the gateway's thread (Atomics.notify). */
  get notifies(): number { return this.evRing.notifyCount; }

  hashes(): Record<number, string> {
    const out: Record<number, string> = {};
    for (const s of this.slots) out[s.id] = s.book.stateHash();
    return out;
  }

  /** Main loop: returns when the gateway asks to stop (after draining what was published). */
  run(): void {
    const ring = this.cmdRing;
    const f = ring.f64;
    for (;;) {
      if (ring.waitForData(1000) === 0) {
        if (Atomics.load(this.ctrl, SC_STOP) !== 0 && ring.available() === 0) return;
        continue;
      }
      let o = ring.poll();
      while (o >= 0) {
        decodeCommand(f, o, this.cmd, this.extras);
        // The next command, when already published, is polled now (its slot is kept until it is
        // decoded): its book starts loading the lines it will need while this one executes.
        const next = ring.poll();
        if (next >= 0) this.prefetch(f, next);
        this.execute();
        // Every 64 commands: give the command slots back and make the events visible (one atomic
        // store each per 64 commands, not per command, and fewer cache-line transfers of the tails).
        if (ring.unreleasedCount() >= 64) {
          ring.release(ring.unreleasedCount() - (next >= 0 ? 1 : 0));
          this.evRing.publish();
        }
        o = next;
      }
      ring.releaseAll();
      this.evRing.publish();
    }
  }

  /** OrderBook.prefetch for the command record at word offset o (read, not decoded). */
  private prefetch(f: Float64Array, o: number): void {
    const id = f[o + CW_INSTRUMENT]!;
    // One book per shard is the common layout: no Map lookup per command for it.
    const only = this.slots.length === 1 ? this.slots[0]! : undefined;
    const slot = only !== undefined && only.id === id ? only : this.byId.get(id);
    if (slot !== undefined) slot.book.prefetch(f[o + CW_TYPE]!, f[o + CW_ORDER_ID]!, f[o + CW_ACCOUNT]!, f[o + CW_CLIENT_ORDER_ID]!);
  }

  private execute(): void {
    const cmd = this.cmd;
    this.commands++;
    if (cmd.type === RuntimeCommandType.Snapshot) {
      // A snapshot already stored for this seq (a replay passing it again) is verified, not rewritten.
      // Each book's state is dumped once (hash and blob from the same dump); the new blobs are written
      // in one transaction on the shard's own connection.
      const store = this.snapshots ??= new SnapshotStore(this.data.journalPath);
      const fresh: { shard: number; seq: number; blob: Uint8Array }[] = [];
      for (const s of this.slots) {
        const dump = s.book.stateDump();
        const h = hashNumbers(dump);
        const prev = store.at(s.id, cmd.seq);
        if (prev !== null) {
          const rec = decodeSnapshot(prev).stateHash;
          if (rec !== h) throw new Error(`instrument ${s.id}: state hash ${h} at seq ${cmd.seq} differs from the recorded ${rec}`);
        } else {
          fresh.push({ shard: s.id, seq: cmd.seq, blob: encodeSnapshot(s.id, cmd.seq, h, Float64Array.from(dump)) });
        }
      }
      if (fresh.length > 0) store.writeAll(fresh);
      this.writeDone(cmd.seq, cmd.tsUs, 0);
      return;
    }
    const slot = this.byId.get(this.extras.instrumentId);
    if (slot === undefined) throw new Error(`shard ${this.data.shardIndex}: command seq ${cmd.seq} for instrument ${this.extras.instrumentId}, which it does not own`);
    slot.written = 0;
    slot.ev.clear();
    slot.book.execute(cmd);
    // The last record of the command carries the flag: a placeholder when the drain hook already
    // wrote everything (or there was nothing).
    if (slot.ev.count === 0) this.writeDone(cmd.seq, cmd.tsUs, slot.id);
    else this.flush(slot, slot.ev, true);
  }

  /** Copies the buffered events to the event ring (published by the run loop); `end`: flag the last one. */
  private flush(slot: BookSlot, buf: EventBuffer, end: boolean): void {
    const n = buf.count;
    const ring = this.evRing, w = ring.f64;
    for (let r = 0; r < n; r++) {
      const o = this.reserve();
      encodeEventRecord(buf.words, r, slot.id, end && r === n - 1, w, o);
    }
    slot.written += n;
    buf.clear();
  }

  private writeDone(seq: number, tsUs: number, instrumentId: number): void {
    const o = this.reserve();
    encodeDoneRecord(seq, tsUs, instrumentId, this.evRing.f64, o);
  }

  /** A slot in the event ring; waits (publishing first) while the gateway has not drained it. */
  private reserve(): number {
    let o = this.evRing.tryReserve();
    while (o < 0) {
      this.evRing.publish();
      Atomics.wait(this.ctrl, SC_FULL_WAIT, 0, 0.05);
      o = this.evRing.tryReserve();
    }
    return o;
  }
}

function main(data: ShardWorkerData): void {
  const ctrl = new Int32Array(data.ctrlSab);
  Atomics.store(ctrl, SC_TID, threadId());
  let shard: Shard;
  try {
    shard = new Shard(data);
  } catch (e) {
    Atomics.store(ctrl, SC_STATE, SHARD_FAILED);
    parentPort!.postMessage({ type: 'failed', message: (e as Error).message } satisfies ShardMessage);
    return;
  }
  Atomics.store(ctrl, SC_STATE, SHARD_RUNNING);
  parentPort!.postMessage({ type: 'ready', hashes: shard.hashes() } satisfies ShardMessage);
  try {
    shard.run();
  } catch (e) {
    Atomics.store(ctrl, SC_STATE, SHARD_FAILED);
    parentPort!.postMessage({ type: 'failed', message: `shard ${data.shardIndex}: ${(e as Error).stack ?? String(e)}` } satisfies ShardMessage);
    return;
  }
  Atomics.store(ctrl, SC_STATE, SHARD_STOPPED);
  parentPort!.postMessage({ type: 'stopped', hashes: shard.hashes(), commands: shard.commands, waits: shard.waits, notifies: shard.notifies } satisfies ShardMessage);
}

if (parentPort !== null && workerData !== null && workerData !== undefined) main(workerData as ShardWorkerData);
