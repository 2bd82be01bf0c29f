import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, Prng, type Message } from '@rangekv/raft';
import { raftpb } from '@rangekv/proto';
import { decodeBatch, encodeBatch } from './batch-codec.js';
import { CodecError } from './codec-error.js';
import { decodeHeartbeats, encodeHeartbeats, isCoalescible } from './heartbeat-codec.js';
import { heartbeat, heartbeatResp, msg } from './test-helpers.js';
import type { InboundReject, OutboundMessage, RangeMessage } from './types.js';

function stableByRange(items: OutboundMessage[]): RangeMessage[] {
  return items.map((x, i) => ({ x, i }))
    .sort((a, b) => a.x.rangeId - b.x.rangeId || a.i - b.i)
    .map(({ x }) => (x.quiesce ? { rangeId: x.rangeId, msg: x.message, quiesce: true } : { rangeId: x.rangeId, msg: x.message }));
}

function randomHeartbeats(prng: Prng, n: number, resp: boolean): OutboundMessage[] {
  const out: OutboundMessage[] = [];
  const term = 1 + prng.int(5);
  for (let i = 0; i < n; i++) {
    // Few distinct range ids so duplicates are common; fields often equal to the
    // previous heartbeat's, sometimes not.
    const rangeId = 1 + prng.int(Math.max(1, n));
    const from = prng.chance(0.7) ? 1 : 1 + prng.int(1000);
    const to = prng.chance(0.7) ? 2 : 1 + prng.int(1000);
    const t = prng.chance(0.9) ? term : term + prng.int(3);
    const stamp = prng.chance(0.8) ? 500 : prng.int(2 ** 40);
    const ctx = prng.chance(0.2) ? new Uint8Array(prng.int(9)).map(() => prng.int(256)) : null;
    const m = resp ? heartbeatResp(from, to, t, stamp, ctx) : heartbeat(from, to, t, prng.int(3) === 0 ? 0 : prng.int(100_000), stamp, ctx);
    out.push(!resp && prng.chance(0.3) ? { rangeId, message: m, quiesce: true } : { rangeId, message: m });
  }
  return out;
}

test('coalesced heartbeats decode equal to the input, stably sorted by range id (random sets, duplicates, contexts, quiesce flags)', () => {
  const prng = new Prng(42);
  for (let round = 0; round < 200; round++) {
    const resp = prng.chance(0.5);
    const items = randomHeartbeats(prng, prng.int(60), resp);
    const expected = stableByRange(items);
    const section = raftpb.CoalescedHeartbeats.decode(raftpb.CoalescedHeartbeats.encode(encodeHeartbeats([...items])).finish());
    const out: RangeMessage[] = [];
    const rejects: InboundReject[] = [];
    const n = decodeHeartbeats(section, resp ? MessageType.HeartbeatResp : MessageType.Heartbeat, out, 'hb', rejects, 1);
    assert.equal(n, items.length);
    assert.deepEqual(out, expected, `round ${round}`);
    assert.deepEqual(rejects, []);
  }
});

test('the worked example in raft.proto encodes exactly as documented', () => {
  const pb = encodeHeartbeats([
    { rangeId: 9, message: heartbeat(4, 5, 5, 40, 12) },
    { rangeId: 7, message: heartbeat(1, 2, 5, 100, 12) },
  ]);
  assert.deepEqual(pb.rangeIdDeltas, [7, 2]);
  assert.deepEqual(pb.flags, new Uint8Array([0x1f, 0x0b]));
  assert.deepEqual(pb.values, [1, 2, 5, 100, 12, 4, 5, 40]);
  assert.deepEqual(pb.contexts, []);
});

test('a heartbeat equal to the previous one costs two bytes: a range id delta and a flags byte', () => {
  const items: OutboundMessage[] = [];
  for (let r = 1; r <= 1000; r++) items.push({ rangeId: r, message: heartbeat(1, 2, 7, 0, 99) });
  const one = raftpb.CoalescedHeartbeats.encode(encodeHeartbeats(items.slice(0, 1))).finish().length;
  const all = raftpb.CoalescedHeartbeats.encode(encodeHeartbeats(items)).finish().length;
  assert.ok(all - one <= 999 * 2 + 8, `1000 heartbeats took ${all} bytes (1 took ${one})`);
});

