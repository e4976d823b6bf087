/**
 * The fault harness's artifact check (faults/artifacts.ts) against a real local store in a temp
 * dir: it passes when every recorded file is there as recorded, and it fails, naming the run, when
 * one was altered, removed or recorded with another size. A temporary file left by a writer killed
 * mid-put names no address: it is not a problem.
 */
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { LocalArtifactStore } from '../artifacts';
import { checkArtifacts } from '../faults/artifacts';
import { artifactLine } from '../faults/report';

test('every recorded file read back and compared: all match, then each kind of mismatch fails', async () => {
  const root = mkdtempSync(join(tmpdir(), 'buildstory-fault-artifacts-'));
  try {
    const store = new LocalArtifactStore({ root, encryption: null });
    const file = async (path: string, text: string) => ({ path, ...(await store.put(Buffer.from(text))) });
    const greet = await file('greet.py', 'def greet() -> str:\n    return "Hello, world!"\n');
    const test = await file('test_greet.py', 'import unittest\n');
    const buggy = await file('greet.py', 'def greet() -> str:\n    return "Hello world!"\n');
    const runs = [
      { index: 0, artifacts: [greet, test] },
      // Two rounds: the buggy greet.py, then the fix; the test file recorded by both counts once.
      { index: 3, artifacts: [buggy, test, greet, test] },
      { index: 5, artifacts: [] },
    ];
    // A writer killed mid-put leaves a temporary file beside the addresses, never a file at one.
    writeFileSync(join(dirname(store.pathOf(greet.sha256)), `.${greet.sha256.slice(2, 14)}.1234.abcdef.tmp`), 'def gr');

    const clean = await checkArtifacts(store, runs);
    expect(clean).toEqual({ store: `local directory ${root}`, runs: 2, files: 5, problems: [] });
    expect(artifactLine(clean)).toMatch(/^Artifacts checked: 5 files of 2 runs, all match/);

    writeFileSync(store.pathOf(greet.sha256), 'def greet():\n    return "tampered"\n');
    rmSync(store.pathOf(buggy.sha256));
    const broken = await checkArtifacts(store, [...runs, { index: 7, artifacts: [{ ...test, bytes: test.bytes + 1 }] }]);
    expect(broken.files).toBe(6);
    expect(broken.problems).toEqual([
      expect.stringMatching(/^run 0: artifact greet\.py \(\w{12}…\) does not match its record: Artifact \w+ is corrupt/),
      expect.stringMatching(/^run 3: artifact greet\.py \(\w{12}…\) does not match its record: missing$/),
      expect.stringMatching(/^run 3: artifact greet\.py \(\w{12}…\) does not match its record: Artifact \w+ is corrupt/),
      `run 7: artifact test_greet.py (${test.sha256.slice(0, 12)}…) does not match its record: recorded as ${test.bytes + 1} bytes, stored ${test.bytes}`,
    ]);
    expect(artifactLine(broken)).toMatch(/^Artifacts checked: 6 files of 3 runs, 4 do not match/);

    // Cut short at its address (what a non-atomic write killed midway would leave): caught too.
    writeFileSync(store.pathOf(greet.sha256), 'def greet() -> str:\n    return "Hello, world!"\n');
    truncateSync(store.pathOf(test.sha256), 3);
    expect((await checkArtifacts(store, [runs[0]])).problems).toEqual([
      expect.stringMatching(/^run 0: artifact test_greet\.py .* is corrupt/),
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
