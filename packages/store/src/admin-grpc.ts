// Serves an AdminService over gRPC with storeAdminService from @rangekv/proto, with the
// same status mapping as the KV service (kv-grpc.ts), plus FAILED_PRECONDITION for
// changes the range's state does not allow.
import type * as grpc from '@grpc/grpc-js';
import { storeAdminService } from '@rangekv/proto';
import type { AdminService } from './admin-service.js';
import { addUnaryMethods, unaryCall, type KvCallObserver } from './kv-grpc.js';
import type { Logger } from '@rangekv/runtime';

export function addAdminService(server: grpc.Server, admin: AdminService, log: Logger, observe?: KvCallObserver): void {
  const a = storeAdminService;
  addUnaryMethods(server, {
    splitRange: unaryCall(log, 'SplitRange', a.splitRange, (r) => admin.splitRange(r), observe),
    transferLeader: unaryCall(log, 'TransferLeader', a.transferLeader, (r) => admin.transferLeader(r), observe),
    addReplica: unaryCall(log, 'AddReplica', a.addReplica, (r) => admin.addReplica(r), observe),
    removeReplica: unaryCall(log, 'RemoveReplica', a.removeReplica, (r) => admin.removeReplica(r), observe),
    promoteLearner: unaryCall(log, 'PromoteLearner', a.promoteLearner, (r) => admin.promoteLearner(r), observe),
    replaceVoter: unaryCall(log, 'ReplaceVoter', a.replaceVoter, (r) => admin.replaceVoter(r), observe),
    rangeStatus: unaryCall(log, 'RangeStatus', a.rangeStatus, (r) => admin.rangeStatus(r), observe),
    listRanges: unaryCall(log, 'ListRanges', a.listRanges, (r) => admin.listRanges(r), observe),
  });
}
