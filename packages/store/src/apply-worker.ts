// An apply worker (a piscina thread): runs the KV state machine (kv-state-machine.ts, the
// same code the inline path runs) for one range's entries and writes the ONE batch it
// produces (data + applied index/term + ConfState + new descriptor) through its own
// handle-opened RocksDb. Reads (CAS, DeleteRange) go through the same handle; earlier
// writes of the batch through the state machine's overlay.
//
// The DB is opened by handle at module load (piscina loads this module before it reports
// the thread ready) and is NEVER closed here: the native DB is shared with the main
// thread, and closing it from a worker crashes the process. When piscina terminates the
// thread nothing is released (a handle-opened DB has no cleanup hook); the pool only
// terminates threads that are idle, and the engine closes the DB after the pool is gone.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { encodeApplyWrites, RocksDb } from '@rangekv/storage';
import { decodeApplyTask, type ApplyTask, type ApplyTaskResult, type ApplyWorkerInit, type ApplyWorkerReady } from './apply-task.js';
import { rocksKvReader, runKvEntries, type KvResult } from './kv-state-machine.js';

const init = workerData as ApplyWorkerInit;
if (parentPort === null || typeof init?.handle !== 'bigint') throw new Error('apply-worker must run as a piscina thread with ApplyWorkerInit data');
const db = await RocksDb.openByHandle(init.handle);
const reader = rocksKvReader(db);
const ready: ApplyWorkerReady = { applyWorkerReady: threadId };
parentPort.postMessage(ready);

/** Results go back by structured clone: copy keys that are views into the task's data. */
function detach(r: KvResult): KvResult {
  return r.kind === 'key-not-in-range' ? { ...r, key: new Uint8Array(r.key) } : r;
}

/** The piscina handler (pool option `name: 'applyTask'`). */
export function applyTask(task: ApplyTask): ApplyTaskResult {
  const t = decodeApplyTask(task);
  const out = runKvEntries(reader, t.desc, t.entries, t.newDesc === null ? {} : { descriptor: t.newDesc });
  db.write(encodeApplyWrites(t.rangeId, t.desc, out.batch), { sync: false });
  return { results: out.results.map(detach), applied: out.batch.applied, confState: out.batch.confState ?? null };
}
