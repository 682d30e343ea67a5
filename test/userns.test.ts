// Containers in a user namespace (linux.namespaces type user with uid/gid mappings), through
// the CLI: mapped root, host devices bound in, exec, kill/delete, and the refusals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { consoleReceiver, havePython } from './helpers/console.js';
import { Sandbox, monitorOf, until, alive } from './helpers/runa.js';

const sb = new Sandbox('userns');
const MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];

before(async () => {
  // The container's root is host uid 100000, "other" to the sandbox: it must be able to reach
  // the rootfs (mkdtemp makes the sandbox 0700).
  fs.chmodSync(sb.dir, 0o755);
  const rootfs = await sb.rootfs();
  for (let d = rootfs; d !== sb.dir; d = path.dirname(d)) fs.chmodSync(d, 0o755);
});

after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

/** The default spec in a new user namespace with root mapped to host uid/gid 100000. */
function userns(s: any): void {
  s.linux.namespaces.push({ type: 'user' });
  s.linux.uidMappings = MAP;
  s.linux.gidMappings = MAP;
}

let n = 0;
async function refused(args: string[], edit: (s: any) => void, message: RegExp) {
  const bundle = await sb.bundle(args, edit);
  const id = `bad${++n}`;
  const r = await sb.run(['create', '-b', bundle, id]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, message);
  assert.equal(fs.existsSync(path.join(sb.root, id)), false, 'nothing left behind');
  assert.equal((await sb.run(['list', '-q'])).stdout.split('\n').includes(id), false);
}

/** The host's view of a process's real uid and gid. */
function hostIds(pid: number): { uid: number; gid: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)![1]);
  return { uid: field('Uid'), gid: field('Gid') };
}

const oneLine = (l: string) => l.trim().split(/\s+/).join(' ');

test('run in a user namespace: mapped root, its own user namespace, host devices, exit status', async () => {
  const script = [
    'cat /proc/self/uid_map /proc/self/gid_map', 'id -u', 'id -g', 'readlink /proc/self/ns/user',
    'echo x > /dev/null && echo devnull-ok', 'head -c 3 /dev/zero | wc -c', 'ls /proc/1 | grep -c "^status$"',
    'hostname', 'touch /proc/x 2>/dev/null || echo no-write-proc', 'exit 3',
  ].join('; ');
  const bundle = await sb.bundle(['sh', '-c', script], userns);
  const r = await sb.run(['run', '-b', bundle, 'u1']);
  assert.equal(r.code, 3, r.stderr);
  const lines = r.stdout.trim().split('\n').map(oneLine);
  assert.deepEqual(lines.slice(0, 4), ['0 100000 65536', '0 100000 65536', '0', '0']);
  assert.match(lines[4], /^user:\[\d+\]$/);
  assert.notEqual(lines[4], fs.readlinkSync('/proc/self/ns/user'), 'a user namespace of its own');
  assert.deepEqual(lines.slice(5), ['devnull-ok', '3', '1', 'runa', 'no-write-proc'], r.stderr);
  assert.equal(fs.existsSync(path.join(sb.root, 'u1')), false, 'run deleted it');
});

