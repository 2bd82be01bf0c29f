// The quiescence rules as pure functions of raft's status and a Ready.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyMessage, MessageType, ProgressState, StateRole, type Message, type RaftStatus, type Ready } from '@rangekv/raft';
import { followerStatusQuiescent, isLateAck, isWakeReadCtx, leaderStatusQuiescent, plainHeartbeatCount, WAKE_READ_CTX } from './quiescence.js';

function leaderStatus(over: Partial<RaftStatus> = {}): RaftStatus {
  const pr = (match: number): { match: number; next: number; state: ProgressState } => ({ match, next: match + 1, state: ProgressState.Replicate });
  return {
    id: 1, term: 3, vote: 1, commit: 10, lead: 1, role: StateRole.Leader, applied: 10, lastIndex: 10, firstIndex: 1,
    leadTransferee: 0, pendingConfIndex: 0,
    config: { voters: [1, 2, 3], learners: [4], votersOutgoing: [], learnersNext: [], autoLeave: false },
    progress: new Map([[1, pr(10)], [2, pr(10)], [3, pr(10)], [4, pr(10)]]),
    ...over,
  };
}

function hb(to: number, over: Partial<Message> = {}): Message {
  return { ...emptyMessage(), type: MessageType.Heartbeat, from: 1, to, term: 3, commit: 10, ...over };
}

function ready(over: Partial<Ready> = {}): Ready {
  return {
    seq: 1, softState: null, hardState: null, entries: [], snapshot: null, committedEntries: [],
    messages: [hb(2), hb(3), hb(4)], messagesAfterPersist: [], readStates: [], mustSync: false, ...over,
  };
}

test('a leader may quiesce only when lastIndex == commit == applied and every member (learners too) matches lastIndex', () => {
  assert.equal(leaderStatusQuiescent(leaderStatus()), true);
  assert.equal(leaderStatusQuiescent(leaderStatus({ applied: 9 })), false, 'apply behind');
  assert.equal(leaderStatusQuiescent(leaderStatus({ lastIndex: 11 })), false, 'uncommitted entry');
  const lagging = leaderStatus();
  lagging.progress!.set(4, { match: 9, next: 10, state: ProgressState.Replicate });
  assert.equal(leaderStatusQuiescent(lagging), false, 'a learner behind');
  assert.equal(leaderStatusQuiescent(leaderStatus({ leadTransferee: 2 })), false, 'transfer in progress');
  assert.equal(leaderStatusQuiescent(leaderStatus({ role: StateRole.Follower, progress: null })), false);
  const joint = leaderStatus();
  joint.config = { ...joint.config, votersOutgoing: [1, 2, 5] };
  assert.equal(leaderStatusQuiescent(joint), false, 'joint configuration');
  const missing = leaderStatus();
  missing.progress!.delete(3);
  assert.equal(leaderStatusQuiescent(missing), false, 'progress does not cover the configuration');
});

test('a member on a store that is not live may lag, as long as the live voters caught up are a quorum', () => {
  const st = leaderStatus();
  st.progress!.set(3, { match: 7, next: 8, state: ProgressState.Probe });
  assert.equal(leaderStatusQuiescent(st), false, 'a live voter behind');
  assert.equal(leaderStatusQuiescent(st, (id) => id === 3), true, 'the voter behind is absent: 1 and 2 are a quorum of 3');
  st.progress!.set(4, { match: 7, next: 8, state: ProgressState.Probe });
  assert.equal(leaderStatusQuiescent(st, (id) => id === 3), false, 'a live learner behind');
  assert.equal(leaderStatusQuiescent(st, (id) => id === 3 || id === 4), true, 'an absent learner behind');
  st.progress!.set(2, { match: 7, next: 8, state: ProgressState.Probe });
  assert.equal(leaderStatusQuiescent(st, () => true), false, 'only the leader caught up: no quorum');
  const allAbsent = leaderStatus();
  assert.equal(leaderStatusQuiescent(allAbsent, (id) => id !== 1), false, 'followers caught up but absent: no live quorum (check-quorum must run)');
  assert.equal(leaderStatusQuiescent(allAbsent, (id) => id === 3), true, 'one voter absent, caught up');
});

