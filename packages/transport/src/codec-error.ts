// The one error a decoder throws for bytes that are not a valid RaftBatch.

export class CodecError extends Error {
  override readonly name = 'CodecError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
