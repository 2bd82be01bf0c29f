import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelayMs, Budget, MAX_ELECTION_POLLS, type Clock } from './backoff.js';
import { DeadlineExceededError, RetriesExhaustedError } from './errors.js';

const o = { backoffBaseMs: 10, backoffMaxMs: 500 };

test('backoff doubles per retry, with jitter in [cap/2, cap], up to backoffMaxMs', () => {
  assert.equal(backoffDelayMs(1, o, 0), 5);
  assert.equal(backoffDelayMs(1, o, 0.999999) <= 10, true);
  assert.equal(backoffDelayMs(3, o, 0), 20);
  assert.equal(backoffDelayMs(20, o, 0), 250);
  assert.equal(backoffDelayMs(20, o, 1), 500);
});

function fakeClock(): Clock & { t: number; slept: number[] } {
  const c = { t: 0, slept: [] as number[], now: () => c.t, random: () => 0.5, sleep: async (ms: number) => { c.slept.push(ms); c.t += ms; } };
  return c;
}

test('a budget waits between retries and fails with DeadlineExceededError rather than sleep past the deadline', async () => {
  const clock = fakeClock();
  const b = new Budget('get', 100, 100, 1000, o, clock);
  await assert.rejects(async () => {
    for (;;) await b.retry('busy');
  }, (e: unknown) => e instanceof DeadlineExceededError && e.lastError === 'busy');
  assert.ok(clock.slept.length >= 3);
  assert.ok(clock.t <= 100, 'never slept past the deadline');
  for (let i = 1; i < clock.slept.length; i++) assert.ok(clock.slept[i]! >= clock.slept[i - 1]!);
});

test('a budget gives up after maxRetries', async () => {
  const b = new Budget('put', 1e9, 1e9, 2, o, fakeClock());
  await b.retry('x');
  await b.retry('x', { immediate: true });
  await assert.rejects(b.retry('y'), (e: unknown) => e instanceof RetriesExhaustedError && e.attempts === 3);
});

test('election polls wait at most electionWaitMs and do not count against maxRetries, up to MAX_ELECTION_POLLS', async () => {
  const clock = fakeClock();
  const b = new Budget('put', 1e9, 1e9, 2, { ...o, electionWaitMs: 50 }, clock);
  for (let i = 0; i < MAX_ELECTION_POLLS; i++) await b.retry('no leader', { election: true });
  assert.equal(b.retries, 0);
  assert.ok(clock.slept.every((ms) => ms <= 50), `waits ${clock.slept.join(',')}`);
  assert.ok(clock.slept[0]! <= 10, 'the first polls still start short (backoffBaseMs)');
  // Past the polls: ordinary retries, counted and backing off.
  await b.retry('no leader', { election: true });
  await b.retry('no leader', { election: true });
  assert.equal(b.retries, 2);
  await assert.rejects(b.retry('no leader', { election: true }), (e: unknown) => e instanceof RetriesExhaustedError);
});

test('without electionWaitMs an election poll is an ordinary retry', async () => {
  const b = new Budget('put', 1e9, 1e9, 5, o, fakeClock());
  await b.retry('no leader', { election: true });
  assert.equal(b.retries, 1);
});
