// The sending end of one RaftTransport.Snapshot call: a fresh channel to the peer, the
// start frame, chunks pulled one per event-loop turn and only while the stream has room
// (grpc's write buffer bounds what waits in memory), half-close, then the receiver's ack
// or status.
//
//   const r = await streamSnapshot({ address, fromStore, snapshot, limits });  // or throws SnapshotStreamError
import * as grpc from '@grpc/grpc-js';
import { RAFT_TRANSPORT_SNAPSHOT_PATH } from '@rangekv/proto';
import type { Message } from '@rangekv/raft';
import type { SnapshotStreamLimits } from './snapshot-limits.js';
import {
  SnapshotStreamError, decodeSnapshotAck, encodeSnapshotChunkFrame, encodeSnapshotStart, type SnapshotErrorCode,
} from './snapshot-stream.js';

/** A snapshot to send; the transport pulls its chunks as the stream has room. */
export interface OutboundSnapshot {
  toStore: number;
  rangeId: number;
  /** raft's Snap message with `snapshot.meta` replaced by what the source captured. */
  message: Message;
  header: Uint8Array;
  /** The next encoded chunk, or null after the last. */
  nextChunk(): Uint8Array | null;
}

export interface SnapshotSendResult {
  chunks: number;
  bytes: number;
}

export function snapshotErrorCodeOf(status: grpc.status | undefined): SnapshotErrorCode {
  switch (status) {
    case grpc.status.INVALID_ARGUMENT: return 'invalid';
    case grpc.status.RESOURCE_EXHAUSTED: return 'too-large';
    case grpc.status.FAILED_PRECONDITION: return 'refused';
    case grpc.status.DEADLINE_EXCEEDED: return 'timeout';
    default: return 'unavailable';
  }
}

export interface StreamSnapshotOptions {
  address: string;
  fromStore: number;
  snapshot: OutboundSnapshot;
  limits: SnapshotStreamLimits;
  channelOptions?: grpc.ChannelOptions;
  /** Default plaintext. */
  credentials?: grpc.ChannelCredentials;
  /** Called with a function that cancels the call (transport stopping). */
  onCancelable?: (cancel: () => void) => void;
}

export async function streamSnapshot(o: StreamSnapshotOptions): Promise<SnapshotSendResult> {
  const s = o.snapshot;
  const client = new grpc.Client(o.address, o.credentials ?? grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.enable_retries': 0,
    ...(o.channelOptions ?? {}),
  });
  let finished = false;
  let chunks = 0;
  let wake: (() => void) | null = null;
  const answer = new Promise<Buffer>((resolve, reject) => {
    const call = client.makeClientStreamRequest<Buffer, Buffer>(
      RAFT_TRANSPORT_SNAPSHOT_PATH, (b) => b, (b) => b, new grpc.Metadata(),
      { deadline: Date.now() + o.limits.snapshotTimeoutMs },
      (err, res) => {
        finished = true;
        wake?.();
        if (err) {
          const code = err.code === grpc.status.DEADLINE_EXCEEDED ? 'timeout' : snapshotErrorCodeOf(err.code);
          reject(new SnapshotStreamError(code, `snapshot to store ${s.toStore}: ${err.details || err.message}`));
        } else resolve(res ?? Buffer.alloc(0));
      },
    );
    o.onCancelable?.(() => call.cancel());
    call.on('drain', () => wake?.());
    void (async () => {
      try {
        let ok = call.write(encodeSnapshotStart({ fromStore: o.fromStore, toStore: s.toStore, rangeId: s.rangeId, message: s.message, header: s.header }));
        for (;;) {
          // One chunk per event-loop turn: building one reads the store's RocksDB on this
          // thread, and the raft loop must keep running meanwhile.
          await new Promise<void>((r) => setImmediate(r));
          if (finished) return;
          if (!ok) {
            await new Promise<void>((r) => (wake = r));
            wake = null;
            if (finished) return;
          }
          const c = s.nextChunk();
          if (c === null) break;
          chunks++;
          ok = call.write(encodeSnapshotChunkFrame(c));
        }
        if (chunks === 0) throw new SnapshotStreamError('invalid', 'snapshot source gave no chunk');
        call.end();
      } catch (e) {
        call.cancel();
        reject(e instanceof SnapshotStreamError ? e : new SnapshotStreamError('unavailable', `building snapshot chunks failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
      }
    })();
  });
  try {
    const res = await answer;
    const ack = decodeSnapshotAck(res);
    return { chunks, bytes: ack.bytesReceived };
  } finally {
    client.close();
  }
}
