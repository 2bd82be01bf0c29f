// Linearizability of a KV history: one register per key (put, get, compare-and-set),
// checked key by key. Operations on distinct keys commute, so a history is linearizable
// iff each key's sub-history is (linearizability is compositional), and the per-key
// searches are far smaller than one search over everything.
import { formatOp, formatResult, type HistoryOp, type KvOp, type KvResult } from '../history.js';
import { checkOperations, type Model, type Operation } from './linearizability.js';

/** A register's value; null = the key is absent (never written). */
export type RegisterState = string | null;

/** put / get / cas on one key. Unknown outputs (null) accept whatever the state allows. */
export const registerModel: Model<RegisterState, KvOp, KvResult> = {
  init: () => null,
  step(state, input, output) {
    switch (input.kind) {
      case 'put':
        return input.value;
      case 'get':
        if (output === null) return state;
        return output.kind === 'get' && output.value === state ? state : undefined;
      case 'cas': {
        const match = state === input.expected;
        if (output !== null && (output.kind !== 'cas' || output.ok !== match)) return undefined;
        return match ? input.value : state;
      }
    }
  },
  stateKey: (state) => (state === null ? '\u0000' : `=${state}`),
};

export interface KvCheckOptions {
  /** Step budget per key; a key that exceeds it makes the verdict 'gave-up'. */
  maxStepsPerKey?: number;
}

export type KvCheckResult =
  | { verdict: 'linearizable'; keys: number; ops: number; steps: number }
  | { verdict: 'violation'; key: string; explanation: string }
  | { verdict: 'gave-up'; key: string; ops: number; steps: number };

/**
 * Checks a recorded KV history. Reads that never returned are dropped (they constrain
 * nothing); writes that never returned may have taken effect at any time after their call.
 */
export function checkKvHistory(history: readonly HistoryOp[], opts: KvCheckOptions = {}): KvCheckResult {
  const byKey = new Map<string, Operation<KvOp, KvResult>[]>();
  for (const h of history) {
    if (h.returnTime === null && h.op.kind === 'get') continue;
    let list = byKey.get(h.op.key);
    if (list === undefined) byKey.set(h.op.key, (list = []));
    list.push({ id: h.id, input: h.op, output: h.result, call: h.invokeTime, ret: h.returnTime ?? Infinity });
  }
  let steps = 0;
  let total = 0;
  for (const key of [...byKey.keys()].sort()) {
    const ops = dropUnobservableWrites(byKey.get(key)!);
    total += ops.length;
    const r = checkOperations(registerModel, ops, { maxSteps: opts.maxStepsPerKey ?? 2_000_000 });
    steps += r.steps;
    if (r.verdict === 'gave-up') return { verdict: 'gave-up', key, ops: ops.length, steps: r.steps };
    if (r.verdict === 'violation') {
      return { verdict: 'violation', key, explanation: explain(key, history, r.longestPrefix, r.stuckOn) };
    }
  }
  return { verdict: 'linearizable', keys: byKey.size, ops: total, steps };
}

/**
 * Removes unknown-outcome writes whose value nobody could have observed. Each such write
 * is optional anyway, and none of its effects can be seen: no read returned its value, no
 * CAS expected it, and (when no CAS on the key is known to have failed) nothing else can
 * tell whether the register briefly held it. So a linearization exists with it iff one
 * exists without it (place it last). Unknown writes are the checker's worst case (each
 * doubles the reachable subsets), and a run with timeouts has many, so this matters.
 */
export function dropUnobservableWrites(ops: Operation<KvOp, KvResult>[]): Operation<KvOp, KvResult>[] {
  const observed = new Set<string>();
  for (const o of ops) {
    if (o.output?.kind === 'cas' && !o.output.ok) return ops;
    if (o.output?.kind === 'get' && o.output.value !== null) observed.add(o.output.value);
    if (o.input.kind === 'cas' && o.input.expected !== null) observed.add(o.input.expected);
  }
  return ops.filter((o) => o.output !== null || o.input.kind === 'get' || observed.has(o.input.value));
}

/** A readable account of where the search got stuck for one key. */
function explain(key: string, history: readonly HistoryOp[], prefix: readonly number[], stuckOn: number | null): string {
  const byId = new Map(history.map((h) => [h.id, h]));
  let state: RegisterState = null;
  for (const id of prefix) {
    const h = byId.get(id)!;
    state = registerModel.step(state, h.op, h.result) ?? state;
  }
  const lines: string[] = [];
  lines.push(`key ${key}: no linearization exists.`);
  lines.push(`longest linearizable prefix: ${prefix.length} ops, leaving ${key} = ${state ?? '∅'}`);
  const tail = prefix.slice(-6);
  for (const id of tail) lines.push(`  ... ${describe(byId.get(id)!)}`);
  if (stuckOn !== null) {
    const s = byId.get(stuckOn)!;
    lines.push(`cannot place next: ${describe(s)}`);
    const done = new Set(prefix);
    const end = s.returnTime ?? Infinity;
    const concurrent = history.filter(
      (h) => h.op.key === key && !done.has(h.id) && h.id !== s.id && h.invokeTime <= end &&
        (h.returnTime === null ? h.op.kind !== 'get' : true),
    );
    if (concurrent.length > 0) {
      lines.push('other unplaced ops invoked before it returned:');
      for (const h of concurrent.slice(0, 12)) lines.push(`  ${describe(h)}`);
    }
  }
  return lines.join('\n');
}

export function describe(h: HistoryOp): string {
  const ret = h.returnTime === null ? '?' : String(h.returnTime);
  return `#${h.id} client ${h.client} [${h.invokeTime}, ${ret}] ${formatOp(h.op)} -> ${formatResult(h.result)}`;
}
