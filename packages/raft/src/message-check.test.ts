// Refused messages: malformed ones and ones carrying terms or indexes beyond MAX_TERM /
// MAX_INDEX throw MessageRefusedError from step, and the node is exactly as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_INDEX, MAX_TERM } from './bounds.js';
import { MessageRefusedError } from './message-check.js';
import type { RawNode } from './rawnode.js';
import { Harness, msg, persistReady, rawNode, storageWithLog } from './testing/harness.js';
import { EntryType, MessageType, StateRole, type ConfState, type Entry, type Message, type MessageType as MT } from './types.js';

const empty = new Uint8Array(0);
/** A type number the enums do not hold, as a wire decoder without checks might pass it on. */
const unknownType = (n: number): MT => n as MT;
const unknownEntryType = (n: number): EntryType => n as EntryType;
/** The term the heartbeat and TimeoutNow of the "hostile input" findings carried. */
const TERM_2_53_MINUS_1 = Number.MAX_SAFE_INTEGER;

function entry(index: number, term: number, type: EntryType = EntryType.Normal): Entry {
  return { index, term, type, data: empty };
}

function conf(voters: number[], rest: Partial<ConfState> = {}): ConfState {
  return { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false, ...rest };
}

/** Everything observable about a node, to compare before and after a refusal. */
function observe(node: RawNode): string {
  const s = node.status();
  return JSON.stringify({ ...s, progress: s.progress ? [...s.progress] : null, hasReady: node.hasReady() });
}

/** Steps `m` expecting a refusal whose reason matches `reason`; asserts nothing changed. */
function assertRefused(node: RawNode, m: Message, reason: RegExp): void {
  const before = observe(node);
  assert.throws(() => node.step(m), (e: unknown) => {
    assert.ok(e instanceof MessageRefusedError, `not a MessageRefusedError: ${String(e)}`);
    assert.match(e.reason, reason);
    return true;
  });
  assert.equal(observe(node), before, 'a refused message changes nothing');
}

/** Node 2, a follower of 1 at term 2, holding entries 2..4 (terms 1 1 2), commit 3. */
function follower(): RawNode {
  const storage = storageWithLog([1, 2, 3], [1, 1, 2], { term: 2 });
  const node = rawNode(2, storage);
  node.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 2, commit: 3 }));
  persistReady(node, storage);
  return node;
}

test('a heartbeat with a term above MAX_TERM is refused and the leader keeps leading', () => {
  const h = new Harness();
  h.elect(1);
  const term = h.get(1).status().term;
  for (const t of [MAX_TERM + 1, TERM_2_53_MINUS_1]) {
    assertRefused(h.get(1), msg({ type: MessageType.Heartbeat, from: 2, to: 1, term: t }), /term .* is above MAX_TERM/);
  }
  h.tickAll(30);
  assert.equal(h.leader(), 1);
  assert.equal(h.get(1).status().term, term);
  h.put(1, 'a');
  assert.deepEqual(h.appliedData(3), ['a']);
});

test('a TimeoutNow with term 2^53-1 is refused: the follower neither campaigns nor moves its term', () => {
  const h = new Harness();
  h.elect(1);
  assertRefused(h.get(2), msg({ type: MessageType.TimeoutNow, from: 1, to: 2, term: TERM_2_53_MINUS_1 }), /above MAX_TERM/);
  h.settle();
  assert.equal(h.leader(), 1);
  assert.equal(h.get(2).status().role, StateRole.Follower);
});

test('a message at exactly MAX_TERM is stepped', () => {
  const node = follower();
  node.step(msg({ type: MessageType.Heartbeat, from: 3, to: 2, term: MAX_TERM, commit: 3 }));
  assert.equal(node.status().term, MAX_TERM);
  assert.equal(node.status().lead, 3);
});

