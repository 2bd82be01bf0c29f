// The key codec. Every number in a key is a fixed-width 8-byte big-endian unsigned integer,
// so bytewise key order (RocksDB's) is numeric order: entries of one range are contiguous
// and sorted by index, ranges sorted by id.
//
//   column family `raft`:  'L' rangeId index  -> Entry        (log entry)
//                          'H' rangeId        -> HardState
//   column family `meta`:  '!format'          -> format version
//                          'D' rangeId        -> RangeDescriptor
//                          'A' rangeId        -> AppliedState
//                          'C' rangeId        -> ConfState (at the applied index)
//                          'T' rangeId        -> TruncatedState
//                          'I' rangeId        -> ingest-in-progress marker (staged snapshot id)
//                          'X' rangeId        -> destroy-in-progress marker
//   column family `default`: user keys, unprefixed (ranges partition the keyspace).
import { DecodeError } from './errors.js';

export const KeyPrefix = {
  Entry: 0x4c, // 'L'
  HardState: 0x48, // 'H'
  Descriptor: 0x44, // 'D'
  Applied: 0x41, // 'A'
  ConfState: 0x43, // 'C'
  Truncated: 0x54, // 'T'
  Ingest: 0x49, // 'I'
  Destroy: 0x58, // 'X'
  MergeFreeze: 0x46, // 'F'
  MergeOutcomes: 0x4f, // 'O'
  /** The raft id of this store's last destroyed replica of the range (8 bytes, big endian). */
  Tombstone: 0x5a, // 'Z'
} as const;
export type KeyPrefix = (typeof KeyPrefix)[keyof typeof KeyPrefix];

export type MetaPrefix = Exclude<KeyPrefix, typeof KeyPrefix.Entry | typeof KeyPrefix.HardState>;

export const FORMAT_VERSION_KEY: Buffer = Buffer.from('!format');

const TWO_32 = 0x1_0000_0000;
/** hi * 2^32 stays below 2^53 while hi < 2^21. */
const TWO_21 = 0x20_0000;

export function writeU64(buf: Buffer, offset: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`key number must be a non-negative safe integer, got ${n}`);
  buf.writeUInt32BE(Math.floor(n / TWO_32), offset);
  buf.writeUInt32BE(n >>> 0, offset + 4);
}

/** The 8-byte big-endian number at `offset`; DecodeError if it is missing or 2^53 or more (no exact JS number). */
export function readU64(buf: Uint8Array, offset: number): number {
  if (offset < 0 || offset + 8 > buf.length) throw new DecodeError('key number', `8 bytes at ${offset} of ${buf.length}`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const hi = b.readUInt32BE(offset);
  if (hi >= TWO_21) throw new DecodeError('key number', `the number at byte ${offset} is 2^53 or more`);
  return hi * TWO_32 + b.readUInt32BE(offset + 4);
}

/** 'L' rangeId index: 17 bytes. */
export function entryKey(rangeId: number, index: number): Buffer {
  const k = Buffer.allocUnsafe(17);
  k[0] = KeyPrefix.Entry;
  writeU64(k, 1, rangeId);
  writeU64(k, 9, index);
  return k;
}

export function parseEntryKey(key: Uint8Array): { rangeId: number; index: number } {
  if (key.length !== 17 || key[0] !== KeyPrefix.Entry) throw new DecodeError('entry key', `not an entry key (${key.length} bytes)`);
  return { rangeId: readU64(key, 1), index: readU64(key, 9) };
}

/** Keys of range `rangeId`'s entries with index in [lo, hi): [entryKey(lo), entryKey(hi)). */
export function entryKeySpan(rangeId: number, lo: number, hi: number): { gte: Buffer; lt: Buffer } {
  return { gte: entryKey(rangeId, lo), lt: entryKey(rangeId, hi) };
}

/** Upper bound (exclusive) for every index of a range: indexes stay below 2^53. */
export const MAX_INDEX_EXCLUSIVE = Number.MAX_SAFE_INTEGER;

export function hardStateKey(rangeId: number): Buffer {
  return rangeKey(KeyPrefix.HardState, rangeId);
}

/** prefix rangeId: 9 bytes. */
export function rangeKey(prefix: KeyPrefix, rangeId: number): Buffer {
  const k = Buffer.allocUnsafe(9);
  k[0] = prefix;
  writeU64(k, 1, rangeId);
  return k;
}

export function parseRangeKey(prefix: KeyPrefix, key: Uint8Array): number {
  if (key.length !== 9 || key[0] !== prefix) throw new DecodeError('range key', `expected prefix 0x${prefix.toString(16)} + 8 bytes, got ${key.length} bytes`);
  return readU64(key, 1);
}

/** All keys with one prefix: [prefix, prefix+1). */
export function prefixSpan(prefix: KeyPrefix): { gte: Buffer; lt: Buffer } {
  return { gte: Buffer.from([prefix]), lt: Buffer.from([prefix + 1]) };
}

/** Bytewise comparison (RocksDB's default comparator). */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** Is `key` inside [start, end)? An empty end means the end of the keyspace. */
export function keyInSpan(key: Uint8Array, start: Uint8Array, end: Uint8Array): boolean {
  return compareKeys(key, start) >= 0 && (end.length === 0 || compareKeys(key, end) < 0);
}

/** Do [s1, e1) and [s2, e2) intersect? Empty ends are +infinity. */
/** Whether span [s1, e1) contains all of [s2, e2) (empty end = the end of the keyspace). */
export function spanContains(s1: Uint8Array, e1: Uint8Array, s2: Uint8Array, e2: Uint8Array): boolean {
  return compareKeys(s1, s2) <= 0 && (e1.length === 0 || (e2.length > 0 && compareKeys(e2, e1) <= 0));
}

export function spansOverlap(s1: Uint8Array, e1: Uint8Array, s2: Uint8Array, e2: Uint8Array): boolean {
  const firstEndsBeforeSecond = e1.length > 0 && compareKeys(e1, s2) <= 0;
  const secondEndsBeforeFirst = e2.length > 0 && compareKeys(e2, s1) <= 0;
  return !firstEndsBeforeSecond && !secondEndsBeforeFirst;
}
