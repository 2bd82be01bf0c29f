// The on-disk format check. Before RocksDB is opened we compare the column families the
// directory holds (from RocksDB's latest OPTIONS-* file) with ours: the binding always
// creates missing column families, so opening first would silently "repair" a damaged
// store (a MemDisk states its column families; the same comparison applies). After
// opening, the format version in `meta` must be one this build reads.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { COLUMN_FAMILY_NAMES, ColumnFamily } from './column-families.js';
import { ColumnFamilyMismatchError, FormatVersionError } from './errors.js';
import { FORMAT_VERSION_KEY } from './keys.js';
import type { Db } from './db.js';

/** The layout this build writes and reads (keys.ts + encoding.ts). */
export const FORMAT_VERSION = 1;

/** Does `dbDir` hold a RocksDB already (CURRENT names its live manifest)? */
export function rocksDbExists(dbDir: string): boolean {
  return existsSync(join(dbDir, 'CURRENT'));
}

/** Column family names recorded in the newest OPTIONS-<n> file, or null if there is none. */
export function listColumnFamilies(dbDir: string): string[] | null {
  let newest: { n: number; name: string } | null = null;
  for (const name of readdirSync(dbDir)) {
    const m = /^OPTIONS-(\d+)$/.exec(name);
    if (m && (newest === null || Number(m[1]) > newest.n)) newest = { n: Number(m[1]), name };
  }
  if (newest === null) return null;
  const text = readFileSync(join(dbDir, newest.name), 'utf8');
  const names: string[] = [];
  for (const m of text.matchAll(/^\s*\[CFOptions "((?:[^"\\]|\\.)*)"\]\s*$/gm)) names.push(m[1]!);
  return names;
}

/** Throws ColumnFamilyMismatchError unless an existing DB has exactly our column families. */
export function checkColumnFamilies(dbDir: string): void {
  const found = listColumnFamilies(dbDir);
  if (found === null) return; // no OPTIONS file: RocksDB will complain itself if unopenable
  checkColumnFamilyNames(dbDir, found);
}

/** Throws ColumnFamilyMismatchError unless `found` (the column families of `where`) are exactly ours. */
export function checkColumnFamilyNames(where: string, found: readonly string[]): void {
  const missing = COLUMN_FAMILY_NAMES.filter((n) => !found.includes(n));
  const unexpected = found.filter((n) => !COLUMN_FAMILY_NAMES.includes(n));
  if (missing.length > 0 || unexpected.length > 0) throw new ColumnFamilyMismatchError(where, missing, unexpected);
}

export function encodeFormatVersion(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}

/** Reads the stored format version; null if absent. A malformed value counts as unknown. */
export function readFormatVersion(db: Db): number | null {
  const v = db.get(ColumnFamily.Meta, FORMAT_VERSION_KEY);
  if (v === undefined) return null;
  return v.length === 4 ? v.readUInt32BE(0) : -1;
}

/**
 * The stored version must be ours (else FormatVersionError). Returns true when the store is
 * new (no version and nothing in `raft` or `meta`, e.g. a crash right after creation): the
 * caller stamps FORMAT_VERSION (through the log writer, like every sync write).
 */
export function checkFormat(db: Db, dbDir: string): boolean {
  const found = readFormatVersion(db);
  if (found === null) {
    const all = { gte: Buffer.alloc(0) };
    const empty = db.scanKeys(ColumnFamily.Meta, all, 1).length === 0 && db.scanKeys(ColumnFamily.Raft, all, 1).length === 0;
    if (empty) return true;
  }
  if (found !== FORMAT_VERSION) throw new FormatVersionError(dbDir, found, FORMAT_VERSION);
  return false;
}
