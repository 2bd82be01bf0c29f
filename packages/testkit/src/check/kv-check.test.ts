import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HistoryOp, KvOp, KvResult } from '../history.js';
import { checkKvHistory } from './kv-check.js';
import { checkOperations } from './linearizability.js';
import { dropUnobservableWrites, registerModel } from './kv-check.js';

// A compact way to write histories: [client, call, ret|null, op, result|null].
type Row = [number, number, number | null, KvOp, KvResult | null];
function history(rows: Row[]): HistoryOp[] {
  return rows.map(([client, call, ret, op, result], id) => ({
    id, client, op, invokeTime: call, returnTime: ret, result,
  }));
}
const put = (key: string, value: string): KvOp => ({ kind: 'put', key, value });
const get = (key: string): KvOp => ({ kind: 'get', key, mode: 'read-index' });
const cas = (key: string, expected: string | null, value: string): KvOp => ({ kind: 'cas', key, expected, value });
const ok: KvResult = { kind: 'put' };
const saw = (value: string | null): KvResult => ({ kind: 'get', value });
const casOk: KvResult = { kind: 'cas', ok: true };
const casFail: KvResult = { kind: 'cas', ok: false };

function verdict(rows: Row[]): string {
  return checkKvHistory(history(rows)).verdict;
}

test('sequential put then get of the same value is linearizable', () => {
  assert.equal(verdict([[1, 0, 1, put('x', 'a'), ok], [1, 2, 3, get('x'), saw('a')]]), 'linearizable');
});

test('a read of a never-written key returns nothing (initial state is absent)', () => {
  assert.equal(verdict([[1, 0, 1, get('x'), saw(null)]]), 'linearizable');
  assert.equal(verdict([[1, 0, 1, get('x'), saw('a')]]), 'violation');
});

test('a read concurrent with a put may see either the old or the new value', () => {
  assert.equal(verdict([[1, 0, 10, put('x', 'a'), ok], [2, 2, 4, get('x'), saw(null)], [3, 5, 8, get('x'), saw('a')]]), 'linearizable');
  assert.equal(verdict([[1, 0, 10, put('x', 'a'), ok], [2, 2, 4, get('x'), saw('a')]]), 'linearizable');
});

test('stale read: a read that starts after a put returned must see it', () => {
  const r = checkKvHistory(history([[1, 0, 1, put('x', 'a'), ok], [2, 2, 3, get('x'), saw(null)]]));
  assert.equal(r.verdict, 'violation');
  assert.ok(r.verdict === 'violation' && r.explanation.includes('get(x)'), 'explanation names the stuck read');
});

test('a value cannot flip back: once a read saw the new value, later reads must too', () => {
  assert.equal(
    verdict([[1, 0, 10, put('x', 'a'), ok], [2, 1, 2, get('x'), saw('a')], [3, 3, 4, get('x'), saw(null)]]),
    'violation',
  );
});

test('lost write: after two sequential puts a read must not see the first', () => {
  assert.equal(
    verdict([[1, 0, 1, put('x', 'a'), ok], [1, 2, 3, put('x', 'b'), ok], [2, 4, 5, get('x'), saw('a')]]),
    'violation',
  );
});

test('concurrent puts may land in either order, but reads must agree on one order', () => {
  assert.equal(
    verdict([[1, 0, 5, put('x', 'a'), ok], [2, 0, 5, put('x', 'b'), ok], [3, 6, 7, get('x'), saw('a')], [3, 8, 9, get('x'), saw('a')]]),
    'linearizable',
  );
  assert.equal(
    verdict([[1, 0, 5, put('x', 'a'), ok], [2, 0, 5, put('x', 'b'), ok], [3, 6, 7, get('x'), saw('a')], [3, 8, 9, get('x'), saw('b')]]),
    'violation',
  );
});

test('CAS: two concurrent CAS from the same expected value cannot both succeed', () => {
  assert.equal(
    verdict([[1, 0, 1, put('x', 'a'), ok], [2, 2, 5, cas('x', 'a', 'b'), casOk], [3, 2, 5, cas('x', 'a', 'c'), casOk]]),
    'violation',
  );
  assert.equal(
    verdict([[1, 0, 1, put('x', 'a'), ok], [2, 2, 5, cas('x', 'a', 'b'), casOk], [3, 2, 5, cas('x', 'a', 'c'), casFail]]),
    'linearizable',
  );
});

test('CAS: a failed CAS is a violation when the value matched and nobody else wrote', () => {
  assert.equal(verdict([[1, 0, 1, put('x', 'a'), ok], [1, 2, 3, cas('x', 'a', 'b'), casFail]]), 'violation');
  assert.equal(verdict([[1, 0, 1, cas('x', null, 'b'), casFail]]), 'violation');
});

test('CAS: a successful CAS must be visible to later reads', () => {
  assert.equal(verdict([[1, 0, 1, cas('x', null, 'a'), casOk], [1, 2, 3, get('x'), saw('a')]]), 'linearizable');
  assert.equal(verdict([[1, 0, 1, cas('x', null, 'a'), casOk], [1, 2, 3, get('x'), saw(null)]]), 'violation');
});

test('unknown-outcome put may have happened: later reads may see it', () => {
  assert.equal(verdict([[1, 0, null, put('x', 'a'), null], [2, 5, 6, get('x'), saw('a')]]), 'linearizable');
});

