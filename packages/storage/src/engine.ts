// StorageEngine: one store's storage. One database (column families default, raft, meta),
// one log writer that owns every sync write, a background deleter, and a RangeLogStore per
// range.
//
//   const engine = await StorageEngine.open('/var/lib/rangekv/store-1');
//   const store = await engine.createRange({ descriptor, confState });
//   const node = new RawNode({ id, storage: store, ... });
//   await engine.persistReady(rangeId, rd); node.ackPersisted(rd);
//   engine.apply(rangeId, { puts, applied: { index, term } });
//   await engine.close();
//
// Two ways to open, one engine: `open(dir)` runs on RocksDB, the log-writer thread, node:fs
// and setImmediate; `openOnDisk(disk, { clock })` runs the same code on a MemDisk (an
// in-memory database and staging files that survive a simulated crash), with every turn,
// timer and fsync delay taken from the given clock: no real time, I/O or threads, so a
// simulation that drives the clock gets one execution per seed. The two differ only in four
// seams (EngineParts): the Db, the log writer's backend, the staging files and the turns.
//
// Open: check the column families on disk (before RocksDB may "repair" them), open, check
// the format version, load every range, start the log writer, finish interrupted snapshot
// ingests, resume interrupted range destroys, and sweep log entries left below truncated
// indexes by lost background deletes.
import type { Ready } from '@rangekv/raft';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { applyWrites, type ApplyBatch } from './apply-writes.js';
import { BackgroundDeleter } from './background-deleter.js';
import { ColumnFamily } from './column-families.js';
import type { Db } from './db.js';
import { storeOf, type EngineContext } from './engine-context.js';
import { StorageError } from './errors.js';
import { IdAllocator, type IdSpace } from './id-allocator.js';
import { FORMAT_VERSION_KEY, entryKey, prefixSpan, KeyPrefix, parseRangeKey } from './keys.js';
import { resolveLimits, type StorageLimits } from './limits.js';
import { CacheBudget } from './log-cache.js';
import { compactLog } from './log-compaction.js';
import { RangeLogStore } from './log-store.js';
import { LogWriter, type LogWriterStats } from './log-writer.js';
import type { MemDisk } from './mem-disk.js';
import { memLogWriterBackend, type SyncDelay } from './mem-log-writer.js';
import { splitRange, type SplitInit } from './range-split.js';
import { ReadyBatch, deferReady, flushDeferredHardStates, persistReady } from './persist-ready.js';
import { createRange, destroyRange, mergeRanges, resumeDestroys, tombstoneOf, type CreateRangeInit, type DestroyOptions, type MergeInit } from './range-lifecycle.js';
import { loadRanges } from './range-load.js';
import { RocksDb } from './rocks.js';
import { ingestStaged, recoverIngests, type IngestFaults } from './snapshot-ingest.js';
import { receiveSnapshot, type SnapshotReceiver, type StagedSnapshot } from './snapshot-receiver.js';
import { openSnapshotSource, type SnapshotSource } from './snapshot-source.js';
import { removeStaleStaging, type Staging } from './snapshot-staging.js';
import { nodeStagingFs } from './staging-fs.js';
import { setImmediateTurn, type NextTurn, type StorageClock } from './storage-clock.js';
import { checkColumnFamilies, checkColumnFamilyNames, checkFormat, encodeFormatVersion, FORMAT_VERSION, rocksDbExists } from './store-format.js';
import { WriteOps } from './write-ops.js';

export interface StorageEngineOptions {
  limits?: Partial<StorageLimits>;
}

export interface MemEngineOptions extends StorageEngineOptions {
  /**
   * Time and turns for everything the engine does later: background deletes, ingest
   * batches, the log writer's group commits and their fsync delays. A multiraft HostClock
   * fits. What the engine schedules is dropped once the disk crashes.
   */
  clock: StorageClock;
  /** Simulated fsync time of one sync batch, in the clock's ms (default: DEFAULT_SYNC_DELAY_MS). */
  syncDelay?: SyncDelay;
}

/** The in-memory engine's fsync time when no syncDelay is given. */
export const DEFAULT_SYNC_DELAY_MS = 1;

