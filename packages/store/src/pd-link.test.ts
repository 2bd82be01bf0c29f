import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { metapb, pdService, type pdpb } from '@rangekv/proto';
import { silentLogger } from '@rangekv/runtime';
import { allocStoreId, mergedAway, PdCaller, PdLink, type PdLinkHost } from './pd-link.js';
import { StoreServer } from './store-server.js';

type Impl = Partial<Record<keyof typeof pdService, (req: never) => unknown>>;

/** A fake PD node: answers what `impl` says; methods not given answer not_leader naming `leaderAddress`. */
async function fakePd(impl: Impl, leaderAddress = ''): Promise<{ address: string; stop: () => Promise<void> }> {
  const server = new grpc.Server();
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const name of Object.keys(pdService) as (keyof typeof pdService)[]) {
    handlers[name] = ((call: grpc.ServerUnaryCall<never, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const f = impl[name];
      if (f) cb(null, f(call.request));
      else cb(null, { header: { error: { message: 'not leader', notLeader: { leaderId: 1, leaderAddress } } } });
    }) as grpc.UntypedHandleCall;
  }
  server.addService(pdService as unknown as grpc.ServiceDefinition, handlers);
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { address: `127.0.0.1:${port}`, stop: () => new Promise((r) => server.tryShutdown(() => r())) };
}

test('PD calls follow not_leader to the leader, skip unreachable nodes, and allocate store ids', async () => {
  let next = 41;
  const leader = await fakePd({ allocStoreId: () => ({ header: {}, storeId: next++ }) });
  const follower = await fakePd({}, leader.address);
  try {
    const caller = new PdCaller(['127.0.0.1:1', follower.address], 500);
    const res = await caller.call(pdService.allocStoreId, {});
    assert.equal(res.storeId, 41);
    caller.close();
    assert.equal(await allocStoreId([follower.address], 5_000), 42);
  } finally {
    await leader.stop();
    await follower.stop();
  }
});

/** PD nodes over one member list (GetMembers answers it from any node); node `leader()` serves allocStoreId, the others redirect to it. */
async function pdGroup(n: number): Promise<{
  nodes: Array<{ address: string; stop: () => Promise<void> }>; members: string[]; setLeader: (i: number) => void; add: () => Promise<number>;
  stopAll: () => Promise<void>;
}> {
  const g = { nodes: [] as Array<{ address: string; stop: () => Promise<void> }>, members: [] as string[], leader: 0 };
  const add = async (): Promise<number> => {
    const i = g.nodes.length;
    const node = await fakePd({
      getMembers: () => ({ header: {}, members: g.members.map((address, j) => ({ id: j + 1, address, isLeader: address === g.nodes[g.leader]?.address })) }),
      allocStoreId: () => (i === g.leader ? { header: {}, storeId: 100 + i }
        : { header: { error: { message: 'not leader', notLeader: { leaderId: g.leader + 1, leaderAddress: g.nodes[g.leader]!.address } } } }),
    });
    g.nodes.push(node);
    return i;
  };
  for (let i = 0; i < n; i++) g.members.push(g.nodes[await add()]!.address);
  return {
    nodes: g.nodes,
    get members() { return g.members; },
    set members(m: string[]) { g.members = m; },
    setLeader: (i) => { g.leader = i; },
    add,
    stopAll: async () => { await Promise.allSettled(g.nodes.map((x) => x.stop())); },
  };
}

test('a caller given A, B, C keeps reaching PD after they were replaced one by one by D, E, F (members learned, bounded)', async () => {
  const pd = await pdGroup(3);
  const caller = new PdCaller(pd.nodes.map((x) => x.address), 500, undefined, 3);
  try {
    for (const old of [0, 1, 2]) {
      const node = await pd.add();
      pd.members = [...pd.members.filter((a) => a !== pd.nodes[old]!.address), pd.nodes[node]!.address];
      pd.setLeader(node);
      await caller.refreshMembers();
      assert.ok(caller.addresses().includes(pd.nodes[node]!.address), `learned PD ${node}`);
      await pd.nodes[old]!.stop();
    }
    assert.deepEqual(caller.addresses(), [...[3, 4, 5].map((i) => pd.nodes[i]!.address), ...[0, 1, 2].map((i) => pd.nodes[i]!.address)],
      'the members first; the given endpoints stay behind them as the fallback');
    assert.equal((await caller.call(pdService.allocStoreId, {})).storeId, 105);
    // A member list longer than the bound keeps its first maxLearnedPdAddresses.
    caller.setMembers(['127.0.0.1:11', '127.0.0.1:12', '127.0.0.1:13', '127.0.0.1:14']);
    assert.deepEqual(caller.addresses().slice(0, 4), ['127.0.0.1:11', '127.0.0.1:12', '127.0.0.1:13', pd.nodes[0]!.address]);
  } finally {
    caller.close();
    await pd.stopAll();
  }
});

