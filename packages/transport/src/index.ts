// Public API of @rangekv/transport.
export { RaftTransport, type RaftTransportOptions } from './transport.js';
export type { InboundHandler, RangeMessage, OutboundMessage } from './types.js';
export { TransportFaults } from './faults.js';
export { DEFAULT_TRANSPORT_LIMITS, resolveLimits, receiveLimitBytes, type TransportLimits } from './limits.js';
export type { TransportMetrics, PeerMetrics, PeerState, DropCounts } from './metrics.js';
export { CodecError } from './codec-error.js';
export { encodeBatch, decodeBatch, type OutboundBatch, type DecodedBatch } from './batch-codec.js';
export { encodeHeartbeats, decodeHeartbeats, isCoalescible } from './heartbeat-codec.js';
export { toRaftMessage, estimateMessageBytes } from './message-codec.js';
