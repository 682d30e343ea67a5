// Drives native/nsinit directly with plans from encodePlan: setup, sync pipe, monitor socket, exit.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePlan, MS, type PlanOp } from '../src/nsinit/plan.js';
import { makeRootfs } from './helpers/rootfs.js';

// dist/test/nsinit.test.js -> repo root
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const NSINIT = path.join(REPO, 'native', 'nsinit');
const S_IFCHR = 0o020000;

let base = '';
let rootfs = '';
let seq = 0;
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  assert.ok(existsSync(NSINIT), `${NSINIT} missing: run make -s -C native`);
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'runa-nsinit-'));
  rootfs = path.join(base, 'rootfs');
  await makeRootfs(rootfs);
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

interface Run {
  proc: ChildProcess;
  plan: string;
  sync: Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout: () => string;
  stderr: () => string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Processes whose command line mentions the plan file: the monitor and its forked child. */
function processesRunning(plan: string): number[] {
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

async function tempDir(name: string): Promise<string> {
  const dir = path.join(base, `${name}-${++seq}`);
  await fs.mkdir(dir, { recursive: true });
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

async function runNsinit(plan: PlanOp[] | Buffer, dir: string, extraFds = 0): Promise<Run> {
  const planFile = path.join(dir, 'plan');
  await fs.writeFile(planFile, Buffer.isBuffer(plan) ? plan : encodePlan(plan));
  const stdio: ('ignore' | 'pipe')[] = ['ignore', 'pipe', 'pipe', 'pipe'];
  for (let i = 0; i < extraFds; i++) stdio.push('pipe');
  const proc = spawn(NSINIT, [planFile], { stdio });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const syncStream = proc.stdio[3] as net.Socket;
  const sync = new Promise<string>((resolve, reject) => {
    let s = '';
    syncStream.on('data', (b: Buffer) => (s += b.toString()));
    syncStream.on('end', () => resolve(s));
    syncStream.on('error', reject);
  });
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
    for (const pid of processesRunning(planFile)) process.kill(pid, 'SIGKILL');
  });
  return { proc, plan: planFile, sync, exited, stdout: () => out, stderr: () => err };
}

type Msg = { type: string; [k: string]: unknown };

class MonitorClient {
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

  send(line: string | object): void {
    this.sock.write((typeof line === 'string' ? line : JSON.stringify(line)) + '\n');
  }

  close(): void {
    this.sock.destroy();
  }
}

async function connect(socketPath: string): Promise<MonitorClient> {
  const c = await MonitorClient.connect(socketPath);
  cleanups.push(() => c.close());
  return c;
}

interface ContainerOpts {
  hostname?: string;
  env?: string[];
  /** Ops run in the child right before pivot_root (host paths). */
  beforePivot?: PlanOp[];
}

/** The plan the TypeScript side typically emits for a container. */
function containerPlan(stateDir: string, args: string[], opts: ContainerOpts = {}): PlanOp[] {
  const r = rootfs;
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
    { op: 'umask', mode: 0o022 },
    { op: 'setgroups', gids: [] },
    { op: 'setgid', gid: 0 },
    { op: 'setuid', uid: 0 },
    ...(opts.env ?? ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/root']).map((entry): PlanOp => ({ op: 'env', entry })),
    ...args.map((value): PlanOp => ({ op: 'arg', value })),
    { op: 'pdeathsig', signal: 9 },
    { op: 'gate' },
    { op: 'exec' },
  ];
}

function createdPid(sync: string): number {
  const m = /^created\t(\d+)\n$/.exec(sync);
  assert.ok(m, `unexpected sync line ${JSON.stringify(sync)}`);
  return Number(m[1]);
}

const ns = (pid: number | 'self', name: string): string => readlinkSync(`/proc/${pid}/ns/${name}`);

test('full container: created, namespaces, start, output, exit status, exit file', { timeout: 30000 }, async () => {
  // Longer than sun_path (108 bytes): nsinit binds relative to the state dir.
  const stateDir = await tempDir('state-' + 'x'.repeat(60) + '/' + 'y'.repeat(60));
  const link = path.join(base, `short-${seq}`);
  await fs.symlink(stateDir, link);
  cleanups.push(() => fs.rm(link, { force: true }));

  const run = await runNsinit(
    containerPlan(stateDir, ['sh', '-c', 'echo "hello from $(hostname) pid=$$ root=$(ls /root | wc -l)"; cat /proc/self/mounts >/dev/null; exit 3']),
    path.dirname(stateDir),
  );
  const initPid = createdPid(await run.sync);
  assert.ok(alive(initPid));
  assert.equal((await fs.stat(path.join(stateDir, 'monitor.sock'))).mode & 0o777, 0o600);

  // The child waits at the gate, already in its own namespaces.
  for (const n of ['pid', 'mnt', 'uts', 'ipc', 'net']) {
    assert.notEqual(ns(initPid, n), ns('self', n), `child shares the ${n} namespace`);
  }
  // The monitor shares the container's uts/ipc/net but keeps the host's mount and pid namespaces.
  const monitor = run.proc.pid!;
  for (const n of ['uts', 'ipc', 'net']) assert.equal(ns(monitor, n), ns(initPid, n));
  for (const n of ['mnt', 'pid']) assert.equal(ns(monitor, n), ns('self', n));

  const c = await connect(path.join(link, 'monitor.sock'));
  assert.deepEqual(await c.next(), { type: 'monitor.hello', pid: monitor, initPid, state: 'created' });
  c.send({ type: 'monitor.start' });
  assert.deepEqual(await c.next(), { type: 'process.started' });
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 3, signal: 0 });
  assert.deepEqual(await run.exited, { code: 3, signal: null });
  assert.equal(run.stdout(), 'hello from runa-test pid=1 root=0\n');
  assert.equal(await fs.readFile(path.join(stateDir, 'exit'), 'utf8'), '{"exitStatus":3,"signal":0}');
  assert.ok(!existsSync(path.join(stateDir, 'exit.tmp')));
  assert.ok(!alive(initPid));
});

