// Which field a byte offset falls in: a small walk over the wire format, used only after
// a decode failed, to name the field at fault ('messages[3].message.type'). Decoding
// itself never pays for it.
//
// The walk trusts nothing: it stops at the first thing it cannot read and names what it
// found up to there.
import type { WireField, WireSchema } from '../generated/wire-schema.js';

/** A varint at `pos` as [value, next position], or null if malformed or truncated.
 *  Values over 2^53 come back inexact, which is enough for lengths that then do not fit. */
function varint(buf: Uint8Array, pos: number, end: number): [number, number] | null {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) return null;
    const b = buf[pos++]!;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) return [value, pos];
  }
  return null;
}

interface FieldSpan {
  id: number;
  wireType: number;
  /** Where the tag starts, the value starts (after the length prefix of wire type 2)
   *  and the value ends (may be past `end` when truncated or the length is bad). */
  start: number;
  valueStart: number;
  valueEnd: number;
}

/** The field whose tag starts at `pos`, or null when even its tag cannot be read. */
function fieldAt(buf: Uint8Array, pos: number, end: number): FieldSpan | null {
  const tag = varint(buf, pos, end);
  if (tag === null) return null;
  const [t, afterTag] = tag;
  const id = Math.floor(t / 8);
  const wireType = t % 8;
  let valueStart = afterTag;
  let valueEnd: number;
  switch (wireType) {
    case 0: {
      const v = varint(buf, afterTag, end);
      valueEnd = v === null ? Infinity : v[1];
      break;
    }
    case 1: valueEnd = valueStart + 8; break;
    case 2: {
      const n = varint(buf, afterTag, end);
      if (n !== null) valueStart = n[1];
      valueEnd = n === null ? Infinity : n[1] + n[0];
      break;
    }
    case 5: valueEnd = valueStart + 4; break;
    default: valueEnd = Infinity; // groups and invalid wire types: not walked
  }
  return { id, wireType, start: pos, valueStart, valueEnd };
}

/** Offset of the tag of the last occurrence of field `id` in [start, end), or `start`. */
export function lastFieldOffset(buf: Uint8Array, start: number, end: number, id: number): number {
  let found = start;
  let pos = start;
  while (pos < end) {
    const f = fieldAt(buf, pos, end);
    if (f === null) break;
    if (f.id === id) found = f.start;
    if (f.valueEnd > end) break;
    pos = f.valueEnd;
  }
  return found;
}

export class FieldIndex {
  private readonly byType = new Map<string, Map<number, WireField>>();

  constructor(schema: WireSchema) {
    for (const [name, fields] of Object.entries(schema.types)) {
      this.byType.set(name, new Map(fields.map((f) => [f.id, f])));
    }
  }

  field(typeName: string, id: number): WireField | undefined {
    return this.byType.get(typeName)?.get(id);
  }

  /**
   * The path of the field holding byte `offset` of `buf`, a message of `typeName`:
   * names joined by '.', with an index on the occurrences of a repeated field
   * ('entries[2]'), '#N' for an unknown field number. '' if the offset is in no field.
   */
  pathAt(typeName: string, buf: Uint8Array, offset: number): string {
    const parts: string[] = [];
    let type = typeName;
    let pos = 0;
    let end = buf.length;
    for (let depth = 0; depth < 100; depth++) {
      const seen = new Map<number, number>();
      let descended = false;
      while (pos < end) {
        const f = fieldAt(buf, pos, end);
        if (f === null) return parts.join('.');
        const n = seen.get(f.id) ?? 0;
        seen.set(f.id, n + 1);
        // The last field whose tag starts at or before the offset holds it, also when its
        // value runs past the end (truncated).
        if (offset < f.valueEnd || f.valueEnd > end) {
          if (offset < f.start) return parts.join('.');
          const field = this.field(type, f.id);
          if (field === undefined) {
            parts.push(`#${f.id}`);
            return parts.join('.');
          }
          const packed = field.repeated && f.wireType === 2 && field.kind !== 'message' && field.kind !== 'bytes' && field.kind !== 'string';
          parts.push(field.repeated && !packed ? `${field.name}[${n}]` : field.name);
          if (field.kind === 'message' && f.wireType === 2 && offset >= f.valueStart && f.valueEnd <= end && field.ref !== undefined) {
            type = field.ref;
            pos = f.valueStart;
            end = f.valueEnd;
            descended = true;
            break;
          }
          return parts.join('.');
        }
        pos = f.valueEnd;
      }
      if (!descended) return parts.join('.');
    }
    return parts.join('.');
  }
}
