// Plain data the client hands out, and its conversions from the wire messages. Range
// descriptors are @rangekv/proto's one definition (RangeDescriptor, ReplicaRole) and
// cross the wire with its descriptorFromWire.
import { descriptorFromWire, metapb, pdpb, type RangeDescriptor } from '@rangekv/proto';

/** Keys and values: bytes, or a string taken as UTF-8. */
export type Bytes = Uint8Array | string;

export function toBuffer(b: Bytes): Buffer {
  if (typeof b === 'string') return Buffer.from(b, 'utf8');
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export type ReadConsistency = 'linearizable' | 'lease' | 'follower' | 'stale';

export function consistencyToWire(c: ReadConsistency | undefined): metapb.ReadConsistency {
  switch (c ?? 'linearizable') {
    case 'linearizable': return metapb.ReadConsistency.LINEARIZABLE;
    case 'lease': return metapb.ReadConsistency.LEASE;
    case 'follower': return metapb.ReadConsistency.FOLLOWER;
    case 'stale': return metapb.ReadConsistency.STALE;
    default: throw new TypeError(`unknown read consistency ${String(c)}`);
  }
}

export interface KeyValue {
  key: Buffer;
  value: Buffer;
}

export interface RangeInfo extends RangeDescriptor {
  /** Store of the last known leader; 0 when unknown. */
  leaderStoreId: number;
}

/** A PD setting that can change at run time: its value now, and whether it was set at run time (else the flag's). */
export interface ConfigEntryInfo {
  key: string;
  value: number;
  overridden: boolean;
}

export interface SchedulerInfo {
  name: string;
  /** Off by a PD flag: pausing or resuming it changes nothing. */
  enabled: boolean;
  paused: boolean;
}

export interface PdConfigInfo {
  entries: ConfigEntryInfo[];
  schedulers: SchedulerInfo[];
}

export function configEntryFromWire(e: pdpb.ConfigEntry.$Properties): ConfigEntryInfo {
  return { key: e.key ?? '', value: Number(e.value ?? 0), overridden: e.overridden === true };
}

/** Up / down by heartbeats; offline while being decommissioned; tombstone once decommissioned. */
export type StoreState = 'up' | 'down' | 'offline' | 'tombstone';

function storeStateFromWire(s: pdpb.StoreState | null | undefined): StoreState {
  switch (s) {
    case pdpb.StoreState.DOWN: return 'down';
    case pdpb.StoreState.OFFLINE: return 'offline';
    case pdpb.StoreState.TOMBSTONE: return 'tombstone';
    default: return 'up';
  }
}

export interface StoreInfo {
  id: number;
  address: string;
  raftAddress: string;
  httpAddress: string;
  state: StoreState;
  lastHeartbeatAgeMs: number;
  /** Location labels the store sends (`--labels zone=..,host=..`). */
  labels: Record<string, string>;
  ranges: number;
  leaders: number;
  /** Of the filesystem holding the store's data dir (0: not reported yet). */
  capacityBytes: number;
  availableBytes: number;
  /** Bytes of files under the store's data dir. */
  usedBytes: number;
  /** Snapshots the store is sending / receiving now. */
  snapshotsSending: number;
  snapshotsReceiving: number;
  /** Client traffic over the store's last heartbeat interval, per second (writes proposed on ranges led there, reads answered). */
  writeBytesPerSecond: number;
  writeKeysPerSecond: number;
  readBytesPerSecond: number;
  readKeysPerSecond: number;
}

export type OperatorKind = 'transfer-leader' | 'add-replica' | 'remove-replica' | 'move-replica' | 'split' | 'merge';
export type OperatorStatus = 'running' | 'succeeded' | 'failed' | 'timed-out';

export interface OperatorInfo {
  id: number;
  kind: OperatorKind;
  rangeId: number;
  toStore: number;
  fromStore: number;
  splitKey: Buffer;
  status: OperatorStatus;
  step: string;
  reason: string;
  createdAtMs: number;
  finishedAtMs: number;
  /** Who created it: 'admin' (CreateOperator) or a PD scheduler ('balance-leader'). */
  createdBy: string;
  /** After success: the range's descriptor (SPLIT: the left range). */
  descriptor: RangeDescriptor | undefined;
  /** SPLIT after success: the right range. */
  right: RangeDescriptor | undefined;
}

const KINDS: Record<number, OperatorKind> = {
  [pdpb.OperatorKind.TRANSFER_LEADER]: 'transfer-leader',
  [pdpb.OperatorKind.ADD_REPLICA]: 'add-replica',
  [pdpb.OperatorKind.REMOVE_REPLICA]: 'remove-replica',
  [pdpb.OperatorKind.MOVE_REPLICA]: 'move-replica',
  [pdpb.OperatorKind.SPLIT]: 'split',
  [pdpb.OperatorKind.MERGE]: 'merge',
};

const STATUSES: Record<number, OperatorStatus> = {
  [pdpb.OperatorStatus.RUNNING]: 'running',
  [pdpb.OperatorStatus.SUCCEEDED]: 'succeeded',
  [pdpb.OperatorStatus.FAILED]: 'failed',
  [pdpb.OperatorStatus.TIMED_OUT]: 'timed-out',
};

export function operatorKindToWire(kind: OperatorKind): pdpb.OperatorKind {
  for (const [k, v] of Object.entries(KINDS)) if (v === kind) return Number(k) as pdpb.OperatorKind;
  throw new TypeError(`unknown operator kind ${kind}`);
}

function bytes(b: Uint8Array | null | undefined): Buffer {
  return b ? toBuffer(b) : Buffer.alloc(0);
}

export function routeFromWire(r: pdpb.RangeRoute.$Properties): RangeInfo | undefined {
  if (!r.descriptor) return undefined;
  return { ...descriptorFromWire(r.descriptor), leaderStoreId: Number(r.leader?.storeId ?? 0) };
}

export function storeFromWire(s: pdpb.Store.$Properties | null | undefined, st: pdpb.StoreStats.$Properties | null | undefined): StoreInfo {
  return {
    id: Number(s?.id ?? 0),
    address: s?.address ?? '',
    raftAddress: s?.raftAddress ?? '',
    httpAddress: s?.httpAddress ?? '',
    state: storeStateFromWire(s?.state),
    lastHeartbeatAgeMs: Number(s?.lastHeartbeatAgeMs ?? 0),
    labels: Object.fromEntries((s?.labels ?? []).map((l) => [l.key ?? '', l.value ?? ''])),
    ranges: Number(st?.ranges ?? 0),
    leaders: Number(st?.leaders ?? 0),
    capacityBytes: Number(st?.capacityBytes ?? 0),
    availableBytes: Number(st?.availableBytes ?? 0),
    usedBytes: Number(st?.usedBytes ?? 0),
    snapshotsSending: Number(st?.snapshotsSending ?? 0),
    snapshotsReceiving: Number(st?.snapshotsReceiving ?? 0),
    writeBytesPerSecond: Number(st?.writeBytesPerSecond ?? 0),
    writeKeysPerSecond: Number(st?.writeKeysPerSecond ?? 0),
    readBytesPerSecond: Number(st?.readBytesPerSecond ?? 0),
    readKeysPerSecond: Number(st?.readKeysPerSecond ?? 0),
  };
}

export function operatorFromWire(o: pdpb.Operator.$Properties): OperatorInfo {
  return {
    id: Number(o.id ?? 0),
    kind: KINDS[o.kind ?? 0] ?? 'transfer-leader',
    rangeId: Number(o.rangeId ?? 0),
    toStore: Number(o.toStore ?? 0),
    fromStore: Number(o.fromStore ?? 0),
    splitKey: bytes(o.splitKey),
    status: STATUSES[o.status ?? 0] ?? 'running',
    step: o.step ?? '',
    reason: o.reason ?? '',
    createdAtMs: Number(o.createdAtMs ?? 0),
    finishedAtMs: Number(o.finishedAtMs ?? 0),
    // A PD older than schedulers sends none: every operator then came from CreateOperator.
    createdBy: o.createdBy || 'admin',
    descriptor: o.descriptor ? descriptorFromWire(o.descriptor) : undefined,
    right: o.right ? descriptorFromWire(o.right) : undefined,
  };
}

/** A PD node's place in PD's raft group: the leader, another voter, or a learner (being added, catching up). */
export type PdMemberRole = 'leader' | 'voter' | 'learner';

export interface PdMemberInfo {
  id: number;
  /** Client address ("host:port"); '' when the answering node does not know it. */
  address: string;
  /** PD-to-PD raft address; '' when unknown. */
  raftAddress: string;
  role: PdMemberRole;
  /** The leader's view of how far this member's log matches (0 when answered by a follower). */
  matchIndex: number;
}

export interface PdMembership {
  /** Ascending by id. */
  members: PdMemberInfo[];
  /** The leader's commit index (0 when a follower answered): a member whose matchIndex is near it is caught up. */
  commitIndex: number;
}

export function pdMemberFromWire(m: pdpb.PdMember.$Properties): PdMemberInfo {
  return {
    id: Number(m.id ?? 0),
    address: m.address ?? '',
    raftAddress: m.raftAddress ?? '',
    role: m.isLeader === true ? 'leader' : m.isLearner === true ? 'learner' : 'voter',
    matchIndex: Number(m.matchIndex ?? 0),
  };
}

export function pdMembersFromWire(ms: readonly pdpb.PdMember.$Properties[] | null | undefined): PdMemberInfo[] {
  return (ms ?? []).map(pdMemberFromWire).sort((a, b) => a.id - b.id);
}
