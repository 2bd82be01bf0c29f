// Decode cost of two hot messages: a raft RaftBatch (the transport's unit) and a KV
// PutRequest. Not a test: run it by hand to see what strict decoding costs.
//
//   node packages/proto/dist/decode-bench.js
//
// Prints the median of 7 rounds (each ~300 ms) in ns per decode.
import { kvpb, raftpb } from './index.js';

function sampleBatch(): Uint8Array {
  const data = new Uint8Array(128).fill(7);
  const messages: raftpb.RangeMessage.$Properties[] = [];
  for (let i = 0; i < 32; i++) {
    const app = i % 4 !== 3;
    messages.push({
      rangeId: 1000 + i,
      message: app
        ? {
          type: raftpb.MessageType.MSG_APP, to: 2, from: 1, term: 7, logTerm: 7, index: 100_000 + i, commit: 99_990,
          entries: Array.from({ length: 4 }, (_, k) => ({ term: 7, index: 100_001 + i + k, type: raftpb.EntryType.ENTRY_NORMAL, data })),
        }
        : { type: raftpb.MessageType.MSG_APP_RESP, to: 1, from: 2, term: 7, index: 100_000 + i },
    });
  }
  return raftpb.RaftBatch.encode({ fromStore: 1, toStore: 2, messages }).finish();
}

function samplePut(): Uint8Array {
  return kvpb.PutRequest.encode({
    header: { rangeId: 4711, epoch: { confVer: 3, version: 12 }, readConsistency: 0 },
    key: new Uint8Array(16).fill(0x61), value: new Uint8Array(128).fill(0x62),
  }).finish();
}

/** Median ns per call of `f` over 7 rounds of about `roundMs`. */
export function nsPerOp(f: () => unknown, roundMs = 300): number {
  let n = 1;
  for (;;) { // calibrate: n calls take at least roundMs / 10
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f();
    if (Number(process.hrtime.bigint() - t) / 1e6 >= roundMs / 10) break;
    n *= 2;
  }
  n *= 10;
  const rounds: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f();
    rounds.push(Number(process.hrtime.bigint() - t) / n);
  }
  rounds.sort((a, b) => a - b);
  return rounds[3]!;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const batch = sampleBatch();
  const put = samplePut();
  const b = Buffer.from(batch);
  const p = Buffer.from(put);
  console.log(`RaftBatch (32 messages, 96 entries, ${batch.length} bytes): ${nsPerOp(() => raftpb.RaftBatch.decode(b)).toFixed(0)} ns/decode`);
  console.log(`PutRequest (${put.length} bytes): ${nsPerOp(() => kvpb.PutRequest.decode(p)).toFixed(0)} ns/decode`);
}
