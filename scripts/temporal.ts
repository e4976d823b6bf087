/**
 * `npm run temporal -- install|start`: the Temporal CLI dev server on its own (devstack/temporal.ts).
 *
 *   tsx scripts/temporal.ts install   # install the CLI if missing, print its path
 *   tsx scripts/temporal.ts start     # run the dev server in the foreground until Ctrl-C
 */
import { devServerDbFile, ensureTemporalCli, startDevServer, temporalLog } from '../devstack/temporal';

async function main(command: string | undefined): Promise<void> {
  const cliPath = await ensureTemporalCli();
  if (command === 'install') {
    process.stdout.write(`${cliPath}\n`);
    return;
  }
  if (command !== 'start') throw new Error('usage: tsx scripts/temporal.ts install|start');
  const server = await startDevServer({
    cli: cliPath,
    port: Number(process.env.TEMPORAL_PORT ?? 7233),
    uiPort: Number(process.env.TEMPORAL_UI_PORT ?? 8233),
    dbFile: devServerDbFile(),
    retentionDays: Number(process.env.TEMPORAL_RETENTION_DAYS ?? 30),
  });
  temporalLog(`dev server ready at ${server.address}; Web UI ${server.uiUrl}; data in ${server.dbFile}`);
  const shutdown = () => void server.stop().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  server.process.once('exit', (code) => process.exit(code ?? 1));
}

main(process.argv[2]).catch((err: Error) => {
  temporalLog(err.message);
  process.exit(1);
});
