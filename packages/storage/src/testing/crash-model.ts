// The deterministic write workload of the crash test, shared by the child that writes it
// and the parent that checks what survived. Per group, step k is a Ready derived only from
// (seed, group, k): mostly appends at the end of the log, sometimes a conflicting
// overwrite of the uncommitted tail with a higher term (which truncates the old suffix).
import { EntryType, Prng, type Entry, type HardState } from '@rangekv/raft';
import { payload } from './fixtures.js';

export const ENTRY_BYTES = 64;

export class GroupModel {
  /** terms[i] = term of entry i; terms[1] is the bootstrap snapshot (term 0). */
  terms: number[] = [0, 0];
  hardState: HardState = { term: 0, vote: 0, commit: 1 };
  steps = 0;
  private readonly prng: Prng;

  constructor(readonly group: number, seed: number) {
    this.prng = new Prng(seed * 1_000_003 + group);
  }

  get last(): number {
    return this.terms.length - 1;
  }

  /** The next Ready's entries and hard state; the model moves to the state after it. */
  step(): { entries: Entry[]; hardState: HardState } {
    const p = this.prng;
    const hs = this.hardState;
    let term = Math.max(hs.term, 1);
    let start = this.last + 1;
    if (p.float() < 0.15 && this.last > hs.commit + 1) {
      start = Math.max(hs.commit + 1, this.last - p.int(5));
      term += 1;
    }
    const n = 1 + p.int(4);
    const entries: Entry[] = [];
    this.terms.length = start;
    for (let i = start; i < start + n; i++) {
      entries.push({ index: i, term, type: EntryType.Normal, data: payload(this.group, i, term, ENTRY_BYTES) });
      this.terms.push(term);
    }
    const commit = Math.min(this.last, hs.commit + p.int(3));
    this.hardState = { term, vote: (this.group % 3) + 1, commit };
    this.steps++;
    return { entries, hardState: { ...this.hardState } };
  }

  snapshot(): { terms: number[]; hardState: HardState } {
    return { terms: [...this.terms], hardState: { ...this.hardState } };
  }
}

export const MAX_INFLIGHT_PER_GROUP = 2;

export function rangeStart(group: number): string {
  return `g${String(group).padStart(6, '0')}`;
}
