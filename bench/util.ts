// Helpers for the benchmark: timed child processes, statistics, and process memory from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface CmdResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** wall time from spawn() to the process's exit, in milliseconds */
  ms: number;
  stdout: string;
  stderr: string;
}

/** Children in flight: an interrupted run kills them before it cleans up. */
export const inflight = new Set<ChildProcess>();

/**
 * Run a command and time it from spawn to exit. stdin is /dev/null; stdout is a pipe only
 * when asked (a container created by the command would otherwise hold it open); stderr is
 * a pipe read until exit, for error messages.
 */
export function runTimed(cmd: string, args: string[], opts: { capture?: boolean; timeoutMs?: number } = {}): Promise<CmdResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { stdio: ['ignore', opts.capture ? 'pipe' : 'ignore', 'pipe'] });
    } catch (e) {
      resolve({ code: -1, signal: null, ms: 0, stdout: '', stderr: String(e) });
      return;
    }
    inflight.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 8192) stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    let ms = 0;
    let exit: [number | null, NodeJS.Signals | null] = [null, null];
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      inflight.delete(child);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({ code: exit[0], signal: exit[1], ms, stdout, stderr });
    };
    child.once('error', (e) => { stderr += String(e); ms = performance.now() - t0; exit = [-1, null]; finish(); });
    child.once('exit', (code, signal) => {
      ms = performance.now() - t0;
      exit = [code, signal];
      // Output may still be in flight: wait for 'close' unless a container holds the pipes.
      if (opts.capture || code !== 0) setTimeout(finish, 200).unref();
      else finish();
    });
    child.once('close', () => { if (exit[0] !== null || exit[1] !== null) finish(); });
  });
}

export function describeFailure(r: CmdResult): string {
  const why = r.signal ? `signal ${r.signal}` : `exit ${r.code}`;
  const msg = r.stderr.trim().split('\n').slice(-2).join(' / ');
  return msg ? `${why}: ${msg}` : why;
}

export interface Stat { n: number; median: number; p90: number; mean: number; min: number; max: number }

/** Nearest-rank percentile of a sample. */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function stat(xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  // The median of an even sample is the mean of its two middle values.
  const mid = s.length >> 1;
  const median = s.length === 0 ? NaN : s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return {
    n: s.length,
    median,
    p90: percentile(s, 90),
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN,
    min: s.length ? s[0] : NaN,
    max: s.length ? s[s.length - 1] : NaN,
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/**
 * Process memory in kB: proportional set size (shared pages split among sharers), RSS, and
 * USS (private pages only: what the process alone costs; stable when other processes that
 * share its pages, such as other node processes, come and go).
 */
export interface Mem { pss: number; rss: number; uss: number }

export function memOf(pid: number): Mem | null {
  let pss = NaN;
  let rss = NaN;
  let uss = NaN;
  try {
    const roll = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(roll)?.[1] ?? NaN);
    pss = field('Pss');
    rss = field('Rss');
    uss = field('Private_Clean') + field('Private_Dirty');
  } catch { /* no smaps_rollup: fall back to status */ }
  if (Number.isNaN(rss)) {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
    } catch { return null; }
  }
  if (Number.isNaN(rss)) return null;
  return { pss: Number.isNaN(pss) ? rss : pss, rss, uss: Number.isNaN(uss) ? rss : uss };
}

export function sumMem(pids: number[]): Mem & { count: number } {
  let pss = 0;
  let rss = 0;
  let uss = 0;
  let count = 0;
  for (const p of pids) {
    const m = memOf(p);
    if (!m) continue;
    pss += m.pss;
    rss += m.rss;
    uss += m.uss;
    count++;
  }
  return { pss, rss, uss, count };
}

/** A process and all its descendants (via /proc/<pid>/task/<tid>/children). */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    let tasks: string[] = [];
    try { tasks = fs.readdirSync(`/proc/${p}/task`); } catch { continue; }
    for (const t of tasks) {
      try {
        for (const c of fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/)) {
          if (c) { out.push(Number(c)); stack.push(Number(c)); }
        }
      } catch { /* gone */ }
    }
  }
  return out;
}

/** Every process whose command line satisfies `match`. */
export function processes(match: (cmdline: string) => boolean): Array<{ pid: number; cmdline: string }> {
  const out: Array<{ pid: number; cmdline: string }> = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (cmdline && match(cmdline)) out.push({ pid: Number(p), cmdline });
    } catch { /* gone */ }
  }
  return out;
}

/** MemAvailable in kB: what the whole system (kernel included) has left. */
export function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Run `fn` over `items` with at most `limit` at once. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
