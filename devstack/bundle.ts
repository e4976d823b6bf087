/** Workflow bundles for workers started in-process (tests, bench): built once, written to a file the workers load. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

const quiet = { error: console.error, warn: () => {}, info: () => {}, debug: () => {}, trace: () => {}, log: () => {} };

/**
 * Bundle the workflows (ours unless `workflowsPath` says otherwise, with a custom failure
 * converter and workflow interceptor modules if given: a worker given a prebuilt bundle ignores
 * its own) into `dir`/`name`; resolves with the file's path.
 */
export async function writeWorkflowBundle(
  dir: string,
  name: string,
  options: { workflowsPath?: string; failureConverterPath?: string; workflowInterceptorModules?: string[] } = {},
): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: options.workflowsPath ?? require.resolve('../workflows'),
    failureConverterPath: options.failureConverterPath,
    workflowInterceptorModules: options.workflowInterceptorModules,
    logger: quiet,
  });
  const codePath = join(dir, name);
  writeFileSync(codePath, code);
  return codePath;
}
