// Binary min-heap of order slots ordered by (key, id), both read from the book's strided order
// records, with each slot's heap position kept in its int32 record, so any slot can be removed or
// re-keyed in O(log n). A slot is in at most one heap sharing a position field.

const NIL = -1;

export class SlotHeap {
  private readonly a: Int32Array;
  n = 0;

  constructor(capacity: number, private readonly f: Float64Array, private readonly fw: number,
    private readonly keyOff: number, private readonly idOff: number, private readonly p: Int32Array,
    private readonly pw: number, private readonly posOff: number) {
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
    const f = this.f, fw = this.fw;
    const kx = f[x * fw + this.keyOff]!, ky = f[y * fw + this.keyOff]!;
    return kx < ky || (kx === ky && f[x * fw + this.idOff]! < f[y * fw + this.idOff]!);
  }

  private setPos(s: number, i: number): void {
    this.p[s * this.pw + this.posOff] = i;
  }

  push(s: number): void {
    this.siftUp(this.n++, s);
  }

  remove(s: number): void {
    const i = this.p[s * this.pw + this.posOff]!;
    this.setPos(s, NIL);
    const last = this.a[--this.n]!;
    if (last === s) return;
    this.place(i, last);
  }

  /** Restores order after the key of s changed. */
  fix(s: number): void {
    this.place(this.p[s * this.pw + this.posOff]!, s);
  }

  private place(i: number, s: number): void {
    const k = this.siftUp(i, s);
    if (k === i) this.siftDown(i, s);
  }

  private siftUp(i: number, s: number): number {
    const a = this.a;
    while (i > 0) {
      const q = (i - 1) >> 1;
      const ps = a[q]!;
      if (!this.less(s, ps)) break;
      a[i] = ps; this.setPos(ps, i); i = q;
    }
    a[i] = s; this.setPos(s, i);
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
      a[i] = cs; this.setPos(cs, i); i = c;
    }
    a[i] = s; this.setPos(s, i);
  }
}
