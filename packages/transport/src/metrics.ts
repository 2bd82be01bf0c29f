// Transport counters. All are totals since start; metrics() returns a plain copy.

/** Messages dropped at the sender, by reason. send() returns false for all but `fault`. */
export interface DropCounts {
  /** The peer's queue held maxQueuedMsgsPerPeer messages. */
  queueFull: number;
  /** The peer's queue held maxQueuedBytesPerPeer (estimated) bytes. */
  queueBytes: number;
  /** The message alone is larger than maxMsgBytes (estimated). */
  oversize: number;
  /** resolve() knows no address for the store. */
  unknownPeer: number;
  /** The peer's connection failed: queued messages are discarded, and sends are refused
   *  until the reconnect backoff expires. */
  disconnected: number;
  /** Lost to a configured fault (dropRate, partition, blockOutbound); send returned true. */
  fault: number;
  /** Sent after stop(), or still queued at stop(). */
  stopped: number;
}

export type PeerState = 'idle' | 'connecting' | 'open' | 'backoff' | 'stopped';

/** One destination store, as seen by the sender. */
export interface PeerMetrics {
  storeId: number;
  state: PeerState;
  /** Last address resolved for it ("host:port"), '' before the first connect. */
  address: string;
  queuedMsgs: number;
  queuedBytes: number;
  batchesSent: number;
  messagesSent: number;
  bytesSent: number;
  heartbeatPacketsSent: number;
  heartbeatsSent: number;
  /** Batches carrying a store liveness ping. */
  livenessPacketsSent: number;
  reconnects: number;
  /** Why the last connection failed, '' if none did. */
  lastError: string;
}

export interface TransportMetrics {
  /** RaftBatch packets written to streams. */
  batchesSent: number;
  /** RaftBatch packets handed to the inbound handler. */
  batchesReceived: number;
  /** Raft messages written (ordinary + coalesced heartbeats and responses). */
  messagesSent: number;
  /** Raft messages handed to the inbound handler. */
  messagesReceived: number;
  /** Encoded batch bytes written / arrived. */
  bytesSent: number;
  bytesReceived: number;
  /** Batches carrying a coalesced heartbeat or heartbeat-response section. */
  heartbeatPacketsSent: number;
  heartbeatPacketsReceived: number;
  /** Heartbeats and heartbeat responses carried in coalesced sections. */
  heartbeatsSent: number;
  heartbeatsReceived: number;
  /** heartbeatsSent / heartbeatPacketsSent (0 before the first). */
  heartbeatsPerPacketSent: number;
  heartbeatsPerPacketReceived: number;
  /** Batches carrying a store liveness ping (written / handed over). */
  livenessPacketsSent: number;
  livenessPacketsReceived: number;
  drops: DropCounts;
  /** Batches discarded on arrival by a fault (blockInbound). */
  inboundFaultDrops: number;
  /** Inbound streams failed by this store: a batch envelope that does not decode,
   *  wrong store id, sender changed. */
  inboundRejects: number;
  /** Raft messages refused alone on arrival, the rest of their batch delivered: ordinary
   *  messages and coalesced heartbeats that do not decode or validate, and whole
   *  coalesced sections that are structurally corrupt (each counts once). */
  inboundMessageRejects: number;
  /** Connection attempts after a failure. */
  reconnects: number;
  /** Connection attempts that failed (refused, timed out, no address). */
  connectFailures: number;
  /** Reconnect backoffs ended early because the peer was heard from (outbound-peer.ts heardFrom). */
  backoffsCutShort: number;
  /** Open outbound streams that broke (peer stopped, reset, rejected us). */
  streamBreaks: number;
  /** Outbound streams opened / inbound streams open now. */
  streamsOpened: number;
  inboundStreams: number;
  /** Per destination store, ascending by store id. */
  peers: PeerMetrics[];
}

/** Mutable totals behind metrics(). */
export class TransportCounters {
  batchesSent = 0;
  batchesReceived = 0;
  messagesSent = 0;
  messagesReceived = 0;
  bytesSent = 0;
  bytesReceived = 0;
  heartbeatPacketsSent = 0;
  heartbeatPacketsReceived = 0;
  heartbeatsSent = 0;
  heartbeatsReceived = 0;
  livenessPacketsSent = 0;
  livenessPacketsReceived = 0;
  readonly drops: DropCounts = {
    queueFull: 0, queueBytes: 0, oversize: 0, unknownPeer: 0, disconnected: 0, fault: 0, stopped: 0,
  };
  inboundFaultDrops = 0;
  inboundRejects = 0;
  inboundMessageRejects = 0;
  reconnects = 0;
  connectFailures = 0;
  backoffsCutShort = 0;
  streamBreaks = 0;
  streamsOpened = 0;

  snapshot(inboundStreams: number, peers: PeerMetrics[]): TransportMetrics {
    return {
      batchesSent: this.batchesSent,
      batchesReceived: this.batchesReceived,
      messagesSent: this.messagesSent,
      messagesReceived: this.messagesReceived,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      heartbeatPacketsSent: this.heartbeatPacketsSent,
      heartbeatPacketsReceived: this.heartbeatPacketsReceived,
      heartbeatsSent: this.heartbeatsSent,
      heartbeatsReceived: this.heartbeatsReceived,
      heartbeatsPerPacketSent: this.heartbeatPacketsSent === 0 ? 0 : this.heartbeatsSent / this.heartbeatPacketsSent,
      heartbeatsPerPacketReceived: this.heartbeatPacketsReceived === 0 ? 0 : this.heartbeatsReceived / this.heartbeatPacketsReceived,
      livenessPacketsSent: this.livenessPacketsSent,
      livenessPacketsReceived: this.livenessPacketsReceived,
      drops: { ...this.drops },
      inboundFaultDrops: this.inboundFaultDrops,
      inboundRejects: this.inboundRejects,
      inboundMessageRejects: this.inboundMessageRejects,
      reconnects: this.reconnects,
      connectFailures: this.connectFailures,
      backoffsCutShort: this.backoffsCutShort,
      streamBreaks: this.streamBreaks,
      streamsOpened: this.streamsOpened,
      inboundStreams,
      peers,
    };
  }
}
