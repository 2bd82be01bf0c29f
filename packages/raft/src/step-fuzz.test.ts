// Property: arbitrary messages, with arbitrary safe-integer fields, stepped into nodes in
// every role (low terms and indexes, and just below the bounds) are either stepped or
// refused with MessageRefusedError, never anything else; a refusal changes nothing; and
// every number the node then hands out in a Ready is an integer in [0, MAX_TERM] /
// [0, MAX_INDEX]. Fixed seed and budget, so a failure replays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { MAX_INDEX, MAX_TERM } from './bounds.js';
import { MessageRefusedError } from './message-check.js';
import type { RawNode } from './rawnode.js';
import type { MemoryStorage } from './storage.js';
import { bootstrapStorage, msg, persistReady, rawNode } from './testing/harness.js';
import {
  EntryType, MessageType, StateRole,
  type ConfState, type Entry, type Message, type MessageType as MT, type Ready, type Snapshot,
} from './types.js';

const SEED = 20240611;
const RUNS_PER_ROLE = 300;
const ACTIONS_PER_RUN = 12;
const VOTERS = [1, 2, 3];
const SELF = 1;

function conf(voters: number[]): ConfState {
  return { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

// ---- subjects: node 1 in each role, its log at a low index or just below MAX_INDEX -----

interface Subject {
  node: RawNode;
  storage: MemoryStorage;
}

type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';
type Base = 'low' | 'near the bounds';

function subject(role: Role, base: Base): Subject {
  const [index, term] = base === 'low' ? [3, 1] : [MAX_INDEX - 4, MAX_TERM - 1];
  const storage = bootstrapStorage(VOTERS);
  if (base !== 'low') storage.applySnapshot({ meta: { index, term, confState: conf(VOTERS) }, data: new Uint8Array(0) });
  storage.setHardState({ term, vote: 0, commit: base === 'low' ? 1 : index });
  if (base === 'low') storage.append([2, 3].map((i) => ({ index: i, term, type: 0, data: new Uint8Array(0) })));
  const node = rawNode(SELF, storage, { preVote: role === 'pre-candidate' });
  if (role === 'follower') {
    node.step(msg({ type: MessageType.Heartbeat, from: 2, to: SELF, term, commit: index }));
  } else {
    node.campaign();
    persistReady(node, storage);
    if (role === 'leader') {
      node.step(msg({ type: MessageType.VoteResp, from: 2, to: SELF, term: node.status().term }));
    }
  }
  persistReady(node, storage);
  const want = { follower: StateRole.Follower, 'pre-candidate': StateRole.PreCandidate, candidate: StateRole.Candidate, leader: StateRole.Leader }[role];
  assert.equal(node.status().role, want, `${role} ${base} set up`);
  return { node, storage };
}

// ---- arbitraries -----------------------------------------------------------------------
//
// A message is generated as a spec and resolved against the node just before it is
// stepped: most numbers are relative to the node's term or last index, so that a good
// share of messages are acted on rather than dropped as stale; some are small absolute
// numbers, some wild (above the bounds, negative, anything safe). App entries are shaped
// like a leader's with at most one flaw, so each shape check is reached on its own.

/** Any safe integer, most of them just above the bounds or far beyond. */
const wild = fc.oneof(
  fc.integer({ min: MAX_TERM + 1, max: MAX_TERM + 2 }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1, -1),
  fc.maxSafeInteger(),
);

/** `rel`: the node's term (term fields) or last index (index fields) plus rel, at least 0. */
type Num = { rel: number } | { abs: number };
/** A logTerm may also be `match`: the term of the node's own entry at the message's index. */
type LogTerm = Num | { match: true };
const num: fc.Arbitrary<Num> = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: -3, max: 3 }).map((rel): Num => ({ rel })) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 6 }).map((abs): Num => ({ abs })) },
  { weight: 1, arbitrary: wild.map((abs): Num => ({ abs })) },
);
const logTerm: fc.Arbitrary<LogTerm> = fc.oneof(
  { weight: 2, arbitrary: num },
  { weight: 1, arbitrary: fc.constant<LogTerm>({ match: true }) },
);
const nodeId = fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 1, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: wild });
const often = <T>(usual: fc.Arbitrary<T>, rare: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.oneof({ weight: 3, arbitrary: usual }, { weight: 1, arbitrary: rare });

/** A fresh empty id list each time (raft may keep the arrays it is handed). */
const noIds: fc.Arbitrary<number[]> = fc.constant(null).map((): number[] => []);

const confState: fc.Arbitrary<ConfState> = fc.record({
  voters: fc.array(nodeId, { minLength: 1, maxLength: 4 }),
  learners: fc.array(nodeId, { maxLength: 2 }),
  votersOutgoing: often(noIds, fc.array(nodeId, { maxLength: 3 })),
  learnersNext: often(noIds, fc.array(nodeId, { maxLength: 1 })),
  autoLeave: often(fc.constant(false), fc.constant(true)),
});

const FLAWS = ['gap', 'repeat', 'term-decrease', 'term-above', 'wild-index', 'wild-term', 'unknown-type'] as const;
type Flaw = (typeof FLAWS)[number] | 'none';

interface MessageSpec {
  type: number;
  to: number | 'self';
  from: number;
  term: Num;
  logTerm: LogTerm;
  index: Num;
  commit: Num;
  rejectHint: Num;
  reject: boolean;
  transfer: boolean;
  /** Per entry: does its term step up from the one before (capped at the message term)? */
  entries: { termUp: boolean; confChange: boolean; data: Uint8Array }[];
  flaw: Flaw;
  flawAt: number;
  flawValue: number;
  snapshot: { index: Num; term: Num; confState: ConfState } | null;
  context: Uint8Array | null;
}

const messageSpec: fc.Arbitrary<MessageSpec> = fc.record({
  type: fc.oneof(
    { weight: 4, arbitrary: fc.constant<number>(MessageType.App) },
    { weight: 2, arbitrary: fc.constantFrom<number>(MessageType.Snap, MessageType.Heartbeat) },
    { weight: 12, arbitrary: fc.constantFrom<number>(...Object.values(MessageType)) },
    { weight: 1, arbitrary: fc.integer({ min: -1, max: 20 }) },
  ),
  to: fc.oneof({ weight: 19, arbitrary: fc.constant<'self'>('self') }, { weight: 1, arbitrary: nodeId }),
  from: nodeId,
  term: num,
  logTerm,
  index: num,
  commit: num,
  rejectHint: num,
  reject: fc.boolean(),
  transfer: fc.boolean(),
  entries: fc.array(fc.record({ termUp: often(fc.constant(false), fc.constant(true)), confChange: often(fc.constant(false), fc.constant(true)), data: fc.uint8Array({ maxLength: 3 }) }), { maxLength: 4 }),
  flaw: fc.oneof({ weight: 2, arbitrary: fc.constant<Flaw>('none') }, { weight: 1, arbitrary: fc.constantFrom<Flaw>(...FLAWS) }),
  flawAt: fc.nat(),
  flawValue: wild,
  snapshot: fc.option(fc.record({ index: num, term: num, confState }), { freq: 2 }),
  context: fc.option(fc.uint8Array({ maxLength: 2 })),
});

/** The message `spec` describes, for node `s`. */
function resolve(spec: MessageSpec, s: Subject): Message {
  const { term, lastIndex } = s.node.status();
  const at = (n: Num, base: number): number => ('abs' in n ? n.abs : Math.max(0, base + n.rel));
  const index = at(spec.index, lastIndex);
  const ourTermAt = (i: number): number => {
    try {
      return s.storage.term(i);
    } catch {
      return term; // compacted or not in the log: any term will do
    }
  };
  const m: Message = {
    type: spec.type as MT, to: spec.to === 'self' ? SELF : spec.to, from: spec.from,
    term: at(spec.term, term), logTerm: 'match' in spec.logTerm ? ourTermAt(index) : at(spec.logTerm, term), index,
    commit: at(spec.commit, lastIndex), rejectHint: at(spec.rejectHint, lastIndex),
    reject: spec.reject, transfer: spec.transfer, entries: [], snapshot: null, context: spec.context,
  };
  let t = m.logTerm;
  m.entries = spec.entries.map((e, i): Entry => {
    if (e.termUp && t < m.term) t++;
    return { index: m.index + 1 + i, term: t, type: (e.confChange ? 1 : 0) as EntryType, data: e.data };
  });
  const k = spec.flawAt % Math.max(1, m.entries.length);
  const flawed = m.entries[k];
  if (flawed) {
    const before = k > 0 ? m.entries[k - 1]!.term : m.logTerm;
    switch (spec.flaw) {
      case 'gap': flawed.index += 1; break;
      case 'repeat': flawed.index -= 1; break;
      case 'term-decrease': flawed.term = before - 1; break;
      case 'term-above': flawed.term = m.term + 1; break;
      case 'wild-index': flawed.index = spec.flawValue; break;
      case 'wild-term': flawed.term = spec.flawValue; break;
      case 'unknown-type': flawed.type = 2 as EntryType; break;
      default: break;
    }
  }
  if (spec.snapshot) {
    const meta = { index: at(spec.snapshot.index, lastIndex), term: at(spec.snapshot.term, term), confState: spec.snapshot.confState };
    m.snapshot = { meta, data: new Uint8Array(0) };
  }
  return m;
}

type Action = { kind: 'step'; spec: MessageSpec } | { kind: 'tick' } | { kind: 'propose'; n: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: messageSpec.map((spec): Action => ({ kind: 'step', spec })) },
  { weight: 1, arbitrary: fc.constant<Action>({ kind: 'tick' }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 5 }).map((n): Action => ({ kind: 'propose', n })) },
);

