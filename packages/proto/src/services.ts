// gRPC service definitions for the services of proto/*.proto.
//
// They have the shape @grpc/grpc-js expects of a ServiceDefinition (path, streaming
// flags, serializers), so a server does `server.addService(kvService, impl)` and a
// client `makeGenericClientConstructor(kvService, 'Kv')`, without this package
// depending on grpc-js. Requests and responses are typed by the generated
// `$Properties` interfaces: plain objects in, decoded messages out (decoded messages
// have every field, at its default when absent on the wire).
import { rangekv } from './bindings.js';

/** One RPC: what @grpc/grpc-js calls a MethodDefinition. */
export interface MethodDefinition<Req, Res> {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: Req) => Buffer;
  requestDeserialize: (bytes: Buffer) => Req;
  responseSerialize: (value: Res) => Buffer;
  responseDeserialize: (bytes: Buffer) => Res;
  originalName: string;
}

/** The static encode/decode pair every generated message class has. */
interface MessageCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(bytes: Uint8Array): T;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function unary<Req, Res>(
  service: string, name: string, req: MessageCodec<Req>, res: MessageCodec<Res>,
): MethodDefinition<Req, Res> {
  return {
    path: `/${service}/${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (v) => toBuffer(req.encode(v).finish()),
    requestDeserialize: (b) => req.decode(b),
    responseSerialize: (v) => toBuffer(res.encode(v).finish()),
    responseDeserialize: (b) => res.decode(b),
    originalName: name,
  };
}

const kv = rangekv.kv;
const KV = 'rangekv.kv.Kv';

/** rangekv.kv.Kv (proto/kv.proto). */
export const kvService = {
  get: unary(KV, 'Get', kv.GetRequest, kv.GetResponse),
  batchGet: unary(KV, 'BatchGet', kv.BatchGetRequest, kv.BatchGetResponse),
  put: unary(KV, 'Put', kv.PutRequest, kv.PutResponse),
  batchPut: unary(KV, 'BatchPut', kv.BatchPutRequest, kv.BatchPutResponse),
  delete: unary(KV, 'Delete', kv.DeleteRequest, kv.DeleteResponse),
  deleteRange: unary(KV, 'DeleteRange', kv.DeleteRangeRequest, kv.DeleteRangeResponse),
  scan: unary(KV, 'Scan', kv.ScanRequest, kv.ScanResponse),
  compareAndSwap: unary(KV, 'CompareAndSwap', kv.CompareAndSwapRequest, kv.CompareAndSwapResponse),
};

const admin = rangekv.admin;
const ADMIN = 'rangekv.admin.StoreAdmin';

/** rangekv.admin.StoreAdmin (proto/admin.proto). */
export const storeAdminService = {
  splitRange: unary(ADMIN, 'SplitRange', admin.SplitRangeRequest, admin.SplitRangeResponse),
  transferLeader: unary(ADMIN, 'TransferLeader', admin.TransferLeaderRequest, admin.TransferLeaderResponse),
  addReplica: unary(ADMIN, 'AddReplica', admin.AddReplicaRequest, admin.ChangeReplicasResponse),
  removeReplica: unary(ADMIN, 'RemoveReplica', admin.RemoveReplicaRequest, admin.ChangeReplicasResponse),
  promoteLearner: unary(ADMIN, 'PromoteLearner', admin.PromoteLearnerRequest, admin.ChangeReplicasResponse),
  replaceVoter: unary(ADMIN, 'ReplaceVoter', admin.ReplaceVoterRequest, admin.ChangeReplicasResponse),
  mergeRanges: unary(ADMIN, 'MergeRanges', admin.MergeRangesRequest, admin.MergeRangesResponse),
  rangeStatus: unary(ADMIN, 'RangeStatus', admin.RangeStatusRequest, admin.RangeStatusResponse),
  listRanges: unary(ADMIN, 'ListRanges', admin.ListRangesRequest, admin.ListRangesResponse),
};

const pd = rangekv.pd;
const PD = 'rangekv.pd.Pd';

/** rangekv.pd.Pd (proto/pd.proto). */
export const pdService = {
  allocStoreId: unary(PD, 'AllocStoreId', pd.AllocStoreIdRequest, pd.AllocStoreIdResponse),
  storeHeartbeat: unary(PD, 'StoreHeartbeat', pd.StoreHeartbeatRequest, pd.StoreHeartbeatResponse),
  rangeHeartbeat: unary(PD, 'RangeHeartbeat', pd.RangeHeartbeatRequest, pd.RangeHeartbeatResponse),
  getRangeByKey: unary(PD, 'GetRangeByKey', pd.GetRangeByKeyRequest, pd.GetRangeByKeyResponse),
  getRange: unary(PD, 'GetRange', pd.GetRangeRequest, pd.GetRangeResponse),
  scanRanges: unary(PD, 'ScanRanges', pd.ScanRangesRequest, pd.ScanRangesResponse),
  getStore: unary(PD, 'GetStore', pd.GetStoreRequest, pd.GetStoreResponse),
  listStores: unary(PD, 'ListStores', pd.ListStoresRequest, pd.ListStoresResponse),
  allocIds: unary(PD, 'AllocIds', pd.AllocIdsRequest, pd.AllocIdsResponse),
  getMembers: unary(PD, 'GetMembers', pd.GetMembersRequest, pd.GetMembersResponse),
  addPdMember: unary(PD, 'AddPdMember', pd.AddPdMemberRequest, pd.AddPdMemberResponse),
  removePdMember: unary(PD, 'RemovePdMember', pd.RemovePdMemberRequest, pd.RemovePdMemberResponse),
  createOperator: unary(PD, 'CreateOperator', pd.CreateOperatorRequest, pd.CreateOperatorResponse),
  getOperator: unary(PD, 'GetOperator', pd.GetOperatorRequest, pd.GetOperatorResponse),
  listOperators: unary(PD, 'ListOperators', pd.ListOperatorsRequest, pd.ListOperatorsResponse),
  decommissionStore: unary(PD, 'DecommissionStore', pd.DecommissionStoreRequest, pd.DecommissionStoreResponse),
  getConfig: unary(PD, 'GetConfig', pd.GetConfigRequest, pd.GetConfigResponse),
  setConfig: unary(PD, 'SetConfig', pd.SetConfigRequest, pd.SetConfigResponse),
  setScheduler: unary(PD, 'SetScheduler', pd.SetSchedulerRequest, pd.SetSchedulerResponse),
};

export const RAFT_TRANSPORT_STREAM_PATH = '/rangekv.raft.RaftTransport/Stream';
export const RAFT_TRANSPORT_SNAPSHOT_PATH = '/rangekv.raft.RaftTransport/Snapshot';

const passThrough = (b: Buffer): Buffer => b;

/**
 * rangekv.raft.RaftTransport (proto/raft.proto). Its one bidi method carries raw
 * bytes: the transport encodes RaftBatch itself (raftpb.RaftBatch) so it controls
 * batch sizes and decode errors.
 */
export const raftTransportService = {
  stream: {
    path: RAFT_TRANSPORT_STREAM_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
    originalName: 'Stream',
  } satisfies MethodDefinition<Buffer, Buffer>,
  /** Client-streaming: raw bytes too; the transport encodes SnapshotRequest / SnapshotAck itself. */
  snapshot: {
    path: RAFT_TRANSPORT_SNAPSHOT_PATH,
    requestStream: true,
    responseStream: false,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
    originalName: 'Snapshot',
  } satisfies MethodDefinition<Buffer, Buffer>,
};
