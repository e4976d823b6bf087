/**
 * Replays histories of finished runs (workflows/histories, recorded by scripts/record-histories.ts)
 * against the current workflow code: a change that would break runs in flight fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Resource } from '@opentelemetry/resources';
import { writeWorkflowBundle } from '../devstack/bundle';
import { WORKFLOW_TRACING_INTERCEPTORS, workflowSpanSink } from '../telemetry/worker';
import { sharedServer } from '../tests/setup/temporal';

const DIR = join(__dirname, 'histories');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

function load(file: string): unknown {
  return JSON.parse(readFileSync(join(DIR, file), 'utf8'));
}

async function replay(
  histories: Array<{ workflowId: string; history: unknown }>,
  options: Partial<Parameters<typeof Worker.runReplayHistories>[0]> = {},
) {
  const results = [];
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: { codePath: sharedServer().bundle }, ...options },
    histories.map(({ workflowId, history }) => ({ workflowId, history: historyFromJSON(history) })),
  )) {
    results.push(result);
  }
  return results;
}

test('the recorded histories cover completed, retried, failed, cancelled, truncated and queued runs, reviews, a re-run, budgets, the scheduler, the published story, verification and webhooks', () => {
  expect(files).toEqual([
    'budget-steps-stopped.json',
    'budget-time-raised.json',
    'budget-tokens-reached.json',
    'cancelled-mid-step.json',
    'offline-completed.json',
    'queued-cancelled.json',
    'queued-completed-scheduler.json',
    'queued-completed.json',
    'queued-reviewed-completed.json',
    'rerun-from-step.json',
    'review-approved-edited.json',
    'review-expired.json',
    'review-rejected.json',
    'step-gate-approved.json',
    'step-output-truncated-completed.json',
    'step-rejected-failed.json',
    'step-retried-completed.json',
    'story-published-completed.json',
    'story-published-reviewed.json',
    'verified-completed.json',
    'verify-fixed-round-2.json',
    'webhook-delivered-completed.json',
    'webhook-linked-completed.json',
    'webhook-retried-reviewed.json',
  ]);
});

test('every recorded history replays without a determinism error', async () => {
  const results = await replay(files.map((file) => ({ workflowId: file, history: load(file) })));
  expect(results).toHaveLength(files.length);
  for (const result of results)
    expect({ workflowId: result.workflowId, error: result.error }).toEqual({ workflowId: result.workflowId, error: undefined });
});

test('with the tracing interceptors bundled in (OTEL_EXPORTER_OTLP_ENDPOINT set), every history still replays: they add headers, not commands', async () => {
  const codePath = await writeWorkflowBundle(dirname(sharedServer().bundle), `workflow-bundle-traced-${process.pid}.js`, {
    workflowInterceptorModules: [WORKFLOW_TRACING_INTERCEPTORS],
  });
  expect(readFileSync(codePath, 'utf8')).toContain('OpenTelemetryInboundInterceptor');
  const spans = new InMemorySpanExporter();
  const tracing = { spanProcessor: new SimpleSpanProcessor(spans), resource: new Resource({}), display: '', shutdown: async () => {} };
  const results = await replay(
    files.map((file) => ({ workflowId: file, history: load(file) })),
    { workflowBundle: { codePath }, sinks: { exporter: workflowSpanSink(tracing) } },
  );
  expect(results.map((r) => ({ workflowId: r.workflowId, error: r.error }))).toEqual(
    files.map((workflowId) => ({ workflowId, error: undefined })),
  );
  // Replay is not new work: no workflow span is exported for it.
  expect(spans.getFinishedSpans()).toEqual([]);
});

test('a history that does not match the code is caught (the replay check can fail)', async () => {
  // Pretend the recorded run scheduled a different activity first: the code schedules planTask.
  const history = load('offline-completed.json') as {
    events: Array<{ activityTaskScheduledEventAttributes?: { activityType: { name: string } } }>;
  };
  const scheduled = history.events.find((e) => e.activityTaskScheduledEventAttributes);
  scheduled!.activityTaskScheduledEventAttributes!.activityType.name = 'somethingElse';
  const [result] = await replay([{ workflowId: 'tampered', history }]);
  expect(result.error).toBeInstanceOf(DeterminismViolationError);
});
