// raft Message <-> wire (proto/raft.proto Message).
//
// Encoding needs no conversion: the proto fields carry raft's names, so a raft Message is
// a valid `raftpb.Message.$Properties` and the generated encoder reads it directly.
// Decoding rebuilds raft's fixed-shape plain object, validating as it goes: an unknown
// message or entry type, or a number that is not a safe integer, is a CodecError.
// Decoded byte fields are fresh copies: they never pin the receive buffer.
import { MessageType, type ConfState, type Entry, type EntryType, type Message, type Snapshot } from '@rangekv/raft';
import type { raftpb } from '@rangekv/proto';
import { CodecError } from './codec-error.js';

const NO_ENTRIES: never[] = [];
Object.freeze(NO_ENTRIES);

type Num = number | null | undefined;

/** A uint64 from the wire: a JS number below 2^53, else the value is unrepresentable. */
export function wireNumber(v: Num, what: string): number {
  if (v == null) return 0;
  if (!Number.isSafeInteger(v) || v < 0) throw new CodecError(`${what}: ${String(v)} is not an integer in [0, 2^53)`);
  return v;
}

export function copyBytes(b: Uint8Array | null | undefined): Uint8Array {
  const out = new Uint8Array(b == null ? 0 : b.length);
  if (b != null && b.length > 0) out.set(b);
  return out;
}

const MESSAGE_TYPES: ReadonlySet<number> = new Set<number>(Object.values(MessageType));

export function isMessageType(t: number): t is MessageType {
  return MESSAGE_TYPES.has(t);
}

function numberList(vs: Num[] | null | undefined, what: string): number[] {
  if (vs == null || vs.length === 0) return [];
  const out = new Array<number>(vs.length);
  for (let i = 0; i < vs.length; i++) out[i] = wireNumber(vs[i], what);
  return out;
}

function toEntry(pb: raftpb.Entry.$Properties, what: string): Entry {
  const type = pb.type ?? 0;
  if (type !== 0 && type !== 1) throw new CodecError(`${what}: unknown entry type ${type}`);
  return {
    term: wireNumber(pb.term, `${what}.term`),
    index: wireNumber(pb.index, `${what}.index`),
    type: type as EntryType,
    data: copyBytes(pb.data),
  };
}

function toConfState(pb: raftpb.ConfState.$Properties | null | undefined, what: string): ConfState {
  return {
    voters: numberList(pb?.voters, `${what}.voters`),
    learners: numberList(pb?.learners, `${what}.learners`),
    votersOutgoing: numberList(pb?.votersOutgoing, `${what}.votersOutgoing`),
    learnersNext: numberList(pb?.learnersNext, `${what}.learnersNext`),
    autoLeave: pb?.autoLeave === true,
  };
}

function toSnapshot(pb: raftpb.Snapshot.$Properties, what: string): Snapshot {
  const meta = pb.meta;
  return {
    meta: {
      index: wireNumber(meta?.index, `${what}.meta.index`),
      term: wireNumber(meta?.term, `${what}.meta.term`),
      confState: toConfState(meta?.confState, `${what}.meta.confState`),
    },
    data: copyBytes(pb.data),
  };
}

/** A decoded wire message as a raft Message. `what` names it in errors. */
export function toRaftMessage(pb: raftpb.Message.$Properties, what: string): Message {
  const type = pb.type ?? 0;
  if (!isMessageType(type)) throw new CodecError(`${what}: unknown message type ${type}`);
  let entries: Entry[] = NO_ENTRIES;
  const pbEntries = pb.entries;
  if (pbEntries != null && pbEntries.length > 0) {
    entries = new Array<Entry>(pbEntries.length);
    for (let i = 0; i < pbEntries.length; i++) entries[i] = toEntry(pbEntries[i]!, `${what}.entries[${i}]`);
  }
  return {
    type,
    to: wireNumber(pb.to, `${what}.to`),
    from: wireNumber(pb.from, `${what}.from`),
    term: wireNumber(pb.term, `${what}.term`),
    logTerm: wireNumber(pb.logTerm, `${what}.logTerm`),
    index: wireNumber(pb.index, `${what}.index`),
    entries,
    commit: wireNumber(pb.commit, `${what}.commit`),
    reject: pb.reject === true,
    rejectHint: wireNumber(pb.rejectHint, `${what}.rejectHint`),
    transfer: pb.transfer === true,
    snapshot: pb.snapshot != null ? toSnapshot(pb.snapshot, `${what}.snapshot`) : null,
    context: pb.context != null ? copyBytes(pb.context) : null,
  };
}

// Upper bounds of encoded sizes, for queue and batch accounting without encoding twice.
// A uint64 below 2^53 is at most 8 varint bytes, plus a 1-byte tag; a length prefix is at
// most 5 bytes.
const NUM_FIELD_BYTES = 9;
const LEN_FIELD_BYTES = 6;
const MESSAGE_FIXED_BYTES = 2 /* type */ + 7 * NUM_FIELD_BYTES + 2 * 2 /* bools */;
const ENTRY_FIXED_BYTES = LEN_FIELD_BYTES + 2 * NUM_FIELD_BYTES + 2 + LEN_FIELD_BYTES;
/** RangeMessage envelope: its own length prefix, range id, the inner message's prefix. */
export const RANGE_MESSAGE_OVERHEAD_BYTES = LEN_FIELD_BYTES + NUM_FIELD_BYTES + LEN_FIELD_BYTES;

/** An upper bound of the encoded size of `m` inside a RaftBatch, envelope included. */
export function estimateMessageBytes(m: Message): number {
  let n = RANGE_MESSAGE_OVERHEAD_BYTES + MESSAGE_FIXED_BYTES;
  const entries = m.entries;
  for (let i = 0; i < entries.length; i++) n += ENTRY_FIXED_BYTES + entries[i]!.data.length;
  const snap = m.snapshot;
  if (snap !== null) {
    const cs = snap.meta.confState;
    const ids = cs.voters.length + cs.learners.length + cs.votersOutgoing.length + cs.learnersNext.length;
    n += 3 * LEN_FIELD_BYTES + 2 * NUM_FIELD_BYTES + 4 * LEN_FIELD_BYTES + 8 * ids + 2 + LEN_FIELD_BYTES + snap.data.length;
  }
  if (m.context !== null) n += LEN_FIELD_BYTES + m.context.length;
  return n;
}
