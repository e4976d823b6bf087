/**
 * The API's requests and answers as zod schemas, and the OpenAPI 3.1 document generated from them
 * (zod-to-openapi). The handlers parse with these same schemas, so the document says what they
 * accept. `.openapi()` lives here only: workflow code never sees it (STACK.md, trap 11).
 */
import { OpenAPIRegistry, OpenApiGeneratorV31, extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { BudgetSchema, PlanEditSchema, TaskTextSchema } from '../../../contract/schemas';
import { LIMITS } from '../../../contract/data';
import { IDEMPOTENCY_KEY_PATTERN, PROBLEM_TYPE } from './api.server';
import { RUN_ID_PATTERN } from './run-id';
import { RUN_LIST_FILTERS } from './run-status';

extendZodWithOpenApi(z);

export const StartRunBody = z
  .object({
    // The schema cleans the text before it checks it; the document can say only what holds of the raw text.
    task: TaskTextSchema.openapi({
      description: `What to build, as a person would type it: not blank, at most ${LIMITS.taskMaxChars} characters once control characters and surrounding whitespace are removed.`,
      example: 'Create a hello world python function',
      minLength: 1,
      maxLength: LIMITS.taskMaxChars,
      pattern: '\\S',
    }),
    review: z.boolean().optional().openapi({ description: 'Wait for a person to approve the plan before it runs.' }),
    budget: BudgetSchema.optional().openapi({
      description: "The run's limits; each at most the deployment's cap, the deployment's default for the rest.",
    }),
  })
  .strict()
  .openapi('StartRun');

export const ReviewBody = z
  .discriminatedUnion('decision', [
    z
      .object({
        decision: z.literal('approve'),
        revision: z.number().int().positive().openapi({ description: "The review answered: the snapshot's review.revision." }),
        edit: PlanEditSchema.optional(),
        budget: BudgetSchema.optional().openapi({ description: 'New limits, for a run stopped at one (held to the cap).' }),
      })
      .strict(),
    z
      .object({
        decision: z.literal('reject'),
        revision: z.number().int().positive(),
        reason: z.string().max(LIMITS.messageMaxChars).optional(),
      })
      .strict(),
  ])
  .openapi('ReviewAnswer');

const statuses = RUN_LIST_FILTERS.map((filter) => filter.status) as [string, ...string[]];

export const ListRunsQuery = z
  .object({
    status: z.enum(statuses).optional().openapi({ description: 'Only runs in this state.' }),
    cursor: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,4096}$/, 'Not a cursor from this list: use nextCursor as it came.')
      .optional()
      .openapi({ description: "The previous page's nextCursor." }),
    limit: z.coerce.number().int().min(1).max(100).optional().openapi({ description: 'Runs per page (20 by default).' }),
  })
  .strict();

const RunIdParams = z.object({
  runId: z
    .string()
    .regex(RUN_ID_PATTERN)
    .openapi({ description: 'The run (workflow) id, e.g. task-0b6f…', example: 'task-0b6f6a52-5f6e-4c8e-9d1a-2f1f8a4e5c3b' }),
});

const idempotencyHeaders = (description: string) =>
  z.object({ 'Idempotency-Key': z.string().regex(IDEMPOTENCY_KEY_PATTERN).optional().openapi({ description }) });

const RunSummary = z
  .object({
    workflowId: z.string(),
    runId: z.string(),
    status: z.string(),
    reviewState: z.string().nullable(),
    fromStep: z.number().nullable(),
    task: z.string().nullable(),
    startTime: z.string(),
    closeTime: z.string().nullable(),
    durationMs: z.number().nullable(),
    spend: z.object({ tokens: z.number(), cost: z.number(), unpriced: z.number(), estimated: z.boolean() }).nullable(),
  })
  .openapi('RunSummary');

export const RunList = z.object({ runs: z.array(RunSummary), nextCursor: z.string().nullable() }).openapi('RunList');

