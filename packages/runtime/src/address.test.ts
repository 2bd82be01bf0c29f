import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostPort, parseAddress } from './address.js';
import { FlagError } from './flag-error.js';

test('hostPort brackets a bare IPv6 host and nothing else', () => {
  assert.equal(hostPort('127.0.0.1', 7001), '127.0.0.1:7001');
  assert.equal(hostPort('localhost', 0), 'localhost:0');
  assert.equal(hostPort('::1', 7001), '[::1]:7001');
  assert.equal(hostPort('[::1]', 7001), '[::1]:7001');
  assert.equal(hostPort('0.0.0.0', 20160), '0.0.0.0:20160');
});

test('parseAddress takes host:port with a port in 1..65535 and names what is wrong otherwise', () => {
  for (const ok of ['127.0.0.1:7001', 'pd-1.internal:2379', '[::1]:7003', '[fe80::1]:1', 'h:65535']) assert.equal(parseAddress('--pd', ok), ok);
  const bad: Array<[string, RegExp]> = [
    ['localhost', /^--pd: "localhost" is not host:port$/],
    ['::1:7003', /not host:port/],
    [':7003', /not host:port/],
    ['h:', /not host:port/],
    ['h:x', /not host:port/],
    ['h :1', /not host:port/],
    ['h:0', /^--pd port must be in \[1, 65535\], got 0$/],
    ['h:65536', /^--pd port must be in \[1, 65535\], got 65536$/],
  ];
  for (const [v, re] of bad) assert.throws(() => parseAddress('--pd', v), (e: unknown) => e instanceof FlagError && re.test(e.message), v);
});
