/**
 * The lint rules that hold the design's boundaries (eslint.config.mjs) do fail: each probe is a
 * file written where such code would live, linted by the ESLint command with the project's own
 * configuration and types (one run for all of them), then removed.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../devstack/processes';

const RESTRICTED = '@typescript-eslint/no-restricted-imports';
const FLOATING = '@typescript-eslint/no-floating-promises';

/** [where, source, rule ids expected: [] for none] */
const PROBES: Record<string, [string, string, string[]]> = {
  'workflow: a Node built-in': [
    'workflows/probe.ts',
    "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n",
    [RESTRICTED],
  ],
  'workflow: a Node built-in without node:': [
    'workflows/probe.ts',
    "import * as path from 'path';\nexport const x = path.sep;\n",
    [RESTRICTED],
  ],
  'workflow: the OpenAI client': ['workflows/probe.ts', "import OpenAI from 'openai';\nexport const x = OpenAI;\n", [RESTRICTED]],
  'workflow: the configuration': [
    'workflows/probe.ts',
    "import { loadWorkerConfig } from '../config/worker';\nexport const x = loadWorkerConfig;\n",
    [RESTRICTED],
  ],
  'workflow: the codec': [
    'workflows/probe.ts',
    "import { EncryptionCodec } from '../codec';\nexport const x = EncryptionCodec;\n",
    [RESTRICTED],
  ],
  'workflow: activity code, not as a type': [
    'workflows/probe.ts',
    "import { createActivities } from '../activities';\nexport const x = createActivities;\n",
    [RESTRICTED],
  ],
  'workflow: activities as types (allowed)': [
    'workflows/probe.ts',
    "import type { Activities } from '../activities';\nexport type X = Activities;\n",
    [],
  ],
  'workflow test: Node (allowed)': [
    'workflows/probe.test.ts',
    "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n",
    [],
  ],
  'workflow: the artifact store': [
    'workflows/probe.ts',
    "import { LocalArtifactStore } from '../artifacts';\nexport const x = LocalArtifactStore;\n",
    [RESTRICTED],
  ],
  'workflow: artifact refs (allowed)': [
    'workflows/probe.ts',
    "import { SHA256_HEX, type ArtifactRef } from '../artifacts/ref';\nexport const x = SHA256_HEX;\nexport type X = ArtifactRef;\n",
    [],
  ],
  'artifact storage: workflow code': [
    'artifacts/probe.ts',
    "import { sleep } from '@temporalio/workflow';\nexport const x = sleep;\n",
    [RESTRICTED],
  ],
  'a promise nobody awaits': [
    'workflows/probe.ts',
    'async function later(): Promise<void> {}\nexport function now(): void {\n  later();\n}\n',
    [FLOATING],
  ],
  'activity: the web app': [
    'activities/probe.ts',
    "import { RUN_ID_PATTERN } from '../web/app/utils/run-id';\nexport const x = RUN_ID_PATTERN;\n",
    [RESTRICTED],
  ],
  'browser: the Temporal client': [
    'web/app/components/Probe.tsx',
    "import { Client } from '@temporalio/client';\nexport const x = Client;\n",
    [RESTRICTED],
  ],
  'browser: the workflow': [
    'web/app/routes/probe.tsx',
    "import { taskWorkflow } from '../../../workflows';\nexport const x = taskWorkflow;\n",
    [RESTRICTED],
  ],
  'browser: the artifact store': [
    'web/app/routes/probe.tsx',
    "import { zipArtifacts } from '../../../artifacts';\nexport const x = zipArtifacts;\n",
    [RESTRICTED],
  ],
  'server module: the artifact store (allowed)': [
    'web/app/utils/probe.server.ts',
    "import { zipArtifacts } from '../../../artifacts';\nexport const x = zipArtifacts;\n",
    [],
  ],
  'server module: the Temporal client (allowed)': [
    'web/app/utils/probe.server.ts',
    "import { Client } from '@temporalio/client';\nexport const x = Client;\n",
    [],
  ],
};

const found = new Map<string, string[]>();

beforeAll(async () => {
  const suffix = randomBytes(4).toString('hex');
  const files = Object.entries(PROBES).map(([name, [path, source]], index) => {
    const file = join(ROOT, path.replace(/\/([^/.]+)\./, `/$1-${suffix}-${index}.`));
    writeFileSync(file, source);
    return [name, file] as const;
  });
  try {
    // ESLint exits 1 when it finds problems, as it must here.
    const { stdout } = await promisify(execFile)(
      join(ROOT, 'node_modules', '.bin', 'eslint'),
      ['--format', 'json', ...files.map(([, file]) => file)],
      {
        cwd: ROOT,
        maxBuffer: 16 * 1024 * 1024,
      },
    ).catch((err: { stdout?: string; stderr?: string }) => {
      if (!err.stdout) throw new Error(`eslint failed: ${err.stderr}`);
      return { stdout: err.stdout };
    });
    const results = JSON.parse(stdout) as Array<{ filePath: string; messages: Array<{ ruleId: string | null; message: string }> }>;
    for (const [name, file] of files) {
      const result = results.find((entry) => entry.filePath === file);
      found.set(name, result?.messages.map((message) => message.ruleId ?? message.message) ?? ['(not linted)']);
    }
  } finally {
    for (const [, file] of files) rmSync(file, { force: true });
  }
}, 120_000);

test.each(Object.entries(PROBES))('%s', (name, [, , expected]) => {
  expect([...new Set(found.get(name))]).toEqual(expected);
});
