// The live fuzzer: a real cluster (1 PD, 4 stores) receives the inputs of inputs.ts on
// every port for a while, and must stay up, answer with clear statuses, and keep its data.
//
// A checker writes sentinel keys (SENTINEL_PREFIX) through the client before the run and
// rewrites some during it; every `checkEveryMs` it reads all of them back (linearizable)
// and checks every process still runs. Violations: a process that exited, a sentinel key
// missing or not at the last acknowledged value, a server answering INTERNAL (or UNKNOWN
// that is not an ambiguous write), a process whose /health stops answering.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { RangeKvClient } from '@rangekv/client';
import { raftTransportService } from '@rangekv/proto';
import { E2eCluster } from '../cluster.js';
import { rawUnary } from '../hostile-wire.js';
import { fuzzInput, SENTINEL_PREFIX, writesSentinel, type FuzzInput } from './inputs.js';

export interface LiveFuzzOptions {
  seconds: number;
  seed: number;
  /** Inputs in flight at once. */
  concurrency: number;
  /** One progress line every this many ms. */
  progressEveryMs: number;
  checkEveryMs: number;
  log: (line: string) => void;
}

export interface LiveFuzzReport {
  seconds: number;
  inputs: number;
  inputsPerSecond: number;
  /** Per port and target: outcome -> count. */
  outcomes: Record<string, Record<string, number>>;
  violations: string[];
  checks: number;
  sentinelKeys: number;
  /** VmRSS of each process at the start and the end, MiB. */
  rssMiB: Record<string, [number, number]>;
}

const CALL_TIMEOUT_MS = 5_000;
const SENTINELS = 32;

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

function sentinelKey(i: number): Buffer {
  return Buffer.concat([SENTINEL_PREFIX, Buffer.from(String(i).padStart(3, '0'))]);
}

/** Channels by address, kept for the whole run (a channel per input would measure connection setup). */
class Channels {
  private readonly m = new Map<string, grpc.Client>();

  get(address: string): grpc.Client {
    let c = this.m.get(address);
    if (!c) {
      c = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 << 20 });
      this.m.set(address, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.m.values()) c.close();
    this.m.clear();
  }
}

/** One Snapshot call: the frames, then the end; resolves with the status (never throws). */
function snapshotCall(client: grpc.Client, frames: Buffer[]): Promise<string> {
  const m = raftTransportService.snapshot;
  return new Promise<string>((resolve) => {
    const call = client.makeClientStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, { deadline: Date.now() + CALL_TIMEOUT_MS },
      (err: grpc.ServiceError | null) => resolve(grpc.status[err?.code ?? grpc.status.OK] ?? 'UNKNOWN'));
    for (const f of frames) call.write(f);
    call.end();
  });
}

/** One raft stream carrying one batch; resolves with how the stream ended. */
function raftCall(client: grpc.Client, batch: Buffer): Promise<string> {
  const m = raftTransportService.stream;
  return new Promise<string>((resolve) => {
    const call = client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, { deadline: Date.now() + CALL_TIMEOUT_MS });
    call.on('error', (e: grpc.ServiceError) => resolve(grpc.status[e.code] ?? 'UNKNOWN'));
    call.on('end', () => resolve('OK'));
    call.on('data', () => undefined);
    call.write(batch);
    setTimeout(() => call.end(), 50);
  });
}

