// Flags shared by the commands that talk to a cluster (kv, ctl), and the mapping of
// client errors to messages and exit codes.
// The client (grpc-js, protobuf bindings) is imported when a command connects, so --help
// and usage errors start fast; errors are recognised by name for the same reason.
import type {
  AmbiguousWriteError, DeadlineExceededError, InvalidArgumentError, OperatorFailedError, PdRequestError, PdUnavailableError, RangeKvClient,
  RetriesExhaustedError,
} from '@rangekv/client';
import { readFileSync } from 'node:fs';
import { checkAddress, durationFlag, EXIT, str, UsageError, type CommandSpec, type FlagSpec, type Parsed } from './command.js';

export const DEFAULT_PD = '127.0.0.1:2379';

export function clientFlags(defaultTimeout: string): Record<string, FlagSpec> {
  return {
    pd: { type: 'string', value: 'H:P[,H:P]', description: `PD addresses, any PD node will do (default $RANGEKV_PD, else ${DEFAULT_PD})` },
    timeout: { type: 'string', value: 'DURATION', description: 'deadline of the whole command, e.g. 500ms, 5s, 1m', default: defaultTimeout },
    json: { type: 'boolean', description: 'print JSON for scripts instead of text' },
    'tls-ca-file': { type: 'string', value: 'FILE', description: 'TLS: the cluster\'s PEM CA (default $RANGEKV_TLS_CA_FILE; none = plaintext)' },
    'tls-cert-file': { type: 'string', value: 'FILE', description: 'TLS: client certificate, for servers that require one (default $RANGEKV_TLS_CERT_FILE);\nan admin certificate (rangekv://admin/NAME) authorizes ctl\'s operators' },
    'tls-key-file': { type: 'string', value: 'FILE', description: 'TLS: the key of --tls-cert-file (default $RANGEKV_TLS_KEY_FILE)' },
    'admin-token-file': { type: 'string', value: 'FILE', description: 'a file with the admin token, sent with every call (default $RANGEKV_ADMIN_TOKEN_FILE)' },
  };
}

/** The TLS and token options of a command: flags over RANGEKV_* variables. */
function securityOptions(p: Parsed, spec: CommandSpec): { tls?: { caFile: string; certFile?: string; keyFile?: string }; adminToken?: string } {
  const given = (flag: string, env: string): string | undefined => str(p, flag, spec) ?? (process.env[env] || undefined);
  const caFile = given('tls-ca-file', 'RANGEKV_TLS_CA_FILE');
  const certFile = given('tls-cert-file', 'RANGEKV_TLS_CERT_FILE');
  const keyFile = given('tls-key-file', 'RANGEKV_TLS_KEY_FILE');
  const tokenFile = given('admin-token-file', 'RANGEKV_ADMIN_TOKEN_FILE');
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert-file and --tls-key-file go together', spec);
  if (caFile === undefined && certFile !== undefined) throw new UsageError('--tls-cert-file needs --tls-ca-file', spec);
  const out: { tls?: { caFile: string; certFile?: string; keyFile?: string }; adminToken?: string } = {};
  if (caFile !== undefined) out.tls = { caFile, ...(certFile !== undefined ? { certFile, keyFile: keyFile! } : {}) };
  if (tokenFile !== undefined) {
    try {
      out.adminToken = readFileSync(tokenFile, 'utf8').trim();
    } catch (e) {
      throw new UsageError(`cannot read --admin-token-file ${tokenFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, spec);
    }
  }
  return out;
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
  const security = securityOptions(p, spec);
  const client = await Client.connect({ pd, timeoutMs, operatorTimeoutMs: timeoutMs, connectTimeoutMs: Math.min(1_000, timeoutMs), ...security });
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
    const hint = e.op === 'createOperator' ? 'see rangekv ctl operators'
      : e.op === 'addPdMember' || e.op === 'removePdMember' ? 'see rangekv ctl pd members list' : 'read the key to find out';
    return { message: `${e.message} (${hint})`, code: EXIT.failed };
  }
  if (named<PdRequestError>(e, 'PdRequestError')) return { message: `refused by PD: ${e.reason}`, code: EXIT.failed };
  if (named<OperatorFailedError>(e, 'OperatorFailedError')) return { message: e.message, code: EXIT.failed };
  return { message: e instanceof Error ? e.message : String(e), code: EXIT.failed };
}

export function isOperatorFailed(e: unknown): e is OperatorFailedError {
  return named<OperatorFailedError>(e, 'OperatorFailedError');
}
