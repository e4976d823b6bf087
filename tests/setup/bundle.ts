/** Workflow bundles for the test workers: built once, written to a file the workers load. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

const quiet = { error: console.error, warn: () => {}, info: () => {}, debug: () => {}, trace: () => {}, log: () => {} };

/** Bundle the workflows (with a custom failure converter, if given) into `dir`/`name`. */
export async function writeWorkflowBundle(dir: string, name: string, failureConverterPath?: string): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), failureConverterPath, logger: quiet });
  const codePath = join(dir, name);
  writeFileSync(codePath, code);
  return codePath;
}
