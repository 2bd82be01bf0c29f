// The plain-data shapes the transport's modules share.
import type { Message } from '@rangekv/raft';

/** A raft message for one range, as handed to the inbound handler. */
export interface RangeMessage {
  rangeId: number;
  msg: Message;
  /** Present (true) only on a Heartbeat the leader flagged quiesce (proto RangeMessage.quiesce). */
  quiesce?: true;
}

/** A raft message for one range, as queued for sending (the shape the wire encoder
 *  reads directly: proto RangeMessage {rangeId, message}). */
export interface OutboundMessage {
  rangeId: number;
  message: Message;
  /** Present (true) only on a Heartbeat flagged quiesce. */
  quiesce?: true;
}

/** Receives every decoded batch that carries raft messages: one call per batch, messages
 *  in delivery order (a batch carrying only a liveness ping is not handed over). */
export interface InboundHandler {
  (fromStore: number, msgs: ReadonlyArray<RangeMessage>): void;
}

/** A raft message (or a whole coalesced heartbeat section) a receiver refused on
 *  arrival; the rest of its batch was delivered. */
export interface InboundReject {
  fromStore: number;
  /** The range it was for, when that much could be read; null for a whole section or a
   *  message whose range id did not decode. */
  rangeId: number | null;
  /** What was wrong, with where in the batch ('RaftBatch.messages[3]: ...'). */
  reason: string;
}
