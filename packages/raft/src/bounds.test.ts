// MAX_TERM and MAX_INDEX from the node's own side: it never raises its term above
// MAX_TERM and never takes its last index beyond MAX_INDEX, whatever it is asked to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_INDEX, MAX_TERM } from './bounds.js';
import type { MemoryStorage } from './storage.js';
import { Harness, bootstrapStorage, confChange, msg, persistReady, rawNode, utf8 } from './testing/harness.js';
import { DropReason, MessageType, StateRole, type Message, type NodeId } from './types.js';

const ELECTION_TICKS = 10;

/** A group's storage whose log is a snapshot at (index, term), with that term durable. */
function storageAt(voters: NodeId[], index: number, term: number): MemoryStorage {
  const s = bootstrapStorage(voters);
  const confState = { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
  s.applySnapshot({ meta: { index, term, confState }, data: new Uint8Array(0) });
  s.setHardState({ term, vote: 0, commit: index });
  return s;
}

test('a node at MAX_TERM never campaigns: not on timeout, not when asked, not on TimeoutNow', () => {
  const storage = storageAt([1, 2, 3], 5, MAX_TERM);
  const trace: string[] = [];
  const node = rawNode(1, storage, { trace: (line) => trace.push(line) });
  const sent: Message[] = [];
  for (let t = 0; t < 5 * ELECTION_TICKS; t++) {
    node.tick();
    const rd = persistReady(node, storage);
    sent.push(...rd.messages, ...rd.messagesAfterPersist);
  }
  node.campaign();
  node.step(msg({ type: MessageType.TimeoutNow, from: 2, to: 1, term: MAX_TERM }));
  if (node.hasReady()) {
    const rd = persistReady(node, storage);
    sent.push(...rd.messages, ...rd.messagesAfterPersist);
  }
  assert.deepEqual(sent.map((m) => m.type), [], 'no (pre-)vote requests');
  assert.equal(node.status().role, StateRole.Follower);
  assert.equal(node.status().term, MAX_TERM);
  assert.ok(trace.some((l) => l.includes(`not campaigning: term ${MAX_TERM} is at MAX_TERM`)), 'the refusal is traced');
});

test('a group one term below MAX_TERM elects a leader at MAX_TERM; once it is gone nobody campaigns again', () => {
  const h = new Harness();
  for (const [id, n] of h.nodes) {
    n.storage.setHardState({ term: MAX_TERM - 1, vote: 0, commit: 1 });
    h.restart(id);
  }
  h.tickAll(3 * ELECTION_TICKS); // restarted voters ignore elections for a timeout (bootGuard)
  const leader = h.leader();
  assert.notEqual(leader, 0);
  assert.equal(h.get(leader).status().term, MAX_TERM);
  h.put(leader, 'a');
  for (const id of [1, 2, 3]) assert.deepEqual(h.appliedData(id), ['a']);

  const terms: number[] = [];
  h.filter = (m) => {
    terms.push(m.term);
    return true;
  };
  h.isolate(leader);
  h.tickAll(10 * ELECTION_TICKS);
  assert.equal(h.leader(), 0, 'the leader stepped down (check-quorum) and no one replaced it');
  assert.ok(terms.every((t) => t <= MAX_TERM), `terms sent: ${[...new Set(terms)].join(' ')}`);
  for (const id of [1, 2, 3]) assert.equal(h.get(id).status().term, MAX_TERM);
});

test('proposals beyond MAX_INDEX are refused with index-limit; up to it they are appended', () => {
  const storage = storageAt([1], MAX_INDEX - 3, 1);
  const node = rawNode(1, storage);
  node.campaign();
  persistReady(node, storage); // the vote is durable: the single voter wins
  persistReady(node, storage); // the leader's empty entry, at MAX_INDEX - 2
  assert.equal(node.status().role, StateRole.Leader);
  assert.equal(node.status().lastIndex, MAX_INDEX - 2);

  const three = node.proposeBatch([utf8('a'), utf8('b'), utf8('c')]);
  assert.equal(three.ok, false);
  assert.equal(!three.ok && three.reason, DropReason.IndexLimit);
  assert.match(!three.ok ? three.detail : '', /3 entries after last index \d+ would pass MAX_INDEX/);
  assert.equal(node.status().lastIndex, MAX_INDEX - 2, 'nothing appended');

  const two = node.proposeBatch([utf8('a'), utf8('b')]);
  assert.deepEqual(two, { ok: true, index: MAX_INDEX, term: node.status().term });
  for (const res of [node.propose(utf8('c')), node.proposeConfChange(confChange('v2'))]) {
    assert.equal(!res.ok && res.reason, DropReason.IndexLimit);
  }
  assert.equal(node.status().lastIndex, MAX_INDEX);
});

test('a node whose last index is MAX_INDEX does not campaign: it could not append a leader\'s empty entry', () => {
  const storage = storageAt([1], MAX_INDEX, 1);
  const node = rawNode(1, storage);
  node.campaign();
  for (let t = 0; t < 5 * ELECTION_TICKS; t++) node.tick();
  assert.equal(node.status().role, StateRole.Follower);
  assert.equal(node.status().term, 1);
});
