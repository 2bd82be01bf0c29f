// Staged snapshots: <staging root>/<stagingId>/{header, chunk-NNNNNN, complete}, through a
// StagingFs (the real filesystem, or a MemDisk's files). A receiver writes every piece
// durably before the snapshot can be ingested, so an ingest interrupted by a crash can be
// re-run from these files at the next open.
import { join } from 'node:path';
import { SnapshotError } from './errors.js';
import { decodeSnapshotHeader, type SnapshotHeader } from './snapshot-codec.js';
import type { StagingFs } from './staging-fs.js';

export interface StagedSnapshotFiles {
  stagingId: string;
  dir: string;
  header: SnapshotHeader;
  chunkCount: number;
}

/** Where staged snapshots live and the files they live in. */
export interface Staging {
  readonly fs: StagingFs;
  readonly root: string;
}

export function chunkFile(dir: string, seq: number): string {
  return join(dir, `chunk-${String(seq).padStart(6, '0')}`);
}

/** Creates a new staging directory for `h`; its name is the staging id. */
export async function makeStagingDir(st: Staging, h: SnapshotHeader): Promise<{ stagingId: string; dir: string }> {
  await st.fs.mkdirp(st.root);
  const stagingId = await st.fs.mkdirUnique(st.root, `r${h.descriptor.rangeId}-i${h.applied.index}-t${h.applied.term}-`);
  return { stagingId, dir: join(st.root, stagingId) };
}

/** Reads a complete staged snapshot's header and chunk count. */
export async function readStaged(st: Staging, stagingId: string): Promise<StagedSnapshotFiles> {
  const dir = join(st.root, stagingId);
  let complete: Buffer;
  let headerBytes: Buffer;
  try {
    complete = await st.fs.readFile(join(dir, 'complete'));
    headerBytes = await st.fs.readFile(join(dir, 'header'));
  } catch (e) {
    throw new SnapshotError(`staged snapshot ${stagingId} is missing or incomplete in ${st.root} (${e instanceof Error ? e.message : String(e)})`);
  }
  if (complete.length !== 4) throw new SnapshotError(`staged snapshot ${stagingId}: malformed 'complete' file`);
  return { stagingId, dir, header: decodeSnapshotHeader(headerBytes), chunkCount: complete.readUInt32BE(0) };
}

export async function removeStaged(st: Staging, stagingId: string): Promise<void> {
  await st.fs.removeAll(join(st.root, stagingId));
}

/** Staging directories not in `keep` (left by aborted receives or finished ingests). */
export async function removeStaleStaging(st: Staging, keep: ReadonlySet<string>): Promise<number> {
  let names: string[];
  try {
    names = await st.fs.readdir(st.root);
  } catch {
    return 0;
  }
  let n = 0;
  for (const name of names) {
    if (keep.has(name)) continue;
    await st.fs.removeAll(join(st.root, name));
    n++;
  }
  return n;
}
