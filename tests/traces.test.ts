/**
 * Traces end to end: the web app and a worker run as real processes with OTEL_EXPORTER_OTLP_ENDPOINT
 * pointing at an OTLP/HTTP receiver in this test, payload encryption on and the test LLM server as
 * the model. One run submitted through the form is one trace: the request, the workflow start, the
 * workflow, its activities and the model calls with their token counts, each the child of the one
 * before; and no attribute or event holds the task, the API key or an encryption key.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { encryptionDataConverter, type EncryptionKeys } from '../codec';
import { startRunViaForm } from '../devstack/form';
import { startPart, webPart, workerPart, type ServedPartSpec, type StartedPart } from '../devstack/parts';
import { freePort } from '../devstack/processes';
import { startTestLlmServer, type TestLlmServer } from './fixtures/llm-server';
import { encryptionEnv } from './setup/stack';
import { sharedServer, uniqueTaskQueue } from './setup/temporal';

const OPENAI_KEY = 'sk-test-TRACE-NEVER-7c1d9e0a4b';
const encryption: EncryptionKeys = { keys: new Map([['k1', randomBytes(32)]]), currentKeyId: 'k1' };
/** Distinctive text in the task, to look for in every attribute. */
const MARKER = `WOMBAT${randomUUID().replace(/-/g, '').slice(0, 12)}`;
const TASK = `Create a hello world python function that prints ${MARKER}`;

/** An OTLP attribute value, as the JSON encoding has it. */
interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
}
interface KeyValue {
  key: string;
  value: AnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: KeyValue[];
  events?: Array<{ name: string; attributes?: KeyValue[] }>;
  status?: { code?: number; message?: string };
}
interface ReceivedSpan extends OtlpSpan {
  service: string;
  attrs: Record<string, unknown>;
}

const value = (v: AnyValue): unknown =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue ?? v.arrayValue?.values?.map(value)));
const attrs = (list: KeyValue[] = []) => Object.fromEntries(list.map((kv) => [kv.key, value(kv.value)]));

/** An OTLP/HTTP receiver of JSON-encoded traces (what exporter-trace-otlp-http sends). */
async function startOtlpReceiver(): Promise<{ endpoint: string; spans: ReceivedSpan[]; bodies: string[]; close(): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const bodies: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !/json/.test(req.headers['content-type'] ?? '')) {
        res.writeHead(415).end();
        return;
      }
      bodies.push(body);
      const parsed = JSON.parse(body) as {
        resourceSpans?: Array<{ resource?: { attributes?: KeyValue[] }; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>;
      };
      for (const rs of parsed.resourceSpans ?? []) {
        const service = String(attrs(rs.resource?.attributes)['service.name']);
        for (const ss of rs.scopeSpans ?? [])
          for (const span of ss.spans ?? []) spans.push({ ...span, service, attrs: attrs(span.attributes) });
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    bodies,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
let llm: TestLlmServer;
let worker: StartedPart | undefined;
let web: StartedPart<ServedPartSpec> | undefined;
let connection: Connection;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  llm = await startTestLlmServer();
  const env = {
    TEMPORAL_ADDRESS: sharedServer().address,
    TEMPORAL_TASK_QUEUE: uniqueTaskQueue('traces'),
    OPENAI_API_KEY: OPENAI_KEY,
    OPENAI_BASE_URL: llm.baseURL,
    OPENAI_MODEL: 'test-model',
    BUILDSTORY_VERIFY: 'off',
    LOG_LEVEL: 'warn',
    ...encryptionEnv(encryption),
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    // The SDK's batch interval (5 s by default), so the test need not wait long for the spans.
    OTEL_BSP_SCHEDULE_DELAY: '100',
  };
  const healthPort = await freePort();
  worker = startPart(workerPart({ name: 'worker:traces', healthPort, env: { ...env, WORKER_HEALTH_PORT: String(healthPort) } }));
  web = startPart(webPart({ name: 'web:traces', port: await freePort(), env }));
  await Promise.all([web.ready(), worker.ready(90_000)]);
  connection = await Connection.connect({ address: sharedServer().address });
}, 120_000);

afterAll(async () => {
  await connection?.close();
  await web?.stop();
  await worker?.stop();
  await llm?.close();
  await receiver?.close();
});

