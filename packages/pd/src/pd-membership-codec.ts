// PD's membership as data: the descriptor of PD's range for a raft configuration, member
// ids, and the context a membership change carries (the added members' addresses), which
// every node applies into PD's state (pd-state.ts `pdMembers`).
//
// The context is a format byte and JSON: { members: [{ id, raft, client }] }, at most
// MAX_MEMBER_CONTEXT_BYTES. It is written only by pd-membership.ts; apply decodes it
// defensively (a bad one loses the addresses, never the change).
import { ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import type { ConfState } from '@rangekv/raft';
import type { PdMemberAddress } from './pd-state.js';

/** PD's range id (its raft group is one range on every PD node). */
export const PD_RANGE_ID = 1;

const CONTEXT_FORMAT = 1;
/** Largest membership-change context accepted (a few members' addresses). */
export const MAX_MEMBER_CONTEXT_BYTES = 4096;
/** Longest "host:port" kept for a member. */
export const MAX_MEMBER_ADDRESS_CHARS = 255;

/** Every member of `cs` (voters, learners, outgoing voters, learners to be), ascending. */
export function memberIdsOf(cs: ConfState): number[] {
  return [...new Set([...cs.voters, ...cs.learners, ...cs.votersOutgoing, ...cs.learnersNext])].sort((a, b) => a - b);
}

export function isJointConfig(cs: ConfState): boolean {
  return cs.votersOutgoing.length > 0;
}

/**
 * The descriptor of PD's range for configuration `cs`: one replica per member (replica id
 * = store id = PD id), voters (incoming or outgoing) as voters, the rest learners. The
 * configuration version moves on from `prev`'s.
 */
export function pdDescriptor(cs: ConfState, prev: RangeDescriptor | null): RangeDescriptor {
  const voters = new Set([...cs.voters, ...cs.votersOutgoing]);
  return {
    rangeId: PD_RANGE_ID, startKey: new Uint8Array(0), endKey: new Uint8Array(0),
    epoch: { confVer: prev ? prev.epoch.confVer + 1 : 1, version: prev?.epoch.version ?? 1 },
    replicas: memberIdsOf(cs).map((id) => ({ storeId: id, replicaId: id, role: voters.has(id) ? ReplicaRole.Voter : ReplicaRole.Learner })),
  };
}

export function encodeMemberContext(added: ReadonlyMap<number, PdMemberAddress>): Uint8Array {
  const members = [...added].map(([id, a]) => ({ id, raft: a.raft, client: a.client }));
  const json = Buffer.from(JSON.stringify({ members }), 'utf8');
  const out = Buffer.alloc(1 + json.length);
  out[0] = CONTEXT_FORMAT;
  json.copy(out, 1);
  if (out.length > MAX_MEMBER_CONTEXT_BYTES) throw new RangeError(`membership change context of ${out.length} bytes exceeds ${MAX_MEMBER_CONTEXT_BYTES}`);
  return out;
}

/** The added members' addresses a change carries (empty context: none). Throws on a malformed one. */
export function decodeMemberContext(data: Uint8Array): Map<number, PdMemberAddress> {
  const out = new Map<number, PdMemberAddress>();
  if (data.length === 0) return out;
  if (data.length > MAX_MEMBER_CONTEXT_BYTES) throw new RangeError(`context of ${data.length} bytes exceeds ${MAX_MEMBER_CONTEXT_BYTES}`);
  if (data[0] !== CONTEXT_FORMAT) throw new RangeError(`unknown context format ${data[0]}`);
  const o = JSON.parse(Buffer.from(data.buffer, data.byteOffset + 1, data.length - 1).toString('utf8')) as unknown;
  const members = (o as { members?: unknown } | null)?.members;
  if (!Array.isArray(members)) throw new RangeError('context has no members list');
  for (const m of members as unknown[]) {
    const { id, raft, client } = (m ?? {}) as { id?: unknown; raft?: unknown; client?: unknown };
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) throw new RangeError(`bad member id ${String(id)}`);
    for (const a of [raft, client]) {
      if (typeof a !== 'string' || a.length > MAX_MEMBER_ADDRESS_CHARS) throw new RangeError(`member ${id}: bad address`);
    }
    out.set(id, { raft: raft as string, client: client as string });
  }
  return out;
}
