// What every section of the bench shares: the options, the results, the sandbox it works in
// (state roots, rootfs, bundles), running runa and runc, and the cleanup on exit and SIGINT.
// Importing it parses the command line and makes the work dir, as bench.ts did at its start.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultSpec } from '../src/oci/default-spec.js';
import { BusClient } from '../src/bus/client.js';
import { Context } from '../src/cli/context.js';
import { packageRoot } from '../src/paths.js';
import { listIds } from '../src/state.js';
import { alive, describeFailure, inflight, pool, processes, runTimed, sleep, stat, type CmdResult, type Stat } from './util.js';

// ---------------------------------------------------------------- options

export interface Options {
  quick: boolean;
  runs: number;
  coldRuns: number;
  throughputSeconds: number;
  clients: number;
  density: number[];
  busSeconds: number;
  runc: string | null;
  only: Set<string> | null;
  out: string;
  dir: string;
  /** state roots on the --dir filesystem instead of a tmpfs of their own */
  stateOnDisk: boolean;
}

export const SECTIONS = ['latency', 'breakdown', 'throughput', 'callers', 'density', 'bus', 'seccomp', 'inspection', 'page'];

export const USAGE = `usage: node dist/bench/bench.js [options]

  --quick            short run: 10 runs, 5 s throughput, density 1 and 50, 1 s per bus figure
  --runs N           latency samples per figure (default 50; --quick 10); cold runs: half of it
  --duration S       seconds per throughput figure (default 30; --quick 5)
  --clients N        concurrent clients for throughput (default 8)
  --density LIST     container counts for density (default 1,50,200; --quick 1,50)
  --bus-seconds S    seconds per bus figure (default 3; --quick 1)
  --runc PATH        runc binary (default: runc on PATH); --no-runc to skip runc
  --only LIST        sections to run: ${SECTIONS.join(',')}
  --out FILE         JSON results (default bench/results/latest.json)
  --dir DIR          where the temporary bundle (and rootfs) goes (default ${os.tmpdir()})
  --state-on-disk    put both state roots under --dir too; by default they are on a tmpfs
                     mounted for the run, as runc's --root help asks ("this should be located
                     in tmpfs") and as /run is on systemd hosts
`;

export function parseOptions(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const o: Options = {
    quick,
    runs: quick ? 10 : 50,
    coldRuns: 0,
    throughputSeconds: quick ? 5 : 30,
    clients: 8,
    density: quick ? [1, 50] : [1, 50, 200],
    busSeconds: quick ? 1 : 3,
    runc: findRunc(),
    only: null,
    out: path.join(packageRoot, 'bench', 'results', 'latest.json'),
    dir: os.tmpdir(),
    stateOnDisk: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    const num = () => {
      const n = Number(val());
      if (!Number.isFinite(n) || n <= 0) fail(`${a} needs a positive number`);
      return n;
    };
    switch (a) {
      case '--quick': break;
      case '--runs': o.runs = Math.round(num()); break;
      case '--duration': o.throughputSeconds = num(); break;
      case '--clients': o.clients = Math.round(num()); break;
      case '--density': o.density = val().split(',').map(Number).filter((n) => n > 0); break;
      case '--bus-seconds': o.busSeconds = num(); break;
      case '--runc': o.runc = val(); break;
      case '--no-runc': o.runc = null; break;
      case '--only': o.only = new Set(val().split(',')); break;
      case '--out': o.out = path.resolve(val()); break;
      case '--dir': o.dir = path.resolve(val()); break;
      case '--state-on-disk': o.stateOnDisk = true; break;
      case '-h': case '--help': process.stdout.write(USAGE); process.exit(0);
      default: fail(`unknown option ${a}\n${USAGE}`);
    }
  }
  o.coldRuns = Math.max(3, Math.round(o.runs / 2));
  if (o.runc && !runcWorks(o.runc)) o.runc = null;
  return o;
}

export function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

export function findRunc(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, 'runc');
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return null;
}

