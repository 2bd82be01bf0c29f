// Property and mutation fuzzing of what a peer can send (fast-check, fixed seed, small
// budget): RaftBatch envelopes, ordinary messages, coalesced heartbeat sections and
// snapshot stream frames. Random and mutated input only ever gives the typed errors
// (CodecError for a batch envelope, SnapshotStreamError for a snapshot frame), what
// decodes is valid raft input, and one bad message never costs the good ones around it.
//
// Another seed, or more runs: FUZZ_SEED=7 FUZZ_RUNS=2000 node --test packages/transport/dist/wire-fuzz.test.js
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MessageType, Prng, type Message } from '@rangekv/raft';
import { raftpb } from '@rangekv/proto';
import { decodeBatch, encodeBatch, type DecodedBatch } from './batch-codec.js';
import { CodecError } from './codec-error.js';
import { encodeHeartbeats } from './heartbeat-codec.js';
import { resolveSnapshotStreamLimits } from './snapshot-limits.js';
import {
  SnapshotFrameChecker, SnapshotStreamError, decodeSnapshotAck, encodeSnapshotChunkFrame, encodeSnapshotStart,
} from './snapshot-stream.js';
import { ALL_MESSAGE_TYPES, heartbeat, heartbeatResp, msg, randomMessage } from './test-helpers.js';
import type { OutboundMessage } from './types.js';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20240611);
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 1000);
const opts = { seed: SEED, numRuns: RUNS };

// ---- inputs ------------------------------------------------------------------------------

/** A raft message of any type with random fields (test-helpers' randomMessage). */
const messageArb: fc.Arbitrary<Message> = fc.tuple(fc.constantFrom(...ALL_MESSAGE_TYPES), fc.integer())
  .map(([type, seed]) => randomMessage(new Prng(seed), type));

const outboundArb: fc.Arbitrary<OutboundMessage> = fc.tuple(fc.integer({ min: 1, max: 2 ** 40 }), messageArb)
  .map(([rangeId, message]) => ({ rangeId, message }));

const heartbeatsArb = (resp: boolean): fc.Arbitrary<OutboundMessage[]> => fc.array(
  fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.nat(9), fc.nat(9), fc.nat(2 ** 30), fc.boolean()).map(([rangeId, from, to, n, quiesce]) => (
    resp
      ? { rangeId, message: heartbeatResp(from, to, n % 7, n) }
      : quiesce ? { rangeId, message: heartbeat(from, to, n % 7, n, n >> 3), quiesce: true as const } : { rangeId, message: heartbeat(from, to, n % 7, n, n >> 3) }
  )),
  { maxLength: 20 },
);

const batchArb: fc.Arbitrary<Uint8Array> = fc.record({
  messages: fc.array(outboundArb, { maxLength: 6 }),
  heartbeats: heartbeatsArb(false),
  heartbeatResps: heartbeatsArb(true),
  ping: fc.option(fc.nat(), { nil: undefined }),
}).map(({ messages, heartbeats, heartbeatResps, ping }) => encodeBatch({
  fromStore: 3, toStore: 4, messages, heartbeats, heartbeatResps, ...(ping !== undefined ? { livenessSeq: ping } : {}),
}));

interface Mutation {
  kind: 'flip' | 'cut' | 'extend' | 'insert';
  at: number;
  bit: number;
  byte: number;
}

const mutationsArb: fc.Arbitrary<Mutation[]> = fc.array(fc.record({
  kind: fc.constantFrom('flip', 'cut', 'extend', 'insert'),
  at: fc.nat(),
  bit: fc.nat(7),
  byte: fc.nat(255),
}), { minLength: 1, maxLength: 3 });

/** Bit flips, truncation, a varint made longer (continuation bit + one byte), a byte inserted. */
function mutate(input: Uint8Array, ms: ReadonlyArray<Mutation>): Buffer {
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
      case 'extend': b[i]! |= 0x80; b = Buffer.concat([b.subarray(0, i + 1), Buffer.from([m.byte]), b.subarray(i + 1)]); break;
      case 'insert': b = Buffer.concat([b.subarray(0, i), Buffer.from([m.byte]), b.subarray(i)]); break;
    }
  }
  return b;
}

function varint(v: bigint): number[] {
  const out: number[] = [];
  for (; v >= 0x80n; v >>= 7n) out.push(Number(v & 0x7fn) | 0x80);
  out.push(Number(v));
  return out;
}

