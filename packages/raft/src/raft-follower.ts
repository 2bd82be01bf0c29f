// Followers and (pre-)candidates: accepting appends, heartbeats and snapshots from the
// leader, counting votes, forwarding reads and transfer requests.
import { emptyMessage } from './message.js';
import type { Raft } from './raft.js';
import { restoreConfig } from './confchange/index.js';
import { MessageType, NONE, StateRole, type Message } from './types.js';

export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.App:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleAppend(r, m);
      return;
    case MessageType.Heartbeat:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleHeartbeat(r, m);
      return;
    case MessageType.Snap:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleSnapshot(r, m);
      return;
    case MessageType.TimeoutNow:
      // The leader asks us to take over: campaign now, skipping pre-vote, with the
      // transfer flag so voters in a lease still answer.
      r.trace(() => `TimeoutNow from ${m.from}: campaigning`);
      r.hup('transfer');
      return;
    case MessageType.TransferLeader:
    case MessageType.ReadIndex:
      if (r.lead === NONE) {
        r.trace(() => 'no leader to forward to; dropping');
        return;
      }
      forward(r, m);
      return;
    case MessageType.ReadIndexResp:
      if (m.context) r.readStates.push({ index: m.index, requestCtx: m.context });
      return;
    default:
      return;
  }
}

export function stepCandidate(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.App:
      r.becomeFollower(m.term, m.from); // a leader exists in our term
      handleAppend(r, m);
      return;
    case MessageType.Heartbeat:
      r.becomeFollower(m.term, m.from);
      handleHeartbeat(r, m);
      return;
    case MessageType.Snap:
      r.becomeFollower(m.term, m.from);
      handleSnapshot(r, m);
      return;
    case MessageType.VoteResp:
    case MessageType.PreVoteResp: {
      const mine = r.role === StateRole.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
      if (m.type !== mine) return;
      r.trk.recordVote(m.from, !m.reject);
      r.checkVotes();
      return;
    }
    default:
      return; // TimeoutNow, reads, transfers: no leader to act
  }
}

function forward(r: Raft, m: Message): void {
  const f = emptyMessage();
  f.type = m.type; f.to = r.lead; f.index = m.index; f.context = m.context; f.transfer = m.transfer;
  r.send(f);
}

function handleAppend(r: Raft, m: Message): void {
  const resp = emptyMessage();
  resp.type = MessageType.AppResp; resp.to = m.from;
  if (m.index < r.log.committed) {
    // Everything up to our commit index is known to match; tell the leader so.
    resp.index = r.log.committed;
    r.send(resp);
    return;
  }
  const lastNew = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNew >= 0) {
    resp.index = lastNew;
    r.send(resp);
    return;
  }
  // Reject with a hint: the largest index <= min(prevIndex, lastIndex) whose term is <=
  // the leader's prevTerm, with that term. The leader skips every index above it.
  const hintIndex = Math.min(m.index, r.log.lastIndex());
  const [idx, term] = r.log.findConflictByTerm(hintIndex, m.logTerm);
  resp.index = m.index;
  resp.reject = true;
  resp.rejectHint = idx;
  resp.logTerm = term;
  r.trace(() => `rejected App prev=${m.index}/${m.logTerm}; hint ${idx}/${term}`);
  r.send(resp);
}

function handleHeartbeat(r: Raft, m: Message): void {
  r.log.commitTo(m.commit);
  const resp = emptyMessage();
  resp.type = MessageType.HeartbeatResp; resp.to = m.from; resp.index = m.index; resp.context = m.context;
  r.send(resp);
}

function handleSnapshot(r: Raft, m: Message): void {
  const snap = m.snapshot;
  const resp = emptyMessage();
  resp.type = MessageType.AppResp; resp.to = m.from;
  if (snap && restore(r, m)) {
    r.trace(() => `restored snapshot ${snap.meta.index}/${snap.meta.term}`);
    resp.index = r.log.lastIndex();
  } else {
    resp.index = r.log.committed;
  }
  r.send(resp);
}

/** Installs the snapshot if it is newer than our commit and names us; rebuilds membership. */
function restore(r: Raft, m: Message): boolean {
  const s = m.snapshot!;
  // A snapshot at or below commit adds nothing and could move us backwards.
  if (s.meta.index <= r.log.committed) return false;
  const cs = s.meta.confState;
  const named = cs.voters.includes(r.id) || cs.learners.includes(r.id) || cs.votersOutgoing.includes(r.id) ||
    cs.learnersNext.includes(r.id);
  if (!named) {
    r.trace(() => `ignoring snapshot ${s.meta.index}: not a member of its configuration`);
    return false;
  }
  if (r.log.matchTerm(s.meta.index, s.meta.term)) {
    // We already hold the entry: just commit up to it (our log may hold more).
    r.log.commitTo(s.meta.index);
    return false;
  }
  r.log.restore(s);
  r.switchToConfig(restoreConfig(cs, r.log.lastIndex(), r.cfg.maxInflightMsgs, r.cfg.maxInflightBytes));
  // Conf change entries below the snapshot may still be waiting to be applied; the
  // snapshot's membership already includes them, so they must not be applied on top.
  r.configIndex = s.meta.index;
  return true;
}
