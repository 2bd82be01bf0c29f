// A minimal, fault-free, in-memory raft cluster for throughput measurements: persistence
// is immediate (MemoryStorage), delivery is a FIFO queue. No checks, no faults: that is
// the testkit simulation's job. This measures the raft core's own cost.
import { EntryType, MemoryStorage, Prng, RawNode, type Message, type NodeId } from '@rangekv/raft';

export class MiniCluster {
  readonly nodes = new Map<NodeId, RawNode>();
  readonly storages = new Map<NodeId, MemoryStorage>();
  private queue: Message[] = [];
  /** Normal non-empty entries applied, per node. */
  readonly appliedCount = new Map<NodeId, number>();

  constructor(ids: NodeId[], seed: number) {
    const prng = new Prng(seed);
    for (const id of ids) {
      const storage = MemoryStorage.withMembership({ voters: ids.slice(), learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false });
      this.storages.set(id, storage);
      this.nodes.set(id, new RawNode({
        id, storage, prng: prng.fork(), electionTimeoutTicks: 10, heartbeatIntervalTicks: 1,
        maxInflightMsgs: 1024, maxUncommittedEntriesBytes: 1 << 30,
      }));
      this.appliedCount.set(id, 0);
    }
  }

  /** One pass: every node's Ready handled, then every queued message delivered. */
  cycle(): void {
    for (const [id, node] of this.nodes) {
      while (node.hasReady()) {
        const rd = node.ready();
        for (const m of rd.messages) this.queue.push(m);
        const st = this.storages.get(id)!;
        if (rd.snapshot) st.applySnapshot(rd.snapshot);
        st.append(rd.entries);
        if (rd.hardState) st.setHardState(rd.hardState);
        for (const m of rd.messagesAfterPersist) this.queue.push(m);
        node.ackPersisted(rd);
        const ce = rd.committedEntries;
        if (ce.length > 0) {
          let n = 0;
          for (const e of ce) if (e.type === EntryType.Normal && e.data.length > 0) n++;
          this.appliedCount.set(id, this.appliedCount.get(id)! + n);
          node.appliedTo(ce[ce.length - 1]!.index);
        }
      }
    }
    const q = this.queue;
    this.queue = [];
    for (const m of q) this.nodes.get(m.to)?.step(m);
  }

  electLeader(id: NodeId): void {
    this.nodes.get(id)!.campaign();
    for (let i = 0; i < 20; i++) this.cycle();
    if (this.nodes.get(id)!.status().lead !== id) throw new Error('election failed');
  }

  /** Keeps the log short so memory stays flat during long runs. */
  compact(keep: number): void {
    for (const [id, st] of this.storages) {
      const applied = this.nodes.get(id)!.status().applied;
      if (applied - keep > st.firstIndex()) st.compact(applied - keep);
    }
  }
}
