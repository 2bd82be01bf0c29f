// Deletes spans of keys in the background: compacted log entries and destroyed ranges.
// One bounded batch (deleteBatchKeys keys, non-sync) per turn (`nextTurn`: setImmediate in
// production, the simulation's scheduler on a MemDisk), so the hot path is never blocked
// for long. Losing such a delete in a crash is harmless: what it deletes
// is already unreachable (below a truncated index, or of a destroyed range), and the engine
// schedules the same spans again at open.
import type { ColumnFamily } from './column-families.js';
import type { Db } from './db.js';
import type { NextTurn } from './storage-clock.js';

interface Job {
  cf: ColumnFamily;
  next: Buffer;
  lt: Buffer | undefined;
  done: () => void;
  fail: (e: Error) => void;
}

export class BackgroundDeleter {
  private jobs: Job[] = [];
  private running = false;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  /** Keys deleted since start (for tests and metrics). */
  deletedKeys = 0;

  constructor(private readonly db: Db, private readonly batchKeys: number, private readonly nextTurn: NextTurn) {}

  /** Deletes every key of `cf` in [gte, lt) (no lt: to the end); resolves when done (or at stop()). */
  deleteSpan(cf: ColumnFamily, gte: Buffer, lt: Buffer | undefined): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.jobs.push({ cf, next: gte, lt, done: resolve, fail: reject });
      if (!this.running) {
        this.running = true;
        this.nextTurn(() => this.step());
      }
    });
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  get pendingJobs(): number {
    return this.jobs.length;
  }

  /** Resolves once every queued job has finished. */
  drain(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Finishes the batch in progress and drops the rest (they are redone at the next open). */
  async stop(): Promise<void> {
    this.stopped = true;
    const jobs = this.jobs;
    this.jobs = [];
    for (const j of jobs) j.done();
    await this.drain();
  }

  private step(): void {
    const job = this.jobs[0];
    if (job === undefined || this.stopped) {
      this.running = false;
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
      return;
    }
    try {
      const span = job.lt === undefined ? { gte: job.next } : { gte: job.next, lt: job.lt };
      const keys = this.db.scanKeys(job.cf, span, this.batchKeys);
      if (keys.length > 0) {
        this.db.writeBatch((b) => { for (const k of keys) b.del(job.cf, k); }, { sync: false });
        this.deletedKeys += keys.length;
        job.next = Buffer.concat([keys[keys.length - 1]!, ZERO]);
      }
      if (keys.length < this.batchKeys) {
        this.jobs.shift();
        job.done();
      }
    } catch (e) {
      this.jobs.shift();
      job.fail(e instanceof Error ? e : new Error(String(e)));
    }
    this.nextTurn(() => this.step());
  }
}

const ZERO = Buffer.from([0]);
