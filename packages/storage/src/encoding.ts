// Compact binary encodings of everything the engine stores. Every value starts with a
// record version byte (RECORD_VERSION); decoders refuse other versions and malformed bytes
// with a DecodeError naming the record. Numbers are unsigned varints.
//
//   Entry          v type term data...            (index is in the key)
//   HardState      v term vote commit
//   ConfState      v |voters| ids.. |learners| ids.. |outgoing| ids.. |learnersNext| ids.. autoLeave
//   Truncated      v index term
//   Applied        v index term
//   MergeFreeze    v mergeId leftRangeId leftConfVer leftVersion index term
//   MergeOutcomes  v n (mergeId state:u8 (0 aborted, 1 committed, 2 pending))..
//   Descriptor     v rangeId startKey endKey confVer version |replicas| (storeId replicaId role)..
import type { Entry, EntryType } from '@rangekv/raft';
import { isReplicaRole, type RangeDescriptor, type ReplicaDescriptor } from '@rangekv/proto/range-descriptor';
import { ByteReader, ByteWriter } from './binary.js';
import { MAX_MERGE_OUTCOMES, type AppliedState, type ConfState, type HardState, type MergeFreeze, type MergeOutcome, type TruncatedState } from './records.js';

export const RECORD_VERSION = 1;

function header(w: ByteWriter): ByteWriter {
  return w.u8(RECORD_VERSION);
}

function open(record: string, bytes: Uint8Array): ByteReader {
  const r = new ByteReader(record, bytes);
  if (bytes.length === 0) r.fail('empty');
  const v = r.u8();
  if (v !== RECORD_VERSION) r.fail(`record version ${v} is unknown (this build reads ${RECORD_VERSION})`);
  return r;
}

// --- Entry: the hot path, hand-rolled (no ByteWriter) ---

/** Value bytes of a log entry; the index lives in the key. */
export function encodeEntry(e: Entry): Buffer {
  const term = e.term;
  let termLen = 1;
  for (let t = term; t >= 0x80; t = Math.floor(t / 0x80)) termLen++;
  const out = Buffer.allocUnsafe(2 + termLen + e.data.length);
  out[0] = RECORD_VERSION;
  out[1] = e.type;
  let p = 2;
  let t = term;
  while (t >= 0x80) {
    out[p++] = (t % 0x80) | 0x80;
    t = Math.floor(t / 0x80);
  }
  out[p++] = t;
  out.set(e.data, p);
  return out;
}

/** Size of encodeEntry(e) without encoding it. */
export function encodedEntryBytes(e: Entry): number {
  let termLen = 1;
  for (let t = e.term; t >= 0x80; t = Math.floor(t / 0x80)) termLen++;
  return 2 + termLen + e.data.length;
}

export function decodeEntry(index: number, bytes: Uint8Array): Entry {
  const r = open('log entry', bytes);
  const type = r.u8();
  if (type !== 0 && type !== 1) r.fail(`entry type ${type} is unknown`);
  const term = r.uvarint();
  return { index, term, type: type as EntryType, data: r.rest() };
}

/** Only the term of an encoded entry (no copy of the data). */
export function decodeEntryTerm(bytes: Uint8Array): number {
  const r = open('log entry', bytes);
  r.u8();
  return r.uvarint();
}

// --- HardState ---

export function encodeHardState(hs: HardState): Buffer {
  return header(new ByteWriter(16)).uvarint(hs.term).uvarint(hs.vote).uvarint(hs.commit).finish();
}

export function decodeHardState(bytes: Uint8Array): HardState {
  const r = open('hard state', bytes);
  const hs = { term: r.uvarint(), vote: r.uvarint(), commit: r.uvarint() };
  r.end();
  return hs;
}

// --- ConfState ---

/** Members of a configuration are small numbers; a bound keeps a corrupt count from allocating. */
const MAX_MEMBERS = 1 << 16;

