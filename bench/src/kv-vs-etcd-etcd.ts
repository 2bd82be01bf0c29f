// The etcd side of kv-vs-etcd: a 3-member etcd cluster on 127.0.0.1 (one process per
// member, data dirs under a temp dir, default fsync), and a KvTarget over its v3 KV API
// through @grpc/grpc-js + protobufjs (bench/etcd/kv.proto, loaded at run time), the same
// libraries rangekv's client uses. Requests go round-robin over the three members'
// channels, as etcd's own client balancer does; a member forwards writes (and the
// ReadIndex of linearizable reads) to its leader internally.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { runningClusters, type KvTarget, type SystemUnderTest } from './kv-vs-etcd-load.js';

export const ETCD_PROTO = fileURLToPath(new URL('../etcd/kv.proto', import.meta.url));

export interface EtcdClusterOptions {
  /** The etcd binary (default /usr/bin/etcd). */
  binary?: string;
  members?: number;
  /** How long to wait for every member to answer a linearizable Range, ms. */
  readyTimeoutMs?: number;
  /** Per-request deadline of the bench's calls, ms. */
  requestTimeoutMs?: number;
}

/** A gRPC method over protobufjs codecs (encode takes plain objects). */
interface Codec {
  encode(message: object): { finish(): Uint8Array };
  decode(bytes: Uint8Array): object;
}

interface RangeResponseView {
  kvs?: { value?: Uint8Array }[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** A free TCP port on 127.0.0.1 (closed again; the caller binds it soon after). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** etcd's KV.Put and KV.Range over one channel per member. */
export class EtcdKvTarget implements KvTarget {
  private readonly clients: grpc.Client[];
  private next = 0;
  private readonly putReq: Codec;
  private readonly putRes: Codec;
  private readonly rangeReq: Codec;
  private readonly rangeRes: Codec;
  private readonly txnReq: Codec;
  private readonly txnRes: Codec;

  constructor(endpoints: string[], private readonly requestTimeoutMs = 10_000) {
    const root = protobuf.loadSync(ETCD_PROTO);
    this.putReq = root.lookupType('etcdserverpb.PutRequest');
    this.putRes = root.lookupType('etcdserverpb.PutResponse');
    this.rangeReq = root.lookupType('etcdserverpb.RangeRequest');
    this.rangeRes = root.lookupType('etcdserverpb.RangeResponse');
    this.txnReq = root.lookupType('etcdserverpb.TxnRequest');
    this.txnRes = root.lookupType('etcdserverpb.TxnResponse');
    this.clients = endpoints.map((e) => new grpc.Client(e, grpc.credentials.createInsecure()));
  }

  private call(client: grpc.Client, method: string, req: Codec, res: Codec, msg: object): Promise<object> {
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(`/etcdserverpb.KV/${method}`, (v: object) => toBuffer(req.encode(v).finish()), (b: Buffer) => res.decode(b), msg,
        new grpc.Metadata(), { deadline: Date.now() + this.requestTimeoutMs },
        (err: grpc.ServiceError | null, out?: object) => (err ? reject(err) : resolve(out!)));
    });
  }

  private pick(): grpc.Client {
    const c = this.clients[this.next]!;
    this.next = (this.next + 1) % this.clients.length;
    return c;
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.call(this.pick(), 'Put', this.putReq, this.putRes, { key, value });
  }

  /** One Txn of puts (etcd's --max-txn-ops, 128 by default, bounds the batch). */
  async putBatch(pairs: readonly { key: Uint8Array; value: Uint8Array }[]): Promise<void> {
    await this.call(this.pick(), 'Txn', this.txnReq, this.txnRes, { success: pairs.map((p) => ({ requestPut: { key: p.key, value: p.value } })) });
  }

  async get(key: Uint8Array): Promise<Uint8Array | null> {
    return this.getFrom(this.pick(), key);
  }

  /** A linearizable Range of one key on one member. */
  async getFrom(client: grpc.Client, key: Uint8Array): Promise<Uint8Array | null> {
    const res = (await this.call(client, 'Range', this.rangeReq, this.rangeRes, { key, serializable: false })) as RangeResponseView;
    const kv = res.kvs?.[0];
    return kv ? (kv.value ?? new Uint8Array(0)) : null;
  }

