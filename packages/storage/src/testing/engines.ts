// The engine's behaviour tests run against both ways of opening it: RocksDB in a temp dir
// (StorageEngine.open) and a MemDisk driven by a VirtualClock (StorageEngine.openOnDisk).
// A test body takes an EngineKind and gets stores from it; `engineTest` registers the body
// once per kind, named "<behaviour> [rocksdb]" and "<behaviour> [memory]".
//
//   engineTest('appended entries survive a restart', async (kind) => {
//     const store = kind.newStore();
//     try { let e = await store.open(); ...; await e.close(); e = await store.open(); ... } finally { store.remove(); }
//   });
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { StorageEngine, type StorageEngineOptions } from '../engine.js';
import { MemDisk } from '../mem-disk.js';
import { tempDir } from './fixtures.js';
import { VirtualClock } from './virtual-clock.js';

/** One store (a directory, or a MemDisk) that engines are opened on, one at a time. */
export interface TestStore {
  open(opts?: StorageEngineOptions): Promise<StorageEngine>;
  /** Names in the staging root (staged snapshots); [] when it does not exist. */
  stagingNames(): Promise<string[]>;
  remove(): void;
}

export interface EngineKind {
  readonly name: 'rocksdb' | 'memory';
  newStore(): TestStore;
  /** Runs `fn` with a fresh engine on a fresh store; closes and removes both afterwards. */
  withEngine<T>(fn: (engine: StorageEngine) => Promise<T>, opts?: StorageEngineOptions): Promise<T>;
}

function kindOf(name: EngineKind['name'], newStore: () => TestStore): EngineKind {
  return {
    name,
    newStore,
    async withEngine(fn, opts) {
      const store = newStore();
      let engine: StorageEngine | null = null;
      try {
        engine = await store.open(opts);
        return await fn(engine);
      } finally {
        await engine?.close();
        store.remove();
      }
    },
  };
}

export const rocksdbKind: EngineKind = kindOf('rocksdb', () => {
  const dir = tempDir();
  return {
    open: (opts) => StorageEngine.open(dir.path, opts),
    stagingNames: async () => {
      try {
        return readdirSync(join(dir.path, 'snapshots')).sort();
      } catch {
        return [];
      }
    },
    remove: () => dir.remove(),
  };
});

/** A store on a new MemDisk driven by `clock` (`disk`/`clock` reachable for crash tests). */
export function memoryStore(clock = new VirtualClock()): TestStore & { disk: MemDisk; clock: VirtualClock } {
  const disk = new MemDisk();
  return {
    disk,
    clock,
    open: (opts) => StorageEngine.openOnDisk(disk, { ...opts, clock }),
    stagingNames: async () => {
      try {
        return await disk.stagingFs().readdir('/snapshots');
      } catch {
        return [];
      }
    },
    remove: () => {},
  };
}

/** Every store of the memory kind runs on one clock, as the stores of one simulation do. */
const sharedClock = new VirtualClock();

export const memoryKind: EngineKind = kindOf('memory', () => memoryStore(sharedClock));

export const ENGINE_KINDS: readonly EngineKind[] = [rocksdbKind, memoryKind];

/** Registers `body` once per engine kind. */
export function engineTest(name: string, body: (kind: EngineKind) => Promise<void>): void {
  for (const kind of ENGINE_KINDS) test(`${name} [${kind.name}]`, () => body(kind));
}
