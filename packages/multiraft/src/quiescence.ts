// Quiescence: when a range is idle its raft group stops ticking, so 10,000 idle ranges
// cost nothing per tick (no elections timers counting, no heartbeats). Modelled on
// CockroachDB's quiescence; the decisions are pure functions of plain data, here.
//
// Leader side. On a Ready that is exactly one heartbeat broadcast (raft's own heartbeats,
// produced by tick), the leader quiesces when the group is idle:
//   - it leads, no leadership transfer, no joint configuration, nothing pending (no
//     proposals waiting, no reads, no apply running, no snapshot ingest), and it has been
//     idle (no proposal / admin call / wake) for quiesceIdleTicks;
//   - lastIndex == commit == applied, and every other member (voters and learners) has
//     match == lastIndex (raft's progress), except members on a store that is not live,
//     as long as the live voters caught up are a quorum (a lagging member is woken for
//     when its store is heard again);
//   - the service agrees (kv-store.ts: no reads pending).
// Those heartbeats then go out flagged `quiesce` and the group leaves the ticking set.
//
// Follower side. A heartbeat flagged quiesce from the leader we know, at our term, with
// our log exactly at its commit (lastIndex == msg.commit) and nothing pending here but
// applies, quiesces us WITHOUT answering it (an answer would wake the leader again); a
// commit it carries that we did not know yet is taken (the host's raft broadcasts
// commits lazily, so this is how followers of an idle group learn the last one) and
// applied while quiescent. Any other case ignores the flag and steps it as a heartbeat; the
// answer wakes the leader, which keeps heartbeating, so a follower that refused never
// ends up with a silent leader.
//
// Waking. Any proposal, admin call (withNode: reads, conf changes, transfers) or inbound
// raft message other than an accepted quiesce heartbeat or a late ack wakes the group: it
// rejoins the ticking set. A late ack is an answer, arriving at a quiescent leader, to
// what it sent before quiescing: a HeartbeatResp echoing an older stamp than the quiesce
// heartbeats' (a follower that REFUSED echoes the quiesce stamp itself, and wakes the
// leader), or an accepted AppResp. The leader steps it and stays quiescent unless raft
// then has something to do (a Ready). Without this, under load every answer that
// arrives after the quiesce decision woke the group again (measured: as many wakes as
// quiesces). A woken leader heartbeats at once (a ReadIndex with WAKE_READ_CTX: the
// one raft call that broadcasts a heartbeat now; its ReadState is ignored) so followers
// wake, unless it woke for a proposal raft accepted or a read that sends a quorum round:
// the append or the read's heartbeats wake them (RaftScheduler.wakeFor). A
// follower woken by anything but its leader forwards the same ReadIndex to the
// leader so the leader wakes before the follower's election timer runs out. A quiescent
// follower whose leader's store was declared down (store-liveness.ts) is woken with
// catch-up ticks: as many as the real ticks it spent quiescent (at most an election
// timeout), which never count faster than real time, so it can campaign without
// waiting a full election timeout from the wake.
import { MessageType, StateRole, type Message, type RaftStatus, type Ready } from '@rangekv/raft';

/** ReadIndex context of wake-up reads: 1 byte, so it never equals a real read's (16 bytes, pending-reads.ts). */
export const WAKE_READ_CTX: Uint8Array = Uint8Array.of(0x77);

export function isWakeReadCtx(ctx: Uint8Array | null): boolean {
  return ctx !== null && ctx.length === 1 && ctx[0] === 0x77;
}

/** Why a group was woken (stats, logs). */
export type WakeReason =
  | 'proposal' | 'admin' | 'leader-message' | 'message' | 'follower-store-down' | 'follower-store-up' | 'leader-store-down'
  | 'led-before-restart';

/**
 * How many heartbeats the Ready holds when it is only a heartbeat broadcast without a
 * ReadIndex context (one heartbeat per member, nothing to persist, apply or answer);
 * -1 when it holds anything else.
 */
export function plainHeartbeatCount(rd: Ready): number {
  if (rd.softState !== null || rd.hardState !== null || rd.snapshot !== null) return -1;
  if (rd.entries.length > 0 || rd.committedEntries.length > 0 || rd.readStates.length > 0) return -1;
  if (rd.messagesAfterPersist.length > 0 || rd.messages.length === 0) return -1;
  const seen = new Set<number>();
  for (const m of rd.messages) {
    if (m.type !== MessageType.Heartbeat || m.context !== null || seen.has(m.to)) return -1;
    seen.add(m.to);
  }
  return seen.size;
}

/**
 * Raft's side of "the leader may quiesce": see the file comment. `absent(id)`: the member's
 * store is not live; such a member may lag (it is caught up when its store is heard
 * again: RaftHost.onStoreUp), as long as the live voters caught up form a quorum.
 */
export function leaderStatusQuiescent(st: RaftStatus, absent: (id: number) => boolean = () => false): boolean {
  if (st.role !== StateRole.Leader || st.leadTransferee !== 0 || st.progress === null) return false;
  if (st.config.votersOutgoing.length > 0 || st.config.learnersNext.length > 0) return false;
  if (st.lastIndex !== st.commit || st.commit !== st.applied) return false;
  const members = st.config.voters.length + st.config.learners.length;
  if (st.progress.size !== members) return false;
  let votersCaughtUp = 0;
  for (const [id, pr] of st.progress) {
    const away = id !== st.id && absent(id);
    const caughtUp = id === st.id || pr.match === st.lastIndex;
    if (!caughtUp && !away) return false;
    if (caughtUp && !away && st.config.voters.includes(id)) votersCaughtUp++;
  }
  // A quorum of live voters caught up: a leader cut off from its quorum stays awake, so
  // check-quorum steps it down.
  return votersCaughtUp * 2 > st.config.voters.length;
}

/** At a quiescent leader whose quiesce heartbeats carried `quiesceStamp`: an answer to something older. */
export function isLateAck(m: Message, quiesceStamp: number): boolean {
  return (m.type === MessageType.HeartbeatResp && m.index < quiesceStamp) || (m.type === MessageType.AppResp && !m.reject);
}

/**
 * Raft's side of "a follower may accept quiesce heartbeat `m`": see the file comment. Its
 * log must hold exactly the leader's commit; its own commit may be behind (the leader
 * broadcasts commits lazily: the quiesce heartbeat carries the last one, taken with
 * RawNode.commitFromQuiesce, and applied while quiescent).
 */
export function followerStatusQuiescent(st: RaftStatus, m: Message): boolean {
  return st.role === StateRole.Follower && m.type === MessageType.Heartbeat &&
    st.term === m.term && st.lead === m.from &&
    st.lastIndex === m.commit && st.commit <= m.commit;
}
