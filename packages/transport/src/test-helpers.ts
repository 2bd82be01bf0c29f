// Helpers for this package's tests: message builders, a few transports on 127.0.0.1
// that record what they receive, and event waits (bounded, never timing assertions).
import { emptyMessage, MessageType, Prng, type Entry, type Message, type Snapshot } from '@rangekv/raft';
import { RaftTransport, type RaftTransportOptions } from './transport.js';
import type { TransportFaults } from './faults.js';
import type { TransportLimits } from './limits.js';
import type { RangeMessage } from './types.js';

export function msg(fields: Partial<Message>): Message {
  return { ...emptyMessage(), ...fields };
}

export function heartbeat(from: number, to: number, term: number, commit: number, stamp: number, context: Uint8Array | null = null): Message {
  return msg({ type: MessageType.Heartbeat, from, to, term, commit, index: stamp, context });
}

export function heartbeatResp(from: number, to: number, term: number, stamp: number, context: Uint8Array | null = null): Message {
  return msg({ type: MessageType.HeartbeatResp, from, to, term, index: stamp, context });
}

export function bytes(prng: Prng, maxLen: number): Uint8Array {
  const b = new Uint8Array(prng.int(maxLen + 1));
  for (let i = 0; i < b.length; i++) b[i] = prng.int(256);
  return b;
}

/** A message of `type` with every field its type can carry filled at random. */
export function randomMessage(prng: Prng, type: MessageType): Message {
  const n = (): number => prng.int(1000);
  const m = msg({ type, from: 1 + prng.int(9), to: 1 + prng.int(9), term: n(), logTerm: n(), index: n(), commit: n() });
  if (prng.chance(0.3)) m.reject = true;
  if (prng.chance(0.3)) m.rejectHint = n();
  if (prng.chance(0.3)) m.transfer = true;
  if (type === MessageType.App) {
    const entries: Entry[] = [];
    for (let i = prng.int(5); i > 0; i--) entries.push({ term: n(), index: n(), type: prng.chance(0.2) ? 1 : 0, data: bytes(prng, 64) });
    m.entries = entries;
  }
  if (type === MessageType.Snap) {
    const snap: Snapshot = {
      meta: {
        index: n(), term: n(),
        confState: { voters: [1, 2, 3], learners: prng.chance(0.5) ? [4] : [], votersOutgoing: prng.chance(0.5) ? [1, 2, 5] : [], learnersNext: prng.chance(0.5) ? [5] : [], autoLeave: prng.chance(0.5) },
      },
      data: bytes(prng, 256),
    };
    m.snapshot = snap;
  }
  if (prng.chance(0.5)) m.context = bytes(prng, 16);
  return m;
}

export const ALL_MESSAGE_TYPES: MessageType[] = Object.values(MessageType);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until true; throws after `limitMs` (a hang guard, not an assertion about speed). */
export async function waitFor(cond: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** A transport plus everything it received, batch by batch. */
export interface Node {
  id: number;
  t: RaftTransport;
  batches: Array<{ from: number; msgs: RangeMessage[] }>;
  unreachable: number[];
  /** Replaces the default recorder-only behaviour: runs after recording. */
  onBatch: ((from: number, msgs: ReadonlyArray<RangeMessage>) => void) | null;
  received(): RangeMessage[];
}

export class Cluster {
  readonly addrs = new Map<number, string>();
  readonly nodes = new Map<number, Node>();

  constructor(private readonly limits: Partial<TransportLimits> = {}, private readonly faults?: TransportFaults) {}

  async start(id: number, port = 0): Promise<Node> {
    const node: Node = {
      id, t: null as unknown as RaftTransport, batches: [], unreachable: [], onBatch: null,
      received: () => node.batches.flatMap((b) => b.msgs),
    };
    const opts: RaftTransportOptions = {
      storeId: id, listenPort: port, resolve: (s) => this.addrs.get(s), limits: this.limits,
    };
    if (this.faults) opts.faults = this.faults;
    node.t = await RaftTransport.start(opts, (from, msgs) => {
      node.batches.push({ from, msgs: [...msgs] });
      node.onBatch?.(from, msgs);
    });
    node.t.onUnreachable((s) => node.unreachable.push(s));
    this.addrs.set(id, `127.0.0.1:${node.t.port}`);
    this.nodes.set(id, node);
    return node;
  }

  node(id: number): Node {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  async stop(id: number): Promise<void> {
    await this.node(id).t.stop();
    this.nodes.delete(id);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.t.stop()));
    this.nodes.clear();
  }
}

/** Sends `m` for each range in `rangeIds` from a to b, flushes, waits until b has them. */
export async function exchange(from: Node, to: Node, items: Array<{ rangeId: number; msg: Message }>): Promise<RangeMessage[]> {
  const before = to.received().length;
  for (const { rangeId, msg: m } of items) {
    if (!from.t.send(to.id, rangeId, m)) throw new Error(`send ${from.id}->${to.id} range ${rangeId} refused`);
  }
  from.t.flush();
  await waitFor(() => to.received().length >= before + items.length, `${items.length} messages ${from.id}->${to.id}`);
  return to.received().slice(before);
}
