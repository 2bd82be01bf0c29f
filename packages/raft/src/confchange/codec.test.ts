import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../prng.js';
import { ConfChangeTransition, ConfChangeType, type ConfChangeV2 } from '../types.js';
import { decodeConfChange, encodeConfChange } from './codec.js';

const sample: ConfChangeV2 = {
  transition: ConfChangeTransition.JointExplicit,
  changes: [
    { type: ConfChangeType.AddNode, nodeId: 4 },
    { type: ConfChangeType.RemoveNode, nodeId: 300 },
    { type: ConfChangeType.AddLearnerNode, nodeId: Number.MAX_SAFE_INTEGER },
  ],
  context: new Uint8Array([9, 8, 7]),
};

test('a conf change survives encode → decode', () => {
  assert.deepEqual(decodeConfChange(encodeConfChange(sample)), sample);
});

test('the encoding is compact: a one-voter change with no context takes 6 bytes', () => {
  const bytes = encodeConfChange({
    transition: ConfChangeTransition.Auto,
    changes: [{ type: ConfChangeType.AddNode, nodeId: 5 }],
    context: new Uint8Array(0),
  });
  assert.deepEqual([...bytes], [1, 0, 1, 0, 5, 0]);
});

test('random conf changes survive encode → decode', () => {
  const rng = new Prng(31);
  for (let i = 0; i < 500; i++) {
    const cc: ConfChangeV2 = {
      transition: rng.int(3) as ConfChangeTransition,
      changes: Array.from({ length: rng.int(6) }, () => ({
        type: rng.int(3) as ConfChangeType,
        nodeId: rng.chance(0.2) ? Math.floor(rng.float() * Number.MAX_SAFE_INTEGER) : rng.int(1000),
      })),
      context: Uint8Array.from({ length: rng.int(200) }, () => rng.int(256)),
    };
    assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
  }
});

test('decoded context does not alias the input buffer', () => {
  const bytes = encodeConfChange(sample);
  const cc = decodeConfChange(bytes);
  bytes[bytes.length - 1] = 0;
  assert.deepEqual([...cc.context], [9, 8, 7]);
});

test('every truncation of a valid encoding is rejected', () => {
  const bytes = encodeConfChange(sample);
  for (let n = 0; n < bytes.length; n++) {
    assert.throws(() => decodeConfChange(bytes.subarray(0, n)), /malformed conf change/, `truncated to ${n} bytes`);
  }
});

// Malformed inputs, each with the defect the error must name.
const malformed: Array<[string, number[], RegExp]> = [
  ['empty input', [], /truncated: missing version/],
  ['unknown version', [2, 0, 0, 0], /unsupported version 2/],
  ['unknown transition', [1, 3, 0, 0], /unknown transition 3/],
  ['unknown change type', [1, 0, 1, 3, 1, 0], /change 0: unknown type 3/],
  ['change count larger than the data', [1, 0, 100, 0, 1, 0], /change count 100 exceeds/],
  ['trailing bytes', [1, 0, 0, 0, 42], /context length 0 but 1 bytes remain/],
  ['context longer than the data', [1, 0, 0, 5, 1], /context length 5 but 1 bytes remain/],
  ['non-canonical varint', [1, 0, 1, 0, 0x85, 0x00, 0], /non-canonical varint/],
  ['varint longer than 8 bytes', [1, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0], /longer than 8 bytes/],
  ['varint above 2^53-1', [1, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0], /exceeds 2\^53-1/],
];
for (const [name, bytes, why] of malformed) {
  test(`decode rejects ${name}`, () => {
    assert.throws(() => decodeConfChange(new Uint8Array(bytes)), why);
  });
}

test('encoding an invalid conf change is a broken invariant', () => {
  assert.throws(() => encodeConfChange({ ...sample, transition: 9 as ConfChangeTransition }), /unknown transition 9/);
  assert.throws(() => encodeConfChange({ ...sample, changes: [{ type: ConfChangeType.AddNode, nodeId: -1 }] }), /invalid node id -1/);
});
