// Not in the default suite: `pnpm test:bench`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Progress } from './progress.js';

function fake(tty: boolean): { p: Progress; out: string[]; clock: { t: number } } {
  const out: string[] = [];
  const clock = { t: 0 };
  const p = new Progress('  ', { tty, everyMs: 5_000, ttyEveryMs: 100, write: (s) => out.push(s), now: () => clock.t });
  return { p, out, clock };
}

test('without a terminal: the first update, then at most one line per everyMs, then the final line', () => {
  const { p, out, clock } = fake(false);
  p.update('splitting 1/1000 ranges');
  clock.t = 4_999;
  p.update('splitting 400/1000 ranges');
  clock.t = 5_000;
  p.update('splitting 437/1000 ranges');
  p.done('1000 ranges in 9.1 s');
  assert.deepEqual(out, ['  splitting 1/1000 ranges\n', '  splitting 437/1000 ranges\n', '  1000 ranges in 9.1 s\n']);
});

test('on a terminal: one line rewritten in place, cleared by done before the final line', () => {
  const { p, out, clock } = fake(true);
  p.update('balancing leaders 10/333 moved');
  clock.t = 50;
  p.update('balancing leaders 20/333 moved');
  clock.t = 100;
  p.update('balancing leaders 120/333 moved');
  p.done('leaders 111/111/111');
  assert.deepEqual(out, [
    '\r\x1b[K  balancing leaders 10/333 moved', '\r\x1b[K  balancing leaders 120/333 moved', '\r\x1b[K', '  leaders 111/111/111\n',
  ]);
});

test('after done the next phase starts with an immediate line', () => {
  const { p, out, clock } = fake(false);
  p.update('load 1/5 s');
  p.done();
  clock.t = 10;
  p.update('load 1/5 s');
  assert.deepEqual(out, ['  load 1/5 s\n', '  load 1/5 s\n']);
});
