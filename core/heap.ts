// Binary min-heap of order slots ordered by (key, id), with each slot's heap position kept in its
// int32 record, so any slot can be removed or re-keyed in O(log n). A slot is in at most one heap
// sharing a position field.
//
// The heap keeps its own copy of each entry's (key, id), interleaved in one array indexed by heap
// position and moved with the slot, so comparisons read only the heap's contiguous memory and not
// the (often cold) order records of two slots. The copy is taken from the record on push and on
// fix (after a key change); the key and id must not change in the record otherwise while the slot
// is in the heap. Sifts compare exactly as before, so the order of pops and ties is unchanged.

const NIL = -1;

export class SlotHeap {
  private readonly a: Int32Array;
  /** kd[2i] = key, kd[2i + 1] = id of the slot at heap position i. */
  private readonly kd: Float64Array;
  n = 0;

  constructor(capacity: number, private readonly f: Float64Array, private readonly fw: number,
    private readonly keyOff: number, private readonly idOff: number, private readonly p: Int32Array,
    private readonly pw: number, private readonly posOff: number) {
    this.a = new Int32Array(capacity);
    this.kd = new Float64Array(2 * capacity);
  }

  top(): number {
    return this.n === 0 ? NIL : this.a[0]!;
  }

  /** The i-th entry in heap order (not sorted): for scans that do not care about order. */
  at(i: number): number {
    return this.a[i]!;
  }

  private setPos(s: number, i: number): void {
    this.p[s * this.pw + this.posOff] = i;
  }

  push(s: number): void {
    const o = s * this.fw;
    this.siftUp(this.n++, s, this.f[o + this.keyOff]!, this.f[o + this.idOff]!);
  }

  remove(s: number): void {
    const i = this.p[s * this.pw + this.posOff]!;
    this.setPos(s, NIL);
    const n = --this.n;
    const last = this.a[n]!;
    if (last === s) return;
    this.place(i, last, this.kd[2 * n]!, this.kd[2 * n + 1]!);
  }

  /** Restores order after the key of s changed (refreshes the heap's copy from the record). */
  fix(s: number): void {
    const o = s * this.fw;
    this.place(this.p[s * this.pw + this.posOff]!, s, this.f[o + this.keyOff]!, this.f[o + this.idOff]!);
  }

  private place(i: number, s: number, ks: number, ds: number): void {
    const k = this.siftUp(i, s, ks, ds);
    if (k === i) this.siftDown(i, s, ks, ds);
  }

  private siftUp(i: number, s: number, ks: number, ds: number): number {
    const a = this.a, kd = this.kd;
    while (i > 0) {
      const q = (i - 1) >> 1;
      const kq = kd[2 * q]!, dq = kd[2 * q + 1]!;
      if (!(ks < kq || (ks === kq && ds < dq))) break;
      const ps = a[q]!;
      a[i] = ps; kd[2 * i] = kq; kd[2 * i + 1] = dq; this.setPos(ps, i); i = q;
    }
    a[i] = s; kd[2 * i] = ks; kd[2 * i + 1] = ds; this.setPos(s, i);
    return i;
  }

  private siftDown(i: number, s: number, ks: number, ds: number): void {
    const a = this.a, kd = this.kd, n = this.n;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      let kc = kd[2 * l]!, dc = kd[2 * l + 1]!;
      if (r < n) {
        const kr = kd[2 * r]!, dr = kd[2 * r + 1]!;
        if (kr < kc || (kr === kc && dr < dc)) { c = r; kc = kr; dc = dr; }
      }
      if (!(kc < ks || (kc === ks && dc < ds))) break;
      const cs = a[c]!;
      a[i] = cs; kd[2 * i] = kc; kd[2 * i + 1] = dc; this.setPos(cs, i); i = c;
    }
    a[i] = s; kd[2 * i] = ks; kd[2 * i + 1] = ds; this.setPos(s, i);
  }
}
