/**
 * A real S3-compatible server for tests: gofakes3 (github.com/johannesboyne/gofakes3, MIT), its own
 * `cmd/gofakes3`, installed once per user by go-binary.ts (cached by version; about 10 s to build
 * here with a cold module cache) or taken from $GOFAKES3. It speaks the S3 REST API (SigV4 accepted,
 * not checked) with path-style buckets, and keeps objects in files under a directory of ours.
 *
 * Not SeaweedFS: `go install` refuses its module (its go.mod has `replace` directives). Not MinIO:
 * AGPL.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { ensureBinary, type GoBinary } from './go-binary';
import { freePort, stopChild, waitForHttp } from './processes';

type Log = (line: string) => void;
export const s3ServerLog: Log = (line) => process.stderr.write(`[s3] ${line}\n`);

export const GOFAKES3: GoBinary = {
  name: 'gofakes3',
  file: 'gofakes3',
  module: 'github.com/johannesboyne/gofakes3/cmd/gofakes3',
  version: 'v1.2.0',
  built: 'gofakes3',
  envOverride: 'GOFAKES3',
};

export interface S3Server {
  /** `http://127.0.0.1:<port>`: give it to the client with path-style addressing. */
  endpoint: string;
  stop(): Promise<void>;
}

/** Install if needed, then serve S3 on a free loopback port with objects under `dataDir`. */
export async function startS3Server(dataDir: string, log: Log = s3ServerLog): Promise<S3Server> {
  const binary = await ensureBinary(GOFAKES3, log);
  mkdirSync(dataDir, { recursive: true });
  let lastError: unknown;
  // Another process may take the port between freePort and the server's listen: try another.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const child = spawn(binary, ['-backend', 'fs', '-fs.path', dataDir, '-fs.create', '-host', `127.0.0.1:${port}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const output: string[] = [];
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    try {
      // GET / is ListBuckets: 200 once it serves.
      await waitForHttp(`${endpoint}/`, 20_000, child);
      return { endpoint, stop: () => stopChild(child, 5_000) };
    } catch (err) {
      lastError = new Error(`${(err as Error).message}\n${output.join('').slice(-2_000)}`);
      await stopChild(child, 1_000);
    }
  }
  throw lastError;
}
