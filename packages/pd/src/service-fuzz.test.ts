// Fuzz of every PD method through gRPC (fast-check, fixed seed): valid protobuf with extreme
// values (ids 0 .. 2^53-1, addresses and tokens of every shape, reports of made-up and
// inconsistent ranges, operators of unknown kinds) and mutations of valid encodings. Every
// answer must be OK or a clear status (never INTERNAL or UNKNOWN); nothing may reach PD's
// raft log that stops it: PD restarts on its data dir afterwards and serves the same
// stores at the same addresses and range 1.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { pdService, type MethodDefinition } from '@rangekv/proto';
import { silentLogger } from '@rangekv/runtime';
import { PdServer } from './pd-server.js';
import { FakeCluster } from './testing/fake-stores.js';
import { PdTestClient, testStoreToken } from './testing/pd-test-client.js';

const SEED = 0x9d5eed;
const ALLOWED = new Set([
  grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.FAILED_PRECONDITION, grpc.status.NOT_FOUND, grpc.status.PERMISSION_DENIED,
]);

function call(address: string, path: string, body: Buffer): Promise<{ code: grpc.status; details: string }> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const pass = (b: Buffer): Buffer => b;
  return new Promise<{ code: grpc.status; details: string }>((resolve) => {
    client.makeUnaryRequest(path, pass, pass, body, new grpc.Metadata(), { deadline: Date.now() + 5_000 },
      (err: grpc.ServiceError | null) => resolve({ code: err?.code ?? grpc.status.OK, details: err?.details ?? '' }));
  }).finally(() => client.close());
}

const u64 = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 2 ** 20 - 1, 2 ** 20, 2 ** 32 - 1, 2 ** 32, 2 ** 52, 2 ** 53 - 1), fc.nat());
const u32 = fc.oneof(fc.constantFrom(0, 1, 1000, 1001, 10_000, 10_001, 2 ** 32 - 1), fc.nat({ max: 2 ** 32 - 1 }));
const key = fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 16 }), fc.constant(new Uint8Array(5000)));
const address = fc.oneof(
  fc.constantFrom('', '127.0.0.1:1', '127.0.0.1:0', '127.0.0.1:65536', 'no-port', '[::1]:80', 'x'.repeat(300) + ':1'),
  fc.string({ maxLength: 40 }),
);
const token = fc.oneof(fc.constantFrom('', 'short', 'x'.repeat(16), 'x'.repeat(129), testStoreToken(1)), fc.string({ maxLength: 40 }));
const replica = fc.record({ storeId: fc.oneof(fc.constantFrom(1, 2, 3, 4), u64), replicaId: u64, role: fc.constantFrom(0, 1, 2, 3) });
const descriptor = fc.record({
  rangeId: fc.oneof(fc.constantFrom(1, 2), u64), startKey: key, endKey: key,
  epoch: fc.record({ confVer: u64, version: u64 }), replicas: fc.array(replica, { maxLength: 20 }),
});
const report = fc.record({
  descriptor: fc.option(descriptor, { nil: undefined }), leader: fc.option(replica, { nil: undefined }), term: u64,
  stats: fc.record({ approximateKeys: u64, approximateBytes: u64, writesPerSecond: fc.double() }),
});

type Req = Record<string, unknown>;
const targets: { name: string; method: MethodDefinition<Req, unknown>; arb: fc.Arbitrary<Req> }[] = [
  { name: 'AllocStoreId', method: pdService.allocStoreId as never, arb: fc.constant({}) },
  {
    name: 'StoreHeartbeat', method: pdService.storeHeartbeat as never,
    arb: fc.record({
      store: fc.record({ id: fc.oneof(fc.constantFrom(1, 2, 3, 4, 5), u64), address, raftAddress: address, httpAddress: address }),
      stats: fc.record({ ranges: u32, leaders: u32, capacityBytes: u64, availableBytes: u64, usedBytes: u64 }), storeToken: token,
    }),
  },
  {
    name: 'RangeHeartbeat', method: pdService.rangeHeartbeat as never,
    arb: fc.record({ storeId: fc.oneof(fc.constantFrom(1, 2), u64), ranges: fc.array(report, { maxLength: 8 }), storeToken: token }),
  },
  { name: 'GetRangeByKey', method: pdService.getRangeByKey as never, arb: fc.record({ key }) },
  { name: 'GetRange', method: pdService.getRange as never, arb: fc.record({ rangeId: u64 }) },
  { name: 'ScanRanges', method: pdService.scanRanges as never, arb: fc.record({ startKey: key, endKey: key, limit: u32 }) },
  { name: 'GetStore', method: pdService.getStore as never, arb: fc.record({ storeId: u64 }) },
  { name: 'ListStores', method: pdService.listStores as never, arb: fc.constant({}) },
  { name: 'AllocIds', method: pdService.allocIds as never, arb: fc.record({ count: u32 }) },
  { name: 'GetMembers', method: pdService.getMembers as never, arb: fc.constant({}) },
  {
    name: 'CreateOperator', method: pdService.createOperator as never,
    arb: fc.record({
      kind: fc.constantFrom(0, 1, 2, 3, 4), rangeId: fc.oneof(fc.constant(1), u64), toStore: fc.oneof(fc.constantFrom(0, 1, 4), u64),
      fromStore: fc.oneof(fc.constantFrom(0, 1, 2), u64), splitKey: key, timeoutMs: fc.oneof(fc.constantFrom(0, 1, 2 ** 53 - 1), u64),
    }),
  },
  { name: 'GetOperator', method: pdService.getOperator as never, arb: fc.record({ id: u64 }) },
  { name: 'ListOperators', method: pdService.listOperators as never, arb: fc.constant({}) },
];

