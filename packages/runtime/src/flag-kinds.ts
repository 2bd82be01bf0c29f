// The kinds of flag a server declares: each a plain object saying how one raw text value
// (from the command line, the environment or a config file) becomes a typed value, what
// the flag defaults to, and its line in the usage.
//
//   const SPECS = {
//     tickMs: int({ help: 'raft tick', value: 'MS', min: 1, max: 60_000, default: 50 }),     // number
//     storeId: int({ help: "this store's id", min: 1 }),                                    // number | undefined
//     dataDir: str({ help: 'data directory', value: 'DIR', required: true, nonEmpty: true }), // string
//     httpPort: port({ help: '/metrics; off = none', off: true, default: 0 }),               // number | null
//     logLevel: oneOf({ help: 'log level', choices: ['debug', 'info'], default: 'info' }),   // 'debug' | 'info'
//     pd: list({ help: 'PD endpoints', value: 'H:P,..', item: parseAddress, unique: true }), // string[]
//     adminStdin: bool({ help: 'read admin commands on stdin' }),                           // boolean
//   };
//
// The key is the flag's name in camelCase: `tickMs` is --tick-ms, RANGEKV_TICK_MS, and
// "tick-ms" or "tickMs" in a config file (flags.ts). Every parse error is a FlagError that
// names the flag and the bad value.
import { parseAddress } from './address.js';
import { FlagError } from './flag-error.js';

export type FlagKind = 'int' | 'port' | 'string' | 'bool' | 'enum' | 'address' | 'list' | 'custom';

export interface Flag<T> {
  readonly kind: FlagKind;
  /** Placeholder of the value in the usage (`--tick-ms MS`); '' for bool flags. */
  readonly value: string;
  /** The usage text; '\n' starts a continuation line. */
  readonly help: string;
  /** The value when no source sets the flag. */
  readonly default: T;
  /** The default as the usage shows it ("(default 50)"); null: not shown. */
  readonly defaultText: string | null;
  /** Some source must set it (else FlagError "--x is required"). */
  readonly required: boolean;
  /** One raw value to the typed one, or FlagError naming `flag` ("--tick-ms") and the value. */
  readonly parse: (flag: string, raw: string) => T;
}

export interface FlagOptions {
  help: string;
  value?: string;
  required?: boolean;
  /** Overrides the derived "(default ...)" text; null hides it. */
  defaultText?: string | null;
}

/** T when the options give a default or make the flag required, else T | undefined. */
type Given<T, O> = O extends { default: unknown } ? T : O extends { required: true } ? T : T | undefined;

function shown(o: FlagOptions, derived: string | null): string | null {
  return o.defaultText !== undefined ? o.defaultText : derived;
}

/** A decimal integer in [min, max], as every numeric flag reads. */
export function intValue(flag: string, raw: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(raw)) throw new FlagError(`${flag} needs an integer, got "${raw}"`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new FlagError(`${flag} must be in [${min}, ${max}], got ${raw}`);
  return n;
}

export interface IntOptions extends FlagOptions {
  /** Default 0. */
  min?: number;
  /** Default Number.MAX_SAFE_INTEGER. */
  max?: number;
  default?: number;
}

export function int<const O extends IntOptions>(o: O): Flag<Given<number, O>> {
  const min = o.min ?? 0;
  const max = o.max ?? Number.MAX_SAFE_INTEGER;
  if (min > max) throw new RangeError(`int flag: min ${min} above max ${max}`);
  if (o.default !== undefined && (o.default < min || o.default > max)) throw new RangeError(`int flag: default ${o.default} outside [${min}, ${max}]`);
  return {
    kind: 'int', value: o.value ?? 'N', help: o.help, required: o.required ?? false,
    default: o.default as Given<number, O>, defaultText: shown(o, o.default === undefined ? null : String(o.default)),
    parse: (flag, raw) => intValue(flag, raw, min, max) as Given<number, O>,
  };
}

export interface PortOptions extends FlagOptions {
  /** "off" is a value too: null (a listener that is not started). */
  off?: boolean;
  default?: number | null;
}

