// One step of each operator kind. A step looks at the range as its leader reports it NOW
// (RangeStatus on the leading store) and does the next thing, so any step may run again
// after a PD leader change or a lost answer: nothing is assumed from the previous step.
//
//   TRANSFER_LEADER  leader on to_store? done : TransferLeader(to_store) on the leader, wait
//   ADD_REPLICA      voter on to_store? done : learner caught up? PromoteLearner
//                    : learner? wait : AddReplica(to_store, PD-allocated replica id, LEARNER)
//   REMOVE_REPLICA   no replica on from_store? done : leader there? transfer away, wait
//                    : RemoveReplica(from_store)
//   MOVE_REPLICA     to_store voter and from_store gone? done : learner on to_store caught up?
//                    (leader on from_store? transfer away, wait) ReplaceVoter(to, from): ONE joint
//                    change promoting the learner and removing the voter, left by the store on
//                    its own : ADD_REPLICA's learner steps (the voter count never changes; a
//                    learner on from_store is moved by promote, then remove)
//   SPLIT            range ends at split_key? done : SplitRange(split_key, PD-allocated id)
//   MERGE            left range ends where the right one (as it was at creation) ended? done
//                    : right range's voters not on the left's voter stores? MOVE_REPLICA's steps
//                    on the right range (one store at a time, lowest ids first) : right leader
//                    not on the left leader's store? TRANSFER_LEADER's steps on the right range
//                    : MergeRanges(right range and epoch) on the left leader
//
// Joint configurations (VoterIncoming / VoterOutgoing / VoterDemoting) are left by the
// store on its own (auto-leave): a step that sees one waits.
import { descriptorFromWire, ReplicaRole, type metapb, type RangeDescriptor, type ReplicaDescriptor } from '@rangekv/proto';
import type { AdminMethod, AdminRequest, AdminResponse } from './store-admin-client.js';
import { compareBytes, keyInSpan, OperatorKind, type OperatorRecord } from './types.js';

/** The range as its leader sees it. */
export interface LeaderView {
  storeId: number;
  address: string;
  replicaId: number;
  term: number;
  lastIndex: number;
  descriptor: RangeDescriptor;
  /** Other replicas' match index, by replica id. */
  match: Map<number, number>;
}

export type StepOutcome =
  | { kind: 'continue'; step: string }
  | { kind: 'succeeded'; descriptor: RangeDescriptor; right: RangeDescriptor | null }
  | { kind: 'failed'; reason: string };

export interface StepLimits {
  /** A learner within this many entries of the leader's last index counts as caught up. */
  catchUpSlackEntries: number;
  /** An action (transfer, add, ...) is not asked again sooner than this. */
  retryActionMs: number;
  /** One store admin call. */
  adminCallTimeoutMs: number;
}

export interface StepContext {
  op: OperatorRecord;
  leader: LeaderView;
  now: number;
  limits: StepLimits;
  /** When each action of this operator was last asked (in this PD leader's memory). */
  asked: Map<string, number>;
  call<K extends AdminMethod>(address: string, method: K, req: AdminRequest<K>): Promise<AdminResponse<K>>;
  /** A descriptor learned from a store (answers to changes): PD records it. */
  learned(desc: RangeDescriptor, right?: RangeDescriptor): void;
  /** MERGE: the right-hand range as its leader sees it; null while no leader is found (or once it is merged away). */
  right: LeaderView | null;
  /** MERGE: a descriptor of the right-hand range learned from a store. */
  learnedRight(desc: RangeDescriptor): void;
}

const cont = (step: string): StepOutcome => ({ kind: 'continue', step });

function header(d: RangeDescriptor): metapb.RequestHeader.$Properties {
  return { rangeId: d.rangeId, epoch: { confVer: d.epoch.confVer, version: d.epoch.version } };
}

/** Runs `action` unless it was asked less than retryActionMs ago. */
async function once(ctx: StepContext, key: string, action: () => Promise<void>): Promise<void> {
  const last = ctx.asked.get(key);
  if (last !== undefined && ctx.now - last < ctx.limits.retryActionMs) return;
  ctx.asked.set(key, ctx.now);
  await action();
}

/** Range errors that end the operator (the rest: retry at the next step). */
function fatalRangeError(e: metapb.RangeError.$Properties | null | undefined): string | null {
  if (!e) return null;
  if (e.keyNotInRange) return `key not in range: ${e.message ?? ''}`;
  return null;
}

function replicaOn(d: RangeDescriptor, storeId: number): ReplicaDescriptor | undefined {
  return d.replicas.find((r) => r.storeId === storeId);
}

function isJoint(r: ReplicaDescriptor): boolean {
  return r.role === ReplicaRole.VoterIncoming || r.role === ReplicaRole.VoterOutgoing || r.role === ReplicaRole.VoterDemoting;
}

