// The one error decoding throws: bytes that are not a valid message of the type asked.

/**
 * Thrown by every generated `decode` (and returned by `tryDecode`) when the bytes are
 * malformed (truncated, bad tag or length, too deep) or hold a value the field cannot
 * take: a uint64/int64 beyond 2^53 − 1 in magnitude, a uint32 or int32 that does not fit
 * 32 bits, an enum value that is not a member of its enum.
 *
 * `message` reads `<type>.<path>: <reason> (byte <offset>)`, e.g.
 * `rangekv.kv.GetRequest.header.readConsistency: 7 is not a rangekv.meta.ReadConsistency (byte 4)`.
 */
export class WireDecodeError extends Error {
  override readonly name = 'WireDecodeError';

  constructor(
    /** The message type decoded, e.g. 'rangekv.kv.PutRequest' ('' when not known). */
    readonly typeName: string,
    /** Field path inside it, e.g. 'messages[3].message.type'; '' when the fault is not
     *  inside a field (e.g. a bad tag at the top level). */
    readonly path: string,
    /** Byte offset of the field (or value) at fault in the decoded bytes. */
    readonly offset: number,
    /** What is wrong, e.g. 'uint64 9007199254740992 is over 2^53 - 1'. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${typeName}${typeName !== '' && path !== '' ? '.' : ''}${path}: ${reason} (byte ${offset})`, options);
  }
}
