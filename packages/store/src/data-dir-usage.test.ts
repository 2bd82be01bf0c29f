import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataDirUsage } from './data-dir-usage.js';

test('data dir usage: capacity and free space of its filesystem, and the bytes of the files under it (nested dirs too)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rangekv-usage-'));
  try {
    await writeFile(join(dir, 'a'), Buffer.alloc(1000));
    await mkdir(join(dir, 'db', 'x'), { recursive: true });
    await writeFile(join(dir, 'db', 'x', 'b'), Buffer.alloc(2345));
    const u = new DataDirUsage(dir, { usedBytesRefreshMs: 0, maxFilesWalked: 100 });
    const first = await u.figures();
    assert.ok(first.capacityBytes > 0 && first.availableBytes > 0 && first.availableBytes <= first.capacityBytes);
    await u.settled();
    assert.equal((await u.figures()).usedBytes, 3345);
    await u.settled();
    // A bound on the walk: the figure is then a lower bound.
    const bounded = new DataDirUsage(dir, { usedBytesRefreshMs: 0, maxFilesWalked: 1 });
    await bounded.figures();
    await bounded.settled();
    assert.ok([1000, 2345].includes((await bounded.figures()).usedBytes));
    await bounded.settled();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('data dir usage: a dir that is gone reports zeros instead of throwing', async () => {
  const u = new DataDirUsage(join(tmpdir(), 'rangekv-usage-does-not-exist-0'), { usedBytesRefreshMs: 0, maxFilesWalked: 10 });
  assert.deepEqual(await u.figures(), { capacityBytes: 0, availableBytes: 0, usedBytes: 0 });
  await u.settled();
});
