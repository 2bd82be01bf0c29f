// MallocTrimmer on a fake addon (timer, one trim at a time, stop), the built addon itself
// where this machine built it, and the store's launch settings.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger, type Logger } from './logger.js';
import { MallocTrimmer, mallocTrimAddon, type MallocTrimAddon } from './malloc-trim.js';
import { STORE_GLIBC_TUNABLES, STORE_NODE_FLAGS, storeNodeFlags, storeProcessEnv } from './store-process-settings.js';

const until = async (cond: () => boolean): Promise<void> => {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
};

/** An addon whose trims finish only when the test says so. */
function heldAddon(): { addon: MallocTrimAddon; pending: Array<(released: boolean, micros: number) => void> } {
  const pending: Array<(released: boolean, micros: number) => void> = [];
  return { addon: { trim: (done) => pending.push(done) }, pending };
}

function recordingLog(): { log: Logger; lines: Array<{ msg: string; fields?: Record<string, unknown> }> } {
  const lines: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
  const log: Logger = { ...silentLogger, info: (msg, fields) => lines.push({ msg, ...(fields ? { fields } : {}) }) };
  return { log, lines };
}

test('trims every interval, one at a time, reports each with its seconds, and reports nothing after stop', async () => {
  const { addon, pending } = heldAddon();
  const reports: Array<[boolean, number]> = [];
  const t = new MallocTrimmer({ intervalMs: 100, log: silentLogger, addon, onTrim: (released, seconds) => reports.push([released, seconds]) });
  assert.equal(t.start(), true);
  try {
    await until(() => pending.length === 1);
    // Held: the timer fires again meanwhile, and must not start a second trim.
    await new Promise((r) => setTimeout(r, 350));
    assert.equal(pending.length, 1, 'one trim at a time');
    pending[0]!(true, 2_500);
    assert.deepEqual(reports, [[true, 0.0025]]);
    assert.equal(t.trims, 1);
    await until(() => pending.length === 2);
    t.stop();
    pending[1]!(false, 10);
    assert.deepEqual(reports, [[true, 0.0025]], 'a trim finishing after stop() reports nothing');
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(pending.length, 2, 'no trim after stop()');
  } finally {
    t.stop();
  }
});

test('interval 0 trims nothing; a missing addon is logged once with the reason; out-of-range intervals are refused', () => {
  const { addon, pending } = heldAddon();
  assert.equal(new MallocTrimmer({ intervalMs: 0, log: silentLogger, addon }).start(), false);
  assert.equal(pending.length, 0);
  const { log, lines } = recordingLog();
  const missing = new MallocTrimmer({ intervalMs: 1_000, log, addon: null });
  assert.equal(missing.start(), false);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!.msg, /malloc_trim unavailable/);
  assert.ok(typeof lines[0]!.fields?.reason === 'string');
  for (const intervalMs of [-1, 1, 99, 1.5, 3_600_001, Number.NaN]) {
    assert.throws(() => new MallocTrimmer({ intervalMs, log: silentLogger }), RangeError, String(intervalMs));
  }
});

const built = mallocTrimAddon();
test('the built addon runs malloc_trim off the main thread and calls back with (released, micros)', { skip: built.addon === null ? built.reason : false }, async () => {
  const addon = built.addon!;
  const [released, micros] = await new Promise<[boolean, number]>((resolve) => addon.trim((r, us) => resolve([r, us])));
  assert.equal(typeof released, 'boolean');
  assert.ok(Number.isFinite(micros) && micros >= 0, `micros ${micros}`);
  assert.throws(() => (addon.trim as (x: unknown) => void)(42), TypeError);
});

test("a store's launch settings: ours by default, the operator's own kept", () => {
  assert.deepEqual(storeNodeFlags({}), [...STORE_NODE_FLAGS]);
  assert.deepEqual(storeNodeFlags({ NODE_OPTIONS: '--enable-source-maps' }), [...STORE_NODE_FLAGS]);
  assert.deepEqual(storeNodeFlags({ NODE_OPTIONS: '--max-semi-space-size=32' }), []);
  assert.deepEqual(storeNodeFlags({ NODE_OPTIONS: '--max_semi_space_size=32' }), []);
  assert.equal(storeProcessEnv({ PATH: '/bin' }).GLIBC_TUNABLES, STORE_GLIBC_TUNABLES);
  assert.equal(storeProcessEnv({ PATH: '/bin' }).PATH, '/bin');
  const own = { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' };
  assert.equal(storeProcessEnv(own), own);
});
