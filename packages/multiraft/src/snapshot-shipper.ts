// Snapshots between stores: the sending side (raft's Snap -> a consistent view of the
// range -> the transport's snapshot call -> raft's snapshot status) and the receiving side
// (checks -> staged durably by the engine -> the Snap message stepped with a SnapshotRef).
//
// Sender. Raft's Snap carries only a *build request* (storage README): the shipper opens
// `engine.snapshotSource(rangeId)` and sends the meta that view captured (`src.meta`, maybe
// newer than raft's; raft's leader uses its own index only as a floor). When the receiver
// acks, `reportSnapshot(to, true)`; on any failure `reportSnapshot(to, false)` (raft probes
// again and asks for a new snapshot later). One send per (range, target) at a time.
//
// Receiver. Refuses (a typed SnapshotStreamError, never a crash): a header that does not
// decode or disagrees with the message; a sender the range does not place on that store;
// a target that is not this store's replica; a snapshot not newer than the replica's commit;
// a span overlapping another range on this store (a split or merge this store has not seen:
// the conflicting snapshot is dropped, as CockroachDB does); a second snapshot for a range
// already receiving one. A message for a range not here creates an uninitialized replica
// (bounded). After the last chunk is staged, the Snap is stepped with `data` = the encoded
// SnapshotRef naming the staging dir; the scheduler's snapshot path (Ready with snapshot ->
// engine.persistReady) ingests it. Staging left unused (raft did not take it, failure,
// superseded) is removed.
import { MessageType, type Message } from '@rangekv/raft';
import {
  DecodeError, SnapshotError, decodeSnapshotHeader, keyInSpan, spansOverlap,
  type SnapshotHeader, type SnapshotReceiver, type SnapshotSource, type StorageEngine,
} from '@rangekv/storage';
import { SnapshotStreamError, type SnapshotSink, type SnapshotStartFrame } from '@rangekv/transport';
import type { RangeDescriptor } from '@rangekv/proto';
import { realClock, type HostClock } from './host-clock.js';
import type { HostTransport } from './host-transport.js';
import type { Logger } from '@rangekv/runtime';
import type { RaftScheduler } from './raft-scheduler.js';
import type { Replica } from './replica.js';
import type { UninitializedReplicas } from './uninitialized-replicas.js';

export interface SnapshotCounters {
  snapshotsSent: number;
  snapshotBytesSent: number;
  /** Sends that failed (refused, broken, timed out, source not buildable). */
  snapshotSendsFailed: number;
  /** Sends refused at once: maxConcurrentSnapshotSends reached. Also counted as failed. */
  snapshotSendsThrottled: number;
  snapshotsReceived: number;
  snapshotBytesReceived: number;
  /** Receives refused or broken (including bad input). */
  snapshotReceivesFailed: number;
  /** Received and stepped, but raft did not need it (already caught up); staging dropped. */
  snapshotsReceivedUnused: number;
}

export interface SnapshotShipperDeps<R> {
  storeId: number;
  engine: StorageEngine;
  scheduler: RaftScheduler<R>;
  transport: () => HostTransport;
  /** Turns; default realClock. */
  clock?: HostClock;
  uninit: UninitializedReplicas<R>;
  log: Logger;
  isStopping: () => boolean;
  /**
   * A snapshot of `byRangeId` was refused because it covers range `rangeId` here with a
   * higher version: `rangeId` merged into it and this replica missed the merge. Destroy it.
   */
  onSubsumed?(rangeId: number, byRangeId: number): void;
  /**
   * A snapshot was refused because it overlaps the descriptor of range `rangeId` here (the
   * host asks replica GC whether that replica was removed while away: replica-gc.ts).
   */
  onOverlap?: (rangeId: number) => void;
  /** Where to count (the store's counters object); default: a private one. */
  counters?: SnapshotCounters;
}

interface Span {
  startKey: Uint8Array;
  endKey: Uint8Array;
}

interface Staged extends Span {
  rangeId: number;
  index: number;
  rx: SnapshotReceiver;
}

function confEqual(a: SnapshotHeader['confState'], b: SnapshotHeader['confState']): boolean {
  const eq = (x: readonly number[], y: readonly number[]): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  return eq(a.voters, b.voters) && eq(a.learners, b.learners) && eq(a.votersOutgoing, b.votersOutgoing) &&
    eq(a.learnersNext, b.learnersNext) && a.autoLeave === b.autoLeave;
}

