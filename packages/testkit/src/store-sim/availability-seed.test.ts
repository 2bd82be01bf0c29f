// One fault of each kind in the whole-store simulation (availability-seed.ts): the cluster
// serves every range again, after the fault and after the heal, with a linearizable
// history. How long it took is printed, never asserted (pnpm sim:availability gives figures).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runAvailabilitySeed, SIM_FAULT_KINDS } from './availability-seed.js';

for (const kind of SIM_FAULT_KINDS) {
  test(`availability seed 1, ${kind}: every range writes again after the fault and after the heal`, async (t) => {
    const r = await runAvailabilitySeed({ seed: 1, kind });
    assert.equal(r.failure, null, `replay: pnpm sim:availability --seed 1 --kinds ${kind} --trace`);
    assert.notEqual(r.recoveryMs, null, `some range never wrote again after the fault: ${r.byRange.join(' / ')}`);
    assert.notEqual(r.healRecoveryMs, null, 'some range never wrote again after the heal');
    t.diagnostic(`store ${r.storeId} held ${r.holdMs} ms: writes on every range after ${r.recoveryMs} ms, after heal ${r.healRecoveryMs} ms (simulated)`);
  });
}

test('the same seed and kind replay the same run', async () => {
  const a = await runAvailabilitySeed({ seed: 5, kind: 'isolate' });
  const b = await runAvailabilitySeed({ seed: 5, kind: 'isolate' });
  assert.deepEqual(a, b);
});
