// A small KV client for tests: gRPC (@grpc/grpc-js) with kvService, one channel per
// store, leader cache fed by NotLeader hints, bounded retries with a deadline. Not the
// product client (packages/client): just enough routing to drive a store cluster.
import * as grpc from '@grpc/grpc-js';
import { kvService, metapb, type MethodDefinition } from '@rangekv/proto';
import { AMBIGUOUS_METADATA_KEY } from '../errors.js';

type KvMethods = typeof kvService;
type MethodName = keyof KvMethods;
type ReqOf<K extends MethodName> = Parameters<KvMethods[K]['requestSerialize']>[0];
type ResOf<K extends MethodName> = ReturnType<KvMethods[K]['responseDeserialize']>;

export type CallOutcome<R> =
  | { ok: true; res: R }
  | { ok: false; code: grpc.status; details: string; ambiguous: boolean };

export interface RetryStats {
  attempts: number;
  notLeader: number;
  unavailable: number;
  ambiguous: number;
  busy: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class KvTestClient {
  private readonly clients = new Map<number, grpc.Client>();
  private readonly addrs = new Map<number, string>();
  /** Store believed to lead range 1's group (from the last success or NotLeader hint). */
  leaderHint = 0;
  readonly stats: RetryStats = { attempts: 0, notLeader: 0, unavailable: 0, ambiguous: 0, busy: 0 };

  setAddress(storeId: number, addr: string): void {
    if (this.addrs.get(storeId) === addr) return;
    this.clients.get(storeId)?.close();
    this.clients.delete(storeId);
    this.addrs.set(storeId, addr);
  }

  get storeIds(): number[] {
    return [...this.addrs.keys()].sort((a, b) => a - b);
  }

  private client(storeId: number): grpc.Client {
    let c = this.clients.get(storeId);
    if (!c) {
      const addr = this.addrs.get(storeId);
      if (addr === undefined) throw new Error(`no address for store ${storeId}`);
      c = new grpc.Client(addr, grpc.credentials.createInsecure());
      this.clients.set(storeId, c);
    }
    return c;
  }

  /** One call to one store; never throws for gRPC errors. */
  call<K extends MethodName>(storeId: number, method: K, req: ReqOf<K>, timeoutMs = 3_000): Promise<CallOutcome<ResOf<K>>> {
    const m = kvService[method] as unknown as MethodDefinition<ReqOf<K>, ResOf<K>>;
    return this.raw(storeId, m.path, m.requestSerialize, m.responseDeserialize, req, timeoutMs);
  }

  /** Sends arbitrary bytes as a request (malformed-input tests). */
  callBytes(storeId: number, method: MethodName, bytes: Buffer, timeoutMs = 3_000): Promise<CallOutcome<Buffer>> {
    return this.raw(storeId, kvService[method].path, (b: Buffer) => b, (b: Buffer) => b, bytes, timeoutMs);
  }

  private raw<Q, S>(storeId: number, path: string, ser: (q: Q) => Buffer, de: (b: Buffer) => S, req: Q, timeoutMs: number): Promise<CallOutcome<S>> {
    return new Promise((resolve) => {
      const call = this.client(storeId).makeUnaryRequest(path, ser, de, req, new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: S) => {
          if (err) {
            const amb = err.metadata?.get(AMBIGUOUS_METADATA_KEY) ?? [];
            resolve({ ok: false, code: err.code, details: err.details, ambiguous: amb.length > 0 });
          } else {
            resolve({ ok: true, res: res! });
          }
        });
      void call;
    });
  }

  /**
   * Sends `req` to range 1's leader, following NotLeader hints and trying every store,
   * until it succeeds or `deadlineMs` passes. Retries ambiguous results too, so use it
   * only for idempotent requests. Returns the response (a non-routing range error, e.g.
   * EpochNotMatch, is returned as is).
   */
  async routed<K extends MethodName>(method: K, req: ReqOf<K>, deadlineMs = 30_000): Promise<ResOf<K>> {
    const deadline = Date.now() + deadlineMs;
    let next = 0;
    let last = '';
    while (Date.now() < deadline) {
      const ids = this.storeIds;
      const target = this.leaderHint !== 0 && ids.includes(this.leaderHint) ? this.leaderHint : ids[next++ % ids.length]!;
      this.stats.attempts++;
      const out = await this.call(target, method, req, Math.min(3_000, Math.max(100, deadline - Date.now())));
      if (out.ok) {
        const re = (out.res as { rangeError?: metapb.RangeError.$Properties | null }).rangeError;
        if (!re) {
          this.leaderHint = target;
          return out.res;
        }
        if (re.notLeader) {
          this.stats.notLeader++;
          const hinted = re.notLeader.leader?.storeId ?? 0;
          this.leaderHint = hinted !== target ? hinted : 0;
          if (this.leaderHint === 0) await sleep(20);
          last = re.message ?? 'not leader';
          continue;
        }
        if (re.serverBusy) {
          this.stats.busy++;
          await sleep(Math.max(20, re.serverBusy.backoffMs ?? 0));
          last = re.message ?? 'busy';
          continue;
        }
        return out.res;
      }
      if (out.ambiguous) this.stats.ambiguous++;
      else if (out.code === grpc.status.UNAVAILABLE || out.code === grpc.status.DEADLINE_EXCEEDED || out.code === grpc.status.CANCELLED) this.stats.unavailable++;
      else throw new Error(`${String(method)} on store ${target}: ${grpc.status[out.code]}: ${out.details}`);
      last = `${grpc.status[out.code]}: ${out.details}`;
      this.leaderHint = 0;
      await sleep(20);
    }
    throw new Error(`${String(method)} did not succeed within ${deadlineMs} ms (last: ${last})`);
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

export function header(consistency: metapb.ReadConsistency = metapb.ReadConsistency.LINEARIZABLE, rangeId = 1, version = 1): metapb.RequestHeader.$Properties {
  return { rangeId, epoch: { confVer: 1, version }, readConsistency: consistency };
}
