// A PD process (dist/pd-main.js) spawned for tests: waits for its ready line, talks to its
// --admin-stdin, keeps the tail of its stderr, and is always killed by whoever spawned it
// (kill() is idempotent).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PD_MAIN = fileURLToPath(new URL('../pd-main.js', import.meta.url));

export interface PdProcessOptions {
  id: number;
  dataDir: string;
  /** Ids of the other members (addresses sent later with setPeers). */
  peerIds?: number[];
  /** Client and raft ports; default 0 (ephemeral). A restart passes the old ones. */
  port?: number;
  raftPort?: number;
  extraArgs?: string[];
  readyTimeoutMs?: number;
  /** Also append every stderr line to this file. */
  stderrFile?: string;
}

export interface PdExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Lines of stderr kept (a bad flag's message and the whole usage fit). */
const STDERR_TAIL_LINES = 200;

export class PdProcess {
  port = 0;
  raftPort = 0;
  httpPort: number | null = null;
  readonly events: Record<string, unknown>[] = [];
  readonly stderrTail: string[] = [];
  readonly exited: Promise<PdExit>;

  private constructor(readonly id: number, readonly proc: ChildProcess, stderrFile?: string) {
    if (stderrFile !== undefined) proc.stderr!.pipe(createWriteStream(stderrFile, { flags: 'a' }));
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        this.events.push({ event: 'unparsed', line });
      }
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    });
  }

  /** Spawns pd-main with raw arguments (flag tests). */
  static spawnRaw(args: string[]): PdProcess {
    return new PdProcess(0, spawn(process.execPath, [PD_MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  static async start(o: PdProcessOptions): Promise<PdProcess> {
    const args = ['--id', String(o.id), '--data-dir', o.dataDir, '--port', String(o.port ?? 0), '--raft-port', String(o.raftPort ?? 0), '--admin-stdin'];
    if (o.peerIds && o.peerIds.length > 0) args.push('--peers', o.peerIds.join(','));
    const p = new PdProcess(o.id, spawn(process.execPath, [PD_MAIN, ...args, ...(o.extraArgs ?? [])], { stdio: ['pipe', 'pipe', 'pipe'] }), o.stderrFile);
    try {
      const ready = await p.waitEvent('ready', o.readyTimeoutMs ?? 15_000);
      p.port = Number(ready['port']);
      p.raftPort = Number(ready['raftPort']);
      p.httpPort = ready['httpPort'] === null ? null : Number(ready['httpPort']);
    } catch (e) {
      p.kill();
      throw e;
    }
    return p;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async waitEvent(name: string, timeoutMs: number, after = 0): Promise<Record<string, unknown>> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.slice(after).find((x) => x['event'] === name);
      if (e) return e;
      if (this.proc.exitCode !== null || Date.now() > end) {
        throw new Error(`PD ${this.id}: no "${name}" event (exit ${this.proc.exitCode}); stderr:\n${this.stderrTail.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Sends the other members' addresses over --admin-stdin and waits for the ack. */
  async setPeers(peers: PdProcess[]): Promise<void> {
    const n = this.events.length;
    const msg: Record<string, string> = {};
    for (const p of peers) if (p.id !== this.id) msg[String(p.id)] = `127.0.0.1:${p.raftPort}/127.0.0.1:${p.port}`;
    this.proc.stdin!.write(JSON.stringify({ peers: msg }) + '\n');
    await this.waitEvent('peers', 5_000, n);
  }

  /** SIGTERM and wait for the exit. */
  async stop(): Promise<PdExit> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    return this.exited;
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}
