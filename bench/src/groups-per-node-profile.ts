// groups-per-node: a V8 .cpuprofile (node --cpu-prof) summarized as self time per
// function, to say where a store's time goes. Only the fields used are typed.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileEntry {
  fn: string;
  where: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  file: string;
  wallMs: number;
  /** Sampled time not spent idle (the (idle) node), ms. */
  busyMs: number;
  top: ProfileEntry[];
}

/**
 * Self time per function (samples x time delta), the `topCount` largest, idle excluded.
 * Native frames (no script) are told apart by their JavaScript caller: V8 names every
 * N-API callback after the last N-API function created (they share one C++ entry), so
 * since the malloc-trim addon RocksDB's `_writeSync` work shows as `trim`; its caller
 * says what it is.
 */
export function summarizeCpuProfile(file: string, topCount: number): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const at = (cf: ProfileNode['callFrame']): string => `${basename(cf.url)}:${cf.lineNumber + 1}`;
  const selfUs = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // A sample's time is the delta to the next sample.
    const d = deltas[i + 1] ?? 0;
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + d);
  }
  const perFn = new Map<string, { fn: string; where: string; us: number }>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName === '(idle)') continue;
    busyUs += us;
    const caller = parentOf.has(id) ? byId.get(parentOf.get(id)!)!.callFrame : null;
    const native = !cf.url && !cf.functionName.startsWith('(') && caller !== null && caller.url !== '';
    const where = cf.url ? at(cf) : native ? `native, from ${caller.functionName || '(anonymous)'} ${at(caller)}` : '';
    const key = `${cf.functionName}@${where}`;
    const e = perFn.get(key) ?? { fn: cf.functionName || '(anonymous)', where, us: 0 };
    e.us += us;
    perFn.set(key, e);
  }
  const top = [...perFn.values()].sort((a, b) => b.us - a.us).slice(0, topCount)
    .map((e) => ({ fn: e.fn, where: e.where, selfMs: e.us / 1000, percent: busyUs > 0 ? (e.us / busyUs) * 100 : 0 }));
  return { file, wallMs: (p.endTime - p.startTime) / 1000, busyMs: busyUs / 1000, top };
}
