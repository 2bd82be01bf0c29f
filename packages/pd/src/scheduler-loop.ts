// A scheduler's loop on the serving PD leader: every intervalMs it asks for a plan (a pure
// planner over the leader's current view: balance-leader.ts, replica-checker.ts) and acts
// on each planned move in turn, usually by creating an operator (OperatorRunner.create:
// committed, stepped and timed out like the ones asked for over gRPC).
//
//   const loop = new SchedulerLoop({ name: 'balance-leader', plan, act, now, log }, { intervalMs, warmupMs });
//   loop.start();   // became the serving leader: nothing happens before warmupMs
//   loop.stop();    // lost leadership / stopping
//
// Nothing it meets is fatal: a failed plan or move is logged and planned again next round.
import type { Logger } from '@rangekv/runtime';

/** createdBy of the leader balance scheduler's operators (and the `scheduler` label of its metric). */
export const BALANCE_LEADER_SCHEDULER = 'balance-leader';
/** createdBy of its transfers off a slow store (slow-store.ts). */
export const EVICT_SLOW_STORE_SCHEDULER = 'evict-slow-store';
/** createdBy of the replica checker's operators (replica-checker.ts). */
export const REPLICA_CHECKER_SCHEDULER = 'replica-checker';
/** createdBy of the replica balance scheduler's operators (balance-replica.ts). */
export const BALANCE_REPLICA_SCHEDULER = 'balance-replica';
/** createdBy of the split checker's operators (split-checker.ts). */
export const SPLIT_CHECKER_SCHEDULER = 'split-checker';
/** createdBy of the hot-range scheduler's operators (balance-hot.ts). */
export const BALANCE_HOT_SCHEDULER = 'balance-hot';
/** createdBy of the merge checker's operators (merge-checker.ts). */
export const MERGE_CHECKER_SCHEDULER = 'merge-checker';
/** The schedulers `ctl scheduler pause|resume` names (pausing balance-leader pauses slow-store eviction too). */
export const SCHEDULER_NAMES = [
  BALANCE_LEADER_SCHEDULER, REPLICA_CHECKER_SCHEDULER, BALANCE_REPLICA_SCHEDULER, SPLIT_CHECKER_SCHEDULER, BALANCE_HOT_SCHEDULER,
  MERGE_CHECKER_SCHEDULER,
] as const;

export interface SchedulerLoopHost<M> {
  /** For logs. */
  name: string;
  /** Paused (`ctl scheduler pause`): rounds plan nothing. */
  paused?(): boolean;
  /** The moves to make now (from the leader's current view). */
  plan(): readonly M[];
  /** Makes one planned move; false when it no longer applies. */
  act(move: M): Promise<boolean>;
  now(): number;
  log: Logger;
}

export interface SchedulerLoopLimits {
  /** How often the scheduler plans. */
  intervalMs: number;
  /**
   * After becoming the serving leader, the scheduler waits this long: a new leader knows no
   * range leaders until the stores report them, and acting on a partial view would make
   * moves the full view does not need.
   */
  warmupMs: number;
}

export class SchedulerLoop<M> {
  private timer: NodeJS.Timeout | null = null;
  private startedAtMs = 0;
  /** Bumped by start/stop: a round of an earlier term stops making moves. */
  private generation = 0;
  private inRound = false;

  constructor(private readonly host: SchedulerLoopHost<M>, readonly limits: SchedulerLoopLimits) {}

  get name(): string {
    return this.host.name;
  }

  get running(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.timer) return;
    this.generation++;
    this.startedAtMs = this.host.now();
    this.timer = setInterval(() => void this.round(), this.limits.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.generation++;
  }

  /**
   * One round: plan, then make the moves one after the other. Returns the moves made (0
   * while warming up, or when a round is already under way).
   */
  async round(): Promise<number> {
    if (!this.running || this.inRound || this.host.now() - this.startedAtMs < this.limits.warmupMs || this.host.paused?.() === true) return 0;
    const gen = this.generation;
    this.inRound = true;
    let made = 0;
    try {
      for (const move of this.host.plan()) {
        if (gen !== this.generation) break;
        try {
          if (await this.host.act(move)) made++;
        } catch (e) {
          // E.g. an operator someone else created on the range meanwhile, or leadership lost.
          this.host.log.warn(`${this.host.name}: move not made`, { move, err: e });
        }
      }
    } catch (e) {
      this.host.log.error(`${this.host.name}: round failed`, { err: e });
    } finally {
      this.inRound = false;
    }
    return made;
  }
}
