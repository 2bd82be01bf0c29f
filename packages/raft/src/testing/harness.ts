// A synchronous in-memory network of RawNodes for the raft package's own tests:
// persist is immediate, delivery is explicit, and every message can be inspected or
// dropped. The full fault-injecting simulation lives in @rangekv/testkit.
import { RawNode } from '../rawnode.js';
import { BOOTSTRAP_INDEX, MemoryStorage, type RaftStorage } from '../storage.js';
import { Prng } from '../prng.js';
import { decodeConfChange } from '../confchange/index.js';
import { parseChanges } from '../confchange/testing.js';
import { emptyMessage } from '../message.js';
import type { RaftConfig } from '../config.js';
import {
  ConfChangeTransition, EntryType, NONE, StateRole,
  type ConfChangeV2, type ConfState, type Entry, type HardState, type Message, type NodeId, type ReadState, type Ready,
} from '../types.js';

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
  /** Nodes whose persistence is held: their Readies wait here until persistHeld/release. */
  private readonly held = new Map<NodeId, { rd: Ready; persisted: boolean }[]>();

  constructor(opts: HarnessOptions = {}) {
    this.opts = opts;
    this.prng = new Prng(opts.seed ?? 1);
    const voters = opts.voters ?? [1, 2, 3];
    const learners = opts.learners ?? [];
    for (const id of [...voters, ...learners]) this.add(id, bootstrapStorage(voters, learners));
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

  /** Crash and restart: the held Readies that were not persisted are lost; `id` is no longer held. */
  crash(id: NodeId): RawNode {
    this.held.delete(id);
    return this.restart(id);
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
      const held = this.held.get(id);
      while (h.node.hasReady()) {
        const rd = h.node.ready();
        n += rd.messages.length + rd.messagesAfterPersist.length;
        this.enqueue(rd.messages); // these do not wait for durability
        if (held) {
          held.push({ rd, persisted: false });
        } else {
          this.persist(h, rd);
          this.ackAndApply(h, rd);
        }
      }
    }
    return n;
  }

  /** Writes a Ready to the node's storage and sends what had to wait for it. No ack. */
  private persist(h: HarnessNode, rd: Ready): void {
    if (rd.snapshot) h.storage.applySnapshot(rd.snapshot);
    h.storage.append(rd.entries);
    if (rd.hardState) h.storage.setHardState(rd.hardState);
    this.enqueue(rd.messagesAfterPersist);
  }

  private ackAndApply(h: HarnessNode, rd: Ready): void {
    h.node.ackPersisted(rd);
    if (rd.snapshot) h.node.appliedTo(rd.snapshot.meta.index);
    for (const e of rd.committedEntries) {
      h.applied.push(e);
      if (e.type === EntryType.ConfChange) {
          const cs = h.node.applyConfChange(decodeConfChange(e.data));
          if (cs) h.confStates.push(cs);
        }
    }
    if (rd.committedEntries.length > 0) h.node.appliedTo(rd.committedEntries[rd.committedEntries.length - 1]!.index);
    h.readStates.push(...rd.readStates);
  }

  // ---- held persistence ------------------------------------------------------------------

  /** From now on `id`'s Readies are taken and their `messages` sent, but nothing is persisted. */
  hold(id: NodeId): void {
    if (!this.held.has(id)) this.held.set(id, []);
  }

  /** The Readies `id` handed out while held, oldest first. */
  heldReadies(id: NodeId): Ready[] {
    return (this.held.get(id) ?? []).map((x) => x.rd);
  }

  /** Makes the held Readies durable and sends their messagesAfterPersist, without acking them. */
  persistHeld(id: NodeId): void {
    const h = this.nodes.get(id)!;
    for (const x of this.held.get(id) ?? []) {
      if (!x.persisted) this.persist(h, x.rd);
      x.persisted = true;
    }
  }

  /** Persists (if not yet), acks and applies the `count` oldest held Readies; `id` stays held. */
  ackHeld(id: NodeId, count: number): void {
    const h = this.nodes.get(id)!;
    const held = this.held.get(id) ?? [];
    for (const x of held.splice(0, count)) {
      if (!x.persisted) this.persist(h, x.rd);
      this.ackAndApply(h, x.rd);
    }
  }

  /** Persists, acks and applies every held Ready in order, and stops holding `id`. */
  release(id: NodeId): void {
    this.ackHeld(id, Infinity);
    this.held.delete(id);
  }

  // ---- messages --------------------------------------------------------------------------

  /** Removes and returns the queued messages matching `pred` (they are not delivered). */
  take(pred: (m: Message) => boolean): Message[] {
    const out = this.queue.filter(pred);
    this.queue = this.queue.filter((m) => !pred(m));
    return out;
  }

  /** Delivers the queued messages matching `pred` now; leaves the rest queued. */
  deliverWhere(pred: (m: Message) => boolean): void {
    for (const m of this.take(pred)) this.deliver(m);
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
    const r = this.get(id).propose(utf8(data));
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

  /** The leader of the highest term any node knows of, or 0. */
  leader(): NodeId {
    let best = 0;
    let bestTerm = -1;
    for (const [id, h] of this.nodes) {
      const s = h.node.status();
      if (s.role === StateRole.Leader && s.term > bestTerm) {
        best = id;
        bestTerm = s.term;
      }
    }
    return best;
  }

  /** Snapshots `id`'s state machine at its applied index and discards the log up to it. */
  compact(id: NodeId): number {
    const h = this.nodes.get(id)!;
    const s = h.node.status();
    h.storage.createSnapshot(s.applied, s.config, utf8(`state@${s.applied}`));
    h.storage.compact(s.applied);
    return s.applied;
  }

  /** Adds a brand-new node with empty storage (it learns the group from the leader). */
  addEmpty(id: NodeId): HarnessNode {
    return this.add(id, new MemoryStorage());
  }
}

