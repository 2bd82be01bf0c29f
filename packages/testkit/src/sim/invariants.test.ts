import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, MessageType, emptyMessage, type Entry, type Message } from '@rangekv/raft';
import { Invariants, SafetyViolation } from './invariants.js';

const enc = new TextEncoder();
const entry = (index: number, term: number, data = `e${index}`): Entry => ({ index, term, type: 0, data: enc.encode(data) });

function violates(name: string, fn: () => void): void {
  assert.throws(fn, (e: unknown) => e instanceof SafetyViolation && e.invariant === name, `expected a ${name} violation`);
}

function msg(type: Message['type'], from: number, to: number, term: number, fields: Partial<Message> = {}): Message {
  return { ...emptyMessage(), type, from, to, term, ...fields };
}

test('election safety: two leaders in one term fail, re-election of the same leader does not', () => {
  const inv = new Invariants(() => 0);
  inv.onLeader(1, 5);
  inv.onLeader(1, 5);
  inv.onLeader(2, 6);
  violates('election-safety', () => inv.onLeader(3, 5));
});

test('entry identity: the same index and term with different data fails', () => {
  const inv = new Invariants(() => 0);
  inv.onPersistEntries(1, new MemoryStorage(), [entry(1, 1, 'a')]);
  inv.onPersistEntries(2, new MemoryStorage(), [entry(1, 1, 'a')]);
  violates('entry-identity', () => inv.onPersistEntries(3, new MemoryStorage(), [entry(1, 1, 'b')]));
});

test('a node may not overwrite entries at or below its durable commit', () => {
  const inv = new Invariants(() => 0);
  const st = new MemoryStorage();
  st.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
  st.setHardState({ term: 1, vote: 1, commit: 2 });
  inv.onPersistEntries(1, st, [entry(3, 2)]); // above commit: fine
  violates('committed-prefix', () => inv.onPersistEntries(1, st, [entry(2, 2)]));
});

test('durable hard state: term never decreases, vote never changes within a term, commit never decreases', () => {
  const inv = new Invariants(() => 0);
  inv.onPersistHardState(1, { term: 2, vote: 0, commit: 0 }, { term: 2, vote: 3, commit: 0 });
  inv.onPersistHardState(1, { term: 2, vote: 3, commit: 0 }, { term: 3, vote: 1, commit: 4 });
  violates('hard-state', () => inv.onPersistHardState(1, { term: 3, vote: 0, commit: 0 }, { term: 2, vote: 0, commit: 0 }));
  violates('hard-state', () => inv.onPersistHardState(1, { term: 3, vote: 1, commit: 0 }, { term: 3, vote: 2, commit: 0 }));
  violates('hard-state', () => inv.onPersistHardState(1, { term: 3, vote: 1, commit: 5 }, { term: 3, vote: 1, commit: 4 }));
});

test('a restarted node must come back with the term and vote it had before the crash', () => {
  const inv = new Invariants(() => 0);
  inv.onCrash(1, { term: 4, vote: 2, commit: 3 });
  inv.onRestart(1, 4, 2, 3);
  violates('hard-state', () => inv.onRestart(1, 3, 2, 3));
  violates('hard-state', () => inv.onRestart(1, 4, 0, 3));
});

test('durable-before-ack: vote grants, vote requests and append acks need durable state', () => {
  const inv = new Invariants(() => 0);
  const st = new MemoryStorage();
  st.setHardState({ term: 3, vote: 2, commit: 0 });
  inv.onSend(msg(MessageType.VoteResp, 1, 2, 3), st);
  violates('durable-before-ack', () => inv.onSend(msg(MessageType.VoteResp, 1, 4, 3), st));
  violates('durable-before-ack', () => inv.onSend(msg(MessageType.VoteResp, 1, 2, 4), st));
  inv.onSend(msg(MessageType.VoteResp, 1, 4, 4, { reject: true }), st); // rejections promise nothing
  const cand = new MemoryStorage();
  cand.setHardState({ term: 5, vote: 1, commit: 0 });
  inv.onSend(msg(MessageType.Vote, 1, 2, 5), cand);
  violates('durable-before-ack', () => inv.onSend(msg(MessageType.Vote, 1, 2, 6), cand));
  st.append([entry(1, 1), entry(2, 1)]);
  inv.onSend(msg(MessageType.AppResp, 1, 2, 3, { index: 2 }), st);
  violates('durable-before-ack', () => inv.onSend(msg(MessageType.AppResp, 1, 2, 3, { index: 3 }), st));
});

