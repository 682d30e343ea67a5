// `npm run bench`: runa against runc, same machine, same bundle, same run.
// Markdown on stdout, progress on stderr, JSON in bench/results/latest.json.
// Everything it makes (containers, daemons, temp dirs) is removed at the end, on error and on SIGINT.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { makeRootfs } from '../test/helpers/rootfs.js';
import { defaultProfile } from '../test/helpers/seccomp.js';
import { compileTimes, dumpFilter, HOT, steps } from './seccomp.js';
import type { Insn } from '../src/seccomp/bpf.js';
import { defaultSpec } from '../src/oci/default-spec.js';
import { Bus } from '../src/bus/bus.js';
import { BusClient } from '../src/bus/client.js';
import { Context } from '../src/cli/context.js';
import { createContainer } from '../src/cli/lifecycle.js';
import { cliEntry, daemonEntry, nsinitPath, packageRoot, socketPath } from '../src/paths.js';
import { listIds } from '../src/state.js';
import {
  alive, describeFailure, descendants, inflight, memAvailable, memOf, pool, processes, runTimed, sleep, stat, sumMem,
  type CmdResult, type Mem, type Stat,
} from './util.js';

// ---------------------------------------------------------------- options

interface Options {
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

const SECTIONS = ['latency', 'breakdown', 'throughput', 'callers', 'density', 'bus', 'seccomp', 'inspection', 'page'];

const USAGE = `usage: node dist/bench/bench.js [options]

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

function parseOptions(argv: string[]): Options {
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

function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

function findRunc(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, 'runc');
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return null;
}

function runcWorks(bin: string): boolean {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

// ---------------------------------------------------------------- results

/** One side of a row: a number (with its unit), or a text such as "n/a". */
interface Cell { value?: number; p90?: number; text?: string; detail?: unknown }
interface Row {
  section: string;
  name: string;
  unit: 'ms' | '/s' | 'MB' | 'insns';
  higherIsBetter?: boolean;
  runa: Cell;
  runc: Cell;
  note?: string;
}
interface Breakdown { name: string; ms?: Stat; text?: string; note?: string }

const rows: Row[] = [];
const breakdown: Breakdown[] = [];
const extra: Record<string, unknown> = {};

function latencyCell(s: Stat, failures = 0): Cell {
  if (!s.n) return { text: failures ? `failed (${failures})` : 'no data' };
  return { value: s.median, p90: s.p90, detail: { ...s, failures } };
}

function ratio(r: Row): number | null {
  const a = r.runa.value;
  const c = r.runc.value;
  if (a === undefined || c === undefined || !c) return null;
  return a / c;
}

function fmtNum(v: number, unit: Row['unit']): string {
  if (unit === '/s') return v >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(v >= 100 ? 0 : 1);
  if (unit === 'MB') return v.toFixed(v >= 10 ? 1 : 2);
  if (unit === 'insns') return String(Math.round(v));
  return v.toFixed(v >= 100 ? 0 : 1);
}

function fmtCell(c: Cell, unit: Row['unit']): string {
  if (c.text !== undefined) return c.text;
  if (c.value === undefined) return '—';
  const main = `${fmtNum(c.value, unit)} ${unit === '/s' ? '/s' : unit}`;
  return c.p90 !== undefined ? `${main} (p90 ${fmtNum(c.p90, unit)})` : main;
}

function markdown(opts: Options, machine: Record<string, unknown>, seconds: number): string {
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

function findRow(section: string, prefix: string): Row | undefined {
  return rows.find((r) => r.section === section && r.name.startsWith(prefix));
}

function evaluateTargets(): string[] {
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

const opts = parseOptions(process.argv.slice(2));
process.env.RUNA_DAEMON_IDLE_MS = '600000'; // daemons started by runa CLIs must not leave between phases
const work = fs.mkdtempSync(path.join(opts.dir, 'runa-bench-'));
/** Both runtimes' state roots: a tmpfs of their own unless --state-on-disk (unmounted by cleanup). */
const stateBase = path.join(work, 'state');
fs.mkdirSync(stateBase);
if (!opts.stateOnDisk) {
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'mode=0700,size=256m', 'runa-bench-state', stateBase], { encoding: 'utf8' });
  if (m.status !== 0) {
    fs.rmSync(work, { recursive: true, force: true });
    fail(`mount tmpfs on ${stateBase}: ${(m.stderr || '').trim()} (run as root, or pass --state-on-disk)`);
  }
}
const rootA = path.join(stateBase, 'runa-state');
const rootBus = path.join(stateBase, 'runa-bus-state');
const rootC = path.join(stateBase, 'runc-state');
const rootfs = path.join(work, 'rootfs');
/** An argument for `sleep` unique to this run: it names this run's container processes. */
const SLEEP_ARG = `99999.${String(process.pid).padStart(7, '0')}`;
const SLEEP_CMDLINE = `/bin/sleep ${SLEEP_ARG}`;
let aborted = false;
const contexts = new Set<Context>();
const monitors = new Set<{ kill(signal: NodeJS.Signals): unknown }>();
let seq = 0;
/** Container ids carry this run's tag, so that anything left behind (a cgroup) is known to be ours. */
const TAG = `rb${process.pid.toString(36)}`;
const nextId = (p: string) => `${TAG}a-${p}${++seq}`;
const nextIdC = (p: string) => `${TAG}c-${p}${++seq}`;

/** The `runa` command: the native front end, which execs the Node.js CLI for what the daemon does not run. */
const frontEnd = path.join(packageRoot, 'native', 'runa');
const runa = (args: string[], o?: { capture?: boolean; timeoutMs?: number }) =>
  runTimed(frontEnd, ['--root', rootA, ...args], o);
const runc = (args: string[], o?: { capture?: boolean; timeoutMs?: number }) =>
  runTimed(opts.runc!, ['--root', rootC, ...args], o);

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

class Failure extends Error {}
function must(r: CmdResult, what: string): CmdResult {
  if (r.code !== 0) throw new Failure(`${what}: ${describeFailure(r)}`);
  return r;
}

function checkAborted(): void {
  if (aborted) throw new Failure('interrupted');
}

async function bundle(name: string, args: string[]): Promise<string> {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  const spec = defaultSpec() as any;
  spec.root.path = rootfs;
  spec.process.args = args;
  spec.process.terminal = false;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return dir;
}

function daemonPid(root: string): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(root, 'daemon.pid'), 'utf8'));
    return pid > 0 ? pid : null;
  } catch { return null; }
}

/** Gone or a zombie: either way it no longer runs. */
function gone(pid: number): boolean {
  if (!alive(pid)) return true;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch { return true; }
}

async function stopDaemon(root: string): Promise<void> {
  const pid = daemonPid(root);
  if (!pid || gone(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  for (let i = 0; i < 500 && !gone(pid); i++) await sleep(5);
  if (!gone(pid)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    for (let i = 0; i < 200 && !gone(pid); i++) await sleep(5);
  }
}

async function connect(root: string): Promise<{ ctx: Context; client: BusClient }> {
  const ctx = new Context({ root, logFormat: 'text', debug: false });
  contexts.add(ctx);
  const client = await ctx.connect();
  return { ctx, client };
}

function closeContext(ctx: Context): void {
  ctx.close();
  contexts.delete(ctx);
}

// ---------------------------------------------------------------- cleanup

let cleaning: Promise<void> | null = null;
const leaks: string[] = [];

/**
 * Remove the (empty) cgroups named after this run's containers that a runtime left behind,
 * counting them per runtime: a delete should have removed them.
 */
function removeOurCgroups(): { runa: number; runc: number } {
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

function noteLeftCgroups(): void {
  const left = removeOurCgroups();
  if (!left.runa && !left.runc) return;
  const msg = `containers whose cgroup was left behind after a successful delete (the bench removed them): runa ${left.runa}, runc ${left.runc}`;
  log(msg);
  leaks.push(msg);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);
}

async function deleteAllRuna(root: string): Promise<void> {
  const ids = listIds(root);
  if (!ids.length) return;
  const { ctx, client } = await connect(root);
  try {
    await pool(ids, 16, (id) => withTimeout(client.request({ type: 'container.delete', id, force: true }).catch(() => undefined), 15_000));
  } finally {
    closeContext(ctx);
  }
}

async function deleteAllRunc(): Promise<void> {
  if (!opts.runc || !fs.existsSync(rootC)) return;
  const r = await runc(['list', '-q'], { capture: true, timeoutMs: 15_000 });
  const ids = r.stdout.split('\n').filter(Boolean);
  await pool(ids, 8, (id) => runc(['delete', '--force', id], { timeoutMs: 15_000 }));
}

function cleanup(): Promise<void> {
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

let bundleTrue = '';
let bundleSleep = '';

/** Run each sample for runa and runc alternately, so drift hits both alike. */
async function alternate(n: number, a: () => Promise<number | null>, c: (() => Promise<number | null>) | null) {
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

const noRunc: Cell = { text: 'runc not found' };

async function phaseLatency(): Promise<void> {
  log(`latency: ${opts.runs} runs per figure`);
  // Warm up: start runa's daemon, fault in both binaries.
  must(await runa(['run', '-b', bundleTrue, nextId('warm')]), 'runa run (warm-up)');
  if (opts.runc) must(await runc(['run', '-b', bundleTrue, nextIdC('warm')]), 'runc run (warm-up)');

  const warm = await alternate(opts.runs,
    async () => must(await runa(['run', '-b', bundleTrue, nextId('r')]), 'runa run').ms,
    opts.runc ? async () => must(await runc(['run', '-b', bundleTrue, nextIdC('c')]), 'runc run').ms : null);
  rows.push({ section: 'latency', name: '`run /bin/true`, daemon warm', unit: 'ms', ...warm });

  log(`latency: ${opts.coldRuns} cold runs (daemon stopped before each)`);
  const cold = await alternate(opts.coldRuns, async () => {
    await stopDaemon(rootA);
    return must(await runa(['run', '-b', bundleTrue, nextId('r')]), 'runa run (cold)').ms;
  }, null);
  rows.push({
    section: 'latency', name: '`run /bin/true`, daemon cold (first call)', unit: 'ms', runa: cold.runa,
    runc: opts.runc ? { ...warm.runc } : noRunc, note: 'runc has no daemon: its figure is the warm one',
  });

  log('latency: create + start + wait + delete');
  const stepsA: Record<string, number[]> = { create: [], start: [], wait: [], delete: [] };
  const stepsC: Record<string, number[]> = { create: [], start: [], 'poll state': [], delete: [] };
  let polls = 0;
  const cycle = await alternate(opts.runs, async () => {
    const id = nextId('r');
    const t = [
      must(await runa(['create', '-b', bundleTrue, id]), 'runa create').ms,
      must(await runa(['start', id]), 'runa start').ms,
      must(await runa(['wait', id]), 'runa wait').ms,
      must(await runa(['delete', id]), 'runa delete').ms,
    ];
    Object.values(stepsA).forEach((xs, i) => xs.push(t[i]));
    return t.reduce((a, b) => a + b, 0);
  }, opts.runc ? async () => {
    const id = nextIdC('c');
    const t0 = must(await runc(['create', '-b', bundleTrue, id]), 'runc create').ms;
    const t1 = must(await runc(['start', id]), 'runc start').ms;
    let t2 = 0;
    for (let i = 0; ; i++) {
      const s = must(await runc(['state', id], { capture: true }), 'runc state');
      t2 += s.ms;
      polls++;
      if (JSON.parse(s.stdout).status === 'stopped') break;
      if (i > 1000) throw new Failure('runc container did not stop');
    }
    const t3 = must(await runc(['delete', id]), 'runc delete').ms;
    [t0, t1, t2, t3].forEach((v, i) => Object.values(stepsC)[i].push(v));
    return t0 + t1 + t2 + t3;
  } : null);
  const stepText = (steps: Record<string, number[]>) =>
    Object.entries(steps).map(([k, v]) => `${k} ${stat(v).median.toFixed(0)}`).join(' + ');
  rows.push({
    section: 'latency', name: '`create` + `start` + wait + `delete` of /bin/true', unit: 'ms', ...cycle,
    note: `runa: ${stepText(stepsA)} ms` + (opts.runc ? `; runc: ${stepText(stepsC)} ms (${(polls / Math.max(1, opts.runs)).toFixed(1)} state polls per cycle; runc has no wait)` : ''),
  });
  extra.cycleSteps = {
    runa: Object.fromEntries(Object.entries(stepsA).map(([k, v]) => [k, stat(v)])),
    runc: Object.fromEntries(Object.entries(stepsC).map(([k, v]) => [k, stat(v)])),
  };

  // exec and state need a running container on each side.
  const ida = nextId('exec');
  const idc = nextIdC('exec');
  must(await runa(['run', '-d', '-b', bundleSleep, ida]), 'runa run -d');
  if (opts.runc) must(await runc(['run', '-d', '-b', bundleSleep, idc]), 'runc run -d');
  try {
    log('latency: exec');
    const probe = await runa(['exec', '--help'], { capture: true });
    const implemented = !/No help topic/.test(probe.stderr);
    let execRow: Row;
    if (!implemented) {
      execRow = {
        section: 'latency', name: '`exec /bin/true` into a running container', unit: 'ms',
        runa: { text: 'n/a (not implemented)' }, runc: opts.runc ? { text: '' } : noRunc,
      };
      if (opts.runc) {
        const r = await alternate(opts.runs, async () => null, async () => must(await runc(['exec', idc, '/bin/true']), 'runc exec').ms);
        execRow.runc = r.runc;
      }
    } else {
      const first = await runa(['exec', ida, '/bin/true']);
      if (first.code !== 0) {
        execRow = {
          section: 'latency', name: '`exec /bin/true` into a running container', unit: 'ms',
          runa: { text: `failed (${describeFailure(first).slice(0, 80)})` }, runc: noRunc,
        };
        if (opts.runc) execRow.runc = (await alternate(opts.runs, async () => null, async () => must(await runc(['exec', idc, '/bin/true']), 'runc exec').ms)).runc;
      } else {
        const r = await alternate(opts.runs,
          async () => must(await runa(['exec', ida, '/bin/true']), 'runa exec').ms,
          opts.runc ? async () => must(await runc(['exec', idc, '/bin/true']), 'runc exec').ms : null);
        execRow = { section: 'latency', name: '`exec /bin/true` into a running container', unit: 'ms', ...r };
      }
    }
    rows.push(execRow);

    log('latency: state (CLI cold start of a read-only command)');
    const st = await alternate(opts.runs,
      async () => must(await runa(['state', ida]), 'runa state').ms,
      opts.runc ? async () => must(await runc(['state', idc]), 'runc state').ms : null);
    rows.push({ section: 'latency', name: '`state` of a running container (CLI cold start)', unit: 'ms', ...st, note: 'runa: the front end asks the daemon, which reads the state dir' });

    log('latency: list');
    const ls = await alternate(opts.runs,
      async () => must(await runa(['list']), 'runa list').ms,
      opts.runc ? async () => must(await runc(['list']), 'runc list').ms : null);
    rows.push({ section: 'latency', name: '`list` with a running container', unit: 'ms', ...ls, note: 'runa: the front end asks the daemon, which reads the state dirs' });
  } finally {
    await runa(['delete', '--force', ida]);
    if (opts.runc) await runc(['delete', '--force', idc]);
  }
}

/** Read nsinit's sync line from fd 3 (as src/cli/lifecycle.ts does). */
function readSyncLine(child: ChildProcess): Promise<number> {
  const stream = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
  return new Promise((resolve, reject) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      stream.removeAllListeners();
      stream.destroy();
      const [kind, a, ...rest] = buf.slice(0, nl).split('\t');
      if (kind === 'created') resolve(Number(a));
      else reject(new Failure(rest.join('\t') || `nsinit failed (errno ${a})`));
    });
    stream.on('end', () => reject(new Failure('nsinit exited before the container was created')));
  });
}

const API_STEPS = ['container.create (daemon: validate bundle, build plan, write state)', 'spawn nsinit', 'nsinit: namespaces, mounts, pivot_root → created',
  'container.created (daemon: attach to monitor)', 'container.start (daemon → monitor → exec)', '/bin/true runs and exits, monitor exits', 'container.delete'];

/** The create/start/wait/delete flow of `runa run`, in-process over the bus, with a timestamp per step. */
async function apiRunInstrumented(client: BusClient, id: string): Promise<number[]> {
  const t = [performance.now()];
  const mark = () => t.push(performance.now());
  const { plan } = await client.request<{ plan: string }>({ type: 'container.create', id, bundle: bundleTrue });
  mark();
  const child = spawn(nsinitPath, [plan], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
  monitors.add(child);
  const exited = new Promise<void>((r) => child.once('exit', () => { monitors.delete(child); r(); }));
  try {
    await new Promise<void>((resolve, reject) => { child.once('spawn', resolve); child.once('error', reject); });
    mark();
    const initPid = await readSyncLine(child);
    mark();
    await client.request({ type: 'container.created', id, monitorPid: child.pid!, initPid });
    mark();
  } catch (e) {
    child.kill('SIGKILL');
    await client.request({ type: 'container.createFailed', id, message: (e as Error).message }).catch(() => undefined);
    throw e;
  }
  await client.request({ type: 'container.start', id });
  mark();
  await exited;
  mark();
  await client.request({ type: 'container.delete', id, force: true });
  mark();
  return t.slice(1).map((v, i) => v - t[i]);
}

/** Run a snippet of ESM in a fresh Node.js process; it prints one JSON object of timings. */
async function probe(code: string): Promise<Record<string, number>> {
  const r = must(await runTimed(process.execPath, ['--input-type=module', '-e', code], { capture: true }), 'probe');
  return JSON.parse(r.stdout) as Record<string, number>;
}

const fileUrl = (...p: string[]) => JSON.stringify(pathToFileURL(path.join(packageRoot, ...p)).href);

async function phaseBreakdown(): Promise<void> {
  log('breakdown: node start-up, CLI start-up, connection set-up, in-process bus API');
  must(await runa(['run', '-b', bundleTrue, nextId('warm')]), 'runa run (warm-up)');
  const series: Record<string, number[]> = {
    nodeStart: [], version: [], nodeVersion: [], boot: [], importClient: [], connect: [], firstRequest: [], importDaemon: [],
  };
  const clientProbe = `const t0 = performance.now();
const { BusClient } = await import(${fileUrl('dist', 'src', 'bus', 'client.js')});
const t1 = performance.now();
const c = await BusClient.connect(${JSON.stringify(socketPath(rootA))});
const t2 = performance.now();
await c.request({ type: 'daemon.ping' });
const t3 = performance.now();
c.close();
process.stdout.write(JSON.stringify({ boot: t0, importClient: t1 - t0, connect: t2 - t1, firstRequest: t3 - t2 }));`;
  /** A daemon started as the front end starts it (bin/runa-daemon.cjs, its build-time code cache, a fresh root): spawn to listening. */
  const daemonListen = async (i: number): Promise<number> => {
    const root = path.join(work, `daemon-start-${i}`);
    fs.mkdirSync(root, { mode: 0o700 });
    const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
    const t0 = performance.now();
    const child = spawn(process.execPath, [daemonEntry, '--root', root, 'daemon'], { stdio: 'ignore', env });
    const exited = new Promise((r) => child.once('exit', r));
    let ms = NaN;
    for (let k = 0; k < 5000; k++) {
      const ok = await new Promise<boolean>((r) => {
        const c = net.connect(socketPath(root));
        c.once('connect', () => { c.destroy(); r(true); });
        c.once('error', () => r(false));
      });
      if (ok) { ms = performance.now() - t0; break; }
      await sleep(1);
    }
    child.kill('SIGTERM');
    await exited;
    fs.rmSync(root, { recursive: true, force: true });
    return ms;
  };
  for (let i = 0; i < opts.runs; i++) {
    checkAborted();
    series.nodeStart.push(must(await runTimed(process.execPath, ['-e', '0']), 'node -e 0').ms);
    series.version.push(must(await runa(['--version']), 'runa --version').ms);
    series.nodeVersion.push(must(await runTimed(process.execPath, [cliEntry, '--root', rootA, '--version']), 'node bin/runa.js --version').ms);
    for (const [k, v] of Object.entries(await probe(clientProbe))) series[k].push(v);
    if (i < Math.min(opts.runs, 10)) series.importDaemon.push(await daemonListen(i));
  }
  const s = Object.fromEntries(Object.entries(series).map(([k, v]) => [k, stat(v)]));
  const warm = findRow('latency', '`run /bin/true`, daemon warm')?.runa.value;
  const cold = findRow('latency', '`run /bin/true`, daemon cold')?.runa.value;
  const diff = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? 'not measured' : (a - b).toFixed(1));
  breakdown.push({ name: '**The command line**', text: '' });
  breakdown.push({ name: '`runa --version`: the front end (start, connect, `cli.run` answered by the daemon)', ms: s.version });
  breakdown.push({ name: '`runa run` beyond `--version` (`run` − `--version`)', text: diff(warm, s.version.median), note: 'the daemon\'s work, nsinit, and the steps it asks of the front end' });
  breakdown.push({ name: '**The Node.js CLI (`bin/runa.js`: what the front end execs when no daemon answers, and for spec, update, events…)**', text: '' });
  breakdown.push({ name: '`node -e 0`: bare Node.js process, spawn to exit', ms: s.nodeStart });
  breakdown.push({ name: '  of which Node.js bootstrap before user code runs', ms: s.boot, note: '`performance.now()` at the first line of a script' });
  breakdown.push({ name: '`node bin/runa.js --version`: Node.js + the CLI entry\'s static imports', ms: s.nodeVersion });
  breakdown.push({ name: '  CLI module loading (that − `node -e 0`)', text: (s.nodeVersion.median - s.nodeStart.median).toFixed(1) });
  breakdown.push({ name: '  `import(bus/client.js)` (ws) in a fresh process', ms: s.importClient, note: 'paid by every command that talks to the daemon' });
  breakdown.push({ name: '  connect (WebSocket upgrade on the unix socket) in a fresh process', ms: s.connect });
  breakdown.push({ name: '  first request round trip in a fresh process', ms: s.firstRequest });
  breakdown.push({ name: '**daemon cold start**', text: '' });
  breakdown.push({ name: '`run` daemon cold − daemon warm', text: diff(cold, warm), note: 'the first call spawns `runa daemon` and polls its socket' });
  breakdown.push({ name: '  daemon start to listening (`bin/runa-daemon.cjs`, its code cache, a fresh root)', ms: s.importDaemon });

  const { ctx, client } = await connect(rootA);
  try {
    const steps: number[][] = API_STEPS.map(() => []);
    const totals: number[] = [];
    await apiRunInstrumented(client, nextId('api')); // warm-up
    for (let i = 0; i < opts.runs; i++) {
      checkAborted();
      const t = await apiRunInstrumented(client, nextId('api'));
      t.forEach((v, j) => steps[j].push(v));
      totals.push(t.reduce((a, b) => a + b, 0));
    }
    breakdown.push({ name: '**`run` via the bus API, in-process (no CLI): daemon + nsinit**', ms: stat(totals), note: 'the flow of `runa run`, driven from the bench process over one warm connection' });
    API_STEPS.forEach((name, j) => breakdown.push({ name: `  ${j + 1}. ${name}`, ms: stat(steps[j]) }));
    extra.breakdown = { ...s, apiRun: stat(totals), apiSteps: Object.fromEntries(API_STEPS.map((n, j) => [n, stat(steps[j])])) };
  } finally {
    closeContext(ctx);
  }
}

interface Throughput {
  perSecond: number; completed: number; failed: number; seconds: number; latency: Stat; firstError?: string;
  /** completions per second in consecutive 5 s windows: shows drift over the run */
  perWindow: number[];
  /** runa's daemon memory (kB) before and after */
  daemon?: { before: Mem | null; after: Mem | null };
}

async function throughput(label: string, one: (client: number) => Promise<void>, daemonRoot?: string): Promise<Throughput> {
  log(`throughput: ${label}, ${opts.clients} clients × ${opts.throughputSeconds} s`);
  const dpid = daemonRoot ? daemonPid(daemonRoot) : null;
  const before = dpid ? memOf(dpid) : null;
  const windows: number[] = [];
  const t0 = performance.now();
  const end = t0 + opts.throughputSeconds * 1000;
  let completed = 0;
  let failed = 0;
  let firstError: string | undefined;
  const lat: number[] = [];
  await Promise.all(Array.from({ length: opts.clients }, async (_, c) => {
    while (performance.now() < end && !aborted) {
      const s = performance.now();
      try {
        await one(c);
        completed++;
        const now = performance.now();
        lat.push(now - s);
        const w = Math.floor((now - t0) / 5000);
        windows[w] = (windows[w] ?? 0) + 1;
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
        if (failed > 50 && completed === 0) return; // broken, not slow
      }
    }
  }));
  checkAborted();
  const seconds = (performance.now() - t0) / 1000;
  if (firstError) log(`throughput ${label}: ${failed} failed, first: ${firstError}`);
  const perWindow = Array.from({ length: Math.max(1, Math.floor(opts.throughputSeconds / 5)) }, (_, i) => Math.round((windows[i] ?? 0) / Math.min(5, opts.throughputSeconds)));
  const daemon = dpid ? { before, after: memOf(dpid) } : undefined;
  return { perSecond: completed / seconds, completed, failed, seconds, latency: stat(lat), firstError, perWindow, daemon };
}

function tputCell(t: Throughput): Cell {
  if (!t.completed) return { text: `failed (${t.firstError?.slice(0, 60) ?? 'none completed'})` };
  return { value: t.perSecond, detail: t };
}

function daemonNote(t: Throughput): string {
  const d = t.daemon;
  if (!d?.before || !d.after) return '';
  return `; daemon RSS ${(d.before.rss / 1024).toFixed(0)} → ${(d.after.rss / 1024).toFixed(0)} MB`;
}

/** One /bin/true through the bus API on client c's connection: the flow of `runa run` without the CLI. */
function busApiRun(conns: Array<{ ctx: Context; client: BusClient }>, prefix: string) {
  return async (c: number): Promise<void> => {
    const { ctx, client } = conns[c];
    const id = nextId(prefix);
    const { nsinit } = await createContainer(ctx, { id, bundle: bundleTrue });
    const monitor = { kill: (sig: NodeJS.Signals) => nsinit.kill(sig) };
    monitors.add(monitor);
    try {
      await client.request({ type: 'container.start', id });
      await nsinit.wait();
    } finally {
      monitors.delete(monitor);
      await client.request({ type: 'container.delete', id, force: true });
    }
  };
}

/**
 * What inspection costs: `run` latency and bus API throughput with no viewer and with one
 * attached (a client subscribed to the inspect topic, counting frames), in the same run.
 * runa only: the runc column is not used.
 */
async function phaseInspection(): Promise<void> {
  log(`inspection: ${opts.runs} runs with and without a viewer, then throughput both ways`);
  must(await runa(['run', '-b', bundleTrue, nextId('warm')]), 'runa run (warm-up)');
  const viewer = await connect(rootA);
  let frames = 0;
  viewer.client.on('inspect', () => { frames++; });
  const watch = (on: boolean) => viewer.client.request({ type: on ? 'inspect.subscribe' : 'inspect.unsubscribe' });
  try {
    const runOnce = async () => must(await runa(['run', '-b', bundleTrue, nextId('i')]), 'runa run').ms;
    // Alternated sample by sample; the viewer subscribes before and leaves after each watched sample, outside its time.
    const lat = await alternate(opts.runs, runOnce, async () => {
      await watch(true);
      try { return await runOnce(); } finally { await watch(false); }
    });
    const without = lat.runa.value;
    const withViewer = lat.runc;
    const pct = (a?: number, b?: number) => (a !== undefined && b ? `${(((a - b) / b) * 100).toFixed(0)} %` : 'n/a');
    rows.push({
      section: 'inspection', name: '`run /bin/true`, daemon warm, a viewer attached', unit: 'ms', runa: withViewer, runc: { text: '—' },
      note: `no viewer: ${without?.toFixed(1) ?? 'n/a'} ms (p90 ${lat.runa.p90?.toFixed(1) ?? 'n/a'}), alternated sample by sample: ${pct(withViewer.value, without)}`,
    });
    const conns = await Promise.all(Array.from({ length: opts.clients }, () => connect(rootA)));
    try {
      const bare = await throughput('bus API, no viewer', busApiRun(conns, 'ib'), rootA);
      await watch(true);
      const before = frames;
      const watched = await throughput('bus API, a viewer attached', busApiRun(conns, 'ib'), rootA);
      await watch(false);
      rows.push({
        section: 'inspection', name: `bus API create/start/delete, ${opts.clients} clients, a viewer attached`, unit: '/s', higherIsBetter: true,
        runa: tputCell(watched), runc: { text: '—' },
        note: `no viewer: ${bare.perSecond.toFixed(1)} /s (${pct(watched.perSecond, bare.perSecond)}); the viewer received ${frames - before} frames (${watched.completed ? Math.round((frames - before) / watched.completed) : 0} per container)`,
      });
    } finally {
      for (const { ctx } of conns) closeContext(ctx);
    }
  } finally {
    closeContext(viewer.ctx);
  }
}

/**
 * The inspector page (`runa ui`) in Debian's chromium with 125 idle containers (625 live
 * actors): how long the page takes to show them after connecting, what each render costs
 * while 125 more containers' frames arrive, and how fast the search answers. Measured in
 * the page (performance.now around its render); runa only.
 */
async function phasePage(): Promise<void> {
  const CHROMIUM = '/usr/bin/chromium';
  if (!fs.existsSync(CHROMIUM)) { log('page: skipped: install chromium (apt-get install chromium)'); return; }
  const { chromium } = await import('playwright-core');
  const n = 125;
  log(`page: ${n} containers (${n * 5} actors) in the inspector`);
  must(await runa(['run', '-b', bundleTrue, nextId('warm')]), 'runa run (warm-up)');
  const ui = spawn(process.execPath, [cliEntry, '--root', rootA, 'ui', '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  ui.stdout!.on('data', (d) => { out += d; });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  const { ctx, client } = await connect(rootA);
  const ids = Array.from({ length: n }, () => nextId('p'));
  const more = Array.from({ length: n }, () => nextId('q'));
  try {
    for (let i = 0; i < 200 && !/http:\S+/.test(out); i++) await sleep(50);
    const url = /runa ui: (http:\S+)/.exec(out)?.[1];
    if (!url) throw new Failure(`runa ui did not start: ${out}`);
    await pool(ids, 4, async (id) => must(await runa(['run', '-d', '-b', bundleSleep, id]), 'runa run -d'));
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const live = async () => Number(((await page.locator('#count').textContent()) ?? '0').split(' ')[0]);
    const t0 = performance.now();
    await page.goto(url);
    await page.waitForFunction((want) => Number(document.getElementById('count')!.textContent!.split(' ')[0]) >= want, n * 5, { timeout: 60_000 });
    const firstMs = performance.now() - t0;
    // A burst: 125 more containers created and started while the page follows.
    await page.evaluate(() => Object.assign((window as any).runaStats, { renders: 0, totalMs: 0, maxMs: 0 }));
    await pool(more, 4, async (id) => must(await runa(['run', '-d', '-b', bundleSleep, id]), 'runa run -d'));
    await page.waitForFunction((want) => Number(document.getElementById('count')!.textContent!.split(' ')[0]) >= want, n * 10, { timeout: 60_000 });
    const burst = await page.evaluate(() => ({ ...(window as any).runaStats })) as { renders: number; totalMs: number; maxMs: number };
    const actors = await live();
    const t1 = performance.now();
    await page.fill('#search', more[7]);
    await page.waitForFunction(() => document.querySelectorAll('#tree .row:not([hidden])').length <= 6);
    const searchMs = performance.now() - t1;
    rows.push({ section: 'page', name: `inspector page: first full render of ${n * 5} live actors after connecting`, unit: 'ms', runa: { value: firstMs }, runc: { text: '—' }, note: 'page load + snapshot + tree, measured from navigation to the count shown' });
    rows.push({
      section: 'page', name: `inspector page: render per frame while ${n} more containers start (${actors} actors at the end)`, unit: 'ms', runa: { value: burst.totalMs / Math.max(1, burst.renders) }, runc: { text: '—' },
      note: `mean over ${burst.renders} renders (tree + chart + timeline, batched per animation frame); max ${burst.maxMs.toFixed(1)} ms`,
    });
    rows.push({ section: 'page', name: `inspector page: search among ${actors} actors`, unit: 'ms', runa: { value: searchMs }, runc: { text: '—' }, note: 'typing an id until only its rows are shown (includes the playwright round trip)' });
  } finally {
    await browser.close();
    ui.kill('SIGINT');
    await pool([...ids, ...more], 16, (id) => client.request({ type: 'container.delete', id, force: true }).catch(() => undefined));
    closeContext(ctx);
  }
}

/**
 * What users feel: containers started and removed per second through the real callers, 4
 * clients each, runa and runc alternately on the same caller: a private containerd
 * (`ctr run --rm --runc-binary`) and a private podman (`podman --runtime … run --rm`), on an
 * image built from busybox-static. Skipped, saying so, where a caller is not installed.
 */
function callerOk(r: { code: number | null; stderr: string }, what: string): void {
  if (r.code !== 0) throw new Failure(`${what}: exit ${r.code}: ${r.stderr.trim().slice(-300)}`);
}

async function phaseCallers(): Promise<void> {
  const { Containerd, Podman } = await import('../test/helpers/callers.js');
  const { IMAGE, busyboxMissing, writeBusyboxImage } = await import('../test/helpers/oci-image.js');
  const clients = opts.clients;
  opts.clients = 4;
  const binary = path.join(packageRoot, 'native', 'runa');
  const both = async (what: string, one: (runtime: string, id: string) => Promise<{ code: number | null; stderr: string }>) => {
    let n = 0;
    const round = (runtime: string, tag: string) => async () => {
      const r = await one(runtime, `${TAG}${tag}${++n}`);
      if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr.slice(0, 200)}`);
    };
    const a = await throughput(`${what} with runa`, round(binary, 'a'));
    const c = opts.runc ? await throughput(`${what} with runc`, round(opts.runc, 'c')) : null;
    rows.push({
      section: 'callers', name: `${what}, /bin/true, 4 clients`, unit: '/s', higherIsBetter: true,
      runa: tputCell(a), runc: c ? tputCell(c) : noRunc,
      note: `containers started and removed per second; median latency under load: runa ${a.latency.median.toFixed(0)} ms` + (c ? `, runc ${c.latency.median.toFixed(0)} ms` : ''),
    });
  };
  try {
    const missing = busyboxMissing();
    const ctrMissing = missing ?? Containerd.missing();
    if (ctrMissing) log(`callers: containerd skipped: ${ctrMissing}`);
    else {
      const c = new Containerd();
      try {
        await c.start();
        const image = path.join(c.dir, 'busybox.tar');
        writeBusyboxImage(image);
        callerOk(await c.ctr(['images', 'import', image], { timeoutMs: 60_000 }), 'ctr images import');
        const runcRoot = path.join(c.dir, 'rt-runc');
        await both('containerd: `ctr run --rm`', (runtime, id) =>
          c.ctr(['run', '--rm', ...c.runFlags(runtime, runtime === binary ? path.dirname(c.runtimeRoot) : runcRoot), IMAGE, id, '/bin/true'], { timeoutMs: 60_000 }));
      } finally {
        const left = await c.teardown();
        const n = Object.values(left).flat().length;
        if (n) log(`callers: containerd left ${n} thing(s): ${JSON.stringify(left)}`);
      }
    }
    const podMissing = missing ?? Podman.missing();
    if (podMissing) log(`callers: podman skipped: ${podMissing}`);
    else {
      const p = new Podman();
      try {
        const image = path.join(p.dir, 'busybox.tar');
        writeBusyboxImage(image);
        callerOk(await p.podman(['load', '-i', image], { timeoutMs: 60_000 }), 'podman load');
        await both('podman: `podman run --rm`', (runtime) =>
          p.podman(['run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', IMAGE, '/bin/true'], { runtime, timeoutMs: 60_000 }));
      } finally {
        const left = await p.teardown();
        const n = Object.values(left).flat().length;
        if (n) log(`callers: podman left ${n} thing(s): ${JSON.stringify(left)}`);
      }
    }
  } finally {
    opts.clients = clients;
  }
}

