// UninitializedReplicas with a real engine and scheduler (no transport): which messages
// create a replica, the bound, learned routes, restart as dormant, take().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageType, Prng, RawNode, type Message } from '@rangekv/raft';
import { StorageEngine, type RangeLogStore } from '@rangekv/storage';
import { silentLogger } from '@rangekv/runtime';
import { RaftScheduler } from './raft-scheduler.js';
import { resolveUninitializedLimits, UninitializedReplicas, type UninitializedLimits } from './uninitialized-replicas.js';

function m(type: MessageType, from: number, to: number): Message {
  return {
    type, from, to, term: 2, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0,
    transfer: false, snapshot: null, context: null,
  };
}

interface Env {
  u: UninitializedReplicas<unknown>;
  s: RaftScheduler<unknown>;
  e: StorageEngine;
  /** The fake monotonic clock (ms) the replicas see. */
  clock: { ms: number };
  /** What isGone answers per range (absent: null, cannot tell). */
  gone: Map<number, boolean>;
}

async function withEnv(
  f: (env: Env) => Promise<void>, opts: { dir?: string; limits?: Partial<UninitializedLimits> } = {},
): Promise<void> {
  const root = opts.dir ?? await mkdtemp(join(tmpdir(), 'rangekv-uninit-'));
  const engine = await StorageEngine.open(root);
  const scheduler = new RaftScheduler<unknown>(engine, {
    send: () => {}, flush: () => {}, applyEntries: () => [], onFatal: (e) => { throw e; },
  });
  const makeNode = (id: number, log: RangeLogStore): RawNode =>
    new RawNode({ id, storage: log, prng: new Prng(1), electionTimeoutTicks: 10, heartbeatIntervalTicks: 2, applied: log.applied.index });
  const clock = { ms: 1_000 };
  const gone = new Map<number, boolean>();
  const u = new UninitializedReplicas<unknown>({
    engine, scheduler, makeNode, log: silentLogger, now: () => clock.ms,
    limits: resolveUninitializedLimits({ maxUninitializedReplicas: 2, maxUninitializedReplicasPerPeer: 2, ...opts.limits }),
    isGone: (id) => Promise.resolve(gone.get(id) ?? null),
  });
  try {
    await f({ u, s: scheduler, e: engine, clock, gone });
  } finally {
    await scheduler.stop();
    await engine.close();
    if (opts.dir === undefined) await rm(root, { recursive: true, force: true });
  }
}

/** Lets the scheduler run its queued cycles and persists (what a real store does between messages). */
async function settle(s: RaftScheduler<unknown>): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    await s.whenPersisted();
  }
}

async function withStore(f: (u: UninitializedReplicas<unknown>, s: RaftScheduler<unknown>, e: StorageEngine) => Promise<void>, dir?: string): Promise<void> {
  await withEnv(({ u, s, e }) => f(u, s, e), dir === undefined ? {} : { dir });
}

test('only leader messages create a replica: id = msg.to, no descriptor, empty config, route learned', async () => {
  await withStore(async (u, s, e) => {
    assert.equal(await u.ensure(5, m(MessageType.Vote, 1, 3), 1), null);
    assert.equal(await u.ensure(5, m(MessageType.AppResp, 1, 3), 1), null);
    assert.equal(e.hasRange(5), false);
    const r = await u.ensure(5, m(MessageType.App, 1, 3), 11);
    assert.ok(r);
    assert.equal(r.node.id, 3);
    assert.equal(r.log.descriptor, null);
    assert.deepEqual(r.node.status().config.voters, []);
    assert.equal(s.get(5), r);
    assert.equal(u.storeOf(5, 1), 11);
    assert.equal(u.isUninitialized(5), true);
    assert.equal(await u.ensure(5, m(MessageType.Heartbeat, 1, 3), 11), r, 'the existing replica');
  });
});

test('maxUninitializedReplicas bounds them; take() removes one and frees its slot', async () => {
  await withStore(async (u, s) => {
    assert.ok(await u.ensure(1, m(MessageType.Heartbeat, 1, 2), 1));
    assert.ok(await u.ensure(2, m(MessageType.Snap, 1, 2), 1));
    assert.equal(await u.ensure(3, m(MessageType.App, 1, 2), 1), null);
    assert.equal(u.counters.refused, 1);
    assert.equal(u.size, 2);
    const taken = u.take(2);
    assert.ok(taken);
    assert.equal(s.get(2), undefined);
    assert.equal(u.size, 1);
    assert.equal(u.take(2), undefined);
  });
});

