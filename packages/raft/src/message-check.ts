// The gate every inbound message passes before raft acts on it. A message is refused when
// it is malformed (unknown type, not addressed to this node, a Snap without a snapshot,
// entries that do not follow their previous index) or carries a number that is not an
// integer in [0, MAX_TERM] / [0, MAX_INDEX] (see bounds.ts): acting on it could overflow
// term+1 or index+n, persist a number the codecs cannot encode, or break an invariant
// halfway through a step.
//
// The check runs before step touches anything, so a refused message changes nothing in
// the node. The host logs the refusal at warn, counts it and drops the message.
import { MAX_INDEX, MAX_TERM } from './bounds.js';
import { ConfChangeError, restoreConfig } from './confchange/index.js';
import { describeMessage, isMessageType } from './message.js';
import { EntryType, MessageType, type Message, type NodeId } from './types.js';

/** Raft did not act on an inbound message; `reason` says why. Nothing in the node changed. */
export class MessageRefusedError extends Error {
  override readonly name = 'MessageRefusedError';
  readonly reason: string;

  constructor(reason: string, m: Message) {
    super(`raft refused ${describeMessage(m)}: ${reason}`);
    this.reason = reason;
  }
}

/** What the check needs to know about the receiving node. */
export interface Receiver {
  id: NodeId;
  term: number;
  lastIndex: number;
}

/** Throws MessageRefusedError unless `m` is a message `to` may step. */
export function checkMessage(m: Message, to: Receiver): void {
  const refuse = (reason: string): never => {
    throw new MessageRefusedError(reason, m);
  };
  if (!isMessageType(m.type)) refuse(`unknown message type ${String(m.type)}`);
  if (m.to !== to.id) refuse(`addressed to ${m.to}, stepped into node ${to.id}`);
  if (!Number.isSafeInteger(m.from) || m.from <= 0) refuse(`sender ${m.from} is not a node id`);
  const bounded = (field: string, v: number, max: number, maxName: string): void => {
    if (!Number.isSafeInteger(v) || v < 0) refuse(`${field} ${v} is not a non-negative integer`);
    if (v > max) refuse(`${field} ${v} is above ${maxName} (${max})`);
  };
  bounded('term', m.term, MAX_TERM, 'MAX_TERM');
  bounded('logTerm', m.logTerm, MAX_TERM, 'MAX_TERM');
  bounded('index', m.index, MAX_INDEX, 'MAX_INDEX');
  bounded('commit', m.commit, MAX_INDEX, 'MAX_INDEX');
  bounded('rejectHint', m.rejectHint, MAX_INDEX, 'MAX_INDEX');

  switch (m.type) {
    case MessageType.App: {
      // The entries follow prevIndex/prevTerm as they do in the leader's log: consecutive
      // indexes, terms that never decrease and never exceed the leader's term. Anything
      // else could not have come from a leader's log and would corrupt ours.
      let prevTerm = m.logTerm;
      for (let i = 0; i < m.entries.length; i++) {
        const e = m.entries[i]!;
        const at = `entries[${i}]`;
        bounded(`${at}.index`, e.index, MAX_INDEX, 'MAX_INDEX');
        bounded(`${at}.term`, e.term, MAX_TERM, 'MAX_TERM');
        if (e.index !== m.index + 1 + i) refuse(`${at}.index ${e.index} does not follow index ${m.index + i}`);
        if (e.term < prevTerm) refuse(`${at}.term ${e.term} is below the term before it (${prevTerm})`);
        if (e.term > m.term) refuse(`${at}.term ${e.term} is above the message term`);
        if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) refuse(`${at} has unknown type ${String(e.type)}`);
        prevTerm = e.term;
      }
      break;
    }
    case MessageType.Heartbeat:
      // A leader tells a follower to commit only what the follower acknowledged holding
      // in the leader's term, so a commit beyond our log is not a leader's heartbeat.
      if (m.term >= to.term && m.commit > to.lastIndex) {
        refuse(`commit ${m.commit} is beyond our last index ${to.lastIndex}`);
      }
      break;
    case MessageType.Snap: {
      const s = m.snapshot;
      if (s === null) return refuse('Snap without a snapshot');
      bounded('snapshot index', s.meta.index, MAX_INDEX, 'MAX_INDEX');
      bounded('snapshot term', s.meta.term, MAX_TERM, 'MAX_TERM');
      // Not refused: a snapshot term above the message term. A host may build the data
      // after raft asked for it, at a later applied index whose entry is of a newer term.
      const cs = s.meta.confState;
      for (const ids of [cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext]) {
        for (const id of ids) if (!Number.isSafeInteger(id) || id <= 0) refuse(`snapshot membership names ${id}, not a node id`);
      }
      // The membership must be one raft could have reached; installing it is checked the
      // same way, but only after the log was replaced.
      try {
        restoreConfig(cs, s.meta.index, 1, 0);
      } catch (e) {
        if (!(e instanceof ConfChangeError)) throw e;
        refuse(`snapshot membership is invalid: ${e.message}`);
      }
      break;
    }
    default:
      break;
  }
}
