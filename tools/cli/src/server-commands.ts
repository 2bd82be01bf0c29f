// rangekv pd / rangekv store: run one server process from flags or a JSON config file.
//
// The flags are checked here (clear errors, exit 2), then the server's own entry point
// (packages/pd/dist/pd-main.js, packages/store/dist/store-main.js) runs as a child with
// stdio inherited: its ready line and logs appear as they are. SIGINT/SIGTERM are
// passed on; the exit code is the child's.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkAddress, EXIT, intValue, str, UsageError, type CommandSpec, type FlagSpec, type Parsed } from './command.js';

/** How a flag is checked and passed on. */
type Kind = 'int' | 'port' | 'path' | 'host' | 'addresses' | 'peers' | 'httpPort' | 'logLevel';

interface ServerFlag extends FlagSpec {
  kind: Kind;
  required?: boolean;
}

const configFlag: FlagSpec = { type: 'string', value: 'FILE', description: 'read flags from a JSON object (keys: the flag names, e.g. {"data-dir": "/var/lib/rangekv"}); flags given on the command line win' };

const pdFlags: Record<string, ServerFlag> = {
  id: { type: 'string', kind: 'int', value: 'N', description: "this PD node's id (1..n, unique in the PD group)", default: '1' },
  'data-dir': { type: 'string', kind: 'path', value: 'DIR', description: "PD's data directory (its raft log and metadata)", required: true },
  host: { type: 'string', kind: 'host', value: 'HOST', description: 'listen and advertise host', default: '127.0.0.1' },
  port: { type: 'string', kind: 'port', value: 'PORT', description: 'client gRPC port (clients and stores); 0 = any free port', default: '2379' },
  'raft-port': { type: 'string', kind: 'port', value: 'PORT', description: 'PD-to-PD raft port; 0 = any free port', default: '2380' },
  peers: { type: 'string', kind: 'peers', value: 'ID=H:RAFT/H:PORT,...', description: 'the other PD nodes of a 3-node PD (omit for one node)' },
  'initial-stores': { type: 'string', kind: 'int', value: 'N', description: 'bootstrap range 1 once this many stores joined' },
  'http-port': { type: 'string', kind: 'httpPort', value: 'PORT', description: 'HTTP /metrics and /health port (0 = any free port)' },
};

const storeFlags: Record<string, ServerFlag> = {
  'data-dir': { type: 'string', kind: 'path', value: 'DIR', description: "the store's data directory (RocksDB); a new one gets a store id from PD", required: true },
  pd: { type: 'string', kind: 'addresses', value: 'H:P[,H:P]', description: 'PD addresses', required: true },
  'store-id': { type: 'string', kind: 'int', value: 'N', description: 'store id (default: allocated by PD for a new data dir, read from it afterwards)' },
  host: { type: 'string', kind: 'host', value: 'HOST', description: 'listen and advertise host', default: '127.0.0.1' },
  port: { type: 'string', kind: 'port', value: 'PORT', description: 'KV and admin gRPC port; 0 = any free port', default: '20160' },
  'raft-port': { type: 'string', kind: 'port', value: 'PORT', description: 'store-to-store raft port; 0 = any free port', default: '20161' },
  'http-port': { type: 'string', kind: 'httpPort', value: 'PORT', description: 'HTTP /metrics, /health, /debug/ranges port (0 = any free port)' },
};

const logLevel: ServerFlag = { type: 'string', kind: 'logLevel', value: 'LEVEL', description: 'debug, info, warn or error (server default: info)' };
pdFlags['log-level'] = logLevel;
storeFlags['log-level'] = logLevel;

const passThroughDetails = 'Flags after `--` go to the server unchecked (e.g. -- --tick-ms 20); see its own --help.';

export const pdCommand: CommandSpec = {
  name: 'pd', args: '--data-dir DIR [flags] [-- server flags]', minPositionals: 0, maxPositionals: 0, passThrough: true,
  summary: 'Run one placement driver node in the foreground (Ctrl-C stops it).',
  details: `Prints {"event":"ready","pdId":…,"port":…,"raftPort":…,"httpPort":…} on stdout when serving; logs go to stderr.\n${passThroughDetails}`,
  flags: { ...pdFlags, config: configFlag },
  examples: [
    'rangekv pd --data-dir /tmp/pd1',
    'rangekv pd --id 1 --data-dir d1 --port 2379 --raft-port 2380 --peers 2=127.0.0.1:2382/127.0.0.1:2381,3=127.0.0.1:2384/127.0.0.1:2383',
    'rangekv pd --config pd.json',
  ],
};

