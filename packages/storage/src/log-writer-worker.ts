// The log-writer thread: the only place sync (fsync) writes happen in production. It
// receives numbered requests, and each time it is free it writes everything that arrived
// meanwhile as one WriteBatch, with sync: true when any of them asked for it (group
// commit, see syncGroupEnd), then acknowledges the last id written.
//
// Group commit falls out of the thread's own blocking: while `_writeSync` waits for the
// fsync, new requests pile up in the message port; after it returns we yield once
// (setImmediate) so the port delivers all of them, and the next batch takes them all.
//
// The DB is opened by handle and never closed here (closing a shared handle crashes the
// process); on 'stop' the thread just lets its event loop end.
//
// Fault injection ('syncDelay', tests only): each synced batch first sleeps the thread
// (Atomics.wait), so throughput drops and requests pile up as behind a slow disk, not
// just the acknowledgements being late. The sleep counts in syncMicros, as a slow fsync would.
import { parentPort, workerData } from 'node:worker_threads';
import { RocksDb } from './rocks.js';
import { isToWorker, requestsOf, syncGroupEnd, type FromWorker, type PendingRequest, type WorkerInit } from './log-writer-protocol.js';

const port = parentPort;
if (port === null) throw new Error('log-writer-worker must run as a worker thread');
const init = workerData as WorkerInit;
const db = await RocksDb.openByHandle(init.handle);

const queue: PendingRequest[] = [];
let head = 0;
let scheduled = false;
let failed = false;
let syncDelayMs = 0;
/** Never notified: Atomics.wait on it is a plain blocking sleep. */
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function send(m: FromWorker): void {
  port!.postMessage(m);
}

function schedule(): void {
  if (scheduled || failed) return;
  scheduled = true;
  setImmediate(writeOnce);
}

/** Writes one group of waiting requests with one fsync, then yields to collect more. */
function writeOnce(): void {
  scheduled = false;
  if (failed || head >= queue.length) return;
  const { end, bytes, sync } = syncGroupEnd(queue, head, init.maxRequestsPerSync, init.maxSyncBatchBytes);
  const parts: Uint8Array[] = [];
  for (let i = head; i < end; i++) parts.push(queue[i]!.bytes);
  const upToId = queue[end - 1]!.id;
  const t0 = process.hrtime.bigint();
  if (sync && syncDelayMs > 0) Atomics.wait(sleeper, 0, 0, syncDelayMs);
  try {
    db.write(parts, { sync });
  } catch (e) {
    failed = true;
    send({ t: 'failed', upToId, message: e instanceof Error ? e.message : String(e) });
    return;
  }
  const syncMicros = Number(process.hrtime.bigint() - t0) / 1000;
  head = end;
  if (head > 4096 && head * 2 > queue.length) {
    queue.splice(0, head);
    head = 0;
  }
  send({ t: 'durable', upToId, requests: parts.length, bytes, syncMicros, synced: sync });
  if (head < queue.length) schedule();
}

port.on('message', (m: unknown) => {
  if (!isToWorker(m)) throw new Error(`log-writer-worker: unexpected message ${JSON.stringify(m)}`);
  if (m.t === 'stop') {
    // Everything acknowledged was written; the main thread stops only once idle.
    port.close();
    return;
  }
  if (m.t === 'syncDelay') {
    syncDelayMs = m.ms;
    return;
  }
  for (const r of requestsOf(m)) queue.push(r);
  schedule();
});

send({ t: 'ready' });
