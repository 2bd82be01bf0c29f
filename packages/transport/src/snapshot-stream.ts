// The wire form of one snapshot call (proto/raft.proto, RaftTransport.Snapshot): a start
// frame, then chunk frames, then the sender half-closes; the receiver answers with one ack.
//
//   sender:   encodeSnapshotStart({ fromStore, toStore, rangeId, message, header })
//             encodeSnapshotChunkFrame(chunk) ...            then end the call
//   receiver: const checker = new SnapshotFrameChecker(myStoreId, limits);
//             for each request: const f = checker.accept(bytes)   // throws SnapshotStreamError
//
// The transport does not look inside `header` or the chunks (the storage engine's
// encodings, each chunk CRC-checked by the engine); it checks the frame order, the raft
// message, the addressing and the sizes.
import { MessageType, type Message } from '@rangekv/raft';
import { raftpb } from '@rangekv/proto';
import { CodecError } from './codec-error.js';
import { copyBytes, toRaftMessage, wireNumber } from './message-codec.js';
import type { SnapshotStreamLimits } from './snapshot-limits.js';

/** Why a snapshot call failed; each maps to one gRPC status (see raft.proto). */
export type SnapshotErrorCode =
  /** Malformed or inconsistent input (INVALID_ARGUMENT). */
  | 'invalid'
  /** Over a size limit (RESOURCE_EXHAUSTED). */
  | 'too-large'
  /** Too many snapshots in flight on this end (RESOURCE_EXHAUSTED on the wire). */
  | 'busy'
  /** The receiving store refused it (FAILED_PRECONDITION). */
  | 'refused'
  /** The per-snapshot timeout passed (DEADLINE_EXCEEDED). */
  | 'timeout'
  /** No connection, peer unknown or stopping, lost to a fault (UNAVAILABLE). */
  | 'unavailable';

