import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RangeErrorReply, UnavailableError } from './errors.js';
import { PendingReads } from './pending-reads.js';

test('a read resolves once its ReadState arrived and apply reached the read index', async () => {
  const reads = new PendingReads(1, { maxPendingReadsPerRange: 8, readTimeoutMs: 10_000 });
  const ctx = reads.nextCtx();
  let done = false;
  const p = reads.register(5, ctx).then(() => { done = true; });
  reads.onReadStates(5, 10, [{ index: 12, requestCtx: ctx }]);
  reads.onApplied(5, 11);
  await Promise.resolve();
  assert.equal(done, false, 'applied 11 < read index 12');
  reads.onApplied(5, 12);
  await p;
  assert.equal(reads.pending(5), 0);
});

test('contexts are unique and carry the store id', () => {
  const a = new PendingReads(7, { maxPendingReadsPerRange: 1, readTimeoutMs: 1 });
  const b = new PendingReads(7, { maxPendingReadsPerRange: 1, readTimeoutMs: 1 });
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) for (const r of [a, b]) seen.add(Buffer.from(r.nextCtx()).toString('hex'));
  assert.equal(seen.size, 200, 'two incarnations of one store never reuse a context');
  assert.equal(Buffer.from(a.nextCtx()).readUInt32BE(0), 7);
});

test('a leadership change fails unconfirmed reads only; confirmed ones still wait for apply', async () => {
  const reads = new PendingReads(1, { maxPendingReadsPerRange: 8, readTimeoutMs: 10_000 });
  const confirmed = reads.nextCtx();
  const waiting = reads.nextCtx();
  const pc = reads.register(1, confirmed);
  const pw = reads.register(1, waiting);
  reads.onReadStates(1, 0, [{ index: 3, requestCtx: confirmed }]);
  reads.failUnconfirmed(1, () => new RangeErrorReply({ message: 'moved', notLeader: { rangeId: 1 } }));
  await assert.rejects(pw, RangeErrorReply);
  assert.equal(reads.pending(1), 1);
  reads.onApplied(1, 3);
  await pc;
});

test('the per-range bound answers ServerBusy and a slow read times out as UNAVAILABLE', async () => {
  const reads = new PendingReads(1, { maxPendingReadsPerRange: 1, readTimeoutMs: 20 });
  const first = reads.register(1, reads.nextCtx());
  assert.throws(() => reads.register(1, reads.nextCtx()), (e: unknown) => e instanceof RangeErrorReply && e.rangeError.serverBusy !== undefined);
  assert.doesNotThrow(() => void reads.register(2, reads.nextCtx()).catch(() => {}), 'other ranges have their own bound');
  await assert.rejects(first, UnavailableError);
  assert.equal(reads.pending(1), 0);
  reads.failAll(() => new UnavailableError('stop'));
  assert.equal(reads.counts.timedOut >= 1, true);
});
