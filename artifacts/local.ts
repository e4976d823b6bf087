/**
 * Artifacts in a local directory (`.data/artifacts` by default): `<root>/ab/cdef...`, the first two
 * hex digits of the address as a folder. Good for one machine, or several processes sharing one
 * volume (docker-compose.yml mounts one into the worker and the web app).
 *
 * A put writes a temporary file in the destination folder, fsyncs it, renames it to the address
 * and fsyncs the folder: a process killed mid-write leaves at most a `.…tmp` file (which no address
 * names, and sweepTemporaryFiles removes), never a partial file at the address. Concurrent puts of
 * the same content each write their own temporary file; the renames replace like with like.
 */
import { randomBytes } from 'node:crypto';
import { access, mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { EncryptionKeys } from '../codec';
import { fromStored, toStored } from './sealing';
import { checkAddress, sha256Hex, type ArtifactStore, type StoredArtifact } from './store';

/** Written in slices so that a large artifact never needs a second copy in the kernel's write path at once. */
const WRITE_SLICE = 1 << 20;
const TEMP_SUFFIX = '.tmp';

export interface LocalStoreOptions {
  root: string;
  /** The payload encryption keys; null: artifacts are stored as they are. */
  encryption: EncryptionKeys | null;
}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

export class LocalArtifactStore implements ArtifactStore {
  readonly root: string;
  private readonly encryption: EncryptionKeys | null;

  constructor({ root, encryption }: LocalStoreOptions) {
    this.root = root;
    this.encryption = encryption;
  }

  get description(): string {
    return `local directory ${this.root}`;
  }

  /** The file that holds the artifact at `sha256`. */
  pathOf(sha256: string): string {
    checkAddress(sha256);
    return join(this.root, sha256.slice(0, 2), sha256.slice(2));
  }

  async put(bytes: Uint8Array): Promise<StoredArtifact> {
    const sha256 = sha256Hex(bytes);
    const stored = { sha256, bytes: bytes.byteLength };
    const target = this.pathOf(sha256);
    if (await this.exists(target)) return stored;
    const dir = dirname(target);
    await mkdir(dir, { recursive: true });
    const temp = join(dir, `.${sha256.slice(2, 14)}.${process.pid}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
    try {
      await writeDurably(temp, toStored(bytes, sha256, this.encryption));
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    await syncDir(dir);
    return stored;
  }

  async get(sha256: string): Promise<Buffer | null> {
    let stored: Buffer;
    try {
      stored = await readFile(this.pathOf(sha256));
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    return fromStored(stored, sha256, this.encryption);
  }

  async has(sha256: string): Promise<boolean> {
    return this.exists(this.pathOf(sha256));
  }

  /**
   * Remove temporary files that writers killed mid-write left behind, older than `olderThanMs` (an
   * hour by default, far beyond any live write); returns how many were removed.
   */
  async sweepTemporaryFiles(olderThanMs = 3_600_000): Promise<number> {
    let removed = 0;
    const cutoff = Date.now() - olderThanMs;
    const folders = await readdir(this.root).catch((err: unknown) => (isMissing(err) ? [] : Promise.reject(err)));
    for (const folder of folders) {
      if (!/^[0-9a-f]{2}$/.test(folder)) continue;
      for (const name of await readdir(join(this.root, folder))) {
        if (!name.startsWith('.') || !name.endsWith(TEMP_SUFFIX)) continue;
        const path = join(this.root, folder, name);
        const info = await stat(path).catch(() => null);
        if (info && info.mtimeMs <= cutoff) {
          await rm(path, { force: true });
          removed++;
        }
      }
    }
    return removed;
  }

  private async exists(path: string): Promise<boolean> {
    try {
      await access(path);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }
}

/** Create `path` (it must not exist) with `data`, flushed to disk before this returns. */
async function writeDurably(path: string, data: Buffer): Promise<void> {
  const file = await open(path, 'wx', 0o640);
  try {
    for (let offset = 0; offset < data.length; offset += WRITE_SLICE) {
      const end = Math.min(offset + WRITE_SLICE, data.length);
      let written = offset;
      while (written < end) written += (await file.write(data, written, end - written)).bytesWritten;
    }
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Make a rename in `dir` durable (the directory entry itself is flushed). */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