// ---- checks ------------------------------------------------------------------------------

function observe(node: RawNode): string {
  const s = node.status();
  return JSON.stringify({ ...s, progress: s.progress ? [...s.progress] : null, hasReady: node.hasReady() });
}

function assertBoundedReady(rd: Ready): void {
  const check = (what: string, v: number, max: number): void => {
    assert.ok(Number.isSafeInteger(v) && v >= 0 && v <= max, `${what} = ${v} is outside [0, ${max}]`);
  };
  const entries = (what: string, es: readonly Entry[]): void => {
    for (const e of es) {
      check(`${what} index`, e.index, MAX_INDEX);
      check(`${what} term`, e.term, MAX_TERM);
    }
  };
  const snap = (what: string, s: Snapshot | null): void => {
    if (!s) return;
    check(`${what} index`, s.meta.index, MAX_INDEX);
    check(`${what} term`, s.meta.term, MAX_TERM);
    const cs = s.meta.confState;
    for (const id of [...cs.voters, ...cs.learners, ...cs.votersOutgoing, ...cs.learnersNext]) check(`${what} member`, id, Number.MAX_SAFE_INTEGER);
  };
  if (rd.hardState) {
    check('hardState.term', rd.hardState.term, MAX_TERM);
    check('hardState.commit', rd.hardState.commit, MAX_INDEX);
    check('hardState.vote', rd.hardState.vote, Number.MAX_SAFE_INTEGER);
  }
  entries('entry', rd.entries);
  entries('committed entry', rd.committedEntries);
  snap('snapshot', rd.snapshot);
  for (const m of [...rd.messages, ...rd.messagesAfterPersist]) {
    check('message to', m.to, Number.MAX_SAFE_INTEGER);
    check('message term', m.term, MAX_TERM);
    check('message logTerm', m.logTerm, MAX_TERM);
    check('message index', m.index, MAX_INDEX);
    check('message commit', m.commit, MAX_INDEX);
    check('message rejectHint', m.rejectHint, MAX_INDEX);
    entries('message entry', m.entries);
    snap('message snapshot', m.snapshot);
  }
  for (const rs of rd.readStates) check('read index', rs.index, MAX_INDEX);
}

