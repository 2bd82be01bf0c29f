// RaftTransport.Snapshot between two real transports on 127.0.0.1: delivery in order with
// an ack, the store's refusal reaching the sender as 'refused', both concurrency limits,
// oversized input, the per-snapshot and idle timeouts, receive slots freed at once on
// failure, faults, and clean-up (sink aborted) on failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { RAFT_TRANSPORT_SNAPSHOT_PATH } from '@rangekv/proto';
import { MessageType, type Message } from '@rangekv/raft';
import { TransportFaults } from './faults.js';
import type { SnapshotReceiveHandler, SnapshotSink } from './snapshot-inbound.js';
import type { SnapshotStreamLimits } from './snapshot-limits.js';
import type { OutboundSnapshot } from './snapshot-outbound.js';
import { SnapshotStreamError, encodeSnapshotStart, type SnapshotStartFrame } from './snapshot-stream.js';
import { RaftTransport } from './transport.js';
import { msg, sleep, waitFor } from './test-helpers.js';

const cs = { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const snapMsg: Message = msg({
  type: MessageType.Snap, from: 1, to: 2, term: 3, snapshot: { meta: { index: 10, term: 3, confState: cs }, data: new Uint8Array(0) },
});

interface Recorded {
  starts: SnapshotStartFrame[];
  chunks: Uint8Array[][];
  finished: number;
  aborted: string[];
}

function recordingHandler(rec: Recorded, opts: { refuse?: string; chunkDelayMs?: number } = {}): SnapshotReceiveHandler {
  return async (start) => {
    if (opts.refuse) throw new SnapshotStreamError('refused', opts.refuse);
    rec.starts.push(start);
    const mine: Uint8Array[] = [];
    rec.chunks.push(mine);
    const sink: SnapshotSink = {
      addChunk: async (c) => {
        if (opts.chunkDelayMs) await sleep(opts.chunkDelayMs);
        mine.push(c);
      },
      finish: async () => {
        rec.finished++;
      },
      abort: async (reason) => {
        rec.aborted.push(reason);
      },
    };
    return sink;
  };
}

function snapshotOf(chunks: Uint8Array[], toStore = 2): OutboundSnapshot {
  let i = 0;
  return { toStore, rangeId: 7, message: snapMsg, header: new Uint8Array([1, 2, 3]), nextChunk: () => chunks[i++] ?? null };
}

async function pair(
  rx: SnapshotReceiveHandler, limits: Partial<SnapshotStreamLimits> = {}, faults?: TransportFaults,
): Promise<{ a: RaftTransport; b: RaftTransport; stop: () => Promise<void> }> {
  const addrs = new Map<number, string>();
  const common = { resolve: (s: number) => addrs.get(s), snapshotLimits: limits, ...(faults ? { faults } : {}) };
  const a = await RaftTransport.start({ storeId: 1, ...common }, () => {});
  const b = await RaftTransport.start({ storeId: 2, ...common, onSnapshot: rx }, () => {});
  addrs.set(1, `127.0.0.1:${a.port}`);
  addrs.set(2, `127.0.0.1:${b.port}`);
  return { a, b, stop: async () => { await Promise.all([a.stop(), b.stop()]); } };
}

const fresh = (): Recorded => ({ starts: [], chunks: [], finished: 0, aborted: [] });

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof SnapshotStreamError, String(e));
    return e.code;
  }
}

test('a snapshot arrives whole and in order, then the sender gets the ack', async () => {
  const rec = fresh();
  const { a, stop } = await pair(recordingHandler(rec, { chunkDelayMs: 1 }));
  try {
    const chunks = Array.from({ length: 50 }, (_, i) => new Uint8Array(1000).fill(i));
    const res = await a.sendSnapshot(snapshotOf(chunks));
    assert.deepEqual(res, { chunks: 50, bytes: 50_000 });
    assert.equal(rec.starts.length, 1);
    assert.deepEqual({ ...rec.starts[0]!, message: null }, { fromStore: 1, toStore: 2, rangeId: 7, message: null, header: new Uint8Array([1, 2, 3]) });
    assert.equal(rec.starts[0]!.message.snapshot!.meta.index, 10);
    assert.deepEqual(rec.chunks[0], chunks);
    assert.equal(rec.finished, 1);
    assert.deepEqual(rec.aborted, []);
  } finally {
    await stop();
  }
});

