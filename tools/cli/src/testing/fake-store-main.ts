// A stand-in for packages/store/dist/store-main.js in CLI tests: prints a store's ready
// line (store id from the data dir's trailing number, the flags it got, the node flags and
// GLIBC_TUNABLES it was launched with) and idles until SIGTERM.
import { existsSync } from 'node:fs';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const storeId = Number(/(\d+)$/.exec(flag('data-dir') ?? '')?.[1] ?? flag('store-id') ?? 1);
process.stdout.write(`${JSON.stringify({ event: 'ready', storeId, kvPort: Number(flag('port') ?? 0), raftPort: Number(flag('raft-port') ?? 0), httpPort: 0, args: argv,
  execArgv: process.execArgv, glibcTunables: process.env.GLIBC_TUNABLES ?? null })}\n`);
process.stderr.write(`{"level":"info","storeId":${storeId},"msg":"fake store serving"}\n`);
// Test hook: store 2 exits 1 ("crashes") once the file FAKE_STORE_CRASH_FILE exists.
const crashFile = process.env.FAKE_STORE_CRASH_FILE;
if (crashFile && storeId === 2) {
  const poll = setInterval(() => {
    if (!existsSync(crashFile)) return;
    clearInterval(poll);
    process.stderr.write('{"level":"fatal","msg":"fake store crashed"}\n');
    process.exit(1);
  }, 50);
}
const timer = setInterval(() => {}, 1_000);
const stop = (): void => {
  clearInterval(timer);
  process.stdout.write('{"event":"stopped"}\n');
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
