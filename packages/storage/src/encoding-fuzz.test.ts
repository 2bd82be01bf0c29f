// Property and mutation fuzz of the record codecs in encoding.ts: random bytes and
// mutated valid encodings either decode canonically (re-encoding gives the input back) or
// are refused with a DecodeError, never anything else; valid values, extremes included,
// round trip. Fixed seeds and budgets, so a failure replays.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fc from 'fast-check';
import type { EntryType } from '@rangekv/raft';
import { ReplicaRole, type RangeDescriptor, type ReplicaRole as Role } from '@rangekv/proto/range-descriptor';
import {
  RECORD_VERSION, decodeAppliedState, decodeConfState, decodeDescriptor, decodeEntry, decodeEntryTerm, decodeHardState,
  decodeTruncatedState, encodeAppliedState, encodeConfState, encodeDescriptor, encodeEntry, encodeHardState,
  encodeTruncatedState,
} from './encoding.js';
import { DecodeError } from './errors.js';
import type { ConfState } from './records.js';
import { assertCanonicalOrDecodeError, mutated, randomBytes, safeUint } from './testing/byte-fuzz.js';

const SEED = 5318;
/** Plain objects, so that deepEqual compares them with what the decoders build. */
const PLAIN = { noNullPrototype: true } as const;
const RUNS = 2000;

interface Codec<T> {
  name: string;
  valid: fc.Arbitrary<T>;
  encode: (v: T) => Uint8Array;
  decode: (b: Uint8Array) => T;
}

interface EntryValue {
  type: EntryType;
  term: number;
  data: Uint8Array;
}

const ENTRY_INDEX = 42; // the index lives in the key; any will do

const entryCodec: Codec<EntryValue> = {
  name: 'log entry',
  valid: fc.record({ type: fc.constantFrom(0, 1).map((t) => t as EntryType), term: safeUint, data: fc.uint8Array({ maxLength: 40 }) }, PLAIN),
  encode: (e) => encodeEntry({ ...e, index: ENTRY_INDEX }),
  decode: (b) => {
    const { type, term, data } = decodeEntry(ENTRY_INDEX, b);
    return { type, term, data };
  },
};

const ids = fc.array(safeUint, { maxLength: 6 });
const confState: fc.Arbitrary<ConfState> = fc.record({ voters: ids, learners: ids, votersOutgoing: ids, learnersNext: ids, autoLeave: fc.boolean() }, PLAIN);
const indexTerm = fc.record({ index: safeUint, term: safeUint }, PLAIN);

const descriptor: fc.Arbitrary<RangeDescriptor> = fc.record({
  rangeId: safeUint,
  startKey: fc.uint8Array({ maxLength: 24 }),
  endKey: fc.uint8Array({ maxLength: 24 }),
  epoch: fc.record({ confVer: safeUint, version: safeUint }, PLAIN),
  replicas: fc.array(fc.record({ storeId: safeUint, replicaId: safeUint, role: fc.integer({ min: 0, max: 4 }).map((r) => r as Role) }, PLAIN), { maxLength: 5 }),
}, PLAIN);

function fuzz<T>(c: Codec<T>, seedOffset: number): void {
  test(`${c.name}: valid values round trip`, () => {
    fc.assert(fc.property(c.valid, (v) => {
      assert.deepEqual(c.decode(c.encode(v)), v);
    }), { seed: SEED + seedOffset, numRuns: RUNS });
  });
  test(`${c.name}: random bytes decode canonically or fail with a DecodeError`, () => {
    fc.assert(fc.property(randomBytes(RECORD_VERSION), (b) => assertCanonicalOrDecodeError(b, c.decode, c.encode)),
      { seed: SEED + seedOffset, numRuns: RUNS });
  });
  test(`${c.name}: mutated valid encodings decode canonically or fail with a DecodeError`, () => {
    fc.assert(fc.property(mutated(c.valid.map(c.encode)), (b) => assertCanonicalOrDecodeError(b, c.decode, c.encode)),
      { seed: SEED + seedOffset, numRuns: RUNS });
  });
}

