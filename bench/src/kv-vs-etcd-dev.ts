// The `rangekv dev` side of kv-vs-etcd: the local cluster users start (`rangekv dev`: one PD
// and three store processes, default store timing) and the product client
// (@rangekv/client: range cache from PD, leader cache, retries). The ranges are made by
// PD split operators at the same keys as the static-bootstrap run.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RangeKvClient } from '../../packages/client/dist/index.js';
import { runningClusters, type KvTarget, type SystemUnderTest } from './kv-vs-etcd-load.js';

const RANGEKV_BIN = fileURLToPath(new URL('../../tools/cli/dist/rangekv.js', import.meta.url));
/** Splits in flight while the ranges are made (PD runs one operator per range at a time). */
const splitInflight = 8;

interface DevReady {
  pd: { address: string; pid: number };
  stores: { pid: number }[];
}

class ClientTarget implements KvTarget {
  constructor(private readonly kv: RangeKvClient) {}

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.kv.put(key, value);
  }

  async get(key: Uint8Array): Promise<Uint8Array | null> {
    return (await this.kv.get(key)) ?? null;
  }

  async putBatch(pairs: readonly { key: Uint8Array; value: Uint8Array }[]): Promise<void> {
    await this.kv.batchPut(pairs);
  }

  close(): void {
    this.kv.close();
  }
}

export async function startDevCluster(opts: { splitKeys: readonly Uint8Array[]; log: (s: string) => void }): Promise<SystemUnderTest> {
  const dev: ChildProcess = spawn(process.execPath, [RANGEKV_BIN, 'dev', '--base-port', '0', '--json', '--startup-timeout', '120s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  dev.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => dev.once('exit', () => resolve()));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    runningClusters.delete(stop);
    if (dev.exitCode === null && dev.signalCode === null) dev.kill('SIGINT');
    const t = setTimeout(() => dev.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  };
  runningClusters.add(stop);
  const ready = await new Promise<DevReady>((resolve, reject) => {
    createInterface({ input: dev.stdout! }).on('line', (l) => {
      if (l.includes('"event":"ready"')) resolve(JSON.parse(l) as DevReady);
    });
    dev.once('exit', (code) => reject(new Error(`rangekv dev exited (${code}) before ready: ${stderr}`)));
  });
  const kv = await RangeKvClient.connect({ pd: [ready.pd.address], timeoutMs: 60_000 });
  const keys = [...opts.splitKeys];
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(splitInflight, keys.length) }, async () => {
    while (next < keys.length) {
      const k = keys[next++]!;
      const op = await kv.split(k);
      if (op.status !== 'succeeded') throw new Error(`split at ${Buffer.from(k).toString('hex')}: ${op.status} ${op.reason}`);
    }
  }));
  if (keys.length > 0) opts.log(`  ${keys.length} PD split operators done`);
  const ranges = (await kv.listRanges()).length;
  return {
    name: 'rangekv dev',
    target: new ClientTarget(kv),
    serverPids: () => [ready.pd.pid, ...ready.stores.map((s) => s.pid)],
    stop,
    info: { cluster: 'rangekv dev (PD + 3 stores, default timing)', client: '@rangekv/client', ranges, pd: ready.pd.address },
  };
}
