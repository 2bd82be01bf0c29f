// A byte writer and reader for the compact record encodings: unsigned varints for numbers
// (up to 2^53 - 1, so any JS safe integer; minimal encoding only), length-prefixed byte
// strings. The reader checks every bound and reports the record it was decoding.
import { DecodeError } from './errors.js';

/** Returns `buf`, or a copy of its first `used` bytes in a buffer at least twice as big, with room for `extra` more. */
export function withRoom(buf: Buffer, used: number, extra: number): Buffer {
  if (used + extra <= buf.length) return buf;
  let cap = Math.max(buf.length * 2, 16);
  while (cap < used + extra) cap *= 2;
  const next = Buffer.allocUnsafe(cap);
  buf.copy(next, 0, 0, used);
  return next;
}

export class ByteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes = 64) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  private reserve(n: number): void {
    this.buf = withRoom(this.buf, this.pos, n);
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf[this.pos++] = v;
    return this;
  }

  /** Unsigned LEB128 of a safe integer. */
  uvarint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`uvarint: not a non-negative safe integer: ${v}`);
    this.reserve(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.uvarint(b.length);
    return this.raw(b);
  }

  raw(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  u32(v: number): this {
    this.reserve(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  get length(): number {
    return this.pos;
  }

  /** A copy of exactly the written bytes. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

export class ByteReader {
  private pos = 0;
  private readonly view: Buffer;

  constructor(readonly record: string, bytes: Uint8Array) {
    this.view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(reason: string): never {
    throw new DecodeError(this.record, `${reason} (at byte ${this.pos} of ${this.view.length})`);
  }

  u8(): number {
    if (this.pos >= this.view.length) this.fail('truncated');
    return this.view[this.pos++]!;
  }

  /** Only the minimal encoding of each value is accepted, so every record decodes canonically. */
  uvarint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; ; i++) {
      if (i >= 8) this.fail('varint longer than 8 bytes');
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (b === 0 && i > 0) this.fail('non-minimal varint (a trailing zero byte)');
        break;
      }
      mul *= 0x80;
    }
    if (!Number.isSafeInteger(v)) this.fail('varint beyond 2^53');
    return v;
  }

  u32(): number {
    if (this.pos + 4 > this.view.length) this.fail('truncated');
    const v = this.view.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A length-prefixed byte string (a copy, so it outlives the input buffer). */
  bytes(maxBytes = Number.MAX_SAFE_INTEGER): Uint8Array {
    const n = this.uvarint();
    if (n > maxBytes) this.fail(`byte string of ${n} bytes over its limit ${maxBytes}`);
    return this.raw(n);
  }

  raw(n: number): Uint8Array {
    if (this.pos + n > this.view.length) this.fail(`truncated: wants ${n} bytes`);
    const out = new Uint8Array(n);
    out.set(this.view.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  /** The rest of the input, copied. */
  rest(): Uint8Array {
    return this.raw(this.view.length - this.pos);
  }

  get remaining(): number {
    return this.view.length - this.pos;
  }

  /** A record must be consumed exactly: trailing bytes mean it is not what we think. */
  end(): void {
    if (this.pos !== this.view.length) this.fail(`${this.view.length - this.pos} trailing bytes`);
  }
}