function writeIds(w: ByteWriter, ids: readonly number[]): void {
  // Never write what readIds refuses: the record could not be read back.
  if (ids.length > MAX_MEMBERS) throw new RangeError(`conf state: ${ids.length} members is over ${MAX_MEMBERS}`);
  w.uvarint(ids.length);
  for (const id of ids) w.uvarint(id);
}

function readIds(r: ByteReader): number[] {
  const n = r.uvarint();
  if (n > MAX_MEMBERS) r.fail(`${n} members is over ${MAX_MEMBERS}`);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(r.uvarint());
  return ids;
}

export function encodeConfState(cs: ConfState): Buffer {
  const w = header(new ByteWriter(32));
  writeConfState(w, cs);
  return w.finish();
}

export function decodeConfState(bytes: Uint8Array): ConfState {
  return readConfState(open('conf state', bytes), true);
}

export function writeConfState(w: ByteWriter, cs: ConfState): void {
  writeIds(w, cs.voters);
  writeIds(w, cs.learners);
  writeIds(w, cs.votersOutgoing);
  writeIds(w, cs.learnersNext);
  w.u8(cs.autoLeave ? 1 : 0);
}

export function readConfState(r: ByteReader, whole = false): ConfState {
  const voters = readIds(r);
  const learners = readIds(r);
  const votersOutgoing = readIds(r);
  const learnersNext = readIds(r);
  const al = r.u8();
  if (al > 1) r.fail(`autoLeave flag ${al} is not 0 or 1`);
  if (whole) r.end();
  return { voters, learners, votersOutgoing, learnersNext, autoLeave: al === 1 };
}

// --- Truncated / Applied (same shape, different names in errors) ---

function encodeIndexTerm(s: { index: number; term: number }): Buffer {
  return header(new ByteWriter(16)).uvarint(s.index).uvarint(s.term).finish();
}

function decodeIndexTerm(record: string, bytes: Uint8Array): { index: number; term: number } {
  const r = open(record, bytes);
  const s = { index: r.uvarint(), term: r.uvarint() };
  r.end();
  return s;
}

export function encodeTruncatedState(s: TruncatedState): Buffer {
  return encodeIndexTerm(s);
}

export function decodeTruncatedState(bytes: Uint8Array): TruncatedState {
  return decodeIndexTerm('truncated state', bytes);
}

export function encodeAppliedState(s: AppliedState): Buffer {
  return encodeIndexTerm(s);
}

export function decodeAppliedState(bytes: Uint8Array): AppliedState {
  return decodeIndexTerm('applied state', bytes);
}

// --- MergeFreeze ---

export function encodeMergeFreeze(f: MergeFreeze): Buffer {
  return header(new ByteWriter(32)).uvarint(f.mergeId).uvarint(f.leftRangeId).uvarint(f.leftConfVer).uvarint(f.leftVersion)
    .uvarint(f.index).uvarint(f.term).finish();
}

export function decodeMergeFreeze(bytes: Uint8Array): MergeFreeze {
  const r = open('merge freeze', bytes);
  const f = { mergeId: r.uvarint(), leftRangeId: r.uvarint(), leftConfVer: r.uvarint(), leftVersion: r.uvarint(), index: r.uvarint(), term: r.uvarint() };
  r.end();
  return f;
}

// --- MergeOutcomes ---

const OUTCOME_CODES = { aborted: 0, committed: 1, pending: 2 } as const satisfies Record<MergeOutcome['state'], number>;
const OUTCOME_STATES: readonly MergeOutcome['state'][] = ['aborted', 'committed', 'pending'];

export function writeMergeOutcomes(w: ByteWriter, os: readonly MergeOutcome[]): void {
  if (os.length > MAX_MERGE_OUTCOMES) throw new RangeError(`${os.length} merge outcomes is over ${MAX_MERGE_OUTCOMES}`);
  w.uvarint(os.length);
  for (const o of os) w.uvarint(o.mergeId).u8(OUTCOME_CODES[o.state]);
}

