import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Clock } from './backoff.js';
import { RangeKvClient, type RangeKvClientOptions } from './client.js';
import {
  AmbiguousWriteError, DeadlineExceededError, InvalidArgumentError, OperatorFailedError, PdUnavailableError, RetriesExhaustedError,
} from './errors.js';
import { FakeCluster } from './testing/fake-cluster.js';
import { descriptorToWire } from '@rangekv/proto';

const s = (b: Buffer | undefined): string | undefined => b?.toString();

/** A client clock that moves only when the client sleeps (backoff), by the time slept. */
function fakeClock(): Clock & { t: number; slept: number[] } {
  const c = { t: 0, slept: [] as number[], now: () => c.t, random: () => 0.5, sleep: async (ms: number) => { c.slept.push(ms); c.t += ms; } };
  return c;
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 5));
}

async function withCluster(opts: { stores?: number; pds?: number }, clientOpts: Partial<RangeKvClientOptions>,
  body: (c: FakeCluster, kv: RangeKvClient) => Promise<void>): Promise<void> {
  const cluster = await FakeCluster.start(opts);
  let kv: RangeKvClient | undefined;
  try {
    kv = await RangeKvClient.connect({ pd: [cluster.pdAddress()], timeoutMs: 5_000, ...clientOpts });
    await body(cluster, kv);
  } finally {
    kv?.close();
    await cluster.stop();
  }
}

