// Property and mutation fuzz of the KV command codec (kv-command.ts), beside the
// hand-rolled random-byte test in kv-command.test.ts: random bytes and mutated valid
// commands (bit flips, truncations, inserted, appended and deleted bytes) either decode
// canonically or are refused with a KvCommandDecodeError, never anything else; every
// command, extremes included, round trips. Fixed seeds and budgets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { assertCanonicalOrRefused, mutated, randomBytes, safeUint } from '@rangekv/storage/testing/byte-fuzz';
import { KV_COMMAND_FORMAT, KvCommandDecodeError, KvCommandType, decodeKvCommand, encodeKvCommand, type KvCommand } from './kv-command.js';

const SEED = 3301;
const RUNS = 3000;

const bytes = fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 24 }), fc.uint8Array({ minLength: 128, maxLength: 300 }));

const command: fc.Arbitrary<KvCommand> = fc.oneof(
  fc.record({ type: fc.constant(KvCommandType.Put), epochVersion: safeUint, key: bytes, value: bytes }),
  fc.record({ type: fc.constant(KvCommandType.BatchPut), epochVersion: safeUint, pairs: fc.array(fc.record({ key: bytes, value: bytes }), { maxLength: 4 }) }),
  fc.record({ type: fc.constant(KvCommandType.Delete), epochVersion: safeUint, key: bytes }),
  fc.record({ type: fc.constant(KvCommandType.DeleteRange), epochVersion: safeUint, startKey: bytes, endKey: bytes }),
  fc.record({
    type: fc.constant(KvCommandType.CompareAndSwap), epochVersion: safeUint, key: bytes,
    expectExists: fc.boolean(), expectedValue: bytes, newValue: bytes, delete: fc.boolean(),
  }),
);

/** Byte fields compared by content (decoded ones are views into the input), objects by fields. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

test('every KV command round trips, with empty and large fields and epoch versions up to 2^53 - 1', () => {
  fc.assert(fc.property(command, (c) => {
    assert.deepEqual(normalize(decodeKvCommand(encodeKvCommand(c))), normalize(c));
  }), { seed: SEED, numRuns: RUNS });
});

test('random bytes decode canonically or fail with a KvCommandDecodeError', () => {
  fc.assert(fc.property(randomBytes(KV_COMMAND_FORMAT), (b) =>
    assertCanonicalOrRefused(b, decodeKvCommand, encodeKvCommand, KvCommandDecodeError)), { seed: SEED, numRuns: RUNS });
});

test('mutated commands decode canonically or fail with a KvCommandDecodeError', () => {
  fc.assert(fc.property(mutated(command.map(encodeKvCommand)), (b) =>
    assertCanonicalOrRefused(b, decodeKvCommand, encodeKvCommand, KvCommandDecodeError)), { seed: SEED, numRuns: RUNS });
});
