// Fake stores for PD tests: real gRPC servers speaking storeAdminService, backed by one
// shared in-memory model of the ranges (descriptor, leader store, term, log indexes). Each
// call is recorded. Knobs make a store misbehave: ignore transfers, keep learners behind,
// refuse split keys, answer MergeRanges busy or refuse it.
import * as grpc from '@grpc/grpc-js';
import { adminpb, descriptorToWire, ReplicaRole, storeAdminService, type metapb, type RangeDescriptor } from '@rangekv/proto';
import { compareBytes, keyInSpan } from '../types.js';

export interface FakeRange {
  desc: RangeDescriptor;
  leaderStore: number;
  term: number;
  lastIndex: number;
  /** Followers' match index by replica id. */
  match: Map<number, number>;
}

export interface RecordedCall {
  storeId: number;
  method: string;
  req: unknown;
}

type RangeErr = metapb.RangeError.$Properties;

export class FakeCluster {
  readonly ranges = new Map<number, FakeRange>();
  readonly calls: RecordedCall[] = [];
  private readonly servers = new Map<number, { server: grpc.Server; port: number }>();
  /** TransferLeader answers OK but leadership never moves. */
  ignoreTransfers = false;
  /** TransferLeader answers FAILED_PRECONDITION with this message (null: off). */
  failTransfers: string | null = null;
  /** New learners stay at match 0 (never caught up). */
  learnersNeverCatchUp = false;
  /** ReplaceVoter calls (joint moves) answered. */
  replaceVoterCalls = 0;
  /** SplitRange at these keys answers KeyNotInRange. */
  readonly refuseSplitKeys = new Set<string>();
  /** MergeRanges that merged. */
  mergesDone = 0;
  /** MergeRanges answers ServerBusy this many more times (a merge of the right range under way). */
  mergeBusyTimes = 0;
  /** MergeRanges answers FAILED_PRECONDITION with this message (a merge rolled back; null: off). */
  failMerges: string | null = null;

  address(storeId: number): string {
    return `127.0.0.1:${this.servers.get(storeId)!.port}`;
  }

