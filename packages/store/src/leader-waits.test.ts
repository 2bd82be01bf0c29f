// Writes that find a leadership transfer in progress, and writes and leader reads that find
// no leader while an election they voted in decides, wait for its outcome (leader-waits.ts):
// the waiting itself with a manual clock, then end to end on three StoreServers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HostClock, TimerHandle } from '@rangekv/multiraft';
import { StateRole } from '@rangekv/raft';
import { LeaderWaits } from './leader-waits.js';
import type { StoreServer } from './store-server.js';
import { StoreCluster, type StoreClusterOptions } from './testing/store-cluster.js';

/** Timers run only when the test advances the clock. */
class ManualClock implements HostClock {
  private t = 0;
  private timers = new Set<{ at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimer(ms: number, fn: () => void): TimerHandle {
    const h = { at: this.t + ms, fn };
    this.timers.add(h);
    return { timer: h };
  }
  clearTimer(h: TimerHandle): void {
    this.timers.delete(h.timer as { at: number; fn: () => void });
  }
  nextTurn(fn: () => void): void {
    queueMicrotask(fn);
  }
  get pending(): number {
    return this.timers.size;
  }
  advance(ms: number): void {
    this.t += ms;
    for (const h of [...this.timers]) {
      if (h.at <= this.t) {
        this.timers.delete(h);
        h.fn();
      }
    }
  }
}

const isSettled = async (p: Promise<void>): Promise<boolean> => {
  let done = false;
  void p.then(() => { done = true; });
  await new Promise((r) => setImmediate(r));
  return done;
};

test('a waiter is released when a leader is known (not by "no leader"), after maxWaitMs, or by release; at most maxPerRange per range', async () => {
  const clock = new ManualClock();
  const w = new LeaderWaits(clock, 500, 2);
  const a = w.wait(7)!;
  const b = w.wait(7)!;
  assert.equal(w.wait(7), null, 'a third waiter of range 7 is refused (the write answers ServerBusy)');
  const other = w.wait(8)!;
  assert.equal(w.size, 3);
  w.leaderKnown(7, 0);
  assert.equal(await isSettled(a), false, 'a replica that lost its leader and knows none releases nobody');
  w.leaderKnown(7, 3);
  assert.equal(await isSettled(a), true);
  assert.equal(await isSettled(b), true);
  assert.equal(await isSettled(other), false, 'other ranges wait on');
  assert.equal(clock.pending, 1, 'the released waiters cleared their timers');
  clock.advance(499);
  assert.equal(await isSettled(other), false);
  clock.advance(1);
  assert.equal(await isSettled(other), true, 'released after maxWaitMs');
  assert.equal(w.size, 0);
  const c = w.wait(9)!;
  const d = w.wait(10)!;
  w.release(9);
  assert.equal(await isSettled(c), true);
  w.releaseAll();
  assert.equal(await isSettled(d), true);
  assert.equal(clock.pending, 0);
  w.leaderKnown(9, 1); // nobody waits: nothing happens
});

/** A 3-store cluster whose range 1 took a write every replica applied: its leader and a follower to transfer to. */
async function settled(opts: StoreClusterOptions = {}): Promise<{ c: StoreCluster; leader: StoreServer; target: StoreServer }> {
  const c = await StoreCluster.start(opts);
  try {
    const leader = await c.waitForLeader(1);
    const target = c.followers(1)[0]!;
    assert.deepEqual(await leader.kv.put({ header: c.header(1), key: Buffer.from('a'), value: Buffer.from('1') }), {});
    await c.waitFor('every replica applied the write', () =>
      [...c.servers.values()].every((s) => s.scheduler.get(1)!.log.applied.index >= leader.scheduler.get(1)!.log.lastIndex()));
    return { c, leader, target };
  } catch (e) {
    await c.close();
    throw e;
  }
}

// The target's slow disk holds its vote request back only without early vote requests (with
// them, the host's default, the request leaves at once and the leader steps down before the
// request under test arrives): the two tests that need a transfer in progress turn them off.
const VOTES_AFTER_PERSIST = { raft: { earlyVoteRequests: false } };

test('a write that finds its leader transferring waits, then is sent to the new leader (not ServerBusy)', async () => {
  const { c, leader, target } = await settled(VOTES_AFTER_PERSIST);
  try {
    // The target's disk is slow: its campaign waits 100 ms for its vote to be synced, so
    // the transfer is still in progress when the write arrives (the election timeout,
    // after which raft gives the transfer up, is 200 ms here).
    target.applyFaults({ syncDelayMs: 100 });
    assert.deepEqual(await leader.admin.transferLeader({ header: c.header(1), toStore: target.storeId }), {});
    const res = await leader.kv.put({ header: c.header(1), key: Buffer.from('b'), value: Buffer.from('2') });
    assert.equal(leader.kv.transferWaits, 1, 'the write waited for the transfer');
    assert.equal(res.rangeError?.serverBusy ?? undefined, undefined, `not busy: ${res.rangeError?.message ?? ''}`);
    if (res.rangeError) {
      assert.equal(Number(res.rangeError.notLeader?.leader?.storeId), target.storeId, `sent to the new leader: ${res.rangeError.message ?? ''}`);
    }
    target.applyFaults({ syncDelayMs: 0 });
    await c.waitFor('the target leads', () => c.leader(1)?.storeId === target.storeId);
    assert.deepEqual(await target.kv.put({ header: c.header(1), key: Buffer.from('b'), value: Buffer.from('2') }), {});
  } finally {
    await c.close();
  }
});

test('a write that waited for a transfer raft gave up is proposed on the leader it found', async () => {
  // The transfer's TimeoutNow never reaches the target: raft gives the transfer up after an
  // election timeout (200 ms here) and the leader stays; the write is released after
  // leaderWaitMs and proposed again there.
  const { c, leader, target } = await settled({ limits: { leaderWaitMs: 400 } });
  try {
    leader.applyFaults({ dropTo: [target.storeId] });
    assert.deepEqual(await leader.admin.transferLeader({ header: c.header(1), toStore: target.storeId }), {});
    const res = await leader.kv.put({ header: c.header(1), key: Buffer.from('b'), value: Buffer.from('2') });
    assert.equal(leader.kv.transferWaits, 1, 'the write waited for the transfer');
    assert.deepEqual(res, {}, `written on the leader that stayed: ${res.rangeError?.message ?? ''}`);
    leader.applyFaults({ heal: true });
  } finally {
    await c.close();
  }
});

/** Raft status of range 1's replica on `s`. */
const status1 = (s: StoreServer) => s.scheduler.get(1)!.node.status();

/**
 * A LINEARIZABLE get of key `a` on `leader` (no longer leading) waits once for the election
 * and is answered NotLeader naming `target`; after `heal`, `target` serves it.
 */
async function readWaitsThenGoesTo(c: StoreCluster, leader: StoreServer, target: StoreServer, heal: () => void, message?: RegExp): Promise<void> {
  const res = await leader.kv.get({ header: c.header(1), key: Buffer.from('a') });
  assert.equal(leader.kv.leaderlessWaits, 1, 'the read waited for the election');
  if (message) assert.match(res.rangeError?.message ?? '', message);
  assert.equal(Number(res.rangeError?.notLeader?.leader?.storeId), target.storeId, `sent to the new leader: ${JSON.stringify(res)}`);
  heal();
  assert.equal((await target.kv.get({ header: c.header(1), key: Buffer.from('a') })).value?.toString(), '1');
}

test('a linearizable read at a replica that voted in an undecided election waits for its outcome, then is sent to the new leader', async () => {
  const { c, leader, target } = await settled();
  const other = c.followers(1).find((s) => s.storeId !== target.storeId)!;
  try {
    // The target can win only with the old leader's vote (the third store is cut off), and
    // the old leader's disk is slow: for 100 ms after the target's vote request it follows
    // no leader, having voted for the target. A read reaching it then waits.
    other.applyFaults({ dropTo: [leader.storeId, target.storeId] });
    leader.applyFaults({ syncDelayMs: 100 });
    assert.deepEqual(await leader.admin.transferLeader({ header: c.header(1), toStore: target.storeId }), {});
    await c.waitFor('the old leader voted for the target', () => {
      const st = status1(leader);
      return st.lead === 0 && st.vote === target.storeId;
    });
    await readWaitsThenGoesTo(c, leader, target, () => {
      leader.applyFaults({ syncDelayMs: 0 });
      other.applyFaults({ heal: true });
    });
  } finally {
    await c.close();
  }
});

test('a read whose leader steps down for a transfer before a quorum confirmed it waits for the election, then is sent to the new leader', async () => {
  const { c, leader, target } = await settled(VOTES_AFTER_PERSIST);
  const other = c.followers(1).find((s) => s.storeId !== target.storeId)!;
  try {
    // Nobody confirms the read: the third store's answers are lost, and the target,
    // campaigning (its disk is slow: its vote request goes out after 100 ms), is past the
    // leader's term. The vote request then makes the leader step down, the read unconfirmed.
    other.applyFaults({ dropTo: [leader.storeId] });
    target.applyFaults({ syncDelayMs: 100 });
    assert.deepEqual(await leader.admin.transferLeader({ header: c.header(1), toStore: target.storeId }), {});
    await c.waitFor('the target campaigns', () => status1(target).role === StateRole.Candidate);
    await readWaitsThenGoesTo(c, leader, target, () => {
      target.applyFaults({ syncDelayMs: 0 });
      other.applyFaults({ heal: true });
    }, /while the read waited for its confirmation/);
  } finally {
    await c.close();
  }
});
