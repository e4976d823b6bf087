/**
 * The spawner thread (spawner.ts): what the sandbox relies on from it. Every sandbox test
 * (sandbox.test.ts, verify) also runs through it.
 */
import { spawnOffThread, type OffThreadChild } from './spawner';

interface Seen {
  pid?: number;
  stdout: string;
  stderr: string;
  errors: string[];
  close?: { code: number | null; signal: NodeJS.Signals | null };
}

function watch(child: OffThreadChild, onSpawned?: (pid: number) => void): Promise<Seen> {
  const seen: Seen = { stdout: '', stderr: '', errors: [] };
  child.on('spawned', (pid: number) => {
    seen.pid = pid;
    onSpawned?.(pid);
  });
  child.on('stdout', (chunk: Buffer) => (seen.stdout += chunk.toString('utf8')));
  child.on('stderr', (chunk: Buffer) => (seen.stderr += chunk.toString('utf8')));
  child.on('error', (err: Error) => seen.errors.push(err.message));
  return new Promise((resolve) =>
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ ...seen, close: { code, signal } })),
  );
}

test('a child started off the thread: its pid, both outputs, its exit code; the environment empty', async () => {
  const seen = await watch(spawnOffThread('/bin/sh', ['-c', 'echo out; echo err >&2; exit 3']));
  expect(seen).toEqual({ pid: expect.any(Number), stdout: 'out\n', stderr: 'err\n', errors: [], close: { code: 3, signal: null } });
  expect((await watch(spawnOffThread('/usr/bin/env', []))).stdout).toBe('');
});

test('many at once keep their own output', async () => {
  const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => watch(spawnOffThread('/bin/sh', ['-c', `echo ${i}`]))));
  expect(runs.map((r) => r.stdout)).toEqual(Array.from({ length: 8 }, (_, i) => `${i}\n`));
});

test('the child leads a process group of its own, which the caller can kill', async () => {
  const seen = await watch(spawnOffThread('/bin/sh', ['-c', 'sleep 30 & sleep 30; wait']), (pid) => process.kill(-pid, 'SIGKILL'));
  expect(seen.close).toEqual({ code: null, signal: 'SIGKILL' });
});

test('a program that cannot start is an error, not a hang', async () => {
  const child = spawnOffThread('/nonexistent/program', []);
  const error = await new Promise<Error>((resolve) => child.on('error', resolve));
  expect(error.message).toMatch(/ENOENT/);
});
