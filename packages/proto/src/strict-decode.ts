// Strict decoding for every generated message type: enum fields hold members of their
// enum, and a decode called on bytes throws nothing but WireDecodeError, naming the
// field at fault.
//
// Each generated class's static `decode` is replaced by a wrapper. Generated decoders
// call nested types through the class (`$root.rangekv.raft.Message.decode(reader, ...)`),
// so the wrappers run at every level:
//   - given a Reader (a nested message): decode, then check this type's own enum fields
//     (types without enum fields go straight through);
//   - given bytes (the top level): the same on a fresh Reader, and any failure, from
//     protobufjs or from the strict readers (strict-reader.ts), becomes a
//     WireDecodeError whose path is found by walking the bytes (wire-path.ts), only then.
import type { Reader } from 'protobufjs/minimal.js';
import type { WireField, WireSchema } from '../generated/wire-schema.js';
import { WireDecodeError } from './wire-decode-error.js';
import { FieldIndex, lastFieldOffset } from './wire-path.js';

type DecodeFn = (reader: Reader | Uint8Array, length?: number, end?: number, depth?: number, target?: object) => object;

interface ReaderClass {
  new (buf: Uint8Array): Reader;
  create(buf: Uint8Array): Reader;
}

interface EnumCheck {
  id: number;
  name: string;
  repeated: boolean;
  enumName: string;
  members: ReadonlySet<number>;
}

const STRICT = Symbol('rangekv.strictDecode');

function lookup(root: object, fullName: string): Record<string | symbol, unknown> {
  let node: unknown = root;
  for (const part of fullName.split('.')) {
    node = (node as Record<string, unknown> | undefined)?.[part];
  }
  if ((typeof node !== 'function' && typeof node !== 'object') || node === null) {
    throw new Error(`strict decoding: no generated type ${fullName}`);
  }
  return node as Record<string | symbol, unknown>;
}

function enumChecks(schema: WireSchema, fields: ReadonlyArray<WireField>): EnumCheck[] {
  return fields.filter((f) => f.kind === 'enum').map((f) => {
    const values = schema.enums[f.ref!];
    if (values === undefined) throw new Error(`strict decoding: no enum ${f.ref}`);
    return { id: f.id, name: f.name, repeated: f.repeated, enumName: f.ref!, members: new Set(Object.values(values)) };
  });
}

function checkEnums(m: object, checks: ReadonlyArray<EnumCheck>, buf: Uint8Array, start: number, end: number): void {
  const fields = m as Record<string, unknown>;
  for (const c of checks) {
    const v = fields[c.name];
    if (c.repeated) {
      for (const x of v as unknown[]) {
        if (!c.members.has(x as number)) {
          throw new WireDecodeError('', '', lastFieldOffset(buf, start, end, c.id), `${String(x)} is not a ${c.enumName}`);
        }
      }
    } else if (!c.members.has(v as number)) {
      throw new WireDecodeError('', '', lastFieldOffset(buf, start, end, c.id), `${String(v)} is not a ${c.enumName}`);
    }
  }
}

/**
 * Makes the `decode` of every type in `schema` (found under `root` by full name) strict,
 * as described at the top of this file. Idempotent.
 */
export function installStrictDecode(root: object, schema: WireSchema, ReaderCtor: ReaderClass): void {
  const index = new FieldIndex(schema);
  for (const [typeName, fields] of Object.entries(schema.types)) {
    const cls = lookup(root, typeName);
    if (cls[STRICT] === true) continue;
    const inner = cls['decode'] as DecodeFn;
    if (typeof inner !== 'function') throw new Error(`strict decoding: ${typeName} has no decode`);
    const checks = enumChecks(schema, fields);
    const nested: DecodeFn = checks.length === 0
      ? inner
      : (reader, length, end, depth, target) => {
        const r = reader as Reader;
        const start = r.pos;
        const m = inner(r, length, end, depth, target);
        checkEnums(m, checks, r.buf, start, r.pos);
        return m;
      };
    const decode: DecodeFn = (reader, length, end, depth, target) => {
      if (reader instanceof ReaderCtor) return nested(reader, length, end, depth, target);
      const r = ReaderCtor.create(reader);
      try {
        return nested(r, length, end, depth, target);
      } catch (e) {
        throw located(e, typeName, r.buf, r.pos, index);
      }
    };
    cls['decode'] = decode;
    cls[STRICT] = true;
  }
}

function located(e: unknown, typeName: string, buf: Uint8Array, pos: number, index: FieldIndex): WireDecodeError {
  // protobufjs leaves the reader where the read failed; at the very end (a truncated
  // tail), the last byte is the one inside the field at fault.
  const offset = e instanceof WireDecodeError ? e.offset : Math.max(0, Math.min(pos, buf.length - 1));
  const reason = e instanceof WireDecodeError ? e.reason : e instanceof Error ? e.message : String(e);
  return new WireDecodeError(typeName, index.pathAt(typeName, buf, offset), offset, reason, { cause: e });
}

/** A decode's outcome without a throw: the message, or why the bytes were refused. */
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: WireDecodeError };

/**
 * Runs `decode` (a generated `X.decode`, or a service method's `requestDeserialize`) on
 * `bytes`. A WireDecodeError comes back as `{ ok: false, error }`: a server answers
 * INVALID_ARGUMENT with `error.message`. Anything else thrown is a bug and propagates.
 *
 *   const r = tryDecode(kvService.put.requestDeserialize, buf);
 *   if (!r.ok) return answer(INVALID_ARGUMENT, r.error.message);
 */
export function tryDecode<B extends Uint8Array, T>(decode: (bytes: B) => T, bytes: B): DecodeResult<T> {
  try {
    return { ok: true, value: decode(bytes) };
  } catch (e) {
    if (e instanceof WireDecodeError) return { ok: false, error: e };
    throw e;
  }
}
