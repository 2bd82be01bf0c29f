// Small shared helpers with no raft knowledge.
import type { Entry } from './types.js';

/** Fixed per-entry overhead counted in size limits (index, term, type, framing). */
export const ENTRY_OVERHEAD_BYTES = 24;

export function entrySizeBytes(e: Entry): number {
  return e.data.length + ENTRY_OVERHEAD_BYTES;
}

export function entriesSizeBytes(es: readonly Entry[]): number {
  let n = 0;
  for (const e of es) n += e.data.length + ENTRY_OVERHEAD_BYTES;
  return n;
}

/** Payload bytes only: what the uncommitted-size cap counts (empty entries are free). */
export function payloadSizeBytes(es: readonly Entry[]): number {
  let n = 0;
  for (const e of es) n += e.data.length;
  return n;
}

/** A broken invariant: fail loudly at once. */
export function invariant(cond: unknown, msg: string | (() => string)): asserts cond {
  if (!cond) throw new Error(`raft invariant violated: ${typeof msg === 'string' ? msg : msg()}`);
}
