/**
 * Links from the Temporal UI to a run in the web app. The UI renders a workflow's user metadata
 * (its summary and details, set when the web app starts it) and its current details (set by the
 * workflow, read through the `__temporal_workflow_metadata` query) as Markdown: the run's page,
 * and once its code steps are verified, each file they wrote and all of them as a zip. All three
 * are payloads: with payload encryption on they are encrypted like the task itself, and the UI
 * shows them through the codec endpoint.
 *
 * Pure and import-free at run time: the workflow, the web app and the browser share it.
 */
import type { ArtifactRef } from '../artifacts/ref';
import type { StoryState } from './data';

export interface RunFile extends ArtifactRef {
  /** The step (0-based) that wrote it. */
  stepIndex: number;
}

/** The files of each code step's latest verification round, in step order; a path written by two steps is the later step's. */
export function runFiles(state: Pick<StoryState, 'steps'>): RunFile[] {
  const byPath = new Map<string, RunFile>();
  for (const step of state.steps) {
    for (const file of step.verification?.report?.files ?? []) {
      byPath.set(file.path, { path: file.path, bytes: file.bytes, sha256: file.sha256, stepIndex: step.index });
    }
  }
  return [...byPath.values()];
}

/** How long the summary may be: a line in the UI's list and header. */
export const SUMMARY_MAX_CHARS = 100;

/** What could make the user's text a link or markup where the UI renders Markdown, escaped (rare in a task's first line). */
function escapeMarkdown(text: string): string {
  return text.replace(/[\\[\]<>`]/g, (c) => `\\${c}`);
}

/** The task's first line, shortened, as plain text in Markdown. */
export function runSummary(task: string): string {
  const line = task.trim().split('\n')[0].trim().replace(/\s+/g, ' ');
  const short = line.length > SUMMARY_MAX_CHARS ? `${line.slice(0, SUMMARY_MAX_CHARS - 1).trimEnd()}…` : line;
  return escapeMarkdown(short);
}

/** The run's page in the web app; `appUrl` without a trailing slash. */
export function runPageUrl(appUrl: string, workflowId: string): string {
  return `${appUrl}/runs/${encodeURIComponent(workflowId)}`;
}

/** The static details: a link to the run's page. */
export function runDetails(appUrl: string, workflowId: string): string {
  return `[Open this run in Buildstory](${runPageUrl(appUrl, workflowId)})`;
}

/** The current details once the run has files: each file's page, and all as a zip. Empty without files. */
export function runFilesDetails(appUrl: string, workflowId: string, files: readonly ArtifactRef[]): string {
  if (files.length === 0) return '';
  const page = runPageUrl(appUrl, workflowId);
  return [
    `**Files** ([all, as a zip](${page}/files.zip))`,
    '',
    // Paths are letters, digits, `.`, `_`, `-` and `/` (activities/verify/files.ts): safe in a code span.
    ...files.map((file) => `- [\`${file.path}\`](${page}/files/${file.sha256}) (${file.bytes} bytes)`),
  ].join('\n');
}
