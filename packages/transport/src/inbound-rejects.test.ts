// A real receiving transport fed hand-made batches over a raw stream: a bad message is
// refused alone (counted, reported to onInboundReject, the rest of the batch and the
// stream carry on); only an envelope that does not decode fails the stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { MessageType } from '@rangekv/raft';
import { RAFT_TRANSPORT_STREAM_PATH, raftpb } from '@rangekv/proto';
import { Cluster, msg, waitFor } from './test-helpers.js';
import type { InboundReject } from './types.js';

function rangeMessage(rangeId: number, index: number): Uint8Array {
  return raftpb.RangeMessage.encode({ rangeId, message: msg({ type: MessageType.App, from: 1, to: 2, term: 3, index }) }).finish();
}

/** A RangeMessage for `rangeId` whose raft message has term 2^53 (it does not decode). */
function termTooBig(rangeId: number): Uint8Array {
  return Uint8Array.from([0x08, rangeId, 0x12, 11, 0x08, 5, 0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
}

test('a bad message is refused alone: counted, reported, the rest of its batch and later batches delivered', async () => {
  const c = new Cluster();
  const rejects: InboundReject[] = [];
  try {
    const b = await c.start(2);
    b.t.onInboundReject((r) => rejects.push(r));
    const raw = new grpc.Client(c.addrs.get(2)!, grpc.credentials.createInsecure());
    const call = raw.makeBidiStreamRequest(RAFT_TRANSPORT_STREAM_PATH, (x: Buffer) => x, (x: Buffer) => x);
    let status: grpc.StatusObject | null = null;
    call.on('status', (s: grpc.StatusObject) => (status = s));
    call.on('error', () => {});
    const batch = (messages: Uint8Array[]): Buffer =>
      Buffer.from(raftpb.RaftBatchEnvelope.encode({ fromStore: 1, toStore: 2, messages }).finish());

    call.write(batch([rangeMessage(7, 1), termTooBig(8), rangeMessage(9, 2)]));
    await waitFor(() => b.received().length === 2, 'the two good messages');
    assert.deepEqual(b.received().map((m) => [m.rangeId, m.msg.index]), [[7, 1], [9, 2]]);
    assert.equal(rejects.length, 1);
    assert.deepEqual({ fromStore: rejects[0]!.fromStore, rangeId: rejects[0]!.rangeId }, { fromStore: 1, rangeId: 8 });
    assert.match(rejects[0]!.reason, /^RaftBatch\.messages\[1\]: .*message\.term: uint64 9007199254740992 is over 2\^53 - 1/);

    call.write(batch([rangeMessage(7, 3)]));
    await waitFor(() => b.received().length === 3, 'the next batch on the same stream');
    let m = b.t.metrics();
    assert.deepEqual([m.inboundMessageRejects, m.inboundRejects, m.batchesReceived, m.inboundStreams], [1, 0, 2, 1]);

    // An envelope that does not decode fails the stream, as before.
    call.write(Buffer.from([0x0a, 0xff]));
    await waitFor(() => status !== null, 'stream failed');
    assert.equal(status!.code, grpc.status.INVALID_ARGUMENT);
    m = b.t.metrics();
    assert.deepEqual([m.inboundMessageRejects, m.inboundRejects], [1, 1]);
    raw.close();
  } finally {
    await c.stopAll();
  }
});
