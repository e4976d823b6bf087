/**
 * The Go binaries of a production-shaped Temporal cluster: the server (every service), the SQL
 * schema tool and the UI server. Each is installed once per user with `go install`, cached by
 * version like the CLI (devstack/go-binary.ts).
 */
import { ensureBinary, type GoBinary } from '../go-binary';

type Log = (line: string) => void;
export const clusterLog: Log = (line) => process.stderr.write(`[cluster] ${line}\n`);

export const TEMPORAL_SERVER: GoBinary = {
  name: 'temporal-server',
  file: 'temporal-server',
  module: 'go.temporal.io/server/cmd/server',
  version: 'v1.29.1',
  built: 'server',
  envOverride: 'TEMPORAL_SERVER_BIN',
};

export const TEMPORAL_SQL_TOOL: GoBinary = {
  name: 'temporal-sql-tool',
  file: 'temporal-sql-tool',
  module: 'go.temporal.io/server/cmd/tools/sql',
  version: 'v1.29.1',
  built: 'sql',
  envOverride: 'TEMPORAL_SQL_TOOL_BIN',
};

/** v2.34.0 carries a `replace` directive and is refused by go install; v2.35.0 is accepted. */
export const TEMPORAL_UI_SERVER: GoBinary = {
  name: 'temporal-ui-server',
  file: 'temporal-ui-server',
  module: 'github.com/temporalio/ui-server/v2/cmd/server',
  version: 'v2.35.0',
  built: 'server',
  envOverride: 'TEMPORAL_UI_SERVER_BIN',
};

export const CLUSTER_BINARIES = [TEMPORAL_SERVER, TEMPORAL_SQL_TOOL, TEMPORAL_UI_SERVER];

/** All three, installed in parallel (separate locks and GOBINs; go's own caches are shared safely). */
export async function ensureClusterBinaries(log: Log = clusterLog): Promise<{ server: string; sqlTool: string; uiServer: string }> {
  const [server, sqlTool, uiServer] = await Promise.all(CLUSTER_BINARIES.map((binary) => ensureBinary(binary, log)));
  return { server, sqlTool, uiServer };
}
