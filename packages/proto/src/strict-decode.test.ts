// Strict decoding: what each numeric field kind is held to, the error it gives (typed,
// naming the field), and what stays lenient (padding, unknown fields).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from '../generated/runtime.js';
import {
  adminpb, kvpb, kvService, metapb, pdService, raftpb, tryDecode, WireDecodeError,
} from './index.js';
import { STRICT_READERS } from './strict-reader.js';

/** A varint of any value up to 2^64 − 1, padded to `minBytes` with 0x80 bytes. */
function varint(v: bigint | number, minBytes = 1): number[] {
  let n = BigInt(v);
  const out: number[] = [];
  while (n >= 0x80n || out.length + 1 < minBytes) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return out;
}

const tag = (id: number, wireType: number): number[] => varint((id << 3) | wireType);
const num = (id: number, v: bigint | number, minBytes = 1): number[] => [...tag(id, 0), ...varint(v, minBytes)];
const len = (id: number, body: number[]): number[] => [...tag(id, 2), ...varint(body.length), ...body];
const bytes = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());

function refusal(f: () => unknown): WireDecodeError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof WireDecodeError, `not a WireDecodeError: ${String(e)}`);
    return e;
  }
  assert.fail('decoded, expected a WireDecodeError');
}

test('the strict readers are the ones installed on protobufjs\'s Reader', () => {
  const p = protobuf.Reader.prototype as unknown as Record<string, unknown>;
  for (const [name, f] of Object.entries(STRICT_READERS)) assert.equal(p[name], f, name);
});

test('uint64 decodes up to 2^53 - 1; 2^53 and above are refused, never rounded', () => {
  assert.equal(raftpb.Entry.decode(bytes(num(1, 2n ** 53n - 1n))).term, Number.MAX_SAFE_INTEGER);
  for (const v of [2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]) {
    const e = refusal(() => raftpb.Entry.decode(bytes(num(2, v))));
    assert.equal(e.typeName, 'rangekv.raft.Entry');
    assert.equal(e.path, 'index');
    assert.match(e.reason, new RegExp(`uint64 ${v} is over 2\\^53 - 1`));
  }
});

test('a packed repeated uint64 is held to 2^53 - 1 element by element', () => {
  const packed = (vs: bigint[]): Uint8Array => bytes(len(1, vs.flatMap((v) => varint(v))));
  assert.deepEqual(raftpb.ConfState.decode(packed([1n, 2n ** 53n - 1n])).voters, [1, Number.MAX_SAFE_INTEGER]);
  const e = refusal(() => raftpb.ConfState.decode(packed([1n, 2n ** 53n])));
  assert.equal(e.path, 'voters');
});

test('uint32 must fit 32 bits: 2^32 - 1 decodes, 2^32 is refused rather than truncated to 0', () => {
  assert.equal(kvpb.ScanRequest.decode(bytes(num(4, 2n ** 32n - 1n))).limit, 2 ** 32 - 1);
  const e = refusal(() => kvpb.ScanRequest.decode(bytes(num(4, 2n ** 32n))));
  assert.equal(e.path, 'limit');
  assert.match(e.message, /^rangekv\.kv\.ScanRequest\.limit: uint32 4294967296 does not fit 32 bits \(byte 1\)$/);
});

test('read_consistency 2^32 is refused, not read as LINEARIZABLE', () => {
  const req = bytes(len(1, [...num(1, 5), ...num(3, 2n ** 32n)]));
  const e = refusal(() => kvpb.GetRequest.decode(req));
  assert.equal(e.path, 'header.readConsistency');
});

test('an enum value outside its enum is refused with the field named; members decode', () => {
  const header = (rc: bigint | number): Uint8Array => bytes(len(1, num(3, rc)), len(2, [0x61]));
  assert.equal(kvpb.GetRequest.decode(header(metapb.ReadConsistency.STALE)).header?.readConsistency, metapb.ReadConsistency.STALE);
  const e = refusal(() => kvpb.GetRequest.decode(header(4)));
  assert.equal(e.path, 'header.readConsistency');
  assert.match(e.reason, /4 is not a rangekv\.meta\.ReadConsistency/);
  // A negative int32, written the way encoders write it (10 bytes), is refused by the enum.
  assert.equal(refusal(() => kvpb.GetRequest.decode(header(2n ** 64n - 1n))).reason, '-1 is not a rangekv.meta.ReadConsistency');
  // A value over int32 is refused by the reader.
  assert.match(refusal(() => kvpb.GetRequest.decode(header(2n ** 31n))).reason, /int32 varint 2147483648 is not a 32-bit signed value/);
});

