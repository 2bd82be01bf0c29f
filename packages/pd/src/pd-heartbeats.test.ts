// Heartbeat handling on a 1-node PD: range reports are persisted only when their epoch is
// newer (one raft entry per heartbeat batch, none when nothing changed), leaders live in
// memory; stores turn DOWN without heartbeats; addresses are persisted only on change.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { pdpb } from '@rangekv/proto';
import { silentLogger } from '@rangekv/runtime';
import { PdServer } from './pd-server.js';
import { PdCallError, PdTestClient } from './testing/pd-test-client.js';
import { until } from './testing/wait.js';

const key = (i: number): Uint8Array => new Uint8Array(Buffer.from(`k${String(i).padStart(4, '0')}`));

let dir: string;
let pd: PdServer;
let client: PdTestClient;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pd-hb-'));
  pd = await PdServer.start({ pdId: 1, dataDir: dir, initialStores: 1, log: silentLogger, tickMs: 20, leaderBalance: false,
    limits: { storeDownAfterMs: 1_000, maxScanRanges: 50 },
  });
  client = new PdTestClient([pd.address]);
});

after(async () => {
  client.close();
  await pd.stop();
  rmSync(dir, { recursive: true, force: true });
});

function ranges(n: number, version: number, term: number, leaderStore = 1): pdpb.RangeReport.$Properties[] {
  // Range 1 = [, k0001), range i+1 = [k000i, k000(i+1)), the last one to the end.
  return Array.from({ length: n }, (_, i) => ({
    descriptor: {
      rangeId: i + 1, startKey: i === 0 ? new Uint8Array(0) : key(i), endKey: i === n - 1 ? new Uint8Array(0) : key(i + 1),
      epoch: { confVer: 1, version }, replicas: [{ storeId: 1, replicaId: 100 + i }, { storeId: 2, replicaId: 200 + i }],
    },
    leader: { storeId: leaderStore, replicaId: (leaderStore === 1 ? 100 : 200) + i },
    term,
    stats: { approximateKeys: 10, approximateBytes: 1000, writesPerSecond: 1.5 },
  }));
}

test('store heartbeats: registered once, addresses persisted only when they change, bad input refused', async () => {
  const hb = (addr: string) => client.call(pd.address, 'storeHeartbeat', { store: { id: 1, address: addr, raftAddress: '127.0.0.1:2' }, stats: { ranges: 3 } });
  await hb('127.0.0.1:1');
  await hb('127.0.0.1:1');
  const idx = pd.group.lastIndex;
  for (let i = 0; i < 5; i++) await hb('127.0.0.1:1');
  assert.equal(pd.group.lastIndex, idx, 'unchanged heartbeats write nothing');
  await hb('127.0.0.1:11');
  assert.equal(pd.group.lastIndex, idx + 1);
  const s = await client.call(pd.address, 'getStore', { storeId: 1 });
  assert.deepEqual([s.store?.address, s.stats?.ranges], ['127.0.0.1:11', 3]);
  await assert.rejects(client.call(pd.address, 'storeHeartbeat', { store: { id: 0, address: 'x:1' } }), (e: unknown) => e instanceof PdCallError && /store.id/.test(e.details));
  await assert.rejects(client.call(pd.address, 'getStore', { storeId: 42 }), (e: unknown) => e instanceof PdCallError && e.details.includes('store 42'));
  await client.call(pd.address, 'storeHeartbeat', { store: { id: 2, address: '127.0.0.1:3' } });
  // Traffic and snapshots in flight: kept in memory, shown by GetStore; a rate that is not a finite non-negative number reads 0.
  await client.call(pd.address, 'storeHeartbeat', {
    store: { id: 2, address: '127.0.0.1:3' },
    stats: { snapshotsSending: 1, snapshotsReceiving: 2, writeBytesPerSecond: 1500.5, writeKeysPerSecond: 10, readBytesPerSecond: Number.NaN, readKeysPerSecond: -3 },
  });
  const st = (await client.call(pd.address, 'getStore', { storeId: 2 })).stats!;
  assert.deepEqual([st.snapshotsSending, st.snapshotsReceiving, st.writeBytesPerSecond, st.writeKeysPerSecond, st.readBytesPerSecond ?? 0, st.readKeysPerSecond ?? 0],
    [1, 2, 1500.5, 10, 0, 0]);
  // Labels: persisted once (one entry), shown by GetStore; bad ones refused.
  const labelled = (labels: { key: string; value: string }[]) =>
    client.call(pd.address, 'storeHeartbeat', { store: { id: 1, address: '127.0.0.1:11', raftAddress: '127.0.0.1:2', labels }, stats: { ranges: 3 } });
  const before = pd.group.lastIndex;
  await labelled([{ key: 'zone', value: 'z1' }, { key: 'host', value: 'h1' }]);
  await labelled([{ key: 'zone', value: 'z1' }, { key: 'host', value: 'h1' }]);
  assert.equal(pd.group.lastIndex, before + 1, 'labels changed once: one entry');
  const got = (await client.call(pd.address, 'getStore', { storeId: 1 })).store?.labels?.map((l) => `${l.key}=${l.value}`);
  assert.deepEqual(got, ['host=h1', 'zone=z1']);
  for (const [bad, re] of [
    [[{ key: 'zone', value: 'a b' }], /value .* is not 1-64/],
    [[{ key: 'zone', value: 'a' }, { key: 'zone', value: 'b' }], /given twice/],
    [Array.from({ length: 9 }, (_, i) => ({ key: `k${i}`, value: 'v' })), /above 8/],
  ] as const) {
    await assert.rejects(labelled([...bad]), (e: unknown) => e instanceof PdCallError && re.test(e.details));
  }
});