  /** Every member answers a linearizable Range (so a leader exists and reads work). */
  async waitHealthy(timeoutMs: number, alive: () => string | null): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const probe = Buffer.from('health-probe');
    for (const c of this.clients) {
      for (;;) {
        const dead = alive();
        if (dead !== null) throw new Error(dead);
        try {
          await this.getFrom(c, probe);
          break;
        } catch (e) {
          if (Date.now() > deadline) throw new Error(`etcd cluster not healthy within ${timeoutMs} ms: ${(e as Error).message}`);
          await sleep(100);
        }
      }
    }
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

interface Member {
  name: string;
  proc: ChildProcess;
  clientUrl: string;
  exit: Promise<void>;
  exited: boolean;
  stderrTail: string[];
}

/** Starts a fresh etcd cluster and waits until every member serves linearizable reads. */
export async function startEtcdCluster(o: EtcdClusterOptions = {}): Promise<SystemUnderTest> {
  const binary = o.binary ?? '/usr/bin/etcd';
  const n = o.members ?? 3;
  const root = await mkdtemp(join(tmpdir(), 'kv-vs-etcd-etcd-'));
  const members: Member[] = [];
  let target: EtcdKvTarget | null = null;
  /** The stop under way: a second caller (Ctrl-C during a stop) waits for the same one. */
  let stopping: Promise<void> | null = null;

  const stop = (): Promise<void> => (stopping ??= (async (): Promise<void> => {
    target?.close();
    for (const m of members) if (!m.exited) m.proc.kill('SIGTERM');
    const killer = setTimeout(() => {
      for (const m of members) if (!m.exited) m.proc.kill('SIGKILL');
    }, 5_000);
    await Promise.all(members.map((m) => m.exit));
    clearTimeout(killer);
    await rm(root, { recursive: true, force: true });
    runningClusters.delete(stop);
  })());

  runningClusters.add(stop);
  try {
    const ports: { client: number; peer: number }[] = [];
    for (let i = 0; i < n; i++) ports.push({ client: await freePort(), peer: await freePort() });
    const names = ports.map((_, i) => `m${i + 1}`);
    const initialCluster = ports.map((p, i) => `${names[i]}=http://127.0.0.1:${p.peer}`).join(',');
    for (let i = 0; i < n; i++) {
      const clientUrl = `http://127.0.0.1:${ports[i]!.client}`;
      const peerUrl = `http://127.0.0.1:${ports[i]!.peer}`;
      const args = [
        '--name', names[i]!, '--data-dir', join(root, names[i]!),
        '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
        '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', 'kv-vs-etcd',
        '--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'warn',
      ];
      const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      const m: Member = { name: names[i]!, proc, clientUrl, exited: false, stderrTail: [], exit: Promise.resolve() };
      m.exit = new Promise((resolve) => {
        proc.once('exit', () => {
          m.exited = true;
          resolve();
        });
        proc.once('error', () => {
          m.exited = true;
          resolve();
        });
      });
      proc.stderr!.setEncoding('utf8');
      proc.stderr!.on('data', (s: string) => {
        m.stderrTail.push(s);
        if (m.stderrTail.length > 20) m.stderrTail.shift();
      });
      members.push(m);
    }
    target = new EtcdKvTarget(members.map((m) => m.clientUrl.slice('http://'.length)), o.requestTimeoutMs);
    const alive = (): string | null => {
      const dead = members.find((m) => m.exited);
      return dead ? `etcd member ${dead.name} exited:\n${dead.stderrTail.join('')}` : null;
    };
    await target.waitHealthy(o.readyTimeoutMs ?? 30_000, alive);
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    name: 'etcd',
    target,
    client: { kind: 'etcd', endpoints: members.map((m) => m.clientUrl.slice('http://'.length)) },
    serverPids: () => members.map((m) => m.proc.pid ?? 0).filter((p) => p > 0),
    memberPids: () => members.map((m) => m.proc.pid ?? 0).filter((p) => p > 0),
    stop,
    info: { members: n, binary, endpoints: members.map((m) => m.clientUrl) },
  };
}
