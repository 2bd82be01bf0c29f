// MemDisk: the simulated disk of one store. It holds what a store directory holds - the
// database (three column families) and the staged snapshot files - and outlives the
// engines opened on it, so a simulation can "power off" a store (crash()) and open a new
// engine on what survived (StorageEngine.openOnDisk).
//
// Crash model (RocksDB's WAL, which is one sequential file):
// - every write is visible at once, sync or not;
// - a write is durable once a sync of it or of a later write completed (an fsync makes
//   everything before it in the WAL durable);
// - crash() keeps the durable state and, optionally, the first `keepUnsynced` writes after
//   it, in order (a process kill keeps what reached the OS: keepUnsynced = Infinity; a
//   power loss may keep any prefix); everything else is lost;
// - staged snapshot files are durable once written (staging fsyncs every file).
//
// After crash() the engine that was open is dead: its MemDb's writes are dropped (counted
// in staleWritesDropped) and its reads see the state at the crash; its staging calls and
// the log-writer syncs it had in flight never complete; the turns and timers it scheduled
// through openOnDisk's clock do not run. Drop it; do not close it.
//
//   const disk = new MemDisk();
//   const e1 = await StorageEngine.openOnDisk(disk, { clock });
//   ... writes ...
//   disk.crash({ keepUnsynced: 0 });                  // e1 is dead
//   const e2 = await StorageEngine.openOnDisk(disk, { clock });  // recovers like after a kill
import { COLUMN_FAMILY_NAMES } from './column-families.js';
import { StorageError, invariant } from './errors.js';
import { MemDb, type Trees } from './mem-db.js';
import { MemFiles, memStagingFs } from './mem-staging-fs.js';
import { MemTree } from './mem-tree.js';
import type { StagingFs } from './staging-fs.js';
import type { StorageClock } from './storage-clock.js';

export interface MemDiskOptions {
  /** Names the disk (the engine's `dir`) in errors; default 'memdisk'. */
  name?: string;
  /** Column families the disk holds (default ours); anything else is refused at open, as a damaged RocksDB would be. */
  columnFamilies?: readonly string[];
}

export interface CrashOptions {
  /** Writes after the durable state to keep, oldest first (default 0; Infinity = all, a process kill). */
  keepUnsynced?: number;
}

export interface CrashReport {
  /** Writes that were not durable and survived (the kept prefix). */
  keptWrites: number;
  lostWrites: number;
}

interface UnsyncedWrite {
  seq: number;
  /** The write's encoded ops (for dump()). */
  ops: Uint8Array;
  /** The state right after this write. */
  after: Trees;
}

const EMPTY: Trees = [MemTree.EMPTY, MemTree.EMPTY, MemTree.EMPTY];

export class MemDisk {
  readonly name: string;
  readonly columnFamilies: readonly string[];
  #generation = 0;
  #live: Trees = EMPTY;
  #durable: Trees = EMPTY;
  /** Writes after #durable, oldest first. */
  #unsynced: UnsyncedWrite[] = [];
  #seq = 0;
  #durableSeq = 0;
  #open: { generation: number; frozen: Trees | null } | null = null;
  #staleWritesDropped = 0;
  readonly #files = new MemFiles();

  constructor(opts: MemDiskOptions = {}) {
    this.name = opts.name ?? 'memdisk';
    this.columnFamilies = [...(opts.columnFamilies ?? COLUMN_FAMILY_NAMES)];
  }

  /** Bumped by every crash(); handles from an older generation are dead. */
  get generation(): number {
    return this.#generation;
  }

  /** Sequence number of the last write (writes are numbered from 1). */
  get lastWriteSeq(): number {
    return this.#seq;
  }

  /** Sequence number of the last durable write. */
  get durableSeq(): number {
    return this.#durableSeq;
  }

  /** Writes visible but not durable yet. */
  get unsyncedWrites(): number {
    return this.#unsynced.length;
  }

  /** Writes made through a dead handle (after a crash) and dropped. */
  get staleWritesDropped(): number {
    return this.#staleWritesDropped;
  }

  get isOpen(): boolean {
    return this.#open !== null;
  }

