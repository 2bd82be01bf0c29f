// What the engine's parts share: the DB, the log writer, the background deleter, limits
// and the registry of ranges. StorageEngine owns it; the other modules take it as their
// first argument so each concept stays in its own file.
import type { BackgroundDeleter } from './background-deleter.js';
import { UnknownRangeError } from './errors.js';
import type { StorageLimits } from './limits.js';
import type { CacheBudget } from './log-cache.js';
import type { RangeLogStore } from './log-store.js';
import type { LogWriter } from './log-writer.js';
import type { RocksDb } from './rocks.js';

export interface EngineContext {
  /** The store directory: RocksDB lives in `<dir>/db`, staged snapshots in `<dir>/snapshots`. */
  readonly dir: string;
  readonly stagingDir: string;
  readonly db: RocksDb;
  readonly writer: LogWriter;
  readonly deleter: BackgroundDeleter;
  readonly limits: StorageLimits;
  readonly budget: CacheBudget;
  readonly ranges: Map<number, RangeLogStore>;
  /** Range ids being created or destroyed: not usable, not reusable meanwhile. */
  readonly reserved: Set<number>;
  /** Ingests in progress (closing the engine waits for them). */
  readonly ingests: Set<Promise<unknown>>;
}

export function storeOf(ctx: EngineContext, rangeId: number, what: string): RangeLogStore {
  const s = ctx.ranges.get(rangeId);
  if (s === undefined) throw new UnknownRangeError(rangeId, what);
  return s;
}
