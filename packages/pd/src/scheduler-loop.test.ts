// SchedulerLoop rounds driven by hand with a manual clock (the leader balance planner's
// moves): nothing before the warm-up, then the plan's moves; a failing move or plan is
// logged, never thrown; a stopped loop does nothing.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { silentLogger } from '@rangekv/runtime';
import { planLeaderTransfers, type LeaderBalanceView, type LeaderTransfer } from './balance-leader.js';
import { SchedulerLoop } from './scheduler-loop.js';

// Rounds are called by the test; the timer never fires during it.
const LIMITS = { intervalMs: 3_600_000, warmupMs: 5_000 };

function skewed(): LeaderBalanceView {
  return {
    upStores: [1, 2, 3], running: 0,
    ranges: Array.from({ length: 9 }, (_, i) => ({ rangeId: i + 1, leaderStore: 1, voterStores: [1, 2, 3], busy: false, transferTo: 0 })),
  };
}

test('warm-up first, then the planned transfers; failures are not fatal; stop ends it', async () => {
  let now = 1_000;
  const done: LeaderTransfer[] = [];
  let failNext = false;
  let viewFails = false;
  const b = new SchedulerLoop<LeaderTransfer>({
    name: 'balance-leader',
    plan: () => {
      if (viewFails) throw new Error('view broke');
      return planLeaderTransfers(skewed(), { tolerance: 0.1, maxOperators: 2 });
    },
    act: (t) => {
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('range already has running operator'));
      }
      done.push(t);
      return Promise.resolve(true);
    },
    now: () => now,
    log: silentLogger,
  }, LIMITS);
  assert.equal(await b.round(), 0, 'not started');
  b.start();
  try {
    now += LIMITS.warmupMs - 1;
    assert.equal(await b.round(), 0, 'warming up');
    now += 1;
    assert.equal(await b.round(), 2, 'maxOperators');
    assert.deepEqual(done.map((t) => [t.rangeId, t.toStore]), [[1, 2], [2, 3]]);
    failNext = true;
    assert.equal(await b.round(), 1, 'the failed one is skipped, the next is created');
    viewFails = true;
    assert.equal(await b.round(), 0, 'a broken view is logged');
  } finally {
    b.stop();
  }
  viewFails = false;
  assert.equal(await b.round(), 0, 'stopped');
  b.start();
  assert.equal(await b.round(), 0, 'a restart (new PD term) warms up again');
  b.stop();
});