test('range reports: one entry for a batch of new ranges, none when nothing changed, leaders in memory', async () => {
  const n = 120;
  const before = pd.group.lastIndex;
  await client.call(pd.address, 'rangeHeartbeat', { storeId: 1, ranges: ranges(n, 2, 5) });
  assert.equal(pd.group.lastIndex, before + 1, 'one raft entry for the whole batch');
  await client.call(pd.address, 'rangeHeartbeat', { storeId: 1, ranges: ranges(n, 2, 5) });
  // A leader change only (new term, same epoch): in memory, no entry.
  await client.call(pd.address, 'rangeHeartbeat', { storeId: 2, ranges: ranges(n, 2, 6, 2) });
  assert.equal(pd.group.lastIndex, before + 1);
  const r = await client.call(pd.address, 'getRangeByKey', { key: key(7) });
  assert.deepEqual([r.route?.descriptor?.rangeId, r.route?.leader?.storeId], [8, 2]);
  // A stale report (older term) does not move the leader back.
  await client.call(pd.address, 'rangeHeartbeat', { storeId: 1, ranges: ranges(n, 2, 5) });
  assert.equal((await client.call(pd.address, 'getRangeByKey', { key: key(7) })).route?.leader?.storeId, 2);
  // Scans page at maxScanRanges.
  const all = await client.call(pd.address, 'scanRanges', {});
  assert.deepEqual([all.routes!.length, all.more], [50, true]);
  const span = await client.call(pd.address, 'scanRanges', { startKey: key(10), endKey: key(13) });
  assert.deepEqual(span.routes!.map((x) => x.descriptor?.rangeId), [11, 12, 13]);
  assert.equal(span.more, false);
  // A new leader's first report carries no rates (it measures between two of its own): the previous leader's stand.
  const rateOf = (): number => pd.service.hotView().ranges.find((x) => x.rangeId === 8)!.writesPerSecond;
  assert.equal(rateOf(), 1.5);
  const fresh = ranges(n, 2, 7, 1).map((x) => ({ ...x, stats: { approximateKeys: 10, approximateBytes: 1000 } }));
  await client.call(pd.address, 'rangeHeartbeat', { storeId: 1, ranges: fresh });
  assert.equal(rateOf(), 1.5, 'kept across the leader change');
  await client.call(pd.address, 'rangeHeartbeat', { storeId: 1, ranges: fresh });
  assert.equal(rateOf(), 0, 'the same leader measuring 0 is believed');
  await client.call(pd.address, 'rangeHeartbeat', { storeId: 2, ranges: ranges(n, 2, 8, 2) });
  const bad = await client.call(pd.address, 'rangeHeartbeat', { storeId: 1, ranges: [{ term: 1 }, ...ranges(n, 2, 5).slice(0, 1)] });
  assert.deepEqual(bad.rejected?.map((x) => x.reason), ['a report without a descriptor'], 'refused alone, the good report taken');
});

