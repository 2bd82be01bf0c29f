// The leader: replication with per-follower flow control, heartbeats, ReadIndex and
// lease reads, leadership transfer, and proposals.
import { MAX_INDEX } from './bounds.js';
import { emptyMessage } from './message.js';
import { jointCommittedIndex, jointVoteResult, VoteResult } from './quorum/index.js';
import type { Raft } from './raft.js';
import { ReadOnly } from './read-only.js';
import { ProgressState } from './types.js';
import {
  DropReason, EntryType, MessageType, NONE, StateRole,
  type Entry, type Message, type NodeId, type ProposeResult,
} from './types.js';
import { entriesSizeBytes, invariant } from './util.js';

// ---- replication -------------------------------------------------------------------------

/**
 * Sends an App to `to` if its flow control allows: the entries from its Next (bounded by
 * maxMsgBytes), or a snapshot when those entries are compacted. With `sendIfEmpty`, an
 * empty App is sent as a probe / commit update. Returns whether a message was sent.
 */
export function sendAppend(r: Raft, to: NodeId, sendIfEmpty: boolean): boolean {
  const pr = r.trk.progress.get(to);
  if (!pr || pr.isPaused()) return false;
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.termAt(prevIndex);
  const ents = prevTerm < 0 ? null : r.log.entriesFrom(pr.next, r.cfg.maxMsgBytes);
  if (ents === null) return sendSnapshot(r, to);
  if (ents.length === 0 && !sendIfEmpty) return false;
  const m = emptyMessage();
  m.type = MessageType.App; m.to = to; m.index = prevIndex; m.logTerm = prevTerm;
  m.entries = ents; m.commit = r.log.committed;
  r.send(m);
  if (ents.length > 0) pr.entriesSinceHeartbeat = true;
  pr.sentEntries(ents.length, ents.length > 0 ? entriesSizeBytes(ents) : 0);
  return true;
}

function sendSnapshot(r: Raft, to: NodeId): boolean {
  const pr = r.trk.progress.get(to)!;
  // Only to a follower we recently heard from: snapshots are expensive.
  if (!pr.recentActive) return false;
  const snap = r.log.snapshot();
  // Missing, or older than where our log starts (it could not bridge the gap): try later.
  if (snap === null || snap.meta.index < r.log.firstIndex() - 1) {
    r.trace(() => `no usable snapshot for ${to} yet`);
    return false;
  }
  invariant(snap.meta.index > 0, 'need a non-empty snapshot to replace compacted entries');
  pr.becomeSnapshot(snap.meta.index);
  (r.snapshotSentTick ??= new Map()).set(to, r.ticks);
  const m = emptyMessage();
  m.type = MessageType.Snap; m.to = to; m.snapshot = snap;
  r.send(m);
  r.trace(() => `sent snapshot ${snap.meta.index}/${snap.meta.term} to ${to}`);
  return true;
}

export function bcastAppend(r: Raft): void {
  r.trk.visit((id) => {
    if (id !== r.id) sendAppend(r, id, true);
  });
}

/**
 * The commit index advanced from `before`: tell the followers in empty appends, or, with
 * lazyCommitBroadcast, send only entries they still need (the commit rides on those, the
 * next heartbeat, or the quiesce heartbeat). A commit that covers a configuration change
 * (or a new leader's first entry) is still told at once: a follower the change removes
 * learns it only from this append (once the leader applies the change it no longer
 * replicates to it), and the rest apply the new configuration without waiting.
 */
export function bcastCommit(r: Raft, before: number): void {
  // Entries flagged broadcastCommit (a split: the followers must create the new range
  // before its leader replicates to them) are told at once too.
  const c = r.log.committed;
  const urgent = (r.pendingConfIndex > before && r.pendingConfIndex <= c) || (r.broadcastCommitIndex > before && r.broadcastCommitIndex <= c);
  if (!r.cfg.lazyCommitBroadcast || urgent) {
    bcastAppend(r);
    return;
  }
  r.trk.visit((id) => {
    if (id !== r.id) sendAppend(r, id, false);
  });
}

