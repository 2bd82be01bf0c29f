// The leader's view of the group: the membership configuration, one Progress per
// voter and learner, and the votes of the current election.
//
// Everything observable iterates in ascending id order, never in Map insertion order,
// so a simulation replays identically from its seed.
import { jointCommittedIndex, jointVoteResult, VoteResult } from '../quorum/index.js';
import type { ConfState, NodeId } from '../types.js';
import { invariant } from '../util.js';
import type { Progress } from './progress.js';

/**
 * Membership. Every id array is sorted ascending without duplicates.
 *   incoming     — the voters (of the new configuration, when joint).
 *   outgoing     — the voters of the old configuration; non-empty only while joint.
 *   learners     — receive the log, never vote. Disjoint from incoming and outgoing.
 *   learnersNext — voters being demoted: still voters in `outgoing`, they become
 *                  learners when the joint configuration is left. ⊆ outgoing \ incoming.
 *   autoLeave    — leave the joint configuration as soon as it is applied.
 */
export interface TrackerConfig {
  incoming: NodeId[];
  outgoing: NodeId[];
  learners: NodeId[];
  learnersNext: NodeId[];
  autoLeave: boolean;
}

export interface VoteTally {
  granted: number;
  rejected: number;
  result: VoteResult;
}

export function emptyTrackerConfig(): TrackerConfig {
  return { incoming: [], outgoing: [], learners: [], learnersNext: [], autoLeave: false };
}

export class ProgressTracker {
  config: TrackerConfig = emptyTrackerConfig();
  /** One entry per voter (either half) and learner; replaced wholesale on conf changes. */
  progress = new Map<NodeId, Progress>();
  /** Votes of the current election: id → granted. */
  votes = new Map<NodeId, boolean>();

  /** Built once so committed() allocates no closure per call. */
  private readonly matchOf = (id: NodeId): number | undefined => this.progress.get(id)?.match;

  constructor(
    readonly maxInflightMsgs: number,
    readonly maxInflightBytes: number,
  ) {}

  confState(): ConfState {
    const c = this.config;
    return {
      voters: c.incoming.slice(),
      learners: c.learners.slice(),
      votersOutgoing: c.outgoing.slice(),
      learnersNext: c.learnersNext.slice(),
      autoLeave: c.autoLeave,
    };
  }

  isJoint(): boolean {
    return this.config.outgoing.length > 0;
  }

  /** Exactly one voter and not joint: that voter alone commits and wins elections. */
  isSingleton(): boolean {
    return this.config.incoming.length === 1 && this.config.outgoing.length === 0;
  }

  /** A voter in either half (learnersNext members are still voters until leave). */
  isVoter(id: NodeId): boolean {
    return this.config.incoming.includes(id) || this.config.outgoing.includes(id);
  }

  /** A learner now; not a voter being demoted (those are in learnersNext). */
  isLearner(id: NodeId): boolean {
    return this.config.learners.includes(id);
  }

  /** Sorted union of both voter halves. */
  voterIds(): NodeId[] {
    const out: NodeId[] = [];
    mergeSorted(this.config.incoming, this.config.outgoing, EMPTY, (id) => out.push(id));
    return out;
  }

  /** The largest index a quorum (both halves when joint) has matched. */
  committed(): number {
    return jointCommittedIndex(this.config, this.matchOf);
  }

  /**
   * Calls fn for every voter and learner in ascending id order. Walks the sorted config
   * arrays rather than the Map: deterministic, and no key array to build and sort per
   * broadcast.
   */
  visit(fn: (id: NodeId, pr: Progress) => void): void {
    const c = this.config;
    // learnersNext ⊆ outgoing, so the three arrays cover everyone.
    mergeSorted(c.incoming, c.outgoing, c.learners, (id) => {
      const pr = this.progress.get(id);
      invariant(pr !== undefined, () => `tracker: member ${id} has no progress`);
      fn(id, pr);
    });
  }

  /**
   * True when a quorum has been recently active. The caller (the leader) must mark its
   * own Progress recentActive first: it is always active to itself.
   */
  quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    this.visit((id, pr) => {
      if (!pr.isLearner) active.set(id, pr.recentActive);
    });
    return jointVoteResult(this.config, active) === VoteResult.Won;
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records a vote; a repeated vote from the same id is ignored (the first one counts). */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** Counts the votes of voters (either half) and decides the election. */
  tallyVotes(): VoteTally {
    let granted = 0;
    let rejected = 0;
    mergeSorted(this.config.incoming, this.config.outgoing, EMPTY, (id) => {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    });
    return { granted, rejected, result: jointVoteResult(this.config, this.votes) };
  }
}

const EMPTY: readonly NodeId[] = [];

/** Calls fn once per distinct id of three sorted arrays, in ascending order. */
function mergeSorted(
  a: readonly NodeId[],
  b: readonly NodeId[],
  c: readonly NodeId[],
  fn: (id: NodeId) => void,
): void {
  let i = 0;
  let j = 0;
  let k = 0;
  for (;;) {
    let min = Infinity;
    if (i < a.length && a[i] < min) min = a[i];
    if (j < b.length && b[j] < min) min = b[j];
    if (k < c.length && c[k] < min) min = c[k];
    if (min === Infinity) return;
    if (i < a.length && a[i] === min) i++;
    if (j < b.length && b[j] === min) j++;
    if (k < c.length && c[k] === min) k++;
    fn(min);
  }
}