test('reports must agree with what PD knows: made-up ranges, forged leaders and spans that grow are refused', async () => {
  const idx = pd.group.lastIndex;
  const known = ranges(120, 2, 5);
  const whole = { ...known[0]!, descriptor: { ...known[0]!.descriptor!, rangeId: 999, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { confVer: 1, version: 99 } }, leader: { storeId: 1, replicaId: 100 } };
  const grown = { ...known[5]!, descriptor: { ...known[5]!.descriptor!, endKey: new Uint8Array(0), epoch: { confVer: 1, version: 3 } } };
  const otherLeader = { ...known[6]!, leader: { storeId: 2, replicaId: 206 } };
  const unknownStore = { ...known[7]!, descriptor: { ...known[7]!.descriptor!, replicas: [{ storeId: 1, replicaId: 107 }, { storeId: 77, replicaId: 777 }], epoch: { confVer: 2, version: 2 } } };
  const res = await client.call(pd.address, 'rangeHeartbeat', { storeId: 1, ranges: [whole, grown, otherLeader, unknownStore] });
  assert.deepEqual(res.rejected?.map((x) => x.rangeId), [999, 6, 7, 8]);
  assert.match(res.rejected![0]!.reason ?? "", /overlaps range .* of a version as new or newer|not the right-hand part of a split/);
  assert.match(res.rejected![1]!.reason ?? "", /must keep the start key and lie inside the span/);
  assert.match(res.rejected![2]!.reason ?? "", /not the leader it names/);
  assert.match(res.rejected![3]!.reason ?? "", /unregistered store 77/);
  assert.equal(pd.group.lastIndex, idx, 'nothing refused reached the raft log');
  assert.equal((await client.call(pd.address, 'getRangeByKey', { key: new Uint8Array(0) })).route?.descriptor?.rangeId, 1);
  // A new range that is the right-hand half of a split of a known one is taken.
  const splitRight = { ...known[119]!, descriptor: { ...known[119]!.descriptor!, rangeId: 500, startKey: key(200), epoch: { confVer: 1, version: 3 } } };
  const splitLeft = { ...known[119]!, descriptor: { ...known[119]!.descriptor!, endKey: key(200), epoch: { confVer: 1, version: 3 } } };
  assert.deepEqual((await client.call(pd.address, 'rangeHeartbeat', { storeId: 1, ranges: [splitLeft, splitRight] })).rejected, []);
  assert.equal((await client.call(pd.address, 'getRange', { rangeId: 500 })).route?.descriptor?.rangeId, 500);
  await assert.rejects(client.call(pd.address, 'getRange', { rangeId: 12345 }), (e: unknown) => e instanceof PdCallError && e.code === grpc.status.NOT_FOUND);
});

test('a merge PD learns only from reports: the widened left range is taken if it ends where the ranges it merged end', async () => {
  const known = ranges(120, 2, 5);
  // Range 30 = [k0029, k0030) merged ranges 31 and 32 (two merges: version + 2); range 33 claims a third at version + 1.
  const merged = { ...known[29]!, descriptor: { ...known[29]!.descriptor!, endKey: key(32), epoch: { confVer: 1, version: 4 } } };
  const tooFar = { ...known[32]!, descriptor: { ...known[32]!.descriptor!, endKey: key(36), epoch: { confVer: 1, version: 3 } } };
  const midway = { ...known[39]!, descriptor: { ...known[39]!.descriptor!, endKey: new Uint8Array(Buffer.from('k0040m')), epoch: { confVer: 1, version: 3 } } };
  const res = await client.call(pd.address, 'rangeHeartbeat', { storeId: 1, ranges: [merged, tooFar, midway] });
  assert.deepEqual(res.rejected?.map((x) => x.rangeId), [33, 40]);
  assert.match(res.rejected![0]!.reason ?? '', /or end where the ranges to its right that it merged end \(merge\)/);
  const route = (await client.call(pd.address, 'getRangeByKey', { key: key(31) })).route;
  assert.equal(route?.descriptor?.rangeId, 30);
  await assert.rejects(client.call(pd.address, 'getRange', { rangeId: 31 }), (e: unknown) => e instanceof PdCallError && e.code === grpc.status.NOT_FOUND);
  // The merged-away ranges' own (older) reports are refused from now on.
  const late = await client.call(pd.address, 'rangeHeartbeat', { storeId: 1, ranges: [known[30]!, known[31]!] });
  assert.deepEqual(late.rejected?.map((x) => x.rangeId), [31, 32]);
  assert.match(late.rejected![0]!.reason ?? '', /overlaps range 30 of a version as new or newer/);
});

