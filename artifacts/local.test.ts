/**
 * The local directory store: the shared contract, its layout, concurrent puts, and a writer killed
 * with SIGKILL in the middle of a large artifact.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from '../devstack/processes';
import { LocalArtifactStore } from './local';
import { sha256Hex } from './store';
import { describeStoreContract } from './testing/store-suite';

const newRoot = () => mkdtempSync(join(tmpdir(), 'buildstory-artifacts-'));
/** Every file under `root`, as paths relative to it. */
const filesUnder = (root: string) =>
  readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(root.length + 1))
    .sort();

describeStoreContract('local directory', () => {
  const root = newRoot();
  const at = (sha256: string) => new LocalArtifactStore({ root, encryption: null }).pathOf(sha256);
  return {
    store: (encryption) => new LocalArtifactStore({ root, encryption }),
    readStored: (sha256) => readFile(at(sha256)),
    writeStored: async (sha256, bytes) => {
      await mkdir(dirname(at(sha256)), { recursive: true });
      await writeFile(at(sha256), bytes);
    },
  };
});

describe('local directory store', () => {
  test('an artifact is <root>/ab/cdef..., and nothing else is left behind', async () => {
    const root = newRoot();
    const store = new LocalArtifactStore({ root, encryption: null });
    const { sha256 } = await store.put(Buffer.from('report\n'));
    expect(filesUnder(root)).toEqual([join(sha256.slice(0, 2), sha256.slice(2))]);
  });

  test('concurrent puts of the same content all succeed and store it once', async () => {
    const root = newRoot();
    const bytes = randomBytes(2 << 20);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => new LocalArtifactStore({ root, encryption: null }).put(i % 2 ? bytes : Buffer.from(bytes))),
    );
    expect(new Set(results.map((r) => r.sha256))).toEqual(new Set([sha256Hex(bytes)]));
    expect(filesUnder(root)).toHaveLength(1);
    expect((await new LocalArtifactStore({ root, encryption: null }).get(results[0].sha256))?.equals(bytes)).toBe(true);
  });

  test('a writer killed mid-write leaves nothing at the address; a later put stores it, and the sweep removes the leftover', async () => {
    const root = newRoot();
    const bytes = randomBytes(96 << 20);
    const sha256 = sha256Hex(bytes);
    const source = join(newRoot(), 'big.bin');
    writeFileSync(source, bytes);
    const store = new LocalArtifactStore({ root, encryption: null });
    const target = store.pathOf(sha256);

    // Node itself with tsx as a loader: the `tsx` command would be a parent we killed while its child wrote on.
    const writer = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'artifacts', 'testing', 'put-file.ts')], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, ARTIFACTS_ROOT: root, SOURCE_FILE: source },
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => writer.once('exit', (_code, signal) => resolve(signal)));
    // Kill it the moment its temporary file appears: it is then writing 96 MiB, and fsyncing them.
    const dir = dirname(target);
    const deadline = Date.now() + 60_000;
    while (!(existsSync(dir) && readdirSync(dir).some((name) => name.endsWith('.tmp')))) {
      if (Date.now() > deadline || writer.exitCode !== null) throw new Error('the writer never started writing');
      await sleep(1);
    }
    writer.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    // Nothing writes on behind our back (a surviving child would rename its file into place).
    await sleep(500);

    expect(existsSync(target)).toBe(false);
    expect(await store.has(sha256)).toBe(false);
    expect(await store.get(sha256)).toBeNull();
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toHaveLength(1);

    expect(await store.put(bytes)).toEqual({ sha256, bytes: bytes.length });
    expect((await store.get(sha256))?.equals(bytes)).toBe(true);
    expect(await store.sweepTemporaryFiles()).toBe(0); // Too recent to be a dead writer's.
    expect(await store.sweepTemporaryFiles(0)).toBe(1);
    expect(filesUnder(root)).toEqual([join(sha256.slice(0, 2), sha256.slice(2))]);
  });
});
