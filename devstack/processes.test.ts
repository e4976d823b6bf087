import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PORT_RESERVATIONS, ROOT, freePort, reservePort } from './processes';

const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

test('ports handed out by freePort in two processes at once never repeat, and a process that exits gives its ports back', async () => {
  // 300 ports each from a range of 7,000: without the reservation about 13 would repeat. The child
  // holds its ports until its stdin closes.
  const script = `import { freePort } from './devstack/processes';
    (async () => { const ports = []; for (let i = 0; i < 300; i++) ports.push(await freePort());
      console.log(JSON.stringify(ports)); process.stdin.resume(); process.stdin.on('end', () => process.exit(0)); })();`;
  const child = spawn(TSX, ['-e', script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolvePromise) => child.once('exit', resolvePromise));
  const printed = new Promise<number[]>((resolvePromise) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.endsWith('\n')) resolvePromise(JSON.parse(out) as number[]);
    });
  });
  const mine: number[] = [];
  try {
    for (let i = 0; i < 300; i++) mine.push(await freePort());
    const theirs = await printed;
    expect(new Set(mine).size).toBe(300);
    expect(new Set(theirs).size).toBe(300);
    expect(mine.filter((port) => theirs.includes(port))).toEqual([]);
  } finally {
    child.stdin!.end();
  }
  const theirs = await printed;
  expect(await exited).toBe(0);
  // The child has exited: its reservations are gone, ours stay.
  expect(theirs.filter((port) => existsSync(join(PORT_RESERVATIONS, String(port))))).toEqual([]);
  expect(readFileSync(join(PORT_RESERVATIONS, String(mine[0])), 'utf8')).toBe(String(process.pid));
}, 60_000);

test("a reservation held by a process that is gone is taken over; a living holder's is not", () => {
  const gone = spawnSync('true').pid!;
  // Outside freePort's range, so that no other caller's reservation is touched.
  const port = 19_999;
  writeFileSync(join(PORT_RESERVATIONS, String(port)), String(gone));
  expect(reservePort(port)).toBe(true);
  expect(readFileSync(join(PORT_RESERVATIONS, String(port)), 'utf8')).toBe(String(process.pid));
  writeFileSync(join(PORT_RESERVATIONS, String(port)), '1');
  expect(reservePort(port)).toBe(false);
  writeFileSync(join(PORT_RESERVATIONS, String(port)), String(process.pid));
});