test('a store id is its token: another token, an unregistered reporter or an id out of range is refused', async () => {
  await assert.rejects(client.call(pd.address, 'storeHeartbeat', { store: { id: 1, address: '127.0.0.1:66' }, storeToken: 'not-the-token-of-store-1' }),
    (e: unknown) => e instanceof PdCallError && e.code === grpc.status.PERMISSION_DENIED);
  await assert.rejects(client.call(pd.address, 'rangeHeartbeat', { storeId: 1, ranges: [], storeToken: 'not-the-token-of-store-1' }),
    (e: unknown) => e instanceof PdCallError && e.code === grpc.status.PERMISSION_DENIED);
  await assert.rejects(client.call(pd.address, 'rangeHeartbeat', { storeId: 9, ranges: [] }),
    (e: unknown) => e instanceof PdCallError && e.code === grpc.status.FAILED_PRECONDITION && /not registered/.test(e.details));
  await assert.rejects(client.call(pd.address, 'storeHeartbeat', { store: { id: 2 ** 32, address: '127.0.0.1:1' } }),
    (e: unknown) => e instanceof PdCallError && e.code === grpc.status.INVALID_ARGUMENT && /store.id/.test(e.details));
  await assert.rejects(client.call(pd.address, 'storeHeartbeat', { store: { id: 3, address: 'no port here' } }),
    (e: unknown) => e instanceof PdCallError && e.code === grpc.status.INVALID_ARGUMENT && /host:port/.test(e.details));
  await assert.rejects(client.call(pd.address, 'storeHeartbeat', { store: { id: 3, address: '127.0.0.1:1' }, storeToken: 'short' }),
    (e: unknown) => e instanceof PdCallError && e.code === grpc.status.INVALID_ARGUMENT && /store_token/.test(e.details));
  const s = await client.call(pd.address, 'getStore', { storeId: 1 });
  assert.equal(s.store?.address, '127.0.0.1:11', 'the address did not move');
});

test('a store without heartbeats turns DOWN (no operator towards it), and UP again when it heartbeats', async () => {
  await until('every store is DOWN', async () => {
    const res = await client.call(pd.address, 'listStores', {});
    return res.stores!.every((s) => s.store?.state === 1);
  });
  const down = await client.call(pd.address, 'listStores', {});
  assert.ok(down.stores!.every((s) => s.store?.state === 1 && s.store.lastHeartbeatAgeMs! > 1_000));
  await assert.rejects(client.call(pd.address, 'createOperator', { kind: 0, rangeId: 1, toStore: 2 }),
    (e: unknown) => e instanceof PdCallError && /store 2 is DOWN/.test(e.details), 'no operator towards a DOWN store');
  await client.call(pd.address, 'storeHeartbeat', { store: { id: 1, address: '127.0.0.1:11', raftAddress: '127.0.0.1:2' } });
  const one = await client.call(pd.address, 'getStore', { storeId: 1 });
  assert.equal(one.store?.state, 0);
});

test('PD restarts from its data dir with its metadata and hands out fresh ids', async () => {
  const ids = await client.call(pd.address, 'allocIds', { count: 5 });
  const cluster = ids.header?.clusterId;
  await pd.stop();
  client.close();
  pd = await PdServer.start({ pdId: 1, dataDir: dir, initialStores: 1, log: silentLogger, tickMs: 20, leaderBalance: false });
  client = new PdTestClient([pd.address]);
  const again = await client.call(pd.address, 'allocIds', { count: 5 });
  assert.ok(again.first! >= ids.first! + 5);
  assert.equal(again.header?.clusterId, cluster);
  const r = await client.call(pd.address, 'getRangeByKey', { key: key(7) });
  assert.equal(r.route?.descriptor?.rangeId, 8);
  assert.equal((await client.call(pd.address, 'listStores', {})).stores!.length, 2);
});
