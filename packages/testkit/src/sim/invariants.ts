// Safety invariants checked while the simulation runs. Each check fails at once with a
// SafetyViolation naming the invariant, the node and what was seen, so a failing seed
// stops at the first bad step instead of at a confusing symptom later.
//
// Checked:
//   election-safety     at most one leader per term (every (term, leader) ever seen);
//   entry-identity      two entries with the same index and term hold the same data
//                       (a leader creates one entry per index per term);
//   log-matching        (periodic, over all durable logs) two logs that agree on an
//                       entry's term agree on every earlier entry they both hold;
//   committed-prefix    every node applies exactly the global committed sequence, in
//                       order, without gaps; a node never truncates below its durable commit;
//   state-machine       the state machine digest after applying index i is the same on
//                       every node, and a restored snapshot matches it;
//   hard-state          a durable term never decreases, a durable vote never changes
//                       within a term, a durable commit never decreases;
//   durable-before-ack  vote grants, vote requests (unless earlyVoteRequests) and append
//                       acks leave a node only after what they promise is in its durable
//                       storage; a leader's messages only once its term and self-vote are;
//   applied-le-commit   a node never applies beyond the commit index it was told;
//   leader-completeness an entry a leader of term C declared committed is in the log of
//                       every leader of a term above C (Raft §5.4): checked when a node
//                       becomes leader, against its durable log; catches an unsafe commit
//                       when the next leader is elected, before anything is overwritten
//                       or applied. A leader of an older term may still win late (its
//                       votes were granted before term C began and delivered after the
//                       commit): it cannot commit anything, and is not checked;
//   membership          every node computes the same configuration from the same conf
//                       change entry, and raft's configuration matches the one the state
//                       machine applied (or restored from a snapshot).
import {
  MessageType, messageTypeName, type Entry, type HardState, type MemoryStorage, type Message, type NodeId,
} from '@rangekv/raft';
import { formatTime } from './time.js';

export class SafetyViolation extends Error {
  constructor(readonly invariant: string, readonly detail: string, readonly time: number) {
    super(`safety violation [${invariant}] at t=${formatTime(time)}: ${detail}`);
    this.name = 'SafetyViolation';
  }
}


export function hashBytes(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
  return h >>> 0;
}

function entryHash(e: Entry): number {
  return (hashBytes(e.data) ^ Math.imul(e.type + 1, 0x9e3779b1)) >>> 0;
}

export class Invariants {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** (index, term) -> data hash of every entry any node made durable. */
  private readonly entryHashes = new Map<number, number>();
  /** Terms of the entries leaders declared committed, by index (sparse below a compaction). */
  private readonly leaderCommitted: (number | undefined)[] = [undefined];
  /** The term of the leader that first declared each index committed. */
  private readonly committedInTerm: (number | undefined)[] = [undefined];
  /** Global committed sequence, as first applied by any node. Dense from index 1. */
  private readonly committedTerm: number[] = [0];
  private readonly committedHash: number[] = [0];
  /** State machine digest after applying index i (as first seen). */
  private readonly digestAt = new Map<number, string>();
  private maxTerm = 0;

  /**
   * `earlyVoteRequests`: the nodes' raft sends vote requests before persisting the term
   * they ask for (it then must not lead before that term is durable, checked instead).
   */
  constructor(private readonly now: () => number, private readonly opts: { earlyVoteRequests?: boolean } = {}) {}

  fail(invariant: string, detail: string): never {
    throw new SafetyViolation(invariant, detail, this.now());
  }

  leaders(): ReadonlyMap<number, NodeId> {
    return this.leaderOfTerm;
  }

  /** Highest index known committed (applied somewhere). */
  committedIndex(): number {
    return this.committedTerm.length - 1;
  }

  /** Highest index a leader has committed so far (as its commit index moved). */
  leaderCommittedIndex(): number {
    return this.leaderCommitted.length - 1;
  }

  /**
   * Node `id` answers a read at `index`; when the request reached it, `floorIndex` was
   * already committed by some leader. A read index below that floor lets the read miss a
   * write that finished before the read began: a stale read, whichever key it touches and
   * whether or not a client ever observes the difference (a deposed leader that still
   * trusts its lease is the classic case).
   */
  onReadIndex(id: NodeId, index: number, floorIndex: number, what: string): void {
    if (index < floorIndex) {
      this.fail('read-index-fresh', `n${id} answered ${what} at read index ${index}, but ${floorIndex} was committed before the request reached it`);
    }
  }

  /** Highest term any node reached. */
  highestTerm(): number {
    return this.maxTerm;
  }