  async startStore(storeId: number): Promise<string> {
    const server = new grpc.Server();
    const impl: grpc.UntypedServiceImplementation = {};
    const methods = storeAdminService as unknown as Record<string, grpc.MethodDefinition<unknown, unknown>>;
    for (const name of Object.keys(methods)) {
      impl[name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        this.calls.push({ storeId, method: name, req: call.request });
        try {
          cb(null, this.handle(storeId, name, call.request as Record<string, unknown>));
        } catch (e) {
          cb({ code: grpc.status.FAILED_PRECONDITION, details: e instanceof Error ? e.message : String(e) });
        }
      }) as grpc.UntypedHandleCall;
    }
    server.addService(methods, impl);
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    this.servers.set(storeId, { server, port });
    return this.address(storeId);
  }

  /** Creates a range in the model (e.g. from PD's bootstrap descriptor). */
  createRange(desc: RangeDescriptor, leaderStore: number): void {
    const match = new Map(desc.replicas.map((r) => [r.replicaId, 1000]));
    this.ranges.set(desc.rangeId, { desc, leaderStore, term: 1, lastIndex: 1000, match });
  }

  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  async stop(): Promise<void> {
    for (const { server } of this.servers.values()) server.forceShutdown();
    this.servers.clear();
  }

  private replicaOn(r: FakeRange, storeId: number) {
    return r.desc.replicas.find((x) => x.storeId === storeId);
  }

  private leaderCheck(storeId: number, header: unknown, changes: boolean): { r: FakeRange } | { err: RangeErr } {
    const h = header as metapb.RequestHeader | undefined;
    const rangeId = Number(h?.rangeId ?? 0);
    const r = this.ranges.get(rangeId);
    if (!r || !this.replicaOn(r, storeId)) return { err: { message: 'range not found', rangeNotFound: { rangeId } } };
    if (r.leaderStore !== storeId) {
      const lead = this.replicaOn(r, r.leaderStore)!;
      return { err: { message: 'not leader', notLeader: { rangeId, leader: { storeId: lead.storeId, replicaId: lead.replicaId, role: lead.role } } } };
    }
    const e = h?.epoch;
    if (Number(e?.version ?? 0) !== r.desc.epoch.version || (changes && Number(e?.confVer ?? 0) !== r.desc.epoch.confVer)) {
      return { err: { message: 'epoch not match', epochNotMatch: { current: [descriptorToWire(r.desc)] } } };
    }
    return { r };
  }

  private bumpConf(r: FakeRange): void {
    r.desc = { ...r.desc, epoch: { ...r.desc.epoch, confVer: r.desc.epoch.confVer + 1 }, replicas: [...r.desc.replicas].sort((a, b) => a.replicaId - b.replicaId) };
    r.lastIndex++;
    for (const [id, m] of r.match) if (m >= r.lastIndex - 1 && (!this.learnersNeverCatchUp || this.isVoter(r, id))) r.match.set(id, r.lastIndex);
  }

  private isVoter(r: FakeRange, replicaId: number): boolean {
    return r.desc.replicas.some((x) => x.replicaId === replicaId && x.role === ReplicaRole.Voter);
  }

  private handle(storeId: number, method: string, req: Record<string, unknown>): unknown {
    switch (method) {
      case 'rangeStatus': {
        const rangeId = Number(req['rangeId'] ?? 0);
        const r = this.ranges.get(rangeId);
        const me = r && this.replicaOn(r, storeId);
        if (!r || !me) return { rangeError: { message: 'range not found', rangeNotFound: { rangeId } } };
        const leader = r.leaderStore === storeId;
        const lead = this.replicaOn(r, r.leaderStore);
        return {
          status: {
            descriptor: descriptorToWire(r.desc), replicaId: me.replicaId, role: leader ? adminpb.RaftRole.LEADER : adminpb.RaftRole.FOLLOWER,
            term: r.term, leaderReplicaId: lead?.replicaId ?? 0, commit: r.lastIndex, applied: r.lastIndex, lastIndex: r.lastIndex,
            progress: leader ? r.desc.replicas.filter((x) => x.storeId !== storeId).map((x) => ({ replicaId: x.replicaId, match: r.match.get(x.replicaId) ?? 0 })) : [],
          },
        };
      }
      case 'transferLeader': {
        const c = this.leaderCheck(storeId, req['header'], false);
        if ('err' in c) return { rangeError: c.err };
        const to = Number(req['toStore'] ?? 0);
        if (this.failTransfers !== null) throw new Error(this.failTransfers);
        if (!this.ignoreTransfers && this.replicaOn(c.r, to)) {
          setTimeout(() => {
            c.r.leaderStore = to;
            c.r.term++;
          }, 20);
        }
        return {};
      }
      case 'addReplica': {
        const c = this.leaderCheck(storeId, req['header'], true);
        if ('err' in c) return { rangeError: c.err };
        const replicaId = Number(req['replicaId'] ?? 0);
        c.r.desc = { ...c.r.desc, replicas: [...c.r.desc.replicas, { storeId: Number(req['storeId']), replicaId, role: req['role'] === ReplicaRole.Learner ? ReplicaRole.Learner : ReplicaRole.Voter }] };
        c.r.match.set(replicaId, 0);
        this.bumpConf(c.r);
        if (!this.learnersNeverCatchUp) setTimeout(() => c.r.match.set(replicaId, c.r.lastIndex), 100);
        return { descriptor: descriptorToWire(c.r.desc) };
      }
      case 'promoteLearner': {
        const c = this.leaderCheck(storeId, req['header'], true);
        if ('err' in c) return { rangeError: c.err };
        const target = Number(req['storeId'] ?? 0);
        c.r.desc = { ...c.r.desc, replicas: c.r.desc.replicas.map((x) => (x.storeId === target ? { ...x, role: ReplicaRole.Voter } : x)) };
        this.bumpConf(c.r);
        return { descriptor: descriptorToWire(c.r.desc) };
      }
      case 'replaceVoter': {
        // Enters the joint configuration; the "store" leaves it on its own shortly after.
        const c = this.leaderCheck(storeId, req['header'], true);
        if ('err' in c) return { rangeError: c.err };
        const learner = Number(req['learnerStore'] ?? 0);
        const voter = Number(req['voterStore'] ?? 0);
        if (voter === storeId) throw new Error('the leader cannot remove itself');
        this.replaceVoterCalls++;
        c.r.desc = {
          ...c.r.desc,
          replicas: c.r.desc.replicas.map((x) => (x.storeId === learner ? { ...x, role: ReplicaRole.VoterIncoming }
            : x.storeId === voter ? { ...x, role: ReplicaRole.VoterOutgoing } : x)),
        };
        this.bumpConf(c.r);
        const joint = c.r.desc;
        setTimeout(() => {
          c.r.desc = { ...c.r.desc, replicas: c.r.desc.replicas.filter((x) => x.storeId !== voter).map((x) => (x.storeId === learner ? { ...x, role: ReplicaRole.Voter } : x)) };
          this.bumpConf(c.r);
        }, 30);
        return { descriptor: descriptorToWire(joint) };
      }
      case 'removeReplica': {
        const c = this.leaderCheck(storeId, req['header'], true);
        if ('err' in c) return { rangeError: c.err };
        const target = Number(req['storeId'] ?? 0);
        if (target === storeId) throw new Error('the leader cannot remove itself');
        c.r.desc = { ...c.r.desc, replicas: c.r.desc.replicas.filter((x) => x.storeId !== target) };
        this.bumpConf(c.r);
        return { descriptor: descriptorToWire(c.r.desc) };
      }
      case 'splitRange': {
        const c = this.leaderCheck(storeId, req['header'], false);
        if ('err' in c) return { rangeError: c.err };
        const key = new Uint8Array(req['splitKey'] as Uint8Array);
        const d = c.r.desc;
        if (this.refuseSplitKeys.has(Buffer.from(key).toString()) || !keyInSpan(key, d.startKey, d.endKey) || compareBytes(key, d.startKey) === 0) {
          return { rangeError: { message: 'key not in range', keyNotInRange: { key, descriptor: descriptorToWire(d) } } };
        }
        const version = d.epoch.version + 1;
        const left: RangeDescriptor = { ...d, endKey: key, epoch: { ...d.epoch, version } };
        const right: RangeDescriptor = { ...d, rangeId: Number(req['newRangeId']), startKey: key, epoch: { ...d.epoch, version } };
        c.r.desc = left;
        // The right half is a new raft group: its terms start again (below the left's, often).
        this.ranges.set(right.rangeId, { desc: right, leaderStore: c.r.leaderStore, term: 1, lastIndex: 1000, match: new Map(right.replicas.map((x) => [x.replicaId, 1000])) });
        return { left: descriptorToWire(left), right: descriptorToWire(right) };
      }
      case 'mergeRanges':
        return this.merge(storeId, req);
      default:
        return {};
    }
  }

  /** MergeRanges as the store contract has it (proto/admin.proto): the right range's replicas go, the left one covers both. */
  private merge(storeId: number, req: Record<string, unknown>): unknown {
    const c = this.leaderCheck(storeId, req['header'], true);
    if ('err' in c) return { rangeError: c.err };
    const left = c.r.desc;
    const rightId = Number(req['rightRangeId'] ?? 0);
    const r = this.ranges.get(rightId);
    if (!r || !this.replicaOn(r, storeId)) return { rangeError: { message: `range ${rightId} not found`, rangeNotFound: { rangeId: rightId } } };
    const re = req['rightEpoch'] as metapb.RangeEpoch | undefined;
    if (re && (Number(re.version ?? 0) !== r.desc.epoch.version || Number(re.confVer ?? 0) !== r.desc.epoch.confVer)) {
      return { rangeError: { message: 'epoch not match', epochNotMatch: { current: [descriptorToWire(r.desc)] } } };
    }
    if (this.mergeBusyTimes > 0) {
      this.mergeBusyTimes--;
      return { rangeError: { message: `range ${rightId} is merging`, serverBusy: { reason: 'merging', backoffMs: 10 } } };
    }
    if (this.failMerges !== null) throw new Error(this.failMerges);
    if (left.endKey.length === 0 || compareBytes(r.desc.startKey, left.endKey) !== 0) throw new Error(`range ${rightId} does not start where range ${left.rangeId} ends`);
    const stores = (d: RangeDescriptor) => d.replicas.map((x) => (x.role === ReplicaRole.Voter ? x.storeId : -1)).sort((a, b) => a - b).join(',');
    if (stores(left) !== stores(r.desc) || stores(left).includes('-1')) throw new Error('the ranges must have voters only, on the same stores');
    if (r.leaderStore !== storeId) throw new Error(`the leader of range ${rightId} is on store ${r.leaderStore}: transfer it to store ${storeId} first`);
    const merged: RangeDescriptor = {
      ...left, endKey: r.desc.endKey, epoch: { confVer: left.epoch.confVer, version: Math.max(left.epoch.version, r.desc.epoch.version) + 1 },
    };
    c.r.desc = merged;
    c.r.lastIndex++;
    this.ranges.delete(rightId);
    this.mergesDone++;
    return { merged: descriptorToWire(merged) };
  }
}