export const Run = z
  .object({
    workflowId: z.string(),
    runId: z.string().openapi({ description: "Temporal's run id of the latest run (a retry makes a new one)." }),
    temporalStatus: z.string(),
    waitingForWorker: z.boolean(),
    task: z.string().nullable(),
    error: z.string().optional(),
    uiUrl: z.string(),
    snapshot: z
      .object({})
      .passthrough()
      .nullable()
      .openapi({ description: "The run's story as its page renders it (ProgressSnapshot in contract/data.ts); null before it has one." }),
    queue: z.object({}).passthrough().nullable(),
  })
  .openapi('Run');

export const RunFileList = z
  .object({
    files: z.array(
      z.object({
        path: z.string(),
        bytes: z.number().int(),
        sha256: z.string(),
        stepIndex: z.number().int().openapi({ description: 'The step (0-based) that wrote it.' }),
        href: z.string().openapi({ description: 'Where the API serves it.' }),
      }),
    ),
    zip: z.string().nullable().openapi({ description: 'All of them in one zip; null without files.' }),
  })
  .openapi('RunFiles');

export const RunRef = z
  .object({ workflowId: z.string(), runId: z.string().optional(), href: z.string() })
  .openapi('RunRef', { description: 'A run, and where the API serves it.' });

const ReviewAnswered = RunRef.extend({
  outcome: z
    .object({ requestId: z.string(), revision: z.number().int(), by: z.string().nullable(), decision: z.enum(['approve', 'reject']) })
    .passthrough()
    .openapi({ description: 'What the workflow made of the answer (ReviewOutcome in contract/data.ts).' }),
}).openapi('ReviewAnswered');

const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    errors: z
      .array(
        z.object({ detail: z.string(), pointer: z.string().optional(), parameter: z.string().optional(), header: z.string().optional() }),
      )
      .optional(),
  })
  .openapi('Problem', { description: 'RFC 9457 problem details.' });

const problemContent = { [PROBLEM_TYPE]: { schema: Problem } };
const problems = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [String(status), { description: PROBLEM_DESCRIPTIONS[status]!, content: problemContent }]));

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is not valid: `errors` names the field, parameter or header at fault. Nothing was started.',
  401: 'Access control is on and the call has no API token.',
  404: 'No run with this id (or not yours).',
  409: "The run's state does not allow this, or the Idempotency-Key was used with another body.",
  415: 'The body is not JSON.',
  429: 'Too many starts (Retry-After), or the daily spend cap is reached.',
  503: 'Temporal is not reachable (Retry-After).',
};

const json = <T extends z.ZodTypeAny>(schema: T) => ({ 'application/json': { schema } });