  onLeader(id: NodeId, term: number, log?: MemoryStorage): void {
    const prev = this.leaderOfTerm.get(term);
    if (prev !== undefined && prev !== id) {
      this.fail('election-safety', `n${id} became leader of term ${term}, but n${prev} already led term ${term}`);
    }
    this.leaderOfTerm.set(term, id);
    if (term > this.maxTerm) this.maxTerm = term;
    if (log === undefined) return;
    const first = log.firstIndex();
    const last = Math.min(log.lastIndex(), this.leaderCommitted.length - 1);
    for (let i = first; i <= last; i++) {
      const t = this.leaderCommitted[i];
      const c = this.committedInTerm[i];
      if (t !== undefined && c !== undefined && c < term && log.term(i) !== t) {
        this.fail('leader-completeness', `n${id} became leader of term ${term} with ${i}/t${log.term(i)}, but a leader committed ${i}/t${t}`);
      }
    }
  }

  /** A leader's commit index moved to `commit`: the entries up to it (from its durable log) are committed. */
  onLeaderCommit(id: NodeId, term: number, commit: number, log: MemoryStorage): void {
    const from = Math.max(log.firstIndex(), this.leaderCommitted.length);
    for (let i = from; i <= Math.min(commit, log.lastIndex()); i++) {
      this.leaderCommitted[i] = log.term(i);
      this.committedInTerm[i] = term;
    }
    void id;
  }

  /**
   * Before node `id` writes `entries` to `storage`: entry identity, and no truncation at or
   * below its durable commit.
   */
  onPersistEntries(id: NodeId, storage: MemoryStorage, entries: readonly Entry[]): void {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    const commit = storage.hardState.commit;
    for (const e of entries) {
      const key = e.index * 1048576 + e.term;
      const h = entryHash(e);
      const known = this.entryHashes.get(key);
      if (known === undefined) this.entryHashes.set(key, h);
      else if (known !== h) {
        this.fail('entry-identity', `n${id} persists entry ${e.index}/t${e.term} whose data differs from another copy of ${e.index}/t${e.term}`);
      }
      if (e.index >= first && e.index <= last && e.index <= commit) {
        const have = storage.term(e.index);
        if (have !== e.term) {
          this.fail('committed-prefix', `n${id} overwrites entry ${e.index} (t${have} -> t${e.term}) at or below its durable commit ${commit}`);
        }
      }
    }
  }

  onPersistHardState(id: NodeId, prev: HardState, next: HardState): void {
    if (next.term < prev.term) this.fail('hard-state', `n${id} durable term went back ${prev.term} -> ${next.term}`);
    if (next.term === prev.term && prev.vote !== 0 && next.vote !== prev.vote) {
      this.fail('hard-state', `n${id} changed its durable vote in term ${next.term}: n${prev.vote} -> n${next.vote}`);
    }
    if (next.commit < prev.commit) this.fail('hard-state', `n${id} durable commit went back ${prev.commit} -> ${next.commit}`);
    if (next.term > this.maxTerm) this.maxTerm = next.term;
  }

  /** Durable hard state of each node when it last crashed. */
  private readonly atCrash = new Map<NodeId, HardState>();

  onCrash(id: NodeId, durable: HardState): void {
    this.atCrash.set(id, { ...durable });
  }

  /** A restarted node must come back with exactly the term and vote it had made durable. */
  onRestart(id: NodeId, term: number, vote: NodeId, commit: number): void {
    const before = this.atCrash.get(id);
    if (before === undefined) return;
    if (term !== before.term || vote !== before.vote) {
      this.fail('hard-state', `n${id} restarted with term ${term} vote n${vote}, but before the crash its durable state was term ${before.term} vote n${before.vote}`);
    }
    if (commit < before.commit) this.fail('hard-state', `n${id} restarted with commit ${commit} below its durable ${before.commit}`);
  }

  /** A message is about to leave node `from` whose durable state is `storage`. */
  onSend(m: Message, storage: MemoryStorage): void {
    const hs = storage.hardState;
    switch (m.type) {
      case MessageType.Vote:
        if (this.opts.earlyVoteRequests === true) break;
        if (hs.term < m.term || (hs.term === m.term && hs.vote !== m.from)) {
          this.fail('durable-before-ack', `n${m.from} asks for votes in term ${m.term} but its durable state is term ${hs.term} vote n${hs.vote}`);
        }
        break;
      case MessageType.App:
      case MessageType.Heartbeat:
      case MessageType.Snap:
      case MessageType.TimeoutNow:
        // A leader leads only on a term it cannot forget: its term and self-vote are durable.
        if (hs.term !== m.term || hs.vote !== m.from) {
          this.fail('durable-before-ack', `n${m.from} leads term ${m.term} (sends ${messageTypeName(m.type)}) but its durable state is term ${hs.term} vote n${hs.vote}`);
        }
        break;
      case MessageType.VoteResp:
        if (!m.reject && (hs.term < m.term || (hs.term === m.term && hs.vote !== m.to))) {
          this.fail('durable-before-ack', `n${m.from} grants its term-${m.term} vote to n${m.to} but its durable state is term ${hs.term} vote n${hs.vote}`);
        }
        break;
      case MessageType.AppResp:
        if (!m.reject && storage.lastIndex() < m.index) {
          this.fail('durable-before-ack', `n${m.from} acks index ${m.index} to n${m.to} but its durable log ends at ${storage.lastIndex()}`);
        }
        break;
    }
  }

