import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '@rangekv/raft';
import { NetworkModel } from './network.js';
import { EventQueue } from './event-queue.js';

const opts = { latencyUnitsMin: 2, latencyUnitsMax: 5, jitterUnitsMax: 3, maxNodeId: 8 };

test('a clean network delivers every message once, within latency + jitter', () => {
  const net = new NetworkModel(new Prng(1), opts);
  for (let i = 0; i < 1000; i++) {
    const d = net.route(1 + (i % 3), 1 + ((i + 1) % 3));
    assert.equal(d.length, 1);
    assert.ok(d[0]! >= 2 && d[0]! <= 8, `delay ${d[0]} in [2, 8]`);
  }
});

test('the same seed gives the same delays (runs replay exactly)', () => {
  const a = new NetworkModel(new Prng(42), opts);
  const b = new NetworkModel(new Prng(42), opts);
  a.faults.dropRate = b.faults.dropRate = 0.3;
  a.faults.duplicateRate = b.faults.duplicateRate = 0.2;
  for (let i = 0; i < 500; i++) assert.deepEqual(a.route(1, 2), b.route(1, 2));
});

test('a symmetric partition cuts both directions and only across sides', () => {
  const net = new NetworkModel(new Prng(3), opts);
  net.partition([1], [2, 3]);
  assert.deepEqual(net.route(1, 2), []);
  assert.deepEqual(net.route(3, 1), []);
  assert.equal(net.route(2, 3).length, 1);
  assert.ok(net.hasCuts());
  net.healAll();
  assert.equal(net.route(1, 2).length, 1);
  assert.ok(!net.hasCuts());
});

test('an asymmetric cut blocks one direction only', () => {
  const net = new NetworkModel(new Prng(4), opts);
  net.cutLink(1, 2);
  assert.deepEqual(net.route(1, 2), []);
  assert.equal(net.route(2, 1).length, 1);
  assert.deepEqual(net.cuts(), [[1, 2]]);
  net.restoreLink(1, 2);
  assert.equal(net.route(1, 2).length, 1);
});

test('drop rate 1 loses everything; duplicate rate 1 delivers two copies', () => {
  const net = new NetworkModel(new Prng(5), opts);
  net.faults.dropRate = 1;
  assert.deepEqual(net.route(1, 2), []);
  net.faults.dropRate = 0;
  net.faults.duplicateRate = 1;
  assert.equal(net.route(1, 2).length, 2);
});

test('reorder jitter and delay spikes make later messages overtake earlier ones', () => {
  const net = new NetworkModel(new Prng(6), opts);
  net.faults.reorderJitterUnitsMax = 20;
  net.faults.delaySpikeRate = 0.5;
  net.faults.delaySpikeUnitsMax = 50;
  let overtakes = 0;
  let prevArrival = -1;
  for (let t = 0; t < 200; t++) {
    const arrival = t + net.route(1, 2)[0]!;
    if (arrival < prevArrival) overtakes++;
    prevArrival = arrival;
  }
  assert.ok(overtakes > 10, `saw ${overtakes} overtakes`);
});

test('healAll turns message faults off', () => {
  const net = new NetworkModel(new Prng(7), opts);
  net.faults.dropRate = 1;
  net.healAll();
  for (let i = 0; i < 100; i++) assert.equal(net.route(1, 2).length, 1);
});

test('event queue pops in time order, first-in first-out at equal times', () => {
  const q = new EventQueue<string>();
  q.push(5, 'c');
  q.push(1, 'a');
  q.push(5, 'd');
  q.push(3, 'b');
  q.push(5, 'e');
  const out: string[] = [];
  for (let e = q.pop(); e !== undefined; e = q.pop()) out.push(e.item);
  assert.deepEqual(out, ['a', 'b', 'c', 'd', 'e']);
});

test('event queue removeWhere keeps the remaining order', () => {
  const q = new EventQueue<number>();
  for (let i = 0; i < 50; i++) q.push(i % 7, i);
  q.removeWhere((i) => i % 2 === 0);
  const out: number[] = [];
  for (let e = q.pop(); e !== undefined; e = q.pop()) out.push(e.item);
  const expected = [...Array(50).keys()].filter((i) => i % 2 === 1).sort((a, b) => (a % 7) - (b % 7) || a - b);
  assert.deepEqual(out, expected);
});