test('the receiving store\'s refusal reaches the sender as refused; no handler refuses too', async () => {
  const { a, stop } = await pair(recordingHandler(fresh(), { refuse: 'overlaps range 3' }));
  try {
    await assert.rejects(a.sendSnapshot(snapshotOf([new Uint8Array(10)])), (e: unknown) =>
      e instanceof SnapshotStreamError && e.code === 'refused' && e.message.includes('overlaps range 3'));
  } finally {
    await stop();
  }
  const addrs = new Map<number, string>();
  const a2 = await RaftTransport.start({ storeId: 1, resolve: (s) => addrs.get(s) }, () => {});
  const b2 = await RaftTransport.start({ storeId: 2, resolve: (s) => addrs.get(s) }, () => {});
  addrs.set(2, `127.0.0.1:${b2.port}`);
  try {
    assert.equal(await codeOf(a2.sendSnapshot(snapshotOf([new Uint8Array(10)]))), 'refused');
  } finally {
    await Promise.all([a2.stop(), b2.stop()]);
  }
});

test('oversized chunks and totals are refused and the sink is aborted', async () => {
  const rec = fresh();
  const { a, stop } = await pair(recordingHandler(rec), { maxSnapshotChunkBytes: 1000, maxSnapshotBytes: 2500 });
  try {
    assert.equal(await codeOf(a.sendSnapshot(snapshotOf([new Uint8Array(1001)]))), 'too-large');
    assert.equal(await codeOf(a.sendSnapshot(snapshotOf([new Uint8Array(1000), new Uint8Array(1000), new Uint8Array(1000)]))), 'too-large');
    await waitFor(() => rec.aborted.length === 2, 'both sinks aborted');
    assert.equal(rec.finished, 0);
    assert.equal(await codeOf(a.sendSnapshot(snapshotOf([]))), 'invalid', 'a source with no chunk');
  } finally {
    await stop();
  }
});

test('maxConcurrentSnapshotSends and maxConcurrentSnapshotReceives bound the calls in flight', async () => {
  const rec = fresh();
  const { a, b, stop } = await pair(recordingHandler(rec, { chunkDelayMs: 30 }), { maxConcurrentSnapshotSends: 2, maxConcurrentSnapshotReceives: 1 });
  try {
    const chunks = (): Uint8Array[] => Array.from({ length: 5 }, () => new Uint8Array(100));
    const first = a.sendSnapshot(snapshotOf(chunks()));
    await waitFor(() => b.snapshotsInFlight.receiving === 1, 'first being received');
    const second = a.sendSnapshot(snapshotOf(chunks()));
    assert.equal(await codeOf(a.sendSnapshot(snapshotOf(chunks()))), 'busy', 'a third send is refused at the sender');
    assert.equal(await codeOf(second), 'too-large', 'the receiver refused the second (RESOURCE_EXHAUSTED)');
    assert.equal(await codeOf(first), 'ok');
    assert.deepEqual(a.snapshotsInFlight, { sending: 0, receiving: 0 });
    await waitFor(() => b.snapshotsInFlight.receiving === 0, 'receiver idle');
  } finally {
    await stop();
  }
});

test('a snapshot not finished within snapshotTimeoutMs fails on both ends and its sink is aborted', async () => {
  const rec = fresh();
  const { a, stop } = await pair(recordingHandler(rec, { chunkDelayMs: 200 }), { snapshotTimeoutMs: 300 });
  try {
    const code = await codeOf(a.sendSnapshot(snapshotOf(Array.from({ length: 10 }, () => new Uint8Array(10)))));
    assert.ok(code === 'timeout' || code === 'unavailable', code);
    await waitFor(() => rec.aborted.length === 1, 'sink aborted');
    assert.equal(rec.finished, 0);
  } finally {
    await stop();
  }
});

test('partitions and inbound blocks (all stores or one source) fail snapshots as unavailable; unknown stores too', async () => {
  const faults = new TransportFaults(3);
  const rec = fresh();
  const { a, stop } = await pair(recordingHandler(rec), {}, faults);
  try {
    faults.partition(1, 2);
    assert.equal(await codeOf(a.sendSnapshot(snapshotOf([new Uint8Array(5)]))), 'unavailable');
    faults.heal();
    faults.blockInbound(2);
    assert.equal(await codeOf(a.sendSnapshot(snapshotOf([new Uint8Array(5)]))), 'unavailable');
    faults.reset();
    faults.blockInboundFrom(2, 1);
    assert.equal(await codeOf(a.sendSnapshot(snapshotOf([new Uint8Array(5)]))), 'unavailable');
    faults.reset();
    assert.equal(await codeOf(a.sendSnapshot(snapshotOf([new Uint8Array(5)], 9))), 'unavailable');
    assert.equal(await codeOf(a.sendSnapshot(snapshotOf([new Uint8Array(5)]))), 'ok');
    assert.equal(rec.starts.length, 1);
  } finally {
    await stop();
  }
});