test('a detached container in a user namespace: host uid 100000, exec as its root, kill and delete', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], userns);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'u2'])).code, 0);
  const init = JSON.parse((await sb.run(['state', 'u2'])).stdout).pid as number;
  assert.deepEqual(hostIds(init), { uid: 100000, gid: 100000 });
  assert.notEqual(fs.readlinkSync(`/proc/${init}/ns/user`), fs.readlinkSync('/proc/self/ns/user'));
  assert.equal(fs.readFileSync(`/proc/${init}/uid_map`, 'utf8').trim().split(/\s+/).join(' '), '0 100000 65536');

  // exec joins every namespace, the user namespace included, and runs as the mapped root.
  const e = await sb.run(['exec', 'u2', 'sh', '-c', 'id -u; readlink /proc/self/ns/user /proc/self/ns/pid; cat /proc/1/comm; exit 4']);
  assert.equal(e.code, 4, e.stderr);
  assert.deepEqual(e.stdout.trim().split('\n'), [
    '0', fs.readlinkSync(`/proc/${init}/ns/user`), fs.readlinkSync(`/proc/${init}/ns/pid`), 'sleep',
  ]);
  const pidFile = path.join(sb.dir, 'exec.pid');
  assert.equal((await sb.run(['exec', '-d', '--pid-file', pidFile, 'u2', 'sleep', '777'])).code, 0);
  const execPid = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.deepEqual(hostIds(execPid), { uid: 100000, gid: 100000 });
  assert.equal(fs.readlinkSync(`/proc/${execPid}/ns/user`), fs.readlinkSync(`/proc/${init}/ns/user`));
  // A uid of the container that is mapped: 1000 inside is 101000 outside.
  const u = await sb.run(['exec', '--user', '1000:1000', 'u2', 'sh', '-c', 'id -u; id -g']);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(u.stdout, '1000\n1000\n');
  const bad = await sb.run(['exec', '--user', '70000', 'u2', 'true']);
  assert.equal(bad.code, 255);
  assert.match(bad.stderr, /process\.user\.uid: 70000 is not mapped/);

  assert.equal((await sb.run(['kill', 'u2', 'KILL'])).code, 0);
  const w = await sb.run(['wait', 'u2']);
  assert.equal(JSON.parse(w.stdout).exitStatus, 137);
  await until(() => !alive(init) && !alive(execPid), 'the container and its exec are gone');
  assert.equal((await sb.run(['delete', 'u2'])).code, 0);
  assert.equal(fs.existsSync(path.join(sb.root, 'u2')), false);
});

test('user namespace with the default spec\'s extras: a read-only bind, linux.devices, rlimits, oomScoreAdj, a non-root user', async () => {
  const host = path.join(sb.dir, 'shared-data');
  fs.mkdirSync(host, { mode: 0o755 });
  fs.writeFileSync(path.join(host, 'file'), 'from host');
  fs.chmodSync(path.join(host, 'file'), 0o644);
  // The mapped root cannot create mount targets in a rootfs owned by host root.
  fs.mkdirSync(path.join(await sb.rootfs(), 'data'), { recursive: true });
  const script = [
    'cat /data/file; echo', 'touch /data/x 2>/dev/null && echo rw || echo ro', 'stat -c "%t %T" /dev/fuse /dev/sub/null2',
    'grep "open files" /proc/self/limits', 'cat /proc/self/oom_score_adj', 'id -u', 'id -G',
    'grep -cE "^([^ ]+ ){4}/sys " /proc/self/mountinfo',
  ].join('; ');
  const bundle = await sb.bundle(['sh', '-c', script], (s) => {
    userns(s);
    s.process.user = { uid: 1000, gid: 1000, additionalGids: [5] };
    s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }];
    s.process.oomScoreAdj = 300;
    s.mounts.push({ destination: '/data', type: 'bind', source: host, options: ['rbind', 'ro', 'nosuid'] });
    s.linux.devices = [
      { type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o600 },
      { type: 'c', path: '/dev/sub/null2', major: 1, minor: 3, fileMode: 0o666 },
    ];
  });
  const r = await sb.run(['run', '-b', bundle, 'u3']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.deepEqual(lines.slice(0, 4), ['from host', 'ro', 'a e5', '1 3']);
  assert.match(lines[4], /Max open files\s+100\s+200\s+files/);
  assert.deepEqual(lines.slice(5), ['300', '1000', '1000 5', '1']);
  assert.equal(fs.existsSync(path.join(host, 'x')), false);
});

test('a user namespace sharing the host\'s network, ipc and cgroup namespaces binds their file systems', async () => {
  const bundle = await sb.bundle(['sh', '-c', 'ls /sys/class/net | grep -c "^lo$"; grep -E " /(sys|sys/fs/cgroup) " /proc/self/mountinfo'], (s) => {
    userns(s);
    s.linux.namespaces = s.linux.namespaces.filter((x: any) => !['network', 'ipc', 'cgroup'].includes(x.type));
    s.mounts = s.mounts.filter((m: any) => m.type !== 'mqueue');
  });
  const r = await sb.run(['run', '-b', bundle, 'u4']);
  assert.equal(r.code, 0, r.stderr);
  const [lo, ...mounts] = r.stdout.trim().split('\n');
  assert.equal(lo, '1');
  // mount point and per-mount options: the host's, bound read-only
  const opts = new Map(mounts.map((l) => l.split(' ').slice(4, 6) as [string, string]));
  assert.match(opts.get('/sys') ?? '', /^ro,/, r.stdout);
  assert.match(opts.get('/sys/fs/cgroup') ?? '', /^ro,/, r.stdout);
});