async function phaseThroughput(): Promise<void> {
  must(await runa(['run', '-b', bundleTrue, nextId('warm')]), 'runa run (warm-up)');
  const cli = await throughput('runa CLI run', async () => {
    must(await runa(['run', '-b', bundleTrue, nextId('t')]), 'runa run');
  }, rootA);
  const cliC = opts.runc ? await throughput('runc CLI run', async () => {
    must(await runc(['run', '-b', bundleTrue, nextIdC('t')]), 'runc run');
  }) : null;
  rows.push({
    section: 'throughput', name: `runa CLI \`run\` vs runc CLI \`run\`, /bin/true, ${opts.clients} clients`, unit: '/s', higherIsBetter: true,
    runa: tputCell(cli), runc: cliC ? tputCell(cliC) : noRunc,
    note: `containers completed per second; median latency under load: runa ${cli.latency.median.toFixed(0)} ms` + (cliC ? `, runc ${cliC.latency.median.toFixed(0)} ms` : '')
      + `; per 5 s: runa ${cli.perWindow.join(' ')}` + (cliC ? `, runc ${cliC.perWindow.join(' ')}` : ''),
  });

  const conns = await Promise.all(Array.from({ length: opts.clients }, () => connect(rootA)));
  let api: Throughput;
  try {
    api = await throughput('runa bus API', busApiRun(conns, 'b'), rootA);
  } finally {
    for (const { ctx } of conns) closeContext(ctx);
  }
  rows.push({
    section: 'throughput', name: `runa bus API (in-process \`createContainer\`) vs runc CLI \`run\`, ${opts.clients} clients`, unit: '/s', higherIsBetter: true,
    runa: tputCell(api), runc: cliC ? tputCell(cliC) : noRunc,
    note: `one bus connection per client; median latency under load: ${api.latency.median.toFixed(0)} ms; per 5 s: ${api.perWindow.join(' ')}${daemonNote(api)}`,
  });
  extra.throughput = { runaCli: cli, runaApi: api, runcCli: cliC };
}

