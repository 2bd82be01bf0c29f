// One simulated raft node: its durable storage (a MemoryStorage that survives crashes),
// the live RawNode (gone while crashed), the KV state machine, and the queues of work the
// driver has not finished yet (persist jobs, apply jobs, reads waiting for apply).
import {
  MemoryStorage, type ConfState, type Entry, type HardState, type NodeId, type RaftStorage, type RawNode,
  type Ready, type Snapshot, type StateRole,
} from '@rangekv/raft';
import type { KvOp } from '../history.js';
import { KvStateMachine } from './kv-state-machine.js';

export type NodeStatus = 'up' | 'paused' | 'crashed' | 'destroyed';

/** A client's request as it reaches a node. */
export interface ClientRequest {
  client: number;
  /** History id of the operation. */
  opId: number;
  /** Retry number of this operation (responses to older attempts are ignored). */
  attempt: number;
  /** Write sequence number (dedup key with `client`); 0 for reads. */
  seq: number;
  op: KvOp;
}

export interface PendingWrite {
  req: ClientRequest;
  index: number;
  term: number;
}

export class SimNode {
  /** Durable state: what survives a crash. */
  readonly storage: MemoryStorage;
  raw: RawNode | null = null;
  status: NodeStatus = 'crashed';
  /** Bumped on every crash; events stamped with an older value are stale. */
  incarnation = 0;

  sm = new KvStateMachine();
  applied = 0;
  /** Membership as of `applied`. */
  confState: ConfState;
  /** Highest commit index this incarnation was told (from Ready.hardState). */
  commitSeen = 0;
  role: StateRole = 0;
  lead: NodeId = 0;

  /** Readies handed out and not yet persisted, oldest first. */
  readonly persistJobs: Ready[] = [];
  persistDueAt = 0;
  /** Readies with committed entries or a snapshot to apply, oldest first. */
  readonly applyJobs: Ready[] = [];
  applyDueAt = 0;

  readonly pendingWrites = new Map<number, PendingWrite>();
  readonly pendingReads = new Map<string, ClientRequest>();
  /** Reads with a read index, waiting for applied >= index. */
  readyReads: { index: number; req: ClientRequest }[] = [];

  /** While paused: ticks not yet delivered. */
  missedTicks = 0;
  /** Clock drift: ticks per simulated tick, and the fraction carried over. */
  clockRate = 1;
  clockAcc = 0;

  constructor(readonly id: NodeId, storage: MemoryStorage) {
    this.storage = storage;
    this.confState = storage.snapshot().meta.confState;
  }

  /** Forgets everything that is not durable (a crash). */
  dropVolatile(): void {
    this.raw = null;
    this.incarnation++;
    this.persistJobs.length = 0;
    this.applyJobs.length = 0;
    this.pendingWrites.clear();
    this.pendingReads.clear();
    this.readyReads = [];
    this.missedTicks = 0;
    this.sm = new KvStateMachine();
    this.applied = 0;
    this.commitSeen = 0;
    this.role = 0;
    this.lead = 0;
  }

  /** Restores volatile state from durable storage before a new RawNode starts. */
  loadFromStorage(): void {
    const snap = this.storage.snapshot();
    this.sm = KvStateMachine.fromSnapshot(snap.data);
    this.applied = snap.meta.index;
    this.confState = snap.meta.confState;
    this.commitSeen = Math.max(this.storage.hardState.commit, snap.meta.index);
  }

  /** Replaces the state machine with a snapshot's state (after the snapshot is durable). */
  loadSnapshot(snap: Snapshot): void {
    this.sm = KvStateMachine.fromSnapshot(snap.data);
    this.applied = snap.meta.index;
    this.confState = snap.meta.confState;
  }

  /**
   * Makes the stored snapshot current (state machine at `applied`) if it is behind, the
   * way a store builds a range snapshot when a follower needs one. Without this a leader
   * can only send the last snapshot compaction made, which may predate a new member.
   */
  /** Inside RawNode.applyConfChange (see refreshSnapshot). */
  applyingConfChange = false;

  refreshSnapshot(): void {
    const st = this.storage;
    // Raft may ask for a snapshot from inside applyConfChange (it replicates under the new
    // configuration at once). The entry is counted in `applied` but its membership is not
    // in `confState` yet, so a snapshot now would pair index N with the config before N
    // (seed 39823). Keep the previous snapshot instead, as a store's storage does.
    if (this.applyingConfChange) return;
    if (this.status !== 'up' || this.applied <= st.snapshot().meta.index) return;
    if (this.applied > st.lastIndex() || this.applied < st.firstIndex()) return;
    st.createSnapshot(this.applied, structuredClone(this.confState), this.sm.encodeSnapshot());
  }

  isUp(): boolean {
    return this.status === 'up';
  }

  /** Alive in the process sense (up or paused): has a RawNode. */
  isAlive(): boolean {
    return this.status === 'up' || this.status === 'paused';
  }
}

export function isMember(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.learners.includes(id) || cs.votersOutgoing.includes(id) || cs.learnersNext.includes(id);
}

export function isVoter(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.votersOutgoing.includes(id);
}

export function formatConf(cs: ConfState): string {
  let s = `voters=[${cs.voters.join(',')}]`;
  if (cs.votersOutgoing.length > 0) s += ` outgoing=[${cs.votersOutgoing.join(',')}]`;
  if (cs.learners.length > 0) s += ` learners=[${cs.learners.join(',')}]`;
  if (cs.learnersNext.length > 0) s += ` learnersNext=[${cs.learnersNext.join(',')}]`;
  if (cs.autoLeave) s += ' autoLeave';
  return s;
}

/** The RaftStorage a node's RawNode reads: its MemoryStorage, with snapshots made on demand. */
export class OnDemandSnapshotStorage implements RaftStorage {
  constructor(private readonly node: SimNode) {}
  initialState(): { hardState: HardState; confState: ConfState } {
    return this.node.storage.initialState();
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.node.storage.entries(lo, hi, maxBytes);
  }
  term(index: number): number {
    return this.node.storage.term(index);
  }
  firstIndex(): number {
    return this.node.storage.firstIndex();
  }
  lastIndex(): number {
    return this.node.storage.lastIndex();
  }
  snapshot(): Snapshot {
    this.node.refreshSnapshot();
    return this.node.storage.snapshot();
  }
}
