// Messages between the LogWriter (main thread) and its worker. Requests are numbered from 1
// in submission order; the worker writes them in that order and acknowledges "everything
// up to id N is durable", so one small message answers a whole group commit.

export interface WorkerInit {
  handle: bigint;
  maxRequestsPerSync: number;
  maxSyncBatchBytes: number;
}

/** Main -> worker: requests firstId .. firstId+lens.length-1, their ops concatenated in `bytes`. */
export interface WriteMsg {
  t: 'write';
  firstId: number;
  lens: Uint32Array;
  bytes: ArrayBuffer;
}

export interface StopMsg {
  t: 'stop';
}

export type ToWorker = WriteMsg | StopMsg;

/** Worker -> main. */
export interface ReadyMsg {
  t: 'ready';
}

/** Requests up to `upToId` are durable: one sync batch of `requests` requests took `syncMicros`. */
export interface DurableMsg {
  t: 'durable';
  upToId: number;
  requests: number;
  bytes: number;
  syncMicros: number;
}

/** The batch ending at `upToId` failed; the worker writes nothing more. */
export interface FailedMsg {
  t: 'failed';
  upToId: number;
  message: string;
}

export type FromWorker = ReadyMsg | DurableMsg | FailedMsg;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

export function isToWorker(v: unknown): v is ToWorker {
  if (!isObject(v)) return false;
  if (v['t'] === 'stop') return true;
  return v['t'] === 'write' && typeof v['firstId'] === 'number' && v['lens'] instanceof Uint32Array && v['bytes'] instanceof ArrayBuffer;
}

export function isFromWorker(v: unknown): v is FromWorker {
  if (!isObject(v)) return false;
  switch (v['t']) {
    case 'ready': return true;
    case 'durable': return typeof v['upToId'] === 'number' && typeof v['syncMicros'] === 'number';
    case 'failed': return typeof v['upToId'] === 'number' && typeof v['message'] === 'string';
    default: return false;
  }
}
