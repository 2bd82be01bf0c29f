// The rangekv command line: dispatch to a command, --help everywhere, exit codes.
//
// Exit codes: 0 ok; 1 the operation failed (key not found, operator failed, server
// refused); 2 bad flags or arguments (with a short usage); 3 an endpoint could not be
// reached (the message names it). User errors never print a stack trace
// (RANGEKV_DEBUG=1 prints them for bugs).
import { describeError } from './client-flags.js';
import { EXIT, helpText, parse, UsageError, type CommandSpec } from './command.js';
import { CTL_COMMANDS, runCtl } from './ctl-commands.js';
import { devCommand, runDev } from './dev-command.js';
import { KV_COMMANDS, runKv } from './kv-commands.js';
import { pdCommand, runServer, storeCommand } from './server-commands.js';

const TOP_HELP = `Usage: rangekv COMMAND [flags]

rangekv: a Multi-Raft sharded key-value store.

Commands:
  dev                   run a local cluster (PD + 3 stores on 127.0.0.1) until Ctrl-C
  pd                    run one placement driver node
  store                 run one store
  kv get|put|del|scan   read and write keys
  ctl stores|store|ranges|split|transfer-leader|add-replica|remove-replica|move-replica|operators|scheduler|config|pd members
                        inspect the cluster and run PD operators

Run 'rangekv COMMAND --help' for a command's flags.
Exit codes: 0 ok, 1 operation failed, 2 bad flags, 3 endpoint unreachable.
`;

function groupHelp(group: string, commands: Record<string, CommandSpec>): string {
  const w = Math.max(...Object.keys(commands).map((k) => k.length));
  return [`Usage: rangekv ${group} SUBCOMMAND [flags]`, '', 'Subcommands:',
    ...Object.entries(commands).map(([k, s]) => `  ${k.padEnd(w)}  ${s.summary}`), '',
    `Run 'rangekv ${group} SUBCOMMAND --help' for its flags.`, ''].join('\n');
}

function usageError(message: string, spec: CommandSpec | undefined, usage?: string): number {
  const name = spec ? `rangekv ${spec.name}` : 'rangekv';
  process.stderr.write(`error: ${message}\n${spec ? `Usage: ${name} ${spec.args}\n` : usage ?? ''}Run '${name} --help' for more.\n`);
  return EXIT.usage;
}

/** Runs a command on flags parsed by command.ts; null: pd and store, which read their argv with the servers' own flag declarations (runServer). */
type Runner = ((spec: CommandSpec, p: ReturnType<typeof parse>) => Promise<number>) | null;

function resolve(argv: string[]): { spec: CommandSpec; run: Runner; rest: string[] } | number {
  const [cmd, sub] = argv;
  const top: Record<string, [CommandSpec, Runner]> = { dev: [devCommand, runDev], pd: [pdCommand, null], store: [storeCommand, null] };
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(TOP_HELP);
    return cmd === undefined ? EXIT.usage : EXIT.ok;
  }
  if (top[cmd]) return { spec: top[cmd][0], run: top[cmd][1], rest: argv.slice(1) };
  const groups: Record<string, [Record<string, CommandSpec>, Runner]> = { kv: [KV_COMMANDS, runKv], ctl: [CTL_COMMANDS, runCtl] };
  const g = groups[cmd];
  if (!g) return usageError(`unknown command '${cmd}'`, undefined, TOP_HELP.split('\n')[0] + '\n');
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(groupHelp(cmd, g[0]));
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  // A subcommand is one word (`ctl stores`) or two (`ctl pd members`): the longer one first.
  const third = argv[2];
  const two = third !== undefined ? g[0][`${sub} ${third}`] : undefined;
  if (two) return { spec: two, run: g[1], rest: argv.slice(3) };
  const spec = g[0][sub];
  if (spec) return { spec, run: g[1], rest: argv.slice(2) };
  const under = Object.fromEntries(Object.entries(g[0]).filter(([k]) => k.startsWith(`${sub} `)).map(([k, v]) => [k.slice(sub.length + 1), v]));
  if (Object.keys(under).length === 0) {
    return usageError(`unknown ${cmd} subcommand '${sub}' (one of: ${Object.keys(g[0]).join(', ')})`, undefined, `Usage: rangekv ${cmd} SUBCOMMAND [flags]\n`);
  }
  // `ctl pd` alone, or with a word that is not one of its subcommands.
  if (third === undefined || third === '--help' || third === '-h') {
    process.stdout.write(groupHelp(`${cmd} ${sub}`, under));
    return third === undefined ? EXIT.usage : EXIT.ok;
  }
  return usageError(`unknown ${cmd} ${sub} subcommand '${third}' (one of: ${Object.keys(under).join(', ')})`, undefined,
    `Usage: rangekv ${cmd} ${sub} SUBCOMMAND [flags]\n`);
}

export async function main(argv: string[]): Promise<number> {
  const r = resolve(argv);
  if (typeof r === 'number') return r;
  try {
    if (r.run === null) return await runServer(r.spec, r.rest);
    const p = parse(r.spec, r.rest);
    if (p.help) {
      process.stdout.write(helpText(r.spec));
      return EXIT.ok;
    }
    return await r.run(r.spec, p);
  } catch (e) {
    if (e instanceof UsageError) return usageError(e.message, e.spec ?? r.spec);
    const { message, code } = describeError(e);
    process.stderr.write(`error: ${message}\n`);
    if (process.env.RANGEKV_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return code;
  }
}
