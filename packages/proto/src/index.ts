// Public API of @rangekv/proto: the generated bindings of proto/*.proto and the gRPC
// service definitions of the services they declare.
//
// The bindings are generated at build time (tools/scripts/gen-proto.mjs) into
// ../generated/; 64-bit integer fields are plain JS numbers.
import { rangekv } from '../generated/rangekv.js';

export { rangekv };
/** proto/raft.proto: raft Entry/Message/Snapshot, RaftBatch, CoalescedHeartbeats. */
export import raftpb = rangekv.raft;
/** proto/metadata.proto: RangeDescriptor, RequestHeader, RangeError and its variants. */
export import metapb = rangekv.meta;
/** proto/kv.proto: the KV service's requests and responses. */
export import kvpb = rangekv.kv;
/** proto/admin.proto: the store admin service's requests and responses. */
export import adminpb = rangekv.admin;
/** proto/pd.proto: the placement driver's service. */
export import pdpb = rangekv.pd;

export {
  type MethodDefinition,
  kvService,
  storeAdminService,
  pdService,
  raftTransportService,
  RAFT_TRANSPORT_STREAM_PATH,
  RAFT_TRANSPORT_SNAPSHOT_PATH,
} from './services.js';
