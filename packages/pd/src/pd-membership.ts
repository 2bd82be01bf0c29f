// PD membership change at run time (AddPdMember, RemovePdMember), run on the serving
// leader, one change at a time.
//
// Add (a node started with --join, listening at its raft address):
//   1. it becomes a learner, the change's context carrying its addresses (every node keeps
//      them in PD's state, so everyone can reach it and a later joiner learns them);
//   2. the leader waits until the learner's log matches its commit index (it gets PD's
//      state by snapshot, then the log), at most `memberCatchUpTimeoutMs`;
//   3. it is promoted through a joint configuration (raft's joint consensus, left
//      automatically), with `replaceId` removed in the same step if given, so replacing a
//      failed node never passes through an even number of voters.
// Remove: the member leaves through a joint configuration. Removing the leader first hands
// leadership to the most caught-up other voter; the caller is answered not_leader and
// retries there.
//
// Both refuse a change after which fewer voters than a quorum of the new voter set would be
// reachable (liveness pings), and both are safe to call again: an add of a learner that
// did not catch up in time promotes it; an add whose change already landed only finishes
// what is left (the replaced member's removal).
//
//   const m = new PdMembership(group, log, { memberCatchUpTimeoutMs: 30_000 });
//   await m.add({ id: 4, raft: 'h:7201', client: 'h:7200' }, 3);   // replace PD 3 by PD 4
//   await m.remove(3);
import { ConfChangeTransition, ConfChangeType, type ConfChangeSingle } from '@rangekv/raft';
import { parseAddress, type Logger } from '@rangekv/runtime';
import { PdRequestError, invalidArgument } from './errors.js';
import { encodeMemberContext, MAX_MEMBER_ADDRESS_CHARS } from './pd-membership-codec.js';
import { PdProposalError, type PdRaftGroup } from './pd-raft.js';
import type { PdMemberAddress } from './pd-state.js';
import { MAX_PD_ID } from './types.js';

export interface PdMembershipLimits {
  /** How long an add waits for the new learner's log to match the leader's commit index. */
  memberCatchUpTimeoutMs: number;
  /** How long a change waits for the joint configuration it entered to be left. */
  leaveJointTimeoutMs: number;
  /** How long removing the leader waits for its leadership hand-off. */
  leaderHandOffMs: number;
  /** Most PD members (voters and learners) at once. */
  maxPdMembers: number;
  /** How often the waits above look again. */
  membershipPollMs: number;
}

export const DEFAULT_PD_MEMBERSHIP_LIMITS: PdMembershipLimits = {
  memberCatchUpTimeoutMs: 30_000,
  leaveJointTimeoutMs: 10_000,
  leaderHandOffMs: 5_000,
  maxPdMembers: 7,
  membershipPollMs: 20,
};

export interface NewPdMember extends PdMemberAddress {
  id: number;
}

function failed(message: string): PdRequestError {
  return new PdRequestError('FAILED_PRECONDITION', message);
}

function checkId(what: string, id: number): number {
  if (!Number.isSafeInteger(id) || id < 1 || id > MAX_PD_ID) throw invalidArgument(`${what} must be in [1, ${MAX_PD_ID}], got ${id}`);
  return id;
}

