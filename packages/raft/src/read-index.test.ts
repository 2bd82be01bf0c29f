// ReadIndex (Raft thesis §6.4): a read is linearizable at the leader's commit index once a
// quorum confirmed, after the read arrived, that the leader still leads; and only after
// the leader committed an entry of its own term (before that its commit index may lag).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, confChange, utf8 } from './testing/harness.js';
import { ConfChangeTransition, MessageType, type NodeId } from './types.js';

const ctx = (s: string): Uint8Array => utf8(s);
const readsOf = (h: Harness, id: NodeId): [number, string][] =>
  h.nodes.get(id)!.readStates.map((r) => [r.index, new TextDecoder().decode(r.requestCtx)]);

test('a ReadIndex is answered only once a quorum acknowledges a heartbeat sent after it', () => {
  const h = new Harness({ voters: [1, 2, 3, 4, 5] });
  h.elect(1);
  const commit = h.get(1).status().commit;
  assert.ok(h.get(1).readIndex(ctx('r1')));
  h.processReadies();
  const heartbeats = h.take((m) => m.type === MessageType.Heartbeat && m.from === 1);
  assert.equal(heartbeats.length, 4, 'one heartbeat round to every follower');
  assert.deepEqual(readsOf(h, 1), [], 'not before anyone answered');

  // Only 2 answers: leader + 2 = 2 of 5.
  h.deliver(heartbeats.find((m) => m.to === 2)!);
  h.processReadies();
  h.deliverWhere((m) => m.type === MessageType.HeartbeatResp);
  h.processReadies();
  assert.deepEqual(readsOf(h, 1), []);

  // 3 answers too: 3 of 5.
  h.deliver(heartbeats.find((m) => m.to === 3)!);
  h.processReadies();
  h.deliverWhere((m) => m.type === MessageType.HeartbeatResp);
  h.processReadies();
  assert.deepEqual(readsOf(h, 1), [[commit, 'r1']]);
});

test('a ReadIndex is held until the leader has committed an entry of its own term', () => {
  const h = new Harness();
  // 1 wins, but its empty entry does not reach anyone yet.
  h.filter = (m) => m.type !== MessageType.App;
  h.get(1).campaign();
  h.settle();
  const s = h.get(1).status();
  assert.ok(s.commit < s.lastIndex, 'the empty entry of the term is not committed');
  assert.ok(h.get(1).readIndex(ctx('early')));
  h.tickAll(1); // heartbeats are answered, but the read must wait
  assert.deepEqual(readsOf(h, 1), []);

  h.filter = null;
  h.tickAll(2);
  const commit = h.get(1).status().commit;
  assert.equal(commit, s.lastIndex, 'the empty entry committed');
  assert.deepEqual(readsOf(h, 1), [[commit, 'early']], 'answered at an index covering the new term');
});

test('in a joint configuration a ReadIndex needs a quorum of both halves', () => {
  const h = new Harness({ voters: [1, 2, 3], learners: [4, 5] });
  h.elect(1);
  const r = h.get(1).proposeConfChange(confChange('v4 v5 r2 r3', ConfChangeTransition.JointExplicit));
  assert.ok(r.ok);
  h.settle();
  assert.deepEqual(h.get(1).status().config.votersOutgoing, [1, 2, 3]);

  // Incoming (1 4 5) answers, outgoing (1 2 3) does not.
  h.isolate(2);
  h.isolate(3);
  h.get(1).readIndex(ctx('joint'));
  h.settle();
  assert.deepEqual(readsOf(h, 1), []);
  h.heal();
  h.tickAll(1);
  assert.deepEqual(readsOf(h, 1), [[h.get(1).status().commit, 'joint']]);
});

test("a follower's ReadIndex is forwarded to the leader and answered back to the follower", () => {
  const h = new Harness();
  h.elect(1);
  h.put(1, 'x');
  const commit = h.get(1).status().commit;
  assert.ok(h.get(2).readIndex(ctx('from-2')));
  h.settle();
  assert.deepEqual(readsOf(h, 2), [[commit, 'from-2']]);
  assert.deepEqual(readsOf(h, 1), [], 'the read is the follower\'s, not the leader\'s');
});

test('a follower that knows no leader drops a ReadIndex request', () => {
  const h = new Harness();
  assert.equal(h.get(2).readIndex(ctx('nobody')), false);
});
