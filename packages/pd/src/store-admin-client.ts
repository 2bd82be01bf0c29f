// gRPC calls to stores' admin service (proto/admin.proto): one channel per address,
// typed by storeAdminService of @rangekv/proto. Failures of the call itself (unreachable,
// deadline) throw StoreCallError; range errors come back inside the response.
import * as grpc from '@grpc/grpc-js';
import { storeAdminService, type MethodDefinition } from '@rangekv/proto';

type AdminMethods = typeof storeAdminService;
export type AdminMethod = keyof AdminMethods;
export type AdminRequest<K extends AdminMethod> = Parameters<AdminMethods[K]['requestSerialize']>[0];
export type AdminResponse<K extends AdminMethod> = ReturnType<AdminMethods[K]['responseDeserialize']>;

export class StoreCallError extends Error {
  constructor(readonly address: string, readonly method: string, readonly code: grpc.status, details: string) {
    super(`${method} on ${address}: ${grpc.status[code] ?? code}: ${details}`);
    this.name = 'StoreCallError';
  }
}

/** What the operator runner needs to talk to stores (a fake in tests is a real gRPC server). */
export interface StoreAdminCaller {
  call<K extends AdminMethod>(address: string, method: K, req: AdminRequest<K>, timeoutMs: number): Promise<AdminResponse<K>>;
  close(): void;
}

export class StoreAdminClients implements StoreAdminCaller {
  private readonly clients = new Map<string, grpc.Client>();

  /** `credentials`: this PD node's (its certificate authorizes admin calls on the stores);
   *  `metadata`: sent with every call (the admin token, for stores that take one instead). */
  constructor(
    private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
    private readonly metadata: grpc.Metadata = new grpc.Metadata(),
  ) {}

  private client(address: string): grpc.Client {
    let c = this.clients.get(address);
    if (!c) {
      c = new grpc.Client(address, this.credentials);
      this.clients.set(address, c);
    }
    return c;
  }

  call<K extends AdminMethod>(address: string, method: K, req: AdminRequest<K>, timeoutMs: number): Promise<AdminResponse<K>> {
    const m = storeAdminService[method] as unknown as MethodDefinition<AdminRequest<K>, AdminResponse<K>>;
    return new Promise((resolve, reject) => {
      this.client(address).makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, this.metadata.clone(),
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: AdminResponse<K>) => {
          if (err) reject(new StoreCallError(address, m.originalName, err.code, err.details));
          else resolve(res!);
        });
    });
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
