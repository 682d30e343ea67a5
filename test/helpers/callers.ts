// The real callers of an OCI runtime (containerd's shim through `ctr`, podman through conmon),
// each with a private root under a temporary directory, and probes that find what a test
// left behind: processes, mounts, cgroups and runtime state.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runaBin, sleep, until } from './runa.js';

/** The runtime under test; RUNA_E2E_RUNTIME=/usr/sbin/runc gives a baseline while developing. */
export const RUNTIME = process.env.RUNA_E2E_RUNTIME || runaBin;
const RUNTIME_IS_RUNA = RUNTIME === runaBin;

export const TIMEOUT_MS = 30_000;

export interface CmdResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean; ms: number }
export interface CmdOpts { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string }

/** The PATH entry for `name`, or null. */
export function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return null;
}

/**
 * Run a command in a process group of its own, reading its output through pipes to EOF (as
 * callers of a runtime do). After `timeoutMs` the group gets SIGKILL (ctr forwards SIGTERM to the
 * container instead of dying), and pipes some other process still holds are dropped: the result
 * then says `timedOut`.
 */
export function command(cmd: string, args: string[], opts: CmdOpts = {}): Promise<CmdResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, {
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        detached: true,
        env: { ...process.env, ...opts.env },
      });
    } catch (e) {
      resolve({ code: null, signal: null, stdout: '', stderr: String(e), timedOut: false, ms: 0 });
      return;
    }
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let drop: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
      drop = setTimeout(() => {
        child.stdout!.destroy();
        child.stderr!.destroy();
      }, 2000);
    }, opts.timeoutMs ?? TIMEOUT_MS);
    child.on('error', (e) => (stderr += String(e)));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(drop);
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - started });
    });
  });
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

/** A shell word for `sh -c`. */
export const quote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** Run `cmd args` on a new pty (util-linux `script`), as a user at a terminal would. */
export function inPty(cmd: string, args: string[], opts: CmdOpts = {}): Promise<CmdResult> {
  return command('script', ['-qec', [cmd, ...args].map(quote).join(' '), '/dev/null'], opts);
}

/** A one-line summary of a result for assertion messages. */
export function show(r: CmdResult): string {
  return `exit ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''} after ${r.ms} ms; stdout ${JSON.stringify(r.stdout.slice(0, 800))}; stderr ${JSON.stringify(r.stderr.slice(0, 800))}`;
}

// ---------------------------------------------------------------------------------------------
// Probes

/** Live processes (not zombies) whose command line passes `match`, as "pid: cmdline". */
export function processes(match: (cmdline: string, pid: number) => boolean): string[] {
  const out: string[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (cmd && match(cmd, Number(p))) out.push(`${p}: ${cmd}`);
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** The PID of the live process whose command line is exactly `cmdline` (NaN if none). */
export function pidOf(cmdline: string): number {
  return Number(processes((cmd) => cmd === cmdline)[0]?.split(':')[0] ?? NaN);
}

/** Mounts (mountinfo lines) whose source root or mount point mentions `text`. */
export function mountsMentioning(text: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(text));
}

export function unmountAll(lines: string[]): void {
  for (const l of [...lines].reverse()) spawnSync('umount', ['-l', l.split(' ')[4]]);
}

export const NAMESPACES = ['mnt', 'pid', 'net', 'uts', 'ipc'] as const;

/** `/proc/PID/ns/*` for each kind, or the error text. */
export function namespacesOf(pid: number, kinds: readonly string[] = NAMESPACES): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of kinds) {
    try { out[k] = fs.readlinkSync(`/proc/${pid}/ns/${k}`); } catch (e) { out[k] = String(e); }
  }
  return out;
}

/** A shell snippet that prints `kind ns-link` for each kind, as seen from PID 1 of the container. */
export const nsScript = (kinds: readonly string[] = NAMESPACES): string =>
  kinds.map((k) => `echo ${k} $(readlink /proc/1/ns/${k})`).join('; ');

