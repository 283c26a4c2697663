// Lock-free single-producer / single-consumer ring of fixed-size records over a SharedArrayBuffer.
//
// One thread creates the ring (`Ring.create`), hands `ring.sab` to another thread (workerData or
// postMessage), and that thread builds its own view with `Ring.attach(sab)`. One side only produces,
// the other only consumes; roles never change. The byte layout and the sleep/wake protocol are
// documented in docs/runtime.md ("Ring").
//
// Nothing here allocates after construction: the producer reserves a slot (`tryReserve` returns a
// word offset into `ring.f64`), writes the fields in place and publishes; the consumer polls a word
// offset, reads in place and releases. Head and tail are free-running 32-bit counters (the slot is
// `counter & mask`), so `(tail - head) | 0` is the fill level even across the 2^32 wrap.

type WaitAsync = (a: Int32Array, i: number, v: number, t?: number) => { async: boolean; value: Promise<string> | string };
/** Atomics.waitAsync (in Node 20, not yet in TypeScript's ES2022 lib). */
export const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export const RING_MAGIC = 0x52494e47; // "RING"
export const RING_LAYOUT_VERSION = 1;

/** Bytes between the shared words: 128, so that adjacent-line prefetch never couples two of them. */
export const RING_LINE_BYTES = 128;
/** Header size in bytes; record data starts here. */
export const RING_HEADER_BYTES = 4 * RING_LINE_BYTES;

// Int32 indices of the shared words.
const I_MAGIC = 0;
const I_VERSION = 1;
const I_CAPACITY = 2;
const I_RECORD_BYTES = 3;
const I_TAIL = RING_LINE_BYTES / 4; // producer's publish counter (written by the producer only)
const I_HEAD = (2 * RING_LINE_BYTES) / 4; // consumer's release counter (written by the consumer only)
const I_SLEEP = (3 * RING_LINE_BYTES) / 4; // 1 while the consumer is (about to be) in Atomics.wait

const DATA_WORD = RING_HEADER_BYTES / 8;
const MAX_CAPACITY = 1 << 30;
const MAX_RECORD_BYTES = 1 << 16;

export class RingError extends Error {
  override readonly name = 'RingError';
}

export interface RingOptions {
  /**
   * Consumer only: how many times `waitForData` re-reads the tail before it announces that it
   * sleeps and calls Atomics.wait. 0 = sleep at once; large values = busy-spin (costs a core).
   */
  spinIterations?: number;
  /**
   * Consumer only, adaptive spin: when the previous wait for data ended within twice this many
   * microseconds (traffic is dense; twice, so that a wait that slept and was woken at once still
   * counts), `waitForData` keeps re-reading the tail for up to this long
   * before it sleeps, so a producer publishing that soon finds the consumer awake: no futex wake
   * for it to pay (~7 us of its own time on this VM) and no wake-up latency (~24 us) for the
   * record (`npm run bench:machine`). When traffic is sparse the consumer sleeps at once as without
   * it. 0 (default) = off.
   */
  adaptiveSpinUs?: number;
}

export class Ring {
  readonly sab: SharedArrayBuffer;
  /** Number of record slots (a power of two). */
  readonly capacity: number;
  readonly recordBytes: number;
  readonly recordWords: number;
  /** The whole buffer as float64 words; record offsets returned by the API index this array. */
  readonly f64: Float64Array;
  /** The whole buffer as bytes (byte offset of a record = word offset * 8). */
  readonly u8: Uint8Array;
  spinIterations: number;
  adaptiveSpinUs: number;
  /** Microseconds the last `waitForData` waited before data came (0 when it was there). */
  private lastWaitUs = Infinity;
  /** Number of adaptive spins that ended with data (tests, benches). */
  adaptiveHits = 0;

  private readonly i32: Int32Array;
  private readonly mask: number;

  // Producer-side state (only meaningful in the producer's view).
  private tail: number;
  private reserveTail: number;
  private headCache: number;
  /** Number of Atomics.notify calls made by this producer view (tests, benches). */
  notifyCount = 0;

