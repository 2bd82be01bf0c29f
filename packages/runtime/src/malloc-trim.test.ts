// MallocTrimmer on a fake addon (timer, one trim at a time, stop), the built addon itself
// where this machine built it, and the store's launch settings.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger, type Logger } from './logger.js';
import { MallocTrimmer, mallocTrimAddon, type MallocTrimAddon, type MemoryFigures, type ReclaimOptions, type ReclaimReport } from './malloc-trim.js';
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
  const t = new MallocTrimmer({ intervalMs: 100, idleIntervalMs: 100, log: silentLogger, addon, onTrim: (released, seconds) => reports.push([released, seconds]) });
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

test('a process quiet for two intervals in a row is trimmed every idleIntervalMs, not every intervalMs; a busy one, and the two intervals after work, every intervalMs', () => {
  const { addon, pending } = heldAddon();
  const p = fakeProcess(100, 10);
  const t = new MallocTrimmer({ intervalMs: 5_000, idleIntervalMs: 60_000, log: silentLogger, addon, memory: p.memory, now: p.now });
  assert.equal(t.start(), true);
  try {
    const tick = (busy: boolean): void => {
      p.advance(5_000, busy);
      t.tick();
      if (pending.length > t.trims) pending[pending.length - 1]!(true, 5_000);
    };
    tick(false);
    assert.equal(t.trims, 1, 'the first trim is never skipped');
    for (let i = 0; i < 11; i++) tick(false); // 10 to 60 s: quiet, less than 60 s after the trim at 5 s
    assert.equal(t.trims, 1);
    assert.equal(t.skippedTrims, 11);
    tick(false); // 65 s: 60 s after it
    assert.equal(t.trims, 2);
    tick(true);
    assert.equal(t.trims, 3, 'busy: every interval');
    tick(false);
    assert.equal(t.trims, 4, 'the first quiet interval after work still trims');
    tick(false);
    assert.equal(t.trims, 4, 'the second one is skipped');
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

const MiB = 1 << 20;

/**
 * A process a test drives: `advance(ms, busy)` moves the clock, and the event loop's busy
 * time and the CPU time by 80 % (busy) or 2 % of it; `set` the resident set (MiB). gc records the resident
 * set it ran at and drops V8's figure to `afterGc` (MiB).
 */
function fakeProcess(rss: number, v8: number): {
  memory: () => MemoryFigures; now: () => number; set: (rss: number) => void; gcs: number[]; gc: () => void; v8: { now: number; afterGc: number };
  advance: (ms: number, busy: boolean) => void;
} {
  let rssNow = rss;
  let t = 0;
  let active = 0;
  const v = { now: v8, afterGc: v8 };
  const gcs: number[] = [];
  return {
    memory: () => ({ rssBytes: rssNow * MiB, usedHeapBytes: v.now * MiB, externalBytes: 0, loopActiveMs: active, cpuMs: active }),
    now: () => t,
    set: (r) => { rssNow = r; },
    gcs,
    gc: () => { gcs.push(rssNow); v.now = v.afterGc; },
    v8: v,
    advance: (ms, busy) => { t += ms; active += ms * (busy ? 0.8 : 0.02); },
  };
}

/** A trimmer over `p` with reclaim options (periodic trims off), a held addon, and its reclaim reports. */
function reclaimingTrimmer(p: ReturnType<typeof fakeProcess>, reclaim: Omit<ReclaimOptions, 'onReclaim'>): {
  t: MallocTrimmer; pending: Array<(released: boolean, micros: number) => void>; reports: ReclaimReport[]; addon: MallocTrimAddon;
} {
  const { addon, pending } = heldAddon();
  const reports: ReclaimReport[] = [];
  const t = new MallocTrimmer({ intervalMs: 0, log: silentLogger, addon, memory: p.memory, now: p.now, reclaim: { ...reclaim, onReclaim: (r) => reports.push(r) } });
  return { t, pending, reports, addon };
}

test('reclaim: a collection and a trim once the resident set grew and the process went quiet; none while busy, none below the growth, none within minIntervalMs', () => {
  const p = fakeProcess(150, 20);
  const { t, pending, reports } = reclaimingTrimmer(p, { growthBytes: 16 * MiB, gc: p.gc, minIntervalMs: 10_000 });
  const look = (rss: number, busy: boolean): void => {
    p.advance(500, busy);
    p.set(rss);
    t.look();
  };
  assert.equal(t.start(), true, 'reclaim runs even with the periodic trim off');
  try {
    // A burst: busy while the resident set climbs (with a dip: the low point is 140). Nothing.
    look(140, true);
    for (let i = 1; i <= 8; i++) look(150 + i * 8, true);
    assert.equal(p.gcs.length, 0, 'no collection while busy');
    // Quiet at 214, 74 MiB above the low point: one collection and one trim.
    p.v8.now = 30;
    p.v8.afterGc = 18;
    look(214, false);
    assert.deepEqual(p.gcs, [214]);
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.freedBytes, 12 * MiB);
    assert.ok(reports[0]!.gcSeconds !== null && reports[0]!.gcSeconds >= 0);
    assert.equal(pending.length, 1, 'and one trim');
    p.set(160); // what the trim gave back: the new low point
    pending[0]!(true, 100);
    assert.equal(t.trims, 1);
    assert.equal(t.reclaims, 1);
    // Quiet, less than the growth above the new low point: nothing.
    look(170, false);
    look(170, false);
    assert.equal(p.gcs.length, 1);
    // Past it and quiet, but within minIntervalMs of the last reclaim (at 5 s, after nine busy looks); then after it.
    for (let i = 0; i < 17; i++) look(180, false); // 6.5 s to 14.5 s
    assert.equal(p.gcs.length, 1, 'within minIntervalMs');
    look(180, false); // 15 s
    assert.equal(p.gcs.length, 2);
    pending[1]!(true, 100);
    t.stop();
    p.advance(60_000, false);
    p.set(400);
    t.look();
    assert.equal(p.gcs.length, 2, 'nothing after stop()');
  } finally {
    t.stop();
  }
});

test('reclaim: no collection above maxGcHeapBytes or without gc (the trim alone); without gc and addon it does not start; growth bounds are checked', () => {
  const p = fakeProcess(100, 20);
  const { t, pending, reports, addon } = reclaimingTrimmer(p, { growthBytes: 4 * MiB, gc: p.gc, maxGcHeapBytes: 12 * MiB });
  assert.equal(t.start(), true);
  try {
    p.advance(500, false);
    p.set(110);
    t.look();
    assert.deepEqual(reports, [{ gcSeconds: null, freedBytes: 0 }]);
    assert.equal(p.gcs.length, 0, 'heap above maxGcHeapBytes: no collection');
    assert.equal(pending.length, 1, 'the trim alone');
  } finally {
    t.stop();
  }
  const q = fakeProcess(100, 10);
  const trimOnly = new MallocTrimmer({ intervalMs: 0, log: silentLogger, addon, memory: q.memory, now: q.now, reclaim: { growthBytes: 4 * MiB, gc: null } });
  assert.equal(trimOnly.start(), true);
  trimOnly.stop();
  const { log, lines } = recordingLog();
  const gcOnly = new MallocTrimmer({ intervalMs: 0, log, addon: null, memory: q.memory, now: q.now, reclaim: { growthBytes: 4 * MiB, gc: q.gc } });
  assert.equal(gcOnly.start(), true, 'a collection alone, without the addon');
  try {
    assert.equal(lines.length, 1, 'the missing addon is logged');
    q.advance(500, false);
    q.set(120);
    gcOnly.look();
    assert.equal(q.gcs.length, 1);
    q.advance(20_000, false);
    gcOnly.look();
    assert.equal(q.gcs.length, 1, 'the low point is the resident set after it');
  } finally {
    gcOnly.stop();
  }
  const neither = new MallocTrimmer({ intervalMs: 0, log: silentLogger, addon: null, memory: q.memory, reclaim: { growthBytes: 4 * MiB, gc: null } });
  assert.equal(neither.start(), false);
  assert.equal(new MallocTrimmer({ intervalMs: 0, log: silentLogger, addon, reclaim: { growthBytes: 0, gc: p.gc } }).start(), false, 'growth 0: off');
  for (const idleIntervalMs of [-1, 1.5, 3_600_001]) {
    assert.throws(() => new MallocTrimmer({ intervalMs: 0, idleIntervalMs, log: silentLogger }), RangeError, String(idleIntervalMs));
  }
  for (const growthBytes of [-1, 1, MiB - 1, 1.5, 2 ** 41, Number.NaN]) {
    assert.throws(() => new MallocTrimmer({ intervalMs: 0, log: silentLogger, reclaim: { growthBytes, gc: null } }), RangeError, String(growthBytes));
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
  assert.deepEqual(storeNodeFlags({ NODE_OPTIONS: '--max-semi-space-size=32' }), ['--expose-gc']);
  assert.deepEqual(storeNodeFlags({ NODE_OPTIONS: '--max_semi_space_size=32' }), ['--expose-gc']);
  assert.deepEqual(storeNodeFlags({ NODE_OPTIONS: '--expose-gc --max-semi-space-size=4' }), []);
  assert.equal(storeProcessEnv({ PATH: '/bin' }).GLIBC_TUNABLES, STORE_GLIBC_TUNABLES);
  assert.equal(storeProcessEnv({ PATH: '/bin' }).PATH, '/bin');
  const own = { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' };
  assert.equal(storeProcessEnv(own), own);
});
