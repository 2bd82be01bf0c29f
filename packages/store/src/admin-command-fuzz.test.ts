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
  encodeAdminCommand, encodeConfChangeContext, type SplitCommand,
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

const context: fc.Arbitrary<Map<number, number>> = fc.array(fc.tuple(safeUint, safeUint), { maxLength: 6 }).map((kv) => new Map(kv));

test('every split command round trips, numbers up to 2^53 - 1', () => {
  fc.assert(fc.property(split, (c) => {
    const d = decodeAdminCommand(encodeAdminCommand(c));
    assert.deepEqual({ ...d, splitKey: [...d.splitKey] }, { ...c, splitKey: [...c.splitKey] });
  }), { seed: SEED, numRuns: RUNS });
});

test('admin commands: random bytes and mutated splits decode canonically or fail with a KvCommandDecodeError', () => {
  fc.assert(fc.property(fc.oneof(randomBytes(ADMIN_COMMAND_FORMAT), mutated(split.map(encodeAdminCommand))), (b) =>
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
