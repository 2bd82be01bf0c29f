// The largest term and log index raft accepts or produces.
//
// Every number raft hands out ends up on the wire and on disk as a varint that must be a
// safe integer (below 2^53). Raft itself computes term+1 (a campaign, a pre-vote) and
// index+n (an append, a leader's next index), so the numbers it accepts must stay far
// enough below 2^53 that this arithmetic is exact and its result still encodable. Messages
// carrying larger numbers are refused (see message-check.ts); a node at MAX_TERM does not
// campaign, and proposals that would take the last index past MAX_INDEX are dropped.
import { invariant } from './util.js';

/**
 * 2^52: half the safe range, leaving 2^52 of headroom for term+1. A group holding a
 * million elections a second would need 142 years to reach it.
 */
export const MAX_TERM = 2 ** 52;

/**
 * 2^52: leaves 2^52 of headroom for index+n. A group committing a million entries a
 * second, every second, would need 142 years to reach it.
 * The bound applies to every message's `index` field, whatever that field carries (a
 * heartbeat's tick stamp, a forwarded transfer's target id).
 */
export const MAX_INDEX = 2 ** 52;

// term+1 and index+1 (and the headroom above) must stay exact integers.
invariant(MAX_TERM + 1 < Number.MAX_SAFE_INTEGER && Number.isSafeInteger(2 * MAX_TERM - 1), 'MAX_TERM leaves headroom');
invariant(MAX_INDEX + 1 < Number.MAX_SAFE_INTEGER && Number.isSafeInteger(2 * MAX_INDEX - 1), 'MAX_INDEX leaves headroom');
