// Three StoreServers in one process (real engines, transports on 127.0.0.1): the KV
// service's reads, writes and error mapping, called directly (the gRPC layer is covered
// by store-process.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metapb } from '@rangekv/proto';
import { ColumnFamily } from '@rangekv/storage';
import { AmbiguousResultError, InvalidArgumentError } from './errors.js';
import { StoreCluster } from './testing/store-cluster.js';
import { rangeKeyPrefix } from '@rangekv/multiraft/testing/local-cluster';

const b = (s: string): Buffer => Buffer.from(s);
const str = (v: Uint8Array | null | undefined): string => Buffer.from(v ?? new Uint8Array(0)).toString();
const C = metapb.ReadConsistency;

test('linearizable get after put; a non-leader answers NotLeader with the leader store hint', async () => {
  const c = await StoreCluster.start();
  try {
    const leader = await c.waitForLeader();
    assert.deepEqual(await leader.kv.put({ header: c.header(), key: b('k'), value: b('v1') }), {});
    const got = await leader.kv.get({ header: c.header(), key: b('k') });
    assert.equal(got.found, true);
    assert.equal(str(got.value), 'v1');
    const missing = await leader.kv.get({ header: c.header(), key: b('nope') });
    assert.deepEqual({ found: missing.found, err: missing.rangeError }, { found: false, err: undefined });

    const follower = c.followers()[0]!;
    await c.waitFor('follower knows the leader', () => follower.scheduler.get(1)!.lead === leader.storeId);
    const w = await follower.kv.put({ header: c.header(), key: b('k'), value: b('v2') });
    assert.equal(w.rangeError?.notLeader?.leader?.storeId, leader.storeId);
    assert.equal(w.rangeError?.notLeader?.leader?.replicaId, leader.storeId);
    const r = await follower.kv.get({ header: c.header(), key: b('k') });
    assert.equal(r.rangeError?.notLeader?.leader?.storeId, leader.storeId);
  } finally {
    await c.close();
  }
});

// How many quorum rounds lease reads save depends on machine load (under a stalled event
// loop the tick clock makes lease reads fall back to ReadIndex), so it is not asserted
// here; raft's lease.test.ts pins "no quorum round while the lease holds" deterministically.
test('lease reads on the leader see the latest write; elsewhere they answer NotLeader', async () => {
  const c = await StoreCluster.start();
  try {
    const leader = await c.waitForLeader();
    for (let i = 0; i < 20; i++) {
      await leader.kv.put({ header: c.header(), key: b('lease'), value: b(`v${i}`) });
      const viaLease = await leader.kv.get({ header: c.header(1, C.LEASE), key: b('lease') });
      assert.equal(str(viaLease.value), `v${i}`);
      const viaQuorum = await leader.kv.get({ header: c.header(), key: b('lease') });
      assert.equal(str(viaQuorum.value), `v${i}`);
    }
    const follower = c.followers()[0]!;
    const r = await follower.kv.get({ header: c.header(1, C.LEASE), key: b('lease') });
    assert.ok(r.rangeError?.notLeader, 'LEASE on a follower is NotLeader');
  } finally {
    await c.close();
  }
});

test('follower reads go through ReadIndex and see every write acknowledged before them; stale reads catch up', async () => {
  const c = await StoreCluster.start();
  try {
    const leader = await c.waitForLeader();
    const follower = c.followers()[0]!;
    await c.waitFor('follower knows the leader', () => follower.scheduler.get(1)!.lead === leader.storeId);
    for (let i = 0; i < 20; i++) {
      await leader.kv.put({ header: c.header(), key: b(`f${i}`), value: b(`${i}`) });
      // No waiting: the follower read must wait for its own apply to reach the read index.
      const got = await follower.kv.get({ header: c.header(1, C.FOLLOWER), key: b(`f${i}`) });
      assert.equal(str(got.value), `${i}`, `follower read ${i}`);
    }
    const scan = await follower.kv.scan({ header: c.header(1, C.FOLLOWER), startKey: b('f'), endKey: b('g'), limit: 5 });
    assert.equal(scan.pairs?.length, 5);
    assert.equal(scan.more, true);
    const other = c.followers()[1]!;
    await c.eventually('a stale read on the other follower sees f19', async () =>
      str((await other.kv.get({ header: c.header(1, C.STALE), key: b('f19') })).value) === '19');
  } finally {
    await c.close();
  }
});

