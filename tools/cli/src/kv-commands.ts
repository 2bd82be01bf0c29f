// rangekv kv get|put|del|scan
import type { RangeKvClient, ReadConsistency } from '@rangekv/client';
import { clientFlags, connect } from './client-flags.js';
import { EXIT, intFlag, str, UsageError, type CommandSpec, type FlagSpec, type Parsed } from './command.js';
import { print, printJson, showBytes, showBytesJson, table } from './output.js';

const hexFlag: FlagSpec = { type: 'boolean', description: 'keys and values on the command line and in the output are hex' };
const consistencyFlag: FlagSpec = {
  type: 'string', value: 'MODE', description: 'read consistency: linearizable, lease, follower or stale', default: 'linearizable',
};
const CONSISTENCIES: ReadConsistency[] = ['linearizable', 'lease', 'follower', 'stale'];

export const kvGet: CommandSpec = {
  name: 'kv get', args: 'KEY [flags]', minPositionals: 1, maxPositionals: 1,
  summary: 'Print the value of KEY. Exit 1 with "key not found" on stderr when it does not exist.',
  flags: { ...clientFlags('10s'), consistency: consistencyFlag, hex: hexFlag },
  examples: ['rangekv kv get hello', 'rangekv kv get hello --consistency lease --json'],
};

export const kvPut: CommandSpec = {
  name: 'kv put', args: 'KEY VALUE [flags]', minPositionals: 2, maxPositionals: 2,
  summary: 'Set KEY to VALUE. Prints OK.',
  details: 'A put whose answer was lost is retried (puts are idempotent); see packages/client/README.md.',
  flags: { ...clientFlags('10s'), hex: hexFlag },
  examples: ['rangekv kv put hello world'],
};

export const kvDel: CommandSpec = {
  name: 'kv del', args: 'KEY [END] [flags]', minPositionals: 1, maxPositionals: 2,
  summary: 'Delete KEY, or every key in [KEY, END) when END is given, or every key starting with KEY with --prefix. Prints OK.',
  details: 'A span over several ranges is deleted range by range (not atomic across ranges).',
  flags: { ...clientFlags('30s'), prefix: { type: 'boolean', description: 'delete every key starting with KEY' }, hex: hexFlag },
  examples: ['rangekv kv del hello', 'rangekv kv del user/ --prefix', 'rangekv kv del a m'],
};

export const kvScan: CommandSpec = {
  name: 'kv scan', args: '[START [END]] [flags]', minPositionals: 0, maxPositionals: 2,
  summary: 'List the pairs with keys in [START, END) (START empty: from the first key; END absent: to the last), ascending, across ranges.',
  flags: {
    ...clientFlags('30s'),
    prefix: { type: 'string', value: 'P', description: 'only keys starting with P (instead of START/END)' },
    limit: { type: 'string', value: 'N', description: 'at most N pairs; 0 for all', default: '1000' },
    reverse: { type: 'boolean', description: 'descending, from the end of the span' },
    'keys-only': { type: 'boolean', description: 'print keys only' },
    consistency: consistencyFlag,
    hex: hexFlag,
  },
  examples: ['rangekv kv scan', 'rangekv kv scan a m --limit 10', 'rangekv kv scan --prefix user/ --reverse --json'],
};

function arg(p: Parsed, s: string): Buffer {
  if (p.values.hex !== true) return Buffer.from(s, 'utf8');
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new UsageError(`'${s}' is not hex`, undefined);
  return Buffer.from(s, 'hex');
}

function consistency(p: Parsed, spec: CommandSpec): ReadConsistency {
  const c = str(p, 'consistency', spec) ?? 'linearizable';
  if (!(CONSISTENCIES as string[]).includes(c)) throw new UsageError(`--consistency must be one of ${CONSISTENCIES.join(', ')}, got '${c}'`, spec);
  return c as ReadConsistency;
}