interface DensitySample {
  n: number;
  started: number;
  daemonBefore?: Mem | null;
  daemonAfter?: Mem | null;
  monitors?: Mem & { count: number };
  containers: Mem & { count: number };
  memAvailableDropKB: number;
}

async function densityRuna(n: number): Promise<DensitySample> {
  // A fresh daemon for each count: the baseline must not include garbage from earlier phases.
  await stopDaemon(rootA);
  must(await runa(['run', '-b', bundleTrue, nextId('warm')]), 'runa run (warm-up)');
  const dpid = daemonPid(rootA);
  if (!dpid) throw new Failure('runa daemon not running');
  const { ctx, client } = await connect(rootA);
  await sleep(1000);
  const daemonBefore = memOf(dpid);
  const availBefore = memAvailable();
  const ids = Array.from({ length: n }, () => nextId('d'));
  let started = 0;
  await pool(ids, 4, async (id) => {
    checkAborted();
    const r = await runa(['run', '-d', '-b', bundleSleep, id]);
    if (r.code === 0) started++;
    else log(`density: runa run -d ${id} failed: ${describeFailure(r)}`);
  });
  await sleep(1000);
  const daemonAfter = memOf(dpid);
  const mons = processes((cmd) => cmd.startsWith(nsinitPath) && cmd.includes(rootA + '/'));
  const inits = mons.flatMap((m) => descendants(m.pid));
  const sample: DensitySample = {
    n, started, daemonBefore, daemonAfter,
    monitors: sumMem(mons.map((m) => m.pid)),
    containers: sumMem(inits),
    memAvailableDropKB: availBefore - memAvailable(),
  };
  await pool(ids, 16, (id) => client.request({ type: 'container.delete', id, force: true }).catch(() => undefined));
  closeContext(ctx);
  return sample;
}