export function runcWorks(bin: string): boolean {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

// ---------------------------------------------------------------- results

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

// ---------------------------------------------------------------- the sandbox

export const opts = parseOptions(process.argv.slice(2));
process.env.RUNA_DAEMON_IDLE_MS = '600000'; // daemons started by runa CLIs must not leave between phases
export const work = fs.mkdtempSync(path.join(opts.dir, 'runa-bench-'));
/** Both runtimes' state roots: a tmpfs of their own unless --state-on-disk (unmounted by cleanup). */
export const stateBase = path.join(work, 'state');
fs.mkdirSync(stateBase);
if (!opts.stateOnDisk) {
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'mode=0700,size=256m', 'runa-bench-state', stateBase], { encoding: 'utf8' });
  if (m.status !== 0) {
    fs.rmSync(work, { recursive: true, force: true });
    fail(`mount tmpfs on ${stateBase}: ${(m.stderr || '').trim()} (run as root, or pass --state-on-disk)`);
  }
}
export const rootA = path.join(stateBase, 'runa-state');
export const rootBus = path.join(stateBase, 'runa-bus-state');
export const rootC = path.join(stateBase, 'runc-state');
export const rootfs = path.join(work, 'rootfs');
/** An argument for `sleep` unique to this run: it names this run's container processes. */
export const SLEEP_ARG = `99999.${String(process.pid).padStart(7, '0')}`;
export const SLEEP_CMDLINE = `/bin/sleep ${SLEEP_ARG}`;
export let aborted = false;
export const contexts = new Set<Context>();
export const monitors = new Set<{ kill(signal: NodeJS.Signals): unknown }>();
export let seq = 0;
/** Container ids carry this run's tag, so that anything left behind (a cgroup) is known to be ours. */
export const TAG = `rb${process.pid.toString(36)}`;
export const nextId = (p: string) => `${TAG}a-${p}${++seq}`;
export const nextIdC = (p: string) => `${TAG}c-${p}${++seq}`;

/** The `runa` command: the native front end, which execs the Node.js CLI for what the daemon does not run. */
export const frontEnd = path.join(packageRoot, 'native', 'runa');
export const runa = (args: string[], o?: { capture?: boolean; timeoutMs?: number }) =>
  runTimed(frontEnd, ['--root', rootA, ...args], o);
export const runc = (args: string[], o?: { capture?: boolean; timeoutMs?: number }) =>
  runTimed(opts.runc!, ['--root', rootC, ...args], o);

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export class Failure extends Error {}
export function must(r: CmdResult, what: string): CmdResult {
  if (r.code !== 0) throw new Failure(`${what}: ${describeFailure(r)}`);
  return r;
}

export function checkAborted(): void {
  if (aborted) throw new Failure('interrupted');
}

export async function bundle(name: string, args: string[]): Promise<string> {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  const spec = defaultSpec() as any;
  spec.root.path = rootfs;
  spec.process.args = args;
  spec.process.terminal = false;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return dir;
}

export function daemonPid(root: string): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(root, 'daemon.pid'), 'utf8'));
    return pid > 0 ? pid : null;
  } catch { return null; }
}

/** Gone or a zombie: either way it no longer runs. */
export function gone(pid: number): boolean {
  if (!alive(pid)) return true;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch { return true; }
}

