// PD's operator records -> the wire shape of proto/pd.proto. Descriptors and replicas
// cross with @rangekv/proto's one mapping (descriptorToWire, replicaToWire, ...).
import { descriptorToWire, type pdpb } from '@rangekv/proto';
import type { OperatorRecord } from './types.js';

export function operatorToProto(op: OperatorRecord): pdpb.Operator.$Properties {
  return {
    id: op.id, kind: op.kind, rangeId: op.rangeId, toStore: op.toStore, fromStore: op.fromStore, splitKey: op.splitKey,
    status: op.status, step: op.step, reason: op.reason, createdAtMs: op.createdAtMs, finishedAtMs: op.finishedAtMs,
    createdBy: op.createdBy,
    ...(op.descriptor ? { descriptor: descriptorToWire(op.descriptor) } : {}),
    ...(op.right ? { right: descriptorToWire(op.right) } : {}),
  };
}
