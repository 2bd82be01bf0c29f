// The three column families of a store's RocksDB and their numeric ids in write-op buffers.
export const ColumnFamily = {
  /** User keys, unprefixed. */
  Default: 0,
  /** Raft log entries and hard states. */
  Raft: 1,
  /** Per-range metadata and the format version. */
  Meta: 2,
} as const;
export type ColumnFamily = (typeof ColumnFamily)[keyof typeof ColumnFamily];

export const COLUMN_FAMILY_NAMES: readonly string[] = ['default', 'raft', 'meta'];

export function columnFamilyName(cf: ColumnFamily): string {
  return COLUMN_FAMILY_NAMES[cf]!;
}
