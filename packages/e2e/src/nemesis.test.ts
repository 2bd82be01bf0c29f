// The nemesis' fixed-seed CI run (nemesis/nemesis.ts): real PD and store processes at
// default raft timing, 6 clients and 4 probes, every fault kind and admin operation for
// 75 s. Passes when nothing is violated: a linearizable history (so no acknowledged write
// lost), stale reads of written values only, no process exiting unasked, every key served
// after the heal. Recovery times are printed, never asserted (a shared machine).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatReport, runNemesis } from './nemesis/nemesis.js';

const SEED = 1;
const SECONDS = 75;

test(`nemesis seed ${SEED}, ${SECONDS} s, every fault kind: no violation`, { timeout: 240_000 }, async (t) => {
  const r = await runNemesis({ seed: SEED, seconds: SECONDS });
  const text = formatReport(r);
  for (const line of text.split('\n')) t.diagnostic(line);
  assert.deepEqual(r.violations, [], text);
  assert.equal(r.check.verdict, 'linearizable');
  assert.ok(r.faults.length >= 5, `only ${r.faults.length} faults`);
  const missed = r.faults.filter((f) => f.target.startsWith('not injected') || f.target.includes('heal failed'));
  assert.deepEqual(missed, [], text);
  assert.ok((r.outcomes['put ok'] ?? 0) > 0 && (r.outcomes['get linearizable ok'] ?? 0) > 0, text);
});
