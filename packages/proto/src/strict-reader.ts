// Strict integer readers for protobufjs's Reader: a varint that does not fit its field's
// type is refused, never rounded or truncated.
//
// protobufjs (without Long) reads a uint64 as hi · 2^32 + lo in a double, so 2^53 + 1
// comes back as 2^53 and the damage shows up far away; it reads a uint32 or int32 by
// dropping every bit above 32, so read_consistency 2^32 comes back as 0 (LINEARIZABLE).
// The generated decoders call these four methods only for fields of those types
// (enums are read as int32). Tags, lengths and unknown fields use other methods
// (tag, size, skip) and are untouched: unknown fields are still skipped.
//
//   uint64  value <= 2^53 - 1
//   int64   |value| <= 2^53 - 1 (a negative value is the 10-byte two's complement)
//   uint32  value < 2^32
//   int32   value in [-2^31, 2^31), negatives as 10-byte two's complement (as encoders write them)
//
// A varint may be padded with 0x80 bytes up to 10 bytes (the wire format allows it);
// longer, or with bits beyond 64, it is malformed.
import type { Reader } from 'protobufjs/minimal.js';
import { WireDecodeError } from './wire-decode-error.js';

const TWO_32 = 4294967296;
/** hi word of 2^53 − 1. */
const SAFE_HI_MAX = 0x1fffff;

type Kind = 'uint64' | 'int64' | 'uint32' | 'int32';

function refuse(offset: number, reason: string): never {
  throw new WireDecodeError('', '', offset, reason);
}

function asBigInt(lo: number, hi: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Reads a whole varint at r.pos (1-10 bytes) and holds it to `kind`; the slow path. */
function readVarint(r: Reader, kind: Kind): number {
  const buf = r.buf;
  const len = r.len;
  const start = r.pos;
  let pos = start;
  let lo = 0;
  let hi = 0;
  for (let i = 0; ; i++) {
    if (i === 10) refuse(start, `${kind} varint longer than 10 bytes`);
    if (pos >= len) refuse(start, `${kind} varint truncated at byte ${pos}`);
    const b = buf[pos++]!;
    const bits = b & 0x7f;
    if (i < 4) lo |= bits << (7 * i);
    else if (i === 4) {
      lo |= (bits & 0x0f) << 28;
      hi |= bits >>> 4;
    } else if (i < 9) hi |= bits << (7 * i - 32);
    else {
      if (bits > 1) refuse(start, `${kind} varint over 64 bits`);
      hi |= bits << 31;
    }
    if (b < 0x80) break;
  }
  r.pos = pos;
  lo >>>= 0;
  hi >>>= 0;
  switch (kind) {
    case 'uint64':
      if (hi > SAFE_HI_MAX) refuse(start, `uint64 ${asBigInt(lo, hi)} is over 2^53 - 1`);
      return hi * TWO_32 + lo;
    case 'int64': {
      if (hi < 0x80000000) {
        if (hi > SAFE_HI_MAX) refuse(start, `int64 ${asBigInt(lo, hi)} is over 2^53 - 1`);
        return hi * TWO_32 + lo;
      }
      // Negative: magnitude = 2^64 − value = ~value + 1.
      const nhi = ~hi >>> 0;
      const nlo = ~lo >>> 0;
      const magnitude = nhi * TWO_32 + nlo + 1;
      if (nhi > SAFE_HI_MAX || magnitude > Number.MAX_SAFE_INTEGER) {
        refuse(start, `int64 -${asBigInt(nlo, nhi) + 1n} is under -(2^53 - 1)`);
      }
      return -magnitude;
    }
    case 'uint32':
      if (hi !== 0) refuse(start, `uint32 ${asBigInt(lo, hi)} does not fit 32 bits`);
      return lo;
    case 'int32':
      if (hi === 0 && lo < 0x80000000) return lo;
      if (hi === 0xffffffff && lo >= 0x80000000) return lo | 0;
      refuse(start, `int32 varint ${asBigInt(lo, hi)} is not a 32-bit signed value`);
  }
}

// The fast path: one byte, no sign, no range to check (every kind holds 0-127).
function strictUint64(this: Reader): number {
  const pos = this.pos;
  if (pos < this.len) {
    const b = this.buf[pos]!;
    if (b < 0x80) {
      this.pos = pos + 1;
      return b;
    }
  }
  return readVarint(this, 'uint64');
}

function strictInt64(this: Reader): number {
  const pos = this.pos;
  if (pos < this.len) {
    const b = this.buf[pos]!;
    if (b < 0x80) {
      this.pos = pos + 1;
      return b;
    }
  }
  return readVarint(this, 'int64');
}

function strictUint32(this: Reader): number {
  const pos = this.pos;
  if (pos < this.len) {
    const b = this.buf[pos]!;
    if (b < 0x80) {
      this.pos = pos + 1;
      return b;
    }
  }
  return readVarint(this, 'uint32');
}

function strictInt32(this: Reader): number {
  const pos = this.pos;
  if (pos < this.len) {
    const b = this.buf[pos]!;
    if (b < 0x80) {
      this.pos = pos + 1;
      return b;
    }
  }
  return readVarint(this, 'int32');
}

/** The readers installStrictReader puts in place (a test checks they are still there). */
export const STRICT_READERS = Object.freeze({
  uint64: strictUint64, int64: strictInt64, uint32: strictUint32, int32: strictInt32,
});

/**
 * Replaces `uint64`, `int64`, `uint32` and `int32` of protobufjs's Reader.prototype (the
 * copy rangekv.js uses) with the strict readers above. Packed repeated readers
 * (`uint64s`, ...) call these, so they are strict too. Must run after protobufjs's
 * `configure()`, which installs its own 64-bit readers.
 */
export function installStrictReader(readerPrototype: Reader): void {
  const p = readerPrototype as unknown as Record<Kind, unknown>;
  p.uint64 = strictUint64;
  p.int64 = strictInt64;
  p.uint32 = strictUint32;
  p.int32 = strictInt32;
}
