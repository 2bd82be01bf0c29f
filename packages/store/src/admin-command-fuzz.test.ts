// Property and mutation fuzz of the admin command codec and the membership-change
// context (admin-command.ts): random bytes and mutated valid encodings either decode (the
// admin command canonically) or are refused with a KvCommandDecodeError, never anything
// else; valid values, extremes included, round trip. Fixed seeds and budgets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { assertCanonicalOrRefused, mutated, randomBytes, safeUint } from '@rangekv/storage/testing/byte-fuzz';
import {
  ADMIN_COMMAND_FORMAT, AdminCommandType, CONF_CHANGE_CONTEXT_FORMAT, decodeAdminCommand, decodeConfChangeContext,
  encodeAdminCommand, encodeConfChangeContext, type MergeCommand, type SplitCommand,
} from './admin-command.js';
import { KvCommandDecodeError } from './kv-command.js';

const SEED = 4409;
const RUNS = 3000;

const split: fc.Arbitrary<SplitCommand> = fc.record({
  type: fc.constant(AdminCommandType.Split),
  confVer: safeUint,
  version: safeUint,
  splitKey: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 24 }), fc.uint8Array({ minLength: 200, maxLength: 300 })),
  newRangeId: safeUint.filter((id) => id > 0),
});

const id = safeUint.filter((x) => x > 0);
const merge: fc.Arbitrary<MergeCommand> = fc.oneof(
  fc.record({
    type: fc.constant(AdminCommandType.Freeze), mergeId: id, leftRangeId: id, leftConfVer: safeUint, leftVersion: safeUint, confVer: safeUint, version: safeUint,
  }),
  fc.record({ type: fc.constant(AdminCommandType.Unfreeze), mergeId: id }),
  fc.record({
    type: fc.constant(AdminCommandType.CommitMerge), mergeId: id, leftConfVer: safeUint, leftVersion: safeUint, rightRangeId: id,
    rightVersion: safeUint, rightEndKey: fc.uint8Array({ maxLength: 24 }), freezeIndex: id, freezeTerm: safeUint,
  }),
  fc.record({ type: fc.constant(AdminCommandType.AbortMerge), mergeId: id, leftConfVer: safeUint, leftVersion: safeUint }),
  fc.record({ type: fc.constant(AdminCommandType.BeginMerge), mergeId: id, leftConfVer: safeUint, leftVersion: safeUint, rightRangeId: id }),
);

/** Byte arrays compared as plain arrays (a decoded key is a view of the input). */
function plain(c: object): object {
  return Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v instanceof Uint8Array ? [...v] : v]));
}

const context: fc.Arbitrary<Map<number, number>> = fc.array(fc.tuple(safeUint, safeUint), { maxLength: 6 }).map((kv) => new Map(kv));

test('every split command round trips, numbers up to 2^53 - 1', () => {
  fc.assert(fc.property(split, (c) => {
    assert.deepEqual(plain(decodeAdminCommand(encodeAdminCommand(c))), plain(c));
  }), { seed: SEED, numRuns: RUNS });
});

test('every merge command (freeze, unfreeze, commit, abort) round trips, numbers up to 2^53 - 1', () => {
  fc.assert(fc.property(merge, (c) => {
    assert.deepEqual(plain(decodeAdminCommand(encodeAdminCommand(c))), plain(c));
  }), { seed: SEED, numRuns: RUNS });
});

test('admin commands: random bytes and mutated splits and merges decode canonically or fail with a KvCommandDecodeError', () => {
  const valid = fc.oneof(split, merge).map(encodeAdminCommand);
  fc.assert(fc.property(fc.oneof(randomBytes(ADMIN_COMMAND_FORMAT), mutated(valid)), (b) =>
    assertCanonicalOrRefused(b, decodeAdminCommand, encodeAdminCommand, KvCommandDecodeError)), { seed: SEED, numRuns: RUNS });
});

test('every membership-change context round trips, ids up to 2^53 - 1', () => {
  fc.assert(fc.property(context, (m) => {
    assert.deepEqual(decodeConfChangeContext(encodeConfChangeContext(m)), m);
  }), { seed: SEED, numRuns: RUNS });
});

test('membership-change contexts: random bytes and mutated contexts decode to a map or fail with a KvCommandDecodeError', () => {
  // Not canonical: no bytes at all (raft's own leave-joint entries) mean no replicas, like
  // the encoded empty map, and the decoder accepts pairs out of order or repeated (the
  // last one wins) where the encoder writes them sorted and once. Every replica decodes
  // the same bytes the same way, so the property here is: a typed refusal, or a map whose
  // encoding decodes to the same map.
  assert.deepEqual(decodeConfChangeContext(new Uint8Array(0)), new Map());
  fc.assert(fc.property(fc.oneof(randomBytes(CONF_CHANGE_CONTEXT_FORMAT), mutated(context.map(encodeConfChangeContext))), (b) => {
    let m: Map<number, number>;
    try {
      m = decodeConfChangeContext(b);
    } catch (e) {
      if (e instanceof KvCommandDecodeError) return;
      throw new Error(`decoding ${Buffer.from(b).toString('hex')} threw something other than a KvCommandDecodeError`, { cause: e });
    }
    assert.deepEqual(decodeConfChangeContext(encodeConfChangeContext(m)), m);
  }), { seed: SEED, numRuns: RUNS });
});