export class SnapshotShipper<R> {
  readonly counters: SnapshotCounters;
  /** `${rangeId}/${to}` of sends in flight. */
  private readonly sending = new Map<string, Promise<void>>();
  /** Ranges receiving a snapshot now, with the span each will cover. */
  private readonly receiving = new Map<number, Span>();
  /** Staged snapshots handed to raft, until their range's applied index passes them. */
  private readonly staged = new Map<string, Staged>();
  /** Test hook: refuse this many incoming snapshots (as a store that cannot take them would). */
  refuseNextReceives = 0;

  constructor(private readonly d: SnapshotShipperDeps<R>) {
    this.counters = d.counters ?? {
      snapshotsSent: 0, snapshotBytesSent: 0, snapshotSendsFailed: 0, snapshotSendsThrottled: 0,
      snapshotsReceived: 0, snapshotBytesReceived: 0, snapshotReceivesFailed: 0, snapshotsReceivedUnused: 0,
    };
  }

  // ---- sender ----

  /** Raft wants `m` (a Snap of `replica`) delivered to `toStore`. */
  send(replica: Replica<R>, m: Message, toStore: number): void {
    const key = `${replica.rangeId}/${m.to}`;
    if (this.sending.has(key)) return; // the running send reports the outcome
    const rangeId = replica.rangeId;
    const nodeId = replica.node.id;
    const report = (ok: boolean): void => {
      if (this.d.isStopping()) return;
      this.d.scheduler.withNode(rangeId, (r) => {
        if (r === replica && r.node.id === nodeId) r.node.reportSnapshot(m.to, ok);
      });
    };
    let src: SnapshotSource;
    try {
      src = this.d.engine.snapshotSource(rangeId);
    } catch (e) {
      this.counters.snapshotSendsFailed++;
      this.d.log.warn('cannot build a snapshot to send', { rangeId, to: m.to, err: e });
      // Report on a later turn: raft must not be re-entered from inside its Ready handling.
      (this.d.clock ?? realClock).nextTurn(() => report(false));
      return;
    }
    const msg: Message = { ...m, snapshot: { meta: src.meta, data: new Uint8Array(0) } };
    const run = this.d.transport().sendSnapshot({
      toStore, rangeId, message: msg, header: src.headerBytes(), nextChunk: () => src.nextChunk(),
    }).then(
      (res) => {
        this.counters.snapshotsSent++;
        this.counters.snapshotBytesSent += res.bytes;
        this.d.log.info('snapshot sent', { rangeId, to: m.to, toStore, index: msg.snapshot!.meta.index, bytes: res.bytes, chunks: res.chunks });
        report(true);
      },
      (e: unknown) => {
        this.counters.snapshotSendsFailed++;
        if (e instanceof SnapshotStreamError && e.code === 'busy') this.counters.snapshotSendsThrottled++;
        this.d.log.warn('snapshot send failed', { rangeId, to: m.to, toStore, err: e });
        report(false);
      },
    ).finally(() => {
      this.sending.delete(key);
      try {
        src.close();
      } catch {
        // already closed (the last chunk closes it)
      }
    });
    this.sending.set(key, run);
  }

  // ---- receiver ----

  /** The transport's snapshot handler: accept (a sink) or refuse (throw SnapshotStreamError). */
  async receive(start: SnapshotStartFrame): Promise<SnapshotSink> {
    try {
      return await this.accept(start);
    } catch (e) {
      this.counters.snapshotReceivesFailed++;
      throw e;
    }
  }