test('BatchGet, Scan (limit, reverse, clipped), Delete, DeleteRange and CompareAndSwap through the service', async () => {
  const c = await StoreCluster.start({ ranges: 2 });
  try {
    const leader = await c.waitForLeader(1);
    const p = rangeKeyPrefix(2); // range 1 is [ "", p ), range 2 is [ p, "" )
    const h = c.header(1);
    await leader.kv.batchPut({ header: h, pairs: ['a', 'b', 'c', 'd', 'e'].map((k) => ({ key: b(k), value: b(k.toUpperCase()) })) });
    const bg = await leader.kv.batchGet({ header: h, keys: [b('c'), b('b-missing'), b('a')] });
    assert.deepEqual(bg.pairs?.map((kv) => `${str(kv.key)}=${str(kv.value)}`), ['c=C', 'a=A']);
    const fwd = await leader.kv.scan({ header: h, startKey: b('b'), limit: 2 });
    assert.deepEqual(fwd.pairs?.map((kv) => str(kv.key)), ['b', 'c']);
    assert.equal(fwd.more, true);
    const rev = await leader.kv.scan({ header: h, reverse: true });
    assert.deepEqual(rev.pairs?.map((kv) => str(kv.key)), ['e', 'd', 'c', 'b', 'a']);
    assert.equal(rev.more, false);
    // A span reaching past the range is clipped to it.
    const clipped = await leader.kv.scan({ header: h, startKey: b('d'), endKey: b(`${p}zzz`) });
    assert.deepEqual(clipped.pairs?.map((kv) => str(kv.key)), ['d', 'e']);

    await leader.kv.delete({ header: h, key: b('a') });
    await leader.kv.deleteRange({ header: h, startKey: b('b'), endKey: b('d') });
    const left = await leader.kv.scan({ header: h });
    assert.deepEqual(left.pairs?.map((kv) => str(kv.key)), ['d', 'e']);

    const ok = await leader.kv.compareAndSwap({ header: h, key: b('d'), expectExists: true, expectedValue: b('D'), newValue: b('D2') });
    assert.deepEqual({ s: ok.succeeded, e: ok.previousExists, v: str(ok.previousValue) }, { s: true, e: true, v: 'D' });
    const no = await leader.kv.compareAndSwap({ header: h, key: b('d'), expectExists: false, newValue: b('x') });
    assert.deepEqual({ s: no.succeeded, e: no.previousExists, v: str(no.previousValue) }, { s: false, e: true, v: 'D2' });
    const gone = await leader.kv.compareAndSwap({ header: h, key: b('d'), expectExists: true, expectedValue: b('D2'), delete: true });
    assert.equal(gone.succeeded, true);
    assert.equal((await leader.kv.get({ header: h, key: b('d') })).found, false);

    // Keys of range 2 sent to range 1: KeyNotInRange with range 1's descriptor.
    const wrong = await leader.kv.put({ header: h, key: b(`${p}x`), value: b('1') });
    assert.equal(str(wrong.rangeError?.keyNotInRange?.key), `${p}x`);
    assert.equal(str(wrong.rangeError?.keyNotInRange?.descriptor?.endKey), p);
    const wrongDr = await leader.kv.deleteRange({ header: h, startKey: b('a'), endKey: b(`${p}x`) });
    assert.ok(wrongDr.rangeError?.keyNotInRange);
    const wrongScan = await leader.kv.scan({ header: h, startKey: b(`${p}x`) });
    assert.ok(wrongScan.rangeError?.keyNotInRange);
  } finally {
    await c.close();
  }
});

