import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '@rangekv/raft';
import { raftpb } from '@rangekv/proto';
import { decodeBatch, encodeBatch } from './batch-codec.js';
import { CodecError } from './codec-error.js';
import { ALL_MESSAGE_TYPES, heartbeat, randomMessage } from './test-helpers.js';

function sampleBatch(prng: Prng): Uint8Array {
  const messages = [];
  for (let i = 0; i < 5; i++) messages.push({ rangeId: 1 + prng.int(50), message: randomMessage(prng, ALL_MESSAGE_TYPES[prng.int(13)]!) });
  return encodeBatch({ fromStore: 3, toStore: 4, messages, heartbeats: [{ rangeId: 9, message: heartbeat(1, 2, 3, 4, 5) }], heartbeatResps: [] });
}

function decodesOrCodecError(b: Uint8Array): void {
  try {
    decodeBatch(b);
  } catch (e) {
    if (!(e instanceof CodecError)) throw new Error(`not a CodecError: ${String(e)}`);
    assert.ok(e.message.length > 0);
  }
}

test('every truncation of a valid batch decodes or fails with a CodecError, never anything else', () => {
  const b = sampleBatch(new Prng(5));
  let errors = 0;
  for (let n = 0; n < b.length; n++) {
    try {
      decodeBatch(b.subarray(0, n));
    } catch (e) {
      assert.ok(e instanceof CodecError, `cut at ${n}: ${String(e)}`);
      errors++;
    }
  }
  assert.ok(errors > b.length / 2, `only ${errors} of ${b.length} truncations were rejected`);
});

test('random bytes and bit flips never throw anything but CodecError', () => {
  const prng = new Prng(99);
  for (let i = 0; i < 2000; i++) {
    const junk = new Uint8Array(prng.int(200)).map(() => prng.int(256));
    decodesOrCodecError(junk);
  }
  for (let i = 0; i < 2000; i++) {
    const b = sampleBatch(prng);
    b[prng.int(b.length)] ^= 1 << prng.int(8);
    decodesOrCodecError(b);
  }
});

test('a truncated batch names the problem', () => {
  const b = sampleBatch(new Prng(1));
  assert.throws(() => decodeBatch(b.subarray(0, b.length - 3)), (e: unknown) => e instanceof CodecError && /malformed RaftBatch \(\d+ bytes\)/.test(e.message));
});

test('a batch without store ids, or with a range message without its message, is rejected', () => {
  const noStores = raftpb.RaftBatch.encode({ messages: [] }).finish();
  assert.throws(() => decodeBatch(noStores), /store ids missing/);
  const noBody = raftpb.RaftBatch.encode({ fromStore: 1, toStore: 2, messages: [{ rangeId: 4 }] }).finish();
  assert.throws(() => decodeBatch(noBody), /messages\[0\]: no message/);
});

test('an empty batch between known stores decodes to no messages', () => {
  const d = decodeBatch(encodeBatch({ fromStore: 1, toStore: 2, messages: [], heartbeats: [], heartbeatResps: [] }));
  assert.deepEqual(d, { fromStore: 1, toStore: 2, msgs: [], heartbeats: 0, heartbeatResps: 0, liveness: false });
});