const lenField = (id: number, body: number[]): number[] => [(id << 3) | 2, ...varint(BigInt(body.length)), ...body];

/** Encoded RangeMessages that can never be accepted, each with the range id a receiver
 *  can still name (null: none). */
const badMessageArb: fc.Arbitrary<{ bytes: Uint8Array; rangeId: number | null }> = fc.oneof(
  // A uint64 field of the raft message (to, from, term, log_term, index, commit, reject_hint) at 2^53 or more.
  fc.tuple(fc.nat(200), fc.constantFrom(2, 3, 4, 5, 6, 8, 10), fc.bigInt(2n ** 53n, 2n ** 64n - 1n)).map(([r, field, v]) => ({
    bytes: Uint8Array.from([0x08, ...varint(BigInt(r + 1)), ...lenField(2, [0x08, 5, field << 3, ...varint(v)])]), rangeId: r + 1,
  })),
  // A message type raft does not have (0, or beyond the enum).
  fc.tuple(fc.nat(200), fc.oneof(fc.constant(0), fc.integer({ min: 14, max: 2 ** 31 - 1 }))).map(([r, t]) => ({
    bytes: Uint8Array.from([0x08, ...varint(BigInt(r + 1)), ...lenField(2, [0x08, ...varint(BigInt(t))])]), rangeId: r + 1,
  })),
  // An entry type beyond the enum.
  fc.tuple(fc.nat(200), fc.integer({ min: 2, max: 2 ** 31 - 1 })).map(([r, t]) => ({
    bytes: Uint8Array.from([0x08, ...varint(BigInt(r + 1)), ...lenField(2, [0x08, 5, ...lenField(7, [0x18, ...varint(BigInt(t))])])]), rangeId: r + 1,
  })),
  // A good message cut short (no quiesce field, so every cut loses part of the message).
  fc.tuple(outboundArb, fc.nat()).map(([m, at]) => {
    const full = raftpb.RangeMessage.encode({ rangeId: m.rangeId, message: m.message }).finish();
    return { bytes: full.subarray(0, at % full.length), rangeId: null };
  }),
  // The range id itself beyond 2^53.
  fc.bigInt(2n ** 53n, 2n ** 64n - 1n).map((v) => ({ bytes: Uint8Array.from([0x08, ...varint(v), ...lenField(2, [0x08, 5])]), rangeId: null })),
);

// ---- what decoded input must be -----------------------------------------------------------

const RAFT_TYPES = new Set<number>(ALL_MESSAGE_TYPES);
const safe = (v: number): boolean => Number.isSafeInteger(v) && v >= 0;

function assertValid(d: DecodedBatch): void {
  for (const { rangeId, msg: m, quiesce } of d.msgs) {
    assert.ok(safe(rangeId), `range id ${rangeId}`);
    assert.ok(RAFT_TYPES.has(m.type), `type ${m.type}`);
    for (const v of [m.to, m.from, m.term, m.logTerm, m.index, m.commit, m.rejectHint]) assert.ok(safe(v), `number ${v}`);
    for (const e of m.entries) assert.ok(safe(e.term) && safe(e.index) && (e.type === 0 || e.type === 1), 'entry');
    if (m.snapshot) assert.ok(safe(m.snapshot.meta.index) && safe(m.snapshot.meta.term), 'snapshot meta');
    if (quiesce) assert.equal(m.type, MessageType.Heartbeat, 'quiesce only on a heartbeat');
  }
  for (const r of d.rejects) {
    assert.ok(r.rangeId === null || safe(r.rangeId));
    assert.ok(r.reason.length > 0);
  }
}

function decodesOrCodecError(b: Uint8Array): DecodedBatch | null {
  try {
    const d = decodeBatch(b);
    assertValid(d);
    return d;
  } catch (e) {
    if (e instanceof CodecError) return null;
    throw e;
  }
}

// ---- the properties ------------------------------------------------------------------------

test('random bytes as a RaftBatch: valid messages or a CodecError, nothing else', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), (b) => void decodesOrCodecError(b)), opts);
});

test('mutated RaftBatches: valid messages (bad ones refused alone) or a CodecError, nothing else', () => {
  fc.assert(fc.property(batchArb, mutationsArb, (b, ms) => void decodesOrCodecError(mutate(b, ms))), opts);
});

