// Fault injection into a running store, for nemesis tests: raft traffic cut per peer store
// (the transport's TransportFaults) and a slow disk (the log-writer thread's sync delay).
// store-main takes these as `{"faults": {...}}` lines on stdin (--fault-injection with
// --admin-stdin); StoreServer.applyFaults checks a command whole before changing anything.
//
//   {"dropTo":[2,3]}     what this store sends to stores 2 and 3 is lost (sender side), added to earlier cuts
//   {"dropFrom":[2]}     what this store receives from store 2 is discarded (receiver side):
//                        raft batches, liveness pings, snapshot calls
//   {"heal":true}        every transport fault off (the sync delay stays)
//   {"syncDelayMs":N}    the log-writer thread sleeps N ms before each synced batch; 0 = off
//
// Keys may be combined in one command; heal then goes first.
import { MAX_INJECTED_SYNC_DELAY_MS } from '@rangekv/storage';

export interface FaultCommand {
  dropTo?: number[];
  dropFrom?: number[];
  heal?: true;
  syncDelayMs?: number;
}

export class FaultCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FaultCommandError';
  }
}

const KEYS = new Set(['dropTo', 'dropFrom', 'heal', 'syncDelayMs']);

function storeIds(key: string, v: unknown, self: number): number[] {
  if (!Array.isArray(v) || v.length === 0) throw new FaultCommandError(`${key} must be a non-empty array of store ids`);
  for (const id of v) {
    if (!Number.isSafeInteger(id) || (id as number) <= 0) throw new FaultCommandError(`${key}: store id must be a positive integer, got ${JSON.stringify(id)}`);
    if (id === self) throw new FaultCommandError(`${key}: store ${self} is this store`);
  }
  return [...new Set(v as number[])];
}

/** A faults command (the JSON value under "faults") for store `self`, checked; FaultCommandError naming the defect. */
export function parseFaultCommand(v: unknown, self: number): FaultCommand {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FaultCommandError('expected an object: {"dropTo": [...]}, {"dropFrom": [...]}, {"heal": true} or {"syncDelayMs": N}');
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 0) throw new FaultCommandError('no fault given');
  for (const k of keys) if (!KEYS.has(k)) throw new FaultCommandError(`unknown fault "${k}" (known: ${[...KEYS].join(', ')})`);
  const cmd: FaultCommand = {};
  if ('heal' in o) {
    if (o.heal !== true) throw new FaultCommandError(`heal must be true, got ${JSON.stringify(o.heal)}`);
    cmd.heal = true;
  }
  if ('dropTo' in o) cmd.dropTo = storeIds('dropTo', o.dropTo, self);
  if ('dropFrom' in o) cmd.dropFrom = storeIds('dropFrom', o.dropFrom, self);
  if ('syncDelayMs' in o) {
    const ms = o.syncDelayMs;
    if (!Number.isSafeInteger(ms) || (ms as number) < 0 || (ms as number) > MAX_INJECTED_SYNC_DELAY_MS) {
      throw new FaultCommandError(`syncDelayMs must be an integer in [0, ${MAX_INJECTED_SYNC_DELAY_MS}], got ${JSON.stringify(ms)}`);
    }
    cmd.syncDelayMs = ms as number;
  }
  return cmd;
}