fuzz(entryCodec, 0);
fuzz({ name: 'hard state', valid: fc.record({ term: safeUint, vote: safeUint, commit: safeUint }, PLAIN), encode: encodeHardState, decode: decodeHardState }, 1);
fuzz({ name: 'conf state', valid: confState, encode: encodeConfState, decode: decodeConfState }, 2);
fuzz({ name: 'applied state', valid: indexTerm, encode: encodeAppliedState, decode: decodeAppliedState }, 3);
fuzz({ name: 'truncated state', valid: indexTerm, encode: encodeTruncatedState, decode: decodeTruncatedState }, 4);
fuzz({ name: 'range descriptor', valid: descriptor, encode: encodeDescriptor, decode: decodeDescriptor }, 5);

test('decodeEntryTerm agrees with decodeEntry on every entry decodeEntry accepts, and refuses only with a DecodeError', () => {
  fc.assert(fc.property(fc.oneof(randomBytes(RECORD_VERSION), mutated(entryCodec.valid.map(entryCodec.encode))), (b) => {
    let term: number;
    try {
      term = decodeEntryTerm(b);
    } catch (e) {
      assert.ok(e instanceof DecodeError, String(e));
      return;
    }
    try {
      assert.equal(decodeEntry(1, b).term, term);
    } catch (e) {
      assert.ok(e instanceof DecodeError, String(e)); // decodeEntryTerm reads the term only
    }
  }), { seed: SEED, numRuns: RUNS });
});

test('a number in a non-minimal varint is refused: every record has one encoding', () => {
  // 1 is 01; 81 00 would read as 1 too.
  assert.throws(() => decodeAppliedState(Buffer.from([RECORD_VERSION, 0x81, 0x00, 0x01])), /applied state: non-minimal varint/);
  assert.deepEqual(decodeAppliedState(Buffer.from([RECORD_VERSION, 0x01, 0x01])), { index: 1, term: 1 });
});

// ---- extremes ---------------------------------------------------------------------------

const MAX = Number.MAX_SAFE_INTEGER;
const MAX_MEMBERS = 1 << 16;
const MAX_DESCRIPTOR_KEY_BYTES = 64 * 1024;
const MAX_REPLICAS = 1024;

function bigDescriptor(keyBytes: number, replicas: number): RangeDescriptor {
  return {
    rangeId: MAX, startKey: new Uint8Array(keyBytes).fill(0xff), endKey: new Uint8Array(keyBytes), epoch: { confVer: MAX, version: MAX },
    replicas: Array.from({ length: replicas }, (_, i) => ({ storeId: MAX - i, replicaId: i, role: ReplicaRole.VoterDemoting })),
  };
}

test('extreme values round trip: 2^53 - 1 everywhere, the largest member lists, keys and replica counts', () => {
  assert.deepEqual(decodeHardState(encodeHardState({ term: MAX, vote: MAX, commit: MAX })), { term: MAX, vote: MAX, commit: MAX });
  assert.deepEqual(decodeAppliedState(encodeAppliedState({ index: MAX, term: MAX })), { index: MAX, term: MAX });
  assert.deepEqual(decodeTruncatedState(encodeTruncatedState({ index: 0, term: 0 })), { index: 0, term: 0 });
  const e = { type: 1 as EntryType, term: MAX, data: new Uint8Array(1 << 16).fill(7) };
  assert.deepEqual(entryCodec.decode(entryCodec.encode(e)), e);
  const members = Array.from({ length: MAX_MEMBERS }, (_, i) => MAX - i);
  const cs = { voters: members, learners: members, votersOutgoing: [], learnersNext: [MAX], autoLeave: true };
  assert.deepEqual(decodeConfState(encodeConfState(cs)), cs);
  const d = bigDescriptor(MAX_DESCRIPTOR_KEY_BYTES, MAX_REPLICAS);
  assert.deepEqual(decodeDescriptor(encodeDescriptor(d)), d);
});

test('values beyond what the decoders accept are refused when encoding, so nothing is written that cannot be read back', () => {
  const members = Array.from({ length: MAX_MEMBERS + 1 }, (_, i) => i + 1);
  assert.throws(() => encodeConfState({ voters: members, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }), RangeError);
  assert.throws(() => encodeDescriptor(bigDescriptor(MAX_DESCRIPTOR_KEY_BYTES + 1, 1)), RangeError);
  assert.throws(() => encodeDescriptor(bigDescriptor(1, MAX_REPLICAS + 1)), RangeError);
  assert.throws(() => encodeHardState({ term: MAX + 1, vote: 0, commit: 0 }), RangeError);
});