test('monitor.signal SIGKILL: exit status 137 and nsinit dies of SIGKILL too', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(containerPlan(stateDir, ['sleep', '1000']), stateDir);
  const initPid = createdPid(await run.sync);
  const c = await connect(path.join(stateDir, 'monitor.sock'));
  assert.equal((await c.next()).type, 'monitor.hello');
  c.send({ type: 'monitor.start' });
  assert.deepEqual(await c.next(), { type: 'process.started' });
  const ps = await connect(path.join(stateDir, 'monitor.sock'));
  assert.deepEqual(await ps.next(), { type: 'monitor.hello', pid: run.proc.pid, initPid, state: 'running' });
  c.send({ type: 'monitor.signal', signal: 9 });
  assert.deepEqual(await c.next(), { type: 'monitor.signalled', signal: 9 });
  const exitedMsg = { type: 'process.exited', exitStatus: 137, signal: 9 };
  assert.deepEqual(await c.next(), exitedMsg);
  assert.deepEqual(await ps.next(), exitedMsg); // every client is told
  assert.deepEqual(await run.exited, { code: null, signal: 'SIGKILL' });
  assert.equal(await fs.readFile(path.join(stateDir, 'exit'), 'utf8'), '{"exitStatus":137,"signal":9}');
});

test('SIGKILL while created (before the gate opens) ends the monitor the same way', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(containerPlan(stateDir, ['true']), stateDir);
  const initPid = createdPid(await run.sync);
  const c = await connect(path.join(stateDir, 'monitor.sock'));
  assert.equal((await c.next()).type, 'monitor.hello');
  process.kill(initPid, 'SIGKILL');
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 137, signal: 9 });
  assert.deepEqual(await run.exited, { code: null, signal: 'SIGKILL' });
  assert.equal(await fs.readFile(path.join(stateDir, 'exit'), 'utf8'), '{"exitStatus":137,"signal":9}');
});

test('SIGTERM to nsinit is forwarded to the process', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  // PID 1 of a pid namespace only receives signals it handles, hence the trap.
  const run = await runNsinit(containerPlan(stateDir, ['sh', '-c', 'trap "echo got TERM; exit 42" TERM; echo ready; while :; do sleep 0.05; done']), stateDir);
  createdPid(await run.sync);
  const c = await connect(path.join(stateDir, 'monitor.sock'));
  assert.equal((await c.next()).type, 'monitor.hello');
  c.send({ type: 'monitor.start' });
  assert.deepEqual(await c.next(), { type: 'process.started' });
  while (!run.stdout().includes('ready')) await new Promise((r) => setTimeout(r, 20));
  run.proc.kill('SIGTERM');
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 42, signal: 0 });
  assert.deepEqual(await run.exited, { code: 42, signal: null });
  assert.equal(run.stdout(), 'ready\ngot TERM\n');
});

test('a failing op reports errno and message, nsinit exits 1 and leaves nothing behind', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const missing = `${rootfs}/no-such-dir`;
  const plan = containerPlan(stateDir, ['true'], {
    beforePivot: [{ op: 'mount', source: 'proc', target: missing, fstype: 'proc', flags: 0, data: '' }],
  });
  const run = await runNsinit(plan, stateDir);
  assert.equal(await run.sync, `error\t2\tmount "proc" on "${missing}": No such file or directory\n`);
  assert.deepEqual(await run.exited, { code: 1, signal: null });
  assert.deepEqual(processesRunning(run.plan), []);
  assert.ok(!existsSync(path.join(stateDir, 'monitor.sock')));
  assert.ok(!existsSync(path.join(stateDir, 'exit')));
});

test('a failing op in the monitor (before fork) is reported the same way', { timeout: 30000 }, async () => {
  const dir = await tempDir('state');
  const run = await runNsinit([{ op: 'statedir', path: `${dir}/missing` }, { op: 'fork' }], dir);
  assert.equal(await run.sync, `error\t2\topen "${dir}/missing": No such file or directory\n`);
  assert.deepEqual(await run.exited, { code: 1, signal: null });
});

