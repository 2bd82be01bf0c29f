// Public API of @rangekv/transport.
export { RaftTransport, type RaftTransportOptions, type TransportTls } from './transport.js';
export type { InboundHandler, InboundReject, RangeMessage, OutboundMessage } from './types.js';
export { TransportFaults } from './faults.js';
export { DEFAULT_TRANSPORT_LIMITS, resolveLimits, receiveLimitBytes, type TransportLimits } from './limits.js';
export type { TransportMetrics, PeerMetrics, PeerState, DropCounts } from './metrics.js';
export { CodecError } from './codec-error.js';
export { encodeBatch, decodeBatch, type OutboundBatch, type DecodedBatch } from './batch-codec.js';
export { encodeHeartbeats, decodeHeartbeats, isCoalescible } from './heartbeat-codec.js';
export { toRaftMessage, estimateMessageBytes } from './message-codec.js';
export { DEFAULT_SNAPSHOT_STREAM_LIMITS, resolveSnapshotStreamLimits, type SnapshotStreamLimits } from './snapshot-limits.js';
export {
  SnapshotStreamError, SnapshotFrameChecker, decodeSnapshotFrame, encodeSnapshotStart, encodeSnapshotChunkFrame,
  encodeSnapshotAck, decodeSnapshotAck, type SnapshotErrorCode, type SnapshotStartFrame, type SnapshotFrame,
} from './snapshot-stream.js';
export { type SnapshotSink, type SnapshotReceiveHandler } from './snapshot-inbound.js';
export { type OutboundSnapshot, type SnapshotSendResult } from './snapshot-outbound.js';
