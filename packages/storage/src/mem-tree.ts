// MemTree: an immutable sorted map of Buffer keys (bytewise order, like RocksDB's default
// comparator) to Buffer values. `set` and `delete` return a new tree sharing every node
// they did not touch (path copying), so keeping an old tree is a free snapshot: that is
// how MemDb's cursors see one consistent view and how MemDisk keeps "the state after
// write N" for every write not yet durable.
//
// A treap whose priorities are a hash of the key, not random numbers: the shape depends
// only on the set of keys, so the same writes always build the same tree (determinism),
// and the expected depth is O(log n) for any key set that is not built against the hash.
//
//   let t = MemTree.EMPTY.set(k1, v1).set(k2, v2);
//   const view = t;                 // a snapshot
//   t = t.delete(k1);               // view still holds k1
//   for (const it = view.iterate({ gte: k0 }); ; ) { const kv = it.next(); if (!kv) break; ... }
import type { KeyValue } from './db.js';

interface Node {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly prio: number;
  readonly left: Node | null;
  readonly right: Node | null;
}

/** 32-bit FNV-1a of the key, then murmur3's finalizer so every input bit moves the top bits. */
function priority(key: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function node(key: Buffer, value: Buffer, prio: number, left: Node | null, right: Node | null): Node {
  return { key, value, prio, left, right };
}

function withLeft(n: Node, left: Node | null): Node {
  return left === n.left ? n : node(n.key, n.value, n.prio, left, n.right);
}

function withRight(n: Node, right: Node | null): Node {
  return right === n.right ? n : node(n.key, n.value, n.prio, n.left, right);
}

/** Splits `n` into keys < key and keys > key (`key` itself must not be in `n`). */
function split(n: Node | null, key: Buffer): [Node | null, Node | null] {
  if (n === null) return [null, null];
  if (Buffer.compare(key, n.key) < 0) {
    const [l, r] = split(n.left, key);
    return [l, withLeft(n, r)];
  }
  const [l, r] = split(n.right, key);
  return [withRight(n, l), r];
}

/** Joins two treaps where every key of `a` is below every key of `b`. */
function merge(a: Node | null, b: Node | null): Node | null {
  if (a === null) return b;
  if (b === null) return a;
  if (a.prio >= b.prio) return withRight(a, merge(a.right, b));
  return withLeft(b, merge(a, b.left));
}

function insert(n: Node | null, key: Buffer, value: Buffer, prio: number): Node {
  // A node for `key` has priority `prio`, so it is never below a node of lower priority:
  // once we reach one (or the bottom), `key` is not in this subtree and goes on top of it.
  if (n === null || prio > n.prio) {
    const [l, r] = split(n, key);
    return node(key, value, prio, l, r);
  }
  const c = Buffer.compare(key, n.key);
  if (c === 0) return node(key, value, prio, n.left, n.right);
  return c < 0 ? withLeft(n, insert(n.left, key, value, prio)) : withRight(n, insert(n.right, key, value, prio));
}

function remove(n: Node | null, key: Buffer): Node | null {
  if (n === null) return null;
  const c = Buffer.compare(key, n.key);
  if (c === 0) return merge(n.left, n.right);
  return c < 0 ? withLeft(n, remove(n.left, key)) : withRight(n, remove(n.right, key));
}

export interface TreeSpan {
  /** Inclusive lower bound. */
  gte: Buffer;
  /** Exclusive upper bound; undefined = none. */
  lt?: Buffer | undefined;
  reverse?: boolean | undefined;
}

/** Walks one tree (a fixed snapshot) over a span. Rows are the stored buffers: copy before handing them out. */
export class TreeIterator {
  private readonly stack: Node[] = [];

  constructor(root: Node | null, private readonly span: TreeSpan) {
    const { gte, lt } = span;
    let n = root;
    if (span.reverse === true) {
      // Path to the last key < lt: every node on it with key < lt is a candidate.
      while (n !== null) {
        if (lt === undefined || Buffer.compare(n.key, lt) < 0) {
          this.stack.push(n);
          n = n.right;
        } else {
          n = n.left;
        }
      }
    } else {
      while (n !== null) {
        if (Buffer.compare(n.key, gte) >= 0) {
          this.stack.push(n);
          n = n.left;
        } else {
          n = n.right;
        }
      }
    }
  }

  next(): KeyValue | null {
    const t = this.stack.pop();
    if (t === undefined) return null;
    if (this.span.reverse === true) {
      if (Buffer.compare(t.key, this.span.gte) < 0) {
        this.stack.length = 0;
        return null;
      }
      for (let n = t.left; n !== null; n = n.right) this.stack.push(n);
    } else {
      if (this.span.lt !== undefined && Buffer.compare(t.key, this.span.lt) >= 0) {
        this.stack.length = 0;
        return null;
      }
      for (let n = t.right; n !== null; n = n.left) this.stack.push(n);
    }
    return { key: t.key, value: t.value };
  }
}

export class MemTree {
  static readonly EMPTY = new MemTree(null);

  private constructor(private readonly root: Node | null) {}

  get(key: Buffer): Buffer | undefined {
    let n = this.root;
    while (n !== null) {
      const c = Buffer.compare(key, n.key);
      if (c === 0) return n.value;
      n = c < 0 ? n.left : n.right;
    }
    return undefined;
  }

  /** A tree with `key` set to `value`; both are kept as given (the caller hands over copies). */
  set(key: Buffer, value: Buffer): MemTree {
    return new MemTree(insert(this.root, key, value, priority(key)));
  }

  delete(key: Buffer): MemTree {
    const r = remove(this.root, key);
    return r === this.root ? this : new MemTree(r);
  }

  get isEmpty(): boolean {
    return this.root === null;
  }

  iterate(span: TreeSpan): TreeIterator {
    return new TreeIterator(this.root, span);
  }
}
