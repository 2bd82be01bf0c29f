// A server's flags from three sources over the declared defaults, in increasing priority:
// a JSON config file (--config FILE or RANGEKV_CONFIG), the environment (RANGEKV_<FLAG>),
// the command line. Every value, whatever its source, goes through the same parser of its
// declaration (flag-kinds.ts), so a bad value is refused the same way everywhere.
//
//   const r = parseFlags(SPECS, process.argv.slice(2), { env: process.env });
//   if (r.help) { print(flagUsage(SPECS, ...)); exit(0); }
//   r.values.tickMs;            // typed: number
//   r.given.tickMs;             // { source: 'env', raw: '20' } | undefined (the default)
//
// Names: the key `tickMs` is the flag --tick-ms, the variable RANGEKV_TICK_MS, the config
// key "tick-ms" (or "tickMs"). An empty variable counts as unset. On the command line:
// `--tick-ms 20` or `--tick-ms=20`; a bool is `--admin-stdin` (or `--admin-stdin=false`);
// -h is --help. Errors (FlagError): unknown flags, a flag given twice on the command
// line, a missing value, unknown config keys, a value its parser refuses (the message ends
// "(from RANGEKV_TICK_MS)" or "(from config file F)" when it did not come from argv), a
// required flag no source sets. --help on the command line reads no other source.
import { readFileSync } from 'node:fs';
import { FlagError } from './flag-error.js';
import type { Flag } from './flag-kinds.js';

/** Declarations by camelCase name (flag-kinds.ts). */
export type FlagSpecs = Readonly<Record<string, Flag<unknown>>>;

export type FlagValues<S extends FlagSpecs> = { -readonly [K in keyof S]: S[K] extends Flag<infer T> ? T : never };

export type FlagSource = 'config' | 'env' | 'argv';

export interface GivenFlag {
  source: FlagSource;
  /** The text as given (bools: 'true' / 'false'), for passing the flag on to another process. */
  raw: string;
}

export interface ParsedFlags<S extends FlagSpecs> {
  help: false;
  values: FlagValues<S>;
  /** The flags some source set (the others hold their defaults). */
  given: { [K in keyof S]?: GivenFlag };
  /** The config file read, if any. */
  configFile: string | null;
}

export type FlagsResult<S extends FlagSpecs> = { help: true } | ParsedFlags<S>;

export interface FlagSources {
  /** Where RANGEKV_<FLAG> variables are read; none when absent (a main passes process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Reads the config file; default fs.readFileSync(path, 'utf8'). */
  readFile?: (path: string) => string;
}

export const ENV_PREFIX = 'RANGEKV_';
const RESERVED = new Set(['help', 'config']);

/** `tickMs` -> `tick-ms`. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `tickMs` -> `RANGEKV_TICK_MS`. */
export function envName(key: string): string {
  return ENV_PREFIX + flagName(key).toUpperCase().replace(/-/g, '_');
}

function checkSpecs(specs: FlagSpecs): Map<string, string> {
  const byName = new Map<string, string>();
  for (const key of Object.keys(specs)) {
    if (!/^[a-z][a-zA-Z0-9]*$/.test(key)) throw new Error(`flag key ${key} is not camelCase`);
    if (RESERVED.has(key)) throw new Error(`flag key ${key} is built in`);
    byName.set(flagName(key), key);
  }
  return byName;
}

/** The command line: flag name -> raw text, plus --help / --config. */
function readArgv(argv: readonly string[], byName: ReadonlyMap<string, string>, specs: FlagSpecs): { help: boolean; config?: string; raw: Map<string, string> } {
  const raw = new Map<string, string>();
  let help = false;
  let config: string | undefined;
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') throw new FlagError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const key = byName.get(name);
    const flag = `--${name}`;
    if (key === undefined && !RESERVED.has(name)) throw new FlagError(`unknown flag "${arg}"`);
    if (seen.has(name)) throw new FlagError(`${flag} given twice`);
    seen.add(name);
    if (name === 'help' || (key !== undefined && specs[key]!.kind === 'bool')) {
      const v = inline ?? 'true';
      if (name === 'help') help = v !== 'false';
      else raw.set(key!, v);
      continue;
    }
    const v = inline ?? argv[i + 1];
    if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new FlagError(`${flag} needs a value`);
    if (inline === undefined) i++;
    if (name === 'config') config = v;
    else raw.set(key!, v);
  }
  return { help, ...(config === undefined ? {} : { config }), raw };
}

