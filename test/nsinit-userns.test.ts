// nsinit's user namespace ops (userns, mkfile), driven directly with plans from encodePlan:
// a container whose root is mapped to host uid 100000, its devices bound from the host's /dev.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePlan, idMap, MS, type PlanOp } from '../src/nsinit/plan.js';
import { makeRootfs } from './helpers/rootfs.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const NSINIT = path.join(REPO, 'native', 'nsinit');
const MAP = '0 100000 65536\n';

let base = '';
let rootfs = '';
let seq = 0;
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  assert.ok(existsSync(NSINIT), `${NSINIT} missing: run make -s -C native`);
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'runa-nsinit-userns-'));
  // Traversable by the container's root, which is nobody to the host's files.
  await fs.chmod(base, 0o755);
  rootfs = path.join(base, 'rootfs');
  await makeRootfs(rootfs);
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  const leaked = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(base));
  assert.deepEqual(leaked, []);
});

after(async () => {
  if (base) await fs.rm(base, { recursive: true, force: true });
});

async function tempDir(name: string): Promise<string> {
  const dir = path.join(base, `${name}-${++seq}`);
  await fs.mkdir(dir, { recursive: true });
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Processes whose command line mentions the plan file: the monitor, the map writer, the child. */
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

type Exit = { code: number | null; signal: NodeJS.Signals | null };

interface Run {
  proc: ChildProcess;
  plan: string;
  sync: Promise<string>;
  exited: Promise<Exit>;
  stdout: () => string;
  stderr: () => string;
}

async function runNsinit(plan: PlanOp[], dir: string): Promise<Run> {
  const planFile = path.join(dir, 'plan');
  await fs.writeFile(planFile, encodePlan(plan));
  const proc = spawn(NSINIT, [planFile], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<Exit>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
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

/** A monitor.sock client: JSON lines in, one message at a time out. */
async function connect(socketPath: string): Promise<{ next: () => Promise<Msg>; send: (m: object) => void }> {
  const sock = net.connect({ path: socketPath });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  cleanups.push(() => void sock.destroy());
  let buf = '';
  const queue: Msg[] = [];
  const waiters: ((m: Msg) => void)[] = [];
  const push = (m: Msg): void => {
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  };
  sock.on('data', (b: Buffer) => {
    buf += b.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      push(JSON.parse(buf.slice(0, i)) as Msg);
      buf = buf.slice(i + 1);
    }
  });
  sock.on('close', () => push({ type: 'eof' }));
  sock.on('error', () => {});
  return {
    next: () => {
      const m = queue.shift();
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('timed out waiting for a monitor message')), 10000);
        waiters.push((msg) => {
          clearTimeout(t);
          resolve(msg);
        });
      });
    },
    send: (m: object) => void sock.write(JSON.stringify(m) + '\n'),
  };
}

function createdPid(sync: string): number {
  const m = /^created\t(\d+)\n$/.exec(sync);
  assert.ok(m, `unexpected sync line ${JSON.stringify(sync)}`);
  const pid = Number(m[1]);
  // Once it has exec'd, the container no longer names the plan: kill it by pid if a test fails.
  cleanups.push(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  return pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const ns = (pid: number | 'self', name: string): string => readlinkSync(`/proc/${pid}/ns/${name}`);

/** The host's view of a process's ids: the first (real) value of the Uid: and Gid: lines. */
function hostIds(pid: number): { uid: number; gid: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)![1]);
  return { uid: field('Uid'), gid: field('Gid') };
}

const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

