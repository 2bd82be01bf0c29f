// The faults command's checks (fault-injection.ts): what is accepted, and a clear reason
// for everything else. Applying them to a running store: fault-injection-process.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FaultCommandError, parseFaultCommand } from './fault-injection.js';

test('faults commands: each fault alone or combined; store ids deduplicated', () => {
  assert.deepEqual(parseFaultCommand({ dropTo: [2, 3, 2] }, 1), { dropTo: [2, 3] });
  assert.deepEqual(parseFaultCommand({ dropFrom: [3] }, 1), { dropFrom: [3] });
  assert.deepEqual(parseFaultCommand({ heal: true }, 1), { heal: true });
  assert.deepEqual(parseFaultCommand({ syncDelayMs: 0 }, 1), { syncDelayMs: 0 });
  assert.deepEqual(parseFaultCommand({ syncDelayMs: 10_000 }, 1), { syncDelayMs: 10_000 });
  assert.deepEqual(parseFaultCommand({ heal: true, dropTo: [2], dropFrom: [2], syncDelayMs: 5 }, 1),
    { heal: true, dropTo: [2], dropFrom: [2], syncDelayMs: 5 });
});

test('bad faults commands are refused with a FaultCommandError naming the defect', () => {
  const bad = (cmd: unknown, msg: RegExp): void => {
    assert.throws(() => parseFaultCommand(cmd, 1), (e: unknown) => e instanceof FaultCommandError && msg.test(e.message), JSON.stringify(cmd));
  };
  bad(null, /expected an object/);
  bad([2], /expected an object/);
  bad('heal', /expected an object/);
  bad({}, /no fault given/);
  bad({ dropto: [2] }, /unknown fault "dropto" \(known: dropTo, dropFrom, heal, syncDelayMs\)/);
  bad({ dropTo: 2 }, /dropTo must be a non-empty array of store ids/);
  bad({ dropTo: [] }, /dropTo must be a non-empty array/);
  bad({ dropFrom: [0] }, /dropFrom: store id must be a positive integer, got 0/);
  bad({ dropFrom: ['2'] }, /got "2"/);
  bad({ dropTo: [2.5] }, /got 2.5/);
  bad({ dropTo: [2, 1] }, /dropTo: store 1 is this store/);
  bad({ heal: false }, /heal must be true, got false/);
  bad({ syncDelayMs: -1 }, /syncDelayMs must be an integer in \[0, 10000\], got -1/);
  bad({ syncDelayMs: 10_001 }, /got 10001/);
  bad({ syncDelayMs: 1.5 }, /got 1.5/);
  bad({ syncDelayMs: '5' }, /got "5"/);
  // One bad key refuses the whole command (StoreServer.applyFaults changes nothing).
  bad({ dropTo: [2], syncDelayMs: -1 }, /syncDelayMs/);
});
