// LogWriter: where every sync write of the engine goes. Callers (the raft scheduler,
// snapshot ingest, range lifecycle) submit write requests of encoded ops; each submit
// resolves once its request is durable (fsynced), or only written when submitted with
// `{ sync: false }` (it rides in the same ordered queue, so it is written after everything
// submitted before it and before everything after; a batch holding only such requests is
// not fsynced). Requests are written and acknowledged in submission order, so a group's
// Readies become durable in order.
//
// The queue, its bounds and the ordering are here; the writing and syncing is done by a
// backend (log-writer-protocol.ts): the log-writer thread in production (LogWriter.start,
// log-writer-thread.ts), a MemDisk with simulated fsync time in the in-memory engine
// (mem-log-writer.ts). Both group-commit the same way (syncGroupEnd).
//
// Bounded: at most maxQueuedRequests / maxQueuedBytes are submitted and not yet durable.
// Beyond that a request waits (in order) before it is sent; callers that await each submit
// (or `whenWritable()`) therefore stop producing while the disk is slow.
//
//   const w = await LogWriter.start(db, limits);     // or LogWriter.over(backend, limits)
//   const ops = new WriteOps().put(ColumnFamily.Raft, key, value);
//   await w.submit(ops);        // durable
//   await w.close();            // after every submit settled; the DB may be closed then
import { LogWriterClosedError, RequestTooLargeError, invariant } from './errors.js';
import type { StorageLimits } from './limits.js';
import {
  isInjectedSyncDelay, MAX_INJECTED_SYNC_DELAY_MS, type ConnectBackend, type FromWorker, type LogWriterBackend, type WriteMsg,
} from './log-writer-protocol.js';
import { startLogWriterThread } from './log-writer-thread.js';
import type { RocksDb } from './rocks.js';
import type { WriteOps } from './write-ops.js';

interface Request {
  id: number;
  /** Encoded size, counted against maxQueuedBytes until durable. */
  size: number;
  /** The ops; dropped once handed to the backend. */
  bytes: Uint8Array;
  /** Must be durable (fsynced) when acknowledged. */
  sync: boolean;
  resolve: () => void;
  reject: (e: Error) => void;
}

export interface LogWriterStats {
  /** Requests made durable. */
  requests: number;
  /** Sync batches written (one fsync each). */
  syncs: number;
  /** Batches written without fsync (no request in them asked for sync). */
  unsyncedBatches: number;
  /** Encoded op bytes made durable. */
  bytes: number;
  /** Sum and max of the backend's time inside one sync batch write (simulated time for a MemDisk), in microseconds. */
  syncMicrosTotal: number;
  syncMicrosMax: number;
  /** Submits that had to wait for queue space. */
  waits: number;
  /** Requests written on the caller's thread by tryWriteNow or submitSoon (counted in requests too). */
  directWrites: number;
  /** Times the direct path was paused: the sync time's moving average rose above maxDirectSyncMicros. */
  directPauses: number;
}

export type LogWriterLimits = Pick<StorageLimits,
  'maxQueuedRequests' | 'maxQueuedBytes' | 'maxRequestBytes' | 'maxSyncBatchBytes' | 'maxRequestsPerSync' | 'maxDirectWriteBytes' | 'maxDirectSyncMicros'>;

export class LogWriter {
  private readonly backend: LogWriterBackend;
  private readonly limits: LogWriterLimits;
  private nextId = 1;
  /** Sent (or about to be sent) and not yet durable, in id order. */
  private inflight: Request[] = [];
  private inflightHead = 0;
  private inflightBytes = 0;
  /** Admitted, not yet handed to the backend (flushed once per microtask). */
  private outgoing: Request[] = [];
  private flushScheduled = false;
  /** Over the queue limits: waiting for space, in order. */
  private waiting: Request[] = [];
  private waitingHead = 0;
  private writableWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private failure: Error | null = null;
  /**
   * A request taken by submitSoon, to be written on this thread at the backend's next
   * turn: it is first in `inflight`, and every submit meanwhile waits behind it.
   */
  private held: Request | null = null;
  /** A slow disk is being injected: every write goes through the backend, which sleeps. */
  private syncDelayed = false;
  /** Moving average of sync batches' write + fsync time, µs (weight 1/SYNC_AVERAGE_WEIGHT). */
  private syncMicrosAverage = 0;
  /** The average is above maxDirectSyncMicros: a slow disk; every write goes through the backend. */
  private directPaused = false;
  private closing = false;
  private closed: Promise<void> | null = null;
  private readonly st: LogWriterStats = { requests: 0, syncs: 0, unsyncedBatches: 0, bytes: 0, syncMicrosTotal: 0, syncMicrosMax: 0, waits: 0, directWrites: 0, directPauses: 0 };
  /** Metrics hook: each sync batch's write + fsync time in microseconds, once it is durable. Must not throw. */
  onSync: ((syncMicros: number) => void) | null = null;

