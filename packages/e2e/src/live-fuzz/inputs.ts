// What the live fuzzer sends (live-fuzz.ts): fast-check arbitraries for every port of a
// cluster. Valid-shaped requests with extreme values, mutations of their encodings, and raw
// garbage, for the KV, store admin and PD services; raft batches and snapshot calls that are
// malformed or out of range (never plausible forgeries of a real replica's messages: those
// need peer authentication, not input checks); HTTP requests to the status servers.
//
// Nothing here may legitimately destroy the checker's data: KV writes, deletes and range
// deletes whose keys touch the sentinel prefix are filtered out before they are sent.
import fc from 'fast-check';
import { kvpb, kvService, pdService, storeAdminService, type MethodDefinition } from '@rangekv/proto';
import { MAX_TERM, MessageType, emptyMessage, type Message } from '@rangekv/raft';
import { encodeBatch, encodeSnapshotChunkFrame, encodeSnapshotStart, type OutboundMessage } from '@rangekv/transport';

/** The checker's keys live under this prefix; no fuzzed write may touch it. */
export const SENTINEL_PREFIX = Buffer.from([0xff, 0xfe, 0x73, 0x2f]);

export type Port = 'kv' | 'pd' | 'raft' | 'snapshot' | 'http';

export type FuzzInput =
  | { port: 'kv' | 'pd'; target: string; path: string; body: Buffer }
  /** `batch(toStore)`: the bytes of one RaftBatch for that store (or garbage). */
  | { port: 'raft'; target: string; fromStore: number; batch: (toStore: number) => Buffer }
  /** `frames(toStore)`: the requests of one Snapshot call to that store. */
  | { port: 'snapshot'; target: string; frames: (toStore: number) => Buffer[] }
  | { port: 'http'; target: string; path: string; method: string };

const u64 = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 2 ** 20, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 52, 2 ** 53 - 1), fc.nat());
const u32 = fc.oneof(fc.constantFrom(0, 1, 1024, 1025, 10_000, 10_001, 2 ** 32 - 1), fc.nat({ max: 2 ** 32 - 1 }));
const small = fc.integer({ min: 1, max: 8 });
const key = fc.oneof(
  fc.constant(new Uint8Array(0)),
  fc.uint8Array({ minLength: 1, maxLength: 24 }),
  fc.constantFrom(4096, 4097, 70_000).map((n) => new Uint8Array(n).fill(0x6b)),
);
const value = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(1 << 20, (1 << 20) + 1).map((n) => new Uint8Array(n)));
const header = fc.record({
  rangeId: fc.oneof(small, u64), epoch: fc.record({ confVer: fc.oneof(small, u64), version: fc.oneof(small, u64) }),
  readConsistency: fc.constantFrom(0, 1, 2, 3),
});
const store = fc.oneof(fc.integer({ min: 1, max: 5 }), u64);
const replica = fc.record({ storeId: store, replicaId: u64, role: fc.constantFrom(0, 1, 2, 3) });
const descriptor = fc.record({
  rangeId: fc.oneof(small, u64), startKey: key, endKey: key, epoch: fc.record({ confVer: u64, version: u64 }),
  replicas: fc.array(replica, { maxLength: 20 }),
});

type Req = Record<string, unknown>;
interface Rpc {
  name: string;
  method: MethodDefinition<Req, unknown>;
  arb: fc.Arbitrary<Req>;
}

