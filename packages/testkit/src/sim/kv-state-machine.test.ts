import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KvStateMachine, decodeCommand, encodeCommand, type KvCommand } from './kv-state-machine.js';

const put = (client: number, seq: number, key: string, value: string): KvCommand => ({ client, seq, kind: 'put', key, value });

test('put then cas: cas succeeds only on the expected value', () => {
  const sm = new KvStateMachine();
  assert.deepEqual(sm.apply(put(1, 1, 'x', 'a')), { status: 'applied', result: { kind: 'put' } });
  assert.deepEqual(sm.apply({ client: 1, seq: 2, kind: 'cas', key: 'x', expected: 'z', value: 'b' }).status, 'applied');
  assert.equal(sm.get('x'), 'a');
  const r = sm.apply({ client: 1, seq: 3, kind: 'cas', key: 'x', expected: 'a', value: 'b' });
  assert.deepEqual(r, { status: 'applied', result: { kind: 'cas', ok: true } });
  assert.equal(sm.get('x'), 'b');
  assert.equal(sm.apply({ client: 2, seq: 1, kind: 'cas', key: 'y', expected: null, value: 'c' }).status, 'applied');
  assert.equal(sm.get('y'), 'c');
});

test('a retried write (same client and seq) is applied once and answers the first result', () => {
  const sm = new KvStateMachine();
  sm.apply({ client: 1, seq: 1, kind: 'cas', key: 'x', expected: null, value: 'a' });
  const again = sm.apply({ client: 1, seq: 1, kind: 'cas', key: 'x', expected: null, value: 'a' });
  assert.deepEqual(again, { status: 'duplicate', result: { kind: 'cas', ok: true } });
});

test('an abandoned older write that commits late is skipped', () => {
  const sm = new KvStateMachine();
  sm.apply(put(1, 2, 'x', 'new'));
  assert.deepEqual(sm.apply(put(1, 1, 'x', 'old')), { status: 'stale' });
  assert.equal(sm.get('x'), 'new');
});

test('a snapshot round-trips the map and the dedup table', () => {
  const sm = new KvStateMachine();
  sm.apply(put(1, 1, 'x', 'a'));
  sm.apply(put(2, 5, 'y', 'b'));
  const copy = KvStateMachine.fromSnapshot(sm.encodeSnapshot());
  assert.equal(copy.digest(), sm.digest());
  assert.equal(copy.apply(put(2, 5, 'y', 'zzz')).status, 'duplicate');
  assert.equal(KvStateMachine.fromSnapshot(new Uint8Array(0)).digest(), new KvStateMachine().digest());
});

test('digest differs when a value differs', () => {
  const a = new KvStateMachine();
  const b = new KvStateMachine();
  a.apply(put(1, 1, 'x', 'a'));
  b.apply(put(1, 1, 'x', 'b'));
  assert.notEqual(a.digest(), b.digest());
});

test('commands round-trip and malformed ones throw', () => {
  const c = put(3, 9, 'k', 'v');
  assert.deepEqual(decodeCommand(encodeCommand(c)), c);
  assert.throws(() => decodeCommand(new TextEncoder().encode('{"client":1}')), /malformed/);
});