  private constructor(connect: ConnectBackend, limits: LogWriterLimits) {
    this.limits = limits;
    this.backend = connect({ message: (m) => this.handle(m), error: (e) => this.fail(e) });
  }

  /** Starts the log-writer thread on the DB's handle; resolves once it is ready. */
  static async start(db: RocksDb, limits: LogWriterLimits): Promise<LogWriter> {
    return new LogWriter(await startLogWriterThread(db, limits), limits);
  }

  /** A LogWriter over another backend (the in-memory engine's: mem-log-writer.ts). */
  static over(connect: ConnectBackend, limits: LogWriterLimits): LogWriter {
    return new LogWriter(connect, limits);
  }

  /**
   * Resolves once the request's ops are durable (with `sync: false`: written, after every
   * earlier request); rejects if the writer failed or closed. A WriteOps is taken over
   * (sealed, not copied); a Uint8Array is copied.
   */
  submit(ops: WriteOps | Uint8Array, opts: { sync?: boolean } = {}): Promise<void> {
    const sync = opts.sync ?? true;
    const bytes = ops instanceof Uint8Array ? ops : ops.bytes();
    if (this.failure) return Promise.reject(new LogWriterClosedError('failed earlier', this.failure));
    if (this.closing) return Promise.reject(new LogWriterClosedError('closed'));
    if (bytes.length > this.limits.maxRequestBytes) return Promise.reject(new RequestTooLargeError(bytes.length, this.limits.maxRequestBytes));
    const owned = ops instanceof Uint8Array ? new Uint8Array(bytes) : ops.seal();
    return new Promise<void>((resolve, reject) => {
      const req: Request = { id: 0, size: owned.length, bytes: owned, sync, resolve, reject };
      if (this.held !== null) {
        this.waiting.push(req); // behind the held request; admitted once it is written
      } else if (this.waitingHead < this.waiting.length || !this.hasRoomFor(owned.length)) {
        this.st.waits++;
        this.waiting.push(req);
      } else {
        this.admit(req);
      }
    });
  }

  /**
   * Fault injection (tests): the backend sleeps `ms` before each later synced batch's
   * write + fsync, a slow disk (the log-writer thread; the in-memory backend ignores it).
   * 0 turns it off. RangeError unless an integer in 0..MAX_INJECTED_SYNC_DELAY_MS.
   */
  setSyncDelay(ms: number): void {
    if (!isInjectedSyncDelay(ms)) throw new RangeError(`syncDelayMs must be an integer in [0, ${MAX_INJECTED_SYNC_DELAY_MS}], got ${String(ms)}`);
    this.syncDelayed = ms > 0;
    this.backend.setSyncDelay(ms);
  }

  /**
   * Writes `ops` (fsynced when `sync`) on the calling thread and returns true, when nothing
   * is queued (submitted and not yet acknowledged) and it is at most maxDirectWriteBytes:
   * the same write the backend would do, without the round trip to the log-writer thread
   * (two thread hand-offs, 0.3-1 ms on a busy machine). The thread blocks for the write.
   * Otherwise, or when the backend declines (the in-memory one, for a batch whose
   * simulated fsync takes time), returns false and writes nothing (submit it). Throws
   * LogWriterClosedError if the writer failed, closed, or this write failed (the writer
   * is failed from then on).
   */
  tryWriteNow(ops: WriteOps, opts: { sync?: boolean } = {}): boolean {
    const sync = opts.sync ?? true;
    if (this.failure) throw new LogWriterClosedError('failed earlier', this.failure);
    if (this.closing) throw new LogWriterClosedError('closed');
    if (!this.directAllowed(ops)) return false;
    if (!this.writeDirect(ops.bytes(), sync)) return false;
    ops.seal();
    return true;
  }