/**
 * One heartbeat per follower; the stamp (our tick) lets acks extend the lease. A
 * `periodic` round (tick) with skipHeartbeatsAfterAppends skips a follower in replicate
 * state that was sent entries since the previous round, unless a read waits for a quorum
 * (the round carries its context): the append reset its election timer, its answer
 * extends the lease (handleAppAccept), and a lost append shows as a rejected next one or,
 * once appends stop, at the next round.
 */
export function bcastHeartbeat(r: Raft, periodic = false): void {
  const ctx = r.readOnly?.lastCtx() ?? null;
  const skipAppended = periodic && ctx === null && r.cfg.skipHeartbeatsAfterAppends;
  r.trk.visit((id, pr) => {
    if (id === r.id) return;
    const appended = pr.entriesSinceHeartbeat;
    pr.entriesSinceHeartbeat = false;
    if (skipAppended && appended && pr.state === ProgressState.Replicate) return;
    const m = emptyMessage();
    m.type = MessageType.Heartbeat; m.to = id;
    // Never tell a follower to commit beyond what it is known to hold.
    m.commit = Math.min(pr.match, r.log.committed);
    m.index = r.ticks;
    m.context = ctx;
    r.send(m);
  });
}

export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.ReadIndex:
      handleReadIndex(r, m.from, m.context ?? EMPTY, false);
      return;
    case MessageType.TransferLeader:
      transferLeader(r, m.index);
      return;
    default:
      break;
  }
  const pr = r.trk.progress.get(m.from);
  if (!pr) {
    r.trace(() => `no progress for ${m.from}; dropping`);
    return;
  }
  switch (m.type) {
    case MessageType.AppResp:
      pr.recentActive = true;
      if (m.reject) handleAppReject(r, m);
      else handleAppAccept(r, m);
      return;
    case MessageType.HeartbeatResp:
      handleHeartbeatResp(r, m);
      return;
    default:
      // Vote answers after winning, stale snapshots: nothing to do.
      return;
  }
}

function handleAppReject(r: Raft, m: Message): void {
  const pr = r.trk.progress.get(m.from)!;
  // The follower's log does not hold our entry at m.index. It told us (rejectHint,
  // logTerm): its entry at rejectHint has term logTerm. Worked example (leader | follower):
  //   idx   1 2 3 4 5 6 7 8 9
  //   L     1 1 1 4 4 5 5 6 6        probe prev=8/6 is rejected
  //   F     1 1 1 2 2 2 3 3 3        hint=8, logTerm=3
  // Our entries with term <= 3 end at index 3, so the follower can only match at or
  // below 3: probe there next instead of walking down one index per round trip.
  let nextProbe = m.rejectHint;
  if (m.logTerm > 0) nextProbe = r.log.findConflictByTerm(m.rejectHint, m.logTerm)[0];
  if (pr.maybeDecrTo(m.index, nextProbe)) {
    r.trace(() => `${m.from} rejected ${m.index}; probing from ${pr.next}`);
    if (pr.state === ProgressState.Replicate) pr.becomeProbe();
    sendAppend(r, m.from, true);
  }
}

function handleAppAccept(r: Raft, m: Message): void {
  const pr = r.trk.progress.get(m.from)!;
  // The follower heard from us no earlier than entry m.index was appended here: every
  // message that makes it answer m.index (its entries, or a commit at or above it) left
  // after that. So the answer extends the lease as a heartbeat sent then would.
  const heard = r.appendTickOf(m.index);
  if (heard !== null) noteHeard(r, m.from, heard);
  const wasPaused = pr.isPaused();
  if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === ProgressState.Probe)) {
    return; // stale or duplicate
  }
  if (pr.state === ProgressState.Probe) {
    pr.becomeReplicate();
  } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= r.log.firstIndex()) {
    // The snapshot (or later appends) caught the follower up to where our log starts.
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.state === ProgressState.Replicate) {
    pr.inflights.freeLE(m.index);
  }
  const before = r.log.committed;
  if (r.maybeCommit()) {
    onCommitAdvanced(r);
    bcastCommit(r, before);
  } else if (wasPaused) {
    // It may have missed a commit update while paused: send one even without entries.
    sendAppend(r, m.from, true);
  }
  // Send as much as flow control allows.
  while (sendAppend(r, m.from, false)) { /* keep going */ }
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
    r.trace(() => `transferee ${m.from} caught up; sending TimeoutNow`);
    sendTimeoutNow(r, m.from);
  }
}

