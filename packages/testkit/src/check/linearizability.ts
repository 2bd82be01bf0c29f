// A linearizability checker: the Wing–Gong search with Lowe's memoization, as porcupine
// does it.
//
// The history is a list of entries (a call and a return per operation) sorted by time.
// The search walks that list keeping a "linearized so far" set and the model state. At a
// call entry it tries to linearize that operation now (the model must accept it); at a
// return entry whose call is not yet linearized it must backtrack, because that operation
// had to take effect before it returned. A cache of (linearized set, state) pairs already
// explored cuts the search from factorial to roughly (states x subsets actually reachable).
//
// Worked example (register, initial value ∅):
//   A: put(x,1)  [0, 10]
//   B: get(x)->∅ [2,  4]
//   C: get(x)->1 [5,  8]
// Entries: callA callB retB callC retC retA. Try A at callA: state 1. Next callB: get->∅
// fails in state 1; reach retB with B pending: backtrack (undo A). Try B at callB: ok
// (state ∅). Try A: ok (state 1). C: ok. Everything linearized: B, A, C.
//
// An operation whose outcome is unknown gets ret = +Infinity and output null: it can be
// placed anywhere after its call, including "after everything" (= it never happened).

export interface Model<S, I, O> {
  init(): S;
  /** The next state if `input` may produce `output` in `state`, else undefined.
   *  `output` null means "unknown": every output is acceptable. */
  step(state: S, input: I, output: O | null): S | undefined;
  /** Equal states must give equal keys (used by the memo cache). */
  stateKey(state: S): string;
}

export interface Operation<I, O> {
  /** The caller's id, used in results. */
  id: number;
  input: I;
  output: O | null;
  call: number;
  /** +Infinity when the outcome is unknown. */
  ret: number;
}

export type CheckResult =
  | { verdict: 'linearizable'; steps: number }
  | {
      verdict: 'violation';
      steps: number;
      /** Ids of the longest prefix the search could linearize, in linearization order. */
      longestPrefix: number[];
      /** An operation that had to be linearized next but could not be (id), if known. */
      stuckOn: number | null;
    }
  | { verdict: 'gave-up'; steps: number };

export interface CheckOptions {
  /** Search step budget; beyond it the verdict is 'gave-up'. */
  maxSteps?: number;
}

const DEFAULT_MAX_STEPS = 5_000_000;

export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  opts: CheckOptions = {},
): CheckResult {
  const maxSteps = opts.maxSteps ?? DEFAULT_MAX_STEPS;
  const n = ops.length;
  if (n === 0) return { verdict: 'linearizable', steps: 0 };
  for (const op of ops) {
    if (!(op.ret >= op.call)) throw new Error(`linearizability: op ${op.id} returns (${op.ret}) before its call (${op.call})`);
  }

  // Entry e: op = e >> 1, call when e is even, return when odd. Sort by time, calls before
  // returns at equal times (equal times count as concurrent: the weaker, safe reading).
  const order: number[] = [];
  for (let i = 0; i < 2 * n; i++) order.push(i);
  const timeOf = (e: number): number => ((e & 1) === 0 ? ops[e >> 1]!.call : ops[e >> 1]!.ret);
  order.sort((a, b) => timeOf(a) - timeOf(b) || (a & 1) - (b & 1) || a - b);

  // Doubly linked list over entries; HEAD is a sentinel, -1 ends the list.
  const HEAD = 2 * n;
  const next = new Int32Array(2 * n + 1).fill(-1);
  const prev = new Int32Array(2 * n + 1).fill(-1);
  let tail = HEAD;
  for (const e of order) {
    next[tail] = e;
    prev[e] = tail;
    tail = e;
  }
  const unlink = (e: number): void => {
    const p = prev[e]!;
    const q = next[e]!;
    next[p] = q;
    if (q !== -1) prev[q] = p;
  };
  const relink = (e: number): void => {
    const p = prev[e]!;
    const q = next[e]!;
    next[p] = e;
    if (q !== -1) prev[q] = e;
  };
  // Lifting a call removes its return too; unlift restores both in reverse order.
  const lift = (call: number): void => {
    unlink(call);
    unlink(call + 1);
  };
  const unlift = (call: number): void => {
    relink(call + 1);
    relink(call);
  };

  // Linearized set as a bitset plus a Zobrist hash of it for the cache key.
  const words = (n + 31) >>> 5;
  const bits = new Uint32Array(words);
  const zobrist = new Int32Array(n);
  let seed = 0x2545f491;
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6b43a9b5) | 0;
    zobrist[i] = seed ^ (seed >>> 13);
  }
  let zob = 0;
  const cache = new Map<string, Uint32Array[]>();
  const seen = (key: string): boolean => {
    const list = cache.get(key);
    if (list === undefined) {
      cache.set(key, [bits.slice()]);
      return false;
    }
    outer: for (const other of list) {
      for (let w = 0; w < words; w++) if (other[w] !== bits[w]) continue outer;
      return true;
    }
    list.push(bits.slice());
    return false;
  };

  const stackCall = new Int32Array(n);
  const stackState: S[] = [];
  let depth = 0;
  let state = model.init();
  let bestDepth = -1;
  let bestPrefix: number[] = [];
  let stuckOn: number | null = null;
  let steps = 0;
  let entry = next[HEAD]!;

  while (next[HEAD] !== -1) {
    if (++steps > maxSteps) return { verdict: 'gave-up', steps };
    if ((entry & 1) === 0) {
      const opIndex = entry >> 1;
      const op = ops[opIndex]!;
      const s2 = model.step(state, op.input, op.output);
      if (s2 !== undefined) {
        bits[opIndex >>> 5] |= 1 << (opIndex & 31);
        zob ^= zobrist[opIndex]!;
        if (!seen(`${zob}:${model.stateKey(s2)}`)) {
          stackCall[depth] = entry;
          stackState[depth] = state;
          depth++;
          state = s2;
          lift(entry);
          if (depth > bestDepth) {
            bestDepth = depth;
            bestPrefix = [];
            for (let d = 0; d < depth; d++) bestPrefix.push(ops[stackCall[d]! >> 1]!.id);
            stuckOn = null;
          }
          entry = next[HEAD]!;
          continue;
        }
        bits[opIndex >>> 5] &= ~(1 << (opIndex & 31));
        zob ^= zobrist[opIndex]!;
      }
      entry = next[entry]!;
    } else {
      // A return whose call is still pending: that op had to be placed already. Backtrack.
      if (depth === bestDepth && stuckOn === null) stuckOn = ops[entry >> 1]!.id;
      if (depth === 0) {
        return { verdict: 'violation', steps, longestPrefix: bestPrefix, stuckOn };
      }
      depth--;
      const call = stackCall[depth]!;
      state = stackState[depth]!;
      const opIndex = call >> 1;
      bits[opIndex >>> 5] &= ~(1 << (opIndex & 31));
      zob ^= zobrist[opIndex]!;
      unlift(call);
      entry = next[call]!;
    }
  }
  return { verdict: 'linearizable', steps };
}