const kvRpcs: Rpc[] = [
  { name: 'Get', method: kvService.get as never, arb: fc.record({ header, key }) },
  { name: 'BatchGet', method: kvService.batchGet as never, arb: fc.record({ header, keys: fc.array(key, { maxLength: 1100 }) }) },
  { name: 'Put', method: kvService.put as never, arb: fc.record({ header, key, value }) },
  { name: 'BatchPut', method: kvService.batchPut as never, arb: fc.record({ header, pairs: fc.array(fc.record({ key, value }), { maxLength: 40 }) }) },
  { name: 'Delete', method: kvService.delete as never, arb: fc.record({ header, key }) },
  { name: 'DeleteRange', method: kvService.deleteRange as never, arb: fc.record({ header, startKey: key, endKey: key }) },
  { name: 'Scan', method: kvService.scan as never, arb: fc.record({ header, startKey: key, endKey: key, limit: u32, reverse: fc.boolean() }) },
  {
    name: 'CompareAndSwap', method: kvService.compareAndSwap as never,
    arb: fc.record({ header, key, expectedExists: fc.boolean(), expectedValue: value, newValue: value, delete: fc.boolean() }),
  },
  { name: 'SplitRange', method: storeAdminService.splitRange as never, arb: fc.record({ header, splitKey: key, newRangeId: fc.oneof(fc.constant(0), u64) }) },
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

const address = fc.oneof(fc.constantFrom('', '127.0.0.1:1', '127.0.0.1:0', 'no-port', '[::1]:80', 'h'.repeat(300) + ':1'), fc.string({ maxLength: 40 }));
const token = fc.oneof(fc.constantFrom('', 'short', 't'.repeat(16), 't'.repeat(129)), fc.string({ maxLength: 40 }));
const report = fc.record({ descriptor, leader: replica, term: u64, stats: fc.record({ approximateKeys: u64, approximateBytes: u64, writesPerSecond: fc.double() }) });

const pdRpcs: Rpc[] = [
  { name: 'AllocStoreId', method: pdService.allocStoreId as never, arb: fc.constant({}) },
  {
    name: 'StoreHeartbeat', method: pdService.storeHeartbeat as never,
    arb: fc.record({ store: fc.record({ id: store, address, raftAddress: address, httpAddress: address }), stats: fc.record({ ranges: u32, leaders: u32 }), storeToken: token }),
  },
  { name: 'RangeHeartbeat', method: pdService.rangeHeartbeat as never, arb: fc.record({ storeId: store, ranges: fc.array(report, { maxLength: 6 }), storeToken: token }) },
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
      kind: fc.constantFrom(0, 1, 2, 3, 4, 5), rangeId: fc.oneof(small, u64), toStore: store, fromStore: store,
      splitKey: key, timeoutMs: fc.oneof(fc.constantFrom(0, 1, 1000), u64),
    }),
  },
  { name: 'GetOperator', method: pdService.getOperator as never, arb: fc.record({ id: u64 }) },
  { name: 'ListOperators', method: pdService.listOperators as never, arb: fc.constant({}) },
];

/** Bit flips, truncation, appended bytes, a huge varint field, or plain random bytes. */
function mutate(bytes: Buffer): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.constant(bytes),
    fc.array(fc.nat({ max: Math.max(0, bytes.length * 8 - 1) }), { minLength: 1, maxLength: 4 }).map((bits) => {
      const b = Buffer.from(bytes);
      if (b.length > 0) for (const i of bits) b[i >> 3]! ^= 1 << (i & 7);
      return b;
    }),
    fc.nat({ max: bytes.length }).map((n) => bytes.subarray(0, n)),
    fc.uint8Array({ minLength: 1, maxLength: 16 }).map((tail) => Buffer.concat([bytes, tail])),
    fc.tuple(fc.integer({ min: 1, max: 8 }), fc.bigInt({ min: 2n ** 32n, max: 2n ** 64n - 1n })).map(([field, v]) => {
      const out = [field << 3];
      for (let x = v; ; x >>= 7n) {
        if (x < 0x80n) {
          out.push(Number(x));
          break;
        }
        out.push(Number(x & 0x7fn) | 0x80);
      }
      return Buffer.concat([bytes, Buffer.from(out)]);
    }),
    fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
  );
}

function touchesSentinel(start: Uint8Array, end: Uint8Array | null): boolean {
  const s = Buffer.from(start);
  if (end === null) return Buffer.compare(s.subarray(0, SENTINEL_PREFIX.length), SENTINEL_PREFIX) === 0;
  const e = Buffer.from(end);
  // [start, end) meets [prefix, prefix+1) unless it ends at or before prefix or starts after its last key.
  const after = Buffer.concat([SENTINEL_PREFIX.subarray(0, -1), Buffer.from([SENTINEL_PREFIX.at(-1)! + 1])]);
  const endsBefore = e.length > 0 && Buffer.compare(e, SENTINEL_PREFIX) <= 0;
  const startsAfter = Buffer.compare(s, after) >= 0;
  return !endsBefore && !startsAfter;
}

/** Whether a KV request (as the server would decode it) could change a sentinel key. */
export function writesSentinel(name: string, body: Buffer): boolean {
  try {
    switch (name) {
      case 'Put': return touchesSentinel(kvpb.PutRequest.decode(body).key ?? new Uint8Array(0), null);
      case 'Delete': return touchesSentinel(kvpb.DeleteRequest.decode(body).key ?? new Uint8Array(0), null);
      case 'CompareAndSwap': return touchesSentinel(kvpb.CompareAndSwapRequest.decode(body).key ?? new Uint8Array(0), null);
      case 'BatchPut': return (kvpb.BatchPutRequest.decode(body).pairs ?? []).some((p) => touchesSentinel(p.key ?? new Uint8Array(0), null));
      case 'DeleteRange': {
        const r = kvpb.DeleteRangeRequest.decode(body);
        return touchesSentinel(r.startKey ?? new Uint8Array(0), r.endKey ?? new Uint8Array(0));
      }
      default: return false;
    }
  } catch {
    return false; // does not decode: the server refuses it whole
  }
}