function handleHeartbeatResp(r: Raft, m: Message): void {
  const pr = r.trk.progress.get(m.from)!;
  pr.recentActive = true;
  pr.msgAppFlowPaused = false;
  noteHeard(r, m.from, m.index);
  if (pr.state === ProgressState.Snapshot) {
    // A snapshot whose fate we never heard of (lost, receiver crashed) is retried after
    // two election timeouts.
    const sent = r.snapshotSentTick?.get(m.from) ?? r.ticks;
    if (r.ticks - sent >= 2 * r.cfg.electionTimeoutTicks) {
      pr.becomeProbe();
      r.snapshotSentTick?.delete(m.from);
    }
  } else if (pr.state === ProgressState.Replicate && pr.inflights.full() && pr.match < r.log.lastIndex()) {
    // A full window that heartbeats cannot drain means appends were lost: probe again.
    pr.becomeProbe();
  }
  if (pr.match < r.log.lastIndex() || pr.state === ProgressState.Probe) sendAppend(r, m.from, true);

  if (m.context === null || m.context.length === 0 || !r.readOnly) return;
  const acks = r.readOnly.recvAck(m.from, m.context);
  if (!acks) return;
  acks.add(r.id);
  if (jointVoteResult(r.trk.config, ackVotes(acks)) !== VoteResult.Won) return;
  for (const rd of r.readOnly.advance(m.context)) respondRead(r, rd.from, rd.index, rd.ctx);
}

/** `from` heard from us at or after our tick `tick` (the lease, leaseValid). */
function noteHeard(r: Raft, from: NodeId, tick: number): void {
  const acks = r.heartbeatAckTick;
  if (acks !== null && tick > (acks.get(from) ?? -1)) acks.set(from, tick);
}

function ackVotes(acks: Set<NodeId>): Map<NodeId, boolean> {
  const votes = new Map<NodeId, boolean>();
  for (const id of acks) votes.set(id, true);
  return votes;
}

/** Called once commit advanced: releases reads held until the first commit of the term. */
export function onCommitAdvanced(r: Raft): void {
  if (!r.pendingReadIndex || !r.committedEntryInCurrentTerm()) return;
  const held = r.pendingReadIndex;
  r.pendingReadIndex = null;
  for (const h of held) handleReadIndex(r, h.from, h.ctx, h.lease);
}

// ---- reads -------------------------------------------------------------------------------

/**
 * The lease: a quorum acknowledged a heartbeat we sent at tick S, and each of them then
 * refuses to vote for anyone else for an election timeout after hearing it (check-quorum).
 * So until S + electionTimeout (less a drift margin) no other leader can exist.
 */
export function leaseValid(r: Raft): boolean {
  if (!r.cfg.checkQuorum || r.role !== StateRole.Leader || r.leadTransferee !== NONE) return false;
  // A TimeoutNow we sent may still arrive late and win an election past the followers'
  // leases (the transfer flag bypasses them), so after sending one, no lease this term.
  if (r.timeoutNowSent) return false;
  const acks = r.heartbeatAckTick;
  if (!acks) return false;
  const now = r.ticks;
  const stamp = jointCommittedIndex(r.trk.config, (id) => (id === r.id ? now : acks.get(id)));
  return now < stamp + r.cfg.electionTimeoutTicks - r.cfg.leaseMarginTicks;
}

/**
 * A read request from `from` (us or a follower). The read index is our commit index,
 * valid once a quorum confirms we are still leader (or our lease holds), and only after
 * we committed an entry of our term (before that our commit index may be stale).
 */