test('the path names the repeated element at fault, deep in a batch', () => {
  const entry = (type: number): number[] => len(7, [...num(1, 3), ...num(3, type)]);
  const message = (rangeId: number, type: number): number[] => len(3, [...num(1, rangeId), ...len(2, [...num(1, 5), ...entry(0), ...entry(type)])]);
  const e = refusal(() => raftpb.RaftBatch.decode(bytes(num(1, 1), num(2, 2), message(7, 1), message(8, 9))));
  assert.equal(e.path, 'messages[1].message.entries[1].type');
  assert.equal(e.reason, '9 is not a rangekv.raft.EntryType');
});

test('varints padded with 0x80 bytes (up to 10) decode to their value; 11 bytes or bits past 64 are refused', () => {
  assert.equal(raftpb.Entry.decode(bytes(num(1, 300, 10))).term, 300);
  assert.equal(kvpb.ScanRequest.decode(bytes(num(4, 7, 10))).limit, 7);
  assert.equal(raftpb.Message.decode(bytes(num(1, 5, 10))).type, raftpb.MessageType.MSG_APP);
  refusal(() => raftpb.Entry.decode(bytes(num(1, 1, 11))));
  refusal(() => raftpb.Entry.decode(bytes(tag(1, 0), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])));
});

test('int64 (no field uses it yet) is held to +-(2^53 - 1), negatives in two\'s complement', () => {
  // Typed Long by protobufjs; a number here (no Long in this runtime).
  const read = (v: bigint): number => new protobuf.Reader(Uint8Array.from(varint(v))).int64() as unknown as number;
  assert.equal(read(2n ** 53n - 1n), Number.MAX_SAFE_INTEGER);
  assert.equal(read(2n ** 64n - 1n), -1);
  assert.equal(read(2n ** 64n - (2n ** 53n - 1n)), -Number.MAX_SAFE_INTEGER);
  assert.throws(() => read(2n ** 53n), WireDecodeError);
  assert.throws(() => read(2n ** 64n - 2n ** 53n), WireDecodeError);
});

test('unknown fields of every wire type are skipped, whatever their values (forward compatible)', () => {
  const unknown = bytes(
    num(90, 2n ** 64n - 1n),
    [...tag(91, 1), 1, 2, 3, 4, 5, 6, 7, 8],
    len(92, [1, 2, 3]),
    [...tag(93, 5), 1, 2, 3, 4],
    num(4, 10),
  );
  const scan = kvpb.ScanRequest.decode(unknown);
  assert.equal(scan.limit, 10);
  assert.equal(Object.hasOwn(scan, '$unknowns'), false, 'unknown fields are not kept');
});

test('malformed bytes throw WireDecodeError naming the field; nothing else escapes', () => {
  const put = kvpb.PutRequest.encode({ key: new Uint8Array(10), value: new Uint8Array(100) }).finish();
  const cut = refusal(() => kvpb.PutRequest.decode(put.subarray(0, put.length - 5)));
  assert.equal(cut.path, 'value');
  assert.match(cut.reason, /index out of range/);
  assert.equal(refusal(() => kvpb.PutRequest.decode(bytes([0x0f]))).path, 'header', 'field 1 with wire type 7');
  const deep = refusal(() => metapb.RangeError.decode(bytes(len(2, [...num(1, 1), ...len(2, [0xff])]))));
  assert.equal(deep.path, 'notLeader.leader');
});

test('tryDecode answers ok or the WireDecodeError; a service\'s request decoder refuses the same way', () => {
  const good = kvService.get.requestSerialize({ header: { rangeId: 3 }, key: new Uint8Array([1]) });
  const ok = tryDecode(kvService.get.requestDeserialize, good);
  assert.equal(ok.ok && ok.value.header?.rangeId, 3);
  const bad = Buffer.from(bytes(len(1, num(3, 2n ** 32n))));
  const r = tryDecode(kvService.get.requestDeserialize, bad);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.message, 'rangekv.kv.GetRequest.header.readConsistency: int32 varint 4294967296 is not a 32-bit signed value (byte 3)');
  const pd = tryDecode(pdService.allocIds.requestDeserialize, Buffer.from(bytes(num(1, 2n ** 32n))));
  assert.equal(!pd.ok && pd.error.path, 'count');
  const admin = tryDecode(adminpb.AddReplicaRequest.decode, bytes(num(4, 7)));
  assert.equal(!admin.ok && admin.error.path, 'role');
});
