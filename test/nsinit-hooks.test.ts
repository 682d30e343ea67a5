// The hookpoint op: nsinit stops mid-setup, tells the spawner on fd 3 and waits for its answer.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, promises as fs, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePlan, hookAnswer, MS, parseSyncLine, type PlanOp } from '../src/nsinit/plan.js';
import { makeRootfs } from './helpers/rootfs.js';

// dist/test/nsinit-hooks.test.js -> repo root
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const NSINIT = path.join(REPO, 'native', 'nsinit');
const S_IFCHR = 0o020000;

let base = '';
let rootfs = '';
let seq = 0;
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  assert.ok(existsSync(NSINIT), `${NSINIT} missing: run make -s -C native`);
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'runa-nsinit-hooks-'));
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

/** fd 3 as the spawner sees it: lines one at a time, answers written back on the same socket. */
class SyncChannel {
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

interface Run {
  proc: ChildProcess;
  plan: string;
  sync: SyncChannel;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

async function runNsinit(plan: PlanOp[] | Buffer, dir: string): Promise<Run> {
  const planFile = path.join(dir, 'plan');
  await fs.writeFile(planFile, Buffer.isBuffer(plan) ? plan : encodePlan(plan));
  const proc = spawn(NSINIT, [planFile], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  let err = '';
  proc.stdout!.resume();
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const sync = new SyncChannel(proc.stdio[3] as net.Socket);
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
    for (const pid of processesRunning(planFile)) process.kill(pid, 'SIGKILL');
  });
  return { proc, plan: planFile, sync, exited, stderr: () => err };
}

const ns = (pid: number | 'self', name: string): string => readlinkSync(`/proc/${pid}/ns/${name}`);

/** A container plan with hookpoints where the runtime puts them: namespaces made, not yet pivoted. */
function hookedPlan(stateDir: string, hooks: PlanOp[]): PlanOp[] {
  const r = rootfs;
  const dev = (name: string, major: number, minor: number): PlanOp =>
    ({ op: 'mknod', path: `${r}/dev/${name}`, mode: S_IFCHR | 0o666, major, minor });
  return [
    { op: 'statedir', path: stateDir },
    { op: 'unshare', namespaces: ['pid', 'uts', 'ipc', 'net'] },
    { op: 'sethostname', name: 'runa-hooks' },
    { op: 'fork' },
    { op: 'unshare', namespaces: ['mnt'] },
    { op: 'mount', source: '', target: '/', fstype: '', flags: MS.REC | MS.PRIVATE, data: '' },
    { op: 'mount', source: r, target: r, fstype: '', flags: MS.BIND | MS.REC, data: '' },
    { op: 'mount', source: 'proc', target: `${r}/proc`, fstype: 'proc', flags: MS.NOSUID | MS.NOEXEC | MS.NODEV, data: '' },
    { op: 'mount', source: 'tmpfs', target: `${r}/dev`, fstype: 'tmpfs', flags: MS.NOSUID | MS.STRICTATIME, data: 'mode=755' },
    dev('null', 1, 3),
    ...hooks,
    { op: 'pivot_root', newRoot: r },
    { op: 'chdir', path: '/' },
    { op: 'env', entry: 'PATH=/bin' },
    { op: 'arg', value: 'sh' },
    { op: 'arg', value: '-c' },
    { op: 'arg', value: 'exit 7' },
    { op: 'pdeathsig', signal: 9 },
    { op: 'gate' },
    { op: 'exec' },
  ];
}

const HOOKS: PlanOp[] = [
  { op: 'hookpoint', name: 'createRuntime' },
  { op: 'hookpoint', name: 'createContainer' },
];

function hookLine(line: string | null, name: string): number {
  const m = parseSyncLine(line ?? '');
  assert.ok(m && m.type === 'hook' && m.name === name, `expected hook ${name}, got ${JSON.stringify(line)}`);
  return m.pid;
}

test('two hookpoints before pivot_root: each answered ok in turn, then created', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(hookedPlan(stateDir, HOOKS), stateDir);
  const monitor = run.proc.pid!;

  const pid = hookLine(await run.sync.next(), 'createRuntime');
  // The child, in its new namespaces, with the setup before the hookpoint done...
  assert.notEqual(pid, monitor);
  assert.equal(Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]), monitor, 'parent is the monitor');
  for (const n of ['mnt', 'pid', 'uts', 'net']) assert.notEqual(ns(pid, n), ns('self', n), `child shares the ${n} namespace`);
  const mounts = readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
  assert.ok(mounts.includes(` ${rootfs}/proc `), 'proc is mounted in the child');
  // ...but not pivoted yet: its root is still the host's, rootfs still under it.
  assert.equal(readlinkSync(`/proc/${pid}/root`), '/');
  assert.ok(existsSync(`/proc/${pid}/root${rootfs}/bin/sh`));
  // While a hook runs, nsinit waits: nothing more comes, the monitor socket is bound.
  assert.ok(existsSync(path.join(stateDir, 'monitor.sock')));
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(alive(pid));

  run.sync.answer(hookAnswer());
  assert.equal(hookLine(await run.sync.next(), 'createContainer'), pid);
  run.sync.answer('ok\n');
  const created = parseSyncLine((await run.sync.next()) ?? '');
  assert.deepEqual(created, { type: 'created', pid });
  assert.equal(await run.sync.next(), null, 'fd 3 is closed after created');
  // The process went on from the hookpoint to pivot_root and the gate.
  assert.notEqual(readFileSync(`/proc/${pid}/mountinfo`, 'utf8'), mounts);
  assert.ok(!existsSync(`/proc/${pid}/root${rootfs}/bin/sh`), 'pivoted: rootfs is its /');
  assert.ok(existsSync(`/proc/${pid}/root/bin/sh`));

  // And it starts and exits as usual.
  const c = net.connect({ path: path.join(stateDir, 'monitor.sock') });
  cleanups.push(() => void c.destroy());
  let replies = '';
  c.on('data', (b: Buffer) => (replies += b.toString()));
  c.write('{"type":"monitor.start"}\n');
  assert.deepEqual(await run.exited, { code: 7, signal: null });
  assert.match(replies, /"process.started"[\s\S]*"process.exited","exitStatus":7/);
  assert.deepEqual(processesRunning(run.plan), []);
});

