// Ranges ordered by start key: "which range holds key K" and "ranges meeting a span".
//
// PD's records may briefly overlap: after a split the right-hand range can be reported
// before the left one shrinks (the left's record is still the wider pre-split span). A
// lookup takes the range with the greatest start key <= K that contains K, so K lands on
// the newer, narrower range where both hold it; a stale wider record only answers for keys
// nobody else covers yet (and the store answers a stale route with EpochNotMatch).
import { compareBytes, keyInSpan, spansOverlap, type RangeRecord } from './types.js';

/** How far a lookup walks back over overlapping records before giving up. */
const maxOverlapWalk = 64;

export class RangeIndex {
  private sorted: RangeRecord[] = [];
  private dirty = false;

  constructor(private readonly source: () => Iterable<RangeRecord>) {}

  /** The source changed: re-sort at the next lookup. */
  invalidate(): void {
    this.dirty = true;
  }

  private list(): RangeRecord[] {
    if (this.dirty) {
      this.sorted = [...this.source()].sort((a, b) =>
        compareBytes(a.descriptor.startKey, b.descriptor.startKey) || (b.descriptor.epoch.version - a.descriptor.epoch.version));
      this.dirty = false;
    }
    return this.sorted;
  }

  /** Index of the last record whose start key <= key (-1 if none). */
  private floor(key: Uint8Array): number {
    const l = this.list();
    let lo = 0;
    let hi = l.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (compareBytes(l[mid]!.descriptor.startKey, key) <= 0) {
        ans = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return ans;
  }

  byKey(key: Uint8Array): RangeRecord | null {
    const l = this.list();
    for (let i = this.floor(key), n = 0; i >= 0 && n < maxOverlapWalk; i--, n++) {
      const d = l[i]!.descriptor;
      if (keyInSpan(key, d.startKey, d.endKey)) return l[i]!;
    }
    return null;
  }

  /** Records meeting [start, end) (empty end: to the end), ascending by start key, at most `limit`. */
  scan(start: Uint8Array, end: Uint8Array, limit: number): { ranges: RangeRecord[]; more: boolean } {
    const l = this.list();
    // The first record that may meet the span is the one holding `start` (or the first after it).
    const holder = this.byKey(start);
    let i = holder ? l.indexOf(holder) : this.floor(start) + 1;
    if (i < 0) i = 0;
    const out: RangeRecord[] = [];
    for (; i < l.length; i++) {
      const d = l[i]!.descriptor;
      if (end.length !== 0 && compareBytes(d.startKey, end) >= 0) break;
      if (!spansOverlap(d.startKey, d.endKey, start, end)) continue;
      if (out.length === limit) return { ranges: out, more: true };
      out.push(l[i]!);
    }
    return { ranges: out, more: false };
  }
}
