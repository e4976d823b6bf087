/**
 * `npm run test:faults -- --runs 50 --seed 1234 [--concurrency 8] [--reviews N] [--keep] [--cluster]`: the
 * fault harness (faults/) against the real parts as separate processes; with `--cluster`, against the
 * production topology (PostgreSQL, Temporal as five processes, two web replicas, nginx in front). Prints the seed first and a
 * table at the end; exits non-zero when a run is lost or ends in the wrong state, an event is
 * lost or duplicated, or a completed step was executed again.
 */
import { ensureWebBuild } from '../devstack/processes';
import { runFaultHarness } from '../faults/harness';
import { formatReport } from '../faults/report';

const log = (line: string) => process.stderr.write(`[faults] ${line}\n`);

type Args = { runs: number; seed: number; concurrency?: number; reviews?: number; keepDir: boolean; topology: 'dev' | 'cluster' };

function parseArgs(argv: string[]): Args {
  const out: Args = {
    runs: 50,
    seed: Math.floor(Math.random() * 1_000_000),
    keepDir: false,
    topology: 'dev',
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => {
      const text = inline ?? argv[++i];
      const number = Number(text);
      if (!Number.isInteger(number) || number < 0) throw new Error(`${flag} wants a whole number, got ${text}`);
      return number;
    };
    if (flag === '--runs') out.runs = Math.max(1, value());
    else if (flag === '--seed') out.seed = value();
    else if (flag === '--concurrency') out.concurrency = Math.max(1, value());
    else if (flag === '--reviews') out.reviews = value();
    else if (flag === '--keep') out.keepDir = true;
    else if (flag === '--cluster') out.topology = 'cluster';
    else throw new Error(`unknown argument ${argv[i]} (use --runs N --seed N [--concurrency N] [--reviews N] [--keep] [--cluster])`);
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // Printed first, so a run that hangs or is interrupted can still be reproduced.
  log(`seed ${args.seed} (rerun with --seed ${args.seed} --runs ${args.runs}${args.topology === 'cluster' ? ' --cluster' : ''})`);
  ensureWebBuild(log);
  // Ctrl-C: the harness's exit hook kills every process it started.
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(143));
  const result = await runFaultHarness({ ...args, log });
  process.stdout.write(formatReport(result));
  process.exit(result.ok ? 0 : 1);
}

main().catch((err: Error) => {
  log(err.stack ?? err.message);
  process.exit(1);
});
