// rangekv pd / rangekv store: run one server process from flags, RANGEKV_* variables or a
// JSON config file.
//
// The flags are the servers' own declarations (PD_FLAGS of @rangekv/pd/pd-flags,
// STORE_FLAGS of @rangekv/store/store-flags) with this command's defaults (fixed ports; PD
// id 1), read and checked here by the same parser and the same checks between flags as
// the mains (a bad flag: exit 2 with the message). The server's entry point, resolved
// through its package's exports (@rangekv/pd/pd-main, @rangekv/store/store-main), then
// runs as a child with the resolved values on its command line and stdio inherited: its
// ready line and logs appear as they are. SIGINT/SIGTERM are passed on; the exit code is
// the child's.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PD_FLAGS, pdFlagsFrom } from '@rangekv/pd/pd-flags';
import {
  CONFIG_FLAG_HELP, FlagError, flagRows, flagsToArgv, parseFlags, SOURCES_HELP, storeNodeFlags, storeProcessEnv, withDefaults, type FlagSpecs,
} from '@rangekv/runtime';
import { STORE_FLAGS, storeFlagsFrom } from '@rangekv/store/store-flags';
import { EXIT, helpText, UsageError, type CommandSpec, type FlagSpec } from './command.js';

/** This command's defaults over the servers' own (the mains default to ephemeral ports). */
const pdFlags = withDefaults(PD_FLAGS, { id: 1, port: 2379, raftPort: 2380 });
const storeFlags = withDefaults(STORE_FLAGS, { port: 20160, raftPort: 20161 });

/** The declarations as --help rows (command.ts's helpText), --config last. */
function helpFlags(specs: FlagSpecs, requiredHere: readonly string[] = []): Record<string, FlagSpec> {
  const out: Record<string, FlagSpec> = {};
  for (const r of flagRows(specs)) {
    const required = r.required || requiredHere.includes(r.key);
    out[r.flag.slice(2)] = {
      type: r.value === '' ? 'boolean' : 'string', value: r.value, description: `${r.help.replace(/\n/g, ' ')}${required ? ' (required)' : ''}`,
      ...(r.defaultText === null ? {} : { default: r.defaultText }),
    };
  }
  out.config = { type: 'string', value: 'FILE', description: CONFIG_FLAG_HELP.replace(/\n/g, ' ') };
  return out;
}

const sources = SOURCES_HELP.replace(/\n/g, ' ');

export const pdCommand: CommandSpec = {
  name: 'pd', args: '--data-dir DIR [flags]', minPositionals: 0, maxPositionals: 0,
  summary: 'Run one placement driver node in the foreground (Ctrl-C stops it).',
  details: `Prints {"event":"ready","pdId":…,"port":…,"raftPort":…,"httpPort":…} on stdout when serving; logs go to stderr.\nThe flags are pd-main's (node packages/pd/dist/pd-main.js --help), with the defaults below.\n${sources}`,
  flags: helpFlags(pdFlags),
  examples: [
    'rangekv pd --data-dir /tmp/pd1',
    'rangekv pd --id 1 --data-dir d1 --port 2379 --raft-port 2380 --peers 2=127.0.0.1:2382/127.0.0.1:2381,3=127.0.0.1:2384/127.0.0.1:2383',
    'rangekv pd --config pd.json',
    'RANGEKV_DATA_DIR=/var/lib/rangekv/pd rangekv pd --tick-ms 20',
  ],
};

export const storeCommand: CommandSpec = {
  name: 'store', args: '--data-dir DIR --pd H:P [flags]', minPositionals: 0, maxPositionals: 0,
  summary: 'Run one store in the foreground (Ctrl-C stops it gracefully).',
  details: `Prints {"event":"ready","storeId":…,"kvPort":…,"raftPort":…,"httpPort":…} on stdout when serving; logs go to stderr.\nThe flags are store-main's (node packages/store/dist/store-main.js --help), with the defaults below; --pd is required here.\n${sources}`,
  flags: helpFlags(storeFlags, ['pd']),
  examples: ['rangekv store --data-dir /tmp/s1 --pd 127.0.0.1:2379 --port 20160 --raft-port 20161', 'rangekv store --config store.json'],
};

/**
 * The child's argv from ours (a lone `--` is skipped: flags after it were once passed on
 * unchecked; now every server flag is known here), or null for --help. FlagError for bad flags.
 */
export function serverArgs(spec: CommandSpec, argv: readonly string[], env: Readonly<Record<string, string | undefined>>): string[] | null {
  const args = argv.filter((a) => a !== '--');
  if (spec === pdCommand) {
    const r = parseFlags(pdFlags, args, { env });
    if (r.help) return null;
    pdFlagsFrom(r);
    return flagsToArgv(pdFlags, r, ['id', 'port', 'raftPort']);
  }
  const r = parseFlags(storeFlags, args, { env });
  if (r.help) return null;
  if (r.values.pd.length === 0) throw new FlagError('--pd is required (for a static cluster without PD, run store-main itself)');
  storeFlagsFrom(r);
  return flagsToArgv(storeFlags, r, ['port', 'raftPort']);
}

/** How a server child is launched: node flags before its script, and its environment. */
export interface ChildLaunch {
  nodeFlags?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

/** A store's launch settings (runtime storeNodeFlags / storeProcessEnv); PD runs with none. */
export function storeLaunch(): ChildLaunch {
  return { nodeFlags: storeNodeFlags(), env: storeProcessEnv() };
}

/** Runs `node [flags] main args` with inherited stdio, passing SIGINT/SIGTERM (stop) and SIGHUP
 *  (reload TLS certificates) on; resolves with its exit code. */
export function runChild(main: string, args: string[], launch: ChildLaunch = {}): Promise<number> {
  if (!existsSync(main)) {
    process.stderr.write(`error: ${main} not found: build the workspace first (npm run build)\n`);
    return Promise.resolve(EXIT.failed);
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...(launch.nodeFlags ?? []), main, ...args], { stdio: 'inherit', env: launch.env ?? process.env });
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    process.on('SIGHUP', forward);
    child.on('error', (e) => {
      process.stderr.write(`error: could not start ${main}: ${e.message}\n`);
      resolve(EXIT.failed);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      process.off('SIGHUP', forward);
      resolve(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1));
    });
  });
}

/** A server entry point through its package's exports; the specifier itself when it does not resolve (runChild says so). */
function resolveMain(specifier: string): string {
  try {
    return fileURLToPath(import.meta.resolve(specifier));
  } catch {
    return specifier;
  }
}

export const PD_MAIN = resolveMain('@rangekv/pd/pd-main');
export const STORE_MAIN = resolveMain('@rangekv/store/store-main');

/** The server entry points; RANGEKV_PD_MAIN / RANGEKV_STORE_MAIN replace them (tests run fakes). */
export function serverMains(): { pd: string; store: string } {
  return { pd: process.env.RANGEKV_PD_MAIN || PD_MAIN, store: process.env.RANGEKV_STORE_MAIN || STORE_MAIN };
}

/** rangekv pd|store ARGS: --help, or the server main as a child with the resolved flags. */
export function runServer(spec: CommandSpec, argv: readonly string[]): Promise<number> {
  let args: string[] | null;
  try {
    args = serverArgs(spec, argv, process.env);
  } catch (e) {
    if (e instanceof FlagError) throw new UsageError(e.message, spec);
    throw e;
  }
  if (args === null) {
    process.stdout.write(helpText(spec));
    return Promise.resolve(EXIT.ok);
  }
  const mains = serverMains();
  return spec === pdCommand ? runChild(mains.pd, args) : runChild(mains.store, args, storeLaunch());
}
