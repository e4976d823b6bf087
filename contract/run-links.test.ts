/** What the Temporal UI shows of a run (the jest test in tests/temporal-ui-links.test.ts reads it back from a real run). */
import { SUMMARY_MAX_CHARS, runDetails, runFilesDetails, runSummary } from './run-links';

test("the summary is the task's first line, shortened, with link and markup characters escaped", () => {
  expect(runSummary('  Create a hello world python function\nwith tests\n')).toBe('Create a hello world python function');
  expect(runSummary('Write   a\tparser')).toBe('Write a parser');
  const long = runSummary('x'.repeat(500));
  expect(long).toHaveLength(SUMMARY_MAX_CHARS);
  expect(long.endsWith('…')).toBe(true);
  expect(runSummary('See [this](https://evil.example) <b>now</b>')).toBe('See \\[this\\](https://evil.example) \\<b\\>now\\</b\\>');
});

test('the details link to the run page; the current details to each file and the zip, or are empty without files', () => {
  expect(runDetails('https://app.example', 'task-1')).toBe('[Open this run in Buildstory](https://app.example/runs/task-1)');
  const sha = 'a'.repeat(64);
  expect(runFilesDetails('https://app.example', 'task-1', [{ path: 'src/hello.py', bytes: 42, sha256: sha }])).toBe(
    [
      '**Files** ([all, as a zip](https://app.example/runs/task-1/files.zip))',
      '',
      `- [\`src/hello.py\`](https://app.example/runs/task-1/files/${sha}) (42 bytes)`,
    ].join('\n'),
  );
  expect(runFilesDetails('https://app.example', 'task-1', [])).toBe('');
});