test('every term and index field is bounded, and must be a non-negative integer', () => {
  const node = follower();
  const fields = ['term', 'logTerm', 'index', 'commit', 'rejectHint'] as const;
  for (const field of fields) {
    const max = field === 'term' || field === 'logTerm' ? MAX_TERM : MAX_INDEX;
    for (const v of [max + 1, TERM_2_53_MINUS_1, -1, 1.5, Number.NaN, Infinity]) {
      assertRefused(node, msg({ type: MessageType.App, from: 1, to: 2, term: 2, [field]: v }), new RegExp(`^${field} `));
    }
  }
});

test('an App whose entries could not come from a leader\'s log is refused', () => {
  const node = follower();
  const app = (entries: Entry[], fields: Partial<Message> = {}): Message =>
    msg({ type: MessageType.App, from: 1, to: 2, term: 2, index: 4, logTerm: 2, commit: 3, entries, ...fields });
  assertRefused(node, app([entry(5, 2), entry(7, 2)]), /entries\[1\]\.index 7 does not follow index 5/);
  assertRefused(node, app([entry(4, 2)]), /entries\[0\]\.index 4 does not follow index 4/);
  assertRefused(node, app([entry(5, 1)]), /below the term before it/);
  assertRefused(node, app([entry(5, 3)]), /above the message term/);
  assertRefused(node, app([{ ...entry(5, 2), type: unknownEntryType(7) }]), /unknown type 7/);
  assertRefused(node, app([entry(MAX_INDEX + 1, 2)], { index: MAX_INDEX }), /entries\[0\]\.index .* is above MAX_INDEX/);
  assertRefused(node, app([entry(5, TERM_2_53_MINUS_1)]), /entries\[0\]\.term .* is above MAX_TERM/);
  // The same entries, well formed, are appended.
  node.step(app([entry(5, 2), entry(6, 2)]));
  assert.equal(node.status().lastIndex, 6);
});

test('a heartbeat committing beyond the follower\'s log is refused, and does not raise its term', () => {
  const node = follower();
  assertRefused(node, msg({ type: MessageType.Heartbeat, from: 3, to: 2, term: 5, commit: 9 }), /commit 9 is beyond our last index 4/);
  assert.equal(node.status().term, 2);
});

test('a snapshot is refused before anything is installed when its numbers or membership are invalid', () => {
  const node = follower();
  const snap = (index: number, term: number, confState: ConfState): Message =>
    msg({ type: MessageType.Snap, from: 1, to: 2, term: 3, snapshot: { meta: { index, term, confState }, data: empty } });
  assertRefused(node, snap(MAX_INDEX + 1, 2, conf([1, 2, 3])), /snapshot index .* is above MAX_INDEX/);
  assertRefused(node, snap(10, TERM_2_53_MINUS_1, conf([1, 2, 3])), /snapshot term .* is above MAX_TERM/);
  assertRefused(node, snap(10, 2, conf([1, -2, 3])), /names -2, not a node id/);
  assertRefused(node, snap(10, 2, conf([], { learners: [2] })), /membership is invalid: removed all voters/);
  assertRefused(node, snap(10, 2, conf([1, 2], { learnersNext: [3] })), /membership is invalid/);
  // A valid one is installed.
  node.step(snap(10, 2, conf([1, 2, 3])));
  assert.equal(node.status().lastIndex, 10);
});

test('an unknown type, a message for another node, a sender that is not a node id and a Snap without a snapshot are refused', () => {
  const node = follower();
  assertRefused(node, msg({ type: unknownType(99), from: 1, to: 2, term: 2 }), /unknown message type 99/);
  assertRefused(node, msg({ type: MessageType.Heartbeat, from: 1, to: 3, term: 2 }), /addressed to 3, stepped into node 2/);
  assertRefused(node, msg({ type: MessageType.Heartbeat, from: 0, to: 2, term: 2 }), /sender 0 is not a node id/);
  assertRefused(node, msg({ type: MessageType.Snap, from: 1, to: 2, term: 2 }), /Snap without a snapshot/);
});
