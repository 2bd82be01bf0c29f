// Receiving a range snapshot: the header, then chunks in order, each checked (CRC, sequence)
// and written durably to a staging directory. finish() returns what raft needs: the
// snapshot meta and an opaque `data` naming the staged files; the transport steps the Snap
// message with them, and persistReady ingests the staged snapshot when raft hands it back.
//
//   const rx = await receiveSnapshot(ctx, headerBytes);
//   for (const c of chunks) await rx.addChunk(c);
//   const staged = await rx.finish();       // { meta, data }
//   node.step({ ...snapMsg, snapshot: { meta: staged.meta, data: staged.data } });
import type { SnapshotMeta } from '@rangekv/raft';
import { join } from 'node:path';
import { storeOf, type EngineContext } from './engine-context.js';
import { SnapshotError } from './errors.js';
import { decodeSnapshotChunk, decodeSnapshotHeader, type SnapshotHeader } from './snapshot-codec.js';
import { encodeSnapshotRef } from './snapshot-ref.js';
import { chunkFile, makeStagingDir, removeStaged, type Staging } from './snapshot-staging.js';

export interface StagedSnapshot {
  stagingId: string;
  header: SnapshotHeader;
  meta: SnapshotMeta;
  /** The raft Snapshot's `data`: an encoded SnapshotRef naming the staged files. */
  data: Uint8Array;
}

export class SnapshotReceiver {
  private nextSeq = 0;
  private sawLast = false;
  private closed = false;
  bytesReceived = 0;

  constructor(
    private readonly staging: Staging,
    readonly stagingId: string,
    private readonly dir: string,
    readonly header: SnapshotHeader,
  ) {}

  /** Checks and stores one chunk durably. Chunks must come in order, none after the last. */
  async addChunk(bytes: Uint8Array): Promise<void> {
    if (this.closed) throw new SnapshotError(`staging ${this.stagingId}: receiver already finished or aborted`);
    const chunk = decodeSnapshotChunk(bytes);
    if (this.sawLast) throw new SnapshotError(`staging ${this.stagingId}: chunk ${chunk.seq} after the last chunk`);
    if (chunk.seq !== this.nextSeq) throw new SnapshotError(`staging ${this.stagingId}: chunk ${chunk.seq} out of order (expected ${this.nextSeq})`);
    await this.staging.fs.writeDurably(chunkFile(this.dir, chunk.seq), bytes);
    this.nextSeq++;
    this.sawLast = chunk.last;
    this.bytesReceived += bytes.length;
  }

  /** All chunks are staged: mark the staging complete (durably). */
  async finish(): Promise<StagedSnapshot> {
    if (this.closed) throw new SnapshotError(`staging ${this.stagingId}: receiver already finished or aborted`);
    if (!this.sawLast) throw new SnapshotError(`staging ${this.stagingId}: incomplete: ${this.nextSeq} chunks and no last chunk`);
    const count = Buffer.alloc(4);
    count.writeUInt32BE(this.nextSeq);
    await this.staging.fs.writeDurably(join(this.dir, 'complete'), count);
    await this.staging.fs.syncDir(this.dir);
    await this.staging.fs.syncDir(this.staging.root);
    this.closed = true;
    const h = this.header;
    const meta: SnapshotMeta = { index: h.applied.index, term: h.applied.term, confState: h.confState };
    return {
      stagingId: this.stagingId, header: h, meta,
      data: encodeSnapshotRef({ rangeId: h.descriptor.rangeId, index: meta.index, term: meta.term, stagingId: this.stagingId }),
    };
  }

  async abort(): Promise<void> {
    this.closed = true;
    await removeStaged(this.staging, this.stagingId);
  }
}

/** Starts staging a snapshot for a range that exists on this store (possibly uninitialized). */
export async function receiveSnapshot(ctx: EngineContext, headerBytes: Uint8Array): Promise<SnapshotReceiver> {
  const header = decodeSnapshotHeader(headerBytes);
  storeOf(ctx, header.descriptor.rangeId, 'receive snapshot');
  const { stagingId, dir } = await makeStagingDir(ctx.staging, header);
  await ctx.staging.fs.writeDurably(join(dir, 'header'), headerBytes);
  return new SnapshotReceiver(ctx.staging, stagingId, dir, header);
}
