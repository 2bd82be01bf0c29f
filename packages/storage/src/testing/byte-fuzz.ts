// Fuzz helpers for binary codecs: byte mutations of valid encodings (bit flips,
// truncations, appended, inserted, replaced and deleted bytes) and the property every
// decoder must keep on any input: decode canonically, or refuse with its typed error.
// Exported as `@rangekv/storage/testing/byte-fuzz` for other packages' codec tests.
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { DecodeError } from '../errors.js';

export type ByteMutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'append'; bytes: Uint8Array }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number };

const smallBytes = fc.uint8Array({ minLength: 1, maxLength: 4 });

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xff) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: smallBytes }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: smallBytes }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 3 }) }),
);

/** `bytes` with `m` applied (positions wrap around the input's length). */
export function mutate(bytes: Uint8Array, m: ByteMutation): Uint8Array {
  const b = Buffer.from(bytes);
  const pos = (at: number, n: number): number => (n === 0 ? 0 : at % n);
  switch (m.kind) {
    case 'flip':
      if (b.length > 0) b[pos(m.at, b.length)]! ^= 1 << m.bit;
      return b;
    case 'set':
      if (b.length > 0) b[pos(m.at, b.length)] = m.value;
      return b;
    case 'truncate':
      return b.subarray(0, pos(m.at, b.length));
    case 'append':
      return Buffer.concat([b, m.bytes]);
    case 'insert': {
      const at = pos(m.at, b.length + 1);
      return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    }
    case 'delete': {
      const at = pos(m.at, b.length);
      return Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]);
    }
  }
}

/** Valid encodings with one to three mutations applied. */
export function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(valid, fc.array(byteMutation, { minLength: 1, maxLength: 3 }))
    .map(([bytes, ms]) => ms.reduce(mutate, bytes));
}

/** Random bytes, half of them starting with `first` (a record version, a key prefix) to get past it. */
export function randomBytes(first: number, maxLength = 48): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength }),
    fc.uint8Array({ maxLength }).map((b) => Buffer.concat([Buffer.from([first]), b])),
  );
}

/**
 * The decoder property: `decode(bytes)` either throws a `refusal` (the codec's typed
 * decode error), or returns a value whose encoding is exactly `bytes` (one encoding per
 * value, nothing ignored). Anything else fails the assertion.
 */
export function assertCanonicalOrRefused<T>(
  bytes: Uint8Array,
  decode: (b: Uint8Array) => T,
  encode: (v: T) => Uint8Array,
  refusal: abstract new (...args: never[]) => Error,
): void {
  let v: T;
  try {
    v = decode(bytes);
  } catch (e) {
    if (e instanceof refusal) return;
    throw new Error(`decoding ${Buffer.from(bytes).toString('hex')} threw something other than a ${refusal.name}`, { cause: e });
  }
  const again = Buffer.from(encode(v));
  assert.ok(again.equals(Buffer.from(bytes)),
    `${Buffer.from(bytes).toString('hex')} decoded, but re-encodes as ${again.toString('hex')}`);
}

/** assertCanonicalOrRefused for this package's codecs, whose refusal is a DecodeError. */
export function assertCanonicalOrDecodeError<T>(bytes: Uint8Array, decode: (b: Uint8Array) => T, encode: (v: T) => Uint8Array): void {
  assertCanonicalOrRefused(bytes, decode, encode, DecodeError);
}

/** Numbers the codecs must carry exactly: the varint length boundaries and 2^53 - 1. */
export const safeUint: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 2 ** 32 - 1, 2 ** 32, 2 ** 49 - 1, 2 ** 49, Number.MAX_SAFE_INTEGER),
  fc.nat({ max: 1000 }),
  fc.maxSafeNat(),
);
