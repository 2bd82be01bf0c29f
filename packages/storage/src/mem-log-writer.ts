// The in-memory engine's LogWriter backend: what the log-writer thread does, over a MemDb,
// with the fsync's duration in simulated time.
//
// Like the thread, it takes every request queued when it is free as one group (same rule:
// syncGroupEnd) on a later turn, so requests submitted in one turn share one sync. A group
// is written at once (visible, not durable: RocksDB's WAL write) and becomes durable
// `syncDelay(...)` ms of the clock later (the fsync), when it is acknowledged; a group no
// request of which asked for sync is acknowledged on the next timer, with no fsync. A crash in
// between keeps the group only as part of the kept prefix (MemDisk.crash keepUnsynced).
//
//   const w = LogWriter.over(memLogWriterBackend(db, clock, () => 1, limits), limits);
import type { LogWriterLimits } from './log-writer.js';
import { requestsOf, syncGroupEnd, type ConnectBackend, type PendingRequest } from './log-writer-protocol.js';
import type { MemDb } from './mem-db.js';
import type { StorageClock } from './storage-clock.js';

/** One sync batch as the delay function sees it. */
export interface SyncBatchInfo {
  requests: number;
  bytes: number;
  /** The clock's time when the batch was written. */
  now: number;
}

/** Simulated fsync time in ms (>= 0) for a sync batch; a simulation can make a slow or jittery disk. */
export type SyncDelay = (batch: SyncBatchInfo) => number;

export function memLogWriterBackend(
  db: MemDb, clock: StorageClock, syncDelay: SyncDelay, limits: Pick<LogWriterLimits, 'maxRequestsPerSync' | 'maxSyncBatchBytes'>,
): ConnectBackend {
  return (events) => {
    const queue: PendingRequest[] = [];
    let head = 0;
    /** A turn is scheduled or a sync is in flight: the next group waits for it. */
    let busy = false;
    let stopped = false;

    const schedule = (): void => {
      if (busy || stopped || head >= queue.length) return;
      busy = true;
      clock.nextTurn(writeGroup);
    };

    const writeGroup = (): void => {
      const { end, bytes, sync } = syncGroupEnd(queue, head, limits.maxRequestsPerSync, limits.maxSyncBatchBytes);
      const parts: Uint8Array[] = [];
      for (let i = head; i < end; i++) parts.push(queue[i]!.bytes);
      const upToId = queue[end - 1]!.id;
      head = end;
      if (head > 4096 && head * 2 > queue.length) {
        queue.splice(0, head);
        head = 0;
      }
      let seq: number | null;
      try {
        seq = db.writeUnsynced(parts);
      } catch (e) {
        stopped = true;
        events.message({ t: 'failed', upToId, message: e instanceof Error ? e.message : String(e) });
        return;
      }
      const t0 = clock.now();
      // Like RocksDB, a batch with no ops writes and syncs nothing: no fsync time either; a
      // batch no request of which asked for sync is written without one.
      const synced = sync && seq !== null;
      const ms = synced ? syncDelay({ requests: parts.length, bytes, now: t0 }) : 0;
      if (!(ms >= 0)) throw new RangeError(`syncDelay must return a number of ms >= 0, got ${ms}`);
      clock.setTimer(ms, () => {
        if (synced) db.syncThrough(seq!);
        busy = false;
        events.message({ t: 'durable', upToId, requests: parts.length, bytes, syncMicros: (clock.now() - t0) * 1000, synced });
        schedule();
      });
    };

    return {
      send: (msg) => {
        for (const r of requestsOf(msg)) queue.push(r);
        schedule();
      },
      // The direct path (LogWriter.tryWriteNow): the caller's thread blocks for the write, so
      // it can take no simulated time. A batch whose drawn fsync time is 0 is written and
      // synced before returning; any other is declined (the caller submits it, and it
      // takes its time like every batch): a simulation keeps the windows a slow fsync opens.
      writeNow: (parts, sync) => {
        if (sync) {
          let bytes = 0;
          for (const p of parts) bytes += p.byteLength;
          if (syncDelay({ requests: parts.length, bytes, now: clock.now() }) !== 0) return null;
        }
        const seq = db.writeUnsynced(parts);
        const synced = sync && seq !== null;
        if (synced) db.syncThrough(seq);
        return { syncMicros: 0, synced };
      },
      nextTurn: (fn) => clock.nextTurn(fn),
      // Ignored: a simulation shapes its disk with `syncDelay` (simulated time); the
      // injected delay is for the log-writer thread of real store processes.
      setSyncDelay: () => {},
      stop: async () => {
        stopped = true;
      },
    };
  };
}
