import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChannelPool } from './channels.js';
import { PdClient } from './pd-client.js';

/** The address bookkeeping needs no channels. */
const noPool = null as unknown as ChannelPool;

test('the member list goes first; addresses it does not name stay behind it while there is room', () => {
  const pd = new PdClient(['a:1', 'b:1'], noPool, 1_000, 4);
  pd.setMembers(['c:1', 'a:1']);
  assert.deepEqual(pd.addresses(), ['c:1', 'a:1', 'b:1']);
  pd.setMembers(['d:1', 'e:1', 'f:1']);
  assert.deepEqual(pd.addresses(), ['d:1', 'e:1', 'f:1', 'c:1'], 'bounded by maxPdAddresses: the oldest others fall off');
  pd.setMembers([]);
  assert.deepEqual(pd.addresses(), ['d:1', 'e:1', 'f:1', 'c:1'], 'an empty list (a node knowing no addresses) changes nothing');
  pd.setMembers(['', 'd:1']);
  assert.deepEqual(pd.addresses(), ['d:1', 'e:1', 'f:1', 'c:1'], 'unknown addresses are skipped');
});

test('a redirect to an address not known makes room by dropping the last one the member list does not name', () => {
  const pd = new PdClient(['a:1', 'b:1', 'c:1'], noPool, 1_000, 3);
  pd.setMembers(['a:1', 'c:1']);
  assert.deepEqual(pd.addresses(), ['a:1', 'c:1', 'b:1']);
  pd.learn('d:1');
  assert.deepEqual(pd.addresses(), ['a:1', 'c:1', 'd:1'], 'b is no member: it goes');
  pd.learn('a:1');
  assert.deepEqual(pd.addresses(), ['a:1', 'c:1', 'd:1'], 'a known address is not added twice');
  pd.setMembers(['a:1', 'c:1', 'd:1']);
  pd.learn('e:1');
  assert.deepEqual(pd.addresses(), ['a:1', 'c:1', 'e:1'], 'all members: the last one goes');
});

test('more PD addresses given than maxPdAddresses is refused', () => {
  assert.throws(() => new PdClient(['a:1', 'b:1', 'c:1'], noPool, 1_000, 2), /3 PD addresses given, more than maxPdAddresses \(2\)/);
  assert.deepEqual(new PdClient(['a:1', 'a:1', 'b:1'], noPool, 1_000, 2).addresses(), ['a:1', 'b:1'], 'duplicates count once');
});
