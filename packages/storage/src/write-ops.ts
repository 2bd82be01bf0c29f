// Write operations encoded into one flat buffer, so a request crosses to the log-writer
// thread as one transferable chunk of bytes instead of many small objects.
//
//   op := kind:u8 (1 put, 2 del)  cf:u8  keyLen:u32le key  [valueLen:u32le value]
import { ColumnFamily } from './column-families.js';
import { withRoom } from './binary.js';
import { DecodeError } from './errors.js';

const OP_PUT = 1;
const OP_DEL = 2;

const NO_BYTES = Buffer.alloc(0);

export class WriteOps {
  /** Allocated at the first op: a scheduler cycle builds a batch that often stays empty. */
  private buf: Buffer = NO_BYTES;
  private pos = 0;
  private ops = 0;
  private sealed = false;

  constructor(private readonly initialBytes = 256) {}

  private reserve(n: number): void {
    if (this.sealed) throw new Error('WriteOps: already handed to the log writer; build a new one');
    if (this.buf.length === 0) this.buf = Buffer.allocUnsafe(Math.max(this.initialBytes, n));
    else this.buf = withRoom(this.buf, this.pos, n);
  }

  put(cf: ColumnFamily, key: Uint8Array, value: Uint8Array): this {
    this.reserve(10 + key.length + value.length);
    const b = this.buf;
    b[this.pos] = OP_PUT;
    b[this.pos + 1] = cf;
    b.writeUInt32LE(key.length, this.pos + 2);
    b.set(key, this.pos + 6);
    this.pos += 6 + key.length;
    b.writeUInt32LE(value.length, this.pos);
    b.set(value, this.pos + 4);
    this.pos += 4 + value.length;
    this.ops++;
    return this;
  }

  del(cf: ColumnFamily, key: Uint8Array): this {
    this.reserve(6 + key.length);
    const b = this.buf;
    b[this.pos] = OP_DEL;
    b[this.pos + 1] = cf;
    b.writeUInt32LE(key.length, this.pos + 2);
    b.set(key, this.pos + 6);
    this.pos += 6 + key.length;
    this.ops++;
    return this;
  }

  /** Appends every op of `other` (same order). */
  append(other: WriteOps): this {
    const bytes = other.bytes();
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    this.ops += other.ops;
    return this;
  }

  get count(): number {
    return this.ops;
  }

  get byteLength(): number {
    return this.pos;
  }

  /** The encoded ops (a view: valid until the next put/del). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** Hands the bytes over (no copy): later put/del/append throw. */
  seal(): Buffer {
    this.sealed = true;
    return this.bytes();
  }
}

export type OpVisitor = (kind: 'put' | 'del', cf: ColumnFamily, key: Buffer, value: Buffer | null) => void;

/** Walks an encoded op buffer; keys/values are views into it. Malformed input throws DecodeError. */
export function forEachOp(bytes: Uint8Array, visit: OpVisitor): number {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  let n = 0;
  const fail = (why: string): never => {
    throw new DecodeError('write ops', `${why} at byte ${p} of ${b.length}`);
  };
  while (p < b.length) {
    if (p + 6 > b.length) fail('truncated op header');
    const kind = b[p]!;
    const cf = b[p + 1]!;
    if (cf > ColumnFamily.Meta) fail(`unknown column family ${cf}`);
    const keyLen = b.readUInt32LE(p + 2);
    p += 6;
    if (p + keyLen > b.length) fail('truncated key');
    const key = b.subarray(p, p + keyLen);
    p += keyLen;
    if (kind === OP_PUT) {
      if (p + 4 > b.length) fail('truncated value length');
      const valueLen = b.readUInt32LE(p);
      p += 4;
      if (p + valueLen > b.length) fail('truncated value');
      visit('put', cf as ColumnFamily, key, b.subarray(p, p + valueLen));
      p += valueLen;
    } else if (kind === OP_DEL) {
      visit('del', cf as ColumnFamily, key, null);
    } else {
      fail(`unknown op kind ${kind}`);
    }
    n++;
  }
  return n;
}
