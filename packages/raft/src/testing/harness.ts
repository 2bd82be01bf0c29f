// A synchronous in-memory network of RawNodes for the raft package's own tests:
// persist is immediate, delivery is explicit, and every message can be inspected or
// dropped. The full fault-injecting simulation lives in @rangekv/testkit.
import { RawNode } from '../rawnode.js';
import { MemoryStorage } from '../storage.js';
import { Prng } from '../prng.js';
import { decodeConfChange } from '../confchange/index.js';
import type { RaftConfig } from '../config.js';
import { EntryType, type ConfState, type Entry, type Message, type NodeId, type ReadState } from '../types.js';

export interface HarnessOptions {
  voters?: NodeId[];
  learners?: NodeId[];
  seed?: number;
  config?: Partial<Omit<RaftConfig, 'id' | 'storage' | 'prng'>>;
}

export interface HarnessNode {
  node: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
  confStates: ConfState[];
}

export class Harness {
  readonly nodes = new Map<NodeId, HarnessNode>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  /** Links that drop everything: `${from}->${to}`. */
  readonly cut = new Set<string>();
  /** Optional filter: return false to drop a message. */
  filter: ((m: Message) => boolean) | null = null;
  private readonly prng: Prng;
  private readonly opts: HarnessOptions;

  constructor(opts: HarnessOptions = {}) {
    this.opts = opts;
    this.prng = new Prng(opts.seed ?? 1);
    const voters = opts.voters ?? [1, 2, 3];
    const learners = opts.learners ?? [];
    for (const id of [...voters, ...learners]) {
      const storage = MemoryStorage.withMembership({ voters: voters.slice(), learners: learners.slice(), votersOutgoing: [], learnersNext: [], autoLeave: false });
      this.add(id, storage);
    }
  }

  /** Adds (or restarts) a node over the given storage. */
  add(id: NodeId, storage: MemoryStorage, applied = 0): HarnessNode {
    const node = new RawNode({
      id, storage, prng: this.prng.fork(), electionTimeoutTicks: 10, heartbeatIntervalTicks: 1,
      applied, ...this.opts.config,
    });
    const h: HarnessNode = { node, storage, applied: [], readStates: [], confStates: [] };
    this.nodes.set(id, h);
    return h;
  }

  get(id: NodeId): RawNode {
    const h = this.nodes.get(id);
    if (!h) throw new Error(`no node ${id}`);
    return h.node;
  }

  /** Restart: a new RawNode over the same (durable) storage. */
  restart(id: NodeId): RawNode {
    const old = this.nodes.get(id)!;
    return this.add(id, old.storage, old.storage.snapshot().meta.index).node;
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Processes every node's Ready once: persist at once, ack, apply. Returns messages produced. */
  processReadies(): number {
    let n = 0;
    for (const [id, h] of [...this.nodes].sort((a, b) => a[0] - b[0])) {
      while (h.node.hasReady()) {
        const rd = h.node.ready();
        this.enqueue(rd.messages);
        if (rd.snapshot) h.storage.applySnapshot(rd.snapshot);
        h.storage.append(rd.entries);
        if (rd.hardState) h.storage.setHardState(rd.hardState);
        this.enqueue(rd.messagesAfterPersist);
        h.node.ackPersisted(rd);
        if (rd.snapshot) h.node.appliedTo(rd.snapshot.meta.index);
        for (const e of rd.committedEntries) {
          h.applied.push(e);
          if (e.type === EntryType.ConfChange) h.confStates.push(h.node.applyConfChange(decodeConfChange(e.data)));
        }
        if (rd.committedEntries.length > 0) h.node.appliedTo(rd.committedEntries[rd.committedEntries.length - 1]!.index);
        h.readStates.push(...rd.readStates);
        n += rd.messages.length + rd.messagesAfterPersist.length;
        void id;
      }
    }
    return n;
  }

  private enqueue(ms: Message[]): void {
    for (const m of ms) this.queue.push(m);
  }

  /** Delivers queued messages (and those they cause) until the network is quiet. */
  settle(maxRounds = 1000): void {
    for (let i = 0; i < maxRounds; i++) {
      this.processReadies();
      if (this.queue.length === 0) return;
      const q = this.queue;
      this.queue = [];
      for (const m of q) this.deliver(m);
    }
    throw new Error('harness did not settle');
  }

  deliver(m: Message): void {
    if (this.cut.has(`${m.from}->${m.to}`)) return;
    if (this.filter && !this.filter(m)) return;
    const h = this.nodes.get(m.to);
    if (!h) return;
    h.node.step(m);
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) this.get(id).tick();
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const h of this.nodes.values()) h.node.tick();
      this.settle();
    }
  }

  /** Makes `id` leader by campaigning and settling. */
  elect(id: NodeId): void {
    this.get(id).campaign();
    this.settle();
    const s = this.get(id).status();
    if (s.lead !== id) throw new Error(`node ${id} failed to become leader (lead=${s.lead}, term=${s.term})`);
  }

  /** Proposes on `id` and settles; returns the index. */
  put(id: NodeId, data: string): number {
    const r = this.get(id).propose(new TextEncoder().encode(data));
    if (!r.ok) throw new Error(`proposal dropped: ${r.reason} ${r.detail}`);
    this.settle();
    return r.index;
  }

  /** Payloads applied by `id`, as strings (empty entries skipped). */
  appliedData(id: NodeId): string[] {
    const out: string[] = [];
    for (const e of this.nodes.get(id)!.applied) {
      if (e.type === EntryType.Normal && e.data.length > 0) out.push(new TextDecoder().decode(e.data));
    }
    return out;
  }
}
