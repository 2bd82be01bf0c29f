// What crosses between the main thread and an apply worker (apply-pool.ts <-> apply-worker.ts).
//
// Structured cloning a typed array copies its WHOLE backing ArrayBuffer, and entry data are
// often views into bigger buffers (a decoded gRPC message, a log read, Node's 8 KiB Buffer
// pool). So the entries' data are packed into one fresh ArrayBuffer that is transferred
// (moved, not copied), and descriptors travel encoded (storage's record codec).
import type { ConfState, EntryType } from '@rangekv/raft';
import type { RangeDescriptor } from '@rangekv/proto';
import { decodeDescriptor, encodeDescriptor, type AppliedState } from '@rangekv/storage';
import type { KvResult } from './kv-state-machine.js';
import type { ApplyEntry } from '@rangekv/multiraft';

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

/**
 * One range's entries in a task (a task holds parts of different ranges, at most one per
 * range). Entries are contiguous from `firstIndex`; their per-entry fields travel as typed
 * arrays (cloning one typed array is a memcpy, cloning an object per entry is not).
 */
export interface ApplyTaskPart {
  rangeId: number;
  /** The range's current descriptor (encodeDescriptor): the span and epoch commands are checked against. */
  descriptor: Uint8Array;
  /** A new descriptor to write in the same batch (encodeDescriptor), or null. */
  newDescriptor: Uint8Array | null;
  firstIndex: number;
  terms: Float64Array;
  types: Uint8Array;
  /** Bytes of each entry's data in ApplyTask.data, which holds every entry's data back to back. */
  dataBytes: Uint32Array;
  /** [entry position, confState] of the ConfChange entries that carry one. */
  confStates: [number, ConfState | null][];
}

export interface ApplyTask {
  parts: ApplyTaskPart[];
  /** Every part's entries' data, concatenated in order; transferred to the worker. */
  data: ArrayBuffer;
}

/** ResultKind[i] says what entry i's result is; 'other' results are in `others`. */
export const enum ResultKind { Ok = 0, Noop = 1, Other = 2 }

export interface ApplyPartResult {
  kinds: Uint8Array;
  /** [entry position, result] for results other than ok / noop (CAS, refusals). */
  others: [number, KvResult][];
  applied: AppliedState;
  /** The ConfState written with the batch (last conf change of the part), if any. */
  confState: ConfState | null;
  /**
   * Set when an entry of the part cannot be applied (EntryApplyError in the worker):
   * nothing of the part was written; the other parts of the task were.
   */
  failed?: { index: number; reason: string };
}

/** One result per part, in order. */
export interface ApplyTaskResult {
  parts: ApplyPartResult[];
}

/** One range's share of a task, as the main thread holds it. */
export interface ApplyPartInput {
  rangeId: number;
  desc: RangeDescriptor;
  entries: readonly ApplyEntry[];
  newDesc: RangeDescriptor | null;
}

/** Builds a task (its `data` is to be transferred). Entries of a part must be contiguous. */
export function encodeApplyTask(inputs: readonly ApplyPartInput[]): ApplyTask {
  let total = 0;
  for (const p of inputs) for (const e of p.entries) total += e.data.length;
  const data = new Uint8Array(total);
  let off = 0;
  const parts = inputs.map((p): ApplyTaskPart => {
    const n = p.entries.length;
    const terms = new Float64Array(n);
    const types = new Uint8Array(n);
    const dataBytes = new Uint32Array(n);
    const confStates: [number, ConfState | null][] = [];
    for (let i = 0; i < n; i++) {
      const e = p.entries[i]!;
      data.set(e.data, off);
      off += e.data.length;
      terms[i] = e.term;
      types[i] = e.type;
      dataBytes[i] = e.data.length;
      if (e.confState !== undefined) confStates.push([i, e.confState]);
    }
    return {
      rangeId: p.rangeId, descriptor: new Uint8Array(encodeDescriptor(p.desc)),
      newDescriptor: p.newDesc === null ? null : new Uint8Array(encodeDescriptor(p.newDesc)),
      firstIndex: p.entries[0]!.index, terms, types, dataBytes, confStates,
    };
  });
  return { parts, data: data.buffer };
}

/** The worker's view of a task: plain ApplyEntries over the transferred data. */
export function decodeApplyTask(t: ApplyTask): ApplyPartInput[] {
  const data = new Uint8Array(t.data);
  let off = 0;
  const out = t.parts.map((p): ApplyPartInput => {
    const entries: ApplyEntry[] = new Array<ApplyEntry>(p.terms.length);
    for (let i = 0; i < p.terms.length; i++) {
      const len = p.dataBytes[i]!;
      entries[i] = { index: p.firstIndex + i, term: p.terms[i]!, type: p.types[i]! as EntryType, data: data.subarray(off, off + len) };
      off += len;
    }
    for (const [i, cs] of p.confStates) entries[i]!.confState = cs;
    return { rangeId: p.rangeId, desc: decodeDescriptor(p.descriptor), newDesc: p.newDescriptor === null ? null : decodeDescriptor(p.newDescriptor), entries };
  });
  if (off !== data.length) throw new Error(`apply task: entries use ${off} data bytes, the task carries ${data.length}`);
  return out;
}

/** Worker side: results as kinds + the few rich ones. Keys of refusals are copied out of the task's data. */
export function encodePartResults(results: readonly KvResult[]): Pick<ApplyPartResult, 'kinds' | 'others'> {
  const kinds = new Uint8Array(results.length);
  const others: [number, KvResult][] = [];
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if (r.kind === 'ok') kinds[i] = ResultKind.Ok;
    else if (r.kind === 'noop') kinds[i] = ResultKind.Noop;
    else {
      kinds[i] = ResultKind.Other;
      others.push([i, r.kind === 'key-not-in-range' ? { ...r, key: new Uint8Array(r.key) } : r]);
    }
  }
  return { kinds, others };
}

/** Main side: one KvResult per entry. Refusals get `desc` (the caller's object, not the worker's clone). */
export function decodePartResults(r: Pick<ApplyPartResult, 'kinds' | 'others'>, desc: RangeDescriptor): KvResult[] {
  const out: KvResult[] = new Array<KvResult>(r.kinds.length);
  for (let i = 0; i < r.kinds.length; i++) {
    const k = r.kinds[i];
    if (k === ResultKind.Ok) out[i] = { kind: 'ok' };
    else if (k === ResultKind.Noop) out[i] = { kind: 'noop' };
  }
  for (const [i, x] of r.others) {
    if (r.kinds[i] !== ResultKind.Other) throw new Error(`apply result ${i}: listed as other but its kind is ${r.kinds[i]}`);
    out[i] = x.kind === 'key-not-in-range' || x.kind === 'epoch-not-match' ? { ...x, descriptor: desc } : x;
  }
  for (let i = 0; i < out.length; i++) if (out[i] === undefined) throw new Error(`apply result ${i}: missing`);
  return out;
}
