// Small formatting and copying helpers for the cluster's trace lines.
import { StateRole, type ConfChangeV2, type Entry, type Message } from '@rangekv/raft';

/** Simulates serialization: the receiver never shares objects with the sender. */
export function copyMessage(m: Message): Message {
  const c = { ...m };
  if (m.entries.length > 0) c.entries = m.entries.map((e) => ({ ...e }));
  return c;
}

export function span(es: readonly Entry[]): string {
  const a = es[0]!;
  const b = es[es.length - 1]!;
  return es.length === 1 ? `${a.index}/t${a.term}` : `${a.index}..${b.index}/t${a.term}..t${b.term}`;
}

export function roleName(r: StateRole): string {
  switch (r) {
    case StateRole.Leader:
      return 'leader';
    case StateRole.Candidate:
      return 'candidate';
    case StateRole.PreCandidate:
      return 'pre-candidate';
    default:
      return 'follower';
  }
}

export function describeConfChange(cc: ConfChangeV2): string {
  if (cc.changes.length === 0) return 'leave-joint';
  const kinds = ['add-voter', 'remove', 'add-learner'];
  const tr = ['auto', 'joint-implicit', 'joint-explicit'][cc.transition] ?? '?';
  return `${tr}[${cc.changes.map((c) => `${kinds[c.type] ?? '?'} n${c.nodeId}`).join(', ')}]`;
}
