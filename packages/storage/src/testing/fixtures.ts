// Test helpers: temp store directories that are always removed, descriptors, Readies.
import { EntryType, type ConfState, type Entry, type HardState, type Ready } from '@rangekv/raft';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplicaRole, type RangeDescriptor } from '@rangekv/proto/range-descriptor';
import { StorageEngine, type StorageEngineOptions } from '../engine.js';

export function tempDir(prefix = 'rangekv-storage-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Runs `fn` with a fresh engine in a temp dir; closes it and removes the dir afterwards. */
export async function withEngine<T>(fn: (engine: StorageEngine, dir: string) => Promise<T>, opts: StorageEngineOptions = {}): Promise<T> {
  const dir = tempDir();
  let engine: StorageEngine | null = null;
  try {
    engine = await StorageEngine.open(dir.path, opts);
    return await fn(engine, dir.path);
  } finally {
    await engine?.close();
    dir.remove();
  }
}

export function confState(voters: number[] = [1, 2, 3]): ConfState {
  return { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

export function descriptor(rangeId: number, start: string, end: string, replicas = 3): RangeDescriptor {
  return {
    rangeId,
    startKey: Buffer.from(start),
    endKey: Buffer.from(end),
    epoch: { confVer: 1, version: 1 },
    replicas: Array.from({ length: replicas }, (_, i) => ({ storeId: i + 1, replicaId: i + 1, role: ReplicaRole.Voter })),
  };
}

/** Deterministic entry payload, so a reader can check what it got. */
export function payload(rangeId: number, index: number, term: number, size = 32): Uint8Array {
  const b = Buffer.alloc(size);
  b.writeUInt32BE(rangeId >>> 0, 0);
  b.writeUInt32BE(index >>> 0, 4);
  b.writeUInt32BE(term >>> 0, 8);
  for (let i = 12; i < size; i++) b[i] = (rangeId * 31 + index * 7 + term + i) & 0xff;
  return b;
}

export function entries(rangeId: number, from: number, to: number, term: number, size = 32): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: EntryType.Normal, data: payload(rangeId, i, term, size) });
  return out;
}

let seq = 0;

/** A Ready with only what storage looks at filled in. */
export function ready(parts: { entries?: Entry[]; hardState?: HardState | null }): Ready {
  return {
    seq: ++seq, softState: null, hardState: parts.hardState ?? null, entries: parts.entries ?? [], snapshot: null,
    committedEntries: [], messages: [], messagesAfterPersist: [], readStates: [], mustSync: true,
  };
}
