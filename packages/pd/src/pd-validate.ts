// What PD accepts: every value that enters PD's raft log is checked here first, so apply
// never meets a command it cannot apply. The same checks run before a command is proposed
// (pd-raft.ts: a refused command is a PdRequestError to the caller, nothing is proposed)
// and again at apply (a command that fails them is refused there, deterministically on
// every PD node, and logged as a bug).
//
// Each check returns null when the value is acceptable, else the reason.
import { isReplicaRole, ReplicaRole, type RangeDescriptor, type ReplicaDescriptor } from '@rangekv/proto';
import type { PdCommand } from './pd-command.js';
import { runtimeConfigProblem } from './pd-limits.js';
import {
  compareBytes, MAX_PD_ID, OperatorKind, OperatorStatus, type OperatorRecord, type RangeRecord, type StoreMeta,
} from './types.js';

/**
 * Store ids stay below 2^20: a store allocates its own ids from [storeId * 2^32,
 * (storeId + 1) * 2^32), which must stay below 2^53.
 */
export const MAX_STORE_ID = 2 ** 20 - 1;
/** Keys in descriptors and operators: the stores' maxKeyBytes default (a larger key never exists). */
export const MAX_KEY_BYTES = 4096;
/** Replicas of one range (voters, learners and joint halves together). */
export const MAX_REPLICAS_PER_RANGE = 16;
/** A "host:port" address. */
export const MAX_ADDRESS_BYTES = 255;
/** Operator step and reason texts. */
export const MAX_TEXT_BYTES = 4096;
/** Store tokens: printable ASCII, this long at least and at most. */
export const MIN_STORE_TOKEN_BYTES = 16;
export const MAX_STORE_TOKEN_BYTES = 128;
/** An operator's createdBy: 'admin' or a scheduler's name. */
export const MAX_CREATED_BY_BYTES = 64;
/** Ids of one reserve command (one entry reserves one id block). */
export const MAX_RESERVE_COUNT = 1_000_000;
/** Timestamps (ms since 1970) and timeouts: below this (year 2255); keeps sums far below 2^53. */
export const MAX_TIME_MS = 9e12;
/** Raft terms in reports: the raft core refuses terms above 2^52. */
export const MAX_TERM = 2 ** 52;

const KINDS: ReadonlySet<number> = new Set(Object.values(OperatorKind).filter((v) => typeof v === 'number'));
const STATUSES: ReadonlySet<number> = new Set(Object.values(OperatorStatus).filter((v) => typeof v === 'number'));

function intIn(v: number, min: number, max: number): boolean {
  return Number.isSafeInteger(v) && v >= min && v <= max;
}

/** "host:port" with a port in 1..65535 ("[v6]:port" too). */
export function addressProblem(a: string, what: string, mayBeEmpty: boolean): string | null {
  if (a.length === 0) return mayBeEmpty ? null : `${what} must be set`;
  if (Buffer.byteLength(a) > MAX_ADDRESS_BYTES) return `${what} is longer than ${MAX_ADDRESS_BYTES} bytes`;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-_]+):(\d{1,5})$/.exec(a);
  if (m === null) return `${what} "${a}" is not host:port`;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return `${what} port ${port} is not in 1..65535`;
  return null;
}

export function storeIdProblem(id: number, what = 'store id'): string | null {
  return intIn(id, 1, MAX_STORE_ID) ? null : `${what} ${id} is not in 1..${MAX_STORE_ID}`;
}

export function storeTokenProblem(t: string): string | null {
  if (t.length < MIN_STORE_TOKEN_BYTES || t.length > MAX_STORE_TOKEN_BYTES) {
    return `store_token must be ${MIN_STORE_TOKEN_BYTES}..${MAX_STORE_TOKEN_BYTES} characters, got ${t.length}`;
  }
  if (!/^[\x21-\x7e]+$/.test(t)) return 'store_token must be printable ASCII';
  return null;
}