describe('routing', () => {
  let cluster: FakeCluster;
  let kv: RangeKvClient;
  before(async () => {
    cluster = await FakeCluster.start({ stores: 3 });
    kv = await RangeKvClient.connect({ pd: [cluster.pdAddress()], timeoutMs: 5_000 });
  });
  after(async () => {
    kv.close();
    await cluster.stop();
  });
  beforeEach(() => {
    cluster.storeCalls.length = 0;
    cluster.pdCalls.length = 0;
    cluster.faultHook = undefined;
  });

  test('put then get goes to the leader and the route is cached (one PD lookup)', async () => {
    await kv.put('a', '1');
    assert.equal(s(await kv.get('a')), '1');
    assert.equal(await kv.get('missing'), undefined);
    assert.deepEqual(cluster.storeCalls.map((c) => c.storeId), [1, 1, 1]);
    assert.equal(cluster.pdCalls.filter((m) => m === 'ScanRanges').length, 1);
  });

  test('NotLeader with a hint is followed at once and the new leader is cached', async () => {
    await kv.get('a');
    cluster.transferLeader(1, 3);
    cluster.storeCalls.length = 0;
    await kv.put('b', '2');
    await kv.put('c', '3');
    assert.deepEqual(cluster.storeCalls.map((c) => c.storeId), [1, 3, 3]);
    cluster.transferLeader(1, 1);
  });

  test('NotLeader without a hint: the client tries the other voters', async () => {
    cluster.hideLeaderHints = true;
    try {
      cluster.transferLeader(1, 2);
      await kv.put('d', '4');
      assert.equal(cluster.storeCalls.at(-1)?.storeId, 2);
      assert.ok(cluster.storeCalls.length >= 2);
    } finally {
      cluster.hideLeaderHints = false;
      cluster.transferLeader(1, 1);
    }
  });

  test('EpochNotMatch after a split: the client re-routes with the current descriptors, without asking PD', async () => {
    await kv.put('k1', 'v');
    const right = cluster.split('m');
    cluster.pdCalls.length = 0;
    cluster.storeCalls.length = 0;
    await kv.put('x', 'after-split');
    assert.equal(s(await kv.get('x')), 'after-split');
    assert.deepEqual(cluster.storeCalls.map((c) => c.rangeId), [1, right, right]);
    assert.equal(cluster.pdCalls.filter((m) => m === 'GetRangeByKey' || m === 'ScanRanges').length, 0);
    assert.deepEqual(kv.cachedRanges().map((r) => r.rangeId), [1, right]);
  });

  test('RangeNotFound: the replica moved away; the client asks PD again', async () => {
    const r = cluster.rangeOf(Buffer.from('a'));
    await kv.get('a');
    cluster.moveReplica(r.desc.rangeId, 1, 3);
    cluster.storeCalls.length = 0;
    assert.equal(s(await kv.get('a')), '1');
    assert.deepEqual(cluster.storeCalls.map((c) => c.storeId), [1, 3]);
    assert.ok(cluster.pdCalls.includes('ScanRanges'));
  });

  test('follower and stale reads are spread over the voters; linearizable ones go to the leader', async () => {
    await kv.put('spread', 'x');
    cluster.storeCalls.length = 0;
    for (let i = 0; i < 6; i++) assert.equal(s(await kv.get('spread', { consistency: i % 2 ? 'stale' : 'follower' })), 'x');
    const leader = cluster.rangeOf(Buffer.from('spread')).leader;
    assert.ok(new Set(cluster.storeCalls.map((c) => c.storeId)).size >= 2, 'more than one store served');
    cluster.storeCalls.length = 0;
    await kv.get('spread');
    assert.deepEqual(cluster.storeCalls.map((c) => c.storeId), [leader]);
  });

  test('ServerBusy is retried after a backoff', async () => {
    cluster.faultHook = (_, method) => (method === 'Get' && cluster.storeCalls.length === 1 ? { kind: 'busy', backoffMs: 5 } : undefined);
    assert.equal(s(await kv.get('a')), '1');
    assert.equal(cluster.storeCalls.length, 2);
  });

  test('KeyNotInRange: the client takes the store\'s descriptor and retries', async () => {
    const r = cluster.rangeOf(Buffer.from('a'));
    cluster.faultHook = (_, method) => (method === 'Get' && cluster.storeCalls.length === 1
      ? { kind: 'rangeError', error: { message: 'key not in range', keyNotInRange: { key: Buffer.from('a'), descriptor: descriptorToWire(r.desc) } } }
      : undefined);
    assert.equal(s(await kv.get('a')), '1');
    assert.equal(cluster.storeCalls.length, 2);
    assert.ok(kv.cachedRanges().some((x) => x.rangeId === r.desc.rangeId));
  });

  test('batchPut and batchGet: one request per range, in parallel, results in request order', async () => {
    const before = cluster.ranges.size;
    cluster.split('f');
    cluster.split('t');
    assert.equal(cluster.ranges.size, before + 2);
    const keys = ['a1', 'g1', 'u1', 'a2', 'n1', 'z9', 'g2'];
    await kv.batchPut(keys.map((k) => ({ key: k, value: 'stale routes' })));
    cluster.storeCalls.length = 0;
    await kv.batchPut(keys.map((k) => ({ key: k, value: `v-${k}` })));
    const puts = cluster.callsTo('BatchPut');
    const ranges = new Set(keys.map((k) => cluster.rangeOf(Buffer.from(k)).desc.rangeId));
    assert.equal(puts.length, ranges.size, `one BatchPut per range (${puts.map((p) => p.keys.join(',')).join(' | ')})`);
    const got = await kv.batchGet([...keys, 'nope']);
    assert.deepEqual(got.map(s), [...keys.map((k) => `v-${k}`), undefined]);
    assert.equal(cluster.callsTo('BatchGet').length, ranges.size);
  });

  test('scan walks ranges in order, forward and reverse, respecting limit', async () => {
    await kv.deleteRange('', '');
    const keys = Array.from({ length: 26 }, (_, i) => String.fromCharCode(97 + i) + 'k');
    await kv.batchPut(keys.map((k) => ({ key: k, value: k.toUpperCase() })));
    assert.deepEqual((await kv.scan('', '')).map((p) => p.key.toString()), keys);
    assert.deepEqual((await kv.scan('c', 'q')).map((p) => p.key.toString()), keys.slice(2, 16));
    assert.deepEqual((await kv.scan('c', '', { limit: 10 })).map((p) => p.key.toString()), keys.slice(2, 12));
    assert.deepEqual((await kv.scan('', '', { reverse: true })).map((p) => p.key.toString()), [...keys].reverse());
    assert.deepEqual((await kv.scan('b', 'w', { reverse: true, limit: 12 })).map((p) => p.key.toString()), keys.slice(1, 22).reverse().slice(0, 12));
    assert.equal((await kv.scan('a', '')).at(0)?.value.toString(), 'AK');
    assert.ok(new Set(cluster.callsTo('Scan').map((c) => c.rangeId)).size >= 3, 'the scans crossed ranges');
  });

  test('scan continues inside a range when the store cuts a page (more)', async () => {
    cluster.maxScanLimit = 3;
    try {
      assert.equal((await kv.scan('', '')).length, 26);
      assert.equal((await kv.scan('', '', { reverse: true })).length, 26);
    } finally {
      cluster.maxScanLimit = 1000;
    }
  });

  test('deleteRange is split across ranges', async () => {
    cluster.storeCalls.length = 0;
    await kv.deleteRange('ck', 'vk');
    const left = (await kv.scan('', '')).map((p) => p.key.toString());
    assert.deepEqual(left, ['ak', 'bk', 'vk', 'wk', 'xk', 'yk', 'zk']);
    assert.ok(cluster.callsTo('DeleteRange').length >= 3);
  });

  test('compareAndSwap: succeeds on a match, reports the previous value', async () => {
    assert.deepEqual(await kv.compareAndSwap('cas', { expected: null, newValue: 'one' }), { succeeded: true, previous: undefined });
    const r = await kv.compareAndSwap('cas', { expected: 'zzz', newValue: 'two' });
    assert.equal(r.succeeded, false);
    assert.equal(s(r.previous), 'one');
    assert.equal((await kv.compareAndSwap('cas', { expected: 'one', delete: true })).succeeded, true);
    assert.equal(await kv.get('cas'), undefined);
  });

  test('an ambiguous CAS is never retried; an ambiguous put neither by default, and is with retryAmbiguousWrites', async () => {
    cluster.faultHook = (_, method) => ((method === 'CompareAndSwap' || method === 'Put') && cluster.storeCalls.length === 1
      ? { kind: 'status', code: grpc.status.UNKNOWN, details: 'ambiguous result: proposal timed out', ambiguous: true, applyFirst: true }
      : undefined);
    await assert.rejects(kv.compareAndSwap('amb', { expected: null, newValue: 'x' }), AmbiguousWriteError);
    assert.equal(cluster.callsTo('CompareAndSwap').length, 1);
    assert.equal(s(await kv.get('amb')), 'x', 'it had applied');
    cluster.storeCalls.length = 0;
    await assert.rejects(kv.put('amb2', 'y'), AmbiguousWriteError);
    assert.equal(cluster.callsTo('Put').length, 1);
    assert.equal(s(await kv.get('amb2')), 'y', 'it had applied');
    const retrying = await RangeKvClient.connect({ pd: [cluster.pdAddress()], retryAmbiguousWrites: true });
    try {
      cluster.storeCalls.length = 0;
      await retrying.put('amb3', 'z');
      assert.equal(cluster.callsTo('Put').length, 2);
    } finally {
      retrying.close();
    }
  });

  test('INVALID_ARGUMENT is final', async () => {
    cluster.faultHook = () => ({ kind: 'status', code: grpc.status.INVALID_ARGUMENT, details: 'key is 5000 bytes, above maxKeyBytes' });
    await assert.rejects(kv.put('x', 'y'), (e: unknown) => e instanceof InvalidArgumentError && /maxKeyBytes/.test(e.reason));
    assert.equal(cluster.storeCalls.length, 1);
  });

  test('a busy store: backoff under the deadline ends in DeadlineExceededError', async () => {
    cluster.faultHook = () => ({ kind: 'busy' });
    // Not asserted: the last error's text (the busy answer, or on a loaded machine what
    // was left of the 300 ms running out in an attempt or a wait for a channel slot).
    await assert.rejects(kv.get('a', { timeoutMs: 300 }), DeadlineExceededError);
    const attempts = cluster.storeCalls.length;
    assert.ok(attempts > 2, `retried (${attempts})`);
    assert.ok(attempts < 60, `with backoff, not a hot loop (${attempts})`);
  });

  test('operators: split, transfer leader, move replica; a failed operator throws OperatorFailedError', async () => {
    const op = await kv.split('p');
    assert.equal(op.kind, 'split');
    assert.equal(op.status, 'succeeded');
    assert.equal(Buffer.from(op.right!.startKey).toString(), 'p');
    const ranges = await kv.listRanges();
    assert.ok(ranges.some((r) => Buffer.from(r.startKey).toString() === 'p'));
    const t = await kv.transferLeader(op.right!.rangeId, 2);
    assert.equal(t.status, 'succeeded');
    assert.equal(cluster.ranges.get(op.right!.rangeId)!.leader, 2);
    await kv.put('pp', 'routed to the new leader');
    assert.equal(cluster.storeCalls.at(-1)?.storeId, 2);
    await assert.rejects(kv.split('p'), OperatorFailedError);
    const stores = await kv.listStores();
    assert.deepEqual(stores.map((x) => x.id), [1, 2, 3]);
    assert.equal(stores[0]!.state, 'up');
    const running = await kv.transferLeader(1, 3, { wait: false });
    assert.equal(running.status, 'running');
    assert.equal((await kv.getOperator(running.id)).status, 'succeeded');
  });
});