export function handleReadIndex(r: Raft, from: NodeId, ctx: Uint8Array, wantLease: boolean): boolean {
  if (!r.committedEntryInCurrentTerm()) {
    const held = (r.pendingReadIndex ??= []);
    if (held.length >= r.cfg.maxPendingReads) return false;
    held.push({ from, ctx, lease: wantLease });
    return true;
  }
  if (r.trk.isSingleton() || (wantLease && leaseValid(r))) {
    respondRead(r, from, r.log.committed, ctx);
    return true;
  }
  const ro = (r.readOnly ??= new ReadOnly());
  if (ro.size() >= r.cfg.maxPendingReads) return false;
  ro.add(r.log.committed, from, ctx);
  bcastHeartbeat(r);
  return true;
}

function respondRead(r: Raft, from: NodeId, index: number, ctx: Uint8Array): void {
  if (from === r.id || from === NONE) {
    r.readStates.push({ index, requestCtx: ctx });
    return;
  }
  const m = emptyMessage();
  m.type = MessageType.ReadIndexResp; m.to = from; m.index = index; m.context = ctx;
  r.send(m);
}

// ---- leadership transfer -------------------------------------------------------------------

export function transferLeader(r: Raft, target: NodeId): void {
  if (r.role !== StateRole.Leader) return;
  if (target === r.id) return;
  if (!r.trk.config.incoming.includes(target)) {
    r.trace(() => `ignoring transfer to ${target}: not a voter of the new configuration`);
    return;
  }
  if (r.leadTransferee !== NONE) {
    if (r.leadTransferee === target) return;
    abortLeaderTransfer(r, `superseded by transfer to ${target}`);
  }
  // The transfer must finish within one election timeout, counted from now.
  r.electionElapsed = 0;
  r.leadTransferee = target;
  const pr = r.trk.progress.get(target)!;
  r.trace(() => `transferring leadership to ${target}`);
  if (pr.match === r.log.lastIndex()) sendTimeoutNow(r, target);
  else sendAppend(r, target, true);
}

export function sendTimeoutNow(r: Raft, to: NodeId): void {
  r.timeoutNowSent = true;
  const m = emptyMessage();
  m.type = MessageType.TimeoutNow; m.to = to;
  r.send(m);
}

export function abortLeaderTransfer(r: Raft, why: string): void {
  r.trace(() => `aborting transfer to ${r.leadTransferee}: ${why}`);
  r.leadTransferee = NONE;
}

// ---- proposals ---------------------------------------------------------------------------

function dropped(r: Raft, reason: DropReason, detail: string): ProposeResult {
  return { ok: false, reason, leader: r.lead, detail };
}

/** Leader: append entries built from `datas` (all Normal, or one ConfChange). */
export function propose(r: Raft, es: Entry[]): ProposeResult {
  if (r.role !== StateRole.Leader) {
    return dropped(r, DropReason.NotLeader, r.lead === NONE ? 'no leader known' : `leader is ${r.lead}`);
  }
  if (r.leadTransferee !== NONE) {
    return dropped(r, DropReason.Transferring, `transferring leadership to ${r.leadTransferee}`);
  }
  for (const e of es) {
    if (e.data.length > r.cfg.maxEntryBytes) {
      return dropped(r, DropReason.EntryTooLarge, `entry of ${e.data.length} bytes exceeds maxEntryBytes ${r.cfg.maxEntryBytes}`);
    }
  }
  const lastIndex = r.log.lastIndex();
  if (es.length > MAX_INDEX - lastIndex) {
    return dropped(r, DropReason.IndexLimit, `${es.length} entries after last index ${lastIndex} would pass MAX_INDEX ${MAX_INDEX}`);
  }
  if (!r.appendEntries(es)) {
    return dropped(r, DropReason.UncommittedSizeLimit,
      `uncommitted entries hold ${r.uncommittedBytes} bytes (maxUncommittedEntriesBytes ${r.cfg.maxUncommittedEntriesBytes})`);
  }
  const last = es[es.length - 1]!;
  if (last.type === EntryType.ConfChange) r.pendingConfIndex = last.index;
  bcastAppend(r);
  // A single voter commits on its own persist ack; nothing else to do here.
  return { ok: true, index: last.index, term: last.term };
}

const EMPTY = new Uint8Array(0);
