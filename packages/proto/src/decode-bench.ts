// Decode cost of two hot messages: a raft RaftBatch (the transport's unit) and a KV
// PutRequest. Not a test: run it by hand to see what strict decoding costs.
//
//   node packages/proto/dist/decode-bench.js
//
// Prints the fastest and the median of 15 rounds (each ~200 ms), per decode.
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

if (import.meta.url === `file://${process.argv[1]}`) {
  const batch = sampleBatch();
  const put = samplePut();
  const b = Buffer.from(batch);
  const p = Buffer.from(put);
  console.log(`RaftBatch (32 messages, 96 entries, ${batch.length} bytes): ${show(nsPerOp(() => raftpb.RaftBatch.decode(b)))}`);
  console.log(`PutRequest (${put.length} bytes): ${show(nsPerOp(() => kvpb.PutRequest.decode(p)))}`);
}
