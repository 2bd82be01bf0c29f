// Lease reads: with check-quorum, followers that heard from the leader refuse to vote for
// an election timeout, so for that long (less a clock-drift margin) after a quorum
// acknowledged a heartbeat no other leader can exist, and the leader may answer reads
// without a heartbeat round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, utf8 } from './testing/harness.js';
import { MessageType, StateRole, type NodeId } from './types.js';

const ctx = (s: string): Uint8Array => utf8(s);
const readsOf = (h: Harness, id: NodeId): [number, string][] =>
  h.nodes.get(id)!.readStates.map((r) => [r.index, new TextDecoder().decode(r.requestCtx)]);

test('with check-quorum, a lease read is answered at once, without a heartbeat round, while the lease holds', () => {
  const h = new Harness({ config: { checkQuorum: true } });
  h.elect(1);
  h.tickAll(1); // a heartbeat round acknowledged by everyone: the lease starts
  assert.equal(h.get(1).leaseReadIndex(), h.get(1).status().commit, 'leaseReadIndex gives the same index at once');
  assert.equal(h.get(2).leaseReadIndex(), null, 'not on a follower');
  assert.ok(h.get(1).readIndex(ctx('lease'), { lease: true }));
  h.processReadies();
  assert.deepEqual(readsOf(h, 1), [[h.get(1).status().commit, 'lease']]);
  assert.deepEqual(h.take((m) => m.type === MessageType.Heartbeat), [], 'no heartbeat round');
});

test('once an election timeout (less the drift margin) passes without acks, a lease read falls back to a quorum round', () => {
  // Election timeout 10 ticks, leaseMarginTicks 2: the lease lasts 8 ticks from the
  // heartbeat a quorum acknowledged.
  const h = new Harness({ config: { checkQuorum: true, leaseMarginTicks: 2 } });
  h.elect(1);
  h.tickAll(1); // heartbeat sent at this tick, acknowledged by all
  h.cut.add('2->1').add('3->1'); // from now on no acks
  h.tick(1, 7);
  h.settle();
  h.get(1).readIndex(ctx('in-lease'), { lease: true });
  h.processReadies();
  assert.deepEqual(readsOf(h, 1), [[h.get(1).status().commit, 'in-lease']], '7 ticks after the ack: lease holds');

  h.tick(1);
  h.settle();
  assert.equal(h.get(1).status().role, StateRole.Leader, 'check-quorum has not fired yet');
  assert.equal(h.get(1).leaseReadIndex(), null, 'leaseReadIndex: the lease expired');
  h.get(1).readIndex(ctx('late'), { lease: true });
  h.processReadies();
  assert.equal(readsOf(h, 1).length, 1, '8 ticks after the ack: the lease expired');
  assert.ok(h.queue.some((m) => m.type === MessageType.Heartbeat), 'a quorum round instead');
  h.heal();
  h.settle();
  assert.deepEqual(readsOf(h, 1)[1], [h.get(1).status().commit, 'late']);
});

test('without check-quorum a lease read is never served from the lease', () => {
  const h = new Harness({ config: { checkQuorum: false } });
  h.elect(1);
  h.tickAll(1);
  assert.equal(h.get(1).leaseReadIndex(), null);
  h.get(1).readIndex(ctx('no-lease'), { lease: true });
  h.processReadies();
  assert.deepEqual(readsOf(h, 1), []);
  assert.ok(h.queue.some((m) => m.type === MessageType.Heartbeat));
  h.settle();
  assert.deepEqual(readsOf(h, 1), [[h.get(1).status().commit, 'no-lease']]);
});

test('a lease read is not served from the lease while a leadership transfer is in progress', () => {
  const h = new Harness({ config: { checkQuorum: true } });
  h.elect(1);
  h.tickAll(1);
  h.isolate(3);
  h.put(1, 'a'); // 3 lags, so the transfer to it stays in progress
  h.get(1).transferLeader(3);
  assert.equal(h.get(1).leaseReadIndex(), null);
  h.get(1).readIndex(ctx('transferring'), { lease: true });
  h.processReadies();
  assert.deepEqual(readsOf(h, 1), []);
});

test('no other leader is elected while the deposed leader could still serve lease reads', () => {
  // Even with no drift margin, the followers' lease (ignore votes for an election timeout
  // after hearing the leader) outlasts the leader's (an election timeout after the
  // heartbeat they acknowledged was sent).
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const h = new Harness({ seed, config: { checkQuorum: true, preVote: true, leaseMarginTicks: 0 } });
    h.elect(1);
    h.tickAll(1);
    h.isolate(1);
    let lastLeaseRead = -1;
    let newLeaderAt = -1;
    for (let t = 0; t < 60 && newLeaderAt < 0; t++) {
      h.tickAll(1);
      const before = h.nodes.get(1)!.readStates.length;
      h.get(1).readIndex(ctx(`t${t}`), { lease: true });
      h.processReadies();
      if (h.nodes.get(1)!.readStates.length > before) lastLeaseRead = t;
      if (h.get(2).status().role === StateRole.Leader || h.get(3).status().role === StateRole.Leader) newLeaderAt = t;
    }
    assert.ok(lastLeaseRead >= 0, `seed ${seed}: the lease served reads at first`);
    assert.ok(newLeaderAt >= 0, `seed ${seed}: the others elected a new leader eventually`);
    assert.ok(lastLeaseRead < newLeaderAt, `seed ${seed}: lease read at tick ${lastLeaseRead}, new leader at tick ${newLeaderAt}`);
  }
});

test('while the leader is heard, a peer cut off from it cannot win: the others are in their lease', () => {
  // This is what makes the leader's lease sound: 3 times out and asks 2, but 2 heard
  // from 1 within an election timeout and ignores it.
  const h = new Harness({ config: { checkQuorum: true, preVote: true } });
  h.elect(1);
  h.cut.add('1->3').add('3->1');
  for (let t = 0; t < 100; t++) {
    h.tickAll(1);
    assert.equal(h.leader(), 1, `tick ${t}`);
  }
  assert.ok(h.get(1).readIndex(ctx('still-lease'), { lease: true }));
  h.processReadies();
  assert.equal(readsOf(h, 1).length, 1);
});
