// Store-local id blocks, durable before use: `allocate()` hands out ids from a block whose
// end is fsynced (through the log writer) before any id of it is returned, so a restart
// never hands out an id twice. A crash wastes at most the rest of one block.
//
//   const ids = new IdAllocator(ctx, 'range', { first: base, limit: base + 2 ** 32, blockSize: 64 });
//   const id = await ids.allocate();
import { ColumnFamily } from './column-families.js';
import type { EngineContext } from './engine-context.js';
import { StorageError } from './errors.js';
import { readU64, writeU64 } from './keys.js';
import { WriteOps } from './write-ops.js';

export interface IdSpace {
  /** First id of the space (inclusive). */
  first: number;
  /** End of the space (exclusive). */
  limit: number;
  /** Ids reserved per durable write. */
  blockSize: number;
}

function allocatorKey(name: string): Buffer {
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(name)) throw new RangeError(`id allocator name ${JSON.stringify(name)} must be a short lowercase word`);
  return Buffer.from(`!ids/${name}`, 'latin1');
}

export class IdAllocator {
  private next = 0;
  /** End (exclusive) of the durable block. */
  private end = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly key: Buffer;

  constructor(private readonly ctx: EngineContext, name: string, private readonly space: IdSpace) {
    if (!Number.isSafeInteger(space.first) || !Number.isSafeInteger(space.limit) || space.first <= 0 || space.limit <= space.first) {
      throw new RangeError(`id space [${space.first}, ${space.limit}) is not a non-empty span of positive safe integers`);
    }
    if (!Number.isSafeInteger(space.blockSize) || space.blockSize < 1) throw new RangeError(`blockSize must be a positive integer, got ${space.blockSize}`);
    this.key = allocatorKey(name);
    const stored = ctx.db.get(ColumnFamily.Meta, this.key);
    const highWater = stored === undefined || stored.length !== 8 ? space.first : readU64(stored, 0);
    this.next = Math.max(space.first, highWater);
    this.end = this.next;
  }

  /** Next unused id; resolves once it is covered by a durable block. */
  allocate(): Promise<number> {
    const p = this.chain.then(async () => {
      if (this.next >= this.end) {
        const end = Math.min(this.next + this.space.blockSize, this.space.limit);
        if (end <= this.next) throw new StorageError('IDS_EXHAUSTED', `id space [${this.space.first}, ${this.space.limit}) is used up`);
        const v = Buffer.alloc(8);
        writeU64(v, 0, end);
        await this.ctx.writer.submit(new WriteOps(32).put(ColumnFamily.Meta, this.key, v));
        this.end = end;
      }
      return this.next++;
    });
    this.chain = p.catch(() => undefined);
    return p;
  }
}
