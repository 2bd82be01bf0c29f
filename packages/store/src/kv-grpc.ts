// Serves a KvService over gRPC (@grpc/grpc-js) with kvService from @rangekv/proto.
//
// Status mapping (see errors.ts): InvalidArgumentError -> INVALID_ARGUMENT; a request
// that does not decode -> INVALID_ARGUMENT (grpc-js would say INTERNAL, so requests are
// decoded here); UnavailableError -> UNAVAILABLE; AmbiguousResultError -> UNKNOWN with
// trailing metadata `rangekv-ambiguous: 1`; anything else -> INTERNAL (and logged: a
// bug). Range errors are not statuses: they are OK responses with `range_error` set.
import * as grpc from '@grpc/grpc-js';
import { kvService, tryDecode, type MethodDefinition } from '@rangekv/proto';
import { AMBIGUOUS_METADATA_KEY, AmbiguousResultError, FailedPreconditionError, InvalidArgumentError, UnavailableError } from './errors.js';
import type { KvService } from './kv-service.js';
import { OPEN_ACCESS, type AccessPolicy, type Logger, type Need } from '@rangekv/runtime';

/** What a request that failed to decode turns into, so the handler can answer INVALID_ARGUMENT. */
class MalformedRequest {
  constructor(readonly reason: string) {}
}

function tolerant<Req, Res>(m: MethodDefinition<Req, Res>): MethodDefinition<Req | MalformedRequest, Res> {
  return {
    ...m,
    requestSerialize: (v) => {
      if (v instanceof MalformedRequest) throw new TypeError('a MalformedRequest is never sent');
      return m.requestSerialize(v);
    },
    requestDeserialize: (b) => {
      const r = tryDecode(m.requestDeserialize, b);
      return r.ok ? r.value : new MalformedRequest(r.error.message);
    },
  };
}

export function toServiceError(e: unknown, log: Logger, method: string): Partial<grpc.StatusObject> {
  if (e instanceof InvalidArgumentError) return { code: grpc.status.INVALID_ARGUMENT, details: e.reason };
  if (e instanceof FailedPreconditionError) return { code: grpc.status.FAILED_PRECONDITION, details: e.reason };
  if (e instanceof UnavailableError) return { code: grpc.status.UNAVAILABLE, details: e.reason };
  if (e instanceof AmbiguousResultError) {
    const metadata = new grpc.Metadata();
    metadata.set(AMBIGUOUS_METADATA_KEY, '1');
    return { code: grpc.status.UNKNOWN, details: e.message, metadata };
  }
  log.error('request failed', { method, err: e });
  return { code: grpc.status.INTERNAL, details: `internal error: ${e instanceof Error ? e.message : String(e)}` };
}

/** Metrics hook: one call per answered request, `code` a grpc.status name (OK, INVALID_ARGUMENT, ...). */
export type KvCallObserver = (method: string, code: string, seconds: number) => void;

/** Who may make a call: the server's policy and what this method needs (runtime access.ts). */
export interface CallGuard {
  access: AccessPolicy;
  need: Need;
}

export function unaryCall<Req, Res>(
  log: Logger, name: string, m: MethodDefinition<Req, Res>, f: (req: Req) => Promise<Res>, observe?: KvCallObserver,
  guard: CallGuard = { access: OPEN_ACCESS, need: 'client' },
): { def: MethodDefinition<Req | MalformedRequest, Res>; handler: grpc.handleUnaryCall<Req | MalformedRequest, Res> } {
  return {
    def: tolerant(m),
    handler: (call, callback) => {
      const started = process.hrtime.bigint();
      const cb: grpc.sendUnaryData<Res> = (err, res) => {
        observe?.(name, grpc.status[err?.code ?? grpc.status.OK] ?? 'UNKNOWN', Number(process.hrtime.bigint() - started) / 1e9);
        callback(err, res);
      };
      const denied = guard.access.check(call, guard.need, name);
      if (denied !== null) {
        cb(denied);
        return;
      }
      const req = call.request;
      if (req instanceof MalformedRequest) {
        cb({ code: grpc.status.INVALID_ARGUMENT, details: `malformed request: ${req.reason}` });
        return;
      }
      f(req).then((res) => cb(null, res), (e: unknown) => cb(toServiceError(e, log, name)));
    },
  };
}

/** Adds the KV service, backed by `kv`, to `server`; `observe` sees each call's method, status and latency. */
export function addKvService(server: grpc.Server, kv: KvService, log: Logger, observe?: KvCallObserver, access: AccessPolicy = OPEN_ACCESS): void {
  const guard: CallGuard = { access, need: 'client' };
  const unary = <Req, Res>(l: Logger, name: string, m: MethodDefinition<Req, Res>, f: (req: Req) => Promise<Res>) => unaryCall(l, name, m, f, observe, guard);
  const methods = {
    get: unary(log, 'Get', kvService.get, (r) => kv.get(r)),
    batchGet: unary(log, 'BatchGet', kvService.batchGet, (r) => kv.batchGet(r)),
    put: unary(log, 'Put', kvService.put, (r) => kv.put(r)),
    batchPut: unary(log, 'BatchPut', kvService.batchPut, (r) => kv.batchPut(r)),
    delete: unary(log, 'Delete', kvService.delete, (r) => kv.delete(r)),
    deleteRange: unary(log, 'DeleteRange', kvService.deleteRange, (r) => kv.deleteRange(r)),
    scan: unary(log, 'Scan', kvService.scan, (r) => kv.scan(r)),
    compareAndSwap: unary(log, 'CompareAndSwap', kvService.compareAndSwap, (r) => kv.compareAndSwap(r)),
  };
  addUnaryMethods(server, methods);
}

/** Registers unary methods built with `unaryCall` as one service. */
export function addUnaryMethods(server: grpc.Server, methods: Record<string, { def: unknown; handler: unknown }>): void {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [name, m] of Object.entries(methods)) {
    def[name] = m.def as grpc.MethodDefinition<unknown, unknown>;
    impl[name] = m.handler as grpc.UntypedHandleCall;
  }
  server.addService(def, impl);
}
