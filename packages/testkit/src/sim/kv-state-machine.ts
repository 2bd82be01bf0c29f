// The replicated state machine the simulation runs on raft: a string map with put and
// compare-and-set, plus a dedup table so a client may retry a write on another node
// without applying it twice.
//
// Commands travel in entry data as JSON. A command carries (client, seq); each client has
// at most one write outstanding, with increasing seqs, so the table keeps only the last
// applied seq and its result per client:
//   seq >  last: apply, remember the result;
//   seq == last: a retry of the write already applied: answer the remembered result;
//   seq <  last: an abandoned older write surfacing late: skip it (the client gave up).
import type { KvResult } from '../history.js';

export type KvCommand =
  | { client: number; seq: number; kind: 'put'; key: string; value: string }
  | { client: number; seq: number; kind: 'cas'; key: string; expected: string | null; value: string };

export type WriteResult = Extract<KvResult, { kind: 'put' } | { kind: 'cas' }>;

export type ApplyOutcome =
  | { status: 'applied'; result: WriteResult }
  | { status: 'duplicate'; result: WriteResult }
  | { status: 'stale' };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(cmd: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const v: unknown = JSON.parse(decoder.decode(data));
  if (!isCommand(v)) throw new Error(`kv: malformed command ${decoder.decode(data)}`);
  return v;
}

function isCommand(v: unknown): v is KvCommand {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  if (typeof c['client'] !== 'number' || typeof c['seq'] !== 'number' || typeof c['key'] !== 'string') return false;
  if (typeof c['value'] !== 'string') return false;
  if (c['kind'] === 'put') return true;
  return c['kind'] === 'cas' && (c['expected'] === null || typeof c['expected'] === 'string');
}

interface DedupEntry {
  seq: number;
  result: WriteResult;
}

interface SnapshotImage {
  data: [string, string][];
  dedup: [number, number, WriteResult][];
}

export class KvStateMachine {
  private readonly data = new Map<string, string>();
  private readonly dedup = new Map<number, DedupEntry>();

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  apply(cmd: KvCommand): ApplyOutcome {
    const last = this.dedup.get(cmd.client);
    if (last !== undefined) {
      if (cmd.seq === last.seq) return { status: 'duplicate', result: last.result };
      if (cmd.seq < last.seq) return { status: 'stale' };
    }
    let result: WriteResult;
    if (cmd.kind === 'put') {
      this.data.set(cmd.key, cmd.value);
      result = { kind: 'put' };
    } else {
      const ok = (this.data.get(cmd.key) ?? null) === cmd.expected;
      if (ok) this.data.set(cmd.key, cmd.value);
      result = { kind: 'cas', ok };
    }
    this.dedup.set(cmd.client, { seq: cmd.seq, result });
    return { status: 'applied', result };
  }

  /** Self-contained state (map + dedup table) for a raft snapshot. */
  encodeSnapshot(): Uint8Array {
    const img: SnapshotImage = {
      data: [...this.data.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
      dedup: [...this.dedup.entries()].sort((a, b) => a[0] - b[0]).map(([c, d]) => [c, d.seq, d.result]),
    };
    return encoder.encode(JSON.stringify(img));
  }

  /** Rebuilds from encodeSnapshot() output; empty data is the empty machine. */
  static fromSnapshot(bytes: Uint8Array): KvStateMachine {
    const sm = new KvStateMachine();
    if (bytes.length === 0) return sm;
    const img = JSON.parse(decoder.decode(bytes)) as SnapshotImage;
    for (const [k, v] of img.data) sm.data.set(k, v);
    for (const [c, seq, result] of img.dedup) sm.dedup.set(c, { seq, result });
    return sm;
  }

  /** A short deterministic fingerprint of the whole state (map and dedup table). */
  digest(): string {
    let h = 0x811c9dc5;
    const mix = (s: string): void => {
      for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
      h = Math.imul(h ^ 0xff, 0x01000193);
    };
    for (const k of [...this.data.keys()].sort()) {
      mix(k);
      mix(this.data.get(k)!);
    }
    for (const c of [...this.dedup.keys()].sort((a, b) => a - b)) {
      const d = this.dedup.get(c)!;
      mix(`${c}:${d.seq}:${d.result.kind === 'cas' ? String(d.result.ok) : 'p'}`);
    }
    return `${this.data.size}/${this.dedup.size}/${(h >>> 0).toString(16)}`;
  }
}
