// Public API of @rangekv/proto: the generated bindings of proto/*.proto, the gRPC
// service definitions of the services they declare, and the one definition of the range
// descriptor, epoch and replica roles with its mapping to the wire (range-descriptor.ts).
//
// The bindings are generated at build time (tools/scripts/gen-proto.mjs) into
// ../generated/; 64-bit integer fields are plain JS numbers. Decoding is strict
// (bindings.ts): a value a field cannot hold is refused with a WireDecodeError.
import { rangekv } from './bindings.js';

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
  ReplicaRole, isReplicaRole, replicaRoleName, type ReplicaRoleName, type ReplicaDescriptor, type RangeEpoch, type RangeDescriptor,
  replicaToWire, replicaFromWire, descriptorToWire, descriptorFromWire,
} from './range-descriptor.js';
export { WireDecodeError } from './wire-decode-error.js';
export { tryDecode, type DecodeResult } from './strict-decode.js';
/** Every message's fields and every enum's values (generated): for tools and tests. */
export { wireSchema } from './bindings.js';
export type { WireSchema, WireField, WireFieldKind } from '../generated/wire-schema.js';

export {
  type MethodDefinition,
  kvService,
  storeAdminService,
  pdService,
  raftTransportService,
  RAFT_TRANSPORT_STREAM_PATH,
  RAFT_TRANSPORT_SNAPSHOT_PATH,
} from './services.js';