test('one bad message among good ones is refused alone; the good ones arrive, in order', () => {
  fc.assert(fc.property(fc.array(outboundArb, { maxLength: 5 }), badMessageArb, fc.nat(), (good, bad, at) => {
    const encoded = good.map((m) => raftpb.RangeMessage.encode(m).finish());
    const pos = at % (good.length + 1);
    encoded.splice(pos, 0, bad.bytes);
    const d = decodeBatch(raftpb.RaftBatchEnvelope.encode({ fromStore: 3, toStore: 4, messages: encoded }).finish());
    assertValid(d);
    assert.deepEqual(d.msgs, good.map((m) => ({ rangeId: m.rangeId, msg: m.message })));
    assert.equal(d.rejects.length, 1);
    assert.match(d.rejects[0]!.reason, new RegExp(`^RaftBatch\\.messages\\[${pos}\\]`));
    if (bad.rangeId !== null) assert.equal(d.rejects[0]!.rangeId, bad.rangeId);
  }), opts);
});

test('random and mutated coalesced sections are decoded or refused, never the batch around them', () => {
  const app = raftpb.RangeMessage.encode({ rangeId: 77, message: msg({ type: MessageType.App, from: 1, to: 2, term: 3 }) }).finish();
  const sectionArb = fc.oneof(
    fc.uint8Array({ maxLength: 60 }),
    fc.tuple(heartbeatsArb(false), mutationsArb).map(([hbs, ms]) =>
      mutate(raftpb.CoalescedHeartbeats.encode(encodeHeartbeats(hbs)).finish(), ms)),
  );
  fc.assert(fc.property(sectionArb, fc.boolean(), (section, asResponses) => {
    const d = decodeBatch(raftpb.RaftBatchEnvelope.encode({
      fromStore: 3, toStore: 4, messages: [app], ...(asResponses ? { heartbeatResponses: section } : { heartbeats: section }),
    }).finish());
    assertValid(d);
    const coalesced = d.heartbeats + d.heartbeatResps;
    assert.deepEqual(d.msgs.slice(coalesced).map((m) => m.rangeId), [77], 'the ordinary message arrives');
    const want = asResponses ? MessageType.HeartbeatResp : MessageType.Heartbeat;
    for (const m of d.msgs.slice(0, coalesced)) assert.equal(m.msg.type, want);
  }), opts);
});

test('random and mutated snapshot frames give a frame or a SnapshotStreamError, nothing else', () => {
  const limits = resolveSnapshotStreamLimits({ maxSnapshotChunkBytes: 4096, maxSnapshotHeaderBytes: 256, maxSnapshotBytes: 1 << 20 });
  const snap = msg({
    type: MessageType.Snap, from: 1, to: 2, term: 7,
    snapshot: { meta: { index: 42, term: 7, confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(0) },
  });
  const frameArb = fc.oneof(
    fc.record({ rangeId: fc.integer({ min: 1, max: 2 ** 40 }), header: fc.uint8Array({ minLength: 1, maxLength: 40 }) })
      .map(({ rangeId, header }) => encodeSnapshotStart({ fromStore: 1, toStore: 2, rangeId, message: snap, header })),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((c) => encodeSnapshotChunkFrame(c)),
  );
  const inputArb = fc.oneof(fc.uint8Array({ maxLength: 120 }), fc.tuple(frameArb, mutationsArb).map(([f, ms]) => mutate(f, ms)));
  fc.assert(fc.property(fc.array(inputArb, { minLength: 1, maxLength: 3 }), (frames) => {
    const checker = new SnapshotFrameChecker(2, limits);
    for (const f of frames) {
      try {
        const got = checker.accept(f);
        if (got.kind === 'start') assert.ok(safe(got.start.rangeId) && got.start.message.type === MessageType.Snap);
      } catch (e) {
        assert.ok(e instanceof SnapshotStreamError, `not a SnapshotStreamError: ${String(e)}`);
        return;
      }
    }
  }), opts);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 20 }), (b) => {
    try {
      assert.ok(safe(decodeSnapshotAck(b).bytesReceived));
    } catch (e) {
      assert.ok(e instanceof SnapshotStreamError, `not a SnapshotStreamError: ${String(e)}`);
    }
  }), opts);
});