  private async accept(start: SnapshotStartFrame): Promise<SnapshotSink> {
    const refuse = (why: string): never => {
      throw new SnapshotStreamError('refused', `store ${this.d.storeId}, range ${start.rangeId}: ${why}`);
    };
    if (this.d.isStopping()) throw new SnapshotStreamError('unavailable', 'store stopping');
    if (this.refuseNextReceives > 0) {
      this.refuseNextReceives--;
      refuse('refused by the test hook refuseNextReceives');
    }
    const { rangeId, message: msg, fromStore } = start;
    let header: SnapshotHeader;
    try {
      header = decodeSnapshotHeader(start.header);
    } catch (e) {
      throw new SnapshotStreamError('invalid', `snapshot header does not decode: ${e instanceof Error ? e.message : String(e)}`);
    }
    const meta = msg.snapshot!.meta;
    if (header.descriptor.rangeId !== rangeId || header.applied.index !== meta.index || header.applied.term !== meta.term ||
      !confEqual(header.confState, meta.confState)) {
      throw new SnapshotStreamError('invalid', `snapshot header (range ${header.descriptor.rangeId} at ${header.applied.index}/${header.applied.term}) disagrees with its message (range ${rangeId} at ${meta.index}/${meta.term})`);
    }
    if (this.receiving.has(rangeId)) refuse('already receiving a snapshot for this range');
    const span: Span = { startKey: header.descriptor.startKey, endKey: header.descriptor.endKey };
    const conflict = this.overlapping(rangeId, span, header.descriptor.epoch.version);
    if (conflict !== null) refuse(conflict);
    this.receiving.set(rangeId, span);
    try {
      const r = await this.d.uninit.ensure(rangeId, msg, fromStore);
      if (r === null) refuse('no replica here and none may be created (a bound of uninitialized-replicas.ts reached, or being created)');
      const replica = r!;
      this.checkSender(replica, msg, fromStore, header.descriptor, refuse);
      const st = replica.node.status();
      if (st.commit >= meta.index || replica.log.appliedIndex >= meta.index) {
        refuse(`snapshot at ${meta.index} is not newer than the replica's commit ${st.commit}`);
      }
      const rx = await this.d.engine.receiveSnapshot(start.header);
      return this.sink(replica, start, rx);
    } catch (e) {
      this.receiving.delete(rangeId);
      throw e;
    }
  }

  /** A snapshot for `rangeId` is being received now. */
  isReceiving(rangeId: number): boolean {
    return this.receiving.has(rangeId);
  }

  /**
   * The sender must be where this replica's descriptor (or, uninitialized, the routes
   * learned) places it. One exception: a sender this descriptor does not name at all,
   * which the snapshot's own descriptor, of a newer configuration, places on that store:
   * a leader added while this replica was away (raft-host.ts fromNewLeader).
   */
  private checkSender(replica: Replica<R>, msg: Message, fromStore: number, snapDesc: RangeDescriptor, refuse: (why: string) => never): void {
    if (msg.to !== replica.node.id) refuse(`addressed to replica ${msg.to}, this store holds replica ${replica.node.id}`);
    const desc = replica.log.descriptor;
    const known = desc?.replicas.find((x) => x.replicaId === msg.from)?.storeId ?? this.d.uninit.storeOf(replica.rangeId, msg.from);
    if (desc === null) {
      if (known !== undefined && known !== fromStore) refuse(`replica ${msg.from} is known on store ${known}, not ${fromStore}`);
      this.d.uninit.learn(replica.rangeId, msg.from, fromStore);
      return;
    }
    if (known === fromStore) return;
    const newer = snapDesc.epoch.confVer > desc.epoch.confVer && snapDesc.replicas.find((x) => x.replicaId === msg.from)?.storeId === fromStore;
    if (known !== undefined || !newer) refuse(`sender replica ${msg.from} is not on store ${fromStore}`);
  }

  private sink(replica: Replica<R>, start: SnapshotStartFrame, rx: SnapshotReceiver): SnapshotSink {
    const rangeId = replica.rangeId;
    let done = false;
    /** finish() was called: it owns the staging now (hands it to raft, or removes it itself). */
    let finishing = false;
    const release = (): void => {
      if (done) return;
      done = true;
      this.receiving.delete(rangeId);
    };
    return {
      addChunk: async (chunk) => {
        try {
          await rx.addChunk(chunk);
        } catch (e) {
          if (e instanceof SnapshotError || e instanceof DecodeError) {
            throw new SnapshotStreamError('invalid', `snapshot chunk refused: ${e.message}`);
          }
          throw e;
        }
        this.counters.snapshotBytesReceived += chunk.length;
      },
      finish: async () => {
        finishing = true;
        let staged;
        try {
          staged = await rx.finish();
        } catch (e) {
          await rx.abort().catch(() => {});
          throw new SnapshotStreamError('invalid', `snapshot incomplete: ${e instanceof Error ? e.message : String(e)}`);
        }
        release();
        if (this.d.isStopping() || this.d.scheduler.get(rangeId) !== replica) {
          await rx.abort();
          throw new SnapshotStreamError('unavailable', 'the replica went away while the snapshot was received');
        }
        // Again, now: ranges may have appeared while the chunks came (an ingest the engine
        // refuses would stop the store, so nothing overlapping is handed to raft).
        const conflict = this.overlapping(rangeId, staged.header.descriptor, staged.header.descriptor.epoch.version);
        if (conflict !== null) {
          await rx.abort();
          throw new SnapshotStreamError('refused', `store ${this.d.storeId}, range ${rangeId}: ${conflict}`);
        }
        const before = replica.node.status();
        const m: Message = { ...start.message, type: MessageType.Snap, snapshot: { meta: staged.meta, data: staged.data } };
        try {
          this.d.scheduler.step(rangeId, m);
        } catch (e) {
          await rx.abort();
          throw new SnapshotStreamError('invalid', `raft refused the snapshot message: ${e instanceof Error ? e.message : String(e)}`);
        }
        const after = replica.node.status();
        const idx = staged.meta.index;
        const taken = after.firstIndex === idx + 1 && after.lastIndex === idx &&
          !(before.firstIndex === idx + 1 && before.lastIndex === idx);
        this.counters.snapshotsReceived++;
        if (!taken) {
          this.counters.snapshotsReceivedUnused++;
          await rx.abort();
          return;
        }
        const d = staged.header.descriptor;
        this.staged.set(staged.stagingId, { rangeId, index: idx, rx, startKey: d.startKey, endKey: d.endKey });
        this.d.log.info('snapshot received', { rangeId, index: idx, fromStore: start.fromStore, bytes: rx.bytesReceived });
      },
      abort: async () => {
        release();
        // The call can fail while finish() runs (the sender killed after its last chunk):
        // removing the staging then would pull it from under raft, which may have taken
        // the snapshot already, and its ingest would stop the store (found by the nemesis).
        if (finishing) return;
        await rx.abort().catch(() => {});
      },
    };
  }

