/**
 * Zod schemas for what crosses a trust boundary: the task a user submits, the plan a model
 * returns. Server side only (the web server, the activities, the workflow): zod stays out of the
 * browser. Each schema parses to its type in ./data; the checks at the bottom keep them in step.
 */
import { z } from 'zod';
import {
  CODE_LANGUAGES,
  LIMITS,
  VERIFY_LIMITS,
  cleanText,
  type Plan,
  type PlanEdit,
  type PlanEditStep,
  type PlanStep,
  type ReviewRequest,
  type TaskInput,
} from './data';

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

/** The task a person submits; the other fields of TaskInput are checked where they are used. */
export const TaskInputSchema = z.object({
  task: TaskTextSchema,
});

export const PlanStepSchema = z.object({
  title: z.string().trim().min(1).max(LIMITS.stepTitleMaxChars).describe('A short imperative title for the step'),
  instructions: z.string().trim().max(LIMITS.stepInstructionsMaxChars).describe('What to produce in this step, in one or two sentences'),
  // Optional: plans made before verification have none. A model answers null for "no code" (strict
  // structured output has no optional fields): read as absent.
  code: z
    .object({ language: z.enum(CODE_LANGUAGES) })
    .nullish()
    .transform((code) => code ?? undefined),
});

export const PlanSchema = z.object({
  summary: z.string().trim().max(LIMITS.stepInstructionsMaxChars).describe('One sentence: how the task will be done'),
  steps: z
    .array(PlanStepSchema)
    .min(LIMITS.planMinSteps, 'The plan has no steps.')
    .max(LIMITS.planMaxSteps, `The plan has more than ${LIMITS.planMaxSteps} steps.`)
    .describe(`Between ${LIMITS.planMinSteps} and ${LIMITS.planMaxSteps} steps, in order`),
});

/** Text a person typed into a plan: control characters dropped, trimmed, bounded. */
function personText(field: string, max: number, required: boolean) {
  const base = z
    .string({ required_error: `${field} is missing.`, invalid_type_error: `${field} must be text.` })
    .transform(cleanText)
    .pipe(z.string().trim().max(max, `${field} is longer than ${max} characters.`));
  return required ? base.refine((text) => text.length > 0, `${field} cannot be empty.`) : base;
}

export const PlanEditStepSchema = z.object({
  from: z.number().int().nonnegative().nullable(),
  title: personText('A step title', LIMITS.stepTitleMaxChars, true),
  instructions: personText('A step instruction', LIMITS.stepInstructionsMaxChars, false),
  ask: z.boolean().optional(),
});

export const PlanEditSchema = z.object({
  steps: z.array(PlanEditStepSchema).max(LIMITS.planMaxSteps, `A plan has at most ${LIMITS.planMaxSteps} steps.`),
});

/** How long a review may wait: from one second (tests use seconds) to a year. */
/** TaskInput.verifyRounds: 0 (verification off) to VERIFY_LIMITS.roundsMax. */
export const VerifyRoundsSchema = z.number().int().min(0, 'at least 0').max(VERIFY_LIMITS.roundsMax, `at most ${VERIFY_LIMITS.roundsMax}`);

export const ReviewTimeoutSchema = z
  .number()
  .int()
  .min(1_000, 'at least one second')
  .max(366 * 24 * 60 * 60 * 1000, 'at most a year');

const TokenUsageSchema = z.object({
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  totalTokens: z.number().int().nonnegative(),
});

/** A re-run's input; its edit is checked by applyPlanEdit, its kept steps against the plan. */
export const RerunInputSchema = z
  .object({
    parent: z.object({
      workflowId: z.string().min(1).max(300),
      runId: z.string().min(1).max(100),
      fromStep: z.number().int().nonnegative(),
    }),
    plan: PlanSchema,
    model: z.object({ name: z.string().max(200), offline: z.boolean() }),
    kept: z.array(
      z.object({ output: z.string().max(LIMITS.stepOutputMaxChars), truncated: z.boolean(), usage: TokenUsageSchema.nullable() }),
    ),
    edit: z.unknown(),
    by: z.string().max(200).nullable(),
  })
  .refine((rerun) => rerun.parent.fromStep < rerun.plan.steps.length, 'it starts after the last step of the plan')
  .refine((rerun) => rerun.kept.length === rerun.parent.fromStep, 'it must keep exactly the steps before the one it starts from');

/** Fair share (TaskInput.queue): whose run it is and the deployment's limits. */
export const QueueInputSchema = z
  .object({
    owner: z.string().min(1).max(200),
    perUser: z.number().int().min(1).max(100_000),
    total: z.number().int().min(1).max(100_000),
    checkIntervalMs: z.number().int().min(100).max(86_400_000).optional(),
  })
  .strict();

/** A run's limits (TaskInput.budget): each positive, the step limit within the plan's bounds. */
export const BudgetSchema = z
  .object({
    tokens: z.number().int().positive().optional(),
    cost: z.number().positive().finite().optional(),
    timeMs: z.number().int().min(1_000, 'time: at least one second').optional(),
    steps: z.number().int().min(1).max(LIMITS.planMaxSteps).optional(),
  })
  .strict();

export const ReviewRequestSchema = z.discriminatedUnion('decision', [
  z.object({
    decision: z.literal('approve'),
    requestId: z.string().min(1).max(100),
    revision: z.number().int().positive(),
    by: z.string().max(200).nullable(),
    edit: PlanEditSchema.optional(),
    budget: BudgetSchema.optional(),
  }),
  z.object({
    decision: z.literal('reject'),
    requestId: z.string().min(1).max(100),
    revision: z.number().int().positive(),
    by: z.string().max(200).nullable(),
    reason: personText('The reason', LIMITS.messageMaxChars, true),
  }),
]);

// A schema that no longer parses to its type in ./data fails the type check here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type SchemasMatchTypes = [
  Assert<Same<z.infer<typeof TaskInputSchema>, Pick<TaskInput, 'task'>>>,
  Assert<Same<z.infer<typeof PlanEditStepSchema>, PlanEditStep>>,
  Assert<Same<z.infer<typeof PlanEditSchema>, PlanEdit>>,
  Assert<z.infer<typeof ReviewRequestSchema> extends ReviewRequest ? true : false>,
  Assert<Same<z.infer<typeof PlanStepSchema>, PlanStep>>,
  Assert<Same<z.infer<typeof PlanSchema>, Plan>>,
];