async function changeReplicas(
  ctx: StepContext, key: string, method: 'addReplica' | 'promoteLearner' | 'removeReplica' | 'replaceVoter', req: AdminRequest<typeof method>,
): Promise<string | null> {
  let fatal: string | null = null;
  await once(ctx, key, async () => {
    const res = await ctx.call(ctx.leader.address, method, req);
    if (res.rangeError) fatal = fatalRangeError(res.rangeError);
    else if (res.descriptor) ctx.learned(descriptorFromWire(res.descriptor));
  });
  return fatal;
}

async function stepTransfer(ctx: StepContext, toStore: number): Promise<StepOutcome> {
  const d = ctx.leader.descriptor;
  const target = replicaOn(d, toStore);
  if (!target) return { kind: 'failed', reason: `store ${toStore} holds no replica of range ${d.rangeId}` };
  if (target.role !== ReplicaRole.Voter) return { kind: 'failed', reason: `the replica on store ${toStore} is not a voter` };
  if (ctx.leader.storeId === toStore) return { kind: 'succeeded', descriptor: d, right: null };
  await once(ctx, `transfer:${toStore}`, async () => {
    await ctx.call(ctx.leader.address, 'transferLeader', { header: header(d), toStore });
  });
  return cont(`transferring leadership from store ${ctx.leader.storeId} to store ${toStore}`);
}

/**
 * The learner on toStore: added when missing (with the operator's replica id); 'ready' once
 * the leader reached it and it is within catchUpSlackEntries of the leader. Any other state of the replica is the
 * caller's (the outcome to return).
 */
async function learnerReady(ctx: StepContext, toStore: number): Promise<StepOutcome | 'ready'> {
  const d = ctx.leader.descriptor;
  const rep = replicaOn(d, toStore);
  if (rep && rep.role === ReplicaRole.Learner) {
    const match = ctx.leader.match.get(rep.replicaId) ?? 0;
    // Match 0: the leader never reached it (the store refuses to promote such a learner).
    if (match === 0 || match + ctx.limits.catchUpSlackEntries < ctx.leader.lastIndex) {
      return cont(`waiting for learner ${rep.replicaId} on store ${toStore} to catch up`);
    }
    return 'ready';
  }
  if (rep) return { kind: 'failed', reason: `unexpected role ${rep.role} of the replica on store ${toStore}` };
  if (d.replicas.some((r) => r.replicaId === ctx.op.replicaId)) {
    return { kind: 'failed', reason: `replica id ${ctx.op.replicaId} is taken in range ${d.rangeId}` };
  }
  const fatal = await changeReplicas(ctx, `add:${toStore}`, 'addReplica', {
    header: header(d), storeId: toStore, replicaId: ctx.op.replicaId, role: ReplicaRole.Learner,
  });
  if (fatal) return { kind: 'failed', reason: fatal };
  return cont(`adding learner ${ctx.op.replicaId} on store ${toStore}`);
}

/** ADD_REPLICA's steps; succeeded once the replica on toStore is a voter. */
async function stepAdd(ctx: StepContext, toStore: number): Promise<StepOutcome> {
  const d = ctx.leader.descriptor;
  const rep = replicaOn(d, toStore);
  if (rep && rep.role === ReplicaRole.Voter) return { kind: 'succeeded', descriptor: d, right: null };
  if (rep && isJoint(rep)) return cont(`leaving the joint configuration (replica ${rep.replicaId} on store ${toStore})`);
  const ready = await learnerReady(ctx, toStore);
  if (ready !== 'ready') return ready;
  const fatal = await changeReplicas(ctx, `promote:${toStore}`, 'promoteLearner', { header: header(d), storeId: toStore });
  if (fatal) return { kind: 'failed', reason: fatal };
  return cont(`promoting learner ${rep!.replicaId} on store ${toStore}`);
}

/** Hands the leadership away from `fromStore` to the most caught-up other full voter; null when there is none. */
async function transferAway(ctx: StepContext, fromStore: number): Promise<StepOutcome | null> {
  const d = ctx.leader.descriptor;
  const others = d.replicas.filter((r) => r.storeId !== fromStore && r.role === ReplicaRole.Voter);
  if (others.length === 0) return null;
  others.sort((a, b) => (ctx.leader.match.get(b.replicaId) ?? 0) - (ctx.leader.match.get(a.replicaId) ?? 0) || a.storeId - b.storeId);
  const to = others[0]!.storeId;
  await once(ctx, `transfer:${to}`, async () => {
    await ctx.call(ctx.leader.address, 'transferLeader', { header: header(d), toStore: to });
  });
  return cont(`transferring leadership away from store ${fromStore} to store ${to}`);
}

