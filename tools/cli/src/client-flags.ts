// Flags shared by the commands that talk to a cluster (kv, ctl), and the mapping of
// client errors to messages and exit codes.
// The client (grpc-js, protobuf bindings) is imported when a command connects, so --help
// and usage errors start fast; errors are recognised by name for the same reason.
import type {
  AmbiguousWriteError, DeadlineExceededError, InvalidArgumentError, OperatorFailedError, PdRequestError, PdUnavailableError, RangeKvClient,
  RetriesExhaustedError,
} from '@rangekv/client';
import { checkAddress, durationFlag, EXIT, type CommandSpec, type FlagSpec, type Parsed, str } from './command.js';

export const DEFAULT_PD = '127.0.0.1:2379';

export function clientFlags(defaultTimeout: string): Record<string, FlagSpec> {
  return {
    pd: { type: 'string', value: 'H:P[,H:P]', description: `PD addresses, any PD node will do (default $RANGEKV_PD, else ${DEFAULT_PD})` },
    timeout: { type: 'string', value: 'DURATION', description: 'deadline of the whole command, e.g. 500ms, 5s, 1m', default: defaultTimeout },
    json: { type: 'boolean', description: 'print JSON for scripts instead of text' },
  };
}

export function pdAddresses(p: Parsed, spec: CommandSpec): string[] {
  const given = str(p, 'pd', spec) ?? (process.env.RANGEKV_PD || DEFAULT_PD);
  return given.split(',').map((a) => a.trim()).filter((a) => a !== '').map((a) => checkAddress(a, '--pd', spec));
}

/** Connects with the command's --pd and --timeout. */
export async function connect(p: Parsed, spec: CommandSpec): Promise<{ client: RangeKvClient; timeoutMs: number }> {
  const pd = pdAddresses(p, spec);
  const timeoutMs = durationFlag(p, 'timeout', spec)!;
  const { RangeKvClient: Client } = await import('@rangekv/client');
  const client = await Client.connect({ pd, timeoutMs, operatorTimeoutMs: timeoutMs, connectTimeoutMs: Math.min(1_000, timeoutMs) });
  return { client, timeoutMs };
}

/** What to print and which exit code for an error thrown by a kv/ctl command. */
function named<T>(e: unknown, name: string): e is T {
  return e instanceof Error && e.name === name;
}

/** What to print and which exit code for an error thrown by a kv/ctl command. */
export function describeError(e: unknown): { message: string; code: number } {
  if (named<PdUnavailableError>(e, 'PdUnavailableError')) {
    return { message: `cannot reach the placement driver at ${e.addresses.join(', ')}: ${e.lastError}`, code: EXIT.unreachable };
  }
  if ((named<DeadlineExceededError>(e, 'DeadlineExceededError') || named<RetriesExhaustedError>(e, 'RetriesExhaustedError'))
    && e.unreachableAddress !== undefined) {
    return { message: `cannot reach ${e.unreachableAddress}: ${e.message}`, code: EXIT.unreachable };
  }
  if (named<InvalidArgumentError>(e, 'InvalidArgumentError')) return { message: `refused: ${e.reason}`, code: EXIT.failed };
  if (named<AmbiguousWriteError>(e, 'AmbiguousWriteError')) {
    const hint = e.op === 'createOperator' ? 'see rangekv ctl operators' : 'read the key to find out';
    return { message: `${e.message} (${hint})`, code: EXIT.failed };
  }
  if (named<PdRequestError>(e, 'PdRequestError')) return { message: `refused by PD: ${e.reason}`, code: EXIT.failed };
  if (named<OperatorFailedError>(e, 'OperatorFailedError')) return { message: e.message, code: EXIT.failed };
  return { message: e instanceof Error ? e.message : String(e), code: EXIT.failed };
}

export function isOperatorFailed(e: unknown): e is OperatorFailedError {
  return named<OperatorFailedError>(e, 'OperatorFailedError');
}