export function parseNs(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of stdout.replace(/\r/g, '').split('\n')) {
    const m = /^(\w+) (.*)$/.exec(l.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** The namespaces a container wrote to `file` with nsScript(), once all of them are there. */
export async function namespacesWritten(file: string, kinds: readonly string[] = NAMESPACES): Promise<Record<string, string>> {
  const read = (): Record<string, string> => {
    try { return parseNs(fs.readFileSync(file, 'utf8')); } catch { return {}; }
  };
  await until(() => kinds.every((k) => read()[k]), `namespaces in ${file}`);
  return read();
}

interface Hierarchy { mountpoint: string; controllers: string[]; v2: boolean }

/** The host's cgroup hierarchies, from mountinfo. */
export function cgroupHierarchies(): Hierarchy[] {
  const out: Hierarchy[] = [];
  for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = l.split(' - ');
    if (!post) continue;
    const [fstype, , superOpts] = post.split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const mountpoint = pre.split(' ')[4];
    const controllers = fstype === 'cgroup2' ? ['unified'] : superOpts.split(',').filter((o) => !['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec'].includes(o));
    out.push({ mountpoint, controllers, v2: fstype === 'cgroup2' });
  }
  return out;
}

/** Every existing cgroup directory at `rel` (absolute within a hierarchy), in every hierarchy. */
export function cgroupDirs(rel: string): string[] {
  return cgroupHierarchies().map((h) => path.join(h.mountpoint, rel)).filter((d) => fs.existsSync(d));
}

/** Sub-cgroups of `rel` in every hierarchy (recursive, deepest first). */
export function cgroupChildren(rel: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      walk(path.join(d, e.name));
      out.push(path.join(d, e.name));
    }
  };
  for (const d of cgroupDirs(rel)) walk(d);
  return out;
}

/** rmdir each cgroup (deepest first); the ones that refuse (still populated) are returned. */
export function removeCgroups(dirs: string[]): string[] {
  const stuck: string[] = [];
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
    try { fs.rmdirSync(d); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') stuck.push(`${d}: ${(e as Error).message}`); }
  }
  return stuck;
}

/** A cgroup file of the cgroup `pid` is in (v1: the controller's hierarchy; v2: the unified one). */
export function cgroupFileOf(pid: number, controller: string, v1File: string, v2File: string): string {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  for (const h of cgroupHierarchies()) {
    if (h.v2) continue;
    if (!h.controllers.includes(controller)) continue;
    const line = lines.find((l) => l.split(':')[1].split(',').includes(controller));
    if (line) return fs.readFileSync(path.join(h.mountpoint, line.split(':')[2], v1File), 'utf8').trim();
  }
  const unified = cgroupHierarchies().find((h) => h.v2);
  const line = lines.find((l) => l.startsWith('0::'));
  if (!unified || !line) throw new Error(`no ${controller} cgroup for ${pid}`);
  return fs.readFileSync(path.join(unified.mountpoint, line.slice(3), v2File), 'utf8').trim();
}

/** A shell snippet reading a limit from inside a container that has /sys/fs/cgroup mounted (v1 or v2). */
export const cgroupReadScript = (controller: string, v1File: string, v2File: string): string =>
  `cat /sys/fs/cgroup/${controller}/${v1File} 2>/dev/null || cat /sys/fs/cgroup/${v2File}`;

/** SIGTERM runa's daemon for `root` (it would otherwise idle on, adopted by the caller). */
export async function stopRunaDaemon(root: string): Promise<void> {
  let pid = 0;
  try { pid = Number(fs.readFileSync(path.join(root, 'daemon.pid'), 'utf8')); } catch { return; }
  if (!pid) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  await until(() => !alive(pid), `runa daemon ${pid} to exit`, 5000).catch(() => {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  });
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Container state dirs in a runa (or runc) state root. */
export function stateDirs(root: string): string[] {
  try {
    return fs.readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(root, e.name));
  } catch {
    return [];
  }
}