export class SnapshotStreamError extends Error {
  override readonly name = 'SnapshotStreamError';
  constructor(readonly code: SnapshotErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The first frame of a snapshot call. */
export interface SnapshotStartFrame {
  fromStore: number;
  toStore: number;
  rangeId: number;
  /** The raft Snap message: `snapshot.meta` as the sender's view captured it, `snapshot.data` empty. */
  message: Message;
  /** The storage engine's encoded snapshot header. */
  header: Uint8Array;
}

export type SnapshotFrame =
  | { kind: 'start'; start: SnapshotStartFrame }
  | { kind: 'chunk'; chunk: Uint8Array };

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

export function encodeSnapshotStart(s: SnapshotStartFrame): Buffer {
  const message: Message = s.message.snapshot === null
    ? s.message
    : { ...s.message, snapshot: { meta: s.message.snapshot.meta, data: new Uint8Array(0) } };
  return toBuffer(raftpb.SnapshotRequest.encode({
    start: { fromStore: s.fromStore, toStore: s.toStore, rangeId: s.rangeId, message, header: s.header },
  }).finish());
}

export function encodeSnapshotChunkFrame(chunk: Uint8Array): Buffer {
  return toBuffer(raftpb.SnapshotRequest.encode({ chunk }).finish());
}

export function encodeSnapshotAck(bytesReceived: number): Buffer {
  return toBuffer(raftpb.SnapshotAck.encode({ bytesReceived }).finish());
}

export function decodeSnapshotAck(bytes: Uint8Array): { bytesReceived: number } {
  try {
    return { bytesReceived: wireNumber(raftpb.SnapshotAck.decode(bytes).bytesReceived, 'snapshot ack.bytesReceived') };
  } catch (e) {
    throw new SnapshotStreamError('invalid', `snapshot ack does not decode: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** One request frame, decoded (order and limits are the checker's business). */
export function decodeSnapshotFrame(bytes: Uint8Array): SnapshotFrame {
  let pb: raftpb.SnapshotRequest;
  try {
    pb = raftpb.SnapshotRequest.decode(bytes);
  } catch (e) {
    throw new SnapshotStreamError('invalid', `snapshot frame does not decode: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const hasStart = pb.start != null;
  const hasChunk = pb.chunk != null && pb.chunk.length > 0;
  if (hasStart === hasChunk) throw new SnapshotStreamError('invalid', 'snapshot frame must carry exactly one of start and chunk');
  if (hasChunk) return { kind: 'chunk', chunk: copyBytes(pb.chunk) };
  const st = pb.start!;
  try {
    if (st.message == null) throw new CodecError('snapshot start: no raft message');
    const start: SnapshotStartFrame = {
      fromStore: wireNumber(st.fromStore, 'snapshot start.fromStore'),
      toStore: wireNumber(st.toStore, 'snapshot start.toStore'),
      rangeId: wireNumber(st.rangeId, 'snapshot start.rangeId'),
      message: toRaftMessage(st.message, 'snapshot start.message'),
      header: copyBytes(st.header),
    };
    return { kind: 'start', start };
  } catch (e) {
    // A CodecError; anything else would be a decoder bug, still only this call's failure.
    throw new SnapshotStreamError('invalid', e instanceof Error ? e.message : String(e), { cause: e });
  }
}

/**
 * The receiving end's frame checks, in arrival order: exactly one start frame, first,
 * addressed to this store, carrying a Snap message with a snapshot for a range (ids > 0);
 * then chunk frames within the size limits.
 */
export class SnapshotFrameChecker {
  private started = false;
  chunks = 0;
  bytes = 0;

  constructor(private readonly storeId: number, private readonly limits: SnapshotStreamLimits) {}

  accept(bytes: Uint8Array): SnapshotFrame {
    const l = this.limits;
    if (bytes.length > l.maxSnapshotChunkBytes + l.maxSnapshotHeaderBytes + 1024) {
      throw new SnapshotStreamError('too-large', `snapshot frame of ${bytes.length} bytes is over the receiver's limits`);
    }
    const f = decodeSnapshotFrame(bytes);
    if (f.kind === 'start') {
      if (this.started) throw new SnapshotStreamError('invalid', 'a second start frame in one snapshot call');
      this.started = true;
      const s = f.start;
      if (s.toStore !== this.storeId) throw new SnapshotStreamError('refused', `snapshot for store ${s.toStore} reached store ${this.storeId}`);
      if (s.fromStore === 0 || s.rangeId === 0) throw new SnapshotStreamError('invalid', 'snapshot start without from store or range id');
      const m = s.message;
      if (m.type !== MessageType.Snap || m.snapshot === null) throw new SnapshotStreamError('invalid', `snapshot start carries a raft message of type ${m.type}, not a Snap with a snapshot`);
      if (m.to === 0 || m.from === 0 || m.term === 0) throw new SnapshotStreamError('invalid', 'snapshot start: Snap message without from, to or term');
      if (m.snapshot.meta.index === 0) throw new SnapshotStreamError('invalid', 'snapshot start: snapshot index 0');
      if (s.header.length === 0) throw new SnapshotStreamError('invalid', 'snapshot start without a header');
      if (s.header.length > l.maxSnapshotHeaderBytes) {
        throw new SnapshotStreamError('too-large', `snapshot header of ${s.header.length} bytes exceeds maxSnapshotHeaderBytes ${l.maxSnapshotHeaderBytes}`);
      }
      return f;
    }
    if (!this.started) throw new SnapshotStreamError('invalid', 'snapshot chunk before the start frame');
    if (f.chunk.length > l.maxSnapshotChunkBytes) {
      throw new SnapshotStreamError('too-large', `snapshot chunk of ${f.chunk.length} bytes exceeds maxSnapshotChunkBytes ${l.maxSnapshotChunkBytes}`);
    }
    if (this.bytes + f.chunk.length > l.maxSnapshotBytes) {
      throw new SnapshotStreamError('too-large', `snapshot exceeds maxSnapshotBytes ${l.maxSnapshotBytes}`);
    }
    this.chunks++;
    this.bytes += f.chunk.length;
    return f;
  }

  get hasStarted(): boolean {
    return this.started;
  }
}
