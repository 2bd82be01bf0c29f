// Property and mutation fuzz of the snapshot codecs (snapshot-codec.ts: header and chunks;
// snapshot-ref.ts: the ref raft carries): random bytes and mutated valid encodings either
// decode canonically or are refused with a DecodeError, never anything else. Chunks are
// also fuzzed behind their checksum (mutated, then re-summed), so the parser under the
// CRC is exercised and not only the CRC. Fixed seeds and budgets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fc from 'fast-check';
import type { RangeDescriptor, ReplicaRole } from '@rangekv/proto/range-descriptor';
import { crc32 } from './crc32.js';
import { RECORD_VERSION } from './encoding.js';
import type { ConfState } from './records.js';
import { ChunkBuilder, decodeSnapshotChunk, decodeSnapshotHeader, encodeSnapshotHeader, type SnapshotChunk, type SnapshotHeader } from './snapshot-codec.js';
import { decodeSnapshotRef, encodeSnapshotRef, type SnapshotRef } from './snapshot-ref.js';
import { assertCanonicalOrDecodeError, mutated, randomBytes, safeUint } from './testing/byte-fuzz.js';

const SEED = 7741;
const RUNS = 1500;
const PLAIN = { noNullPrototype: true } as const;

const ids = fc.array(safeUint, { maxLength: 4 });
const confState: fc.Arbitrary<ConfState> = fc.record({ voters: ids, learners: ids, votersOutgoing: ids, learnersNext: ids, autoLeave: fc.boolean() }, PLAIN);
const descriptor: fc.Arbitrary<RangeDescriptor> = fc.record({
  rangeId: safeUint,
  startKey: fc.uint8Array({ maxLength: 16 }),
  endKey: fc.uint8Array({ maxLength: 16 }),
  epoch: fc.record({ confVer: safeUint, version: safeUint }, PLAIN),
  replicas: fc.array(fc.record({ storeId: safeUint, replicaId: safeUint, role: fc.integer({ min: 0, max: 4 }).map((r) => r as ReplicaRole) }, PLAIN), { maxLength: 4 }),
}, PLAIN);
const header: fc.Arbitrary<SnapshotHeader> = fc.record({
  descriptor,
  applied: fc.record({ index: safeUint.filter((i) => i > 0), term: safeUint }, PLAIN),
  confState,
  mergeFreeze: fc.option(fc.record({
    mergeId: safeUint, leftRangeId: safeUint, leftConfVer: safeUint, leftVersion: safeUint, index: safeUint, term: safeUint,
  }, PLAIN), { nil: null }),
  mergeOutcomes: fc.array(fc.record({ mergeId: safeUint, state: fc.constantFrom('aborted' as const, 'committed' as const, 'pending' as const) }, PLAIN), { maxLength: 32 }),
}, PLAIN);

const chunk: fc.Arbitrary<SnapshotChunk> = fc.record({
  seq: fc.oneof(fc.constantFrom(0, 2 ** 32 - 1), fc.nat({ max: 2 ** 32 - 1 })),
  last: fc.boolean(),
  pairs: fc.array(fc.tuple(fc.uint8Array({ maxLength: 12 }), fc.uint8Array({ maxLength: 12 })), { maxLength: 5 }),
}, PLAIN);

function encodeChunk(c: SnapshotChunk): Uint8Array {
  const b = new ChunkBuilder(c.seq, 16);
  for (const [k, v] of c.pairs) b.add(k, v);
  return b.finish(c.last);
}

/** `body` with a correct checksum appended: what a corrupt sender with a sound CRC would send. */
function summed(body: Uint8Array): Uint8Array {
  const out = Buffer.alloc(body.length + 4);
  out.set(body, 0);
  out.writeUInt32BE(crc32(body), body.length);
  return out;
}

const ref: fc.Arbitrary<SnapshotRef> = fc.record({
  rangeId: safeUint,
  index: safeUint,
  term: safeUint,
  stagingId: fc.oneof(fc.constant(''), fc.stringMatching(/^[A-Za-z0-9._-]{1,40}$/)),
}, PLAIN);

test('snapshot header: valid headers round trip', () => {
  fc.assert(fc.property(header, (h) => assert.deepEqual(decodeSnapshotHeader(encodeSnapshotHeader(h)), h)), { seed: SEED, numRuns: RUNS });
});

test('snapshot header: random bytes and mutated headers decode canonically or fail with a DecodeError', () => {
  fc.assert(fc.property(fc.oneof(randomBytes(RECORD_VERSION), mutated(header.map(encodeSnapshotHeader))),
    (b) => assertCanonicalOrDecodeError(b, decodeSnapshotHeader, encodeSnapshotHeader)), { seed: SEED, numRuns: RUNS });
});

test('snapshot chunk: valid chunks round trip', () => {
  fc.assert(fc.property(chunk, (c) => assert.deepEqual(decodeSnapshotChunk(encodeChunk(c)), c)), { seed: SEED, numRuns: RUNS });
});

test('snapshot chunk: random bytes and mutated chunks decode canonically or fail with a DecodeError', () => {
  fc.assert(fc.property(fc.oneof(randomBytes(RECORD_VERSION), mutated(chunk.map(encodeChunk))),
    (b) => assertCanonicalOrDecodeError(b, decodeSnapshotChunk, encodeChunk)), { seed: SEED, numRuns: RUNS });
});

test('snapshot chunk: mutated bodies under a correct checksum decode canonically or fail with a DecodeError', () => {
  const body = (c: SnapshotChunk): Uint8Array => encodeChunk(c).subarray(0, -4);
  fc.assert(fc.property(fc.oneof(randomBytes(RECORD_VERSION).map(summed), mutated(chunk.map(body)).map(summed)),
    (b) => assertCanonicalOrDecodeError(b, decodeSnapshotChunk, encodeChunk)), { seed: SEED, numRuns: RUNS });
});

test('snapshot ref: valid refs round trip; random bytes and mutated refs decode canonically or fail with a DecodeError', () => {
  fc.assert(fc.property(ref, (r) => assert.deepEqual(decodeSnapshotRef(encodeSnapshotRef(r)), r)), { seed: SEED, numRuns: RUNS });
  fc.assert(fc.property(fc.oneof(randomBytes(RECORD_VERSION), mutated(ref.map(encodeSnapshotRef))),
    (b) => assertCanonicalOrDecodeError(b, decodeSnapshotRef, encodeSnapshotRef)), { seed: SEED, numRuns: RUNS });
});