test('devpts drops gid=5 when gid 5 is not mapped', async () => {
  const one = [{ containerID: 0, hostID: 100000, size: 1 }];
  const bundle = await sb.bundle(['sh', '-c', 'id -u; grep " /dev/pts " /proc/self/mountinfo'], (s) => {
    userns(s);
    s.linux.uidMappings = one;
    s.linux.gidMappings = one;
  });
  const r = await sb.run(['run', '-b', bundle, 'u5']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^0\n/);
  assert.doesNotMatch(r.stdout, /gid=5/);
});

test('refused: a user namespace without mappings, an unmapped process user, mappings without a user namespace', async () => {
  await refused(['true'], (s) => { s.linux.namespaces.push({ type: 'user' }); }, /config\.json: linux\.uidMappings: required with a user namespace/);
  await refused(['true'], (s) => { userns(s); s.linux.gidMappings = []; }, /config\.json: linux\.gidMappings: required with a user namespace/);
  await refused(['true'], (s) => { userns(s); s.process.user = { uid: 70000, gid: 0 }; }, /config\.json: process\.user\.uid: 70000 is not mapped by linux\.uidMappings/);
  await refused(['true'], (s) => { userns(s); s.process.user = { uid: 0, gid: 0, additionalGids: [1, 99999] }; }, /process\.user\.additionalGids\.1: 99999 is not mapped/);
  await refused(['true'], (s) => { userns(s); s.linux.uidMappings = [{ containerID: 1, hostID: 100000, size: 10 }]; s.process.user = { uid: 1, gid: 0 }; },
    /linux\.uidMappings: 0 is not mapped/);
  await refused(['true'], (s) => { s.linux.uidMappings = MAP; }, /linux\.uidMappings: set without a user namespace/);
  await refused(['true'], (s) => {
    userns(s);
    s.linux.namespaces = s.linux.namespaces.map((x: any) => (x.type === 'user' ? { type: 'user', path: '/proc/1/ns/user' } : x));
  }, /linux\.uidMappings: not allowed with a user namespace joined by path/);
});

test('a rootfs the mapped root cannot reach is refused, naming the directory', async () => {
  const parent = path.join(sb.dir, 'private');
  fs.mkdirSync(parent, { mode: 0o700 });
  const rootfs = path.join(parent, 'rootfs');
  fs.cpSync(await sb.rootfs(), rootfs, { recursive: true, verbatimSymlinks: true });
  fs.chmodSync(rootfs, 0o700);
  await refused(['true'], (s) => { userns(s); s.root.path = rootfs; },
    new RegExp(`root\\.path: ${parent} \\(mode 0700, owner 0:0\\) is not searchable by the container's root \\(host uid 100000`));
  fs.chmodSync(parent, 0o755);
  await refused(['true'], (s) => { userns(s); s.root.path = rootfs; }, new RegExp(`root\\.path: ${rootfs} \\(mode 0700`));
  fs.rmSync(parent, { recursive: true, force: true });
});

test('a bind source the mapped root cannot reach is opened before entering the user namespace (runc)', async () => {
  const locked = path.join(sb.dir, 'locked');
  fs.mkdirSync(path.join(locked, 'inner'), { recursive: true, mode: 0o700 });
  fs.chmodSync(locked, 0o700);
  fs.writeFileSync(path.join(locked, 'inner', 'note'), 'behind a 0700 directory\n');
  fs.chmodSync(path.join(locked, 'inner', 'note'), 0o644);
  fs.chmodSync(path.join(locked, 'inner'), 0o755);
  fs.mkdirSync(path.join(await sb.rootfs(), 'held'), { recursive: true });
  try {
    const bundle = await sb.bundle(['cat', '/held/note'], (s) => {
      userns(s);
      s.mounts.push({ destination: '/held', type: 'bind', source: path.join(locked, 'inner'), options: ['rbind', 'ro'] });
    });
    const r = await sb.run(['run', '-b', bundle, 'u7']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'behind a 0700 directory\n');
  } finally {
    fs.rmSync(locked, { recursive: true, force: true });
  }
});

