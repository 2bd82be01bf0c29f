// Admin commands carried in raft entries (range split), and the context a membership
// change carries (which store each added replica lives on).
//
// An admin command's first byte is ADMIN_COMMAND_FORMAT (0x81), which no KV command
// starts with (their first byte is the KV format version, 1), so the apply side tells
// them apart before decoding. Like KV commands the bytes are the contract between store
// versions: strict decoding, and a store refuses loudly what it cannot read.
//
//   u8 format (=0x81) | u8 type | body
//     Split 1:       varint confVer, varint version, bytes splitKey, varint newRangeId
//     Freeze 2:      varint mergeId, varint leftRangeId, varint leftConfVer, varint leftVersion,
//                    varint confVer, varint version                        (on the right range)
//     Unfreeze 3:    varint mergeId                                        (on the right range)
//     CommitMerge 4: varint mergeId, varint leftConfVer, varint leftVersion, varint rightRangeId,
//                    varint rightVersion, bytes rightEndKey, varint freezeIndex, varint freezeTerm
//     AbortMerge 5:  varint mergeId, varint leftConfVer, varint leftVersion   (on the left range)
//     BeginMerge 6:  varint mergeId, varint leftConfVer, varint leftVersion, varint rightRangeId
//                                                                          (on the left range)
//
// Merge (store README, "Merge"): the left range records the merge as pending (BeginMerge:
// it can then not be frozen by another merge); the right range applies Freeze and stops serving; the
// left range applies whichever of CommitMerge and AbortMerge of a merge comes first while
// its epoch is still the planned one (leftConfVer, leftVersion); each moves that epoch, so
// the other is then a no-op on every replica alike.
//
// `confVer`/`version` are the epoch the proposer checked: apply refuses the split if
// either changed since (another split or a membership change came first), so a split
// never cuts a range it was not planned against. The right-hand range reuses the left's
// replica ids on the same stores (like CockroachDB), so only its range id is carried.
//
// Worked example: split at "m" into new range 7, planned at epoch {confVer 1, version 2}:
//   81 01 01 02 01 6d 07
//   |  |  |  |  '--'-- split key "m" (length 1)
//   |  |  |  epoch version 2
//   |  |  epoch confVer 1
//   |  type Split
//   admin format
//
// Membership-change context (ConfChangeV2.context):
//   u8 format (=1) | varint n | n x (varint replicaId, varint storeId)
// naming the store of every replica the change adds, so each replica can update the
// range descriptor at apply without asking anyone.
import { ByteWriter } from '@rangekv/storage';
import { CommandReader, KvCommandDecodeError } from './kv-command.js';

export const ADMIN_COMMAND_FORMAT = 0x81;
export const CONF_CHANGE_CONTEXT_FORMAT = 1;

export const AdminCommandType = {
  Split: 1,
  Freeze: 2,
  Unfreeze: 3,
  CommitMerge: 4,
  AbortMerge: 5,
  BeginMerge: 6,
} as const;

export interface SplitCommand {
  type: typeof AdminCommandType.Split;
  confVer: number;
  version: number;
  splitKey: Uint8Array;
  newRangeId: number;
}

/** The left range's epoch a merge was planned against. */
export interface LeftEpoch {
  leftConfVer: number;
  leftVersion: number;
}

export interface FreezeCommand extends LeftEpoch {
  type: typeof AdminCommandType.Freeze;
  mergeId: number;
  leftRangeId: number;
  /** The right range's epoch the merge was planned against. */
  confVer: number;
  version: number;
}

export interface UnfreezeCommand {
  type: typeof AdminCommandType.Unfreeze;
  mergeId: number;
}

export interface CommitMergeCommand extends LeftEpoch {
  type: typeof AdminCommandType.CommitMerge;
  mergeId: number;
  rightRangeId: number;
  rightVersion: number;
  /** The right range's end: the merged range's end (empty = the end of the keyspace). */
  rightEndKey: Uint8Array;
  /** The right range's Freeze entry: every replica of it holds its log up to there. */
  freezeIndex: number;
  freezeTerm: number;
}

export interface AbortMergeCommand extends LeftEpoch {
  type: typeof AdminCommandType.AbortMerge;
  mergeId: number;
}

export interface BeginMergeCommand extends LeftEpoch {
  type: typeof AdminCommandType.BeginMerge;
  mergeId: number;
  rightRangeId: number;
}

export type MergeCommand = BeginMergeCommand | FreezeCommand | UnfreezeCommand | CommitMergeCommand | AbortMergeCommand;
export type AdminCommand = SplitCommand | MergeCommand;

/** Does a normal entry's data hold an admin command (rather than a KV command)? */
export function isAdminCommand(data: Uint8Array): boolean {
  return data.length > 0 && data[0] === ADMIN_COMMAND_FORMAT;
}

