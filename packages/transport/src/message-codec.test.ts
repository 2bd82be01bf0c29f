import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, Prng, messageTypeName, type Message } from '@rangekv/raft';
import { raftpb } from '@rangekv/proto';
import { decodeBatch, encodeBatch } from './batch-codec.js';
import { CodecError } from './codec-error.js';
import { estimateMessageBytes, toRaftMessage } from './message-codec.js';
import { ALL_MESSAGE_TYPES, msg, randomMessage } from './test-helpers.js';

function roundTrip(messages: Message[]): Message[] {
  const bytes = encodeBatch({
    fromStore: 1, toStore: 2, heartbeats: [], heartbeatResps: [],
    messages: messages.map((m, i) => ({ rangeId: i + 1, message: m })),
  });
  const d = decodeBatch(bytes);
  assert.equal(d.fromStore, 1);
  assert.equal(d.toStore, 2);
  assert.deepEqual(d.msgs.map((x) => x.rangeId), messages.map((_, i) => i + 1));
  return d.msgs.map((x) => x.msg);
}

test('every raft message type round-trips with all the fields it can carry', () => {
  const prng = new Prng(7);
  for (const type of ALL_MESSAGE_TYPES) {
    for (let i = 0; i < 20; i++) {
      const m = randomMessage(prng, type);
      assert.deepEqual(roundTrip([m]), [m], `${messageTypeName(type)} #${i}`);
    }
  }
});

test('entries, snapshot and context survive a batch of mixed messages in order', () => {
  const prng = new Prng(11);
  const ms: Message[] = [];
  for (let i = 0; i < 200; i++) ms.push(randomMessage(prng, ALL_MESSAGE_TYPES[prng.int(ALL_MESSAGE_TYPES.length)]!));
  assert.deepEqual(roundTrip(ms), ms);
});

test('null context, empty context and non-empty context stay distinct', () => {
  const base = { type: MessageType.ReadIndex, from: 1, to: 2, term: 3 } as const;
  const out = roundTrip([
    msg({ ...base, context: null }),
    msg({ ...base, context: new Uint8Array(0) }),
    msg({ ...base, context: new Uint8Array([9, 8]) }),
  ]);
  assert.equal(out[0]!.context, null);
  assert.deepEqual(out[1]!.context, new Uint8Array(0));
  assert.deepEqual(out[2]!.context, new Uint8Array([9, 8]));
});

test('numbers up to 2^53 - 1 survive; the snapshot with an empty configuration too', () => {
  const big = Number.MAX_SAFE_INTEGER;
  const m = msg({
    type: MessageType.Snap, from: big, to: 1, term: big, logTerm: big - 1, index: 2 ** 32 + 1, commit: 2 ** 40,
    snapshot: { meta: { index: big, term: 0, confState: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(0) },
  });
  assert.deepEqual(roundTrip([m]), [m]);
});

test('decoded byte fields are copies: reusing the receive buffer does not change them', () => {
  const m = msg({ type: MessageType.App, entries: [{ term: 1, index: 2, type: 0, data: new Uint8Array([1, 2, 3]) }], context: new Uint8Array([4]) });
  const bytes = encodeBatch({ fromStore: 1, toStore: 2, messages: [{ rangeId: 1, message: m }], heartbeats: [], heartbeatResps: [] });
  const d = decodeBatch(bytes);
  bytes.fill(0);
  assert.deepEqual(d.msgs[0]!.msg.entries[0]!.data, new Uint8Array([1, 2, 3]));
  assert.deepEqual(d.msgs[0]!.msg.context, new Uint8Array([4]));
  assert.equal(Object.getPrototypeOf(d.msgs[0]!.msg.entries[0]!.data), Uint8Array.prototype);
});

test('an unknown message type refuses the message, naming it', () => {
  const bytes = raftpb.RaftBatch.encode({ fromStore: 1, toStore: 2, messages: [{ rangeId: 5, message: { type: 99 as raftpb.MessageType, term: 1 } }] }).finish();
  assert.match(decodeBatch(bytes).rejects[0]!.reason, /messages\[0\]: .*message\.type: 99 is not a rangekv\.raft\.MessageType/);
  const zero = raftpb.RaftBatch.encode({ fromStore: 1, toStore: 2, messages: [{ rangeId: 5, message: { term: 1 } }] }).finish();
  assert.match(decodeBatch(zero).rejects[0]!.reason, /messages\[0\]: unknown message type 0/);
});

test('an unknown entry type is a CodecError; a number beyond 2^53 refuses its message', () => {
  assert.throws(() => toRaftMessage({ type: MessageType.App, entries: [{ type: 7 as raftpb.EntryType }] }, 'm'), (e: unknown) =>
    e instanceof CodecError && /m\.entries\[0\]: unknown entry type 7/.test(e.message));
  const bytes = raftpb.RaftBatch.encode({ fromStore: 1, toStore: 2, messages: [{ rangeId: 5, message: { type: MessageType.App, term: 2 ** 60 } }] }).finish();
  const d = decodeBatch(bytes);
  assert.deepEqual(d.msgs, []);
  assert.deepEqual({ rangeId: d.rejects[0]!.rangeId }, { rangeId: 5 });
  assert.match(d.rejects[0]!.reason, /message\.term: uint64 1152921504606846976 is over 2\^53 - 1/);
});

test('the size estimate is an upper bound of the encoded size', () => {
  const prng = new Prng(3);
  for (let i = 0; i < 300; i++) {
    const m = randomMessage(prng, ALL_MESSAGE_TYPES[prng.int(ALL_MESSAGE_TYPES.length)]!);
    const encoded = raftpb.RaftBatch.encode({ messages: [{ rangeId: Number.MAX_SAFE_INTEGER, message: m }] }).finish().length;
    assert.ok(estimateMessageBytes(m) >= encoded, `estimate ${estimateMessageBytes(m)} < ${encoded}`);
  }
});
