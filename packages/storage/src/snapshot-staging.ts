// Staged snapshots on disk: <store>/snapshots/<stagingId>/{header, chunk-NNNNNN, complete}.
// A receiver writes (and fsyncs) every piece before the snapshot can be ingested, so an
// ingest interrupted by a crash can be re-run from these files at the next open.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SnapshotError } from './errors.js';
import { decodeSnapshotHeader, type SnapshotHeader } from './snapshot-codec.js';

export interface StagedSnapshotFiles {
  stagingId: string;
  dir: string;
  header: SnapshotHeader;
  chunkCount: number;
}

export function newStagingId(h: SnapshotHeader): string {
  return `r${h.descriptor.rangeId}-i${h.applied.index}-t${h.applied.term}-${randomBytes(4).toString('hex')}`;
}

export function chunkFile(dir: string, seq: number): string {
  return join(dir, `chunk-${String(seq).padStart(6, '0')}`);
}

/** Writes a file and fsyncs it. */
export async function writeDurably(path: string, bytes: Uint8Array): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Fsyncs a directory, so the names of the files just created in it are durable too. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function makeStagingDir(stagingRoot: string, stagingId: string): Promise<string> {
  await mkdir(stagingRoot, { recursive: true });
  const dir = join(stagingRoot, stagingId);
  await mkdir(dir);
  return dir;
}

/** Reads a complete staged snapshot's header and chunk count. */
export async function readStaged(stagingRoot: string, stagingId: string): Promise<StagedSnapshotFiles> {
  const dir = join(stagingRoot, stagingId);
  let complete: Buffer;
  let headerBytes: Buffer;
  try {
    complete = await readFile(join(dir, 'complete'));
    headerBytes = await readFile(join(dir, 'header'));
  } catch (e) {
    throw new SnapshotError(`staged snapshot ${stagingId} is missing or incomplete in ${stagingRoot} (${e instanceof Error ? e.message : String(e)})`);
  }
  if (complete.length !== 4) throw new SnapshotError(`staged snapshot ${stagingId}: malformed 'complete' file`);
  return { stagingId, dir, header: decodeSnapshotHeader(headerBytes), chunkCount: complete.readUInt32BE(0) };
}

export async function removeStaged(stagingRoot: string, stagingId: string): Promise<void> {
  await rm(join(stagingRoot, stagingId), { recursive: true, force: true });
}

/** Staging directories not in `keep` (left by aborted receives or finished ingests). */
export async function removeStaleStaging(stagingRoot: string, keep: ReadonlySet<string>): Promise<number> {
  let names: string[];
  try {
    names = await readdir(stagingRoot);
  } catch {
    return 0;
  }
  let n = 0;
  for (const name of names) {
    if (keep.has(name)) continue;
    await rm(join(stagingRoot, name), { recursive: true, force: true });
    n++;
  }
  return n;
}
