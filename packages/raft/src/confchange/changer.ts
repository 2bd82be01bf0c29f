// Membership changes as pure functions: (current config, progress) + changes → new
// (config, progress), or a ConfChangeError saying why the change is not allowed.
//
// Two ways to change membership safely (raft thesis §4.3, etcd's ConfChangeV2):
//   simpleChange — at most one voter added or removed. Any majority of the old voters
//                  overlaps any majority of the new, so no two leaders can be elected.
//   enterJoint   — any change. Until leaveJoint, every decision needs a majority of the
//                  outgoing voters AND of the incoming voters.
//
// Inputs are never mutated: the config arrays and the progress map are copied, and a
// Progress is cloned before it is modified. Progress objects of nodes the change does not
// touch are shared between the old and the new map.
import { Progress } from '../tracker/progress.js';
import type { ProgressTracker, TrackerConfig } from '../tracker/tracker.js';
import { type ConfChangeSingle, ConfChangeType, NONE, type NodeId } from '../types.js';
import { hasId, insertId, removeId, symmetricDifferenceSize } from './ids.js';
import { invariant } from '../util.js';
import { checkConfigInvariants } from './invariants.js';

/** A change the current membership does not allow. The message says why. */
export class ConfChangeError extends Error {
  override readonly name = 'ConfChangeError';
}

export interface ChangeInput {
  tracker: ProgressTracker;
  /** The log's last index: new members start probing there. */
  lastIndex: number;
}

export interface ChangeResult {
  config: TrackerConfig;
  progress: Map<NodeId, Progress>;
}

/**
 * Enters a joint configuration: the current voters become the outgoing half and the
 * changes are applied to the incoming half. Voters demoted to learners stay in the
 * outgoing half (as learnersNext) until the joint configuration is left.
 */
export function enterJoint(input: ChangeInput, autoLeave: boolean, changes: readonly ConfChangeSingle[]): ChangeResult {
  const w = startChange(input);
  if (w.cfg.outgoing.length > 0) throw new ConfChangeError('config is already joint');
  if (w.cfg.incoming.length === 0) {
    // A joint config with an empty outgoing half is just the incoming config.
    throw new ConfChangeError("can't make a zero-voter config joint");
  }
  w.cfg.outgoing = w.cfg.incoming.slice();
  applyChanges(w, changes);
  w.cfg.autoLeave = autoLeave;
  return finish(w);
}

/** Leaves the joint configuration: the incoming half alone decides from now on. */
export function leaveJoint(input: ChangeInput): ChangeResult {
  const w = startChange(input);
  if (w.cfg.outgoing.length === 0) throw new ConfChangeError("can't leave a non-joint config");
  for (const id of w.cfg.learnersNext) {
    insertId(w.cfg.learners, id);
    ownProgress(w, id).isLearner = true;
  }
  w.cfg.learnersNext = [];
  for (const id of w.cfg.outgoing) {
    if (!hasId(w.cfg.incoming, id) && !hasId(w.cfg.learners, id)) w.prs.delete(id);
  }
  w.cfg.outgoing = [];
  w.cfg.autoLeave = false;
  return finish(w);
}

/**
 * Applies changes that alter at most one voter, without a joint configuration. Any
 * number of learners may change at the same time (learners never count in a quorum).
 */
export function simpleChange(input: ChangeInput, changes: readonly ConfChangeSingle[]): ChangeResult {
  const w = startChange(input);
  if (w.cfg.outgoing.length > 0) throw new ConfChangeError("can't apply a simple config change in a joint config");
  const votersBefore = w.cfg.incoming.slice();
  applyChanges(w, changes);
  const changed = symmetricDifferenceSize(votersBefore, w.cfg.incoming);
  if (changed > 1) {
    throw new ConfChangeError(`more than one voter changed (${changed}) without entering a joint config`);
  }
  return finish(w);
}

/** A change in progress: private copies of the config and the progress map. */
interface Working {
  cfg: TrackerConfig;
  prs: Map<NodeId, Progress>;
  /** Ids whose Progress in `prs` is our own copy (cloned or new), safe to modify. */
  owned: Set<NodeId>;
  lastIndex: number;
  maxInflightMsgs: number;
  maxInflightBytes: number;
}

