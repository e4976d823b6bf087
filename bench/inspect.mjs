// Talks to another Node process through its inspector. Plain JS: it is run by node, not tsx
// (`node --experimental-websocket`: Node 20 has WebSocket behind that flag).
//
//   node --experimental-websocket bench/inspect.mjs <ws url> heap
//     Forces a full GC, then prints the heap usage as JSON.
//   node --experimental-websocket bench/inspect.mjs <ws url> profile <ms> <out file>
//     Records a CPU profile for <ms>, writes it as a .cpuprofile (Chrome DevTools, speedscope),
//     then prints the functions with the most self time as JSON.
import { writeFileSync } from 'node:fs';

const [url, command, msArg, out] = process.argv.slice(2);
const ms = Number(msArg ?? 0);
const ws = new WebSocket(url);
const pending = new Map();
let nextId = 0;
const call = (method, params = {}) =>
  new Promise((resolve, reject) => {
    const id = ++nextId;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params }));
  });
const fail = (message) => {
  process.stderr.write(`inspect: ${message}\n`);
  process.exit(1);
};
setTimeout(() => fail(`no answer within ${ms + 20_000} ms`), ms + 20_000).unref();
ws.onmessage = (event) => {
  const message = JSON.parse(String(event.data));
  const waiter = pending.get(message.id);
  if (!waiter) return;
  pending.delete(message.id);
  if (message.error) waiter.reject(new Error(message.error.message));
  else waiter.resolve(message.result);
};
ws.onerror = () => fail(`cannot connect to ${url}`);
ws.onopen = async () => {
  try {
    const result =
      command === 'heap' ? await heapAfterGc() : command === 'profile' ? await cpuProfile() : fail(`unknown command ${command}`);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    ws.close();
    process.exit(0);
  } catch (err) {
    fail(err.message);
  }
};

async function heapAfterGc() {
  // Twice: objects freed by the first collection's finalizers go in the second.
  await call('HeapProfiler.collectGarbage');
  await call('HeapProfiler.collectGarbage');
  return call('Runtime.getHeapUsage');
}

async function cpuProfile() {
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 1000 });
  await call('Profiler.start');
  await new Promise((resolve) => setTimeout(resolve, ms));
  const { profile } = await call('Profiler.stop');
  writeFileSync(out, JSON.stringify(profile));
  return topSelfTime(profile, 25);
}

/** Self time per function (name, file, line), largest first, as shares of all samples. */
function topSelfTime(profile, count) {
  const hits = new Map();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  for (const id of profile.samples) {
    const { functionName, url: file, lineNumber } = byId.get(id).callFrame;
    const key = `${functionName || '(anonymous)'} ${file.replace(/^.*node_modules\//, '')}:${lineNumber + 1}`;
    hits.set(key, (hits.get(key) ?? 0) + 1);
  }
  const total = profile.samples.length;
  return [...hits.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([where, n]) => ({ where, share: Math.round((n / total) * 1000) / 10 }));
}
