// Durability: every answer that promises something is on disk (a vote, an append ack, a
// heartbeat ack, a vote request that commits the candidate to its term) leaves only after
// the Ready holding that state was persisted: it is in Ready.messagesAfterPersist, never in
// Ready.messages. Nodes count their own state only once it is acknowledged durable. With
// earlyVoteRequests the vote requests leave at once, and the candidate leads only once its
// own vote is durable (the last tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, bootstrapStorage, msg, persistReady, rawNode, utf8 } from './testing/harness.js';
import { MessageType, StateRole, type Message } from './types.js';


const types = (ms: Message[]): MessageType[] => ms.map((m) => m.type);

test('a vote is answered only after the vote is durable', () => {
  const node = rawNode(1, bootstrapStorage([1, 2, 3]));
  node.step(msg({ type: MessageType.Vote, from: 2, to: 1, term: 3, index: 1, logTerm: 0 }));
  const rd = node.ready();
  assert.deepEqual(types(rd.messages), []);
  assert.deepEqual(types(rd.messagesAfterPersist), [MessageType.VoteResp]);
  assert.deepEqual(rd.hardState, { term: 3, vote: 2, commit: 1 });
  assert.equal(rd.mustSync, true);
});

test("a candidate's vote requests leave only after its new term and self-vote are durable", () => {
  const node = rawNode(1, bootstrapStorage([1, 2, 3]), { preVote: false });
  node.campaign();
  const rd = node.ready();
  assert.deepEqual(types(rd.messages), []);
  assert.deepEqual(types(rd.messagesAfterPersist), [MessageType.Vote, MessageType.Vote]);
  assert.deepEqual(rd.hardState, { term: 1, vote: 1, commit: 1 });
  assert.equal(rd.mustSync, true);
});

test('an append is acknowledged only after the entries are durable', () => {
  const h = new Harness();
  h.elect(1);
  h.hold(2);
  const idx = h.put(1, 'x');
  const [rd] = h.heldReadies(2);
  assert.ok(rd);
  assert.deepEqual(rd.entries.map((e) => e.index), [idx]);
  assert.deepEqual(types(rd.messages), []);
  assert.deepEqual(types(rd.messagesAfterPersist), [MessageType.AppResp]);
  assert.equal(h.get(1).status().progress!.get(2)!.match, idx - 1, 'the leader has not heard of it yet');
  h.release(2);
  h.settle();
  assert.equal(h.get(1).status().progress!.get(2)!.match, idx);
});

test('a heartbeat is acknowledged only after the term it acknowledges is durable', () => {
  const h = new Harness();
  h.elect(1);
  h.hold(2);
  h.tick(1);
  h.settle();
  const rd = h.heldReadies(2).find((r) => r.messagesAfterPersist.some((m) => m.type === MessageType.HeartbeatResp));
  assert.ok(rd, 'the heartbeat answer waits for the persist');
  assert.ok(h.heldReadies(2).every((r) => !r.messages.some((m) => m.type === MessageType.HeartbeatResp)));
});

test("a candidate's own vote counts only after ackPersisted", () => {
  const storage = bootstrapStorage([1]);
  const node = rawNode(1, storage, { preVote: false });
  node.campaign();
  assert.equal(node.status().role, StateRole.Candidate, 'a lone voter is not leader before its vote is durable');
  const rd = node.ready();
  storage.setHardState(rd.hardState!);
  assert.equal(node.status().role, StateRole.Candidate, 'persisted but not acknowledged');
  node.ackPersisted(rd);
  assert.equal(node.status().role, StateRole.Leader);
});

test("a candidate with one peer's grant still waits for its own durable vote to win", () => {
  const storage = bootstrapStorage([1, 2, 3]);
  const node = rawNode(1, storage, { preVote: false });
  node.campaign();
  const rd = node.ready();
  node.step(msg({ type: MessageType.VoteResp, from: 2, to: 1, term: 1 }));
  assert.equal(node.status().role, StateRole.Candidate, '1 of 3 counted');
  storage.setHardState(rd.hardState!);
  node.ackPersisted(rd);
  assert.equal(node.status().role, StateRole.Leader, 'own vote + 2');
});

test('a leader counts its own entries toward commit only once they are durable', () => {
  const h = new Harness();
  h.elect(1);
  h.cut.add('1->3');
  h.hold(1);
  const r = h.get(1).propose(utf8('x'));
  assert.ok(r.ok);
  h.settle();
  assert.equal(h.get(1).status().progress!.get(2)!.match, r.index, '2 holds it');
  assert.equal(h.get(1).status().commit, r.index - 1, 'the leader itself does not, yet: 1 of 3');
  h.release(1);
  h.settle();
  assert.equal(h.get(1).status().commit, r.index);
});

test('committed entries are handed out for apply only once they are durable locally', () => {
  const storage = bootstrapStorage([1, 2, 3]);
  const node = rawNode(2, storage);
  const e = (index: number) => ({ index, term: 1, type: 0 as const, data: utf8(`e${index}`) });
  node.step(msg({ type: MessageType.App, from: 1, to: 2, term: 1, index: 1, logTerm: 0, entries: [e(2), e(3)], commit: 3 }));
  const rd1 = node.ready();
  assert.deepEqual(rd1.committedEntries, [], 'known committed, but not on our disk yet');
  storage.append(rd1.entries);
  storage.setHardState(rd1.hardState!);
  node.ackPersisted(rd1);
  const rd2 = persistReady(node, storage);
  assert.deepEqual(rd2.committedEntries.map((x) => x.index), [2, 3]);
});

