// Property and mutation fuzz of the key parsers in keys.ts: any bytes either parse to
// numbers whose key is exactly those bytes, or are refused with a DecodeError, never
// anything else; every safe-integer range id and index round trips. Fixed seeds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fc from 'fast-check';
import { KeyPrefix, entryKey, parseEntryKey, parseRangeKey, rangeKey, readU64 } from './keys.js';
import { DecodeError } from './errors.js';
import { assertCanonicalOrDecodeError, mutated, safeUint } from './testing/byte-fuzz.js';

const SEED = 9173;
const RUNS = 3000;
const RANGE_PREFIXES = [KeyPrefix.HardState, KeyPrefix.Descriptor, KeyPrefix.Applied, KeyPrefix.ConfState, KeyPrefix.Truncated, KeyPrefix.Ingest, KeyPrefix.Destroy];

/** Random bytes, many of them of a key's length and with its prefix. */
function keyLike(prefix: number, length: number): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 20 }),
    fc.uint8Array({ minLength: length - 1, maxLength: length - 1 }).map((b) => Buffer.concat([Buffer.from([prefix]), b])),
  );
}

test('entry keys: every safe range id and index round trips', () => {
  fc.assert(fc.property(safeUint, safeUint, (rangeId, index) => {
    assert.deepEqual(parseEntryKey(entryKey(rangeId, index)), { rangeId, index });
  }), { seed: SEED, numRuns: RUNS });
});

test('entry keys: random and mutated bytes parse canonically or fail with a DecodeError', () => {
  const valid = fc.tuple(safeUint, safeUint).map(([r, i]) => entryKey(r, i));
  fc.assert(fc.property(fc.oneof(keyLike(KeyPrefix.Entry, 17), mutated(valid)), (b) =>
    assertCanonicalOrDecodeError(b, parseEntryKey, ({ rangeId, index }) => entryKey(rangeId, index))), { seed: SEED, numRuns: RUNS });
});

test('range keys: every prefix and safe range id round trips; random and mutated bytes parse canonically or fail with a DecodeError', () => {
  fc.assert(fc.property(fc.constantFrom(...RANGE_PREFIXES), safeUint, (prefix, rangeId) => {
    assert.equal(parseRangeKey(prefix, rangeKey(prefix, rangeId)), rangeId);
  }), { seed: SEED, numRuns: RUNS });
  fc.assert(fc.property(fc.constantFrom(...RANGE_PREFIXES), fc.boolean(), fc.uint8Array({ minLength: 8, maxLength: 8 }), (prefix, asKey, rest) => {
    const b = asKey ? Buffer.concat([Buffer.from([prefix]), rest]) : rest;
    assertCanonicalOrDecodeError(b, (k) => parseRangeKey(prefix, k), (id) => rangeKey(prefix, id));
  }), { seed: SEED, numRuns: RUNS });
  fc.assert(fc.property(fc.constantFrom(...RANGE_PREFIXES), mutated(fc.tuple(fc.constantFrom(...RANGE_PREFIXES), safeUint).map(([p, id]) => rangeKey(p, id))), (prefix, b) => {
    assertCanonicalOrDecodeError(b, (k) => parseRangeKey(prefix, k), (id) => rangeKey(prefix, id));
  }), { seed: SEED, numRuns: RUNS });
});

test('an 8-byte number of 2^53 or more in a key is refused: it has no exact JS number', () => {
  const k = entryKey(1, Number.MAX_SAFE_INTEGER);
  assert.deepEqual(parseEntryKey(k), { rangeId: 1, index: Number.MAX_SAFE_INTEGER });
  k.writeUInt32BE(0x20_0000, 9); // the index is now 2^53
  k.writeUInt32BE(0, 13);
  assert.throws(() => parseEntryKey(k), (e: unknown) => e instanceof DecodeError && /2\^53/.test(e.message));
  assert.throws(() => readU64(Buffer.alloc(8, 0xff), 0), DecodeError);
  assert.throws(() => readU64(Buffer.alloc(7), 0), DecodeError);
});
