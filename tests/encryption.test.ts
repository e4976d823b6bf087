/**
 * Payload encryption end to end: a run started through the form with BUILDSTORY_ENCRYPTION_KEYS set
 * completes and reads back in the app, while Temporal's history (read without the keys, by the SDK
 * and by the CLI as the Temporal UI would) holds no plaintext of the task; the codec endpoint
 * decodes it for the Temporal UI's origin only, within its limits, and with access control on for
 * the users in BUILDSTORY_CODEC_USERS only; a wrong key fails clearly.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { PATCHES } from '../workflows';
import { EncryptionCodec, encryptionDataConverter, type EncryptionKeys } from '../codec';
import { WORKFLOW_NAME } from '../contract/data';
import { startRunViaForm } from '../devstack/form';
import { startStack, type Stack } from './setup/stack';
import { sharedServer } from './setup/temporal';

const run = promisify(execFile);
const UI_ORIGIN = 'http://localhost:8233';

const encryption: EncryptionKeys = { keys: new Map([['k1', randomBytes(32)]]), currentKeyId: 'k1' };
/** Distinctive text in the task; the offline model repeats the task in its result. */
const MARKER = `QUOKKA${randomUUID().replace(/-/g, '').slice(0, 12)}`;
const TASK = `Write a Python function that counts ${MARKER} words in a file`;

let encrypted: Stack;
let plain: Stack;
/** Encryption on, the test LLM server as the model (for a run that fails). */
let encryptedLlm: Stack;
/** Encryption and access control on; only alice may use the codec. */
let operated: Stack;
const PASSWORDS: Record<string, string> = { alice: 'alice-password-1', bob: 'bob-password-22' };
let workflowId: string;

beforeAll(async () => {
  [encrypted, plain, encryptedLlm, operated] = await Promise.all([
    startStack({ name: 'encryption', model: 'offline', encryption }),
    startStack({ name: 'no-encryption', model: 'offline' }),
    startStack({ name: 'encryption-llm', encryption }),
    startStack({
      name: 'encryption-auth',
      model: 'offline',
      encryption,
      webEnv: {
        BUILDSTORY_AUTH_PASSWORDS: Object.entries(PASSWORDS)
          .map(([user, password]) => `${user}:${password}`)
          .join(','),
        BUILDSTORY_SESSION_SECRET: 'test-session-secret-0123456789abcdef-0123456789',
        BUILDSTORY_CODEC_USERS: 'alice',
      },
    }),
  ]);
  workflowId = await startRunViaForm(encrypted.base, TASK);
  await pageWhen(encrypted, `/runs/${workflowId}`, /Completed/);
});
afterAll(async () => {
  await Promise.all([encrypted?.close(), plain?.close(), encryptedLlm?.close(), operated?.close()]);
});