  // Consumer-side state (only meaningful in the consumer's view).
  private head: number;
  private readCursor: number;
  private tailCache: number;
  /** Number of times this consumer view went to sleep in Atomics.wait (tests, benches). */
  waitCount = 0;

  private constructor(sab: SharedArrayBuffer, options: RingOptions) {
    this.sab = sab;
    this.i32 = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
    this.capacity = this.i32[I_CAPACITY]!;
    this.recordBytes = this.i32[I_RECORD_BYTES]!;
    this.recordWords = this.recordBytes / 8;
    this.mask = this.capacity - 1;
    this.f64 = new Float64Array(sab);
    this.u8 = new Uint8Array(sab);
    this.spinIterations = validSpin(options.spinIterations ?? 0);
    const a = options.adaptiveSpinUs ?? 0;
    if (!(a >= 0 && a <= 10_000)) throw new RingError(`adaptiveSpinUs must be within 0..10000, got ${a}`);
    this.adaptiveSpinUs = a;
    this.tail = Atomics.load(this.i32, I_TAIL);
    this.reserveTail = this.tail;
    this.headCache = Atomics.load(this.i32, I_HEAD);
    this.head = this.headCache;
    this.readCursor = this.head;
    this.tailCache = this.tail;
  }

  /** Bytes of SharedArrayBuffer needed for a ring of this shape. */
  static bytesFor(capacity: number, recordBytes: number): number {
    validateShape(capacity, recordBytes);
    return RING_HEADER_BYTES + capacity * recordBytes;
  }

  /** Allocate a new ring: `capacity` slots (power of two) of `recordBytes` bytes (multiple of 8). */
  static create(capacity: number, recordBytes: number, options: RingOptions = {}): Ring {
    const sab = new SharedArrayBuffer(Ring.bytesFor(capacity, recordBytes));
    const i32 = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
    i32[I_MAGIC] = RING_MAGIC;
    i32[I_VERSION] = RING_LAYOUT_VERSION;
    i32[I_CAPACITY] = capacity;
    i32[I_RECORD_BYTES] = recordBytes;
    return new Ring(sab, options);
  }

  /** A view of an existing ring (from another thread). The shape is read from the header. */
  static attach(sab: SharedArrayBuffer, options: RingOptions = {}): Ring {
    if (!(sab instanceof SharedArrayBuffer)) throw new RingError('Ring.attach needs a SharedArrayBuffer');
    if (sab.byteLength < RING_HEADER_BYTES) throw new RingError('buffer too small for a ring header');
    const i32 = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
    if (i32[I_MAGIC] !== RING_MAGIC) throw new RingError('not a ring (bad magic)');
    if (i32[I_VERSION] !== RING_LAYOUT_VERSION) throw new RingError(`ring layout version ${i32[I_VERSION]} is not ${RING_LAYOUT_VERSION}`);
    const capacity = i32[I_CAPACITY]!;
    const recordBytes = i32[I_RECORD_BYTES]!;
    validateShape(capacity, recordBytes);
    if (sab.byteLength !== RING_HEADER_BYTES + capacity * recordBytes) throw new RingError('buffer size does not match the ring header');
    return new Ring(sab, options);
  }

  // ---------------------------------------------------------------- producer

  /**
   * Reserve the next slot; returns its word offset into `f64`, or -1 when the ring is full (the
   * caller answers "busy"; this never blocks). Several reservations may precede one `publish()`.
   */
  tryReserve(): number {
    const t = this.reserveTail;
    if (((t - this.headCache) | 0) >= this.capacity) {
      this.headCache = Atomics.load(this.i32, I_HEAD);
      if (((t - this.headCache) | 0) >= this.capacity) return -1;
    }
    this.reserveTail = (t + 1) | 0;
    return DATA_WORD + (t & this.mask) * this.recordWords;
  }

  /** Reserve a slot and copy one record from `src` (recordWords words at srcWord); false when full. */
  tryPush(src: Float64Array, srcWord = 0): boolean {
    const o = this.tryReserve();
    if (o < 0) return false;
    const f = this.f64;
    const n = this.recordWords;
    for (let i = 0; i < n; i++) f[o + i] = src[srcWord + i]!;
    return true;
  }

