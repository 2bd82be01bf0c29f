// StagingFs: the few file operations snapshot staging needs (snapshot-staging.ts), so the
// same staging code runs on the real filesystem (nodeStagingFs, here) and on a MemDisk
// (mem-disk.ts, where a staged file is durable once written).
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface StagingFs {
  /** Creates `dir` and any missing parents. */
  mkdirp(dir: string): Promise<void>;
  /** Creates a new directory in `parent` (which must exist) named `prefix` + a suffix no entry of `parent` has; returns its name. */
  mkdirUnique(parent: string, prefix: string): Promise<string>;
  /** Writes a file and makes its contents durable (its name: syncDir on its directory). */
  writeDurably(path: string, bytes: Uint8Array): Promise<void>;
  /** Makes the names of the files just created in `dir` durable. */
  syncDir(dir: string): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  /** Names in `dir`; rejects if `dir` does not exist. */
  readdir(dir: string): Promise<string[]>;
  /** Removes a file or a directory tree; nothing if it does not exist. */
  removeAll(path: string): Promise<void>;
}

export const nodeStagingFs: StagingFs = {
  async mkdirp(dir) {
    await mkdir(dir, { recursive: true });
  },
  async mkdirUnique(parent, prefix) {
    const name = `${prefix}${randomBytes(4).toString('hex')}`;
    await mkdir(join(parent, name));
    return name;
  },
  async writeDurably(path, bytes) {
    const fh = await open(path, 'w');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  async syncDir(dir) {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  readFile: (path) => readFile(path),
  readdir: (dir) => readdir(dir),
  removeAll: (path) => rm(path, { recursive: true, force: true }),
};
