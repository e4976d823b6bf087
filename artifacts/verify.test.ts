/** verifyArtifacts: what the fault suite asks of every completed run's artifacts. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactStore } from './local';
import { verifyArtifacts } from './verify';

test('all present and intact: no problems; missing, corrupt or resized: each named with why', async () => {
  const store = new LocalArtifactStore({ root: mkdtempSync(join(tmpdir(), 'buildstory-verify-')), encryption: null });
  const put = async (path: string, text: string) => ({ path, ...(await store.put(Buffer.from(text))) });
  const refs = [await put('src/a.ts', 'a\n'), await put('src/b.ts', 'bb\n'), await put('report.md', 'ok\n')];
  expect(await verifyArtifacts(store, refs)).toEqual([]);

  writeFileSync(store.pathOf(refs[1].sha256), 'tampered');
  const missing = { path: 'gone.txt', bytes: 1, sha256: 'f'.repeat(64) };
  const resized = { ...refs[2], bytes: 99 };
  expect(await verifyArtifacts(store, [refs[0], refs[1], missing, resized])).toEqual([
    { path: 'src/b.ts', sha256: refs[1].sha256, problem: expect.stringContaining('is corrupt') },
    { path: 'gone.txt', sha256: missing.sha256, problem: 'missing' },
    { path: 'report.md', sha256: refs[2].sha256, problem: 'recorded as 99 bytes, stored 3' },
  ]);
});