function rpcInput(port: 'kv' | 'pd', rpcs: Rpc[]): fc.Arbitrary<FuzzInput> {
  return fc.constantFrom(...rpcs).chain((rpc) => rpc.arb.chain((req) => mutate(Buffer.from(rpc.method.requestSerialize(req))))
    .map((body): FuzzInput => ({ port, target: rpc.name, path: rpc.method.path, body })));
}

/** A raft message no honest store sends: out of range, unknown type, wrong replica, unknown range. */
const badMessage: fc.Arbitrary<OutboundMessage> = fc.oneof(
  // Terms and indexes above the raft bounds, to a real range.
  fc.record({ rangeId: small, type: fc.constantFrom(...Object.values(MessageType)), term: fc.integer({ min: MAX_TERM + 1, max: 2 ** 53 - 1 }), index: u64, commit: u64 })
    .map(({ rangeId, type, term, index, commit }) => ({ rangeId, message: { ...emptyMessage(), type, from: 1, to: 2, term, index, commit } })),
  // Replica ids no range has (real ranges drop them as "wrong replica").
  fc.record({ rangeId: small, type: fc.constantFrom(MessageType.Heartbeat, MessageType.App, MessageType.Vote, MessageType.TimeoutNow), term: fc.nat({ max: 100 }) })
    .map(({ rangeId, type, term }) => ({ rangeId, message: { ...emptyMessage(), type, from: 1_000_000_001, to: 1_000_000_002, term } })),
  // Ranges that do not exist (uninitialized replicas: bounded and collected).
  fc.record({ rangeId: fc.integer({ min: 2 ** 40, max: 2 ** 50 }), term: fc.nat({ max: 100 }) })
    .map(({ rangeId, term }) => ({ rangeId, message: { ...emptyMessage(), type: MessageType.Heartbeat, from: 7, to: 9, term } as Message })),
);

const raftInput: fc.Arbitrary<FuzzInput> = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 4 }), fc.array(badMessage, { minLength: 1, maxLength: 40 })).map(([fromStore, msgs]): FuzzInput => ({
    port: 'raft', target: 'bad messages', fromStore,
    batch: (toStore) => Buffer.from(encodeBatch({ fromStore, toStore, messages: msgs, heartbeats: [], heartbeatResps: [] })),
  })),
  fc.tuple(fc.integer({ min: 1, max: 4 }), fc.uint8Array({ maxLength: 512 })).map(([fromStore, b]): FuzzInput => ({
    port: 'raft', target: 'garbage', fromStore, batch: () => Buffer.from(b),
  })),
);

const snapshotInput: fc.Arbitrary<FuzzInput> = fc.oneof(
  fc.array(fc.uint8Array({ maxLength: 256 }), { maxLength: 4 }).map((fs): FuzzInput => ({
    port: 'snapshot', target: 'garbage frames', frames: () => fs.map((f) => Buffer.from(f)),
  })),
  fc.record({ rangeId: fc.oneof(small, u64), header: fc.uint8Array({ maxLength: 64 }), chunks: fc.array(fc.uint8Array({ maxLength: 128 }), { maxLength: 3 }) })
    .map(({ rangeId, header, chunks }): FuzzInput => ({
      port: 'snapshot', target: 'bad snapshot',
      frames: (toStore) => [
        encodeSnapshotStart({
          fromStore: toStore === 1 ? 2 : 1, toStore, rangeId, header,
          message: { ...emptyMessage(), type: MessageType.Snap, from: 1_000_000_001, to: 1_000_000_002, term: 1, snapshot: { meta: { index: 10, term: 1, confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(0) } },
        }),
        ...chunks.map((c) => encodeSnapshotChunkFrame(c)),
      ],
    })),
);

const httpInput: fc.Arbitrary<FuzzInput> = fc.record({
  path: fc.oneof(
    fc.constantFrom('/metrics', '/health', '/debug/ranges', '/debug/ranges?limit=0', '/debug/ranges?limit=99999999999', '/debug/ranges?after=-1', '/debug/ranges?after=1e400', '/%ff', '/' + 'a'.repeat(8000)),
    fc.string({ maxLength: 60 }).map((s) => '/' + encodeURIComponent(s)),
  ),
  method: fc.constantFrom('GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'),
}).map(({ path, method }): FuzzInput => {
  const base = path.split('?')[0]!;
  const known = ['/metrics', '/health', '/debug/ranges'].includes(base) ? base : 'other path';
  return { port: 'http', target: `${method} ${known}`, path, method };
});

/** Every kind of input, weighted towards the services. */
export const fuzzInput: fc.Arbitrary<FuzzInput> = fc.oneof(
  { arbitrary: rpcInput('kv', kvRpcs), weight: 5 },
  { arbitrary: rpcInput('pd', pdRpcs), weight: 3 },
  { arbitrary: raftInput, weight: 2 },
  { arbitrary: snapshotInput, weight: 1 },
  { arbitrary: httpInput, weight: 1 },
);
