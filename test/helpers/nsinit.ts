// A harness for driving native/nsinit directly: a rootfs, plans, nsinit spawned with the sync
// socket on fd 3, monitor.sock clients, and cleanup that leaves no process or mount behind.
import { before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePlan, MS, type PlanOp } from '../../src/nsinit/plan.js';
import { makeRootfs } from './rootfs.js';

// dist/test/helpers/nsinit.js -> repo root
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const NSINIT = path.join(REPO, 'native', 'nsinit');
const S_IFCHR = 0o020000;

export type Exit = { code: number | null; signal: NodeJS.Signals | null };
export type Msg = { type: string; [k: string]: unknown };

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Processes whose command line mentions the plan file: the monitor, a map writer, the child. */
export function processesRunning(plan: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(plan)) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

export const ns = (pid: number | 'self', name: string): string => readlinkSync(`/proc/${pid}/ns/${name}`);

/** fd 3 as the spawner sees it: lines one at a time, answers written back on the same socket. */
export class SyncChannel {
  private buf = '';
  private lines: (string | null)[] = []; // null = EOF
  private waiters: ((l: string | null) => void)[] = [];

  constructor(readonly sock: net.Socket) {
    sock.on('data', (b: Buffer) => {
      this.buf += b.toString();
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
      }
    });
    sock.on('end', () => {
      if (this.buf) this.push(`${this.buf} (no newline)`);
      this.push(null);
    });
    sock.on('close', () => this.push(null));
    sock.on('error', () => {});
  }

  private push(l: string | null): void {
    if (l === null && this.lines.includes(null)) return; // 'end' then 'close'
    const w = this.waiters.shift();
    if (w) w(l);
    else this.lines.push(l);
  }

  /** The next line without its newline, or null at EOF. */
  next(timeoutMs = 10000): Promise<string | null> {
    if (this.lines.length > 0) {
      const l = this.lines[0];
      if (l !== null) this.lines.shift(); // EOF stays: every later read sees it too
      return Promise.resolve(l);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a sync line')), timeoutMs);
      this.waiters.push((l) => {
        clearTimeout(t);
        if (l === null) this.lines.push(null);
        resolve(l);
      });
    });
  }

  answer(text: string): void {
    this.sock.write(text);
  }
}

/** A monitor.sock client: each message in order, 'eof' when the monitor closes. */
export class MonitorClient {
  private buf = '';
  private queue: Msg[] = [];
  private waiters: ((m: Msg) => void)[] = [];

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (b: Buffer) => {
      this.buf += b.toString();
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        this.push(JSON.parse(line) as Msg);
      }
    });
    sock.on('close', () => this.push({ type: 'eof' }));
    sock.on('error', () => {});
  }

  static connect(socketPath: string): Promise<MonitorClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ path: socketPath });
      sock.once('connect', () => resolve(new MonitorClient(sock)));
      sock.once('error', reject);
    });
  }

  private push(m: Msg): void {
    const w = this.waiters.shift();
    if (w) w(m);
    else this.queue.push(m);
  }

  next(timeoutMs = 10000): Promise<Msg> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a monitor message')), timeoutMs);
      this.waiters.push((msg) => {
        clearTimeout(t);
        resolve(msg);
      });
    });
  }

  /** A request line: a string as is (to send garbage), anything else as JSON. */
  send(line: string | object): void {
    this.sock.write((typeof line === 'string' ? line : JSON.stringify(line)) + '\n');
  }

  close(): void {
    this.sock.destroy();
  }
}

/** One nsinit (or a helper that runs it) with the sync socket on fd 3. */
export interface Run {
  proc: ChildProcess;
  plan: string;
  /** Everything nsinit wrote on fd 3, once it closed it. */
  sync: Promise<string>;
  /** fd 3 line by line, for hookpoints that wait for an answer. */
  channel: SyncChannel;
  exited: Promise<Exit>;
  stdout: () => string;
  stderr: () => string;
}

export interface ContainerOpts {
  hostname?: string;
  env?: string[];
  /** Child ops right before pivot_root (host paths). */
  beforePivot?: PlanOp[];
  /** Child ops right after pivot_root and chdir (container paths). */
  afterPivot?: PlanOp[];
  /** Replaces setgroups/setgid/setuid (root). */
  identity?: PlanOp[];
}

