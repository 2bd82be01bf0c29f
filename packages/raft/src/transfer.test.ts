// Leadership transfer (Raft thesis §3.10): the leader first brings the target up to date,
// then sends TimeoutNow; the target campaigns at once, skipping pre-vote, and voters in a
// lease still answer because the request carries the transfer flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, confChange, utf8 } from './testing/harness.js';
import { ConfChangeTransition, DropReason, MessageType, NONE, StateRole, type Message } from './types.js';

const ELECTION_TICKS = 10;

/** Records every message that passes the network (cuts apply first). */
function record(h: Harness): Message[] {
  const seen: Message[] = [];
  h.filter = (m) => {
    if (!h.cut.has(`${m.from}->${m.to}`)) seen.push(m);
    return true;
  };
  return seen;
}

test('transfer to an up-to-date follower: TimeoutNow at once, and the target wins the next term', () => {
  const h = new Harness();
  h.elect(1);
  const term = h.get(1).status().term;
  h.get(1).transferLeader(2);
  h.settle();
  assert.equal(h.leader(), 2);
  assert.equal(h.get(2).status().term, term + 1);
  assert.equal(h.get(1).status().role, StateRole.Follower);
  assert.equal(h.get(1).status().lead, 2);
});

test('transfer to a lagging follower: the target is caught up first, then TimeoutNow', () => {
  const h = new Harness();
  h.elect(1);
  h.isolate(3);
  h.put(1, 'a');
  h.put(1, 'b');
  h.heal();
  const seen = record(h);
  h.get(1).transferLeader(3);
  h.settle();
  const toTarget = seen.filter((m) => m.from === 1 && m.to === 3).map((m) => m.type);
  const firstTimeoutNow = toTarget.indexOf(MessageType.TimeoutNow);
  assert.ok(firstTimeoutNow > 0, `messages to 3: ${toTarget.join(' ')}`);
  assert.ok(toTarget.slice(0, firstTimeoutNow).includes(MessageType.App), 'appends before TimeoutNow');
  assert.equal(h.leader(), 3);
  assert.deepEqual(h.appliedData(3), ['a', 'b']);
});

test('TimeoutNow skips pre-vote and lease: the target wins though every follower is in its lease', () => {
  const h = new Harness({ config: { preVote: true, checkQuorum: true } });
  h.elect(1);
  h.tickAll(2); // followers have heard from 1 just now
  const seen = record(h);
  h.get(1).transferLeader(3);
  h.settle();
  const fromTarget = seen.filter((m) => m.from === 3).map((m) => m.type);
  assert.ok(!fromTarget.includes(MessageType.PreVote), 'no pre-vote');
  const votes = seen.filter((m) => m.type === MessageType.Vote);
  assert.ok(votes.length > 0 && votes.every((m) => m.transfer), 'vote requests carry the transfer flag');
  assert.equal(h.leader(), 3);
});

test('proposals are dropped with Transferring while a transfer is in progress', () => {
  const h = new Harness();
  h.elect(1);
  h.isolate(3); // the target cannot catch up, so the transfer stays in progress
  h.put(1, 'a');
  h.get(1).transferLeader(3);
  h.settle();
  assert.equal(h.get(1).status().leadTransferee, 3);
  const r = h.get(1).propose(utf8('b'));
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, DropReason.Transferring);
  assert.equal(!r.ok && r.leader, 1);
});

test('a transfer that does not finish within an election timeout is aborted', () => {
  const h = new Harness();
  h.elect(1);
  h.isolate(3);
  h.put(1, 'a');
  h.get(1).transferLeader(3);
  h.settle();
  for (let t = 1; t < ELECTION_TICKS; t++) {
    h.tick(1);
    h.tick(2);
    h.settle();
  }
  assert.equal(h.get(1).status().leadTransferee, 3, 'still trying just before the timeout');
  h.tick(1);
  h.settle();
  assert.equal(h.get(1).status().leadTransferee, NONE);
  assert.equal(h.get(1).status().role, StateRole.Leader, '1 and 2 are a quorum: 1 keeps leading');
  assert.ok(h.get(1).propose(utf8('b')).ok, 'proposals are accepted again');
});

test('a transfer is aborted when the target is removed from the group', () => {
  const h = new Harness();
  h.elect(1);
  h.isolate(3); // 3 lags, so the transfer cannot complete before the removal applies
  const r = h.get(1).proposeConfChange(confChange('r3'));
  assert.ok(r.ok);
  h.get(1).transferLeader(3);
  assert.equal(h.get(1).status().leadTransferee, 3);
  h.settle();
  assert.deepEqual(h.get(1).status().config.voters, [1, 2]);
  assert.equal(h.get(1).status().leadTransferee, NONE);
  assert.ok(h.get(1).propose(utf8('x')).ok);
});

test('a transfer is aborted when the target is demoted to a learner', () => {
  const h = new Harness();
  h.elect(1);
  h.isolate(3);
  const r = h.get(1).proposeConfChange(confChange('l3', ConfChangeTransition.JointImplicit));
  assert.ok(r.ok);
  h.get(1).transferLeader(3);
  h.settle();
  assert.deepEqual(h.get(1).status().config.voters, [1, 2]);
  assert.equal(h.get(1).status().leadTransferee, NONE);
  assert.equal(h.leader(), 1);
});

test('a transfer to a learner is ignored', () => {
  const h = new Harness({ voters: [1, 2, 3], learners: [4] });
  h.elect(1);
  const seen = record(h);
  h.get(1).transferLeader(4);
  h.settle();
  h.tickAll(3);
  assert.equal(h.get(1).status().leadTransferee, NONE);
  assert.ok(!seen.some((m) => m.type === MessageType.TimeoutNow));
  assert.equal(h.leader(), 1);
  assert.ok(h.get(1).propose(utf8('x')).ok);
});

test('a transfer request made on a follower is forwarded to the leader', () => {
  const h = new Harness();
  h.elect(1);
  h.get(2).transferLeader(3);
  h.settle();
  assert.equal(h.leader(), 3);
});