export interface OpenReport {
  ranges: number;
  ingestsRecovered: number;
  destroysResumed: number;
  /** Ranges whose log held entries at or below its truncated index (a compaction's delete cut short): deleted again. */
  logSweepsResumed: number;
  staleStagingRemoved: number;
}

/** The parts one open differs in (see the file comment); everything else is shared. */
interface EngineParts {
  /** Names the store in errors: the store directory, or the MemDisk's name. */
  dir: string;
  /** Names the database in format errors. */
  dbLabel: string;
  db: Db;
  staging: Staging;
  nextTurn: NextTurn;
  startWriter(): Promise<LogWriter>;
  /** False once the engine's process is gone (a MemDisk crashed under it). */
  alive(): boolean;
}

export class StorageEngine {
  private closed = false;
  private readonly background: Promise<unknown>[] = [];

  private constructor(private readonly ctx: EngineContext, private readonly alive: () => boolean, readonly openReport: OpenReport) {}

  /** Opens (creating if needed) the store in `dir`: RocksDB in `<dir>/db`, staged snapshots in `<dir>/snapshots`. */
  static async open(dir: string, opts: StorageEngineOptions = {}): Promise<StorageEngine> {
    const limits = resolveLimits(opts.limits);
    const dbDir = join(dir, 'db');
    mkdirSync(dir, { recursive: true });
    if (rocksDbExists(dbDir)) checkColumnFamilies(dbDir);
    const db = await RocksDb.open(dbDir, limits);
    return StorageEngine.openParts({
      dir, dbLabel: dbDir, db, staging: { fs: nodeStagingFs, root: join(dir, 'snapshots') }, nextTurn: setImmediateTurn,
      startWriter: () => LogWriter.start(db, limits), alive: () => true,
    }, limits);
  }

  /**
   * Opens the store held by `disk` (creating it if the disk is empty) with the same open
   * path as open(): after `disk.crash()` this recovers what RocksDB would after a kill.
   * One engine per disk at a time (StorageError DISK_IN_USE).
   */
  static async openOnDisk(disk: MemDisk, opts: MemEngineOptions): Promise<StorageEngine> {
    const limits = resolveLimits(opts.limits);
    checkColumnFamilyNames(disk.name, disk.columnFamilies);
    const db = disk.openDb();
    const clock = disk.bindClock(opts.clock);
    const generation = disk.generation;
    const syncDelay = opts.syncDelay ?? ((): number => DEFAULT_SYNC_DELAY_MS);
    return StorageEngine.openParts({
      dir: disk.name, dbLabel: disk.name, db, staging: { fs: disk.stagingFs(), root: '/snapshots' }, nextTurn: clock.nextTurn,
      startWriter: async () => LogWriter.over(memLogWriterBackend(db, clock, syncDelay, limits), limits),
      alive: () => disk.generation === generation,
    }, limits);
  }