/** A TCP port, 0..65535 (0 = ephemeral), and "off" when `off` is set. */
export function port<const O extends PortOptions>(o: O): Flag<Given<O extends { off: true } ? number | null : number, O>> {
  type T = Given<O extends { off: true } ? number | null : number, O>;
  if (o.default === null && o.off !== true) throw new RangeError('port flag: default null needs off: true');
  const derived = o.default === undefined ? null : o.default === null ? 'off' : String(o.default);
  return {
    kind: 'port', value: o.value ?? (o.off ? 'P|off' : 'P'), help: o.help, required: o.required ?? false,
    default: o.default as T, defaultText: shown(o, derived),
    parse: (flag, raw) => (o.off === true && raw === 'off' ? null : intValue(flag, raw, 0, 65535)) as T,
  };
}

export interface StrOptions extends FlagOptions {
  default?: string;
  /** Refuse '' and blanks ("--data-dir is empty"). */
  nonEmpty?: boolean;
}

export function str<const O extends StrOptions>(o: O): Flag<Given<string, O>> {
  return {
    kind: 'string', value: o.value ?? 'S', help: o.help, required: o.required ?? false,
    default: o.default as Given<string, O>, defaultText: shown(o, o.default ? o.default : null),
    parse: (flag, raw) => {
      if (o.nonEmpty && raw.trim() === '') throw new FlagError(`${flag} is empty`);
      return raw as Given<string, O>;
    },
  };
}

/** Present or not. On the command line `--flag` (or `--flag=true|false`); elsewhere true/false/1/0. */
export function bool(o: Omit<FlagOptions, 'value' | 'required'>): Flag<boolean> {
  return {
    kind: 'bool', value: '', help: o.help, required: false, default: false, defaultText: shown(o, null),
    parse: (flag, raw) => {
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new FlagError(`${flag} must be true or false, got "${raw}"`);
    },
  };
}

export interface OneOfOptions<C extends string> extends FlagOptions {
  choices: readonly C[];
  default: C;
}

export function oneOf<const C extends string>(o: OneOfOptions<C>): Flag<C> {
  if (!o.choices.includes(o.default)) throw new RangeError(`oneOf flag: default ${o.default} is not a choice`);
  return {
    kind: 'enum', value: o.value ?? o.choices.join('|'), help: o.help, required: o.required ?? false,
    default: o.default, defaultText: shown(o, o.default),
    parse: (flag, raw) => {
      const c = o.choices.find((x) => x === raw);
      if (c === undefined) throw new FlagError(`${flag} must be one of ${o.choices.join(', ')}, got "${raw}"`);
      return c;
    },
  };
}

export interface AddressOptions extends FlagOptions {
  default?: string;
}

/** "host:port" (IPv6 hosts in brackets), port 1..65535. */
export function address<const O extends AddressOptions>(o: O): Flag<Given<string, O>> {
  return {
    kind: 'address', value: o.value ?? 'HOST:PORT', help: o.help, required: o.required ?? false,
    default: o.default as Given<string, O>, defaultText: shown(o, o.default ?? null),
    parse: (flag, raw) => parseAddress(flag, raw) as Given<string, O>,
  };
}

export interface ListOptions<T> extends FlagOptions {
  /** One item (trimmed); throws FlagError. E.g. parseAddress, or (f, v) => intValue(f, v, 1). */
  item: (flag: string, raw: string) => T;
  /** Refuse an item listed twice (items compared as parsed, by ===). */
  unique?: boolean;
}

/** Comma-separated items; absent = []. Every item is checked, an empty one too. */
export function list<T>(o: ListOptions<T>): Flag<T[]> {
  return {
    kind: 'list', value: o.value ?? 'A,B,..', help: o.help, required: o.required ?? false, default: [], defaultText: shown(o, null),
    parse: (flag, raw) => {
      const out: T[] = [];
      for (const part of raw.split(',').map((x) => x.trim())) {
        const v = o.item(flag, part);
        if (o.unique && out.includes(v)) throw new FlagError(`${flag} lists ${part} twice`);
        out.push(v);
      }
      return out;
    },
  };
}

export interface CustomOptions<T> extends FlagOptions {
  parse: (flag: string, raw: string) => T;
  /** Shared by every parse that does not set the flag: treat it as read-only. */
  default: T;
}

/** Any other syntax (peer lists, ...): the declaration brings its own parser. */
export function custom<T>(o: CustomOptions<T>): Flag<T> {
  return {
    kind: 'custom', value: o.value ?? 'VALUE', help: o.help, required: o.required ?? false, default: o.default, defaultText: shown(o, null),
    parse: o.parse,
  };
}
