// A fake rangekv cluster in one process for client and CLI tests: N fake stores (gRPC
// KV service) and M fake PD nodes (gRPC PD service) on 127.0.0.1, over one shared model
// (ranges, leaders, one key-value map). Stores answer like real ones (proto/kv.proto,
// packages/store README "Request handling": RangeNotFound, NotLeader, EpochNotMatch,
// KeyNotInRange, in that order); PD answers from the model. Tests change the model
// (split, transfer, move), inject faults per call, and read the call log.
import * as grpc from '@grpc/grpc-js';
import { descriptorToWire, kvService, pdService, pdpb, ReplicaRole, type kvpb, type metapb, type RangeDescriptor } from '@rangekv/proto';
import { AMBIGUOUS_METADATA_KEY } from '../channels.js';
import { rangeContains } from '../range-cache.js';

export interface FakeRange {
  desc: RangeDescriptor;
  /** Leader's store id; 0: no leader. */
  leader: number;
  /** The range this one was split from (EpochNotMatch lists it with its parent). */
  parent: number;
}

/** What a fault hook can make a store do instead of (or after) serving the call. */
export type Fault =
  | { kind: 'busy'; backoffMs?: number }
  | { kind: 'notLeader'; hint: number }
  | { kind: 'rangeError'; error: metapb.RangeError.$Properties }
  | { kind: 'status'; code: grpc.status; details: string; ambiguous?: boolean; applyFirst?: boolean }
  /** Do not answer (a paused store): the call waits out its deadline, or until `releaseHung()` serves it. */
  | { kind: 'hang' };

export type FaultHook = (storeId: number, method: string, req: { header?: metapb.RequestHeader.$Properties | null }) => Fault | undefined;

export interface StoreCall {
  storeId: number;
  method: string;
  rangeId: number;
  /** Keys (Get/Put/...: one; BatchGet/BatchPut: all; Scan/DeleteRange: start). */
  keys: string[];
  /** What was left of the call's deadline when it arrived, ms (Infinity: none). */
  deadlineMs: number;
}

export interface FakePdOptions {
  /** Answer not_leader with this address ('' : leader unknown). undefined: serve. */
  notLeaderTo?: string;
  /** Answer not_bootstrapped this many times first. */
  notBootstrappedTimes?: number;
}

/** A member of the fake PD group (GetMembers, AddPdMember, RemovePdMember); node i starts as member i + 1. */
export interface FakePdMember {
  id: number;
  address: string;
  raftAddress: string;
  isLearner: boolean;
  matchIndex: number;
}

/** A gRPC status a fake PD node answers instead of serving (`applyFirst`: after doing what the call asks). */
export interface PdFault {
  code: grpc.status;
  details: string;
  applyFirst?: boolean;
}

/** `deadlineMs`: what was left of the call's deadline when it arrived (Infinity: none). */
export type PdFaultHook = (pdIndex: number, method: string, deadlineMs: number) => PdFault | undefined;

type Handler = grpc.handleUnaryCall<unknown, unknown>;

interface Node {
  server: grpc.Server;
  address: string;
}

const FAKE_MAX_SCAN = 1_000;

function b(x: Uint8Array | null | undefined): Buffer {
  if (!x) return Buffer.alloc(0);
  return Buffer.isBuffer(x) ? x : Buffer.from(x.buffer, x.byteOffset, x.byteLength);
}