export function storeProblem(s: StoreMeta): string | null {
  return storeIdProblem(s.id, 'store.id') ??
    addressProblem(s.address, 'store.address', false) ??
    addressProblem(s.raftAddress, 'store.raft_address', true) ??
    addressProblem(s.httpAddress, 'store.http_address', true) ??
    (/^([0-9a-f]{64})?$/.test(s.tokenHash) ? null : 'store token hash is not 64 hex digits') ??
    labelsProblem(s.labels);
}

/** Labels a store may carry. */
export const MAX_STORE_LABELS = 8;
const LABEL_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** At most MAX_STORE_LABELS labels, keys and values of 1-64 letters, digits, `_`, `.`, `-` (starting with a letter or digit). */
export function labelsProblem(labels: Record<string, string>): string | null {
  const entries = Object.entries(labels);
  if (entries.length > MAX_STORE_LABELS) return `store has ${entries.length} labels, above ${MAX_STORE_LABELS}`;
  for (const [k, v] of entries) {
    if (!LABEL_RE.test(k)) return `store label key ${JSON.stringify(k.slice(0, 80))} is not 1-64 of [A-Za-z0-9_.-]`;
    if (!LABEL_RE.test(v)) return `store label ${k}'s value ${JSON.stringify(v.slice(0, 80))} is not 1-64 of [A-Za-z0-9_.-]`;
  }
  return null;
}

function replicaProblem(r: ReplicaDescriptor, what: string): string | null {
  return storeIdProblem(r.storeId, `${what}.store_id`) ??
    (intIn(r.replicaId, 1, Number.MAX_SAFE_INTEGER) ? null : `${what}.replica_id ${r.replicaId} is not positive`) ??
    (isReplicaRole(r.role) ? null : `${what}.role ${r.role} is not a replica role`);
}

function keyProblem(k: Uint8Array, what: string): string | null {
  return k.length > MAX_KEY_BYTES ? `${what} is ${k.length} bytes, above ${MAX_KEY_BYTES}` : null;
}

/** A well-formed descriptor: ids, span, epoch, replicas (distinct stores and replica ids). */
export function descriptorProblem(d: RangeDescriptor): string | null {
  const what = `range ${d.rangeId}`;
  if (!intIn(d.rangeId, 1, Number.MAX_SAFE_INTEGER)) return `range id ${d.rangeId} is not positive`;
  const p = keyProblem(d.startKey, `${what} start key`) ?? keyProblem(d.endKey, `${what} end key`);
  if (p !== null) return p;
  if (d.endKey.length > 0 && compareBytes(d.startKey, d.endKey) >= 0) return `${what}: start key is not below end key`;
  if (!intIn(d.epoch.confVer, 1, Number.MAX_SAFE_INTEGER) || !intIn(d.epoch.version, 1, Number.MAX_SAFE_INTEGER)) {
    return `${what}: epoch {confVer ${d.epoch.confVer}, version ${d.epoch.version}} must be positive`;
  }
  if (d.replicas.length === 0) return `${what} has no replicas`;
  if (d.replicas.length > MAX_REPLICAS_PER_RANGE) return `${what} has ${d.replicas.length} replicas, above ${MAX_REPLICAS_PER_RANGE}`;
  const stores = new Set<number>();
  const ids = new Set<number>();
  for (const r of d.replicas) {
    const rp = replicaProblem(r, `${what} replica`);
    if (rp !== null) return rp;
    if (stores.has(r.storeId)) return `${what} has two replicas on store ${r.storeId}`;
    if (ids.has(r.replicaId)) return `${what} has replica id ${r.replicaId} twice`;
    stores.add(r.storeId);
    ids.add(r.replicaId);
  }
  if (!d.replicas.some((r) => r.role !== ReplicaRole.Learner)) return `${what} has no voter`;
  return null;
}

export function rangeRecordProblem(r: RangeRecord): string | null {
  const p = descriptorProblem(r.descriptor);
  if (p !== null) return p;
  if (!intIn(r.term, 0, MAX_TERM)) return `range ${r.descriptor.rangeId}: term ${r.term} is not in 0..2^52`;
  if (r.leader !== null) {
    const l = r.leader;
    if (!r.descriptor.replicas.some((x) => x.storeId === l.storeId && x.replicaId === l.replicaId)) {
      return `range ${r.descriptor.rangeId}: leader ${l.replicaId} on store ${l.storeId} is not one of its replicas`;
    }
  }
  return null;
}

