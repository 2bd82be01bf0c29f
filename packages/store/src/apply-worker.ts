// An apply worker (a piscina thread): runs the KV state machine (kv-state-machine.ts, the
// same code the inline path runs) for the entries of a task and writes what it produces
// through its own handle-opened RocksDb. A task holds parts of different ranges (at most
// one per range); each part yields one range's batch (data + applied index/term +
// ConfState + new descriptor), and the task's batches go to RocksDB as ONE write, so
// each range's data and applied index are still in one atomic batch. Reads (CAS,
// DeleteRange) go through the same handle; earlier writes of the part through the state
// machine's overlay. Parts cannot see each other's writes and need not: ranges are disjoint.
//
// The DB is opened by handle at module load (piscina loads this module before it reports
// the thread ready) and is NEVER closed here: the native DB is shared with the main
// thread, and closing it from a worker crashes the process. When piscina terminates the
// thread nothing is released (a handle-opened DB has no cleanup hook); the pool only
// terminates threads that are idle, and the engine closes the DB after the pool is gone.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { RocksDb } from '@rangekv/storage';
import { applyParts } from './apply-parts.js';
import { decodeApplyTask, encodePartResults, type ApplyTask, type ApplyTaskResult, type ApplyWorkerInit, type ApplyWorkerReady } from './apply-task.js';
import { dbKvReader } from './kv-state-machine.js';

const init = workerData as ApplyWorkerInit;
if (parentPort === null || typeof init?.handle !== 'bigint') throw new Error('apply-worker must run as a piscina thread with ApplyWorkerInit data');
const db = await RocksDb.openByHandle(init.handle);
const reader = dbKvReader(db);
const ready: ApplyWorkerReady = { applyWorkerReady: threadId };
parentPort.postMessage(ready);

/** The piscina handler (pool option `name: 'applyTask'`). */
export function applyTask(task: ApplyTask): ApplyTaskResult {
  const out: ApplyTaskResult = { parts: [] };
  for (const o of applyParts(db, reader, decodeApplyTask(task))) {
    // One range's entry that cannot be applied fails that range only (apply-task.ts).
    if (!o.ok) out.parts.push({ kinds: new Uint8Array(0), others: [], applied: { index: 0, term: 0 }, confState: null, failed: { index: o.index, reason: o.reason } });
    else out.parts.push({ ...encodePartResults(o.results), applied: o.applied, confState: o.confState });
  }
  return out;
}
