// Every bound the transport keeps, with its unit. Defaults suit a store with thousands
// of ranges on loopback or a LAN; tests shrink them.

export interface TransportLimits {
  /** Messages (heartbeats included) queued for one peer store and not yet written to
   *  its stream. A send beyond it is dropped and reported (send returns false). */
  maxQueuedMsgsPerPeer: number;
  /** Estimated encoded bytes queued for one peer store; beyond it sends are dropped. */
  maxQueuedBytesPerPeer: number;
  /** A batch is cut before the message that would take it past this size. A single
   *  message larger than this travels alone in its own batch. */
  maxBatchBytes: number;
  /** Largest single raft message (estimated encoded size, snapshot included). Larger
   *  ones are dropped at send. The receiver accepts gRPC messages up to
   *  maxBatchBytes + maxMsgBytes + 1 MiB. */
  maxMsgBytes: number;
  /** How long a connection attempt may take before it counts as failed. */
  connectTimeoutMs: number;
  /** First reconnect delay after a failure; doubles per consecutive failure. */
  initialBackoffMs: number;
  /** Ceiling of the reconnect delay. The delay is jittered to [d/2, d). */
  maxBackoffMs: number;
  /** HTTP/2 keepalive ping interval on outbound connections (detects dead peers that
   *  never closed the socket). */
  keepaliveTimeMs: number;
  /** A keepalive ping not answered within this fails the connection. */
  keepaliveTimeoutMs: number;
  /** stop(): how long in-flight streams may drain before they are cut. */
  stopGraceMs: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_TRANSPORT_LIMITS: Readonly<TransportLimits> = Object.freeze({
  maxQueuedMsgsPerPeer: 65_536,
  maxQueuedBytesPerPeer: 128 * MiB,
  maxBatchBytes: 4 * MiB,
  maxMsgBytes: 64 * MiB,
  connectTimeoutMs: 5_000,
  initialBackoffMs: 50,
  maxBackoffMs: 5_000,
  keepaliveTimeMs: 10_000,
  keepaliveTimeoutMs: 5_000,
  stopGraceMs: 1_000,
});

/** Defaults overridden by `partial`; throws RangeError on a bound that makes no sense. */
export function resolveLimits(partial: Partial<TransportLimits> | undefined): TransportLimits {
  const l: TransportLimits = { ...DEFAULT_TRANSPORT_LIMITS, ...partial };
  for (const [name, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`transport: limit ${name} must be a positive integer, got ${String(v)}`);
  }
  if (l.initialBackoffMs > l.maxBackoffMs) {
    throw new RangeError(`transport: initialBackoffMs (${l.initialBackoffMs}) > maxBackoffMs (${l.maxBackoffMs})`);
  }
  return l;
}

/** Largest gRPC message a receiver accepts under these limits. */
export function receiveLimitBytes(l: TransportLimits): number {
  return l.maxBatchBytes + l.maxMsgBytes + MiB;
}
