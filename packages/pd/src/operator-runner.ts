// Operators on the PD leader: creation (checked against PD's view, ids allocated, the
// record committed RUNNING through raft), then one step at a time (operator-steps.ts) on
// a timer until SUCCEEDED, FAILED or TIMED_OUT; every new step and the final status are
// committed, so a new PD leader resumes RUNNING operators where the range stands.
//
//   const r = new OperatorRunner(host, limits);
//   r.start();                                   // became the serving leader
//   const op = await r.create({ kind: OperatorKind.SPLIT, rangeId: 1, splitKey, ... });
//   await r.waitFinal(op.id, 10_000);            // the record once final (or as it is then)
//   r.stop();                                    // lost leadership / stopping
import * as grpc from '@grpc/grpc-js';
import { adminpb, descriptorFromWire, ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import type { Logger } from '@rangekv/runtime';
import { PdRequestError, invalidArgument } from './errors.js';
import type { PdCommand, PdCommandResult } from './pd-command.js';
import type { PdState } from './pd-state.js';
import { mergeShapeProblem, runStep, type LeaderView, type StepContext, type StepLimits, type StepOutcome } from './operator-steps.js';
import { StoreCallError, type StoreAdminCaller } from './store-admin-client.js';
import {
  compareBytes, compareReports, CREATED_BY_ADMIN, isFinal, keyInSpan, OperatorKind, OperatorStatus, type OperatorRecord, type RangeRecord,
} from './types.js';

export interface OperatorLimits extends StepLimits {
  /** How often running operators take a step. */
  operatorTickMs: number;
  /** RangeStatus calls that find a range's leader. */
  rangeStatusTimeoutMs: number;
  /** Largest timeout_ms a caller may ask for. */
  maxOperatorTimeoutMs: number;
  /** timeout_ms 0: these, by kind. */
  defaultTimeoutMs: Record<OperatorKind, number>;
}

export const DEFAULT_OPERATOR_LIMITS: OperatorLimits = {
  operatorTickMs: 100,
  rangeStatusTimeoutMs: 1_000,
  maxOperatorTimeoutMs: 600_000,
  catchUpSlackEntries: 16,
  retryActionMs: 1_000,
  adminCallTimeoutMs: 5_000,
  defaultTimeoutMs: {
    [OperatorKind.TRANSFER_LEADER]: 15_000,
    [OperatorKind.ADD_REPLICA]: 60_000,
    [OperatorKind.REMOVE_REPLICA]: 30_000,
    [OperatorKind.MOVE_REPLICA]: 120_000,
    [OperatorKind.SPLIT]: 30_000,
    [OperatorKind.MERGE]: 180_000,
  },
};

export interface OperatorHost {
  state: PdState;
  propose(cmd: PdCommand): Promise<PdCommandResult>;
  /** Reserves `count` ids from the replicated allocator; returns the first. */
  allocIds(count: number): Promise<number>;
  admin: StoreAdminCaller;
  storeAddress(storeId: number): string | undefined;
  /** Whether a store heartbeats (not DOWN). */
  storeUp(storeId: number): boolean;
  /** The newest record PD has of a range (committed or just reported). */
  route(rangeId: number): RangeRecord | null;
  /** A range record learned from a store: recorded like a range heartbeat's report. */
  learned(rec: RangeRecord): void;
  /** Commits the descriptor changes learned so far (before an operator reports success). */
  persistLearned(): Promise<void>;
  now(): number;
  log: Logger;
  /** Called once an operator is committed RUNNING (metrics). */
  created?(op: OperatorRecord): void;
  /** Called once an operator's final status is committed (metrics). */
  finished?(op: OperatorRecord): void;
}

export interface CreateOperatorInput {
  kind: OperatorKind;
  rangeId: number;
  toStore: number;
  fromStore: number;
  splitKey: Uint8Array;
  timeoutMs: number;
  /** 'admin' (default: the CreateOperator RPC) or the creating scheduler's name. */
  createdBy?: string;
}

export class OperatorRunner {
  private timer: NodeJS.Timeout | null = null;
  private readonly busy = new Set<number>();
  private readonly asked = new Map<number, Map<string, number>>();
  private readonly waiters = new Map<number, Array<() => void>>();
  /** The last failed call of each running operator (memory only; shown when it times out). */
  private readonly lastError = new Map<number, string>();
  readonly limits: OperatorLimits;

  constructor(private readonly host: OperatorHost, limits: Partial<OperatorLimits> = {}) {
    this.limits = { ...DEFAULT_OPERATOR_LIMITS, ...limits };
  }

  get running(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.limits.operatorTickMs);
    setImmediate(() => this.tick());
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.asked.clear();
    this.lastError.clear();
    for (const ws of this.waiters.values()) for (const w of ws) w();
    this.waiters.clear();
  }

  /** Checks the request against PD's view, allocates its ids and commits it RUNNING. */
  async create(input: CreateOperatorInput): Promise<OperatorRecord> {
    const right = this.validate(input);
    const timeoutMs = input.timeoutMs === 0 ? this.limits.defaultTimeoutMs[input.kind] : input.timeoutMs;
    // The operator's id, then the replica (or range) id it adds; MERGE: one replica id per
    // voter of the left range, for the co-location's moves.
    const merge = input.kind === OperatorKind.MERGE;
    const voters = merge ? this.host.route(input.rangeId)!.descriptor.replicas.length : 1;
    const first = await this.host.allocIds(1 + voters);
    const op: OperatorRecord = {
      id: first, kind: input.kind, rangeId: input.rangeId, toStore: input.toStore, fromStore: input.fromStore,
      splitKey: input.splitKey, status: OperatorStatus.RUNNING, step: 'created', reason: '',
      createdAtMs: this.host.now(), finishedAtMs: 0, timeoutMs, descriptor: null, right,
      replicaId: input.kind === OperatorKind.ADD_REPLICA || input.kind === OperatorKind.MOVE_REPLICA || merge ? first + 1 : 0,
      newRangeId: input.kind === OperatorKind.SPLIT ? first + 1 : 0,
      createdBy: input.createdBy ?? CREATED_BY_ADMIN,
    };
    const res = await this.host.propose({ t: 'createOperator', op });
    if (!res.ok) throw new PdRequestError('FAILED_PRECONDITION', res.error);
    this.host.log.info('operator created', {
      operatorId: op.id, kind: OperatorKind[op.kind], rangeId: op.rangeId, toStore: op.toStore, rightRangeId: right?.rangeId, createdBy: op.createdBy,
    });
    this.host.created?.(op);
    setImmediate(() => this.tick());
    return this.host.state.operators.get(op.id) ?? op;
  }

  /** Resolves with the operator once it is final, or as it stands after `ms`. */
  waitFinal(id: number, ms: number): Promise<OperatorRecord | null> {
    const cur = this.host.state.operators.get(id);
    if (!cur || isFinal(cur.status) || !this.running) return Promise.resolve(cur ?? null);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        resolve(this.host.state.operators.get(id) ?? null);
      };
      const t = setTimeout(() => {
        const ws = this.waiters.get(id);
        if (ws) ws.splice(ws.indexOf(done), 1);
        done();
      }, ms);
      const ws = this.waiters.get(id) ?? [];
      ws.push(done);
      this.waiters.set(id, ws);
    });
  }

  /** Checks the request against PD's view; returns MERGE's right-hand range (null for the other kinds). */
  private validate(i: CreateOperatorInput): RangeDescriptor | null {
    if (!(i.kind in OperatorKind) || typeof OperatorKind[i.kind] !== 'string') throw invalidArgument(`unknown operator kind ${i.kind}`);
    if (i.timeoutMs < 0 || i.timeoutMs > this.limits.maxOperatorTimeoutMs) {
      throw invalidArgument(`timeout_ms must be at most maxOperatorTimeoutMs (${this.limits.maxOperatorTimeoutMs})`);
    }
    const rec = this.host.route(i.rangeId);
    if (!rec) throw new PdRequestError('NOT_FOUND', `range ${i.rangeId} is unknown to PD`);
    const d = rec.descriptor;
    const kindName = OperatorKind[i.kind];
    // MERGE needs none of to_store, from_store, split_key: its right-hand range is the left one's neighbour.
    const needTo = i.kind === OperatorKind.TRANSFER_LEADER || i.kind === OperatorKind.ADD_REPLICA || i.kind === OperatorKind.MOVE_REPLICA;
    const needFrom = i.kind === OperatorKind.REMOVE_REPLICA || i.kind === OperatorKind.MOVE_REPLICA;
    const needKey = i.kind === OperatorKind.SPLIT;
    if (needTo !== (i.toStore !== 0)) throw invalidArgument(`${kindName}: to_store must be ${needTo ? 'set' : 'unset'}`);
    if (needFrom !== (i.fromStore !== 0)) throw invalidArgument(`${kindName}: from_store must be ${needFrom ? 'set' : 'unset'}`);
    if (needKey !== (i.splitKey.length > 0)) throw invalidArgument(`${kindName}: split_key must be ${needKey ? 'set' : 'unset'}`);
    for (const s of [i.toStore, i.fromStore]) {
      if (s !== 0 && !this.host.state.stores.has(s)) throw invalidArgument(`store ${s} is unknown to PD`);
    }
    const toState = i.toStore === 0 ? 'serving' : this.host.state.stores.get(i.toStore)?.state;
    if (toState === 'offline' || toState === 'tombstone') {
      throw new PdRequestError('FAILED_PRECONDITION', `store ${i.toStore} is ${toState === 'offline' ? 'being decommissioned (offline)' : 'tombstone'}: it takes no replica or leader`);
    }
    if (i.toStore !== 0 && !this.host.storeUp(i.toStore)) {
      throw new PdRequestError('FAILED_PRECONDITION', `store ${i.toStore} is DOWN (no heartbeat within storeDownAfterMs)`);
    }
    const has = (s: number): boolean => d.replicas.some((r) => r.storeId === s);
    const fail = (m: string): never => {
      throw new PdRequestError('FAILED_PRECONDITION', m);
    };
    switch (i.kind) {
      case OperatorKind.TRANSFER_LEADER:
        if (!has(i.toStore)) fail(`store ${i.toStore} holds no replica of range ${i.rangeId}`);
        break;
      case OperatorKind.ADD_REPLICA:
        if (has(i.toStore)) fail(`store ${i.toStore} already holds a replica of range ${i.rangeId}`);
        break;
      case OperatorKind.REMOVE_REPLICA:
        if (!has(i.fromStore)) fail(`store ${i.fromStore} holds no replica of range ${i.rangeId}`);
        break;
      case OperatorKind.MOVE_REPLICA:
        if (i.toStore === i.fromStore) fail('from_store and to_store are the same store');
        if (!has(i.fromStore)) fail(`store ${i.fromStore} holds no replica of range ${i.rangeId}`);
        if (has(i.toStore)) fail(`store ${i.toStore} already holds a replica of range ${i.rangeId}`);
        break;
      case OperatorKind.SPLIT:
        if (!keyInSpan(i.splitKey, d.startKey, d.endKey) || compareBytes(i.splitKey, d.startKey) === 0) {
          fail(`split key is not strictly inside range ${i.rangeId}`);
        }
        break;
    }
    const right = i.kind === OperatorKind.MERGE ? this.mergeNeighbour(d) : null;
    for (const id of right ? [i.rangeId, right.rangeId] : [i.rangeId]) {
      const running = this.host.state.runningOperatorOf(id);
      if (running) fail(`range ${id} already has running operator ${running.id}`);
    }
    return right;
  }

  /**
   * MERGE's right-hand range: the one PD's index has starting at the left range's end
   * (its newest record), in a shape a merge can take (mergeShapeProblem; no joint
   * configuration). The last range of the keyspace has none: INVALID_ARGUMENT.
   */
  private mergeNeighbour(left: RangeDescriptor): RangeDescriptor {
    if (left.endKey.length === 0) {
      throw invalidArgument(`range ${left.rangeId} ends at the end of the keyspace: it has no right-hand range to merge (merge the range before it instead)`);
    }
    const next = this.host.state.index.byKey(left.endKey);
    if (!next || compareBytes(next.descriptor.startKey, left.endKey) !== 0) {
      throw new PdRequestError('FAILED_PRECONDITION', `PD knows no range starting where range ${left.rangeId} ends`);
    }
    const right = this.host.route(next.descriptor.rangeId)?.descriptor ?? next.descriptor;
    if (compareBytes(right.startKey, left.endKey) !== 0) {
      throw new PdRequestError('FAILED_PRECONDITION', `range ${right.rangeId} no longer starts where range ${left.rangeId} ends`);
    }
    const problem = mergeShapeProblem(left, right);
    if (problem !== null) throw new PdRequestError('FAILED_PRECONDITION', problem);
    for (const d of [left, right]) {
      if (d.replicas.some((r) => r.role !== ReplicaRole.Voter && r.role !== ReplicaRole.Learner)) {
        throw new PdRequestError('FAILED_PRECONDITION', `range ${d.rangeId} is changing its configuration (joint): try again once it is done`);
      }
    }
    return right;
  }

  private tick(): void {
    if (!this.running) return;
    for (const op of this.host.state.operators.values()) {
      if (op.status !== OperatorStatus.RUNNING || this.busy.has(op.id)) continue;
      this.busy.add(op.id);
      void this.runOne(op.id)
        .catch((e: unknown) => {
          this.lastError.set(op.id, e instanceof Error ? e.message : String(e));
          this.host.log.debug('operator step failed; retrying', { operatorId: op.id, err: e });
        })
        .finally(() => this.busy.delete(op.id));
    }
  }

  private async runOne(id: number): Promise<void> {
    const op = this.host.state.operators.get(id);
    if (!op || op.status !== OperatorStatus.RUNNING) return;
    const now = this.host.now();
    if (now >= op.createdAtMs + op.timeoutMs) {
      const last = this.lastError.get(op.id);
      await this.finish(op, OperatorStatus.TIMED_OUT, `timed out after ${op.timeoutMs} ms at step: ${op.step}${last ? ` (last error: ${last})` : ''}`, null, null);
      return;
    }
    const leader = await this.findLeader(op.rangeId);
    if (!this.running) return;
    if (!leader) {
      await this.setStep(op, 'waiting for the range leader');
      return;
    }
    const rightLeader = op.kind === OperatorKind.MERGE && op.right !== null ? await this.findLeader(op.right.rangeId) : null;
    if (!this.running) return;
    let asked = this.asked.get(op.id);
    if (!asked) this.asked.set(op.id, asked = new Map());
    const record = (desc: RangeDescriptor, by: LeaderView, term: number): void => {
      this.host.learned({ descriptor: desc, leader: desc.replicas.find((r) => r.storeId === by.storeId) ?? null, term });
    };
    const ctx: StepContext = {
      op, leader, now, limits: this.limits, asked,
      call: (address, method, req) => this.host.admin.call(address, method, req, this.limits.adminCallTimeoutMs),
      learned: (desc, right) => {
        record(desc, leader, leader.term);
        // A split's right half is a new raft group with terms of its own, usually below the
        // left's: recorded with the left's term, its leader's reports compared older and were
        // ignored until its term caught up (its size figures never reached the split checker).
        // Term 0: the store on the left's leader store is a guess that any report replaces.
        if (right) record(right, leader, 0);
      },
      right: rightLeader,
      learnedRight: (desc) => {
        if (rightLeader) record(desc, rightLeader, rightLeader.term);
      },
    };
    let out: StepOutcome;
    try {
      out = await runStep(ctx);
    } catch (e) {
      // The store refused the request itself (not the range's state), or does not have the
      // method (a store older than MergeRanges): redoing it cannot help.
      if (!(e instanceof StoreCallError) || (e.code !== grpc.status.INVALID_ARGUMENT && e.code !== grpc.status.UNIMPLEMENTED)) throw e;
      out = { kind: 'failed', reason: e.message };
    }
    if (!this.running) return;
    const cur = this.host.state.operators.get(id);
    if (!cur || cur.status !== OperatorStatus.RUNNING) return;
    if (out.kind === 'continue') await this.setStep(cur, out.step);
    else if (out.kind === 'failed') await this.finish(cur, OperatorStatus.FAILED, out.reason, null, null);
    else {
      await this.host.persistLearned();
      const right = out.right ?? (cur.kind === OperatorKind.SPLIT ? this.host.route(cur.newRangeId)?.descriptor ?? null : null);
      await this.finish(cur, OperatorStatus.SUCCEEDED, '', out.descriptor, right);
    }
  }

  private async setStep(op: OperatorRecord, step: string): Promise<void> {
    if (op.step === step) return;
    await this.host.propose({ t: 'updateOperator', op: { ...op, step } });
  }

  private async finish(op: OperatorRecord, status: OperatorStatus, reason: string, desc: RangeDescriptor | null, right: RangeDescriptor | null): Promise<void> {
    const final: OperatorRecord = {
      ...op, status, reason, finishedAtMs: this.host.now(), descriptor: desc, right,
      step: status === OperatorStatus.SUCCEEDED ? 'done' : op.step,
    };
    const res = await this.host.propose({ t: 'updateOperator', op: final });
    if (!res.ok) return;
    this.asked.delete(op.id);
    this.lastError.delete(op.id);
    this.host.log.info('operator finished', {
      operatorId: op.id, kind: OperatorKind[op.kind], rangeId: op.rangeId, status: OperatorStatus[status], reason,
    });
    this.host.finished?.(final);
    const ws = this.waiters.get(op.id) ?? [];
    this.waiters.delete(op.id);
    for (const w of ws) w();
  }

  /**
   * Asks every store of PD's descriptor for the range's status; the replica that leads
   * with the highest term wins. Newer descriptors seen on the way are recorded.
   */
  private async findLeader(rangeId: number): Promise<LeaderView | null> {
    const rec = this.host.route(rangeId);
    if (!rec) return null;
    const asks = rec.descriptor.replicas.map(async (r) => {
      const address = this.host.storeAddress(r.storeId);
      if (address === undefined) return null;
      try {
        const res = await this.host.admin.call(address, 'rangeStatus', { rangeId }, this.limits.rangeStatusTimeoutMs);
        if (res.rangeError || !res.status?.descriptor) return null;
        return { storeId: r.storeId, address, st: res.status };
      } catch {
        return null;
      }
    });
    let best: LeaderView | null = null;
    for (const a of await Promise.all(asks)) {
      if (!a) continue;
      const desc = descriptorFromWire(a.st.descriptor!);
      const term = Number(a.st.term ?? 0);
      const isLeader = a.st.role === adminpb.RaftRole.LEADER;
      if (isLeader && (!best || term > best.term)) {
        const match = new Map<number, number>();
        for (const p of a.st.progress ?? []) match.set(Number(p.replicaId ?? 0), Number(p.match ?? 0));
        best = {
          storeId: a.storeId, address: a.address, replicaId: Number(a.st.replicaId ?? 0), term,
          lastIndex: Number(a.st.lastIndex ?? 0), descriptor: desc, match,
        };
      } else if (compareReports({ descriptor: desc, term: 0 }, { descriptor: rec.descriptor, term: 0 }) > 0) {
        this.host.learned({ descriptor: desc, leader: null, term: 0 });
      }
    }
    if (best) {
      const lead = best.descriptor.replicas.find((r) => r.replicaId === best!.replicaId) ?? null;
      this.host.learned({ descriptor: best.descriptor, leader: lead, term: best.term });
    }
    return best;
  }
}