async function densityRunc(n: number): Promise<DensitySample> {
  await sleep(1000);
  const availBefore = memAvailable();
  const ids = Array.from({ length: n }, () => nextIdC('d'));
  let started = 0;
  await pool(ids, 4, async (id) => {
    checkAborted();
    const r = await runc(['run', '-d', '-b', bundleSleep, id]);
    if (r.code === 0) started++;
    else log(`density: runc run -d ${id} failed: ${describeFailure(r)}`);
  });
  await sleep(1000);
  const list = JSON.parse((await runc(['list', '--format', 'json'], { capture: true })).stdout || '[]') as Array<{ id: string; pid: number }> | null;
  const pids = (list ?? []).filter((c) => ids.includes(c.id) && c.pid > 0).flatMap((c) => [c.pid, ...descendants(c.pid)]);
  const sample: DensitySample = { n, started, containers: sumMem(pids), memAvailableDropKB: availBefore - memAvailable() };
  await pool(ids, 8, (id) => runc(['delete', '--force', id]));
  return sample;
}

async function phaseDensity(): Promise<void> {
  const samples: Array<{ runa: DensitySample; runc: DensitySample | null }> = [];
  {
    for (const n of opts.density) {
      checkAborted();
      log(`density: ${n} idle containers (runa)`);
      const a = await densityRuna(n);
      log(`density: ${n} idle containers (runc)`);
      const c = opts.runc ? await densityRunc(n) : null;
      samples.push({ runa: a, runc: c });
      const mb = (kb: number) => kb / 1024 / n;
      // The daemon shares node's text pages with every other node process on the machine, so its
      // Pss moves with them: its growth is counted in private memory (USS).
      const growth = a.daemonAfter && a.daemonBefore ? a.daemonAfter.uss - a.daemonBefore.uss : NaN;
      const overheadKB = growth + (a.monitors?.pss ?? 0);
      const started = `${a.started}/${n} runa` + (c ? `, ${c.started}/${n} runc` : '');
      rows.push({
        section: 'density', name: `total per container @ ${n}`, unit: 'MB',
        runa: { value: mb(overheadKB + a.containers.pss) }, runc: c ? { value: mb(c.containers.pss) } : noRunc,
        note: `runa: daemon growth (USS) + nsinit monitors (Pss) + container processes (Pss); runc: container processes (Pss) (started: ${started})`,
      });
      rows.push({
        section: 'density', name: `runtime overhead per container @ ${n}`, unit: 'MB',
        runa: { value: mb(overheadKB) }, runc: c ? { text: '0 (no process left)' } : noRunc,
        note: `fresh runa daemon, USS ${(a.daemonBefore!.uss / 1024).toFixed(1)} → ${(a.daemonAfter!.uss / 1024).toFixed(1)} MB (RSS ${(a.daemonBefore!.rss / 1024).toFixed(1)} → ${(a.daemonAfter!.rss / 1024).toFixed(1)}); `
          + `${a.monitors?.count} monitors, ${((a.monitors?.pss ?? 0) / Math.max(1, a.monitors?.count ?? 1)).toFixed(0)} kB Pss / ${((a.monitors?.rss ?? 0) / Math.max(1, a.monitors?.count ?? 1)).toFixed(0)} kB RSS each`,
      });
      rows.push({
        section: 'density', name: `container processes per container @ ${n}`, unit: 'MB',
        runa: { value: mb(a.containers.pss) }, runc: c ? { value: mb(c.containers.pss) } : noRunc,
        note: 'the `sleep` itself (Pss)',
      });
      if (n >= 50) rows.push({
        section: 'density', name: `system MemAvailable drop per container @ ${n}`, unit: 'MB',
        runa: { value: mb(a.memAvailableDropKB) }, runc: c ? { value: mb(c.memAvailableDropKB) } : noRunc,
        note: 'whole system, kernel included (namespaces, mounts, cgroups, page tables); noisy',
      });
    }
  }
  extra.density = samples;
}

