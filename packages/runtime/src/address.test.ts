import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostPort, isWildcardHost, parseAddress, parseHost } from './address.js';
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

test('isWildcardHost: 0.0.0.0 and all-zero IPv6, bracketed or not; nothing else', () => {
  for (const w of ['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0', '[0::0]']) assert.equal(isWildcardHost(w), true, w);
  for (const h of ['127.0.0.1', '::1', '[::1]', 'localhost', '10.0.0.0', '0.0.0.1', 'store-0', '']) assert.equal(isWildcardHost(h), false, h);
});

test('parseHost takes a name or an IP (IPv6 bare or bracketed) and refuses ports, wildcards and junk', () => {
  for (const ok of ['127.0.0.1', 'store-1.rangekv.svc.cluster.local', '::1', '[fe80::1]', 'localhost']) assert.equal(parseHost('--advertise-host', ok), ok);
  const bad: Array<[string, RegExp]> = [
    ['', /^--advertise-host: "" is not a host name or IP address \(no port\)$/],
    ['10.0.0.1:20160', /is not a host name or IP address/],
    ['[10.0.0.1]', /is not a host name or IP address/],
    ['h st', /is not a host name or IP address/],
    ['http://h', /is not a host name or IP address/],
    ['0.0.0.0', /^--advertise-host: "0.0.0.0" is a wildcard address/],
    ['::', /is a wildcard address/],
    ['[::]', /is a wildcard address/],
  ];
  for (const [v, re] of bad) assert.throws(() => parseHost('--advertise-host', v), (e: unknown) => e instanceof FlagError && re.test(e.message), v);
});
