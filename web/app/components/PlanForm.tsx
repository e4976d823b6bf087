/**
 * The plan as a form: the review editor on a run page that waits for a review (Approve, with any
 * edits, or Reject with a reason), and the re-run page's "Edit and re-run from step k". Steps
 * before the review point are locked and shown read-only; the rest can be retitled, rewritten,
 * reordered, removed, added to, and marked "Ask before running".
 *
 * The edit travels as one hidden field (a PlanEdit as JSON) to the route's action, which answers
 * with a redirect or `{ error }`. The run page loads this module on demand (React.lazy): its code
 * stays out of the page's first download, which most runs never need.
 */
import { Form, useActionData, useNavigation } from '@remix-run/react';
import { useState } from 'react';
import { LIMITS, type Plan, type StepState } from '../../../contract/data';
import {
  addStep,
  canAddStep,
  draftOf,
  moveStep,
  planEditOf,
  removeStep,
  reviewEditOf,
  updateStep,
  type DraftStep,
} from '~/utils/plan-draft';
import { TEXT_FIELD } from './form-styles';
import { Markdown } from './Markdown';

const BUTTON =
  'rounded-md px-3 py-1.5 text-sm font-medium focus:outline-none focus:ring-2 focus:ring-offset-2 focus:ring-offset-slate-950 disabled:cursor-not-allowed disabled:opacity-50';
const PRIMARY = `${BUTTON} bg-sky-600 text-white hover:bg-sky-500 focus:ring-sky-400`;
const SECONDARY = `${BUTTON} border border-slate-600 text-slate-100 hover:border-sky-500 hover:text-sky-200 focus:ring-sky-400`;
const DANGER = `${BUTTON} border border-red-700 text-red-200 hover:bg-red-950 focus:ring-red-400`;
const SMALL =
  'rounded px-2 py-0.5 text-xs text-slate-300 hover:bg-slate-800 hover:text-sky-200 focus:outline-none focus:ring-2 focus:ring-sky-400 disabled:cursor-not-allowed disabled:opacity-40';

export type PlanFormMode =
  /** Answer the review the run waits for (the run page's action); `gate`: the step it waits before, null at a plan review. */
  | { kind: 'review'; revision: number; deadline: string; gate: number | null }
  /** Start a re-run from step `lockedBefore + 1` (the re-run page's action). */
  | { kind: 'rerun' };

export interface PlanFormProps {
  mode: PlanFormMode;
  plan: Plan;
  /** The run's steps as its story has them: the locked ones are shown with their outputs, `ask` marks the rest. */
  steps: StepState[];
  /** Steps before this index are locked: 0 at a plan review, the gated step at a step's review, k-1 for a re-run from step k. */
  lockedBefore: number;
  /** Names this answer (or this re-run): kept after an error, so a resend is applied once. Null: made here. */
  token: string | null;
  csrf: string | null;
}

/** A random UUID, also where crypto.randomUUID is missing (pages served over plain HTTP). */
function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The action's error for this form: on the run page, the answers' only (the run's buttons show theirs). */
function actionError(value: unknown, mode: PlanFormMode): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const { error, intent } = value as { error?: unknown; intent?: unknown };
  if (typeof error !== 'string') return null;
  return mode.kind === 'rerun' || (typeof intent === 'string' && intent.startsWith('review-')) ? error : null;
}