/** What the TypeScript side would emit for a container in a user namespace. */
function usernsPlan(stateDir: string, args: string[], uidMap = MAP, gidMap = MAP): PlanOp[] {
  const r = rootfs;
  return [
    { op: 'statedir', path: stateDir },
    { op: 'userns', uidMap, gidMap },
    { op: 'unshare', namespaces: ['pid', 'uts', 'ipc', 'net'] },
    { op: 'sethostname', name: 'runa-userns' },
    { op: 'loopback' },
    { op: 'fork' },
    // Become the namespace's root at once: until then the child is host uid 0, unmapped here,
    // and the kernel refuses (EOVERFLOW) to create files owned by it on filesystems mounted
    // inside the namespace (the tmpfs on /dev below).
    { op: 'setgroups', gids: [] },
    { op: 'setgid', gid: 0 },
    { op: 'setuid', uid: 0 },
    { op: 'pdeathsig', signal: 9 }, // after the last setuid/setgid: a credential change clears it
    { op: 'unshare', namespaces: ['mnt'] },
    { op: 'mount', source: '', target: '/', fstype: '', flags: MS.REC | MS.SLAVE, data: '' },
    { op: 'mount', source: r, target: r, fstype: '', flags: MS.BIND | MS.REC, data: '' },
    { op: 'mount', source: 'proc', target: `${r}/proc`, fstype: 'proc', flags: MS.NOSUID | MS.NOEXEC | MS.NODEV, data: '' },
    { op: 'mount', source: 'tmpfs', target: `${r}/dev`, fstype: 'tmpfs', flags: MS.NOSUID | MS.STRICTATIME, data: 'mode=755,size=65536k' },
    // mknod is refused in a user namespace: bind the host's nodes onto empty files.
    ...DEVICES.flatMap((d): PlanOp[] => [
      { op: 'mkfile', path: `${r}/dev/${d}`, mode: 0o666 },
      { op: 'mount', source: `/dev/${d}`, target: `${r}/dev/${d}`, fstype: '', flags: MS.BIND, data: '' },
    ]),
    { op: 'mkdir', path: `${r}/dev/pts`, mode: 0o755 },
    { op: 'mount', source: 'devpts', target: `${r}/dev/pts`, fstype: 'devpts', flags: MS.NOSUID | MS.NOEXEC, data: 'newinstance,ptmxmode=0666,mode=0620' },
    { op: 'symlink', target: 'pts/ptmx', linkpath: `${r}/dev/ptmx` },
    { op: 'symlink', target: '/proc/self/fd', linkpath: `${r}/dev/fd` },
    { op: 'pivot_root', newRoot: r },
    { op: 'chdir', path: '/' },
    { op: 'env', entry: 'PATH=/usr/local/bin:/usr/bin:/bin' },
    ...args.map((value): PlanOp => ({ op: 'arg', value })),
    { op: 'gate' },
    { op: 'exec' },
  ];
}

test('idMap formats OCI mappings as uid_map text', () => {
  assert.equal(idMap([{ containerID: 0, hostID: 100000, size: 65536 }]), MAP);
  assert.equal(idMap([{ containerID: 0, hostID: 1000, size: 1 }, { containerID: 1, hostID: 200000, size: 10 }]), '0 1000 1\n1 200000 10\n');
  assert.equal(idMap([]), '');
  const tokens = encodePlan([{ op: 'userns', uidMap: MAP, gidMap: '0 5 1\n' }, { op: 'mkfile', path: '/x', mode: 0o644 }]);
  assert.equal(tokens.toString(), `userns\0${MAP}\0` + '0 5 1\n\0mkfile\0/x\0' + '0644\0');
});

