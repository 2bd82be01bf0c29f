import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coalesceAppends } from './coalesce.js';
import { emptyMessage } from './message.js';
import { Harness } from './testing/harness.js';
import { EntryType, MessageType, type Entry, type Message } from './types.js';
import { entriesSizeBytes } from './util.js';

const ent = (index: number, term = 2, data = 'x'): Entry => ({ index, term, type: EntryType.Normal, data: new TextEncoder().encode(data) });
const app = (to: number, prevIndex: number, prevTerm: number, entries: Entry[], commit: number, term = 2): Message =>
  ({ ...emptyMessage(), type: MessageType.App, from: 1, to, term, index: prevIndex, logTerm: prevTerm, entries, commit });
const hb = (to: number): Message => ({ ...emptyMessage(), type: MessageType.Heartbeat, from: 1, to, term: 2 });
const show = (ms: Message[]): string[] => ms.map((m) => `${m.type === MessageType.App ? 'App' : 'HB'}->${m.to} prev ${m.index}/${m.logTerm} [${m.entries.map((e) => e.index).join(',')}] c${m.commit}`);

test('coalesceAppends: contiguous appends of one term to a follower become one, in each follower\'s order; others stay as they are', () => {
  const msgs = [
    app(2, 5, 1, [ent(6)], 5), app(3, 5, 1, [ent(6)], 5),
    app(2, 6, 2, [ent(7)], 6), app(3, 6, 2, [ent(7)], 6),
    app(2, 7, 2, [ent(8), ent(9)], 6),
  ];
  assert.deepEqual(show(coalesceAppends(msgs, 1 << 20)), [
    'App->2 prev 5/1 [6,7,8,9] c6',
    'App->3 prev 5/1 [6,7] c6',
  ]);
  const input = show(msgs);
  coalesceAppends(msgs, 1 << 20);
  assert.deepEqual(show(msgs), input, 'the input messages are not changed');
});

test('coalesceAppends: nothing merges across another message to the follower, a gap, another term or the byte limit', () => {
  const across = [app(2, 5, 2, [ent(6)], 5), hb(2), app(2, 6, 2, [ent(7)], 5)];
  assert.equal(coalesceAppends(across, 1 << 20), across, 'a heartbeat in between');
  const gap = [app(2, 5, 2, [ent(6)], 5), app(2, 7, 2, [ent(8)], 5)];
  assert.equal(coalesceAppends(gap, 1 << 20), gap);
  const wrongPrevTerm = [app(2, 5, 2, [ent(6, 2)], 5), app(2, 6, 1, [ent(7)], 5)];
  assert.equal(coalesceAppends(wrongPrevTerm, 1 << 20), wrongPrevTerm);
  const otherTerm = [app(2, 5, 2, [ent(6)], 5), app(2, 6, 2, [ent(7, 3)], 5, 3)];
  assert.equal(coalesceAppends(otherTerm, 1 << 20), otherTerm, 'messages of another term');
  const one = entriesSizeBytes([ent(6)]);
  const three = [app(2, 5, 2, [ent(6)], 5), app(2, 6, 2, [ent(7)], 5), app(2, 7, 2, [ent(8)], 5)];
  assert.deepEqual(show(coalesceAppends(three, 2 * one)), ['App->2 prev 5/2 [6,7] c5', 'App->2 prev 7/2 [8] c5'], 'at most maxMsgBytes of entries');
  const emptyProbe = [app(2, 5, 2, [], 5), app(2, 5, 2, [ent(6)], 6)];
  assert.deepEqual(show(coalesceAppends(emptyProbe, 1 << 20)), ['App->2 prev 5/2 [6] c6'], 'an empty append then entries after the same prev');
});

test('coalesceAppends in a group: proposals of one turn reach each follower in one App, answered once; every entry commits and applies everywhere', () => {
  for (const coalesce of [false, true]) {
    const h = new Harness({ config: { coalesceAppends: coalesce, lazyCommitBroadcast: true } });
    h.elect(1);
    const sent: string[] = [];
    h.filter = (m) => {
      if (m.type === MessageType.App && m.entries.length > 0) sent.push(`App ${m.from}->${m.to} ${m.entries.length}`);
      if (m.type === MessageType.AppResp) sent.push(`AppResp ${m.from}->${m.to}`);
      return true;
    };
    const leader = h.get(1);
    for (const d of ['a', 'b', 'c', 'd']) assert.ok(leader.propose(new TextEncoder().encode(d)).ok);
    h.settle();
    const apps = sent.filter((s) => s.startsWith('App '));
    if (coalesce) assert.deepEqual(apps, ['App 1->2 4', 'App 1->3 4']);
    else assert.equal(apps.length, 8, 'one App per proposal per follower');
    assert.equal(sent.filter((s) => s.startsWith('AppResp')).length, coalesce ? 2 : 8);
    h.tickAll(1);
    h.settle();
    for (const id of [1, 2, 3]) assert.deepEqual(h.appliedData(id).slice(-4), ['a', 'b', 'c', 'd'], `node ${id}`);
  }
});
