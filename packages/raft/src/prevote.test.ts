// Pre-vote (Raft thesis §9.6): a node first asks whether it could win at term+1, and only
// then raises its term. A node that cannot win never disturbs the group with a higher term.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, msg, rawNode, storageWithLog } from './testing/harness.js';
import { MessageType, StateRole } from './types.js';

test("pre-vote never raises the candidate's own term", () => {
  const h = new Harness();
  h.elect(1);
  const term = h.get(1).status().term;
  h.isolate(3);
  // Node 3 hears nothing and keeps running pre-elections it cannot win.
  for (let t = 0; t < 100; t++) {
    h.tick(3);
    h.settle();
    assert.equal(h.get(3).status().term, term, `after ${t + 1} ticks`);
  }
  assert.equal(h.get(3).status().role, StateRole.PreCandidate);
  assert.equal(h.get(3).status().vote, 1, 'still the vote it cast for 1 in this term');
});

test('a pre-vote request asks for term+1 and carries the last log position, without a self-vote on disk', () => {
  const node = rawNode(1, storageWithLog([1, 2, 3], [1, 1, 2], { term: 2 }));
  for (let t = 0; t < 40 && node.status().role === StateRole.Follower; t++) node.tick();
  assert.equal(node.status().role, StateRole.PreCandidate);
  const rd = node.ready();
  const preVotes = rd.messages.filter((m) => m.type === MessageType.PreVote);
  assert.deepEqual(preVotes.map((m) => [m.to, m.term, m.index, m.logTerm]), [[2, 3, 4, 2], [3, 3, 4, 2]]);
  // Nothing to persist: neither the term nor the vote changed.
  assert.equal(node.status().term, 2);
  assert.equal(node.status().vote, 0);
  assert.equal(rd.hardState, null);
});

test('a granted pre-vote changes neither the voter\'s term nor its vote', () => {
  const node = rawNode(1, storageWithLog([1, 2, 3], [1], { term: 1 }), { checkQuorum: false });
  node.step(msg({ type: MessageType.PreVote, from: 2, to: 1, term: 2, index: 2, logTerm: 1 }));
  const rd = node.ready();
  const [answer] = rd.messages.filter((m) => m.type === MessageType.PreVoteResp);
  assert.ok(answer);
  assert.equal(answer.reject, false);
  assert.equal(answer.term, 2, 'the grant names the term the candidate will campaign at');
  assert.equal(node.status().term, 1);
  assert.equal(node.status().vote, 0);
  assert.equal(rd.hardState, null);
});

test("a lower-term pre-vote is answered with a rejection carrying the voter's term, not dropped", () => {
  const node = rawNode(1, storageWithLog([1, 2, 3], [1, 5], { term: 5 }));
  node.step(msg({ type: MessageType.PreVote, from: 2, to: 1, term: 3, index: 9, logTerm: 3 }));
  const answers = node.ready().messages.filter((m) => m.type === MessageType.PreVoteResp);
  assert.deepEqual(answers.map((m) => [m.to, m.term, m.reject]), [[2, 5, true]]);
  assert.equal(node.status().term, 5);
});

test('a pre-candidate that is rejected with a higher term adopts that term as a follower', () => {
  const node = rawNode(1, storageWithLog([1, 2, 3], [1], { term: 1 }));
  for (let t = 0; t < 40 && node.status().role === StateRole.Follower; t++) node.tick();
  assert.equal(node.status().role, StateRole.PreCandidate);
  node.step(msg({ type: MessageType.PreVoteResp, from: 2, to: 1, term: 5, reject: true }));
  assert.deepEqual([node.status().role, node.status().term], [StateRole.Follower, 5]);
});

test('a pre-candidate that wins the pre-vote campaigns for real at term+1', () => {
  const h = new Harness();
  h.get(1).campaign();
  h.processReadies();
  assert.equal(h.get(1).status().role, StateRole.PreCandidate);
  assert.equal(h.get(1).status().term, 0);
  h.settle();
  assert.equal(h.get(1).status().role, StateRole.Leader);
  assert.equal(h.get(1).status().term, 1);
});

test('a partitioned node rejoining does not disrupt the leader (pre-vote alone, behind log)', () => {
  const h = new Harness({ config: { checkQuorum: false } });
  h.elect(1);
  const term = h.get(1).status().term;
  h.isolate(3);
  h.put(1, 'written while 3 was away');
  h.tickAll(50); // 3 runs pre-elections; none can reach anyone
  h.heal();
  // 3's pre-votes now arrive, but its log is behind: the others refuse, and 1 keeps leading.
  for (let t = 0; t < 50; t++) {
    h.tickAll(1);
    assert.equal(h.leader(), 1, `tick ${t}`);
  }
  assert.equal(h.get(1).status().term, term);
  assert.equal(h.get(3).status().lead, 1);
  assert.equal(h.get(3).status().term, term);
  assert.deepEqual(h.appliedData(3), ['written while 3 was away']);
});

test('a partitioned node rejoining does not disrupt the leader (pre-vote with check-quorum, same log)', () => {
  const h = new Harness({ config: { checkQuorum: true } });
  h.elect(1);
  const term = h.get(1).status().term;
  h.isolate(3);
  h.tickAll(50);
  h.heal();
  for (let t = 0; t < 50; t++) {
    h.tickAll(1);
    assert.equal(h.leader(), 1, `tick ${t}`);
  }
  assert.equal(h.get(1).status().term, term);
  assert.equal(h.get(3).status().lead, 1);
});

test('without pre-vote, a partitioned node rejoins with a higher term and forces a new election', () => {
  // The contrast that shows what pre-vote prevents.
  const h = new Harness({ config: { checkQuorum: false, preVote: false } });
  h.elect(1);
  const term = h.get(1).status().term;
  h.isolate(3);
  h.tickAll(50);
  assert.ok(h.get(3).status().term > term);
  h.heal();
  h.tickAll(50);
  assert.ok(h.get(h.leader()).status().term > term);
});