test('a stale self-ack after a term change is ignored: the leader does not count overwritten entries', () => {
  // Five voters. Node 1 leads term 1 and appends 3 and 4 (term 1), whose Ready R1 is being
  // persisted. Node 2 wins term 2 and overwrites 1's index 3 (its empty entry, term 2)
  // and truncates index 4. Node 1 then wins term 3 (votes of 3, 4 and 5) and appends its
  // empty entry at index 4 (term 3). Only now is R1 acknowledged: it says "index 4 is
  // durable", but that was the term-1 entry 4, long gone. Counting it would let 1, 3 and 4
  // commit index 4 while 1 does not hold it.
  const h = new Harness({ voters: [1, 2, 3, 4, 5], config: { preVote: false, checkQuorum: false } });
  h.elect(1);
  h.tickAll(1);
  h.hold(1);
  h.isolate(1);
  h.get(1).proposeBatch([utf8('a'), utf8('b')]);
  h.settle();
  assert.deepEqual(h.heldReadies(1)[0]!.entries.map((e) => [e.index, e.term]), [[3, 1], [4, 1]]);

  h.heal();
  h.elect(2); // term 2: 3, 4 and 5 vote for 2; its empty entry overwrites 1's index 3
  assert.equal(h.get(1).status().term, 2, '1 follows 2 now');
  const written = h.heldReadies(1).flatMap((rd) => rd.entries.map((e) => [e.index, e.term]));
  assert.deepEqual(written, [[3, 1], [4, 1], [3, 2]], 'the overwrite waits to be persisted after R1');

  // 1 campaigns for term 3. Its Readies (R1, the overwrite, the campaign) are made durable
  // and their messages sent, but the acks have not reached raft yet.
  h.isolate(2);
  h.filter = (m) => !(m.type === MessageType.App && m.from === 1 && m.to === 5); // 5 votes, never hears of 4
  h.get(1).campaign();
  h.settle();
  h.persistHeld(1);
  h.settle();
  assert.equal(h.get(1).status().role, StateRole.Leader, 'won with the votes of 3, 4 and 5');
  assert.equal(h.get(1).status().term, 3);
  for (const id of [3, 4]) assert.equal(h.get(1).status().progress!.get(id)!.match, 4, `node ${id} holds the term-3 entry 4`);

  h.ackHeld(1, 1); // R1: "entries 3 and 4 of term 1 are durable"
  assert.ok(h.get(1).status().progress!.get(1)!.match < 4, 'the stale ack does not count');
  assert.ok(h.get(1).status().commit < 4, 'index 4 is on 3 and 4 only: 2 of 5');

  h.release(1);
  h.settle();
  assert.equal(h.get(1).status().commit, 4, 'once 1 really holds it, 3 of 5');
});

test("earlyVoteRequests: a candidate's vote requests leave at once, while its term and self-vote are persisted", () => {
  const node = rawNode(1, bootstrapStorage([1, 2, 3]), { preVote: false, earlyVoteRequests: true });
  node.campaign();
  const rd = node.ready();
  assert.deepEqual(types(rd.messages), [MessageType.Vote, MessageType.Vote]);
  assert.deepEqual(types(rd.messagesAfterPersist), []);
  assert.deepEqual(rd.hardState, { term: 1, vote: 1, commit: 1 });
  assert.equal(rd.mustSync, true);
});

test('earlyVoteRequests: a candidate granted by every other voter leads only once its own vote is durable', () => {
  const h = new Harness({ config: { preVote: false, earlyVoteRequests: true } });
  h.hold(1);
  h.get(1).campaign();
  h.settle();
  assert.equal(h.get(1).status().role, StateRole.Candidate, 'both others granted, its own persist is not acknowledged');
  assert.ok(h.heldReadies(1).every((rd) => rd.messages.every((m) => m.type !== MessageType.App)), 'no append of the term yet');
  h.persistHeld(1);
  h.settle();
  assert.equal(h.get(1).status().role, StateRole.Candidate, 'durable but not yet acknowledged');
  h.release(1);
  h.settle();
  assert.equal(h.get(1).status().role, StateRole.Leader);
  assert.equal(h.put(1, 'x') > 0, true);
  assert.deepEqual(h.appliedData(2), ['x']);
});

test('earlyVoteRequests: a candidate that crashes before its term is durable leads that term at most once', () => {
  // 1 campaigns for term 1; 2 and 3 grant it (durably) and 1 crashes before persisting.
  // It restarts at term 0, campaigns for term 1 again and wins it with the same votes:
  // the first attempt never led, so nothing of term 1 exists that the second could contradict.
  const h = new Harness({ config: { preVote: false, earlyVoteRequests: true } });
  h.hold(1);
  h.get(1).campaign();
  h.settle();
  assert.equal(h.get(1).status().role, StateRole.Candidate);
  h.crash(1); // the held Readies are lost with the process
  assert.equal(h.get(1).status().term, 0, 'term 1 was never durable here');
  h.get(1).campaign();
  h.settle();
  const s = h.get(1).status();
  assert.equal(s.role, StateRole.Leader);
  assert.equal(s.term, 1, 'the same term, won once');
  h.put(1, 'after');
  for (const id of [1, 2, 3]) assert.deepEqual(h.appliedData(id), ['after']);
});