test('unknown-outcome put may not have happened: later reads may miss it', () => {
  assert.equal(verdict([[1, 0, null, put('x', 'a'), null], [2, 5, 6, get('x'), saw(null)], [2, 7, 8, get('x'), saw(null)]]), 'linearizable');
});

test('unknown-outcome put takes effect at most once and not before its call', () => {
  // Seen, then gone again with no other writer: impossible.
  assert.equal(
    verdict([[1, 0, null, put('x', 'a'), null], [2, 5, 6, get('x'), saw('a')], [2, 7, 8, get('x'), saw(null)]]),
    'violation',
  );
  // Seen before it was invoked: impossible.
  assert.equal(verdict([[2, 0, 1, get('x'), saw('a')], [1, 5, null, put('x', 'a'), null]]), 'violation');
});

test('unknown-outcome CAS can only apply when its expected value holds', () => {
  assert.equal(verdict([[1, 0, 1, put('x', 'a'), ok], [2, 2, null, cas('x', 'a', 'b'), null], [3, 5, 6, get('x'), saw('b')]]), 'linearizable');
  assert.equal(verdict([[1, 0, 1, put('x', 'z'), ok], [2, 2, null, cas('x', 'a', 'b'), null], [3, 5, 6, get('x'), saw('b')]]), 'violation');
});

test('reads that never returned constrain nothing', () => {
  assert.equal(verdict([[1, 0, 1, put('x', 'a'), ok], [2, 2, null, get('x'), null]]), 'linearizable');
});

test('keys are checked independently and the violating key is named', () => {
  const r = checkKvHistory(history([
    [1, 0, 1, put('x', 'a'), ok], [1, 2, 3, get('x'), saw('a')],
    [2, 0, 1, put('y', 'b'), ok], [2, 2, 3, get('y'), saw(null)],
  ]));
  assert.equal(r.verdict, 'violation');
  assert.ok(r.verdict === 'violation' && r.key === 'y');
});

test('an op that returns exactly when another is invoked counts as concurrent with it', () => {
  assert.equal(verdict([[1, 0, 5, put('x', 'a'), ok], [2, 5, 6, get('x'), saw(null)]]), 'linearizable');
  assert.equal(verdict([[1, 0, 5, put('x', 'a'), ok], [2, 6, 7, get('x'), saw(null)]]), 'violation');
});

test('memoization keeps a wide concurrent history fast', () => {
  // 12 clients, 40 rounds each of fully concurrent puts and gets: factorial without the cache.
  const rows: Row[] = [];
  for (let round = 0; round < 40; round++) {
    const t = round * 10;
    for (let c = 0; c < 6; c++) rows.push([c, t, t + 9, put('x', `v${round}-${c}`), ok]);
    for (let c = 6; c < 12; c++) rows.push([c, t, t + 9, get('x'), saw(round === 0 ? null : `v${round - 1}-5`)]);
  }
  const started = Date.now();
  const r = checkKvHistory(history(rows));
  assert.equal(r.verdict, 'linearizable');
  assert.ok(Date.now() - started < 5000, 'checked in under 5 s');
});

test('the search gives up (not a false verdict) when over its step budget', () => {
  const ops = [];
  for (let i = 0; i < 12; i++) ops.push({ id: i, input: put('x', `v${i}`), output: ok, call: 0, ret: 100 });
  ops.push({ id: 12, input: get('x'), output: saw('nope'), call: 101, ret: 102 });
  assert.equal(checkOperations(registerModel, ops, { maxSteps: 50 }).verdict, 'gave-up');
  assert.equal(checkOperations(registerModel, ops).verdict, 'violation');
});

test('unknown writes nobody observed are pruned, observed ones are kept', () => {
  const ops = [
    { id: 0, input: put('x', 'a'), output: null, call: 0, ret: Infinity },
    { id: 1, input: put('x', 'b'), output: null, call: 0, ret: Infinity },
    { id: 2, input: cas('x', 'b', 'c'), output: null, call: 1, ret: Infinity },
    { id: 3, input: get('x'), output: saw('c'), call: 5, ret: 6 },
  ];
  assert.deepEqual(dropUnobservableWrites(ops).map((o) => o.id), [1, 2, 3]);
  // A known-failed CAS could be explained by an unseen write: keep everything.
  const withFail = [...ops, { id: 4, input: cas('x', 'q', 'r'), output: casFail, call: 7, ret: 8 }];
  assert.equal(dropUnobservableWrites(withFail).length, 5);
});

test('an unseen unknown write can still explain a failed CAS', () => {
  assert.equal(
    verdict([[1, 0, 1, put('x', 'a'), ok], [2, 2, null, put('x', 'z'), null], [1, 5, 6, cas('x', 'a', 'b'), casFail]]),
    'linearizable',
  );
});

test('many unknown-outcome puts on one key still check quickly', () => {
  const rows: Row[] = [];
  for (let i = 0; i < 60; i++) rows.push([i % 4, i * 10, null, put('x', `u${i}`), null]);
  rows.push([9, 1000, 1001, get('x'), saw('u7')]);
  rows.push([9, 1002, 1003, get('x'), saw('u3')]);
  assert.equal(verdict(rows), 'linearizable');
  rows.push([9, 1004, 1005, get('x'), saw('u7')]);
  assert.equal(verdict(rows), 'violation');
});
