// The fault schedule: generated up front from the seed as a list of timed episodes, so a
// failing run can be replayed with a subset of them (`--keep-faults`) to shrink it. An
// episode picks its targets (which node is leader, which link) from its own seed when it
// starts, against the cluster as it is then.
//
// Episodes of one class never overlap (one network partition at a time, one message-fault
// mode at a time, at most two node faults); classes overlap freely.
import {
  ConfChangeTransition, ConfChangeType, Prng, type ConfChangeSingle, type ConfState, type NodeId,
} from '@rangekv/raft';
import type { Cluster, CrashPoint } from './cluster.js';
import { UNITS_PER_TICK } from './time.js';
import { formatConf, isMember, type SimNode } from './sim-node.js';

export const FAULT_KINDS = {
  // network partitions (class "cut")
  'isolate-leader': 'cut', split: 'cut', asymmetric: 'cut', 'flapping-link': 'cut',
  // message faults (class "msg")
  drop: 'msg', duplicate: 'msg', reorder: 'msg', delay: 'msg',
  // node faults (classes "node1", "node2")
  crash: 'node', 'crash-leader': 'node', pause: 'node', 'pause-leader': 'node',
  // instantaneous operator actions
  'add-learner': 'member', promote: 'member', 'remove-voter': 'member', 'demote-voter': 'member', 'replace-voter': 'member',
  'transfer-leader': 'transfer', 'compact-all': 'compact',
  // a leadership transfer, then the old leader stops hearing from anyone (lease stress)
  'transfer-then-deafen': 'cut',
  // for a while, every new leader crashes soon after its election, often at a crash point
  // (see Cluster), and nodes take turns being down: terms pile up with entries that only
  // one node holds, the ground on which a leader that commits an earlier term's entry by
  // counting replicas loses data (Raft paper, figure 8)
  'leader-churn': 'node',
} as const;
export type FaultKind = keyof typeof FAULT_KINDS;

export interface FaultEpisode {
  /** Position in the schedule (what --keep-faults refers to). */
  index: number;
  kind: FaultKind;
  startTick: number;
  /** 0 for instantaneous actions. */
  durationTicks: number;
  /** The episode's own random choices. */
  seed: number;
}

export interface ScheduleOptions {
  /** Faults start in [startTick, endTick); episodes may run past endTick until healed. */
  startTick: number;
  endTick: number;
  /** Highest node id membership changes may create (ids are never reused). */
  maxNodeId: number;
}

// A leader-churn episode runs far longer than the other node faults of its lane: figure 8
// takes four elections in a row (each a crash, a restart and a 10-20 tick election
// timeout), and while it runs no other fault of the lane takes a second node down. With
// the lane's 5-120 ticks it caught the figure-8 mutant in 1 of 300 seeds; with 300-700, in 24.
const CHURN_TICKS_MIN = 300;
const CHURN_TICKS_MAX = 700;

/** Generates the schedule for one seed. */
export function generateSchedule(prng: Prng, o: ScheduleOptions): FaultEpisode[] {
  const out: Omit<FaultEpisode, 'index'>[] = [];
  // Each lane draws from its own stream, so a lane's episodes do not depend on how many
  // another lane produced: a shorter run keeps a prefix of the same schedule.
  const lane = (kinds: readonly FaultKind[], gapMin: number, gapMax: number, durMin: number, durMax: number): void => {
    const lp = prng.fork();
    const pick = <T>(xs: readonly T[]): T => xs[lp.int(xs.length)]!;
    let t = o.startTick + lp.int(gapMax);
    while (t < o.endTick) {
      let dur = durMax === 0 ? 0 : durMin + lp.int(durMax - durMin + 1);
      const kind = pick(kinds);
      // Drawn after the kind, so a lane's schedule up to its first churn episode is unchanged.
      if (kind === 'leader-churn') dur = CHURN_TICKS_MIN + lp.int(CHURN_TICKS_MAX - CHURN_TICKS_MIN + 1);
      out.push({ kind, startTick: t, durationTicks: dur, seed: lp.nextUint32() });
      t += dur + gapMin + lp.int(gapMax - gapMin + 1);
    }
  };
  lane(['isolate-leader', 'split', 'split', 'asymmetric', 'flapping-link', 'transfer-then-deafen'], 20, 120, 15, 150);
  lane(['drop', 'duplicate', 'reorder', 'delay'], 10, 100, 20, 200);
  lane(['crash', 'crash-leader', 'pause', 'pause-leader', 'leader-churn'], 30, 200, 5, 120);
  lane(['crash', 'pause'], 100, 400, 5, 80);
  lane(['add-learner', 'add-learner', 'promote', 'promote', 'remove-voter', 'demote-voter', 'replace-voter'], 40, 200, 0, 0);
  lane(['transfer-leader'], 30, 200, 0, 0);
  lane(['compact-all'], 50, 300, 0, 0);
  // Index = position in a stable order (start tick, then lane order), so the same episode
  // keeps its index in a shorter run.
  out.sort((a, b) => a.startTick - b.startTick);
  return out.map((e, index) => ({ ...e, index }));
}

