/**
 * Who used the CPU during a phase: the whole machine (/proc/stat), each part of the benchmark
 * (the bench process with its in-process workers, the web app, the Temporal dev server, the
 * viewer process; /proc/<pid>/stat of each process tree), and what is left: other processes. On a
 * shared 2-core machine that last share skews every timing figure, so the bench reports it.
 */
import { readFileSync, readdirSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface CpuReading {
  at: number;
  /** Busy jiffies of the whole machine (all cores). */
  machineBusy: number;
  /** utime + stime per part, in jiffies. */
  parts: Record<string, number>;
}

/** Cores used on average; `others` is the machine minus every part. */
export type CpuShare = Record<string, number>;

function machineBusy(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: all but idle and iowait is busy.
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return user + nice + system + irq + softirq + (steal ?? 0);
}

function processTable(): { children: Map<number, number[]>; ticks: Map<number, number> } {
  const children = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command may hold spaces and parentheses: fields start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(name);
      const ppid = Number(fields[1]);
      ticks.set(pid, Number(fields[11]) + Number(fields[12]));
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid)!.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return { children, ticks };
}

/**
 * `trees`: name → root pid, counted with all its descendants; `single`: name → pid alone.
 * Null where /proc is not there (not Linux).
 */
export function readCpu(trees: Record<string, number | undefined>, single: Record<string, number> = {}): CpuReading | null {
  try {
    const { children, ticks } = processTable();
    const tree = (root: number) => {
      let sum = 0;
      const stack = [root];
      while (stack.length) {
        const pid = stack.pop()!;
        sum += ticks.get(pid) ?? 0;
        stack.push(...(children.get(pid) ?? []));
      }
      return sum;
    };
    const parts: Record<string, number> = {};
    for (const [name, pid] of Object.entries(single)) parts[name] = ticks.get(pid) ?? 0;
    for (const [name, pid] of Object.entries(trees)) if (pid) parts[name] = tree(pid);
    return { at: Date.now(), machineBusy: machineBusy(), parts };
  } catch {
    return null;
  }
}

export function cpuShare(before: CpuReading | null, after: CpuReading | null): CpuShare | null {
  if (!before || !after) return null;
  const seconds = (after.at - before.at) / 1000;
  const cores = (ticks: number) => Math.round((Math.max(0, ticks) / TICKS_PER_SECOND / seconds) * 100) / 100;
  const share: CpuShare = { machine: cores(after.machineBusy - before.machineBusy) };
  let ours = 0;
  for (const name of Object.keys(after.parts)) {
    // A process that exited during the phase takes its ticks along: never below zero.
    const used = Math.max(0, after.parts[name] - (before.parts[name] ?? 0));
    share[name] = cores(used);
    ours += used;
  }
  share.others = cores(after.machineBusy - before.machineBusy - ours);
  return share;
}
