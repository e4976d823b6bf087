/**
 * What the terminal shows of a run, as text: pure functions of the story (the page's StoryView,
 * folded by the same reducer), so `follow` redraws a frame and tests read it without a terminal.
 *
 * - `frame`: the live view: the run, its plan's steps with their states (a spinner on the running
 *   one), the running step's last output lines, and at the end the result or the error.
 * - `eventLine`: one line per story event (output chunks left out), for a log or a pipe.
 */
import pc from 'picocolors';
import type { StepState, StoryEvent, VerificationReport } from '../contract/data';
import type { StoryView } from '../web/app/utils/story-view';

export const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface FrameOptions {
  /** Index into SPINNER: the caller turns it. */
  tick: number;
  /** Terminal columns; lines are cut to fit. */
  width: number;
  /** Lines of the running step's output shown under it. */
  outputLines: number;
  /** The stream's state when it is not plainly live ("reconnecting", "waiting for a worker"). */
  note?: string | null;
}

const STATUS_WORDS: Record<StoryView['status'], string> = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
  rejected: 'Rejected',
  expired: 'Expired',
  'budget-reached': 'Stopped: budget reached',
};

function statusColor(status: StoryView['status']): (text: string) => string {
  if (status === 'completed') return pc.green;
  if (status === 'running') return pc.cyan;
  if (status === 'cancelled' || status === 'expired') return pc.yellow;
  return pc.red;
}

/** A line cut to `width` visible columns (escape codes do not count). */
export function fit(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\u001b') {
      const end = line.indexOf('m', i);
      if (end > 0) {
        out += line.slice(i, end + 1);
        i = end;
        continue;
      }
    }
    if (visible >= width - 1 && i < line.length - 1) return `${out}…${pc.reset('')}`;
    out += line[i];
    visible++;
  }
  return out;
}

function seconds(ms: number | null): string {
  return ms === null ? '' : `${(ms / 1000).toFixed(1)} s`;
}

function verificationWords(step: StepState): string {
  const v = step.verification;
  if (!v) return '';
  if (v.status === 'running') return pc.cyan(` verifying (round ${v.round})`);
  if (v.status === 'passed') return pc.green(' verified');
  if (v.status === 'failed') return pc.red(` failed verification (round ${v.round})`);
  return pc.yellow(' not verified');
}

function stepLine(step: StepState, tick: number): string {
  const mark =
    step.status === 'completed'
      ? pc.green('✓')
      : step.status === 'failed'
        ? pc.red('✗')
        : step.status === 'cancelled'
          ? pc.yellow('■')
          : step.status === 'running' || step.status === 'retrying'
            ? pc.cyan(SPINNER[tick % SPINNER.length]!)
            : pc.dim('·');
  const title = step.status === 'pending' ? pc.dim(`${step.index + 1}. ${step.title}`) : `${step.index + 1}. ${step.title}`;
  const extra = [
    step.kept ? pc.dim('kept from the parent run') : '',
    step.attempt > 1 ? pc.yellow(`attempt ${step.attempt}`) : '',
    step.status === 'completed' ? pc.dim(seconds(step.durationMs)) : '',
  ]
    .filter(Boolean)
    .join(' · ');
  return `  ${mark} ${title}${extra ? `  ${extra}` : ''}${verificationWords(step)}`;
}

/** The live view of a run, as lines. */
export function frame(view: StoryView, options: FrameOptions): string[] {
  const lines: string[] = [];
  const color = statusColor(view.status);
  lines.push(`${pc.bold(view.task.split('\n')[0] ?? '')}`);
  const spend = view.spend.tokens > 0 ? pc.dim(` · ${view.spend.tokens.toLocaleString('en-US')} tokens`) : '';
  const verified =
    view.status === 'completed' && view.verified === true
      ? pc.green(' · verified')
      : view.status === 'completed' && view.verified === false
        ? pc.yellow(' · not verified')
        : '';
  const note = options.note ? pc.yellow(` · ${options.note}`) : '';
  lines.push(`${color(STATUS_WORDS[view.status])}${verified}${spend}${note}`);

  if (view.queue) lines.push(pc.yellow('  Queued: waiting for a free slot (fair share)'));
  if (!view.plan) {
    const planning = view.planning.status;
    const mark =
      planning === 'failed' ? pc.red('✗') : view.status === 'running' ? pc.cyan(SPINNER[options.tick % SPINNER.length]!) : pc.dim('·');
    lines.push(`  ${mark} Planning${view.planning.attempt > 1 ? pc.yellow(` (attempt ${view.planning.attempt})`) : ''}`);
  } else {
    lines.push(
      `  ${pc.green('✓')} Planned: ${view.steps.length} step${view.steps.length === 1 ? '' : 's'}${view.model ? pc.dim(` · ${view.model.name}`) : ''}`,
    );
  }
  if (view.review) lines.push(pc.yellow(`  Waiting for a review of the plan: buildstory approve <id> | buildstory reject <id>`));
  for (const step of view.steps) {
    lines.push(stepLine(step, options.tick));
    if ((step.status === 'running' || step.status === 'retrying') && step.output && options.outputLines > 0) {
      const tail = step.output.trimEnd().split('\n').slice(-options.outputLines);
      for (const text of tail) lines.push(pc.dim(`    │ ${text}`));
    }
  }
  if (view.status !== 'running' && view.error) lines.push(pc.red(view.error));
  return lines.map((line) => (line.includes('\n') ? line.replace(/\n/g, ' ') : fit(line, options.width)));
}