export async function runLiveFuzz(o: LiveFuzzOptions): Promise<LiveFuzzReport> {
  const c = await E2eCluster.start({ stores: 4, initialStores: 3, storeArgs: ['--uninitialized-idle-ms', '5000', '--uninitialized-gc-after-ms', '20000'] });
  const violations: string[] = [];
  const outcomes: Record<string, Record<string, number>> = {};
  const count = (what: string, outcome: string): void => {
    const m = (outcomes[what] ??= {});
    m[outcome] = (m[outcome] ?? 0) + 1;
  };
  const violation = (v: string): void => {
    if (violations.length < 1_000) violations.push(`${new Date().toISOString()} ${v}`);
    o.log(`VIOLATION ${v}`);
  };
  let kv: RangeKvClient | null = null;
  const channels = new Channels();
  const rssStart: Record<string, number> = {};
  const procs = (): [string, number | undefined][] => [
    ...c.pds.map((p): [string, number | undefined] => [`pd-${p.id}`, p.proc.pid]),
    ...[...c.stores].map(([id, s]): [string, number | undefined] => [`store-${id}`, s.proc.pid]),
  ];
  try {
    kv = await RangeKvClient.connect({ pd: c.pdAddresses() });
    for (const k of ['g', 'p', 'w']) await kv.split(k, { timeoutMs: 30_000 });
    const expected = new Map<number, Set<string>>();
    for (let i = 0; i < SENTINELS; i++) {
      await kv.put(sentinelKey(i), `v0-${i}`, { timeoutMs: 30_000 });
      expected.set(i, new Set([`v0-${i}`]));
    }
    for (const [name, pid] of procs()) rssStart[name] = rssMiB(pid);
    o.log(`cluster up: PD ${c.pdAddresses().join(',')}, stores ${[...c.stores.keys()].join(',')}; fuzzing ${o.seconds} s, seed ${o.seed}, ${o.concurrency} in flight`);

    const started = Date.now();
    const deadline = started + o.seconds * 1000;
    let inputs = 0;
    let checks = 0;
    let sample: FuzzInput[] = [];
    let batchNo = 0;
    const next = (): FuzzInput => {
      if (sample.length === 0) sample = fc.sample(fuzzInput, { seed: o.seed + batchNo++, numRuns: 200 });
      return sample.pop()!;
    };
    const storeIds = (): number[] => [...c.stores.keys()];

    const send = async (input: FuzzInput, pick: number): Promise<void> => {
      const ids = storeIds();
      const sid = ids[pick % ids.length]!;
      const s = c.stores.get(sid)!;
      const what = `${input.port} ${input.target}`;
      switch (input.port) {
        case 'kv': {
          if (writesSentinel(input.target, input.body)) {
            count(what, 'skipped (sentinel)');
            return;
          }
          const a = await rawUnary(s.kvAddress, input.path, input.body, CALL_TIMEOUT_MS, channels.get(s.kvAddress));
          const name = grpc.status[a.code] ?? 'UNKNOWN';
          count(what, name);
          if (a.code === grpc.status.INTERNAL || (a.code === grpc.status.UNKNOWN && !a.details.includes('ambiguous'))) {
            violation(`store ${sid} ${input.target}: ${name} ${a.details}`);
          }
          return;
        }
        case 'pd': {
          const a = await rawUnary(c.pds[0]!.address, input.path, input.body, CALL_TIMEOUT_MS, channels.get(c.pds[0]!.address));
          const name = grpc.status[a.code] ?? 'UNKNOWN';
          count(what, name);
          if (a.code === grpc.status.INTERNAL || a.code === grpc.status.UNKNOWN) violation(`PD ${input.target}: ${name} ${a.details}`);
          return;
        }
        case 'raft':
          count(what, await raftCall(channels.get(s.raftAddress), input.batch(sid)));
          return;
        case 'snapshot':
          count(what, await snapshotCall(channels.get(s.raftAddress), input.frames(sid)));
          return;
        case 'http': {
          const res = await fetch(`http://127.0.0.1:${String(s.httpPort)}${input.path}`, { method: input.method, signal: AbortSignal.timeout(CALL_TIMEOUT_MS) })
            .then((r) => String(r.status), (e: unknown) => `error ${e instanceof Error ? e.name : 'unknown'}`);
          count(what, res);
          if (res === '500') violation(`store ${sid} HTTP ${input.method} ${input.path}: 500`);
          return;
        }
      }
    };

    const check = async (): Promise<void> => {
      checks++;
      for (const [name] of procs()) {
        const p = name.startsWith('pd-') ? c.pds.find((x) => `pd-${x.id}` === name)!.proc : c.stores.get(Number(name.slice(6)))!.proc;
        if (p.exitCode !== null || p.signalCode !== null) violation(`${name} exited (code ${p.exitCode}, signal ${p.signalCode})`);
      }
      for (const s of c.stores.values()) {
        const ok = await fetch(`http://127.0.0.1:${String(s.httpPort)}/health`, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) }).then((r) => r.status, () => 0);
        if (ok !== 200) violation(`store ${s.storeId} /health answered ${ok}`);
      }
      for (let i = 0; i < SENTINELS; i++) {
        const got = await kv!.get(sentinelKey(i), { timeoutMs: 30_000 }).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
        if (got instanceof Error || got === undefined) violation(`sentinel ${i}: ${got instanceof Error ? got.message : 'missing'}`);
        else if (!expected.get(i)!.has(got.toString())) violation(`sentinel ${i}: ${got.toString()}, expected one of ${[...expected.get(i)!].join('|')}`);
        else expected.set(i, new Set([got.toString()]));
      }
      // Writes still work: a new value for one sentinel (an ambiguous outcome keeps both).
      const i = checks % SENTINELS;
      const v = `v${checks}-${i}`;
      expected.get(i)!.add(v);
      try {
        await kv!.put(sentinelKey(i), v, { timeoutMs: 30_000 });
        expected.set(i, new Set([v]));
      } catch (e) {
        if (!(e instanceof Error && e.name === 'AmbiguousWriteError')) violation(`sentinel ${i} write failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    };

    let lastProgress = Date.now();
    let lastCheck = Date.now();
    const checking = { busy: false };
    const workers = Array.from({ length: o.concurrency }, async (_, w) => {
      let n = 0;
      while (Date.now() < deadline) {
        const input = next();
        await send(input, w + n++).catch((e: unknown) => count(`${input.port} ${input.target}`, `client error ${e instanceof Error ? e.name : 'unknown'}`));
        inputs++;
        const now = Date.now();
        if (now - lastCheck >= o.checkEveryMs && !checking.busy) {
          lastCheck = now;
          checking.busy = true;
          void check().finally(() => {
            checking.busy = false;
          });
        }
        if (now - lastProgress >= o.progressEveryMs) {
          lastProgress = now;
          const sec = (now - started) / 1000;
          o.log(`${sec.toFixed(0)} s: ${inputs} inputs (${(inputs / sec).toFixed(0)}/s), ${checks} checks, ${violations.length} violations`);
        }
      }
    });
    await Promise.all(workers);
    while (checking.busy) await new Promise((r) => setTimeout(r, 100));
    await check();
    const seconds = (Date.now() - started) / 1000;
    const rss: Record<string, [number, number]> = {};
    for (const [name, pid] of procs()) rss[name] = [rssStart[name] ?? 0, rssMiB(pid)];
    return { seconds, inputs, inputsPerSecond: inputs / seconds, outcomes, violations, checks, sentinelKeys: SENTINELS, rssMiB: rss };
  } finally {
    kv?.close();
    channels.close();
    await c.close();
  }
}
