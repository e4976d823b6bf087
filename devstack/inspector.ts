/**
 * Another Node process's inspector (started with `--inspect=127.0.0.1:0`, as webPart's `inspect`
 * does): where it listens (the bench finds the web server's there), and a full garbage collection
 * through it, so a test can show what a collection does to a running server without a hook in the
 * server's code. Node 20 has no WebSocket without a flag: undici's.
 */
import { WebSocket } from 'undici';

/** The inspector addresses in a process's stderr ("Debugger listening on ws://..."). */
export function inspectorUrls(stderr: string): string[] {
  return [...stderr.matchAll(/Debugger listening on (ws:\/\/\S+)/g)].map((match) => match[1]);
}

/** One Chrome DevTools protocol call: HeapProfiler.collectGarbage, answered once it is done. */
export async function collectGarbage(inspectorUrl: string): Promise<void> {
  const socket = new WebSocket(inspectorUrl);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.onerror = () => reject(new Error(`cannot reach the inspector at ${inspectorUrl}`));
      socket.onopen = () => socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
      socket.onmessage = (message) => {
        const reply = JSON.parse(String(message.data)) as { id?: number; error?: { message: string } };
        if (reply.id !== 1) return;
        if (reply.error) reject(new Error(`HeapProfiler.collectGarbage: ${reply.error.message}`));
        else resolve();
      };
    });
  } finally {
    socket.close();
  }
}
