// The scheduling simulator on small cases: PD's planners bring a scaled-out cluster, a
// dead store and a decommissioned store to a converged layout with nothing left on the
// leaving store, every range at 3 voters, and the same result on every run.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { leaveCase, runCase, SIM_CASES, scaleOutCase, type SimResult } from './schedule-sim.js';

const stable = (r: SimResult): Omit<SimResult, 'planWallMs' | 'wallMsPerRound'> => {
  const { planWallMs: _w, wallMsPerRound: _r, ...rest } = r;
  return rest;
};

test('scale-out 3 -> 5 stores: replicas and leaders spread within the tolerance, by balance-replica and balance-leader only', () => {
  const r = runCase(scaleOutCase(300, 2));
  assert.ok(r.converged, JSON.stringify(r));
  // 900 replicas over 5 stores: mean 180, bounds [162, 198]; 300 leaders: mean 60, bounds [54, 66].
  assert.ok(r.spread.replicasMin >= 162 && r.spread.replicasMax <= 198, JSON.stringify(r.spread));
  assert.ok(r.spread.leadersMin >= 54 && r.spread.leadersMax <= 66, JSON.stringify(r.spread));
  assert.deepEqual(Object.keys(r.operators).sort(), ['balance-leader', 'balance-replica']);
  assert.equal(r.underReplicated, 0);
  assert.deepEqual(stable(runCase(scaleOutCase(300, 2))), stable(r), 'deterministic');
});

test('a dead store is replaced after maxStoreDownTimeMs; a decommissioned one is emptied at once', () => {
  const dead = runCase(leaveCase(300, 5, 'dies'));
  assert.ok(dead.converged);
  assert.ok(dead.simMs >= 1_800_000, 'nothing moves before the store is dead (30 min)');
  assert.deepEqual([dead.underReplicated, dead.replicasOnLeavingStores], [0, 0]);
  assert.equal(dead.operators['replica-checker'], 180, 'every replica of store 5 replaced once');
  const off = runCase(leaveCase(300, 5, 'decommissioned'));
  assert.ok(off.converged);
  assert.ok(off.simMs < 1_800_000);
  assert.deepEqual([off.underReplicated, off.replicasOnLeavingStores], [0, 0]);
  assert.equal(off.operators['replica-checker'], 180);
});

test('all leaders on one store end within the tolerance', () => {
  const r = runCase(SIM_CASES['leaders-on-one']!);
  assert.ok(r.converged);
  // 1,000 leaders on 3 stores: mean 333.3, bounds [300, 367].
  assert.ok(r.spread.leadersMin >= 300 && r.spread.leadersMax <= 367, JSON.stringify(r.spread));
  assert.deepEqual(Object.keys(r.operators), ['balance-leader']);
});

test('a hot spot on one store is spread by balance-hot, and again when it moves to another store', () => {
  const r = runCase(SIM_CASES['hot-spot']!);
  assert.ok(r.converged);
  assert.ok(r.simMs >= 600_000, 'it acted again after the hot spot moved (10 min)');
  // 2,290 writes/s over 3 stores: the most loaded ends within hotLoadRatio (1.5) of the mean.
  assert.ok(r.loadMax <= 1.5 * (2_290 / 3), JSON.stringify(r));
  assert.deepEqual(Object.keys(r.operators), ['balance-hot']);
  assert.ok(r.spread.leadersMax - r.spread.leadersMin <= 10, 'swaps keep leader counts where they were');
});
