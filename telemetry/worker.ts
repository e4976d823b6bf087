/**
 * What a worker adds with tracing on: Temporal's OpenTelemetry interceptors (a span for the
 * workflow run and each activity it schedules, in the workflow; a span for each activity run, in
 * the worker) and the sink that exports the workflow's spans through the SDK. The workflow
 * interceptors add a header to what the workflow schedules, never a command: recorded histories
 * replay with or without them (workflows/replay.test.ts), and their spans are exported only for
 * new work, not on replay.
 */
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  makeWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry';
import type { InjectedSinks, WorkerInterceptors } from '@temporalio/worker';
import type { WorkflowInfo } from '@temporalio/workflow';
import type { Tracing } from './tracing';

/**
 * The workflow interceptors' module. Worker.create bundles it in from `interceptors.workflowModules`;
 * a prebuilt bundle must be built with it (devstack/bundle.ts: writeWorkflowBundle's workflowInterceptorModules).
 */
export const WORKFLOW_TRACING_INTERCEPTORS = require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

/** Activity interceptors only: for a worker without workflows (the verification queue's). */
export function activityTracing(): Pick<Required<WorkerInterceptors>, 'activity'> {
  return {
    activity: [
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
    ],
  };
}

/** Of the workflow's info, what its spans carry: names and ids. */
const WORKFLOW_SPAN_INFO = ['workflowId', 'runId', 'workflowType', 'taskQueue', 'namespace', 'attempt'] as const;

/**
 * The workflow span sink. Temporal's (makeWorkflowExporter) copies the whole WorkflowInfo onto
 * every workflow span as attributes, decoded memo (the task, the story) and last result and
 * failure included: this one passes it only the names and ids above.
 */
export function workflowSpanSink(tracing: Tracing): InjectedSinks<OpenTelemetrySinks>['exporter'] {
  const sink = makeWorkflowExporter(tracing.spanProcessor, tracing.resource);
  return {
    export: {
      ...sink.export,
      fn: (info, spans) => {
        const names = Object.fromEntries(WORKFLOW_SPAN_INFO.map((key) => [key, info[key]]));
        return sink.export.fn(names as unknown as WorkflowInfo, spans);
      },
    },
  };
}

/** The worker options that turn tracing on: its interceptors and the workflow span sink. */
export function workerTracing(tracing: Tracing): { interceptors: WorkerInterceptors; sinks: InjectedSinks<OpenTelemetrySinks> } {
  return {
    interceptors: { workflowModules: [WORKFLOW_TRACING_INTERCEPTORS], ...activityTracing() },
    sinks: { exporter: workflowSpanSink(tracing) },
  };
}
