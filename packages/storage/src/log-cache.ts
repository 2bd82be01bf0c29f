// The in-memory cache of one range's log tail. It always holds a contiguous run of entries
// that ends at the range's durable last index (or nothing), so a hit never needs RocksDB
// and a miss is always below `first`. Bounded per range (maxCachedEntries, maxCacheBytes)
// and store-wide through a shared CacheBudget.
import { entrySizeBytes, type Entry } from '@rangekv/raft';
import { invariant } from './errors.js';

export class CacheBudget {
  /** Caches in least-recently-appended-first order. */
  private readonly lru = new Map<number, LogCache>();
  totalBytes = 0;

  constructor(readonly maxTotalBytes: number) {}

  touch(c: LogCache): void {
    this.lru.delete(c.rangeId);
    this.lru.set(c.rangeId, c);
  }

  forget(c: LogCache): void {
    this.lru.delete(c.rangeId);
  }

  /** Over budget: empty the least recently appended caches (never `current` while others exist). */
  enforce(current: LogCache): void {
    if (this.totalBytes <= this.maxTotalBytes) return;
    for (const c of this.lru.values()) {
      if (this.totalBytes <= this.maxTotalBytes) return;
      if (c === current) continue;
      c.clear();
    }
    while (this.totalBytes > this.maxTotalBytes && current.length > 0) current.evictFront();
  }
}

export class LogCache {
  private ents: Entry[] = [];
  private head = 0;
  private sizeBytes = 0;

  constructor(
    readonly rangeId: number,
    private readonly maxEntries: number,
    private readonly maxBytes: number,
    private readonly budget: CacheBudget,
  ) {}

  get length(): number {
    return this.ents.length - this.head;
  }

  get bytes(): number {
    return this.sizeBytes;
  }

  /** Index of the first cached entry; meaningless when empty. */
  get first(): number {
    return this.length === 0 ? 0 : this.ents[this.head]!.index;
  }

  get last(): number {
    return this.length === 0 ? 0 : this.ents[this.ents.length - 1]!.index;
  }

  has(index: number): boolean {
    return this.length > 0 && index >= this.first && index <= this.last;
  }

  get(index: number): Entry | undefined {
    if (!this.has(index)) return undefined;
    return this.ents[this.head + index - this.first];
  }

  /**
   * Adds durable entries `es` (contiguous). Entries at or after es[0].index are replaced
   * (a conflicting suffix was truncated); if es[0] starts before the cached run, the run
   * cannot stay contiguous with the log and is dropped first.
   */
  put(es: readonly Entry[]): void {
    if (es.length === 0) return;
    const start = es[0]!.index;
    if (this.length > 0) {
      if (start < this.first || start > this.last + 1) this.clear();
      else this.truncateFrom(start);
    }
    for (const e of es) {
      invariant(this.length === 0 || e.index === this.last + 1, () => `log cache of range ${this.rangeId}: entry ${e.index} after ${this.last}`);
      this.ents.push(e);
      this.charge(entrySizeBytes(e));
    }
    while (this.length > 0 && (this.length > this.maxEntries || this.sizeBytes > this.maxBytes)) this.evictFront();
    this.budget.touch(this);
    this.budget.enforce(this);
  }

  /** Drops entries with index >= `index`. */
  truncateFrom(index: number): void {
    while (this.length > 0 && this.last >= index) {
      const e = this.ents.pop()!;
      this.charge(-entrySizeBytes(e));
    }
    if (this.length === 0) this.reset();
  }

  /** Drops entries with index <= `index` (compaction). */
  compactTo(index: number): void {
    while (this.length > 0 && this.first <= index) this.evictFront();
  }

  evictFront(): void {
    invariant(this.length > 0, 'evictFront on an empty log cache');
    const e = this.ents[this.head]!;
    this.ents[this.head] = undefined as unknown as Entry;
    this.head++;
    this.charge(-entrySizeBytes(e));
    if (this.length === 0) this.reset();
    else if (this.head > 64 && this.head * 2 > this.ents.length) {
      this.ents = this.ents.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.charge(-this.sizeBytes);
    this.reset();
  }

  /** Forget this cache entirely (range destroyed). */
  dispose(): void {
    this.clear();
    this.budget.forget(this);
  }

  private reset(): void {
    this.ents = [];
    this.head = 0;
    invariant(this.sizeBytes === 0, () => `log cache of range ${this.rangeId}: ${this.sizeBytes} bytes left when empty`);
  }

  private charge(delta: number): void {
    this.sizeBytes += delta;
    this.budget.totalBytes += delta;
  }
}