describe('range merge', () => {
  test('a request to a merged-away range re-routes from the EpochNotMatch descriptor, without PD, and the wider range evicts every entry it covers', async () => {
    await withCluster({ stores: 3 }, {}, async (cluster, kv) => {
      const m = cluster.split('m');
      const t = cluster.split('t');
      await kv.put('a', '1');
      await kv.put('n', '2');
      await kv.put('u', '3');
      assert.deepEqual(kv.cachedRanges().map((r) => r.rangeId), [1, m, t]);
      const { merged } = cluster.merge(m);
      cluster.merge(1);
      cluster.pdCalls.length = 0;
      cluster.storeCalls.length = 0;
      assert.equal(s(await kv.get('n')), '2');
      assert.deepEqual(cluster.storeCalls.map((c) => c.rangeId), [m, 1], 'the merged-away range, then the range it was merged into');
      assert.equal(cluster.pdCalls.filter((x) => x === 'GetRangeByKey' || x === 'ScanRanges').length, 0, 'no PD lookup');
      assert.ok(merged.endKey.length === 0);
      // Range 1 now covers everything: the entries of m and t (and the old 1) are gone.
      assert.deepEqual(kv.cachedRanges().map((r) => [r.rangeId, r.epoch.version, Buffer.from(r.endKey).toString()]),
        [[1, cluster.ranges.get(1)!.desc.epoch.version, '']]);
      assert.equal(s(await kv.get('u')), '3');
      assert.deepEqual(cluster.storeCalls.map((c) => c.rangeId), [m, 1, 1]);
    });
  });

  test('RangeNotFound from a merged-away range: the client asks PD and finds the merged range', async () => {
    await withCluster({ stores: 3 }, {}, async (cluster, kv) => {
      const m = cluster.split('m');
      await kv.put('n', '2');
      cluster.merge(1, { forget: true });
      cluster.pdCalls.length = 0;
      cluster.storeCalls.length = 0;
      assert.equal(s(await kv.get('n')), '2');
      assert.deepEqual(cluster.storeCalls.map((c) => c.rangeId), [m, 1]);
      assert.equal(cluster.pdCalls.filter((x) => x === 'ScanRanges').length, 1);
      assert.deepEqual(kv.cachedRanges().map((r) => r.rangeId), [1]);
    });
  });

  test('ServerBusy while the right range is merging is retried with backoff, then re-routed once merged', async () => {
    const clock = fakeClock();
    await withCluster({ stores: 3 }, { clock }, async (cluster, kv) => {
      const m = cluster.split('m');
      await kv.put('n', '2');
      let busy = 3;
      cluster.faultHook = (_, method, req) => {
        if (method !== 'Put' || Number(req.header?.rangeId) !== m || busy === 0) return undefined;
        if (--busy === 0) cluster.merge(1);
        return { kind: 'busy', backoffMs: 20 };
      };
      cluster.storeCalls.length = 0;
      await kv.put('n', 'while merging');
      assert.deepEqual(cluster.storeCalls.map((c) => c.rangeId), [m, m, m, m, 1], 'three busy answers, EpochNotMatch, then the merged range');
      assert.ok(clock.slept.filter((ms) => ms >= 20).length >= 3, `backed off at least the store's 20 ms each time (${clock.slept.join(', ')})`);
      assert.equal(s(await kv.get('n')), 'while merging');
    });
  });

  test('kv.merge creates a MERGE operator and waits for it; the result has the merged range and the right one as it was', async () => {
    await withCluster({ stores: 3 }, {}, async (cluster, kv) => {
      const m = cluster.split('m');
      const op = await kv.merge(1);
      assert.deepEqual([op.kind, op.status, op.descriptor?.rangeId, op.right?.rangeId], ['merge', 'succeeded', 1, m]);
      assert.equal(op.descriptor?.endKey.length, 0);
      assert.equal(Buffer.from(op.right!.startKey).toString(), 'm');
      await assert.rejects(kv.merge(1), OperatorFailedError, 'the last range has no right-hand neighbour');
    });
  });
});

