// skipHeartbeatsAfterAppends: a periodic heartbeat round leaves out a follower that was
// sent entries since the previous round, and accepted appends extend the lease from the
// tick their entry was appended (raft-leader.ts, leaseValid, handleAppAccept).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, utf8 } from './testing/harness.js';
import { emptyMessage } from './message.js';
import { MessageType, type Message } from './types.js';

const heartbeatsTo = (ms: Message[]): number[] => ms.filter((m) => m.type === MessageType.Heartbeat).map((m) => m.to).sort();

/** Ticks the leader once and returns the heartbeats its Ready holds (not delivered). */
function tickLeader(h: Harness): number[] {
  h.tick(1);
  h.processReadies();
  return heartbeatsTo(h.take((m) => m.type === MessageType.Heartbeat));
}

test('skipHeartbeatsAfterAppends: a follower sent entries since the last round is left out of the next one only', () => {
  const h = new Harness({ config: { checkQuorum: true, skipHeartbeatsAfterAppends: true } });
  h.elect(1);
  h.tickAll(1); // both followers in replicate state, a round acknowledged
  assert.deepEqual(tickLeader(h), [2, 3], 'nothing appended: everyone is heartbeat');
  h.settle();
  h.isolate(3);
  h.put(1, 'a'); // 2 gets the entry; the append to 3 is dropped but was sent
  h.heal();
  assert.deepEqual(tickLeader(h), [], 'both were sent entries since the last round');
  assert.deepEqual(tickLeader(h), [2, 3], 'the round after: both again (3 learns it lags from its answer)');
});

test('skipHeartbeatsAfterAppends off (the default): every round heartbeats every follower', () => {
  const h = new Harness({ config: { checkQuorum: true } });
  h.elect(1);
  h.tickAll(1);
  h.put(1, 'a');
  assert.deepEqual(tickLeader(h), [2, 3]);
});

test('skipHeartbeatsAfterAppends: a read waiting for a quorum still goes to every follower', () => {
  const h = new Harness({ config: { checkQuorum: true, skipHeartbeatsAfterAppends: true } });
  h.elect(1);
  h.tickAll(1);
  h.cut.add('2->1').add('3->1'); // the read's own round goes unanswered
  h.get(1).readIndex(utf8('r1'));
  h.processReadies();
  h.take(() => true);
  h.get(1).propose(utf8('a'));
  h.processReadies();
  h.take(() => true);
  h.tick(1);
  h.processReadies();
  const round = h.take((m) => m.type === MessageType.Heartbeat);
  assert.deepEqual(heartbeatsTo(round), [2, 3], 'the periodic round carries the read context to both');
  assert.ok(round.every((m) => m.context !== null && m.context.length > 0));
});

test('a follower in probe state is heartbeat even after an append', () => {
  const h = new Harness({ config: { checkQuorum: true, skipHeartbeatsAfterAppends: true } });
  h.filter = (m) => m.type !== MessageType.App; // nobody answers an append: 2 and 3 stay probed
  h.elect(1);
  h.get(1).propose(utf8('a'));
  h.processReadies();
  h.take(() => true);
  assert.deepEqual(tickLeader(h), [2, 3]);
});

test('accepted appends extend the lease from the tick their entry was appended, without heartbeats', () => {
  // Election timeout 10, margin 2: a lease lasts 8 ticks from its stamp.
  const h = new Harness({ config: { checkQuorum: true, leaseMarginTicks: 2, skipHeartbeatsAfterAppends: true } });
  h.elect(1);
  h.tickAll(1);
  h.filter = (m) => m.type !== MessageType.Heartbeat && m.type !== MessageType.HeartbeatResp;
  // A write every tick and only appends flowing: their answers keep the lease.
  for (let i = 0; i < 20; i++) {
    h.tick(1);
    h.put(1, `w${i}`);
    assert.notEqual(h.get(1).leaseReadIndex(), null, `write ${i}: the append answers keep the lease`);
  }
  // The last acknowledged write was appended at tick T. One tick later another write goes
  // out; the followers take it but their answers are held back.
  h.tick(1); // T+1
  h.get(1).propose(utf8('late'));
  h.processReadies();
  h.deliverWhere((m) => m.type === MessageType.App);
  h.processReadies();
  const answers = h.take((m) => m.type === MessageType.AppResp);
  assert.equal(answers.length, 2);
  h.tick(1, 6); // T+7
  assert.notEqual(h.get(1).leaseReadIndex(), null, '7 ticks after T');
  h.tick(1); // T+8
  assert.equal(h.get(1).leaseReadIndex(), null, '8 ticks after T: expired');
  // The held answers arrive now. They prove the followers heard from us no earlier than
  // T+1 (when the entry was appended), not now: the lease holds until T+9 only.
  for (const m of answers) h.deliver(m);
  assert.notEqual(h.get(1).leaseReadIndex(), null, 'the late answers: stamped T+1');
  h.tick(1); // T+9
  assert.equal(h.get(1).leaseReadIndex(), null, 'not restarted from their arrival');
});

test('an answer naming an entry appended before the ticks kept does not extend the lease', () => {
  // Election timeout 10, margin 2. The leader's own entry of the term is appended at its
  // election; twelve ticks later (every answer to it dropped meanwhile) it appends another,
  // and forgets when the first was appended (older than an election timeout).
  const h = new Harness({ config: { checkQuorum: true, leaseMarginTicks: 2, skipHeartbeatsAfterAppends: true } });
  h.elect(1);
  const first = h.get(1).status().lastIndex;
  h.cut.add('2->1').add('3->1');
  h.tick(1, 12);
  h.settle();
  assert.equal(h.get(1).leaseReadIndex(), null, 'no answers for 12 ticks: expired');
  h.get(1).propose(utf8('x'));
  h.settle();
  h.heal();
  // Answers naming the first entry prove only that the followers heard from us at some
  // point after the election: they must not borrow the new entry's tick.
  for (const from of [2, 3]) {
    const m = emptyMessage();
    m.type = MessageType.AppResp; m.from = from; m.to = 1; m.term = h.get(1).status().term; m.index = first;
    h.deliver(m);
  }
  assert.equal(h.get(1).leaseReadIndex(), null);
});
