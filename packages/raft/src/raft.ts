// The raft state machine for one group: terms, roles, elections and the message
// dispatch. Replication and reads on the leader live in raft-leader.ts; the follower and
// candidate handlers in raft-follower.ts. This file owns every role transition.
//
// It is synchronous and deterministic: no I/O, no timers, no clock. Time is tick();
// randomness comes from the injected Prng; peers are always visited in ascending id order.
import { resolveConfig, type RaftConfig, type ResolvedRaftConfig } from './config.js';
import { RaftLog } from './log.js';
import { MAX_INDEX, MAX_TERM } from './bounds.js';
import { describeMessage } from './message.js';
import { checkMessage } from './message-check.js';
import { VoteResult } from './quorum/index.js';
import { ReadOnly } from './read-only.js';
import { restoreConfig, type ChangeResult } from './confchange/index.js';
import { ProgressTracker } from './tracker/index.js';
import {
  EntryType, MessageType, NONE, StateRole,
  type Entry, type HardState, type Message, type NodeId, type ReadState,
} from './types.js';
import { invariant } from './util.js';
import { stepLeader, bcastHeartbeat, abortLeaderTransfer, sendAppend, bcastAppend, sendTimeoutNow } from './raft-leader.js';
import { stepCandidate, stepFollower } from './raft-follower.js';
import { emptyMessage } from './message.js';

/** A read that waits for the leader's first commit in its term. */
export interface HeldRead {
  from: NodeId;
  ctx: Uint8Array;
  lease: boolean;
}

export type CampaignKind = 'pre-election' | 'election' | 'transfer';

