// Serves a PdService with grpc-js and pdService of @rangekv/proto. Status mapping:
// PdRequestError -> its code (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION); a request
// that does not decode -> INVALID_ARGUMENT; anything else -> INTERNAL (logged).
import * as grpc from '@grpc/grpc-js';
import { pdService, tryDecode, type MethodDefinition } from '@rangekv/proto';
import type { Logger } from '@rangekv/runtime';
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

export function addPdService(server: grpc.Server, svc: PdService, log: Logger, observe?: PdCallObserver): void {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const impl: grpc.UntypedServiceImplementation = {};
  const add = <K extends keyof Methods>(name: K, f: (req: Parameters<Methods[K]['requestSerialize']>[0]) => Promise<unknown>): void => {
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
      if (call.request instanceof Malformed) {
        cb({ code: grpc.status.INVALID_ARGUMENT, details: `malformed request: ${call.request.reason}` });
        return;
      }
      f(call.request as Parameters<Methods[K]['requestSerialize']>[0])
        .then((res) => cb(null, res), (e: unknown) => cb(toStatus(e, log, m.originalName)));
    }) as grpc.UntypedHandleCall;
  };
  add('allocStoreId', (r) => svc.allocStoreId(r));
  add('storeHeartbeat', (r) => svc.storeHeartbeat(r));
  add('rangeHeartbeat', (r) => svc.rangeHeartbeat(r));
  add('getRangeByKey', (r) => svc.getRangeByKey(r));
  add('getRange', (r) => svc.getRange(r));
  add('decommissionStore', (r) => svc.decommissionStore(r));
  add('getConfig', (r) => svc.getConfig(r));
  add('setConfig', (r) => svc.setConfig(r));
  add('setScheduler', (r) => svc.setScheduler(r));
  add('scanRanges', (r) => svc.scanRanges(r));
  add('getStore', (r) => svc.getStore(r));
  add('listStores', (r) => svc.listStores(r));
  add('allocIds', (r) => svc.allocIds(r));
  add('getMembers', (r) => svc.getMembers(r));
  add('createOperator', (r) => svc.createOperator(r));
  add('getOperator', (r) => svc.getOperator(r));
  add('listOperators', (r) => svc.listOperators(r));
  server.addService(def, impl);
}