test('committed prefix: applies must be contiguous, below commit, and agree across nodes', () => {
  const inv = new Invariants(() => 0);
  inv.onApply(1, entry(1, 1), 0, 5);
  inv.onApply(2, entry(1, 1), 0, 5);
  violates('committed-prefix', () => inv.onApply(3, entry(1, 2), 0, 5));
  violates('committed-prefix', () => inv.onApply(3, entry(1, 1, 'other'), 0, 5));
  violates('committed-prefix', () => inv.onApply(1, entry(3, 1), 1, 5));
  violates('applied-le-commit', () => inv.onApply(1, entry(2, 1), 1, 1));
});

test('state machine digests must agree per index, including restored snapshots', () => {
  const inv = new Invariants(() => 0);
  inv.onState(1, 7, 'abc', 'apply');
  inv.onState(2, 7, 'abc', 'snapshot');
  violates('state-machine', () => inv.onState(3, 7, 'abd', 'snapshot'));
});

test('log matching: logs that agree on an entry must agree on everything before it', () => {
  const inv = new Invariants(() => 0);
  const a = new MemoryStorage();
  const b = new MemoryStorage();
  a.append([entry(1, 1), entry(2, 1), entry(3, 2)]);
  b.append([entry(1, 1), entry(2, 1), entry(3, 3)]);
  inv.checkLogMatching(new Map([[1, a], [2, b]])); // diverging tail is fine
  const c = new MemoryStorage();
  c.append([entry(1, 1), entry(2, 1, 'x'), entry(3, 2)]);
  violates('log-matching', () => inv.checkLogMatching(new Map([[1, a], [3, c]])));
});

test('membership: the same conf change entry must yield the same configuration everywhere', () => {
  const inv = new Invariants(() => 0);
  inv.onConfChange(1, 9, 'voters=[1,2,3] learners=[4]');
  inv.onConfChange(2, 9, 'voters=[1,2,3] learners=[4]');
  violates('membership', () => inv.onConfChange(3, 9, 'voters=[1,2,3]'));
  inv.checkConfig(1, 9, 'voters=[1,2,3]', 'voters=[1,2,3]');
  violates('membership', () => inv.checkConfig(1, 9, 'voters=[1,2,3] outgoing=[1,2,3]', 'voters=[1,2,3]'));
});

test('durable-before-ack: a leader sends only on a durable term and self-vote; early vote requests are exempt', () => {
  const leader = new MemoryStorage();
  leader.setHardState({ term: 5, vote: 1, commit: 0 });
  const inv = new Invariants(() => 0);
  for (const t of [MessageType.App, MessageType.Heartbeat, MessageType.Snap, MessageType.TimeoutNow]) {
    inv.onSend(msg(t, 1, 2, 5), leader);
    violates('durable-before-ack', () => inv.onSend(msg(t, 1, 2, 6), leader));
  }
  const other = new MemoryStorage();
  other.setHardState({ term: 5, vote: 3, commit: 0 });
  violates('durable-before-ack', () => inv.onSend(msg(MessageType.App, 1, 2, 5), other));
  violates('durable-before-ack', () => inv.onSend(msg(MessageType.Vote, 1, 2, 6), leader));
  const early = new Invariants(() => 0, { earlyVoteRequests: true });
  early.onSend(msg(MessageType.Vote, 1, 2, 6), leader);
  violates('durable-before-ack', () => early.onSend(msg(MessageType.App, 1, 2, 6), leader));
});
