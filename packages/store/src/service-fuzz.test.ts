// Fuzz of every KV and store-admin method through gRPC (fast-check, fixed seed): requests
// that are valid protobuf but extreme (ids 0 .. 2^53-1, empty and oversized keys, limits at
// the uint32 edge, batches above their bounds, unknown ranges and stores), and mutations of
// valid encodings (bit flips, truncations, extended varints). Every answer must be OK or a
// clear status (never INTERNAL, never an UNKNOWN that is not an ambiguous write), no store
// may stop, and keys written before read back unchanged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { kvService, metapb, storeAdminService, type MethodDefinition } from '@rangekv/proto';
import { AMBIGUOUS_METADATA_KEY } from './errors.js';
import { StoreCluster } from './testing/store-cluster.js';

const SEED = 0x5eed;
/** Sentinel keys live under this prefix; no fuzzed write or range delete may touch it. */
const SENTINEL = Buffer.from([0xff, 0xfe, 0x53]);
const ALLOWED = new Set([
  grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.FAILED_PRECONDITION, grpc.status.NOT_FOUND,
  grpc.status.RESOURCE_EXHAUSTED, grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED,
]);

interface Outcome {
  code: grpc.status;
  details: string;
  ambiguous: boolean;
}

function call(address: string, path: string, body: Buffer, timeoutMs = 3_000): Promise<Outcome> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 << 20 });
  const pass = (b: Buffer): Buffer => b;
  return new Promise<Outcome>((resolve) => {
    const c = client.makeUnaryRequest(path, pass, pass, body, new grpc.Metadata(), { deadline: Date.now() + timeoutMs },
      (err: grpc.ServiceError | null) => resolve({
        code: err?.code ?? grpc.status.OK, details: err?.details ?? '', ambiguous: err?.metadata?.get(AMBIGUOUS_METADATA_KEY)[0] === '1',
      }));
    void c;
  }).finally(() => client.close());
}

// ---- arbitraries: valid protobuf, extreme values -----------------------------------------

const u64 = fc.oneof(fc.constantFrom(0, 1, 2, 3, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 52, 2 ** 53 - 1), fc.nat());
const u32 = fc.oneof(fc.constantFrom(0, 1, 1024, 1025, 10_000, 10_001, 2 ** 31, 2 ** 32 - 1), fc.nat({ max: 2 ** 32 - 1 }));
const notSentinel = (b: Uint8Array): boolean => Buffer.compare(Buffer.from(b.subarray(0, SENTINEL.length)), SENTINEL) !== 0;
const key = fc.oneof(
  fc.constant(new Uint8Array(0)),
  fc.uint8Array({ minLength: 1, maxLength: 32 }),
  fc.constantFrom(4096, 4097).map((n) => new Uint8Array(n).fill(0x61)),
).filter(notSentinel);
const value = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(1 << 20, (1 << 20) + 1).map((n) => new Uint8Array(n)));
const header = fc.record({
  rangeId: fc.oneof(fc.constantFrom(1, 2), u64),
  epoch: fc.option(fc.record({ confVer: fc.oneof(fc.constant(1), u64), version: fc.oneof(fc.constant(1), u64) }), { nil: undefined }),
  readConsistency: fc.constantFrom(0, 1, 2, 3),
}, { requiredKeys: ['rangeId', 'readConsistency'] });
const store = fc.oneof(fc.constantFrom(1, 2, 3, 4), u64);

/** A span that stays below the sentinel prefix (range deletes must not delete sentinel keys). */
const span = fc.tuple(key, key).map(([a, b]) => ({ startKey: a, endKey: b }))
  .filter((s) => Buffer.compare(Buffer.from(s.startKey), SENTINEL) < 0 && s.endKey.length > 0 && Buffer.compare(Buffer.from(s.endKey), SENTINEL) <= 0);

type Req = Record<string, unknown>;
interface Target {
  name: string;
  method: MethodDefinition<Req, unknown>;
  arb: fc.Arbitrary<Req>;
}

