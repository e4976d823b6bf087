/**
 * The web app as a real process (web/server.ts on the production build) against the run's dev
 * server, with an in-process worker whose model is the test LLM server (or the offline model).
 * Shared by the HTTP, SSE and browser tests.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { OfflineProvider } from '../../activities/llm/offline';
import type { Price } from '../../contract/data';
import type { EncryptionKeys } from '../../codec';
import { workerDataConverter } from '../../codec/worker';
import { OpenAiProvider } from '../../activities/llm/openai';
import { collectGarbage, inspectorUrls } from '../../devstack/inspector';
import { startPart, webPart } from '../../devstack/parts';
import { freePort } from '../../devstack/processes';
import { parsePrometheus } from '../../devstack/stats';
import { startTestLlmServer, type TestLlmServer } from '../fixtures/llm-server';
import { connectTestEnv, createTestWorker, sharedServer, uniqueTaskQueue } from './temporal';

export interface Stack {
  base: string;
  env: TestWorkflowEnvironment;
  llm: TestLlmServer;
  taskQueue: string;
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  /** A full garbage collection in the web process (needs `inspect`). */
  collectWebGarbage(): Promise<void>;
  /** What the web process has written to stderr so far. */
  webStderr(): string;
  close(): Promise<void>;
}

export async function startStack(options: {
  name: string;
  model?: 'test-llm' | 'offline';
  chunkDelayMs?: number;
  /** Extra settings for the web process. */
  webEnv?: Record<string, string>;
  /** Payload encryption for the worker and (as BUILDSTORY_ENCRYPTION_KEYS) the web process. */
  encryption?: EncryptionKeys;
  /** Open the web process's inspector on a free port, for collectWebGarbage. */
  inspect?: boolean;
  /** The test model's price (US dollars per million tokens); none by default. */
  price?: Price;
}): Promise<Stack> {
  const env = await connectTestEnv();
  const llm = await startTestLlmServer({ chunkDelayMs: options.chunkDelayMs ?? 20 });
  const taskQueue = uniqueTaskQueue(options.name);
  const provider =
    options.model === 'offline'
      ? new OfflineProvider(5)
      : new OpenAiProvider({
          kind: 'openai',
          apiKey: 'test-key',
          baseURL: llm.baseURL,
          model: 'test-model',
          timeoutMs: 10_000,
          structuredOutput: 'auto',
          price: options.price ?? null,
        });

  let worker: { instance: Worker; running: Promise<void> } | null = null;
  const startWorker = async () => {
    if (worker) return;
    const instance = await createTestWorker(env, taskQueue, provider, workerDataConverter(options.encryption ?? null));
    worker = { instance, running: instance.run() };
  };
  const stopWorker = async () => {
    if (!worker) return;
    const current = worker;
    worker = null;
    current.instance.shutdown();
    await current.running;
  };

  const web = startPart(
    webPart({
      name: `web:${options.name}`,
      port: await freePort(),
      inspect: options.inspect,
      env: {
        TEMPORAL_ADDRESS: sharedServer().address,
        TEMPORAL_TASK_QUEUE: taskQueue,
        TEMPORAL_UI_URL: 'http://localhost:8233',
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
        ...(options.encryption ? encryptionEnv(options.encryption) : {}),
        ...options.webEnv,
      },
    }),
  );
  let webStderr = '';
  web.child.stderr?.on('data', (chunk: Buffer) => (webStderr += chunk.toString()));
  await startWorker();
  await web.ready();

  return {
    base: web.base,
    env,
    llm,
    taskQueue,
    startWorker,
    stopWorker,
    async collectWebGarbage() {
      const urls = inspectorUrls(webStderr);
      if (urls.length === 0) throw new Error('the web process has no inspector: start the stack with inspect: true');
      // tsx runs the server in a child node, and both processes announce an inspector: collect in each.
      await Promise.all(urls.map(collectGarbage));
    },
    webStderr: () => webStderr,
    async close() {
      await web.stop();
      await stopWorker();
      await llm.close();
      await env.teardown();
    },
  };
}

/** BUILDSTORY_ENCRYPTION_KEYS and BUILDSTORY_ENCRYPTION_KEY_ID for these keys. */
export function encryptionEnv({ keys, currentKeyId }: EncryptionKeys): Record<string, string> {
  return {
    BUILDSTORY_ENCRYPTION_KEYS: [...keys].map(([id, key]) => `${id}:${key.toString('base64')}`).join(','),
    BUILDSTORY_ENCRYPTION_KEY_ID: currentKeyId,
  };
}

/** The unlabelled series of /metrics, name → value. */
export async function metrics(base: string): Promise<Record<string, number>> {
  const samples = parsePrometheus(await (await fetch(`${base}/metrics`)).text());
  return Object.fromEntries(samples.filter((s) => Object.keys(s.labels).length === 0).map((s) => [s.name, s.value]));
}