export default function PlanForm({ mode, plan, steps, lockedBefore, token, csrf }: PlanFormProps) {
  // The step a gate waits before asks now: its mark is spent (left on, the edit would keep it).
  const gate = mode.kind === 'review' ? mode.gate : null;
  const ask = steps.filter((step) => step.ask && step.index !== gate).map((step) => step.index);
  const [draft, setDraft] = useState(() => draftOf(plan, lockedBefore, ask));
  const [added, setAdded] = useState(0);
  const [formToken] = useState(() => token ?? newToken());
  const navigation = useNavigation();
  const error = actionError(useActionData(), mode);
  const busy = navigation.state === 'submitting';
  const pending = busy ? navigation.formData?.get('intent') : null;

  const edit = mode.kind === 'review' ? reviewEditOf(draft, plan, lockedBefore, ask) : planEditOf(draft);
  const locked = steps.slice(0, lockedBefore);
  const full = !canAddStep(draft, lockedBefore);

  return (
    <section aria-labelledby="plan-heading" className="space-y-4">
      <div className="space-y-1">
        <h2 id="plan-heading" className="text-xl font-semibold">
          {mode.kind === 'review' ? 'Review the plan' : `Edit the plan from step ${lockedBefore + 1}`}
        </h2>
        <p className="text-sm text-slate-300">
          {mode.kind === 'rerun'
            ? lockedBefore === 0
              ? 'The new run runs the plan as you leave it below, from the first step.'
              : `The new run keeps the output of ${lockedBefore === 1 ? 'step 1' : `steps 1 to ${lockedBefore}`} and runs the steps below as you leave them.`
            : gate === null
              ? 'Nothing runs until you approve. Change the steps as you like, then approve, or reject the plan.'
              : `The run waits before step ${gate + 1}, as asked.${gate > 0 ? ' The steps before it are done; you may change the rest.' : ''}`}
          {mode.kind === 'review' ? (
            <>
              {' '}
              It waits until <time dateTime={mode.deadline}>{mode.deadline.replace('T', ' ').slice(0, 16)} UTC</time>, then expires.
            </>
          ) : null}
        </p>
      </div>
      {plan.summary ? <p className="text-slate-300">{plan.summary}</p> : null}

      {locked.length > 0 ? (
        <ol aria-label="Locked steps" className="space-y-2">
          {locked.map((step) => (
            <li
              key={step.index}
              data-testid={`locked-step-${step.index}`}
              className="rounded-md border border-slate-800 bg-slate-900/40 p-3"
            >
              <div className="flex flex-wrap items-baseline justify-between gap-2">
                <h3 className="font-medium text-slate-200">
                  <span className="text-slate-400">{step.index + 1}.</span> {step.title}
                </h3>
                <span className="text-xs text-slate-400">{mode.kind === 'rerun' ? 'output kept' : 'done'}</span>
              </div>
              <p className="mt-1 text-sm text-slate-400">{step.instructions}</p>
              {step.output ? (
                <details className="mt-2">
                  <summary className="cursor-pointer text-sm text-slate-300">Output</summary>
                  <div className="mt-2 max-h-72 overflow-auto rounded bg-slate-950 p-3 text-sm">
                    <Markdown>{step.output}</Markdown>
                  </div>
                </details>
              ) : null}
            </li>
          ))}
        </ol>
      ) : null}

      <Form method="post" aria-label={mode.kind === 'review' ? 'Review the plan' : 'Edit and re-run'} className="space-y-4">
        <input type="hidden" name="token" value={formToken} />
        {csrf ? <input type="hidden" name="csrf" value={csrf} /> : null}
        {mode.kind === 'review' ? <input type="hidden" name="revision" value={mode.revision} /> : null}
        {mode.kind === 'rerun' ? <input type="hidden" name="from" value={lockedBefore + 1} /> : null}
        {edit ? <input type="hidden" name="edit" value={JSON.stringify(edit)} /> : null}

        <ol aria-label="Steps to run" className="space-y-3">
          {draft.map((step, i) => (
            <EditableStep
              key={step.key}
              step={step}
              number={lockedBefore + i + 1}
              marks={marksOf(step, plan, lockedBefore + i)}
              first={i === 0}
              last={i === draft.length - 1}
              only={lockedBefore + draft.length <= LIMITS.planMinSteps}
              onChange={(patch) => setDraft((steps) => updateStep(steps, i, patch))}
              onMove={(delta) => setDraft((steps) => moveStep(steps, i, delta))}
              onRemove={() => setDraft((steps) => removeStep(steps, i))}
            />
          ))}
        </ol>
        <div className="flex flex-wrap items-center gap-3">
          <button
            type="button"
            disabled={full}
            onClick={() => {
              setDraft((steps) => addStep(steps, `added-${added}`));
              setAdded((n) => n + 1);
            }}
            className={SECONDARY}
          >
            Add a step
          </button>
          <span className="text-xs text-slate-400">
            {full ? `A plan has at most ${LIMITS.planMaxSteps} steps.` : `Up to ${LIMITS.planMaxSteps} steps in all.`}
          </span>
        </div>

        {mode.kind === 'review' ? (
          <div className="space-y-3 rounded-md border border-slate-800 p-4">
            <div className="flex flex-wrap items-center gap-3">
              <button type="submit" name="intent" value="review-approve" disabled={busy} className={PRIMARY}>
                {pending === 'review-approve' ? 'Approving…' : edit ? 'Approve with changes' : 'Approve'}
              </button>
              <span className="text-xs text-slate-400">
                {edit ? 'Your changes are saved in the run’s story.' : 'The plan runs as proposed.'}
              </span>
            </div>
            <div className="space-y-2 border-t border-slate-800 pt-3">
              <label htmlFor="review-reason" className="block text-sm font-medium text-slate-200">
                Reason for rejecting
              </label>
              <textarea
                id="review-reason"
                name="reason"
                rows={2}
                maxLength={LIMITS.messageMaxChars}
                placeholder="e.g. The task needs a database; I will write a better task."
                className={`${TEXT_FIELD} border-slate-700 text-sm placeholder:text-slate-500`}
              />
              <button type="submit" name="intent" value="review-reject" formNoValidate disabled={busy} className={DANGER}>
                {pending === 'review-reject' ? 'Rejecting…' : 'Reject'}
              </button>
            </div>
          </div>
        ) : (
          <button type="submit" disabled={busy} className={PRIMARY}>
            {busy ? 'Starting…' : `Re-run from step ${lockedBefore + 1}`}
          </button>
        )}
        {error ? (
          <p role="alert" className="rounded-md border border-red-800 bg-red-950/60 px-3 py-2 text-sm text-red-200">
            {error}
          </p>
        ) : null}
      </Form>
    </section>
  );
}