  /**
   * tryWriteNow one turn later: when nothing is queued and `ops` is at most
   * maxDirectWriteBytes, takes the request and returns a promise that resolves once it is
   * durable; at the backend's next turn (after what this turn queued for the network has
   * gone out) it is written on this thread, or, if the backend then declines, sent to it
   * like a submit. Requests submitted meanwhile wait behind it: order holds. Otherwise
   * returns null and takes nothing (submit it).
   */
  submitSoon(ops: WriteOps, opts: { sync?: boolean } = {}): Promise<void> | null {
    if (this.failure || this.closing || !this.directAllowed(ops)) return null;
    const owned = ops.seal();
    return new Promise<void>((resolve, reject) => {
      const req: Request = { id: this.nextId++, size: owned.length, bytes: owned, sync: opts.sync ?? true, resolve, reject };
      this.inflight.push(req);
      this.inflightBytes += req.size;
      this.held = req;
      this.backend.nextTurn(() => this.writeHeld(req));
    });
  }

  /**
   * The direct path's conditions besides a live writer: nothing queued (order), a small
   * request, no slow disk (injected, or sync batches averaging over maxDirectSyncMicros).
   */
  private directAllowed(ops: WriteOps): boolean {
    return !this.syncDelayed && !this.directPaused && this.queuedRequests === 0 && ops.byteLength <= this.limits.maxDirectWriteBytes;
  }

  /**
   * One request written on this thread by the backend, counted: true, or false when the
   * backend declines (nothing written). A failed write fails the writer and throws.
   */
  private writeDirect(bytes: Uint8Array, sync: boolean): boolean {
    let r: { syncMicros: number; synced: boolean } | null;
    try {
      r = this.backend.writeNow([bytes], sync);
    } catch (e) {
      this.fail(new Error(`sync write failed: ${e instanceof Error ? e.message : String(e)}`));
      throw new LogWriterClosedError('failed', this.failure!);
    }
    if (r === null) return false;
    this.st.requests++;
    this.st.directWrites++;
    this.record(bytes.length, r.synced, r.syncMicros);
    return true;
  }

  private writeHeld(req: Request): void {
    if (this.held !== req) return; // failed meanwhile: fail() rejected it
    this.held = null;
    let written: boolean;
    try {
      written = this.writeDirect(req.bytes, req.sync);
    } catch {
      return; // the writer failed: fail() rejected the request
    }
    if (!written) {
      // Declined (the in-memory backend: this fsync takes simulated time): it goes first.
      this.outgoing.push(req);
      this.flush();
      this.admitWaiting();
      return;
    }
    invariant(this.inflight[this.inflightHead] === req, 'a held request is the oldest in flight');
    this.inflightHead++;
    this.inflightBytes -= req.size;
    req.bytes = EMPTY;
    req.resolve();
    this.admitWaiting();
    this.notifyIdle();
  }

  /** True when a submit of `bytes` would be sent at once. */
  hasRoomFor(bytes: number): boolean {
    const queued = this.inflight.length - this.inflightHead;
    return queued < this.limits.maxQueuedRequests && this.inflightBytes + bytes <= this.limits.maxQueuedBytes;
  }

  /** Resolves when nothing waits for queue space (for producers that pace themselves). */
  whenWritable(): Promise<void> {
    if (this.waitingHead >= this.waiting.length && this.hasRoomFor(0)) return Promise.resolve();
    return new Promise((resolve) => this.writableWaiters.push(resolve));
  }

  get queuedRequests(): number {
    return this.inflight.length - this.inflightHead + (this.waiting.length - this.waitingHead);
  }

  /** Admitted (sent or about to be) and not yet durable: at most maxQueuedRequests. */
  get inflightRequests(): number {
    return this.inflight.length - this.inflightHead;
  }

  /**
   * The id of the oldest request sent and not yet durable (0 when none). The same id seen
   * twice, some time apart, is a write that waited that long: a disk that hangs shows so
   * before any sync batch completes to report its time. (No clock here: the in-memory
   * engine reads none of its own.)
   */
  oldestInflightId(): number {
    return this.inflight[this.inflightHead]?.id ?? 0;
  }

  get queuedBytes(): number {
    return this.inflightBytes;
  }

  stats(): LogWriterStats {
    return { ...this.st };
  }