export const storeCommand: CommandSpec = {
  name: 'store', args: '--data-dir DIR --pd H:P [flags] [-- server flags]', minPositionals: 0, maxPositionals: 0, passThrough: true,
  summary: 'Run one store in the foreground (Ctrl-C stops it gracefully).',
  details: `Prints {"event":"ready","storeId":…,"kvPort":…,"raftPort":…,"httpPort":…} on stdout when serving; logs go to stderr.\n${passThroughDetails}`,
  flags: { ...storeFlags, config: configFlag },
  examples: ['rangekv store --data-dir /tmp/s1 --pd 127.0.0.1:2379 --port 20160 --raft-port 20161', 'rangekv store --config store.json'],
};

function camelToKebab(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Reads --config: a JSON object whose keys are flag names (kebab-case or camelCase), values strings or numbers. */
export function readConfig(file: string, flags: Record<string, ServerFlag>, spec: CommandSpec): Record<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UsageError(`config file ${file}: ${err.code === 'ENOENT' ? 'not found' : err.message}`, spec);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`config file ${file}: must be a JSON object`, spec);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    const name = camelToKebab(k);
    if (!(name in flags)) throw new UsageError(`config file ${file}: unknown key '${k}' (known: ${Object.keys(flags).join(', ')})`, spec);
    if (typeof v !== 'string' && typeof v !== 'number') throw new UsageError(`config file ${file}: '${k}' must be a string or a number`, spec);
    out[name] = String(v);
  }
  return out;
}

function checkValue(name: string, kind: Kind, v: string, spec: CommandSpec): void {
  const what = `--${name}`;
  switch (kind) {
    case 'int': intValue(v, what, spec, 1); break;
    case 'port': intValue(v, what, spec, 0, 65535); break;
    case 'httpPort': if (v !== 'off') intValue(v, what, spec, 0, 65535); break;
    case 'path': if (v === '') throw new UsageError(`${what} must not be empty`, spec); break;
    case 'host': if (!/^[A-Za-z0-9._:-]+$/.test(v)) throw new UsageError(`${what}: '${v}' is not a host name or IP`, spec); break;
    case 'addresses': for (const a of v.split(',')) checkAddress(a.trim(), what, spec); break;
    case 'peers':
      for (const peer of v.split(',')) {
        const m = /^(\d+)=([^/]+)\/(.+)$/.exec(peer.trim());
        if (!m) throw new UsageError(`${what}: '${peer}' is not ID=HOST:RAFTPORT/HOST:PORT`, spec);
        intValue(m[1]!, `${what} id`, spec, 1);
        checkAddress(m[2]!, `${what} raft address`, spec);
        checkAddress(m[3]!, `${what} client address`, spec);
      }
      break;
    case 'logLevel': if (!['debug', 'info', 'warn', 'error'].includes(v)) throw new UsageError(`${what} must be debug, info, warn or error, got '${v}'`, spec); break;
  }
}

/** The child's argv: flags from the command line over the config file over defaults, each checked. */
export function serverArgs(p: Parsed, spec: CommandSpec, flags: Record<string, ServerFlag>): string[] {
  const file = str(p, 'config', spec);
  const fromFile = file === undefined ? {} : readConfig(file, flags, spec);
  const args: string[] = [];
  for (const [name, f] of Object.entries(flags)) {
    const v = p.given.has(name) ? str(p, name, spec) : fromFile[name] ?? f.default;
    if (v === undefined) {
      if (f.required) throw new UsageError(`--${name} is required${file ? ` (not in the flags nor in ${file})` : ''}`, spec);
      continue;
    }
    checkValue(name, f.kind, v, spec);
    args.push(`--${name}`, v);
  }
  return [...args, ...p.passThrough];
}

function mainPath(rel: string): string {
  return fileURLToPath(new URL(`../../../${rel}`, import.meta.url));
}

/** Runs `node main args` with inherited stdio, passing SIGINT/SIGTERM on; resolves with its exit code. */
export function runChild(main: string, args: string[]): Promise<number> {
  if (!existsSync(main)) {
    process.stderr.write(`error: ${main} not found: build the workspace first (npm run build)\n`);
    return Promise.resolve(EXIT.failed);
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, ...args], { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('error', (e) => {
      process.stderr.write(`error: could not start ${main}: ${e.message}\n`);
      resolve(EXIT.failed);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1));
    });
  });
}

export const PD_MAIN = mainPath('packages/pd/dist/pd-main.js');
export const STORE_MAIN = mainPath('packages/store/dist/store-main.js');

/** The server entry points; RANGEKV_PD_MAIN / RANGEKV_STORE_MAIN replace them (tests run fakes). */
export function serverMains(): { pd: string; store: string } {
  return { pd: process.env.RANGEKV_PD_MAIN || PD_MAIN, store: process.env.RANGEKV_STORE_MAIN || STORE_MAIN };
}

export function runServer(spec: CommandSpec, p: Parsed): Promise<number> {
  if (spec === pdCommand) return runChild(serverMains().pd, serverArgs(p, spec, pdFlags));
  return runChild(serverMains().store, serverArgs(p, spec, storeFlags));
}