export function formatEpisode(e: FaultEpisode): string {
  const dur = e.durationTicks > 0 ? ` for ${e.durationTicks} ticks` : '';
  return `#${e.index} ${e.kind} at tick ${e.startTick}${dur}`;
}

interface Active {
  episode: FaultEpisode;
  end: () => void;
}

/** Runs a schedule against a cluster: starts episodes on time, ends them, heals all. */
export class FaultInjector {
  private readonly pending: FaultEpisode[];
  private readonly active = new Map<number, Active>();
  private nextNewId: NodeId;
  private readonly everMember = new Set<NodeId>();
  private readonly doomed = new Set<NodeId>();
  private enabled = true;
  readonly applied: string[] = [];

  constructor(
    private readonly cluster: Cluster,
    schedule: readonly FaultEpisode[],
    private readonly maxNodeId: NodeId,
    private readonly prng: Prng,
  ) {
    this.pending = [...schedule];
    this.nextNewId = Math.max(...cluster.nodes.keys()) + 1;
    for (const id of cluster.members()) this.everMember.add(id);
    cluster.tickHooks.push((tick) => this.onTick(tick));
    cluster.onConfApplied = (_node, index, cs) => {
      // Only the newest configuration counts: a node re-applying old entries after a
      // restart reports configurations that predate later additions.
      if (index >= cluster.latestConf.index) this.onConf(cs);
    };
  }

  /** Stops starting new episodes. */
  disable(): void {
    this.enabled = false;
  }

  /** Ends every active episode (restoring links, restarting and resuming nodes). */
  healAll(): void {
    for (const a of [...this.active.values()]) this.finish(a);
    this.cluster.net.healAll();
    for (const n of this.cluster.nodes.values()) {
      if (n.status === 'paused') this.cluster.resume(n.id);
      else if (n.status === 'crashed') this.cluster.restart(n.id);
    }
  }

  private onTick(tick: number): void {
    while (this.enabled && this.pending.length > 0 && this.pending[0]!.startTick <= tick) {
      const e = this.pending.shift()!;
      this.begin(e);
    }
  }

  private begin(e: FaultEpisode): void {
    const prng = new Prng(e.seed);
    const end = this.startEpisode(e, prng);
    if (end === null) {
      this.note(e, 'skipped (not applicable now)');
      return;
    }
    if (e.durationTicks === 0) return;
    const a: Active = { episode: e, end };
    this.active.set(e.index, a);
    this.cluster.schedule(e.durationTicks * UNITS_PER_TICK, () => {
      if (this.active.get(e.index) === a) this.finish(a);
    });
  }

  private finish(a: Active): void {
    this.active.delete(a.episode.index);
    if (this.cluster.isTracing) this.cluster.trace(null, `FAULT END ${formatEpisode(a.episode)}`);
    a.end();
  }

  private note(e: FaultEpisode, what: string): void {
    const line = `${formatEpisode(e)}: ${what}`;
    this.applied.push(`tick ${this.cluster.tick}: ${line}`);
    if (this.cluster.isTracing) this.cluster.trace(null, `FAULT ${line}`);
  }