test('stopping the receiver mid-snapshot fails the send and aborts the sink', async () => {
  const rec = fresh();
  const { a, b, stop } = await pair(recordingHandler(rec, { chunkDelayMs: 50 }));
  try {
    const outcome = codeOf(a.sendSnapshot(snapshotOf(Array.from({ length: 20 }, () => new Uint8Array(10)))));
    await waitFor(() => rec.chunks.length === 1 && rec.chunks[0]!.length > 0, 'some chunks arrived');
    await b.stop();
    assert.equal(await outcome, 'unavailable');
    await waitFor(() => rec.aborted.length === 1, 'sink aborted');
  } finally {
    await stop();
  }
});

/** A snapshot call opened by hand that sends `frames` and then goes quiet. */
function quietCall(address: string, frames: Buffer[]): { status: Promise<grpc.ServiceError | null>; close: () => void } {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  let call: grpc.ClientWritableStream<Buffer> | null = null;
  const status = new Promise<grpc.ServiceError | null>((resolve) => {
    call = client.makeClientStreamRequest(RAFT_TRANSPORT_SNAPSHOT_PATH, (b: Buffer) => b, (b: Buffer) => b, (err) => resolve(err));
  });
  for (const f of frames) call!.write(f);
  return { status, close: () => client.close() };
}

test('calls that go quiet hold their receive slots only for snapshotIdleTimeoutMs; then a real snapshot is accepted', async () => {
  const rec = fresh();
  const { a, b, stop } = await pair(recordingHandler(rec), { maxConcurrentSnapshotReceives: 2, snapshotIdleTimeoutMs: 150 });
  const address = `127.0.0.1:${b.port}`;
  // One sends nothing at all, one only its start frame.
  const silent = quietCall(address, []);
  const started = quietCall(address, [encodeSnapshotStart({ fromStore: 1, toStore: 2, rangeId: 7, message: snapMsg, header: new Uint8Array([1]) })]);
  try {
    await waitFor(() => b.snapshotsInFlight.receiving === 2 && rec.starts.length === 1, 'both slots held');
    assert.equal(await codeOf(a.sendSnapshot(snapshotOf([new Uint8Array(10)]))), 'too-large', 'RESOURCE_EXHAUSTED while both are held');
    for (const c of [silent, started]) {
      const err = await c.status;
      assert.equal(err?.code, grpc.status.DEADLINE_EXCEEDED);
      assert.match(err.details, /no snapshot frame for snapshotIdleTimeoutMs 150/);
    }
    assert.equal(b.snapshotsInFlight.receiving, 0, 'both slots free once the calls are answered');
    await waitFor(() => rec.aborted.length === 1, 'the quiet started snapshot\'s sink aborted');
    assert.deepEqual(await a.sendSnapshot(snapshotOf([new Uint8Array(10)])), { chunks: 1, bytes: 10 });
  } finally {
    silent.close();
    started.close();
    await stop();
  }
});

test('a failed call frees its slot at once, while its sink is still cleaning up', async () => {
  let finishAbort: () => void = () => {};
  const abortsPending: string[] = [];
  const rec = fresh();
  const inner = recordingHandler(rec);
  const slowAbort: SnapshotReceiveHandler = async (start) => {
    const sink = await inner(start);
    return {
      ...sink,
      abort: (reason) => {
        abortsPending.push(reason);
        return new Promise<void>((r) => (finishAbort = r));
      },
    };
  };
  const { a, b, stop } = await pair(slowAbort, { maxConcurrentSnapshotReceives: 1, maxSnapshotChunkBytes: 100 });
  try {
    assert.equal(await codeOf(a.sendSnapshot(snapshotOf([new Uint8Array(101)]))), 'too-large');
    assert.equal(abortsPending.length, 1, 'the sink is being aborted');
    assert.equal(b.snapshotsInFlight.receiving, 0, 'and the slot is free already');
    assert.deepEqual(await a.sendSnapshot(snapshotOf([new Uint8Array(100)])), { chunks: 1, bytes: 100 });
  } finally {
    finishAbort();
    await stop();
  }
});

test('the idle clock stops while the store writes a chunk: a sink slower than snapshotIdleTimeoutMs is not a quiet sender', async () => {
  let release: () => void = () => {};
  const writing = new Promise<void>((r) => (release = r));
  const rec = fresh();
  const inner = recordingHandler(rec);
  const slowSink: SnapshotReceiveHandler = async (start) => {
    const sink = await inner(start);
    return { ...sink, addChunk: async (c) => { await writing; await sink.addChunk(c); } };
  };
  const { a, stop } = await pair(slowSink, { snapshotIdleTimeoutMs: 50 });
  try {
    const sent = a.sendSnapshot(snapshotOf([new Uint8Array(10), new Uint8Array(20)]));
    await waitFor(() => rec.starts.length === 1, 'start frame received');
    await sleep(300); // the first chunk's write outlasts the idle timeout several times
    release();
    assert.deepEqual(await sent, { chunks: 2, bytes: 30 });
    assert.deepEqual(rec.aborted, []);
  } finally {
    await stop();
  }
});
