// The generated bindings, made strict before anything can decode with them. Everything
// in this package (and so every user of it) reaches the generated code through here.
//
// Order matters: runtime.js configures protobufjs (64-bit integers as numbers), the
// strict integer readers replace protobufjs's, then every generated class's decode is
// wrapped (enum members, WireDecodeError with the field path).
import protobuf from '../generated/runtime.js';
import { rangekv } from '../generated/rangekv.js';
import { wireSchema } from '../generated/wire-schema.js';
import { installStrictDecode } from './strict-decode.js';
import { installStrictReader } from './strict-reader.js';

installStrictReader(protobuf.Reader.prototype);
installStrictDecode({ rangekv }, wireSchema, protobuf.Reader);

export { rangekv, wireSchema };