// runc's userns.bats "userns with 2 inaccessible mounts" and "userns with inaccessible mount + exec":
// bind sources relative to the bundle (runc's cwd), each below a 0700 directory of host root.
test('two bind sources the mapped root cannot reach, relative to the bundle: the container and an exec see both', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => {
    userns(s);
    for (const k of [1, 2]) s.mounts.push({ source: `source-inaccessible-${k}/dir`, destination: `/tmp/mount-${k}`, options: ['bind'] });
  });
  const rootfs = await sb.rootfs();
  for (const k of [1, 2]) {
    fs.mkdirSync(path.join(bundle, `source-inaccessible-${k}`, 'dir'), { recursive: true });
    fs.writeFileSync(path.join(bundle, `source-inaccessible-${k}`, 'dir', 'foo.txt'), `foo ${k}\n`);
    fs.chmodSync(path.join(bundle, `source-inaccessible-${k}`), 0o700);
    fs.mkdirSync(path.join(rootfs, 'tmp', `mount-${k}`), { recursive: true });
  }
  try {
    // The CLI runs elsewhere than the bundle (the test's cwd): the sources are the bundle's all the same.
    assert.notEqual(process.cwd(), bundle);
    const r = await sb.run(['run', '-d', '-b', bundle, 'u2m']);
    assert.equal(r.code, 0, r.stderr);
    const pid = JSON.parse((await sb.run(['state', 'u2m'])).stdout).pid as number;
    assert.deepEqual(hostIds(pid), { uid: 100000, gid: 100000 });
    const e = await sb.run(['exec', 'u2m', 'cat', '/tmp/mount-1/foo.txt', '/tmp/mount-2/foo.txt']);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(e.stdout, 'foo 1\nfoo 2\n');
    const d = await sb.run(['delete', '--force', 'u2m']);
    assert.equal(d.code, 0, d.stderr);
    await until(() => !alive(pid), 'the init gone');
    assert.deepEqual(sb.mountsLeft(), []);
    assert.equal(fs.existsSync(path.join(sb.root, 'u2m')), false);
  } finally {
    for (const k of [1, 2]) fs.rmdirSync(path.join(rootfs, 'tmp', `mount-${k}`));
  }
});

// A console-socket receiver: one connection, the pty name and master (SCM_RIGHTS), then what
// the container writes to it, as JSON.
test('--console-socket with a user namespace: the monitor connects before entering it', { skip: !havePython() && 'python3 is needed for the receiver' }, async () => {
  const { socket, received } = await consoleReceiver(sb.dir, 'console.sock');
  const bundle = await sb.bundle(['sh', '-c', 'id -u; readlink /proc/self/fd/0; [ -t 0 ] && echo stdio-is-tty'], (s) => { userns(s); s.process.terminal = true; });
  const r = await sb.run(['create', '-b', bundle, '--console-socket', socket, 'utty']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await sb.run(['start', 'utty'])).code, 0);
  const got = await received;
  assert.match(got.name, /^\/dev\/pts\/\d+$/);
  assert.match(got.output, /^0\r?\n\/dev\/pts\/0\r?\nstdio-is-tty/);
  assert.equal((await sb.run(['delete', '-f', 'utty'])).code, 0);
});

test('the init dies with its monitor (pdeathsig set after every credential change)', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { userns(s); s.process.user = { uid: 1000, gid: 1000 }; });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'u6'])).code, 0);
  const init = JSON.parse((await sb.run(['state', 'u6'])).stdout).pid as number;
  const monitor = monitorOf(init);
  assert.deepEqual(hostIds(init), { uid: 101000, gid: 101000 });
  process.kill(monitor, 'SIGKILL');
  await until(() => !alive(init), 'the init is killed when its monitor dies');
  assert.equal((await sb.run(['delete', '-f', 'u6'])).code, 0);
});
