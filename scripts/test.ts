/**
 * `npm test`: install what is missing (the Temporal CLI, the web build), check the client bundle
 * (scripts/check-bundle.ts), type-check, lint (ESLint, with the rules that hold the design's
 * boundaries: eslint.config.mjs), check the formatting (Prettier), then jest.
 * Jest's globalSetup starts one real Temporal dev server for the whole run. Extra arguments go to
 * jest, e.g. `npm test -- workflows/`.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, ensureWebBuild } from '../devstack/processes';
import { ensureTemporalCli } from '../devstack/temporal';
import { checkClientBundle } from './check-bundle';

const log = (line: string) => process.stdout.write(`[test] ${line}\n`);

function run(command: string, args: string[]): void {
  const result = spawnSync(join(ROOT, 'node_modules', '.bin', command), args, { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

async function main(): Promise<void> {
  const started = Date.now();
  await ensureTemporalCli(log);
  ensureWebBuild(log);
  const problems = checkClientBundle(log);
  if (problems.length > 0) {
    for (const problem of problems) log(`FAIL ${problem}`);
    process.exit(1);
  }
  log('type-checking...');
  run('tsc', ['-p', 'tsconfig.json']);
  run('tsc', ['-p', 'web/tsconfig.json']);
  run('tsc', ['-p', 'bench/tsconfig.json']);
  log('linting...');
  run('eslint', ['.']);
  run('prettier', ['--check', '--log-level', 'warn', '**/*.{ts,tsx,mjs,cjs,js}']);
  // --forceExit: child processes the tests start are stopped in their afterAll hooks, but a stray
  // handle (a gRPC channel's retry timer) must never hold a CI run open after the last test.
  run('jest', ['--ci', '--forceExit', ...process.argv.slice(2)]);
  log(`done in ${Math.round((Date.now() - started) / 1000)} s`);
}

main().catch((err: Error) => {
  log(err.message);
  process.exit(1);
});
