import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '@rangekv/raft';
import { decodeKvCommand, encodeKvCommand, KvCommandDecodeError, KvCommandType, type KvCommand } from './kv-command.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);

function roundTrip(c: KvCommand): KvCommand {
  const out = decodeKvCommand(encodeKvCommand(c));
  assert.deepEqual(normalize(out), normalize(c));
  return out;
}

/** Compare byte fields by content (decoded ones are views into the input). */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

const samples: KvCommand[] = [
  { type: KvCommandType.Put, epochVersion: 1, key: b('a'), value: b('xy') },
  { type: KvCommandType.Put, epochVersion: Number.MAX_SAFE_INTEGER, key: new Uint8Array([0, 255, 0]), value: new Uint8Array(0) },
  { type: KvCommandType.Put, epochVersion: 3, key: b('big'), value: new Uint8Array(70_000).fill(7) },
  { type: KvCommandType.BatchPut, epochVersion: 2, pairs: [{ key: b('k1'), value: b('v1') }, { key: b('k1'), value: b('') }, { key: b('k2'), value: b('v2') }] },
  { type: KvCommandType.BatchPut, epochVersion: 0, pairs: [] },
  { type: KvCommandType.Delete, epochVersion: 9, key: b('gone') },
  { type: KvCommandType.DeleteRange, epochVersion: 4, startKey: b('a'), endKey: b('m') },
  { type: KvCommandType.DeleteRange, epochVersion: 4, startKey: new Uint8Array(0), endKey: new Uint8Array(0) },
  { type: KvCommandType.CompareAndSwap, epochVersion: 5, key: b('c'), expectExists: true, expectedValue: b('old'), newValue: b('new'), delete: false },
  { type: KvCommandType.CompareAndSwap, epochVersion: 5, key: b('c'), expectExists: false, expectedValue: b(''), newValue: b(''), delete: true },
];

test('every command type round-trips through the codec, including empty fields and 2^53 - 1', () => {
  for (const c of samples) roundTrip(c);
});

test('the worked example of the format comment encodes byte for byte', () => {
  const bytes = encodeKvCommand({ type: KvCommandType.Put, epochVersion: 1, key: b('a'), value: b('xy') });
  assert.deepEqual([...bytes], [0x01, 0x01, 0x01, 0x01, 0x61, 0x02, 0x78, 0x79]);
});

function assertDecodeError(bytes: Uint8Array, reason: RegExp): void {
  assert.throws(() => decodeKvCommand(bytes), (e: unknown) => e instanceof KvCommandDecodeError && reason.test(e.reason));
}

test('malformed commands are refused with a decode error naming the problem', () => {
  assertDecodeError(new Uint8Array(0), /empty entry/);
  assertDecodeError(new Uint8Array([2, 1, 1]), /unknown format version 2/);
  assertDecodeError(new Uint8Array([1, 99, 1]), /unknown command type 99/);
  assertDecodeError(new Uint8Array([1, 1]), /truncated: epoch version/);
  const put = encodeKvCommand(samples[0]!);
  assertDecodeError(new Uint8Array([...put, 0]), /1 trailing bytes/);
  assertDecodeError(new Uint8Array([1, 1, 1, 5, 0x61]), /key declares 5 bytes, 1 left/);
  assertDecodeError(new Uint8Array([1, 5, 1, 0x04, 0, 0, 0]), /unknown CAS flag bits 0x4/);
  assertDecodeError(new Uint8Array([1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /exceeds 2\^53|longer than 8 bytes/);
  assertDecodeError(new Uint8Array([1, 2, 1, 0xff, 0xff, 0x03, 0, 0]), /pairs declared/);
});

test('every truncation of every sample is refused (never a partial command)', () => {
  for (const c of samples) {
    const bytes = encodeKvCommand(c);
    for (let n = 0; n < bytes.length; n++) {
      assert.throws(() => decodeKvCommand(bytes.subarray(0, n)), KvCommandDecodeError, `type ${c.type} cut at ${n}`);
    }
  }
});

test('random bytes and bit flips only ever give a KvCommandDecodeError or a valid command', () => {
  const prng = new Prng(42);
  for (let i = 0; i < 3000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = new Uint8Array(prng.int(24));
      for (let j = 0; j < bytes.length; j++) bytes[j] = prng.int(256);
      if (bytes.length > 0 && prng.chance(0.7)) bytes[0] = 1;
    } else {
      bytes = new Uint8Array(encodeKvCommand(samples[prng.int(samples.length)]!));
      if (bytes.length > 0) bytes[prng.int(bytes.length)]! ^= 1 << prng.int(8);
    }
    try {
      const c = decodeKvCommand(bytes);
      // Whatever decodes must encode back to the same bytes (the format is canonical).
      assert.deepEqual([...encodeKvCommand(c)], [...bytes]);
    } catch (e) {
      assert.ok(e instanceof KvCommandDecodeError, `unexpected ${String(e)}`);
    }
  }
});