test('after a restart an uninitialized range is dormant until a leader message names its replica', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rangekv-uninit-'));
  try {
    await withStore(async (u) => {
      assert.ok(await u.ensure(9, m(MessageType.App, 1, 4), 1));
    }, dir);
    await withStore(async (u, s, e) => {
      assert.equal(e.hasRange(9), true);
      assert.equal(e.range(9).descriptor, null);
      u.restore(9);
      assert.deepEqual([u.size, u.dormantCount, u.onDisk], [0, 1, 1]);
      assert.equal(s.get(9), undefined);
      const r = await u.ensure(9, m(MessageType.Heartbeat, 1, 4), 1);
      assert.equal(r?.node.id, 4);
      assert.equal(u.counters.created, 0);
    }, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('one peer store creates at most maxUninitializedReplicasPerPeer; another peer still can', async () => {
  await withEnv(async ({ u }) => {
    assert.ok(await u.ensure(1, m(MessageType.Heartbeat, 1, 2), 7));
    assert.ok(await u.ensure(2, m(MessageType.Heartbeat, 1, 2), 7));
    assert.equal(await u.ensure(3, m(MessageType.Heartbeat, 1, 2), 7), null, 'store 7 used its share');
    assert.ok(await u.ensure(4, m(MessageType.Heartbeat, 1, 2), 8), 'store 8 has its own');
    assert.equal(u.counters.refused, 1);
  }, { limits: { maxUninitializedReplicas: 4, maxUninitializedReplicasPerPeer: 2 } });
});

test('an idle uninitialized replica goes dormant (its hard state kept), frees its slot, and comes back at the next message', async () => {
  await withEnv(async ({ u, s, e, clock }) => {
    const r = await u.ensure(5, m(MessageType.Heartbeat, 1, 3), 1);
    assert.ok(r);
    s.step(5, m(MessageType.Heartbeat, 1, 3));
    await settle(s);
    clock.ms += 500;
    u.heard(5);
    clock.ms += 900;
    await settle(s);
    await u.sweep();
    assert.equal(s.get(5), r, 'heard 900 ms ago: still live');
    clock.ms += 200;
    await settle(s);
    await u.sweep();
    assert.equal(s.get(5), undefined, 'idle 1,100 ms: out of the scheduler');
    assert.deepEqual([u.size, u.dormantCount, u.counters.collected], [0, 1, 1]);
    assert.equal(e.range(5).hardState.term, 2, 'the term it learned is on disk');
    const back = await u.ensure(5, m(MessageType.App, 1, 3), 1);
    assert.equal(back?.node.status().term, 2, 'comes back with its term');
    assert.equal(u.counters.created, 1, 'not created again');
  }, { limits: { uninitializedIdleMs: 1_000 } });
});

test('a dormant range is destroyed once the cluster says it has no replica here, kept while it cannot tell or says it has', async () => {
  await withEnv(async ({ u, s, e, clock, gone }) => {
    assert.ok(await u.ensure(6, m(MessageType.Heartbeat, 1, 3), 1));
    assert.ok(await u.ensure(7, m(MessageType.Heartbeat, 1, 3), 1));
    clock.ms += 1_001;
    await settle(s);
    await u.sweep();
    assert.equal(u.dormantCount, 2);
    clock.ms += 5_000;
    gone.set(6, true);
    gone.set(7, false);
    await settle(s);
    await u.sweep();
    assert.deepEqual([e.hasRange(6), e.hasRange(7)], [false, true]);
    assert.deepEqual([u.dormantCount, u.counters.destroyed], [1, 1]);
    gone.delete(7);
    clock.ms += 5_000;
    await settle(s);
    await u.sweep();
    assert.equal(e.hasRange(7), true, 'no answer: kept');
  }, { limits: { uninitializedIdleMs: 1_000, uninitializedGcAfterMs: 5_000 } });
});

test('maxUninitializedReplicasOnDisk bounds live and dormant ranges together', async () => {
  await withEnv(async ({ u, s, clock }) => {
    assert.ok(await u.ensure(1, m(MessageType.Heartbeat, 1, 2), 1));
    assert.ok(await u.ensure(2, m(MessageType.Heartbeat, 1, 2), 1));
    clock.ms += 1_001;
    await settle(s);
    await u.sweep();
    assert.ok(await u.ensure(3, m(MessageType.Heartbeat, 1, 2), 1));
    assert.equal(await u.ensure(4, m(MessageType.Heartbeat, 1, 2), 1), null);
    assert.ok(await u.ensure(1, m(MessageType.Heartbeat, 1, 2), 1), 'a dormant one may come back');
  }, { limits: { maxUninitializedReplicasOnDisk: 3, uninitializedIdleMs: 1_000 } });
});
