// A kv-vs-etcd load client process (forked by kv-vs-etcd-clients.ts): connects its own
// target to the system under test from a ClientSpec (the same adapters as the
// coordinator: grpc-js channels and protobufjs codecs), then runs its share of each
// level's closed loops as the coordinator says (kv-vs-etcd-ipc.ts). It exits when the
// coordinator closes it or goes away.
import { ClosedLoops, Keyspace, type ClientSpec, type KvTarget } from './kv-vs-etcd-load.js';
import type { FromClient, ToClient } from './kv-vs-etcd-ipc.js';

async function connectTarget(spec: ClientSpec): Promise<KvTarget> {
  switch (spec.kind) {
    case 'etcd': {
      const { EtcdKvTarget } = await import('./kv-vs-etcd-etcd.js');
      return new EtcdKvTarget(spec.endpoints);
    }
    case 'rangekv': {
      const { RangekvKvTarget } = await import('./kv-vs-etcd-rangekv.js');
      const t = new RangekvKvTarget(new Map(spec.stores));
      await t.refresh();
      return t;
    }
    case 'dev': {
      const { connectDevTarget } = await import('./kv-vs-etcd-dev.js');
      return connectDevTarget(spec.pd);
    }
  }
}

/** Resolves once the message is handed to the channel (before a disconnect, it must be). */
function send(m: FromClient): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send!(m, undefined, {}, (e: Error | null) => (e ? reject(e) : resolve()));
  });
}

let target: KvTarget | null = null;
let ks: Keyspace | null = null;
let level: ClosedLoops | null = null;

async function handle(m: ToClient): Promise<void> {
  switch (m.type) {
    case 'connect':
      ks = new Keyspace(m.keys, m.valueBytes);
      target = await connectTarget(m.spec);
      await send({ type: 'connected' });
      return;
    case 'start':
      if (!target || !ks) throw new Error('start before connect');
      if (level) throw new Error('start during a level');
      level = new ClosedLoops(target, ks, m.op, m.inflight);
      level.start();
      await send({ type: 'started' });
      return;
    case 'measure':
      if (!level) throw new Error('measure outside a level');
      level.measure();
      return;
    case 'stop': {
      if (!level) throw new Error('stop outside a level');
      const result = await level.stop();
      level = null;
      await send({ type: 'result', result });
      return;
    }
    case 'close': {
      const stats = (target as { stats?: Record<string, number> } | null)?.stats ?? {};
      await target?.close();
      await send({ type: 'closed', stats: { ...stats } });
      process.disconnect();
      return;
    }
  }
}

if (!process.send) throw new Error('kv-vs-etcd-client runs as a forked child of kv-vs-etcd');
// One message at a time, in order (a stop must not overtake its start).
let queue = Promise.resolve();
process.on('message', (m: ToClient) => {
  queue = queue.then(() => handle(m)).catch(async (e: unknown) => {
    process.exitCode = 1;
    await send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) }).catch(() => {});
    process.disconnect();
  });
});
// The coordinator exited (or closed us): nothing more to do.
process.on('disconnect', () => process.exit());
