/** Starting a run: from the home form, again from a run's page, or as a re-run from a step. */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { SearchAttributeType, defineSearchAttributeKey, type SearchAttributePair } from '@temporalio/common';
import { TaskTextSchema } from '../../../contract/schemas';
import {
  PARENT_SEARCH_ATTRIBUTE,
  VERIFY_LIMITS,
  WORKFLOW_NAME,
  type Budget,
  type RerunInput,
  type TaskInput,
  type TaskWorkflow,
} from '../../../contract/data';
import { runDetails, runSummary } from '../../../contract/run-links';
import { getConfig } from './env.server';
import { log } from './log.server';
import { MissingOwnerAttributeError, OWNER_KEY, OWNER_PATTERN, isMissingOwnerAttribute, type Owner } from './run-owner.server';
import { workflowIdFor } from './run-id';
import { TemporalUnreachableError, bounded, getClient, isUnreachable } from './temporal-client.server';

/** Whose runs they are for fair share when access control is off: everyone's together. */
export const ANONYMOUS_OWNER = 'everyone';

/** The start of the task kept in each run's memo, for lists. */
const MEMO_TASK_MAX_CHARS = 200;

/** The run a re-run came from, on the re-run (lists, the Temporal UI: `BuildstoryParent="task-..."`). */
export const PARENT_KEY = defineSearchAttributeKey(PARENT_SEARCH_ATTRIBUTE, SearchAttributeType.KEYWORD);

export interface StartOptions {
  /** Wait for a person to review the plan (the deployment's timeout applies). */
  review?: boolean;
  /** Start as a re-run of another run from one of its steps. */
  rerun?: RerunInput;
  /** The run's limits (readBudgetForm): none when empty. */
  budget?: Budget;
  /**
   * Kept in the run's memo (`apiRequest`) for an API start with an Idempotency-Key: the hash of
   * the request that named this run, and a nonce of the request that sent it (api-runs.server.ts).
   */
  apiRequest?: ApiRequestMemo;
}

/** The memo field an API start leaves on its run. */
export interface ApiRequestMemo {
  bodyHash: string;
  nonce: string;
}

export const API_REQUEST_MEMO_FIELD = 'apiRequest';

/**
 * Start the run for this form submission, or find the one it already started.
 *
 * The workflow id comes from the form's token (and the owner: see run-id.ts), so a double submit
 * or a resubmit after the run ended never starts a second run. Throws TemporalUnreachableError
 * when Temporal is down.
 */
export async function startRun(token: string, task: string, owner: Owner, options: StartOptions = {}): Promise<{ workflowId: string }> {
  if (owner !== null && !OWNER_PATTERN.test(owner)) throw new TypeError('Bad owner name.');
  const workflowId = workflowIdFor(token, owner);
  const { temporal, review, budget: budgets, fairShare, verifyRounds, publicUrl, webhooks } = getConfig();
  // Only what a run needs: a run without review or re-run starts with the same input as before.
  const input: TaskInput = {
    task: TaskTextSchema.parse(task),
    ...(options.review ? { review: true, reviewTimeoutMs: review.timeoutMs } : {}),
    ...(options.rerun ? { rerun: options.rerun } : {}),
    ...(options.budget && Object.keys(options.budget).length > 0 ? { budget: options.budget } : {}),
    // With review on, a run that reaches a limit waits for its owner, who may raise it up to the cap.
    ...(options.review && options.budget && Object.keys(budgets.cap).length > 0 ? { budgetCap: budgets.cap } : {}),
    // Fair share: the run waits for a slot in Temporal's queue, as its owner's (one owner for all without access control).
    ...(fairShare ? { queue: { owner: owner ?? ANONYMOUS_OWNER, ...fairShare } } : {}),
    // Verification's rounds, when the deployment changed them (the workflow's default otherwise).
    ...(verifyRounds !== VERIFY_LIMITS.roundsDefault ? { verifyRounds } : {}),
    // Where the workflow's links to the run's files point, in the Temporal UI (contract/run-links.ts).
    ...(publicUrl ? { appUrl: publicUrl } : {}),
    // Webhooks: the deployment has one (the worker holds its URL and secret; the run only asks).
    ...(webhooks ? { notify: true } : {}),
  };
  const searchAttributes: SearchAttributePair[] = [
    ...(owner !== null ? [{ key: OWNER_KEY, value: owner }] : []),
    ...(options.rerun ? [{ key: PARENT_KEY, value: options.rerun.parent.workflowId }] : []),
  ];
  const parent = options.rerun?.parent;
  const client = await getClient();
  try {
    await bounded(client, temporal.rpcTimeoutMs, () =>
      client.workflow.start<TaskWorkflow>(WORKFLOW_NAME, {
        taskQueue: temporal.taskQueue,
        workflowId,
        args: [input],
        // Lists show the task from visibility without reading each run's history.
        memo: {
          task: truncate(input.task, MEMO_TASK_MAX_CHARS),
          ...(parent ? { parent: parent.workflowId, fromStep: parent.fromStep + 1 } : {}),
          ...(options.apiRequest ? { [API_REQUEST_MEMO_FIELD]: options.apiRequest } : {}),
        },
        ...(searchAttributes.length > 0 ? { typedSearchAttributes: searchAttributes } : {}),
        // What the Temporal UI shows of the run: the task's first line and a link to its page. Payloads,
        // so encrypted with the rest when payload encryption is on.
        staticSummary: runSummary(input.task),
        ...(publicUrl ? { staticDetails: runDetails(publicUrl, workflowId) } : {}),
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      }),
    );
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId };
    if (isUnreachable(err)) throw new TemporalUnreachableError(temporal.address, { cause: err });
    if (owner !== null && isMissingOwnerAttribute(err)) throw new MissingOwnerAttributeError(temporal.namespace);
    throw err;
  }
  // USE_EXISTING answers a repeated submit with the running run: this line may repeat for one run.
  log.info({ workflowId, review: options.review === true, parent: parent?.workflowId }, 'run started (or already running)');
  return { workflowId };
}

/** At most `max` characters, never splitting a surrogate pair. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = /[\uD800-\uDBFF]/.test(text[max - 1] ?? '') ? max - 1 : max;
  return text.slice(0, cut);
}
