// The synchronous read interface the raft core uses for its durable log, and an
// in-memory implementation used by tests, the simulation and benchmarks.
import type { ConfState, Entry, HardState, Snapshot } from './types.js';
import { entrySizeBytes } from './util.js';

/** Asked for an index below the first available one (it was compacted). */
export class CompactedError extends Error {
  constructor(readonly index: number, readonly firstIndex: number) {
    super(`raft log index ${index} is compacted (first available index ${firstIndex})`);
    this.name = 'CompactedError';
  }
}

/** Asked for an index above the last one. */
export class UnavailableError extends Error {
  constructor(readonly index: number, readonly lastIndex: number) {
    super(`raft log index ${index} is unavailable (last index ${lastIndex})`);
    this.name = 'UnavailableError';
  }
}

/**
 * Read access to what the caller has made durable. The raft core never writes through it:
 * the caller persists Ready contents and then acknowledges them.
 *
 * Invariants: entries are contiguous from firstIndex() to lastIndex(); term(firstIndex()-1)
 * is the term of the last compacted entry (the snapshot's), so it is always answerable.
 */
export interface RaftStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries [lo, hi). Returns at least one entry if lo < hi, then stops before maxBytes. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry `index`, for firstIndex()-1 <= index <= lastIndex(). */
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /** The most recent snapshot, or null if none can be produced right now. */
  snapshot(): Snapshot | null;
}

/** Index of the bootstrap snapshot of every group (see MemoryStorage.withMembership). */
export const BOOTSTRAP_INDEX = 1;

export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

/**
 * An in-memory RaftStorage. `ents[0]` is a dummy entry holding the index and term of the
 * last compacted entry (the snapshot's), so term(firstIndex-1) always works.
 */
export class MemoryStorage implements RaftStorage {
  hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot = { meta: { index: 0, term: 0, confState: emptyConfState() }, data: new Uint8Array(0) };
  private ents: Entry[] = [{ term: 0, index: 0, type: 0, data: new Uint8Array(0) }];

  /**
   * A storage bootstrapped with the initial membership: a snapshot at BOOTSTRAP_INDEX
   * (empty state) holding the ConfState. Because the log starts after it, a member added
   * later with an empty log can only be caught up by a snapshot, which carries the
   * configuration; replaying the log alone would never tell it the initial members.
   */
  static withMembership(confState: ConfState): MemoryStorage {
    const s = new MemoryStorage();
    s.snap = { meta: { index: BOOTSTRAP_INDEX, term: 0, confState }, data: new Uint8Array(0) };
    s.ents = [{ term: 0, index: BOOTSTRAP_INDEX, type: 0, data: new Uint8Array(0) }];
    s.hardState = { term: 0, vote: 0, commit: BOOTSTRAP_INDEX };
    return s;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: this.snap.meta.confState };
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  term(index: number): number {
    const offset = this.ents[0]!.index;
    if (index < offset) throw new CompactedError(index, offset + 1);
    if (index - offset >= this.ents.length) throw new UnavailableError(index, this.lastIndex());
    return this.ents[index - offset]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - offset]!;
      bytes += entrySizeBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  /** Replaces everything with the snapshot (a follower installing one). Older ones are ignored. */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.snap.meta.index) return;
    this.snap = snap;
    this.ents = [{ term: snap.meta.term, index: snap.meta.index, type: 0, data: new Uint8Array(0) }];
  }

  /** Records a snapshot of the state machine at `index` (<= lastIndex), for sending to slow followers. */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.meta.index) return this.snap;
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    this.snap = { meta: { index, term: this.term(index), confState }, data };
    return this.snap;
  }

  /** Discards entries before `compactIndex` (keeps it as the new dummy). */
  compact(compactIndex: number): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset) return;
    if (compactIndex > this.lastIndex()) throw new UnavailableError(compactIndex, this.lastIndex());
    const i = compactIndex - offset;
    const dummy: Entry = { term: this.ents[i]!.term, index: compactIndex, type: 0, data: new Uint8Array(0) };
    this.ents = [dummy, ...this.ents.slice(i + 1)];
  }

  /** Appends entries, truncating any conflicting suffix first. Entries must be contiguous. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // all compacted already
    let es = entries;
    if (first > es[0]!.index) es = es.slice(first - es[0]!.index);
    const offset = es[0]!.index - this.ents[0]!.index;
    if (offset > this.ents.length) {
      throw new Error(`MemoryStorage.append: gap: last index ${this.lastIndex()}, appending at ${es[0]!.index}`);
    }
    if (offset < this.ents.length) this.ents.length = offset;
    for (const e of es) this.ents.push(e);
  }
}
