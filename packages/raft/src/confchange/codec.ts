// Binary encoding of a ConfChangeV2, as carried in the data of a ConfChange log entry.
//
// Layout (version 1):
//   u8       version = 1
//   u8       transition (0 Auto, 1 JointImplicit, 2 JointExplicit)
//   uvarint  change count n
//   n ×      u8 type (0 AddNode, 1 RemoveNode, 2 AddLearnerNode), uvarint nodeId
//   uvarint  context length m
//   m bytes  context
// Varints are unsigned LEB128, canonical (no redundant trailing zero groups), at most
// Number.MAX_SAFE_INTEGER. Decoding is strict: any deviation, including trailing bytes,
// is an error, so one ConfChangeV2 has exactly one encoding.
import {
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
} from '../types.js';
import { invariant } from '../util.js';

const VERSION = 1;
/** 8 groups of 7 bits cover 2^53. */
const VARINT_BYTES_MAX = 8;
/** Smallest encoding of one change: type byte + one-byte id. */
const CHANGE_BYTES_MIN = 2;

function isTransition(v: number): v is ConfChangeTransition {
  return (
    v === ConfChangeTransition.Auto || v === ConfChangeTransition.JointImplicit || v === ConfChangeTransition.JointExplicit
  );
}

function isChangeType(v: number): v is ConfChangeType {
  return v === ConfChangeType.AddNode || v === ConfChangeType.RemoveNode || v === ConfChangeType.AddLearnerNode;
}

export function encodeConfChange(cc: ConfChangeV2): Uint8Array {
  invariant(isTransition(cc.transition), () => `encode: unknown transition ${cc.transition}`);
  const out: number[] = [VERSION, cc.transition];
  writeUvarint(out, cc.changes.length);
  for (const c of cc.changes) {
    invariant(isChangeType(c.type), () => `encode: unknown change type ${c.type}`);
    invariant(Number.isSafeInteger(c.nodeId) && c.nodeId >= 0, () => `encode: invalid node id ${c.nodeId}`);
    out.push(c.type);
    writeUvarint(out, c.nodeId);
  }
  writeUvarint(out, cc.context.length);
  const bytes = new Uint8Array(out.length + cc.context.length);
  bytes.set(out, 0);
  bytes.set(cc.context, out.length);
  return bytes;
}

/** Decodes what encodeConfChange produced; throws an Error naming the defect otherwise. */
export function decodeConfChange(data: Uint8Array): ConfChangeV2 {
  // Explicitly typed so that r.fail(): never narrows types after the checks below.
  const r: Reader = new Reader(data);
  const version = r.byte('version');
  if (version !== VERSION) r.fail(`unsupported version ${version} (expected ${VERSION})`);
  const transition = r.byte('transition');
  if (!isTransition(transition)) r.fail(`unknown transition ${transition}`);
  const count = r.uvarint('change count');
  // Bound the count by the bytes left before allocating anything for it.
  if (count * CHANGE_BYTES_MIN > r.remaining()) {
    r.fail(`change count ${count} exceeds the remaining ${r.remaining()} bytes`);
  }
  const changes: ConfChangeSingle[] = [];
  for (let i = 0; i < count; i++) {
    const type = r.byte(`change ${i} type`);
    if (!isChangeType(type)) r.fail(`change ${i}: unknown type ${type}`);
    changes.push({ type, nodeId: r.uvarint(`change ${i} node id`) });
  }
  const contextLength = r.uvarint('context length');
  if (contextLength !== r.remaining()) {
    r.fail(`context length ${contextLength} but ${r.remaining()} bytes remain`);
  }
  // A copy: the entry buffer it came from may be reused by the caller.
  const context = r.take(contextLength);
  return { transition, changes, context };
}

function writeUvarint(out: number[], v: number): void {
  invariant(Number.isSafeInteger(v) && v >= 0, () => `encode: varint ${v} out of range`);
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

class Reader {
  private pos = 0;

  constructor(private readonly data: Uint8Array) {}

  remaining(): number {
    return this.data.length - this.pos;
  }

  fail(why: string): never {
    throw new Error(`malformed conf change (${this.data.length} bytes) at offset ${this.pos}: ${why}`);
  }

  byte(what: string): number {
    if (this.pos >= this.data.length) this.fail(`truncated: missing ${what}`);
    return this.data[this.pos++];
  }

  uvarint(what: string): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < VARINT_BYTES_MAX; i++) {
      const b = this.byte(what);
      v += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) this.fail(`${what}: non-canonical varint`);
        if (v > Number.MAX_SAFE_INTEGER) this.fail(`${what}: varint exceeds 2^53-1`);
        return v;
      }
      scale *= 0x80;
    }
    return this.fail(`${what}: varint longer than ${VARINT_BYTES_MAX} bytes`);
  }

  take(n: number): Uint8Array {
    const out = this.data.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}