test('a container in a user namespace: mapped root, host devices, exit status and exit file', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const script = [
    'cat /proc/self/uid_map /proc/self/gid_map',
    'id -u; id -g',
    'readlink /proc/self/ns/user',
    'hostname',
    'echo x > /dev/null && head -c 4 /dev/zero | wc -c && echo devnull-ok',
    'stat -c "%u:%g" / 2>/dev/null || echo "65534:65534"',
    'touch /cannot-write 2>/dev/null && echo wrote-rootfs || echo rootfs-read-only-to-us',
    'exit 7',
  ].join('; ');
  const run = await runNsinit(usernsPlan(stateDir, ['sh', '-c', script]), stateDir);
  const initPid = createdPid(await run.sync);
  const monitor = run.proc.pid!;

  // The monitor stands for the container: it is in the new user namespace, and so is the child.
  const userns = ns(initPid, 'user');
  assert.notEqual(userns, ns('self', 'user'));
  assert.equal(ns(monitor, 'user'), userns);
  for (const n of ['pid', 'mnt', 'uts', 'ipc', 'net']) assert.notEqual(ns(initPid, n), ns('self', n), n);
  assert.equal(readFileSync(`/proc/${monitor}/uid_map`, 'utf8').trim().split(/\s+/).join(' '), '0 100000 65536');
  assert.equal(readFileSync(`/proc/${monitor}/gid_map`, 'utf8').trim().split(/\s+/).join(' '), '0 100000 65536');
  assert.equal(readFileSync(`/proc/${monitor}/setgroups`, 'utf8'), 'allow\n');
  // The monitor keeps host uid 0; the child, at the gate after setuid(0), is host uid 100000.
  assert.deepEqual(hostIds(monitor), { uid: 0, gid: 0 });
  assert.deepEqual(hostIds(initPid), { uid: 100000, gid: 100000 });

  // The map writer is gone: only the monitor and the child remain.
  assert.deepEqual(processesRunning(run.plan).sort(), [monitor, initPid].sort());

  const c = await connect(path.join(stateDir, 'monitor.sock'));
  assert.deepEqual(await c.next(), { type: 'monitor.hello', pid: monitor, initPid, state: 'created' });
  c.send({ type: 'monitor.start' });
  assert.deepEqual(await c.next(), { type: 'process.started' });
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 7, signal: 0 });
  assert.deepEqual(await run.exited, { code: 7, signal: null });

  const lines = run.stdout().trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  assert.deepEqual(lines, [
    '0 100000 65536', '0 100000 65536',
    '0', '0',
    userns,
    'runa-userns',
    '4', 'devnull-ok',
    '65534:65534', // host root's files are nobody's in here
    'rootfs-read-only-to-us',
  ], run.stderr());
  // Written by the monitor (host uid 0, no host capabilities left) through its dirfd.
  assert.equal(await fs.readFile(path.join(stateDir, 'exit'), 'utf8'), '{"exitStatus":7,"signal":0}');
  const st = await fs.stat(path.join(stateDir, 'exit'));
  assert.deepEqual([st.uid, st.gid], [0, 0]);
  assert.deepEqual(processesRunning(run.plan), []);
});

test('a map the kernel rejects fails create with its errno and leaves nothing behind', { timeout: 30000 }, async () => {
  for (const [uidMap, gidMap, file] of [
    ['0 100000 10\n0 200000 10\n', MAP, 'uid_map'], // overlapping ranges
    [MAP, '0 100000 10\n5 200000 10\n', 'gid_map'],
  ]) {
    const stateDir = await tempDir('state');
    const run = await runNsinit(usernsPlan(stateDir, ['true'], uidMap, gidMap), stateDir);
    const monitor = run.proc.pid!;
    assert.equal(await run.sync, `error\t22\tuserns: write "/proc/${monitor}/${file}": Invalid argument\n`);
    assert.deepEqual(await run.exited, { code: 1, signal: null });
    assert.equal(run.stderr(), '');
    assert.deepEqual(processesRunning(run.plan), []);
    assert.ok(!existsSync(path.join(stateDir, 'monitor.sock')));
    assert.ok(!existsSync(path.join(stateDir, 'exit')));
  }
});

