// The leader balance scheduler on the serving PD leader: every leaderBalanceIntervalMs it
// asks its host for the current view (Up stores, ranges and their leaders, its running
// operators), plans with planLeaderTransfers (balance-leader.ts) and creates one
// TRANSFER_LEADER operator per planned move through the host (OperatorRunner.create: the
// operators are committed, stepped and timed out like the ones asked for over gRPC).
//
//   const b = new LeaderBalancer(host, limits);
//   b.start();   // became the serving leader: nothing happens before leaderBalanceWarmupMs
//   b.stop();    // lost leadership / stopping
//
// Nothing it meets is fatal: a failed plan or operator is logged and retried next interval.
import type { Logger } from '@rangekv/runtime';
import { planLeaderTransfers, type LeaderBalanceView, type LeaderTransfer } from './balance-leader.js';
import type { PdLimits } from './pd-limits.js';

/** createdBy of this scheduler's operators (and the `scheduler` label of its metric). */
export const BALANCE_LEADER_SCHEDULER = 'balance-leader';
/** createdBy of its transfers off a slow store (slow-store.ts). */
export const EVICT_SLOW_STORE_SCHEDULER = 'evict-slow-store';

export type LeaderBalancerLimits = Pick<
  PdLimits, 'leaderBalanceIntervalMs' | 'leaderBalanceTolerance' | 'maxLeaderBalanceOperators' | 'leaderBalanceWarmupMs'
>;

export interface LeaderBalancerHost {
  /** The scheduler's view now (built from the leader's memory and PD's state). */
  view(): LeaderBalanceView;
  /** Creates the TRANSFER_LEADER operator of one planned move; false when it no longer applies. */
  transfer(t: LeaderTransfer): Promise<boolean>;
  now(): number;
  log: Logger;
}

export class LeaderBalancer {
  private timer: NodeJS.Timeout | null = null;
  private startedAtMs = 0;
  /** Bumped by start/stop: a round of an earlier term stops creating operators. */
  private generation = 0;
  private inRound = false;

  constructor(private readonly host: LeaderBalancerHost, readonly limits: LeaderBalancerLimits) {}

  get running(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.timer) return;
    this.generation++;
    this.startedAtMs = this.host.now();
    this.timer = setInterval(() => void this.round(), this.limits.leaderBalanceIntervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.generation++;
  }

  /**
   * One round: plan, then create the operators one after the other. Returns the operators
   * created (0 while warming up, or when a round is already under way).
   */
  async round(): Promise<number> {
    if (!this.running || this.inRound || this.host.now() - this.startedAtMs < this.limits.leaderBalanceWarmupMs) return 0;
    const gen = this.generation;
    this.inRound = true;
    let created = 0;
    try {
      const plan = planLeaderTransfers(this.host.view(), {
        tolerance: this.limits.leaderBalanceTolerance, maxOperators: this.limits.maxLeaderBalanceOperators,
      });
      for (const t of plan) {
        if (gen !== this.generation) break;
        try {
          if (await this.host.transfer(t)) created++;
        } catch (e) {
          // E.g. an operator someone else created on the range meanwhile, or leadership lost.
          this.host.log.warn('leader balance: operator not created', { rangeId: t.rangeId, toStore: t.toStore, err: e });
        }
      }
    } catch (e) {
      this.host.log.error('leader balance round failed', { err: e });
    } finally {
      this.inRound = false;
    }
    return created;
  }
}