function mutate(bytes: Buffer): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.array(fc.nat({ max: Math.max(0, bytes.length * 8 - 1) }), { minLength: 1, maxLength: 4 }).map((bits) => {
      const b = Buffer.from(bytes);
      if (b.length > 0) for (const i of bits) b[i >> 3]! ^= 1 << (i & 7);
      return b;
    }),
    fc.nat({ max: bytes.length }).map((n) => bytes.subarray(0, n)),
    fc.uint8Array({ minLength: 1, maxLength: 16 }).map((tail) => Buffer.concat([bytes, tail])),
  );
}

test('every PD method answers extreme and mutated requests with a clear status; PD restarts and serves the same cluster', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pd-fuzz-'));
  const fake = new FakeCluster();
  const addrs = new Map<number, string>();
  for (const id of [1, 2, 3]) addrs.set(id, await fake.startStore(id));
  let pd = await PdServer.start({ pdId: 1, dataDir: dir, initialStores: 3, log: silentLogger, tickMs: 20, leaderBalance: false, operatorLimits: { operatorTickMs: 50 } });
  const client = new PdTestClient([pd.address]);
  try {
    for (const id of [1, 2, 3]) {
      await client.call(pd.address, 'storeHeartbeat', { store: { id, address: addrs.get(id)!, raftAddress: `127.0.0.1:${9000 + id}` } });
    }
    const before = await client.call(pd.address, 'listStores', {});
    const counts: string[] = [];
    for (const t of targets) {
      const seen = new Map<string, number>();
      await fc.assert(fc.asyncProperty(t.arb, fc.boolean(), fc.nat(), async (req, mutated, mseed) => {
        let body: Buffer = Buffer.from(t.method.requestSerialize(req));
        if (mutated) body = fc.sample(mutate(body), { seed: mseed, numRuns: 1 })[0]!;
        const out = await call(pd.address, t.method.path, body);
        seen.set(grpc.status[out.code]!, (seen.get(grpc.status[out.code]!) ?? 0) + 1);
        assert.ok(ALLOWED.has(out.code), `${t.name}: ${grpc.status[out.code]} ${out.details}`);
      }), { seed: SEED, numRuns: 40 });
      counts.push(`${t.name} ${[...seen].map(([k, v]) => `${k}:${v}`).join(',')}`);
    }
    console.log(`# PD fuzz outcomes: ${counts.join('; ')}`);
    assert.equal(pd.group.fatal, null, 'PD did not stop');
    await pd.stop();
    pd = await PdServer.start({ pdId: 1, dataDir: dir, initialStores: 3, log: silentLogger, tickMs: 20, leaderBalance: false });
    const c2 = new PdTestClient([pd.address]);
    try {
      const after = await c2.leader('listStores', {});
      for (const id of [1, 2, 3]) {
        const was = before.stores!.find((s) => s.store?.id === id)!.store!;
        const is = after.stores!.find((s) => s.store?.id === id)!.store!;
        assert.deepEqual([is.address, is.raftAddress], [was.address, was.raftAddress], `store ${id} kept its addresses`);
      }
      const r = await c2.leader('getRangeByKey', { key: new Uint8Array(0) });
      assert.equal(r.route?.descriptor?.rangeId, 1);
    } finally {
      c2.close();
    }
  } finally {
    client.close();
    await pd.stop();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
