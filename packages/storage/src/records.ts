// Plain-data records the engine stores besides raft's own types: applied and truncated
// state. The range descriptor it stores is the one definition in @rangekv/proto
// (range-descriptor.ts), imported from '@rangekv/proto/range-descriptor'.
import type { ConfState, HardState } from '@rangekv/raft';

export type { ConfState, HardState };

/** The last entry folded into the range's state machine, with its term. */
export interface AppliedState {
  index: number;
  term: number;
}

/** The last compacted log entry (the log starts right after it). */
export interface TruncatedState {
  index: number;
  term: number;
}
