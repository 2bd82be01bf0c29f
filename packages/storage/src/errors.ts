// Errors a caller of the storage engine can hit. Each is typed and carries what the caller
// needs to act on it. Broken invariants (programming errors) are plain Errors thrown by
// `invariant()` at once.

/** Base class: every storage error has a stable `code`. */
export class StorageError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The store directory holds a format this build cannot read (newer or unknown). */
export class FormatVersionError extends StorageError {
  constructor(readonly dir: string, readonly found: number | null, readonly supported: number) {
    super('FORMAT_VERSION', found === null
      ? `${dir} holds a database but not a rangekv store (no format version in the meta column family); refusing to open it`
      : `${dir} has rangekv storage format version ${found}; this build reads only version ${supported}; refusing to open it`);
  }
}

/** The store on disk lacks (or has extra) column families; nothing was opened or changed. */
export class ColumnFamilyMismatchError extends StorageError {
  constructor(readonly dir: string, readonly missing: readonly string[], readonly unexpected: readonly string[]) {
    super('COLUMN_FAMILY_MISMATCH',
      `${dir}: column families do not match this build` +
      (missing.length > 0 ? `; missing: ${missing.join(', ')}` : '') +
      (unexpected.length > 0 ? `; unexpected: ${unexpected.join(', ')}` : '') +
      '; refusing to open (the directory was not modified)');
  }
}

export class UnknownRangeError extends StorageError {
  constructor(readonly rangeId: number, what: string) {
    super('UNKNOWN_RANGE', `${what}: range ${rangeId} does not exist on this store (never created, or destroyed)`);
  }
}

export class RangeExistsError extends StorageError {
  constructor(readonly rangeId: number) {
    super('RANGE_EXISTS', `range ${rangeId} already exists on this store (or is still being destroyed)`);
  }
}

/** An entry's payload exceeds maxEntryBytes; nothing of the request was written. */
export class EntryTooLargeError extends StorageError {
  constructor(readonly rangeId: number, readonly index: number, readonly sizeBytes: number, readonly maxEntryBytes: number) {
    super('ENTRY_TOO_LARGE', `range ${rangeId}: entry ${index} has ${sizeBytes} payload bytes, over maxEntryBytes ${maxEntryBytes}; nothing was written`);
  }
}

/** A key outside the range's [startKey, endKey) span. */
export class KeyOutOfRangeError extends StorageError {
  constructor(readonly rangeId: number, readonly key: Uint8Array, readonly startKey: Uint8Array, readonly endKey: Uint8Array) {
    super('KEY_OUT_OF_RANGE', `range ${rangeId}: key ${hex(key)} is outside [${hex(startKey)}, ${endKey.length === 0 ? '+inf' : hex(endKey)})`);
  }
}

/** Bytes that do not decode as the record they claim to be. */
export class DecodeError extends StorageError {
  constructor(readonly record: string, reason: string) {
    super('DECODE', `cannot decode ${record}: ${reason}`);
  }
}

/** The log writer was closed, or failed earlier (the cause is kept): nothing more is written. */
export class LogWriterClosedError extends StorageError {
  constructor(reason: string, readonly failure: Error | null = null) {
    super('LOG_WRITER_CLOSED', `log writer: ${reason}${failure ? `: ${failure.message}` : ''}`);
  }
}

/** A request too big for the log writer's limits (it could never be queued). */
export class RequestTooLargeError extends StorageError {
  constructor(readonly sizeBytes: number, readonly maxRequestBytes: number) {
    super('REQUEST_TOO_LARGE', `log writer request of ${sizeBytes} bytes exceeds maxRequestBytes ${maxRequestBytes}`);
  }
}

/** A snapshot stream or staged snapshot is incomplete, corrupt or does not fit this store. */
export class SnapshotError extends StorageError {
  constructor(reason: string) {
    super('SNAPSHOT', `snapshot: ${reason}`);
  }
}

export function hex(b: Uint8Array): string {
  const max = 32;
  const s = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, max)).toString('hex');
  return b.length > max ? `${s}...(${b.length} bytes)` : s || '""';
}

/** A broken invariant: fail loudly at once, in production too. */
export function invariant(cond: unknown, msg: string | (() => string)): asserts cond {
  if (!cond) throw new Error(`storage invariant violated: ${typeof msg === 'string' ? msg : msg()}`);
}
