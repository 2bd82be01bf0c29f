// Static bootstrap (before PD exists) and the store identity file.
//
// bootstrapStore writes range 1, covering the whole keyspace, with one voter per listed
// store (replica id = store id), into an EMPTY data dir. With `splitKeys` k1 < ... < kn
// it writes ranges 1..n+1 instead: ['', k1), [k1, k2), ..., [kn, '') (range i + 1 starts
// at k_i), every one on the same stores (tests and benchmarks with many ranges). Every store of the initial set
// runs it once with the same list; they then elect a leader among themselves. It refuses
// a data dir that holds anything, so running it twice (or against a live store's dir)
// can never reset a range.
//
// The identity file `<dataDir>/store-ident.json` records which store a data dir belongs
// to; a store refuses to start on a dir of another store id.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfState } from '@rangekv/raft';
import { ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import { StorageEngine, type StorageEngineOptions } from '@rangekv/storage';

export const STORE_IDENT_FILE = 'store-ident.json';
export const FIRST_RANGE_ID = 1;

export interface BootstrapOptions {
  /** The stores that hold replicas of range 1 (each gets replica id = store id). */
  storeIds: readonly number[];
  /** This data dir's store; must be one of storeIds. */
  thisStore: number;
  /**
   * Cut the keyspace here: ranges 1..n+1. Non-empty, strictly ascending (bytewise); every
   * store of the set must pass the same keys.
   */
  splitKeys?: readonly Uint8Array[];
  storage?: StorageEngineOptions;
}

export class BootstrapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BootstrapError';
  }
}

function checkStoreId(id: number, what: string): void {
  if (!Number.isSafeInteger(id) || id <= 0) throw new BootstrapError(`${what} must be a positive integer, got ${id}`);
}

/** The store id a data dir belongs to (its identity file), or null for a new dir. */
export function dataDirStoreId(dataDir: string): number | null {
  const path = join(dataDir, STORE_IDENT_FILE);
  if (!existsSync(path)) return null;
  let found: unknown;
  try {
    found = (JSON.parse(readFileSync(path, 'utf8')) as { storeId?: unknown }).storeId;
  } catch (e) {
    throw new BootstrapError(`${path} is unreadable: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof found !== 'number' || !Number.isSafeInteger(found) || found <= 0) throw new BootstrapError(`${path} holds no valid store id`);
  return found;
}

/** A data dir's identity: its store id, and the store's secret token (PD knows the store by both). */
export interface StoreIdentity {
  storeId: number;
  /** 32 random bytes as hex; sent to PD with every heartbeat (proto/pd.proto store_token). */
  token: string;
}

function writeIdentity(path: string, ident: StoreIdentity): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(ident) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

/**
 * Reads the identity file; throws if it names another store. Writes it if absent (a new
 * token), and adds a token to a file written before tokens existed.
 */
export function claimDataDir(dataDir: string, storeId: number): StoreIdentity {
  checkStoreId(storeId, 'store id');
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, STORE_IDENT_FILE);
  if (existsSync(path)) {
    let found: { storeId?: unknown; token?: unknown };
    try {
      found = JSON.parse(readFileSync(path, 'utf8')) as { storeId?: unknown; token?: unknown };
    } catch (e) {
      throw new BootstrapError(`${path} is unreadable: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (found.storeId !== storeId) throw new BootstrapError(`data dir ${dataDir} belongs to store ${String(found.storeId)}, not store ${storeId}`);
    if (typeof found.token === 'string' && /^[0-9a-f]{64}$/.test(found.token)) return { storeId, token: found.token };
    if (found.token !== undefined) throw new BootstrapError(`${path} holds a malformed store token`);
  }
  const ident: StoreIdentity = { storeId, token: randomBytes(32).toString('hex') };
  writeIdentity(path, ident);
  return ident;
}

export function firstRangeDescriptor(storeIds: readonly number[]): RangeDescriptor {
  const ids = [...storeIds].sort((a, b) => a - b);
  return {
    rangeId: FIRST_RANGE_ID,
    startKey: new Uint8Array(0),
    endKey: new Uint8Array(0),
    epoch: { confVer: 1, version: 1 },
    replicas: ids.map((id) => ({ storeId: id, replicaId: id, role: ReplicaRole.Voter })),
  };
}

/**
 * The descriptors of a static bootstrap: range 1 over the whole keyspace, or ranges
 * 1..n+1 cut at `splitKeys` (checked: non-empty, strictly ascending).
 */
export function bootstrapDescriptors(storeIds: readonly number[], splitKeys: readonly Uint8Array[] = []): RangeDescriptor[] {
  const first = firstRangeDescriptor(storeIds);
  for (let i = 0; i < splitKeys.length; i++) {
    const k = splitKeys[i]!;
    if (k.length === 0) throw new BootstrapError(`split key ${i} is empty`);
    if (i > 0 && Buffer.compare(splitKeys[i - 1]!, k) >= 0) {
      throw new BootstrapError(`split keys must be strictly ascending: key ${i} is not above key ${i - 1}`);
    }
  }
  const bounds = [new Uint8Array(0), ...splitKeys.map((k) => Uint8Array.from(k)), new Uint8Array(0)];
  return bounds.slice(0, -1).map((startKey, i) => ({
    ...first,
    rangeId: FIRST_RANGE_ID + i,
    startKey,
    endKey: bounds[i + 1]!,
    replicas: first.replicas.map((r) => ({ ...r })),
  }));
}

export async function bootstrapStore(dataDir: string, opts: BootstrapOptions): Promise<void> {
  const ids = opts.storeIds;
  if (ids.length === 0) throw new BootstrapError('bootstrap needs at least one store id');
  for (const id of ids) checkStoreId(id, 'bootstrap store id');
  if (new Set(ids).size !== ids.length) throw new BootstrapError(`bootstrap store ids repeat: ${ids.join(',')}`);
  checkStoreId(opts.thisStore, 'this store id');
  if (!ids.includes(opts.thisStore)) throw new BootstrapError(`store ${opts.thisStore} is not among the bootstrap stores ${ids.join(',')}`);
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new BootstrapError(`refusing to bootstrap: data dir ${dataDir} is not empty (already bootstrapped or in use)`);
  }
  const descs = bootstrapDescriptors(ids, opts.splitKeys);
  claimDataDir(dataDir, opts.thisStore);
  const confState: ConfState = {
    voters: descs[0]!.replicas.map((r) => r.replicaId), learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false,
  };
  const engine = await StorageEngine.open(dataDir, opts.storage ?? {});
  try {
    for (const descriptor of descs) await engine.createRange({ descriptor, confState });
  } finally {
    await engine.close();
  }
}
