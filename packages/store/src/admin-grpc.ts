// Serves an AdminService over gRPC with storeAdminService from @rangekv/proto, with the
// same status mapping as the KV service (kv-grpc.ts), plus FAILED_PRECONDITION for
// changes the range's state does not allow.
import type * as grpc from '@grpc/grpc-js';
import { storeAdminService } from '@rangekv/proto';
import type { AdminService } from './admin-service.js';
import { addUnaryMethods, unaryCall, type CallGuard, type KvCallObserver } from './kv-grpc.js';
import { OPEN_ACCESS, type AccessPolicy, type Logger } from '@rangekv/runtime';

/** Every admin RPC, reads included, needs an admin or PD certificate or the admin token
 *  (when the store's access policy checks anything). */
export function addAdminService(server: grpc.Server, admin: AdminService, log: Logger, observe?: KvCallObserver, access: AccessPolicy = OPEN_ACCESS): void {
  const a = storeAdminService;
  const g: CallGuard = { access, need: 'operator' };
  addUnaryMethods(server, {
    splitRange: unaryCall(log, 'SplitRange', a.splitRange, (r) => admin.splitRange(r), observe, g),
    transferLeader: unaryCall(log, 'TransferLeader', a.transferLeader, (r) => admin.transferLeader(r), observe, g),
    addReplica: unaryCall(log, 'AddReplica', a.addReplica, (r) => admin.addReplica(r), observe, g),
    removeReplica: unaryCall(log, 'RemoveReplica', a.removeReplica, (r) => admin.removeReplica(r), observe, g),
    promoteLearner: unaryCall(log, 'PromoteLearner', a.promoteLearner, (r) => admin.promoteLearner(r), observe, g),
    replaceVoter: unaryCall(log, 'ReplaceVoter', a.replaceVoter, (r) => admin.replaceVoter(r), observe, g),
    mergeRanges: unaryCall(log, 'MergeRanges', a.mergeRanges, (r) => admin.mergeRanges(r), observe, g),
    rangeStatus: unaryCall(log, 'RangeStatus', a.rangeStatus, (r) => admin.rangeStatus(r), observe, g),
    listRanges: unaryCall(log, 'ListRanges', a.listRanges, (r) => admin.listRanges(r), observe, g),
  });
}
