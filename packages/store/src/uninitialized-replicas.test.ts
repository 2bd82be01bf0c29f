// UninitializedReplicas with a real engine and scheduler (no transport): which messages
// create a replica, the bound, learned routes, restart as dormant, take().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageType, Prng, RawNode, type Message } from '@rangekv/raft';
import { StorageEngine, type RangeLogStore } from '@rangekv/storage';
import { silentLogger } from './logger.js';
import { RaftScheduler } from './raft-scheduler.js';
import { UninitializedReplicas } from './uninitialized-replicas.js';

function m(type: MessageType, from: number, to: number): Message {
  return {
    type, from, to, term: 2, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0,
    transfer: false, snapshot: null, context: null,
  };
}

async function withStore(f: (u: UninitializedReplicas<unknown>, s: RaftScheduler<unknown>, e: StorageEngine) => Promise<void>, dir?: string): Promise<void> {
  const root = dir ?? await mkdtemp(join(tmpdir(), 'rangekv-uninit-'));
  const engine = await StorageEngine.open(root);
  const scheduler = new RaftScheduler<unknown>(engine, {
    send: () => {}, flush: () => {}, applyEntries: () => [], onFatal: (e) => { throw e; },
  });
  const makeNode = (id: number, log: RangeLogStore): RawNode =>
    new RawNode({ id, storage: log, prng: new Prng(1), electionTimeoutTicks: 10, heartbeatIntervalTicks: 2, applied: log.applied.index });
  const u = new UninitializedReplicas<unknown>({ engine, scheduler, makeNode, maxUninitializedReplicas: 2, log: silentLogger });
  try {
    await f(u, scheduler, engine);
  } finally {
    await scheduler.stop();
    await engine.close();
    if (dir === undefined) await rm(root, { recursive: true, force: true });
  }
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
      assert.equal(u.size, 1);
      assert.equal(s.get(9), undefined);
      const r = await u.ensure(9, m(MessageType.Heartbeat, 1, 4), 1);
      assert.equal(r?.node.id, 4);
      assert.equal(u.counters.created, 0);
    }, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
