import assert from 'node:assert/strict';
import { test } from 'node:test';
import { availabilityTable, quantile, recoveryByRange, recoveryMs, type ProbeOp } from './availability.js';

test('recovery: the slowest range\'s first successful put sent at or after the fault', () => {
  const probes: ProbeOp[] = [
    { range: 0, invokeMs: 90, okMs: 1500 }, // stuck across the fault: not counted, but it delayed the next one
    { range: 0, invokeMs: 1500, okMs: 1510 },
    { range: 1, invokeMs: 100, okMs: 105 },
    { range: 1, invokeMs: 120, okMs: null }, // failed
    { range: 1, invokeMs: 900, okMs: 950 },
  ];
  assert.equal(recoveryMs(probes, 2, 100), 1410);
  assert.equal(recoveryMs(probes, 2, 1000), null, 'range 1 wrote nothing after 1000');
  assert.equal(recoveryMs(probes, 3, 0), null, 'a range without probes never recovered');
  assert.deepEqual(recoveryByRange(probes, 3, 100), [1410, 5, null]);
});

test('table: one row per kind in first-seen order, quantiles over recovered events, unrecovered counted', () => {
  const rows = availabilityTable([
    { what: 'kill', recoveryMs: 800 }, { what: 'pause', recoveryMs: 100 }, { what: 'kill', recoveryMs: 1200 },
    { what: 'kill', recoveryMs: null },
  ]);
  assert.deepEqual(rows, [
    { what: 'kill', count: 3, notRecovered: 1, p50Ms: 800, p99Ms: 1200, maxMs: 1200 },
    { what: 'pause', count: 1, notRecovered: 0, p50Ms: 100, p99Ms: 100, maxMs: 100 },
  ]);
  assert.equal(quantile([], 0.5), null);
  assert.equal(quantile([5, 1, 3, 2, 4], 0.5), 3);
  assert.equal(quantile([5, 1, 3, 2, 4], 0.99), 5);
});
