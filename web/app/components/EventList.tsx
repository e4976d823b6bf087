import { describeChange, type StoryEvent } from '../../../contract/data';
import { describeBudget } from '../../../contract/story-reducer';
import { formatDuration, formatOffset, formatTokens, stepLabel } from './format';

function summarize(event: StoryEvent): string {
  switch (event.type) {
    case 'run.started': {
      const task = event.task.length > 160 ? `${event.task.slice(0, 159)}…` : event.task;
      return event.parent ? `${task} (re-run of ${event.parent.workflowId} from step ${event.parent.fromStep + 1})` : task;
    }
    case 'run.queued':
      return `Waiting for a slot, as ${event.owner}'s run (fair share)`;
    case 'run.dequeued':
      return event.passedBy === 0
        ? 'Got a slot: the run starts'
        : `Got a slot: the run starts (${event.passedBy} ${event.passedBy === 1 ? 'run' : 'runs'} started while it waited)`;
    case 'step.kept':
      return `${stepLabel(event.stepIndex)}: kept from the earlier run (${event.output.length.toLocaleString('en-US')} characters)`;
    case 'review.waiting': {
      const until = `until ${event.deadline.replace('T', ' ').slice(0, 16)} UTC`;
      if (event.stage.kind === 'budget') {
        return `${describeBudget(event.stage.budget, event.stage.used, event.stage.limit)}: waits for its owner to raise it or stop (${until})`;
      }
      return `${event.stage.kind === 'plan' ? 'The plan waits' : `${stepLabel(event.stage.stepIndex)} waits`} for a review (${until})`;
    }
    case 'plan.edited':
      return `${event.by ?? 'Someone'} ${event.changes.map(describeChange).join('; ') || 'changed which steps ask first'}`;
    case 'review.approved':
      return `Approved by ${event.by ?? 'someone'}`;
    case 'review.rejected':
      return `Rejected by ${event.by ?? 'someone'}: ${event.reason}`;
    case 'review.expired':
      return 'Nobody answered the review in time: the run expired.';
    case 'budget.reached':
      return describeBudget(event.kind, event.used, event.limit);
    case 'budget.raised':
      return `${event.by ?? 'Someone'} raised the limits: ${Object.entries(event.budget)
        .map(([kind, value]) => `${kind === 'timeMs' ? 'time' : kind} ${kind === 'timeMs' ? `${Math.round(value / 1000)} s` : value}`)
        .join(', ')}`;
    case 'plan.ready':
      return `${event.plan.steps.length} step${event.plan.steps.length === 1 ? '' : 's'} · ${event.model.name}${
        event.model.offline ? ' (offline)' : ''
      }`;
    case 'step.started':
      return `${stepLabel(event.stepIndex)}: ${event.title}`;
    case 'step.output':
      return `${stepLabel(event.stepIndex)}: ${event.text.length} characters of output`;
    case 'step.retrying':
      return `${stepLabel(event.stepIndex)}, attempt ${event.attempt}: ${event.reason}`;
    case 'step.finished':
      return [
        `${stepLabel(event.stepIndex)} in ${formatDuration(event.durationMs)}`,
        event.attempts > 1 ? `${event.attempts} attempts` : '',
        formatTokens(event.usage?.totalTokens),
        event.truncated ? 'output truncated' : '',
      ]
        .filter(Boolean)
        .join(' · ');
    case 'step.verifying':
      return `${stepLabel(event.stepIndex)}: running its tests in the sandbox${event.round > 1 ? ` (round ${event.round})` : ''}`;
    case 'step.verified':
      return `${stepLabel(event.stepIndex)}: ${verdictWords(event.report.verdict)}, round ${event.report.round} · ${event.report.summary}${
        event.report.durationMs > 0 ? ` · ${formatDuration(event.report.durationMs)}` : ''
      }`;
    case 'step.fixing':
      return `${stepLabel(event.stepIndex)}: written again with the failed tests in its prompt (round ${event.round})`;
    case 'run.completed':
      return `Result ready (${event.result.length.toLocaleString('en-US')} characters)`;
    case 'run.failed':
      return event.error;
    case 'run.cancelled':
      return 'The run was cancelled.';
    case 'webhook.delivered':
      return `${event.event} delivered: HTTP ${event.status}, attempt ${event.attempts} · ${event.deliveryId}`;
    case 'webhook.failed':
      return `${event.event} not delivered: ${event.error} · ${event.deliveryId}`;
  }
}

export function verdictWords(verdict: 'passed' | 'failed' | 'error'): string {
  return verdict === 'passed' ? 'Verified' : verdict === 'failed' ? 'Failed verification' : 'Not verified';
}

const TYPE_COLOR: Partial<Record<StoryEvent['type'], string>> = {
  'step.fixing': 'text-amber-300',
  'run.completed': 'text-emerald-300',
  'run.failed': 'text-red-300',
  'step.retrying': 'text-amber-300',
  'run.cancelled': 'text-slate-300',
  'review.waiting': 'text-violet-300',
  'run.queued': 'text-amber-300',
  'review.rejected': 'text-orange-300',
  'review.expired': 'text-slate-300',
};

/** The story in order. Output chunks are shown as each step's output, not here. */
export function EventList({ events, startedAt }: { events: StoryEvent[]; startedAt: string }) {
  const shown = events.filter((event) => event.type !== 'step.output');
  return (
    <section aria-labelledby="story-heading" className="space-y-3">
      <h2 id="story-heading" className="text-xl font-semibold">
        Story
      </h2>
      {shown.length === 0 ? (
        <p className="text-sm text-slate-400">Nothing has happened yet.</p>
      ) : (
        <ol className="divide-y divide-slate-800 rounded-md border border-slate-800">
          {shown.map((event) => (
            <li key={event.seq} data-seq={event.seq} className="grid grid-cols-[5.5rem_9rem_1fr] gap-3 px-3 py-2 text-sm">
              <time dateTime={event.at} title={event.at} className="font-mono text-slate-400">
                {formatOffset(event.at, startedAt)}
              </time>
              <span className={`font-mono ${TYPE_COLOR[event.type] ?? 'text-sky-300'}`}>{event.type}</span>
              <span className="break-words text-slate-200">{summarize(event)}</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
