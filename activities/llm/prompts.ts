/** Prompt building: pure functions, the same for every OpenAI-compatible model. */
import { LIMITS, type CodeLanguage, type StepInput } from '../../contract/data';

export interface ChatMessage {
  role: 'system' | 'user';
  content: string;
}

export function planMessages(task: string): ChatMessage[] {
  return [
    {
      role: 'system',
      content: [
        'You are the planner of Buildstory, an AI task runner.',
        `Break the user's task into ${LIMITS.planMinSteps} to ${LIMITS.planMaxSteps} concrete steps that, done in order, produce the deliverable.`,
        'Each step has a short imperative title and one or two sentences of instructions.',
        'If the task asks for code in Python, JavaScript (Node.js) or Bash, one step writes that code together with its tests: give it "code": {"language": "python" | "node" | "bash"}; every other step has "code": null.',
        'Answer with JSON only: {"summary": string, "steps": [{"title": string, "instructions": string, "code": {"language": string} | null}]}.',
      ].join('\n'),
    },
    { role: 'user', content: `Task: ${task}` },
  ];
}

/** The first line of the user message names the step; the test LLM server reads it too. */
export function stepHeader(input: Pick<StepInput, 'stepIndex' | 'plan'>): string {
  const step = input.plan.steps[input.stepIndex];
  return `Step ${input.stepIndex + 1} of ${input.plan.steps.length}: ${step.title}`;
}

/** How each language's tests are written and run (activities/verify/runners.ts runs them so). */
const TESTS: Record<CodeLanguage, string> = {
  python: 'Python 3 standard library only; tests in test_<name>.py using unittest (unittest.TestCase classes)',
  node: 'Node.js, CommonJS (require), built-in modules only; tests in <name>.test.js using node:test and node:assert',
  bash: 'Bash; tests in test_<name>.sh, a script that exits non-zero when a check fails',
};

/** What a failed round's report may add to the prompt: the end of its output, where the error is. */
const FAILURE_TAIL_CHARS = 1_500;

export function stepMessages(input: StepInput): ChatMessage[] {
  const step = input.plan.steps[input.stepIndex];
  const planText = input.plan.steps.map((s, i) => `${i + 1}. ${s.title}: ${s.instructions}`).join('\n');
  const code = step.code
    ? [
        `This step's code is tested in a sandbox without network: ${TESTS[step.code.language]}.`,
        'Write every file in full, each in its own fenced block, with the line `File: <relative path>` directly above the block. Include at least one test file.',
      ]
    : [];
  const retry = input.verification;
  const failure = retry
    ? [
        '',
        `Round ${retry.round}: the tests of your last version did not pass. ${retry.previous.summary}`,
        ...(retry.previous.command.length ? [`Command: ${retry.previous.command.join(' ')}`] : []),
        `Its output (end):\n\`\`\`\n${[retry.previous.stdoutTail, retry.previous.stderrTail].filter(Boolean).join('\n').slice(-FAILURE_TAIL_CHARS)}\n\`\`\``,
        'Write all the files again, corrected.',
      ]
    : [];
  return [
    {
      role: 'system',
      content: [
        'You are the executor of Buildstory, an AI task runner.',
        'Carry out exactly one step of a plan and write its output in Markdown.',
        'Be concrete: when the step asks for code, write the code in a fenced block.',
        ...code,
      ].join('\n'),
    },
    {
      role: 'user',
      content: [
        stepHeader(input),
        '',
        `Task: ${input.task}`,
        '',
        `Plan:\n${planText}`,
        '',
        input.digest ? `Output of earlier steps (abridged):\n${input.digest}` : 'This is the first step.',
        '',
        `Now do step ${input.stepIndex + 1}: ${step.instructions || step.title}`,
        ...failure,
      ].join('\n'),
    },
  ];
}
