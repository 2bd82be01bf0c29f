import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, Prng } from '@rangekv/raft';
import { raftpb } from '@rangekv/proto';
import { decodeBatch, encodeBatch } from './batch-codec.js';
import { CodecError } from './codec-error.js';
import { encodeHeartbeats } from './heartbeat-codec.js';
import { ALL_MESSAGE_TYPES, heartbeat, msg, randomMessage } from './test-helpers.js';

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

test('a batch without store ids is a CodecError; a range message without its message is refused alone', () => {
  const noStores = raftpb.RaftBatch.encode({ messages: [] }).finish();
  assert.throws(() => decodeBatch(noStores), /store ids missing/);
  const noBody = raftpb.RaftBatch.encode({ fromStore: 1, toStore: 2, messages: [{ rangeId: 4 }] }).finish();
  assert.deepEqual(decodeBatch(noBody).rejects, [{ fromStore: 1, rangeId: 4, reason: 'RaftBatch.messages[0]: no message' }]);
});

test('an empty batch between known stores decodes to no messages', () => {
  const d = decodeBatch(encodeBatch({ fromStore: 1, toStore: 2, messages: [], heartbeats: [], heartbeatResps: [] }));
  assert.deepEqual(d, { fromStore: 1, toStore: 2, msgs: [], heartbeats: 0, heartbeatResps: 0, liveness: false, rejects: [] });
});

test('RaftBatchEnvelope reads a RaftBatch field for field, messages and sections left encoded', () => {
  const hb = { rangeId: 9, message: heartbeat(1, 2, 3, 4, 5) };
  const m = { rangeId: 3, message: msg({ type: MessageType.App, from: 1, to: 2, term: 3 }) };
  const bytes = encodeBatch({ fromStore: 1, toStore: 2, messages: [m], heartbeats: [hb], heartbeatResps: [], livenessSeq: 7 });
  const env = raftpb.RaftBatchEnvelope.decode(bytes);
  assert.deepEqual([env.fromStore, env.toStore, env.liveness?.seq], [1, 2, 7]);
  assert.deepEqual(raftpb.RangeMessage.decode(env.messages[0]!).rangeId, 3);
  assert.deepEqual(raftpb.CoalescedHeartbeats.decode(env.heartbeats!).rangeIdDeltas, [9]);
  assert.equal(env.heartbeatResponses, null);
});

/** An encoded RangeMessage from hand-written fields (to hold what an encoder would not write). */
function rangeMessageBytes(rangeId: number, message: number[]): Uint8Array {
  return Uint8Array.from([0x08, rangeId, 0x12, message.length, ...message]);
}

const TOO_BIG = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]; // 2^53 as a varint

test('one bad message among good ones is refused alone: the good ones arrive, in order', () => {
  const good = (rangeId: number): Uint8Array => raftpb.RangeMessage.encode({ rangeId, message: msg({ type: MessageType.App, from: 1, to: 2, term: 3, index: rangeId }) }).finish();
  const bad: Array<[Uint8Array, number | null, RegExp]> = [
    [rangeMessageBytes(21, [0x08, 5, 0x20, ...TOO_BIG]), 21, /RaftBatch\.messages\[1\]: rangekv\.raft\.RangeMessage\.message\.term: uint64 9007199254740992 is over 2\^53 - 1/],
    [rangeMessageBytes(22, [0x08, 99]), 22, /message\.type: 99 is not a rangekv\.raft\.MessageType/],
    [rangeMessageBytes(23, [0x08, 5, 0x3a, 2, 0x18, 7]), 23, /message\.entries\[0\]\.type: 7 is not a rangekv\.raft\.EntryType/],
    [rangeMessageBytes(24, [0x08, 0]), 24, /unknown message type 0/],
    [good(25).subarray(0, 5), 25, /index out of range/],
    [Uint8Array.from([0x08, ...TOO_BIG]), null, /rangeId: uint64 9007199254740992/],
  ];
  for (const [b, rangeId, re] of bad) {
    const bytes = raftpb.RaftBatchEnvelope.encode({ fromStore: 3, toStore: 4, messages: [good(1), b, good(2)] }).finish();
    const d = decodeBatch(bytes);
    assert.deepEqual(d.msgs.map((m) => m.rangeId), [1, 2], String(re));
    assert.equal(d.rejects.length, 1);
    assert.equal(d.rejects[0]!.fromStore, 3);
    assert.equal(d.rejects[0]!.rangeId, rangeId, String(re));
    assert.match(d.rejects[0]!.reason, re);
  }
});

test('a corrupt coalesced section is refused whole; the other section and the ordinary messages arrive', () => {
  const resp = encodeHeartbeats([{ rangeId: 5, message: msg({ type: MessageType.HeartbeatResp, from: 2, to: 1, term: 3 }) }]);
  const app = raftpb.RangeMessage.encode({ rangeId: 8, message: msg({ type: MessageType.App, from: 1, to: 2, term: 3 }) }).finish();
  const sections: Array<[Uint8Array, RegExp]> = [
    [Uint8Array.from([0x0a, 1, 7, 0x12, 2, 0x1f, 0x1f]), /RaftBatch\.heartbeats: 1 range ids but 2 flags/],
    [Uint8Array.from([0x1a, 8, ...TOO_BIG]), /RaftBatch\.heartbeats: .*values: uint64 9007199254740992/],
    [Uint8Array.from([0x0a, 5, 1]), /RaftBatch\.heartbeats: .*index out of range/],
  ];
  for (const [section, re] of sections) {
    const bytes = raftpb.RaftBatchEnvelope.encode({
      fromStore: 1, toStore: 2, messages: [app], heartbeats: section,
      heartbeatResponses: raftpb.CoalescedHeartbeats.encode(resp).finish(),
    }).finish();
    const d = decodeBatch(bytes);
    assert.deepEqual(d.msgs.map((m) => [m.rangeId, m.msg.type]), [[5, MessageType.HeartbeatResp], [8, MessageType.App]]);
    assert.deepEqual([d.heartbeats, d.heartbeatResps], [0, 1]);
    assert.equal(d.rejects.length, 1);
    assert.equal(d.rejects[0]!.rangeId, null);
    assert.match(d.rejects[0]!.reason, re);
  }
});
