// The receiving end of one RaftTransport.Snapshot call: frame checks, the store's sink,
// backpressure, the timeouts, and exactly one answer (ack or status).
//
// The call is paused while the sink stores a chunk, so at most one chunk per call waits
// in memory. Anything the sink throws becomes the call's status (SnapshotStreamError keeps
// its code; anything else is FAILED_PRECONDITION) and the sink is aborted, which removes
// what it staged. A cancelled call (sender gone) or a timeout aborts it too.
//
// Two timeouts: snapshotTimeoutMs bounds the whole call; snapshotIdleTimeoutMs bounds how
// long the sender may stay silent while we wait for its next frame (the clock does not
// run while the sink works). A call holds one of the maxConcurrentSnapshotReceives slots
// from its first byte to its answer, and gives it back the moment it is answered
// (`release`), not when the sink's clean-up finishes: two senders that open calls and go
// quiet cannot keep a real snapshot out for longer than the idle timeout.
import * as grpc from '@grpc/grpc-js';
import type { TransportFaults } from './faults.js';
import type { SnapshotStreamLimits } from './snapshot-limits.js';
import {
  SnapshotFrameChecker, SnapshotStreamError, encodeSnapshotAck, type SnapshotErrorCode, type SnapshotStartFrame,
} from './snapshot-stream.js';

/** Where a received snapshot goes (the store: the storage engine's receiver + raft). */
export interface SnapshotSink {
  addChunk(chunk: Uint8Array): Promise<void>;
  /** The sender finished: check completeness, hand the snapshot to raft. */
  finish(): Promise<void>;
  /** Failed or cancelled: drop what was staged. Never throws. */
  abort(reason: string): Promise<void>;
}

/** Accepts (returns a sink) or refuses (throws SnapshotStreamError) a snapshot. */
export type SnapshotReceiveHandler = (start: SnapshotStartFrame) => Promise<SnapshotSink>;

export function grpcStatusOf(code: SnapshotErrorCode): grpc.status {
  switch (code) {
    case 'invalid': return grpc.status.INVALID_ARGUMENT;
    case 'too-large': return grpc.status.RESOURCE_EXHAUSTED;
    case 'busy': return grpc.status.RESOURCE_EXHAUSTED;
    case 'refused': return grpc.status.FAILED_PRECONDITION;
    case 'timeout': return grpc.status.DEADLINE_EXCEEDED;
    case 'unavailable': return grpc.status.UNAVAILABLE;
  }
}

export interface InboundSnapshotHost {
  readonly storeId: number;
  readonly limits: SnapshotStreamLimits;
  readonly faults: TransportFaults;
  readonly handler: SnapshotReceiveHandler | null;
  /** The store the call's client certificate names (mutual TLS); 0: not authenticated,
   *  any sender is taken at its word. */
  readonly authenticatedStore: number;
}

export class InboundSnapshot {
  private readonly checker: SnapshotFrameChecker;
  private sink: SnapshotSink | null = null;
  private chain: Promise<void> = Promise.resolve();
  private answered = false;
  /** The sender half-closed: no more frames to wait for. */
  private senderDone = false;
  private readonly timer: NodeJS.Timeout;
  private idleTimer: NodeJS.Timeout | null = null;

  /** `release` runs once, when the call is answered (ack or failure): its slot is free. */
  constructor(
    call: grpc.ServerReadableStream<Buffer, Buffer>,
    private readonly callback: grpc.sendUnaryData<Buffer>,
    private readonly host: InboundSnapshotHost,
    private readonly release: () => void,
  ) {
    this.checker = new SnapshotFrameChecker(host.storeId, host.limits);
    this.timer = setTimeout(() => {
      this.fail(new SnapshotStreamError('timeout', `snapshot not received within snapshotTimeoutMs ${host.limits.snapshotTimeoutMs}`));
    }, host.limits.snapshotTimeoutMs);
    this.awaitSender();
    call.on('data', (buf: Buffer) => {
      this.stopIdleClock();
      call.pause();
      this.chain = this.chain.then(() => this.onFrame(buf)).then(
        () => {
          if (this.answered) return;
          call.resume();
          this.awaitSender();
        },
        (e: unknown) => this.fail(e),
      );
    });
    call.on('end', () => {
      this.senderDone = true;
      this.stopIdleClock();
      this.chain = this.chain.then(() => this.onEnd()).catch((e: unknown) => this.fail(e));
    });
    call.on('cancelled', () => this.fail(new SnapshotStreamError('unavailable', 'sender cancelled the snapshot call')));
    call.on('error', () => this.fail(new SnapshotStreamError('unavailable', 'snapshot call broke')));
  }

  /** Waiting for the sender's next frame: it has snapshotIdleTimeoutMs to send one. */
  private awaitSender(): void {
    if (this.answered || this.senderDone) return;
    this.stopIdleClock();
    const idleMs = this.host.limits.snapshotIdleTimeoutMs;
    this.idleTimer = setTimeout(() => {
      this.fail(new SnapshotStreamError('timeout', `no snapshot frame for snapshotIdleTimeoutMs ${idleMs}`));
    }, idleMs);
  }

  private stopIdleClock(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  /** Transport stopping. */
  cancel(): void {
    this.fail(new SnapshotStreamError('unavailable', 'receiving store is stopping'));
  }

  private async onFrame(buf: Buffer): Promise<void> {
    if (this.answered) return;
    const f = this.checker.accept(buf);
    if (f.kind === 'start') {
      const h = this.host;
      if (h.authenticatedStore !== 0 && f.start.fromStore !== h.authenticatedStore) {
        throw new SnapshotStreamError('refused', `snapshot claims to come from store ${f.start.fromStore}, but the certificate names store ${h.authenticatedStore}`);
      }
      if (h.faults.active && h.faults.dropsInbound(h.storeId, f.start.fromStore)) throw new SnapshotStreamError('unavailable', 'snapshot lost to an inbound fault');
      if (h.handler === null) throw new SnapshotStreamError('refused', `store ${h.storeId} does not receive snapshots`);
      const sink = await h.handler(f.start);
      if (this.answered) {
        await sink.abort('call already failed');
        return;
      }
      this.sink = sink;
      return;
    }
    await this.sink!.addChunk(f.chunk);
  }

  private async onEnd(): Promise<void> {
    if (this.answered) return;
    if (this.sink === null) throw new SnapshotStreamError('invalid', 'snapshot call ended before its start frame');
    await this.sink.finish();
    if (this.answered) return;
    this.settle();
    this.callback(null, encodeSnapshotAck(this.checker.bytes));
  }

  private fail(e: unknown): void {
    if (this.answered) return;
    this.settle();
    const err = e instanceof SnapshotStreamError
      ? e
      : new SnapshotStreamError('refused', `snapshot refused: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    const sink = this.sink;
    this.sink = null;
    // The sink cleans up on its own time (it never throws); the slot is free already.
    if (sink) void sink.abort(err.message);
    try {
      this.callback({ code: grpcStatusOf(err.code), details: err.message });
    } catch {
      // The call is gone already (cancelled): nothing to answer.
    }
  }

  /** Answered: timers off, slot given back. */
  private settle(): void {
    this.answered = true;
    clearTimeout(this.timer);
    this.stopIdleClock();
    this.release();
  }
}
