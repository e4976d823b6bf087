/**
 * `buildstory`: Buildstory from a terminal, through its JSON API (/api/v1).
 *
 *   buildstory run "Create a hello world python function" [--review] [--follow]
 *   buildstory list [--status running] [--limit 20]
 *   buildstory show <id>          buildstory follow <id>
 *   buildstory cancel <id>        buildstory retry <id> [--follow]     buildstory again <id> [--follow]
 *   buildstory approve <id>       buildstory reject <id> [--reason "..."]
 *   buildstory files <id> [--out dir]
 *
 * Against http://localhost:3000 unless --url or BUILDSTORY_URL says otherwise; with access control
 * on, a token from /account in BUILDSTORY_TOKEN (or --token). `--json` prints machine-readable
 * output (for `follow`, one JSON object per line). Exit codes: 0 done (a followed run completed),
 * 1 the run failed or reached its budget, 2 it was cancelled or expired, 3 its plan was rejected,
 * 4 the API refused the request, 5 Buildstory could not be reached, 64 bad usage.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve as resolvePath, sep } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import pc from 'picocolors';
import type { ProgressSnapshot, RunStatus, StoryEvent } from '../contract/data';
import type { StoryView } from '../web/app/utils/story-view';
import { Api, ApiError, UnreachableError } from './api';
import { followRun } from './follow';
import { eventLine, frame, summaryLine } from './render';
import { LiveRegion } from './terminal';

const VERSION = '0.1.0';

export const EXIT = { ok: 0, failed: 1, cancelled: 2, rejected: 3, api: 4, unreachable: 5, usage: 64 } as const;

export function exitCodeOf(status: RunStatus): number {
  if (status === 'completed') return EXIT.ok;
  if (status === 'failed' || status === 'budget-reached') return EXIT.failed;
  if (status === 'rejected') return EXIT.rejected;
  return EXIT.cancelled;
}

interface RunRef {
  workflowId: string;
  runId?: string;
  href: string;
}

interface RunSummary {
  workflowId: string;
  status: string;
  reviewState: string | null;
  task: string | null;
  startTime: string;
  durationMs: number | null;
}

interface Run {
  workflowId: string;
  runId: string;
  temporalStatus: string;
  waitingForWorker: boolean;
  task: string | null;
  error?: string;
  uiUrl: string;
  snapshot: ProgressSnapshot | null;
}

interface Globals {
  url: string;
  token?: string;
  json?: boolean;
}

interface Io {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
}

function print(io: Io, text: string): void {
  io.out.write(`${text}\n`);
}

function printJson(io: Io, value: unknown): void {
  io.out.write(`${JSON.stringify(value)}\n`);
}

/** Follows a run to its end: live in a terminal, a line per event on a pipe, JSON lines with --json. */
async function follow(api: Api, io: Io, id: string, json: boolean): Promise<number> {
  const live = !json && io.out.isTTY ? new LiveRegion(io.out) : null;
  let view: StoryView | null = null;
  let note: string | null = null;
  let tick = 0;
  const redraw = () => {
    if (live && view) live.draw(frame(view, { tick, width: live.columns, outputLines: 6, note }));
  };
  const spinner = live ? setInterval(() => (tick++, redraw()), 120) : null;
  try {
    const result = await followRun(api, id, {
      onView: (next) => {
        view = next;
        redraw();
      },
      onEvent: (event: StoryEvent, runId: string) => {
        if (json) printJson(io, { type: 'story', workflowId: id, runId, event });
        else if (!live) {
          const line = eventLine(event);
          if (line) print(io, line);
        }
      },
      onStream: (state) => {
        note = state === 'live' || state === 'connecting' ? null : state.replace(/-/g, ' ');
        if (json) printJson(io, { type: 'stream', workflowId: id, state });
        else if (!live && note) print(io, pc.yellow(`(${note})`));
        redraw();
      },
    });
    note = null;
    if (json) printJson(io, { type: 'end', workflowId: id, runId: result.runId, status: result.status });
    else {
      if (live) {
        redraw();
        live.done();
      }
      // The result under the story (it scrolls as any output does), and the outcome last.
      if (result.view.result && result.status === 'completed') print(io, `\n${result.view.result.trimEnd()}\n`);
      print(io, summaryLine(result.view));
    }
    return exitCodeOf(result.status);
  } finally {
    if (spinner) clearInterval(spinner);
  }
}

