// Errors a PD caller can hit, mapped to gRPC statuses at the edge (pd-grpc.ts). Not being
// the leader is not an error status: it is `header.error.not_leader` in the response.
export type PdErrorCode = 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'FAILED_PRECONDITION' | 'PERMISSION_DENIED';

export class PdRequestError extends Error {
  constructor(readonly code: PdErrorCode, message: string) {
    super(message);
    this.name = 'PdRequestError';
  }
}

export function invalidArgument(message: string): PdRequestError {
  return new PdRequestError('INVALID_ARGUMENT', message);
}