function startChange(input: ChangeInput): Working {
  const { tracker } = input;
  checkConfigInvariants(tracker.config, tracker.progress);
  const c = tracker.config;
  return {
    cfg: {
      incoming: c.incoming.slice(),
      outgoing: c.outgoing.slice(),
      learners: c.learners.slice(),
      learnersNext: c.learnersNext.slice(),
      autoLeave: c.autoLeave,
    },
    prs: new Map(tracker.progress),
    owned: new Set(),
    lastIndex: input.lastIndex,
    maxInflightMsgs: tracker.maxInflightMsgs,
    maxInflightBytes: tracker.maxInflightBytes,
  };
}

function finish(w: Working): ChangeResult {
  checkConfigInvariants(w.cfg, w.prs);
  return { config: w.cfg, progress: w.prs };
}

function applyChanges(w: Working, changes: readonly ConfChangeSingle[]): void {
  for (const cc of changes) {
    // Id 0 (NONE) marks a change the application decided, below raft, not to apply;
    // it is skipped rather than rejected so the rest of the entry still applies.
    if (cc.nodeId === NONE) continue;
    if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId < 0) {
      throw new ConfChangeError(`invalid node id ${cc.nodeId}`);
    }
    switch (cc.type) {
      case ConfChangeType.AddNode:
        makeVoter(w, cc.nodeId);
        break;
      case ConfChangeType.AddLearnerNode:
        makeLearner(w, cc.nodeId);
        break;
      case ConfChangeType.RemoveNode:
        remove(w, cc.nodeId);
        break;
      default:
        throw new ConfChangeError(`unknown conf change type ${String(cc.type)}`);
    }
  }
  if (w.cfg.incoming.length === 0) throw new ConfChangeError('removed all voters');
}

/** Adds `id` as an (incoming) voter, promoting it if it is a learner. */
function makeVoter(w: Working, id: NodeId): void {
  const pr = w.prs.get(id);
  if (pr === undefined) {
    addProgress(w, id, false);
  } else if (pr.isLearner) {
    ownProgress(w, id).isLearner = false;
  }
  removeId(w.cfg.learners, id);
  removeId(w.cfg.learnersNext, id);
  insertId(w.cfg.incoming, id);
}

/**
 * Makes `id` a learner. A voter of the outgoing half cannot stop voting there before the
 * joint configuration is left, so it waits in learnersNext meanwhile.
 *   e.g. voters (1 2 3), enterJoint [AddLearner 3] → incoming (1 2), outgoing (1 2 3),
 *        learnersNext (3); leaveJoint → voters (1 2), learners (3).
 */
function makeLearner(w: Working, id: NodeId): void {
  const pr = w.prs.get(id);
  if (pr === undefined) {
    addProgress(w, id, true);
    insertId(w.cfg.learners, id);
    return;
  }
  if (pr.isLearner) return;
  // Drop it from every set, but keep its replication state: it still receives the log.
  remove(w, id);
  w.prs.set(id, pr);
  if (hasId(w.cfg.outgoing, id)) {
    insertId(w.cfg.learnersNext, id);
  } else {
    ownProgress(w, id).isLearner = true;
    insertId(w.cfg.learners, id);
  }
}

/** Removes `id` from the incoming half and the learners. An outgoing voter keeps its
 *  Progress (it still votes there) until the joint configuration is left. */
function remove(w: Working, id: NodeId): void {
  if (!w.prs.has(id)) return;
  removeId(w.cfg.incoming, id);
  removeId(w.cfg.learners, id);
  removeId(w.cfg.learnersNext, id);
  if (!hasId(w.cfg.outgoing, id)) {
    w.prs.delete(id);
    w.owned.delete(id);
  }
}

function addProgress(w: Working, id: NodeId, isLearner: boolean): void {
  // Probe from the last index: the first append is at most one entry, and the follower's
  // rejection hint walks `next` back if its log is shorter. (next ≥ 1 keeps match < next.)
  const pr = new Progress(Math.max(w.lastIndex, 1), w.maxInflightMsgs, w.maxInflightBytes, isLearner);
  // Count a new member as active, or check-quorum could depose the leader before the
  // newcomer has had a chance to answer.
  pr.recentActive = true;
  w.prs.set(id, pr);
  w.owned.add(id);
  if (!isLearner) insertId(w.cfg.incoming, id);
}

/** The Progress of `id`, cloned first if it still belongs to the input map. */
function ownProgress(w: Working, id: NodeId): Progress {
  const pr = w.prs.get(id);
  invariant(pr !== undefined, () => `no progress for ${id}`);
  if (w.owned.has(id)) return pr;
  const copy = pr.clone();
  w.prs.set(id, copy);
  w.owned.add(id);
  return copy;
}
