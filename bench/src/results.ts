// What every PD-level benchmark writes beside its table: bench/results/NAME.json with the
// commit, the machine (cores, load average) and the benchmark's own figures.
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The p-th percentile (nearest rank) of `xs`; NaN when empty. */
export function pct(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** Writes bench/results/`name`.json and returns its path. */
export function writeResult(name: string, figures: Record<string, unknown>): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const out = join(here, '..', 'results', `${name}.json`);
  mkdirSync(dirname(out), { recursive: true });
  let commit = '';
  try {
    commit = execSync('git rev-parse HEAD', { cwd: here }).toString().trim();
  } catch { /* not a git checkout */ }
  writeFileSync(out, JSON.stringify({ bench: name, at: new Date().toISOString(), commit, cpus: cpus().length, loadAverage: loadavg(), ...figures }, null, 2) + '\n');
  return out;
}

/**
 * `--name N` pairs over `defaults` (each flag named after its key; a non-negative integer,
 * raised to `min[name]` when below it). An unknown flag or a bad number throws, naming the flags.
 */
export function parseIntFlags<T extends Record<string, number>>(argv: readonly string[], defaults: T, min: Partial<Record<keyof T, number>> = {}): T {
  const out: Record<string, number> = { ...defaults };
  const usage = Object.keys(defaults).map((k) => `--${k} N`).join(' ');
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!;
    const name = k.startsWith('--') ? k.slice(2) : '';
    if (!(name in defaults)) throw new Error(`unknown flag ${k} (${usage})`);
    const v = Number(argv[i + 1]);
    if (!Number.isInteger(v) || v < 0) throw new Error(`${k} needs a non-negative integer`);
    out[name] = Math.max(min[name as keyof T] ?? 0, v);
  }
  return out as T;
}

/** Retries `put` every 100 ms until it succeeds (a fresh cluster electing its leaders), for at most `timeoutMs`. */
export async function waitWritable(put: () => Promise<unknown>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await put();
      return;
    } catch (e) {
      if (Date.now() >= deadline) throw new Error(`cluster not writable within ${timeoutMs} ms: ${e instanceof Error ? e.message : String(e)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
