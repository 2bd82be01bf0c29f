// Crash points (Cluster.crashPointHooks, crash with the disk caught up) and the
// leader-churn fault built on them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '@rangekv/raft';
import { Cluster, type CrashPoint, type SimRaftSettings } from './cluster.js';
import { FaultInjector, type FaultEpisode } from './faults.js';
import type { SimNode } from './sim-node.js';

const RAFT: SimRaftSettings = {
  electionTimeoutTicks: 10, heartbeatIntervalTicks: 1, checkQuorum: true, preVote: true, leaseMarginTicks: 1, lazyCommitBroadcast: false,
  maxInflightMsgs: 16, maxMsgBytes: 1, maxUncommittedEntriesBytes: 64 << 20, maxApplyBytes: 8 << 20,
};

function cluster(seed: number): Cluster {
  return new Cluster({
    prng: new Prng(seed), voters: [1, 2, 3], raft: RAFT, persistDelayUnitsMax: 8, applyDelayUnitsMax: 3,
    clientLatencyUnitsMax: 3, snapshotOnDemand: true, trace: null,
  });
}

const put = (opId: number) => ({ client: 1, opId, attempt: 1, seq: opId, op: { kind: 'put' as const, key: 'k', value: `v${opId}` } });

test('a leader reports its crash points: elected, then appended and committed for a proposal', () => {
  const c = cluster(1);
  const seen: string[] = [];
  c.crashPointHooks.push((n: SimNode, p: CrashPoint) => seen.push(`n${n.id} ${p}`));
  c.runTicks(40, () => c.leader() !== null);
  const l = c.leader();
  assert.ok(l !== null);
  c.runTicks(5);
  assert.deepEqual(seen, [`n${l.id} elected`, `n${l.id} committed`], 'the election, then its empty entry commits');
  seen.length = 0;
  c.request(l.id, put(1));
  c.runTicks(5);
  assert.deepEqual(seen, [`n${l.id} appended`, `n${l.id} committed`]);
});

test('a crash with the disk caught up keeps what the leader just appended, and no other node gets it', () => {
  const c = cluster(2);
  let crashed: { id: number; index: number; term: number } | null = null;
  c.crashPointHooks.push((n, p) => {
    if (p !== 'elected' || crashed !== null) return;
    const st = n.raw!.status();
    crashed = { id: n.id, index: st.lastIndex, term: st.term };
    c.crash(n.id, true);
  });
  c.runTicks(40, () => crashed !== null);
  assert.ok(crashed !== null);
  const { id, index, term } = crashed;
  assert.equal(c.mustGet(id).storage.lastIndex(), index);
  assert.equal(c.mustGet(id).storage.term(index), term, 'the empty entry of its term is durable on the crashed leader');
  c.runTicks(10);
  for (const n of c.nodes.values()) {
    if (n.id === id || n.storage.lastIndex() < index) continue;
    assert.notEqual(n.storage.term(index), term, `n${n.id} never received it`);
  }
});

test('leader churn: leaders keep crashing, at most one node is down through it, and all are up after it', () => {
  const c = cluster(3);
  const episode: FaultEpisode = { index: 0, kind: 'leader-churn', startTick: 20, durationTicks: 400, seed: 7 };
  const injector = new FaultInjector(c, [episode], 7, new Prng(4));
  let mostDown = 0;
  let opId = 0;
  c.tickHooks.push((tick) => {
    // A client write now and then: leaders that drew 'appended' need something to append.
    const l = c.leader();
    if (l !== null && tick % 3 === 0) c.request(l.id, put(++opId));
    const down = [...c.nodes.values()].filter((n) => n.status === 'crashed').length;
    mostDown = Math.max(mostDown, down);
  });
  c.runTicks(430);
  assert.ok(c.stats.crashes >= 8, `${c.stats.crashes} crashes`);
  assert.equal(mostDown, 1);
  assert.ok([...c.nodes.values()].every((n) => n.status === 'up'));
  assert.equal(injector.applied.length, 1);
});