test('a failed hook: error 125 "hook NAME: message", exit 1, nothing left', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(hookedPlan(stateDir, HOOKS), stateDir);
  const pid = hookLine(await run.sync.next(), 'createRuntime');
  run.sync.answer('ok\n');
  assert.equal(hookLine(await run.sync.next(), 'createContainer'), pid);
  run.sync.answer(hookAnswer('boom'));
  assert.equal(await run.sync.next(), 'error\t125\thook createContainer: boom');
  assert.equal(await run.sync.next(), null);
  assert.deepEqual(await run.exited, { code: 1, signal: null });
  assert.ok(!alive(pid));
  assert.deepEqual(processesRunning(run.plan), []);
  assert.ok(!existsSync(path.join(stateDir, 'monitor.sock')));
  assert.ok(!existsSync(path.join(stateDir, 'exit')));
  assert.equal(run.stderr(), '');
});

test('the spawner closes fd 3 while a hook is pending: nsinit exits 1, nothing left', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(hookedPlan(stateDir, HOOKS), stateDir);
  const pid = hookLine(await run.sync.next(), 'createRuntime');
  run.sync.sock.destroy();
  assert.deepEqual(await run.exited, { code: 1, signal: null });
  assert.equal(run.stderr(), 'nsinit: hook createRuntime: the spawner closed fd 3 before answering\n');
  assert.ok(!alive(pid));
  assert.deepEqual(processesRunning(run.plan), []);
  assert.ok(!existsSync(path.join(stateDir, 'monitor.sock')));
});

test('a garbled answer fails create with EPROTO', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(hookedPlan(stateDir, HOOKS), stateDir);
  hookLine(await run.sync.next(), 'createRuntime');
  run.sync.answer('maybe\n');
  assert.equal(await run.sync.next(), 'error\t71\thook createRuntime: garbled answer from the spawner "maybe"');
  assert.deepEqual(await run.exited, { code: 1, signal: null });
  assert.deepEqual(processesRunning(run.plan), []);

  // A line without end: refused once past 2047 bytes, even if the newline never comes.
  const stateDir2 = await tempDir('state');
  const long = await runNsinit(hookedPlan(stateDir2, HOOKS), stateDir2);
  hookLine(await long.sync.next(), 'createRuntime');
  long.sync.answer('fail\t' + 'x'.repeat(3000));
  assert.equal(await long.sync.next(), 'error\t71\thook createRuntime: answer from the spawner longer than 2047 bytes');
  assert.deepEqual(await long.exited, { code: 1, signal: null });
  assert.deepEqual(processesRunning(long.plan), []);
});

