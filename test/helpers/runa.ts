// Drive the real CLI against a private state root, and check that nothing is left behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeRootfs } from './rootfs.js';
import { runToFiles } from './users.js';
import { defaultSpec } from '../../src/oci/default-spec.js';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The Node.js CLI, which the front end execs for what the daemon does not run. */
export const cli = path.join(repo, 'bin', 'runa.js');
/** The `runa` command: the native front end (native/runa.c). Every test goes through it. */
export const runaBin = path.join(repo, 'native', 'runa');

export interface Result { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export class Sandbox {
  readonly dir: string;
  readonly root: string;
  private bundles = 0;
  private runs = 0;
  private rootfsReady: Promise<string> | null = null;

  constructor(name: string) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `runa-test-${name}-`));
    this.root = path.join(this.dir, 'state');
  }

  /**
   * Run the CLI; resolves with its status and output. Output goes through files, not pipes:
   * a created container inherits the CLI's stdio and would hold a pipe open for its lifetime.
   */
  async run(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Result> {
    const n = ++this.runs;
    return runToFiles(runaBin, ['--root', this.root, ...args], { out: path.join(this.dir, `out-${n}`), err: path.join(this.dir, `err-${n}`) }, {
      env: { ...process.env, RUNA_DAEMON_IDLE_MS: '60000', ...opts.env }, input: opts.input, timeoutMs: opts.timeoutMs,
    });
  }

  /** Start the CLI with pipes (for tests that talk to a foreground process). */
  spawn(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    return spawn(runaBin, ['--root', this.root, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, RUNA_DAEMON_IDLE_MS: '60000', ...opts.env },
    });
  }

  /** A shared rootfs built once from host binaries. */
  rootfs(): Promise<string> {
    this.rootfsReady ??= (async () => {
      const dir = path.join(this.dir, 'rootfs');
      await makeRootfs(dir, ['dd']);
      return dir;
    })();
    return this.rootfsReady;
  }

  /** A bundle whose config is runc's default spec with `args`, edited by `edit`. */
  async bundle(args: string[], edit?: (spec: any) => void): Promise<string> {
    const dir = path.join(this.dir, `bundle-${++this.bundles}`);
    fs.mkdirSync(dir);
    const spec: any = defaultSpec();
    spec.root.path = await this.rootfs();
    spec.process.args = args;
    spec.process.terminal = false;
    edit?.(spec);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
    return dir;
  }

  daemonPid(): number | null {
    try { return Number(fs.readFileSync(path.join(this.root, 'daemon.pid'), 'utf8')); } catch { return null; }
  }

  /** Processes (nsinit monitors and their daemon) that belong to this sandbox. */
  leftovers(): string[] {
    const out: string[] = [];
    for (const p of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
        if (cmd.includes(this.dir) && Number(p) !== process.pid) out.push(`${p}: ${cmd.replace(/\0/g, ' ')}`);
      } catch { /* gone */ }
    }
    return out;
  }

  mountsLeft(): string[] {
    return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(this.dir));
  }

  /** Delete every container, stop the daemon, and fail if anything was left. */
  async cleanup(): Promise<{ leftovers: string[]; mounts: string[] }> {
    const list = await this.run(['list', '-q']);
    for (const id of list.stdout.split('\n').filter(Boolean)) await this.run(['delete', '--force', id]);
    const pid = this.daemonPid();
    if (pid) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
      for (let i = 0; i < 200 && alive(pid); i++) await sleep(10);
    }
    // The daemon's lock holder dies with it (PDEATHSIG): a moment later.
    for (let i = 0; i < 200 && this.leftovers().some((l) => l.includes('runa daemon lock')); i++) await sleep(10);
    const leftovers = this.leftovers();
    for (const l of leftovers) { try { process.kill(Number(l.split(':')[0]), 'SIGKILL'); } catch { /* gone */ } }
    const mounts = this.mountsLeft();
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m.split(' ')[4]]);
    fs.rmSync(this.dir, { recursive: true, force: true });
    return { leftovers, mounts };
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The process exists and has not exited (a zombie waiting for its reaper counts as gone). */
export function alive(pid: number): boolean {
  try { process.kill(pid, 0); } catch { return false; }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

export async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** runa's monitor of a self-supervised container: its init's parent. */
export function monitorOf(initPid: number): number {
  const stat = fs.readFileSync(`/proc/${initPid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The container's init: the monitor's only child. */
export function initPidOf(monitorPid: number): number {
  const children = fs.readFileSync(`/proc/${monitorPid}/task/${monitorPid}/children`, 'utf8').trim().split(/\s+/);
  return Number(children[0]);
}
