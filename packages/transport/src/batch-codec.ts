// RaftBatch encoding: everything one store sends another in one flush.
//
// The receiver reads a batch as a RaftBatchEnvelope (proto/raft.proto: the same fields,
// but the messages and coalesced sections left encoded), then decodes and validates each
// message and section on its own. One bad message is refused alone, never the batch
// around it: every range sharing the store pair would lose that batch otherwise. Only an
// envelope that does not decode (or carries no store ids) fails the whole batch.
import { MessageType } from '@rangekv/raft';
import { raftpb } from '@rangekv/proto';
import { CodecError } from './codec-error.js';
import { decodeHeartbeats, encodeHeartbeats } from './heartbeat-codec.js';
import { toRaftMessage, wireNumber } from './message-codec.js';
import type { InboundReject, OutboundMessage, RangeMessage } from './types.js';

export interface OutboundBatch {
  fromStore: number;
  toStore: number;
  /** Ordinary messages, delivered in this order. */
  messages: ReadonlyArray<OutboundMessage>;
  /** Coalescible Heartbeats (see isCoalescible); sorted in place by range id. */
  heartbeats: OutboundMessage[];
  /** Coalescible HeartbeatResps; sorted in place by range id. */
  heartbeatResps: OutboundMessage[];
  /** A store liveness ping's sequence number, or absent when the batch carries none. */
  livenessSeq?: number;
}

export function encodeBatch(b: OutboundBatch): Uint8Array {
  const pb: raftpb.RaftBatch.$Properties = {
    fromStore: b.fromStore,
    toStore: b.toStore,
    messages: b.messages as OutboundMessage[],
  };
  if (b.heartbeats.length > 0) pb.heartbeats = encodeHeartbeats(b.heartbeats);
  if (b.heartbeatResps.length > 0) pb.heartbeatResponses = encodeHeartbeats(b.heartbeatResps);
  if (b.livenessSeq !== undefined) pb.liveness = { seq: b.livenessSeq };
  return raftpb.RaftBatch.encode(pb).finish();
}

export interface DecodedBatch {
  fromStore: number;
  toStore: number;
  /** Heartbeats, then heartbeat responses (each in range id order), then the ordinary
   *  messages in send order; refused ones left out. */
  msgs: RangeMessage[];
  /** How many of msgs came from the coalesced sections. */
  heartbeats: number;
  heartbeatResps: number;
  /** The batch carried a store liveness ping. */
  liveness: boolean;
  /** Messages, heartbeats and coalesced sections refused alone, in batch order. */
  rejects: InboundReject[];
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Decodes one RaftBatch. Throws CodecError only when the envelope itself is malformed or
 * names no stores; a bad message or section is left out and listed in `rejects`.
 */
export function decodeBatch(bytes: Uint8Array): DecodedBatch {
  let env: raftpb.RaftBatchEnvelope;
  try {
    env = raftpb.RaftBatchEnvelope.decode(bytes);
  } catch (e) {
    throw new CodecError(`malformed RaftBatch (${bytes.length} bytes): ${errorText(e)}`, { cause: e });
  }
  const fromStore = wireNumber(env.fromStore, 'RaftBatch.fromStore');
  const toStore = wireNumber(env.toStore, 'RaftBatch.toStore');
  if (fromStore === 0 || toStore === 0) throw new CodecError(`RaftBatch: store ids missing (from ${fromStore}, to ${toStore})`);
  const msgs: RangeMessage[] = [];
  const rejects: InboundReject[] = [];
  const heartbeats = env.heartbeats != null
    ? decodeSection(env.heartbeats, MessageType.Heartbeat, 'RaftBatch.heartbeats', msgs, rejects, fromStore) : 0;
  const heartbeatResps = env.heartbeatResponses != null
    ? decodeSection(env.heartbeatResponses, MessageType.HeartbeatResp, 'RaftBatch.heartbeatResponses', msgs, rejects, fromStore) : 0;
  const list = env.messages;
  for (let i = 0; i < list.length; i++) {
    const what = `RaftBatch.messages[${i}]`;
    const b = list[i]!;
    let rangeId: number | null = null;
    try {
      const rm = raftpb.RangeMessage.decode(b);
      rangeId = wireNumber(rm.rangeId, `${what}.rangeId`);
      if (rm.message == null) throw new CodecError(`${what}: no message`);
      const msg = toRaftMessage(rm.message, what);
      if (rm.quiesce === true) {
        if (msg.type !== MessageType.Heartbeat) throw new CodecError(`${what}: quiesce flag on a message of type ${msg.type}`);
        msgs.push({ rangeId, msg, quiesce: true });
      } else {
        msgs.push({ rangeId, msg });
      }
    } catch (e) {
      const reason = e instanceof CodecError ? e.message : `${what}: ${errorText(e)}`;
      rejects.push({ fromStore, rangeId: rangeId ?? leadingRangeId(b), reason });
    }
  }
  if (env.liveness != null) wireNumber(env.liveness.seq, 'RaftBatch.liveness.seq');
  return { fromStore, toStore, msgs, heartbeats, heartbeatResps, liveness: env.liveness != null, rejects };
}

/** One coalesced section: its heartbeats appended to `out`, or the whole section in
 *  `rejects` when it does not decode or its counts disagree. */
function decodeSection(
  bytes: Uint8Array, type: typeof MessageType.Heartbeat | typeof MessageType.HeartbeatResp, what: string,
  out: RangeMessage[], rejects: InboundReject[], fromStore: number,
): number {
  try {
    return decodeHeartbeats(raftpb.CoalescedHeartbeats.decode(bytes), type, out, what, rejects, fromStore);
  } catch (e) {
    rejects.push({ fromStore, rangeId: null, reason: e instanceof CodecError ? e.message : `${what}: ${errorText(e)}` });
    return 0;
  }
}

/** The range id of an encoded RangeMessage that did not decode, when it leads (as our
 *  encoder writes it: field 1, a varint below 2^53); null otherwise. */
function leadingRangeId(b: Uint8Array): number | null {
  if (b.length < 2 || b[0] !== 0x08) return null;
  let v = 0;
  let scale = 1;
  for (let i = 1; i < b.length && i <= 8; i++) {
    v += (b[i]! & 0x7f) * scale;
    if (b[i]! < 0x80) return Number.isSafeInteger(v) && v > 0 ? v : null;
    scale *= 128;
  }
  return null;
}