/** The plan the TypeScript side typically emits for a container on the rootfs `r`. */
export function containerPlan(r: string, stateDir: string, args: string[], opts: ContainerOpts = {}): PlanOp[] {
  const dev = (name: string, major: number, minor: number): PlanOp =>
    ({ op: 'mknod', path: `${r}/dev/${name}`, mode: S_IFCHR | 0o666, major, minor });
  return [
    { op: 'statedir', path: stateDir },
    { op: 'unshare', namespaces: ['pid', 'uts', 'ipc', 'net'] },
    { op: 'sethostname', name: opts.hostname ?? 'runa-test' },
    { op: 'loopback' },
    { op: 'fork' },
    { op: 'unshare', namespaces: ['mnt'] },
    { op: 'mount', source: '', target: '/', fstype: '', flags: MS.REC | MS.PRIVATE, data: '' },
    { op: 'mount', source: r, target: r, fstype: '', flags: MS.BIND | MS.REC, data: '' },
    { op: 'mount', source: 'proc', target: `${r}/proc`, fstype: 'proc', flags: MS.NOSUID | MS.NOEXEC | MS.NODEV, data: '' },
    { op: 'mount', source: 'tmpfs', target: `${r}/dev`, fstype: 'tmpfs', flags: MS.NOSUID | MS.STRICTATIME, data: 'mode=755,size=65536k' },
    { op: 'mkdir', path: `${r}/dev/pts`, mode: 0o755 },
    { op: 'mount', source: 'devpts', target: `${r}/dev/pts`, fstype: 'devpts', flags: MS.NOSUID | MS.NOEXEC, data: 'newinstance,ptmxmode=0666,mode=0620' },
    { op: 'mkdir', path: `${r}/dev/shm`, mode: 0o1777 },
    { op: 'mount', source: 'shm', target: `${r}/dev/shm`, fstype: 'tmpfs', flags: MS.NOSUID | MS.NOEXEC | MS.NODEV, data: 'mode=1777,size=65536k' },
    dev('null', 1, 3), dev('zero', 1, 5), dev('full', 1, 7), dev('random', 1, 8), dev('urandom', 1, 9), dev('tty', 5, 0),
    { op: 'symlink', target: '/proc/self/fd', linkpath: `${r}/dev/fd` },
    { op: 'symlink', target: '/proc/self/fd/0', linkpath: `${r}/dev/stdin` },
    { op: 'symlink', target: '/proc/self/fd/1', linkpath: `${r}/dev/stdout` },
    { op: 'symlink', target: '/proc/self/fd/2', linkpath: `${r}/dev/stderr` },
    { op: 'symlink', target: 'pts/ptmx', linkpath: `${r}/dev/ptmx` },
    { op: 'mount', source: 'sysfs', target: `${r}/sys`, fstype: 'sysfs', flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY, data: '' },
    ...(opts.beforePivot ?? []),
    { op: 'pivot_root', newRoot: r },
    { op: 'chdir', path: '/' },
    ...(opts.afterPivot ?? []),
    { op: 'umask', mode: 0o022 },
    ...(opts.identity ?? [{ op: 'setgroups', gids: [] }, { op: 'setgid', gid: 0 }, { op: 'setuid', uid: 0 }] as PlanOp[]),
    ...(opts.env ?? ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/root']).map((entry): PlanOp => ({ op: 'env', entry })),
    ...args.map((value): PlanOp => ({ op: 'arg', value })),
    { op: 'pdeathsig', signal: 9 },
    { op: 'gate' },
    { op: 'exec' },
  ];
}

export interface HarnessOpts {
  /** mkdtemp prefix under the system's temporary directory. */
  prefix: string;
  /** Host binaries the rootfs needs beyond makeRootfs's defaults. */
  binaries?: string[];
  /** chmod of the base directory (before the rootfs is made in it). */
  baseMode?: number;
  /** More setup of the rootfs, once it is made. */
  prepare?: (rootfs: string) => Promise<void>;
}

export interface Harness {
  /** The test file's private temporary directory, and the rootfs in it (set in `before`). */
  readonly base: string;
  readonly rootfs: string;
  /** Run `fn` after the current test (cleanups run last registered first). */
  defer(fn: () => Promise<void> | void): void;
  /** A fresh path under base, not created. */
  unique(name: string): string;
  /** A fresh directory under base, removed after the test. */
  tempDir(name: string): Promise<string>;
  writePlan(plan: PlanOp[] | Buffer, dir: string): Promise<string>;
  /** Start `cmd args...` (nsinit itself, or a helper that runs it) with the sync socket on fd 3. */
  spawnWithSync(cmd: string, args: string[], plan: string, extraFds?: number): Run;
  /** Write `plan` to `dir`/plan and run nsinit on it; `extraFds` more pipes after fd 3. */
  runNsinit(plan: PlanOp[] | Buffer, dir: string, extraFds?: number): Promise<Run>;
  connect(socketPath: string): Promise<MonitorClient>;
  /** The pid of a `created` sync line; killed after the test (it no longer names the plan). */
  createdPid(sync: string): number;
  /**
   * Connect to monitor.sock, check its hello (all of it if given, else its type), open the gate
   * and check that exec succeeded.
   */
  openGate(socketPath: string, hello?: Msg): Promise<MonitorClient>;
  /** Wait for `created`, open the gate and check that exec succeeded. */
  start(run: Run, stateDir: string): Promise<{ initPid: number; client: MonitorClient }>;
  /** Run a plan to the end: its exit status (from the monitor and nsinit's own) and output. */
  runToExit(plan: PlanOp[], stateDir: string): Promise<{ status: number; stdout: string; stderr: string }>;
  /** A plan whose setup fails: the sync line nsinit reports. */
  setupError(plan: PlanOp[], dir: string): Promise<string>;
}

/**
 * Register this test file's before/afterEach/after hooks and return its harness. After each
 * test its cleanups run and no mount under base may be left.
 */
export function useNsinit(opts: HarnessOpts): Harness {
  let base = '';
  let rootfs = '';
  let seq = 0;
  const cleanups: (() => Promise<void> | void)[] = [];

  before(async () => {
    assert.ok(existsSync(NSINIT), `${NSINIT} missing: run make -s -C native`);
    base = await fs.mkdtemp(path.join(os.tmpdir(), opts.prefix));
    if (opts.baseMode !== undefined) await fs.chmod(base, opts.baseMode);
    rootfs = path.join(base, 'rootfs');
    await makeRootfs(rootfs, opts.binaries);
    await opts.prepare?.(rootfs);
  });

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    // Every mount happened in a private mount namespace that died with its process.
    const leaked = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(base));
    assert.deepEqual(leaked, []);
  });

  after(async () => {
    if (base) await fs.rm(base, { recursive: true, force: true });
  });

  const defer = (fn: () => Promise<void> | void): void => void cleanups.push(fn);
  const unique = (name: string): string => path.join(base, `${name}-${++seq}`);

  const tempDir = async (name: string): Promise<string> => {
    const dir = unique(name);
    await fs.mkdir(dir, { recursive: true });
    defer(() => fs.rm(dir, { recursive: true, force: true }));
    return dir;
  };

  const writePlan = async (plan: PlanOp[] | Buffer, dir: string): Promise<string> => {
    const file = path.join(dir, 'plan');
    await fs.writeFile(file, Buffer.isBuffer(plan) ? plan : encodePlan(plan));
    return file;
  };

  const spawnWithSync = (cmd: string, args: string[], plan: string, extraFds = 0): Run => {
    const stdio: ('ignore' | 'pipe')[] = ['ignore', 'pipe', 'pipe', 'pipe'];
    for (let i = 0; i < extraFds; i++) stdio.push('pipe');
    const proc = spawn(cmd, args, { stdio });
    let out = '';
    let err = '';
    proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<Exit>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
    const syncStream = proc.stdio[3] as net.Socket;
    const channel = new SyncChannel(syncStream);
    const sync = new Promise<string>((resolve, reject) => {
      let s = '';
      syncStream.on('data', (b: Buffer) => (s += b.toString()));
      syncStream.on('end', () => resolve(s));
      syncStream.on('error', reject);
    });
    sync.catch(() => {}); // a test that reads fd 3 through `channel` need not await `sync`
    defer(async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
      for (const pid of processesRunning(plan)) process.kill(pid, 'SIGKILL');
    });
    return { proc, plan, sync, channel, exited, stdout: () => out, stderr: () => err };
  };

  const runNsinit = async (plan: PlanOp[] | Buffer, dir: string, extraFds = 0): Promise<Run> => {
    const file = await writePlan(plan, dir);
    return spawnWithSync(NSINIT, [file], file, extraFds);
  };

  const connect = async (socketPath: string): Promise<MonitorClient> => {
    const c = await MonitorClient.connect(socketPath);
    defer(() => c.close());
    return c;
  };

  const createdPid = (sync: string): number => {
    const m = /^created\t(\d+)\n$/.exec(sync);
    assert.ok(m, `unexpected sync line ${JSON.stringify(sync)}`);
    const pid = Number(m[1]);
    // Once it has exec'd, the container no longer names the plan: kill it by pid if a test fails.
    defer(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    });
    return pid;
  };

  const openGate = async (socketPath: string, hello?: Msg): Promise<MonitorClient> => {
    const client = await connect(socketPath);
    if (hello) assert.deepEqual(await client.next(), hello);
    else assert.equal((await client.next()).type, 'monitor.hello');
    client.send({ type: 'monitor.start' });
    assert.deepEqual(await client.next(), { type: 'process.started' });
    return client;
  };

  const start = async (run: Run, stateDir: string): Promise<{ initPid: number; client: MonitorClient }> => {
    const initPid = createdPid(await run.sync);
    const client = await openGate(path.join(stateDir, 'monitor.sock'));
    return { initPid, client };
  };

  const runToExit = async (plan: PlanOp[], stateDir: string): Promise<{ status: number; stdout: string; stderr: string }> => {
    const run = await runNsinit(plan, stateDir);
    const { client } = await start(run, stateDir);
    const exited = await client.next();
    assert.equal(exited.type, 'process.exited');
    assert.deepEqual(await run.exited, { code: exited.exitStatus, signal: null }, run.stderr());
    return { status: exited.exitStatus as number, stdout: run.stdout(), stderr: run.stderr() };
  };

  const setupError = async (plan: PlanOp[], dir: string): Promise<string> => {
    const run = await runNsinit(plan, dir);
    const sync = await run.sync;
    assert.deepEqual(await run.exited, { code: 1, signal: null });
    return sync;
  };

  return {
    get base() {
      return base;
    },
    get rootfs() {
      return rootfs;
    },
    defer, unique, tempDir, writePlan, spawnWithSync, runNsinit, connect, createdPid, openGate, start, runToExit, setupError,
  };
}