/**
 * The names (under /run/containerd/s) of the sockets of every shim the containerd logging to
 * `log` with the gRPC address `address` started: sha256 of address/namespace/id, as containerd
 * names them. That directory is the host's: other containerds' shims (another suite running at
 * the same time) are not ours to report or remove.
 */
export function ownShimSockets(log: string, address: string): Set<string> {
  const out = new Set<string>();
  let text = '';
  try { text = fs.readFileSync(log, 'utf8'); } catch { return out; }
  for (const m of text.matchAll(/msg="starting signal loop" namespace=(\S+) path=\S*\/([^/\s]+) /g)) {
    out.add(createHash('sha256').update(path.join(address, m[1], m[2])).digest('hex'));
  }
  return out;
}

/** What an orderly teardown left behind, found before the forced cleanup removed it. */
export interface Leftovers { processes: string[]; mounts: string[]; cgroups: string[]; state: string[]; files: string[] }

export const nothingLeft = (l: Leftovers): boolean => Object.values(l).every((v) => v.length === 0);

// ---------------------------------------------------------------------------------------------
// containerd

/**
 * A private containerd: root, state, sockets, IO fifos and the runtime's state root all under one
 * temporary directory; the native snapshotter (no overlay mounts); no CRI plugin.
 */
export class Containerd {
  readonly dir: string;
  readonly sock: string;
  /** containerd's namespace, and so the cgroup its containers go under (/NAMESPACE/ID) */
  readonly namespace: string;
  /** The runtime's `--root` as the shim passes it (`--runc-root` plus the namespace). */
  readonly runtimeRoot: string;
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private shimSocketsBefore = new Set<string>();
  private execs = 0;
  private runContainerdExisted = fs.existsSync('/run/containerd');

  static missing(): string | null {
    for (const p of ['containerd', 'ctr', 'containerd-shim-runc-v2']) if (!which(p)) return `${p} not installed: apt-get install containerd`;
    return null;
  }

  /** `namespace`: one of its own (a soak running beside the containerd suite of another checkout: each removes what is left under /NAMESPACE). */
  constructor(opts: { namespace?: string } = {}) {
    this.namespace = opts.namespace ?? 'runa-e2e';
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-ctrd-'));
    this.sock = path.join(this.dir, 'c.sock');
    this.runtimeRoot = path.join(this.dir, 'rt', this.namespace);
  }

  async start(): Promise<void> {
    const d = this.dir;
    fs.writeFileSync(path.join(d, 'config.toml'), [
      ...containerdConfigHead(`${d}/root`, `${d}/state`, this.sock, { cri: false }),
      '',
    ].join('\n'));
    this.shimSocketsBefore = new Set(this.shimSockets());
    const log = fs.openSync(path.join(d, 'containerd.log'), 'w');
    this.proc = spawn('containerd', ['--config', path.join(d, 'config.toml')], { stdio: ['ignore', log, log], detached: true });
    fs.closeSync(log);
    this.exited = new Promise((resolve) => this.proc!.on('exit', () => resolve()));
    await until(async () => fs.existsSync(this.sock) && (await this.ctr(['version'], { timeoutMs: 5000 })).code === 0, 'containerd to serve', 20_000);
  }

  /** `ctr -a SOCK -n NS args…` with the native snapshotter. */
  ctr(args: string[], opts: CmdOpts = {}): Promise<CmdResult> {
    return command('ctr', ['-a', this.sock, '-n', this.namespace, ...args], { ...opts, env: { CONTAINERD_SNAPSHOTTER: 'native', ...opts.env } });
  }

  /** The ctr command line, for running under a pty. */
  argv(args: string[]): [string, string[]] {
    return ['env', ['CONTAINERD_SNAPSHOTTER=native', 'ctr', '-a', this.sock, '-n', this.namespace, ...args]];
  }

  /** The flags `ctr run` needs to use the runtime under test (and keep fifos in our directory). */
  runFlags(runtime = RUNTIME, runtimeRoot = path.dirname(this.runtimeRoot)): string[] {
    return ['--runtime', 'io.containerd.runc.v2', '--runc-binary', runtime, '--runc-root', runtimeRoot, '--fifo-dir', path.join(this.dir, 'fifo')];
  }

