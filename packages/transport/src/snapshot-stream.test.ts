// The snapshot call's frames: round trips, the checker's order/addressing/size rules, and
// random or corrupted bytes only ever giving a SnapshotStreamError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, Prng, type Message } from '@rangekv/raft';
import { resolveSnapshotStreamLimits } from './snapshot-limits.js';
import {
  SnapshotFrameChecker, SnapshotStreamError, decodeSnapshotAck, decodeSnapshotFrame, encodeSnapshotAck,
  encodeSnapshotChunkFrame, encodeSnapshotStart, type SnapshotStartFrame,
} from './snapshot-stream.js';
import { msg } from './test-helpers.js';

const cs = { voters: [1, 2, 3], learners: [4], votersOutgoing: [], learnersNext: [], autoLeave: false };

function snapMsg(over: Partial<Message> = {}): Message {
  return msg({
    type: MessageType.Snap, from: 1, to: 2, term: 7, commit: 40,
    snapshot: { meta: { index: 42, term: 7, confState: cs }, data: new Uint8Array([9, 9, 9]) }, ...over,
  });
}

function start(over: Partial<SnapshotStartFrame> = {}): SnapshotStartFrame {
  return { fromStore: 1, toStore: 2, rangeId: 5, message: snapMsg(), header: new Uint8Array([1, 2, 3]), ...over };
}

const limits = resolveSnapshotStreamLimits({ maxSnapshotChunkBytes: 100, maxSnapshotHeaderBytes: 50, maxSnapshotBytes: 250 });

test('start and chunk frames round-trip; the start frame drops raft\'s snapshot data', () => {
  const f = decodeSnapshotFrame(encodeSnapshotStart(start()));
  assert.equal(f.kind, 'start');
  if (f.kind !== 'start') return;
  assert.deepEqual({ ...f.start, message: { ...f.start.message, snapshot: null } }, { ...start(), message: { ...snapMsg(), snapshot: null } });
  assert.deepEqual(f.start.message.snapshot!.meta, { index: 42, term: 7, confState: cs });
  assert.equal(f.start.message.snapshot!.data.length, 0, 'the build request never travels');
  const c = decodeSnapshotFrame(encodeSnapshotChunkFrame(new Uint8Array([5, 6, 7])));
  assert.deepEqual(c, { kind: 'chunk', chunk: new Uint8Array([5, 6, 7]) });
  assert.deepEqual(decodeSnapshotAck(encodeSnapshotAck(123_456)), { bytesReceived: 123_456 });
});

test('the checker wants one start first, addressed to this store, then chunks within the limits', () => {
  const code = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof SnapshotStreamError, String(e));
      return e.code;
    }
    return 'ok';
  };
  const chunk = (n: number): Buffer => encodeSnapshotChunkFrame(new Uint8Array(n).fill(1));
  assert.equal(code(() => new SnapshotFrameChecker(2, limits).accept(chunk(10))), 'invalid', 'chunk before start');
  assert.equal(code(() => new SnapshotFrameChecker(3, limits).accept(encodeSnapshotStart(start()))), 'refused', 'another store');
  assert.equal(code(() => new SnapshotFrameChecker(2, limits).accept(encodeSnapshotStart(start({ message: snapMsg({ type: MessageType.App }) })))), 'invalid');
  assert.equal(code(() => new SnapshotFrameChecker(2, limits).accept(encodeSnapshotStart(start({ message: snapMsg({ snapshot: null }) })))), 'invalid');
  assert.equal(code(() => new SnapshotFrameChecker(2, limits).accept(encodeSnapshotStart(start({ rangeId: 0 })))), 'invalid');
  assert.equal(code(() => new SnapshotFrameChecker(2, limits).accept(encodeSnapshotStart(start({ header: new Uint8Array(0) })))), 'invalid');
  assert.equal(code(() => new SnapshotFrameChecker(2, limits).accept(encodeSnapshotStart(start({ header: new Uint8Array(51) })))), 'too-large');
  const ck = new SnapshotFrameChecker(2, limits);
  assert.equal(ck.accept(encodeSnapshotStart(start())).kind, 'start');
  assert.equal(code(() => ck.accept(encodeSnapshotStart(start()))), 'invalid', 'second start');
  assert.equal(code(() => ck.accept(chunk(101))), 'too-large', 'chunk over maxSnapshotChunkBytes');
  ck.accept(chunk(100));
  ck.accept(chunk(100));
  assert.equal(code(() => ck.accept(chunk(51))), 'too-large', 'total over maxSnapshotBytes');
  ck.accept(chunk(50));
  assert.deepEqual({ chunks: ck.chunks, bytes: ck.bytes }, { chunks: 3, bytes: 250 });
  assert.equal(code(() => new SnapshotFrameChecker(2, limits).accept(Buffer.alloc(2000))), 'too-large', 'frame over every limit');
});

test('random bytes and bit flips only ever give a SnapshotStreamError', () => {
  const prng = new Prng(4242);
  const good = encodeSnapshotStart(start());
  for (let i = 0; i < 2000; i++) {
    let input: Uint8Array;
    if (i % 2 === 0) {
      input = new Uint8Array(prng.int(64));
      for (let j = 0; j < input.length; j++) input[j] = prng.int(256);
    } else {
      input = Uint8Array.from(good);
      input[prng.int(input.length)]! ^= 1 << prng.int(8);
    }
    try {
      new SnapshotFrameChecker(2, limits).accept(input);
    } catch (e) {
      assert.ok(e instanceof SnapshotStreamError, `input ${i}: ${String(e)}`);
    }
  }
});

test('snapshotIdleTimeoutMs is positive and at most snapshotTimeoutMs; unset, it follows a smaller snapshotTimeoutMs', () => {
  assert.equal(resolveSnapshotStreamLimits({}).snapshotIdleTimeoutMs, 10_000);
  assert.equal(resolveSnapshotStreamLimits({ snapshotTimeoutMs: 300 }).snapshotIdleTimeoutMs, 300);
  assert.equal(resolveSnapshotStreamLimits({ snapshotTimeoutMs: 300, snapshotIdleTimeoutMs: 300 }).snapshotIdleTimeoutMs, 300);
  assert.throws(() => resolveSnapshotStreamLimits({ snapshotTimeoutMs: 300, snapshotIdleTimeoutMs: 301 }), /snapshotIdleTimeoutMs 301 exceeds snapshotTimeoutMs 300/);
  assert.throws(() => resolveSnapshotStreamLimits({ snapshotIdleTimeoutMs: 0 }), /snapshotIdleTimeoutMs must be positive/);
});
