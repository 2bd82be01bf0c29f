// Coalescing a Ready's appends: when a leader takes several proposals in one turn, raft
// sends one App per proposal to each follower (each propose broadcasts). A Ready may
// instead carry, per follower, one App with all of them: the same entries, in the same
// order, after the same prev (index, logTerm), with the newest commit. The follower then
// appends, persists and answers once, and the leader steps one answer; its flow control is
// unchanged (each send was counted, and the one answer for the last index frees them all).
import { entriesSizeBytes } from './util.js';
import { MessageType, type Message } from './types.js';

/**
 * Merges each App into the previous message to the same follower when that one is an App
 * of the same term that ends exactly where this one starts (its last entry is this one's
 * prev index and term) and the merged entries stay within `maxMsgBytes`. Only messages
 * adjacent in the follower's own order merge, so what each follower receives, and in what
 * order, is unchanged but for the merges. Returns `msgs` itself when nothing merged.
 */
export function coalesceAppends(msgs: Message[], maxMsgBytes: number): Message[] {
  if (msgs.length < 2) return msgs;
  let apps = 0;
  for (const m of msgs) if (m.type === MessageType.App) apps++;
  if (apps < 2) return msgs; // nothing to merge: no Map, no copy (most Readies of a quiet range)
  let out: Message[] | null = null;
  /** Per follower: the position in `out` of the last message to it, and its entries' bytes. */
  const last = new Map<number, { at: number; bytes: number }>();
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i]!;
    const prev = last.get(m.to);
    const p = prev === undefined ? undefined : (out ?? msgs)[prev.at]!;
    if (p !== undefined && m.type === MessageType.App && p.type === MessageType.App && p.term === m.term && m.entries.length > 0 && continues(p, m)) {
      const bytes = entriesSizeBytes(m.entries);
      if (prev!.bytes + bytes <= maxMsgBytes) {
        out ??= msgs.slice(0, i);
        const merged: Message = { ...p, entries: p.entries.concat(m.entries), commit: Math.max(p.commit, m.commit) };
        out[prev!.at] = merged;
        prev!.bytes += bytes;
        continue;
      }
    }
    if (out !== null) out.push(m);
    last.set(m.to, { at: (out ?? msgs) === msgs ? i : out!.length - 1, bytes: m.type === MessageType.App ? entriesSizeBytes(m.entries) : 0 });
  }
  return out ?? msgs;
}

/** `m` starts right after `p`'s last entry (or, for an empty `p`, at its prev). */
function continues(p: Message, m: Message): boolean {
  const end = p.entries.length > 0 ? p.entries[p.entries.length - 1]! : { index: p.index, term: p.logTerm };
  return m.index === end.index && m.logTerm === end.term;
}
