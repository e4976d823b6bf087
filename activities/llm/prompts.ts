/** Prompt building: pure functions, the same for every OpenAI-compatible model. */
import { LIMITS, type StepInput } from '../../contract/data';

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
        'Answer with JSON only: {"summary": string, "steps": [{"title": string, "instructions": string}]}.',
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

export function stepMessages(input: StepInput): ChatMessage[] {
  const step = input.plan.steps[input.stepIndex];
  const planText = input.plan.steps.map((s, i) => `${i + 1}. ${s.title}: ${s.instructions}`).join('\n');
  return [
    {
      role: 'system',
      content: [
        'You are the executor of Buildstory, an AI task runner.',
        'Carry out exactly one step of a plan and write its output in Markdown.',
        'Be concrete: when the step asks for code, write the code in a fenced block.',
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
      ].join('\n'),
    },
  ];
}
