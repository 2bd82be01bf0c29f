// Coalesced heartbeats: many ranges' Heartbeat (or HeartbeatResp) messages for one
// store pair in one compact section (proto/raft.proto CoalescedHeartbeats, where the
// encoding is specified with a worked example).
//
// Sorted range ids as delta varints, one flags byte per heartbeat saying which of
// from/to/term/commit/index differ from the previous heartbeat's (only those are
// carried), and the context only when present. Decoding gives back messages equal to
// the ones encoded, in stable range id order. A heartbeat flagged quiesce (quiescence,
// packages/store) sets bit 0x40; a response section may not carry it. A receiver drops a
// structurally corrupt section whole and an invalid heartbeat alone (decodeHeartbeats).
import { MessageType, type Message } from '@rangekv/raft';
import type { raftpb } from '@rangekv/proto';
import { CodecError } from './codec-error.js';
import { copyBytes, wireNumber } from './message-codec.js';
import type { InboundReject, OutboundMessage, RangeMessage } from './types.js';

export const HB_FROM = 0x01;
export const HB_TO = 0x02;
export const HB_TERM = 0x04;
export const HB_COMMIT = 0x08;
export const HB_INDEX = 0x10;
export const HB_CONTEXT = 0x20;
/** The leader's last heartbeat before quiescing (heartbeats only, never responses). */
export const HB_QUIESCE = 0x40;
const HB_RESERVED = 0x80;

const NO_ENTRIES: never[] = [];
Object.freeze(NO_ENTRIES);

type HeartbeatType = typeof MessageType.Heartbeat | typeof MessageType.HeartbeatResp;

/**
 * Whether `m` can ride in a coalesced section: a Heartbeat or HeartbeatResp whose
 * fields outside from/to/term/commit/index/context are all default (raft never sets
 * them; one that does travels as an ordinary message so nothing is lost).
 */
export function isCoalescible(m: Message): boolean {
  return (m.type === MessageType.Heartbeat || m.type === MessageType.HeartbeatResp) &&
    m.logTerm === 0 && m.entries.length === 0 && !m.reject && m.rejectHint === 0 &&
    !m.transfer && m.snapshot === null;
}

function byRangeId(a: OutboundMessage, b: OutboundMessage): number {
  return a.rangeId - b.rangeId;
}

/**
 * Encodes heartbeats of one type (all Heartbeat or all HeartbeatResp, each
 * isCoalescible). Sorts `items` in place by range id (stable).
 */
export function encodeHeartbeats(items: OutboundMessage[]): raftpb.CoalescedHeartbeats.$Properties {
  items.sort(byRangeId);
  const n = items.length;
  const rangeIdDeltas = new Array<number>(n);
  const flags = new Uint8Array(n);
  const values: number[] = [];
  const contexts: Uint8Array[] = [];
  let prevRange = 0, from = 0, to = 0, term = 0, commit = 0, index = 0;
  for (let i = 0; i < n; i++) {
    const { rangeId, message: m, quiesce } = items[i]!;
    rangeIdDeltas[i] = i === 0 ? rangeId : rangeId - prevRange;
    prevRange = rangeId;
    let f = 0;
    if (m.from !== from) { f |= HB_FROM; values.push(m.from); from = m.from; }
    if (m.to !== to) { f |= HB_TO; values.push(m.to); to = m.to; }
    if (m.term !== term) { f |= HB_TERM; values.push(m.term); term = m.term; }
    if (m.commit !== commit) { f |= HB_COMMIT; values.push(m.commit); commit = m.commit; }
    if (m.index !== index) { f |= HB_INDEX; values.push(m.index); index = m.index; }
    if (m.context !== null) { f |= HB_CONTEXT; contexts.push(m.context); }
    if (quiesce === true) {
      if (m.type !== MessageType.Heartbeat) throw new RangeError(`heartbeat codec: a ${m.type} message cannot be flagged quiesce`);
      f |= HB_QUIESCE;
    }
    flags[i] = f;
  }
  return { rangeIdDeltas, flags, values, contexts };
}

