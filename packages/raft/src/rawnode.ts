// RawNode: the public face of one raft group. The caller feeds it ticks, messages and
// proposals, takes Ready values, persists and sends their contents, and acknowledges
// persistence and application explicitly, so storage and apply can be asynchronous.
//
//   const node = new RawNode({ id: 1, storage, prng, electionTimeoutTicks: 10, heartbeatIntervalTicks: 1 });
//   node.tick();                         // on the caller's timer
//   node.step(msgFromNetwork);
//   if (node.hasReady()) {
//     const rd = node.ready();
//     send(rd.messages);
//     persist(rd).then(() => { send(rd.messagesAfterPersist); node.ackPersisted(rd); });
//     apply(rd.committedEntries).then((last) => node.appliedTo(last));
//   }
import type { RaftConfig } from './config.js';
import {
  ConfChangeError, decodeConfChange, encodeConfChange, enterJoint, enterJointAutoLeave,
  isLeaveJoint, leaveJoint, simpleChange, type ChangeResult,
} from './confchange/index.js';
import { Raft, type CampaignKind } from './raft.js';
import { bcastCommit, handleReadIndex, leaseValid, onCommitAdvanced, propose, transferLeader } from './raft-leader.js';
import { emptyMessage } from './message.js';
import {
  DropReason, EntryType, MessageType, NONE, ProgressState, StateRole,
  type ConfChangeV2, type ConfState, type Entry, type HardState, type Message, type NodeId,
  type ProposeResult, type Ready, type SoftState,
} from './types.js';
import { invariant, payloadSizeBytes } from './util.js';
import { coalesceAppends } from './coalesce.js';
import type { ProgressTracker } from './tracker/index.js';

export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
}

export interface RaftStatus {
  id: NodeId;
  term: number;
  vote: NodeId;
  commit: number;
  lead: NodeId;
  role: StateRole;
  applied: number;
  lastIndex: number;
  firstIndex: number;
  leadTransferee: NodeId;
  /** Index of the newest conf change in the log (a leader's; at election, its last index): one is pending while it is above `applied`. */
  pendingConfIndex: number;
  config: ConfState;
  /** Leader only: each member's replication progress. */
  progress: Map<NodeId, ProgressStatus> | null;
}

export interface BasicStatus {
  term: number;
  commit: number;
  role: StateRole;
  lead: NodeId;
}

export class RawNode {
  private readonly r: Raft;
  private prevHard: HardState;
  private prevSoft: SoftState;
  private readySeq = 0;
  private ackedSeq = 0;
  /** Indexes of ConfChange entries handed out for apply, in order, not yet applied. */
  private confChangesHandedOut: number[] = [];

  constructor(cfg: RaftConfig) {
    this.r = new Raft(cfg);
    this.prevHard = this.r.hardState();
    this.prevSoft = { lead: this.r.lead, role: this.r.role };
  }

  get id(): NodeId {
    return this.r.id;
  }

  tick(): void {
    this.r.tick();
  }

  /** Starts an election now (with pre-vote if configured). */
  campaign(): void {
    this.r.hup(this.r.cfg.preVote ? 'pre-election' : 'election');
  }

  /**
   * Steps a message from a peer. Throws MessageRefusedError, and changes nothing, for a
   * malformed message or one carrying a term or index beyond MAX_TERM / MAX_INDEX.
   */
  step(m: Message): void {
    this.r.step(m);
  }

  /**
   * A follower takes the commit index of a heartbeat from the leader it follows, at its
   * term, without answering it: the multiraft host's quiesce heartbeat, whose answer
   * would wake the leader again (with lazyCommitBroadcast it is how an idle group's
   * followers learn the last commit). Only for a commit its log holds exactly
   * (lastIndex == m.commit: the leader quiesces only once every follower matches its whole
   * log). Returns false, changing nothing, otherwise: step it as a heartbeat.
   */
  commitFromQuiesce(m: Message): boolean {
    const r = this.r;
    if (r.role !== StateRole.Follower || m.type !== MessageType.Heartbeat || m.term !== r.term || m.from !== r.lead) return false;
    if (m.commit !== r.log.lastIndex() || m.commit < r.log.committed) return false;
    r.electionElapsed = 0;
    r.log.commitTo(m.commit);
    return true;
  }