  /** Node `id` applies `e`; `applied` is its applied index before, `commit` the highest commit it was told. */
  onApply(id: NodeId, e: Entry, applied: number, commit: number): void {
    if (e.index !== applied + 1) {
      this.fail('committed-prefix', `n${id} applies entry ${e.index} right after ${applied} (gap or repeat)`);
    }
    if (e.index > commit) this.fail('applied-le-commit', `n${id} applies entry ${e.index} above its commit index ${commit}`);
    const h = entryHash(e);
    if (e.index < this.committedTerm.length) {
      const t = this.committedTerm[e.index]!;
      if (t !== e.term || this.committedHash[e.index] !== h) {
        this.fail('committed-prefix', `n${id} applies ${e.index}/t${e.term} but ${e.index}/t${t} was committed (applied elsewhere)${t === e.term ? ' with different data' : ''}`);
      }
    } else if (e.index === this.committedTerm.length) {
      this.committedTerm.push(e.term);
      this.committedHash.push(h);
    } else {
      // This node learned of a commit beyond what anyone applied; it must have applied
      // everything before (checked above), so the global sequence has a hole only if
      // nodes restored snapshots past it: record nothing, later nodes fill it.
    }
  }

  /** After applying (or restoring) up to `index`, the state machine digest is `digest`. */
  onState(id: NodeId, index: number, digest: string, how: 'apply' | 'snapshot'): void {
    const known = this.digestAt.get(index);
    if (known === undefined) this.digestAt.set(index, digest);
    else if (known !== digest) {
      this.fail('state-machine', `n${id} state after ${how} at index ${index} is ${digest}, another node had ${known}`);
    }
  }

  /** Configuration after each applied conf change index (as first seen). */
  private readonly confAt = new Map<number, string>();

  onConfChange(id: NodeId, index: number, conf: string): void {
    const known = this.confAt.get(index);
    if (known === undefined) this.confAt.set(index, conf);
    else if (known !== conf) {
      this.fail('membership', `n${id} applied the conf change at ${index} and got ${conf}, another node got ${known}`);
    }
  }

  /** Raft's configuration must be the one the node's state machine is at. */
  checkConfig(id: NodeId, applied: number, raftConf: string, appliedConf: string): void {
    if (raftConf !== appliedConf) {
      this.fail('membership', `n${id} at applied index ${applied}: raft's configuration is ${raftConf} but the applied one is ${appliedConf}`);
    }
  }

  /** A snapshot restored at index/term must agree with the committed sequence. */
  onSnapshotRestore(id: NodeId, index: number, term: number): void {
    if (index > 0 && index < this.committedTerm.length && this.committedTerm[index] !== term) {
      this.fail('committed-prefix', `n${id} restores a snapshot at ${index}/t${term} but ${index}/t${this.committedTerm[index]} was committed`);
    }
  }

  /** Log matching over every pair of durable logs. */
  checkLogMatching(logs: ReadonlyMap<NodeId, MemoryStorage>): void {
    const ids = [...logs.keys()].sort((a, b) => a - b);
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) {
        const a = logs.get(ids[i]!)!;
        const b = logs.get(ids[j]!)!;
        const lo = Math.max(a.firstIndex(), b.firstIndex());
        const hi = Math.min(a.lastIndex(), b.lastIndex());
        if (hi < lo) continue;
        let top = -1;
        for (let k = hi; k >= lo; k--) {
          if (a.term(k) === b.term(k)) {
            top = k;
            break;
          }
        }
        if (top < 0) continue;
        const ea = a.entries(lo, top + 1, Infinity);
        const eb = b.entries(lo, top + 1, Infinity);
        for (let k = 0; k < ea.length; k++) {
          const x = ea[k]!;
          const y = eb[k]!;
          if (x.term !== y.term || entryHash(x) !== entryHash(y)) {
            this.fail('log-matching', `n${ids[i]} and n${ids[j]} agree on entry ${top}/t${a.term(top)} but differ at ${x.index} (t${x.term} vs t${y.term})`);
          }
        }
      }
    }
  }
}
