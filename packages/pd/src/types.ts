// Plain data PD keeps: stores, range records, operators. Descriptors, replicas and roles
// are @rangekv/proto's one definition (RangeDescriptor, ReplicaDescriptor, ReplicaRole);
// operator kinds and statuses use the numeric values of proto/pd.proto, so the gRPC edge
// converts shapes only (pd-wire.ts, descriptorToWire/descriptorFromWire), never meanings.
import { pdpb, type RangeDescriptor, type ReplicaDescriptor } from '@rangekv/proto';

export const OperatorKind = pdpb.OperatorKind;
export type OperatorKind = pdpb.OperatorKind;
export const OperatorStatus = pdpb.OperatorStatus;
export type OperatorStatus = pdpb.OperatorStatus;

/** A range's persisted record: its descriptor and the leader of the newest report. */
export interface RangeRecord {
  descriptor: RangeDescriptor;
  /** null when unknown. */
  leader: ReplicaDescriptor | null;
  /** The reporting leader's raft term (0: not reported yet, e.g. right after bootstrap). */
  term: number;
}

export interface StoreMeta {
  id: number;
  address: string;
  raftAddress: string;
  httpAddress: string;
  /** sha256 (hex) of the store's token, recorded at registration; '' for a store registered before tokens. */
  tokenHash: string;
  /** Decommissioning: serving -> offline (its replicas move away) -> tombstone (empty, refused for good). */
  state: StoreNodeState;
  /** Location labels (zone, rack, host, ...), as the store sends them (pd-validate.ts bounds them). */
  labels: Record<string, string>;
}

export type StoreNodeState = 'serving' | 'offline' | 'tombstone';

/** Whether a store may go from `from` to `to` (decommission, its cancel, its end). */
export function storeStateChangeAllowed(from: StoreNodeState, to: StoreNodeState): boolean {
  return (from === 'serving' && to === 'offline') || (from === 'offline' && (to === 'serving' || to === 'tombstone'));
}

export interface StoreStats {
  ranges: number;
  leaders: number;
  capacityBytes: number;
  availableBytes: number;
  usedBytes: number;
  /** The store's disk sync latency over its last heartbeat interval, µs (StoreStats.sync_latency_micros). */
  syncLatencyMicros: number;
  snapshotsSending: number;
  snapshotsReceiving: number;
  /** Client traffic per second over the store's last heartbeat interval. */
  writeBytesPerSecond: number;
  writeKeysPerSecond: number;
  readBytesPerSecond: number;
  readKeysPerSecond: number;
}

export interface RangeStats {
  /** From the leader's last size check of the current span (0 when unknown: see sizeKnown). */
  approximateKeys: number;
  approximateBytes: number;
  /**
   * Whether the two figures above are measured for the current span (or PD's sum of the
   * measured ranges a merge joined). A leader reports none until it has checked the span;
   * the merge checker never merges a range of unknown size.
   */
  sizeKnown: boolean;
  writesPerSecond: number;
  readsPerSecond: number;
  /** The leader's key near the middle of the range's bytes (strictly inside its span), or empty. */
  splitKey: Uint8Array;
}

export interface OperatorRecord {
  id: number;
  kind: OperatorKind;
  rangeId: number;
  toStore: number;
  fromStore: number;
  splitKey: Uint8Array;
  status: OperatorStatus;
  step: string;
  reason: string;
  createdAtMs: number;
  finishedAtMs: number;
  /** The operator fails with TIMED_OUT at createdAtMs + timeoutMs. */
  timeoutMs: number;
  descriptor: RangeDescriptor | null;
  right: RangeDescriptor | null;
  /**
   * ADD_REPLICA / MOVE_REPLICA: the id of the replica it adds (allocated at creation).
   * MERGE: the first of a block of ids, one per voter of the left range: the replica the
   * co-location adds on the left range's i-th voter store (ascending) is replicaId + i.
   */
  replicaId: number;
  /** SPLIT: the id of the right-hand range (allocated at creation). */
  newRangeId: number;
  /**
   * Who created it: 'admin' (the CreateOperator RPC) or a scheduler's name
   * ('balance-leader'). Records written before this field read as 'admin'.
   */
  createdBy: string;
}

/** createdBy of operators asked for over CreateOperator (and of records older than the field). */
export const CREATED_BY_ADMIN = 'admin';

/** Largest id PD hands out: stores allocate their own ids from 2^32 up. */
export const MAX_PD_ID = 2 ** 32 - 1;
/** PD's first range: the whole keyspace. */
export const FIRST_RANGE_ID = 1;

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** key in [start, end) with an empty end meaning "to the end". */
export function keyInSpan(key: Uint8Array, start: Uint8Array, end: Uint8Array): boolean {
  return compareBytes(key, start) >= 0 && (end.length === 0 || compareBytes(key, end) < 0);
}

/** Whether [aStart, aEnd) and [bStart, bEnd) share a key (empty end = unbounded). */
export function spansOverlap(aStart: Uint8Array, aEnd: Uint8Array, bStart: Uint8Array, bEnd: Uint8Array): boolean {
  const aBeforeBEnd = bEnd.length === 0 || compareBytes(aStart, bEnd) < 0;
  const bBeforeAEnd = aEnd.length === 0 || compareBytes(bStart, aEnd) < 0;
  return aBeforeBEnd && bBeforeAEnd;
}

/** Whether [inStart, inEnd) lies inside [outStart, outEnd). */
export function spanContains(outStart: Uint8Array, outEnd: Uint8Array, inStart: Uint8Array, inEnd: Uint8Array): boolean {
  if (compareBytes(inStart, outStart) < 0) return false;
  if (outEnd.length === 0) return true;
  return inEnd.length !== 0 && compareBytes(inEnd, outEnd) <= 0;
}

/**
 * Orders two reports of one range: newer epoch.version, then epoch.confVer, then raft
 * term. Positive when a is newer.
 */
export function compareReports(a: { descriptor: RangeDescriptor; term: number }, b: { descriptor: RangeDescriptor; term: number }): number {
  return (a.descriptor.epoch.version - b.descriptor.epoch.version)
    || (a.descriptor.epoch.confVer - b.descriptor.epoch.confVer)
    || (a.term - b.term);
}

/**
 * The ranges an operator holds (no other operator may run on them meanwhile): its range,
 * and for MERGE the right-hand range too (`right`, recorded at creation).
 */
export function operatorRangeIds(op: OperatorRecord): number[] {
  return op.kind === OperatorKind.MERGE && op.right !== null ? [op.rangeId, op.right.rangeId] : [op.rangeId];
}

export function isFinal(s: OperatorStatus): boolean {
  return s !== OperatorStatus.RUNNING;
}
