// Learners receive the log but are not part of any quorum: they never campaign, their
// acks do not commit, and they do not keep a leader alive under check-quorum. They do
// answer vote requests (they may be voters in a configuration they have not applied yet).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, msg, utf8 } from './testing/harness.js';
import { MessageType, StateRole } from './types.js';

test('a learner receives and applies the log', () => {
  const h = new Harness({ voters: [1, 2, 3], learners: [4] });
  h.elect(1);
  h.put(1, 'a');
  h.put(1, 'b');
  assert.deepEqual(h.appliedData(4), ['a', 'b']);
  assert.equal(h.get(1).status().progress!.get(4)!.match, h.get(1).status().lastIndex);
});

test('a learner never campaigns, however long it hears nothing', () => {
  const h = new Harness({ voters: [1, 2, 3], learners: [4] });
  let learnerAsked = 0;
  h.filter = (m) => {
    if (m.from === 4 && (m.type === MessageType.PreVote || m.type === MessageType.Vote)) learnerAsked++;
    return true;
  };
  h.isolate(1);
  h.isolate(2);
  h.isolate(3);
  h.tick(4, 100);
  h.get(4).campaign();
  h.settle();
  assert.equal(learnerAsked, 0);
  assert.equal(h.get(4).status().role, StateRole.Follower);
  assert.equal(h.get(4).status().term, 0);
});

test('a learner does not count toward the commit quorum', () => {
  // Voters 1 2 3, learners 4 5: with 2 and 3 cut off, the leader and two learners hold
  // the entry (3 of 5 members) but only 1 of 3 voters.
  const h = new Harness({ voters: [1, 2, 3], learners: [4, 5] });
  h.elect(1);
  h.isolate(2);
  h.isolate(3);
  const r = h.get(1).propose(utf8('x'));
  assert.ok(r.ok);
  h.settle();
  const s = h.get(1).status();
  assert.equal(s.progress!.get(4)!.match, r.index);
  assert.equal(s.progress!.get(5)!.match, r.index);
  assert.equal(s.commit, r.index - 1);
  h.heal();
  h.tickAll(1);
  assert.equal(h.get(1).status().commit, r.index);
});

test('a learner does not keep a leader alive under check-quorum', () => {
  const h = new Harness({ voters: [1, 2, 3], learners: [4, 5] });
  h.elect(1);
  h.isolate(2);
  h.isolate(3);
  for (let t = 0; t < 30; t++) {
    h.tick(1);
    h.tick(4);
    h.tick(5);
    h.settle();
  }
  assert.notEqual(h.get(1).status().role, StateRole.Leader, 'stepped down though both learners answer');
});

test('a learner votes when asked', () => {
  const h = new Harness({ voters: [1, 2, 3], learners: [4] });
  h.get(4).step(msg({ type: MessageType.Vote, from: 2, to: 4, term: 3, index: 1, logTerm: 0 }));
  h.processReadies();
  const answers = h.take((m) => m.type === MessageType.VoteResp);
  assert.deepEqual(answers.map((m) => [m.to, m.term, m.reject]), [[2, 3, false]]);
});

test("a candidate does not count a learner's vote", () => {
  // Voters 1 2 3, learner 4. 1 campaigns with 2 and 3 silent; a grant from 4 is no majority.
  const h = new Harness({ voters: [1, 2, 3], learners: [4], config: { preVote: false } });
  h.isolate(2);
  h.isolate(3);
  h.get(1).campaign();
  h.settle();
  assert.equal(h.get(1).status().role, StateRole.Candidate);
  h.get(1).step(msg({ type: MessageType.VoteResp, from: 4, to: 1, term: 1 }));
  assert.equal(h.get(1).status().role, StateRole.Candidate, 'own vote + a learner: still 1 of 3 voters');
  h.get(1).step(msg({ type: MessageType.VoteResp, from: 2, to: 1, term: 1 }));
  assert.equal(h.get(1).status().role, StateRole.Leader, 'own vote + 2: 2 of 3 voters');
});