  private static async openParts(p: EngineParts, limits: StorageLimits): Promise<StorageEngine> {
    const db = p.db;
    let writer: LogWriter | null = null;
    try {
      const stamp = checkFormat(db, p.dbLabel);
      writer = await p.startWriter();
      if (stamp) await writer.submit(new WriteOps(32).put(ColumnFamily.Meta, FORMAT_VERSION_KEY, encodeFormatVersion(FORMAT_VERSION)));
      const budget = new CacheBudget(limits.maxTotalCacheBytes);
      const ctx: EngineContext = {
        dir: p.dir, staging: p.staging, db, writer, limits, budget, nextTurn: p.nextTurn,
        deleter: new BackgroundDeleter(db, limits.deleteBatchKeys, p.nextTurn),
        ranges: new Map(), reserved: new Set(), clearing: new Map(), ingests: new Set(), deferredHardStates: new Set(),
      };
      // The lowest log index each range still stores (null: none), as loaded.
      const firstStored = new Map<number, number | null>();
      for (const st of loadRanges(db)) {
        ctx.ranges.set(st.rangeId, new RangeLogStore(db, st, limits, budget));
        firstStored.set(st.rangeId, st.firstStoredIndex);
      }
      const ingestsRecovered = await recoverIngests(ctx);
      const destroys = resumeDestroys(ctx);
      // No ingest marker is left: every staging directory is from an aborted or unfinished receive.
      const staleStagingRemoved = await removeStaleStaging(ctx.staging, new Set());
      // Entries at or below a truncated index are the leftovers of a background delete a
      // crash cut short: delete them again, only where the load saw one (nothing writes
      // below a truncated index, and an ingest recovered above may only have raised it).
      // One job per range with nothing to delete cost a RocksDB iterator each, ~9 % of a
      // 10,000-range store's CPU in the seconds after its restart.
      const sweeps = [...ctx.ranges.values()].filter((s) => {
        const first = firstStored.get(s.rangeId);
        return s.truncated.index > 0 && (first === undefined || (first !== null && first <= s.truncated.index));
      });
      const engine = new StorageEngine(ctx, p.alive, {
        ranges: ctx.ranges.size, ingestsRecovered, destroysResumed: destroys.length, logSweepsResumed: sweeps.length, staleStagingRemoved,
      });
      engine.background.push(...destroys);
      for (const s of sweeps) {
        engine.background.push(ctx.deleter.deleteSpan(ColumnFamily.Raft, entryKey(s.rangeId, 0), entryKey(s.rangeId, s.truncated.index + 1)));
      }
      return engine;
    } catch (e) {
      if (writer) await writer.close().catch(() => {});
      await db.close();
      throw e;
    }
  }

  get dir(): string {
    return this.ctx.dir;
  }

  get limits(): Readonly<StorageLimits> {
    return this.ctx.limits;
  }

  /** The range's log store (its RaftStorage); UnknownRangeError if it does not exist. */
  range(rangeId: number): RangeLogStore {
    return storeOf(this.ctx, rangeId, 'range');
  }

  hasRange(rangeId: number): boolean {
    return this.ctx.ranges.has(rangeId);
  }

  /**
   * The raft id this store's replica of `rangeId` had when it was last destroyed with a
   * tombstone (DestroyOptions.tombstoneReplicaId), or 0: a message to that id or a lower one
   * is from a leader that has not learned of the removal. One point read.
   */
  tombstoneOf(rangeId: number): number {
    return tombstoneOf(this.ctx, rangeId);
  }

  rangeIds(): number[] {
    return [...this.ctx.ranges.keys()].sort((a, b) => a - b);
  }

  /** Spans of destroyed ranges whose data is still being deleted, by range id (no snapshot may land on them yet). */
  clearingSpans(): ReadonlyMap<number, { startKey: Uint8Array; endKey: Uint8Array }> {
    return this.ctx.clearing;
  }

  /** Creates a range: initialized (descriptor + configuration) or uninitialized ({ rangeId }). */
  createRange(init: CreateRangeInit): Promise<RangeLogStore> {
    return createRange(this.ctx, init);
  }

  /** Durably removes a range; its log (and data, if asked) go in the background. */
  destroyRange(rangeId: number, opts: DestroyOptions): Promise<{ whenDeleted: Promise<void> }> {
    return destroyRange(this.ctx, rangeId, opts);
  }

  /** Persists one group's Ready; see persist-ready.ts. */
  persistReady(rangeId: number, rd: Ready): Promise<void> {
    return persistReady(this.ctx, rangeId, rd);
  }

  /** A batch of many groups' Readies, persisted with one log-writer request. */
  readyBatch(): ReadyBatch {
    return new ReadyBatch(this.ctx);
  }

  /**
   * Takes a Ready that needs no fsync (mustSync unset) of a group with nothing in flight:
   * visible at once, its hard state written later (see persist-ready.ts). The caller
   * acknowledges it right away.
   */
  deferReady(rangeId: number, rd: Ready): void {
    deferReady(this.ctx, rangeId, rd);
  }

  /**
   * Resolves once everything submitted to the log writer so far is written (a barrier: it
   * waits for no fsync of its own). For a main-thread write that must land after them.
   */
  whenWritten(): Promise<void> {
    return this.ctx.writer.submit(new Uint8Array(0), { sync: false });
  }