  /**
   * Marks `index` committed when this replica's log holds it with `term`, for a caller that
   * knows from outside the group that the entry committed: a range merge, whose left range
   * commits only after every replica of the right range holds the right's log up to the
   * freeze, and whose followers may never hear the right range's leader again (it is
   * destroyed by the merge). Log matching makes the whole prefix the committed one.
   * Returns whether the commit index moved.
   */
  commitKnown(index: number, term: number): boolean {
    const log = this.r.log;
    if (index <= log.committed || index > log.lastIndex() || !log.matchTerm(index, term)) return false;
    log.commitTo(index);
    return true;
  }

  /**
   * Proposes one entry. `broadcastCommit` (with lazyCommitBroadcast): its commit is told to
   * the followers at once, as a conf change's is, for an entry whose apply the followers
   * should not put off (a split).
   */
  propose(data: Uint8Array, opts?: { broadcastCommit?: boolean }): ProposeResult {
    const res = propose(this.r, [{ term: 0, index: 0, type: EntryType.Normal, data }]);
    if (res.ok && opts?.broadcastCommit === true) this.r.broadcastCommitIndex = res.index;
    return res;
  }

  /** Appends several entries at once (one replication round); index is the last one's. */
  proposeBatch(datas: readonly Uint8Array[]): ProposeResult {
    if (datas.length === 0) throw new RangeError('raft: proposeBatch needs at least one entry');
    const es: Entry[] = datas.map((data) => ({ term: 0, index: 0, type: EntryType.Normal, data }));
    return propose(this.r, es);
  }