  /** Starts one episode; returns how to end it, or null if it does not apply now. */
  private startEpisode(e: FaultEpisode, prng: Prng): (() => void) | null {
    const c = this.cluster;
    const net = c.net;
    const pick = <T>(xs: readonly T[]): T => xs[prng.int(xs.length)]!;
    const live = [...c.nodes.values()].filter((n) => n.status !== 'destroyed').map((n) => n.id);
    const leaderId = c.leader()?.id ?? null;
    const noop = (): void => {};
    const cutAll = (pairs: [NodeId, NodeId][]): (() => void) => {
      for (const [a, b] of pairs) net.cutLink(a, b);
      return () => {
        for (const [a, b] of pairs) net.restoreLink(a, b);
      };
    };
    switch (e.kind) {
      case 'isolate-leader': {
        const x = leaderId ?? pick(live);
        this.note(e, `isolate n${x}`);
        return cutAll(bothWays([x], live.filter((i) => i !== x)));
      }
      case 'split': {
        const shuffled = shuffle(prng, live);
        const minority = shuffled.slice(0, 1 + prng.int(Math.max(1, Math.floor(live.length / 2))));
        const rest = shuffled.filter((i) => !minority.includes(i));
        this.note(e, `partition [${minority.join(',')}] | [${rest.join(',')}]`);
        return cutAll(bothWays(minority, rest));
      }
      case 'asymmetric': {
        const x = leaderId !== null && prng.chance(0.6) ? leaderId : pick(live);
        const others = live.filter((i) => i !== x);
        const inbound = prng.chance(0.5);
        this.note(e, inbound ? `n${x} cannot receive` : `n${x} cannot send`);
        return cutAll(others.map((o): [NodeId, NodeId] => (inbound ? [o, x] : [x, o])));
      }
      case 'transfer-then-deafen': {
        if (leaderId === null) return null;
        const cs = c.mustGet(leaderId).raw!.status().config;
        const targets = cs.voters.filter((v) => v !== leaderId && c.nodes.has(v));
        if (targets.length === 0) return null;
        const to = pick(targets);
        const delay = 1 + prng.int(8);
        const others = live.filter((i) => i !== leaderId);
        let pairs: [NodeId, NodeId][] = [];
        let ended = false;
        this.note(e, `transfer leadership n${leaderId} -> n${to}, then n${leaderId} cannot receive after ${delay} ticks`);
        c.transferLeader(leaderId, to);
        c.schedule(delay * UNITS_PER_TICK, () => {
          if (ended) return;
          pairs = others.map((o): [NodeId, NodeId] => [o, leaderId]);
          for (const [a, b] of pairs) net.cutLink(a, b);
        });
        return () => {
          ended = true;
          for (const [a, b] of pairs) net.restoreLink(a, b);
        };
      }
      case 'flapping-link': {
        const a = pick(live);
        const b = pick(live.filter((i) => i !== a));
        let cut = false;
        let on = true;
        const period = 2 + prng.int(8);
        const flip = (): void => {
          if (!on) return;
          cut = !cut;
          if (cut) net.partition([a], [b]);
          else {
            net.restoreLink(a, b);
            net.restoreLink(b, a);
          }
          c.schedule(period * UNITS_PER_TICK, flip);
        };
        this.note(e, `link n${a}<->n${b} flaps every ${period} ticks`);
        flip();
        return () => {
          on = false;
          net.restoreLink(a, b);
          net.restoreLink(b, a);
        };
      }
      case 'drop': {
        const rate = 0.05 + prng.float() * 0.3;
        net.faults.dropRate = rate;
        this.note(e, `drop ${(rate * 100).toFixed(0)}% of messages`);
        return () => (net.faults.dropRate = 0);
      }
      case 'duplicate': {
        const rate = 0.05 + prng.float() * 0.3;
        net.faults.duplicateRate = rate;
        this.note(e, `duplicate ${(rate * 100).toFixed(0)}% of messages`);
        return () => (net.faults.duplicateRate = 0);
      }
      case 'reorder': {
        const j = 5 + prng.int(40);
        net.faults.reorderJitterUnitsMax = j;
        this.note(e, `reorder (jitter up to ${j} units)`);
        return () => (net.faults.reorderJitterUnitsMax = 0);
      }
      case 'delay': {
        net.faults.delaySpikeRate = 0.05 + prng.float() * 0.3;
        net.faults.delaySpikeUnitsMax = 20 + prng.int(150);
        this.note(e, `delay spikes (${(net.faults.delaySpikeRate * 100).toFixed(0)}%, up to ${net.faults.delaySpikeUnitsMax} units)`);
        return () => {
          net.faults.delaySpikeRate = 0;
          net.faults.delaySpikeUnitsMax = 0;
        };
      }
      case 'crash':
      case 'crash-leader': {
        const candidates = live.filter((i) => c.mustGet(i).status === 'up');
        if (candidates.length === 0) return null;
        const x = e.kind === 'crash-leader' && leaderId !== null ? leaderId : pick(candidates);
        this.note(e, `crash n${x}`);
        c.crash(x);
        return () => c.restart(x);
      }
      case 'pause':
      case 'pause-leader': {
        const candidates = live.filter((i) => c.mustGet(i).status === 'up');
        if (candidates.length === 0) return null;
        const x = e.kind === 'pause-leader' && leaderId !== null ? leaderId : pick(candidates);
        this.note(e, `pause n${x}`);
        c.pause(x);
        return () => c.resume(x);
      }
      case 'leader-churn': {
        // Each new leader draws how it dies: at one of its crash points (elected; its first
        // append; its first commit advance), with its disk caught up and nothing it just sent
        // delivered, or a few ticks in. Nodes take turns being down: when a leader crashes,
        // the node this episode took down longest ago comes back (or comes back by itself
        // after a downtime long enough for several elections). The node that returns may
        // hold a log tail from a term no running node has, and win the next election.
        const downTicksMax = 40 + prng.int(121);
        const planned = new Map<NodeId, CrashPoint>();
        let ended = false;
        /** Nodes this episode crashed and has not restarted, longest down first. */
        const down: { id: NodeId; incarnation: number }[] = [];
        // Another fault may have restarted (or crashed again) a node since.
        const stillDown = (d: { id: NodeId; incarnation: number }): boolean => {
          const n = c.mustGet(d.id);
          return n.status === 'crashed' && n.incarnation === d.incarnation;
        };
        const restart = (d: { id: NodeId; incarnation: number }): void => {
          down.splice(down.indexOf(d), 1);
          if (stillDown(d)) c.restart(d.id);
        };
        const crashNow = (id: NodeId, diskCaughtUp: boolean): void => {
          planned.delete(id);
          c.crash(id, diskCaughtUp);
          const back = down.find(stillDown);
          const d = { id, incarnation: c.mustGet(id).incarnation };
          down.push(d);
          if (back !== undefined) restart(back);
          c.schedule((20 + prng.int(downTicksMax)) * UNITS_PER_TICK + prng.int(UNITS_PER_TICK), () => {
            if (down.includes(d)) restart(d);
          });
        };
        const crashInTicks = (id: NodeId): void => {
          const incarnation = c.mustGet(id).incarnation;
          c.schedule((1 + prng.int(5)) * UNITS_PER_TICK + prng.int(UNITS_PER_TICK), () => {
            const n = c.mustGet(id);
            if (!ended && n.incarnation === incarnation && n.status === 'up') crashNow(id, false);
          });
        };
        const hook = (n: SimNode, point: CrashPoint): void => {
          if (point !== 'elected') {
            if (planned.get(n.id) === point) crashNow(n.id, true);
            return;
          }
          const roll = prng.float();
          if (roll < 0.35) crashNow(n.id, true);
          else if (roll < 0.55) planned.set(n.id, 'appended');
          else if (roll < 0.9) planned.set(n.id, 'committed');
          else {
            planned.delete(n.id);
            crashInTicks(n.id);
          }
        };
        this.note(e, `every new leader crashes soon after its election; nodes take turns being down (up to ${20 + downTicksMax} ticks)`);
        c.crashPointHooks.push(hook);
        if (leaderId !== null) crashInTicks(leaderId);
        return () => {
          ended = true;
          c.crashPointHooks.splice(c.crashPointHooks.indexOf(hook), 1);
          for (const d of [...down]) restart(d);
        };
      }
      case 'transfer-leader': {
        if (leaderId === null) return null;
        const cs = c.mustGet(leaderId).raw!.status().config;
        const targets = cs.voters.filter((v) => v !== leaderId && c.nodes.has(v));
        if (targets.length === 0) return null;
        const to = pick(targets);
        // Usually asked of the leader; sometimes of a follower, which forwards it.
        const followers = live.filter((i) => i !== leaderId && c.mustGet(i).status === 'up');
        const via = followers.length > 0 && prng.chance(0.25) ? pick(followers) : leaderId;
        this.note(e, `transfer leadership n${leaderId} -> n${to} (asked of n${via})`);
        c.transferLeader(via, to);
        return noop;
      }
      case 'compact-all': {
        const keep = prng.int(6);
        let n = 0;
        for (const id of live) if (c.compact(id, keep)) n++;
        this.note(e, `compact ${n} logs (keep ${keep})`);
        return noop;
      }
      default:
        return this.membership(e, prng, leaderId);
    }
  }

