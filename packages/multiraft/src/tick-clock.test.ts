import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TickClock } from './tick-clock.js';

function fakeClock(): { clock: TickClock; at: (ms: number) => boolean; ticks: () => number; set: (ms: number) => void } {
  let now = 0;
  let ticks = 0;
  const clock = new TickClock({ tickMs: 10, windowTicks: 10, marginTicks: 2, now: () => now });
  // Drive poll() by hand (no timer): start() would schedule one.
  (clock as unknown as { onTick: () => void }).onTick = () => { ticks++; };
  return { clock, at: (ms) => { now = ms; return clock.poll(); }, ticks: () => ticks, set: (ms) => { now = ms; } };
}

test('one tick per slot on time, never more than real time allows', () => {
  const { clock, at, ticks } = fakeClock();
  for (let ms = 10; ms <= 300; ms += 10) assert.equal(at(ms), true);
  assert.equal(at(305), false, 'a second poll within one slot issues nothing');
  assert.equal(ticks(), 30);
  assert.equal(clock.lostTicks, 0);
  assert.equal(clock.leaseUsable(), true);
});

test('a stall loses slots instead of bursting ticks, and leases stop until the window has passed it (worked example)', () => {
  const { clock, at, ticks } = fakeClock();
  for (let ms = 10; ms <= 300; ms += 10) at(ms);
  assert.equal(clock.leaseUsable(), true);
  assert.equal(at(345), true);
  assert.equal(ticks(), 31, 'one tick after the stall, not four');
  assert.equal(clock.lostTicks, 3);
  for (let t = 32, ms = 350; t <= 39; t++, ms += 10) {
    at(ms);
    assert.equal(clock.leaseUsable(), false, `tick ${t}: window still holds the stall`);
  }
  at(430);
  assert.equal(ticks(), 40);
  assert.equal(clock.leaseUsable(), true, 'tick 40: the window is all after the stall');
});

test('an overdue slot not yet ticked counts against the lease; one lost slot is tolerated', () => {
  const { clock, at, set } = fakeClock();
  for (let ms = 10; ms <= 200; ms += 10) at(ms);
  at(225); // the loop wakes late: slot 22, tick 21 issued, slot 21 lost
  assert.equal(clock.lostTicks, 1);
  assert.equal(clock.leaseUsable(), true, 'one lost slot < margin 2');
  // The loop is stuck again (no poll) while real time moves on: no lease meanwhile.
  set(245);
  assert.equal(clock.leaseUsable(), false, 'slot 21 lost, 22 and 23 overdue');
});