export function readMergeOutcomes(r: ByteReader): MergeOutcome[] {
  const n = r.uvarint();
  if (n > MAX_MERGE_OUTCOMES) r.fail(`${n} merge outcomes is over ${MAX_MERGE_OUTCOMES}`);
  const out: MergeOutcome[] = [];
  for (let i = 0; i < n; i++) {
    const mergeId = r.uvarint();
    const c = r.u8();
    const state = OUTCOME_STATES[c];
    if (state === undefined) r.fail(`merge outcome state ${c}`);
    out.push({ mergeId, state: state! });
  }
  return out;
}

export function encodeMergeOutcomes(os: readonly MergeOutcome[]): Buffer {
  const w = header(new ByteWriter(8 + os.length * 10));
  writeMergeOutcomes(w, os);
  return w.finish();
}

export function decodeMergeOutcomes(bytes: Uint8Array): MergeOutcome[] {
  const r = open('merge outcomes', bytes);
  const os = readMergeOutcomes(r);
  r.end();
  return os;
}

// --- RangeDescriptor ---

/** Keys are bounded by the store's key limits; this only stops a corrupt length early. */
const MAX_DESCRIPTOR_KEY_BYTES = 64 * 1024;
const MAX_REPLICAS = 1024;

export function writeDescriptor(w: ByteWriter, d: RangeDescriptor): void {
  // Never write what readDescriptor refuses: the range could not be loaded again.
  for (const k of [d.startKey, d.endKey]) {
    if (k.length > MAX_DESCRIPTOR_KEY_BYTES) throw new RangeError(`range ${d.rangeId}: a key of ${k.length} bytes is over ${MAX_DESCRIPTOR_KEY_BYTES}`);
  }
  if (d.replicas.length > MAX_REPLICAS) throw new RangeError(`range ${d.rangeId}: ${d.replicas.length} replicas is over ${MAX_REPLICAS}`);
  w.uvarint(d.rangeId).bytes(d.startKey).bytes(d.endKey).uvarint(d.epoch.confVer).uvarint(d.epoch.version);
  w.uvarint(d.replicas.length);
  for (const rep of d.replicas) {
    if (!isReplicaRole(rep.role)) throw new RangeError(`range ${d.rangeId}: replica ${rep.replicaId} has an unknown role ${rep.role}`);
    w.uvarint(rep.storeId).uvarint(rep.replicaId).u8(rep.role);
  }
}

export function readDescriptor(r: ByteReader): RangeDescriptor {
  const rangeId = r.uvarint();
  const startKey = r.bytes(MAX_DESCRIPTOR_KEY_BYTES);
  const endKey = r.bytes(MAX_DESCRIPTOR_KEY_BYTES);
  const epoch = { confVer: r.uvarint(), version: r.uvarint() };
  const n = r.uvarint();
  if (n > MAX_REPLICAS) r.fail(`${n} replicas is over ${MAX_REPLICAS}`);
  const replicas: ReplicaDescriptor[] = [];
  for (let i = 0; i < n; i++) {
    const storeId = r.uvarint();
    const replicaId = r.uvarint();
    const role = r.u8();
    if (!isReplicaRole(role)) r.fail(`replica ${replicaId} has an unknown role ${role}`);
    replicas.push({ storeId, replicaId, role });
  }
  return { rangeId, startKey, endKey, epoch, replicas };
}

export function encodeDescriptor(d: RangeDescriptor): Buffer {
  const w = header(new ByteWriter(64));
  writeDescriptor(w, d);
  return w.finish();
}

export function decodeDescriptor(bytes: Uint8Array): RangeDescriptor {
  const r = open('range descriptor', bytes);
  const d = readDescriptor(r);
  r.end();
  return d;
}

/** Start a versioned record of another module's own shape (snapshot headers, markers). */
export function recordWriter(initialBytes = 64): ByteWriter {
  return header(new ByteWriter(initialBytes));
}

export function recordReader(record: string, bytes: Uint8Array): ByteReader {
  return open(record, bytes);
}