describe('failures', () => {
  test('PD not_leader redirect: the client follows leader_address', async () => {
    const c = await FakeCluster.start({ pds: 2 });
    try {
      c.setPd(0, { notLeaderTo: c.pdAddress(1) });
      const kv = await RangeKvClient.connect({ pd: [c.pdAddress(0)], timeoutMs: 5_000 });
      try {
        await kv.put('a', 'b');
        assert.equal(s(await kv.get('a')), 'b');
        assert.ok(kv.pdAddresses().includes(c.pdAddress(1)));
      } finally {
        kv.close();
      }
    } finally {
      await c.stop();
    }
  });

  test('PD leader unknown or unreachable: the client tries the other PD addresses', async () => {
    const c = await FakeCluster.start({ pds: 2 });
    try {
      c.setPd(0, { notLeaderTo: '' });
      const kv = await RangeKvClient.connect({ pd: ['127.0.0.1:1', c.pdAddress(0), c.pdAddress(1)], timeoutMs: 5_000 });
      try {
        await kv.put('a', 'b');
        assert.equal(s(await kv.get('a')), 'b');
      } finally {
        kv.close();
      }
    } finally {
      await c.stop();
    }
  });

  test('PD not bootstrapped yet: retried with backoff', async () => {
    await withCluster({}, {}, async (c, kv) => {
      c.setPd(0, { notBootstrappedTimes: 2 });
      await kv.put('a', 'b');
      assert.equal(c.pdCalls.filter((m) => m === 'ScanRanges').length, 3);
    });
  });

  test('no PD reachable: PdUnavailableError naming the addresses', async () => {
    await assert.rejects(RangeKvClient.connect({ pd: ['127.0.0.1:1', '127.0.0.1:2'], timeoutMs: 500 }),
      (e: unknown) => e instanceof PdUnavailableError && /127\.0\.0\.1:1, 127\.0\.0\.1:2/.test(e.message));
  });

  test('PD down: a leader that moved to a store this client never called is still reached (store addresses learned at connect)', async () => {
    await withCluster({ stores: 3 }, { timeoutMs: 3_000 }, async (c, kv) => {
      await kv.put('a', '0');
      assert.ok(!c.storeCalls.some((x) => x.storeId === 3), 'store 3 not called yet');
      c.setPd(0, { notLeaderTo: '127.0.0.1:1' }); // every PD call now fails: PD is unreachable
      c.pdCalls.length = 0;
      c.transferLeader(1, 3);
      await kv.put('a', '1');
      assert.equal(c.storeCalls.at(-1)?.storeId, 3);
      assert.ok(!c.pdCalls.includes('GetStore'), `no PD lookup needed (${c.pdCalls.join(',')})`);
      assert.equal(c.data.get('a')?.toString(), '1');
    });
  });

  test('a stopped leader store: the client moves on to another replica and follows its hint', async () => {
    await withCluster({}, {}, async (c, kv) => {
      await kv.put('a', '1');
      c.transferLeader(1, 2);
      c.stopStore(1);
      await kv.put('a', '2');
      assert.equal(s(await kv.get('a')), '2');
      assert.equal(c.storeCalls.at(-1)?.storeId, 2);
    });
  });

  test('an unreachable store fails a CAS only after it was sent: not sent means retried elsewhere', async () => {
    await withCluster({}, {}, async (c, kv) => {
      await kv.put('a', '1');
      c.transferLeader(1, 3);
      c.stopStore(1);
      const r = await kv.compareAndSwap('a', { expected: '1', newValue: '2' });
      assert.equal(r.succeeded, true);
    });
  });

  test('maxRetries bounds the attempts', async () => {
    await withCluster({}, { maxRetries: 3, backoffMaxMs: 5 }, async (c, kv) => {
      c.faultHook = () => ({ kind: 'busy' });
      await assert.rejects(kv.get('a'), (e: unknown) => e instanceof RetriesExhaustedError && e.attempts === 4);
      assert.equal(c.storeCalls.length, 4);
    });
  });

  test('scans and deleteRange count retries per range piece: maxRetries still bounds them', async () => {
    await withCluster({}, { maxRetries: 3, backoffMaxMs: 5 }, async (c, kv) => {
      c.faultHook = (_, method) => (method === 'Scan' || method === 'DeleteRange' ? { kind: 'busy' } : undefined);
      await assert.rejects(kv.scan('', ''), (e: unknown) => e instanceof RetriesExhaustedError && e.attempts === 4);
      await assert.rejects(kv.scan('', '', { reverse: true }), RetriesExhaustedError);
      await assert.rejects(kv.deleteRange('a', 'z'), RetriesExhaustedError);
    });
  });

  test('a batch whose range splits under it is re-grouped', async () => {
    await withCluster({}, {}, async (c, kv) => {
      await kv.put('a', '0');
      c.split('m');
      c.split('t');
      const keys = ['b', 'n', 'u', 'c'];
      await kv.batchPut(keys.map((k) => ({ key: k, value: k })));
      assert.deepEqual((await kv.batchGet(keys)).map(s), keys);
      assert.deepEqual([...c.data.keys()].sort(), ['a', 'b', 'c', 'n', 'u']);
    });
  });
});