  /** Records reserved but not yet published. */
  reservedCount(): number {
    return (this.reserveTail - this.tail) | 0;
  }

  /** Drop the most recent unpublished reservation only (earlier ones of a batch stay reserved). */
  unreserveLast(): void {
    if (this.reserveTail !== this.tail) this.reserveTail = (this.reserveTail - 1) | 0;
  }

  /** Drop every reservation made since the last publish (e.g. the caller failed to fill a slot). */
  abortReserved(): void {
    this.reserveTail = this.tail;
  }

  /**
   * Make every reserved record visible to the consumer (batch publish), and wake the consumer only
   * if it announced that it sleeps. Returns the number of records published.
   */
  publish(): number {
    const n = (this.reserveTail - this.tail) | 0;
    if (n === 0) return 0;
    this.tail = this.reserveTail;
    Atomics.store(this.i32, I_TAIL, this.tail);
    if (Atomics.load(this.i32, I_SLEEP) !== 0) this.wakeConsumer();
    return n;
  }

  /** Wake the consumer if it sleeps (also used to deliver an out-of-band stop request). */
  wakeConsumer(): void {
    if (Atomics.compareExchange(this.i32, I_SLEEP, 1, 0) === 1) {
      Atomics.notify(this.i32, I_SLEEP, 1);
      this.notifyCount++;
    }
  }

  /**
   * Records published and not yet released by the consumer (tail - head, both read from the shared
   * header): the ring's depth from either side. Changes no state (metrics read it at scrape time).
   */
  depth(): number {
    return (Atomics.load(this.i32, I_TAIL) - Atomics.load(this.i32, I_HEAD)) | 0;
  }

  /** Free slots as the producer sees them (refreshes its view of the head). */
  freeSlots(): number {
    this.headCache = Atomics.load(this.i32, I_HEAD);
    return this.capacity - ((this.reserveTail - this.headCache) | 0);
  }

  // ---------------------------------------------------------------- consumer

  /** Records published and not yet polled (refreshes the consumer's view of the tail). */
  available(): number {
    this.tailCache = Atomics.load(this.i32, I_TAIL);
    return (this.tailCache - this.readCursor) | 0;
  }

  /** Word offset of the next unread record without consuming it, or -1 when empty. */
  peek(): number {
    const r = this.readCursor;
    if (r === this.tailCache) {
      this.tailCache = Atomics.load(this.i32, I_TAIL);
      if (r === this.tailCache) return -1;
    }
    return DATA_WORD + (r & this.mask) * this.recordWords;
  }

  /**
   * Word offset of the next unread record, consuming it, or -1 when empty. The slot stays valid
   * (the producer cannot reuse it) until it is released with `release`.
   */
  poll(): number {
    const r = this.readCursor;
    if (r === this.tailCache) {
      this.tailCache = Atomics.load(this.i32, I_TAIL);
      if (r === this.tailCache) return -1;
    }
    this.readCursor = (r + 1) | 0;
    return DATA_WORD + (r & this.mask) * this.recordWords;
  }

  /** Records released so far (the free-running head counter, wraps at 2^32 like it). */
  releasedCount(): number {
    return this.head;
  }

  /** Records polled but not yet released. */
  unreleasedCount(): number {
    return (this.readCursor - this.head) | 0;
  }

  /** Give the oldest `n` polled records back to the producer. */
  release(n: number): void {
    if (!(n >= 0 && n <= ((this.readCursor - this.head) | 0))) throw new RingError(`release(${n}) exceeds the ${(this.readCursor - this.head) | 0} polled records`);
    if (n === 0) return;
    this.head = (this.head + n) | 0;
    Atomics.store(this.i32, I_HEAD, this.head);
  }

  /** Release every polled record; returns how many. */
  releaseAll(): number {
    const n = (this.readCursor - this.head) | 0;
    if (n !== 0) {
      this.head = this.readCursor;
      Atomics.store(this.i32, I_HEAD, this.head);
    }
    return n;
  }