test('routing errors: RangeNotFound, EpochNotMatch with the current descriptor', async () => {
  const c = await StoreCluster.start();
  try {
    const leader = await c.waitForLeader();
    // A range not on this store: for a key, the local range that holds it (re-route without PD); else RangeNotFound.
    const elsewhere = await leader.kv.get({ header: { rangeId: 77, epoch: { confVer: 1, version: 1 } }, key: b('k') });
    assert.equal(elsewhere.rangeError?.epochNotMatch?.current?.[0]?.rangeId, 1);
    assert.match(elsewhere.rangeError?.message ?? '', /range 77 is not on store \d+; the key is in range 1 here/);
    const nf = await leader.kv.scan({ header: { rangeId: 77, epoch: { confVer: 1, version: 1 } }, startKey: b('k') });
    assert.equal(nf.rangeError?.rangeNotFound?.rangeId, 77);
    const stale = await leader.kv.put({ header: { rangeId: 1, epoch: { confVer: 1, version: 9 } }, key: b('k'), value: b('v') });
    assert.equal(stale.rangeError?.epochNotMatch?.current?.[0]?.epoch?.version, 1);
    assert.equal(stale.rangeError?.epochNotMatch?.current?.[0]?.rangeId, 1);
    // confVer is not checked for KV requests.
    assert.deepEqual(await leader.kv.put({ header: { rangeId: 1, epoch: { confVer: 5, version: 1 } }, key: b('k'), value: b('v') }), {});
  } finally {
    await c.close();
  }
});

test('bad input is INVALID_ARGUMENT with a reason naming the limit, and the store keeps serving', async () => {
  const c = await StoreCluster.start({ limits: { maxKeyBytes: 8, maxValueBytes: 16, maxBatchKeys: 2, maxScanLimit: 10 } });
  try {
    const leader = await c.waitForLeader();
    const h = c.header();
    const bad = async (p: Promise<unknown>, reason: RegExp): Promise<void> => {
      await assert.rejects(p, (e: unknown) => e instanceof InvalidArgumentError && reason.test(e.reason));
    };
    await bad(leader.kv.put({ header: h, key: b(''), value: b('v') }), /key is empty/);
    await bad(leader.kv.put({ header: h, key: b('123456789'), value: b('v') }), /maxKeyBytes/);
    await bad(leader.kv.put({ header: h, key: b('k'), value: Buffer.alloc(17) }), /maxValueBytes/);
    await bad(leader.kv.batchPut({ header: h, pairs: [1, 2, 3].map((i) => ({ key: b(`k${i}`), value: b('v') })) }), /maxBatchKeys/);
    await bad(leader.kv.batchPut({ header: h, pairs: [] }), /pairs is empty/);
    await bad(leader.kv.batchGet({ header: h, keys: [b('a'), b('')] }), /keys\[1\] is empty/);
    await bad(leader.kv.scan({ header: h, limit: 11 }), /maxScanLimit/);
    await bad(leader.kv.scan({ header: h, startKey: b('z'), endKey: b('a') }), /start_key must be below end_key/);
    await bad(leader.kv.get({ key: b('k') }), /header is required/);
    await bad(leader.kv.get({ header: { rangeId: 1 }, key: b('k') }), /epoch is required/);
    await bad(leader.kv.get({ header: { rangeId: 0, epoch: {} }, key: b('k') }), /rangeId/);
    await bad(leader.kv.get({ header: { ...h, readConsistency: 42 as metapb.ReadConsistency }, key: b('k') }), /readConsistency/);
    assert.deepEqual(await leader.kv.put({ header: h, key: b('k'), value: b('fine') }), {});
    assert.equal(str((await leader.kv.get({ header: h, key: b('k') })).value), 'fine');
  } finally {
    await c.close();
  }
});

test('raft drops a proposal: during a leadership transfer the write waits for it (not ServerBusy); at the uncommitted-size cap, ServerBusy', async () => {
  const c = await StoreCluster.start({ raft: { maxUncommittedEntriesBytes: 1000 } });
  try {
    let leader = await c.waitForLeader();
    await leader.kv.put({ header: c.header(), key: b('warm'), value: b('up') });
    const target = c.followers()[0]!.storeId;
    // Transfer and propose in the same turn: raft refuses proposals while transferring; the
    // write waits for the outcome (leader-waits.ts) and is sent to the new leader, or
    // written here if the transfer failed.
    leader.scheduler.withNode(1, (r) => r.node.transferLeader(target));
    const moved = await leader.kv.put({ header: c.header(), key: b('k'), value: b('v') });
    assert.equal(leader.kv.transferWaits, 1);
    if (moved.rangeError) assert.equal(Number(moved.rangeError.notLeader?.leader?.storeId), target, moved.rangeError.message ?? '');

    await c.waitFor('the transfer target leads', () => c.server(target).scheduler.get(1)!.isLeader);
    leader = c.server(target);
    await leader.kv.put({ header: c.header(), key: b('warm2'), value: b('up') });
    // Nothing the leader sends arrives: entries stay uncommitted and the cap is reached.
    c.faults.blockOutbound(leader.storeId);
    const first = leader.kv.put({ header: c.header(), key: b('big1'), value: Buffer.alloc(600) });
    const second = await leader.kv.put({ header: c.header(), key: b('big2'), value: Buffer.alloc(600) });
    assert.match(second.rangeError?.serverBusy?.reason ?? '', /uncommitted-size-limit/);
    c.faults.reset();
    // The first write's fate depends on who leads next (covered by the ambiguity test below).
    first.catch(() => {});
  } finally {
    await c.close();
  }
});

