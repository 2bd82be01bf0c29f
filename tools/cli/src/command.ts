// A command's description (usage, flags, positionals), its --help text, and flag parsing
// on node's util.parseArgs. Bad flags become a UsageError (exit 2) carrying the usage.
import { parseArgs } from 'node:util';

export const EXIT = {
  ok: 0,
  /** The operation ran and failed (key not found, operator failed, server refused). */
  failed: 1,
  /** Bad flags or arguments. */
  usage: 2,
  /** An endpoint (PD or store) could not be reached. */
  unreachable: 3,
} as const;

export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in --help; flags without a default are optional unless the command checks them. */
  description: string;
  /** Placeholder in --help (`--pd ADDR`). */
  value?: string;
  default?: string;
}

export interface CommandSpec {
  /** Words after `rangekv` ("kv get"). */
  name: string;
  summary: string;
  /** Argument part of the usage line ("KEY [flags]"). */
  args: string;
  /** Longer text after the usage line. */
  details?: string;
  flags: Record<string, FlagSpec>;
  /** Allowed number of positionals. */
  minPositionals: number;
  maxPositionals: number;
  examples?: string[];
}

export class UsageError extends Error {
  constructor(message: string, readonly spec: CommandSpec | undefined) {
    super(message);
  }
}

export const HELP_FLAG: FlagSpec = { type: 'boolean', short: 'h', description: 'show this help' };

export function helpText(spec: CommandSpec): string {
  const lines = [`Usage: rangekv ${spec.name} ${spec.args}`.trimEnd(), '', spec.summary];
  if (spec.details) lines.push('', spec.details);
  const rows = Object.entries(spec.flags).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`;
    return [left, `${f.description}${f.default !== undefined ? ` (default ${f.default})` : ''}`] as const;
  });
  if (rows.length > 0) {
    const w = Math.max(...rows.map(([l]) => l.length));
    lines.push('', 'Flags:');
    for (const [l, r] of rows) lines.push(`  ${l.padEnd(w)}  ${r}`);
  }
  if (spec.examples?.length) lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n') + '\n';
}

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  help: boolean;
  /** Flags typed on the command line (the others hold their defaults). */
  given: Set<string>;
}

/** Parses argv for `spec`; throws UsageError for unknown flags, missing values and positional counts. */
export function parse(spec: CommandSpec, argv: string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, f] of Object.entries(spec.flags)) options[name] = f.short ? { type: f.type, short: f.short } : { type: f.type };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''), spec);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const help = values.help === true;
  if (!help) {
    const n = parsed.positionals.length;
    if (n < spec.minPositionals) throw new UsageError(`missing argument${spec.minPositionals - n > 1 ? 's' : ''}: expected ${spec.args}`, spec);
    if (n > spec.maxPositionals) throw new UsageError(`unexpected argument '${parsed.positionals[spec.maxPositionals]}'`, spec);
  }
  const given = new Set(Object.keys(values).filter((k) => values[k] !== undefined));
  for (const [name, f] of Object.entries(spec.flags)) if (values[name] === undefined && f.default !== undefined && f.type === 'string') values[name] = f.default;
  return { values, positionals: parsed.positionals, help, given };
}

// ---- typed flag values -------------------------------------------------------------------

export function str(p: Parsed, name: string, spec: CommandSpec): string | undefined {
  const v = p.values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new UsageError(`--${name} needs a value`, spec);
  return v;
}

export function required(p: Parsed, name: string, spec: CommandSpec): string {
  const v = str(p, name, spec);
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`, spec);
  return v;
}

export function intFlag(p: Parsed, name: string, spec: CommandSpec, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = str(p, name, spec);
  if (v === undefined) return undefined;
  return intValue(v, `--${name}`, spec, min, max);
}

export function intValue(v: string, what: string, spec: CommandSpec | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${what} must be an integer, got '${v}'`, spec);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`${what} must be between ${min} and ${max}, got ${n}`, spec);
  return n;
}

/** "250ms", "5s", "2m", or a bare number of milliseconds. */
export function durationFlag(p: Parsed, name: string, spec: CommandSpec): number | undefined {
  const v = str(p, name, spec);
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (!m) throw new UsageError(`--${name} must be a duration like 500ms, 5s or 1m, got '${v}'`, spec);
  const n = Number(m[1]) * (m[2] === 's' ? 1_000 : m[2] === 'm' ? 60_000 : 1);
  if (!(n >= 1)) throw new UsageError(`--${name} must be at least 1ms`, spec);
  return Math.round(n);
}

/** A "host:port" address. */
export function checkAddress(v: string, what: string, spec: CommandSpec | undefined): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d+)$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new UsageError(`${what}: '${v}' is not a host:port address (port 1..65535)`, spec);
  return v;
}