export async function stopDaemon(root: string): Promise<void> {
  const pid = daemonPid(root);
  if (!pid || gone(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  for (let i = 0; i < 500 && !gone(pid); i++) await sleep(5);
  if (!gone(pid)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    for (let i = 0; i < 200 && !gone(pid); i++) await sleep(5);
  }
}

export async function connect(root: string): Promise<{ ctx: Context; client: BusClient }> {
  const ctx = new Context({ root, logFormat: 'text', debug: false });
  contexts.add(ctx);
  const client = await ctx.connect();
  return { ctx, client };
}

export function closeContext(ctx: Context): void {
  ctx.close();
  contexts.delete(ctx);
}

// ---------------------------------------------------------------- cleanup

export let cleaning: Promise<void> | null = null;
export const leaks: string[] = [];

/**
 * Remove the (empty) cgroups named after this run's containers that a runtime left behind,
 * counting them per runtime: a delete should have removed them.
 */
export function removeOurCgroups(): { runa: number; runc: number } {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name.startsWith(TAG)) found.push(p);
      else if (depth < 4) walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  const count = { runa: 0, runc: 0 };
  const ids = new Set<string>();
  for (const p of found.sort((a, b) => b.length - a.length)) {
    const id = path.basename(p);
    try { fs.rmdirSync(p); } catch { /* busy or already gone */ }
    if (ids.has(id)) continue;
    ids.add(id);
    if (id.startsWith(`${TAG}a-`)) count.runa++;
    else count.runc++;
  }
  return count;
}

export function noteLeftCgroups(): void {
  const left = removeOurCgroups();
  if (!left.runa && !left.runc) return;
  const msg = `containers whose cgroup was left behind after a successful delete (the bench removed them): runa ${left.runa}, runc ${left.runc}`;
  log(msg);
  leaks.push(msg);
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);
}

export async function deleteAllRuna(root: string): Promise<void> {
  const ids = listIds(root);
  if (!ids.length) return;
  const { ctx, client } = await connect(root);
  try {
    await pool(ids, 16, (id) => withTimeout(client.request({ type: 'container.delete', id, force: true }).catch(() => undefined), 15_000));
  } finally {
    closeContext(ctx);
  }
}

export async function deleteAllRunc(): Promise<void> {
  if (!opts.runc || !fs.existsSync(rootC)) return;
  const r = await runc(['list', '-q'], { capture: true, timeoutMs: 15_000 });
  const ids = r.stdout.split('\n').filter(Boolean);
  await pool(ids, 8, (id) => runc(['delete', '--force', id], { timeoutMs: 15_000 }));
}

export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    aborted = true;
    for (const c of inflight) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
    for (const ctx of [...contexts]) closeContext(ctx);
    for (const root of [rootA, rootBus]) {
      if (!fs.existsSync(root)) continue;
      await withTimeout(deleteAllRuna(root).catch((e) => log(`cleanup of ${root}: ${(e as Error).message}`)), 30_000);
      await stopDaemon(root);
    }
    await withTimeout(deleteAllRunc().catch((e) => log(`runc cleanup: ${(e as Error).message}`)), 30_000);
    for (const m of monitors) { try { m.kill('SIGKILL'); } catch { /* gone */ } }
    // Whatever is left: processes naming our directory (daemons, monitors) or our sleep.
    for (const p of processes((cmd) => cmd.includes(work) || cmd === SLEEP_CMDLINE)) {
      log(`cleanup: killing leftover ${p.pid} ${p.cmdline}`);
      try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    noteLeftCgroups();
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(work));
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m.split(' ')[4]]);
    await sleep(50);
    fs.rmSync(work, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
  process.on(sig, () => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(code));
  });
}

// ---------------------------------------------------------------- phases

export let bundleTrue = '';
export let bundleSleep = '';

/** Run each sample for runa and runc alternately, so drift hits both alike. */
export async function alternate(n: number, a: () => Promise<number | null>, c: (() => Promise<number | null>) | null) {
  const ra: number[] = [];
  const rc: number[] = [];
  let fa = 0;
  let fc = 0;
  const errors: string[] = [];
  for (let i = 0; i < n; i++) {
    checkAborted();
    try { const v = await a(); if (v !== null) ra.push(v); } catch (e) { fa++; if (errors.length < 3) errors.push(`runa: ${(e as Error).message}`); }
    if (c) {
      try { const v = await c(); if (v !== null) rc.push(v); } catch (e) { fc++; if (errors.length < 3) errors.push(`runc: ${(e as Error).message}`); }
    }
  }
  for (const e of errors) log(e);
  return { runa: latencyCell(stat(ra), fa), runc: c ? latencyCell(stat(rc), fc) : { text: 'runc not found' } };
}

export const noRunc: Cell = { text: 'runc not found' };


/** The bundles every section runs (made by main before the first section). */
export function setBundles(sleepless: string, sleeping: string): void {
  bundleTrue = sleepless;
  bundleSleep = sleeping;
}
