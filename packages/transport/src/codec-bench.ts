// Receive-side cost of decodeBatch on two typical batches, next to a reference that
// decodes the whole RaftBatch at once (what the receiver did before messages were
// decoded and refused one by one). Not a test: run it by hand.
//
//   node packages/transport/dist/codec-bench.js
//
// Prints the fastest and the median of 15 rounds (each ~200 ms), per decode.
import { MessageType, type Message } from '@rangekv/raft';
import { raftpb } from '@rangekv/proto';
import { decodeBatch, encodeBatch } from './batch-codec.js';
import { toRaftMessage } from './message-codec.js';
import { heartbeat, msg } from './test-helpers.js';
import type { OutboundMessage } from './types.js';

/** ns per call of `f`: the fastest and the median of 15 rounds of about `roundMs` (the
 *  fastest is the cost without other work on the machine or a badly timed GC). */
function nsPerOp(f: () => unknown, roundMs = 200): { min: number; median: number } {
  let n = 1;
  for (;;) { // calibrate: n calls take at least roundMs / 10
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f();
    if (Number(process.hrtime.bigint() - t) / 1e6 >= roundMs / 10) break;
    n *= 2;
  }
  n *= 10;
  const rounds: number[] = [];
  for (let r = 0; r < 15; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f();
    rounds.push(Number(process.hrtime.bigint() - t) / n);
  }
  rounds.sort((a, b) => a - b);
  return { min: rounds[0]!, median: rounds[7]! };
}

function show(r: { min: number; median: number }): string {
  return `${Math.round(r.min).toLocaleString('en')} ns (median ${Math.round(r.median).toLocaleString('en')})`;
}

/** 32 ordinary messages (24 MsgApp with 4 entries of 128 bytes, 8 MsgAppResp). */
function appBatch(): Buffer {
  const data = new Uint8Array(128).fill(7);
  const messages: OutboundMessage[] = [];
  for (let i = 0; i < 32; i++) {
    const m: Message = i % 4 !== 3
      ? msg({
        type: MessageType.App, to: 2, from: 1, term: 7, logTerm: 7, index: 100_000 + i, commit: 99_990,
        entries: Array.from({ length: 4 }, (_, k) => ({ term: 7, index: 100_001 + i + k, type: 0 as const, data })),
      })
      : msg({ type: MessageType.AppResp, to: 1, from: 2, term: 7, index: 100_000 + i });
    messages.push({ rangeId: 1000 + i, message: m });
  }
  return Buffer.from(encodeBatch({ fromStore: 1, toStore: 2, messages, heartbeats: [], heartbeatResps: [] }));
}

/** 1,000 coalesced heartbeats and 8 small ordinary messages (an idle-ish store pair). */
function heartbeatBatch(): Buffer {
  const heartbeats: OutboundMessage[] = [];
  for (let r = 1; r <= 1000; r++) heartbeats.push({ rangeId: r, message: heartbeat(1, 2, 5, 100 + r, 12) });
  const messages: OutboundMessage[] = [];
  for (let i = 0; i < 8; i++) messages.push({ rangeId: 2000 + i, message: msg({ type: MessageType.AppResp, to: 1, from: 2, term: 7, index: 500 + i }) });
  return Buffer.from(encodeBatch({ fromStore: 1, toStore: 2, messages, heartbeats, heartbeatResps: [] }));
}

/** The reference: one RaftBatch.decode for everything, then each message converted. */
function decodeWhole(bytes: Uint8Array): Message[] {
  const pb = raftpb.RaftBatch.decode(bytes);
  return pb.messages.map((rm, i) => toRaftMessage(rm.message!, `messages[${i}]`));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const a = appBatch();
  const h = heartbeatBatch();
  console.log(`32 messages / 96 entries (${a.length} bytes): decodeBatch ${show(nsPerOp(() => decodeBatch(a)))}, whole-batch reference ${show(nsPerOp(() => decodeWhole(a)))}`);
  console.log(`1,000 coalesced heartbeats + 8 messages (${h.length} bytes): decodeBatch ${show(nsPerOp(() => decodeBatch(h)))}`);
}
