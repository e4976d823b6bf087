/**
 * Starting a sandbox off the worker's main thread. Node's spawn returns only once the child has
 * exec'd (libuv waits on a pipe for it), and on a busy machine the forked child waits its turn for
 * a CPU first: a sandbox's start held the worker's event loop up to ~100 ms (bench figure 8,
 * 2026-12-01: loop delay max 75-97 ms, spawn 40-50 ms of main-thread time a verification), and
 * every workflow task, heartbeat and activity completion of the process waited with it.
 *
 * One worker thread per process does the spawns; the caller keeps everything else (deadline,
 * output limit, kill by process group and cgroup) and gets the child's pid, output and exit as
 * messages. The thread's code is plain JavaScript evaluated from a string, so it needs no loader
 * (tsx, ts-jest) of its own. It is unref'd: it never keeps the process alive by itself. It lives
 * as long as the process, so bwrap's --die-with-parent (the death of the thread that forked it)
 * still means the worker's death.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';

const THREAD_CODE = `
const { parentPort } = require('node:worker_threads');
const { spawn } = require('node:child_process');
parentPort.on('message', ({ id, file, args }) => {
  const post = (message) => parentPort.postMessage({ id, ...message });
  let child;
  try {
    child = spawn(file, args, { env: {}, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  } catch (err) {
    post({ type: 'error', message: String((err && err.message) || err) });
    return;
  }
  if (child.pid !== undefined) post({ type: 'spawned', pid: child.pid });
  for (const stream of ['stdout', 'stderr']) child[stream].on('data', (chunk) => post({ type: 'data', stream, chunk }));
  child.on('error', (err) => post({ type: 'error', message: String((err && err.message) || err) }));
  child.on('close', (code, signal) => post({ type: 'close', code, signal }));
});
`;

type Message =
  | { id: number; type: 'spawned'; pid: number }
  | { id: number; type: 'data'; stream: 'stdout' | 'stderr'; chunk: Uint8Array }
  | { id: number; type: 'error'; message: string }
  | { id: number; type: 'close'; code: number | null; signal: NodeJS.Signals | null };

/**
 * A child started by the spawner thread, in a process group of its own, with an empty environment
 * and stdin closed. Events: `spawned` (pid), `stdout` / `stderr` (Buffer), `error` (Error: it did
 * not start), `close` (code, signal), in the order the thread saw them.
 */
export class OffThreadChild extends EventEmitter {
  pid: number | undefined;
}

let thread: Worker | null = null;
let nextId = 1;
const children = new Map<number, OffThreadChild>();

function spawner(): Worker {
  if (thread) return thread;
  const worker = new Worker(THREAD_CODE, { eval: true, name: 'buildstory-sandbox-spawner' });
  worker.on('message', (message: Message) => {
    const child = children.get(message.id);
    if (!child) return;
    if (message.type === 'spawned') {
      child.pid = message.pid;
      child.emit('spawned', message.pid);
    } else if (message.type === 'data') {
      child.emit(message.stream, Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.byteLength));
    } else if (message.type === 'error') {
      child.emit('error', new Error(message.message));
    } else {
      children.delete(message.id);
      child.emit('close', message.code, message.signal);
    }
  });
  // A thread that died takes its children's events with it: fail them, and start a new one next time.
  const fail = (err: Error) => {
    if (thread === worker) thread = null;
    for (const [id, child] of children) {
      children.delete(id);
      child.emit('error', err);
      child.emit('close', null, null);
    }
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`the sandbox spawner thread exited (${code})`)));
  // After the listeners: adding a 'message' listener refs the worker's port again.
  worker.unref();
  thread = worker;
  return worker;
}

/** Spawn `file` with `args` from the spawner thread (see above); never blocks this thread. */
export function spawnOffThread(file: string, args: string[]): OffThreadChild {
  const child = new OffThreadChild();
  const id = nextId++;
  children.set(id, child);
  spawner().postMessage({ id, file, args });
  return child;
}