test('only a Ready that is a bare heartbeat broadcast can carry the quiesce flag', () => {
  assert.equal(plainHeartbeatCount(ready()), 3);
  assert.equal(plainHeartbeatCount(ready({ messages: [] })), -1);
  assert.equal(plainHeartbeatCount(ready({ messages: [hb(2, { context: WAKE_READ_CTX }), hb(3)] })), -1, 'a read in flight');
  assert.equal(plainHeartbeatCount(ready({ messages: [hb(2), { ...hb(3), type: MessageType.App }] })), -1);
  assert.equal(plainHeartbeatCount(ready({ messages: [hb(2), hb(2)] })), -1, 'two to one member');
  assert.equal(plainHeartbeatCount(ready({ hardState: { term: 3, vote: 1, commit: 10 } })), -1);
  assert.equal(plainHeartbeatCount(ready({ softState: { lead: 1, role: StateRole.Leader } })), -1);
  assert.equal(plainHeartbeatCount(ready({ readStates: [{ index: 10, requestCtx: new Uint8Array(16) }] })), -1);
});

test('a follower accepts the quiesce flag only from its leader, at its term, with its log exactly at the leader commit', () => {
  const f: RaftStatus = { ...leaderStatus(), id: 2, role: StateRole.Follower, lead: 1, progress: null };
  assert.equal(followerStatusQuiescent(f, hb(2)), true);
  assert.equal(followerStatusQuiescent(f, hb(2, { term: 4 })), false, 'another term');
  assert.equal(followerStatusQuiescent(f, hb(2, { from: 3 })), false, 'not from our leader');
  assert.equal(followerStatusQuiescent(f, hb(2, { commit: 11 })), false, 'we lack entries');
  assert.equal(followerStatusQuiescent({ ...f, lastIndex: 11 }, hb(2)), false, 'we hold an uncommitted tail');
  // The leader broadcasts commits lazily: the quiesce heartbeat carries the last one, taken and applied while quiescent.
  assert.equal(followerStatusQuiescent({ ...f, commit: 9, applied: 9 }, hb(2)), true, 'commit behind: learned from the heartbeat');
  assert.equal(followerStatusQuiescent({ ...f, applied: 9 }, hb(2)), true, 'apply behind: applied while quiescent');
  assert.equal(followerStatusQuiescent({ ...f, role: StateRole.Candidate }, hb(2)), false);
});

test('wake-up reads have a context no real read uses', () => {
  assert.equal(isWakeReadCtx(WAKE_READ_CTX), true);
  assert.equal(isWakeReadCtx(null), false);
  assert.equal(isWakeReadCtx(new Uint8Array(16)), false);
});

test('a quiescent leader absorbs late answers but not the answer of a follower that refused the quiesce heartbeat', () => {
  const resp = (index: number): Message => ({ ...emptyMessage(), type: MessageType.HeartbeatResp, from: 2, to: 1, term: 3, index });
  assert.equal(isLateAck(resp(40), 42), true, 'answer to an earlier heartbeat');
  assert.equal(isLateAck(resp(42), 42), false, 'answer to the quiesce heartbeat itself: the follower refused');
  assert.equal(isLateAck({ ...emptyMessage(), type: MessageType.AppResp, from: 2, to: 1, term: 3, index: 10 }, 42), true);
  assert.equal(isLateAck({ ...emptyMessage(), type: MessageType.AppResp, from: 2, to: 1, term: 3, reject: true }, 42), false);
  assert.equal(isLateAck({ ...emptyMessage(), type: MessageType.PreVote, from: 2, to: 1, term: 4 }, 42), false);
});