/**
 * The durable log is still a raft log: consecutive indexes, known entry types, terms in
 * order and none above the node's term. (A snapshot's own term may be: see message-check.ts.)
 */
function assertLogWellFormed(s: Subject): void {
  const st = s.storage;
  const first = st.firstIndex();
  const last = st.lastIndex();
  const term = s.node.status().term;
  let prevTerm = st.term(first - 1);
  const es = last >= first ? st.entries(first, last + 1, Number.MAX_SAFE_INTEGER) : [];
  es.forEach((e, i) => {
    assert.equal(e.index, first + i, 'consecutive indexes');
    assert.ok(e.type === EntryType.Normal || e.type === EntryType.ConfChange, `entry type ${e.type}`);
    assert.ok(e.term >= prevTerm, `term ${e.term} at ${e.index} below ${prevTerm} before it`);
    assert.ok(e.term <= term, `term ${e.term} at ${e.index} above the node's term ${term}`);
    prevTerm = e.term;
  });
}

/** Persists, acks and applies whatever the node has, checking every number in it. */
function drain(s: Subject): void {
  while (s.node.hasReady()) {
    const rd = persistReady(s.node, s.storage);
    assertBoundedReady(rd);
    if (rd.snapshot) s.node.appliedTo(rd.snapshot.meta.index);
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    if (last) s.node.appliedTo(last.index);
  }
  assertLogWellFormed(s);
}

function run(s: Subject, actions: readonly Action[]): void {
  for (const a of actions) {
    if (a.kind === 'tick') {
      s.node.tick();
    } else if (a.kind === 'propose') {
      const res = s.node.proposeBatch(Array.from({ length: a.n }, () => new Uint8Array([a.n])));
      if (res.ok) assert.ok(res.index <= MAX_INDEX, `proposed at ${res.index}`);
    } else {
      const m = resolve(a.spec, s);
      const before = observe(s.node);
      try {
        s.node.step(m);
      } catch (e) {
        if (!(e instanceof MessageRefusedError)) throw new Error(`stepping ${JSON.stringify(m)} threw`, { cause: e });
        assert.equal(observe(s.node), before, `refusing changed the node: ${e.message}`);
      }
    }
    drain(s);
  }
}

let seed = SEED;
for (const base of ['low', 'near the bounds'] as const) {
  for (const role of ['follower', 'pre-candidate', 'candidate', 'leader'] as const) {
    const roleSeed = seed++;
    test(`arbitrary messages into a ${role} (${base}) are stepped or refused, and its Ready stays within the bounds`, () => {
      fc.assert(fc.property(fc.array(action, { minLength: 1, maxLength: ACTIONS_PER_RUN }), (actions) => {
        run(subject(role, base), actions);
      }), { seed: roleSeed, numRuns: RUNS_PER_ROLE });
    });
  }
}
