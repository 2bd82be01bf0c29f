// The KV write commands carried in raft entries, and their versioned binary encoding.
//
// Every replica decodes the same bytes at apply time, so the encoding is the contract
// between store versions: a new command type or field means a new format version, and a
// store refuses (loudly) what it cannot decode rather than guess.
//
// Format v1 (all integers unsigned LEB128 varints, `bytes` = varint length + raw bytes):
//
//   u8 format (=1) | u8 type | varint epochVersion | body
//     Put         1: bytes key, bytes value
//     BatchPut    2: varint n, n x (bytes key, bytes value)
//     Delete      3: bytes key
//     DeleteRange 4: bytes startKey, bytes endKey (empty = end of keyspace)
//     CAS         5: u8 flags (0x01 expectExists, 0x02 delete), bytes key,
//                    bytes expectedValue, bytes newValue
//
// `epochVersion` is the range's epoch.version the proposer checked the request against;
// apply refuses the command (EpochNotMatch) if the range's span changed since (a split
// applied between propose and apply), so a write never lands in a range that no longer
// owns its key.
//
// Worked example: Put "a" = "xy" proposed at epoch version 1 encodes as
//   01 01 01 01 61 02 78 79
//   |  |  |  |  |  |  '--'-- value "xy"
//   |  |  |  '--'  '-- value length 2
//   |  |  |  key length 1, key "a"
//   |  |  epoch version 1
//   |  type Put
//   format version 1
import { ByteWriter } from '@rangekv/storage';

export const KV_COMMAND_FORMAT = 1;

export const KvCommandType = {
  Put: 1,
  BatchPut: 2,
  Delete: 3,
  DeleteRange: 4,
  CompareAndSwap: 5,
} as const;
export type KvCommandType = (typeof KvCommandType)[keyof typeof KvCommandType];

export type KvCommand =
  | { type: typeof KvCommandType.Put; epochVersion: number; key: Uint8Array; value: Uint8Array }
  | { type: typeof KvCommandType.BatchPut; epochVersion: number; pairs: { key: Uint8Array; value: Uint8Array }[] }
  | { type: typeof KvCommandType.Delete; epochVersion: number; key: Uint8Array }
  | { type: typeof KvCommandType.DeleteRange; epochVersion: number; startKey: Uint8Array; endKey: Uint8Array }
  | {
    type: typeof KvCommandType.CompareAndSwap;
    epochVersion: number;
    key: Uint8Array;
    expectExists: boolean;
    expectedValue: Uint8Array;
    newValue: Uint8Array;
    delete: boolean;
  };

const CAS_EXPECT_EXISTS = 0x01;
const CAS_DELETE = 0x02;
const CAS_KNOWN_FLAGS = CAS_EXPECT_EXISTS | CAS_DELETE;

/** The bytes of a raft entry do not hold a command this store understands. */
export class KvCommandDecodeError extends Error {
  constructor(readonly reason: string) {
    super(`kv command: ${reason}`);
    this.name = 'KvCommandDecodeError';
  }
}

/** Strict reader of command bytes (canonical varints, bounded lengths); errors are KvCommandDecodeError. */
export class CommandReader {
  private pos = 0;

