import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { decodePdCommand, encodePdCommand, type PdCommand } from './pd-command.js';
import { PdDecodeError } from './pd-codec.js';
import { newWrites, PdState, FIRST_GENERAL_ID } from './pd-state.js';
import { ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import { OperatorKind, OperatorStatus, type OperatorRecord, type RangeRecord } from './types.js';

const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const E = new Uint8Array(0);

function desc(rangeId: number, start: string, end: string, version: number, confVer = 1, stores = [1, 2, 3]): RangeDescriptor {
  return {
    rangeId, startKey: start === '' ? E : b(start), endKey: end === '' ? E : b(end), epoch: { confVer, version },
    replicas: stores.map((s) => ({ storeId: s, replicaId: 10 + s, role: ReplicaRole.Voter })),
  };
}

function rec(d: RangeDescriptor, term: number, leaderStore = 1): RangeRecord {
  return { descriptor: d, term, leader: d.replicas.find((r) => r.storeId === leaderStore) ?? null };
}

function op(id: number, rangeId: number, status: OperatorStatus = OperatorStatus.RUNNING): OperatorRecord {
  return {
    id, kind: OperatorKind.SPLIT, rangeId, toStore: 0, fromStore: 0, splitKey: b('m'), status, step: 'created', reason: '',
    createdAtMs: 1, finishedAtMs: 0, timeoutMs: 1000, descriptor: null, right: null, replicaId: 0, newRangeId: 99, createdBy: 'admin',
  };
}

/** Applies commands through their encoding (as raft would) and keeps every row written. */
class Harness {
  st = new PdState({ maxFinishedOperators: 2 });
  rows = new Map<string, Uint8Array>();
  apply(c: PdCommand) {
    const w = newWrites();
    const res = this.st.apply(decodePdCommand(encodePdCommand(c)), w);
    for (const [k, v] of w.puts) this.rows.set(Buffer.from(k).toString('latin1'), v);
    for (const k of w.deletes) this.rows.delete(Buffer.from(k).toString('latin1'));
    return res;
  }
  reload(): PdState {
    return PdState.load([...this.rows].map(([k, v]) => ({ key: Buffer.from(k, 'latin1'), value: v })), { maxFinishedOperators: 2 });
  }
}

test('id allocation: reserved blocks never overlap, survive a reload, store ids are their own space', () => {
  const h = new Harness();
  const a = h.apply({ t: 'reserve', space: 'id', count: 100 });
  const c = h.apply({ t: 'reserve', space: 'id', count: 5 });
  assert.deepEqual([a.ok, a.first, c.first], [true, FIRST_GENERAL_ID, FIRST_GENERAL_ID + 100]);
  assert.equal(h.apply({ t: 'reserve', space: 'store', count: 1 }).first, 1);
  assert.equal(h.apply({ t: 'reserve', space: 'store', count: 1 }).first, 2);
  const again = h.reload();
  assert.equal(again.nextId, FIRST_GENERAL_ID + 105);
  assert.equal(again.nextStoreId, 3);
  // Ids stay below 2^32.
  const big = h.apply({ t: 'reserve', space: 'id', count: 2 ** 32 });
  assert.equal(big.ok, false);
  assert.match(big.error, /exhausted/);
});

test('cluster id is set once', () => {
  const h = new Harness();
  assert.equal(h.apply({ t: 'init', clusterId: 7 }).ok, true);
  assert.equal(h.apply({ t: 'init', clusterId: 8 }).ok, false);
  assert.equal(h.reload().clusterId, 7);
});

test('bootstrap commits range 1 once and is found by key', () => {
  const h = new Harness();
  const d1 = desc(1, '', '', 1);
  assert.equal(h.apply({ t: 'bootstrap', descriptor: d1 }).ok, true);
  const second = h.apply({ t: 'bootstrap', descriptor: desc(1, '', '', 1, 1, [4, 5, 6]) });
  assert.equal(second.ok, false);
  const st = h.reload();
  assert.equal(st.bootstrapped, true);
  assert.deepEqual(st.bootstrapDescriptor?.replicas.map((r) => r.storeId), [1, 2, 3]);
  assert.equal(st.index.byKey(b('anything'))?.descriptor.rangeId, 1);
});

test('newest report wins: epoch.version, then confVer, then term; older ones change nothing', () => {
  const h = new Harness();
  h.apply({ t: 'bootstrap', descriptor: desc(1, '', '', 1) });
  assert.equal(h.apply({ t: 'putRanges', ranges: [rec(desc(1, '', '', 1, 2), 3)] }).first, 1);
  assert.equal(h.apply({ t: 'putRanges', ranges: [rec(desc(1, '', '', 1, 1), 9)] }).first, 0, 'older confVer loses to any term');
  assert.equal(h.apply({ t: 'putRanges', ranges: [rec(desc(1, '', '', 1, 2), 2)] }).first, 0, 'same epoch, older term');
  assert.equal(h.apply({ t: 'putRanges', ranges: [rec(desc(1, '', '', 1, 2), 4, 2)] }).first, 1, 'same epoch, newer term');
  const r = h.st.ranges.get(1)!;
  assert.deepEqual([r.descriptor.epoch.confVer, r.term, r.leader?.storeId], [2, 4, 2]);
});

test('split: the right half reported first overlaps the stale left; lookups prefer the narrower, newer range', () => {
  const h = new Harness();
  h.apply({ t: 'bootstrap', descriptor: desc(1, '', '', 1) });
  h.apply({ t: 'putRanges', ranges: [rec(desc(5, 'm', '', 2), 1)] });
  assert.equal(h.st.index.byKey(b('a'))?.descriptor.rangeId, 1);
  assert.equal(h.st.index.byKey(b('z'))?.descriptor.rangeId, 5);
  h.apply({ t: 'putRanges', ranges: [rec(desc(1, '', 'm', 2), 1)] });
  h.apply({ t: 'putRanges', ranges: [rec(desc(7, 't', '', 3), 1), rec(desc(5, 'm', 't', 3), 1)] });
  const st = h.reload();
  assert.deepEqual(st.index.scan(E, E, 10).ranges.map((r) => r.descriptor.rangeId), [1, 5, 7]);
  assert.deepEqual(st.index.scan(b('n'), b('u'), 10).ranges.map((r) => r.descriptor.rangeId), [5, 7]);
  const page = st.index.scan(E, E, 2);
  assert.deepEqual([page.ranges.map((r) => r.descriptor.rangeId), page.more], [[1, 5], true]);
  assert.equal(st.index.byKey(b('m'))?.descriptor.rangeId, 5);
  assert.equal(st.index.byKey(b('l'))?.descriptor.rangeId, 1);
});

test('a merged range absorbs the records inside its span', () => {
  const h = new Harness();
  h.apply({ t: 'putRanges', ranges: [rec(desc(1, '', 'm', 2), 1), rec(desc(5, 'm', '', 2), 1)] });
  h.apply({ t: 'putRanges', ranges: [rec(desc(1, '', '', 3), 1)] });
  assert.deepEqual([...h.reload().ranges.keys()], [1]);
});

test('after a merge, a stale record of the right range (older version, overlapping the merged one) is not taken back', () => {
  const h = new Harness();
  h.apply({ t: 'putRanges', ranges: [rec(desc(1, '', 'm', 2), 1), rec(desc(5, 'm', 't', 2), 1), rec(desc(7, 't', '', 2), 1)] });
  h.apply({ t: 'putRanges', ranges: [rec(desc(1, '', 't', 3), 1)] });
  const stale = h.apply({ t: 'putRanges', ranges: [rec(desc(5, 'm', 't', 2), 9)] });
  assert.equal(stale.first, 0, 'nothing changed');
  const st = h.reload();
  assert.deepEqual([...st.ranges.keys()].sort(), [1, 7]);
  assert.equal(st.index.byKey(b('n'))?.descriptor.rangeId, 1);
});

test('a MERGE holds its right-hand range too: no other operator on either while it runs', () => {
  const h = new Harness();
  const merge: OperatorRecord = { ...op(10, 1), kind: OperatorKind.MERGE, splitKey: E, newRangeId: 0, right: desc(5, 'm', '', 2) };
  assert.equal(h.apply({ t: 'createOperator', op: merge }).ok, true);
  const onRight = h.apply({ t: 'createOperator', op: op(11, 5) });
  assert.deepEqual([onRight.ok, onRight.error], [false, 'range 5 already has running operator 10']);
  const other = h.apply({ t: 'createOperator', op: { ...merge, id: 12, rangeId: 3 } });
  assert.deepEqual([other.ok, other.error], [false, 'range 5 already has running operator 10'], 'nor a second merge of it');
  assert.equal(h.reload().runningOperatorOf(5)?.id, 10);
});

test('operators: one running per range; final ones are kept up to the limit, oldest dropped', () => {
  const h = new Harness();
  assert.equal(h.apply({ t: 'createOperator', op: op(10, 1) }).ok, true);
  const dup = h.apply({ t: 'createOperator', op: op(11, 1) });
  assert.equal(dup.ok, false);
  assert.match(dup.error, /already has running operator 10/);
  assert.equal(h.apply({ t: 'updateOperator', op: { ...op(10, 1), step: 'splitting' } }).ok, true);
  assert.equal(h.apply({ t: 'updateOperator', op: { ...op(10, 1), status: OperatorStatus.SUCCEEDED } }).ok, true);
  assert.equal(h.apply({ t: 'updateOperator', op: { ...op(10, 1), step: 'again' } }).ok, false, 'final is final');
  for (const id of [12, 13, 14]) {
    h.apply({ t: 'createOperator', op: op(id, 1) });
    h.apply({ t: 'updateOperator', op: { ...op(id, 1), status: OperatorStatus.FAILED, reason: 'x' } });
  }
  h.apply({ t: 'createOperator', op: op(15, 1) });
  const st = h.reload();
  assert.deepEqual([...st.operators.keys()].sort((a, c) => a - c), [13, 14, 15]);
  assert.equal(st.runningOperatorOf(1)?.id, 15);
});

test('malformed commands are refused with a decode error', () => {
  assert.throws(() => decodePdCommand(new Uint8Array([])), PdDecodeError);
  assert.throws(() => decodePdCommand(new Uint8Array([9, 1, 2])), PdDecodeError);
  assert.throws(() => decodePdCommand(new Uint8Array([1, ...Buffer.from('{"t":"nope"}')])), PdDecodeError);
  assert.throws(() => decodePdCommand(new Uint8Array([1, ...Buffer.from('{"t":"reserve","space":"id","count":-1}')])), PdDecodeError);
  const boot = Buffer.from(encodePdCommand({ t: 'bootstrap', descriptor: desc(1, '', '', 1) })).toString('latin1');
  assert.ok(boot.includes('"role":0'));
  const badRole = new Uint8Array(Buffer.from(boot.replaceAll('"role":0', '"role":5'), 'latin1'));
  assert.throws(() => decodePdCommand(badRole), (e: unknown) => e instanceof PdDecodeError && /replica.role: 5 is not a replica role/.test(e.message));
});

test('decommissioning: serving -> offline -> tombstone (or back to serving); a tombstone never comes back; the state survives a reload', () => {
  const h = new Harness();
  const store = { id: 4, address: 'a:1', raftAddress: 'a:2', httpAddress: '', tokenHash: 'x', state: 'serving' as const, labels: {} };
  assert.ok(h.apply({ t: 'putStore', store }).ok);
  assert.equal(h.apply({ t: 'setStoreState', storeId: 9, state: 'offline' }).error, 'store 9 is unknown');
  assert.equal(h.apply({ t: 'setStoreState', storeId: 4, state: 'tombstone' }).error, 'store 4 cannot go from serving to tombstone');
  assert.ok(h.apply({ t: 'setStoreState', storeId: 4, state: 'offline' }).ok);
  // A heartbeat's address change keeps the state.
  assert.ok(h.apply({ t: 'putStore', store: { ...store, address: 'b:1' } }).ok);
  assert.deepEqual([h.st.stores.get(4)!.address, h.st.stores.get(4)!.state], ['b:1', 'offline']);
  assert.ok(h.apply({ t: 'setStoreState', storeId: 4, state: 'serving' }).ok, 'a cancel');
  assert.ok(h.apply({ t: 'setStoreState', storeId: 4, state: 'offline' }).ok);
  assert.ok(h.apply({ t: 'setStoreState', storeId: 4, state: 'tombstone' }).ok);
  assert.equal(h.reload().stores.get(4)!.state, 'tombstone');
  assert.equal(h.apply({ t: 'setStoreState', storeId: 4, state: 'serving' }).error, 'store 4 cannot go from tombstone to serving');
  assert.equal(h.apply({ t: 'putStore', store }).error, 'store 4 is tombstone (decommissioned)');
  // Records written before decommissioning (no state) read as serving; an unknown state does not decode.
  const old = encodePdCommand({ t: 'putStore', store });
  const json = JSON.parse(Buffer.from(old.subarray(1)).toString('utf8')) as { store: Record<string, unknown> };
  delete json.store['state'];
  const again = new Uint8Array([old[0]!, ...Buffer.from(JSON.stringify(json))]);
  assert.equal((decodePdCommand(again) as { store: { state: string } }).store.state, 'serving');
  assert.throws(() => decodePdCommand(new Uint8Array([old[0]!, ...Buffer.from(JSON.stringify({ t: 'setStoreState', storeId: 4, state: 'gone' }))])), PdDecodeError);
});