test('a read waiting for its ReadIndex fails with NotLeader when the leader steps down', async () => {
  const c = await StoreCluster.start();
  try {
    const leader = await c.waitForLeader();
    await leader.kv.put({ header: c.header(), key: b('k'), value: b('v') });
    // The leader hears nobody: its ReadIndex heartbeats get no answers and check-quorum
    // makes it step down, which must fail the read (not leave it hanging).
    c.faults.blockInbound(leader.storeId);
    const r = await leader.kv.get({ header: c.header(), key: b('k') });
    assert.ok(r.rangeError?.notLeader, `expected NotLeader, got ${JSON.stringify(r)}`);
  } finally {
    await c.close();
  }
});

test('a write pending when its store stops is answered as ambiguous, never as failed', async () => {
  const c = await StoreCluster.start();
  try {
    const leader = await c.waitForLeader();
    await leader.kv.put({ header: c.header(), key: b('k'), value: b('v') });
    c.faults.blockOutbound(leader.storeId);
    const pending = leader.kv.put({ header: c.header(), key: b('k2'), value: b('v2') });
    // Ambiguous either way: the stop, or (on a slow machine) check-quorum stepping the cut-off leader down first.
    const outcome = assert.rejects(pending, (e: unknown) => e instanceof AmbiguousResultError && /store stopping|leadership lost/.test(e.message));
    await c.stopStore(leader.storeId);
    await outcome;
  } finally {
    await c.close();
  }
});

test('a store restarted in process recreates its replica from disk and serves what it missed', async () => {
  const c = await StoreCluster.start();
  try {
    const leader = await c.waitForLeader();
    const follower = c.followers()[0]!.storeId;
    await c.stopStore(follower);
    for (let i = 0; i < 20; i++) await leader.kv.put({ header: c.header(), key: b(`m${i}`), value: b(`${i}`) });
    const back = await c.startStore(follower);
    await c.waitFor('restarted store applied the writes it missed', () =>
      back.engine.db.get(ColumnFamily.Default, b('m19'))?.toString() === '19');
    const stale = await back.kv.get({ header: c.header(1, C.STALE), key: b('m0') });
    assert.equal(str(stale.value), '0');
  } finally {
    await c.close();
  }
});

test('scheduler limits reach the ready loop: maxDirectPersistGroups 0 (--max-direct-persist-groups 0) keeps every persist on the log-writer thread', async () => {
  for (const limit of [0, undefined]) {
    const c = await StoreCluster.start(limit === undefined ? {} : { server: { scheduler: { maxDirectPersistGroups: limit } } });
    try {
      const leader = await c.waitForLeader();
      for (const s of c.servers.values()) assert.equal(s.scheduler.limits.maxDirectPersistGroups, limit ?? 4);
      const before = [...c.servers.values()].map((s) => s.engine.writerStats().directWrites);
      for (let i = 0; i < 10; i++) assert.deepEqual(await leader.kv.put({ header: c.header(), key: b(`k${i}`), value: b('v') }), {});
      const direct = [...c.servers.values()].map((s, i) => s.engine.writerStats().directWrites - before[i]!);
      const paused = [...c.servers.values()].some((s) => s.engine.writerStats().directPauses > 0); // a slow fsync (a busy disk)
      if (limit === 0) assert.deepEqual(direct, [0, 0, 0]);
      else assert.ok(paused || direct.some((n) => n > 0), `some persist of ten lone writes was written directly (${direct.join(', ')})`);
    } finally {
      await c.close();
    }
  }
});
