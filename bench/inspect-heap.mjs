// Forces a full GC in another Node process through its inspector, then prints its heap usage as
// JSON. Run as `node --experimental-websocket bench/inspect-heap.mjs <ws://inspector url>`
// (Node 20 has WebSocket behind that flag). Plain JS: it is run by node, not tsx.
const url = process.argv[2];
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
  process.stderr.write(`inspect-heap: ${message}\n`);
  process.exit(1);
};
setTimeout(() => fail('no answer within 20 s'), 20_000).unref();
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
    // Twice: objects freed by the first collection's finalizers go in the second.
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const usage = await call('Runtime.getHeapUsage');
    process.stdout.write(`${JSON.stringify(usage)}\n`);
    ws.close();
    process.exit(0);
  } catch (err) {
    fail(err.message);
  }
};