  /** `ctr task exec` with our fifo dir and a fresh exec id. */
  exec(id: string, args: string[], flags: string[] = [], opts: CmdOpts = {}): Promise<CmdResult> {
    return this.ctr(['task', 'exec', '--fifo-dir', path.join(this.dir, 'fifo'), '--exec-id', `x${++this.execs}`, ...flags, id, ...args], opts);
  }

  /** `ctr task ls` as id → {pid, status}. */
  async tasks(): Promise<Map<string, { pid: number; status: string }>> {
    const r = await this.ctr(['task', 'ls']);
    const out = new Map<string, { pid: number; status: string }>();
    for (const l of r.stdout.trim().split('\n').slice(1)) {
      const [id, pid, status] = l.trim().split(/\s+/);
      if (id) out.set(id, { pid: Number(pid), status });
    }
    return out;
  }

  /** Stop runa's daemon for our root, so that the next runa call starts it afresh (a cold start). */
  async stopRuntimeDaemon(): Promise<void> {
    if (RUNTIME_IS_RUNA) await stopRunaDaemon(this.runtimeRoot);
  }

  /** Kill and delete a container and its task, whatever state they are in. */
  async remove(id: string): Promise<void> {
    if ((await this.tasks()).has(id)) {
      await this.ctr(['task', 'kill', '-s', 'SIGKILL', id], { timeoutMs: 10_000 });
      await until(async () => (await this.tasks()).get(id)?.status !== 'RUNNING', `task ${id} to stop`, 10_000).catch(() => {});
      await this.ctr(['task', 'rm', '-f', id], { timeoutMs: 10_000 });
    }
    await this.ctr(['container', 'rm', id], { timeoutMs: 10_000 });
  }

  /**
   * remove(), then make sure the container's shim is gone: a shim whose create never returned
   * (a hung runtime) is never told to shut down, so it is killed and its socket removed.
   */
  async forceRemove(id: string): Promise<void> {
    await this.remove(id);
    const shims = (): string[] => processes((cmd) => cmd.includes('containerd-shim') && cmd.includes(this.sock) && cmd.includes(` -id ${id} `));
    await until(() => shims().length === 0, `shim of ${id} to exit`, 5000).catch(() => {});
    for (const p of shims()) { try { process.kill(Number(p.split(':')[0]), 'SIGKILL'); } catch { /* gone */ } }
    const socket = createHash('sha256').update(path.join(this.sock, this.namespace, id)).digest('hex');
    fs.rmSync(`/run/containerd/s/${socket}`, { force: true });
  }

  private shimSockets(): string[] {
    try { return fs.readdirSync('/run/containerd/s'); } catch { return []; }
  }

  /** What is left of this containerd's containers now (call after an orderly teardown). */
  leftovers(): Leftovers {
    return {
      processes: processes((cmd) => cmd.includes(this.dir)),
      mounts: mountsMentioning(this.dir),
      cgroups: cgroupChildren(`/${this.namespace}`),
      state: stateDirs(this.runtimeRoot),
      files: this.shimSocketsLeft().map((s) => `/run/containerd/s/${s}`),
    };
  }

  /** Sockets of this containerd's shims still in /run/containerd/s. */
  private shimSocketsLeft(): string[] {
    const own = ownShimSockets(path.join(this.dir, 'containerd.log'), this.sock);
    return this.shimSockets().filter((s) => !this.shimSocketsBefore.has(s) && own.has(s));
  }