async function pageWhen(stack: Stack, path: string, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let html = '';
  while (Date.now() < deadline) {
    html = await (await fetch(`${stack.base}${path}`)).text();
    if (pattern.test(html)) return html;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${path} never matched ${pattern}; last page:\n${html.slice(0, 2_000)}`);
}

/** Every event of the run's history, as stored: read with a client that has no codec. */
async function rawHistory(id: string): Promise<temporal.api.history.v1.IHistoryEvent[]> {
  const client = encrypted.env.client; // all stacks share one server
  const events: temporal.api.history.v1.IHistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId: id },
      nextPageToken,
    });
    events.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return events;
}

/** Every payload (an object with metadata and bytes of data) anywhere in `value`. */
function payloadsIn(value: unknown, found: Payload[] = []): Payload[] {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return found;
  const record = value as Record<string, unknown>;
  if (record.metadata && typeof record.metadata === 'object' && record.data instanceof Uint8Array) found.push(record as Payload);
  for (const child of Object.values(record)) payloadsIn(child, found);
  return found;
}

const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('utf8');
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

function codecPost(stack: Stack, op: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${stack.base}/codec/${op}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', Origin: UI_ORIGIN, ...headers },
    body: JSON.stringify(body),
  });
}

/** The run's input and its memo's task, as stored (encrypted). */
async function storedInputAndMemo(): Promise<Payload[]> {
  const started = (await rawHistory(workflowId))[0].workflowExecutionStartedEventAttributes!;
  return [...started.input!.payloads!, started.memo!.fields!.task!];
}

/** Signs in on `stack` as a browser does (the form's token and cookie, then the password); returns the session cookie. */
async function signIn(stack: Stack, user: string): Promise<string> {
  const form = await fetch(`${stack.base}/login`);
  const formCookie = form.headers.getSetCookie()[0].split(';')[0];
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1];
  const res = await fetch(`${stack.base}/login`, {
    method: 'POST',
    headers: { Cookie: formCookie },
    body: new URLSearchParams({ csrf, user, password: PASSWORDS[user] }),
    redirect: 'manual',
  });
  if (res.status !== 302) throw new Error(`signing in as ${user} answered ${res.status}`);
  return res.headers
    .getSetCookie()
    .find((c) => c.startsWith('buildstory_session='))!
    .split(';')[0];
}

/** `temporal workflow show --output json` (payloads in it as base64), as an operator reads the run. */
async function cliShow(id: string, extra: string[] = []): Promise<string> {
  const cli = process.env.TEMPORAL_CLI;
  if (!cli) throw new Error('the jest globalSetup did not set TEMPORAL_CLI');
  const { stdout } = await run(
    cli,
    ['workflow', 'show', '--address', sharedServer().address, '--namespace', 'default', '--workflow-id', id, '--output', 'json', ...extra],
    {
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return stdout;
}

/** Base64 strings in the CLI's JSON (payload data among them), decoded. */
function decodedBase64In(value: unknown, found: string[] = []): string[] {
  if (typeof value === 'string' && value.length >= 8 && /^[A-Za-z0-9+/]+={0,2}$/.test(value))
    found.push(Buffer.from(value, 'base64').toString('latin1'));
  else if (value && typeof value === 'object') for (const child of Object.values(value)) decodedBase64In(child, found);
  return found;
}

test('the run completes with encryption on, and its page and the list show the task and the result', async () => {
  const html = await pageWhen(encrypted, `/runs/${workflowId}`, /Completed/);
  // The task (header) and the result (the offline model's docstring repeats the task) are readable.
  expect(html.split(MARKER).length - 1).toBeGreaterThanOrEqual(2);
  expect(html).toMatch(/<code class="hljs language-python">/);
  // The list reads the task from the (encrypted) memo.
  const list = await (await fetch(`${encrypted.base}/`)).text();
  expect(list).toContain(MARKER);
});

test('the stored history holds no plaintext of the task: every payload is encrypted with the current key', async () => {
  const events = await rawHistory(workflowId);
  expect(events.some((e) => e.workflowExecutionCompletedEventAttributes)).toBe(true);
  // Temporal's core writes what `patched` records itself, in plain JSON: a marker and the
  // TemporalChangeVersion search attribute, each with a change's id (workflows/index.ts PATCHES)
  // and nothing of the run.
  const patchMarkers = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch');
  for (const payload of payloadsIn(patchMarkers)) {
    const data = JSON.parse(text(payload.data)) as { id: string };
    expect(Object.values(PATCHES)).toContain(data.id);
    expect(Object.keys(data).sort()).toEqual(['deprecated', 'id']);
  }
  const changeVersions = events.filter((e) => {
    const fields = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {};
    return Object.keys(fields).length > 0 && Object.keys(fields).every((name) => name === 'TemporalChangeVersion');
  });
  for (const payload of payloadsIn(changeVersions)) {
    for (const id of JSON.parse(text(payload.data)) as string[]) expect(Object.values(PATCHES)).toContain(id);
  }
  const payloads = payloadsIn(events.filter((e) => !patchMarkers.includes(e) && !changeVersions.includes(e)));
  // Input, memo, both activities' inputs and results, progress signals, the result.
  expect(payloads.length).toBeGreaterThan(5);
  for (const payload of payloads) {
    expect(text(payload.metadata?.encoding)).toBe('binary/encrypted');
    expect(text(payload.metadata?.['encryption-key-id'])).toBe('k1');
    expect(Buffer.from(payload.data!).toString('latin1')).not.toContain(MARKER);
  }
  const stored = Buffer.from(temporal.api.history.v1.History.encode({ events }).finish()).toString('latin1');
  expect(stored).not.toContain(MARKER);
  expect(stored).not.toContain(Buffer.from(MARKER).toString('base64').slice(0, 12));
});

test('failure messages are encrypted too: a run whose model refuses, quoting the task, keeps the refusal out of plaintext history', async () => {
  // Models quote the task when they refuse; the refusal becomes the activity's and the run's failure message.
  encryptedLlm.llm.program({ kind: 'plan', refusal: `I will not write a function that counts ${MARKER} words.` });
  const id = await startRunViaForm(encryptedLlm.base, TASK);
  const html = await pageWhen(encryptedLlm, `/runs/${id}`, /Failed/);
  expect(html).toContain(`I will not write a function that counts ${MARKER} words.`);

  const events = await rawHistory(id);
  const failures = events
    .flatMap((e) => [e.activityTaskFailedEventAttributes?.failure, e.workflowExecutionFailedEventAttributes?.failure])
    .filter(Boolean);
  expect(failures.length).toBeGreaterThanOrEqual(2); // the planning activity's failure and the run's
  for (const top of failures) {
    for (let failure = top; failure; failure = failure.cause) {
      expect(failure.message).toBe('Encoded failure');
      expect(text(failure.encodedAttributes?.metadata?.encoding)).toBe('binary/encrypted');
    }
  }
  const stored = Buffer.from(temporal.api.history.v1.History.encode({ events }).finish()).toString('latin1');
  expect(stored).not.toContain(MARKER);
  expect(stored).not.toContain('I will not write');
  const raw = await cliShow(id);
  expect(raw).not.toContain(MARKER);
  expect(decodedBase64In(JSON.parse(raw)).some((s) => s.includes(MARKER))).toBe(false);
});

test('the Temporal CLI shows ciphertext without the codec endpoint, and the task through it', async () => {
  const raw = await cliShow(workflowId);
  expect(raw).toContain(Buffer.from('binary/encrypted').toString('base64'));
  expect(raw).not.toContain(MARKER);
  expect(decodedBase64In(JSON.parse(raw)).some((s) => s.includes(MARKER))).toBe(false);

  // The same remote codec protocol the Temporal UI speaks (POST <endpoint>/decode, X-Namespace).
  const decoded = await cliShow(workflowId, ['--codec-endpoint', `${encrypted.base}/codec`]);
  expect(decoded).not.toContain(Buffer.from('binary/encrypted').toString('base64'));
  expect(decodedBase64In(JSON.parse(decoded)).some((s) => s.includes(MARKER))).toBe(true);
});

test('control: without encryption the same reading finds the task in plaintext', async () => {
  const id = `task-${randomUUID()}`;
  const handle = await plain.env.client.workflow.start(WORKFLOW_NAME, {
    taskQueue: `no-worker-${randomUUID()}`,
    workflowId: id,
    args: [{ task: `control ${MARKER}` }],
  });
  try {
    expect(payloadsIn(await rawHistory(id)).some((p) => text(p.data).includes(MARKER))).toBe(true);
    expect(decodedBase64In(JSON.parse(await cliShow(id))).some((s) => s.includes(MARKER))).toBe(true);
  } finally {
    await handle.terminate('test done');
  }
});

test('POST /codec/decode returns the plaintext payloads; /codec/encode encrypts with the current key', async () => {
  const res = await codecPost(encrypted, 'decode', { payloads: (await storedInputAndMemo()).map(toJson) });
  expect(res.status).toBe(200);
  expect(res.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const { payloads } = (await res.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
  expect(payloads).toHaveLength(2);
  expect(Buffer.from(payloads[0].metadata.encoding, 'base64').toString()).toBe('json/plain');
  expect(JSON.parse(Buffer.from(payloads[0].data, 'base64').toString())).toEqual({ task: TASK });
  expect(JSON.parse(Buffer.from(payloads[1].data, 'base64').toString())).toBe(TASK);

  // Encode (what the UI does for a signal it sends), then decode again.
  const plainPayload = {
    metadata: { encoding: Buffer.from('json/plain').toString('base64') },
    data: Buffer.from('"hi"').toString('base64'),
  };
  const encodedRes = await codecPost(encrypted, 'encode', { payloads: [plainPayload] });
  expect(encodedRes.status).toBe(200);
  const encodedBody = (await encodedRes.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
  expect(Buffer.from(encodedBody.payloads[0].metadata['encryption-key-id'], 'base64').toString()).toBe('k1');
  const roundTrip = (await (await codecPost(encrypted, 'decode', encodedBody)).json()) as { payloads: unknown[] };
  expect(roundTrip.payloads).toEqual([plainPayload]);

  // Unencrypted payloads come back as they are.
  const passThrough = (await (await codecPost(encrypted, 'decode', { payloads: [plainPayload] })).json()) as { payloads: unknown[] };
  expect(passThrough.payloads).toEqual([plainPayload]);
});

test('the codec endpoint refuses what it should, with clear statuses', async () => {
  const [other] = await new EncryptionCodec({ keys: new Map([['retired', randomBytes(32)]]), currentKeyId: 'retired' }).encode([
    { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"x"') },
  ]);
  const unknown = await codecPost(encrypted, 'decode', { payloads: [toJson(other)] });
  expect(unknown.status).toBe(422);
  expect(await unknown.text()).toMatch(/key id "retired"/);

  expect((await codecPost(encrypted, 'decode', { payloads: [] }, { 'X-Namespace': 'someone-else' })).status).toBe(400);
  expect((await codecPost(encrypted, 'decode', { nope: 1 })).status).toBe(400);
  expect((await codecPost(encrypted, 'decode', { payloads: [] }, { 'Content-Type': 'text/plain' })).status).toBe(415);
  expect((await codecPost(encrypted, 'transcode', { payloads: [] })).status).toBe(404);
  expect((await fetch(`${encrypted.base}/codec/decode`)).status).toBe(405);
  // No Origin (the CLI, curl) is fine: there is no browser to protect.
  expect((await codecPost(encrypted, 'decode', { payloads: [] }, { Origin: '' })).status).toBe(200);
  // Encryption off: nothing to decode.
  expect((await codecPost(plain, 'decode', { payloads: [] })).status).toBe(404);
});

test("with access control on, only the users in BUILDSTORY_CODEC_USERS may use the codec: bob cannot read the run's task", async () => {
  const body = { payloads: (await storedInputAndMemo()).map(toJson) };
  const [alice, bob] = [await signIn(operated, 'alice'), await signIn(operated, 'bob')];
  for (const op of ['decode', 'encode']) {
    const refused = await codecPost(operated, op, body, { Cookie: bob });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    const message = await refused.text();
    expect(message).toBe('The codec endpoint is for operators: bob is not in BUILDSTORY_CODEC_USERS.\n');
    expect((await codecPost(operated, op, body, { Cookie: alice })).status).toBe(200);
  }
  const decoded = (await (await codecPost(operated, 'decode', body, { Cookie: alice })).json()) as { payloads: Array<{ data: string }> };
  expect(JSON.parse(Buffer.from(decoded.payloads[1].data, 'base64').toString())).toBe(TASK);
});

test('the codec endpoint caps its work: payloads per request, bytes per payload, per answer and per body (413)', async () => {
  // The limits in web/app/utils/codec-server.server.ts: 1,000 payloads, 2 MiB each, 8 MiB per answer, 12 MiB per body.
  const MiB = 1024 * 1024;
  const plainOf = (bytes: number) => ({
    metadata: { encoding: Buffer.from('binary/plain').toString('base64') },
    data: randomBytes(bytes).toString('base64'),
  });
  const refused = async (res: Response, message: RegExp) => {
    expect(res.status).toBe(413);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(await res.text()).toMatch(message);
  };

  // A flood of empty payloads (5 million of them once froze the app for 28 s), and one just over the cap.
  await refused(await codecPost(encrypted, 'decode', { payloads: Array(100_000).fill({}) }), /Too many payloads: at most 1000 per request/);
  await refused(await codecPost(encrypted, 'encode', { payloads: Array(1_001).fill({ data: '' }) }), /at most 1000 per request/);
  const atCap = await codecPost(encrypted, 'decode', { payloads: Array(1_000).fill({}) });
  expect(atCap.status).toBe(200);
  expect(((await atCap.json()) as { payloads: unknown[] }).payloads).toHaveLength(1_000);

  await refused(await codecPost(encrypted, 'encode', { payloads: [plainOf(2 * MiB)] }), /Payload 1 is larger than 2 MiB/);
  // Each payload within its limit and the body within its own, but the answer would pass 8 MiB.
  const many = { payloads: Array(5).fill(plainOf(1.75 * MiB)) };
  await refused(await codecPost(encrypted, 'encode', many), /more than 8 MiB of payloads/);
  await refused(await codecPost(encrypted, 'decode', many), /more than 8 MiB of payloads/);

  // Over 12 MiB, declared (Content-Length) or streamed without a length.
  const tooBig = { payloads: [{ data: 'A'.repeat(12 * MiB) }] };
  await refused(await codecPost(encrypted, 'decode', tooBig), /Request body too large: at most 12 MiB/);
  const streamed = await fetch(`${encrypted.base}/codec/decode`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: UI_ORIGIN },
    body: new Blob([JSON.stringify(tooBig)]).stream(),
    duplex: 'half',
  } as RequestInit);
  await refused(streamed, /Request body too large/);
});

test('CORS: the Temporal UI origin may call the endpoint with credentials; any other origin gets no allow-origin', async () => {
  const preflight = (origin: string) =>
    fetch(`${encrypted.base}/codec/decode`, {
      method: 'OPTIONS',
      headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-namespace' },
    });
  const allowed = await preflight(UI_ORIGIN);
  expect(allowed.status).toBe(204);
  expect(allowed.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
  expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
  expect(allowed.headers.get('access-control-allow-headers')).toBe('Content-Type, X-Namespace, Authorization');
  expect(allowed.headers.get('access-control-allow-methods')).toMatch(/POST/);
  expect(allowed.headers.get('vary')).toMatch(/Origin/);

  const foreign = await preflight('https://evil.example');
  expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  const foreignPost = await codecPost(encrypted, 'decode', { payloads: [] }, { Origin: 'https://evil.example' });
  expect(foreignPost.status).toBe(403);
  expect(foreignPost.headers.get('access-control-allow-origin')).toBeNull();
  // Same host, other port: another origin.
  expect((await preflight('http://localhost:3001')).headers.get('access-control-allow-origin')).toBeNull();
});

test('a client with the wrong key fails to read the run, naming the key id', async () => {
  const read = (keys: EncryptionKeys) =>
    new Client({ connection: encrypted.env.connection, dataConverter: encryptionDataConverter(keys) }).workflow
      .getHandle(workflowId)
      .result();
  await expect(read({ keys: new Map([['k1', randomBytes(32)]]), currentKeyId: 'k1' })).rejects.toThrow(
    /Cannot decrypt a payload encrypted with key id "k1": the configured key with that id does not match/,
  );
  await expect(read({ keys: new Map([['k0', randomBytes(32)]]), currentKeyId: 'k0' })).rejects.toThrow(
    /Cannot decrypt a payload encrypted with key id "k1": no key with that id is configured/,
  );
  // The right key (and any other listed next to it, as after a rotation) reads it.
  const rotated: EncryptionKeys = {
    keys: new Map([
      ['k2', randomBytes(32)],
      ['k1', encryption.keys.get('k1')!],
    ]),
    currentKeyId: 'k2',
  };
  await expect(read(rotated)).resolves.toMatchObject({ status: 'completed', task: TASK });
});

test('runs started before encryption was turned on still read in the app with encryption on', async () => {
  const id = await startRunViaForm(plain.base, `Write a Python function that sorts ${MARKER} plainly`);
  await pageWhen(plain, `/runs/${id}`, /Completed/);
  const html = await pageWhen(encrypted, `/runs/${id}`, /Completed/);
  expect(html).toContain(`sorts ${MARKER} plainly`);
});