/** Wait until `check` passes on the spans received so far. */
async function spansWhen<T>(check: (spans: ReceivedSpan[]) => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = check(receiver.spans);
    if (found !== undefined) return found;
    if (Date.now() > deadline)
      throw new Error(`spans not there after ${timeoutMs} ms: ${receiver.spans.map((s) => `${s.service} ${s.name}`).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('one run is one trace: submit request → workflow start → workflow → activities → model calls with token counts; nothing secret in it', async () => {
  const workflowId = await startRunViaForm(web!.base, TASK);
  const dataConverter = encryptionDataConverter(encryption);
  const client = new Client({ connection, ...(dataConverter ? { dataConverter } : {}) });
  const result = (await client.workflow.getHandle(workflowId).result()) as { status: string; steps: unknown[] };
  expect(result.status).toBe('completed');

  // The workflow start's span names the run; its trace is the run's.
  const start = await spansWhen((spans) =>
    spans.find((s) => s.name === 'StartWorkflow:taskWorkflow' && s.attrs.temporalWorkflowId === workflowId),
  );
  const trace = await spansWhen((spans) => {
    const mine = spans.filter((s) => s.traceId === start.traceId);
    const done =
      mine.some((s) => s.name === 'RunWorkflow:taskWorkflow') &&
      mine.filter((s) => s.name === 'RunActivity:executeStep').length >= result.steps.length;
    return done ? mine : undefined;
  });
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  const parentOf = (span: ReceivedSpan) => (span.parentSpanId ? byId.get(span.parentSpanId) : undefined);

  // The submit request, in the web process, is the root.
  const request = parentOf(start)!;
  expect(request).toMatchObject({ service: 'buildstory-web', name: 'POST /', kind: 2 /* SERVER */ });
  expect(request.attrs).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/' });
  expect(request.parentSpanId ?? '').toBe('');
  expect(start.service).toBe('buildstory-web');

  // The workflow, in the worker, under the start.
  const run = trace.find((s) => s.name === 'RunWorkflow:taskWorkflow')!;
  expect(run.service).toBe('buildstory-worker');
  expect(parentOf(run)).toBe(start);
  // Of the workflow's info, names and ids only (Temporal's sink would add the memo, the task in it).
  expect(Object.keys(run.attrs).sort()).toEqual(['attempt', 'namespace', 'runId', 'taskQueue', 'workflowId', 'workflowType']);

  // Each activity: scheduled by the workflow (StartActivity), run on the worker (RunActivity).
  const activities = trace.filter((s) => s.name.startsWith('RunActivity:'));
  expect(activities.map((s) => s.name)).toEqual(expect.arrayContaining(['RunActivity:planTask', 'RunActivity:executeStep']));
  for (const activity of activities) {
    const scheduled = parentOf(activity)!;
    expect(scheduled.name).toBe(activity.name.replace('RunActivity', 'StartActivity'));
    expect(parentOf(scheduled)).toBe(run);
    expect(activity.attrs.temporalWorkflowId).toBe(workflowId);
  }

  // One model call per planTask and executeStep run, its child, with the model and the token counts.
  const calls = trace.filter((s) => s.name === 'chat test-model');
  const callers = activities.filter((s) => /:(planTask|executeStep)$/.test(s.name));
  expect(calls).toHaveLength(callers.length);
  for (const call of calls) {
    expect(call.service).toBe('buildstory-worker');
    expect(call.kind).toBe(3); // CLIENT
    expect(callers).toContain(parentOf(call));
    expect(call.attrs).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'test-model',
      'buildstory.llm.offline': false,
      'buildstory.llm.call': parentOf(call)!.name === 'RunActivity:planTask' ? 'plan' : 'step',
      'gen_ai.usage.input_tokens': expect.any(Number),
      'gen_ai.usage.output_tokens': expect.any(Number),
    });
    expect(call.attrs['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(call.attrs['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
  }
  expect(calls.filter((c) => c.attrs['buildstory.llm.call'] === 'step')).toHaveLength(result.steps.length);

  // Nothing of the task, the key or the encryption key anywhere in what was exported: attributes,
  // events, status messages, resource attributes (the raw bodies, to miss nothing).
  const everything = receiver.bodies.join('\n');
  expect(everything).toContain(workflowId); // the search can find things
  expect(llm.calls.some((c) => JSON.stringify(c).includes(MARKER))).toBe(true); // the task did reach the model
  for (const secret of [MARKER, OPENAI_KEY, encryption.keys.get('k1')!.toString('base64')]) expect(everything).not.toContain(secret);
});
