// The errors a caller of RangeKvClient can get. Every one is final: the client already
// retried what it could (routing errors, busy stores, unreachable replicas) before
// throwing. Anything else thrown is a bug.
import type { OperatorInfo } from './types.js';

/** Base of every error the client throws on purpose. */
export class RangeKvError extends Error {
  override name = 'RangeKvError';
}

/** The server refused the request's content (gRPC INVALID_ARGUMENT): fix the request, do not retry. */
export class InvalidArgumentError extends RangeKvError {
  override name = 'InvalidArgumentError';
  constructor(readonly reason: string, readonly address: string) {
    super(`invalid argument: ${reason}`);
  }
}

/**
 * A write whose outcome is unknown: the store said so (gRPC UNKNOWN with trailing
 * metadata `rangekv-ambiguous`), or the call broke after it was sent (UNAVAILABLE,
 * DEADLINE_EXCEEDED, CANCELLED on a connected channel). It may or may not have applied;
 * read the key to find out. Never retried for CompareAndSwap; for put / batchPut /
 * delete / deleteRange unless `retryAmbiguousWrites` is on (default off).
 */
export class AmbiguousWriteError extends RangeKvError {
  override name = 'AmbiguousWriteError';
  constructor(readonly op: string, readonly address: string, readonly reason: string) {
    super(`${op} may or may not have applied (${address}): ${reason}`);
  }
}

/** The call's deadline passed before it succeeded. `lastError` is the last retryable failure seen. */
export class DeadlineExceededError extends RangeKvError {
  override name = 'DeadlineExceededError';
  constructor(readonly op: string, readonly deadlineMs: number, readonly lastError: string, readonly unreachableAddress?: string) {
    super(`${op}: deadline of ${deadlineMs} ms exceeded${lastError ? ` (last error: ${lastError})` : ''}`);
  }
}

/** The call used up `maxRetries` retries before it succeeded. */
export class RetriesExhaustedError extends RangeKvError {
  override name = 'RetriesExhaustedError';
  constructor(readonly op: string, readonly attempts: number, readonly lastError: string, readonly unreachableAddress?: string) {
    super(`${op}: gave up after ${attempts} attempts (last error: ${lastError})`);
  }
}

/** No PD node answered as leader before the deadline. `addresses` are the ones tried. */
export class PdUnavailableError extends RangeKvError {
  override name = 'PdUnavailableError';
  constructor(readonly addresses: readonly string[], readonly lastError: string) {
    super(`placement driver unreachable at ${addresses.join(', ')}: ${lastError}`);
  }
}

/** PD answered the request with an error that retrying will not fix (bad operator arguments, unknown range). */
export class PdRequestError extends RangeKvError {
  override name = 'PdRequestError';
  /** `code`: PD's gRPC status name (NOT_FOUND, FAILED_PRECONDITION, ...) when PD answered with one. */
  constructor(readonly method: string, readonly reason: string, readonly code = '') {
    super(`${method}: ${reason}`);
  }
}

/** An operator ended FAILED or TIMED_OUT; `operator` carries its step and reason. */
export class OperatorFailedError extends RangeKvError {
  override name = 'OperatorFailedError';
  constructor(readonly operator: OperatorInfo) {
    super(`operator ${operator.id} (${operator.kind} on range ${operator.rangeId}) ${operator.status}: ${operator.reason || operator.step}`);
  }
}

/** Any other final gRPC status from a store (INTERNAL, RESOURCE_EXHAUSTED, ...). */
export class StoreError extends RangeKvError {
  override name = 'StoreError';
  constructor(readonly code: string, readonly details: string, readonly address: string) {
    super(`store ${address}: ${code}: ${details}`);
  }
}
