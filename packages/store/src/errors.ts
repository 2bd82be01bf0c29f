// The errors a KV request can end in, besides the typed range errors of metadata.proto.
//
//   InvalidArgumentError  -> gRPC INVALID_ARGUMENT: the request itself is bad; nothing done.
//   RangeErrorReply       -> a response with `range_error` set: re-route and retry; nothing done.
//   FailedPreconditionError -> gRPC FAILED_PRECONDITION (admin): not allowed in the range's
//                            current state; nothing done.
//   UnavailableError      -> gRPC UNAVAILABLE: nothing was done (reads, or writes refused
//                            before proposing); safe to retry.
//   AmbiguousResultError  -> gRPC UNKNOWN with trailing metadata `rangekv-ambiguous: 1`:
//                            a write was proposed and its fate is unknown (leader lost,
//                            timeout, store stopping). It may have applied or may still
//                            apply: retry only if the write is idempotent, or read first.
import type { metapb } from '@rangekv/proto';

/** Trailing-metadata key marking an ambiguous write result (value "1"). */
export const AMBIGUOUS_METADATA_KEY = 'rangekv-ambiguous';

export class InvalidArgumentError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'InvalidArgumentError';
  }
}

/** Thrown inside the KV service to answer with `range_error` (see range-errors.ts). */
export class RangeErrorReply extends Error {
  constructor(readonly rangeError: metapb.RangeError.$Properties) {
    super(rangeError.message ?? 'range error');
    this.name = 'RangeErrorReply';
  }
}

/** gRPC FAILED_PRECONDITION: the request is well-formed but the range's state does not allow it (e.g. removing the leader's own replica); nothing done. */
export class FailedPreconditionError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'FailedPreconditionError';
  }
}

export class UnavailableError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'UnavailableError';
  }
}

export class AmbiguousResultError extends Error {
  constructor(readonly reason: string) {
    super(`ambiguous result: ${reason}`);
    this.name = 'AmbiguousResultError';
  }
}