/** A new group's storage: the bootstrap snapshot holding the initial membership. */
export function bootstrapStorage(voters: NodeId[], learners: NodeId[] = []): MemoryStorage {
  return MemoryStorage.withMembership({
    voters: voters.slice(), learners: learners.slice(), votersOutgoing: [], learnersNext: [], autoLeave: false,
  });
}

/** A bootstrapped storage for `voters` whose log then holds one empty entry per element of
 *  `terms` (from BOOTSTRAP_INDEX + 1 on), with the given hard state. */
export function storageWithLog(voters: NodeId[], terms: number[], hardState: Partial<HardState> = {}): MemoryStorage {
  const s = bootstrapStorage(voters);
  s.append(terms.map((term, i) => ({ term, index: BOOTSTRAP_INDEX + 1 + i, type: EntryType.Normal, data: new Uint8Array(0) })));
  s.setHardState({ term: terms[terms.length - 1] ?? 0, vote: NONE, commit: BOOTSTRAP_INDEX, ...hardState });
  return s;
}

/** A RawNode over `storage` with the harness defaults (election 10 ticks, heartbeat 1). */
export function rawNode(id: NodeId, storage: RaftStorage, config: Partial<Omit<RaftConfig, 'id' | 'storage'>> = {}): RawNode {
  return new RawNode({ id, storage, prng: new Prng(id), electionTimeoutTicks: 10, heartbeatIntervalTicks: 1, ...config });
}

/** A message with the given fields, every other field empty. */
export function msg(fields: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message {
  return { ...emptyMessage(), ...fields };
}

/** Takes `node`'s Ready, makes it durable in `storage` and acks it; returns it for inspection. */
export function persistReady(node: RawNode, storage: MemoryStorage): Ready {
  const rd = node.ready();
  if (rd.snapshot) storage.applySnapshot(rd.snapshot);
  storage.append(rd.entries);
  if (rd.hardState) storage.setHardState(rd.hardState);
  node.ackPersisted(rd);
  return rd;
}

/** "v4 l3 r1" → a ConfChangeV2 adding voter 4, learner 3 and removing 1. */
export function confChange(changes: string, transition: ConfChangeTransition = ConfChangeTransition.Auto): ConfChangeV2 {
  return { transition, changes: parseChanges(changes), context: new Uint8Array(0) };
}

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
