// The usage text of a server, generated from its flag declarations:
//
//   usage: store-main --data-dir DIR (--store-id N | --pd H:P[,H:P]) [flags]
//     --data-dir DIR          data directory (created if missing)  (required)
//     --tick-ms MS            raft tick  (default 50)
//     ...
//     --config FILE           flags from a JSON object: {"data-dir": "/d", "tick-ms": 20}
//     --help                  this text
//   Every flag can also be set in the environment as RANGEKV_<FLAG> (--data-dir: RANGEKV_DATA_DIR).
//   The command line wins over the environment, the environment over the config file.
//   <footer>
import type { FlagSpecs } from './flags.js';
import { envName, flagName } from './flags.js';

/** One declared flag as plain data (usage lines; a launcher's own help). */
export interface FlagRow {
  key: string;
  /** `--tick-ms` */
  flag: string;
  /** Value placeholder; '' for bools. */
  value: string;
  help: string;
  defaultText: string | null;
  required: boolean;
  /** `RANGEKV_TICK_MS` */
  env: string;
}

export function flagRows(specs: FlagSpecs): FlagRow[] {
  return Object.entries(specs).map(([key, s]) => ({
    key, flag: `--${flagName(key)}`, value: s.value, help: s.help, defaultText: s.defaultText, required: s.required, env: envName(key),
  }));
}

export const CONFIG_FLAG_HELP = 'read flags from a JSON object: {"data-dir": "/d", "tick-ms": 20}\n(keys: flag names, or camelCase; values: strings, numbers, true/false, arrays)';
export const SOURCES_HELP = 'Every flag can also be set in the environment as RANGEKV_<FLAG> (--data-dir: RANGEKV_DATA_DIR;\nRANGEKV_CONFIG: --config). The command line wins over the environment, the environment over\nthe config file, the config file over the defaults.';

/** Left column width at most; a longer flag has its help on the next lines. */
const MAX_LEFT = 26;

export function flagUsage(specs: FlagSpecs, text: { synopsis: string; footer?: string }): string {
  const rows = flagRows(specs).map((r) => {
    const note = r.required ? '(required)' : r.defaultText !== null ? `(default ${r.defaultText})` : '';
    return { left: r.value === '' ? r.flag : `${r.flag} ${r.value}`, help: r.help, note };
  });
  rows.push({ left: '--config FILE', help: CONFIG_FLAG_HELP, note: '' }, { left: '--help', help: 'this text', note: '' });
  const w = Math.max(...rows.map((r) => r.left.length).filter((n) => n <= MAX_LEFT));
  const lines = [text.synopsis];
  for (const r of rows) {
    const help = r.help.split('\n');
    if (r.note !== '') help[help.length - 1] += `  ${r.note}`;
    if (r.left.length > w) lines.push(`  ${r.left}`);
    else lines.push(`  ${r.left.padEnd(w)}  ${help.shift()!}`);
    for (const more of help) lines.push(`  ${' '.repeat(w)}  ${more}`);
  }
  lines.push(SOURCES_HELP);
  if (text.footer !== undefined) lines.push(text.footer);
  return lines.join('\n');
}
