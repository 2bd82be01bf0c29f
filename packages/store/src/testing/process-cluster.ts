// Real store processes (store-main) for tests, statically bootstrapped: start them in a
// temp dir, tell every running store every other's raft address (--admin-stdin), and
// kill them all at the end whatever happened. Clients register with `onStart`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreProcess } from './store-process.js';

export class ProcessCluster {
  readonly procs = new Map<number, StoreProcess>();
  private readonly spawned: StoreProcess[] = [];

  private constructor(
    readonly root: string,
    readonly ids: readonly number[],
    private readonly extraArgs: readonly string[],
    private readonly onStart: (p: StoreProcess) => void,
  ) {}

  /** A temp dir for stores `ids`; nothing started yet. */
  static async create(o: { ids: readonly number[]; extraArgs: readonly string[]; onStart: (p: StoreProcess) => void }): Promise<ProcessCluster> {
    return new ProcessCluster(await mkdtemp(join(tmpdir(), 'rangekv-procs-')), o.ids, o.extraArgs, o.onStart);
  }

  dir(id: number): string {
    return join(this.root, `store-${id}`);
  }

  /** Starts store `id` (with `--bootstrap` of every id when asked: first start only). */
  async startStore(id: number, bootstrap: boolean): Promise<StoreProcess> {
    const p = await StoreProcess.spawn({ storeId: id, dataDir: this.dir(id), extraArgs: [...this.extraArgs], ...(bootstrap ? { bootstrap: [...this.ids] } : {}) });
    this.spawned.push(p);
    this.procs.set(id, p);
    this.onStart(p);
    return p;
  }

  /** Kills `p` at close() too (processes spawned by hand, e.g. flag tests). */
  track(p: StoreProcess): StoreProcess {
    this.spawned.push(p);
    return p;
  }

  /** Every running store learns every running store's raft address. */
  async exchangePeers(): Promise<void> {
    const running = [...this.procs].filter(([, p]) => p.running);
    const peers = new Map(running.map(([id, p]) => [id, p.raftAddress] as [number, string]));
    await Promise.all(running.map(([, p]) => p.setPeers(peers)));
  }

  /** Kills every process ever started here and removes the temp dir. */
  async close(): Promise<void> {
    for (const p of this.spawned) p.kill('SIGKILL');
    await Promise.all(this.spawned.map((p) => p.exited));
    await rm(this.root, { recursive: true, force: true });
  }
}

/** Polls `cond` until it holds or `timeoutMs` passes. */
export async function eventually(what: string, cond: () => Promise<boolean>, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