  /**
   * Delete every container, stop the runtime's daemon and containerd, and report what was left;
   * then remove it all regardless (processes, mounts, cgroups, files).
   */
  async teardown(): Promise<Leftovers> {
    if (this.proc && this.proc.exitCode === null) {
      const r = await this.ctr(['container', 'ls', '-q'], { timeoutMs: 10_000 });
      for (const id of r.stdout.split('\n').filter(Boolean)) await this.remove(id);
      // Shims leave once their container is deleted.
      await until(() => processes((cmd) => cmd.includes('containerd-shim') && cmd.includes(this.sock)).length === 0, 'shims to exit', 10_000).catch(() => {});
      await this.stopRuntimeDaemon();
      this.proc.kill('SIGTERM');
      await Promise.race([this.exited, sleep(10_000)]);
      if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
    }
    await until(() => processes((cmd) => cmd.includes(this.dir)).length === 0, 'processes to exit', 3000).catch(() => {});
    const left = this.leftovers();
    for (const p of processes((cmd) => cmd.includes(this.dir))) { try { process.kill(Number(p.split(':')[0]), 'SIGKILL'); } catch { /* gone */ } }
    await sleep(100);
    unmountAll(mountsMentioning(this.dir));
    left.cgroups.push(...removeCgroups([...cgroupChildren(`/${this.namespace}`), ...cgroupDirs(`/${this.namespace}`)]).map((s) => `not removed: ${s}`));
    fs.rmSync(this.dir, { recursive: true, force: true });
    for (const f of left.files) fs.rmSync(f, { force: true });
    if (!this.runContainerdExisted) fs.rmSync('/run/containerd', { recursive: true, force: true });
    return left;
  }
}

// ---------------------------------------------------------------------------------------------
// podman

/**
 * A private podman: storage (vfs), run root, tmp dir, volumes and containers.conf under one
 * temporary directory, cgroupfs, events in a file. podman passes no `--root` to the runtime, so
 * runa keeps its state in its default root; only what this podman made there is checked.
 */
export class Podman {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  /** runa's default state root (podman gives the runtime no --root). */
  readonly runtimeRoot = '/run/runa';
  private runtimeRootExisted = fs.existsSync('/run/runa');
  private daemonBefore = readPid('/run/runa/daemon.pid');
  private varLibContainersExisted = fs.existsSync('/var/lib/containers');
  private libpodCgroupsBefore = new Set(cgroupChildren('/libpod_parent'));
  private libpodParentExisted = cgroupDirs('/libpod_parent').length > 0;

