// What the engine's parts share: the DB, the log writer, the background deleter, the
// staging files, the turn function, limits and the registry of ranges. StorageEngine owns
// it; the other modules take it as their first argument so each concept stays in its own
// file. The DB, log writer backend, staging files and turns are the engine's seams: RocksDB,
// the log-writer thread, node:fs and setImmediate in production; a MemDisk and the
// simulation's clock in the in-memory engine (engine.ts openOnDisk).
import type { BackgroundDeleter } from './background-deleter.js';
import { UnknownRangeError } from './errors.js';
import type { StorageLimits } from './limits.js';
import type { CacheBudget } from './log-cache.js';
import type { RangeLogStore } from './log-store.js';
import type { Db } from './db.js';
import type { LogWriter } from './log-writer.js';
import type { Staging } from './snapshot-staging.js';
import type { NextTurn } from './storage-clock.js';

export interface EngineContext {
  /** The store directory (RocksDB in `<dir>/db`, staged snapshots in `<dir>/snapshots`), or a MemDisk's name. */
  readonly dir: string;
  readonly staging: Staging;
  readonly db: Db;
  /** Where background work takes its next step (setImmediate in production). */
  readonly nextTurn: NextTurn;
  readonly writer: LogWriter;
  readonly deleter: BackgroundDeleter;
  readonly limits: StorageLimits;
  readonly budget: CacheBudget;
  readonly ranges: Map<number, RangeLogStore>;
  /** Range ids being created or destroyed: not usable, not reusable meanwhile. */
  readonly reserved: Set<number>;
  /**
   * Spans of destroyed ranges whose user keys are still being deleted in the background,
   * by range id: no snapshot may be ingested over them meanwhile (the deletion, or its
   * resumption after a restart, would delete the new data).
   */
  readonly clearing: Map<number, { startKey: Uint8Array; endKey: Uint8Array }>;
  /** Ingests in progress (closing the engine waits for them). */
  readonly ingests: Set<Promise<unknown>>;
  /** Ranges whose newest hard state only moved the commit index and is not written yet (persist-ready.ts). */
  readonly deferredHardStates: Set<RangeLogStore>;
}

export function storeOf(ctx: EngineContext, rangeId: number, what: string): RangeLogStore {
  const s = ctx.ranges.get(rangeId);
  if (s === undefined) throw new UnknownRangeError(rangeId, what);
  return s;
}
