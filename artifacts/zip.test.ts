/** "Download all": the zip holds every file at its path with its bytes, and refuses what it cannot vouch for. */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { unzipSync } from 'fflate';
import { LocalArtifactStore } from './local';
import type { ArtifactRef } from './ref';
import { ArtifactIntegrityError } from './store';
import { zipArtifacts } from './zip';
import { keysOf } from './testing/store-suite';

const newStore = () =>
  new LocalArtifactStore({ root: mkdtempSync(join(tmpdir(), 'buildstory-zip-')), encryption: keysOf({ k: randomBytes(32) }, 'k') });

async function refsFor(store: LocalArtifactStore, files: Record<string, Buffer>): Promise<ArtifactRef[]> {
  return Promise.all(Object.entries(files).map(async ([path, bytes]) => ({ path, ...(await store.put(bytes)) })));
}

describe('zipArtifacts', () => {
  test("a run's files, each at its path with its bytes, readable by another zip implementation too", async () => {
    const store = newStore();
    const files = {
      'src/app.ts': Buffer.from('export const answer = 42;\n'.repeat(500)),
      'tests/app.test.ts': Buffer.from("import { answer } from '../src/app';\n"),
      'report.md': Buffer.from('# Verification\n\nAll green.\n'),
      'assets/logo.bin': randomBytes(300_000),
      'empty.txt': Buffer.alloc(0),
    };
    const zip = await buffer(zipArtifacts(store, await refsFor(store, files)));

    const unpacked = unzipSync(new Uint8Array(zip));
    expect(Object.keys(unpacked).sort()).toEqual(Object.keys(files).sort());
    for (const [path, bytes] of Object.entries(files)) expect(Buffer.from(unpacked[path]).equals(bytes)).toBe(true);

    // Python's zipfile checks every entry's CRC.
    const file = join(mkdtempSync(join(tmpdir(), 'buildstory-zip-')), 'run.zip');
    writeFileSync(file, zip);
    const check = spawnSync('python3', ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.testzip())', file], {
      encoding: 'utf8',
    });
    expect(check.stdout.trim()).toBe('None');
  });

  test('no files: an empty zip', async () => {
    const zip = await buffer(zipArtifacts(newStore(), []));
    expect(Object.keys(unzipSync(new Uint8Array(zip)))).toEqual([]);
  });

  test('a missing or corrupt artifact fails the stream instead of leaving a file out', async () => {
    const store = newStore();
    const [ref] = await refsFor(store, { 'a.txt': Buffer.from('a\n') });
    const missing = { path: 'b.txt', bytes: 2, sha256: 'b'.repeat(64) };
    await expect(buffer(zipArtifacts(store, [ref, missing]))).rejects.toThrow(/b\.txt .* is not in the store/);
    await expect(buffer(zipArtifacts(store, [{ ...ref, bytes: 3 }]))).rejects.toThrow(ArtifactIntegrityError);
    writeFileSync(store.pathOf(ref.sha256), 'tampered');
    await expect(buffer(zipArtifacts(store, [ref]))).rejects.toThrow(ArtifactIntegrityError);
  });

  test('paths that could escape the folder it is unpacked into, or repeat, are refused before anything is read', () => {
    const store = newStore();
    const ref = { bytes: 1, sha256: 'a'.repeat(64) };
    for (const path of ['../etc/passwd', '/abs.txt', 'a/../b', 'a//b', 'a\\b', '', 'nul\u0000.txt']) {
      expect(() => zipArtifacts(store, [{ ...ref, path }])).toThrow(RangeError);
    }
    expect(() =>
      zipArtifacts(store, [
        { ...ref, path: 'x' },
        { ...ref, path: 'x' },
      ]),
    ).toThrow(/listed twice/);
  });
});