test('both coalesced sections ride in one batch and expand before the ordinary messages', () => {
  const app = msg({ type: MessageType.App, from: 1, to: 2, term: 3, index: 4 });
  const bytes = encodeBatch({
    fromStore: 1, toStore: 2,
    messages: [{ rangeId: 3, message: app }],
    heartbeats: [{ rangeId: 5, message: heartbeat(1, 2, 3, 4, 5) }, { rangeId: 2, message: heartbeat(1, 2, 3, 4, 5) }],
    heartbeatResps: [{ rangeId: 8, message: heartbeatResp(2, 1, 3, 5) }],
  });
  const d = decodeBatch(bytes);
  assert.equal(d.heartbeats, 2);
  assert.equal(d.heartbeatResps, 1);
  assert.deepEqual(d.msgs.map((m) => [m.rangeId, m.msg.type]), [
    [2, MessageType.Heartbeat], [5, MessageType.Heartbeat], [8, MessageType.HeartbeatResp], [3, MessageType.App],
  ]);
});

test('only plain heartbeats are coalescible; one with any other field set travels as is', () => {
  assert.equal(isCoalescible(heartbeat(1, 2, 3, 4, 5, new Uint8Array([1]))), true);
  assert.equal(isCoalescible(heartbeatResp(1, 2, 3, 4)), true);
  const odd: Message[] = [
    msg({ type: MessageType.Heartbeat, logTerm: 1 }),
    msg({ type: MessageType.HeartbeatResp, reject: true }),
    msg({ type: MessageType.Heartbeat, rejectHint: 2 }),
    msg({ type: MessageType.Heartbeat, transfer: true }),
    msg({ type: MessageType.App }),
  ];
  for (const m of odd) assert.equal(isCoalescible(m), false);
});

function section(p: raftpb.CoalescedHeartbeats.$Properties): raftpb.CoalescedHeartbeats.$Properties {
  return raftpb.CoalescedHeartbeats.decode(raftpb.CoalescedHeartbeats.encode(p).finish());
}

test('a section whose counts disagree is a CodecError that says what is wrong, and nothing of it is appended', () => {
  const cases: Array<[raftpb.CoalescedHeartbeats.$Properties, RegExp]> = [
    [{ rangeIdDeltas: [1, 1], flags: new Uint8Array([0]) }, /2 range ids but 1 flags/],
    [{ rangeIdDeltas: [1], flags: new Uint8Array([0x01]) }, /flags carry 1 values, the section has 0/],
    [{ rangeIdDeltas: [1, 1], flags: new Uint8Array([0, 0x01]), values: [3, 4] }, /flags carry 1 values, the section has 2/],
    [{ rangeIdDeltas: [1], flags: new Uint8Array([0x20]) }, /flags carry 1 contexts, the section has 0/],
    [{ rangeIdDeltas: [1], flags: new Uint8Array([0]), contexts: [new Uint8Array(1)] }, /flags carry 0 contexts, the section has 1/],
  ];
  for (const [p, re] of cases) {
    const out: RangeMessage[] = [];
    assert.throws(() => decodeHeartbeats(section(p), MessageType.Heartbeat, out, 'hb', [], 1),
      (e: unknown) => e instanceof CodecError && re.test(e.message), String(re));
    assert.deepEqual(out, [], 'nothing appended before the section was found corrupt');
  }
});