  private membership(e: FaultEpisode, prng: Prng, leaderId: NodeId | null): (() => void) | null {
    const c = this.cluster;
    if (leaderId === null) return null;
    const cs = c.mustGet(leaderId).raw!.status().config;
    if (cs.votersOutgoing.length > 0) return null; // joint: wait for auto-leave
    const pick = <T>(xs: readonly T[]): T => xs[prng.int(xs.length)]!;
    const transition = prng.chance(0.5) ? ConfChangeTransition.JointImplicit : ConfChangeTransition.Auto;
    const learners = cs.learners.filter((id) => c.nodes.get(id)?.status !== 'destroyed');
    let kind = e.kind;
    // Keep the group at three or more voters when we can: shrink only from three up,
    // and turn a shrink into a growth step when at two.
    if ((kind === 'remove-voter' || kind === 'demote-voter') && cs.voters.length < 3) kind = learners.length > 0 ? 'promote' : 'add-learner';
    let changes: ConfChangeSingle[];
    switch (kind) {
      case 'add-learner': {
        if (this.nextNewId > this.maxNodeId) return null;
        const id = this.nextNewId++;
        c.addNode(id);
        changes = [{ type: ConfChangeType.AddLearnerNode, nodeId: id }];
        break;
      }
      case 'promote':
        if (learners.length === 0) return null;
        changes = [{ type: ConfChangeType.AddNode, nodeId: pick(learners) }];
        break;
      case 'remove-voter':
        if (cs.voters.length < 3) return null;
        changes = [{ type: ConfChangeType.RemoveNode, nodeId: pick(cs.voters) }];
        break;
      case 'demote-voter':
        if (cs.voters.length < 3) return null;
        changes = [{ type: ConfChangeType.AddLearnerNode, nodeId: pick(cs.voters) }];
        break;
      case 'replace-voter':
        if (cs.voters.length < 3 || learners.length === 0) return null;
        changes = [
          { type: ConfChangeType.AddNode, nodeId: pick(learners) },
          { type: ConfChangeType.RemoveNode, nodeId: pick(cs.voters) },
        ];
        break;
      default:
        throw new Error(`faults: unknown kind ${e.kind}`);
    }
    const cc = { transition: changes.length > 1 ? ConfChangeTransition.JointImplicit : transition, changes, context: new Uint8Array(0) };
    const ok = c.proposeConfChange(leaderId, cc);
    this.note(e, `${ok ? 'proposed' : 'dropped'} ${changes.map((ch) => `${['add-voter', 'remove', 'add-learner'][ch.type]} n${ch.nodeId}`).join(' + ')} (config ${formatConf(cs)})`);
    return () => {};
  }

  /** A node removed from the committed membership is stopped for good a little later. */
  private onConf(cs: ConfState): void {
    for (const id of this.cluster.nodes.keys()) {
      if (isMember(cs, id)) this.everMember.add(id);
      else if (this.everMember.has(id) && !this.doomed.has(id)) {
        this.doomed.add(id);
        this.cluster.schedule(this.prng.int(300), () => this.cluster.destroy(id));
      }
    }
  }
}

function bothWays(a: readonly NodeId[], b: readonly NodeId[]): [NodeId, NodeId][] {
  const out: [NodeId, NodeId][] = [];
  for (const x of a) for (const y of b) out.push([x, y], [y, x]);
  return out;
}

function shuffle<T>(prng: Prng, xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = prng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