  /**
   * Why a snapshot of `rangeId` covering `span` conflicts with this store, or null: it
   * overlaps another range's descriptor (a split or merge not seen here yet: the
   * conflicting snapshot is dropped, as CockroachDB does), or another range's snapshot
   * being received or staged and not yet ingested.
   */
  private overlapping(rangeId: number, span: Span, version: number): string | null {
    const meets = (o: Span): boolean => spansOverlap(o.startKey, o.endKey, span.startKey, span.endKey);
    for (const id of this.d.engine.rangeIds()) {
      if (id === rangeId) continue;
      const d = this.d.engine.range(id).descriptor;
      if (d !== null && meets(d)) {
        if (d.epoch.version < version && keyInSpan(d.startKey, span.startKey, span.endKey)) {
          // Subsumed: a newer version of this range holds the other's start key. A range
          // keeps its start key for life and a key's owners' versions only grow (splits and
          // merges give the new owner a greater version), so the other lost its start key,
          // which only a merge does (it may have split first, so the snapshot need not cover
          // its whole span). It is merged away; its replica here missed it. It goes, and the
          // snapshot is retried once its data is deleted (CockroachDB's subsumed replicas).
          this.d.onSubsumed?.(id, rangeId);
          return `its span holds the start of range ${id} on this store, merged away (version ${version} > ${d.epoch.version}): that replica goes first (unless a left replica here still needs it for the merge); retry`;
        }
        this.d.onOverlap?.(id);
        return `its span overlaps range ${id} on this store (a split or merge not seen here yet); dropped`;
      }
    }
    for (const [id, o] of this.d.engine.clearingSpans()) {
      if (meets(o)) return `its span overlaps the data of destroyed range ${id}, still being deleted`;
    }
    for (const [id, o] of this.receiving) {
      if (id !== rangeId && meets(o)) return `its span overlaps a snapshot of range ${id} being received`;
    }
    for (const o of this.staged.values()) {
      const r = this.d.scheduler.get(o.rangeId);
      if (o.rangeId !== rangeId && r !== undefined && r.log.appliedIndex < o.index && meets(o)) {
        return `its span overlaps a snapshot of range ${o.rangeId} not ingested yet`;
      }
    }
    return null;
  }

  /**
   * Removes staged snapshots raft no longer needs: their range's applied index reached
   * them (ingested, or superseded by a newer one) or the range left this store. The
   * ingest removes its own staging; this catches the rest. Cheap: a few entries at most.
   */
  sweepStaged(): void {
    for (const [id, s] of this.staged) {
      const r = this.d.scheduler.get(s.rangeId);
      if (r !== undefined && r.log.appliedIndex < s.index) continue;
      this.staged.delete(id);
      void s.rx.abort().catch(() => {});
    }
  }

  get stagedCount(): number {
    return this.staged.size;
  }

  /** Snapshots being sent and being received now (store heartbeats). */
  get inFlight(): { sending: number; receiving: number } {
    return { sending: this.sending.size, receiving: this.receiving.size };
  }

  /** Waits for sends in flight to settle (the transport cancels them when it stops). */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.sending.values()]);
  }
}