const targets: Target[] = [
  { name: 'Get', method: kvService.get as never, arb: fc.record({ header, key }) },
  { name: 'BatchGet', method: kvService.batchGet as never, arb: fc.record({ header, keys: fc.array(key, { maxLength: 1100 }) }) },
  { name: 'Put', method: kvService.put as never, arb: fc.record({ header, key, value }) },
  {
    name: 'BatchPut', method: kvService.batchPut as never,
    arb: fc.record({ header, pairs: fc.array(fc.record({ key, value: fc.uint8Array({ maxLength: 16 }) }), { maxLength: 1100 }) }),
  },
  { name: 'Delete', method: kvService.delete as never, arb: fc.record({ header, key }) },
  { name: 'DeleteRange', method: kvService.deleteRange as never, arb: fc.tuple(header, span).map(([h, s]) => ({ header: h, ...s })) },
  {
    name: 'Scan', method: kvService.scan as never,
    arb: fc.record({ header, startKey: key, endKey: key, limit: u32, reverse: fc.boolean() }),
  },
  {
    name: 'CompareAndSwap', method: kvService.compareAndSwap as never,
    arb: fc.record({ header, key, expectedExists: fc.boolean(), expectedValue: value, newValue: value, delete: fc.boolean() }),
  },
  {
    name: 'SplitRange', method: storeAdminService.splitRange as never,
    arb: fc.record({ header, splitKey: key, newRangeId: fc.oneof(fc.constant(0), u64) }),
  },
  { name: 'TransferLeader', method: storeAdminService.transferLeader as never, arb: fc.record({ header, toStore: store }) },
  {
    name: 'AddReplica', method: storeAdminService.addReplica as never,
    arb: fc.record({ header, storeId: store, replicaId: fc.oneof(fc.constant(0), u64), role: fc.constantFrom(0, 1, 2, 3) }),
  },
  { name: 'RemoveReplica', method: storeAdminService.removeReplica as never, arb: fc.record({ header, storeId: store }) },
  { name: 'PromoteLearner', method: storeAdminService.promoteLearner as never, arb: fc.record({ header, storeId: store }) },
  { name: 'RangeStatus', method: storeAdminService.rangeStatus as never, arb: fc.record({ rangeId: u64 }) },
  { name: 'ListRanges', method: storeAdminService.listRanges as never, arb: fc.record({ afterRangeId: u64, limit: u32 }) },
];

/** Bit flips, truncations and appended bytes of a valid encoding. */
function mutate(bytes: Buffer): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.array(fc.nat({ max: Math.max(0, bytes.length * 8 - 1) }), { minLength: 1, maxLength: 4 }).map((bits) => {
      const b = Buffer.from(bytes);
      if (b.length > 0) for (const i of bits) b[i >> 3]! ^= 1 << (i & 7);
      return b;
    }),
    fc.nat({ max: bytes.length }).map((n) => bytes.subarray(0, n)),
    fc.uint8Array({ minLength: 1, maxLength: 16 }).map((tail) => Buffer.concat([bytes, tail])),
    // A varint field 3 (read consistency in a header; limit/role elsewhere) of 2^32 .. 2^64-1.
    fc.bigInt({ min: 2n ** 32n, max: 2n ** 64n - 1n }).map((v) => {
      const out = [0x18];
      for (let x = v; ; x >>= 7n) {
        if (x < 0x80n) { out.push(Number(x)); break; }
        out.push(Number(x & 0x7fn) | 0x80);
      }
      return Buffer.concat([bytes, Buffer.from(out)]);
    }),
  );
}

test('every KV and admin method answers extreme and mutated requests with a clear status; no store stops; data intact', async () => {
  const c = await StoreCluster.start({ ranges: 2 });
  try {
    const leader = await c.waitForLeader(1);
    const sentinels = Array.from({ length: 8 }, (_, i) => Buffer.concat([SENTINEL, Buffer.from(`/${i}`)]));
    const epochOf = (rangeId: number): metapb.RangeEpoch.$Properties => c.server(leader.storeId).scheduler.get(rangeId)!.log.descriptor!.epoch;
    for (const k of sentinels) {
      const l2 = await c.waitForLeader(2);
      assert.equal((await l2.kv.put({ header: { rangeId: 2, epoch: epochOf(2) }, key: k, value: k })).rangeError, undefined);
    }
    const addresses = [...c.servers.values()].map((s) => `127.0.0.1:${s.kvPort}`);
    const seen = new Map<string, Map<string, number>>();
    for (const t of targets) {
      const counts = new Map<string, number>();
      seen.set(t.name, counts);
      await fc.assert(fc.asyncProperty(t.arb, fc.nat({ max: addresses.length - 1 }), fc.boolean(), fc.nat(), async (req, at, mutated, mseed) => {
        let body: Buffer = Buffer.from(t.method.requestSerialize(req));
        if (mutated) body = fc.sample(mutate(body), { seed: mseed, numRuns: 1 })[0]!;
        const out = await call(addresses[at]!, t.method.path, body);
        counts.set(grpc.status[out.code]!, (counts.get(grpc.status[out.code]!) ?? 0) + 1);
        const ok = ALLOWED.has(out.code) || (out.code === grpc.status.UNKNOWN && out.ambiguous);
        assert.ok(ok, `${t.name}: ${grpc.status[out.code]} ${out.details}`);
      }), { seed: SEED, numRuns: 40 });
    }
    for (const s of c.servers.values()) assert.equal(s.fatal, null, `store ${s.storeId} did not stop`);
    await c.eventually('every sentinel key reads back', async () => {
      for (const k of sentinels) {
        const l2 = c.leader(2);
        if (!l2) return false;
        const got = await l2.kv.get({ header: { rangeId: 2, epoch: l2.scheduler.get(2)!.log.descriptor!.epoch }, key: k }).catch(() => null);
        if (got === null || got.rangeError || Buffer.compare(Buffer.from(got.value ?? []), k) !== 0) return false;
      }
      return true;
    }, 20_000);
    const summary = [...seen].map(([n, m]) => `${n} ${[...m].map(([k, v]) => `${k}:${v}`).join(',')}`).join('; ');
    console.log(`# service fuzz outcomes: ${summary}`);
  } finally {
    await c.close();
  }
});
