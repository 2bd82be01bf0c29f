// What a hostile (or broken) peer can put on the wire, for tests: raw gRPC requests of
// any bytes, raft batches sent as if from a store, snapshot calls that never send a chunk,
// and a minimal protobuf writer for fields the generated encoders would refuse to write.
import * as grpc from '@grpc/grpc-js';
import { raftTransportService } from '@rangekv/proto';
import { encodeBatch, encodeSnapshotChunkFrame, encodeSnapshotStart, type OutboundMessage, type SnapshotStartFrame } from '@rangekv/transport';

export interface RawAnswer {
  code: grpc.status;
  details: string;
  body: Buffer | null;
}

/**
 * One unary call with `body` as the request bytes, whatever they are. With `client`, on
 * that channel (kept open by its owner); else on a channel of its own.
 */
export function rawUnary(
  address: string, path: string, body: Uint8Array, timeoutMs = 5_000, client?: grpc.Client,
  creds: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<RawAnswer> {
  const ch = client ?? new grpc.Client(address, creds, { 'grpc.max_send_message_length': 64 << 20 });
  const pass = (b: Buffer): Buffer => b;
  const p = new Promise<RawAnswer>((resolve) => {
    ch.makeUnaryRequest(path, pass, pass, Buffer.from(body), new grpc.Metadata(), { deadline: Date.now() + timeoutMs },
      (err: grpc.ServiceError | null, res?: Buffer) => resolve(err
        ? { code: err.code, details: err.details, body: null }
        : { code: grpc.status.OK, details: '', body: res ?? Buffer.alloc(0) }));
  });
  return client ? p : p.finally(() => ch.close());
}

/**
 * Writes one RaftBatch claiming to come from `fromStore` on a stream of its own (with
 * `creds`: e.g. another store's certificate), then ends it. Resolves with the stream's
 * error when the receiver failed it, else null.
 */
export async function sendRaftBatch(
  raftAddress: string, fromStore: number, toStore: number, messages: OutboundMessage[],
  creds: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<RawAnswer | null> {
  const client = new grpc.Client(raftAddress, creds);
  const m = raftTransportService.stream;
  try {
    return await new Promise<RawAnswer | null>((resolve) => {
      const call = client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize);
      call.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details, body: null }));
      call.on('end', () => resolve(null));
      call.on('data', () => undefined);
      call.write(Buffer.from(encodeBatch({ fromStore, toStore, messages, heartbeats: [], heartbeatResps: [] })));
      // Give the receiver a moment to take the batch before the stream ends.
      setTimeout(() => call.end(), 200);
      setTimeout(() => resolve(null), 2_000);
    });
  } finally {
    client.close();
  }
}

/** One Snapshot call: `start` then one chunk of `chunk`, then the end; its answer. */
export function sendSnapshot(
  raftAddress: string, start: SnapshotStartFrame, chunk: Uint8Array, creds: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<RawAnswer> {
  const client = new grpc.Client(raftAddress, creds);
  const m = raftTransportService.snapshot;
  return new Promise<RawAnswer>((resolve) => {
    const call = client.makeClientStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, { deadline: Date.now() + 5_000 },
      (err: grpc.ServiceError | null) => resolve(err ? { code: err.code, details: err.details, body: null } : { code: grpc.status.OK, details: '', body: null }));
    call.write(encodeSnapshotStart(start));
    call.write(encodeSnapshotChunkFrame(chunk));
    call.end();
  }).finally(() => client.close());
}

/** Opens a Snapshot call and sends nothing on it; close() ends it from this side. */
export function silentSnapshotCall(raftAddress: string): { done: Promise<RawAnswer>; close(): void } {
  const client = new grpc.Client(raftAddress, grpc.credentials.createInsecure());
  const m = raftTransportService.snapshot;
  let call: grpc.ClientWritableStream<Buffer> | null = null;
  const done = new Promise<RawAnswer>((resolve) => {
    call = client.makeClientStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, (err: grpc.ServiceError | null) =>
      resolve(err ? { code: err.code, details: err.details, body: null } : { code: grpc.status.OK, details: '', body: null }));
  });
  return {
    done: done.finally(() => client.close()),
    close: () => {
      call?.cancel();
    },
  };
}

/** A protobuf writer for tests: varints of any size (2^63 included), bytes, nested messages. */
export class Pb {
  private readonly parts: Buffer[] = [];

  private varint(v: bigint): this {
    const out: number[] = [];
    let x = v;
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x > 0n) b |= 0x80;
      out.push(b);
    } while (x > 0n);
    this.parts.push(Buffer.from(out));
    return this;
  }

  uint(field: number, v: number | bigint): this {
    return this.varint(BigInt(field << 3)).varint(BigInt(v));
  }

  bytes(field: number, b: Uint8Array | string): this {
    const buf = typeof b === 'string' ? Buffer.from(b) : Buffer.from(b);
    return this.varint(BigInt((field << 3) | 2)).varint(BigInt(buf.length)).raw(buf);
  }

  msg(field: number, m: Pb): this {
    return this.bytes(field, m.finish());
  }

  raw(b: Uint8Array): this {
    this.parts.push(Buffer.from(b));
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}