/** The first key after every key starting with `prefix` (empty: no end). */
export function prefixEnd(prefix: Buffer): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      b[i]!++;
      return b.subarray(0, i + 1);
    }
  }
  return Buffer.alloc(0);
}

async function withClient(p: Parsed, spec: CommandSpec, f: (c: RangeKvClient) => Promise<number>): Promise<number> {
  const { client } = await connect(p, spec);
  try {
    return await f(client);
  } finally {
    client.close();
  }
}

export async function runKv(spec: CommandSpec, p: Parsed): Promise<number> {
  const hex = p.values.hex === true;
  const json = p.values.json === true;
  const show = (b: Buffer): string => (json ? showBytesJson(b, hex) : hex ? b.toString('hex') : b.toString('utf8'));
  switch (spec) {
    case kvGet: {
      const key = arg(p, p.positionals[0]!);
      const mode = consistency(p, spec);
      return withClient(p, spec, async (c) => {
        const v = await c.get(key, { consistency: mode });
        if (json) printJson(v === undefined ? { key: show(key), found: false } : { key: show(key), found: true, value: show(v) });
        else if (v !== undefined) print(show(v));
        if (v === undefined) {
          if (!json) process.stderr.write(`key not found: ${showBytes(key, hex)}\n`);
          return EXIT.failed;
        }
        return EXIT.ok;
      });
    }
    case kvPut: {
      const key = arg(p, p.positionals[0]!);
      const value = arg(p, p.positionals[1]!);
      return withClient(p, spec, async (c) => {
        await c.put(key, value);
        if (json) printJson({ ok: true });
        else print('OK');
        return EXIT.ok;
      });
    }
    case kvDel: {
      const key = arg(p, p.positionals[0]!);
      const end = p.values.prefix === true ? prefixEnd(key) : p.positionals[1] !== undefined ? arg(p, p.positionals[1]) : undefined;
      if (p.values.prefix === true && p.positionals[1] !== undefined) throw new UsageError('give END or --prefix, not both', spec);
      if (end !== undefined && end.length > 0 && Buffer.compare(key, end) >= 0) throw new UsageError('END must be above KEY', spec);
      return withClient(p, spec, async (c) => {
        if (end === undefined) await c.delete(key);
        else await c.deleteRange(key, end);
        if (json) printJson({ ok: true });
        else print('OK');
        return EXIT.ok;
      });
    }
    case kvScan: {
      const prefix = str(p, 'prefix', spec);
      if (prefix !== undefined && p.positionals.length > 0) throw new UsageError('give START/END or --prefix, not both', spec);
      const start = prefix !== undefined ? arg(p, prefix) : arg(p, p.positionals[0] ?? '');
      const end = prefix !== undefined ? prefixEnd(start) : arg(p, p.positionals[1] ?? '');
      const limit = intFlag(p, 'limit', spec, 0)!;
      const mode = consistency(p, spec);
      return withClient(p, spec, async (c) => {
        const pairs = await c.scan(start, end, { limit, reverse: p.values.reverse === true, consistency: mode });
        const keysOnly = p.values['keys-only'] === true;
        if (json) {
          printJson(pairs.map((kv) => (keysOnly ? { key: show(kv.key) } : { key: show(kv.key), value: show(kv.value) })));
        } else if (keysOnly) {
          for (const kv of pairs) print(showBytes(kv.key, hex));
        } else if (pairs.length > 0) {
          process.stdout.write(table(['KEY', 'VALUE'], pairs.map((kv) => [showBytes(kv.key, hex), showBytes(kv.value, hex)])));
        } else {
          process.stderr.write('(no keys)\n');
        }
        return EXIT.ok;
      });
    }
    default:
      throw new Error(`not a kv command: ${spec.name}`);
  }
}

export const KV_COMMANDS: Record<string, CommandSpec> = { get: kvGet, put: kvPut, del: kvDel, scan: kvScan };
