// PD's replicated state machine: cluster id, id counters, bootstrap, stores, range
// records, operators. Every PD node applies the same commands in log order and gets the
// same state; `apply` also returns the rows to write, which the raft group writes with
// the applied index in ONE batch (pd-raft.ts). State lives in the `default` column family,
// one key per record, so a storage snapshot of PD's range carries all of it.
//
//   const st = PdState.load(rows);                 // from the engine at start
//   const w = newWrites(); const res = st.apply(cmd, w);   // res.ok / res.error / res.first
//
// Apply is deterministic: no clocks, no randomness (the cluster id and timestamps come in
// the command), refusals are results, not exceptions.
import type { RangeDescriptor } from '@rangekv/proto';
import type { PdCommand, PdCommandResult } from './pd-command.js';
import {
  decodeJson, encodeJson, jsonNum, jsonObj, operatorFromJson, operatorToJson, rangeFromJson, rangeToJson, storeFromJson,
  storeToJson, descFromJson, descToJson,
} from './pd-codec.js';
import { isRuntimeConfigKey, runtimeConfigProblem, type RuntimeConfigKey } from './pd-limits.js';
import { RangeIndex } from './range-index.js';
import { SCHEDULER_NAMES } from './scheduler-loop.js';
import {
  compareReports, isFinal, MAX_PD_ID, operatorRangeIds, OperatorStatus, spanContains, spansOverlap, compareBytes, storeStateChangeAllowed,
  type OperatorRecord, type RangeRecord, type StoreMeta,
} from './types.js';

export interface PdWrites {
  puts: [Uint8Array, Uint8Array][];
  deletes: Uint8Array[];
}

export function newWrites(): PdWrites {
  return { puts: [], deletes: [] };
}

export interface PdStateLimits {
  /** Finished operators kept (oldest dropped first); running ones are always kept. */
  maxFinishedOperators: number;
}

export const DEFAULT_PD_STATE_LIMITS: PdStateLimits = { maxFinishedOperators: 256 };

const META_KEY = Buffer.from('pd/meta');
const CONFIG_KEY_TEXT = 'pd/config';
const CONFIG_KEY = Buffer.from(CONFIG_KEY_TEXT);
const STORE_PREFIX = 'pd/store/';
const RANGE_PREFIX = 'pd/range/';
const OP_PREFIX = 'pd/op/';
const MEMBER_PREFIX = 'pd/member/';

/** A PD member's addresses as PD's state holds them (written when a membership change adds it). */
export interface PdMemberAddress {
  /** PD-to-PD raft address, "host:port". */
  raft: string;
  /** Client address, "host:port". */
  client: string;
}

function idKey(prefix: string, id: number): Uint8Array {
  return Buffer.from(prefix + id.toString(16).padStart(16, '0'));
}

/** First ids of each space: range 1 exists before any allocation, store ids start at 1. */
export const FIRST_GENERAL_ID = 2;
export const FIRST_STORE_ID = 1;

function ok(first = 0): PdCommandResult {
  return { ok: true, error: '', first };
}

function refused(error: string): PdCommandResult {
  return { ok: false, error, first: 0 };
}

export class PdState {
  clusterId = 0;
  bootstrapped = false;
  /** Range 1 as committed at bootstrap (the stores that create it are its replicas). */
  bootstrapDescriptor: RangeDescriptor | null = null;
  nextId = FIRST_GENERAL_ID;
  nextStoreId = FIRST_STORE_ID;
  readonly stores = new Map<number, StoreMeta>();
  readonly ranges = new Map<number, RangeRecord>();
  readonly operators = new Map<number, OperatorRecord>();
  /**
   * Addresses of the PD members added at run time (AddPdMember), by PD id; dropped when a
   * member leaves. The members a cluster started with are known from their flags.
   */
  readonly pdMembers = new Map<number, PdMemberAddress>();
  /** Run-time settings over the flags (`ctl config set`) and paused schedulers (`ctl scheduler pause`). */
  readonly config = { overrides: new Map<RuntimeConfigKey, number>(), paused: new Set<string>() };
  readonly index = new RangeIndex(() => this.ranges.values());
  readonly limits: PdStateLimits;