test('a not_leader hint naming an address not known is followed, remembered, and makes the caller ask for the members', async () => {
  const pd = await pdGroup(2);
  const extra = await pd.add();
  pd.members = [...pd.members, pd.nodes[extra]!.address];
  pd.setLeader(1);
  // Given only node 0, which redirects to node 1.
  const caller = new PdCaller([pd.nodes[0]!.address], 500);
  try {
    assert.equal((await caller.call(pdService.allocStoreId, {})).storeId, 101);
    assert.ok(caller.addresses().includes(pd.nodes[1]!.address), 'the hinted leader is remembered');
    const deadline = Date.now() + 10_000;
    while (!caller.addresses().includes(pd.nodes[extra]!.address) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(caller.addresses(), [...pd.members, pd.nodes[0]!.address].filter((a, i, all) => all.indexOf(a) === i));
    assert.equal(caller.memberRefreshes, 1);
  } finally {
    caller.close();
    await pd.stopAll();
  }
});

test('PdLink asks for PD\'s members at start and every memberRefreshMs; a failed ask keeps what was known', async () => {
  const pd = await pdGroup(1);
  let asked = 0;
  let failing = false;
  const counting = await fakePd({
    getMembers: () => {
      asked++;
      return failing ? { header: { error: { message: 'no leader yet' } } } : { header: {}, members: [{ id: 1, address: pd.nodes[0]!.address }] };
    },
  });
  const host: PdLinkHost = {
    storeId: 1, token: 't', addresses: () => ({ address: '127.0.0.1:1', raftAddress: '127.0.0.1:2', httpAddress: '' }),
    stats: () => ({ ranges: 0, leaders: 0, syncLatencyMicros: 0 }),
    disk: async () => ({ capacityBytes: 0, availableBytes: 0, usedBytes: 0 }),
    ledRanges: () => [], ledRange: () => null, setPeer: () => undefined, bootstrap: async () => undefined, log: silentLogger,
  };
  const link = new PdLink([counting.address], host, { memberRefreshMs: 10, heartbeatMs: 60_000, rangeHeartbeatMs: 60_000, callTimeoutMs: 500 });
  try {
    assert.throws(() => new PdLink([counting.address], host, { memberRefreshMs: 0 }), /memberRefreshMs must be a positive integer/);
    link.start();
    const deadline = Date.now() + 10_000;
    while (asked < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(asked >= 3, `asked ${asked} times`);
    assert.deepEqual(link.pdAddresses(), [pd.nodes[0]!.address, counting.address]);
    failing = true;
    const before = asked;
    while (asked < before + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(asked >= before + 2);
    assert.deepEqual(link.pdAddresses(), [pd.nodes[0]!.address, counting.address], 'kept');
  } finally {
    link.stop();
    await counting.stop();
    await pd.stopAll();
  }
});

test('stores with PD: register, learn peers and range 1 from PD bootstrap, elect, serve, and report the ranges they lead', async () => {
  const stores = new Map<number, pdpb.Store.$Properties>();
  const reports = new Map<number, pdpb.RangeReport.$Properties>();
  const stats = new Map<number, pdpb.StoreStats.$Properties>();
  let bootstrap: pdpb.BootstrapRange.$Properties | undefined;
  const pd = await fakePd({
    storeHeartbeat: (req: pdpb.StoreHeartbeatRequest) => {
      stores.set(req.store!.id!, req.store!);
      if (req.stats) stats.set(req.store!.id!, req.stats);
      if (!bootstrap && stores.size === 3) {
        const ids = [...stores.keys()].sort();
        bootstrap = { descriptor: { rangeId: 1, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { confVer: 1, version: 1 },
          replicas: ids.map((id, i) => ({ storeId: id, replicaId: 100 + i, role: metapb.ReplicaRole.VOTER })) } };
      }
      return { header: {}, stores: [...stores.values()], ...(bootstrap ? { bootstrap } : {}) };
    },
    rangeHeartbeat: (req: pdpb.RangeHeartbeatRequest) => {
      for (const r of req.ranges) reports.set(r.descriptor!.rangeId!, r);
      return { header: {} };
    },
  });
  const root = await mkdtemp(join(tmpdir(), 'rangekv-pdlink-'));
  const servers: StoreServer[] = [];
  try {
    for (const id of [1, 2, 3]) {
      servers.push(await StoreServer.start({
        storeId: id, dataDir: join(root, `s${id}`), pd: [pd.address], tickMs: 20, log: silentLogger,
        pdLimits: { heartbeatMs: 100, rangeHeartbeatMs: 300 }, transportLimits: { initialBackoffMs: 10, maxBackoffMs: 200 },
      }));
    }
    const deadline = Date.now() + 30_000;
    let leader: StoreServer | undefined;
    while (!(leader = servers.find((s) => s.scheduler.get(1)?.isLeader)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(leader, 'range 1 elected a leader among the stores PD bootstrapped');
    assert.equal((await leader.kv.put({ header: { rangeId: 1, epoch: { confVer: 1, version: 1 } }, key: Buffer.from('a'), value: Buffer.from('1') })).rangeError, undefined);
    const split = await leader.admin.splitRange({ header: { rangeId: 1, epoch: { confVer: 1, version: 1 } }, splitKey: Buffer.from('m') });
    const right = split.right!.rangeId!;
    while ((reports.get(1)?.descriptor?.epoch?.version !== 2 || !reports.has(right)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(reports.get(1)!.descriptor!.epoch!.version, 2, 'PD hears of the split left range');
    assert.ok(reports.get(right)!.leader!.storeId, 'and of the right range with its leader');
    assert.equal(reports.get(1)!.leader!.storeId, leader.storeId);
    // Store heartbeats carry the data dir's disk figures.
    const used = (id: number): number => Number(stats.get(id)?.usedBytes ?? 0);
    while (![1, 2, 3].every((id) => used(id) > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const id of [1, 2, 3]) {
      const st = stats.get(id)!;
      assert.ok(Number(st.capacityBytes) > 0 && Number(st.availableBytes) > 0 && Number(st.availableBytes) <= Number(st.capacityBytes), `store ${id}: ${JSON.stringify(st)}`);
      assert.ok(used(id) > 0, `store ${id} reports the bytes under its data dir`);
    }
    // A restart does not bootstrap again: the store keeps its data.
    const s3 = servers.pop()!;
    await s3.stop({ transferLeaders: false });
    const again = await StoreServer.start({ storeId: 3, dataDir: join(root, 's3'), pd: [pd.address], tickMs: 20, log: silentLogger, pdLimits: { heartbeatMs: 100 } });
    servers.push(again);
    assert.deepEqual(again.status().map((x) => x.rangeId), [1, right]);
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop({ transferLeaders: false })));
    await pd.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test("PD's bootstrap reaching a store after range 1's leader already created the replica there by message: no error, marker written, the replica is filled by snapshot", async () => {
  const stores = new Map<number, pdpb.Store.$Properties>();
  let bootstrap: pdpb.BootstrapRange.$Properties | undefined;
  /** Store 3 hears of the bootstrap only once the test says so. */
  let tellStore3 = false;
  const pd = await fakePd({
    storeHeartbeat: (req: pdpb.StoreHeartbeatRequest) => {
      stores.set(req.store!.id!, req.store!);
      if (!bootstrap && stores.size === 3) {
        bootstrap = { descriptor: { rangeId: 1, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { confVer: 1, version: 1 },
          replicas: [1, 2, 3].map((id) => ({ storeId: id, replicaId: id, role: metapb.ReplicaRole.VOTER })) } };
      }
      const give = bootstrap && (req.store!.id !== 3 || tellStore3);
      return { header: {}, stores: [...stores.values()], ...(give ? { bootstrap } : {}) };
    },
    rangeHeartbeat: () => ({ header: {} }),
  });
  const root = await mkdtemp(join(tmpdir(), 'rangekv-pdlink-race-'));
  const errors: string[] = [];
  const store3Log = {
    ...silentLogger,
    error: (msg: string) => errors.push(msg),
    child: () => store3Log,
  };
  const servers: StoreServer[] = [];
  try {
    for (const id of [1, 2, 3]) {
      servers.push(await StoreServer.start({
        storeId: id, dataDir: join(root, `s${id}`), pd: [pd.address], tickMs: 20, log: id === 3 ? store3Log : silentLogger,
        pdLimits: { heartbeatMs: 100, rangeHeartbeatMs: 300 }, transportLimits: { initialBackoffMs: 10, maxBackoffMs: 200 },
      }));
    }
    const s3 = servers[2]!;
    const deadline = Date.now() + 30_000;
    const until = async (what: string, ok: () => boolean): Promise<void> => {
      while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(ok(), what);
    };
    await until('stores 1 and 2 elect a leader of range 1', () => servers.some((s) => s.scheduler.get(1)?.isLeader === true));
    await until("the leader's message created range 1 on store 3 before its bootstrap", () => s3.scheduler.get(1) !== undefined);
    tellStore3 = true;
    const marker = join(root, 's3', 'pd-bootstrapped.json');
    await until('store 3 takes the bootstrap as done', () => existsSync(marker));
    assert.equal(JSON.parse(readFileSync(marker, 'utf8')).created, false);
    await until('store 3 holds range 1 with its descriptor (by snapshot)', () => s3.scheduler.get(1)?.log.descriptor?.rangeId === 1);
    assert.deepEqual(errors, []);
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop({ transferLeaders: false })));
    await pd.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('replica GC: PdLink.rangeVersion is PD\'s epoch version of a range, or null when PD does not say', async () => {
  const pd = await fakePd({
    getRange: (req: pdpb.GetRangeRequest) => (Number(req.rangeId) === 5
      ? { header: {}, route: { descriptor: { rangeId: 5, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { confVer: 2, version: 7 }, replicas: [] } } }
      : { header: { error: { message: 'range not found' } } }),
  });
  const host: PdLinkHost = {
    storeId: 1, token: 't', addresses: () => ({ address: '127.0.0.1:1', raftAddress: '127.0.0.1:2', httpAddress: '' }),
    stats: () => ({ ranges: 0, leaders: 0, syncLatencyMicros: 0 }),
    disk: async () => ({ capacityBytes: 0, availableBytes: 0, usedBytes: 0 }),
    ledRanges: () => [], ledRange: () => null, setPeer: () => undefined, bootstrap: async () => undefined, log: silentLogger,
  };
  const link = new PdLink([pd.address], host, { heartbeatMs: 60_000, rangeHeartbeatMs: 60_000, callTimeoutMs: 500 });
  try {
    assert.equal(await link.rangeVersion(5), 7);
    assert.equal(await link.rangeVersion(6), null, 'an error answer');
    await pd.stop();
    assert.equal(await link.rangeVersion(5), null, 'PD unreachable');
  } finally {
    link.stop();
    await pd.stop();
  }
});

test('replica GC: a range PD no longer knows is merged away only when PD\'s range at its start key has a newer version', () => {
  const enc = (s: string): Uint8Array => Buffer.from(s);
  const d = (rangeId: number, start: string, end: string, version: number) => ({
    rangeId, startKey: enc(start), endKey: enc(end), epoch: { confVer: 1, version }, replicas: [],
  });
  const stale = { startKey: enc('m'), endKey: enc('t'), version: 3 };
  assert.equal(mergedAway(7, stale, d(5, 'a', 'z', 4)), true, 'covered, newer: merged');
  assert.equal(mergedAway(7, stale, d(5, 'a', '', 4)), true, 'covered up to the keyspace end');
  assert.equal(mergedAway(7, stale, d(5, 'a', 'z', 3)), false, 'same version: a split not reported yet, not a merge');
  assert.equal(mergedAway(7, stale, d(5, 'n', 'z', 9)), false, 'does not hold the start key');
  assert.equal(mergedAway(7, stale, d(5, 'a', 'p', 9)), true, 'holds the start key, not the end: split, then merged');
  assert.equal(mergedAway(7, { ...stale, endKey: enc('') }, d(5, 'a', 'p', 4)), true, 'a span to the keyspace end, split and merged');
  assert.equal(mergedAway(7, stale, d(7, 'a', 'z', 9)), false, 'the range itself');
});