/** MOVE_REPLICA's steps: a learner on toStore, then one joint change swapping it for the voter on fromStore. */
async function stepMove(ctx: StepContext, toStore: number, fromStore: number): Promise<StepOutcome> {
  const d = ctx.leader.descriptor;
  const to = replicaOn(d, toStore);
  const from = replicaOn(d, fromStore);
  if (to?.role === ReplicaRole.Voter && !from) return { kind: 'succeeded', descriptor: d, right: null };
  if ((to && isJoint(to)) || (from && isJoint(from))) return cont('leaving the joint configuration');
  // A learner on fromStore, or a move already half done the old way: promote, then remove.
  if (to?.role === ReplicaRole.Voter) return stepRemove(ctx, fromStore);
  if (!from || from.role !== ReplicaRole.Voter) {
    const r = await stepAdd(ctx, toStore);
    return r.kind === 'succeeded' ? cont(`replica on store ${toStore} is a voter`) : r;
  }
  const ready = await learnerReady(ctx, toStore);
  if (ready !== 'ready') return ready;
  if (ctx.leader.storeId === fromStore) {
    return (await transferAway(ctx, fromStore)) ?? { kind: 'failed', reason: `store ${fromStore} holds the only voter of range ${d.rangeId}` };
  }
  const fatal = await changeReplicas(ctx, `replace:${toStore}:${fromStore}`, 'replaceVoter', { header: header(d), learnerStore: toStore, voterStore: fromStore });
  if (fatal) return { kind: 'failed', reason: fatal };
  return cont(`replacing voter ${from.replicaId} on store ${fromStore} by learner ${to!.replicaId} on store ${toStore} (joint)`);
}

/** REMOVE_REPLICA's steps; succeeded once fromStore holds no replica. */
async function stepRemove(ctx: StepContext, fromStore: number): Promise<StepOutcome> {
  const d = ctx.leader.descriptor;
  const rep = replicaOn(d, fromStore);
  if (!rep) return { kind: 'succeeded', descriptor: d, right: null };
  if (isJoint(rep)) return cont(`leaving the joint configuration (replica ${rep.replicaId} on store ${fromStore})`);
  if (ctx.leader.storeId === fromStore) {
    // The leader cannot remove itself: hand leadership to the most caught-up other voter.
    return (await transferAway(ctx, fromStore)) ?? { kind: 'failed', reason: `store ${fromStore} holds the only voter of range ${d.rangeId}` };
  }
  const fatal = await changeReplicas(ctx, `remove:${fromStore}`, 'removeReplica', { header: header(d), storeId: fromStore });
  if (fatal) return { kind: 'failed', reason: fatal };
  return cont(`removing replica ${rep.replicaId} from store ${fromStore}`);
}

async function stepSplit(ctx: StepContext): Promise<StepOutcome> {
  const d = ctx.leader.descriptor;
  const key = ctx.op.splitKey;
  if (d.endKey.length > 0 && compareBytes(d.endKey, key) === 0) return { kind: 'succeeded', descriptor: d, right: null };
  if (!keyInSpan(key, d.startKey, d.endKey) || compareBytes(key, d.startKey) === 0) {
    return { kind: 'failed', reason: `split key is not strictly inside range ${d.rangeId}` };
  }
  let out: StepOutcome | null = null;
  await once(ctx, 'split', async () => {
    const res = await ctx.call(ctx.leader.address, 'splitRange', { header: header(d), splitKey: key, newRangeId: ctx.op.newRangeId });
    const fatal = fatalRangeError(res.rangeError);
    if (fatal) out = { kind: 'failed', reason: fatal };
    else if (!res.rangeError && res.left && res.right) {
      const left = descriptorFromWire(res.left);
      const right = descriptorFromWire(res.right);
      ctx.learned(left, right);
      out = { kind: 'succeeded', descriptor: left, right };
    }
  });
  return out ?? cont(`splitting range ${d.rangeId} (new range ${ctx.op.newRangeId})`);
}

function voterStores(d: RangeDescriptor): number[] {
  return d.replicas.filter((r) => r.role === ReplicaRole.Voter).map((r) => r.storeId).sort((a, b) => a - b);
}

/**
 * Why `left` and `right` cannot be merged as they stand, or null: MergeRanges needs voters
 * only, on the same stores, so the right range's voters are moved onto the left range's
 * stores one for one. `ownLearners`: replica ids of learners the operator itself added to
 * the right range (its co-location moves), which do not count.
 */
