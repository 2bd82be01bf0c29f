// A store process (dist/store-main.js) spawned for tests: waits for its ready line,
// talks to its --admin-stdin, keeps the tail of its stderr for failure messages, and is
// always killed by whoever spawned it (kill() is idempotent).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { storeNodeFlags, storeProcessEnv } from '@rangekv/runtime';

export const STORE_MAIN = fileURLToPath(new URL('../store-main.js', import.meta.url));

export interface StoreProcessOptions {
  storeId: number;
  dataDir: string;
  bootstrap?: number[];
  extraArgs?: string[];
  readyTimeoutMs?: number;
}

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Lines of stderr kept (a bad flag's message and the whole usage fit). */
const STDERR_TAIL_LINES = 200;

export class StoreProcess {
  kvPort = 0;
  raftPort = 0;
  /** From the ready line; null when started with --http-port off. */
  httpPort: number | null = null;
  /** Parsed stdout events, in order. */
  readonly events: Record<string, unknown>[] = [];
  private readonly stderrTail: string[] = [];
  /** The first stderr lines (start-up logs), at most 40. */
  readonly stderrHead: string[] = [];
  readonly exited: Promise<ExitResult>;
  private exitResult: ExitResult | null = null;

  private constructor(readonly storeId: number, readonly proc: ChildProcess, stderrFile?: string) {
    // Every stderr line also appended to a file (a restart appends to the same one).
    if (stderrFile !== undefined) proc.stderr!.pipe(createWriteStream(stderrFile, { flags: 'a' }));
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exitResult = { code, signal };
        resolve(this.exitResult);
      });
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        this.events.push({ event: 'unparsed', line });
      }
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrHead.length < 40) this.stderrHead.push(line);
      if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    });
  }

  static args(o: StoreProcessOptions): string[] {
    const a = ['--store-id', String(o.storeId), '--data-dir', o.dataDir, '--host', '127.0.0.1', '--port', '0', '--raft-port', '0', '--admin-stdin'];
    if (o.bootstrap) a.push('--bootstrap', o.bootstrap.join(','));
    return [...a, ...(o.extraArgs ?? [])];
  }

  /** Spawns a process with arbitrary arguments (flag tests); does not wait for ready. `stderrFile`: also append stderr there. */
  static spawnRaw(args: string[], storeId = 0, stderrFile?: string): StoreProcess {
    // Launched as `rangekv store` launches one (runtime store-process-settings.ts).
    const proc = spawn(process.execPath, [...storeNodeFlags(), STORE_MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: storeProcessEnv() });
    return new StoreProcess(storeId, proc, stderrFile);
  }

  static spawn(o: StoreProcessOptions): Promise<StoreProcess> {
    return StoreProcess.startWith(StoreProcess.args(o), o.storeId, o.readyTimeoutMs);
  }

  /** Spawns with arbitrary arguments and waits for the ready line (killed if it never comes). */
  static async startWith(args: string[], storeId: number, readyTimeoutMs = 60_000, stderrFile?: string): Promise<StoreProcess> {
    const p = StoreProcess.spawnRaw(args, storeId, stderrFile);
    try {
      await p.waitForEvent('ready', readyTimeoutMs);
    } catch (e) {
      p.kill('SIGKILL');
      throw e;
    }
    const ready = p.events.find((e) => e.event === 'ready')!;
    p.kvPort = Number(ready.kvPort);
    p.raftPort = Number(ready.raftPort);
    p.httpPort = typeof ready.httpPort === 'number' ? ready.httpPort : null;
    return p;
  }

  get running(): boolean {
    return this.exitResult === null;
  }

  get kvAddress(): string {
    return `127.0.0.1:${this.kvPort}`;
  }

  get raftAddress(): string {
    return `127.0.0.1:${this.raftPort}`;
  }

  stderr(): string {
    return this.stderrTail.join('\n');
  }

  async waitForEvent(name: string, timeoutMs = 10_000, count = 1): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.filter((e) => e.event === name).length < count) {
      if (this.exitResult) throw new Error(`store ${this.storeId} exited (${JSON.stringify(this.exitResult)}) before "${name}":\n${this.stderr()}`);
      if (Date.now() > deadline) throw new Error(`store ${this.storeId}: no "${name}" event within ${timeoutMs} ms:\n${this.stderr()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Tells the process peer raft addresses through --admin-stdin; resolves once applied. */
  async setPeers(peers: ReadonlyMap<number, string>): Promise<void> {
    const entries = [...peers].filter(([id]) => id !== this.storeId);
    const before = this.events.filter((e) => e.event === 'peers').length;
    this.proc.stdin!.write(JSON.stringify({ peers: Object.fromEntries(entries) }) + '\n');
    await this.waitForEvent('peers', 5_000, before + 1);
  }

  /**
   * Sends a faults command (the store needs --fault-injection; fault-injection.ts) and
   * waits for its answer (one command at a time per process); throws with the store's
   * reason when it is refused.
   */
  async faults(cmd: { dropTo?: number[]; dropFrom?: number[]; heal?: boolean; syncDelayMs?: number }): Promise<void> {
    const before = this.events.filter((e) => e.event === 'faults').length;
    this.proc.stdin!.write(JSON.stringify({ faults: cmd }) + '\n');
    await this.waitForEvent('faults', 5_000, before + 1);
    const answer = this.events.filter((e) => e.event === 'faults')[before]!;
    if (answer.ok !== true) throw new Error(`store ${this.storeId} refused faults ${JSON.stringify(cmd)}: ${String(answer.error)}`);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.exitResult === null) this.proc.kill(signal);
  }

  async stop(signal: NodeJS.Signals, timeoutMs = 10_000): Promise<ExitResult> {
    if (this.exitResult) return this.exitResult;
    this.proc.kill(signal);
    const timer = setTimeout(() => this.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