  /**
   * Opens the database (one at a time, like RocksDB's lock: StorageError DISK_IN_USE
   * otherwise). The MemDb is live until closed or until the disk crashes.
   */
  openDb(): MemDb {
    if (this.#open !== null) throw new StorageError('DISK_IN_USE', `${this.name} is already open (close its engine first, or crash() it)`);
    const gen = this.#generation;
    const att: { generation: number; frozen: Trees | null } = { generation: gen, frozen: null };
    this.#open = att;
    return new MemDb({
      read: () => att.frozen ?? this.#live,
      commit: (next, ops, sync) => {
        if (att.frozen !== null) {
          this.#staleWritesDropped++;
          return null;
        }
        const seq = ++this.#seq;
        this.#live = next;
        this.#unsynced.push({ seq, ops, after: next });
        if (sync) this.#syncThrough(seq);
        return seq;
      },
      syncThrough: (seq) => {
        if (att.frozen === null) this.#syncThrough(seq);
      },
      release: () => {
        if (this.#open === att) this.#open = null;
      },
    });
  }

  /** The staged-snapshot files, for the engine open on the current generation. */
  stagingFs(): StagingFs {
    const gen = this.#generation;
    return memStagingFs(this.#files, () => this.#generation === gen);
  }

  /**
   * `clock` for an engine opening on the disk now: the turns and timers scheduled through it
   * are dropped once the disk crashes (the process that scheduled them is gone).
   */
  bindClock(clock: StorageClock): StorageClock {
    const gen = this.#generation;
    const alive = (): boolean => this.#generation === gen;
    return {
      now: () => clock.now(),
      setTimer: (ms, fn) => clock.setTimer(ms, () => {
        if (alive()) fn();
      }),
      nextTurn: (fn) => clock.nextTurn(() => {
        if (alive()) fn();
      }),
    };
  }

  /** Power loss (see the file comment). The open engine, if any, is dead from here on. */
  crash(opts: CrashOptions = {}): CrashReport {
    const keep = opts.keepUnsynced ?? 0;
    invariant(keep >= 0, () => `keepUnsynced must be >= 0, got ${keep}`);
    const kept = Math.min(keep, this.#unsynced.length);
    const lost = this.#unsynced.length - kept;
    if (kept > 0) this.#syncThrough(this.#unsynced[kept - 1]!.seq);
    if (this.#open !== null) this.#open.frozen = this.#live;
    this.#open = null;
    this.#unsynced = [];
    this.#live = this.#durable;
    this.#seq = this.#durableSeq; // like RocksDB's sequence numbers, recovered from what survived
    this.#generation++;
    return { keptWrites: kept, lostWrites: lost };
  }

  #syncThrough(seq: number): void {
    if (seq <= this.#durableSeq) return;
    invariant(seq <= this.#seq, () => `sync of write ${seq}, but the last write is ${this.#seq}`);
    let i = 0;
    while (i < this.#unsynced.length && this.#unsynced[i]!.seq <= seq) i++;
    invariant(i > 0 && this.#unsynced[i - 1]!.seq === seq, () => `sync of write ${seq}, which is not pending`);
    this.#durable = this.#unsynced[i - 1]!.after;
    this.#durableSeq = seq;
    this.#unsynced.splice(0, i);
  }

  /**
   * Everything on the disk as canonical bytes: the durable rows of each column family, the
   * writes not yet durable (their ops, in order), the staging directories and files. Two
   * disks with equal dumps hold the same data and lose the same data in the same crash.
   */
  dump(): Buffer {
    const parts: Buffer[] = [];
    const u32 = (n: number): void => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      parts.push(b);
    };
    const bytes = (b: Uint8Array): void => {
      u32(b.length);
      parts.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    };
    bytes(Buffer.from(`memdisk v1 ${this.columnFamilies.join(',')}`));
    u32(this.#durableSeq);
    for (const t of this.#durable) {
      const rows: Buffer[] = [];
      for (const it = t.iterate({ gte: Buffer.alloc(0) }); ;) {
        const kv = it.next();
        if (kv === null) break;
        rows.push(kv.key, kv.value);
      }
      u32(rows.length / 2);
      for (const r of rows) bytes(r);
    }
    u32(this.#unsynced.length);
    for (const w of this.#unsynced) {
      u32(w.seq);
      bytes(w.ops);
    }
    const { dirs, files } = this.#files.entries();
    u32(dirs.length);
    for (const d of dirs) bytes(Buffer.from(d));
    u32(files.length);
    for (const [path, b] of files) {
      bytes(Buffer.from(path));
      bytes(b);
    }
    return Buffer.concat(parts);
  }
}
