// How a LogWriter talks to whatever writes and syncs its requests (its backend: the
// log-writer thread in production, a MemDisk in the simulation), and the messages between
// them. Requests are numbered from 1 in submission order; the backend writes them in that
// order and acknowledges "everything up to id N is written (and durable, for every request
// that asked for sync)", so one small message answers a whole group commit. A group is
// fsynced when any of its requests asked for sync; a group of unsynced requests only is
// written without one (RocksDB's WAL write: it survives a process crash, not a power loss,
// and the next fsync makes it durable with everything before it).

export interface WorkerInit {
  handle: bigint;
  maxRequestsPerSync: number;
  maxSyncBatchBytes: number;
}

/** Main -> worker: requests firstId .. firstId+lens.length-1, their ops concatenated in `bytes`. */
export interface WriteMsg {
  t: 'write';
  firstId: number;
  lens: Uint32Array;
  /** Per request: 1 = must be durable when acknowledged (fsync), 0 = written is enough. */
  syncs: Uint8Array;
  bytes: ArrayBuffer;
}

export interface StopMsg {
  t: 'stop';
}

/**
 * Main -> worker, fault injection (tests): sleep `ms` before each later synced batch's
 * write + fsync, blocking the whole writer like a slow disk; 0 = off.
 */
export interface SyncDelayMsg {
  t: 'syncDelay';
  ms: number;
}

export type ToWorker = WriteMsg | StopMsg | SyncDelayMsg;

/** Largest injected sync delay (SyncDelayMsg.ms). */
export const MAX_INJECTED_SYNC_DELAY_MS = 10_000;

/** Worker -> main. */
export interface ReadyMsg {
  t: 'ready';
}

/**
 * Requests up to `upToId` are written, durable where they asked for it: one batch of
 * `requests` requests took `syncMicros` (write, plus the fsync when `synced`).
 */
export interface DurableMsg {
  t: 'durable';
  upToId: number;
  requests: number;
  bytes: number;
  syncMicros: number;
  /** The batch was fsynced (some request in it asked for sync). */
  synced: boolean;
}

/** The batch ending at `upToId` failed; the worker writes nothing more. */
export interface FailedMsg {
  t: 'failed';
  upToId: number;
  message: string;
}

export type FromWorker = ReadyMsg | DurableMsg | FailedMsg;

/** Where a LogWriter's requests go. */
export interface LogWriterBackend {
  /** Hands over requests msg.firstId.. in order; msg.bytes belongs to the backend from now on. */
  send(msg: WriteMsg): void;
  /** Fault injection: SyncDelayMsg's delay for the batches after this call (ms checked by the LogWriter). */
  setSyncDelay(ms: number): void;
  /**
   * Writes `parts` as one batch on the caller's thread, fsynced when `sync`, before
   * returning (throws if the write failed), or returns null having written nothing when
   * this backend cannot (the in-memory one, whose fsync takes simulated time, declines
   * every batch whose simulated fsync would not be instant). Called only while nothing
   * sent is unacknowledged.
   */
  writeNow(parts: readonly Uint8Array[], sync: boolean): { syncMicros: number; synced: boolean } | null;
  /** Runs `fn` on the caller's thread at its next turn (LogWriter.submitSoon). */
  nextTurn(fn: () => void): void;
  /** Nothing more will be sent: resolves once the backend has stopped (it writes nothing more). */
  stop(): Promise<void>;
}

/** What a backend reports to its LogWriter. */
export interface LogWriterEvents {
  message(m: FromWorker): void;
  /** The backend broke (not a failed write: that is a FailedMsg); nothing more is written. */
  error(e: Error): void;
}

/** Connects a LogWriter (its events) to a backend. */
export type ConnectBackend = (events: LogWriterEvents) => LogWriterBackend;

/** A request waiting in a backend: its id, encoded ops, and whether it must be durable. */
export interface PendingRequest {
  id: number;
  bytes: Uint8Array;
  sync: boolean;
}

/**
 * Group commit: the requests `queue[head..end)` make the next batch: at most
 * maxRequestsPerSync of them, and no more than maxSyncBatchBytes unless a single request is
 * bigger (it then goes alone). At least one when any is queued. `sync`: some request of the
 * group asked for it (the batch is fsynced).
 */
export function syncGroupEnd(queue: readonly PendingRequest[], head: number, maxRequestsPerSync: number, maxSyncBatchBytes: number): { end: number; bytes: number; sync: boolean } {
  let bytes = 0;
  let end = head;
  let sync = false;
  while (end < queue.length && end - head < maxRequestsPerSync) {
    const r = queue[end]!;
    const size = r.bytes.length;
    if (end > head && bytes + size > maxSyncBatchBytes) break;
    bytes += size;
    sync ||= r.sync;
    end++;
  }
  return { end, bytes, sync };
}

/** Splits a WriteMsg into its requests (views into msg.bytes). */
export function requestsOf(m: WriteMsg): PendingRequest[] {
  const all = new Uint8Array(m.bytes);
  const out: PendingRequest[] = [];
  let off = 0;
  for (let i = 0; i < m.lens.length; i++) {
    const len = m.lens[i]!;
    out.push({ id: m.firstId + i, bytes: all.subarray(off, off + len), sync: m.syncs[i] !== 0 });
    off += len;
  }
  return out;
}

/** An integer number of ms in 0..MAX_INJECTED_SYNC_DELAY_MS. */
export function isInjectedSyncDelay(ms: unknown): ms is number {
  return Number.isSafeInteger(ms) && (ms as number) >= 0 && (ms as number) <= MAX_INJECTED_SYNC_DELAY_MS;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

export function isToWorker(v: unknown): v is ToWorker {
  if (!isObject(v)) return false;
  if (v['t'] === 'stop') return true;
  if (v['t'] === 'syncDelay') return isInjectedSyncDelay(v['ms']);
  return v['t'] === 'write' && typeof v['firstId'] === 'number' && v['lens'] instanceof Uint32Array && v['syncs'] instanceof Uint8Array
    && v['syncs'].length === v['lens'].length && v['bytes'] instanceof ArrayBuffer;
}

export function isFromWorker(v: unknown): v is FromWorker {
  if (!isObject(v)) return false;
  switch (v['t']) {
    case 'ready': return true;
    case 'durable': return typeof v['upToId'] === 'number' && typeof v['syncMicros'] === 'number' && typeof v['synced'] === 'boolean';
    case 'failed': return typeof v['upToId'] === 'number' && typeof v['message'] === 'string';
    default: return false;
  }
}
