// A stand-in for packages/store/dist/store-main.js in CLI tests: prints a store's ready
// line (store id from the data dir's trailing number, the flags it got) and idles until
// SIGTERM. env FAKE_STORE_FAIL_AFTER_MS=N makes store 2 exit 1 after N ms (a store dying under `rangekv dev`).
const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const storeId = Number(/(\d+)$/.exec(flag('data-dir') ?? '')?.[1] ?? flag('store-id') ?? 1);
process.stdout.write(`${JSON.stringify({ event: 'ready', storeId, kvPort: Number(flag('port') ?? 0), raftPort: Number(flag('raft-port') ?? 0), httpPort: 0, args: argv })}\n`);
process.stderr.write(`{"level":"info","storeId":${storeId},"msg":"fake store serving"}\n`);
const failAfter = process.env.FAKE_STORE_FAIL_AFTER_MS;
if (failAfter && storeId === 2) {
  setTimeout(() => {
    process.stderr.write('{"level":"fatal","msg":"fake store crashed"}\n');
    process.exit(1);
  }, Number(failAfter));
}
const timer = setInterval(() => {}, 1_000);
const stop = (): void => {
  clearInterval(timer);
  process.stdout.write('{"event":"stopped"}\n');
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
