// Sorted id arrays: the representation of every membership set in a TrackerConfig.
// Sets hold a handful of ids, so linear scans beat anything cleverer.
import type { NodeId } from '../types.js';

export function hasId(ids: readonly NodeId[], id: NodeId): boolean {
  return ids.includes(id);
}

/** Inserts `id` keeping the array sorted; no-op when present. Mutates `ids`. */
export function insertId(ids: NodeId[], id: NodeId): void {
  let i = 0;
  while (i < ids.length && ids[i] < id) i++;
  if (ids[i] !== id) ids.splice(i, 0, id);
}

/** Removes `id` if present. Mutates `ids`. */
export function removeId(ids: NodeId[], id: NodeId): void {
  const i = ids.indexOf(id);
  if (i >= 0) ids.splice(i, 1);
}

/** How many ids are in exactly one of the two sets. */
export function symmetricDifferenceSize(a: readonly NodeId[], b: readonly NodeId[]): number {
  let n = 0;
  for (const id of a) if (!b.includes(id)) n++;
  for (const id of b) if (!a.includes(id)) n++;
  return n;
}

/** Sorted ascending, no duplicates, every id a positive integer. */
export function isIdSet(ids: readonly NodeId[]): boolean {
  for (let i = 0; i < ids.length; i++) {
    if (!Number.isSafeInteger(ids[i]) || ids[i] <= 0) return false;
    if (i > 0 && ids[i - 1] >= ids[i]) return false;
  }
  return true;
}
