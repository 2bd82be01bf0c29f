// How a store process is started: V8 and glibc malloc settings that keep its memory down
// (store README, "Memory"). They only take effect at process start, so whoever spawns a
// store applies them: the rangekv CLI (`rangekv store`, `rangekv dev`), the test and bench
// spawners. The operator's own settings win: a GLIBC_TUNABLES already in the environment,
// or a semi-space size (or --expose-gc) already in NODE_OPTIONS, is left as it is.

/**
 * V8's young generation: semi-spaces of at most 8 MiB (Node's default on 64-bit is 16),
 * so the new space of a busy store holds at most 16 MiB, not 32. `--expose-gc`: the
 * store's MallocTrimmer runs one full collection when memory went quiet after a burst
 * (malloc-trim.ts, "reclaim").
 */
export const STORE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--expose-gc'];

/**
 * glibc malloc: allocations of 128 KiB or more (RocksDB memtable blocks, large write
 * batches and messages) are mmapped and unmapped on free. Without a fixed threshold glibc
 * raises it to the largest block freed (up to 32 MiB), after which those blocks live in its
 * heaps and leave holes there when freed; the top of a heap is returned past 128 KiB free.
 */
export const STORE_GLIBC_TUNABLES = 'glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072';

/** Node arguments before the store's script: ours, less those NODE_OPTIONS already sets. */
export function storeNodeFlags(env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  const own = env.NODE_OPTIONS ?? '';
  return STORE_NODE_FLAGS.filter((f) => !(f.startsWith('--max-semi-space-size') ? /--max-semi-space-size|--max_semi_space_size/.test(own) : own.includes(f)));
}

/** The environment for a store child: `env` with our GLIBC_TUNABLES unless it has its own. */
export function storeProcessEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return env.GLIBC_TUNABLES !== undefined ? env : { ...env, GLIBC_TUNABLES: STORE_GLIBC_TUNABLES };
}
