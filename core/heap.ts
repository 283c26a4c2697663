// Binary min-heap of order slots ordered by (key[slot], id[slot]), with each slot's position kept in
// pos[slot] so any slot can be removed or re-keyed in O(log n). The key, id and position arrays
// belong to the book (one entry per slot); a slot is in at most one heap that shares `pos`.

const NIL = -1;

export class SlotHeap {
  private readonly a: Int32Array;
  n = 0;

  constructor(capacity: number, private readonly key: Float64Array, private readonly id: Float64Array,
    private readonly pos: Int32Array) {
    this.a = new Int32Array(capacity);
  }

  top(): number {
    return this.n === 0 ? NIL : this.a[0]!;
  }

  /** The i-th entry in heap order (not sorted): for scans that do not care about order. */
  at(i: number): number {
    return this.a[i]!;
  }

  private less(x: number, y: number): boolean {
    const kx = this.key[x]!, ky = this.key[y]!;
    return kx < ky || (kx === ky && this.id[x]! < this.id[y]!);
  }

  push(s: number): void {
    this.siftUp(this.n++, s);
  }

  remove(s: number): void {
    const i = this.pos[s]!;
    this.pos[s] = NIL;
    const last = this.a[--this.n]!;
    if (last === s) return;
    this.place(i, last);
  }

  /** Restores order after key[s] changed. */
  fix(s: number): void {
    this.place(this.pos[s]!, s);
  }

  private place(i: number, s: number): void {
    const k = this.siftUp(i, s);
    if (k === i) this.siftDown(i, s);
  }

  private siftUp(i: number, s: number): number {
    const a = this.a;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const ps = a[p]!;
      if (!this.less(s, ps)) break;
      a[i] = ps; this.pos[ps] = i; i = p;
    }
    a[i] = s; this.pos[s] = i;
    return i;
  }

  private siftDown(i: number, s: number): void {
    const a = this.a, n = this.n;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.less(a[r]!, a[l]!)) c = r;
      const cs = a[c]!;
      if (!this.less(cs, s)) break;
      a[i] = cs; this.pos[cs] = i; i = c;
    }
    a[i] = s; this.pos[s] = i;
  }
}
