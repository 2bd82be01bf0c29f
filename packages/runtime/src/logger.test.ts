import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, type LogLevel } from './logger.js';

function capture(level?: LogLevel): { lines: Record<string, unknown>[]; log: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const destination = { write: (s: string): void => { for (const l of s.split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>); } };
  return { lines, log: createLogger({ storeId: 3 }, { ...(level ? { level } : {}), destination }) };
}

test('a line is one pino JSON object: level name, ISO time, msg, the base and call fields', () => {
  const { lines, log } = capture();
  log.info('raft leader changed', { rangeId: 7, lead: 2 });
  assert.equal(lines.length, 1);
  const l = lines[0]!;
  assert.equal(l.level, 'info');
  assert.equal(l.msg, 'raft leader changed');
  assert.equal(l.storeId, 3);
  assert.equal(l.rangeId, 7);
  assert.equal(l.lead, 2);
  assert.ok(typeof l.time === 'string' && !Number.isNaN(Date.parse(l.time)), 'ISO time');
  assert.equal(l.pid, undefined, 'no pid/hostname noise');
});

test('child loggers carry their fields (storeId, rangeId) on every line', () => {
  const { lines, log } = capture();
  const r = log.child({ rangeId: 12 });
  r.warn('one');
  r.child({ peer: 2 }).error('two', { extra: true });
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.storeId, l.rangeId]), [['warn', 'one', 3, 12], ['error', 'two', 3, 12]]);
  assert.equal(lines[1]!.peer, 2);
  assert.equal(lines[1]!.extra, true);
});

test('Errors under any key are serialized with type, message and stack', () => {
  const { lines, log } = capture();
  log.error('fatal store error: stopping', { err: new RangeError('disk gone'), cause: new TypeError('bad') });
  const l = lines[0]!;
  const err = l.err as { type: string; message: string; stack: string };
  assert.equal(err.type, 'RangeError');
  assert.equal(err.message, 'disk gone');
  assert.match(err.stack, /disk gone/);
  assert.equal((l.cause as { type: string }).type, 'TypeError');
});

test('lines below the level are not written', () => {
  const { lines, log } = capture('warn');
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
  assert.deepEqual(lines.map((l) => l.msg), ['w', 'e']);
  const dbg = capture('debug');
  dbg.log.debug('d', { rangeId: 1 });
  assert.deepEqual(dbg.lines.map((l) => [l.level, l.msg]), [['debug', 'd']]);
});