test('a key PD does not place yet (NOT_FOUND: between a split\'s two reports, or a new PD leader) is retried under the deadline', async () => {
  await withCluster({ stores: 3 }, {}, async (c, kv) => {
    c.rangeByKeyNotFoundLeft = 2;
    await kv.put('gap', 'filled');
    assert.equal(s(await kv.get('gap')), 'filled');
    assert.equal(c.rangeByKeyNotFoundLeft, 0);
  });
});

// A store paused with SIGSTOP (or cut off with its TCP up) never answers: the fake's 'hang'.
describe('a paused store', () => {
  test('a put to a paused leader fails over after one short attempt; hints to it are not followed while it is suspect', async () => {
    const clock = fakeClock();
    await withCluster({ stores: 3 }, { retryAmbiguousWrites: true, clock }, async (c, kv) => {
      await kv.put('a', '0');
      c.storeCalls.length = 0;
      const t0 = clock.t;
      let followerCalls = 0;
      c.faultHook = (storeId) => {
        if (storeId === 1) return { kind: 'hang' };
        // The followers name store 1 (the fake's leader) until they elect store 2.
        if (++followerCalls === 3) c.transferLeader(1, 2);
        return undefined;
      };
      await kv.put('a', '1');
      const order = c.storeCalls.map((x) => x.storeId);
      assert.equal(order[0], 1, `the cached leader first (${order})`);
      assert.ok(!order.slice(1).includes(1), `no second attempt to the paused store, its hints not followed (${order})`);
      assert.equal(order.at(-1), 2);
      assert.ok(followerCalls >= 3, 'the followers hinted store 1 twice before the election');
      const hung = c.storeCalls[0]!.deadlineMs;
      assert.ok(hung <= 1_000, `the attempt to the paused store had the default rpcTimeoutMs, got ${hung} ms`);
      assert.ok(hung + (clock.t - t0) < 2_000, `done within 2 s of client time (attempt ${hung} ms + backoff ${clock.t - t0} ms)`);
      assert.equal(c.data.get('a')?.toString(), '1');
    });
  });

  test('while no leader is known (an election) the client polls every electionWaitMs at most, without using up maxRetries', async () => {
    const clock = fakeClock();
    await withCluster({ stores: 3 }, { clock, maxRetries: 3 }, async (c, kv) => {
      await kv.put('a', '0');
      let calls = 0;
      // 20 answers "not leader, leader unknown", then store 2 leads.
      c.faultHook = () => {
        if (++calls <= 20) return { kind: 'notLeader', hint: 0 };
        c.transferLeader(1, 2);
        return undefined;
      };
      clock.slept.length = 0;
      await kv.put('a', '1');
      assert.ok(calls > 20);
      assert.ok(clock.slept.every((ms) => ms <= 50), `waits ${clock.slept.join(',')}`);
      assert.equal(c.data.get('a')?.toString(), '1');
    });
  });

  test('a hint to a suspect store is followed again once suspectStoreMs passed on the client clock', async () => {
    const clock = fakeClock();
    await withCluster({ stores: 3 }, { retryAmbiguousWrites: true, clock, rpcTimeoutMs: 200 }, async (c, kv) => {
      await kv.put('a', '0');
      c.storeCalls.length = 0;
      const at: number[] = [];
      // Store 1 stalls for one call and stays leader: the followers keep naming it.
      c.faultHook = (storeId) => {
        at.push(clock.t);
        return storeId === 1 && at.length === 1 ? { kind: 'hang' } : undefined;
      };
      await kv.put('a', '1');
      const order = c.storeCalls.map((x) => x.storeId);
      const back = order.indexOf(1, 1);
      assert.equal(back, order.length - 1, `store 1 answered last (${order})`);
      assert.ok(back >= 3, `the followers were asked meanwhile (${order})`);
      assert.ok(at[back]! - at[0]! >= 2_000, `store 1 was asked again ${at[back]! - at[0]!} ms later on the client clock`);
      assert.ok(at[back - 2]! - at[0]! < 2_000 && at[back - 1] === at[back], 'the first hint after its suspicion ended was followed at once');
    });
  });

  test('any answer clears the suspicion, a range error too', async () => {
    const clock = fakeClock();
    await withCluster({ stores: 3 }, { retryAmbiguousWrites: true, clock, rpcTimeoutMs: 200 }, async (c, kv) => {
      const right = c.split('m');
      await kv.put('a', '0');
      await kv.put('x', '0');
      // Store 1 stalls once on range 1 (the followers elect store 2); range `right` still caches it as leader.
      let stalled = false;
      c.faultHook = (storeId) => {
        if (storeId !== 1 || stalled) return undefined;
        stalled = true;
        c.transferLeader(1, 2);
        return { kind: 'hang' };
      };
      await kv.put('a', '1');
      assert.ok(stalled);
      c.faultHook = undefined;
      c.storeCalls.length = 0;
      for (let i = 0; i < 4; i++) await kv.get('a', { consistency: 'stale' });
      assert.ok(!c.storeCalls.some((x) => x.storeId === 1), 'suspect: stale reads spread over the other voters');

      // Range `right` still caches store 1 as leader, but store 1 is suspect: the other
      // voters are asked first; they name store 1, which is no usable hint, until its
      // suspicion ends on the client clock. Store 1 then answers NotLeader (hint 2): that
      // answer clears it, so store 2's hint back to store 1 is followed at once.
      c.storeCalls.length = 0;
      let sleptThen = -1;
      c.faultHook = (storeId) => {
        if (storeId !== 1) return { kind: 'notLeader', hint: 1 };
        sleptThen = clock.slept.length;
        c.faultHook = (s) => (s === 2 ? { kind: 'notLeader', hint: 1 } : undefined);
        return { kind: 'notLeader', hint: 2 };
      };
      await kv.put('x', '1');
      const calls = c.storeCalls.map((x) => x.storeId);
      assert.notEqual(calls[0], 1, `a suspect cached leader is tried after the other voters (${calls})`);
      assert.deepEqual(calls.slice(-3), [1, 2, 1], `store 1's NotLeader answer cleared it (${calls})`);
      assert.ok(c.storeCalls.every((x) => x.rangeId === right));
      assert.equal(clock.slept.length, sleptThen, 'no backoff after store 1 answered');
      c.storeCalls.length = 0;
      for (let i = 0; i < 3; i++) await kv.get('a', { consistency: 'stale' });
      assert.ok(c.storeCalls.some((x) => x.storeId === 1), 'stale reads reach store 1 again');
    });
  });

  test('a CAS stuck on a silent leader for rpcTimeoutMs makes it suspect: the calls after it go to the other voters', async () => {
    await withCluster({ stores: 3 }, { rpcTimeoutMs: 100 }, async (c, kv) => {
      await kv.put('a', '0');
      c.faultHook = (storeId) => (storeId === 1 ? { kind: 'hang' } : undefined);
      const stuck = kv.compareAndSwap('a', { expected: '0', newValue: '1', timeoutMs: 10_000 }).catch((e: unknown) => e);
      await until(() => c.storeCalls.some((x) => x.storeId === 1 && x.method === 'CompareAndSwap'));
      await new Promise((resolve) => setTimeout(resolve, 400));
      c.transferLeader(1, 2); // the followers elected store 2 meanwhile
      c.storeCalls.length = 0;
      await kv.put('b', '1', { timeoutMs: 5_000 });
      const order = c.storeCalls.map((x) => x.storeId);
      assert.ok(!order.includes(1), `the put did not queue behind the paused store (${order})`);
      assert.equal(order.at(-1), 2);
      c.faultHook = undefined;
      assert.equal(c.releaseHung(), 1);
      await stuck;
    });
  });

  test('a store that answers other calls is not suspected because one CAS waits long', async () => {
    await withCluster({ stores: 3 }, { rpcTimeoutMs: 100 }, async (c, kv) => {
      await kv.put('a', '0');
      c.faultHook = (storeId, method) => (storeId === 1 && method === 'CompareAndSwap' ? { kind: 'hang' } : undefined);
      const stuck = kv.compareAndSwap('a', { expected: '0', newValue: '1', timeoutMs: 10_000 });
      await until(() => c.storeCalls.some((x) => x.storeId === 1 && x.method === 'CompareAndSwap'));
      for (let i = 0; i < 8; i++) {
        await kv.get('a');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      c.storeCalls.length = 0;
      await kv.put('b', '1');
      assert.deepEqual(c.storeCalls.map((x) => x.storeId), [1], 'the leader is still asked first');
      c.faultHook = undefined;
      assert.equal(c.releaseHung(), 1);
      assert.equal((await stuck).succeeded, true);
    });
  });

  test('an attempt that cannot be retried once sent (CAS; a write without retryAmbiguousWrites) is given the whole deadline', async () => {
    await withCluster({ stores: 3 }, { rpcTimeoutMs: 100 }, async (c, kv) => {
      const strict = await RangeKvClient.connect({ pd: [c.pdAddress()], rpcTimeoutMs: 100, retryAmbiguousWrites: false });
      try {
        await kv.put('a', '0');
        await strict.put('b', '0');
        const calls: Array<[string, () => Promise<unknown>]> = [
          ['CompareAndSwap', () => kv.compareAndSwap('a', { expected: '0', newValue: '1', timeoutMs: 4_000 })],
          ['Put', () => strict.put('b', '1', { timeoutMs: 4_000 })],
        ];
        for (const [method, run] of calls) {
          c.storeCalls.length = 0;
          c.faultHook = (storeId) => (storeId === 1 ? { kind: 'hang' } : undefined);
          const done = run();
          await until(() => c.storeCalls.length > 0);
          c.faultHook = undefined;
          const seen = c.storeCalls[0]!;
          assert.equal(seen.method, method);
          assert.ok(seen.deadlineMs > 1_000, `${method}: the call's deadline, not rpcTimeoutMs (100 ms): got ${seen.deadlineMs} ms`);
          assert.equal(c.releaseHung(), 1);
          await done;
        }
        assert.equal(c.data.get('a')?.toString(), '1');
        assert.equal(c.data.get('b')?.toString(), '1');
      } finally {
        strict.close();
      }
    });
  });

  test('suspectStoreMs must be a positive integer', async () => {
    for (const v of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(RangeKvClient.connect({ pd: ['127.0.0.1:1'], suspectStoreMs: v }),
        (e: unknown) => e instanceof RangeError && /suspectStoreMs/.test(e.message));
    }
  });
});
