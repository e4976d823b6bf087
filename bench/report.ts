/** The figures, their baselines and targets: the printed table and the JSON written under bench/results/. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import { round } from '../devstack/stats';

export interface Figure {
  /** Stable key, e.g. `firstEvent.p95`. */
  key: string;
  name: string;
  unit: string;
  value: number;
  baseline: { value: number; what: string } | null;
  /** value / baseline. */
  ratio: number | null;
  target: { text: string; met: boolean } | null;
}

export interface Results {
  startedAt: string;
  durationS: number;
  machine: Record<string, unknown>;
  config: Record<string, unknown>;
  figures: Figure[];
  notes: string[];
  details: Record<string, unknown>;
}

export function figure(
  key: string,
  name: string,
  unit: string,
  value: number,
  baseline: { value: number; what: string } | null,
  target?: { op: '<=' | '>='; limit: number; text: string; on?: 'value' | 'ratio' },
): Figure {
  const ratio = baseline && baseline.value !== 0 && Number.isFinite(value) ? value / baseline.value : null;
  let checked: Figure['target'] = null;
  if (target) {
    const subject = target.on === 'ratio' ? ratio : value;
    const met = subject !== null && Number.isFinite(subject) && (target.op === '<=' ? subject <= target.limit : subject >= target.limit);
    checked = { text: target.text, met };
  }
  return {
    key,
    name,
    unit,
    value: round(value, 2),
    baseline: baseline && { value: round(baseline.value, 2), what: baseline.what },
    ratio: ratio === null ? null : round(ratio, 3),
    target: checked,
  };
}

function sh(command: string): string {
  try {
    return execFileSync('sh', ['-c', command], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

export function machine(): Record<string, unknown> {
  return {
    nproc: Number(sh('nproc')) || cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memTotalGiB: round(totalmem() / 2 ** 30, 1),
    memFreeGiB: round(freemem() / 2 ** 30, 1),
    freeG: sh('free -g'),
    node: process.version,
    fdLimit: sh('ulimit -n'),
    platform: `${process.platform} ${process.arch}`,
  };
}

function format(value: number, unit: string): string {
  if (!Number.isFinite(value)) return 'n/a';
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${unit}`;
}

/** Figures in the order of their number ("1. …", "2. …"), whatever order they were measured in. */
export function byNumber(figures: readonly Figure[]): Figure[] {
  const number = (f: Figure) => Number.parseInt(f.name, 10) || 0;
  return figures
    .map((f, i) => ({ f, i }))
    .sort((a, b) => number(a.f) - number(b.f) || a.i - b.i)
    .map(({ f }) => f);
}

export function table(figures: readonly Figure[]): string {
  const rows = byNumber(figures).map((f) => [
    f.name,
    format(f.value, f.unit),
    f.baseline ? `${format(f.baseline.value, f.unit)} (${f.baseline.what})` : '—',
    f.ratio === null ? '—' : `${f.ratio.toFixed(2)}×`,
    f.target?.text ?? '—',
    f.target ? (f.target.met ? 'MET' : 'MISSED') : '',
  ]);
  const header = ['Figure', 'Value', 'Baseline (same run)', 'Ratio', 'Target', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** bench/results/<timestamp>.json and bench/results/latest.json; returns the first path. */
export function writeResults(dir: string, results: Results): string {
  mkdirSync(dir, { recursive: true });
  const stamp = results.startedAt.replace(/[:.]/g, '-');
  const path = join(dir, `${stamp}.json`);
  const text = `${JSON.stringify(results, null, 2)}\n`;
  writeFileSync(path, text);
  writeFileSync(join(dir, 'latest.json'), text);
  return path;
}
