// The staging files of a MemDisk: a map of paths to bytes plus a set of directories
// (MemFiles), and the StagingFs the in-memory engine uses over them (memStagingFs). A file
// is durable once written (staging fsyncs every file today), so a crash keeps them all.
//
// Paths are POSIX-style strings; nothing touches the real filesystem. Directory listings
// are sorted, unique names come from a counter kept on the disk: both deterministic.
import { posix } from 'node:path';
import type { StagingFs } from './staging-fs.js';

function fsError(code: string, op: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${op} '${path}' on the in-memory disk`), { code });
}

export class MemFiles {
  private readonly files = new Map<string, Buffer>();
  private readonly dirs = new Set<string>(['/']);
  private uniqueSeq = 0;

  mkdirp(dir: string): void {
    for (let d = posix.resolve(dir); !this.dirs.has(d); d = posix.dirname(d)) this.dirs.add(d);
  }

  mkdirUnique(parent: string, prefix: string): string {
    const p = posix.resolve(parent);
    if (!this.dirs.has(p)) throw fsError('ENOENT', 'mkdir in', p);
    const name = `${prefix}${(this.uniqueSeq++).toString(16).padStart(8, '0')}`;
    this.dirs.add(posix.join(p, name));
    return name;
  }

  write(path: string, bytes: Uint8Array): void {
    const p = posix.resolve(path);
    if (!this.dirs.has(posix.dirname(p))) throw fsError('ENOENT', 'open', p);
    if (this.dirs.has(p)) throw fsError('EISDIR', 'open', p);
    this.files.set(p, Buffer.from(bytes));
  }

  isDir(path: string): boolean {
    return this.dirs.has(posix.resolve(path));
  }

  read(path: string): Buffer {
    const p = posix.resolve(path);
    const b = this.files.get(p);
    if (b === undefined) throw fsError('ENOENT', 'open', p);
    return Buffer.from(b);
  }

  list(dir: string): string[] {
    const d = posix.resolve(dir);
    if (!this.dirs.has(d)) throw fsError('ENOENT', 'scandir', d);
    const names = new Set<string>();
    for (const p of [...this.files.keys(), ...this.dirs]) {
      if (p !== d && posix.dirname(p) === d) names.add(posix.basename(p));
    }
    return [...names].sort();
  }

  removeAll(path: string): void {
    const p = posix.resolve(path);
    if (p === '/') throw fsError('EPERM', 'rm', p);
    const under = `${p}/`;
    for (const f of [...this.files.keys()]) if (f === p || f.startsWith(under)) this.files.delete(f);
    for (const d of [...this.dirs]) if (d === p || d.startsWith(under)) this.dirs.delete(d);
  }

  /** Every file and directory, sorted by path (for MemDisk.dump). */
  entries(): { dirs: string[]; files: [string, Buffer][] } {
    return {
      dirs: [...this.dirs].sort(),
      files: [...this.files.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    };
  }
}

/**
 * A StagingFs over `files` for as long as `alive()` holds. Once the disk crashed, its calls
 * never complete (the process that made them is gone) and change nothing.
 */
export function memStagingFs(files: MemFiles, alive: () => boolean): StagingFs {
  const run = <T>(op: () => T): Promise<T> => {
    if (!alive()) return new Promise<T>(() => {});
    try {
      return Promise.resolve(op());
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  };
  return {
    mkdirp: (dir) => run(() => files.mkdirp(dir)),
    mkdirUnique: (parent, prefix) => run(() => files.mkdirUnique(parent, prefix)),
    writeDurably: (path, bytes) => run(() => files.write(path, bytes)),
    syncDir: (dir) => run(() => {
      if (!files.isDir(dir)) throw fsError('ENOENT', 'open', dir);
    }),
    readFile: (path) => run(() => files.read(path)),
    readdir: (dir) => run(() => files.list(dir)),
    removeAll: (path) => run(() => files.removeAll(path)),
  };
}
