// Plain PD records <-> the wire shapes of proto/metadata.proto and proto/pd.proto.
import type { metapb, pdpb } from '@rangekv/proto';
import type { OperatorRecord, RangeDesc, ReplicaMeta } from './types.js';

const EMPTY = new Uint8Array(0);

function bytes(b: Uint8Array | null | undefined): Uint8Array {
  return b ? new Uint8Array(b) : EMPTY;
}

export function replicaFromProto(r: metapb.Replica.$Properties): ReplicaMeta {
  return { storeId: Number(r.storeId ?? 0), replicaId: Number(r.replicaId ?? 0), role: r.role ?? 0 };
}

export function replicaToProto(r: ReplicaMeta): metapb.Replica.$Properties {
  return { storeId: r.storeId, replicaId: r.replicaId, role: r.role };
}

export function descFromProto(d: metapb.RangeDescriptor.$Properties): RangeDesc {
  return {
    rangeId: Number(d.rangeId ?? 0),
    startKey: bytes(d.startKey),
    endKey: bytes(d.endKey),
    epoch: { confVer: Number(d.epoch?.confVer ?? 0), version: Number(d.epoch?.version ?? 0) },
    replicas: (d.replicas ?? []).map(replicaFromProto).sort((a, b) => a.replicaId - b.replicaId),
  };
}

export function descToProto(d: RangeDesc): metapb.RangeDescriptor.$Properties {
  return {
    rangeId: d.rangeId, startKey: d.startKey, endKey: d.endKey,
    epoch: { confVer: d.epoch.confVer, version: d.epoch.version },
    replicas: d.replicas.map(replicaToProto),
  };
}

export function operatorToProto(op: OperatorRecord): pdpb.Operator.$Properties {
  return {
    id: op.id, kind: op.kind, rangeId: op.rangeId, toStore: op.toStore, fromStore: op.fromStore, splitKey: op.splitKey,
    status: op.status, step: op.step, reason: op.reason, createdAtMs: op.createdAtMs, finishedAtMs: op.finishedAtMs,
    ...(op.descriptor ? { descriptor: descToProto(op.descriptor) } : {}),
    ...(op.right ? { right: descToProto(op.right) } : {}),
  };
}