  /**
   * Block until at least one record is available or `timeoutMs` passes; returns the number
   * available (0 on timeout or on `wakeConsumer`). Spins `spinIterations` times first, then (when
   * `adaptiveSpinUs` is on and the previous wait was short) up to `adaptiveSpinUs`, then sets the
   * sleeping flag, re-checks, and sleeps in Atomics.wait on that flag. Not for a thread that
   * must keep its event loop responsive.
   */
  waitForData(timeoutMs = Infinity): number {
    let n = this.available();
    if (n > 0) { this.lastWaitUs = 0; return n; }
    const i32 = this.i32;
    const spin = this.spinIterations;
    for (let i = 0; i < spin; i++) {
      if (Atomics.load(i32, I_TAIL) !== this.readCursor) { this.lastWaitUs = 0; return this.available(); }
    }
    if (timeoutMs <= 0) return 0;
    const t0 = performance.now();
    const adaptive = this.adaptiveSpinUs;
    if (adaptive > 0 && this.lastWaitUs <= 2 * adaptive) {
      const until = t0 + adaptive / 1000;
      for (let i = 1; ; i++) {
        if (Atomics.load(i32, I_TAIL) !== this.readCursor) {
          this.adaptiveHits++;
          this.lastWaitUs = (performance.now() - t0) * 1000;
          return this.available();
        }
        if ((i & 63) === 0 && performance.now() >= until) break;
      }
    }
    Atomics.store(i32, I_SLEEP, 1);
    n = this.available();
    if (n > 0) {
      Atomics.store(i32, I_SLEEP, 0);
      this.lastWaitUs = (performance.now() - t0) * 1000;
      return n;
    }
    this.waitCount++;
    Atomics.wait(i32, I_SLEEP, 1, timeoutMs);
    Atomics.store(i32, I_SLEEP, 0);
    this.lastWaitUs = (performance.now() - t0) * 1000;
    return this.available();
  }

  /**
   * For a consumer thread with an event loop (the gateway's main thread): announces that it sleeps
   * and returns a promise that settles when the producer publishes (its publish sees the flag and
   * notifies) or after `timeoutMs`; returns null when data is already there. The event loop stays
   * free meanwhile. The caller must not arm a second wait while one is pending.
   */
  waitForDataAsync(timeoutMs: number): Promise<string> | null {
    if (this.available() > 0) return null;
    const i32 = this.i32;
    Atomics.store(i32, I_SLEEP, 1);
    if (this.available() > 0) {
      Atomics.store(i32, I_SLEEP, 0);
      return null;
    }
    this.waitCount++;
    const r = waitAsync(i32, I_SLEEP, 1, timeoutMs);
    if (!r.async) return null; // the producer already cleared the flag: data is there
    return r.value as Promise<string>;
  }

  /** True while the consumer has announced that it sleeps (tests, diagnostics). */
  consumerSleeping(): boolean {
    return Atomics.load(this.i32, I_SLEEP) !== 0;
  }

  /** Copy one record out of the ring into `dst` at `dstWord`. */
  copyOut(wordOffset: number, dst: Float64Array, dstWord = 0): void {
    const f = this.f64;
    const n = this.recordWords;
    for (let i = 0; i < n; i++) dst[dstWord + i] = f[wordOffset + i]!;
  }
}

function validateShape(capacity: number, recordBytes: number): void {
  if (!Number.isInteger(capacity) || capacity < 2 || capacity > MAX_CAPACITY || (capacity & (capacity - 1)) !== 0) {
    throw new RingError(`ring capacity must be a power of two in [2, 2^30], got ${capacity}`);
  }
  if (!Number.isInteger(recordBytes) || recordBytes < 8 || recordBytes > MAX_RECORD_BYTES || recordBytes % 8 !== 0) {
    throw new RingError(`ring record size must be a multiple of 8 in [8, 65536] bytes, got ${recordBytes}`);
  }
  if (RING_HEADER_BYTES + capacity * recordBytes > 2 ** 31 - 1) throw new RingError('ring larger than 2 GiB');
}

function validSpin(spin: number): number {
  if (!(spin >= 0) || !(Number.isInteger(spin) || spin === Infinity)) throw new RingError(`spinIterations must be a non-negative integer, got ${spin}`);
  return spin;
}
