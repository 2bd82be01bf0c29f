import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { metapb, pdService, type pdpb } from '@rangekv/proto';
import { silentLogger } from '@rangekv/runtime';
import { allocStoreId, PdCaller } from './pd-link.js';
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
