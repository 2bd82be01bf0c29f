// Check-quorum: a leader that cannot hear from a quorum steps down, and a follower that
// heard from a leader recently (its lease) refuses to help elect anyone else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, msg, persistReady, rawNode, storageWithLog } from './testing/harness.js';
import { MessageType, NONE, StateRole } from './types.js';

const ELECTION_TICKS = 10;

test('a leader without an active quorum steps down within two election timeouts', () => {
  const h = new Harness();
  h.elect(1);
  h.isolate(1);
  // The first check-quorum round still counts the answers from before the cut.
  for (let t = 1; t <= 2 * ELECTION_TICKS; t++) {
    h.tick(1);
    h.settle();
    if (h.get(1).status().role !== StateRole.Leader) break;
  }
  const s = h.get(1).status();
  assert.equal(s.role, StateRole.Follower);
  assert.equal(s.lead, NONE);
});

test('a leader that hears from a quorum keeps leading across many election timeouts', () => {
  const h = new Harness({ voters: [1, 2, 3, 4, 5] });
  h.elect(1);
  h.isolate(4);
  h.isolate(5); // 3 of 5 still active
  h.tickAll(10 * ELECTION_TICKS);
  assert.equal(h.get(1).status().role, StateRole.Leader);
});

test('without check-quorum, an isolated leader stays leader', () => {
  const h = new Harness({ config: { checkQuorum: false } });
  h.elect(1);
  h.isolate(1);
  h.tick(1, 10 * ELECTION_TICKS);
  h.settle();
  assert.equal(h.get(1).status().role, StateRole.Leader);
});

/** A Vote from 3 for term 5 with a log at least as up to date as every other log. */
function bigVote(transfer: boolean) {
  return msg({ type: MessageType.Vote, from: 3, to: 2, term: 5, index: 1000, logTerm: 4, transfer });
}

test('a follower that heard from its leader within the election timeout ignores a higher-term vote', () => {
  const h = new Harness();
  h.elect(1);
  const term = h.get(2).status().term;
  h.get(2).step(bigVote(false));
  h.processReadies();
  assert.deepEqual(h.take((m) => m.type === MessageType.VoteResp), [], 'not even a rejection');
  assert.equal(h.get(2).status().term, term);
  assert.equal(h.get(2).status().lead, 1);
});

test('a follower in its lease still grants a higher-term vote carrying the transfer flag', () => {
  const h = new Harness();
  h.elect(1);
  h.get(2).step(bigVote(true));
  h.processReadies();
  const answers = h.take((m) => m.type === MessageType.VoteResp);
  assert.deepEqual(answers.map((m) => [m.to, m.term, m.reject]), [[3, 5, false]]);
  assert.equal(h.get(2).status().term, 5);
  assert.equal(h.get(2).status().vote, 3);
});

test('a follower in its lease grants a higher-term vote from the leader it follows (restarted, it lost leadership)', () => {
  const h = new Harness();
  h.elect(1);
  const vote = (type: MessageType) => msg({ type, from: 1, to: 2, term: h.get(2).status().term + 1, index: 1000, logTerm: 4 });
  h.get(2).step(vote(MessageType.PreVote));
  h.processReadies();
  assert.deepEqual(h.take((m) => m.type === MessageType.PreVoteResp).map((m) => [m.to, m.reject]), [[1, false]]);
  h.get(2).step(vote(MessageType.Vote));
  h.processReadies();
  assert.deepEqual(h.take((m) => m.type === MessageType.VoteResp).map((m) => [m.to, m.reject]), [[1, false]]);
  assert.equal(h.get(2).status().vote, 1);
  // Anyone else is still refused while the lease lasts.
  const term = h.get(3).status().term;
  h.get(3).step(msg({ type: MessageType.Vote, from: 2, to: 3, term: term + 1, index: 1000, logTerm: 4 }));
  h.processReadies();
  assert.deepEqual(h.take((m) => m.type === MessageType.VoteResp), []);
});

test('a follower that has not heard from its leader for an election timeout grants a higher-term vote', () => {
  const h = new Harness();
  h.elect(1);
  h.isolate(1);
  // Stop short of 2's own (randomized) campaign: it only needs electionTimeout ticks of silence.
  h.tick(2, ELECTION_TICKS);
  assert.equal(h.get(2).status().role, StateRole.Follower, 'timeout is at least electionTimeout');
  h.get(2).step(bigVote(false));
  h.processReadies();
  const answers = h.take((m) => m.type === MessageType.VoteResp);
  assert.deepEqual(answers.map((m) => [m.to, m.reject]), [[3, false]]);
});

test('a node restarted with a term ignores votes for an election timeout (it may have been in a lease)', () => {
  const storage = storageWithLog([1, 2, 3], [1, 1], { term: 1 });
  const node = rawNode(2, storage);
  node.step(bigVote(false));
  assert.equal(node.status().term, 1);
  assert.deepEqual(persistReady(node, storage).messagesAfterPersist, []);
  for (let t = 0; t < ELECTION_TICKS; t++) node.tick();
  node.step(bigVote(false));
  assert.equal(node.status().term, 5);
  const answers = persistReady(node, storage).messagesAfterPersist.filter((m) => m.type === MessageType.VoteResp);
  assert.deepEqual(answers.map((m) => m.reject), [false]);
});

test('a deposed leader that rejoins learns the new term from the answer to its heartbeat and steps down', () => {
  const h = new Harness();
  h.elect(1);
  h.isolate(1);
  h.tickAll(3 * ELECTION_TICKS); // 2 or 3 takes over; 1 may or may not have stepped down yet
  const leader = h.leader();
  assert.ok(leader === 2 || leader === 3);
  const newTerm = h.get(leader).status().term;
  h.heal();
  h.tickAll(2);
  assert.equal(h.get(1).status().role, StateRole.Follower);
  assert.equal(h.get(1).status().term, newTerm);
  assert.equal(h.get(1).status().lead, leader);
});
