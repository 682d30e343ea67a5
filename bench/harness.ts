// What every section of the bench shares: the options (bench/options.ts), the results
// (bench/results.ts), the sandbox it works in (state roots, rootfs, bundles), running runa and
// runc, and the cleanup on exit and SIGINT. Importing it parses the command line and makes the
// work dir, as bench.ts did at its start.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { defaultSpec } from '../src/oci/default-spec.js';
import { BusClient } from '../src/bus/client.js';
import { Context } from '../src/cli/context.js';
import { packageRoot } from '../src/paths.js';
import { listIds } from '../src/state.js';
import { alive, describeFailure, inflight, pool, processes, runTimed, sleep, stat, type CmdResult } from './util.js';
import { fail, parseOptions } from './options.js';
import { latencyCell, leaks, type Cell } from './results.js';

export * from './options.js';
export * from './results.js';


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