/**
 * The last line of a followed run, under its result: the outcome with a mark, whether its code was
 * verified, its spend and its length.
 */
export function summaryLine(view: StoryView): string {
  const mark =
    view.status === 'completed' ? pc.green('✓') : view.status === 'cancelled' || view.status === 'expired' ? pc.yellow('■') : pc.red('✗');
  const parts = [statusColor(view.status)(STATUS_WORDS[view.status])];
  if (view.verified === true) parts.push(pc.green('verified'));
  if (view.verified === false) parts.push(pc.yellow('not verified'));
  if (view.spend.tokens > 0) parts.push(`${view.spend.tokens.toLocaleString('en-US')} tokens`);
  if (view.closedAt) parts.push(seconds(Date.parse(view.closedAt) - Date.parse(view.startedAt)));
  return `${mark} ${parts.join(' · ')}`;
}

function report(r: VerificationReport): string {
  const verdict =
    r.verdict === 'passed' ? pc.green('verified') : r.verdict === 'failed' ? pc.red('failed verification') : pc.yellow('not verified');
  return `${verdict}: ${r.summary}`;
}

/** One line for a story event, or null for those a log leaves out (output chunks). */
export function eventLine(event: StoryEvent): string | null {
  const at = event.at.slice(11, 19);
  const say = (text: string) => `${pc.dim(at)} ${text}`;
  switch (event.type) {
    case 'run.started':
      return say(`started: ${event.task.split('\n')[0]}`);
    case 'run.queued':
      return say('queued: waiting for a free slot');
    case 'run.dequeued':
      return say('left the queue');
    case 'plan.ready':
      return say(
        `planned ${event.plan.steps.length} steps with ${event.model.name}: ${event.plan.steps.map((s, i) => `${i + 1}. ${s.title}`).join('; ')}`,
      );
    case 'step.kept':
      return say(`step ${event.stepIndex + 1} kept from the parent run`);
    case 'review.waiting':
      return say(pc.yellow(`waiting for a review (${event.stage}) until ${event.deadline}`));
    case 'plan.edited':
      return say(`plan edited${event.by ? ` by ${event.by}` : ''}`);
    case 'review.approved':
      return say(pc.green(`approved${event.by ? ` by ${event.by}` : ''}`));
    case 'review.rejected':
      return say(pc.red(`rejected${event.by ? ` by ${event.by}` : ''}: ${event.reason}`));
    case 'review.expired':
      return say(pc.yellow('the review expired'));
    case 'budget.reached':
      return say(pc.red(`budget reached: ${event.kind} ${event.used} of ${event.limit}`));
    case 'budget.raised':
      return say(`budget raised${event.by ? ` by ${event.by}` : ''}`);
    case 'step.started':
      return say(`step ${event.stepIndex + 1} started: ${event.title}`);
    case 'step.output':
      return null;
    case 'step.retrying':
      return say(
        pc.yellow(
          `${event.stepIndex === null ? 'planning' : `step ${event.stepIndex + 1}`}: attempt ${event.attempt}, after: ${event.reason}`,
        ),
      );
    case 'step.finished':
      return say(`step ${event.stepIndex + 1} ${pc.green('completed')} in ${seconds(event.durationMs)}`);
    case 'step.verifying':
      return say(`step ${event.stepIndex + 1}: verifying (round ${event.round})`);
    case 'step.verified':
      return say(`step ${event.stepIndex + 1}: ${report(event.report)}`);
    case 'step.fixing':
      return say(pc.yellow(`step ${event.stepIndex + 1}: fixing (round ${event.round}): ${event.reason}`));
    case 'run.completed':
      return say(pc.green('completed'));
    case 'run.failed':
      return say(pc.red(`failed: ${event.error}`));
    case 'run.cancelled':
      return say(pc.yellow('cancelled'));
    case 'webhook.delivered':
      return say(pc.dim(`webhook ${event.event} delivered (HTTP ${event.status}, attempt ${event.attempts}, id ${event.deliveryId})`));
    case 'webhook.failed':
      return say(
        pc.yellow(`webhook ${event.event} not delivered${event.attempts ? ` after ${event.attempts} attempts` : ''}: ${event.error}`),
      );
    default:
      return say((event as { type: string }).type);
  }
}