/** Every operation the API serves; the test checks each route file against this list. */
function registry(): OpenAPIRegistry {
  const r = new OpenAPIRegistry();
  r.registerPath({
    method: 'get',
    path: '/api/v1/openapi.json',
    summary: 'This document',
    responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: z.object({}).passthrough() } } } },
  });
  r.registerPath({
    method: 'post',
    path: '/api/v1/runs',
    summary: 'Start a run',
    request: {
      headers: idempotencyHeaders(
        'The same key with the same body names one run: sent again (to any replica, before or after the run ended), it answers with that run (200) rather than starting another. The same key with another body is a 409. Without a key every request starts a run.',
      ),
      body: { required: true, content: json(StartRunBody) },
    },
    responses: {
      '201': { description: 'Started (Location: the run)', content: json(RunRef) },
      '200': { description: 'Already started by an earlier request with this Idempotency-Key and body', content: json(RunRef) },
      ...problems(400, 401, 409, 415, 429, 503),
    },
  });
  r.registerPath({
    method: 'get',
    path: '/api/v1/runs',
    summary: 'List runs, newest first',
    request: { query: ListRunsQuery },
    responses: { '200': { description: 'A page of runs', content: json(RunList) }, ...problems(400, 401, 503) },
  });
  r.registerPath({
    method: 'get',
    path: '/api/v1/runs/{runId}',
    summary: 'A run: its status and story',
    request: { params: RunIdParams },
    responses: { '200': { description: 'The run', content: json(Run) }, ...problems(401, 404, 503) },
  });
  r.registerPath({
    method: 'get',
    path: '/api/v1/runs/{runId}/files',
    summary: "The files the run's code steps wrote (verified in the sandbox), with where each is served",
    request: { params: RunIdParams },
    responses: { '200': { description: 'The files', content: json(RunFileList) }, ...problems(401, 404, 503) },
  });
  r.registerPath({
    method: 'get',
    path: '/api/v1/runs/{runId}/files/{sha256}',
    summary: 'One file, as text (checked against its SHA-256 on the way out)',
    request: {
      params: RunIdParams.extend({
        sha256: z
          .string()
          .regex(/^[0-9a-f]{64}$/)
          .openapi({ description: "The file's SHA-256 (hex)" }),
      }),
    },
    responses: { '200': { description: 'The bytes', content: { 'text/plain': { schema: z.string() } } }, ...problems(401, 404, 503) },
  });
  r.registerPath({
    method: 'get',
    path: '/api/v1/runs/{runId}/files.zip',
    summary: 'Every file of the run in one zip',
    request: { params: RunIdParams },
    responses: { '200': { description: 'The zip', content: { 'application/zip': { schema: z.string() } } }, ...problems(401, 404, 503) },
  });
  r.registerPath({
    method: 'get',
    path: '/api/v1/runs/{runId}/events',
    summary: "The run's story as it happens (Server-Sent Events, as the run page gets it)",
    description:
      'Events: `story` (one StoryEvent, id `<runId>:<seq>`), `run` (a new run under this id: start over), `status`, `end`, `ping`. Resume with Last-Event-ID. 204 after the end.',
    request: { params: RunIdParams },
    responses: {
      '200': { description: 'The stream', content: { 'text/event-stream': { schema: z.string() } } },
      '204': { description: 'The run is over and the client has all of it' },
      ...problems(400, 401, 404),
    },
  });
  const action = (
    path: string,
    summary: string,
    ok: string,
    extra: Parameters<OpenAPIRegistry['registerPath']>[0]['request'] = {},
    answer: z.ZodTypeAny = RunRef,
  ) =>
    r.registerPath({
      method: 'post',
      path: `/api/v1/runs/{runId}/${path}`,
      summary,
      request: { params: RunIdParams, ...extra },
      responses: { '200': { description: ok, content: json(answer) }, ...problems(400, 401, 404, 409, 503) },
    });
  action('cancel', 'Cancel a running run', 'Cancellation requested');
  action('retry', 'Retry a failed (or cancelled) run from its failed step', 'The new run under the same id', {});
  action('run-again', 'Start a new run of the same task', 'The new run (the same one again for a repeated Idempotency-Key)', {
    headers: idempotencyHeaders('Names the new run: the same key (for this run) answers with the same new run.'),
  });
  action(
    'review',
    'Approve (optionally edited, with new limits) or reject the plan the run waits for',
    'The answer was applied',
    {
      headers: idempotencyHeaders('Names the answer: sent again with the same key, it is applied once and answers with its outcome.'),
      body: { required: true, content: json(ReviewBody) },
    },
    ReviewAnswered,
  );
  return r;
}

let document: ReturnType<OpenApiGeneratorV31['generateDocument']> | null = null;

export function openApiDocument() {
  document ??= new OpenApiGeneratorV31(registry().definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Buildstory API',
      version: '1',
      description:
        'Start, read, list and control runs. Errors are application/problem+json (RFC 9457). With access control on, calls need an API token (made on /account) as `Authorization: Bearer <token>`.',
    },
    servers: [{ url: '/' }],
  });
  return document;
}
