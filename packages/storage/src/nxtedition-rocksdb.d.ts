// Types for the parts of @nxtedition/rocksdb (v12.2) this package uses. The package ships
// no types; everything here was read off its index.js, iterator.js, chained-batch.js and
// binding.cc. Only `rocks.ts` imports the module: the rest of the package sees RocksDb.
declare module '@nxtedition/rocksdb' {
  /** An opaque native ColumnFamilyHandle (a napi external). */
  export interface RocksColumn {
    readonly __rocksColumn: unique symbol;
  }

  export interface RocksColumnOptions {
    compression?: boolean;
    /** Block cache bytes of this column family (its own cache; default 8 MiB; uint32). */
    cacheSize?: number;
    /**
     * 'level': level compaction tuned by memtableMemoryBudget: write buffers of budget/4,
     * at most 6 of them, two merged per flush, L1 of budget bytes, L0/L1 uncompressed.
     */
    compaction?: 'level' | 'universal';
    /** With `compaction`: the bytes the column family's memtables are sized from. */
    memtableMemoryBudget?: number;
    optimize?: 'point-lookup' | 'range-lookup';
  }

  export interface RocksOpenOptions {
    createIfMissing?: boolean;
    errorIfExists?: boolean;
    /** Every column family of the DB, `default` included. Missing ones are created. */
    columns?: Record<string, RocksColumnOptions>;
    walCompression?: boolean;
    infoLogLevel?: 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'header';
    parallelism?: number;
  }

  export interface RocksReadOptions {
    column?: RocksColumn;
    fillCache?: boolean;
  }

  export interface RocksIteratorOptions {
    column?: RocksColumn;
    gt?: Buffer;
    gte?: Buffer;
    lt?: Buffer;
    lte?: Buffer;
    reverse?: boolean;
    limit?: number;
    keys?: boolean;
    values?: boolean;
    fillCache?: boolean;
    highWaterMarkBytes?: number;
  }

  export interface RocksWriteOptions {
    sync?: boolean;
    lowPriority?: boolean;
  }

  export interface RocksOpOptions {
    column?: RocksColumn;
  }

  /** A WriteBatch. `_put`/`_del`/`_writeSync`/`_closeSync` are the binding's synchronous API. */
  export interface RocksChainedBatch {
    _put(key: Buffer, value: Buffer, options: RocksOpOptions): void;
    _del(key: Buffer, options: RocksOpOptions): void;
    /** Writes on the calling thread; with sync: true it returns after fsync. Throws on error. */
    _writeSync(options: RocksWriteOptions): void;
    _closeSync(): void;
    readonly length: number;
  }

  export interface RocksIterator {
    /** Up to `size` rows as [key, value, key, value, ...]; keys/values undefined when not asked. */
    _nextvSync(size: number, options: object): { rows: (Buffer | undefined)[]; finished: boolean };
    /** Repositions: forward, at the first key >= target; reverse, at the last key <= target (within the bounds). Non-empty target. */
    _seekSync(target: Buffer): void;
    _closeSync(): void;
    close(): Promise<void>;
  }

  export class RocksLevel {
    /** A path opens (or creates) a DB; a bigint handle from another thread's `.handle` shares it. */
    constructor(locationOrHandle: string | bigint, options?: { keyEncoding?: 'buffer'; valueEncoding?: 'buffer' });
    open(options?: RocksOpenOptions): Promise<void>;
    close(): Promise<void>;
    readonly status: 'opening' | 'open' | 'closing' | 'closed';
    readonly columns: Record<string, RocksColumn>;
    readonly handle: bigint;
    readonly location: string;
    batch(): RocksChainedBatch;
    /** Releases a resource (batch) from the DB's bookkeeping without the async close(). */
    detachResource(resource: object): void;
    iterator(options: RocksIteratorOptions): RocksIterator;
    /** MultiGet on the calling thread; undefined where a key is absent. */
    _getManySync(keys: Buffer[], options: RocksReadOptions): (Buffer | undefined | null)[];
    getProperty(property: string): string;
  }
}