function checkAddress(what: string, a: string): string {
  // Longer ones would not survive apply (decodeMemberContext): the change would stand without its addresses.
  if (a.length > MAX_MEMBER_ADDRESS_CHARS) throw invalidArgument(`${what} is longer than ${MAX_MEMBER_ADDRESS_CHARS} characters`);
  try {
    return parseAddress(what, a);
  } catch (e) {
    throw invalidArgument((e as Error).message);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class PdMembership {
  readonly limits: PdMembershipLimits;
  private changing = false;

  constructor(private readonly group: PdRaftGroup, private readonly log: Logger, limits: Partial<PdMembershipLimits> = {}) {
    this.limits = { ...DEFAULT_PD_MEMBERSHIP_LIMITS, ...limits };
  }

  /** Adds `m` as a voter (learner, catch-up, joint promotion), removing `replaceId` (0: none) in the same step. */
  add(m: NewPdMember, replaceId: number): Promise<void> {
    checkId('id', m.id);
    checkAddress('raft_address', m.raft);
    checkAddress('client_address', m.client);
    if (replaceId !== 0) checkId('replace_id', replaceId);
    if (replaceId === m.id) throw invalidArgument(`PD ${m.id} cannot replace itself`);
    return this.oneAtATime(async () => {
      const g = this.group;
      if (replaceId === g.pdId) await this.handOff(`replacing PD ${replaceId}, the leader`);
      const cs = g.config;
      const members = g.memberIds();
      const isVoter = cs.voters.includes(m.id);
      if (!members.includes(m.id)) {
        if (members.length + 1 > this.limits.maxPdMembers) throw failed(`PD has ${members.length} members; maxPdMembers is ${this.limits.maxPdMembers}`);
        this.log.info('PD member add: adding a learner', { id: m.id, raft: m.raft, client: m.client });
        await g.proposeConfChange({
          transition: ConfChangeTransition.Auto, changes: [{ type: ConfChangeType.AddLearnerNode, nodeId: m.id }],
          context: encodeMemberContext(new Map([[m.id, { raft: m.raft, client: m.client }]])),
        });
      } else {
        const known = g.state.pdMembers.get(m.id);
        if (known && (known.raft !== m.raft || known.client !== m.client)) {
          throw failed(`PD ${m.id} is already a member at raft ${known.raft}, client ${known.client}; remove it first to change its addresses`);
        }
      }
      const replace = replaceId !== 0 && g.memberIds().includes(replaceId) ? replaceId : 0;
      if (isVoter && replace === 0) return; // already done (a retry of a change that landed)
      if (!isVoter) await this.waitCaughtUp(m.id, m.raft);
      const votersAfter = [...new Set([...g.config.voters, m.id])].filter((v) => v !== replace);
      this.checkQuorum(votersAfter, new Set([m.id]));
      const changes: ConfChangeSingle[] = [];
      if (!isVoter) changes.push({ type: ConfChangeType.AddNode, nodeId: m.id });
      if (replace !== 0) changes.push({ type: ConfChangeType.RemoveNode, nodeId: replace });
      this.log.info('PD member add: promoting through a joint configuration', { id: m.id, ...(replace !== 0 ? { replacing: replace } : {}) });
      await g.proposeConfChange({ transition: ConfChangeTransition.JointImplicit, changes, context: new Uint8Array(0) });
      await this.waitLeftJoint();
    });
  }

  /** Removes member `id` through a joint configuration. */
  remove(id: number): Promise<void> {
    checkId('id', id);
    return this.oneAtATime(async () => {
      const g = this.group;
      if (!g.memberIds().includes(id)) throw new PdRequestError('NOT_FOUND', `PD ${id} is not a member (members: ${g.memberIds().join(', ')})`);
      if (id === g.pdId) await this.handOff(`removing PD ${id}, the leader`);
      const cs = g.config;
      if (cs.voters.includes(id)) {
        const votersAfter = cs.voters.filter((v) => v !== id);
        if (votersAfter.length === 0) throw failed(`PD ${id} is the only voter`);
        this.checkQuorum(votersAfter, new Set());
      }
      this.log.info('PD member remove: leaving through a joint configuration', { id });
      await g.proposeConfChange({
        transition: ConfChangeTransition.JointImplicit, changes: [{ type: ConfChangeType.RemoveNode, nodeId: id }], context: new Uint8Array(0),
      });
      await this.waitLeftJoint();
    });
  }

  private async oneAtATime(f: () => Promise<void>): Promise<void> {
    if (this.changing) throw failed('another PD membership change is in progress; retry when it is done');
    this.changing = true;
    try {
      // A change an earlier leader left joint is finished first (raft's auto-leave).
      if (this.group.joint) await this.waitLeftJoint();
      await f();
    } finally {
      this.changing = false;
    }
  }

  /** Leadership goes to another voter; the caller is answered not_leader and retries there. */
  private async handOff(why: string): Promise<never> {
    const g = this.group;
    if (g.config.voters.length < 2) throw failed(`${why}: there is no other voter to lead`);
    this.log.info('PD membership change needs another leader: handing leadership off', { why });
    await g.handOffLeadership(this.limits.leaderHandOffMs);
    throw new PdProposalError(`${why}: leadership handed off`, g.leaderId, false);
  }

  private async waitCaughtUp(id: number, raft: string): Promise<void> {
    const g = this.group;
    const end = Date.now() + this.limits.memberCatchUpTimeoutMs;
    for (;;) {
      if (!g.serving) throw new PdProposalError('leadership lost while a new PD member caught up', g.leaderId, false);
      const match = g.matchIndexes().get(id) ?? 0;
      if (match > 0 && match >= g.commitIndex) return;
      if (Date.now() >= end) {
        throw failed(`PD ${id} was added as a learner but its log did not catch up in ${this.limits.memberCatchUpTimeoutMs} ms `
          + `(match ${match} of ${g.commitIndex}); is it running with --join and reachable at ${raft}? Add it again to promote it once it has`);
      }
      await sleep(this.limits.membershipPollMs);
    }
  }

  /** Refuses a change after which fewer than a quorum of `votersAfter` are reachable (`fresh`: just heard from). */
  private checkQuorum(votersAfter: readonly number[], fresh: ReadonlySet<number>): void {
    const live = votersAfter.filter((v) => fresh.has(v) || this.group.isLive(v));
    const quorum = Math.floor(votersAfter.length / 2) + 1;
    if (live.length < quorum) {
      throw failed(`after the change ${live.length} of ${votersAfter.length} PD voters (${votersAfter.join(', ')}) would be reachable, below a quorum of ${quorum}`);
    }
  }

  private async waitLeftJoint(): Promise<void> {
    const g = this.group;
    const end = Date.now() + this.limits.leaveJointTimeoutMs;
    while (g.joint) {
      if (!g.serving) throw new PdProposalError('leadership lost while leaving a joint configuration', g.leaderId, true);
      if (Date.now() >= end) throw failed(`PD's configuration is still joint after ${this.limits.leaveJointTimeoutMs} ms; raft leaves it on its own, retry later`);
      await sleep(this.limits.membershipPollMs);
    }
  }
}
