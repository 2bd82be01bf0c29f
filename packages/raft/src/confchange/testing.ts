// Test helpers shared by the confchange tests: a compact text form of changes and
// configurations, so scenarios read like transcripts ("v4 l3 r1" → "voters=(2 4) ...").
import { ProgressTracker, type TrackerConfig } from '../tracker/tracker.js';
import { type ConfChangeSingle, ConfChangeType, type NodeId } from '../types.js';

/** "v4 l3 r1" → AddNode 4, AddLearnerNode 3, RemoveNode 1. */
export function parseChanges(text: string): ConfChangeSingle[] {
  const types: Record<string, ConfChangeType> = {
    v: ConfChangeType.AddNode,
    l: ConfChangeType.AddLearnerNode,
    r: ConfChangeType.RemoveNode,
  };
  return text
    .split(' ')
    .filter((t) => t !== '')
    .map((t) => {
      const type = types[t[0]];
      const nodeId = Number(t.slice(1));
      if (type === undefined || !Number.isInteger(nodeId)) throw new Error(`bad change token ${t}`);
      return { type, nodeId };
    });
}

/** e.g. "voters=(1 2 4)&&(1 2 3) learners=(5) learners_next=(3) autoleave" */
export function describeConfig(cfg: TrackerConfig): string {
  const set = (ids: readonly NodeId[]): string => `(${ids.join(' ')})`;
  let s = `voters=${set(cfg.incoming)}`;
  if (cfg.outgoing.length > 0) s += `&&${set(cfg.outgoing)}`;
  if (cfg.learners.length > 0) s += ` learners=${set(cfg.learners)}`;
  if (cfg.learnersNext.length > 0) s += ` learners_next=${set(cfg.learnersNext)}`;
  if (cfg.autoLeave) s += ' autoleave';
  return s;
}

/** Everything observable about a tracker's membership and progress, for equality checks. */
export function snapshotTracker(t: Pick<ProgressTracker, 'config' | 'progress'>): string {
  const prs = [...t.progress.entries()].sort(([a], [b]) => a - b).map(([id, pr]) => `${id}: ${pr.toString()}`);
  return `${JSON.stringify(t.config)}\n${prs.join('\n')}`;
}

export function newTracker(): ProgressTracker {
  return new ProgressTracker(16, 0);
}