  private admit(req: Request): void {
    req.id = this.nextId++;
    this.inflight.push(req);
    this.inflightBytes += req.size;
    this.outgoing.push(req);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Hands every admitted request over as one message: one copy into one (transferred) buffer. */
  private flush(): void {
    this.flushScheduled = false;
    const reqs = this.outgoing;
    if (reqs.length === 0 || this.failure) return;
    this.outgoing = [];
    let total = 0;
    for (const r of reqs) total += r.size;
    const all = new Uint8Array(total);
    const lens = new Uint32Array(reqs.length);
    const syncs = new Uint8Array(reqs.length);
    let off = 0;
    for (let i = 0; i < reqs.length; i++) {
      const b = reqs[i]!.bytes;
      all.set(b, off);
      off += b.length;
      lens[i] = b.length;
      syncs[i] = reqs[i]!.sync ? 1 : 0;
      reqs[i]!.bytes = EMPTY;
    }
    const msg: WriteMsg = { t: 'write', firstId: reqs[0]!.id, lens, syncs, bytes: all.buffer };
    this.backend.send(msg);
  }

  private handle(m: FromWorker): void {
    if (m.t === 'ready') return;
    if (m.t === 'failed') {
      this.fail(new Error(`sync write failed: ${m.message}`));
      return;
    }
    this.record(m.bytes, m.synced, m.syncMicros);
    while (this.inflightHead < this.inflight.length && this.inflight[this.inflightHead]!.id <= m.upToId) {
      const r = this.inflight[this.inflightHead++]!;
      this.inflightBytes -= r.size;
      this.st.requests++;
      r.resolve();
    }
    if (this.inflightHead > 1024 && this.inflightHead * 2 > this.inflight.length) {
      this.inflight = this.inflight.slice(this.inflightHead);
      this.inflightHead = 0;
    }
    this.admitWaiting();
    this.notifyIdle();
  }

  private record(bytes: number, synced: boolean, syncMicros: number): void {
    this.st.bytes += bytes;
    if (synced) {
      this.syncMicrosAverage += (syncMicros - this.syncMicrosAverage) / SYNC_AVERAGE_WEIGHT;
      const slow = this.syncMicrosAverage > this.limits.maxDirectSyncMicros;
      if (slow && !this.directPaused) this.st.directPauses++;
      this.directPaused = slow;
      this.st.syncs++;
      this.st.syncMicrosTotal += syncMicros;
      if (syncMicros > this.st.syncMicrosMax) this.st.syncMicrosMax = syncMicros;
      this.onSync?.(syncMicros);
    } else {
      this.st.unsyncedBatches++;
    }
  }

  private admitWaiting(): void {
    while (this.waitingHead < this.waiting.length) {
      const r = this.waiting[this.waitingHead]!;
      if (!this.hasRoomFor(r.size)) break;
      this.waitingHead++;
      this.admit(r);
    }
    if (this.waitingHead >= this.waiting.length && this.waitingHead > 0) {
      this.waiting = [];
      this.waitingHead = 0;
    }
    if (this.writableWaiters.length > 0 && this.waitingHead >= this.waiting.length && this.hasRoomFor(0)) {
      const ws = this.writableWaiters;
      this.writableWaiters = [];
      for (const w of ws) w();
    }
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    this.held = null;
    const err = new LogWriterClosedError('failed', e);
    for (let i = this.inflightHead; i < this.inflight.length; i++) this.inflight[i]!.reject(err);
    for (let i = this.waitingHead; i < this.waiting.length; i++) this.waiting[i]!.reject(err);
    this.inflight = [];
    this.inflightHead = 0;
    this.waiting = [];
    this.waitingHead = 0;
    this.outgoing = [];
    this.inflightBytes = 0;
    for (const w of this.writableWaiters) w();
    this.writableWaiters = [];
    this.notifyIdle();
  }

  /** The first failure, if any: after it nothing more is written. */
  get failed(): Error | null {
    return this.failure;
  }

  /**
   * Waits for every submitted request to settle, then stops the backend. The backend never
   * closes the shared DB; the owner may close it once this resolves.
   */
  close(): Promise<void> {
    this.closed ??= this.stop();
    return this.closed;
  }

  private async stop(): Promise<void> {
    this.closing = true;
    if (this.queuedRequests > 0 && this.failure === null) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    await this.backend.stop();
    invariant(this.queuedRequests === 0, 'log writer closed with requests pending');
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0 || (this.queuedRequests > 0 && this.failure === null)) return;
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w();
  }
}

const EMPTY = new Uint8Array(0);

/** The sync time's moving average moves 1/8 of the way to each new batch's time. */
const SYNC_AVERAGE_WEIGHT = 8;
