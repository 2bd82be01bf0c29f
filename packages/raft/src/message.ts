// Message construction and naming helpers.
import { MessageType, type Message } from './types.js';

const NO_ENTRIES: never[] = [];
Object.freeze(NO_ENTRIES);

/** A message with every field defaulted; set what the type needs. */
export function emptyMessage(): Message {
  return {
    type: MessageType.App, to: 0, from: 0, term: 0, logTerm: 0, index: 0, entries: NO_ENTRIES,
    commit: 0, reject: false, rejectHint: 0, transfer: false, snapshot: null, context: null,
  };
}

const NAMES: Record<number, string> = {};
for (const [k, v] of Object.entries(MessageType)) NAMES[v] = k;

export function messageTypeName(t: number): string {
  return NAMES[t] ?? `Unknown(${t})`;
}

export function isMessageType(t: unknown): t is MessageType {
  return typeof t === 'number' && NAMES[t] !== undefined;
}

/** One line describing a message, for traces. */
export function describeMessage(m: Message): string {
  let s = `${messageTypeName(m.type)} ${m.from}->${m.to} t${m.term}`;
  switch (m.type) {
    case MessageType.App:
      s += ` prev=${m.index}/${m.logTerm} n=${m.entries.length} commit=${m.commit}`;
      break;
    case MessageType.AppResp:
      s += m.reject ? ` REJECT idx=${m.index} hint=${m.rejectHint}/${m.logTerm}` : ` idx=${m.index}`;
      break;
    case MessageType.Vote:
    case MessageType.PreVote:
      s += ` last=${m.index}/${m.logTerm}${m.transfer ? ' transfer' : ''}`;
      break;
    case MessageType.VoteResp:
    case MessageType.PreVoteResp:
      s += m.reject ? ' REJECT' : ' GRANT';
      break;
    case MessageType.Heartbeat:
      s += ` commit=${m.commit}`;
      break;
    case MessageType.Snap:
      s += ` snap=${m.snapshot?.meta.index}/${m.snapshot?.meta.term}`;
      break;
    case MessageType.ReadIndexResp:
      s += ` idx=${m.index}`;
      break;
    case MessageType.TransferLeader:
      s += ` target=${m.index}`;
      break;
  }
  return s;
}
