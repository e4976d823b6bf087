/**
 * Zod schemas for what crosses a trust boundary: the task a user submits, the plan a model
 * returns. Server side only (the web server, the activities, the workflow): zod stays out of the
 * browser. Each schema parses to its type in ./data; the checks at the bottom keep them in step.
 */
import { z } from 'zod';
import { LIMITS, cleanText, type Plan, type PlanStep, type TaskInput } from './data';

export const TaskTextSchema = z
  .string({ required_error: 'Describe the task.', invalid_type_error: 'Describe the task.' })
  .transform(cleanText)
  .pipe(
    z
      .string()
      .trim()
      .min(1, 'Describe the task: it cannot be empty.')
      .max(LIMITS.taskMaxChars, `Keep the task to ${LIMITS.taskMaxChars} characters or fewer.`),
  );

export const TaskInputSchema = z.object({
  task: TaskTextSchema,
});

export const PlanStepSchema = z.object({
  title: z.string().trim().min(1).max(LIMITS.stepTitleMaxChars).describe('A short imperative title for the step'),
  instructions: z.string().trim().max(LIMITS.stepInstructionsMaxChars).describe('What to produce in this step, in one or two sentences'),
});

export const PlanSchema = z.object({
  summary: z.string().trim().max(LIMITS.stepInstructionsMaxChars).describe('One sentence: how the task will be done'),
  steps: z
    .array(PlanStepSchema)
    .min(LIMITS.planMinSteps, 'The plan has no steps.')
    .max(LIMITS.planMaxSteps, `The plan has more than ${LIMITS.planMaxSteps} steps.`)
    .describe(`Between ${LIMITS.planMinSteps} and ${LIMITS.planMaxSteps} steps, in order`),
});

// A schema that no longer parses to its type in ./data fails the type check here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type SchemasMatchTypes = [
  Assert<Same<z.infer<typeof TaskInputSchema>, TaskInput>>,
  Assert<Same<z.infer<typeof PlanStepSchema>, PlanStep>>,
  Assert<Same<z.infer<typeof PlanSchema>, Plan>>,
];
