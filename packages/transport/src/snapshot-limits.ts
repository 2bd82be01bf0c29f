// Every bound of the snapshot stream (RaftTransport.Snapshot), with its unit. Both ends
// enforce their own side: a sender never runs more than maxConcurrentSnapshotSends calls,
// a receiver refuses calls beyond maxConcurrentSnapshotReceives and input beyond the sizes.

export interface SnapshotStreamLimits {
  /** Snapshot calls this store sends at once; more are refused at once (raft retries later). */
  maxConcurrentSnapshotSends: number;
  /** Snapshot calls this store receives at once; more are refused with RESOURCE_EXHAUSTED. */
  maxConcurrentSnapshotReceives: number;
  /** Largest encoded chunk a receiver accepts (one frame); the sender's chunks hold at most
   *  the storage engine's maxSnapshotChunkBytes of data, plus one oversized pair at most. */
  maxSnapshotChunkBytes: number;
  /** Largest encoded snapshot header (descriptor + conf state) a receiver accepts. */
  maxSnapshotHeaderBytes: number;
  /** Largest snapshot (sum of chunk bytes) a receiver accepts. */
  maxSnapshotBytes: number;
  /** One snapshot call, start to ack, on either end; then it fails (and is cleaned up). */
  snapshotTimeoutMs: number;
  /** Receiver: longest the sender may go without a frame while the receiver waits for
   *  one (not while the store writes a chunk); then the call fails (DEADLINE_EXCEEDED)
   *  and its receive slot is free. What a silent or stuck sender can cost: one of the
   *  maxConcurrentSnapshotReceives slots for this long. At most snapshotTimeoutMs; when
   *  not given, the default or snapshotTimeoutMs if that is smaller. */
  snapshotIdleTimeoutMs: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_SNAPSHOT_STREAM_LIMITS: Readonly<SnapshotStreamLimits> = Object.freeze({
  maxConcurrentSnapshotSends: 2,
  maxConcurrentSnapshotReceives: 2,
  maxSnapshotChunkBytes: 16 * MiB,
  maxSnapshotHeaderBytes: 1 * MiB,
  maxSnapshotBytes: 1024 * MiB,
  snapshotTimeoutMs: 60_000,
  // A sender writes its next chunk as soon as the stream has room; 10 s without one means
  // it is stuck or gone (a 16 MiB chunk at 10 MB/s takes under 2 s).
  snapshotIdleTimeoutMs: 10_000,
});

/** Defaults overridden by `partial`; throws RangeError on a bound that makes no sense. */
export function resolveSnapshotStreamLimits(partial: Partial<SnapshotStreamLimits> | undefined): SnapshotStreamLimits {
  // Only the known keys: callers may pass a wider object (the store's SnapshotLimits).
  const p = partial ?? {};
  const d = DEFAULT_SNAPSHOT_STREAM_LIMITS;
  const l: SnapshotStreamLimits = {
    maxConcurrentSnapshotSends: p.maxConcurrentSnapshotSends ?? d.maxConcurrentSnapshotSends,
    maxConcurrentSnapshotReceives: p.maxConcurrentSnapshotReceives ?? d.maxConcurrentSnapshotReceives,
    maxSnapshotChunkBytes: p.maxSnapshotChunkBytes ?? d.maxSnapshotChunkBytes,
    maxSnapshotHeaderBytes: p.maxSnapshotHeaderBytes ?? d.maxSnapshotHeaderBytes,
    maxSnapshotBytes: p.maxSnapshotBytes ?? d.maxSnapshotBytes,
    snapshotTimeoutMs: p.snapshotTimeoutMs ?? d.snapshotTimeoutMs,
    snapshotIdleTimeoutMs: 0,
  };
  l.snapshotIdleTimeoutMs = p.snapshotIdleTimeoutMs ?? Math.min(d.snapshotIdleTimeoutMs, l.snapshotTimeoutMs);
  for (const [name, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`transport: snapshot limit ${name} must be a non-negative integer, got ${String(v)}`);
  }
  for (const name of ['maxSnapshotChunkBytes', 'maxSnapshotHeaderBytes', 'maxSnapshotBytes', 'snapshotTimeoutMs', 'snapshotIdleTimeoutMs'] as const) {
    if (l[name] === 0) throw new RangeError(`transport: snapshot limit ${name} must be positive`);
  }
  // An idle timeout longer than the whole call would never fire first: pointless.
  if (l.snapshotIdleTimeoutMs > l.snapshotTimeoutMs) {
    throw new RangeError(`transport: snapshotIdleTimeoutMs ${l.snapshotIdleTimeoutMs} exceeds snapshotTimeoutMs ${l.snapshotTimeoutMs}`);
  }
  return l;
}