  /** Ranges with a deferred (unwritten) hard state. */
  get deferredHardStates(): number {
    return this.ctx.deferredHardStates.size;
  }

  /** Writes the deferred hard states now (one unsynced log-writer request); resolves once written. */
  flushDeferredHardStates(): Promise<void> {
    return flushDeferredHardStates(this.ctx);
  }

  /** State-machine writes plus the applied index in one batch, no fsync. */
  apply(rangeId: number, batch: ApplyBatch): void {
    applyWrites(this.ctx, rangeId, batch);
  }

  /**
   * Splits a range at apply time: the left range's apply batch plus the right range's
   * creation in one batch (see range-split.ts). Returns the right range's log store.
   */
  splitRange(leftId: number, init: SplitInit): RangeLogStore {
    return splitRange(this.ctx, leftId, init);
  }

  /** Merges `init.rightId` into `leftId` (range-lifecycle.ts): durable when this resolves. */
  mergeRanges(leftId: number, init: MergeInit): Promise<{ whenDeleted: Promise<void> }> {
    return mergeRanges(this.ctx, leftId, init);
  }

  /** A durable id allocator over `space`, persisted under `name` (see id-allocator.ts). */
  idAllocator(name: string, space: IdSpace): IdAllocator {
    return new IdAllocator(this.ctx, name, space);
  }

  compactLog(rangeId: number, index: number): Promise<{ whenDeleted: Promise<void> }> {
    return compactLog(this.ctx, rangeId, index);
  }

  snapshotSource(rangeId: number): SnapshotSource {
    return openSnapshotSource(this.ctx, rangeId);
  }

  receiveSnapshot(headerBytes: Uint8Array): Promise<SnapshotReceiver> {
    return receiveSnapshot(this.ctx, headerBytes);
  }

  /** Ingests a staged snapshot directly (persistReady does this for a Ready's snapshot). */
  ingestSnapshot(staged: StagedSnapshot, faults?: IngestFaults): Promise<void> {
    return ingestStaged(this.ctx, staged.stagingId, undefined, faults);
  }

  /** Waits until background deletes (compaction, destroys, open-time sweeps) are done. */
  async drainBackground(): Promise<void> {
    await Promise.all(this.background.splice(0));
    await this.ctx.deleter.drain();
  }

  get deletedKeys(): number {
    return this.ctx.deleter.deletedKeys;
  }

  writerStats(): LogWriterStats {
    return this.ctx.writer.stats();
  }

  /** The log writer, for callers that submit their own raft/meta ops. */
  get logWriter(): LogWriter {
    return this.ctx.writer;
  }

  /** Raw DB access for tests and tools (reads; writes must respect the invariants in README). */
  get db(): Db {
    return this.ctx.db;
  }

  /**
   * The RocksDB handle other threads open the same DB by (RocksDb.openByHandle: the store's
   * apply workers). The in-memory engine has none (StorageError NO_NATIVE_DB): apply inline.
   */
  nativeDbHandle(): bigint {
    if (this.ctx.db instanceof RocksDb) return this.ctx.db.handle;
    throw new StorageError('NO_NATIVE_DB', `${this.ctx.dir}: the in-memory engine has no RocksDB handle for other threads; apply on the main thread`);
  }

  /** Ids of ranges with a destroy in progress (their ids are not reusable yet). */
  destroyingRangeIds(): number[] {
    return this.ctx.db.scan(ColumnFamily.Meta, prefixSpan(KeyPrefix.Destroy)).map((kv) => parseRangeKey(KeyPrefix.Destroy, kv.key));
  }

  /**
   * Waits for ingests in progress, stops background deletion (what is left resumes at the
   * next open), drains and stops the log writer, then closes RocksDB (never before the
   * writer's thread is gone: it shares the native DB). An engine whose MemDisk crashed
   * has nothing left to close: this returns at once.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.alive()) return;
    await Promise.allSettled([...this.ctx.ingests]);
    await this.ctx.deleter.stop();
    await Promise.allSettled(this.background.splice(0));
    await flushDeferredHardStates(this.ctx).catch(() => {});
    await this.ctx.writer.close();
    await this.ctx.db.close();
  }
}
