// RaftBatch encoding: everything one store sends another in one flush.
import { MessageType } from '@rangekv/raft';
import { raftpb } from '@rangekv/proto';
import { CodecError } from './codec-error.js';
import { decodeHeartbeats, encodeHeartbeats } from './heartbeat-codec.js';
import { toRaftMessage, wireNumber } from './message-codec.js';
import type { OutboundMessage, RangeMessage } from './types.js';

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
   *  messages in send order. */
  msgs: RangeMessage[];
  /** How many of msgs came from the coalesced sections. */
  heartbeats: number;
  heartbeatResps: number;
  /** The batch carried a store liveness ping. */
  liveness: boolean;
}

/** Decodes and validates one RaftBatch. Throws CodecError on anything malformed. */
export function decodeBatch(bytes: Uint8Array): DecodedBatch {
  let pb: raftpb.RaftBatch;
  try {
    pb = raftpb.RaftBatch.decode(bytes);
  } catch (e) {
    throw new CodecError(`malformed RaftBatch (${bytes.length} bytes): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const fromStore = wireNumber(pb.fromStore, 'RaftBatch.fromStore');
  const toStore = wireNumber(pb.toStore, 'RaftBatch.toStore');
  if (fromStore === 0 || toStore === 0) throw new CodecError(`RaftBatch: store ids missing (from ${fromStore}, to ${toStore})`);
  const msgs: RangeMessage[] = [];
  const heartbeats = pb.heartbeats != null
    ? decodeHeartbeats(pb.heartbeats, MessageType.Heartbeat, msgs, 'RaftBatch.heartbeats') : 0;
  const heartbeatResps = pb.heartbeatResponses != null
    ? decodeHeartbeats(pb.heartbeatResponses, MessageType.HeartbeatResp, msgs, 'RaftBatch.heartbeatResponses') : 0;
  const list = pb.messages ?? [];
  for (let i = 0; i < list.length; i++) {
    const rm = list[i]!;
    const what = `RaftBatch.messages[${i}]`;
    if (rm.message == null) throw new CodecError(`${what}: no message`);
    const rangeId = wireNumber(rm.rangeId, `${what}.rangeId`);
    const msg = toRaftMessage(rm.message, what);
    if (rm.quiesce === true) {
      if (msg.type !== MessageType.Heartbeat) throw new CodecError(`${what}: quiesce flag on a message of type ${msg.type}`);
      msgs.push({ rangeId, msg, quiesce: true });
    } else {
      msgs.push({ rangeId, msg });
    }
  }
  if (pb.liveness != null) wireNumber(pb.liveness.seq, 'RaftBatch.liveness.seq');
  return { fromStore, toStore, msgs, heartbeats, heartbeatResps, liveness: pb.liveness != null };
}
