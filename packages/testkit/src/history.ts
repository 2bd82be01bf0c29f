// The client-visible history of a KV run: one record per operation with its invoke time,
// its return time and its result. This is what the linearizability checker reads.
//
// A write whose outcome the client never learned (timeout, node crash) has no return:
// `returnTime` and `result` stay null, and the checker treats it as "may or may not have
// taken effect, at any point after its invocation". A read with no return tells nothing
// and is left out of the check.

/** How a read is served: ReadIndex (quorum-confirmed) or the leader's lease. */
export type ReadMode = 'read-index' | 'lease';

export type KvOp =
  | { kind: 'put'; key: string; value: string }
  | { kind: 'get'; key: string; mode: ReadMode }
  | { kind: 'cas'; key: string; expected: string | null; value: string };

export type KvResult =
  | { kind: 'put' }
  | { kind: 'get'; value: string | null }
  | { kind: 'cas'; ok: boolean };

export interface HistoryOp {
  /** Dense ids in invoke order, starting at 0. */
  id: number;
  client: number;
  op: KvOp;
  invokeTime: number;
  /** null: outcome unknown (the client gave up). */
  returnTime: number | null;
  result: KvResult | null;
}

/** One line of the raw event log (what `--trace` prints for clients). */
export type HistoryEvent =
  | { type: 'invoke'; time: number; id: number; client: number; op: KvOp }
  | { type: 'return'; time: number; id: number; client: number; result: KvResult }
  | { type: 'unknown'; time: number; id: number; client: number };

/** Records invocations and returns as they happen. Times must not go backwards. */
export class HistoryRecorder {
  private readonly recs: HistoryOp[] = [];
  private readonly evs: HistoryEvent[] = [];
  private lastTime = 0;

  invoke(client: number, op: KvOp, time: number): number {
    this.advance(time);
    const id = this.recs.length;
    this.recs.push({ id, client, op, invokeTime: time, returnTime: null, result: null });
    this.evs.push({ type: 'invoke', time, id, client, op });
    return id;
  }

  complete(id: number, result: KvResult, time: number): void {
    this.advance(time);
    const rec = this.recs[id];
    if (rec === undefined) throw new Error(`history: unknown op id ${id}`);
    if (rec.returnTime !== null) throw new Error(`history: op ${id} returned twice`);
    if (result.kind !== rec.op.kind) {
      throw new Error(`history: op ${id} is a ${rec.op.kind} but returned a ${result.kind} result`);
    }
    rec.returnTime = time;
    rec.result = result;
    this.evs.push({ type: 'return', time, id, client: rec.client, result });
  }

  /** The client gave up on `id`: its effect is unknown. */
  abandon(id: number, time: number): void {
    this.advance(time);
    const rec = this.recs[id];
    if (rec === undefined) throw new Error(`history: unknown op id ${id}`);
    if (rec.returnTime !== null) throw new Error(`history: op ${id} abandoned after it returned`);
    this.evs.push({ type: 'unknown', time, id, client: rec.client });
  }

  ops(): readonly HistoryOp[] {
    return this.recs;
  }

  events(): readonly HistoryEvent[] {
    return this.evs;
  }

  private advance(time: number): void {
    if (time < this.lastTime) throw new Error(`history: time went backwards (${time} < ${this.lastTime})`);
    this.lastTime = time;
  }
}

export function formatOp(op: KvOp): string {
  switch (op.kind) {
    case 'put':
      return `put(${op.key}, ${op.value})`;
    case 'get':
      return `get(${op.key}) [${op.mode}]`;
    case 'cas':
      return `cas(${op.key}, ${op.expected ?? '∅'} -> ${op.value})`;
  }
}

export function formatResult(r: KvResult | null): string {
  if (r === null) return '?';
  switch (r.kind) {
    case 'put':
      return 'ok';
    case 'get':
      return r.value ?? '∅';
    case 'cas':
      return r.ok ? 'ok' : 'fail';
  }
}