/** What a person changed about a step, in words for its heading. */
function marksOf(step: DraftStep, plan: Plan, index: number): string[] {
  if (step.from === null) return ['new'];
  const was = plan.steps[step.from];
  return [
    step.from !== index ? `was step ${step.from + 1}` : '',
    was && (was.title !== step.title || was.instructions !== step.instructions) ? 'edited' : '',
  ].filter(Boolean);
}

function EditableStep({
  step,
  number,
  marks,
  first,
  last,
  only,
  onChange,
  onMove,
  onRemove,
}: {
  step: DraftStep;
  number: number;
  marks: string[];
  first: boolean;
  last: boolean;
  only: boolean;
  onChange: (patch: Partial<Pick<DraftStep, 'title' | 'instructions' | 'ask'>>) => void;
  onMove: (delta: -1 | 1) => void;
  onRemove: () => void;
}) {
  const id = `plan-${step.key}`;
  return (
    <li
      data-testid={`edit-step-${number - 1}`}
      role="group"
      aria-labelledby={`${id}-heading`}
      className="space-y-3 rounded-md border border-slate-700 bg-slate-900/60 p-4"
    >
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h3 id={`${id}-heading`} className="font-medium text-slate-100">
          Step {number}
          {marks.map((mark) => (
            <span key={mark} className="ml-2 text-xs font-normal text-sky-300">
              {mark}
            </span>
          ))}
        </h3>
        <div className="flex gap-1">
          <button type="button" disabled={first} onClick={() => onMove(-1)} aria-label={`Move step ${number} up`} className={SMALL}>
            Move up
          </button>
          <button type="button" disabled={last} onClick={() => onMove(1)} aria-label={`Move step ${number} down`} className={SMALL}>
            Move down
          </button>
          <button type="button" disabled={only} onClick={onRemove} aria-label={`Remove step ${number}`} className={SMALL}>
            Remove
          </button>
        </div>
      </div>
      <div className="space-y-1">
        <label htmlFor={`${id}-title`} className="block text-xs font-medium text-slate-300">
          Title of step {number}
        </label>
        <input
          id={`${id}-title`}
          value={step.title}
          required
          maxLength={LIMITS.stepTitleMaxChars}
          onChange={(e) => onChange({ title: e.target.value })}
          className={`${TEXT_FIELD} border-slate-700 text-sm`}
        />
      </div>
      <div className="space-y-1">
        <label htmlFor={`${id}-instructions`} className="block text-xs font-medium text-slate-300">
          Instructions for step {number}
        </label>
        <textarea
          id={`${id}-instructions`}
          value={step.instructions}
          rows={3}
          maxLength={LIMITS.stepInstructionsMaxChars}
          onChange={(e) => onChange({ instructions: e.target.value })}
          className={`${TEXT_FIELD} border-slate-700 text-sm`}
        />
      </div>
      <label className="flex items-center gap-2 text-sm text-slate-200">
        <input
          type="checkbox"
          checked={step.ask}
          onChange={(e) => onChange({ ask: e.target.checked })}
          className="h-4 w-4 rounded border-slate-600 bg-slate-900 accent-sky-500"
        />
        Ask before running step {number}
      </label>
    </li>
  );
}
