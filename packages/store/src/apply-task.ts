// What crosses between the main thread and an apply worker (apply-pool.ts <-> apply-worker.ts).
//
// Structured cloning a typed array copies its WHOLE backing ArrayBuffer, and entry data are
// often views into bigger buffers (a decoded gRPC message, a log read, Node's 8 KiB Buffer
// pool). So the entries' data are packed into one fresh ArrayBuffer that is transferred
// (moved, not copied), and descriptors travel encoded (storage's record codec).
import type { ConfState, EntryType } from '@rangekv/raft';
import { decodeDescriptor, encodeDescriptor, type AppliedState, type RangeDescriptor } from '@rangekv/storage';
import type { KvResult } from './kv-state-machine.js';
import type { ApplyEntry } from './raft-scheduler.js';

/** workerData of every apply worker. */
export interface ApplyWorkerInit {
  /** RocksDb.handle of the store's engine: the worker opens the same DB by handle and never closes it. */
  handle: bigint;
}

/** What a worker posts on its parentPort once its DB is open (piscina re-emits it as the pool's 'message'). */
export interface ApplyWorkerReady {
  applyWorkerReady: number;
}

export function isApplyWorkerReady(m: unknown): m is ApplyWorkerReady {
  return typeof m === 'object' && m !== null && typeof (m as { applyWorkerReady?: unknown }).applyWorkerReady === 'number';
}

export interface ApplyTaskEntry {
  index: number;
  term: number;
  type: EntryType;
  /** Bytes of this entry's data in ApplyTask.data, which holds every entry's data back to back. */
  dataBytes: number;
  confState?: ConfState | null;
}

export interface ApplyTask {
  rangeId: number;
  /** The range's current descriptor (encodeDescriptor): the span and epoch commands are checked against. */
  descriptor: Uint8Array;
  /** A new descriptor to write in the same batch (encodeDescriptor), or null. */
  newDescriptor: Uint8Array | null;
  entries: ApplyTaskEntry[];
  /** Every entry's data, concatenated; transferred to the worker. */
  data: ArrayBuffer;
}

export interface ApplyTaskResult {
  results: KvResult[];
  applied: AppliedState;
  /** The ConfState written with the batch (last conf change of the task), if any. */
  confState: ConfState | null;
}

/** Builds a task (and the list of buffers to transfer with it). */
export function encodeApplyTask(rangeId: number, desc: RangeDescriptor, entries: readonly ApplyEntry[], newDesc: RangeDescriptor | null): ApplyTask {
  let total = 0;
  for (const e of entries) total += e.data.length;
  const data = new Uint8Array(total);
  const out: ApplyTaskEntry[] = new Array<ApplyTaskEntry>(entries.length);
  let off = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    data.set(e.data, off);
    off += e.data.length;
    const te: ApplyTaskEntry = { index: e.index, term: e.term, type: e.type, dataBytes: e.data.length };
    if (e.confState !== undefined) te.confState = e.confState;
    out[i] = te;
  }
  return {
    rangeId, descriptor: new Uint8Array(encodeDescriptor(desc)), newDescriptor: newDesc === null ? null : new Uint8Array(encodeDescriptor(newDesc)),
    entries: out, data: data.buffer,
  };
}

/** The worker's view of a task: plain ApplyEntries over the transferred data. */
export function decodeApplyTask(t: ApplyTask): { rangeId: number; desc: RangeDescriptor; newDesc: RangeDescriptor | null; entries: ApplyEntry[] } {
  const data = new Uint8Array(t.data);
  let off = 0;
  const entries: ApplyEntry[] = t.entries.map((te) => {
    const e: ApplyEntry = { index: te.index, term: te.term, type: te.type, data: data.subarray(off, off + te.dataBytes) };
    off += te.dataBytes;
    if (te.confState !== undefined) e.confState = te.confState;
    return e;
  });
  if (off !== data.length) throw new Error(`apply task: entries use ${off} data bytes, the task carries ${data.length}`);
  return {
    rangeId: t.rangeId, desc: decodeDescriptor(t.descriptor), newDesc: t.newDescriptor === null ? null : decodeDescriptor(t.newDescriptor), entries,
  };
}