  constructor(limits: Partial<PdStateLimits> = {}) {
    this.limits = { ...DEFAULT_PD_STATE_LIMITS, ...limits };
  }

  /** Rebuilds the state from the rows of PD's range (`default` column family). */
  static load(rows: Iterable<{ key: Uint8Array; value: Uint8Array }>, limits: Partial<PdStateLimits> = {}): PdState {
    const st = new PdState(limits);
    for (const { key, value } of rows) {
      const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
      if (k === 'pd/meta') st.loadMeta(decodeJson(value, 'pd meta'));
      else if (k === CONFIG_KEY_TEXT) st.loadConfig(decodeJson(value, 'pd config'));
      else if (k.startsWith(STORE_PREFIX)) {
        const s = storeFromJson(decodeJson(value, 'store'));
        st.stores.set(s.id, s);
      } else if (k.startsWith(RANGE_PREFIX)) {
        const r = rangeFromJson(decodeJson(value, 'range'));
        st.ranges.set(r.descriptor.rangeId, r);
      } else if (k.startsWith(OP_PREFIX)) {
        const op = operatorFromJson(decodeJson(value, 'operator'));
        st.operators.set(op.id, op);
      } else if (k.startsWith(MEMBER_PREFIX)) {
        const o = jsonObj(decodeJson(value, 'pd member'), 'pd member');
        const raft = o['raft'];
        const client = o['client'];
        if (typeof raft !== 'string' || typeof client !== 'string') throw new Error(`PD state: member row ${k} needs raft and client addresses`);
        st.pdMembers.set(jsonNum(o['id'], 'member id'), { raft, client });
      } else {
        throw new Error(`PD state: unknown key ${k}`);
      }
    }
    st.index.invalidate();
    return st;
  }

  /** Takes `other`'s contents (a snapshot was ingested); this object stays the one everyone holds. */
  replaceWith(other: PdState): void {
    this.clusterId = other.clusterId;
    this.bootstrapped = other.bootstrapped;
    this.bootstrapDescriptor = other.bootstrapDescriptor;
    this.nextId = other.nextId;
    this.nextStoreId = other.nextStoreId;
    for (const [mine, theirs] of [
      [this.stores, other.stores], [this.ranges, other.ranges], [this.operators, other.operators], [this.pdMembers, other.pdMembers],
    ] as const) {
      (mine as Map<number, unknown>).clear();
      for (const [k, v] of theirs as Map<number, unknown>) (mine as Map<number, unknown>).set(k, v);
    }
    this.config.overrides.clear();
    for (const [k, v] of other.config.overrides) this.config.overrides.set(k, v);
    this.config.paused.clear();
    for (const n of other.config.paused) this.config.paused.add(n);
    this.index.invalidate();
  }

  private loadMeta(v: unknown): void {
    const o = jsonObj(v, 'pd meta');
    this.clusterId = jsonNum(o['clusterId'], 'clusterId');
    this.bootstrapped = o['bootstrapped'] === true;
    this.bootstrapDescriptor = o['bootstrapDescriptor'] === null ? null : descFromJson(o['bootstrapDescriptor']);
    this.nextId = jsonNum(o['nextId'], 'nextId');
    this.nextStoreId = jsonNum(o['nextStoreId'], 'nextStoreId');
  }

  private loadConfig(v: unknown): void {
    const o = jsonObj(v, 'pd config');
    const ov = jsonObj(o['overrides'], 'pd config overrides');
    for (const [k, val] of Object.entries(ov)) {
      if (!isRuntimeConfigKey(k) || typeof val !== 'number' || !Number.isFinite(val)) throw new Error(`PD config: bad override ${k}`);
      this.config.overrides.set(k, val);
    }
    const paused = o['paused'];
    if (!Array.isArray(paused) || !paused.every((n) => typeof n === 'string')) throw new Error('PD config: paused must be a list of names');
    for (const n of paused as string[]) this.config.paused.add(n);
  }

