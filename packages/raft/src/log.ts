// RaftLog: the log as raft sees it, stable storage plus the unstable tail, with the
// commit, applying and applied marks.
//
//   firstIndex ... [persisted in storage] ... offset-1 | offset ... [unstable] ... lastIndex
//   applied <= applying <= committed <= lastIndex
//
// Committed entries are handed out for apply only once they are durable locally
// (index < unstable.offset), so they can always be read back from storage.
import { CompactedError, UnavailableError, type RaftStorage } from './storage.js';
import type { Entry, Snapshot } from './types.js';
import { Unstable } from './log-unstable.js';
import { entrySizeBytes, invariant } from './util.js';

export class RaftLog {
  readonly storage: RaftStorage;
  readonly unstable: Unstable;
  committed: number;
  /** Highest index handed out for apply. */
  applying: number;
  applied: number;
  /** Bytes handed out for apply and not yet acknowledged with appliedTo. */
  applyingBytes = 0;
  readonly maxApplyBytes: number;

  constructor(storage: RaftStorage, maxApplyBytes: number) {
    this.storage = storage;
    this.maxApplyBytes = maxApplyBytes;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Last index that is durable locally (in storage and not about to be overwritten). */
  persistedIndex(): number {
    // While an incoming snapshot is not yet durable, nothing after it is either.
    return this.unstable.snapshot ? 0 : this.unstable.offset - 1;
  }

  /** Term of entry i, or -1 if it is compacted or beyond the last index. */
  termAt(i: number): number {
    const ut = this.unstable.maybeTerm(i);
    if (ut !== undefined) return ut;
    // The term of firstIndex-1 (the snapshot's) is always known.
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return -1;
    if (i >= this.unstable.offset) return -1;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) return -1;
      throw e;
    }
  }

  lastTerm(): number {
    const t = this.termAt(this.lastIndex());
    invariant(t >= 0, 'term of the last index must be known');
    return t;
  }

  matchTerm(i: number, t: number): boolean {
    const gt = this.termAt(i);
    return gt >= 0 && gt === t;
  }

  /** Raft §5.4.1: is a candidate's log (lastTerm, lastIndex) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower side of App: if our entry at prevIndex has prevTerm, append the new entries
   * (truncating a conflicting suffix) and advance commit. Returns the last index the
   * leader's message covers, or -1 when the log does not match at prevIndex.
   */
  maybeAppend(prevIndex: number, prevTerm: number, committed: number, ents: readonly Entry[]): number {
    if (!this.matchTerm(prevIndex, prevTerm)) return -1;
    const lastNew = prevIndex + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      invariant(ci > this.committed, () => `entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      this.append(ents.slice(ci - (prevIndex + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    invariant(after >= this.committed, () => `append after ${after} is below committed ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** First index whose term differs from ours (or that we lack); 0 if all match. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index <= `index` whose term is <= `term`, with its
   * term. A leader probing at (index, term) can skip straight there, because every entry
   * above it has a larger term than `term` and therefore cannot match.
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    let i = Math.min(index, this.lastIndex());
    for (; i >= 0; i--) {
      const t = this.termAt(i);
      if (t < 0) return [i, 0]; // compacted: we cannot see further back
      if (t <= term) return [i, t];
    }
    return [0, 0];
  }

  commitTo(c: number): void {
    if (c <= this.committed) return;
    invariant(c <= this.lastIndex(), () => `commit ${c} is beyond the last index ${this.lastIndex()}`);
    this.committed = c;
  }

  /** Leader: commit `maxIndex` if it is an entry of the current term (Raft §5.4.2). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termAt(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  /** Entries [lo, hi) from storage and/or the unstable tail, stopping near maxBytes. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    invariant(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, () =>
      `slice [${lo}, ${hi}) out of bounds [${this.firstIndex()}, ${this.lastIndex() + 1})`);
    let out: Entry[] = [];
    const off = this.unstable.offset;
    if (lo < off) {
      out = this.storage.entries(lo, Math.min(hi, off), maxBytes);
      // Storage stopped early because of the size limit: do not add unstable entries.
      if (out.length < Math.min(hi, off) - lo) return out;
    }
    if (hi > off) {
      let bytes = 0;
      for (const e of out) bytes += entrySizeBytes(e);
      const u = this.unstable.entries;
      for (let i = Math.max(lo, off); i < hi; i++) {
        const e = u[i - off]!;
        bytes += entrySizeBytes(e);
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(e);
      }
    }
    return out;
  }

  /** Entries from i on, bounded by maxBytes; null if i is compacted. */
  entriesFrom(i: number, maxBytes: number): Entry[] | null {
    if (i < this.firstIndex()) return null;
    const last = this.lastIndex();
    if (i > last) return [];
    try {
      return this.slice(i, last + 1, maxBytes);
    } catch (e) {
      if (e instanceof CompactedError) return null;
      throw e;
    }
  }

  /** The snapshot to send to a follower that needs compacted entries. */
  snapshot(): Snapshot | null {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  hasNextUnstable(): boolean {
    return this.unstable.hasNextEntries() || this.unstable.nextSnapshot() !== null;
  }

  /** Highest index that may be applied now: committed and durable locally. */
  private maxAppliable(): number {
    if (this.unstable.snapshot) return this.applying; // nothing until the snapshot is installed
    return Math.min(this.committed, this.unstable.offset - 1);
  }

  hasNextCommitted(): boolean {
    return this.applyingBytes < this.maxApplyBytes && this.maxAppliable() > this.applying;
  }

  nextCommitted(): Entry[] {
    if (!this.hasNextCommitted()) return [];
    return this.slice(this.applying + 1, this.maxAppliable() + 1, this.maxApplyBytes - this.applyingBytes);
  }

  acceptApplying(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    this.applying = ents[ents.length - 1]!.index;
    for (const e of ents) this.applyingBytes += entrySizeBytes(e);
  }

  appliedTo(i: number): void {
    invariant(i <= this.applying, () => `applied ${i} beyond what was handed out (${this.applying})`);
    if (i <= this.applied) return;
    this.applied = i;
    if (i >= this.applying) this.applyingBytes = 0;
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** Installs a snapshot (follower). Caller checked it is newer than commit. */
  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    this.unstable.restore(s);
  }

  /** Called when a snapshot is handed out in a Ready: its index counts as being applied. */
  acceptSnapshotApplying(s: Snapshot): void {
    if (s.meta.index > this.applying) this.applying = s.meta.index;
  }
}
