// Property and mutation fuzzing of every generated message type (fast-check, fixed seed,
// small budget: a few seconds for the file).
//
// For every type found by walking the generated root (rangekv.raft, .meta, .kv, .admin,
// .pd): random bytes and mutated valid encodings (bit flips, truncation, a varint made
// longer, a byte inserted) either decode to a value whose every field holds its range
// (uint64 < 2^53, uint32 < 2^32, enums members) or throw WireDecodeError, never anything
// else; valid values, biased to the extremes (0, 2^32 − 1, 2^53 − 1, empty and large
// bytes), round-trip.
//
// Another seed, or more runs: FUZZ_SEED=7 FUZZ_RUNS=2000 node --test packages/proto/dist/wire-fuzz.test.js
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { rangekv, WireDecodeError, wireSchema, type WireField } from './index.js';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20240611);
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 40);
const MAX_DEPTH = 3;

interface Codec {
  encode(m: object): { finish(): Uint8Array };
  decode(b: Uint8Array): object;
}

type Plain = Record<string, unknown>;

function isEnum(v: object): boolean {
  return Object.values(v).every((x) => typeof x === 'number');
}

/** Every message class under the generated root, by full name (nested types included). */
function generatedTypes(): Map<string, Codec> {
  const out = new Map<string, Codec>();
  const walk = (node: object, prefix: string): void => {
    for (const [k, v] of Object.entries(node)) {
      const name = `${prefix}.${k}`;
      if (typeof v === 'function' && typeof (v as Partial<Codec>).decode === 'function') {
        out.set(name, v as Codec);
        walk(v, name);
      } else if (typeof v === 'object' && v !== null && !isEnum(v)) {
        walk(v, name);
      }
    }
  };
  walk(rangekv, 'rangekv');
  return out;
}

const TYPES = generatedTypes();

// ---- what a decoded value must hold --------------------------------------------------

function holds(f: WireField, v: unknown, where: string): void {
  switch (f.kind) {
    case 'uint64':
      assert.ok(Number.isSafeInteger(v) && (v as number) >= 0, `${where}: uint64 ${String(v)}`);
      return;
    case 'int64':
      assert.ok(Number.isSafeInteger(v), `${where}: int64 ${String(v)}`);
      return;
    case 'uint32':
      assert.ok(Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 32, `${where}: uint32 ${String(v)}`);
      return;
    case 'int32':
      assert.ok(Number.isInteger(v) && (v as number) >= -(2 ** 31) && (v as number) < 2 ** 31, `${where}: int32 ${String(v)}`);
      return;
    case 'enum':
      assert.ok(Object.values(wireSchema.enums[f.ref!]!).includes(v as number), `${where}: ${String(v)} not a ${f.ref}`);
      return;
    case 'bool': assert.equal(typeof v, 'boolean', where); return;
    case 'double': assert.equal(typeof v, 'number', where); return;
    case 'string': assert.equal(typeof v, 'string', where); return;
    case 'bytes': assert.ok(v instanceof Uint8Array, where); return;
    case 'message': if (v !== null) holdsRanges(f.ref!, v as Plain, where); return;
  }
}

function holdsRanges(typeName: string, m: Plain, where = typeName): void {
  for (const f of wireSchema.types[typeName]!) {
    const v = m[f.name];
    if (f.repeated) (v as unknown[]).forEach((x, i) => holds(f, x, `${where}.${f.name}[${i}]`));
    else if (v !== null || (f.kind !== 'message' && f.oneof === undefined)) holds(f, v, `${where}.${f.name}`);
  }
}

function decodesOrRefuses(typeName: string, bytes: Uint8Array): void {
  let m: object;
  try {
    m = TYPES.get(typeName)!.decode(bytes);
  } catch (e) {
    if (e instanceof WireDecodeError) return;
    assert.fail(`${typeName}: not a WireDecodeError: ${e instanceof Error ? e.stack : String(e)}`);
  }
  holdsRanges(typeName, m as Plain);
}

// ---- valid values, biased to the extremes ---------------------------------------------

const LARGE_BYTES = Uint8Array.from({ length: 70_000 }, (_, i) => i % 251);
const u32 = fc.tuple(fc.nat(0xffff), fc.nat(0xffff)).map(([h, l]) => h * 0x10000 + l);

function scalar(f: WireField, large: boolean): fc.Arbitrary<unknown> {
  switch (f.kind) {
    case 'uint64': return fc.oneof(fc.constantFrom(0, 1, 127, 128, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1), fc.maxSafeNat());
    case 'int64': return fc.oneof(fc.constantFrom(0, -1, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), fc.maxSafeInteger());
    case 'uint32': return fc.oneof(fc.constantFrom(0, 1, 2 ** 31, 2 ** 32 - 1), u32);
    case 'int32': return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 'bool': return fc.boolean();
    case 'double': return fc.double();
    case 'string': return fc.string({ unit: 'binary', maxLength: 12 });
    case 'bytes': return large
      ? fc.oneof({ weight: 10, arbitrary: fc.uint8Array({ maxLength: 24 }) }, { weight: 1, arbitrary: fc.constant(LARGE_BYTES) })
      : fc.uint8Array({ maxLength: 24 });
    case 'enum': return fc.constantFrom(...Object.values(wireSchema.enums[f.ref!]!));
    case 'message': throw new Error('not a scalar');
  }
}

