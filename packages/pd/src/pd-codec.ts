// JSON forms of PD's records and commands: what raft entries carry and what the state
// machine stores in the `default` column family. Bytes travel as hex strings. Every
// encoded value starts with a format byte; decoding refuses an unknown one, or JSON that
// does not have the expected shape (a bug or a newer PD: never guess).
import { isReplicaRole, type RangeDescriptor, type ReplicaDescriptor, type ReplicaRole } from '@rangekv/proto';
import { CREATED_BY_ADMIN, type OperatorRecord, type RangeRecord, type StoreMeta, type StoreNodeState } from './types.js';

export const PD_RECORD_FORMAT = 1;

export class PdDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PdDecodeError';
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function unhex(s: unknown, what: string): Uint8Array {
  if (typeof s !== 'string' || !/^([0-9a-f]{2})*$/.test(s)) throw new PdDecodeError(`${what}: expected hex bytes`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new PdDecodeError(`${what}: expected a non-negative integer`);
  return v;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new PdDecodeError(`${what}: expected a string`);
  return v;
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PdDecodeError(`${what}: expected an object`);
  return v as Record<string, unknown>;
}

export function replicaToJson(r: ReplicaDescriptor): Json {
  return { storeId: r.storeId, replicaId: r.replicaId, role: r.role };
}

function role(v: unknown, what: string): ReplicaRole {
  const n = num(v, what);
  if (!isReplicaRole(n)) throw new PdDecodeError(`${what}: ${n} is not a replica role`);
  return n;
}

export function replicaFromJson(v: unknown): ReplicaDescriptor {
  const o = obj(v, 'replica');
  return { storeId: num(o['storeId'], 'replica.storeId'), replicaId: num(o['replicaId'], 'replica.replicaId'), role: role(o['role'], 'replica.role') };
}

export function descToJson(d: RangeDescriptor): Json {
  return {
    rangeId: d.rangeId, startKey: hex(d.startKey), endKey: hex(d.endKey),
    epoch: { confVer: d.epoch.confVer, version: d.epoch.version },
    replicas: d.replicas.map(replicaToJson),
  };
}

export function descFromJson(v: unknown): RangeDescriptor {
  const o = obj(v, 'descriptor');
  const e = obj(o['epoch'], 'descriptor.epoch');
  const reps = o['replicas'];
  if (!Array.isArray(reps)) throw new PdDecodeError('descriptor.replicas: expected an array');
  return {
    rangeId: num(o['rangeId'], 'descriptor.rangeId'),
    startKey: unhex(o['startKey'], 'descriptor.startKey'),
    endKey: unhex(o['endKey'], 'descriptor.endKey'),
    epoch: { confVer: num(e['confVer'], 'epoch.confVer'), version: num(e['version'], 'epoch.version') },
    replicas: reps.map(replicaFromJson),
  };
}

export function rangeToJson(r: RangeRecord): Json {
  return { descriptor: descToJson(r.descriptor), leader: r.leader ? replicaToJson(r.leader) : null, term: r.term };
}

export function rangeFromJson(v: unknown): RangeRecord {
  const o = obj(v, 'range');
  return {
    descriptor: descFromJson(o['descriptor']),
    leader: o['leader'] === null ? null : replicaFromJson(o['leader']),
    term: num(o['term'], 'range.term'),
  };
}

export function storeToJson(s: StoreMeta): Json {
  return { id: s.id, address: s.address, raftAddress: s.raftAddress, httpAddress: s.httpAddress, tokenHash: s.tokenHash, state: s.state, labels: { ...s.labels } };
}

function labelsFrom(v: unknown): Record<string, string> {
  const o = obj(v, 'store.labels');
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(o)) out[k] = str(x, `store.labels.${k}`);
  return out;
}

function storeStateFrom(v: unknown): StoreNodeState {
  if (v === 'serving' || v === 'offline' || v === 'tombstone') return v;
  throw new PdDecodeError(`store.state: unknown state ${JSON.stringify(v)}`);
}

export function storeFromJson(v: unknown): StoreMeta {
  const o = obj(v, 'store');
  return {
    id: num(o['id'], 'store.id'), address: str(o['address'], 'store.address'),
    raftAddress: str(o['raftAddress'], 'store.raftAddress'), httpAddress: str(o['httpAddress'], 'store.httpAddress'),
    // Absent in records written before store tokens.
    tokenHash: o['tokenHash'] === undefined ? '' : str(o['tokenHash'], 'store.tokenHash'),
    // Absent in records written before decommissioning.
    state: o['state'] === undefined ? 'serving' : storeStateFrom(o['state']),
    // Absent in records written before labels.
    labels: o['labels'] === undefined ? {} : labelsFrom(o['labels']),
  };
}

export function operatorToJson(op: OperatorRecord): Json {
  return {
    id: op.id, kind: op.kind, rangeId: op.rangeId, toStore: op.toStore, fromStore: op.fromStore,
    splitKey: hex(op.splitKey), status: op.status, step: op.step, reason: op.reason,
    createdAtMs: op.createdAtMs, finishedAtMs: op.finishedAtMs, timeoutMs: op.timeoutMs,
    descriptor: op.descriptor ? descToJson(op.descriptor) : null, right: op.right ? descToJson(op.right) : null,
    replicaId: op.replicaId, newRangeId: op.newRangeId, createdBy: op.createdBy,
  };
}

export function operatorFromJson(v: unknown): OperatorRecord {
  const o = obj(v, 'operator');
  return {
    id: num(o['id'], 'op.id'), kind: num(o['kind'], 'op.kind'), rangeId: num(o['rangeId'], 'op.rangeId'),
    toStore: num(o['toStore'], 'op.toStore'), fromStore: num(o['fromStore'], 'op.fromStore'),
    splitKey: unhex(o['splitKey'], 'op.splitKey'), status: num(o['status'], 'op.status'),
    step: str(o['step'], 'op.step'), reason: str(o['reason'], 'op.reason'),
    createdAtMs: num(o['createdAtMs'], 'op.createdAtMs'), finishedAtMs: num(o['finishedAtMs'], 'op.finishedAtMs'),
    timeoutMs: num(o['timeoutMs'], 'op.timeoutMs'),
    descriptor: o['descriptor'] === null ? null : descFromJson(o['descriptor']),
    right: o['right'] === null ? null : descFromJson(o['right']),
    replicaId: num(o['replicaId'], 'op.replicaId'), newRangeId: num(o['newRangeId'], 'op.newRangeId'),
    // Absent in records written before schedulers: those were all created over CreateOperator.
    createdBy: o['createdBy'] === undefined ? CREATED_BY_ADMIN : str(o['createdBy'], 'op.createdBy'),
  };
}

/** Format byte + UTF-8 JSON. */
export function encodeJson(v: Json): Uint8Array {
  const body = Buffer.from(JSON.stringify(v), 'utf8');
  const out = new Uint8Array(body.length + 1);
  out[0] = PD_RECORD_FORMAT;
  out.set(body, 1);
  return out;
}

export function decodeJson(b: Uint8Array, what: string): unknown {
  if (b.length === 0) throw new PdDecodeError(`${what}: empty`);
  if (b[0] !== PD_RECORD_FORMAT) throw new PdDecodeError(`${what}: unknown format ${b[0]}`);
  try {
    return JSON.parse(Buffer.from(b.buffer, b.byteOffset + 1, b.byteLength - 1).toString('utf8')) as unknown;
  } catch (e) {
    throw new PdDecodeError(`${what}: bad JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export { num as jsonNum, obj as jsonObj, str as jsonStr, type Json };