async function listen(services: Array<[object, Record<string, Handler>]>): Promise<Node> {
  const server = new grpc.Server();
  for (const [def, impl] of services) server.addService(def as unknown as grpc.ServiceDefinition, impl as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { server, address: `127.0.0.1:${port}` };
}

export class FakeCluster {
  readonly ranges = new Map<number, FakeRange>();
  /** The one key-value map all replicas share (latin1 key -> value). */
  readonly data = new Map<string, Buffer>();
  readonly storeCalls: StoreCall[] = [];
  readonly pdCalls: string[] = [];
  /** Which PD node each of pdCalls went to (its index in `pds`). */
  readonly pdCallNodes: number[] = [];
  faultHook: FaultHook | undefined;
  pdFaultHook: PdFaultHook | undefined;
  /** PD's members as GetMembers gives them; AddPdMember and RemovePdMember change them. */
  pdMembers: FakePdMember[] = [];
  /** Omit the leader hint from NotLeader answers. */
  hideLeaderHints = false;
  /** GetRangeByKey answers gRPC NOT_FOUND, and ScanRanges no range, this many more times (PD between a split's two reports). */
  rangeByKeyNotFoundLeft = 0;
  /** The most pairs a store returns per Scan (then `more`). */
  maxScanLimit = FAKE_MAX_SCAN;
  readonly stores = new Map<number, Node>();
  readonly pds: Array<Node & { opts: FakePdOptions; notBootstrappedLeft: number }> = [];
  private nextRangeId = 2;
  /** Merged-away range -> the range it was merged into (its stores answer EpochNotMatch with it). */
  private readonly mergedInto = new Map<number, number>();
  private readonly operators = new Map<number, pdpb.Operator.$Properties & { polls: number }>();
  private nextOperatorId = 1;
  /** Stores DecommissionStore marked offline (not cancelled). */
  readonly offline = new Set<number>();
  /** GetConfig / SetConfig / SetScheduler: two settings and three schedulers, in memory. */
  readonly config = new Map<string, { value: number; overridden: boolean }>([
    ['replicaCount', { value: 3, overridden: false }], ['maxStoreDownTimeMs', { value: 1_800_000, overridden: false }],
  ]);
  readonly paused = new Set<string>();
  /** Calls held by a 'hang' fault, each serving its call as if no fault was injected. */
  private readonly hung: Array<() => void> = [];

  /** Starts `stores` fake stores (ids 1..n) and `pds` fake PD nodes; range 1 covers everything, led by store 1. */
  static async start(opts: { stores?: number; pds?: number } = {}): Promise<FakeCluster> {
    const c = new FakeCluster();
    const n = opts.stores ?? 3;
    c.ranges.set(1, {
      desc: {
        rangeId: 1, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { confVer: 1, version: 1 },
        replicas: Array.from({ length: n }, (_, i) => ({ storeId: i + 1, replicaId: i + 1, role: ReplicaRole.Voter })),
      },
      leader: 1,
      parent: 0,
    });
    for (let id = 1; id <= n; id++) c.stores.set(id, await listen([[kvService, c.kvHandlers(id)]]));
    for (let i = 0; i < (opts.pds ?? 1); i++) {
      const j = await c.startPd();
      c.pdMembers.push({ id: j + 1, address: c.pdAddress(j), raftAddress: `127.0.0.1:${23_800 + j}`, isLearner: false, matchIndex: 0 });
    }
    return c;
  }

  /** Starts one more fake PD node (serving the same model, not a member until added); returns its index. */
  async startPd(): Promise<number> {
    const i = this.pds.length;
    this.pds.push({ ...(await listen([[pdService, this.pdHandlers(i)]])), opts: {}, notBootstrappedLeft: 0 });
    return i;
  }

  /** Stops PD node `i`'s server: calls to it can no longer connect. */
  stopPd(i: number): void {
    this.pds[i]!.server.forceShutdown();
  }

  pdAddress(i = 0): string {
    return this.pds[i]!.address;
  }

  setPd(i: number, opts: FakePdOptions): void {
    const p = this.pds[i]!;
    p.opts = opts;
    p.notBootstrappedLeft = opts.notBootstrappedTimes ?? 0;
  }

  storeAddress(id: number): string {
    return this.stores.get(id)!.address;
  }

  /** Stops store `id`'s server: calls to it can no longer connect. */
  stopStore(id: number): void {
    this.stores.get(id)?.server.forceShutdown();
  }

  async stop(): Promise<void> {
    this.hung.length = 0;
    for (const n of [...this.stores.values(), ...this.pds]) n.server.forceShutdown();
  }

  /** Serves every call held by a 'hang' fault (those whose deadline passed answer no one); returns how many. */
  releaseHung(): number {
    const held = this.hung.splice(0);
    for (const serve of held) serve();
    return held.length;
  }

  rangeOf(key: Uint8Array): FakeRange {
    for (const r of this.ranges.values()) if (rangeContains(r.desc, key)) return r;
    throw new Error('keyspace not covered');
  }

  /** Splits the range holding `key` at `key`; returns the new right range id. */
  split(key: string | Buffer): number {
    const k = typeof key === 'string' ? Buffer.from(key) : key;
    const left = this.rangeOf(k);
    if (Buffer.compare(left.desc.startKey, k) === 0) throw new Error('split key at range start');
    const version = left.desc.epoch.version + 1;
    const id = this.nextRangeId++;
    this.ranges.set(id, {
      desc: { ...left.desc, rangeId: id, startKey: k, epoch: { ...left.desc.epoch, version }, replicas: [...left.desc.replicas] },
      leader: left.leader,
      parent: left.desc.rangeId,
    });
    left.desc = { ...left.desc, endKey: k, epoch: { ...left.desc.epoch, version } };
    return id;
  }

  /**
   * Merges the range to the right of `leftId` into it (version = max + 1, the left range's
   * replicas and leader). A request to the right range then gets EpochNotMatch listing the
   * merged range from a store holding it, or RangeNotFound with `forget` (a store that has
   * destroyed the right replica and is not sure of the rest).
   */
  merge(leftId: number, opts: { forget?: boolean } = {}): { merged: RangeDescriptor; right: RangeDescriptor } {
    const left = this.ranges.get(leftId)!;
    const right = [...this.ranges.values()].find((x) => left.desc.endKey.length > 0 && Buffer.compare(b(x.desc.startKey), b(left.desc.endKey)) === 0);
    if (!right) throw new Error(`range ${leftId} has no right-hand neighbour`);
    this.ranges.delete(right.desc.rangeId);
    left.desc = { ...left.desc, endKey: right.desc.endKey, epoch: { ...left.desc.epoch, version: Math.max(left.desc.epoch.version, right.desc.epoch.version) + 1 } };
    if (!opts.forget) this.mergedInto.set(right.desc.rangeId, leftId);
    return { merged: left.desc, right: right.desc };
  }

  transferLeader(rangeId: number, storeId: number): void {
    this.ranges.get(rangeId)!.leader = storeId;
  }

  /** Replaces the replica on `from` by one on `to` (confVer + 1); leadership moves to `to` if `from` led. */
  moveReplica(rangeId: number, from: number, to: number): void {
    const r = this.ranges.get(rangeId)!;
    const maxId = Math.max(...r.desc.replicas.map((x) => x.replicaId));
    r.desc = {
      ...r.desc,
      epoch: { ...r.desc.epoch, confVer: r.desc.epoch.confVer + 1 },
      replicas: [...r.desc.replicas.filter((x) => x.storeId !== from), { storeId: to, replicaId: maxId + 1, role: ReplicaRole.Voter }],
    };
    if (r.leader === from) r.leader = to;
  }

  callsTo(method: string): StoreCall[] {
    return this.storeCalls.filter((c) => c.method === method);
  }

  // ---- store -------------------------------------------------------------------------------

  private rangeError(message: string, e: Omit<metapb.RangeError.$Properties, 'message'>): { rangeError: metapb.RangeError.$Properties } {
    return { rangeError: { message, ...e } };
  }

  private route(storeId: number, header: metapb.RequestHeader.$Properties | null | undefined, leaderOnly: boolean, keys: Buffer[]):
    { range: FakeRange } | { rangeError: metapb.RangeError.$Properties } {
    const rangeId = Number(header?.rangeId ?? 0);
    const r = this.ranges.get(rangeId);
    const into = this.ranges.get(this.mergedInto.get(rangeId) ?? 0);
    if (!r && into && into.desc.replicas.some((x) => x.storeId === storeId)) {
      return this.rangeError(`range ${rangeId} was merged`, { epochNotMatch: { current: [descriptorToWire(into.desc)] } });
    }
    if (!r || !r.desc.replicas.some((x) => x.storeId === storeId)) return this.rangeError('range not found', { rangeNotFound: { rangeId } });
    if (leaderOnly && r.leader !== storeId) {
      const hint = this.hideLeaderHints || r.leader === 0 ? undefined
        : { storeId: r.leader, replicaId: r.desc.replicas.find((x) => x.storeId === r.leader)?.replicaId ?? 0 };
      return this.rangeError('not leader', { notLeader: { rangeId, leader: hint ?? null } });
    }
    if (Number(header?.epoch?.version ?? 0) !== r.desc.epoch.version) {
      const current = [r, ...[...this.ranges.values()].filter((x) => x.parent === rangeId)].map((x) => descriptorToWire(x.desc));
      return this.rangeError('epoch not match', { epochNotMatch: { current } });
    }
    for (const k of keys) {
      if (!rangeContains(r.desc, k)) return this.rangeError('key not in range', { keyNotInRange: { key: k, descriptor: descriptorToWire(r.desc) } });
    }
    return { range: r };
  }

  private kvHandlers(storeId: number): Record<string, Handler> {
    const serve = <Req extends { header?: metapb.RequestHeader.$Properties | null }>(
      method: string, keysOf: (r: Req) => Buffer[], leaderOnly: (r: Req) => boolean, run: (r: Req, range: FakeRange) => object,
    ): Handler => (call, cb) => {
      const req = call.request as Req;
      const keys = keysOf(req);
      const deadline = call.getDeadline();
      const deadlineMs = deadline instanceof Date ? deadline.getTime() - Date.now() : deadline - Date.now();
      this.storeCalls.push({ storeId, method, rangeId: Number(req.header?.rangeId ?? 0), keys: keys.map((k) => k.toString()), deadlineMs });
      const answer = (fault: Fault | undefined): void => {
        if (fault?.kind === 'busy') return cb(null, this.rangeError('busy', { serverBusy: { reason: 'test', backoffMs: fault.backoffMs ?? 0 } }));
        if (fault?.kind === 'notLeader') {
          return cb(null, this.rangeError('not leader', { notLeader: { rangeId: Number(req.header?.rangeId ?? 0), leader: fault.hint ? { storeId: fault.hint } : null } }));
        }
        if (fault?.kind === 'rangeError') return cb(null, { rangeError: fault.error });
        const routed = this.route(storeId, req.header, leaderOnly(req), keys);
        if ('rangeError' in routed) return cb(null, routed);
        const fail = (f: Extract<Fault, { kind: 'status' }>): void => {
          const metadata = new grpc.Metadata();
          if (f.ambiguous) metadata.set(AMBIGUOUS_METADATA_KEY, '1');
          cb({ code: f.code, details: f.details, metadata });
        };
        if (fault?.kind === 'status' && !fault.applyFirst) return fail(fault);
        const res = run(req, routed.range);
        if (fault?.kind === 'status') return fail(fault);
        cb(null, res);
      };
      const fault = this.faultHook?.(storeId, method, req);
      if (fault?.kind === 'hang') this.hung.push(() => answer(undefined));
      else answer(fault);
    };
    const read = (r: { header?: metapb.RequestHeader.$Properties | null }): boolean => {
      const c = r.header?.readConsistency ?? 0;
      return c === 0 || c === 1;
    };
    const write = (): boolean => true;
    const one = (r: { key?: Uint8Array | null }): Buffer[] => [b(r.key)];
    const span = (r: { startKey?: Uint8Array | null }): Buffer[] => [b(r.startKey)];
    return {
      Get: serve<kvpb.GetRequest.$Properties>('Get', one, read, (r) => {
        const v = this.data.get(b(r.key).toString('latin1'));
        return v ? { found: true, value: v } : { found: false };
      }),
      BatchGet: serve<kvpb.BatchGetRequest.$Properties>('BatchGet', (r) => (r.keys ?? []).map(b), read, (r) => ({
        pairs: (r.keys ?? []).map(b).filter((k) => this.data.has(k.toString('latin1'))).map((k) => ({ key: k, value: this.data.get(k.toString('latin1'))! })),
      })),
      Put: serve<kvpb.PutRequest.$Properties>('Put', one, write, (r) => {
        this.data.set(b(r.key).toString('latin1'), b(r.value));
        return {};
      }),
      BatchPut: serve<kvpb.BatchPutRequest.$Properties>('BatchPut', (r) => (r.pairs ?? []).map((p) => b(p.key)), write, (r) => {
        for (const p of r.pairs ?? []) this.data.set(b(p.key).toString('latin1'), b(p.value));
        return {};
      }),
      Delete: serve<kvpb.DeleteRequest.$Properties>('Delete', one, write, (r) => {
        this.data.delete(b(r.key).toString('latin1'));
        return {};
      }),
      DeleteRange: serve<kvpb.DeleteRangeRequest.$Properties>('DeleteRange', span, write, (r, range) => {
        const end = b(r.endKey).length > 0 ? b(r.endKey) : range.desc.endKey;
        for (const k of [...this.data.keys()]) {
          const kb = Buffer.from(k, 'latin1');
          if (Buffer.compare(kb, b(r.startKey)) >= 0 && (end.length === 0 || Buffer.compare(kb, end) < 0)) this.data.delete(k);
        }
        return {};
      }),
      Scan: serve<kvpb.ScanRequest.$Properties>('Scan', () => [], read, (r, range) => {
        const lo = Buffer.compare(b(r.startKey), range.desc.startKey) > 0 ? b(r.startKey) : range.desc.startKey;
        const reqEnd = b(r.endKey);
        const hi = reqEnd.length === 0 ? range.desc.endKey : range.desc.endKey.length === 0 ? reqEnd
          : Buffer.compare(reqEnd, range.desc.endKey) < 0 ? reqEnd : range.desc.endKey;
        const keys = [...this.data.keys()].map((k) => Buffer.from(k, 'latin1'))
          .filter((k) => Buffer.compare(k, lo) >= 0 && (hi.length === 0 || Buffer.compare(k, hi) < 0))
          .sort(Buffer.compare);
        if (r.reverse) keys.reverse();
        const max = (r.limit ?? 0) === 0 ? this.maxScanLimit : Math.min(r.limit!, this.maxScanLimit);
        const pairs = keys.slice(0, max).map((k) => ({ key: k, value: this.data.get(k.toString('latin1'))! }));
        return { pairs, more: keys.length > max };
      }),
      CompareAndSwap: serve<kvpb.CompareAndSwapRequest.$Properties>('CompareAndSwap', one, write, (r) => {
        const k = b(r.key).toString('latin1');
        const prev = this.data.get(k);
        const match = r.expectExists ? prev !== undefined && prev.equals(b(r.expectedValue)) : prev === undefined;
        if (match) {
          if (r.delete) this.data.delete(k);
          else this.data.set(k, b(r.newValue));
        }
        return { succeeded: match, previousExists: prev !== undefined, previousValue: prev ?? Buffer.alloc(0) };
      }),
    };
  }

  // ---- PD ----------------------------------------------------------------------------------

  private routeOf(r: FakeRange): pdpb.RangeRoute.$Properties {
    const leader = r.desc.replicas.find((x) => x.storeId === r.leader);
    return { descriptor: descriptorToWire(r.desc), leader: leader ? { storeId: leader.storeId, replicaId: leader.replicaId } : null };
  }

  private storeOf(id: number): pdpb.Store.$Properties {
    const state = this.offline.has(id) ? pdpb.StoreState.OFFLINE : pdpb.StoreState.UP;
    return { id, address: this.stores.get(id)!.address, raftAddress: '127.0.0.1:1', httpAddress: '', state, lastHeartbeatAgeMs: 5 };
  }

  private runOperator(req: pdpb.CreateOperatorRequest.$Properties): pdpb.Operator.$Properties {
    const id = this.nextOperatorId++;
    const rangeId = Number(req.rangeId ?? 0);
    const op: pdpb.Operator.$Properties & { polls: number } = {
      id, kind: req.kind ?? 0, rangeId, toStore: req.toStore ?? 0, fromStore: req.fromStore ?? 0, splitKey: req.splitKey ?? Buffer.alloc(0),
      status: pdpb.OperatorStatus.RUNNING, step: 'starting', reason: '', createdAtMs: Date.now(), finishedAtMs: 0, polls: 0,
    };
    const r = this.ranges.get(rangeId);
    try {
      if (!r) throw new Error(`range ${rangeId} not found`);
      switch (req.kind) {
        case pdpb.OperatorKind.SPLIT: {
          const key = b(req.splitKey);
          if (!rangeContains(r.desc, key) || Buffer.compare(key, r.desc.startKey) === 0) throw new Error('split key not strictly inside the range');
          const right = this.split(key);
          op.right = descriptorToWire(this.ranges.get(right)!.desc);
          break;
        }
        case pdpb.OperatorKind.TRANSFER_LEADER:
          if (!r.desc.replicas.some((x) => x.storeId === req.toStore)) throw new Error(`store ${req.toStore} has no replica of range ${rangeId}`);
          this.transferLeader(rangeId, Number(req.toStore));
          break;
        case pdpb.OperatorKind.MOVE_REPLICA:
          this.moveReplica(rangeId, Number(req.fromStore), Number(req.toStore));
          break;
        case pdpb.OperatorKind.MERGE:
          op.right = descriptorToWire(this.merge(rangeId).right);
          break;
        default:
          break;
      }
      op.descriptor = descriptorToWire(r.desc);
      op.step = 'done';
    } catch (e) {
      op.status = pdpb.OperatorStatus.FAILED;
      op.reason = (e as Error).message;
      op.finishedAtMs = Date.now();
    }
    this.operators.set(id, op);
    return op;
  }

  /** A member leads when its node serves (is not set to answer not_leader). */
  private pdMembersWire(): pdpb.PdMember.$Properties[] {
    return this.pdMembers.map((m) => {
      const node = this.pds.find((p) => p.address === m.address);
      return { ...m, isLeader: node !== undefined && node.opts.notLeaderTo === undefined && !m.isLearner };
    });
  }

  private pdHandlers(i: number): Record<string, Handler> {
    const clusterId = 42;
    const serve = <Req>(method: string, run: (r: Req) => object): Handler => (call, cb) => {
      this.pdCalls.push(method);
      this.pdCallNodes.push(i);
      const pd = this.pds[i]!;
      if (pd.opts.notLeaderTo !== undefined) {
        return cb(null, { header: { clusterId, error: { message: 'not leader', notLeader: { leaderId: 0, leaderAddress: pd.opts.notLeaderTo } } } });
      }
      if (pd.notBootstrappedLeft > 0) {
        pd.notBootstrappedLeft--;
        return cb(null, { header: { clusterId, error: { message: 'not bootstrapped', notBootstrapped: true } } });
      }
      const deadline = call.getDeadline();
      const fault = this.pdFaultHook?.(i, method, deadline instanceof Date ? deadline.getTime() - Date.now() : deadline - Date.now());
      try {
        if (fault && !fault.applyFirst) return cb({ code: fault.code, details: fault.details });
        const res = run(call.request as Req);
        if (fault) return cb({ code: fault.code, details: fault.details });
        cb(null, { header: { clusterId }, ...res });
      } catch (e) {
        cb(null, { header: { clusterId, error: { message: (e as Error).message } } });
      }
    };
    const sorted = (): FakeRange[] => [...this.ranges.values()].sort((x, y) => Buffer.compare(x.desc.startKey, y.desc.startKey));
    return {
      GetMembers: serve('GetMembers', () => ({ members: this.pdMembersWire(), commitIndex: 100 })),
      // Joins at once, as a voter (a real PD adds a learner, waits for it to catch up, then promotes it).
      AddPdMember: serve<pdpb.AddPdMemberRequest.$Properties>('AddPdMember', (r) => {
        const id = Number(r.id ?? 0);
        const replace = Number(r.replaceId ?? 0);
        if (this.pdMembers.some((m) => m.id === id && !m.isLearner)) throw new Error(`PD ${id} is a voter already`);
        if (replace !== 0 && !this.pdMembers.some((m) => m.id === replace)) throw new Error(`PD ${replace} is not a member`);
        this.pdMembers = [
          ...this.pdMembers.filter((m) => m.id !== id && m.id !== replace),
          { id, address: r.clientAddress ?? '', raftAddress: r.raftAddress ?? '', isLearner: false, matchIndex: 100 },
        ];
        return { members: this.pdMembersWire() };
      }),
      RemovePdMember: serve<pdpb.RemovePdMemberRequest.$Properties>('RemovePdMember', (r) => {
        const id = Number(r.id ?? 0);
        if (!this.pdMembers.some((m) => m.id === id)) throw new Error(`PD ${id} is not a member`);
        this.pdMembers = this.pdMembers.filter((m) => m.id !== id);
        return { members: this.pdMembersWire() };
      }),
      GetRangeByKey: (call, cb) => {
        if (this.rangeByKeyNotFoundLeft > 0) {
          this.rangeByKeyNotFoundLeft--;
          this.pdCalls.push('GetRangeByKey');
          return cb({ code: grpc.status.NOT_FOUND, details: 'no range holds the key' });
        }
        return serve<pdpb.GetRangeByKeyRequest.$Properties>('GetRangeByKey', (r) => ({ route: this.routeOf(this.rangeOf(b(r.key))) }))(call, cb);
      },
      ScanRanges: serve<pdpb.ScanRangesRequest.$Properties>('ScanRanges', (r) => {
        if (this.rangeByKeyNotFoundLeft > 0) {
          this.rangeByKeyNotFoundLeft--;
          return { routes: [], more: false };
        }
        const start = b(r.startKey);
        const end = b(r.endKey);
        const meet = sorted().filter((x) => (x.desc.endKey.length === 0 || Buffer.compare(x.desc.endKey, start) > 0)
          && (end.length === 0 || Buffer.compare(x.desc.startKey, end) < 0));
        const limit = r.limit || 1000;
        return { routes: meet.slice(0, limit).map((x) => this.routeOf(x)), more: meet.length > limit };
      }),
      GetStore: serve<pdpb.GetStoreRequest.$Properties>('GetStore', (r) => {
        const id = Number(r.storeId ?? 0);
        if (!this.stores.has(id)) throw new Error(`store ${id} not found`);
        return { store: this.storeOf(id), stats: { ranges: 1, leaders: 1 } };
      }),
      ListStores: serve('ListStores', () => ({
        stores: [...this.stores.keys()].map((id) => ({ store: this.storeOf(id), stats: { ranges: this.ranges.size, leaders: [...this.ranges.values()].filter((r) => r.leader === id).length } })),
      })),
      CreateOperator: serve<pdpb.CreateOperatorRequest.$Properties>('CreateOperator', (r) => ({ operator: this.runOperator(r) })),
      GetOperator: serve<pdpb.GetOperatorRequest.$Properties>('GetOperator', (r) => {
        const op = this.operators.get(Number(r.id ?? 0));
        if (!op) throw new Error(`operator ${r.id} not found`);
        // RUNNING on creation, final at the first poll.
        if (op.status === pdpb.OperatorStatus.RUNNING && op.polls++ >= 0) {
          op.status = pdpb.OperatorStatus.SUCCEEDED;
          op.finishedAtMs = Date.now();
        }
        return { operator: op };
      }),
      ListOperators: serve('ListOperators', () => ({ operators: [...this.operators.values()] })),
      GetConfig: serve('GetConfig', () => ({
        entries: [...this.config].map(([key, e]) => ({ key, ...e })),
        schedulers: ['balance-leader', 'replica-checker', 'balance-replica'].map((name) => ({ name, enabled: true, paused: this.paused.has(name) })),
      })),
      SetConfig: serve<pdpb.SetConfigRequest.$Properties>('SetConfig', (r) => {
        const e = this.config.get(r.key ?? '');
        if (!e) throw new Error(`${r.key} is not a setting`);
        if (r.reset === true) Object.assign(e, { overridden: false });
        else Object.assign(e, { value: r.value ?? 0, overridden: true });
        return { entry: { key: r.key, ...e } };
      }),
      SetScheduler: serve<pdpb.SetSchedulerRequest.$Properties>('SetScheduler', (r) => {
        if (r.paused === true) this.paused.add(r.name ?? '');
        else this.paused.delete(r.name ?? '');
        return { scheduler: { name: r.name, enabled: true, paused: r.paused === true } };
      }),
      // Decommission marks the store offline (a cancel brings it back); nothing moves.
      DecommissionStore: serve<pdpb.DecommissionStoreRequest.$Properties>('DecommissionStore', (r) => {
        const id = Number(r.storeId ?? 0);
        if (!this.stores.has(id)) throw new Error(`store ${id} not found`);
        if (r.cancel === true) this.offline.delete(id);
        else this.offline.add(id);
        return { store: this.storeOf(id) };
      }),
    };
  }
}
