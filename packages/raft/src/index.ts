// Public API of @rangekv/raft.
export * from './types.js';
export type { RaftConfig } from './config.js';
export { RawNode, type RaftStatus, type BasicStatus, type ProgressStatus } from './rawnode.js';
export { MemoryStorage, CompactedError, UnavailableError, emptyConfState, BOOTSTRAP_INDEX, type RaftStorage } from './storage.js';
export { Prng } from './prng.js';
export { emptyMessage, describeMessage, messageTypeName } from './message.js';
export { MAX_INDEX, MAX_TERM } from './bounds.js';
export { MessageRefusedError } from './message-check.js';
export { encodeConfChange, decodeConfChange, ConfChangeError } from './confchange/index.js';
export { entrySizeBytes, ENTRY_OVERHEAD_BYTES } from './util.js';
