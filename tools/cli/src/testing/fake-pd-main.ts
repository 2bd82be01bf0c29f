// A stand-in for packages/pd/dist/pd-main.js in CLI tests: serves a FakeCluster (fake PD
// + fake stores, range 1 led by store 1) and prints PD's ready line; SIGTERM stops it.
import { FakeCluster } from '@rangekv/client/testing';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const cluster = await FakeCluster.start({ stores: Number(flag('initial-stores') ?? 3) });
const port = Number(cluster.pdAddress().split(':')[1]);
process.stdout.write(`${JSON.stringify({ event: 'ready', pdId: Number(flag('id') ?? 1), port, raftPort: 0, httpPort: 0, args: argv })}\n`);
process.stderr.write('{"level":"info","msg":"fake pd serving"}\n');
const stop = (): void => {
  void cluster.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
