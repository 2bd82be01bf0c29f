// Serves a PdService with grpc-js and pdService of @rangekv/proto. Status mapping:
// PdRequestError -> its code (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION); a request
// that does not decode -> INVALID_ARGUMENT; anything else -> INTERNAL (logged).
import * as grpc from '@grpc/grpc-js';
import { pdService, tryDecode, type MethodDefinition } from '@rangekv/proto';
import { OPEN_ACCESS, type AccessPolicy, type Logger, type Need } from '@rangekv/runtime';
import { PdRequestError } from './errors.js';
import type { PdService } from './pd-service.js';

class Malformed {
  constructor(readonly reason: string) {}
}

function toStatus(e: unknown, log: Logger, method: string): Partial<grpc.StatusObject> {
  if (e instanceof PdRequestError) return { code: grpc.status[e.code], details: e.message };
  log.error('PD call failed', { method, err: e });
  return { code: grpc.status.INTERNAL, details: e instanceof Error ? e.message : String(e) };
}

type Methods = typeof pdService;

/** Sees each call's method, gRPC status name and duration (metrics). */
export type PdCallObserver = (method: string, code: string, seconds: number) => void;

/**
 * Who may call what (when `access` checks anything): stores' reports need that store's
 * certificate (the id the request claims must be the certificate's), operators, store
 * decommissioning, configuration and id blocks need an admin certificate or the admin
 * token, and the reads are open to every client the port lets in.
 */
export function addPdService(server: grpc.Server, svc: PdService, log: Logger, observe?: PdCallObserver, access: AccessPolicy = OPEN_ACCESS): void {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const impl: grpc.UntypedServiceImplementation = {};
  type Req<K extends keyof Methods> = Parameters<Methods[K]['requestSerialize']>[0];
  const add = <K extends keyof Methods>(
    name: K, need: Need, f: (req: Req<K>) => Promise<unknown>, claimedStore?: (req: Req<K>) => number,
  ): void => {
    const m = pdService[name] as unknown as MethodDefinition<unknown, unknown>;
    def[name] = {
      ...m,
      requestDeserialize: (b: Buffer) => {
        const r = tryDecode(m.requestDeserialize, b);
        return r.ok ? r.value : new Malformed(r.error.message);
      },
    } as grpc.MethodDefinition<unknown, unknown>;
    impl[name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const started = process.hrtime.bigint();
      const cb: grpc.sendUnaryData<unknown> = (err, res) => {
        observe?.(m.originalName, grpc.status[err?.code ?? grpc.status.OK] ?? 'UNKNOWN', Number(process.hrtime.bigint() - started) / 1e9);
        callback(err, res);
      };
      const denied = access.check(call, need, m.originalName);
      if (denied !== null) {
        cb(denied);
        return;
      }
      if (call.request instanceof Malformed) {
        cb({ code: grpc.status.INVALID_ARGUMENT, details: `malformed request: ${call.request.reason}` });
        return;
      }
      const req = call.request as Req<K>;
      const certified = claimedStore ? access.storeOf(call) : null;
      if (certified !== null && claimedStore && claimedStore(req) !== certified) {
        cb(access.claimMismatch(m.originalName, claimedStore(req), certified));
        return;
      }
      f(req)
        .then((res) => cb(null, res), (e: unknown) => cb(toStatus(e, log, m.originalName)));
    }) as grpc.UntypedHandleCall;
  };
  add('allocStoreId', 'store', (r) => svc.allocStoreId(r));
  add('storeHeartbeat', 'store', (r) => svc.storeHeartbeat(r), (r) => Number(r.store?.id ?? 0));
  add('rangeHeartbeat', 'store', (r) => svc.rangeHeartbeat(r), (r) => Number(r.storeId ?? 0));
  add('getRangeByKey', 'client', (r) => svc.getRangeByKey(r));
  add('getRange', 'client', (r) => svc.getRange(r));
  add('decommissionStore', 'admin', (r) => svc.decommissionStore(r));
  add('getConfig', 'client', (r) => svc.getConfig(r));
  add('setConfig', 'admin', (r) => svc.setConfig(r));
  add('setScheduler', 'admin', (r) => svc.setScheduler(r));
  add('scanRanges', 'client', (r) => svc.scanRanges(r));
  add('getStore', 'client', (r) => svc.getStore(r));
  add('listStores', 'client', (r) => svc.listStores(r));
  add('allocIds', 'admin', (r) => svc.allocIds(r));
  add('getMembers', 'client', (r) => svc.getMembers(r));
  add('addPdMember', 'admin', (r) => svc.addPdMember(r));
  add('removePdMember', 'admin', (r) => svc.removePdMember(r));
  add('createOperator', 'admin', (r) => svc.createOperator(r));
  add('getOperator', 'client', (r) => svc.getOperator(r));
  add('listOperators', 'client', (r) => svc.listOperators(r));
  server.addService(def, impl);
}
