// One apply batch of a range, in log order: runs of KV entries go to the KV applier (one
// write batch per run, possibly on a worker thread), and each entry that changes the range
// itself (split, membership) is applied on the main thread in between, after the run before
// it is written and before the run after it starts. So every entry sees exactly the state
// (descriptor, data) left by the entries before it, as on every other replica.
import { EntryType } from '@rangekv/raft';
import { isAdminCommand } from './admin-command.js';
import type { ApplyEntry } from '@rangekv/multiraft';

/** Entries applied on the main thread, one at a time: membership changes and admin commands. */
export function changesRange(e: ApplyEntry): boolean {
  return e.type === EntryType.ConfChange || (e.type === EntryType.Normal && isAdminCommand(e.data));
}

export async function applyInOrder<R>(
  entries: readonly ApplyEntry[],
  applyKvRun: (run: ApplyEntry[]) => R[] | Promise<R[]>,
  applyRangeChange: (e: ApplyEntry) => R | Promise<R>,
): Promise<R[]> {
  const out: R[] = [];
  let run: ApplyEntry[] = [];
  for (const e of entries) {
    if (!changesRange(e)) {
      run.push(e);
      continue;
    }
    if (run.length > 0) {
      out.push(...(await applyKvRun(run)));
      run = [];
    }
    out.push(await applyRangeChange(e));
  }
  if (run.length > 0) out.push(...(await applyKvRun(run)));
  return out;
}