  static missing(): string | null {
    if (!which('podman')) return 'podman not installed: apt-get install podman';
    if (!which('conmon')) return 'conmon not installed: apt-get install conmon';
    if (!which('catatonit')) return 'catatonit (for pods) not installed: apt-get install catatonit';
    if (!fs.existsSync('/etc/containers/policy.json')) return '/etc/containers/policy.json missing: apt-get install golang-github-containers-common';
    return null;
  }

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-podman-'));
    const conf = path.join(this.dir, 'containers.conf');
    fs.mkdirSync(path.join(this.dir, 'vartmp'));
    // This machine's hard rlimits are below podman's defaults; pods' infra containers take no --ulimit.
    fs.writeFileSync(conf, [
      '[containers]',
      'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
      '[engine]',
      `image_copy_tmp_dir = "${this.dir}/vartmp"`,
      '',
    ].join('\n'));
    this.env = { CONTAINERS_CONF: conf, TMPDIR: path.join(this.dir, 'vartmp') };
  }

  globalFlags(runtime = RUNTIME): string[] {
    const d = this.dir;
    return ['--root', `${d}/root`, '--runroot', `${d}/runroot`, '--tmpdir', `${d}/tmp`, '--volumepath', `${d}/volumes`,
      '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', runtime];
  }

  podman(args: string[], opts: CmdOpts & { runtime?: string } = {}): Promise<CmdResult> {
    return command('podman', [...this.globalFlags(opts.runtime), ...args], { ...opts, env: { ...this.env, ...opts.env } });
  }

  /** The podman command line, for running under a pty. */
  argv(args: string[]): [string, string[]] {
    return ['env', [...Object.entries(this.env).map(([k, v]) => `${k}=${v}`), 'podman', ...this.globalFlags(), ...args]];
  }

  /**
   * Stop runa's daemon if this podman's containers started it, so that the next runa call starts
   * it afresh (a cold start); one that was there before is left alone.
   */
  async stopRuntimeDaemon(): Promise<void> {
    if (RUNTIME_IS_RUNA && readPid('/run/runa/daemon.pid') !== this.daemonBefore) await stopRunaDaemon(this.runtimeRoot);
  }

  /** Container state dirs runa has for containers of this podman (their bundle is under dir). */
  private ourStateDirs(): string[] {
    return stateDirs(this.runtimeRoot).filter((d) => {
      try { return fs.readFileSync(path.join(d, 'state.json'), 'utf8').includes(this.dir); } catch { return false; }
    });
  }

  /** Processes of this podman's containers: conmon and anything naming our dir or a state dir of ours. */
  private ourProcesses(): string[] {
    const ids = this.ourStateDirs();
    return processes((cmd) => cmd.includes(this.dir) || ids.some((d) => cmd.includes(d)));
  }

  private newLibpodCgroups(): string[] {
    return cgroupChildren('/libpod_parent').filter((d) => !this.libpodCgroupsBefore.has(d));
  }

  leftovers(): Leftovers {
    return {
      processes: this.ourProcesses(),
      mounts: mountsMentioning(this.dir),
      cgroups: this.newLibpodCgroups().filter((d) => /libpod-[0-9a-f]{64}/.test(d)),
      state: this.ourStateDirs(),
      files: [],
    };
  }

  /** Remove every container, pod and volume, reset the storage, and report what was left; then remove it regardless. */
  async teardown(): Promise<Leftovers> {
    await this.podman(['rm', '-af', '-t', '0'], { timeoutMs: 60_000 });
    await this.podman(['pod', 'rm', '-af', '-t', '0'], { timeoutMs: 60_000 });
    await this.podman(['volume', 'rm', '-af'], { timeoutMs: 30_000 });
    await this.podman(['system', 'reset', '-f'], { timeoutMs: 60_000 });
    // conmon waits for every child, and runa's daemon (started by the first runa call) is one.
    await this.stopRuntimeDaemon();
    await until(() => this.ourProcesses().length === 0, 'conmon and containers to exit', 5000).catch(() => {});
    const left = this.leftovers();
    for (const p of this.ourProcesses()) { try { process.kill(Number(p.split(':')[0]), 'SIGKILL'); } catch { /* gone */ } }
    await sleep(100);
    unmountAll(mountsMentioning(this.dir));
    for (const d of this.ourStateDirs()) fs.rmSync(d, { recursive: true, force: true });
    const cgroups = this.newLibpodCgroups();
    if (!this.libpodParentExisted) cgroups.push(...cgroupDirs('/libpod_parent'));
    left.cgroups.push(...removeCgroups(cgroups).map((s) => `not removed: ${s}`));
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (!this.runtimeRootExisted && stateDirs(this.runtimeRoot).length === 0) fs.rmSync(this.runtimeRoot, { recursive: true, force: true });
    // podman's blob info cache ignores --root.
    if (!this.varLibContainersExisted) fs.rmSync('/var/lib/containers', { recursive: true, force: true });
    return left;
  }
}

function readPid(file: string): number {
  try { return Number(fs.readFileSync(file, 'utf8')) || 0; } catch { return 0; }
}

/**
 * The head of a private containerd's config.toml: its own root, state and sockets, no debug or
 * metrics listener, only the native snapshotter (the others mount overlays or need a special
 * filesystem; "opt" would write /opt/containerd), and the CRI plugin only where asked.
 */
export function containerdConfigHead(root: string, state: string, sock: string, o: { cri: boolean }): string[] {
  return [
    'version = 2',
    `root = "${root}"`,
    `state = "${state}"`,
    `disabled_plugins = [${o.cri ? '' : '"io.containerd.grpc.v1.cri", '}"io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.overlayfs",`,
    '  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",',
    '  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]',
    '[grpc]',
    `  address = "${sock}"`,
    '[ttrpc]',
    `  address = "${sock}.ttrpc"`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
  ];
}