export function operatorProblem(op: OperatorRecord): string | null {
  const what = `operator ${op.id}`;
  if (!intIn(op.id, 1, MAX_PD_ID)) return `operator id ${op.id} is not in 1..2^32-1`;
  if (!KINDS.has(op.kind)) return `${what}: kind ${op.kind} is unknown`;
  if (!STATUSES.has(op.status)) return `${what}: status ${op.status} is unknown`;
  if (!intIn(op.rangeId, 1, Number.MAX_SAFE_INTEGER)) return `${what}: range id ${op.rangeId} is not positive`;
  for (const [v, name] of [[op.toStore, 'to_store'], [op.fromStore, 'from_store']] as const) {
    if (v !== 0 && storeIdProblem(v) !== null) return `${what}: ${name} ${v} is not a store id`;
  }
  const kp = keyProblem(op.splitKey, `${what} split key`);
  if (kp !== null) return kp;
  if (Buffer.byteLength(op.step) > MAX_TEXT_BYTES || Buffer.byteLength(op.reason) > MAX_TEXT_BYTES) return `${what}: step or reason text too long`;
  if (!/^[a-z0-9][a-z0-9-]*$/.test(op.createdBy) || op.createdBy.length > MAX_CREATED_BY_BYTES) {
    return `${what}: created_by "${op.createdBy.slice(0, MAX_CREATED_BY_BYTES)}" is not a name (a-z, 0-9, '-', at most ${MAX_CREATED_BY_BYTES})`;
  }
  for (const [v, name] of [[op.createdAtMs, 'created_at_ms'], [op.finishedAtMs, 'finished_at_ms'], [op.timeoutMs, 'timeout_ms']] as const) {
    if (!intIn(v, 0, MAX_TIME_MS)) return `${what}: ${name} ${v} is out of range`;
  }
  if (!intIn(op.replicaId, 0, Number.MAX_SAFE_INTEGER) || !intIn(op.newRangeId, 0, Number.MAX_SAFE_INTEGER)) return `${what}: bad ids`;
  for (const d of [op.descriptor, op.right]) {
    if (d === null) continue;
    const dp = descriptorProblem(d);
    if (dp !== null) return `${what}: ${dp}`;
  }
  return null;
}

/** Longest setting or scheduler name a command may carry. */
export const MAX_CONFIG_NAME_BYTES = 64;

/** Whether PD's state machine accepts `c` as a well-formed command (checked before proposing and at apply). */
export function commandProblem(c: PdCommand): string | null {
  switch (c.t) {
    case 'init': return intIn(c.clusterId, 1, Number.MAX_SAFE_INTEGER) ? null : `cluster id ${c.clusterId} is not positive`;
    case 'reserve': return intIn(c.count, 1, MAX_RESERVE_COUNT) ? null : `reserve count ${c.count} is not in 1..${MAX_RESERVE_COUNT}`;
    case 'putStore': return storeProblem(c.store);
    case 'setStoreState': return storeIdProblem(c.storeId);
    case 'setConfig': return c.key.length > MAX_CONFIG_NAME_BYTES ? 'setting name too long' : c.value === null ? null : runtimeConfigProblem(c.key, c.value);
    case 'setSchedulerPaused': return c.name.length > MAX_CONFIG_NAME_BYTES ? 'scheduler name too long' : null;
    case 'bootstrap': return descriptorProblem(c.descriptor) ?? (c.descriptor.rangeId === 1 ? null : 'bootstrap must create range 1');
    case 'putRanges': {
      for (const r of c.ranges) {
        const p = rangeRecordProblem(r);
        if (p !== null) return p;
      }
      return null;
    }
    case 'createOperator':
    case 'updateOperator': return operatorProblem(c.op);
  }
}