test('malformed plans are refused before anything runs', { timeout: 30000 }, async () => {
  const dir = await tempDir('plan');
  const unknown = await runNsinit(Buffer.from(`statedir\0${dir}\0frobnicate\0`), dir);
  assert.equal(await unknown.sync, 'error\t22\tplan: unknown op "frobnicate": Invalid argument\n');
  assert.deepEqual(await unknown.exited, { code: 1, signal: null });
  assert.ok(!existsSync(path.join(dir, 'monitor.sock')), 'statedir must not have run');

  const truncated = await runNsinit(Buffer.from('mount\0a\0b\0'), dir);
  assert.equal(await truncated.sync, 'error\t22\tplan: op "mount" truncated: Invalid argument\n');
  assert.deepEqual(await truncated.exited, { code: 1, signal: null });

  const noNul = await runNsinit(Buffer.from('fork\0exec'), dir);
  assert.match(await noNul.sync, /^error\t22\tplan ".*": truncated/);

  const badNumber = await runNsinit(Buffer.from('umask\0abc\0'), dir);
  assert.equal(await badNumber.sync, 'error\t22\tumask "abc": not a number: Invalid argument\n');

  // Without fd 3 the error goes to stderr.
  const planFile = path.join(dir, 'bad');
  await fs.writeFile(planFile, 'nope\0');
  const proc = spawn(NSINIT, [planFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise((resolve) => proc.on('exit', resolve));
  assert.equal(code, 1);
  assert.equal(err, 'nsinit: plan: unknown op "nope": Invalid argument\n');
});

test('exec of a missing program: process.failed, then exit 127', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(containerPlan(stateDir, ['no-such-program', 'x']), stateDir);
  createdPid(await run.sync);
  const c = await connect(path.join(stateDir, 'monitor.sock'));
  assert.equal((await c.next()).type, 'monitor.hello');
  c.send({ type: 'monitor.start' });
  assert.deepEqual(await c.next(), { type: 'process.failed', message: 'exec "no-such-program": No such file or directory' });
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 127, signal: 0 });
  assert.deepEqual(await run.exited, { code: 127, signal: null });
});

test('monitor protocol: errors keep the monitor serving, several clients at once', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(containerPlan(stateDir, ['sleep', '1000']), stateDir);
  const initPid = createdPid(await run.sync);
  const sockPath = path.join(stateDir, 'monitor.sock');
  const a = await connect(sockPath);
  const b = await connect(sockPath);
  assert.equal((await a.next()).type, 'monitor.hello');
  assert.equal((await b.next()).type, 'monitor.hello');

  a.send('garbage');
  assert.equal((await a.next()).type, 'monitor.error');
  a.send({ type: 'monitor.frobnicate' });
  assert.deepEqual(await a.next(), { type: 'monitor.error', message: 'unknown request type "monitor.frobnicate"' });
  a.send({ type: 'monitor.signal' });
  assert.equal((await a.next()).type, 'monitor.error');
  a.send('{ "signal" : 0 , "type" : "monitor.signal" }'); // order and spacing do not matter
  assert.deepEqual(await a.next(), { type: 'monitor.signalled', signal: 0 });

  // A line over 4096 bytes gets an error and the connection is closed; others are unaffected.
  const long = await connect(sockPath);
  assert.equal((await long.next()).type, 'monitor.hello');
  long.send('x'.repeat(5000));
  assert.deepEqual(await long.next(), { type: 'monitor.error', message: 'request line longer than 4096 bytes' });
  assert.deepEqual(await long.next(), { type: 'eof' });

  b.send({ type: 'monitor.start' });
  assert.deepEqual(await b.next(), { type: 'process.started' });
  b.send({ type: 'monitor.start' });
  assert.equal((await b.next()).type, 'monitor.error');
  assert.ok(alive(initPid));

  a.send({ type: 'monitor.signal', signal: 15 }); // ignored by PID 1 without a handler
  assert.deepEqual(await a.next(), { type: 'monitor.signalled', signal: 15 });
  a.send({ type: 'monitor.signal', signal: 9 });
  assert.deepEqual(await a.next(), { type: 'monitor.signalled', signal: 9 });
  assert.deepEqual(await a.next(), { type: 'process.exited', exitStatus: 137, signal: 9 });
  assert.deepEqual(await b.next(), { type: 'process.exited', exitStatus: 137, signal: 9 });
  assert.deepEqual(await run.exited, { code: null, signal: 'SIGKILL' });
});

test('only stdio reaches the container: /proc/self/fd lists 0, 1, 2 and the fd ls opens', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  // An extra inherited fd (4) must not leak either.
  const run = await runNsinit(containerPlan(stateDir, ['ls', '/proc/self/fd']), stateDir, 1);
  createdPid(await run.sync);
  const c = await connect(path.join(stateDir, 'monitor.sock'));
  assert.equal((await c.next()).type, 'monitor.hello');
  c.send({ type: 'monitor.start' });
  assert.deepEqual(await c.next(), { type: 'process.started' });
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 0, signal: 0 });
  assert.deepEqual(await run.exited, { code: 0, signal: null });
  assert.deepEqual(run.stdout().trim().split('\n'), ['0', '1', '2', '3']);
});