export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedRaftConfig;
  readonly log: RaftLog;
  trk: ProgressTracker;

  term = 0;
  vote: NodeId = NONE;
  role: StateRole = StateRole.Follower;
  lead: NodeId = NONE;
  /** Transfer target while a leadership transfer is in progress. */
  leadTransferee: NodeId = NONE;
  /**
   * The log index the membership we hold reflects: the last applied conf change, or the
   * restored snapshot. A conf change at or below it is stale (see RawNode.applyConfChange).
   */
  configIndex = 0;
  /** Index of the last conf change the leader appended; no new one until it is applied. */
  pendingConfIndex = 0;
  /** Leader, lazyCommitBroadcast: the last entry whose commit is told to the followers at once (RawNode.propose's broadcastCommit). */
  broadcastCommitIndex = 0;
  /** Payload bytes of uncommitted entries appended by this leader. */
  uncommittedBytes = 0;

  /** Ticks since the last reset; for leaders, since the last check-quorum round. */
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  /** Ticks since this node object was created: a monotonic clock for leases. */
  ticks = 0;
  /**
   * Restarted with durable state: until an election timeout passes or the term changes,
   * act as if in a leader's lease. A node that forgot it had acknowledged a leader must
   * not vote that leader's lease away by restarting quickly.
   */
  bootGuard = false;

  /** Leader: a TimeoutNow went out this term (lease reads are off for the term). */
  timeoutNowSent = false;
  /** Follower: term of a TimeoutNow we could not act on yet (unapplied conf change). */
  deferredTimeoutNowTerm = 0;
  /**
   * Leader: per member, the newest tick it is known to have heard from us at or after: the
   * stamp of a heartbeat it acknowledged, or the tick the entry an accepted append answer
   * names was appended (appendTickOf).
   */
  heartbeatAckTick: Map<NodeId, number> | null = null;
  /**
   * Leader: when its entries were appended, as flat [lastIndex, tick] pairs in index order:
   * the entries after the previous pair's index, up to this pair's, were appended at its
   * tick. Pairs older than an election timeout are dropped (they could not extend a lease);
   * entries at or below `appendTicksFloor` are then unknown.
   */
  appendTicks: number[] | null = null;
  appendTicksFloor = 0;
  /** Leader: tick at which a snapshot was last sent to a follower (to time it out). */
  snapshotSentTick: Map<NodeId, number> | null = null;
  readOnly: ReadOnly | null = null;
  /** Leader: read requests that arrived before it committed an entry of its term. */
  pendingReadIndex: HeldRead[] | null = null;

  /** Messages to send now, and messages to send only after the next persist. */
  msgs: Message[] = [];
  msgsAfterPersist: Message[] = [];
  readStates: ReadState[] = [];

  constructor(c: RaftConfig) {
    this.cfg = resolveConfig(c);
    this.id = this.cfg.id;
    this.log = new RaftLog(this.cfg.storage, this.cfg.maxApplyBytes);
    const { hardState, confState } = this.cfg.storage.initialState();
    this.trk = new ProgressTracker(this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes);
    this.switchToConfig(restoreConfig(confState, this.log.lastIndex(), this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes));
    if (hardState.term > 0 || hardState.vote > 0 || hardState.commit > 0) this.loadHardState(hardState);
    // The config we hold reflects every entry up to here (the snapshot's, at start).
    this.configIndex = this.log.firstIndex() - 1;
    if (this.cfg.applied > 0) {
      // An applied entry was committed even if the newer commit index in the hard state
      // was not yet durable when we stopped (commit need not be fsynced; apply is not).
      invariant(this.cfg.applied <= this.log.lastIndex(), () =>
        `applied ${this.cfg.applied} is beyond the durable log (last index ${this.log.lastIndex()})`);
      if (this.cfg.applied > this.log.committed) this.log.committed = this.cfg.applied;
      this.log.applied = this.log.applying = Math.max(this.cfg.applied, this.log.applied);
    }
    this.becomeFollower(this.term, NONE);
    // A node that never saw a term has acknowledged no leader, so it needs no guard.
    this.bootGuard = hardState.term > 0;
    this.trace(() => `start term=${this.term} commit=${this.log.committed} applied=${this.log.applied} last=${this.log.lastIndex()} voters=${this.trk.config.incoming}`);
  }

  // ---- small helpers -------------------------------------------------------------------

  trace(line: () => string): void {
    if (this.cfg.trace) this.cfg.trace(`[${this.id} t${this.term} ${roleName(this.role)}] ${line()}`);
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private loadHardState(hs: HardState): void {
    invariant(hs.commit >= this.log.committed && hs.commit <= this.log.lastIndex(), () =>
      `hard state commit ${hs.commit} out of range [${this.log.committed}, ${this.log.lastIndex()}]`);
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  /** A voter of the current configuration (learners and removed nodes never campaign). */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.log.unstable.snapshot;
  }

  committedEntryInCurrentTerm(): boolean {
    return this.log.termAt(this.log.committed) === this.term;
  }

  /** Queues a message. Answers that promise durability wait for the persist. */
  send(m: Message): void {
    if (m.from === NONE) m.from = this.id;
    if (m.type === MessageType.Vote || m.type === MessageType.VoteResp ||
        m.type === MessageType.PreVoteResp) {
      invariant(m.term !== 0, 'vote messages carry a term');
    } else if (m.term === 0) {
      m.term = this.term;
    }
    if (this.cfg.trace) this.trace(() => `send ${describeMessage(m)}`);
    // A vote or append answer promises what it acknowledges is on disk; a heartbeat
    // answer extends the leader's lease, so the term it acknowledges must survive a crash
    // too (see bootGuard). Those leave after the persist. So does a vote request, which
    // commits us to our new term and self-vote, unless earlyVoteRequests: then it leaves
    // at once and checkVotes waits for our own vote, counted once that persist is done.
    if (m.type === MessageType.AppResp || m.type === MessageType.VoteResp || m.type === MessageType.HeartbeatResp ||
        (m.type === MessageType.Vote && !this.cfg.earlyVoteRequests)) {
      this.msgsAfterPersist.push(m);
    } else {
      this.msgs.push(m);
    }
  }

  // ---- role transitions ----------------------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.bootGuard = false;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NONE;
    this.trk.resetVotes();
    const last = this.log.lastIndex();
    const persisted = this.log.persistedIndex();
    this.trk.visit((id, pr) => {
      pr.match = id === this.id ? persisted : 0;
      pr.next = last + 1;
      pr.becomeProbe();
      pr.match = id === this.id ? persisted : 0;
      pr.next = last + 1;
      pr.recentActive = id === this.id;
    });
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.timeoutNowSent = false;
    this.deferredTimeoutNowTerm = 0;
    this.heartbeatAckTick = null;
    this.appendTicks = null;
    this.appendTicksFloor = 0;
    this.snapshotSentTick = null;
    this.readOnly = null;
    this.pendingReadIndex = null;
  }

  resetRandomizedElectionTimeout(): void {
    const et = this.cfg.electionTimeoutTicks;
    this.randomizedElectionTimeout = et + this.cfg.prng.int(et);
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.role = StateRole.Follower;
    this.lead = lead;
    this.trace(() => `became follower lead=${lead}`);
  }

  private becomePreCandidate(): void {
    invariant(this.role !== StateRole.Leader, 'leader cannot become pre-candidate');
    // Pre-vote changes neither term nor vote: a partitioned node that keeps losing
    // pre-elections never disturbs the cluster with a higher term when it returns.
    this.role = StateRole.PreCandidate;
    this.trk.resetVotes();
    this.lead = NONE;
    this.trace(() => 'became pre-candidate');
  }

  private becomeCandidate(): void {
    invariant(this.role !== StateRole.Leader, 'leader cannot become candidate');
    invariant(this.term < MAX_TERM, () => `campaigning at term ${this.term} would pass MAX_TERM`);
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = StateRole.Candidate;
    this.trace(() => 'became candidate');
  }

  becomeLeader(): void {
    invariant(this.role !== StateRole.Follower, 'follower cannot become leader without an election');
    this.reset(this.term);
    this.lead = this.id;
    this.role = StateRole.Leader;
    const self = this.trk.progress.get(this.id)!;
    self.becomeReplicate();
    self.match = this.log.persistedIndex();
    self.next = this.log.lastIndex() + 1;
    self.recentActive = true;
    // Conservatively assume the tail may hold an unapplied conf change.
    this.pendingConfIndex = this.log.lastIndex();
    this.heartbeatAckTick = new Map();
    // Entries from before our term map to the first pair: nothing we send predates it.
    this.appendTicks = [];
    // An empty entry of our term: entries of earlier terms commit only beneath it (§5.4.2).
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY }]);
    this.trace(() => `became leader at last=${this.log.lastIndex()}`);
  }

  /** Leader: appends entries of the current term. Returns false if the uncommitted cap refuses. */
  appendEntries(es: Entry[]): boolean {
    let payload = 0;
    for (const e of es) payload += e.data.length;
    // Never refuse empty entries (the leader's own no-op, leave-joint): they cost nothing.
    if (payload > 0 && this.uncommittedBytes > 0 &&
        this.uncommittedBytes + payload > this.cfg.maxUncommittedEntriesBytes) {
      return false;
    }
    let li = this.log.lastIndex();
    invariant(es.length <= MAX_INDEX - li, () => `appending ${es.length} entries after ${li} would pass MAX_INDEX`);
    for (const e of es) {
      e.term = this.term;
      e.index = ++li;
    }
    this.log.append(es);
    if (this.appendTicks !== null) this.noteAppendTick(li);
    this.uncommittedBytes += payload;
    // Our own Progress advances only when the caller acks the persist (ackPersisted).
    return true;
  }

  private noteAppendTick(last: number): void {
    const a = this.appendTicks!;
    const n = a.length;
    if (n > 0 && a[n - 1] === this.ticks) {
      a[n - 2] = last;
      return;
    }
    a.push(last, this.ticks);
    let drop = 0;
    while (drop + 2 < a.length && a[drop + 1]! < this.ticks - this.cfg.electionTimeoutTicks) drop += 2;
    if (drop > 0) {
      this.appendTicksFloor = a[drop - 2]!;
      a.splice(0, drop);
    }
  }

  /**
   * Leader: the tick entry `index` of our log was appended at (entries from before our
   * term: the tick we became leader). Any message of ours that carries it, or a commit at
   * or above it, left no earlier. Null when not known (older than appendTicks keeps, or
   * beyond our log).
   */
  appendTickOf(index: number): number | null {
    const a = this.appendTicks;
    if (a === null || index <= this.appendTicksFloor || a.length === 0 || index > a[a.length - 2]!) return null;
    let i = a.length - 2;
    while (i >= 2 && a[i - 2]! >= index) i -= 2;
    return a[i + 1]!;
  }

  // ---- time ----------------------------------------------------------------------------

  tick(): void {
    this.ticks++;
    if (this.role === StateRole.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTimeoutTicks) this.bootGuard = false;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(this.cfg.preVote ? 'pre-election' : 'election');
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        const self = this.trk.progress.get(this.id);
        if (self) self.recentActive = true;
        if (!this.trk.quorumActive()) {
          this.trace(() => 'stepping down: no active quorum within an election timeout');
          this.becomeFollower(this.term, NONE);
          return;
        }
        this.trk.visit((id, pr) => { if (id !== this.id) pr.recentActive = false; });
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.leadTransferee !== NONE) abortLeaderTransfer(this, 'timed out');
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatIntervalTicks) {
      this.heartbeatElapsed = 0;
      bcastHeartbeat(this, true);
    }
  }

  // ---- elections -----------------------------------------------------------------------

  /**
   * Starts an election if this node may: a voter, not leader, no unapplied conf change,
   * and room below the bounds for the next term and for a new leader's empty entry.
   */
  hup(kind: CampaignKind): void {
    if (this.role === StateRole.Leader) return;
    if (!this.promotable()) {
      this.trace(() => 'not campaigning: not a voter');
      return;
    }
    if (this.term >= MAX_TERM) {
      this.trace(() => `not campaigning: term ${this.term} is at MAX_TERM`);
      return;
    }
    if (this.log.lastIndex() >= MAX_INDEX) {
      this.trace(() => `not campaigning: last index ${this.log.lastIndex()} is at MAX_INDEX, no room for a leader's entry`);
      return;
    }
    if (this.hasUnappliedConfChange()) {
      this.trace(() => 'not campaigning: committed conf change not yet applied');
      // A leader handing over after applying a conf change (e.g. its own removal) sends
      // TimeoutNow before we applied that entry: act on it once we have.
      if (kind === 'transfer') this.deferredTimeoutNowTerm = this.term;
      return;
    }
    this.campaign(kind);
  }

  /** After apply progress: run a TimeoutNow that had to wait for a conf change to apply. */
  onApplied(): void {
    if (this.deferredTimeoutNowTerm !== 0 && this.deferredTimeoutNowTerm === this.term &&
        this.role === StateRole.Follower && !this.hasUnappliedConfChange()) {
      this.deferredTimeoutNowTerm = 0;
      this.hup('transfer');
    }
  }

  private hasUnappliedConfChange(): boolean {
    // Entries at or below configIndex are reflected already (e.g. by a restored snapshot
    // whose entries are gone from the log while apply catches up).
    const lo = Math.max(this.log.applied, this.configIndex) + 1;
    const hi = this.log.committed + 1;
    if (lo >= hi) return false;
    for (const e of this.log.slice(lo, hi, Number.MAX_SAFE_INTEGER)) {
      if (e.type === EntryType.ConfChange) return true;
    }
    return false;
  }

  private campaign(kind: CampaignKind): void {
    let term: number;
    let type: MessageType;
    if (kind === 'pre-election') {
      this.becomePreCandidate();
      type = MessageType.PreVote;
      // Ask for the term we would campaign at, without moving to it.
      term = this.term + 1;
      this.trk.recordVote(this.id, true);
    } else {
      this.becomeCandidate();
      type = MessageType.Vote;
      term = this.term;
      // Our own vote counts only once the Ready holding it is durable (see onPersisted).
    }
    if (kind === 'pre-election' && this.checkVotes()) return;
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.trk.voterIds()) {
      if (id === this.id) continue;
      const m = emptyMessage();
      m.type = type; m.to = id; m.term = term; m.index = lastIndex; m.logTerm = lastTerm;
      m.transfer = kind === 'transfer';
      this.send(m);
    }
  }

  /** Tallies votes; wins or loses the (pre-)election. Returns true if it was decided. */
  checkVotes(): boolean {
    const { result } = this.trk.tallyVotes();
    if (result === VoteResult.Won) {
      // Early vote requests: a quorum of others may answer before our own term and vote
      // are durable. Leading on them then could mean leading this term twice (crash,
      // restart at the old term, win the same term again with the same voters' votes,
      // and send other entries at the same indexes): wait for onHardStatePersisted.
      if (this.cfg.earlyVoteRequests && this.role === StateRole.Candidate && this.trk.votes.get(this.id) !== true) return false;
      if (this.role === StateRole.PreCandidate) {
        this.campaign('election');
      } else {
        this.becomeLeader();
        bcastAppend(this); // the empty entry of our term, at once
      }
      return true;
    }
    if (result === VoteResult.Lost) {
      this.trace(() => 'lost the election');
      this.becomeFollower(this.term, NONE);
      return true;
    }
    return false;
  }

  /** The caller made a Ready durable; a candidate's own vote counts from now on. */
  onHardStatePersisted(hs: HardState): void {
    if (this.role === StateRole.Candidate && hs.term === this.term && hs.vote === this.id) {
      this.trk.recordVote(this.id, true);
      this.checkVotes();
    }
  }

  // ---- message dispatch ----------------------------------------------------------------

  /** Throws MessageRefusedError, changing nothing, for a message it must not act on. */
  step(m: Message): void {
    checkMessage(m, { id: this.id, term: this.term, lastIndex: this.log.lastIndex() });
    if (this.cfg.trace) this.trace(() => `recv ${describeMessage(m)}`);

    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        // Check-quorum: while we hear from a leader (or just restarted) we ignore
        // elections, unless the leader itself asked for one (transfer) or is the one
        // standing: a leader never campaigns, so a candidate we take for our leader has
        // lost its leadership (a restart) and the lease we would guard is its own.
        const inLease = this.cfg.checkQuorum && this.electionElapsed < this.cfg.electionTimeoutTicks &&
          (this.lead !== NONE || this.bootGuard);
        if (inLease && !m.transfer && !(this.lead !== NONE && m.from === this.lead)) {
          this.trace(() => `ignoring ${m.type === MessageType.Vote ? 'vote' : 'pre-vote'} from ${m.from}: in lease`);
          return;
        }
      }
      if (m.type === MessageType.PreVote) {
        // Never change our term because of a pre-vote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // The term in a granted pre-vote answer is the one we will campaign at.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) &&
          (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader (e.g. healed from a partition while we moved on) learns our
        // term from this answer and steps down; otherwise, with check-quorum or pre-vote,
        // nothing would ever tell it.
        const r = emptyMessage();
        r.type = MessageType.AppResp; r.to = m.from; r.term = this.term;
        this.send(r);
      } else if (m.type === MessageType.PreVote || m.type === MessageType.Vote) {
        // Reject rather than drop, so the candidate learns our term. Dropping deadlocks:
        // a voter holding a higher term but a stale configuration may never contact this
        // candidate, which then campaigns at stale terms forever (simulation seed 29304).
        const r = emptyMessage();
        r.type = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
        r.to = m.from; r.term = this.term; r.reject = true;
        this.send(r);
      }
      return;
    }

    switch (m.type) {
      case MessageType.Vote:
      case MessageType.PreVote:
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.role) {
      case StateRole.Leader:
        stepLeader(this, m);
        break;
      case StateRole.Candidate:
      case StateRole.PreCandidate:
        stepCandidate(this, m);
        break;
      default:
        stepFollower(this, m);
    }
  }

  private handleVoteRequest(m: Message): void {
    const isPre = m.type === MessageType.PreVote;
    // We may vote if we already voted for this candidate, or have not voted and know no
    // leader in this term, or (pre-vote) the request is for a future term.
    const canVote = this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (isPre && m.term > this.term);
    const grant = canVote && this.log.isUpToDate(m.index, m.logTerm);
    const r = emptyMessage();
    r.type = isPre ? MessageType.PreVoteResp : MessageType.VoteResp;
    r.to = m.from;
    // A granted pre-vote answers with the requested term (the term the candidate will
    // use); a rejection carries our own term so a stale candidate catches up.
    r.term = grant && isPre ? m.term : this.term;
    r.reject = !grant;
    this.send(r);
    if (grant && !isPre) {
      this.electionElapsed = 0;
      this.vote = m.from;
    }
    this.trace(() => `${grant ? 'granted' : 'rejected'} ${isPre ? 'pre-vote' : 'vote'} to ${m.from}`);
  }

  // ---- membership ----------------------------------------------------------------------

  /** Installs a new configuration and progress map (from restore or a conf change). */
  switchToConfig(r: ChangeResult): void {
    this.trk.config = r.config;
    this.trk.progress = r.progress;
  }

  /** After applying a conf change: react to losing our seat, commit under the new quorum. */
  afterConfChange(): void {
    const self = this.trk.progress.get(this.id);
    if (this.role !== StateRole.Leader) return;
    if (!self || self.isLearner) {
      // Removed or demoted leader: it must not count itself any more, so it hands the
      // group to the most caught-up voter at once and steps down.
      let best = NONE;
      let bestMatch = -1;
      this.trk.visit((id, pr) => {
        if (id !== this.id && !pr.isLearner && this.trk.isVoter(id) && pr.match > bestMatch) {
          best = id;
          bestMatch = pr.match;
        }
      });
      if (best !== NONE && bestMatch === this.log.lastIndex()) sendTimeoutNow(this, best);
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.trk.config.incoming.length === 0) return;
    if (this.maybeCommit()) bcastAppend(this);
    else this.trk.visit((id) => { if (id !== this.id) sendAppend(this, id, false); });
    if (this.leadTransferee !== NONE && !this.trk.config.incoming.includes(this.leadTransferee)) {
      abortLeaderTransfer(this, 'transferee removed or demoted');
    }
  }

  /** Leader: advance commit to what a (joint) quorum has persisted, if of our term. */
  maybeCommit(): boolean {
    const ci = this.trk.committed();
    const before = this.log.committed;
    if (!this.log.maybeCommit(ci, this.term)) return false;
    this.trace(() => `committed ${before} -> ${this.log.committed}`);
    return true;
  }
}

const EMPTY = new Uint8Array(0);

export function roleName(r: StateRole): string {
  switch (r) {
    case StateRole.Follower: return 'follower';
    case StateRole.Candidate: return 'candidate';
    case StateRole.PreCandidate: return 'pre-candidate';
    default: return 'leader';
  }
}
