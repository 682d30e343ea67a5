// nsinit's user namespace ops (userns, mkfile), driven directly with plans from encodePlan:
// a container whose root is mapped to host uid 100000, its devices bound from the host's /dev.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { encodePlan, idMap, MS, type PlanOp } from '../src/nsinit/plan.js';
import { alive, ns, processesRunning, useNsinit } from './helpers/nsinit.js';

const MAP = '0 100000 65536\n';

// The base directory is traversable by the container's root, which is nobody to the host's files.
const h = useNsinit({ prefix: 'runa-nsinit-userns-', baseMode: 0o755 });
const { tempDir, runNsinit, createdPid, openGate, start } = h;

/** The host's view of a process's ids: the first (real) value of the Uid: and Gid: lines. */
function hostIds(pid: number): { uid: number; gid: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)![1]);
  return { uid: field('Uid'), gid: field('Gid') };
}

const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

/** What the TypeScript side would emit for a container in a user namespace. */
function usernsPlan(stateDir: string, args: string[], uidMap = MAP, gidMap = MAP): PlanOp[] {
  const r = h.rootfs;
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

  const c = await openGate(path.join(stateDir, 'monitor.sock'), { type: 'monitor.hello', pid: monitor, initPid, state: 'created' });
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
  const { initPid, client: c } = await start(run, stateDir);

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
  const e = await openGate(path.join(execState, 'monitor.sock'));
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