/** A JSON object keyed by flag names (kebab-case or camelCase) -> flag key -> raw text. */
function readConfig(file: string, byName: ReadonlyMap<string, string>, readFile: (path: string) => string): Map<string, string> {
  let text: string;
  try {
    text = readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FlagError(`config file ${file}: ${code === 'ENOENT' ? 'not found' : e instanceof Error ? e.message : String(e)}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new FlagError(`config file ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new FlagError(`config file ${file}: must be a JSON object`);
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(doc)) {
    const key = byName.get(flagName(k));
    if (key === undefined) throw new FlagError(`config file ${file}: unknown key "${k}"`);
    if (out.has(key)) throw new FlagError(`config file ${file}: "${k}" given twice`);
    const text = configText(v);
    if (text === null) throw new FlagError(`config file ${file}: "${k}" must be a string, a number, true/false, or an array of strings and numbers`);
    out.set(key, text);
  }
  return out;
}

/** Config values as raw text: numbers and booleans as written, arrays joined by commas. */
function configText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x)))) return v.join(',');
  return null;
}

export function parseFlags<S extends FlagSpecs>(specs: S, argv: readonly string[], sources: FlagSources = {}): FlagsResult<S> {
  const byName = checkSpecs(specs);
  const cmd = readArgv(argv, byName, specs);
  if (cmd.help) return { help: true };
  const env = sources.env ?? {};
  const envConfig = env[`${ENV_PREFIX}CONFIG`];
  const configFile = cmd.config ?? (envConfig ? envConfig : null);
  const fromFile = configFile === null ? new Map<string, string>() : readConfig(configFile, byName, sources.readFile ?? ((p) => readFileSync(p, 'utf8')));
  const values: Record<string, unknown> = {};
  const given: Record<string, GivenFlag> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const flag = `--${flagName(key)}`;
    const e = env[envName(key)];
    const r: GivenFlag | undefined = cmd.raw.has(key) ? { raw: cmd.raw.get(key)!, source: 'argv' }
      : e ? { raw: e, source: 'env' }
      : fromFile.has(key) ? { raw: fromFile.get(key)!, source: 'config' }
      : undefined;
    if (r === undefined) {
      if (spec.required) throw new FlagError(`${flag} is required`);
      values[key] = spec.default;
      continue;
    }
    try {
      values[key] = spec.parse(flag, r.raw);
    } catch (err) {
      if (!(err instanceof FlagError) || r.source === 'argv') throw err;
      throw new FlagError(`${err.message} (from ${r.source === 'env' ? envName(key) : `config file ${configFile}`})`);
    }
    given[key] = r;
  }
  return { help: false, values: values as FlagValues<S>, given: given as ParsedFlags<S>['given'], configFile };
}

/** The same declarations with other defaults (a launcher's own, e.g. fixed ports); a new default also lifts `required`. */
export function withDefaults<S extends FlagSpecs>(specs: S, defaults: { [K in keyof S]?: FlagValues<S>[K] }): S {
  const out: Record<string, Flag<unknown>> = { ...specs };
  for (const [key, v] of Object.entries(defaults)) {
    const spec = specs[key];
    if (spec === undefined) throw new Error(`withDefaults: no flag ${key}`);
    out[key] = { ...spec, default: v, required: false, defaultText: textOf(v) ?? null };
  }
  return out as S;
}

/**
 * The command line that gives another process the same values: every flag some source set
 * (as `--name raw`; bools `--name` or `--name=false`), plus the keys in `also` at their
 * value, in declaration order. The config file is not passed: its values are in the result.
 */
export function flagsToArgv<S extends FlagSpecs>(specs: S, parsed: ParsedFlags<S>, also: readonly (keyof S & string)[] = []): string[] {
  const out: string[] = [];
  for (const key of Object.keys(specs)) {
    const g = parsed.given[key];
    const raw = g?.raw ?? (also.includes(key) ? textOf(parsed.values[key]) : undefined);
    if (raw === undefined) continue;
    const flag = `--${flagName(key)}`;
    if (specs[key]!.kind === 'bool') out.push(raw === 'true' || raw === '1' ? flag : `${flag}=false`);
    else out.push(flag, raw);
  }
  return out;
}

function textOf(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (v === null) return 'off';
  if (Array.isArray(v)) return v.join(',');
  if (typeof v === 'object') throw new Error('flagsToArgv: only plain values can be passed as defaults');
  return String(v);
}
