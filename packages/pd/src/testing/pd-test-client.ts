// A tiny PD gRPC client for tests: one channel per address, typed by pdService; calls to
// "the leader" follow header.error.not_leader hints across the given addresses.
import * as grpc from '@grpc/grpc-js';
import { pdService, type MethodDefinition } from '@rangekv/proto';

type PdMethods = typeof pdService;
export type PdMethod = keyof PdMethods;
export type PdReq<K extends PdMethod> = Parameters<PdMethods[K]['requestSerialize']>[0];
export type PdRes<K extends PdMethod> = ReturnType<PdMethods[K]['responseDeserialize']>;

export class PdCallError extends Error {
  constructor(readonly code: grpc.status, readonly details: string) {
    super(`${grpc.status[code]}: ${details}`);
    this.name = 'PdCallError';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The token a test store `id` uses unless a test names another (PD refuses a store id without its token). */
export function testStoreToken(id: number): string {
  return `test-store-token-${String(id).padStart(8, '0')}`;
}

/** Store and range heartbeats without a token get the store's testStoreToken. */
function withToken<K extends PdMethod>(method: K, req: PdReq<K>): PdReq<K> {
  if (method === 'storeHeartbeat') {
    const r = req as PdReq<'storeHeartbeat'>;
    if (r.storeToken === undefined) return { ...r, storeToken: testStoreToken(Number(r.store?.id ?? 0)) } as PdReq<K>;
  } else if (method === 'rangeHeartbeat') {
    const r = req as PdReq<'rangeHeartbeat'>;
    if (r.storeToken === undefined) return { ...r, storeToken: testStoreToken(Number(r.storeId ?? 0)) } as PdReq<K>;
  }
  return req;
}

export class PdTestClient {
  private readonly clients = new Map<string, grpc.Client>();

  constructor(public addresses: string[]) {}

  call<K extends PdMethod>(address: string, method: K, req: PdReq<K>, timeoutMs = 10_000): Promise<PdRes<K>> {
    let c = this.clients.get(address);
    if (!c) {
      c = new grpc.Client(address, grpc.credentials.createInsecure());
      this.clients.set(address, c);
    }
    const m = pdService[method] as unknown as MethodDefinition<PdReq<K>, PdRes<K>>;
    const body = withToken(method, req);
    return new Promise((resolve, reject) => {
      c.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, body, new grpc.Metadata(), { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: PdRes<K>) => (err ? reject(new PdCallError(err.code, err.details)) : resolve(res!)));
    });
  }

  /** Calls the leader: follows not_leader hints and tries every address until one answers, within `deadlineMs`. */
  async leader<K extends PdMethod>(method: K, req: PdReq<K>, deadlineMs = 15_000): Promise<PdRes<K>> {
    const end = Date.now() + deadlineMs;
    let i = 0;
    let hint = '';
    for (;;) {
      const addr = hint !== '' ? hint : this.addresses[i++ % this.addresses.length]!;
      hint = '';
      try {
        const res = await this.call(addr, method, req, Math.max(1_000, end - Date.now()));
        const nl = (res as { header?: { error?: { notLeader?: { leaderAddress?: string } | null } | null } | null }).header?.error?.notLeader;
        if (!nl) return res;
        hint = nl.leaderAddress ?? '';
      } catch (e) {
        if (!(e instanceof PdCallError) || (e.code !== grpc.status.UNAVAILABLE && e.code !== grpc.status.DEADLINE_EXCEEDED)) throw e;
      }
      if (Date.now() > end) throw new Error(`no PD leader answered ${method} within ${deadlineMs} ms`);
      if (hint === '') await sleep(50);
    }
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