function pageUrl(globals: Globals, workflowId: string): string {
  return `${globals.url.replace(/\/+$/, '')}/runs/${encodeURIComponent(workflowId)}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function program(io: Io, env: NodeJS.ProcessEnv, setExit: (code: number) => void): Command {
  const cli = new Command('buildstory')
    .description('Buildstory from a terminal: start, follow and control runs through the JSON API.')
    .version(VERSION)
    .addOption(new Option('--url <url>', 'the Buildstory web app').env('BUILDSTORY_URL').default('http://localhost:3000'))
    .addOption(new Option('--token <token>', 'an API token from /account (better: BUILDSTORY_TOKEN)').env('BUILDSTORY_TOKEN'))
    .option('--json', 'machine-readable output')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
    .showHelpAfterError();

  const api = () => {
    const g = cli.opts<Globals>();
    return { api: new Api({ url: g.url, token: g.token ?? null, version: VERSION }), g };
  };

  cli
    .command('run')
    .description('start a run of a task')
    .argument('<task>', 'what to build, e.g. "Create a hello world python function"')
    .option('--review', 'wait for a person to approve the plan before it runs')
    .option('--follow', 'follow the run to its end (exit code: its outcome)')
    .option('--idempotency-key <key>', 'the same key and task start one run, however often sent')
    .action(async (task: string, o: { review?: boolean; follow?: boolean; idempotencyKey?: string }) => {
      const { api: client, g } = api();
      const ref = await client.post<RunRef>(
        '/runs',
        { task, ...(o.review ? { review: true } : {}) },
        o.idempotencyKey ? { 'Idempotency-Key': o.idempotencyKey } : {},
      );
      if (g.json) printJson(io, ref);
      else print(io, `${pc.bold(ref.workflowId)}  ${pc.dim(pageUrl(g, ref.workflowId))}`);
      if (o.follow) setExit(await follow(client, io, ref.workflowId, !!g.json));
    });

  cli
    .command('list')
    .description('list runs, newest first')
    .option('--status <status>', 'only runs in this state (running, completed, failed, review, queued, ...)')
    .option('--limit <n>', 'runs per page', '20')
    .option('--cursor <cursor>', "the previous page's next cursor")
    .action(async (o: { status?: string; limit: string; cursor?: string }) => {
      const { api: client, g } = api();
      const query = new URLSearchParams({
        limit: o.limit,
        ...(o.status ? { status: o.status } : {}),
        ...(o.cursor ? { cursor: o.cursor } : {}),
      });
      const page = await client.get<{ runs: RunSummary[]; nextCursor: string | null }>(`/runs?${query}`);
      if (g.json) return printJson(io, page);
      if (page.runs.length === 0) return print(io, 'No runs.');
      const rows = [['ID', 'STATUS', 'STARTED', 'TASK']].concat(
        page.runs.map((r) => [
          r.workflowId,
          r.reviewState === 'waiting' ? 'review' : r.status.toLowerCase(),
          r.startTime.slice(0, 16).replace('T', ' '),
          (r.task ?? '').split('\n')[0]!.slice(0, 60),
        ]),
      );
      print(io, table(rows));
      if (page.nextCursor) print(io, pc.dim(`more: buildstory list --cursor ${page.nextCursor}${o.status ? ` --status ${o.status}` : ''}`));
    });

  cli
    .command('show')
    .description("a run's status and story")
    .argument('<id>', 'the run id (task-...)')
    .action(async (id: string) => {
      const { api: client, g } = api();
      const run = await client.get<Run>(`/runs/${encodeURIComponent(id)}`);
      if (g.json) return printJson(io, run);
      if (!run.snapshot) {
        print(io, `${run.workflowId}: ${run.temporalStatus.toLowerCase()}${run.error ? ` (${run.error})` : ''}`);
      } else {
        const view: StoryView = { ...run.snapshot, runId: run.runId, gap: false };
        print(
          io,
          frame(view, {
            tick: 0,
            width: io.out.columns || 100,
            outputLines: 6,
            note: run.waitingForWorker ? 'waiting for a worker' : null,
          }).join('\n'),
        );
      }
      print(io, pc.dim(`${pageUrl(g, run.workflowId)}  ·  Temporal: ${run.uiUrl}`));
    });

  cli
    .command('follow')
    .description('follow a run live to its end (exit code: its outcome)')
    .argument('<id>', 'the run id')
    .action(async (id: string) => {
      const { api: client, g } = api();
      setExit(await follow(client, io, id, !!g.json));
    });

  cli
    .command('files')
    .description("the files a run's code steps wrote; --out saves them")
    .argument('<id>', 'the run id')
    .option('--out <dir>', 'write them under this directory (their paths kept, checked against their SHA-256)')
    .action(async (id: string, o: { out?: string }) => {
      const { api: client, g } = api();
      const { files } = await client.get<{ files: Array<{ path: string; bytes: number; sha256: string; href: string }> }>(
        `/runs/${encodeURIComponent(id)}/files`,
      );
      if (o.out) {
        for (const file of files) {
          const bytes = await client.bytes(file.href.replace(/^\/api\/v1/, ''));
          if (createHash('sha256').update(bytes).digest('hex') !== file.sha256)
            throw new Error(`${file.path}: the bytes do not match its SHA-256`);
          const target = resolvePath(o.out, file.path);
          if (!target.startsWith(resolvePath(o.out) + sep)) throw new Error(`${file.path}: a path outside ${o.out}`);
          mkdirSync(dirname(target), { recursive: true });
          writeFileSync(target, bytes);
        }
      }
      if (g.json) return printJson(io, files);
      if (files.length === 0) return print(io, 'No files.');
      print(io, table([['PATH', 'BYTES', 'SHA-256']].concat(files.map((f) => [f.path, String(f.bytes), f.sha256.slice(0, 16)]))));
      if (o.out) print(io, pc.dim(`saved ${files.length} file${files.length === 1 ? '' : 's'} under ${o.out}`));
    });

  const control = (name: string, path: string, description: string, canFollow: boolean) => {
    const command = cli.command(name).description(description).argument('<id>', 'the run id');
    if (canFollow) command.option('--follow', 'follow the new run to its end');
    command.action(async (id: string, o: { follow?: boolean }) => {
      const { api: client, g } = api();
      const ref = await client.post<RunRef>(`/runs/${encodeURIComponent(id)}/${path}`);
      if (g.json) printJson(io, ref);
      else print(io, `${name === 'cancel' ? 'cancel requested' : name === 'again' ? 'started' : 'retrying'}: ${pc.bold(ref.workflowId)}`);
      if (o.follow) setExit(await follow(client, io, ref.workflowId, !!g.json));
    });
  };
  control('cancel', 'cancel', 'cancel a running run', false);
  control('retry', 'retry', 'retry a failed or cancelled run from its failed step', true);
  control('again', 'run-again', 'start a new run of the same task', true);

  const review = (decision: 'approve' | 'reject') => {
    const command = cli
      .command(decision)
      .description(decision === 'approve' ? 'approve the plan a run waits for' : 'reject the plan a run waits for (the run ends)')
      .argument('<id>', 'the run id');
    if (decision === 'reject') command.option('--reason <text>', 'why, for the story');
    command.action(async (id: string, o: { reason?: string }) => {
      const { api: client, g } = api();
      const run = await client.get<Run>(`/runs/${encodeURIComponent(id)}`);
      const revision = run.snapshot?.review?.revision;
      if (!revision)
        throw new ApiError(409, 'This run waits for no review', `It is ${run.snapshot?.status ?? run.temporalStatus.toLowerCase()}.`, null);
      const body = { decision, revision, ...(decision === 'reject' && o.reason ? { reason: o.reason } : {}) };
      const ref = await client.post<RunRef>(`/runs/${encodeURIComponent(id)}/review`, body);
      if (g.json) printJson(io, ref);
      else print(io, `${decision === 'approve' ? 'approved' : 'rejected'}: ${pc.bold(ref.workflowId)} (plan revision ${revision})`);
    });
  };
  review('approve');
  review('reject');

  return cli;
}

/** Runs the CLI on these arguments (without node and the script); resolves with the exit code. */
export async function main(argv: string[], io: Io = { out: process.stdout, err: process.stderr }, env = process.env): Promise<number> {
  let code: number = EXIT.ok;
  const cli = program(io, env, (c) => (code = c));
  try {
    await cli.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof ApiError) {
      io.err.write(
        `${pc.red('error:')} ${err.message}${err.status === 401 ? pc.dim(' (set BUILDSTORY_TOKEN to a token from /account)') : ''}\n`,
      );
      return EXIT.api;
    }
    if (err instanceof UnreachableError) {
      io.err.write(`${pc.red('error:')} ${err.message}\n`);
      return EXIT.unreachable;
    }
    io.err.write(`${pc.red('error:')} ${(err as Error).message}\n`);
    return EXIT.usage;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