const arbs = new Map<string, fc.Arbitrary<Plain>>();

/** Valid values of `typeName`; `large`: bytes fields are sometimes LARGE_BYTES. */
function messageArb(typeName: string, large: boolean, depth = 0): fc.Arbitrary<Plain> {
  const key = `${typeName}@${depth}${large ? '+large' : ''}`;
  const known = arbs.get(key);
  if (known) return known;
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of wireSchema.types[typeName]!) {
    if (f.kind === 'message' && depth >= MAX_DEPTH) continue;
    const one = f.kind === 'message' ? messageArb(f.ref!, large, depth + 1) : scalar(f, large);
    model[f.name] = f.repeated ? fc.array(one, { maxLength: 3 }) : one;
  }
  const arb = fc.record(model, { requiredKeys: [] }) as fc.Arbitrary<Plain>;
  arbs.set(key, arb);
  return arb;
}

/** Every field, absent ones at the value decoding gives them; bytes as base64; of a
 *  oneof's members only the last set (the one decoding keeps). */
function normalize(typeName: string, m: Plain | null | undefined): Plain {
  const out: Plain = {};
  const fields = wireSchema.types[typeName]!;
  const kept = new Map<string, string>();
  for (const f of fields) if (f.oneof !== undefined && m?.[f.name] != null) kept.set(f.oneof, f.name);
  for (const f of fields) {
    const v = f.oneof !== undefined && kept.get(f.oneof) !== f.name ? undefined : m?.[f.name];
    if (f.repeated) out[f.name] = ((v as unknown[] | undefined) ?? []).map((x) => one(f, x));
    else if (v == null) out[f.name] = f.kind === 'message' || f.oneof !== undefined ? null : one(f, undefined);
    else out[f.name] = one(f, v);
  }
  return out;
}

function one(f: WireField, v: unknown): unknown {
  switch (f.kind) {
    case 'message': return normalize(f.ref!, v as Plain);
    case 'bytes': return Buffer.from((v as Uint8Array | undefined) ?? new Uint8Array(0)).toString('base64');
    case 'bool': return v ?? false;
    case 'string': return v ?? '';
    case 'double': return v === undefined || Object.is(v, -0) ? 0 : v;
    default: return v ?? 0;
  }
}

// ---- mutations -------------------------------------------------------------------------

interface Mutation {
  kind: 'flip' | 'cut' | 'extend' | 'insert';
  at: number;
  bit: number;
  byte: number;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('flip', 'cut', 'extend', 'insert'),
  at: fc.nat(),
  bit: fc.nat(7),
  byte: fc.nat(255),
});

function mutate(input: Uint8Array, ms: ReadonlyArray<Mutation>): Uint8Array {
  let b = Buffer.from(input);
  for (const m of ms) {
    if (b.length === 0) {
      b = Buffer.from([m.byte]);
      continue;
    }
    const i = m.at % b.length;
    switch (m.kind) {
      case 'flip': b[i]! ^= 1 << m.bit; break;
      case 'cut': b = b.subarray(0, i); break;
      // The varint (or any byte) at i goes on: a continuation bit and one more byte.
      case 'extend': b[i]! |= 0x80; b = Buffer.concat([b.subarray(0, i + 1), Buffer.from([m.byte]), b.subarray(i + 1)]); break;
      case 'insert': b = Buffer.concat([b.subarray(0, i), Buffer.from([m.byte]), b.subarray(i)]); break;
    }
  }
  return b;
}

// ---- the properties ----------------------------------------------------------------------

test('the generated root holds exactly the message types of the wire schema', () => {
  assert.deepEqual([...TYPES.keys()].sort(), Object.keys(wireSchema.types).sort());
  assert.ok(TYPES.size > 50, `only ${TYPES.size} types found`);
});

test('every message type: random bytes decode to in-range values or throw WireDecodeError', () => {
  for (const name of TYPES.keys()) {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 48 }), (b) => decodesOrRefuses(name, b)), { seed: SEED, numRuns: RUNS });
  }
});

test('every message type: mutated valid encodings decode to in-range values or throw WireDecodeError', () => {
  for (const name of TYPES.keys()) {
    const codec = TYPES.get(name)!;
    fc.assert(fc.property(messageArb(name, false), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (m, ms) => {
      decodesOrRefuses(name, mutate(codec.encode(m).finish(), ms));
    }), { seed: SEED, numRuns: RUNS });
  }
});

test('every message type: valid values, extremes included, round-trip', () => {
  for (const name of TYPES.keys()) {
    const codec = TYPES.get(name)!;
    fc.assert(fc.property(messageArb(name, true), (m) => {
      const back = codec.decode(codec.encode(m).finish()) as Plain;
      assert.deepEqual(normalize(name, back), normalize(name, m));
      holdsRanges(name, back);
    }), { seed: SEED, numRuns: RUNS });
  }
});
