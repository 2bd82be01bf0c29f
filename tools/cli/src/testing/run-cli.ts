// Runs the real `rangekv` binary (dist/rangekv.js) as a child process, for the CLI tests.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../rangekv.js', import.meta.url));
export const FAKE_PD = fileURLToPath(new URL('./fake-pd-main.js', import.meta.url));
export const FAKE_STORE = fileURLToPath(new URL('./fake-store-main.js', import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `rangekv args` (RANGEKV_PD cleared unless given in env). */
export function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, RANGEKV_PD: '', ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs every argv, `concurrency` processes at a time; results in order. */
export async function runAll(argvs: string[][], concurrency = 4): Promise<Run[]> {
  const out: Run[] = new Array(argvs.length);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < argvs.length) {
      const i = next++;
      out[i] = await run(argvs[i]!);
    }
  }));
  return out;
}
