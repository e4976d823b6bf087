/** The prompts for verification: the planner marks the code step, a code step asks for File: blocks, a later round carries the failure. */
import type { Plan, StepInput, VerificationReport } from '../../contract/data';
import { extractFiles } from '../verify/files';
import { planMessages, stepMessages } from './prompts';

const PLAN: Plan = {
  summary: 'Write it',
  steps: [
    { title: 'Pin down the requirements', instructions: 'List them.' },
    { title: 'Write the Python code', instructions: 'Implement it with a test.', code: { language: 'python' } },
  ],
};
const input = (stepIndex: number, verification?: StepInput['verification']): StepInput => ({
  task: 'Create a hello world python function',
  plan: PLAN,
  stepIndex,
  digest: '',
  ...(verification ? { verification } : {}),
});
const text = (messages: { content: string }[]) => messages.map((m) => m.content).join('\n');

test('the planner is asked to mark the one code step with its language', () => {
  expect(text(planMessages('x'))).toContain('"code": {"language": "python" | "node" | "bash"}');
});

test('a code step asks for each file under a File: line, with tests, in the format extractFiles reads', () => {
  const prompt = text(stepMessages(input(1)));
  expect(prompt).toContain('`File: <relative path>` directly above the block');
  expect(prompt).toContain('test_<name>.py using unittest');
  // The example the prompt gives is one extractFiles takes.
  expect(extractFiles('File: src/a.py\n```python\nx = 1\n```').files).toEqual([{ path: 'src/a.py', content: 'x = 1\n' }]);
  expect(text(stepMessages(input(0)))).not.toContain('File:');
});

test('a later round carries the failed report: its summary, command and the end of its output, bounded', () => {
  const previous: VerificationReport = {
    verdict: 'failed',
    summary: '1 of 1 tests failed.',
    language: 'python',
    round: 1,
    command: ['python3', '-m', 'pytest', '-q'],
    tests: { passed: 0, failed: 1, total: 1 },
    exitCode: 1,
    outcome: 'exited',
    stdoutTail: `${'x'.repeat(5_000)}\nAssertionError: 'Hello world!' != 'Hello, world!'`,
    stderrTail: '',
    durationMs: 300,
    files: [],
  };
  const prompt = text(stepMessages(input(1, { round: 2, previous })));
  expect(prompt).toContain('Round 2: the tests of your last version did not pass. 1 of 1 tests failed.');
  expect(prompt).toContain('Command: python3 -m pytest -q');
  expect(prompt).toContain("AssertionError: 'Hello world!' != 'Hello, world!'");
  expect(prompt).toContain('Write all the files again, corrected.');
  expect(prompt.length).toBeLessThan(text(stepMessages(input(1))).length + 2_000);
});
