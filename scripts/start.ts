/**
 * `npm start`: the Temporal dev server (SQLite under .data/), the worker and the web app together.
 * Prints the URLs; Ctrl-C stops all three. With TEMPORAL_ADDRESS set, uses that server instead.
 */
import { startPart, webPart, workerPart, type StartedPart } from '../devstack/parts';
import { ensureWebBuild } from '../devstack/processes';
import {
  createSearchAttributes,
  searchAttributeCommand,
  devServerDbFile,
  ensureTemporalCli,
  startDevServer,
  waitForTemporal,
  type DevServer,
} from '../devstack/temporal';

const log = (line: string) => process.stdout.write(`[start] ${line}\n`);

let server: DevServer | null = null;
const parts: StartedPart[] = [];
let stopping = false;

async function stopAll(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('stopping web, worker and Temporal...');
  await Promise.all(parts.map((part) => part.stop()));
  await server?.stop();
  log('stopped');
  process.exit(code);
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 3000);
  const temporalPort = Number(process.env.TEMPORAL_PORT ?? 7233);
  const uiPort = Number(process.env.TEMPORAL_UI_PORT ?? 8233);
  // Blank means unset, as for the worker and the web app.
  const remote = process.env.TEMPORAL_ADDRESS?.trim() || undefined;
  const encrypted = Boolean(process.env.BUILDSTORY_ENCRYPTION_KEYS?.trim());

  const address = remote ?? `127.0.0.1:${temporalPort}`;
  let uiUrl = process.env.TEMPORAL_UI_URL ?? `http://localhost:${uiPort}`;
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  const cli = await ensureTemporalCli(log);
  ensureWebBuild(log);

  if (remote) {
    log(`using the Temporal server at ${remote} (TEMPORAL_ADDRESS)`);
    const namespace = process.env.TEMPORAL_NAMESPACE || 'default';
    log(`Buildstory needs its search attributes on that namespace; create them once with ${searchAttributeCommand(namespace, remote)}`);
  } else {
    const running = await waitForTemporal(cli, address, 'default', 1_000).then(
      () => true,
      () => false,
    );
    if (running) {
      log(`a Temporal server already answers at ${address}; using it`);
      await createSearchAttributes(cli, address, 'default');
    } else {
      const dbFile = devServerDbFile();
      log(`starting the Temporal dev server on ${address} (data in ${dbFile})...`);
      server = await startDevServer({
        cli,
        port: temporalPort,
        uiPort,
        dbFile,
        retentionDays: Number(process.env.TEMPORAL_RETENTION_DAYS ?? 30),
        // With encryption on, the UI shows ciphertext unless it decodes through the web app's codec endpoint.
        extraArgs: encrypted ? ['--ui-codec-endpoint', `http://localhost:${port}/codec`] : [],
      });
      uiUrl = server.uiUrl ?? uiUrl;
      const { logFile } = server;
      server.process.once('exit', (code) => {
        if (!stopping) {
          log(`the Temporal dev server exited (code ${code}); see ${logFile}`);
          void stopAll(1);
        }
      });
    }
  }

  if (encrypted && process.env.BUILDSTORY_AUTH_PASSWORDS?.trim() && !process.env.BUILDSTORY_CODEC_USERS?.trim()) {
    log('encryption and access control are on, but BUILDSTORY_CODEC_USERS names nobody: the Temporal UI cannot decode payloads');
  }
  if (encrypted && !server) log(`encryption is on: point that server's Temporal UI at http://localhost:${port}/codec to read payloads`);

  // The Temporal UI links runs to the app where it listens here, unless told otherwise.
  const publicUrl = process.env.BUILDSTORY_PUBLIC_URL?.trim() || `http://localhost:${port}`;
  const env = { TEMPORAL_ADDRESS: address, TEMPORAL_UI_URL: uiUrl, BUILDSTORY_PUBLIC_URL: publicUrl, PORT: String(port) };
  const worker = startPart(workerPart({ env }));
  // HOST stays the app's own setting: npm start is the one stack meant to be reached from elsewhere.
  const web = startPart(webPart({ port, host: null, env }));
  for (const part of [worker, web]) {
    parts.push(part);
    part.child.once('exit', (code) => {
      if (!stopping) {
        log(`the ${part.name} exited (code ${code})`);
        void stopAll(1);
      }
    });
  }
  await web.ready();

  const model = process.env.OPENAI_API_KEY
    ? `${process.env.OPENAI_MODEL ?? 'gpt-4o-mini'} (OpenAI-compatible)`
    : 'offline model (set OPENAI_API_KEY for a real one)';
  process.stdout.write(
    [
      '',
      '  Buildstory is running',
      `  App:          http://localhost:${port}`,
      `  Temporal UI:  ${uiUrl}`,
      `  Temporal:     ${address}${server ? ` (data in ${server.dbFile})` : ''}`,
      `  Model:        ${model}`,
      ...(encrypted ? [`  Encryption:   on (the Temporal UI decodes through http://localhost:${port}/codec)`] : []),
      '  Ctrl-C stops everything.',
      '',
    ].join('\n') + '\n',
  );
}

main().catch((err: Error) => {
  log(err.message);
  void stopAll(1);
});
