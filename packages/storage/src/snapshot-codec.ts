// Wire/disk encoding of range snapshots: one header, then numbered chunks of key/value
// pairs from the range's span in `default`. Each chunk ends with a CRC-32 of its bytes.
//
//   header := v descriptor appliedIndex appliedTerm confState [1 mergeFreeze] [2 mergeOutcomes]
//
// The merge freeze and outcomes (records.ts) are written only when there are some, so
// the headers of ranges that never merged are as before.
//   chunk  := v seq:u32 last:u8 count (key value)* crc32:u32
import type { ConfState } from '@rangekv/raft';
import type { RangeDescriptor } from '@rangekv/proto/range-descriptor';
import { ByteReader, ByteWriter } from './binary.js';
import { crc32 } from './crc32.js';
import {
  readConfState, readDescriptor, readMergeOutcomes, recordReader, recordWriter, writeConfState, writeDescriptor, writeMergeOutcomes,
} from './encoding.js';
import type { AppliedState, MergeFreeze, MergeOutcome } from './records.js';

export interface SnapshotHeader {
  descriptor: RangeDescriptor;
  applied: AppliedState;
  confState: ConfState;
  /** The range's merge freeze at the snapshot's index (a replica that installs it stays frozen); null or absent: none. */
  mergeFreeze?: MergeFreeze | null;
  /** How merges planned against the range were decided (records.ts); absent: none. */
  mergeOutcomes?: readonly MergeOutcome[];
}

export interface SnapshotChunk {
  seq: number;
  last: boolean;
  pairs: [Uint8Array, Uint8Array][];
}

export function encodeSnapshotHeader(h: SnapshotHeader): Uint8Array {
  const w = recordWriter(128);
  writeDescriptor(w, h.descriptor);
  w.uvarint(h.applied.index).uvarint(h.applied.term);
  writeConfState(w, h.confState);
  const f = h.mergeFreeze;
  if (f) w.u8(1).uvarint(f.mergeId).uvarint(f.leftRangeId).uvarint(f.leftConfVer).uvarint(f.leftVersion).uvarint(f.index).uvarint(f.term);
  if (h.mergeOutcomes !== undefined && h.mergeOutcomes.length > 0) writeMergeOutcomes(w.u8(2), h.mergeOutcomes);
  return w.finish();
}

export function decodeSnapshotHeader(bytes: Uint8Array): SnapshotHeader {
  const r = recordReader('snapshot header', bytes);
  const descriptor = readDescriptor(r);
  const applied = { index: r.uvarint(), term: r.uvarint() };
  const confState = readConfState(r);
  let mergeFreeze: MergeFreeze | null = null;
  let mergeOutcomes: MergeOutcome[] = [];
  let last = 0;
  while (r.remaining > 0) {
    const tag = r.u8();
    if (tag <= last || tag > 2) r.fail(`trailing section ${tag} unknown or out of order`);
    last = tag;
    if (tag === 1) {
      mergeFreeze = { mergeId: r.uvarint(), leftRangeId: r.uvarint(), leftConfVer: r.uvarint(), leftVersion: r.uvarint(), index: r.uvarint(), term: r.uvarint() };
    } else {
      mergeOutcomes = readMergeOutcomes(r);
      if (mergeOutcomes.length === 0) r.fail('an empty merge outcomes section');
    }
  }
  r.end();
  if (applied.index === 0) r.fail('applied index 0: nothing to install');
  return { descriptor, applied, confState, mergeFreeze, mergeOutcomes };
}

/** Builds one chunk incrementally (the source decides when it is full). */
export class ChunkBuilder {
  private readonly body: ByteWriter;
  private pairs = 0;

  constructor(private readonly seq: number, initialBytes: number) {
    this.body = new ByteWriter(initialBytes);
  }

  add(key: Uint8Array, value: Uint8Array): void {
    this.body.bytes(key).bytes(value);
    this.pairs++;
  }

  /** Data bytes so far (what maxSnapshotChunkBytes bounds). */
  get dataBytes(): number {
    return this.body.length;
  }

  get count(): number {
    return this.pairs;
  }

  finish(last: boolean): Uint8Array {
    const unsummed = recordWriter(this.body.length + 16).u32(this.seq).u8(last ? 1 : 0).uvarint(this.pairs)
      .raw(this.body.finish()).finish();
    const out = Buffer.allocUnsafe(unsummed.length + 4);
    out.set(unsummed, 0);
    out.writeUInt32BE(crc32(unsummed), unsummed.length);
    return out;
  }
}

export function decodeSnapshotChunk(bytes: Uint8Array): SnapshotChunk {
  if (bytes.length < 5) new ByteReader('snapshot chunk', bytes).fail('shorter than its checksum');
  const body = bytes.subarray(0, bytes.length - 4);
  const want = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUInt32BE(bytes.length - 4);
  if (crc32(body) !== want) new ByteReader('snapshot chunk', bytes).fail('checksum mismatch (corrupt chunk)');
  const r = recordReader('snapshot chunk', body);
  const seq = r.u32();
  const lastFlag = r.u8();
  if (lastFlag > 1) r.fail(`last flag ${lastFlag}`);
  const n = r.uvarint();
  const pairs: [Uint8Array, Uint8Array][] = [];
  for (let i = 0; i < n; i++) {
    const k = r.bytes();
    const v = r.bytes();
    pairs.push([k, v]);
  }
  r.end();
  return { seq, last: lastFlag === 1, pairs };
}