export function encodeAdminCommand(c: AdminCommand): Uint8Array {
  const w = new ByteWriter(64).u8(ADMIN_COMMAND_FORMAT).u8(c.type);
  switch (c.type) {
    case AdminCommandType.Split:
      return w.uvarint(c.confVer).uvarint(c.version).bytes(c.splitKey).uvarint(c.newRangeId).finish();
    case AdminCommandType.Freeze:
      return w.uvarint(c.mergeId).uvarint(c.leftRangeId).uvarint(c.leftConfVer).uvarint(c.leftVersion).uvarint(c.confVer).uvarint(c.version).finish();
    case AdminCommandType.Unfreeze:
      return w.uvarint(c.mergeId).finish();
    case AdminCommandType.CommitMerge:
      return w.uvarint(c.mergeId).uvarint(c.leftConfVer).uvarint(c.leftVersion).uvarint(c.rightRangeId).uvarint(c.rightVersion)
        .bytes(c.rightEndKey).uvarint(c.freezeIndex).uvarint(c.freezeTerm).finish();
    case AdminCommandType.AbortMerge:
      return w.uvarint(c.mergeId).uvarint(c.leftConfVer).uvarint(c.leftVersion).finish();
    case AdminCommandType.BeginMerge:
      return w.uvarint(c.mergeId).uvarint(c.leftConfVer).uvarint(c.leftVersion).uvarint(c.rightRangeId).finish();
  }
}

/** Decodes one admin command; throws KvCommandDecodeError naming the defect. */
export function decodeAdminCommand(data: Uint8Array): AdminCommand {
  const r = new CommandReader(data);
  const format = r.u8('admin format');
  if (format !== ADMIN_COMMAND_FORMAT) throw new KvCommandDecodeError(`admin command: format 0x${format.toString(16)}, expected 0x81`);
  const type = r.u8('admin command type');
  const c = decodeBody(r, type);
  if (r.remaining !== 0) throw new KvCommandDecodeError(`${r.remaining} trailing bytes after the admin command`);
  return c;
}

function positive(r: CommandReader, what: string): number {
  const v = r.varint(what);
  if (v === 0) throw new KvCommandDecodeError(`${what} is 0`);
  return v;
}

function decodeBody(r: CommandReader, type: number): AdminCommand {
  switch (type) {
    case AdminCommandType.Split: {
      const c: SplitCommand = {
        type, confVer: r.varint('confVer'), version: r.varint('version'), splitKey: r.bytes('split key'), newRangeId: r.varint('new range id'),
      };
      if (c.splitKey.length === 0) throw new KvCommandDecodeError('split key is empty');
      if (c.newRangeId === 0) throw new KvCommandDecodeError('new range id is 0');
      return c;
    }
    case AdminCommandType.Freeze:
      return {
        type, mergeId: positive(r, 'merge id'), leftRangeId: positive(r, 'left range id'), leftConfVer: r.varint('left confVer'),
        leftVersion: r.varint('left version'), confVer: r.varint('confVer'), version: r.varint('version'),
      };
    case AdminCommandType.Unfreeze:
      return { type, mergeId: positive(r, 'merge id') };
    case AdminCommandType.CommitMerge:
      return {
        type, mergeId: positive(r, 'merge id'), leftConfVer: r.varint('left confVer'), leftVersion: r.varint('left version'),
        rightRangeId: positive(r, 'right range id'), rightVersion: r.varint('right version'), rightEndKey: r.bytes('right end key'),
        freezeIndex: positive(r, 'freeze index'), freezeTerm: r.varint('freeze term'),
      };
    case AdminCommandType.AbortMerge:
      return { type, mergeId: positive(r, 'merge id'), leftConfVer: r.varint('left confVer'), leftVersion: r.varint('left version') };
    case AdminCommandType.BeginMerge:
      return {
        type, mergeId: positive(r, 'merge id'), leftConfVer: r.varint('left confVer'), leftVersion: r.varint('left version'), rightRangeId: positive(r, 'right range id'),
      };
    default:
      throw new KvCommandDecodeError(`unknown admin command type ${type}`);
  }
}

/** replicaId -> storeId of the replicas a membership change adds. */
export function encodeConfChangeContext(stores: ReadonlyMap<number, number>): Uint8Array {
  const w = new ByteWriter(2 + stores.size * 8).u8(CONF_CHANGE_CONTEXT_FORMAT).uvarint(stores.size);
  for (const [replicaId, storeId] of [...stores].sort((a, b) => a[0] - b[0])) w.uvarint(replicaId).uvarint(storeId);
  return w.finish();
}

/** Empty context (raft's own leave-joint entries) = no replicas added. */
export function decodeConfChangeContext(data: Uint8Array): Map<number, number> {
  const out = new Map<number, number>();
  if (data.length === 0) return out;
  const r = new CommandReader(data);
  const format = r.u8('context format');
  if (format !== CONF_CHANGE_CONTEXT_FORMAT) throw new KvCommandDecodeError(`conf change context: unknown format ${format}`);
  const n = r.varint('replica count');
  if (n * 2 > r.remaining) throw new KvCommandDecodeError(`conf change context: ${n} replicas declared, ${r.remaining} bytes left`);
  for (let i = 0; i < n; i++) out.set(r.varint(`replica ${i} id`), r.varint(`replica ${i} store`));
  if (r.remaining !== 0) throw new KvCommandDecodeError(`conf change context: ${r.remaining} trailing bytes`);
  return out;
}