  proposeConfChange(cc: ConfChangeV2): ProposeResult {
    const r = this.r;
    if (r.role === StateRole.Leader) {
      if (r.pendingConfIndex > r.log.applied) {
        return { ok: false, reason: DropReason.ConfChangePending, leader: r.lead,
          detail: `conf change at index ${r.pendingConfIndex} is not applied yet (applied ${r.log.applied})` };
      }
      try {
        computeChange(r.trk, r.log.lastIndex(), cc); // validate against the current config
      } catch (e) {
        if (!(e instanceof ConfChangeError)) throw e;
        return { ok: false, reason: DropReason.InvalidConfChange, leader: r.lead, detail: e.message };
      }
    }
    return propose(r, [{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) }]);
  }

  /**
   * Applies a committed ConfChange entry to the membership. Call it, in log order, when
   * the entry is applied; returns the resulting configuration to store with the state.
   * Returns null when the entry was handed out before a snapshot past it was restored:
   * that snapshot (applied next) already carries the membership, so there is nothing to
   * store for this entry.
   */
  applyConfChange(cc: ConfChangeV2): ConfState | null {
    const r = this.r;
    const index = this.confChangesHandedOut.shift();
    if (index !== undefined && index <= r.configIndex) {
      r.trace(() => `skipping conf change at ${index}: membership is from index ${r.configIndex}`);
      return null;
    }
    r.switchToConfig(computeChange(r.trk, r.log.lastIndex(), cc));
    if (index !== undefined) r.configIndex = index;
    r.afterConfChange();
    return r.trk.confState();
  }

  transferLeader(to: NodeId): void {
    const r = this.r;
    if (r.role === StateRole.Leader) {
      transferLeader(r, to);
    } else if (r.lead !== NONE) {
      const m = emptyMessage();
      m.type = MessageType.TransferLeader; m.to = r.lead; m.index = to;
      r.send(m);
    }
  }

  /**
   * Requests a linearizable read point. The answer is a ReadState {index, requestCtx} in a
   * later Ready: the read may be served once applied >= index. `lease` lets the leader
   * answer at once while its lease holds (check-quorum only). Returns false if dropped.
   */
  readIndex(ctx: Uint8Array, opts?: { lease?: boolean }): boolean {
    const r = this.r;
    if (r.role === StateRole.Leader) return handleReadIndex(r, r.id, ctx, opts?.lease === true);
    if (r.lead === NONE) return false;
    const m = emptyMessage();
    m.type = MessageType.ReadIndex; m.to = r.lead; m.context = ctx;
    r.send(m);
    return true;
  }

  /**
   * Whether `readIndex(ctx, { lease })` here would broadcast a heartbeat round now: this
   * node leads, committed an entry of its term, has other voters, and the read cannot be
   * answered from the lease. The multiraft host then lets that round wake the followers of
   * a quiescent group instead of sending a wake round first.
   */
  readIndexBroadcasts(lease: boolean): boolean {
    const r = this.r;
    if (r.role !== StateRole.Leader || !r.committedEntryInCurrentTerm() || r.trk.isSingleton()) return false;
    return !(lease && leaseValid(r));
  }

  /**
   * The read index a LEASE read may use right now, with no Ready and no message: the
   * commit index, when this node leads, committed an entry of its term and its lease holds
   * (or it is the only voter); else null. The same answer `readIndex(ctx, { lease: true })`
   * would give in the next Ready, without the wait for it.
   */
  leaseReadIndex(): number | null {
    const r = this.r;
    if (r.role !== StateRole.Leader || !r.committedEntryInCurrentTerm()) return null;
    return r.trk.isSingleton() || leaseValid(r) ? r.log.committed : null;
  }

  reportUnreachable(id: NodeId): void {
    const pr = this.r.role === StateRole.Leader ? this.r.trk.progress.get(id) : undefined;
    if (pr && pr.state === ProgressState.Replicate) pr.becomeProbe();
  }

  /** The transport's verdict on a snapshot it was asked to send. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.r.role === StateRole.Leader ? this.r.trk.progress.get(id) : undefined;
    if (!pr || pr.state !== ProgressState.Snapshot) return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the next heartbeat answer before probing, as after any probe.
    pr.msgAppFlowPaused = true;
  }

  hasReady(): boolean {
    const r = this.r;
    if (r.msgs.length > 0 || r.msgsAfterPersist.length > 0 || r.readStates.length > 0) return true;
    if (r.log.hasNextUnstable() || r.log.hasNextCommitted()) return true;
    if (r.lead !== this.prevSoft.lead || r.role !== this.prevSoft.role) return true;
    return r.term !== this.prevHard.term || r.vote !== this.prevHard.vote || r.log.committed !== this.prevHard.commit;
  }

  ready(): Ready {
    const r = this.r;
    const log = r.log;
    const hs = r.hardState();
    const hardChanged = hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote;
    const hardState = hardChanged || hs.commit !== this.prevHard.commit ? hs : null;
    const softState = r.lead !== this.prevSoft.lead || r.role !== this.prevSoft.role ? { lead: r.lead, role: r.role } : null;
    const entries = log.unstable.nextEntries();
    const snapshot = log.unstable.nextSnapshot();
    const committedEntries = log.nextCommitted();
    const rd: Ready = {
      seq: ++this.readySeq,
      softState,
      hardState,
      entries,
      snapshot,
      committedEntries,
      messages: r.cfg.coalesceAppends ? coalesceAppends(r.msgs, r.cfg.maxMsgBytes) : r.msgs,
      messagesAfterPersist: r.msgsAfterPersist,
      readStates: r.readStates,
      mustSync: hardChanged || entries.length > 0 || snapshot !== null,
    };
    // Take ownership: nothing above is handed out twice.
    log.unstable.acceptInProgress();
    if (snapshot) log.acceptSnapshotApplying(snapshot);
    log.acceptApplying(committedEntries);
    for (const e of committedEntries) if (e.type === EntryType.ConfChange) this.confChangesHandedOut.push(e.index);
    if (r.role === StateRole.Leader && committedEntries.length > 0) {
      r.uncommittedBytes = Math.max(0, r.uncommittedBytes - payloadSizeBytes(committedEntries));
    }
    r.msgs = [];
    r.msgsAfterPersist = [];
    r.readStates = [];
    if (hardState) this.prevHard = hs;
    if (softState) this.prevSoft = softState;
    return rd;
  }

  /**
   * The caller made `rd`'s snapshot, entries and hard state durable (and visible through
   * the storage interface) and sent its messagesAfterPersist. Every Ready, in order.
   */
  ackPersisted(rd: Ready): void {
    invariant(rd.seq === this.ackedSeq + 1, () => `ackPersisted out of order: got Ready ${rd.seq}, expected ${this.ackedSeq + 1}`);
    this.ackedSeq = rd.seq;
    const r = this.r;
    if (rd.snapshot) r.log.stableSnapTo(rd.snapshot.meta.index);
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      r.log.stableTo(last.index, last.term);
      // The leader counts itself toward commit only for entries it holds durably, and
      // never because of an ack for entries that were since overwritten (term check).
      if (r.role === StateRole.Leader && r.log.termAt(last.index) === last.term) {
        const self = r.trk.progress.get(r.id);
        const before = r.log.committed;
        if (self && self.maybeUpdate(last.index) && r.maybeCommit()) {
          onCommitAdvanced(r);
          bcastCommit(r, before);
        }
      }
    }
    if (rd.hardState) r.onHardStatePersisted(rd.hardState);
  }

  /** The state machine applied everything up to `index` (handed out in Readies). */
  appliedTo(index: number): void {
    const r = this.r;
    r.log.appliedTo(index);
    r.onApplied();
    // Auto-leave: once the joint configuration is applied, the leader proposes leaving it.
    if (r.role === StateRole.Leader && r.trk.config.autoLeave && r.log.applied >= r.pendingConfIndex) {
      const res = propose(r, [{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(LEAVE_JOINT) }]);
      r.trace(() => res.ok ? `proposed leaving the joint configuration at ${res.index}` : `auto-leave deferred: ${res.detail}`);
    }
  }

  /** Term, commit, role and leader without the progress map and configuration status() builds (hot paths, simulation checks). */
  basicStatus(): BasicStatus {
    const r = this.r;
    return { term: r.term, commit: r.log.committed, role: r.role, lead: r.lead };
  }

  status(): RaftStatus {
    const r = this.r;
    let progress: Map<NodeId, ProgressStatus> | null = null;
    if (r.role === StateRole.Leader) {
      progress = new Map();
      r.trk.visit((id, pr) => progress!.set(id, { match: pr.match, next: pr.next, state: pr.state }));
    }
    return {
      id: r.id, term: r.term, vote: r.vote, commit: r.log.committed, lead: r.lead, role: r.role,
      applied: r.log.applied, lastIndex: r.log.lastIndex(), firstIndex: r.log.firstIndex(),
      leadTransferee: r.leadTransferee, pendingConfIndex: r.pendingConfIndex, config: r.trk.confState(), progress,
    };
  }

  /** Test and simulation hook: start an election of a given kind. */
  campaignKind(kind: CampaignKind): void {
    this.r.hup(kind);
  }
}

const LEAVE_JOINT: ConfChangeV2 = { transition: 0, changes: [], context: new Uint8Array(0) };

function computeChange(trk: ProgressTracker, lastIndex: number, cc: ConfChangeV2): ChangeResult {
  const input = { tracker: trk, lastIndex };
  if (isLeaveJoint(cc)) return leaveJoint(input);
  const { joint, autoLeave } = enterJointAutoLeave(cc);
  return joint ? enterJoint(input, autoLeave, cc.changes) : simpleChange(input, cc.changes);
}

export { decodeConfChange, encodeConfChange };