/** How many of from/to/term/commit/index a flags byte carries (its low five bits set). */
const CARRIED = Uint8Array.from({ length: 32 }, (_, f) => (f & 1) + ((f >> 1) & 1) + ((f >> 2) & 1) + ((f >> 3) & 1) + ((f >> 4) & 1));

/**
 * Expands a coalesced section back into raft messages of `type`, appended to `out`;
 * returns how many it appended.
 *
 * A section whose counts disagree (flags vs range ids, values or contexts missing or
 * left over) is structurally corrupt: nothing in it can be trusted, it throws CodecError
 * before appending anything. A heartbeat that is invalid on its own (reserved flag bit,
 * quiesce on a response, range id beyond 2^53) is skipped and reported in `rejects`; its
 * carried values still count as "previous" for the next heartbeat, so the rest decode as
 * sent.
 */
export function decodeHeartbeats(
  pb: raftpb.CoalescedHeartbeats.$Properties, type: HeartbeatType, out: RangeMessage[],
  what: string, rejects: InboundReject[], fromStore: number,
): number {
  const deltas = pb.rangeIdDeltas ?? [];
  const flags = pb.flags ?? new Uint8Array(0);
  const values = pb.values ?? [];
  const contexts = pb.contexts ?? [];
  const n = deltas.length;
  if (flags.length !== n) throw new CodecError(`${what}: ${n} range ids but ${flags.length} flags`);
  let valuesWanted = 0;
  let contextsWanted = 0;
  for (let i = 0; i < n; i++) {
    const f = flags[i]!;
    valuesWanted += CARRIED[f & 0x1f]!;
    if (f & HB_CONTEXT) contextsWanted++;
  }
  if (valuesWanted !== values.length) throw new CodecError(`${what}: flags carry ${valuesWanted} values, the section has ${values.length}`);
  if (contextsWanted !== contexts.length) throw new CodecError(`${what}: flags carry ${contextsWanted} contexts, the section has ${contexts.length}`);

  let vi = 0, ci = 0, appended = 0;
  let rangeId = 0, from = 0, to = 0, term = 0, commit = 0, index = 0;
  for (let i = 0; i < n; i++) {
    rangeId += wireNumber(deltas[i], `${what}[${i}].rangeIdDelta`);
    const f = flags[i]!;
    if (f & HB_FROM) from = wireNumber(values[vi++], `${what}[${i}].from`);
    if (f & HB_TO) to = wireNumber(values[vi++], `${what}[${i}].to`);
    if (f & HB_TERM) term = wireNumber(values[vi++], `${what}[${i}].term`);
    if (f & HB_COMMIT) commit = wireNumber(values[vi++], `${what}[${i}].commit`);
    if (f & HB_INDEX) index = wireNumber(values[vi++], `${what}[${i}].index`);
    const ctx = (f & HB_CONTEXT) !== 0 ? contexts[ci++] : null;
    const bad = !Number.isSafeInteger(rangeId) ? 'range id overflows'
      : (f & HB_RESERVED) !== 0 ? `reserved flag bits set (0x${f.toString(16)})`
        : (f & HB_QUIESCE) !== 0 && type !== MessageType.Heartbeat ? 'a heartbeat response flagged quiesce'
          : null;
    if (bad !== null) {
      rejects.push({ fromStore, rangeId: Number.isSafeInteger(rangeId) ? rangeId : null, reason: `${what}[${i}]: ${bad}` });
      continue;
    }
    const msg: Message = {
      type, to, from, term, logTerm: 0, index, entries: NO_ENTRIES, commit,
      reject: false, rejectHint: 0, transfer: false, snapshot: null, context: ctx != null ? copyBytes(ctx) : null,
    };
    out.push((f & HB_QUIESCE) !== 0 ? { rangeId, msg, quiesce: true } : { rangeId, msg });
    appended++;
  }
  return appended;
}
