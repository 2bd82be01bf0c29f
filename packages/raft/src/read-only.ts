// Safe ReadIndex bookkeeping on the leader (Raft thesis §6.4): a read registered at
// commit index C is released once a quorum has answered a heartbeat sent after it,
// which proves no other leader could have committed anything newer meanwhile.
import type { NodeId } from './types.js';

export interface PendingRead {
  index: number;
  /** Who asked: the leader itself or a follower that forwarded the request. */
  from: NodeId;
  ctx: Uint8Array;
  acks: Set<NodeId>;
}

export function ctxKey(ctx: Uint8Array): string {
  return Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString('latin1');
}

export class ReadOnly {
  private byKey = new Map<string, PendingRead>();
  /** In arrival order; a quorum ack for one request also releases every earlier one. */
  private queue: string[] = [];

  size(): number {
    return this.queue.length;
  }

  add(index: number, from: NodeId, ctx: Uint8Array): void {
    const key = ctxKey(ctx);
    if (this.byKey.has(key)) return; // duplicate ctx: the first registration answers it
    this.byKey.set(key, { index, from, ctx, acks: new Set() });
    this.queue.push(key);
  }

  /** Records an ack for ctx; returns the acks so far, or null if ctx is unknown. */
  recvAck(id: NodeId, ctx: Uint8Array): Set<NodeId> | null {
    const r = this.byKey.get(ctxKey(ctx));
    if (!r) return null;
    r.acks.add(id);
    return r.acks;
  }

  /** Releases ctx and every request queued before it. */
  advance(ctx: Uint8Array): PendingRead[] {
    const key = ctxKey(ctx);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done = this.queue.splice(0, at + 1);
    const out: PendingRead[] = [];
    for (const k of done) {
      out.push(this.byKey.get(k)!);
      this.byKey.delete(k);
    }
    return out;
  }

  lastCtx(): Uint8Array | null {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? null : this.byKey.get(k)!.ctx;
  }
}
