// The plain-data shapes the transport's modules share.
import type { Message } from '@rangekv/raft';

/** A raft message for one range, as handed to the inbound handler. */
export interface RangeMessage {
  rangeId: number;
  msg: Message;
}

/** A raft message for one range, as queued for sending (the shape the wire encoder
 *  reads directly: proto RangeMessage {rangeId, message}). */
export interface OutboundMessage {
  rangeId: number;
  message: Message;
}

/** Receives every decoded batch: one call per batch, messages in delivery order. */
export interface InboundHandler {
  (fromStore: number, msgs: ReadonlyArray<RangeMessage>): void;
}