async function measureRate(seconds: number, window: number, one: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let n = 0;
  await Promise.all(Array.from({ length: window }, async () => {
    while (performance.now() < end) { await one(); n++; }
  }));
  return n / ((performance.now() - t0) / 1000);
}

async function phaseBus(): Promise<void> {
  const s = opts.busSeconds;
  log(`bus: in-process, ${s} s per figure`);
  const bus = new Bus();
  bus.handle('daemon.ping', () => ({ pid: process.pid, containers: 0 }));
  await measureRate(0.3, 64, () => bus.request({ type: 'daemon.ping' })); // warm-up (JIT)
  const note = 'request/reply round trips per second; runc has no bus';
  for (const w of [1, 256]) {
    checkAborted();
    const rate = await measureRate(s, w, () => bus.request({ type: 'daemon.ping' }));
    rows.push({ section: 'bus', name: `in-process \`Bus.request(daemon.ping)\`, ${w} in flight`, unit: '/s', higherIsBetter: true, runa: { value: rate }, runc: { text: '—' }, note });
  }

  log(`bus: over the daemon's unix socket, ${s} s per figure`);
  const { ctx, client } = await connect(rootBus);
  try {
    await measureRate(0.5, 64, () => client.request({ type: 'daemon.ping' }));
    for (const w of [1, 64, 256]) {
      checkAborted();
      const rate = await measureRate(s, w, () => client.request({ type: 'daemon.ping' }));
      rows.push({ section: 'bus', name: `socket \`BusClient.request(daemon.ping)\`, ${w} in flight`, unit: '/s', higherIsBetter: true, runa: { value: rate }, runc: { text: '—' }, note: w === 1 ? note + '; one connection' : 'one connection' });
    }
    // Several connections at once: the daemon is one process, the clients share this one.
    const more = await Promise.all(Array.from({ length: 4 }, () => connect(rootBus)));
    try {
      const t0 = performance.now();
      const rates = await Promise.all(more.map(({ client: c }) => measureRate(s, 64, () => c.request({ type: 'daemon.ping' }))));
      void t0;
      rows.push({ section: 'bus', name: 'socket, 4 connections × 64 in flight', unit: '/s', higherIsBetter: true, runa: { value: rates.reduce((a, b) => a + b, 0) }, runc: { text: '—' }, note: 'all clients in the bench process' });
    } finally {
      for (const m of more) closeContext(m.ctx);
    }
  } finally {
    closeContext(ctx);
    await stopDaemon(rootBus);
  }
}

