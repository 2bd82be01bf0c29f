// The opaque `data` of a raft Snapshot as this engine uses it. Raft only carries it; the
// state machine's bytes travel separately as chunks (see snapshot-source.ts).
//
// - On a leader, RangeLogStore.snapshot() returns a ref with an empty stagingId: "build the
//   data for this range" (the sender builds it and sends the meta it actually captured).
// - On a receiver, the transport stages the chunks, then steps the Snap message with a ref
//   naming the staging directory; persistReady ingests that staged snapshot.
import { recordReader, recordWriter } from './encoding.js';

export interface SnapshotRef {
  rangeId: number;
  index: number;
  term: number;
  /** Staging directory name under the store's snapshots/ dir; '' = not staged (a build request). */
  stagingId: string;
}

export function encodeSnapshotRef(ref: SnapshotRef): Uint8Array {
  return recordWriter(32).uvarint(ref.rangeId).uvarint(ref.index).uvarint(ref.term)
    .bytes(Buffer.from(ref.stagingId, 'utf8')).finish();
}

export function decodeSnapshotRef(bytes: Uint8Array): SnapshotRef {
  const r = recordReader('snapshot ref', bytes);
  const ref = { rangeId: r.uvarint(), index: r.uvarint(), term: r.uvarint(), stagingId: Buffer.from(r.bytes(255)).toString('utf8') };
  r.end();
  if (ref.stagingId !== '' && !/^[A-Za-z0-9._-]+$/.test(ref.stagingId)) r.fail(`staging id ${JSON.stringify(ref.stagingId)} is not a plain name`);
  return ref;
}
