// Records a CPU profile of another Node process through its inspector and writes it as a
// .cpuprofile file (open it in Chrome DevTools or speedscope), then prints the functions with the
// most self time as JSON. Run as
// `node --experimental-websocket bench/inspect-profile.mjs <ws://inspector url> <ms> <out file>`.
// Plain JS: it is run by node, not tsx.
import { writeFileSync } from 'node:fs';

const [url, msArg, out] = process.argv.slice(2);
const ms = Number(msArg);
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
  process.stderr.write(`inspect-profile: ${message}\n`);
  process.exit(1);
};
setTimeout(() => fail(`no answer within ${ms + 30_000} ms`), ms + 30_000).unref();
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
    await call('Profiler.enable');
    await call('Profiler.setSamplingInterval', { interval: 1000 });
    await call('Profiler.start');
    await new Promise((resolve) => setTimeout(resolve, ms));
    const { profile } = await call('Profiler.stop');
    writeFileSync(out, JSON.stringify(profile));
    process.stdout.write(`${JSON.stringify(topSelfTime(profile, 25))}\n`);
    ws.close();
    process.exit(0);
  } catch (err) {
    fail(err.message);
  }
};

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