export function mergeShapeProblem(left: RangeDescriptor, right: RangeDescriptor, ownLearners: (replicaId: number) => boolean = () => false): string | null {
  if (left.replicas.some((r) => r.role === ReplicaRole.Learner)) return `range ${left.rangeId} has a learner: a merge needs voters only`;
  if (right.replicas.some((r) => r.role === ReplicaRole.Learner && !ownLearners(r.replicaId))) {
    return `range ${right.rangeId} has a learner: a merge needs voters only`;
  }
  if (left.replicas.some(isJoint) || right.replicas.some(isJoint)) return null; // counted once the joint configuration is left
  const l = voterStores(left).length;
  const r = voterStores(right).length;
  if (l !== r) return `range ${left.rangeId} has ${l} voters and range ${right.rangeId} has ${r}: a merge needs as many on each (add or remove replicas first)`;
  return null;
}

async function stepMerge(ctx: StepContext): Promise<StepOutcome> {
  const l = ctx.leader.descriptor;
  const was = ctx.op.right;
  if (was === null) return { kind: 'failed', reason: 'MERGE operator without its right-hand range' };
  if (compareBytes(l.endKey, was.endKey) === 0) return { kind: 'succeeded', descriptor: l, right: was };
  const rv = ctx.right;
  if (rv === null) return cont(`waiting for the leader of range ${was.rangeId}`);
  const r = rv.descriptor;
  if (l.endKey.length === 0 || compareBytes(r.startKey, l.endKey) !== 0) {
    return { kind: 'failed', reason: `range ${r.rangeId} no longer starts where range ${l.rangeId} ends` };
  }
  const lStores = voterStores(l);
  const firstId = ctx.op.replicaId;
  const problem = mergeShapeProblem(l, r, (id) => id >= firstId && id < firstId + lStores.length);
  if (problem !== null) return { kind: 'failed', reason: problem };
  if (l.replicas.some(isJoint) || r.replicas.some(isJoint)) return cont('leaving the joint configuration');
  // The right range's steps: the same as MOVE_REPLICA's and TRANSFER_LEADER's, on its leader.
  const rStores = voterStores(r);
  const to = lStores.find((s) => !rStores.includes(s));
  const from = rStores.find((s) => !lStores.includes(s));
  const onRight = (replicaId: number): StepContext => ({
    ...ctx, leader: rv, op: { ...ctx.op, rangeId: r.rangeId, replicaId }, learned: (d) => ctx.learnedRight(d),
  });
  if (to !== undefined && from !== undefined) {
    const out = await stepMove(onRight(firstId + lStores.indexOf(to)), to, from);
    if (out.kind === 'failed') return out;
    return cont(out.kind === 'succeeded' ? `moved range ${r.rangeId}'s replica from store ${from} to store ${to}`
      : `co-locating range ${r.rangeId} with range ${l.rangeId}: ${out.step}`);
  }
  const target = ctx.leader.storeId;
  if (rv.storeId !== target) {
    const out = await stepTransfer(onRight(0), target);
    if (out.kind === 'failed') return out;
    return cont(`transferring range ${r.rangeId}'s leadership to store ${target}, the leader of range ${l.rangeId}`);
  }
  let out: StepOutcome | null = null;
  await once(ctx, 'merge', async () => {
    const res = await ctx.call(ctx.leader.address, 'mergeRanges', {
      header: header(l), rightRangeId: r.rangeId, rightEpoch: { confVer: r.epoch.confVer, version: r.epoch.version },
    });
    const fatal = fatalRangeError(res.rangeError);
    if (fatal) out = { kind: 'failed', reason: fatal };
    // not_leader, server_busy (a merge under way), epoch_not_match: asked again after
    // retryActionMs from the ranges as they are then; the answer is the operator's last error.
    else if (res.rangeError) throw new Error(`MergeRanges on store ${ctx.leader.storeId}: ${res.rangeError.message || 'a range error'}`);
    else if (res.merged) {
      const merged = descriptorFromWire(res.merged);
      ctx.learned(merged);
      out = { kind: 'succeeded', descriptor: merged, right: was };
    }
  });
  return out ?? cont(`merging range ${r.rangeId} into range ${l.rangeId} on store ${ctx.leader.storeId}`);
}

export async function runStep(ctx: StepContext): Promise<StepOutcome> {
  const op = ctx.op;
  switch (op.kind) {
    case OperatorKind.TRANSFER_LEADER: return stepTransfer(ctx, op.toStore);
    case OperatorKind.ADD_REPLICA: return stepAdd(ctx, op.toStore);
    case OperatorKind.REMOVE_REPLICA: return stepRemove(ctx, op.fromStore);
    case OperatorKind.MOVE_REPLICA: return stepMove(ctx, op.toStore, op.fromStore);
    case OperatorKind.SPLIT: return stepSplit(ctx);
    case OperatorKind.MERGE: return stepMerge(ctx);
    default: return { kind: 'failed', reason: `unknown operator kind ${String(op.kind)}` };
  }
}