test('the child killed while its hook runs: reported, nothing left', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(hookedPlan(stateDir, HOOKS), stateDir);
  const pid = hookLine(await run.sync.next(), 'createRuntime');
  process.kill(pid, 'SIGKILL');
  assert.equal(await run.sync.next(), 'error\t10\thook createRuntime: the child exited while the hook ran');
  assert.deepEqual(await run.exited, { code: 1, signal: null });
  assert.deepEqual(processesRunning(run.plan), []);
});

test('a hookpoint before fork is the monitor itself', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const plan = hookedPlan(stateDir, []);
  plan.splice(2, 0, { op: 'hookpoint', name: 'prestart' }); // after unshare, in the monitor
  const run = await runNsinit(plan, stateDir);
  const monitor = run.proc.pid!;
  assert.equal(hookLine(await run.sync.next(), 'prestart'), monitor);
  assert.notEqual(ns(monitor, 'uts'), ns('self', 'uts'));
  run.sync.answer('ok\n');
  const created = parseSyncLine((await run.sync.next()) ?? '');
  assert.equal(created?.type, 'created');
  run.proc.kill('SIGKILL');
  await run.exited;
});

test('a hookpoint needs fd 3 to be a socket, and a plain word as its name', { timeout: 30000 }, async () => {
  const dir = await tempDir('plan');
  const planFile = path.join(dir, 'plan');
  const statedir = path.join(dir, 'st');
  await fs.mkdir(statedir);
  await fs.writeFile(planFile, encodePlan([{ op: 'statedir', path: statedir }, { op: 'hookpoint', name: 'createRuntime' }, { op: 'fork' }]));

  // fd 3 closed: the error goes to stderr, before anything ran.
  const noFd = spawn(NSINIT, [planFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  noFd.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  assert.equal(await new Promise((resolve) => noFd.on('exit', resolve)), 1);
  assert.equal(err, 'nsinit: hookpoint "createRuntime": fd 3 is not open, nobody could answer: Bad file descriptor\n');

  // fd 3 a regular file: one-way, refused.
  const out = path.join(dir, 'sync');
  const fd = openSync(out, 'w');
  const fileFd = spawn(NSINIT, [planFile], { stdio: ['ignore', 'ignore', 'ignore', fd] });
  closeSync(fd);
  assert.equal(await new Promise((resolve) => fileFd.on('exit', resolve)), 1);
  assert.equal(readFileSync(out, 'utf8'),
    'error\t88\thookpoint "createRuntime": fd 3 is not a socket, nobody could answer: Socket operation on non-socket\n');
  assert.ok(!existsSync(path.join(statedir, 'monitor.sock')), 'statedir must not have run');

  const bad = await runNsinit(Buffer.from('hookpoint\0create runtime\0'), dir);
  assert.equal(await bad.sync.next(),
    `error\t22\thookpoint "create runtime": not a word of 1 to 64 letters, digits, '_', '.', '-': Invalid argument`);
  assert.deepEqual(await bad.exited, { code: 1, signal: null });
  assert.throws(() => encodePlan([{ op: 'hookpoint', name: 'a\tb' }]), /invalid name/);
});

test('parseSyncLine and hookAnswer', () => {
  assert.deepEqual(parseSyncLine('hook\tcreateRuntime\t42\n'), { type: 'hook', name: 'createRuntime', pid: 42 });
  assert.deepEqual(parseSyncLine('created\t7'), { type: 'created', pid: 7 });
  assert.deepEqual(parseSyncLine('error\t125\thook x: a\tb\n'), { type: 'error', errno: 125, message: 'hook x: a\tb' });
  assert.equal(parseSyncLine('hook\tx'), null);
  assert.equal(hookAnswer(), 'ok\n');
  assert.equal(hookAnswer('exit status 1\nstderr: no'), 'fail\texit status 1 stderr: no\n');
});