  constructor(private readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  u8(what: string): number {
    if (this.pos >= this.buf.length) throw new KvCommandDecodeError(`truncated: missing ${what}`);
    return this.buf[this.pos++]!;
  }

  varint(what: string): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.buf.length) throw new KvCommandDecodeError(`truncated: ${what} ends mid-varint`);
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * scale;
      if (!Number.isSafeInteger(v)) throw new KvCommandDecodeError(`${what} exceeds 2^53 - 1`);
      if ((b & 0x80) === 0) {
        // Canonical form: one encoding per value (a trailing zero byte is padding).
        if (b === 0 && i > 0) throw new KvCommandDecodeError(`${what}: non-minimal varint`);
        return v;
      }
      scale *= 0x80;
    }
    throw new KvCommandDecodeError(`${what}: varint longer than 8 bytes`);
  }

  /** A view into the input (no copy): entries' bytes are immutable once read. */
  bytes(what: string): Uint8Array {
    const n = this.varint(`${what} length`);
    if (n > this.remaining) throw new KvCommandDecodeError(`truncated: ${what} declares ${n} bytes, ${this.remaining} left`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

function encodedSize(c: KvCommand): number {
  switch (c.type) {
    case KvCommandType.Put: return 16 + c.key.length + c.value.length;
    case KvCommandType.BatchPut: return 16 + c.pairs.reduce((n, p) => n + 10 + p.key.length + p.value.length, 0);
    case KvCommandType.Delete: return 16 + c.key.length;
    case KvCommandType.DeleteRange: return 16 + c.startKey.length + c.endKey.length;
    case KvCommandType.CompareAndSwap: return 24 + c.key.length + c.expectedValue.length + c.newValue.length;
  }
}

export function encodeKvCommand(c: KvCommand): Uint8Array {
  const w = new ByteWriter(encodedSize(c)).u8(KV_COMMAND_FORMAT).u8(c.type).uvarint(c.epochVersion);
  switch (c.type) {
    case KvCommandType.Put:
      return w.bytes(c.key).bytes(c.value).finish();
    case KvCommandType.BatchPut:
      w.uvarint(c.pairs.length);
      for (const p of c.pairs) w.bytes(p.key).bytes(p.value);
      return w.finish();
    case KvCommandType.Delete:
      return w.bytes(c.key).finish();
    case KvCommandType.DeleteRange:
      return w.bytes(c.startKey).bytes(c.endKey).finish();
    case KvCommandType.CompareAndSwap:
      return w.u8((c.expectExists ? CAS_EXPECT_EXISTS : 0) | (c.delete ? CAS_DELETE : 0))
        .bytes(c.key).bytes(c.expectedValue).bytes(c.newValue).finish();
  }
}

/** Decodes one command; throws KvCommandDecodeError naming what is wrong. */
export function decodeKvCommand(data: Uint8Array): KvCommand {
  if (data.length === 0) throw new KvCommandDecodeError('empty entry is not a command');
  const r = new CommandReader(data);
  const format = r.u8('format version');
  if (format !== KV_COMMAND_FORMAT) {
    throw new KvCommandDecodeError(`unknown format version ${format} (this store reads version ${KV_COMMAND_FORMAT})`);
  }
  const type = r.u8('command type');
  const epochVersion = r.varint('epoch version');
  let c: KvCommand;
  switch (type) {
    case KvCommandType.Put:
      c = { type, epochVersion, key: r.bytes('key'), value: r.bytes('value') };
      break;
    case KvCommandType.BatchPut: {
      const n = r.varint('pair count');
      // Each pair takes at least two bytes (two empty lengths): refuse absurd counts early.
      if (n * 2 > r.remaining) throw new KvCommandDecodeError(`truncated: ${n} pairs declared, ${r.remaining} bytes left`);
      const pairs: { key: Uint8Array; value: Uint8Array }[] = [];
      for (let i = 0; i < n; i++) pairs.push({ key: r.bytes(`pair ${i} key`), value: r.bytes(`pair ${i} value`) });
      c = { type, epochVersion, pairs };
      break;
    }
    case KvCommandType.Delete:
      c = { type, epochVersion, key: r.bytes('key') };
      break;
    case KvCommandType.DeleteRange:
      c = { type, epochVersion, startKey: r.bytes('start key'), endKey: r.bytes('end key') };
      break;
    case KvCommandType.CompareAndSwap: {
      const flags = r.u8('flags');
      if ((flags & ~CAS_KNOWN_FLAGS) !== 0) throw new KvCommandDecodeError(`unknown CAS flag bits 0x${flags.toString(16)}`);
      c = {
        type, epochVersion, key: r.bytes('key'), expectedValue: r.bytes('expected value'), newValue: r.bytes('new value'),
        expectExists: (flags & CAS_EXPECT_EXISTS) !== 0, delete: (flags & CAS_DELETE) !== 0,
      };
      break;
    }
    default:
      throw new KvCommandDecodeError(`unknown command type ${type}`);
  }
  if (r.remaining !== 0) throw new KvCommandDecodeError(`${r.remaining} trailing bytes after the command`);
  return c;
}
