// The production LogWriter backend: a worker thread (log-writer-worker.ts) that opens the
// DB by handle and does every sync write. Started once per engine; `stop()` ends the
// thread (it never closes the shared DB; the engine closes RocksDB after). `writeNow`, the
// LogWriter's direct path while the thread has nothing to do, writes with the caller's handle.
import { Worker } from 'node:worker_threads';
import { isFromWorker, type ConnectBackend, type SyncDelayMsg, type WorkerInit } from './log-writer-protocol.js';
import type { RocksDb } from './rocks.js';

/** Starts the thread on the DB's handle; resolves once it is ready to write. */
export async function startLogWriterThread(db: RocksDb, limits: { maxRequestsPerSync: number; maxSyncBatchBytes: number }): Promise<ConnectBackend> {
  const init: WorkerInit = { handle: db.handle, maxRequestsPerSync: limits.maxRequestsPerSync, maxSyncBatchBytes: limits.maxSyncBatchBytes };
  const worker = new Worker(new URL('./log-writer-worker.js', import.meta.url), { workerData: init });
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      worker.off('error', onErr);
      worker.off('exit', onExit);
      worker.off('message', onMsg);
    };
    const onMsg = (m: unknown): void => {
      if (isFromWorker(m) && m.t === 'ready') {
        done();
        resolve();
      }
    };
    const onErr = (e: Error): void => {
      done();
      reject(e);
    };
    const onExit = (code: number): void => {
      done();
      reject(new Error(`log-writer worker exited during start (code ${code})`));
    };
    worker.on('message', onMsg);
    worker.on('error', onErr);
    worker.on('exit', onExit);
  });
  return (events) => {
    let stopping = false;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (m: unknown) => {
      if (isFromWorker(m)) events.message(m);
      else events.error(new Error(`log writer: unexpected message from worker: ${JSON.stringify(m)}`));
    });
    worker.on('error', (e: Error) => events.error(e));
    worker.on('exit', (code) => {
      if (!stopping) events.error(new Error(`log-writer worker exited unexpectedly (code ${code})`));
    });
    return {
      send: (msg) => worker.postMessage(msg, [msg.bytes]),
      // The worker's write, on this thread's handle of the same DB (LogWriter.tryWriteNow).
      writeNow: (parts, sync) => {
        const t0 = process.hrtime.bigint();
        db.write(parts, { sync });
        return { syncMicros: Number(process.hrtime.bigint() - t0) / 1000, synced: sync };
      },
      // The event loop's check phase: after the turn's network writes went out.
      nextTurn: (fn) => setImmediate(fn),
      setSyncDelay: (ms) => worker.postMessage({ t: 'syncDelay', ms } satisfies SyncDelayMsg),
      stop: () => {
        if (!stopping) {
          stopping = true;
          worker.postMessage({ t: 'stop' });
        }
        return exited;
      },
    };
  };
}