test('mkfile: an empty file with its mode; an existing path is left alone', { timeout: 30000 }, async () => {
  const dir = await tempDir('mkfile');
  await fs.writeFile(path.join(dir, 'existing'), 'keep me');
  const run = await runNsinit([
    { op: 'umask', mode: 0 },
    { op: 'mkfile', path: `${dir}/new`, mode: 0o640 },
    { op: 'mkfile', path: `${dir}/existing`, mode: 0o600 },
    { op: 'mkfile', path: `${dir}/missing/x`, mode: 0o600 },
    { op: 'arg', value: 'true' },
    { op: 'exec' },
  ], dir);
  assert.equal(await run.sync, `error\t2\tmkfile "${dir}/missing/x": No such file or directory\n`);
  const st = await fs.stat(path.join(dir, 'new'));
  assert.ok(st.isFile());
  assert.equal(st.size, 0);
  assert.equal(st.mode & 0o777, 0o640);
  assert.equal(await fs.readFile(path.join(dir, 'existing'), 'utf8'), 'keep me');
});

test('exec into a running user-namespaced container: join user last in the monitor, mnt in the child', { timeout: 30000 }, async () => {
  const stateDir = await tempDir('state');
  const run = await runNsinit(usernsPlan(stateDir, ['sleep', '1000']), stateDir);
  const initPid = createdPid(await run.sync);
  const c = await connect(path.join(stateDir, 'monitor.sock'));
  assert.equal((await c.next()).type, 'monitor.hello');
  c.send({ type: 'monitor.start' });
  assert.deepEqual(await c.next(), { type: 'process.started' });

  // Namespaces owned by the host's user namespace (cgroup here) must be joined before user;
  // after it, /proc/<initPid>/ns/* still open because the running init is dumpable and we
  // hold CAP_SYS_PTRACE in its user namespace.
  const execState = await tempDir('exec');
  const join = (nstype: 'pid' | 'uts' | 'ipc' | 'net' | 'cgroup' | 'user' | 'mnt'): PlanOp =>
    ({ op: 'setns', path: `/proc/${initPid}/ns/${nstype}`, nstype });
  const exec = await runNsinit([
    { op: 'statedir', path: execState },
    join('pid'), join('uts'), join('ipc'), join('net'), join('cgroup'), join('user'),
    { op: 'fork' },
    join('mnt'),
    { op: 'chdir', path: '/' },
    { op: 'setgroups', gids: [] }, { op: 'setgid', gid: 0 }, { op: 'setuid', uid: 0 },
    { op: 'env', entry: 'PATH=/bin' },
    { op: 'arg', value: 'sh' }, { op: 'arg', value: '-c' },
    { op: 'arg', value: 'id -u; readlink /proc/self/ns/user; hostname; readlink /proc/1/exe' },
    { op: 'gate' }, { op: 'exec' },
  ], execState);
  const execPid = createdPid(await exec.sync);
  assert.equal(ns(exec.proc.pid!, 'user'), ns(initPid, 'user'));
  assert.deepEqual(hostIds(exec.proc.pid!), { uid: 0, gid: 0 });
  const e = await connect(path.join(execState, 'monitor.sock'));
  assert.equal((await e.next()).type, 'monitor.hello');
  e.send({ type: 'monitor.start' });
  assert.deepEqual(await e.next(), { type: 'process.started' });
  assert.deepEqual(await e.next(), { type: 'process.exited', exitStatus: 0, signal: 0 });
  assert.deepEqual(await exec.exited, { code: 0, signal: null });
  assert.equal(exec.stdout(), `0\n${ns(initPid, 'user')}\nruna-userns\n/bin/sleep\n`, exec.stderr());
  assert.equal(await fs.readFile(path.join(execState, 'exit'), 'utf8'), '{"exitStatus":0,"signal":0}');
  assert.ok(!alive(execPid));

  // The container's monitor, inside the user namespace, still signals its child.
  c.send({ type: 'monitor.signal', signal: 9 });
  assert.deepEqual(await c.next(), { type: 'monitor.signalled', signal: 9 });
  assert.deepEqual(await c.next(), { type: 'process.exited', exitStatus: 137, signal: 9 });
  assert.deepEqual(await run.exited, { code: null, signal: 'SIGKILL' });
  assert.equal(await fs.readFile(path.join(stateDir, 'exit'), 'utf8'), '{"exitStatus":137,"signal":9}');
});
