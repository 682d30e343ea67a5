// The bench's results (bench/bench.ts): its rows, the breakdown of runa's time, what was left
// behind, the targets, and the markdown report.
import type { Stat } from './util.js';
import type { Options } from './options.js';

/** One side of a row: a number (with its unit), or a text such as "n/a". */
export interface Cell { value?: number; p90?: number; text?: string; detail?: unknown }
export interface Row {
  section: string;
  name: string;
  unit: 'ms' | '/s' | 'MB' | 'insns' | 'actors';
  higherIsBetter?: boolean;
  runa: Cell;
  runc: Cell;
  note?: string;
}
export interface Breakdown { name: string; ms?: Stat; text?: string; note?: string }

export const rows: Row[] = [];
export const breakdown: Breakdown[] = [];
export const extra: Record<string, unknown> = {};

export function latencyCell(s: Stat, failures = 0): Cell {
  if (!s.n) return { text: failures ? `failed (${failures})` : 'no data' };
  return { value: s.median, p90: s.p90, detail: { ...s, failures } };
}

export function ratio(r: Row): number | null {
  const a = r.runa.value;
  const c = r.runc.value;
  if (a === undefined || c === undefined || !c) return null;
  return a / c;
}

export function fmtNum(v: number, unit: Row['unit']): string {
  if (unit === '/s') return v >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(v >= 100 ? 0 : 1);
  if (unit === 'MB') return v.toFixed(v >= 10 ? 1 : 2);
  if (unit === 'insns') return String(Math.round(v));
  return v.toFixed(v >= 100 ? 0 : 1);
}

export function fmtCell(c: Cell, unit: Row['unit']): string {
  if (c.text !== undefined) return c.text;
  if (c.value === undefined) return '—';
  const main = `${fmtNum(c.value, unit)} ${unit === '/s' ? '/s' : unit}`;
  return c.p90 !== undefined ? `${main} (p90 ${fmtNum(c.p90, unit)})` : main;
}

export function markdown(opts: Options, machine: Record<string, unknown>, seconds: number): string {
  const lines: string[] = [];
  lines.push('## runa vs runc', '');
  lines.push(`${machine.nproc} CPUs (${machine.cpu}), ${machine.memoryGB} GB, Linux ${machine.kernel}, cgroup ${machine.cgroup}, load average ${(machine.loadAverage as number[]).join(' ')} at start, ${(machine.loadAverageEnd as number[] | undefined)?.join(' ') ?? '?'} at end, `
    + `node ${machine.node}, runc ${machine.runcVersion ?? 'not found'}, runa ${machine.runaVersion} (${machine.commit ?? '?'}${machine.dirty ? ' + uncommitted changes' : ''}); `
    + `${opts.runs} runs per latency figure (${opts.coldRuns} cold), ${opts.clients} clients × ${opts.throughputSeconds} s per throughput figure; `
    + `bundle under ${opts.dir} (${machine.workFs}), state roots ${machine.stateFs === 'tmpfs' && !opts.stateOnDisk ? 'on a tmpfs of their own' : `under ${opts.dir} (${machine.stateFs})`}; bench took ${Math.round(seconds)} s.`, '');
  lines.push('| Benchmark | runa | runc | runa/runc | Note |', '|---|---:|---:|---:|---|');
  let section = '';
  for (const r of rows) {
    if (r.section !== section) {
      section = r.section;
      lines.push(`| **${section}** | | | | |`);
    }
    const q = ratio(r);
    const rs = q === null ? '—' : `${q.toFixed(2)}×`;
    const note = [r.higherIsBetter ? 'higher is better' : '', r.note ?? ''].filter(Boolean).join('; ');
    lines.push(`| ${r.name} | ${fmtCell(r.runa, r.unit)} | ${fmtCell(r.runc, r.unit)} | ${rs} | ${note} |`);
  }
  lines.push('', 'Latencies: median (p90), wall time from spawn() to exit, runa invoked as `native/runa` (the front end: the daemon runs the command line and asks it to spawn and wait for nsinit; it execs `bin/runa.js` when no daemon answers) / `runc`.');
  if (breakdown.length) {
    lines.push('', '### Where runa\'s time goes (medians)', '', '| Step | ms (p90) | Note |', '|---|---:|---|');
    for (const b of breakdown) {
      const v = b.text ?? (b.ms && b.ms.n ? `${b.ms.median.toFixed(1)} (${b.ms.p90.toFixed(1)})` : 'no data');
      lines.push(`| ${b.name} | ${v} | ${b.note ?? ''} |`);
    }
  }
  const targets = evaluateTargets();
  if (targets.length) {
    lines.push('', '### Targets (issue 5)', '');
    for (const t of targets) lines.push(`- ${t}`);
  }
  if (leaks.length) {
    lines.push('', '### Left behind', '');
    for (const l of leaks) lines.push(`- ${l}`);
  }
  return lines.join('\n') + '\n';
}

export function findRow(section: string, prefix: string): Row | undefined {
  return rows.find((r) => r.section === section && r.name.startsWith(prefix));
}

export function evaluateTargets(): string[] {
  const out: string[] = [];
  const verdict = (ok: boolean | null) => (ok === null ? 'not measured' : ok ? '**met**' : '**not met**');
  const run = findRow('latency', '`run /bin/true`, daemon warm');
  if (run) {
    const q = ratio(run);
    out.push(`run latency ≤ 3× runc: ${q === null ? 'not measured' : `${q.toFixed(2)}× — ${verdict(q <= 3)}`}`);
  }
  const ex = findRow('latency', '`exec /bin/true`');
  if (ex) {
    const q = ratio(ex);
    out.push(`exec latency ≤ 3× runc: ${q === null ? `not measured (${ex.runa.text ?? ex.runc.text ?? 'no data'})` : `${q.toFixed(2)}× — ${verdict(q <= 3)}`}`);
  }
  const api = findRow('throughput', 'runa bus API');
  const cli = findRow('throughput', 'runa CLI `run`');
  if (api && cli && cli.runc.value !== undefined && api.runa.value !== undefined) {
    const q = api.runa.value / cli.runc.value;
    out.push(`throughput via the bus API ≥ 2× runc's CLI: ${q.toFixed(2)}× — ${verdict(q >= 2)}`);
  }
  const dens = rows.filter((r) => r.section === 'density' && r.name.startsWith('total per container'));
  const top = dens[dens.length - 1];
  if (top?.runa.value !== undefined) {
    const ov = rows.filter((r) => r.section === 'density' && r.name.startsWith('runtime overhead per container')).pop();
    out.push(`density ≤ 2 MB per idle container (${top.name.replace(/.*@ ?/, '@ ')}): ${top.runa.value.toFixed(2)} MB total, `
      + `${ov?.runa.value?.toFixed(2) ?? '?'} MB of it runa's own overhead — ${verdict(top.runa.value <= 2)}`);
  }
  const bus = rows.filter((r) => r.section === 'bus' && r.name.startsWith('socket'));
  if (bus.length) {
    const best = bus.reduce((a, b) => ((b.runa.value ?? 0) > (a.runa.value ?? 0) ? b : a));
    const seq = bus.find((r) => r.name.includes('1 in flight'));
    out.push(`bus ≥ 100k request/reply round trips/s over the socket: best ${fmtNum(best.runa.value ?? 0, '/s')}/s (${best.name}) — `
      + `${verdict((best.runa.value ?? 0) >= 100_000)}; sequential (1 in flight): ${fmtNum(seq?.runa.value ?? 0, '/s')}/s`);
  }
  return out;
}

/** What a run left behind (processes, cgroups, state), said in the report. */
export const leaks: string[] = [];