  /**
   * A committed membership change: `added` members' addresses are kept, members no longer
   * in the configuration (`current`: every voter and learner, outgoing ones included) are
   * dropped. Applied from the ConfChange entry, in the same batch as its configuration.
   */
  applyMembership(added: ReadonlyMap<number, PdMemberAddress>, current: ReadonlySet<number>, w: PdWrites): void {
    for (const [id, a] of added) {
      if (!current.has(id)) continue;
      this.pdMembers.set(id, { raft: a.raft, client: a.client });
      w.puts.push([idKey(MEMBER_PREFIX, id), encodeJson({ id, raft: a.raft, client: a.client })]);
    }
    for (const id of [...this.pdMembers.keys()]) {
      if (current.has(id)) continue;
      this.pdMembers.delete(id);
      w.deletes.push(idKey(MEMBER_PREFIX, id));
    }
  }

  private writeConfig(w: PdWrites): void {
    w.puts.push([CONFIG_KEY, encodeJson({
      overrides: Object.fromEntries([...this.config.overrides].sort((a, b) => (a[0] < b[0] ? -1 : 1))),
      paused: [...this.config.paused].sort(),
    })]);
  }

  private putStore(st: StoreMeta, w: PdWrites): void {
    this.stores.set(st.id, st);
    w.puts.push([idKey(STORE_PREFIX, st.id), encodeJson(storeToJson(st))]);
  }

  private writeMeta(w: PdWrites): void {
    w.puts.push([META_KEY, encodeJson({
      clusterId: this.clusterId, bootstrapped: this.bootstrapped,
      bootstrapDescriptor: this.bootstrapDescriptor ? descToJson(this.bootstrapDescriptor) : null,
      nextId: this.nextId, nextStoreId: this.nextStoreId,
    })]);
  }

  apply(c: PdCommand, w: PdWrites): PdCommandResult {
    switch (c.t) {
      case 'init':
        if (this.clusterId !== 0) return refused(`cluster id already set (${this.clusterId})`);
        if (c.clusterId <= 0) return refused('cluster id must be positive');
        this.clusterId = c.clusterId;
        this.writeMeta(w);
        return ok();
      case 'reserve': {
        if (c.count <= 0) return refused('reserve: count must be positive');
        const first = c.space === 'store' ? this.nextStoreId : this.nextId;
        if (first + c.count - 1 > MAX_PD_ID) return refused(`id space "${c.space}" exhausted (ids stay below 2^32)`);
        if (c.space === 'store') this.nextStoreId += c.count;
        else this.nextId += c.count;
        this.writeMeta(w);
        return ok(first);
      }
      case 'putStore': {
        const prev = this.stores.get(c.store.id);
        if (prev?.state === 'tombstone') return refused(`store ${c.store.id} is tombstone (decommissioned)`);
        this.putStore({ ...c.store, state: prev?.state ?? 'serving' }, w);
        if (c.store.id >= this.nextStoreId) {
          // A store that chose its own id (--store-id): AllocStoreId never hands it out.
          this.nextStoreId = c.store.id + 1;
          this.writeMeta(w);
        }
        return ok();
      }
      case 'setConfig': {
        if (!isRuntimeConfigKey(c.key)) return refused(`${c.key} is not a run-time setting`);
        if (c.value === null) this.config.overrides.delete(c.key);
        else {
          const problem = runtimeConfigProblem(c.key, c.value);
          if (problem !== null) return refused(problem);
          this.config.overrides.set(c.key, c.value);
        }
        this.writeConfig(w);
        return ok();
      }
      case 'setSchedulerPaused': {
        if (!(SCHEDULER_NAMES as readonly string[]).includes(c.name)) return refused(`no scheduler named ${c.name} (one of: ${SCHEDULER_NAMES.join(', ')})`);
        if (c.paused) this.config.paused.add(c.name);
        else this.config.paused.delete(c.name);
        this.writeConfig(w);
        return ok();
      }
      case 'setStoreState': {
        const prev = this.stores.get(c.storeId);
        if (!prev) return refused(`store ${c.storeId} is unknown`);
        if (prev.state === c.state) return ok();
        if (!storeStateChangeAllowed(prev.state, c.state)) return refused(`store ${c.storeId} cannot go from ${prev.state} to ${c.state}`);
        this.putStore({ ...prev, state: c.state }, w);
        return ok();
      }
      case 'bootstrap':
        if (this.bootstrapped) return refused('already bootstrapped');
        this.bootstrapped = true;
        this.bootstrapDescriptor = c.descriptor;
        this.writeMeta(w);
        this.putRange({ descriptor: c.descriptor, leader: null, term: 0 }, w);
        return ok();
      case 'putRanges': {
        let changed = 0;
        for (const r of c.ranges) if (this.putRange(r, w)) changed++;
        return ok(changed);
      }
      case 'createOperator': {
        if (this.operators.has(c.op.id)) return refused(`operator ${c.op.id} exists`);
        for (const rangeId of operatorRangeIds(c.op)) {
          const running = this.runningOperatorOf(rangeId);
          if (running) return refused(`range ${rangeId} already has running operator ${running.id}`);
        }
        if (c.op.status !== OperatorStatus.RUNNING) return refused('a new operator must be RUNNING');
        this.putOperator(c.op, w);
        return ok();
      }
      case 'updateOperator': {
        const cur = this.operators.get(c.op.id);
        if (!cur) return refused(`no operator ${c.op.id}`);
        if (isFinal(cur.status)) return refused(`operator ${c.op.id} is final already`);
        this.putOperator(c.op, w);
        if (isFinal(c.op.status)) this.dropOldFinished(w);
        return ok();
      }
    }
  }