// ---------------------------------------------------------------- main

/** The filesystem type of the mount holding `dir` (the longest mount point that prefixes it). */
function fsType(dir: string): string {
  let best = { mnt: '', type: 'unknown' };
  const real = fs.realpathSync(dir);
  for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, mnt, type] = line.split(' ');
    if (!mnt) continue;
    if ((real === mnt || real.startsWith(mnt.endsWith('/') ? mnt : mnt + '/')) && mnt.length >= best.mnt.length) best = { mnt, type };
  }
  return best.type;
}

function machineInfo(): Record<string, unknown> {
  let runcVersion: string | null = null;
  if (opts.runc) {
    const r = spawnSync(opts.runc, ['--version'], { encoding: 'utf8' });
    runcVersion = /runc version (\S+)/.exec(r.stdout)?.[1] ?? r.stdout.split('\n')[0];
  }
  const git = spawnSync('git', ['-C', packageRoot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8'));
  return {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGB: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
    kernel: os.release(),
    cgroup: fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'v2' : 'v1',
    node: process.version,
    runc: opts.runc,
    runcVersion,
    runaVersion: pkg.version,
    commit: git.status === 0 ? git.stdout.trim() : null,
    /** uncommitted changes outside bench/: the figures are for the working tree, not the commit */
    dirty: spawnSync('git', ['-C', packageRoot, 'status', '--porcelain', '--', '.', ':!bench'], { encoding: 'utf8' }).stdout.trim() !== '',
    workFs: fsType(opts.dir),
    stateFs: fsType(stateBase),
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    date: new Date().toISOString(),
  };
}

// ---------------------------------------------------------------- seccomp

/**
 * The default profiles of Docker and podman: compile time (runa only: runc hands the profile
 * to libseccomp inside its init), filter length and instructions executed per syscall for the
 * filter each runtime really loads (read back from a live container), and `run` latency with
 * the profile.
 */
async function phaseSeccomp(): Promise<void> {
  const caps = (defaultSpec() as any).process.capabilities.bounding as string[];
  const filters: Record<string, unknown> = {};
  for (const which of ['docker', 'podman'] as const) {
    checkAborted();
    log(`seccomp: ${which}'s default profile`);
    const raw = defaultProfile(which, caps);
    const denied = which === 'docker' ? 'mount' : 'setns';
    const names = [...HOT, denied];
    const t = compileTimes(raw);
    const title = which === 'docker' ? 'Docker' : 'podman';
    rows.push({ section: 'seccomp', name: `${title} profile: compile (first / median of 200)`, unit: 'ms', runa: { value: t.medianMs, text: `${t.firstMs.toFixed(2)} / ${t.medianMs.toFixed(3)}` }, runc: { text: '—' }, note: 'x86_64 + x86 + x32; runa caches per profile, so a repeated create compiles nothing' });

    const dir = path.join(work, `bundle-seccomp-${which}`);
    fs.mkdirSync(dir);
    const spec = defaultSpec() as any;
    Object.assign(spec, { root: { path: rootfs, readonly: true } });
    spec.process.args = ['/bin/sleep', SLEEP_ARG];
    spec.process.terminal = false;
    spec.linux.seccomp = raw;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
    const ida = nextId('sc');
    must(await runa(['run', '-d', '-b', dir, ida]), 'runa run -d (seccomp)');
    const st = JSON.parse(must(await runa(['state', ida], { capture: true }), 'runa state').stdout);
    const ours = dumpFilter(st.pid) ?? t.program;
    must(await runa(['delete', '-f', ida]), 'runa delete');
    let theirs: Insn[] | null = null;
    if (opts.runc) {
      const idc = nextIdC('sc');
      must(await runc(['run', '-d', '-b', dir, idc]), 'runc run -d (seccomp)');
      const sc = JSON.parse(must(await runc(['state', idc], { capture: true }), 'runc state').stdout);
      theirs = dumpFilter(sc.pid);
      must(await runc(['delete', '-f', idc]), 'runc delete');
    }
    const a = steps(ours, names);
    const c = theirs ? steps(theirs, names) : null;
    filters[which] = { runa: { length: ours.length, steps: a }, runc: theirs ? { length: theirs.length, steps: c } : null };
    const note = 'BPF instructions; read back from the running container (PTRACE_SECCOMP_GET_FILTER)';
    rows.push({ section: 'seccomp', name: `${title} profile: filter length`, unit: 'insns', runa: { value: ours.length }, runc: theirs ? { value: theirs.length } : { text: 'no runc' }, note: `${note}; kernel limit 4096` });
    for (const n of names) {
      rows.push({ section: 'seccomp', name: `${title} profile: instructions executed for \`${n}\`${n === denied ? ' (denied)' : ''}`, unit: 'insns', runa: { value: a[n] }, runc: c ? { value: c[n] } : { text: 'no runc' } });
    }

    // Latency of `run` with the profile, next to runc's.
    const runs = Math.max(5, opts.runs >> 2);
    const bt = path.join(work, `bundle-seccomp-true-${which}`);
    fs.mkdirSync(bt);
    spec.process.args = ['/bin/true'];
    fs.writeFileSync(path.join(bt, 'config.json'), JSON.stringify(spec, null, 2));
    must(await runa(['run', '-b', bt, nextId('scw')]), 'runa run (seccomp warm-up)');
    const la: number[] = [];
    const lc: number[] = [];
    for (let i = 0; i < runs; i++) {
      checkAborted();
      la.push(must(await runa(['run', '-b', bt, nextId('scr')]), 'runa run (seccomp)').ms);
      if (opts.runc) lc.push(must(await runc(['run', '-b', bt, nextIdC('scr')]), 'runc run (seccomp)').ms);
    }
    const sa = stat(la);
    const sc2 = lc.length ? stat(lc) : null;
    rows.push({ section: 'seccomp', name: `\`run\` /bin/true with ${title}'s profile (warm daemon)`, unit: 'ms', runa: latencyCell(sa), runc: sc2 ? latencyCell(sc2) : { text: 'no runc' }, note: `${runs} runs` });
  }
  extra.seccomp = filters;
}

async function main(): Promise<number> {
  const started = performance.now();
  const machine = machineInfo();
  log(`work dir ${work}; runc: ${opts.runc ?? 'not found'}`);
  if (!fs.existsSync(nsinitPath)) throw new Failure(`${nsinitPath} is missing: run \`make -C native\` (or npm run build)`);
  await makeRootfs(rootfs);
  bundleTrue = await bundle('bundle-true', ['/bin/true']);
  bundleSleep = await bundle('bundle-sleep', ['/bin/sleep', SLEEP_ARG]);

  const phases: Record<string, () => Promise<void>> = {
    latency: phaseLatency, breakdown: phaseBreakdown, throughput: phaseThroughput, density: phaseDensity, bus: phaseBus,
    seccomp: phaseSeccomp, inspection: phaseInspection, page: phasePage, callers: phaseCallers,
  };
  const errors: string[] = [];
  for (const name of SECTIONS) {
    if (opts.only && !opts.only.has(name)) continue;
    if (aborted) break;
    try {
      await phases[name]();
    } catch (e) {
      if (aborted) break;
      const msg = `${name}: ${(e as Error).message}`;
      log(`FAILED ${msg}`);
      errors.push(msg);
    }
  }
  // Every phase deleted its containers: whatever of theirs is still on the host leaked.
  if (!aborted) {
    await sleep(500);
    noteLeftCgroups();
  }
  const seconds = (performance.now() - started) / 1000;
  machine.loadAverageEnd = os.loadavg().map((l) => Math.round(l * 100) / 100);
  const md = markdown(opts, machine, seconds) + (errors.length ? `\nErrors:\n${errors.map((e) => `- ${e}`).join('\n')}\n` : '');
  process.stdout.write(md);
  const command = `node dist/bench/bench.js ${process.argv.slice(2).join(' ')}`.trim();
  const json = {
    command, machine, options: { ...opts, only: opts.only ? [...opts.only] : null }, seconds,
    rows: rows.map((r) => ({ ...r, ratio: ratio(r) })), breakdown, targets: evaluateTargets(), leaks, extra, errors, markdown: md,
  };
  if (aborted) {
    log('interrupted: partial results above; the JSON file is left as it was');
    return 130;
  }
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  fs.writeFileSync(opts.out, JSON.stringify(json, null, 2) + '\n');
  log(`results written to ${path.relative(process.cwd(), opts.out) || opts.out}`);
  return errors.length ? 1 : 0;
}

main().then(
  async (code) => { await cleanup(); process.exit(code); },
  async (e) => { log(`error: ${(e as Error).stack ?? e}`); await cleanup(); process.exit(1); },
);