test('a heartbeat invalid on its own is refused alone; the ones after it decode as sent', () => {
  const items: OutboundMessage[] = [5, 6, 7].map((r) => ({ rangeId: r, message: heartbeat(1, 2, 3, 10 * r, 12) }));
  const good = encodeHeartbeats(items);
  const cases: Array<[string, (p: raftpb.CoalescedHeartbeats.$Properties) => void, RegExp, number | null]> = [
    ['reserved bit', (p) => { p.flags![1]! |= 0x80; }, /hb\[1\]: reserved flag bits set \(0x88\)/, 6],
    ['range id overflow', (p) => { p.rangeIdDeltas![1] = Number.MAX_SAFE_INTEGER; }, /hb\[1\]: range id overflows/, null],
  ];
  for (const [name, spoil, re, rangeId] of cases) {
    const p = section(good);
    spoil(p);
    const out: RangeMessage[] = [];
    const rejects: InboundReject[] = [];
    const n = decodeHeartbeats(p, MessageType.Heartbeat, out, 'hb', rejects, 4);
    assert.equal(rejects.length, name === 'reserved bit' ? 1 : 2, name);
    assert.match(rejects[0]!.reason, re);
    assert.deepEqual({ fromStore: rejects[0]!.fromStore, rangeId: rejects[0]!.rangeId }, { fromStore: 4, rangeId }, name);
    if (name === 'reserved bit') {
      assert.equal(n, 2);
      assert.deepEqual(out, [{ rangeId: 5, msg: items[0]!.message }, { rangeId: 7, msg: items[2]!.message }], 'the third still decodes against the second');
    } else {
      assert.deepEqual(out.map((m) => m.rangeId), [5], 'every heartbeat past the overflow is refused too');
    }
  }
});

test('the quiesce flag is bit 0x40 of a heartbeat, costs no byte, and a response carrying it is refused', () => {
  const plain = encodeHeartbeats([{ rangeId: 7, message: heartbeat(1, 2, 5, 100, 12) }]);
  const flagged = encodeHeartbeats([{ rangeId: 7, message: heartbeat(1, 2, 5, 100, 12), quiesce: true }]);
  assert.deepEqual(flagged.flags, new Uint8Array([0x1f | 0x40]));
  assert.deepEqual(flagged.values, plain.values);
  const out: RangeMessage[] = [];
  decodeHeartbeats(section(flagged), MessageType.Heartbeat, out, 'hb', [], 1);
  assert.equal(out[0]!.quiesce, true);
  const rejects: InboundReject[] = [];
  assert.equal(decodeHeartbeats(section(flagged), MessageType.HeartbeatResp, [], 'hbr', rejects, 1), 0);
  assert.deepEqual(rejects, [{ fromStore: 1, rangeId: 7, reason: 'hbr[0]: a heartbeat response flagged quiesce' }]);
  assert.throws(() => encodeHeartbeats([{ rangeId: 7, message: heartbeatResp(2, 1, 5, 12), quiesce: true }]), RangeError);
});

test('a quiesce flag on an ordinary message round-trips on a heartbeat and is refused on any other type', () => {
  const hb = msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 3, logTerm: 1 }); // not coalescible
  const d = decodeBatch(encodeBatch({
    fromStore: 1, toStore: 2, messages: [{ rangeId: 4, message: hb, quiesce: true }], heartbeats: [], heartbeatResps: [],
  }));
  assert.deepEqual(d.msgs, [{ rangeId: 4, msg: hb, quiesce: true }]);
  const app = msg({ type: MessageType.App, from: 1, to: 2, term: 3 });
  const bad = encodeBatch({
    fromStore: 1, toStore: 2, messages: [{ rangeId: 4, message: app, quiesce: true }], heartbeats: [], heartbeatResps: [],
  });
  const refused = decodeBatch(bad);
  assert.deepEqual(refused.msgs, []);
  assert.deepEqual(refused.rejects, [{ fromStore: 1, rangeId: 4, reason: 'RaftBatch.messages[0]: quiesce flag on a message of type 5' }]);
});

test('a liveness ping rides in a batch, alone or with raft messages', () => {
  const alone = decodeBatch(encodeBatch({ fromStore: 1, toStore: 2, messages: [], heartbeats: [], heartbeatResps: [], livenessSeq: 9 }));
  assert.deepEqual({ liveness: alone.liveness, msgs: alone.msgs.length }, { liveness: true, msgs: 0 });
  const none = decodeBatch(encodeBatch({ fromStore: 1, toStore: 2, messages: [], heartbeats: [{ rangeId: 1, message: heartbeat(1, 2, 3, 4, 5) }], heartbeatResps: [] }));
  assert.equal(none.liveness, false);
});