  /** The RUNNING operator holding the range (its own, or a MERGE whose right-hand range it is), or null. */
  runningOperatorOf(rangeId: number): OperatorRecord | null {
    for (const op of this.operators.values()) {
      if (op.status === OperatorStatus.RUNNING && operatorRangeIds(op).includes(rangeId)) return op;
    }
    return null;
  }

  private putOperator(op: OperatorRecord, w: PdWrites): void {
    this.operators.set(op.id, op);
    w.puts.push([idKey(OP_PREFIX, op.id), encodeJson(operatorToJson(op))]);
  }

  private dropOldFinished(w: PdWrites): void {
    const finished = [...this.operators.values()].filter((o) => isFinal(o.status)).sort((a, b) => a.id - b.id);
    for (let i = 0; i < finished.length - this.limits.maxFinishedOperators; i++) {
      this.operators.delete(finished[i]!.id);
      w.deletes.push(idKey(OP_PREFIX, finished[i]!.id));
    }
  }

  /**
   * Keeps `r` if it is newer than PD's record of the range (compareReports) and no record
   * of another range with a newer epoch.version overlaps it (then `r` is stale: a split or
   * merge PD has already seen changed its keys; e.g. the right-hand range of a merge
   * reporting once more before its replicas are destroyed). Records it makes obsolete are
   * dropped: older ones that start at the same key or that lie inside its span (a merge
   * absorbed them). Returns whether anything changed.
   */
  private putRange(r: RangeRecord, w: PdWrites): boolean {
    const d = r.descriptor;
    const cur = this.ranges.get(d.rangeId);
    if (cur && compareReports(r, cur) <= 0) return false;
    for (const other of this.ranges.values()) {
      const o = other.descriptor;
      if (o.rangeId !== d.rangeId && o.epoch.version > d.epoch.version && spansOverlap(o.startKey, o.endKey, d.startKey, d.endKey)) return false;
    }
    for (const other of [...this.ranges.values()]) {
      const o = other.descriptor;
      if (o.rangeId === d.rangeId || o.epoch.version >= d.epoch.version) continue;
      if (!spansOverlap(o.startKey, o.endKey, d.startKey, d.endKey)) continue;
      if (compareBytes(o.startKey, d.startKey) === 0 || spanContains(d.startKey, d.endKey, o.startKey, o.endKey)) {
        this.ranges.delete(o.rangeId);
        w.deletes.push(idKey(RANGE_PREFIX, o.rangeId));
      }
    }
    this.ranges.set(d.rangeId, r);
    w.puts.push([idKey(RANGE_PREFIX, d.rangeId), encodeJson(rangeToJson(r))]);
    this.index.invalidate();
    return true;
  }
}
